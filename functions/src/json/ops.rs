//! Operators and functions that read JSON values: the casts to json and jsonb, `->`, `->>`,
//! `#>`, `#>>`, `@>`, `<@`, `?`, `?|`, `?&`, `||`, `-`, `#-`, and the functions of the same
//! families (`jsonb_extract_path`, `jsonb_typeof`, `jsonb_set`, …).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;
use datafusion::sql::sqlparser::ast::BinaryOperator;

use super::value::{numeric_text, Json, Value};
use super::{json_arg, json_then_any, path_arg, texts, Args, JsonFn, JsonKind, Ret};
use crate::error::{fail, INVALID_PARAMETER_VALUE, NULL_VALUE_NOT_ALLOWED};
use crate::udf::{arg_i64, arg_str, text};

use JsonKind::{Json as J, Jsonb as B};

/// The cast functions the front end writes for `x::json` and `x::jsonb`.
pub use meshgate_sqlfront::rewrite::{CAST_JSON, CAST_JSONB};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    let one_text = |name: &str, t: &[DataType]| texts(name, t, 1);
    let mut v = vec![
        JsonFn::new(CAST_JSON, one_text, Ret::Json(J), |a| {
            json_arg(a, 0, J).map(|(_, t)| text(t))
        })
        .udf(),
        JsonFn::new(CAST_JSONB, one_text, Ret::Json(B), |a| {
            json_arg(a, 0, B).map(|(j, _)| text(j.to_jsonb()))
        })
        .udf(),
        JsonFn::new("jsonb_pretty", one_text, Ret::Text, |a| {
            json_arg(a, 0, B).map(|(j, _)| text(j.to_pretty()))
        })
        .udf(),
        JsonFn::new("jsonb_strip_nulls", one_text, Ret::Json(B), |a| {
            let (mut j, _) = json_arg(a, 0, B)?;
            strip_nulls(&mut j);
            Ok(text(j.to_jsonb()))
        })
        .udf(),
        JsonFn::new("json_strip_nulls", one_text, Ret::Json(J), |a| {
            let (mut j, _) = json_arg(a, 0, J)?;
            strip_nulls(&mut j);
            Ok(text(j.to_compact()))
        })
        .udf(),
        JsonFn::new("jsonb_contains", two_jsonb, Ret::Bool, |a| {
            let (l, _) = json_arg(a, 0, B)?;
            let (r, _) = json_arg(a, 1, B)?;
            Ok(ScalarValue::Boolean(Some(contains(&l, &r, true))))
        })
        .udf(),
        JsonFn::new("jsonb_contained", two_jsonb, Ret::Bool, |a| {
            let (l, _) = json_arg(a, 0, B)?;
            let (r, _) = json_arg(a, 1, B)?;
            Ok(ScalarValue::Boolean(Some(contains(&r, &l, true))))
        })
        .udf(),
        JsonFn::new("jsonb_eq", two_jsonb, Ret::Bool, |a| {
            let (l, _) = json_arg(a, 0, B)?;
            let (r, _) = json_arg(a, 1, B)?;
            Ok(ScalarValue::Boolean(Some(deep_eq(&l, &r))))
        })
        .udf(),
        JsonFn::new("jsonb_ne", two_jsonb, Ret::Bool, |a| {
            let (l, _) = json_arg(a, 0, B)?;
            let (r, _) = json_arg(a, 1, B)?;
            Ok(ScalarValue::Boolean(Some(!deep_eq(&l, &r))))
        })
        .udf(),
        JsonFn::new("jsonb_exists", json_then_any, Ret::Bool, |a| {
            let (j, _) = json_arg(a, 0, B)?;
            let key = arg_str(&a.values[1]).unwrap_or_default();
            Ok(ScalarValue::Boolean(Some(exists(&j, key))))
        })
        .udf(),
        JsonFn::new("jsonb_exists_any", json_then_any, Ret::Bool, |a| {
            let (j, _) = json_arg(a, 0, B)?;
            let keys = path_arg(&a.values[1])?;
            Ok(ScalarValue::Boolean(Some(
                keys.iter().flatten().any(|k| exists(&j, k)),
            )))
        })
        .udf(),
        JsonFn::new("jsonb_exists_all", json_then_any, Ret::Bool, |a| {
            let (j, _) = json_arg(a, 0, B)?;
            let keys = path_arg(&a.values[1])?;
            Ok(ScalarValue::Boolean(Some(
                keys.iter().flatten().all(|k| exists(&j, k)),
            )))
        })
        .udf(),
        JsonFn::new("jsonb_concat", two_jsonb, Ret::Json(B), |a| {
            let (l, _) = json_arg(a, 0, B)?;
            let (r, _) = json_arg(a, 1, B)?;
            let mut j = Json::from(concat(l.value, r.value));
            j.canonicalize();
            Ok(text(j.to_jsonb()))
        })
        .udf(),
        JsonFn::new("jsonb_delete", json_then_any, Ret::Json(B), |a| {
            let (mut j, _) = json_arg(a, 0, B)?;
            delete(&mut j, &a.values[1])?;
            Ok(text(j.to_jsonb()))
        })
        .udf(),
        JsonFn::new("jsonb_delete_path", json_then_any, Ret::Json(B), |a| {
            let (mut j, _) = json_arg(a, 0, B)?;
            let path = path_arg(&a.values[1])?;
            delete_path(&mut j, &path)?;
            Ok(text(j.to_jsonb()))
        })
        .udf(),
        JsonFn::new("jsonb_set", json_then_any, Ret::Json(B), |a| {
            let create = !matches!(a.values.get(3), Some(ScalarValue::Boolean(Some(false))));
            put(a, Put::Set { create })
        })
        .udf(),
        JsonFn::new("jsonb_insert", json_then_any, Ret::Json(B), |a| {
            let after = matches!(a.values.get(3), Some(ScalarValue::Boolean(Some(true))));
            put(a, Put::Insert { after })
        })
        .udf(),
    ];
    for kind in [J, B] {
        v.extend(for_kind(kind));
    }
    v
}

