//! The filters a PostgreSQL source evaluates itself, written as its SQL.
//!
//! Only predicates whose answer PostgreSQL gives exactly as DataFusion would are sent: column
//! comparisons with literals, boolean logic, NULL tests, IN lists, BETWEEN and LIKE. Nothing
//! that can fail on a row (arithmetic, casts that narrow) is sent, so a filter pushed below a
//! row filter cannot answer a question about hidden rows by an error. Ordering comparisons on
//! text are made under the "C" collation, DataFusion's byte order, whatever the column's.

use datafusion::logical_expr::expr::{InList, Like};
use datafusion::logical_expr::{Between, BinaryExpr, Cast, Expr, Operator};
use datafusion::scalar::ScalarValue;

use crate::types::Kind;

/// A quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `expr` as PostgreSQL SQL over the table's columns, or `None` when it is not sent.
pub fn to_sql(expr: &Expr, kind_of: &dyn Fn(&str) -> Option<Kind>) -> Option<String> {
    Writer { kind_of }.expr(expr)
}

struct Writer<'a> {
    kind_of: &'a dyn Fn(&str) -> Option<Kind>,
}

impl Writer<'_> {
    fn expr(&self, e: &Expr) -> Option<String> {
        match e {
            Expr::Column(c) => {
                (self.kind_of)(&c.name).filter(|k| k.pushable())?;
                Some(ident(&c.name))
            }
            Expr::Literal(v, _) => literal(v),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let sql_op = meshgate_connector_api::sql_operator(op)?;
                if matches!(op, Operator::And | Operator::Or) {
                    return Some(format!(
                        "({} {sql_op} {})",
                        self.expr(left)?,
                        self.expr(right)?
                    ));
                }
                let ordered = !matches!(op, Operator::Eq | Operator::NotEq);
                Some(format!(
                    "({} {sql_op} {})",
                    self.operand(left, ordered)?,
                    self.operand(right, ordered)?
                ))
            }
            Expr::Not(inner) => Some(format!("(NOT {})", self.expr(inner)?)),
            Expr::IsNull(inner) => Some(format!("({} IS NULL)", self.operand(inner, false)?)),
            Expr::IsNotNull(inner) => {
                Some(format!("({} IS NOT NULL)", self.operand(inner, false)?))
            }
            Expr::Between(Between {
                expr,
                negated,
                low,
                high,
            }) => Some(format!(
                "({} {}BETWEEN {} AND {})",
                self.operand(expr, true)?,
                if *negated { "NOT " } else { "" },
                self.operand(low, true)?,
                self.operand(high, true)?
            )),
            Expr::InList(InList {
                expr,
                list,
                negated,
            }) => {
                let items = list
                    .iter()
                    .map(|i| self.operand(i, false))
                    .collect::<Option<Vec<_>>>()?;
                Some(format!(
                    "({} {}IN ({}))",
                    self.operand(expr, false)?,
                    if *negated { "NOT " } else { "" },
                    items.join(", ")
                ))
            }
            Expr::Like(Like {
                negated,
                expr,
                pattern,
                escape_char,
                case_insensitive: false,
            }) => {
                let escape = match escape_char {
                    None => String::new(),
                    Some(c) if *c != '\'' => format!(" ESCAPE '{c}'"),
                    Some(_) => return None,
                };
                Some(format!(
                    "({} {}LIKE {}{escape})",
                    self.operand(expr, false)?,
                    if *negated { "NOT " } else { "" },
                    self.operand(pattern, false)?
                ))
            }
            _ => None,
        }
    }

    /// A comparison's operand: a column (widened integers are the column itself) or a literal.
    /// Ordered comparisons of text are made in byte order.
    fn operand(&self, e: &Expr, ordered: bool) -> Option<String> {
        let (sql, text) = match e {
            Expr::Column(c) => {
                let k = (self.kind_of)(&c.name).filter(|k| k.pushable())?;
                (ident(&c.name), k.is_text())
            }
            Expr::Cast(Cast { expr, data_type }) => match expr.as_ref() {
                Expr::Column(c)
                    if (self.kind_of)(&c.name).is_some_and(Kind::is_integer)
                        && widens((self.kind_of)(&c.name)?, data_type) =>
                {
                    (ident(&c.name), false)
                }
                _ => return None,
            },
            Expr::Literal(v, _) => (literal(v)?, is_text_literal(v)),
            _ => return None,
        };
        Some(if ordered && text {
            format!("{sql} COLLATE \"C\"")
        } else {
            sql
        })
    }
}

