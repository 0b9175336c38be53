//! Trino's table versions, `FROM t FOR VERSION AS OF 812` and `FOR TIMESTAMP AS OF TIMESTAMP
//! '2026-11-30 12:00:00+00'`, which our parser does not take (it knows other dialects'
//! spellings, and DataFusion's planner drops a version it is given).
//!
//! So the clause is folded into the table's name on tokens before the parse: the name's last
//! part becomes one quoted identifier that says which version it reads, and the table keeps
//! its own name as its alias when it has none:
//!
//! ```text
//!  sales.orders FOR VERSION AS OF 812 o   ─► sales."orders FOR VERSION AS OF 812" o
//!  sales.orders FOR TIMESTAMP AS OF '…'   ─► sales."orders FOR TIMESTAMP AS OF …" AS orders
//! ```
//!
//! The catalog [`split`]s such a name again and opens that version; every other step sees an
//! ordinary relation. No table of the mesh can be mistaken for one: a name holding the clause
//! would need it in its own spelling.

use std::borrow::Cow;

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::{Keyword, RESERVED_FOR_TABLE_ALIAS};
use sqlparser::tokenizer::{Token, Tokenizer, Word};

use crate::error::{Code, FrontError};

const VERSION: &str = " FOR VERSION AS OF ";
const TIMESTAMP: &str = " FOR TIMESTAMP AS OF ";

/// Which version a relation name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version<'a> {
    /// A Delta version or an Iceberg snapshot id.
    Number(i64),
    /// A timestamp literal's text, as written.
    Timestamp(&'a str),
}

/// A relation name's table and the version it asks for, if any.
pub fn split(name: &str) -> (&str, Option<Version<'_>>) {
    if let Some((table, n)) = name.split_once(VERSION) {
        if let Ok(n) = n.parse() {
            return (table, Some(Version::Number(n)));
        }
    }
    if let Some((table, ts)) = name.split_once(TIMESTAMP) {
        return (table, Some(Version::Timestamp(ts)));
    }
    (name, None)
}

/// The relation name that reads `table` at version `n` (what [`split`] takes apart).
pub fn versioned(table: &str, n: i64) -> String {
    format!("{table}{VERSION}{n}")
}

/// The relation name of `table` at a version that is not shown (an audit text with its
/// literals redacted).
pub fn redacted(table: &str) -> String {
    format!("{table} AS OF ?")
}

fn kw(t: Option<&Token>, k: Keyword) -> bool {
    matches!(t, Some(Token::Word(Word { keyword, quote_style: None, .. })) if *keyword == k)
}

/// A message's text with every table version folded into its table's name.
pub fn respell(sql: &str) -> Result<Cow<'_, str>, FrontError> {
    Ok(match fold(sql)? {
        Some((text, _)) => Cow::Owned(text),
        None => Cow::Borrowed(sql),
    })
}

/// Where the folded text was changed: the original's byte range, and the folded one's.
type Edits = Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>;

/// Where a parser message about the folded text of `sql` points (sqlparser's `at Line: l,
/// Column: c`), as a byte offset into `sql` as written: inside a folded name, where the table's
/// name began; after one, shifted by what the fold changed.
pub fn parser_offset(sql: &str, message: &str) -> Option<usize> {
    let (_, tail) = message.rsplit_once(" at Line: ")?;
    let (line, column) = tail.split_once(", Column: ")?;
    let (line, column) = (
        line.parse::<usize>().ok()?,
        column.trim().parse::<usize>().ok()?,
    );
    let Ok(Some((folded, edits))) = fold(sql) else {
        return offset(sql, line, column);
    };
    let at = offset(&folded, line, column)?;
    let mut original = at as isize;
    for (o, n) in &edits {
        if at >= n.end {
            original += o.len() as isize - n.len() as isize;
        } else if at >= n.start {
            original = o.start as isize;
            break;
        }
    }
    Some((original.max(0) as usize).min(sql.len()))
}