/// The functions that exist for both types, under `json_…` and `jsonb_…`.
fn for_kind(kind: JsonKind) -> Vec<Arc<ScalarUDF>> {
    let one_text = |name: &str, t: &[DataType]| texts(name, t, 1);
    let name = |json: &'static str, jsonb: &'static str| match kind {
        J => json,
        B => jsonb,
    };
    // Each closure below is a plain fn per kind: the kind is chosen by matching.
    macro_rules! per_kind {
        ($body:expr) => {
            match kind {
                J => {
                    const K: JsonKind = J;
                    $body
                }
                B => {
                    const K: JsonKind = B;
                    $body
                }
            }
        };
    }
    vec![
        per_kind!(JsonFn::new(
            name("json_object_field", "jsonb_object_field"),
            json_then_any,
            Ret::Json(K),
            |a| field(a, K, false)
        )),
        per_kind!(JsonFn::new(
            name("json_object_field_text", "jsonb_object_field_text"),
            json_then_any,
            Ret::Text,
            |a| field(a, K, true)
        )),
        per_kind!(JsonFn::new(
            name("json_extract_path", "jsonb_extract_path"),
            json_then_any,
            Ret::Json(K),
            |a| extract(a, K, false, false)
        )),
        per_kind!(JsonFn::new(
            name("json_extract_path_text", "jsonb_extract_path_text"),
            json_then_any,
            Ret::Text,
            |a| extract(a, K, true, false)
        )),
        per_kind!(JsonFn::new(
            name("json_extract_path_op", "jsonb_extract_path_op"),
            json_then_any,
            Ret::Json(K),
            |a| extract(a, K, false, true)
        )),
        per_kind!(JsonFn::new(
            name("json_extract_path_text_op", "jsonb_extract_path_text_op"),
            json_then_any,
            Ret::Text,
            |a| extract(a, K, true, true)
        )),
        per_kind!(JsonFn::new(
            name("json_typeof", "jsonb_typeof"),
            one_text,
            Ret::Text,
            |a| { json_arg(a, 0, K).map(|(j, _)| text(j.type_name())) }
        )),
        per_kind!(JsonFn::new(
            name("json_array_length", "jsonb_array_length"),
            one_text,
            Ret::Int,
            |a| {
                let (j, _) = json_arg(a, 0, K)?;
                match &j.value {
                    Value::Array(items) => Ok(ScalarValue::Int32(Some(items.len() as i32))),
                    Value::Object(_) => fail(
                        INVALID_PARAMETER_VALUE,
                        "cannot get array length of a non-array",
                    ),
                    _ => fail(
                        INVALID_PARAMETER_VALUE,
                        "cannot get array length of a scalar",
                    ),
                }
            }
        )),
    ]
    .into_iter()
    .map(JsonFn::udf)
    .collect()
}

