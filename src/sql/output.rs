//! A result's columns in types PostgreSQL has. DataFusion computes some results in Arrow types
//! with no PostgreSQL counterpart (unsigned 64-bit integers from `array_length`, the Null type
//! of a bare `NULL`); the wire encoder would announce them as something a driver reads wrongly
//! (numeric) or not at all (unknown). The final projection casts them to the type PostgreSQL gives the
//! same expression, so the RowDescription and the rows agree. Likewise a type held as text
//! (json, varchar…) that the field lost or kept wrongly (see `text_types`).

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
        .enumerate()
        .map(|(i, f)| match f.data_type() {
            // `SELECT NULL` is text in PostgreSQL (the encoder would say `unknown`), unless
            // another branch of a set operation gives the column a type.
            DataType::Null => Some(set_operation_type(&plan, i).unwrap_or(DataType::Utf8)),
            t => postgres_type(t),
        })
        .collect();
    let typed = text_types(&plan);
    if targets.iter().all(Option::is_none) && typed.iter().all(Option::is_none) {
        return plan;
    }
    let exprs: Vec<Expr> = schema
        .iter()
        .zip(targets)
        .zip(typed)
        .map(|(((qualifier, field), target), typed)| {
            let column = Expr::Column(Column::from((qualifier, field)));
            if target.is_none() && typed.is_none() {
                return column;
            }
            let value = match target {
                Some(t) => cast(column, t),
                None => column,
            };
            value.alias_qualified_with_metadata(
                qualifier.cloned(),
                field.name(),
                typed.map(FieldMetadata::from),
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

/// For each result column, the field metadata that gives it the PostgreSQL type it holds as
/// text where DataFusion's field says otherwise (a CASE or COALESCE of jsonb values, a jsonb
/// cast to text); None where the field is right. Read from the last projection (under ORDER BY
/// and LIMIT, which keep its columns).
fn text_types(plan: &LogicalPlan) -> Vec<Option<HashMap<String, String>>> {
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
                        let text = meshgate_functions::PgType::Text;
                        let want = projected_type(e, &p.input).unwrap_or(text);
                        (want != meshgate_functions::pg_type(f).unwrap_or(text))
                            .then(|| want.metadata())
                    })
                    .collect();
            }
            _ => return vec![None; n],
        }
    }
}

/// The type PostgreSQL gives a projected expression; a column passed up from a projection
/// below (ORDER BY on a column not shown projects twice) is of that projection's expression.
fn projected_type(e: &Expr, input: &LogicalPlan) -> Option<meshgate_functions::PgType> {
    let inner = match e {
        Expr::Alias(a) if a.metadata.is_none() => a.expr.as_ref(),
        e => e,
    };
    if let Expr::Column(c) = inner {
        let mut node = input;
        loop {
            match node {
                LogicalPlan::Sort(s) => node = s.input.as_ref(),
                LogicalPlan::Limit(l) => node = l.input.as_ref(),
                LogicalPlan::Filter(f) => node = f.input.as_ref(),
                LogicalPlan::Projection(p) => match p.schema.index_of_column(c) {
                    Ok(i) => return projected_type(&p.expr[i], &p.input),
                    Err(_) => break,
                },
                _ => break,
            }
        }
    }
    meshgate_functions::expr_pg_type(e, input.schema())
}

/// A set operation's column is of its branches' type where the first branch's is a bare NULL
/// (`SELECT NULL UNION SELECT 1` is integer): the plan takes the first branch's type, Null,
/// until the analyzer coerces the branches, after the statement is described.
fn set_operation_type(plan: &LogicalPlan, column: usize) -> Option<DataType> {
    match plan {
        LogicalPlan::Sort(s) => set_operation_type(&s.input, column),
        LogicalPlan::Limit(l) => set_operation_type(&l.input, column),
        LogicalPlan::SubqueryAlias(a) => set_operation_type(&a.input, column),
        LogicalPlan::Distinct(d) => set_operation_type(d.input(), column),
        LogicalPlan::Union(u) => u.inputs.iter().find_map(|input| {
            let t = input.schema().fields().get(column)?.data_type();
            match t {
                DataType::Null => set_operation_type(input, column),
                t => Some(t.clone()),
            }
        }),
        _ => None,
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