/// A parser message with its `at Line: l, Column: c` replaced by the line and column of byte
/// offset `at` in `text`.
pub fn relocated(message: &str, text: &str, at: usize) -> String {
    let Some((head, _)) = message.rsplit_once(" at Line: ") else {
        return message.to_string();
    };
    let (line, column) = position(text, at);
    format!("{head} at Line: {line}, Column: {column}")
}

/// The byte offset of a 1-based line and column (in characters).
fn offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let rest = text.get(start..)?;
    Some(
        start
            + rest
                .char_indices()
                .nth(column.checked_sub(1)?)
                .map_or(rest.len(), |(i, _)| i),
    )
}

/// The 1-based line and column (in characters) of a byte offset.
fn position(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..text.floor_char_boundary(at.min(text.len()))];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The folded text and its edits; None when nothing was folded.
fn fold(sql: &str) -> Result<Option<(String, Edits)>, FrontError> {
    let lower = sql.to_ascii_lowercase();
    if !(lower.contains("version") || lower.contains("timestamp")) {
        return Ok(None);
    }
    // Raw tokens (no unescaping), so printing them again gives back the text as written.
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .with_unescape(false)
        .tokenize()
    else {
        // The parser reports what is wrong with the text.
        return Ok(None);
    };
    let sig: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    let at = |w: usize| sig.get(w).map(|&i| &tokens[i]);
    // Token index ─► the text printed instead (None: nothing).
    let mut replaced: std::collections::BTreeMap<usize, Option<String>> = Default::default();
    let mut w = 1;
    while w < sig.len() {
        let timestamp = kw(at(w + 1), Keyword::TIMESTAMP);
        let is_clause = kw(at(w), Keyword::FOR)
            && (kw(at(w + 1), Keyword::VERSION) || timestamp)
            && kw(at(w + 2), Keyword::AS)
            && kw(at(w + 3), Keyword::OF);
        let Some(Token::Word(table)) = at(w - 1).filter(|_| is_clause) else {
            w += 1;
            continue;
        };
        let mut v = w + 4;
        let version = if timestamp {
            // `TIMESTAMP '…'` and `TIMESTAMP WITH TIME ZONE '…'` read as the bare literal.
            if kw(at(v), Keyword::TIMESTAMP) {
                v += 1;
                if kw(at(v), Keyword::WITH) && kw(at(v + 1), Keyword::TIME) {
                    v += 3;
                }
            }
            match at(v) {
                Some(Token::SingleQuotedString(s)) if !s.contains('"') => format!("{TIMESTAMP}{s}"),
                _ => return Err(unsupported("FOR TIMESTAMP AS OF takes a timestamp literal, such as TIMESTAMP '2026-11-30 12:00:00+00'")),
            }
        } else {
            match at(v) {
                Some(Token::Number(n, _)) if n.parse::<i64>().is_ok() => format!("{VERSION}{n}"),
                _ => {
                    return Err(unsupported(
                        "FOR VERSION AS OF takes a version number or snapshot id",
                    ))
                }
            }
        };
        // As PostgreSQL folds the name: unquoted names are lower case.
        let base = match table.quote_style {
            Some(_) => table.value.clone(),
            None => table.value.to_lowercase(),
        };
        let mut name = format!("\"{}{version}\"", base.replace('"', "\"\""));
        let has_alias = match at(v + 1) {
            Some(Token::Word(a)) => {
                a.quote_style.is_some() || !RESERVED_FOR_TABLE_ALIAS.contains(&a.keyword)
            }
            _ => false,
        };
        if !has_alias {
            name.push_str(&format!(
                " AS {}",
                at(w - 1).map(ToString::to_string).unwrap_or_default()
            ));
        }
        replaced.insert(sig[w - 1], Some(name));
        for i in sig[w - 1] + 1..=sig[v] {
            replaced.insert(i, None);
        }
        w = v + 1;
    }
    if replaced.is_empty() {
        return Ok(None);
    }
    let mut out = String::with_capacity(sql.len() + 32);
    let mut edits: Edits = Vec::new();
    let mut at = 0;
    for (i, t) in tokens.iter().enumerate() {
        let written = t.to_string();
        match replaced.get(&i) {
            Some(Some(s)) => {
                edits.push((at..at + written.len(), out.len()..out.len() + s.len()));
                out.push_str(s);
            }
            Some(None) => {
                if let Some((o, _)) = edits.last_mut() {
                    o.end = at + written.len();
                }
            }
            None => out.push_str(&written),
        }
        at += written.len();
    }
    Ok(Some((out, edits)))
}