fn two_jsonb(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    texts(name, t, 2)
}

/// Whether `op` stands for a JSON function for some operand types: only those operators have
/// their operands' types looked at (not every AND of a long chain).
pub(crate) fn may_be_json_operator(op: &BinaryOperator) -> bool {
    use BinaryOperator as Op;
    matches!(
        op,
        Op::Arrow
            | Op::LongArrow
            | Op::HashArrow
            | Op::HashLongArrow
            | Op::AtArrow
            | Op::ArrowAt
            | Op::Question
            | Op::QuestionPipe
            | Op::QuestionAnd
            | Op::StringConcat
            | Op::Minus
            | Op::HashMinus
            | Op::AtQuestion
            | Op::Eq
            | Op::NotEq
    )
}

/// The function an operator stands for when an operand is of a JSON type, given the JSON
/// types of the operands (`other_is_text`: the right operand is text, so `||` and `-` read
/// it as a jsonb value or a key).
pub(crate) fn operator_function(
    op: &BinaryOperator,
    left: Option<JsonKind>,
    right: Option<JsonKind>,
) -> Option<&'static str> {
    use BinaryOperator as Op;
    let pick = |json: &'static str, jsonb: &'static str| match left? {
        J => Some(json),
        B => Some(jsonb),
    };
    match op {
        Op::Arrow => pick("json_object_field", "jsonb_object_field"),
        Op::LongArrow => pick("json_object_field_text", "jsonb_object_field_text"),
        Op::HashArrow => pick("json_extract_path_op", "jsonb_extract_path_op"),
        Op::HashLongArrow => pick("json_extract_path_text_op", "jsonb_extract_path_text_op"),
        Op::AtArrow if left.is_some() || right.is_some() => Some("jsonb_contains"),
        Op::ArrowAt if left.is_some() || right.is_some() => Some("jsonb_contained"),
        Op::Question => (left == Some(B)).then_some("jsonb_exists"),
        Op::QuestionPipe => (left == Some(B)).then_some("jsonb_exists_any"),
        Op::QuestionAnd => (left == Some(B)).then_some("jsonb_exists_all"),
        Op::StringConcat if left == Some(B) || right == Some(B) => Some("jsonb_concat"),
        Op::Minus => (left == Some(B)).then_some("jsonb_delete"),
        Op::HashMinus => (left == Some(B)).then_some("jsonb_delete_path"),
        Op::AtQuestion => (left == Some(B)).then_some("jsonb_path_exists"),
        // Numbers by value (`1.0` = `1.00`), which the texts' comparison would miss.
        Op::Eq if jsonb_pair(left, right) => Some("jsonb_eq"),
        Op::NotEq if jsonb_pair(left, right) => Some("jsonb_ne"),
        _ => None,
    }
}

/// A jsonb operand compared with jsonb or with text (an untyped literal, read as jsonb).
fn jsonb_pair(left: Option<JsonKind>, right: Option<JsonKind>) -> bool {
    matches!(
        (left, right),
        (Some(B), Some(B)) | (Some(B), None) | (None, Some(B))
    )
}

