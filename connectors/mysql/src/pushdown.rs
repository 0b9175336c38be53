//! What MySQL answers exactly as meshgate does, spelled in its dialect.
//!
//! A scan sends comparisons of a column with a literal (numbers and dates; text only `=`/`<>`/
//! `IN` and only under an exact collation: MySQL's default ones ignore case and trailing
//! spaces), NULL tests, IN lists, BETWEEN and boolean logic. Nothing that can fail or round
//! differently on a row (arithmetic: MySQL's `/` on integers returns a decimal) is sent, so a
//! row filter sent with the scan stays a security barrier.
//!
//! Whole subplans are judged by the SQL front end's allow-list; [`refuses`] adds what MySQL
//! does unlike PostgreSQL among the nodes it accepts.

use datafusion::common::tree_node::TreeNode;
use datafusion::common::DFSchema;
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprSchemable, FetchType, LogicalPlan, Operator, SkipType,
};
use datafusion::scalar::ScalarValue;

use crate::types::Kind;

/// A MySQL identifier: backticks, a backtick inside doubled.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A string literal. Connections run with `NO_BACKSLASH_ESCAPES`, so a backslash is itself and
/// a quote inside is doubled, as in standard SQL.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The filter in MySQL's SQL, or None when MySQL might answer it differently.
pub fn to_sql(e: &Expr, kind_of: &dyn Fn(&str) -> Option<Kind>) -> Option<String> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let sql_op = meshgate_connector_api::sql_operator(op)?;
            if matches!(op, Operator::And | Operator::Or) {
                return Some(format!(
                    "({} {sql_op} {})",
                    to_sql(left, kind_of)?,
                    to_sql(right, kind_of)?
                ));
            }
            let ordering = !matches!(op, Operator::Eq | Operator::NotEq);
            let (column, value) = match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) => (c, v),
                (Expr::Literal(v, _), Expr::Column(c)) => {
                    // `5 < x` is `x > 5`.
                    let flipped = match op {
                        Operator::Lt => ">",
                        Operator::LtEq => ">=",
                        Operator::Gt => "<",
                        Operator::GtEq => "<=",
                        _ => sql_op,
                    };
                    let kind = kind_of(&c.name)?;
                    return Some(format!(
                        "({} {flipped} {})",
                        ident(&c.name),
                        value_sql(kind, v, ordering)?
                    ));
                }
                _ => return None,
            };
            let kind = kind_of(&column.name)?;
            Some(format!(
                "({} {sql_op} {})",
                ident(&column.name),
                value_sql(kind, value, ordering)?
            ))
        }
        Expr::Not(inner) => Some(format!("(NOT {})", to_sql(inner, kind_of)?)),
        // A NULL test reads no value: right for every kind.
        Expr::IsNull(inner) => match inner.as_ref() {
            Expr::Column(c) => kind_of(&c.name).map(|_| format!("({} IS NULL)", ident(&c.name))),
            _ => None,
        },
        Expr::IsNotNull(inner) => match inner.as_ref() {
            Expr::Column(c) => {
                kind_of(&c.name).map(|_| format!("({} IS NOT NULL)", ident(&c.name)))
            }
            _ => None,
        },
        Expr::InList(l) => {
            let Expr::Column(c) = l.expr.as_ref() else {
                return None;
            };
            let kind = kind_of(&c.name)?;
            let items = l
                .list
                .iter()
                .map(|i| match i {
                    Expr::Literal(v, _) => value_sql(kind, v, false),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some(format!(
                "({} {}IN ({}))",
                ident(&c.name),
                if l.negated { "NOT " } else { "" },
                items.join(", ")
            ))
        }
        Expr::Between(b) => {
            let Expr::Column(c) = b.expr.as_ref() else {
                return None;
            };
            let kind = kind_of(&c.name)?;
            let bound = |e: &Expr| match e {
                Expr::Literal(v, _) => value_sql(kind, v, true),
                _ => None,
            };
            Some(format!(
                "({} {}BETWEEN {} AND {})",
                ident(&c.name),
                if b.negated { "NOT " } else { "" },
                bound(&b.low)?,
                bound(&b.high)?
            ))
        }
        _ => None,
    }
}

