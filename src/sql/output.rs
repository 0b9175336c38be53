//! A result's columns in types PostgreSQL has. DataFusion computes some results in Arrow types
//! with no PostgreSQL counterpart (unsigned 64-bit integers from `array_length`, the Null type
//! of a bare `NULL`); the wire encoder would announce them as something a driver reads wrongly
//! (numeric) or not at all (unknown). The final projection casts them to the type PostgreSQL gives the
//! same expression, so the RowDescription and the rows agree. Likewise a JSON type the field
//! lost or kept wrongly (see `json_types`).

use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::metadata::FieldMetadata;
use datafusion::common::Column;
use datafusion::logical_expr::{cast, Expr, LogicalPlan, LogicalPlanBuilder};

/// The plan with a last projection where a column's type is not one PostgreSQL has; the plan
/// itself when every type is fine, or when it does not return rows of its own (DML, DDL,
/// EXPLAIN).
pub fn in_postgres_types(plan: LogicalPlan) -> LogicalPlan {
    if !returns_query_rows(&plan) {
        return plan;
    }
    let schema = plan.schema().clone();
    let targets: Vec<Option<DataType>> = schema
        .fields()
        .iter()
        .map(|f| postgres_type(f.data_type()))
        .collect();
    let json = json_types(&plan);
    if targets.iter().all(Option::is_none) && json.iter().all(Option::is_none) {
        return plan;
    }
    let exprs: Vec<Expr> = schema
        .iter()
        .zip(targets)
        .zip(json)
        .map(|(((qualifier, field), target), json)| {
            let column = Expr::Column(Column::from((qualifier, field)));
            if target.is_none() && json.is_none() {
                return column;
            }
            let value = match target {
                Some(t) => cast(column, t),
                None => column,
            };
            value.alias_qualified_with_metadata(
                qualifier.cloned(),
                field.name(),
                json.map(FieldMetadata::from),
            )
        })
        .collect();
    // Two output columns of one name and qualifier cannot be re-projected; such a result keeps
    // DataFusion's types rather than failing.
    match LogicalPlanBuilder::from(plan.clone())
        .project(exprs)
        .and_then(|b| b.build())
    {
        Ok(p) => p,
        Err(_) => plan,
    }
}

/// For each result column, the field metadata that gives it PostgreSQL's JSON type where
/// DataFusion's field says otherwise (a CASE or COALESCE of jsonb values, a jsonb cast to
/// text); None where the field is right. Read from the last projection (under ORDER BY and
/// LIMIT, which keep its columns).
fn json_types(plan: &LogicalPlan) -> Vec<Option<HashMap<String, String>>> {
    let n = plan.schema().fields().len();
    let mut node = plan;
    loop {
        match node {
            LogicalPlan::Sort(s) => node = s.input.as_ref(),
            LogicalPlan::Limit(l) => node = l.input.as_ref(),
            LogicalPlan::Projection(p) if p.expr.len() == n => {
                return p
                    .expr
                    .iter()
                    .zip(plan.schema().fields())
                    .map(|(e, f)| {
                        let want = meshgate_functions::expr_json_kind(e, p.input.schema());
                        (want != meshgate_functions::json_kind(f))
                            .then(|| meshgate_functions::type_metadata(want))
                    })
                    .collect();
            }
            _ => return vec![None; n],
        }
    }
}

fn returns_query_rows(plan: &LogicalPlan) -> bool {
    !matches!(
        plan,
        LogicalPlan::Dml(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::DescribeTable(_)
    )
}

/// The PostgreSQL-typed equivalent of an Arrow type that PostgreSQL lacks; None when the type
/// maps as it is.
fn postgres_type(t: &DataType) -> Option<DataType> {
    match t {
        // The encoder would announce numeric; the functions that return it (array_length,
        // cardinality) are integers in PostgreSQL, and their values fit.
        DataType::UInt64 => Some(DataType::Int64),
        // `SELECT NULL` is text in PostgreSQL; the encoder would say `unknown`.
        DataType::Null => Some(DataType::Utf8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn types(sql: &str) -> Vec<DataType> {
        let ctx = SessionContext::new();
        let plan = ctx.state().create_logical_plan(sql).await.expect("plan");
        in_postgres_types(plan)
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect()
    }

    #[tokio::test]
    async fn unsigned_and_null_results_get_postgres_types() {
        assert_eq!(
            types("SELECT array_length([1, 2], 1) AS n, NULL AS x, 'a' AS s").await,
            vec![DataType::Int64, DataType::Utf8, DataType::Utf8]
        );
    }

    #[tokio::test]
    async fn names_and_qualifiers_are_kept() {
        let ctx = SessionContext::new();
        let plan = ctx
            .state()
            .create_logical_plan("SELECT t.a, NULL AS b FROM (SELECT 1 AS a) t")
            .await
            .expect("plan");
        let out = in_postgres_types(plan);
        let names: Vec<String> = out
            .schema()
            .iter()
            .map(|(q, f)| {
                format!(
                    "{}.{}",
                    q.map(|q| q.to_string()).unwrap_or_default(),
                    f.name()
                )
            })
            .collect();
        assert_eq!(names, vec!["t.a", ".b"]);
    }
}
