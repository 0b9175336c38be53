//! Character types and SIMILAR TO with PostgreSQL's results. DataFusion ignores a length in a
//! cast (`'abc'::varchar(2)` stayed `abc`) and has no SIMILAR TO of its own meaning.
//!
//! - `CAST(x AS varchar(n))` and `char(n)` are calls of the functions crate's casts (which
//!   keep the first n characters, as PostgreSQL's explicit casts do, and mark the result's
//!   field with the type) on `x::text`: DataFusion's cast has no type of its own for them.
//! - `x SIMILAR TO 'pattern'` with a literal pattern is the anchored regular expression
//!   PostgreSQL translates it to: `%` any string, `_` any character, `|`, `*`, `+`, `?`,
//!   `{m,n}`, `( )` and `[ ]` as in regular expressions, everything else (`.` included) itself.

use sqlparser::ast::{
    BinaryOperator, CharacterLength, DataType, Expr, TypedString, Value, ValueWithSpan,
};

use crate::build;

/// The functions (meshgate-functions, which takes these names from here) that cast text to
/// varchar and bpchar, with the length as a second argument where the type gives one.
pub const CAST_VARCHAR: &str = "meshgate_cast_varchar";
pub const CAST_BPCHAR: &str = "meshgate_cast_bpchar";

/// The cast function and length for a character type; None for other types.
fn char_cast(t: &DataType) -> Option<(&'static str, Option<u64>)> {
    let length = |l: &Option<CharacterLength>| match l {
        Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
        _ => None,
    };
    match t {
        DataType::Varchar(l) | DataType::CharacterVarying(l) => Some((CAST_VARCHAR, length(l))),
        // `char` alone is char(1) in PostgreSQL.
        DataType::Char(l) | DataType::Character(l) => {
            Some((CAST_BPCHAR, Some(length(l).unwrap_or(1))))
        }
        DataType::Custom(name, modifiers) => {
            let name = name.to_string().to_ascii_lowercase();
            let function = match name.strip_prefix("pg_catalog.").unwrap_or(&name) {
                "varchar" => CAST_VARCHAR,
                "bpchar" => CAST_BPCHAR,
                _ => return None,
            };
            match modifiers.as_slice() {
                [] => Some((function, None)),
                [n] => Some((function, Some(n.trim().parse().ok()?))),
                _ => None,
            }
        }
        _ => None,
    }
}

fn cast_call(value: Expr, t: &DataType) -> Option<Expr> {
    let (function, length) = char_cast(t)?;
    let mut args = vec![build::cast(value, DataType::Text)];
    args.extend(length.map(|n| build::number(n as i64)));
    Some(build::call(function, args))
}

/// The replacement of a cast or SIMILAR TO, None to leave the expression.
pub(super) fn rewrite(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Cast {
            expr, data_type, ..
        } => cast_call((**expr).clone(), data_type),
        Expr::TypedString(TypedString {
            data_type, value, ..
        }) => cast_call(Expr::Value(value.clone()), data_type),
        Expr::SimilarTo {
            negated,
            expr,
            pattern,
            escape_char,
        } => {
            let Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(p),
                ..
            }) = pattern.as_ref()
            else {
                return None;
            };
            let escape = match escape_char {
                None => Some('\\'),
                Some(Value::SingleQuotedString(s)) if s.chars().count() == 1 => s.chars().next(),
                Some(Value::SingleQuotedString(s)) if s.is_empty() => None,
                _ => return None,
            };
            Some(Expr::BinaryOp {
                left: expr.clone(),
                op: if *negated {
                    BinaryOperator::PGRegexNotMatch
                } else {
                    BinaryOperator::PGRegexMatch
                },
                right: Box::new(build::string(&similar_to_regex(p, escape))),
            })
        }
        _ => None,
    }
}

/// The anchored regular expression of a SIMILAR TO pattern.
fn similar_to_regex(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars();
    let mut in_brackets = false;
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(next) => push_literal(&mut out, next),
                None => push_literal(&mut out, c),
            }
            continue;
        }
        if in_brackets {
            if c == ']' {
                in_brackets = false;
            }
            out.push(c);
            continue;
        }
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '[' => {
                in_brackets = true;
                out.push(c);
            }
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' => out.push(c),
            other => push_literal(&mut out, other),
        }
    }
    out.push_str(")$");
    out
}

/// The character itself in the regular expression: escaped when the engine would read it as an
/// operator (and only then: some escapes, `\<`, mean something else).
fn push_literal(out: &mut String, c: char) {
    if "\\.+*?()|[]{}^$#&-~".contains(c) {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut stmt = super::super::parsed(&format!("SELECT {sql}"));
        let sqlparser::ast::Statement::Query(q) = &mut stmt else {
            unreachable!()
        };
        let sqlparser::ast::SetExpr::Select(s) = q.body.as_mut() else {
            unreachable!()
        };
        let sqlparser::ast::SelectItem::UnnamedExpr(e) = &s.projection[0] else {
            unreachable!()
        };
        rewrite(e).map_or_else(|| e.to_string(), |r| r.to_string())
    }

    #[test]
    fn character_casts_become_the_typed_cast_functions() {
        assert_eq!(
            rewritten("'abc'::varchar(2)"),
            "meshgate_cast_varchar(CAST('abc' AS TEXT), 2)"
        );
        assert_eq!(
            rewritten("CAST(d AS varchar)"),
            "meshgate_cast_varchar(CAST(d AS TEXT))"
        );
        assert_eq!(
            rewritten("'a'::char"),
            "meshgate_cast_bpchar(CAST('a' AS TEXT), 1)"
        );
        assert_eq!(
            rewritten("x::pg_catalog.bpchar"),
            "meshgate_cast_bpchar(CAST(x AS TEXT))"
        );
        assert_eq!(rewritten("x::text"), "x::TEXT");
    }

    #[test]
    fn similar_to_patterns_become_anchored_regexes() {
        assert_eq!(similar_to_regex("a%", Some('\\')), "^(?:a.*)$");
        assert_eq!(similar_to_regex("(a|b)c", Some('\\')), "^(?:(a|b)c)$");
        assert_eq!(
            similar_to_regex("Brand#(1|2)%", Some('\\')),
            "^(?:Brand\\#(1|2).*)$"
        );
        assert_eq!(similar_to_regex("a.b_", Some('\\')), "^(?:a\\.b.)$");
        // An escaped % is a percent sign.
        assert_eq!(similar_to_regex("100\\%", Some('\\')), "^(?:100%)$");
        assert_eq!(similar_to_regex("[a-c]x", None), "^(?:[a-c]x)$");
    }
}
