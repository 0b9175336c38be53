//! JSON text as PostgreSQL reads and prints it.
//!
//! One parser serves both types. `json` is the input text itself, so each node keeps the span
//! of text it came from: `'{"a": [1,  2]}'::json -> 'a'` answers `[1,  2]` as written. `jsonb`
//! is the parsed value, printed canonically (see [`Json::to_jsonb`]): keys de-duplicated (the
//! last wins) and sorted by length then bytes, numbers as PostgreSQL's numeric prints them.

use std::fmt::Write as _;
use std::ops::Range;

use datafusion::error::Result;

use crate::error::{
    fail, INVALID_TEXT_REPRESENTATION, NUMERIC_VALUE_OUT_OF_RANGE, STATEMENT_TOO_COMPLEX,
    UNTRANSLATABLE_CHARACTER,
};

/// Deeper nesting is refused rather than risking the thread's stack.
const MAX_DEPTH: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    /// The number's text as written (valid JSON number syntax).
    Number(String),
    /// The decoded string.
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// A JSON value and the span of the text it was parsed from (empty for built values).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Json {
    pub value: Value,
    pub span: Range<usize>,
}

impl From<Value> for Json {
    fn from(value: Value) -> Self {
        Json { value, span: 0..0 }
    }
}

impl Json {
    /// Parses JSON text as PostgreSQL's `json` input does (it accepts `\u0000`, which jsonb
    /// refuses: see [`Json::parse_jsonb`]).
    pub fn parse(text: &str) -> Result<Json> {
        let mut p = Parser {
            text,
            bytes: text.as_bytes(),
            at: 0,
            jsonb: false,
        };
        p.document()
    }

    /// Parses JSON text into its jsonb value: keys de-duplicated and sorted.
    pub fn parse_jsonb(text: &str) -> Result<Json> {
        let mut p = Parser {
            text,
            bytes: text.as_bytes(),
            at: 0,
            jsonb: true,
        };
        let mut j = p.document()?;
        j.canonicalize();
        Ok(j)
    }

    /// jsonb's object order: the last of duplicate keys kept, keys by length, then bytewise.
    pub fn canonicalize(&mut self) {
        match &mut self.value {
            Value::Array(items) => items.iter_mut().for_each(Json::canonicalize),
            Value::Object(members) => {
                let mut kept: Vec<(String, Json)> = Vec::with_capacity(members.len());
                for (k, mut v) in members.drain(..) {
                    v.canonicalize();
                    match kept.iter_mut().find(|(key, _)| *key == k) {
                        Some(slot) => slot.1 = v,
                        None => kept.push((k, v)),
                    }
                }
                kept.sort_by(|a, b| key_order(&a.0, &b.0));
                *members = kept;
            }
            _ => {}
        }
    }

