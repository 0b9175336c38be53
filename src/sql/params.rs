//! The parameters of a prepared statement: their types where the statement casts them.

use datafusion::sql::sqlparser::ast::Statement;
use pgwire::api::Type;

/// The types placeholders are cast to in the statement (`$n::type`), by parameter number.
pub fn placeholder_casts(stmt: &Statement) -> std::collections::HashMap<usize, Type> {
    use datafusion::sql::sqlparser::ast::{visit_expressions, Expr, Value};
    let mut out = std::collections::HashMap::new();
    let _ = visit_expressions(stmt, |e| {
        if let Expr::Cast {
            expr, data_type, ..
        } = e
        {
            if let Expr::Value(v) = expr.as_ref() {
                if let Value::Placeholder(p) = &v.value {
                    let n = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok());
                    if let (Some(n), Some(t)) = (n, pg_type_named(&data_type.to_string())) {
                        out.entry(n).or_insert(t);
                    }
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    out
}

/// PostgreSQL's type for a SQL type name, for the types drivers bind parameters as.
fn pg_type_named(name: &str) -> Option<Type> {
    let name = name.to_ascii_lowercase();
    let base = name.split('(').next().unwrap_or("").trim();
    Some(match base {
        "int8" | "bigint" => Type::INT8,
        "int" | "int4" | "integer" => Type::INT4,
        "int2" | "smallint" => Type::INT2,
        "numeric" | "decimal" => Type::NUMERIC,
        "float8" | "double precision" | "double" => Type::FLOAT8,
        "float4" | "real" => Type::FLOAT4,
        "bool" | "boolean" => Type::BOOL,
        "date" => Type::DATE,
        "timestamp" | "timestamp without time zone" => Type::TIMESTAMP,
        "timestamptz" | "timestamp with time zone" => Type::TIMESTAMPTZ,
        "text" => Type::TEXT,
        "varchar" | "character varying" => Type::VARCHAR,
        "bytea" => Type::BYTEA,
        "json" => Type::JSON,
        "jsonb" => Type::JSONB,
        // asyncpg's type introspection binds `$1::oid[]`; its core codecs include oid[] (not
        // int4[]), so that is the type it must be told. Decoded as int4[] (same layout).
        "oid[]" | "pg_catalog.oid[]" => Type::OID_ARRAY,
        _ => return None,
    })
}
