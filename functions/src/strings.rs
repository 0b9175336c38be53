//! String functions with PostgreSQL's results: `format`, `quote_ident`, `quote_literal`,
//! `quote_nullable`, `encode`/`decode` (base64 with padding and 76-character lines, hex,
//! escape), `regexp_replace` with flags and `regexp_count`/`regexp_like`, with PostgreSQL's
//! error codes for bad patterns and arguments.

use std::sync::Arc;

use base64::Engine;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;
use regex::{Regex, RegexBuilder};

use crate::error::{
    fail, INVALID_PARAMETER_VALUE, INVALID_REGULAR_EXPRESSION, PROGRAM_LIMIT_EXCEEDED,
};
use crate::udf::{arg_i64, arg_str, is_text, text, texts, wrong_types, Ctx, RowFn, INT, TEXT};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFn::new("chr", |t| int_arg("chr", t), |_, _, _| Ok(TEXT), chr).udf(),
        RowFn::new("format", coerce_format, |_, _, _| Ok(TEXT), format)
            .lenient()
            .udf(),
        RowFn::new(
            "quote_ident",
            |t| texts("quote_ident", t, 1),
            |_, _, _| Ok(TEXT),
            |a, _| Ok(text(quote_ident(arg_str(&a[0]).unwrap_or("")))),
        )
        .udf(),
        RowFn::new(
            "quote_literal",
            any_as_text,
            |_, _, _| Ok(TEXT),
            |a, _| Ok(text(quote_literal(&as_text(&a[0])?))),
        )
        .udf(),
        RowFn::new(
            "quote_nullable",
            any_as_text,
            |_, _, _| Ok(TEXT),
            |a, _| {
                Ok(text(if a[0].is_null() {
                    "NULL".to_string()
                } else {
                    quote_literal(&as_text(&a[0])?)
                }))
            },
        )
        .lenient()
        .udf(),
        RowFn::new("encode", coerce_encode, |_, _, _| Ok(TEXT), encode).udf(),
        RowFn::new(
            "decode",
            |t| texts("decode", t, 2),
            |_, _, _| Ok(DataType::Binary),
            decode,
        )
        .udf(),
        RowFn::new(
            "regexp_replace",
            coerce_regexp_replace,
            |_, _, _| Ok(TEXT),
            regexp_replace,
        )
        .udf(),
        RowFn::new(
            "regexp_count",
            coerce_regexp_count,
            |_, _, _| Ok(DataType::Int32),
            regexp_count,
        )
        .udf(),
        RowFn::new(
            "regexp_like",
            |t| pattern_args("regexp_like", t),
            |_, _, _| Ok(DataType::Boolean),
            regexp_like,
        )
        .udf(),
        RowFn::new(
            "regexp_split_to_array",
            |t| pattern_args("regexp_split_to_array", t),
            |_, _, _| Ok(DataType::new_list(TEXT, true)),
            regexp_split_to_array,
        )
        .udf(),
        substring_regex_udf(),
        RowFn::new(
            "regexp_match",
            |t| pattern_args("regexp_match", t),
            |_, _, _| Ok(DataType::new_list(TEXT, true)),
            regexp_match,
        )
        .udf(),
        RowFn::new(
            "regexp_matches",
            |t| pattern_args("regexp_matches", t),
            |_, _, _| Ok(DataType::new_list(DataType::new_list(TEXT, true), true)),
            regexp_matches,
        )
        .udf(),
        RowFn::new(
            "split_part",
            coerce_split_part,
            |_, _, _| Ok(TEXT),
            split_part,
        )
        .udf(),
    ]
}

/// Two or three text arguments: the regular-expression functions' (string, pattern[, flags]).
fn pattern_args(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    match t.len() {
        2 | 3 => texts(name, t, t.len()),
        _ => Err(wrong_types(name, t)),
    }
}

fn any_as_text(t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [_] => Ok(vec![TEXT]),
        _ => Err(wrong_types("quote_literal", t)),
    }
}

