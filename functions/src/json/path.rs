//! A subset of SQL/JSON path (`jsonb_path_query_array`, `jsonb_path_query_first`,
//! `jsonb_path_exists`, `@?`): `$`, `.key`, `."key"`, `.*`, `[*]`, `[n]`, `[n to m]`, `last`,
//! and filters `? (…)` comparing `@`-paths with literals under `&&`, `||`, `!`, in lax mode
//! (arrays unwrapped where a member is asked of them, missing members ignored). Anything else
//! is refused as not supported (0A000) rather than answered differently from PostgreSQL.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;

use super::value::{numeric_text, Json, Value};
use super::{json_arg, JsonFn, JsonKind, Ret};
use crate::error::{fail, FEATURE_NOT_SUPPORTED, STATEMENT_TOO_COMPLEX, SYNTAX_ERROR};
use crate::udf::{arg_str, text};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    fn two(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
        super::texts(name, t, 2)
    }
    vec![
        JsonFn::new(
            "jsonb_path_query_array",
            two,
            Ret::Json(JsonKind::Jsonb),
            |a| {
                let found = query(a)?;
                Ok(text(Json::from(Value::Array(found)).to_jsonb()))
            },
        ),
        JsonFn::new(
            "jsonb_path_query_first",
            two,
            Ret::Json(JsonKind::Jsonb),
            |a| Ok(ScalarValue::Utf8(query(a)?.first().map(Json::to_jsonb))),
        ),
        JsonFn::new("jsonb_path_exists", two, Ret::Bool, |a| {
            Ok(ScalarValue::Boolean(Some(!query(a)?.is_empty())))
        }),
        JsonFn::new("meshgate_jsonb_path_query", two, Ret::TextList, |a| {
            let items: Vec<ScalarValue> = query(a)?
                .iter()
                .map(|j| ScalarValue::Utf8(Some(j.to_jsonb())))
                .collect();
            Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                &items,
                &DataType::Utf8,
            )))
        }),
    ]
    .into_iter()
    .map(JsonFn::udf)
    .collect()
}