/// `->` and `->>`: a key of an object, or an index of an array (from the end when negative).
fn field(a: &Args, kind: JsonKind, as_text: bool) -> Result<ScalarValue> {
    let (j, src) = json_arg(a, 0, kind)?;
    let found = match arg_i64(&a.values[1]) {
        Some(i) => j.element(i),
        None => arg_str(&a.values[1]).and_then(|k| j.member(k)),
    };
    Ok(answer(found, kind, &src, as_text))
}

fn answer(found: Option<&Json>, kind: JsonKind, src: &str, as_text: bool) -> ScalarValue {
    ScalarValue::Utf8(found.and_then(|node| {
        if as_text {
            node.as_text(matches!(kind, J).then_some(src))
        } else {
            Some(kind.text(node, src))
        }
    }))
}

/// `#>`, `#>>` (one text array) and `json_extract_path(j, VARIADIC keys)`: each key a member
/// of an object or an index of an array; NULL when a step is missing or a key is NULL.
fn extract(a: &Args, kind: JsonKind, as_text: bool, array: bool) -> Result<ScalarValue> {
    if a.values[0].is_null() {
        return Ok(ScalarValue::Utf8(None));
    }
    let path: Vec<Option<String>> = if array {
        path_arg(&a.values[1])?
    } else {
        a.values[1..]
            .iter()
            .map(|v| arg_str(v).map(str::to_string))
            .collect()
    };
    let (j, src) = json_arg(a, 0, kind)?;
    let mut at = Some(&j);
    for key in &path {
        at = match (at, key) {
            (Some(node), Some(k)) => node.step(k),
            _ => None,
        };
    }
    Ok(answer(at, kind, &src, as_text))
}

/// jsonb's `@>`: every member of `b` is in `a` with a value that contains `b`'s; every element
/// of an array `b` is contained by some element of `a`; an array contains a scalar at the top.
pub(crate) fn contains(a: &Json, b: &Json, top: bool) -> bool {
    match (&a.value, &b.value) {
        (Value::Object(am), Value::Object(bm)) => bm.iter().all(|(k, bv)| {
            am.iter()
                .find(|(ak, _)| ak == k)
                .is_some_and(|(_, av)| contained_value(av, bv))
        }),
        (Value::Array(ai), Value::Array(bi)) => bi.iter().all(|bv| {
            ai.iter().any(|av| match (&av.value, &bv.value) {
                (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
                    contains(av, bv, false)
                }
                _ => scalar_eq(av, bv),
            })
        }),
        (Value::Array(ai), _) if top && !matches!(b.value, Value::Object(_)) => {
            ai.iter().any(|av| scalar_eq(av, b))
        }
        _ => scalar_eq(a, b),
    }
}

fn contained_value(av: &Json, bv: &Json) -> bool {
    match (&av.value, &bv.value) {
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
            contains(av, bv, false)
        }
        _ => scalar_eq(av, bv),
    }
}

/// jsonb's `=`: the same structure with equal scalars (numbers by value: `1.0` = `1.00`).
fn deep_eq(a: &Json, b: &Json) -> bool {
    match (&a.value, &b.value) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| deep_eq(a, b))
        }
        // Canonical objects: keys unique and in one order.
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && deep_eq(va, vb))
        }
        _ => scalar_eq(a, b),
    }
}

/// Scalars compare by type and value; numbers by their numeric value (`1.0` = `1`).
fn scalar_eq(a: &Json, b: &Json) -> bool {
    match (&a.value, &b.value) {
        (Value::Number(x), Value::Number(y)) => numeric_key(x) == numeric_key(y),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        (x, y) => x == y,
    }
}

/// A number's value as text without trailing fractional zeros, for equality.
fn numeric_key(n: &str) -> String {
    let t = numeric_text(n);
    if t.contains('.') {
        let t = t.trim_end_matches('0').trim_end_matches('.');
        if t == "-0" {
            "0".into()
        } else {
            t.to_string()
        }
    } else {
        t
    }
}