fn as_text(v: &ScalarValue) -> Result<String> {
    Ok(arg_str(v).map_or_else(|| v.to_string(), str::to_string))
}

/// Keywords PostgreSQL quotes in `quote_ident` (every keyword that is not unreserved).
const KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

pub(crate) fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !KEYWORDS.contains(&s);
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

/// A literal with quotes doubled; a backslash doubled too, in an E'' string, as PostgreSQL.
pub(crate) fn quote_literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

fn coerce_format(t: &[DataType]) -> Result<Vec<DataType>> {
    if t.is_empty() || !is_text(&t[0]) {
        return Err(wrong_types("format", t));
    }
    // Arguments print as their text forms; integers stay integers for `*` widths.
    Ok(t.iter()
        .enumerate()
        .map(|(i, x)| if i > 0 && x.is_integer() { INT } else { TEXT })
        .collect())
}

fn format(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let Some(fmt) = arg_str(&a[0]) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let args = &a[1..];
    let too_few = || fail(INVALID_PARAMETER_VALUE, "too few arguments for format()");
    let mut out = String::new();
    let mut next = 0usize;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        // %[position$][flags][width]type
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '$' || d == '-' || d == '*' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let Some(kind) = chars.next() else {
            return fail(
                INVALID_PARAMETER_VALUE,
                "unterminated format() type specifier",
            );
        };
        let (position, rest) = match spec.split_once('$') {
            Some((p, r)) if !p.contains(['-', '*']) => (p.parse::<usize>().ok(), r.to_string()),
            _ => (None, spec.clone()),
        };
        let left = rest.starts_with('-');
        let width_text = rest.trim_start_matches('-');
        let width: usize = if width_text == "*" {
            let w = args.get(next).and_then(arg_i64);
            next += 1;
            let Some(w) = w else { return too_few() };
            usize::try_from(w.unsigned_abs()).unwrap_or(0)
        } else {
            width_text.parse().unwrap_or(0)
        };
        let index = match position {
            Some(0) => {
                return fail(
                    INVALID_PARAMETER_VALUE,
                    "format specifies argument 0, but arguments are numbered from 1",
                )
            }
            Some(p) => p - 1,
            None => next,
        };
        next = index + 1;
        let Some(arg) = args.get(index) else {
            return too_few();
        };
        let value = if arg.is_null() {
            None
        } else {
            Some(as_text(arg)?)
        };
        let piece = match kind {
            's' => value.unwrap_or_default(),
            'I' => match value {
                Some(v) => quote_ident(&v),
                None => {
                    return fail(
                        crate::error::NULL_VALUE_NOT_ALLOWED,
                        "null values cannot be formatted as an SQL identifier",
                    )
                }
            },
            'L' => value.map_or_else(|| "NULL".to_string(), |v| quote_literal(&v)),
            other => {
                return fail(
                    INVALID_PARAMETER_VALUE,
                    format!("unrecognized format() type specifier \"{other}\""),
                )
            }
        };
        let len = piece.chars().count();
        if len < width {
            let pad = " ".repeat(width - len);
            if left {
                out.push_str(&piece);
                out.push_str(&pad);
            } else {
                out.push_str(&pad);
                out.push_str(&piece);
            }
        } else {
            out.push_str(&piece);
        }
    }
    Ok(text(out))
}

fn coerce_encode(t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [b, f] if is_text(f) => match b {
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                Ok(vec![DataType::Binary, TEXT])
            }
            b if is_text(b) => Ok(vec![TEXT, TEXT]),
            _ => Err(wrong_types("encode", t)),
        },
        _ => Err(wrong_types("encode", t)),
    }
}

fn bytes(v: &ScalarValue) -> Option<&[u8]> {
    match v {
        ScalarValue::Binary(Some(b)) | ScalarValue::LargeBinary(Some(b)) => Some(b),
        other => arg_str(other).map(str::as_bytes),
    }
}

fn unknown_encoding<T>(name: &str) -> Result<T> {
    fail(
        INVALID_PARAMETER_VALUE,
        format!("unrecognized encoding: \"{name}\""),
    )
}