/// A literal compared with a column of `kind`, when MySQL compares the two as meshgate does.
fn value_sql(kind: Kind, v: &ScalarValue, ordering: bool) -> Option<String> {
    let integer = |v: &ScalarValue| -> Option<String> {
        Some(match v {
            ScalarValue::Int8(Some(i)) => i.to_string(),
            ScalarValue::Int16(Some(i)) => i.to_string(),
            ScalarValue::Int32(Some(i)) => i.to_string(),
            ScalarValue::Int64(Some(i)) => i.to_string(),
            ScalarValue::UInt8(Some(i)) => i.to_string(),
            ScalarValue::UInt16(Some(i)) => i.to_string(),
            ScalarValue::UInt32(Some(i)) => i.to_string(),
            ScalarValue::UInt64(Some(i)) => i.to_string(),
            _ => return None,
        })
    };
    match kind {
        Kind::Int16 | Kind::Int32 | Kind::Int64 | Kind::Numeric(..) => {
            integer(v).or_else(|| match v {
                ScalarValue::Decimal128(Some(d), _, s) => Some(decimal(*d, *s)),
                _ => None,
            })
        }
        Kind::Float64 => match v {
            ScalarValue::Float64(Some(f)) if f.is_finite() => Some(format!("{f:?}")),
            _ => integer(v),
        },
        Kind::Date => match v {
            ScalarValue::Date32(Some(d)) => {
                let day = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
                    .checked_add_signed(chrono::Duration::days(i64::from(*d)))?;
                Some(format!("DATE '{}'", day.format("%Y-%m-%d")))
            }
            _ => None,
        },
        Kind::Text { exact: true } if !ordering => match v {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
                if !s.contains('\0') =>
            {
                Some(literal(s))
            }
            _ => None,
        },
        // Single-precision floats compare after widening, which rounds unlike meshgate;
        // timestamps compare in the session's zone; the rest by rules of their own.
        _ => None,
    }
}

/// A decimal's digits with its scale's point.
fn decimal(v: i128, scale: i8) -> String {
    if scale <= 0 {
        return format!("{v}{}", "0".repeat((-scale) as usize));
    }
    let digits = v.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{}{whole}.{fraction}", if v < 0 { "-" } else { "" })
}

/// Whether MySQL would answer `node`, which the shared allow-list accepts, unlike meshgate.
pub fn refuses(node: &LogicalPlan) -> bool {
    // MySQL has no IS [NOT] DISTINCT FROM (its `<=>` is not what the unparser writes).
    let distinct_from = node.expressions().iter().any(|e| {
        e.exists(|x| {
            Ok(matches!(
                x,
                Expr::BinaryExpr(BinaryExpr {
                    op: Operator::IsDistinctFrom | Operator::IsNotDistinctFrom,
                    ..
                })
            ))
        })
        .unwrap_or(true)
    });
    if distinct_from {
        return true;
    }
    match node {
        // MySQL puts NULLs first ascending and last descending, PostgreSQL the other way, and
        // MySQL has no NULLS FIRST/LAST to say otherwise: a key sorts there only when its
        // requested NULL placement is MySQL's or it holds no NULL.
        LogicalPlan::Sort(s) => s.expr.iter().any(|o| {
            let mysql_order = o.asc == o.nulls_first;
            !mysql_order && nullable(&o.expr, s.input.schema())
        }),
        // MySQL has OFFSET only after a LIMIT.
        LogicalPlan::Limit(l) => {
            let skips = !matches!(l.get_skip_type(), Ok(SkipType::Literal(0)));
            skips && matches!(l.get_fetch_type(), Ok(FetchType::Literal(None)))
        }
        _ => false,
    }
}

fn nullable(e: &Expr, schema: &DFSchema) -> bool {
    e.nullable(schema).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn kinds(c: &str) -> Option<Kind> {
        Some(match c {
            "id" => Kind::Int32,
            "amount" => Kind::Numeric(12, 2),
            "code" => Kind::Text { exact: true },
            "name" => Kind::Text { exact: false },
            "ratio" => Kind::Float32,
            _ => return None,
        })
    }

    #[test]
    fn what_mysql_answers_alike_is_sent() {
        let sql = |e: Expr| to_sql(&e, &kinds);
        assert_eq!(
            sql(col("id").lt(lit(5i64)).and(col("code").eq(lit("a'b\\")))),
            Some("((`id` < 5) AND (`code` = 'a''b\\'))".to_string())
        );
        assert_eq!(
            sql(col("amount").gt_eq(lit(ScalarValue::Decimal128(Some(-5), 12, 2)))),
            Some("(`amount` >= -0.05)".to_string())
        );
        assert_eq!(
            sql(col("name").is_null()),
            Some("(`name` IS NULL)".to_string())
        );
    }

    #[test]
    fn case_insensitive_text_text_order_and_floats_stay_here() {
        let sql = |e: Expr| to_sql(&e, &kinds);
        assert_eq!(sql(col("name").eq(lit("a"))), None);
        assert_eq!(sql(col("code").lt(lit("a"))), None);
        assert_eq!(sql(col("ratio").eq(lit(0.1f64))), None);
        assert_eq!(sql((col("id") + lit(1i32)).eq(lit(2i32))), None);
    }
}
