//! PostgreSQL's functions with PostgreSQL's results, as DataFusion functions.
//!
//! DataFusion ships functions under PostgreSQL's names with other semantics (`to_char` takes
//! chrono patterns, `date_part('isodow')` counts from 0…). [`install`] registers this crate's
//! functions over them, so a statement a BI tool wrote for PostgreSQL gets PostgreSQL's answer.
//! Errors carry PostgreSQL's SQLSTATE in a [`FunctionError`].

mod convert;
mod datefmt;
pub mod error;
mod numfmt;
mod template;
mod types;
mod udf;
mod zone;

use std::sync::Arc;

use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::ScalarUDF;

pub use error::FunctionError;
pub use types::pg_type_name;

/// Every scalar function of this crate.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut v = convert::functions();
    v.extend(types::functions());
    v
}

/// Adds this crate's functions to a session being built, after DataFusion's defaults
/// (`with_default_features`) so that ours replace DataFusion's of the same name.
pub fn install(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    builder
        .scalar_functions()
        .get_or_insert_with(Vec::new)
        .extend(scalar_functions());
    builder
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    pub(crate) async fn one(sql: &str) -> datafusion::error::Result<String> {
        let state = install(SessionStateBuilder::new().with_default_features()).build();
        let ctx = SessionContext::new_with_state(state);
        let batches = ctx.sql(sql).await?.collect().await?;
        let col = batches[0].column(0);
        Ok(datafusion::arrow::util::display::array_value_to_string(
            col, 0,
        )?)
    }

    #[tokio::test]
    async fn installed_functions_replace_datafusions() {
        assert_eq!(
            one("select to_char(date '2024-03-05', 'YYYY-MM')")
                .await
                .unwrap(),
            "2024-03"
        );
        assert_eq!(
            one("select to_date('1995-01-01','YYYY-MM-DD')")
                .await
                .unwrap(),
            "1995-01-01"
        );
        assert_eq!(
            one("select pg_typeof(1.5)").await.unwrap(),
            "double precision"
        );
    }
}