fn encode(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let data = bytes(&a[0]).unwrap_or_default();
    let how = arg_str(&a[1]).unwrap_or("");
    let out = match how.to_ascii_lowercase().as_str() {
        "base64" => {
            // PostgreSQL breaks base64 output into lines of 76 characters.
            let s = base64::engine::general_purpose::STANDARD.encode(data);
            let lines: Vec<&str> = s
                .as_bytes()
                .chunks(76)
                .map(|c| std::str::from_utf8(c).unwrap_or(""))
                .collect();
            lines.join("\n")
        }
        "hex" => data.iter().map(|b| format!("{b:02x}")).collect(),
        "escape" => {
            let mut s = String::new();
            for &b in data {
                match b {
                    b'\\' => s.push_str("\\\\"),
                    0 | 0x80..=0xff => s.push_str(&format!("\\{b:03o}")),
                    _ => s.push(b as char),
                }
            }
            s
        }
        _ => return unknown_encoding(how),
    };
    Ok(text(out))
}

fn decode(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let input = arg_str(&a[0]).unwrap_or("");
    let how = arg_str(&a[1]).unwrap_or("");
    let out = match how.to_ascii_lowercase().as_str() {
        "base64" => {
            let clean: String = input.chars().filter(|c| !c.is_whitespace()).collect();
            if let Some(bad) = clean
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
            {
                return fail(
                    INVALID_PARAMETER_VALUE,
                    format!("invalid symbol \"{bad}\" found while decoding base64 sequence"),
                );
            }
            match base64::engine::general_purpose::STANDARD.decode(clean.as_bytes()) {
                Ok(v) => v,
                Err(_) => return fail(INVALID_PARAMETER_VALUE, "invalid base64 end sequence"),
            }
        }
        "hex" => {
            let clean: Vec<u8> = input.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            if !clean.len().is_multiple_of(2) {
                return fail(
                    INVALID_PARAMETER_VALUE,
                    "invalid hexadecimal data: odd number of digits",
                );
            }
            let mut v = Vec::with_capacity(clean.len() / 2);
            for pair in clean.chunks(2) {
                let s = std::str::from_utf8(pair).unwrap_or("");
                match u8::from_str_radix(s, 16) {
                    Ok(b) => v.push(b),
                    Err(_) => {
                        return fail(
                            INVALID_PARAMETER_VALUE,
                            format!("invalid hexadecimal digit: \"{}\"", s),
                        )
                    }
                }
            }
            v
        }
        "escape" => {
            let b = input.as_bytes();
            let mut v = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                if b[i] != b'\\' {
                    v.push(b[i]);
                    i += 1;
                } else if b.get(i + 1) == Some(&b'\\') {
                    v.push(b'\\');
                    i += 2;
                } else if let Some(oct) = b
                    .get(i + 1..i + 4)
                    .and_then(|o| std::str::from_utf8(o).ok())
                    .and_then(|o| u8::from_str_radix(o, 8).ok())
                {
                    v.push(oct);
                    i += 4;
                } else {
                    return fail(
                        crate::error::INVALID_TEXT_REPRESENTATION,
                        "invalid input syntax for type bytea",
                    );
                }
            }
            v
        }
        _ => return unknown_encoding(how),
    };
    Ok(ScalarValue::Binary(Some(out)))
}

/// A PostgreSQL (ARE) pattern with its flags as a Rust regex; `g` is returned apart.
fn regex(pattern: &str, flags: &str) -> Result<(Regex, bool)> {
    let translated = pg_escapes(pattern);
    let mut b = RegexBuilder::new(&translated);
    let mut global = false;
    for f in flags.chars() {
        match f {
            'g' => global = true,
            'i' => {
                b.case_insensitive(true);
            }
            'c' => {
                b.case_insensitive(false);
            }
            'n' | 'm' => {
                b.multi_line(true);
            }
            's' => {
                b.dot_matches_new_line(true);
            }
            'x' => {
                b.ignore_whitespace(true);
            }
            other => {
                return fail(
                    INVALID_PARAMETER_VALUE,
                    format!("invalid regular expression option: \"{other}\""),
                )
            }
        }
    }
    match b.build() {
        Ok(r) => Ok((r, global)),
        Err(e) => fail(
            INVALID_REGULAR_EXPRESSION,
            format!("invalid regular expression: {}", first_line(&e.to_string())),
        ),
    }
}