fn query(a: &super::Args) -> Result<Vec<Json>> {
    let (j, _) = json_arg(a, 0, JsonKind::Jsonb)?;
    let path = parse(arg_str(&a.values[1]).unwrap_or_default())?;
    Ok(eval(&path, &j, &j).into_iter().cloned().collect())
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Member(String),
    AnyMember,
    AnyElement,
    /// Subscripts: each a single index or a range (`last` counted from the end).
    Elements(Vec<(Index, Option<Index>)>),
    Filter(Pred),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Index {
    At(i64),
    Last(i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@` or `$` followed by steps.
    Path {
        current: bool,
        steps: Vec<Step>,
    },
    Literal(Json),
}

#[derive(Debug, Clone, PartialEq)]
enum Pred {
    Compare(Operand, &'static str, Operand),
    Exists(Operand),
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
}

fn unsupported<T>(what: &str) -> Result<T> {
    fail(
        FEATURE_NOT_SUPPORTED,
        format!("jsonpath {what} is not supported"),
    )
}

fn syntax<T>(path: &str) -> Result<T> {
    fail(
        SYNTAX_ERROR,
        format!("syntax error at or near \"{path}\" of jsonpath input"),
    )
}

fn parse(text: &str) -> Result<Vec<Step>> {
    let mut p = PathParser {
        s: text.as_bytes(),
        text,
        at: 0,
        depth: 0,
    };
    p.ws();
    if p.keyword("strict") {
        return unsupported("strict mode");
    }
    p.keyword("lax");
    p.ws();
    if !p.eat(b'$') {
        return syntax(text);
    }
    let steps = p.steps()?;
    p.ws();
    if p.at != p.s.len() {
        return unsupported(&format!("expression \"{text}\""));
    }
    Ok(steps)
}

struct PathParser<'a> {
    s: &'a [u8],
    text: &'a str,
    at: usize,
    /// Parentheses and filters open, bounded so a hostile path cannot exhaust the stack.
    depth: usize,
}

/// Deeper nesting of a path's predicates is refused (54001).
const MAX_PATH_DEPTH: usize = 100;

impl PathParser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.s.get(self.at) == Some(&b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        self.ws();
        let end = self.at + word.len();
        let follows = self
            .s
            .get(end)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if self.s.get(self.at..end) == Some(word.as_bytes()) && !follows {
            self.at = end;
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80)
        {
            self.at += 1;
        }
        (self.at > start).then(|| self.text[start..self.at].to_string())
    }

    fn string(&mut self) -> Result<String> {
        // A JSON string literal: the same escapes.
        let start = self.at;
        self.at += 1;
        while let Some(&b) = self.s.get(self.at) {
            self.at += 1;
            match b {
                b'\\' => self.at += 1,
                b'"' => {
                    return match Json::parse(&self.text[start..self.at])?.value {
                        Value::String(s) => Ok(s),
                        _ => syntax(self.text),
                    }
                }
                _ => {}
            }
        }
        syntax(self.text)
    }

    fn steps(&mut self) -> Result<Vec<Step>> {
        let mut steps = Vec::new();
        loop {
            self.ws();
            match self.s.get(self.at) {
                Some(b'.') => {
                    self.at += 1;
                    self.ws();
                    match self.s.get(self.at) {
                        Some(b'*') => {
                            self.at += 1;
                            steps.push(Step::AnyMember);
                        }
                        Some(b'"') => steps.push(Step::Member(self.string()?)),
                        _ => {
                            let Some(name) = self.ident() else {
                                return syntax(self.text);
                            };
                            if self.s.get(self.at) == Some(&b'(') {
                                return unsupported(&format!("method .{name}()"));
                            }
                            steps.push(Step::Member(name));
                        }
                    }
                }
                Some(b'[') => {
                    self.at += 1;
                    if self.eat(b'*') {
                        if !self.eat(b']') {
                            return syntax(self.text);
                        }
                        steps.push(Step::AnyElement);
                        continue;
                    }
                    let mut subscripts = Vec::new();
                    loop {
                        let from = self.index()?;
                        let to = if self.keyword("to") {
                            Some(self.index()?)
                        } else {
                            None
                        };
                        subscripts.push((from, to));
                        if self.eat(b',') {
                            continue;
                        }
                        if self.eat(b']') {
                            break;
                        }
                        return syntax(self.text);
                    }
                    steps.push(Step::Elements(subscripts));
                }
                Some(b'?') => {
                    self.at += 1;
                    steps.push(Step::Filter(self.parenthesized()?));
                }
                _ => return Ok(steps),
            }
        }
    }

    fn index(&mut self) -> Result<Index> {
        self.ws();
        if self.keyword("last") {
            self.ws();
            if self.eat(b'-') {
                self.ws();
                return Ok(Index::Last(self.integer()?));
            }
            return Ok(Index::Last(0));
        }
        let negative = self.eat(b'-');
        let n = self.integer()?;
        Ok(Index::At(if negative { -n } else { n }))
    }

    fn integer(&mut self) -> Result<i64> {
        self.ws();
        let start = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        match self.text[start..self.at].parse() {
            Ok(n) => Ok(n),
            Err(_) => unsupported(&format!("expression \"{}\"", self.text)),
        }
    }

    fn or(&mut self) -> Result<Pred> {
        let mut left = self.and()?;
        while self.op("||") {
            left = Pred::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Pred> {
        let mut left = self.unary()?;
        while self.op("&&") {
            left = Pred::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn op(&mut self, op: &str) -> bool {
        self.ws();
        if self.s[self.at..].starts_with(op.as_bytes()) {
            self.at += op.len();
            true
        } else {
            false
        }
    }

    /// `( predicate )`.
    fn parenthesized(&mut self) -> Result<Pred> {
        if !self.eat(b'(') {
            return syntax(self.text);
        }
        self.depth += 1;
        if self.depth > MAX_PATH_DEPTH {
            return fail(
                STATEMENT_TOO_COMPLEX,
                "jsonpath expression is nested too deeply",
            );
        }
        let inner = self.or()?;
        self.depth -= 1;
        if !self.eat(b')') {
            return syntax(self.text);
        }
        Ok(inner)
    }

    fn unary(&mut self) -> Result<Pred> {
        self.ws();
        if self.s.get(self.at) == Some(&b'!') && self.s.get(self.at + 1) != Some(&b'=') {
            self.at += 1;
            return Ok(Pred::Not(Box::new(self.parenthesized()?)));
        }
        if self.keyword("exists") {
            if !self.eat(b'(') {
                return syntax(self.text);
            }
            let operand = self.operand()?;
            if !self.eat(b')') {
                return syntax(self.text);
            }
            return Ok(Pred::Exists(operand));
        }
        if self.s.get(self.at) == Some(&b'(') {
            return self.parenthesized();
        }
        let left = self.operand()?;
        for op in ["==", "!=", "<>", "<=", ">=", "<", ">"] {
            if self.op(op) {
                let right = self.operand()?;
                return Ok(Pred::Compare(left, op, right));
            }
        }
        if self.keyword("like_regex") || self.keyword("starts") || self.keyword("is") {
            return unsupported(&format!("expression \"{}\"", self.text));
        }
        syntax(self.text)
    }

    fn operand(&mut self) -> Result<Operand> {
        self.ws();
        match self.s.get(self.at) {
            Some(b'@') | Some(b'$') => {
                let current = self.s[self.at] == b'@';
                self.at += 1;
                if !current && self.s.get(self.at).is_some_and(|b| b.is_ascii_alphabetic()) {
                    return unsupported("variables");
                }
                Ok(Operand::Path {
                    current,
                    steps: self.steps()?,
                })
            }
            Some(b'"') => Ok(Operand::Literal(Json::from(Value::String(self.string()?)))),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                self.at += 1;
                while self
                    .s
                    .get(self.at)
                    .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+'))
                {
                    self.at += 1;
                }
                match Json::parse_jsonb(&self.text[start..self.at]) {
                    Ok(j) => Ok(Operand::Literal(j)),
                    Err(_) => syntax(self.text),
                }
            }
            _ => {
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.keyword(word) {
                        return Ok(Operand::Literal(Json::from(v)));
                    }
                }
                // A word is a feature of the language not read here; anything else is wrong.
                if self.s.get(self.at).is_some_and(u8::is_ascii_alphabetic) {
                    unsupported(&format!("expression \"{}\"", self.text))
                } else {
                    syntax(self.text)
                }
            }
        }
    }
}

/// The items a path finds from `at` (`root` is `$`), in lax mode.
fn eval<'a>(steps: &[Step], at: &'a Json, root: &'a Json) -> Vec<&'a Json> {
    let mut items = vec![at];
    for step in steps {
        let mut next = Vec::new();
        for item in items {
            apply(step, item, root, &mut next);
        }
        items = next;
    }
    items
}

fn apply<'a>(step: &Step, item: &'a Json, root: &'a Json, out: &mut Vec<&'a Json>) {
    match (step, &item.value) {
        // Lax mode: a member of an array is the member of each element.
        (Step::Member(_) | Step::AnyMember, Value::Array(items)) => {
            for i in items {
                if matches!(i.value, Value::Object(_)) {
                    apply(step, i, root, out);
                }
            }
        }
        (Step::Member(k), Value::Object(members)) => {
            out.extend(members.iter().filter(|(key, _)| key == k).map(|(_, v)| v));
        }
        (Step::AnyMember, Value::Object(members)) => out.extend(members.iter().map(|(_, v)| v)),
        (Step::AnyElement, Value::Array(items)) => out.extend(items.iter()),
        // Lax mode: a scalar or object is an array of itself.
        (Step::AnyElement, _) => out.push(item),
        (Step::Elements(subscripts), value) => {
            let single = std::slice::from_ref(item);
            let items: &[Json] = match value {
                Value::Array(items) => items,
                _ => single,
            };
            let n = items.len() as i64;
            let resolve = |i: Index| match i {
                Index::At(i) => i,
                Index::Last(back) => n - 1 - back,
            };
            for (from, to) in subscripts {
                let (a, b) = (resolve(*from), to.map_or(resolve(*from), resolve));
                for i in a.max(0)..=b.min(n - 1) {
                    out.push(&items[i as usize]);
                }
            }
        }
        (Step::Filter(pred), Value::Array(items)) => {
            for i in items {
                if test(pred, i, root) == Some(true) {
                    out.push(i);
                }
            }
        }
        (Step::Filter(pred), _) if test(pred, item, root) == Some(true) => out.push(item),
        _ => {}
    }
}

/// A predicate's truth: Some(true/false), or None for unknown (comparing unlike types).
fn test(pred: &Pred, current: &Json, root: &Json) -> Option<bool> {
    match pred {
        Pred::And(a, b) => match (test(a, current, root), test(b, current, root)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Pred::Or(a, b) => match (test(a, current, root), test(b, current, root)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Pred::Not(p) => test(p, current, root).map(|b| !b),
        Pred::Exists(o) => Some(!operand(o, current, root).is_empty()),
        Pred::Compare(l, op, r) => {
            let (ls, rs) = (operand(l, current, root), operand(r, current, root));
            // True when some pair compares true; unknown when a pair could not be compared.
            let mut unknown = false;
            for a in ls.iter().flat_map(|j| unwrap(j)) {
                for b in rs.iter().flat_map(|j| unwrap(j)) {
                    match compare(a, b, op) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => unknown = true,
                    }
                }
            }
            if unknown {
                None
            } else {
                Some(false)
            }
        }
    }
}

/// Lax mode compares the elements of an array operand.
fn unwrap(j: &Json) -> Vec<&Json> {
    match &j.value {
        Value::Array(items) => items.iter().collect(),
        _ => vec![j],
    }
}

fn operand(o: &Operand, current: &Json, root: &Json) -> Vec<Json> {
    match o {
        Operand::Literal(j) => vec![j.clone()],
        Operand::Path {
            current: true,
            steps,
        } => eval(steps, current, root).into_iter().cloned().collect(),
        Operand::Path { steps, .. } => eval(steps, root, root).into_iter().cloned().collect(),
    }
}

fn compare(a: &Json, b: &Json, op: &str) -> Option<bool> {
    let ord = match (&a.value, &b.value) {
        (Value::Number(x), Value::Number(y)) => numeric_cmp(x, y),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        // null compares (un)equal with anything; other mixes are unknown.
        (Value::Null, _) | (_, Value::Null) => {
            return match op {
                "==" => Some(false),
                "!=" | "<>" => Some(true),
                _ => Some(false),
            }
        }
        _ => return None,
    };
    Some(match op {
        "==" => ord == Ordering::Equal,
        "!=" | "<>" => ord != Ordering::Equal,
        "<" => ord == Ordering::Less,
        "<=" => ord != Ordering::Greater,
        ">" => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    })
}

fn numeric_cmp(x: &str, y: &str) -> Ordering {
    let parse = |s: &str| numeric_text(s).parse::<f64>().unwrap_or(0.0);
    parse(x).partial_cmp(&parse(y)).unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(doc: &str, path: &str) -> String {
        let j = Json::parse_jsonb(doc).unwrap();
        let steps = parse(path).unwrap();
        let found: Vec<Json> = eval(&steps, &j, &j).into_iter().cloned().collect();
        Json::from(Value::Array(found)).to_jsonb()
    }

    #[test]
    fn paths_find_what_postgres_finds() {
        assert_eq!(run(r#"{"a": [1, 2, 3]}"#, "$.a[*] ? (@ > 1)"), "[2, 3]");
        assert_eq!(run(r#"{"a": [1, 2, 3]}"#, "$.a[last]"), "[3]");
        assert_eq!(run(r#"{"a": [1, 2, 3]}"#, "$.a[0 to 1]"), "[1, 2]");
        assert_eq!(run(r#"{"a": [{"b": 1}, {"b": 2}]}"#, "$.a.b"), "[1, 2]");
        assert_eq!(
            run(
                r#"{"a": [{"b": 1, "c": "x"}, {"b": 2}]}"#,
                r#"$.a[*] ? (@.b >= 1 && @.c == "x").b"#
            ),
            "[1]"
        );
        assert_eq!(run(r#"{"a": 1}"#, "$.missing"), "[]");
        assert_eq!(run(r#"{"a": 1}"#, "lax $.*"), "[1]");
    }

    #[test]
    fn deep_paths_are_refused_not_overflowing() {
        let deep = format!("$ ? ({}@ > 1{})", "(".repeat(100_000), ")".repeat(100_000));
        let e = parse(&deep).expect_err("too deep");
        let f = crate::FunctionError::find(&e).unwrap();
        assert_eq!(f.sqlstate, STATEMENT_TOO_COMPLEX);
        let filters = format!("$ ? ({}@ > 1{})", "!(".repeat(100_000), ")".repeat(100_000));
        assert!(parse(&filters).is_err());
    }

    #[test]
    fn what_is_not_implemented_is_refused() {
        for p in [
            "strict $.a",
            "$.a.size()",
            "$ ? (@ like_regex \"a\")",
            "$var",
        ] {
            let e = parse(p).expect_err(p);
            let f = crate::FunctionError::find(&e).unwrap();
            assert!(
                f.sqlstate == FEATURE_NOT_SUPPORTED || f.sqlstate == SYNTAX_ERROR,
                "{p}: {f}"
            );
        }
    }
}
