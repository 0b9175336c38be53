//! Character types and SIMILAR TO with PostgreSQL's results. DataFusion ignores a length in a
//! cast (`'abc'::varchar(2)` stayed `abc`) and has no SIMILAR TO of its own meaning.
//!
//! - `CAST(x AS varchar(n))` and `char(n)` keep the first n characters, as PostgreSQL's explicit
//!   casts do (they truncate without an error). `char(n)` is not padded: PostgreSQL's bpchar
//!   ignores its trailing blanks in comparisons and `length`, which text would not.
//! - `x SIMILAR TO 'pattern'` with a literal pattern is the anchored regular expression
//!   PostgreSQL translates it to: `%` any string, `_` any character, `|`, `*`, `+`, `?`,
//!   `{m,n}`, `( )` and `[ ]` as in regular expressions, everything else (`.` included) itself.

use sqlparser::ast::{BinaryOperator, CharacterLength, DataType, Expr, Value, ValueWithSpan};

use crate::build;

/// The replacement of a cast or SIMILAR TO, None to leave the expression.
pub(super) fn rewrite(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Cast {
            expr, data_type, ..
        } => {
            let length = match data_type {
                DataType::Varchar(Some(CharacterLength::IntegerLength { length, .. }))
                | DataType::CharacterVarying(Some(CharacterLength::IntegerLength {
                    length, ..
                }))
                | DataType::Char(Some(CharacterLength::IntegerLength { length, .. }))
                | DataType::Character(Some(CharacterLength::IntegerLength { length, .. })) => {
                    *length
                }
                _ => return None,
            };
            let text = build::cast((**expr).clone(), DataType::Text);
            Some(build::call(
                "substr",
                vec![text, build::number(1), build::number(length as i64)],
            ))
        }
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