/// PostgreSQL's word-boundary escapes (`\y`, `\m`, `\M`) and end of string (`\Z`) in the
/// regex crate's spelling; `\m` and `\M` become any word boundary.
fn pg_escapes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('y' | 'm' | 'M') => out.push_str("\\b"),
            Some('Z') => out.push_str("\\z"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// PostgreSQL's replacement text (`\1`…`\9`, `\&`) in the regex crate's spelling.
fn replacement(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d @ '0'..='9') => {
                    chars.next();
                    out.push_str(&format!("${{{d}}}"));
                }
                Some('&') => {
                    chars.next();
                    out.push_str("${0}");
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    out
}

fn coerce_regexp_replace(t: &[DataType]) -> Result<Vec<DataType>> {
    match t.len() {
        3 | 4 => texts("regexp_replace", t, t.len()),
        _ => Err(wrong_types("regexp_replace", t)),
    }
}

fn regexp_replace(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let s = arg_str(&a[0]).unwrap_or("");
    let flags = a.get(3).and_then(arg_str).unwrap_or("");
    let (re, global) = regex(arg_str(&a[1]).unwrap_or(""), flags)?;
    let rep = replacement(arg_str(&a[2]).unwrap_or(""));
    let out = if global {
        re.replace_all(s, rep.as_str())
    } else {
        re.replace(s, rep.as_str())
    };
    Ok(text(out.into_owned()))
}

fn coerce_regexp_count(t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [a, b] if is_text(a) && is_text(b) => Ok(vec![TEXT, TEXT]),
        [a, b, n] if is_text(a) && is_text(b) && n.is_integer() => Ok(vec![TEXT, TEXT, INT]),
        [a, b, n, f] if is_text(a) && is_text(b) && n.is_integer() && is_text(f) => {
            Ok(vec![TEXT, TEXT, INT, TEXT])
        }
        _ => Err(wrong_types("regexp_count", t)),
    }
}

fn regexp_count(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let s = arg_str(&a[0]).unwrap_or("");
    let start = a.get(2).and_then(arg_i64).unwrap_or(1);
    if start <= 0 {
        return fail(
            INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"start\": {start}"),
        );
    }
    let (re, _) = regex(
        arg_str(&a[1]).unwrap_or(""),
        a.get(3).and_then(arg_str).unwrap_or(""),
    )?;
    let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
    let from = s.char_indices().nth(skip).map_or(s.len(), |(i, _)| i);
    Ok(ScalarValue::Int64(Some(
        re.find_iter(&s[from..]).count() as i64
    )))
}

fn regexp_like(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let s = arg_str(&a[0]).unwrap_or("");
    let (re, global) = regex(
        arg_str(&a[1]).unwrap_or(""),
        a.get(2).and_then(arg_str).unwrap_or(""),
    )?;
    if global {
        return fail(
            INVALID_PARAMETER_VALUE,
            "regexp_like() does not support the \"global\" option",
        );
    }
    Ok(ScalarValue::Boolean(Some(re.is_match(s))))
}

/// What `substring(text FROM pattern)` is planned as (see `planner`).
pub(crate) fn substring_regex_udf() -> Arc<ScalarUDF> {
    RowFn::new(
        "substring_regex",
        |t| texts("substring", t, 2),
        |_, _, _| Ok(TEXT),
        substring_regex,
    )
    .udf()
}

/// The part of the text the pattern's first parenthesised group matched, or the whole match
/// when it has none; NULL when nothing matches.
fn substring_regex(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let s = arg_str(&a[0]).unwrap_or("");
    let (re, _) = regex(arg_str(&a[1]).unwrap_or(""), "")?;
    let Some(caps) = re.captures(s) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let m = if caps.len() > 1 {
        caps.get(1)
    } else {
        caps.get(0)
    };
    Ok(ScalarValue::Utf8(m.map(|m| m.as_str().to_string())))
}