fn widens(k: Kind, to: &datafusion::arrow::datatypes::DataType) -> bool {
    use datafusion::arrow::datatypes::DataType::*;
    match k {
        Kind::Int2 => matches!(to, Int16 | Int32 | Int64),
        Kind::Int4 => matches!(to, Int32 | Int64),
        Kind::Int8 => matches!(to, Int64),
        _ => false,
    }
}

fn is_text_literal(v: &ScalarValue) -> bool {
    matches!(
        v,
        ScalarValue::Utf8(_) | ScalarValue::LargeUtf8(_) | ScalarValue::Utf8View(_)
    )
}

/// A literal as PostgreSQL reads it with the same type. NULLs and values of other types are
/// not sent (DataFusion evaluates those filters).
fn literal(v: &ScalarValue) -> Option<String> {
    Some(match v {
        ScalarValue::Boolean(Some(b)) => b.to_string().to_uppercase(),
        // Quoted, so that a negative minimum is one literal rather than minus an overflow.
        ScalarValue::Int8(Some(i)) => format!("'{i}'::int2"),
        ScalarValue::Int16(Some(i)) => format!("'{i}'::int2"),
        ScalarValue::Int32(Some(i)) => format!("'{i}'::int4"),
        ScalarValue::Int64(Some(i)) => format!("'{i}'::int8"),
        ScalarValue::Float64(Some(f)) if f.is_finite() => format!("'{f:?}'::float8"),
        ScalarValue::Float32(Some(f)) if f.is_finite() => format!("'{f:?}'::float4"),
        ScalarValue::Decimal128(Some(v), _, s) => {
            let s = usize::try_from(*s).ok()?;
            let digits = v.unsigned_abs().to_string();
            let padded = format!("{digits:0>width$}", width = s + 1);
            let (whole, fraction) = padded.split_at(padded.len() - s);
            let sign = if *v < 0 { "-" } else { "" };
            if s == 0 {
                format!("'{sign}{whole}'::numeric")
            } else {
                format!("'{sign}{whole}.{fraction}'::numeric")
            }
        }
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
            if !s.contains('\0') =>
        {
            // standard_conforming_strings is on in every supported PostgreSQL: only quotes
            // need doubling.
            format!("'{}'::text", s.replace('\'', "''"))
        }
        ScalarValue::Date32(Some(d)) => {
            let day = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
                .checked_add_signed(chrono::Duration::days(i64::from(*d)))?;
            format!("'{}'::date", day.format("%Y-%m-%d"))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn kinds(name: &str) -> Option<Kind> {
        match name {
            "id" => Some(Kind::Int4),
            "name" => Some(Kind::Text),
            "amount" => Some(Kind::Numeric(12, 2)),
            "code" => Some(Kind::Bpchar),
            "uid" => Some(Kind::AsText),
            _ => None,
        }
    }

    #[test]
    fn comparisons_and_logic_are_sent() {
        let e = col("id").gt(lit(5i32)).and(col("name").eq(lit("it's")));
        assert_eq!(
            to_sql(&e, &kinds).as_deref(),
            Some("((\"id\" > '5'::int4) AND (\"name\" = 'it''s'::text))")
        );
        let e = col("name").lt(lit("m"));
        assert_eq!(
            to_sql(&e, &kinds).as_deref(),
            Some("(\"name\" COLLATE \"C\" < 'm'::text COLLATE \"C\")")
        );
        let e = col("amount").gt_eq(lit(ScalarValue::Decimal128(Some(-5), 12, 2)));
        assert_eq!(
            to_sql(&e, &kinds).as_deref(),
            Some("(\"amount\" >= '-0.05'::numeric)")
        );
    }

    #[test]
    fn what_can_fail_or_differs_stays_here() {
        assert_eq!(to_sql(&(col("id") + lit(1i32)).gt(lit(5i32)), &kinds), None);
        assert_eq!(
            to_sql(&col("id").eq(lit(ScalarValue::Int32(None))), &kinds),
            None
        );
        assert_eq!(to_sql(&col("other").eq(lit(1i32)), &kinds), None);
        assert_eq!(to_sql(&col("name").ilike(lit("a%")), &kinds), None);
        assert_eq!(to_sql(&col("code").eq(lit("a")), &kinds), None);
        assert_eq!(to_sql(&col("uid").eq(lit("a")), &kinds), None);
        assert_eq!(to_sql(&col("uid").is_null(), &kinds), None);
    }
}