/// `?`: a key of an object, a string element of an array, or the string itself.
fn exists(j: &Json, key: &str) -> bool {
    match &j.value {
        Value::Object(members) => members.iter().any(|(k, _)| k == key),
        Value::Array(items) => items
            .iter()
            .any(|i| matches!(&i.value, Value::String(s) if s == key)),
        Value::String(s) => s == key,
        _ => false,
    }
}

/// jsonb `||`: objects merge (the right one's keys win), arrays concatenate, anything else is
/// wrapped in an array first.
fn concat(l: Value, r: Value) -> Value {
    match (l, r) {
        (Value::Object(mut a), Value::Object(b)) => {
            a.extend(b);
            Value::Object(a)
        }
        (Value::Array(mut a), Value::Array(b)) => {
            a.extend(b);
            Value::Array(a)
        }
        (Value::Array(mut a), other) => {
            a.push(Json::from(other));
            Value::Array(a)
        }
        (other, Value::Array(b)) => {
            let mut a = vec![Json::from(other)];
            a.extend(b);
            Value::Array(a)
        }
        (a, b) => Value::Array(vec![Json::from(a), Json::from(b)]),
    }
}

/// jsonb `-`: a key (or the string elements equal to it), an array index, or several keys.
fn delete(j: &mut Json, what: &ScalarValue) -> Result<()> {
    if matches!(
        j.value,
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)
    ) {
        return fail(INVALID_PARAMETER_VALUE, "cannot delete from scalar");
    }
    if let Some(i) = arg_i64(what) {
        return match &mut j.value {
            Value::Array(items) => {
                let n = items.len() as i64;
                let at = if i < 0 { n + i } else { i };
                if (0..n).contains(&at) {
                    items.remove(at as usize);
                }
                Ok(())
            }
            _ => fail(
                INVALID_PARAMETER_VALUE,
                "cannot delete from object using integer index",
            ),
        };
    }
    let keys: Vec<String> = match what {
        ScalarValue::List(_) => path_arg(what)?.into_iter().flatten().collect(),
        other => arg_str(other).map(str::to_string).into_iter().collect(),
    };
    match &mut j.value {
        Value::Object(members) => members.retain(|(k, _)| !keys.contains(k)),
        Value::Array(items) => {
            items.retain(|i| !matches!(&i.value, Value::String(s) if keys.contains(s)))
        }
        _ => {}
    }
    Ok(())
}

fn path_null<T>(position: usize) -> Result<T> {
    fail(
        NULL_VALUE_NOT_ALLOWED,
        format!("path element at position {position} is null"),
    )
}

/// Where a path step lands in an array: `Ok(index)`, or `Err(true)` before the first element /
/// `Err(false)` after the last when out of range.
fn array_slot(len: usize, key: &str) -> Option<std::result::Result<usize, bool>> {
    let i: i64 = key.trim().parse().ok()?;
    let n = len as i64;
    let at = if i < 0 { n + i } else { i };
    Some(if at < 0 {
        Err(true)
    } else if at >= n {
        Err(false)
    } else {
        Ok(at as usize)
    })
}

/// `#-`: removes the value at the path, if there is one.
fn delete_path(j: &mut Json, path: &[Option<String>]) -> Result<()> {
    if matches!(
        j.value,
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)
    ) {
        return fail(INVALID_PARAMETER_VALUE, "cannot delete path in scalar");
    }
    let Some((last, init)) = path.split_last() else {
        return Ok(());
    };
    let mut at = j;
    for (pos, key) in init.iter().enumerate() {
        let Some(key) = key else {
            return path_null(pos + 1);
        };
        let next = match &mut at.value {
            Value::Object(members) => members.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            Value::Array(items) => match array_slot(items.len(), key) {
                Some(Ok(i)) => items.get_mut(i),
                _ => None,
            },
            _ => None,
        };
        match next {
            Some(n) => at = n,
            None => return Ok(()),
        }
    }
    let Some(last) = last else {
        return path_null(path.len());
    };
    match &mut at.value {
        Value::Object(members) => members.retain(|(k, _)| k != last),
        Value::Array(items) => {
            if let Some(Ok(i)) = array_slot(items.len(), last) {
                items.remove(i);
            }
        }
        _ => {}
    }
    Ok(())
}

