//! Functions DataFusion computes in another type than PostgreSQL declares: its `ntile`,
//! `cardinality` and array positions are unsigned 64-bit integers, PostgreSQL's are `integer`. A driver
//! reads the column by its declared type (an `int8` where the application expects `int4`), so
//! the call is cast to PostgreSQL's type where it is made; every value fits.
//!
//! A cast to `numeric` without a precision is `meshgate_to_numeric`, which keeps an integer's
//! scale 0 and a numeric's own scale, where the engine gives every such cast ten places.

use std::ops::ControlFlow;

use sqlparser::ast::{
    ArrayElemTypeDef, DataType, ExactNumberInfo, Expr, ObjectNamePart, Statement, VisitMut,
    VisitorMut,
};

use crate::build;

/// The function a cast to `numeric` without a precision is planned as.
pub const TO_NUMERIC: &str = "meshgate_to_numeric";

pub fn rewrite(stmt: &mut Statement) {
    let _ = stmt.visit(&mut ResultTypes);
}

struct ResultTypes;

/// PostgreSQL's result type of the functions whose DataFusion result type differs.
fn declared(function: &str) -> Option<DataType> {
    match function {
        "ntile" | "cardinality" | "array_position" | "array_ndims" => Some(DataType::Int(None)),
        "array_positions" => Some(DataType::Array(ArrayElemTypeDef::SquareBracket(
            Box::new(DataType::Int(None)),
            None,
        ))),
        _ => None,
    }
}

impl VisitorMut for ResultTypes {
    type Break = ();

    // After the children, so the cast is not visited again.
    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Cast {
            expr,
            data_type:
                DataType::Numeric(ExactNumberInfo::None) | DataType::Decimal(ExactNumberInfo::None),
            ..
        } = e
        {
            *e = build::call(TO_NUMERIC, vec![expr.as_ref().clone()]);
            return ControlFlow::Continue(());
        }
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        let name = match f.name.0.last() {
            Some(ObjectNamePart::Identifier(i)) => i.value.to_ascii_lowercase(),
            _ => return ControlFlow::Continue(()),
        };
        if let Some(t) = declared(&name) {
            *e = build::cast(e.clone(), t);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_cast_to_postgres_types_once() {
        let mut stmt = super::super::parsed(
            "SELECT ntile(4) OVER (ORDER BY a), array_positions(x, 1), lower(b) FROM t",
        );
        rewrite(&mut stmt);
        assert_eq!(
            stmt.to_string(),
            "SELECT CAST(ntile(4) OVER (ORDER BY a) AS INT), \
             CAST(array_positions(x, 1) AS INT[]), lower(b) FROM t"
        );
    }
}