    /// PostgreSQL's `jsonb` text: `{"a": 1, "b": [1, 2]}`.
    pub fn to_jsonb(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, JSONB);
        out
    }

    /// The compact json text PostgreSQL's json functions re-emit (`json_strip_nulls`): no
    /// spaces, numbers as written, strings re-escaped.
    pub fn to_compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, COMPACT);
        out
    }

    fn write(&self, out: &mut String, style: Style) {
        match &self.value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) if style.numbers_as_written => out.push_str(n),
            Value::Number(n) => out.push_str(&numeric_text(n)),
            Value::String(s) => escape_into(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(style.comma);
                    }
                    item.write(out, style);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(style.comma);
                    }
                    escape_into(out, k);
                    out.push_str(style.colon);
                    v.write(out, style);
                }
                out.push('}');
            }
        }
    }

    /// `jsonb_pretty`: four spaces a level, an empty container still on two lines.
    pub fn to_pretty(&self) -> String {
        let mut out = String::new();
        self.write_pretty(&mut out, 0);
        out
    }

    fn write_pretty(&self, out: &mut String, level: usize) {
        let pad = |out: &mut String, level: usize| out.push_str(&"    ".repeat(level));
        match &self.value {
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i > 0 { ",\n" } else { "\n" });
                    pad(out, level + 1);
                    item.write_pretty(out, level + 1);
                }
                out.push('\n');
                pad(out, level);
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    out.push_str(if i > 0 { ",\n" } else { "\n" });
                    pad(out, level + 1);
                    escape_into(out, k);
                    out.push_str(": ");
                    v.write_pretty(out, level + 1);
                }
                out.push('\n');
                pad(out, level);
                out.push('}');
            }
            _ => self.write(out, JSONB),
        }
    }

    /// The text of this node: its source span for a `json` value, else the jsonb printing.
    pub fn text_in(&self, source: Option<&str>) -> String {
        match source {
            Some(src) if !self.span.is_empty() => src[self.span.clone()].to_string(),
            _ => self.to_jsonb(),
        }
    }

    /// PostgreSQL's `->>`: a string unquoted, a JSON null as SQL NULL, anything else as text.
    pub fn as_text(&self, source: Option<&str>) -> Option<String> {
        match &self.value {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => Some(self.text_in(source)),
        }
    }

    /// `jsonb_typeof` / `json_typeof`.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// An object's member (the last of duplicates, as PostgreSQL's json operators find it).
    pub fn member(&self, key: &str) -> Option<&Json> {
        match &self.value {
            Value::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|m| &m.1),
            _ => None,
        }
    }

    /// An array's element; a negative index counts from the end.
    pub fn element(&self, index: i64) -> Option<&Json> {
        match &self.value {
            Value::Array(items) => {
                let i = if index < 0 {
                    items.len() as i64 + index
                } else {
                    index
                };
                usize::try_from(i).ok().and_then(|i| items.get(i))
            }
            _ => None,
        }
    }

    /// A path step (`#>`, `json_extract_path`): a key of an object, an index of an array.
    pub fn step(&self, key: &str) -> Option<&Json> {
        match &self.value {
            Value::Object(_) => self.member(key),
            Value::Array(_) => key.trim().parse::<i64>().ok().and_then(|i| self.element(i)),
            _ => None,
        }
    }
}

/// How a value is printed: separators, and numbers as numeric prints them or as written.
#[derive(Debug, Clone, Copy)]
struct Style {
    comma: &'static str,
    colon: &'static str,
    numbers_as_written: bool,
}

const JSONB: Style = Style {
    comma: ", ",
    colon: ": ",
    numbers_as_written: false,
};

const COMPACT: Style = Style {
    comma: ",",
    colon: ":",
    numbers_as_written: true,
};

/// jsonb's key order: shorter keys first, then bytewise.
pub(crate) fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// A JSON string literal for `s`, escaped as PostgreSQL's escape_json does.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    escape_into(&mut out, s);
    out
}

pub(crate) fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON number as PostgreSQL's numeric prints it: the exponent applied, leading zeros
/// gone, the scale kept (`1.50` stays `1.50`, `1e3` is `1000`, `1.5e-1` is `0.15`, `-0` is
/// `0`). The scale is the digits after the point less the exponent, never below zero.
pub(crate) fn numeric_text(n: &str) -> String {
    let (negative, body) = match n.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, n),
    };
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if exponent == 0 && !negative && (int == "0" || !int.starts_with('0')) {
        return mantissa.to_string();
    }
    let scale = (frac.len() as i64 - exponent).max(0) as usize;
    let digits = format!("{int}{frac}");
    // The point sits after `int.len() + exponent` digits of `digits`.
    let point = int.len() as i64 + exponent;
    let mut whole = String::new();
    let mut fraction = String::new();
    for (i, d) in digits.chars().enumerate() {
        if (i as i64) < point {
            whole.push(d);
        } else {
            fraction.push(d);
        }
    }
    if point > digits.len() as i64 {
        whole.push_str(&"0".repeat((point - digits.len() as i64) as usize));
    }
    if point < 0 {
        fraction.insert_str(0, &"0".repeat((-point) as usize));
    }
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    // The scale counts the digits kept after the point: pad or cut the written fraction to it
    // (only zeros are cut: a negative exponent never drops written digits).
    let mut fraction: String = fraction.chars().take(scale).collect();
    while fraction.len() < scale {
        fraction.push('0');
    }
    let zero = whole == "0" && fraction.bytes().all(|b| b == b'0');
    let mut out = String::new();
    if negative && !zero {
        out.push('-');
    }
    out.push_str(whole);
    if scale > 0 {
        out.push('.');
        out.push_str(&fraction);
    }
    out
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    /// jsonb: no `\u0000`, numbers within numeric's range.
    jsonb: bool,
}