/// What `jsonb_set` and `jsonb_insert` do at the end of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Put {
    /// `jsonb_set`: replace; add a missing last step when `create`.
    Set { create: bool },
    /// `jsonb_insert`: insert into an array before (or `after`) the index; add a new key to an
    /// object (an existing one is an error).
    Insert { after: bool },
}

/// `jsonb_set(target, path, new)` / `jsonb_insert(…)`.
fn put(a: &Args, put: Put) -> Result<ScalarValue> {
    let (mut j, _) = json_arg(a, 0, B)?;
    let path = path_arg(&a.values[1])?;
    let (new, _) = json_arg(a, 2, B)?;
    set_path(&mut j, &path, new, put)?;
    Ok(text(j.to_jsonb()))
}

/// `jsonb_set` / `jsonb_insert` at a path. A missing last step is added (at an array's start or
/// end when the index is out of range); a missing earlier step leaves the value as it is.
fn set_path(j: &mut Json, path: &[Option<String>], new: Json, put: Put) -> Result<()> {
    if matches!(
        j.value,
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)
    ) {
        return fail(INVALID_PARAMETER_VALUE, "cannot set path in scalar");
    }
    if let Some(pos) = path.iter().position(Option::is_none) {
        return path_null(pos + 1);
    }
    let keys: Vec<&str> = path.iter().flatten().map(String::as_str).collect();
    set_at(j, &keys, 1, new, put)?;
    j.canonicalize();
    Ok(())
}

fn set_at(j: &mut Json, keys: &[&str], pos: usize, new: Json, put: Put) -> Result<()> {
    let Some((key, rest)) = keys.split_first() else {
        *j = new;
        return Ok(());
    };
    let last = rest.is_empty();
    let adds = last && put != Put::Set { create: false };
    match &mut j.value {
        Value::Object(members) => match members.iter_mut().find(|(k, _)| k == key) {
            Some(_) if last && matches!(put, Put::Insert { .. }) => {
                fail(INVALID_PARAMETER_VALUE, "cannot replace existing key")
            }
            Some((_, v)) => set_at(v, rest, pos + 1, new, put),
            None => {
                if adds {
                    members.push((key.to_string(), new));
                }
                Ok(())
            }
        },
        Value::Array(items) => match array_slot(items.len(), key) {
            None => fail(
                crate::error::INVALID_TEXT_REPRESENTATION,
                format!("path element at position {pos} is not an integer: \"{key}\""),
            ),
            Some(Ok(i)) => match put {
                Put::Insert { after } if last => {
                    items.insert(if after { i + 1 } else { i }, new);
                    Ok(())
                }
                _ => set_at(&mut items[i], rest, pos + 1, new, put),
            },
            Some(Err(before)) => {
                if adds {
                    if before {
                        items.insert(0, new);
                    } else {
                        items.push(new);
                    }
                }
                Ok(())
            }
        },
        _ => Ok(()),
    }
}