/// The text between the pattern's matches (an empty pattern splits into characters).
fn regexp_split_to_array(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let s = arg_str(&a[0]).unwrap_or("");
    let (re, global) = regex(
        arg_str(&a[1]).unwrap_or(""),
        a.get(2).and_then(arg_str).unwrap_or(""),
    )?;
    if global {
        return fail(
            INVALID_PARAMETER_VALUE,
            "regexp_split_to_array() does not support the \"global\" option",
        );
    }
    let parts: Vec<ScalarValue> = if re.as_str().is_empty() {
        s.chars()
            .map(|c| ScalarValue::Utf8(Some(c.to_string())))
            .collect()
    } else {
        re.split(s)
            .map(|p| ScalarValue::Utf8(Some(p.to_string())))
            .collect()
    };
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &parts, &TEXT,
    )))
}

/// The first match's capture groups (or the whole match when there are none); NULL when
/// nothing matches.
fn regexp_match(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let s = arg_str(&a[0]).unwrap_or("");
    let (re, global) = regex(
        arg_str(&a[1]).unwrap_or(""),
        a.get(2).and_then(arg_str).unwrap_or(""),
    )?;
    if global {
        return fail(
            INVALID_PARAMETER_VALUE,
            "regexp_match() does not support the \"global\" option",
        );
    }
    let Some(caps) = re.captures(s) else {
        return ScalarValue::try_from(&DataType::new_list(TEXT, true));
    };
    Ok(groups(&caps))
}

/// A match as PostgreSQL's text[]: its capture groups (NULL where a group took no part), or
/// the whole match when the pattern has none.
fn groups(caps: &regex::Captures) -> ScalarValue {
    let text_of = |i: usize| ScalarValue::Utf8(caps.get(i).map(|m| m.as_str().to_string()));
    let parts: Vec<ScalarValue> = if caps.len() == 1 {
        vec![text_of(0)]
    } else {
        (1..caps.len()).map(text_of).collect()
    };
    ScalarValue::List(ScalarValue::new_list_nullable(&parts, &TEXT))
}

/// `regexp_matches`' rows as one list of text[]: every match with the `g` flag, else the
/// first; the SQL front end unnests it.
fn regexp_matches(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let s = arg_str(&a[0]).unwrap_or("");
    let (re, global) = regex(
        arg_str(&a[1]).unwrap_or(""),
        a.get(2).and_then(arg_str).unwrap_or(""),
    )?;
    let rows: Vec<ScalarValue> = if global {
        re.captures_iter(s).map(|c| groups(&c)).collect()
    } else {
        re.captures(s).map(|c| groups(&c)).into_iter().collect()
    };
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &rows,
        &DataType::new_list(TEXT, true),
    )))
}

fn coerce_split_part(t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [a, b, n] if is_text(a) && is_text(b) && (n.is_integer() || n.is_null()) => {
            Ok(vec![TEXT, TEXT, INT])
        }
        _ => Err(wrong_types("split_part", t)),
    }
}

/// `split_part` counts from the end for a negative position (PostgreSQL 14+).
fn split_part(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let s = arg_str(&a[0]).unwrap_or("");
    let sep = arg_str(&a[1]).unwrap_or("");
    let n = arg_i64(&a[2]).unwrap_or(0);
    if n == 0 {
        return fail(INVALID_PARAMETER_VALUE, "field position must not be zero");
    }
    let parts: Vec<&str> = if sep.is_empty() {
        vec![s]
    } else {
        s.split(sep).collect()
    };
    let len = parts.len() as i64;
    let i = if n > 0 { n - 1 } else { len + n };
    let part = if (0..len).contains(&i) {
        parts[i as usize]
    } else {
        ""
    };
    Ok(text(part))
}