fn syntax<T>(detail: &str) -> Result<T> {
    let _ = detail;
    fail(
        INVALID_TEXT_REPRESENTATION,
        "invalid input syntax for type json",
    )
}

impl Parser<'_> {
    fn document(&mut self) -> Result<Json> {
        let v = self.value(0)?;
        self.skip_ws();
        if self.at < self.bytes.len() {
            return syntax("expected end of input");
        }
        Ok(v)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json> {
        if depth > MAX_DEPTH {
            return fail(STATEMENT_TOO_COMPLEX, "stack depth limit exceeded");
        }
        self.skip_ws();
        let start = self.at;
        let value = match self.bytes.get(self.at) {
            None => return syntax("the input string ended unexpectedly"),
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                self.skip_ws();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                } else {
                    loop {
                        self.skip_ws();
                        if self.bytes.get(self.at) != Some(&b'"') {
                            return syntax("expected string");
                        }
                        let key = self.string()?;
                        self.skip_ws();
                        if self.bytes.get(self.at) != Some(&b':') {
                            return syntax("expected \":\"");
                        }
                        self.at += 1;
                        let v = self.value(depth + 1)?;
                        members.push((key, v));
                        self.skip_ws();
                        match self.bytes.get(self.at) {
                            Some(b',') => self.at += 1,
                            Some(b'}') => {
                                self.at += 1;
                                break;
                            }
                            _ => return syntax("expected \",\" or \"}\""),
                        }
                    }
                }
                Value::Object(members)
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                } else {
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.skip_ws();
                        match self.bytes.get(self.at) {
                            Some(b',') => self.at += 1,
                            Some(b']') => {
                                self.at += 1;
                                break;
                            }
                            _ => return syntax("expected \",\" or \"]\""),
                        }
                    }
                }
                Value::Array(items)
            }
            Some(b'"') => Value::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
            Some(_) => {
                let word_end = self.bytes[self.at..]
                    .iter()
                    .position(|b| !b.is_ascii_alphanumeric() && *b != b'_')
                    .map_or(self.bytes.len(), |n| self.at + n);
                let v = match &self.text[self.at..word_end] {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => return syntax("invalid token"),
                };
                self.at = word_end;
                v
            }
        };
        Ok(Json {
            value,
            span: start..self.at,
        })
    }

    fn number(&mut self) -> Result<String> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while p.bytes.get(p.at).is_some_and(u8::is_ascii_digit) {
                p.at += 1;
            }
            p.at - from
        };
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match self.bytes.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return syntax("invalid token"),
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return syntax("invalid token");
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return syntax("invalid token");
            }
        }
        // `01`, `1x`: PostgreSQL's lexer reads the whole word as one bad token.
        if self
            .bytes
            .get(self.at)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80)
        {
            return syntax("invalid token");
        }
        let n = &self.text[start..self.at];
        if self.jsonb {
            // numeric's range; also bounds the digits written out when printed.
            let exponent = n
                .split_once(['e', 'E'])
                .map_or(Some(0), |(_, e)| e.parse::<i64>().ok());
            if exponent.is_none_or(|e| e.abs() > 131_072) {
                return fail(NUMERIC_VALUE_OUT_OF_RANGE, "value overflows numeric format");
            }
        }
        Ok(n.to_string())
    }

    fn string(&mut self) -> Result<String> {
        self.at += 1; // the opening quote
        let mut out = String::new();
        loop {
            let Some(&b) = self.bytes.get(self.at) else {
                return syntax("the input string ended unexpectedly");
            };
            match b {
                b'"' => {
                    self.at += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.at += 1;
                    let Some(&e) = self.bytes.get(self.at) else {
                        return syntax("the input string ended unexpectedly");
                    };
                    self.at += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let c = self.unicode_escape()?;
                            out.push(c);
                        }
                        _ => return syntax("escape sequence is invalid"),
                    }
                }
                0..=0x1f => return syntax("character must be escaped"),
                _ => {
                    // A whole UTF-8 character: the input is a Rust string, so it is valid.
                    let len = utf8_len(b);
                    out.push_str(&self.text[self.at..self.at + len]);
                    self.at += len;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let Some(h) = self.text.get(self.at..self.at + 4) else {
            return syntax("\"\\u\" must be followed by four hexadecimal digits");
        };
        let Ok(v) = u32::from_str_radix(h, 16) else {
            return syntax("\"\\u\" must be followed by four hexadecimal digits");
        };
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return syntax("\"\\u\" must be followed by four hexadecimal digits");
        }
        self.at += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                return syntax("Unicode high surrogate must not follow a high surrogate");
            }
            self.at += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return syntax("Unicode low surrogate must follow a high surrogate");
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else if (0xDC00..0xE000).contains(&hi) {
            return syntax("Unicode low surrogate must follow a high surrogate");
        } else {
            hi
        };
        if code == 0 && self.jsonb {
            return fail(
                UNTRANSLATABLE_CHARACTER,
                "unsupported Unicode escape sequence",
            );
        }
        Ok(char::from_u32(code).unwrap_or('\u{fffd}'))
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FunctionError;

    fn jsonb(s: &str) -> String {
        Json::parse_jsonb(s).expect(s).to_jsonb()
    }

    fn code(s: &str) -> &'static str {
        let e = Json::parse_jsonb(s).expect_err(s);
        FunctionError::find(&e).expect("a function error").sqlstate
    }

    #[test]
    fn jsonb_prints_canonically() {
        assert_eq!(
            jsonb(r#"{"a": 1, "b": [1, 2]}"#),
            r#"{"a": 1, "b": [1, 2]}"#
        );
        assert_eq!(jsonb(r#"{"b":1,"a":2}"#), r#"{"a": 2, "b": 1}"#);
        assert_eq!(jsonb(" [ ] "), "[]");
        assert_eq!(jsonb("{}"), "{}");
        assert_eq!(
            jsonb(r#"[true,false,null,"x"]"#),
            r#"[true, false, null, "x"]"#
        );
    }

    #[test]
    fn jsonb_keys_sort_by_length_then_bytes_and_the_last_duplicate_wins() {
        assert_eq!(
            jsonb(r#"{"bb":1,"a":2,"aa":3, "b": {}}"#),
            r#"{"a": 2, "b": {}, "aa": 3, "bb": 1}"#
        );
        assert_eq!(jsonb(r#"{"a":1,"a":2}"#), r#"{"a": 2}"#);
        assert_eq!(
            jsonb(r#"{"x": {"b": 1, "a": 1, "b": 3}}"#),
            r#"{"x": {"a": 1, "b": 3}}"#
        );
    }

    #[test]
    fn jsonb_numbers_print_as_numeric() {
        assert_eq!(
            jsonb("[1e3, -0, 1.50e1, 1E-2, -0.0, 0e5, 12.3e-1, 1.50, -7, 2.5E+2]"),
            "[1000, 0, 15.0, 0.01, 0.0, 0, 1.23, 1.50, -7, 250]"
        );
        assert_eq!(numeric_text("0.000"), "0.000");
        assert_eq!(numeric_text("-1.5e-3"), "-0.0015");
    }

    #[test]
    fn strings_are_decoded_and_escaped_the_postgres_way() {
        assert_eq!(jsonb(r#""\u0041\/\b\u001f\u00e9\t""#), r#""A/\b\u001fé\t""#);
        assert_eq!(jsonb(r#""\ud83d\ude00""#), "\"\u{1F600}\"");
        assert_eq!(jsonb("\"ü\\\"\""), "\"ü\\\"\"");
        assert_eq!(quoted("a\nb\u{1}"), r#""a\nb\u0001""#);
    }

    #[test]
    fn json_keeps_the_source_text_of_each_value() {
        let src = r#"{"a": [1,  2], "b": 1.50}"#;
        let j = Json::parse(src).unwrap();
        assert_eq!(j.member("a").unwrap().text_in(Some(src)), "[1,  2]");
        assert_eq!(j.member("b").unwrap().text_in(Some(src)), "1.50");
        assert_eq!(j.text_in(Some(src)), src);
    }

    #[test]
    fn bad_input_is_22p02() {
        for bad in [
            r#"{"a":"#,
            "",
            "01",
            "1.",
            ".5",
            "[1,]",
            "{\"a\" 1}",
            "tru",
            "\"a\nb\"",
            r#""\x""#,
            r#""\ud800""#,
            "[1] x",
            "nul",
            "-",
            "1e",
        ] {
            assert_eq!(code(bad), INVALID_TEXT_REPRESENTATION, "{bad:?}");
        }
        assert_eq!(code(r#""\u0000""#), UNTRANSLATABLE_CHARACTER);
        assert!(Json::parse(r#""\u0000""#).is_ok());
        assert_eq!(code(&"[".repeat(5000)), STATEMENT_TOO_COMPLEX);
    }

    #[test]
    fn the_deepest_accepted_value_fits_a_worker_stack() {
        // A tokio worker's stack: parsing, canonical and pretty printing, comparing, dropping.
        let text = format!(
            "{}1{}",
            "[{\"a\": ".repeat(MAX_DEPTH / 2),
            "}]".repeat(MAX_DEPTH / 2)
        );
        let worker = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let j = Json::parse_jsonb(&text).expect("parses");
                assert!(j.to_jsonb().len() > MAX_DEPTH);
                assert!(j.to_pretty().len() > MAX_DEPTH);
                assert_eq!(j.clone(), j);
            })
            .expect("thread");
        worker.join().expect("no overflow");
    }

    #[test]
    fn arrays_index_from_either_end_and_paths_step_through_both() {
        let j = Json::parse_jsonb(r#"{"a": [10, 20, {"b": "x"}]}"#).unwrap();
        let a = j.member("a").unwrap();
        assert_eq!(a.element(1).unwrap().to_jsonb(), "20");
        assert_eq!(a.element(-1).unwrap().to_jsonb(), r#"{"b": "x"}"#);
        assert!(a.element(3).is_none() && a.element(-4).is_none());
        let x = j
            .step("a")
            .and_then(|a| a.step("2"))
            .and_then(|o| o.step("b"));
        assert_eq!(x.unwrap().as_text(None).as_deref(), Some("x"));
    }

    #[test]
    fn compact_json_keeps_numbers_as_written() {
        let j = Json::parse(r#"{"a": "\u00e9\n", "n": 1.50e1, "b": {"d": [ ]}}"#).unwrap();
        assert_eq!(
            j.to_compact(),
            "{\"a\":\"é\\n\",\"n\":1.50e1,\"b\":{\"d\":[]}}"
        );
    }

    #[test]
    fn pretty_prints_four_spaces_a_level() {
        let j = Json::parse_jsonb(r#"{"a": [1, {"b": []}, {}], "c": null}"#).unwrap();
        assert_eq!(
            j.to_pretty(),
            "{\n    \"a\": [\n        1,\n        {\n            \"b\": [\n            ]\n        },\n        {\n        }\n    ],\n    \"c\": null\n}"
        );
    }
}