/// A stored text (a view's definition) with each folded name written out again as the table and
/// its clause, as a person wrote it: `sales."orders FOR VERSION AS OF 812" AS orders` reads
/// `sales.orders FOR VERSION AS OF 812 AS orders`, which [`respell`] folds the same way again.
pub fn unfolded(sql: &str) -> Cow<'_, str> {
    if !(sql.contains(VERSION) || sql.contains(TIMESTAMP)) {
        return Cow::Borrowed(sql);
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .with_unescape(false)
        .tokenize()
    else {
        return Cow::Borrowed(sql);
    };
    let mut out = String::with_capacity(sql.len());
    for t in &tokens {
        let Token::Word(Word {
            value,
            quote_style: Some('"'),
            ..
        }) = t
        else {
            out.push_str(&t.to_string());
            continue;
        };
        let name = value.replace("\"\"", "\"");
        match split(&name) {
            (table, Some(version)) => {
                out.push_str(&identifier(table));
                match version {
                    Version::Number(n) => out.push_str(&format!("{VERSION}{n}")),
                    Version::Timestamp(ts) => out.push_str(&format!("{TIMESTAMP}TIMESTAMP '{ts}'")),
                }
            }
            _ => out.push_str(&t.to_string()),
        }
    }
    Cow::Owned(out)
}