/// `jsonb_strip_nulls`: object members whose value is null go, at every depth.
fn strip_nulls(j: &mut Json) {
    match &mut j.value {
        Value::Object(members) => {
            members.retain(|(_, v)| v.value != Value::Null);
            members.iter_mut().for_each(|(_, v)| strip_nulls(v));
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Json {
        Json::parse_jsonb(s).unwrap()
    }

    #[test]
    fn containment_follows_postgres() {
        assert!(contains(&b(r#"{"a": 1, "b": 2}"#), &b(r#"{"a": 1}"#), true));
        assert!(!contains(
            &b(r#"{"a": 1}"#),
            &b(r#"{"a": 1, "b": 2}"#),
            true
        ));
        assert!(contains(&b("[1, 2, [3]]"), &b("[[3], 1]"), true));
        assert!(contains(&b(r#"["foo", "bar"]"#), &b(r#""foo""#), true));
        assert!(contains(&b(r#"{"a": 1.0}"#), &b(r#"{"a": 1}"#), true));
        assert!(!contains(&b(r#"{"a": [1, 2]}"#), &b(r#"{"a": 1}"#), true));
    }

    #[test]
    fn jsonb_equality_compares_numbers_by_value() {
        assert!(deep_eq(
            &b(r#"{"a": [1.0, "x"]}"#),
            &b(r#"{"a": [1.00, "x"]}"#)
        ));
        assert!(!deep_eq(&b(r#"{"a": 1}"#), &b(r#"{"a": 1, "b": 2}"#)));
        assert!(!deep_eq(&b("[1, 2]"), &b("[2, 1]")));
        assert!(!deep_eq(&b(r#""1""#), &b("1")));
    }

    #[test]
    fn concat_and_delete_follow_postgres() {
        let cat = |l: &str, r: &str| {
            let mut j = Json::from(concat(b(l).value, b(r).value));
            j.canonicalize();
            j.to_jsonb()
        };
        assert_eq!(
            cat(r#"{"a": 1, "b": 1}"#, r#"{"b": 2}"#),
            r#"{"a": 1, "b": 2}"#
        );
        assert_eq!(cat("[1]", "[2, 3]"), "[1, 2, 3]");
        assert_eq!(cat(r#"{"a": 1}"#, "2"), r#"[{"a": 1}, 2]"#);
        let mut j = b(r#"["a", "b", "a"]"#);
        delete(&mut j, &text("a")).unwrap();
        assert_eq!(j.to_jsonb(), r#"["b"]"#);
        let mut j = b("[1, 2, 3]");
        delete(&mut j, &ScalarValue::Int32(Some(-1))).unwrap();
        assert_eq!(j.to_jsonb(), "[1, 2]");
        assert!(delete(&mut b("1"), &text("a")).is_err());
    }

    #[test]
    fn set_replaces_or_adds_at_the_path() {
        let set = |j: &str, path: &[&str], new: &str, create: bool| {
            let mut j = b(j);
            let path: Vec<Option<String>> = path.iter().map(|s| Some(s.to_string())).collect();
            set_path(&mut j, &path, b(new), Put::Set { create }).unwrap();
            j.to_jsonb()
        };
        assert_eq!(set(r#"{"a": 1}"#, &["a"], "2", true), r#"{"a": 2}"#);
        assert_eq!(
            set(r#"{"a": 1}"#, &["b"], "[2]", true),
            r#"{"a": 1, "b": [2]}"#
        );
        assert_eq!(set(r#"{"a": 1}"#, &["b"], "2", false), r#"{"a": 1}"#);
        assert_eq!(set("[1, 2]", &["-1"], "9", true), "[1, 9]");
        assert_eq!(set("[1, 2]", &["5"], "9", true), "[1, 2, 9]");
        assert_eq!(set("[1, 2]", &["-5"], "9", true), "[9, 1, 2]");
        let insert = |j: &str, path: &[&str], new: &str, after: bool| {
            let mut j = b(j);
            let path: Vec<Option<String>> = path.iter().map(|s| Some(s.to_string())).collect();
            set_path(&mut j, &path, b(new), Put::Insert { after }).map(|_| j.to_jsonb())
        };
        assert_eq!(
            insert(r#"{"a": [1, 2]}"#, &["a", "0"], "0", false).unwrap(),
            r#"{"a": [0, 1, 2]}"#
        );
        assert_eq!(
            insert(r#"{"a": [1, 2]}"#, &["a", "0"], "0", true).unwrap(),
            r#"{"a": [1, 0, 2]}"#
        );
        assert!(insert(r#"{"a": 1}"#, &["a"], "0", false).is_err());
    }
}