fn int_arg(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    match t {
        [a] if a.is_integer() || a.is_null() => Ok(vec![DataType::Int64]),
        _ => Err(wrong_types(name, t)),
    }
}

/// `chr(n)`: the character of code point n, with PostgreSQL's refusals (a NUL, a code past
/// Unicode or a surrogate is 54000, a negative number 22023; DataFusion's returned a NUL
/// character).
fn chr(a: &[ScalarValue], _: &Ctx) -> Result<ScalarValue> {
    let Some(n) = arg_i64(&a[0]) else {
        return Ok(ScalarValue::Utf8(None));
    };
    if n == 0 {
        return fail(PROGRAM_LIMIT_EXCEEDED, "null character not permitted");
    }
    if n < 0 {
        return fail(INVALID_PARAMETER_VALUE, "character number must be positive");
    }
    let Some(c) = u32::try_from(n).ok().and_then(char::from_u32) else {
        return fail(
            PROGRAM_LIMIT_EXCEEDED,
            format!("requested character not valid for encoding: {n}"),
        );
    };
    Ok(text(c.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_ret() -> DataType {
        TEXT
    }

    fn call(
        f: fn(&[ScalarValue], &Ctx) -> Result<ScalarValue>,
        args: &[ScalarValue],
    ) -> Result<ScalarValue> {
        let ret = ctx_ret();
        f(
            args,
            &Ctx {
                tz: None,
                ret: &ret,
            },
        )
    }

    fn t(s: &str) -> ScalarValue {
        text(s)
    }

    fn code(e: datafusion::error::DataFusionError) -> &'static str {
        crate::error::FunctionError::find(&e).map_or("none", |f| f.sqlstate)
    }

    // Expected values from PostgreSQL 15.
    #[test]
    fn format_specifiers() {
        let f = |args: &[ScalarValue]| call(format, args).unwrap().to_string();
        assert_eq!(
            f(&[
                t("Hello %s, %I, %L, %%"),
                t("World"),
                t("My Col"),
                t("O'Reilly")
            ]),
            "Hello World, \"My Col\", 'O''Reilly', %"
        );
        assert_eq!(f(&[t("%2$s %1$s"), t("a"), t("b")]), "b a");
        assert_eq!(
            f(&[t("[%10s][%-10s]"), t("x"), t("y")]),
            "[         x][y         ]"
        );
        assert_eq!(f(&[t("%s"), ScalarValue::Utf8(None)]), "");
        assert_eq!(f(&[t("%L"), ScalarValue::Utf8(None)]), "NULL");
        assert_eq!(f(&[t("%*s"), ScalarValue::Int64(Some(5)), t("x")]), "    x");
        assert_eq!(f(&[t("%1$s %s"), t("a"), t("b")]), "a b");
        assert_eq!(
            code(call(format, &[t("%s %s"), t("a")]).unwrap_err()),
            "22023"
        );
        assert_eq!(code(call(format, &[t("%x"), t("a")]).unwrap_err()), "22023");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("abc"), "abc");
        assert_eq!(quote_ident("Abc"), "\"Abc\"");
        assert_eq!(quote_ident("a b"), "\"a b\"");
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_literal("O'Reilly"), "'O''Reilly'");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }

    #[test]
    fn encodings() {
        let e = |b: &[u8], how: &str| {
            call(encode, &[ScalarValue::Binary(Some(b.to_vec())), t(how)])
                .unwrap()
                .to_string()
        };
        assert_eq!(e(b"hello world", "base64"), "aGVsbG8gd29ybGQ=");
        assert_eq!(e(b"a", "hex"), "61");
        assert_eq!(e(b"a\0b", "escape"), "a\\000b");
        assert_eq!(
            e(&[b'x'; 60], "base64"),
            "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\neHh4"
        );
        let d = |s: &str, how: &str| call(decode, &[t(s), t(how)]);
        assert_eq!(
            d("aGVsbG8=", "base64").unwrap(),
            ScalarValue::Binary(Some(b"hello".to_vec()))
        );
        assert_eq!(
            d("6162", "hex").unwrap(),
            ScalarValue::Binary(Some(b"ab".to_vec()))
        );
        assert_eq!(code(d("!!", "base64").unwrap_err()), "22023");
        assert_eq!(code(d("aa", "rot13").unwrap_err()), "22023");
    }

    #[test]
    fn regular_expressions() {
        let r = |args: &[ScalarValue]| call(regexp_replace, args).map(|v| v.to_string());
        assert_eq!(
            r(&[t("foo bar foo"), t("foo"), t("X")]).unwrap(),
            "X bar foo"
        );
        assert_eq!(
            r(&[t("foo bar foo"), t("foo"), t("X"), t("g")]).unwrap(),
            "X bar X"
        );
        assert_eq!(r(&[t("Foo"), t("foo"), t("X"), t("i")]).unwrap(), "X");
        assert_eq!(r(&[t("abc"), t("(b)"), t("[\\1\\&]")]).unwrap(), "a[bb]c");
        assert_eq!(code(r(&[t("abc"), t("("), t("x")]).unwrap_err()), "2201B");
        assert_eq!(
            code(r(&[t("abc"), t("b"), t("x"), t("z")]).unwrap_err()),
            "22023"
        );
        assert_eq!(
            call(regexp_count, &[t("ababab"), t("ab")]).unwrap(),
            ScalarValue::Int64(Some(3))
        );
        assert_eq!(
            call(regexp_like, &[t("Abc"), t("abc"), t("i")]).unwrap(),
            ScalarValue::Boolean(Some(true))
        );
    }

    #[test]
    fn regexp_match_groups() {
        let m = |args: &[ScalarValue]| call(regexp_match, args).map(|v| v.to_string());
        assert_eq!(m(&[t("abc123"), t("[0-9]+")]).unwrap(), "[123]");
        assert_eq!(m(&[t("abc"), t("(a)(b)")]).unwrap(), "[a, b]");
        assert!(call(regexp_match, &[t("abc"), t("x")]).unwrap().is_null());
        assert_eq!(code(m(&[t("abc"), t("(")]).unwrap_err()), "2201B");
        assert_eq!(code(m(&[t("abc"), t("a"), t("g")]).unwrap_err()), "22023");
    }

    #[test]
    fn postgres_escapes() {
        let r = |args: &[ScalarValue]| call(regexp_replace, args).unwrap().to_string();
        assert_eq!(
            r(&[t("the cat sat"), t("\\yat\\y"), t("X"), t("g")]),
            "the cat sat"
        );
        assert_eq!(r(&[t("the cat sat"), t("\\mc"), t("K")]), "the Kat sat");
        assert_eq!(r(&[t("abc"), t("c\\Z"), t("Z")]), "abZ");
        assert_eq!(r(&[t("a\\b"), t("\\\\"), t("/")]), "a/b");
    }

    #[test]
    fn splits_and_substrings() {
        let split = |s: &str, p: &str| {
            call(regexp_split_to_array, &[t(s), t(p)])
                .unwrap()
                .to_string()
        };
        assert_eq!(split("a1b22c", "\\d+"), "[a, b, c]");
        assert_eq!(split("abc", ""), "[a, b, c]");
        assert_eq!(
            call(substring_regex, &[t("foo123bar"), t("\\d+")]).unwrap(),
            t("123")
        );
        assert_eq!(
            call(substring_regex, &[t("foobar"), t("o(.)b")]).unwrap(),
            t("o")
        );
        assert!(call(substring_regex, &[t("foobar"), t("x")])
            .unwrap()
            .is_null());
    }

    #[test]
    fn split_part_counts_from_the_end() {
        let s = |n: i64| {
            call(
                split_part,
                &[t("a,b,c"), t(","), ScalarValue::Int64(Some(n))],
            )
        };
        assert_eq!(s(-1).unwrap(), t("c"));
        assert_eq!(s(5).unwrap(), t(""));
        assert_eq!(s(-4).unwrap(), t(""));
        assert_eq!(code(s(0).unwrap_err()), "22023");
    }
}