/// A name as PostgreSQL prints it: bare when it reads back as itself, quoted otherwise.
fn identifier(name: &str) -> String {
    let bare = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        // Quoting a word that is only sometimes a keyword is harmless; leaving one bare is not.
        && !sqlparser::keywords::ALL_KEYWORDS.contains(&name.to_ascii_uppercase().as_str());
    if bare {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn unsupported(message: &str) -> FrontError {
    FrontError::new(Code::FeatureNotSupported, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(sql: &str) -> String {
        respell(sql).expect("respells").into_owned()
    }

    #[test]
    fn folds_versions_into_names() {
        assert_eq!(
            r("SELECT * FROM sales.orders FOR VERSION AS OF 812 o WHERE o.id = 1"),
            "SELECT * FROM sales.\"orders FOR VERSION AS OF 812\" o WHERE o.id = 1"
        );
        assert_eq!(
            r("select * from Sales.Orders for timestamp as of timestamp '2026-11-30 12:00:00+00' where true"),
            "select * from Sales.\"orders FOR TIMESTAMP AS OF 2026-11-30 12:00:00+00\" AS Orders where true"
        );
        assert_eq!(
            r("SELECT 1 FROM t FOR VERSION AS OF 2 JOIN u FOR TIMESTAMP AS OF TIMESTAMP WITH TIME ZONE '2026-01-01' AS x ON true"),
            "SELECT 1 FROM \"t FOR VERSION AS OF 2\" AS t JOIN \"u FOR TIMESTAMP AS OF 2026-01-01\" AS x ON true"
        );
        assert_eq!(
            crate::parse::statements(&r("SELECT * FROM s.\"T\" FOR VERSION AS OF 3")).unwrap()[0]
                .to_string(),
            "SELECT * FROM s.\"T FOR VERSION AS OF 3\" AS \"T\""
        );
    }

    #[test]
    fn leaves_other_text_alone() {
        for sql in [
            "SELECT 'FROM t FOR VERSION AS OF 1', version FROM t",
            "SELECT * FROM t FOR UPDATE",
            "SELECT TIMESTAMP '2026-01-01'",
        ] {
            assert!(matches!(respell(sql), Ok(Cow::Borrowed(_))), "{sql}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_literal() {
        let e = respell("SELECT * FROM t FOR TIMESTAMP AS OF now()").unwrap_err();
        assert_eq!(e.code, Code::FeatureNotSupported);
        assert!(respell("SELECT * FROM t FOR VERSION AS OF x").is_err());
    }

    #[test]
    fn parser_positions_point_into_the_text_as_written() {
        for sql in [
            "SELECT * FROM t FOR VERSION AS OF 3 WHERE ) x",
            "SELECT *\n  FROM sales.orders  FOR  TIMESTAMP AS OF TIMESTAMP '2026-01-01' o\n  WHERE x = = 1",
            "SELECT 'é' FROM t FOR VERSION AS OF 3 JOIN u FOR VERSION AS OF 4 ON ) ",
        ] {
            let folded = r(sql);
            let e = crate::parse::statements(&folded).unwrap_err().to_string();
            let moved = relocated(&e, sql, parser_offset(sql, &e).expect("an offset"));
            let (_, at) = moved.rsplit_once(" at Line: ").expect("a position");
            let (line, column) = at.split_once(", Column: ").unwrap();
            let off = offset(sql, line.parse().unwrap(), column.parse().unwrap()).unwrap();
            // The parser stopped on the same token in both texts.
            let (_, fat) = e.rsplit_once(" at Line: ").unwrap();
            let (fl, fc) = fat.split_once(", Column: ").unwrap();
            let foff = offset(&folded, fl.parse().unwrap(), fc.parse().unwrap()).unwrap();
            assert_eq!(sql[off..].chars().next(), folded[foff..].chars().next(), "{sql}: {moved}");
            assert!(off > sql.find("OF").unwrap(), "{sql}: {moved}");
        }
    }

    #[test]
    fn unfolds_stored_names_as_written() {
        for (written, shown) in [
            (
                "SELECT * FROM sales.orders FOR VERSION AS OF 812 o",
                "SELECT * FROM sales.orders FOR VERSION AS OF 812 o",
            ),
            (
                "SELECT * FROM s.\"T\" FOR TIMESTAMP AS OF TIMESTAMP '2026-11-30 12:00:00+00'",
                "SELECT * FROM s.\"T\" FOR TIMESTAMP AS OF TIMESTAMP '2026-11-30 12:00:00+00' AS \"T\"",
            ),
            (
                "SELECT * FROM s.\"select\" FOR VERSION AS OF 1 AS x",
                "SELECT * FROM s.\"select\" FOR VERSION AS OF 1 AS x",
            ),
        ] {
            let stored = crate::parse::statements(&r(written)).unwrap()[0].to_string();
            let back = unfolded(&stored).into_owned();
            assert_eq!(back, shown);
            // What is shown folds to what was stored.
            assert_eq!(
                crate::parse::statements(&r(&back)).unwrap()[0].to_string(),
                stored
            );
        }
        assert!(matches!(
            unfolded("SELECT \"a b\" FROM t"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn splits_names_again() {
        assert_eq!(
            split("orders FOR VERSION AS OF 812"),
            ("orders", Some(Version::Number(812)))
        );
        assert_eq!(
            split("orders FOR TIMESTAMP AS OF 2026-11-30"),
            ("orders", Some(Version::Timestamp("2026-11-30")))
        );
        assert_eq!(split("orders"), ("orders", None));
        assert_eq!(
            split(&versioned("orders", 7)),
            ("orders", Some(Version::Number(7)))
        );
    }
}
