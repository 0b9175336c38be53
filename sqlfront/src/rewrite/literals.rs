//! Numeric literals typed as PostgreSQL types them: an integer that fits in 32 bits is `integer`
//! (DataFusion says bigint), a number with a point or an exponent is `numeric` (DataFusion says
//! double precision unless `parse_float_as_decimal` is on, which the session turns on, and it
//! cannot read exponents as decimals at all).
//!
//! Drivers act on the type: node-postgres returns a bigint as a string, so `SELECT 1` came back as
//! `'1'`; `0.1 + 0.2` went through floating point. Some places need the bare literal because
//! DataFusion reads it as a position or a constant, not as an expression: ORDER BY / GROUP BY
//! positions, LIMIT / OFFSET / FETCH counts, window frame offsets, the arguments of table
//! functions (`generate_series(1, 10)` in FROM) and intervals. Those are marked first (with the
//! `long` flag of sqlparser's number, which PostgreSQL's dialect never sets) and skipped.

use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, DataType, ExactNumberInfo, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, LimitClause, NamedWindowExpr, OrderByKind, Query, SetExpr, Statement, Subscript,
    TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut, WindowFrameBound, WindowSpec,
    WindowType,
};

use crate::build;

/// Types every numeric literal of the statement the PostgreSQL way.
pub fn type_literals(stmt: &mut Statement) {
    let _ = stmt.visit(&mut Typer);
}

struct Typer;

impl VisitorMut for Typer {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        if let Some(order_by) = &mut q.order_by {
            if let OrderByKind::Expressions(exprs) = &mut order_by.kind {
                for e in exprs {
                    keep_position(&mut e.expr);
                }
            }
        }
        match &mut q.limit_clause {
            Some(LimitClause::LimitOffset { limit, offset, .. }) => {
                if let Some(l) = limit {
                    keep_all(l);
                }
                if let Some(o) = offset {
                    keep_all(&mut o.value);
                }
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                keep_all(offset);
                keep_all(limit);
            }
            None => {}
        }
        if let Some(fetch) = &mut q.fetch {
            if let Some(n) = &mut fetch.quantity {
                keep_all(n);
            }
        }
        keep_select_positions(q.body.as_mut());
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
        let args = match t {
            TableFactor::Table {
                args: Some(args), ..
            } => &mut args.args,
            TableFactor::Function { args, .. } => args,
            _ => return ControlFlow::Continue(()),
        };
        for arg in args {
            keep_arg(arg);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        match e {
            Expr::Function(f) => {
                if let Some(WindowType::WindowSpec(spec)) = &mut f.over {
                    keep_frame(spec);
                }
                // `count(1)` is `count(*)` to DataFusion only with its own literal.
                if f.name.to_string().eq_ignore_ascii_case("count") {
                    if let FunctionArguments::List(list) = &mut f.args {
                        for arg in &mut list.args {
                            if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                                keep_literal(e);
                            }
                        }
                    }
                }
            }
            Expr::Interval(i) => keep_all(&mut i.value),
            // Row values compare field by field only when the fields' types agree; DataFusion
            // types a row's literals alike on both sides when they stay bare.
            Expr::Tuple(fields) => fields.iter_mut().for_each(keep_literal),
            // Array subscripts.
            Expr::CompoundFieldAccess { access_chain, .. } => {
                for access in access_chain {
                    match access {
                        AccessExpr::Subscript(Subscript::Index { index }) => keep_literal(index),
                        AccessExpr::Subscript(Subscript::Slice {
                            lower_bound,
                            upper_bound,
                            stride,
                        }) => {
                            for bound in [lower_bound, upper_bound, stride].into_iter().flatten() {
                                keep_literal(bound);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let Expr::Value(ValueWithSpan {
            value: Value::Number(text, kept),
            ..
        }) = e
        else {
            return ControlFlow::Continue(());
        };
        if *kept {
            *kept = false;
            return ControlFlow::Continue(());
        }
        if let Some(typed) = typed(text) {
            *e = typed;
        }
        ControlFlow::Continue(())
    }
}

/// The literal as PostgreSQL types it, when that differs from what DataFusion would make of
/// the text; None to leave it.
fn typed(text: &str) -> Option<Expr> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<i64>() {
            Ok(n) if n <= i32::MAX as i64 => {
                Some(build::cast(build::number(n), DataType::Int(None)))
            }
            // bigint as DataFusion says; a larger integer is numeric in PostgreSQL.
            Ok(_) => None,
            Err(_) => Some(decimal(text.to_string(), 0)),
        };
    }
    if text.contains(['e', 'E']) {
        let (digits, scale) = without_exponent(text)?;
        return Some(decimal(digits, scale));
    }
    None
}

/// A numeric literal of this many digits and scale: the text keeps every digit, the cast keeps
/// the type numeric when the text has no point.
fn decimal(digits: String, scale: usize) -> Expr {
    let precision = digits.bytes().filter(u8::is_ascii_digit).count().max(1) as u64;
    if precision > 38 {
        // Beyond Arrow's decimals: double precision, as DataFusion would read it.
        return build::cast(build::string(&digits), DataType::DoublePrecision);
    }
    build::cast(
        Expr::value(Value::Number(digits, false)),
        DataType::Decimal(ExactNumberInfo::PrecisionAndScale(
            precision.max(scale as u64),
            scale as i64,
        )),
    )
}

/// `1.5e3` → (`1500`, 0), `25e-4` → (`0.0025`, 4): the number written out with its scale as
/// PostgreSQL gives it (the digits after the point once the exponent is applied). None for an
/// exponent too large to write out, which planning then rejects as DataFusion would.
fn without_exponent(text: &str) -> Option<(String, usize)> {
    let (mantissa, exponent) = text.split_once(['e', 'E'])?;
    let exponent: i64 = exponent.parse().ok()?;
    if exponent.abs() > 1000 {
        return None;
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !(int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    // Position of the point counted from the start of `digits`.
    let point = int.len() as i64 + exponent;
    let (mut whole, fraction) = if point <= 0 {
        (
            "0".to_string(),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        let (w, f) = digits.split_at(point as usize);
        (w.to_string(), f.to_string())
    };
    let trimmed = whole.trim_start_matches('0');
    whole = if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    };
    if fraction.is_empty() {
        Some((whole, 0))
    } else {
        let scale = fraction.len();
        Some((format!("{whole}.{fraction}"), scale))
    }
}

/// GROUP BY positions and named windows' frames of every SELECT directly in this query body.
fn keep_select_positions(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
                for e in exprs {
                    keep_position(e);
                    if let Expr::Rollup(sets) | Expr::Cube(sets) | Expr::GroupingSets(sets) = e {
                        for e in sets.iter_mut().flatten() {
                            keep_position(e);
                        }
                    }
                }
            }
            for w in &mut select.named_window {
                if let NamedWindowExpr::WindowSpec(spec) = &mut w.1 {
                    keep_frame(spec);
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            keep_select_positions(left);
            keep_select_positions(right);
        }
        SetExpr::Query(q) => keep_select_positions(q.body.as_mut()),
        _ => {}
    }
}

fn keep_frame(spec: &mut WindowSpec) {
    if let Some(frame) = &mut spec.window_frame {
        for bound in std::iter::once(&mut frame.start_bound).chain(frame.end_bound.as_mut()) {
            if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) =
                bound
            {
                keep_all(e);
            }
        }
    }
}

fn keep_arg(arg: &mut FunctionArg) {
    let (FunctionArg::Named { arg, .. }
    | FunctionArg::ExprNamed { arg, .. }
    | FunctionArg::Unnamed(arg)) = arg;
    if let FunctionArgExpr::Expr(e) = arg {
        keep_all(e);
    }
}

/// A bare number is a position; anything else is an expression and typed as usual.
fn keep_position(e: &mut Expr) {
    if let Expr::Value(ValueWithSpan {
        value: Value::Number(_, kept),
        ..
    }) = e
    {
        *kept = true;
    }
}

/// A number, or a signed one, stays as DataFusion reads it.
fn keep_literal(e: &mut Expr) {
    match e {
        Expr::UnaryOp { expr, .. } => keep_position(expr),
        other => keep_position(other),
    }
}

/// Every number inside the expression stays as DataFusion reads it.
fn keep_all(e: &mut Expr) {
    struct Keep;
    impl VisitorMut for Keep {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            keep_position(e);
            ControlFlow::Continue(())
        }
    }
    let _ = e.visit(&mut Keep);
}

/// Whether any number was left marked (a test aid: every mark must be consumed).
#[cfg(test)]
fn has_marks(stmt: &Statement) -> bool {
    use sqlparser::ast::{Visit, Visitor};
    struct Find(bool);
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Value(ValueWithSpan {
                value: Value::Number(_, true),
                ..
            }) = e
            {
                self.0 = true;
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Find(false);
    let _ = stmt.visit(&mut f);
    f.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed_sql(sql: &str) -> String {
        let mut stmt = super::super::parsed(sql);
        type_literals(&mut stmt);
        assert!(!has_marks(&stmt), "a kept number stayed marked: {stmt}");
        stmt.to_string()
    }

    #[test]
    fn small_integers_are_int4_and_large_ones_stay() {
        assert_eq!(typed_sql("SELECT 1"), "SELECT CAST(1 AS INT)");
        assert_eq!(
            typed_sql("SELECT 2147483648, -5"),
            "SELECT 2147483648, -CAST(5 AS INT)"
        );
        assert_eq!(
            typed_sql("SELECT 99999999999999999999"),
            "SELECT CAST(99999999999999999999 AS DECIMAL(20,0))"
        );
    }

    #[test]
    fn exponents_are_written_out_as_numeric() {
        assert_eq!(typed_sql("SELECT 1e3"), "SELECT CAST(1000 AS DECIMAL(4,0))");
        assert_eq!(
            typed_sql("SELECT 25E-4"),
            "SELECT CAST(0.0025 AS DECIMAL(5,4))"
        );
        assert_eq!(typed_sql("SELECT 1.5e1"), "SELECT CAST(15 AS DECIMAL(2,0))");
        assert_eq!(typed_sql("SELECT 1.5"), "SELECT 1.5");
    }

    #[test]
    fn positions_counts_and_frames_stay_bare() {
        assert_eq!(
            typed_sql("SELECT a, 2 FROM t GROUP BY 1, 2 ORDER BY 2 DESC LIMIT 10 OFFSET 5"),
            "SELECT a, CAST(2 AS INT) FROM t GROUP BY 1, 2 ORDER BY 2 DESC LIMIT 10 OFFSET 5"
        );
        assert_eq!(
            typed_sql(
                "SELECT sum(a) OVER (ORDER BY b ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING) FROM t"
            ),
            "SELECT sum(a) OVER (ORDER BY b ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING) FROM t"
        );
        assert_eq!(
            typed_sql("SELECT sum(a) OVER w FROM t WINDOW w AS (ORDER BY b ROWS 3 PRECEDING)"),
            "SELECT sum(a) OVER w FROM t WINDOW w AS (ORDER BY b ROWS 3 PRECEDING)"
        );
        assert_eq!(
            typed_sql("SELECT * FROM generate_series(1, 10) AS g(v) WHERE v > 3"),
            "SELECT * FROM generate_series(1, 10) AS g (v) WHERE v > CAST(3 AS INT)"
        );
        assert_eq!(
            typed_sql("SELECT a FROM t ORDER BY a + 1 FETCH FIRST 3 ROWS ONLY"),
            "SELECT a FROM t ORDER BY a + CAST(1 AS INT) FETCH FIRST 3 ROWS ONLY"
        );
    }

    #[test]
    fn subqueries_are_typed_too() {
        assert_eq!(
            typed_sql("SELECT x FROM (SELECT 7 AS x ORDER BY 1) s WHERE x IN (SELECT 7)"),
            "SELECT x FROM (SELECT CAST(7 AS INT) AS x ORDER BY 1) s WHERE x IN (SELECT CAST(7 AS INT))"
        );
    }
}

/// The SQL integer types, by any of their spellings.
fn is_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::SmallInt(_)
            | DataType::Int(_)
            | DataType::Integer(_)
            | DataType::BigInt(_)
            | DataType::Int2(_)
            | DataType::Int4(_)
            | DataType::Int8(_)
    )
}

/// Literal forms the engine does not plan: `U&'d\0061t'` (the parser has decoded it: a plain
/// string), bit strings cast to an integer (`B'101'::int` is 5, `x'1F'::int` 31), and an
/// array's text cast to an array (`'{1,2,3}'::int[]`).
pub(super) fn postgres_literal_forms(e: &mut Expr) {
    if let Expr::Value(v) = e {
        if let Value::UnicodeStringLiteral(s) = &v.value {
            v.value = Value::SingleQuotedString(s.clone());
        }
        return;
    }
    let Expr::Cast {
        expr, data_type, ..
    } = e
    else {
        return;
    };
    let Expr::Value(v) = expr.as_ref() else {
        return;
    };
    let integer = is_integer(data_type);
    let bits = match &v.value {
        Value::HexStringLiteral(h) if integer => i64::from_str_radix(h, 16).ok(),
        Value::SingleQuotedByteStringLiteral(b) if integer => i64::from_str_radix(b, 2).ok(),
        _ => None,
    };
    if let Some(n) = bits {
        **expr = Expr::value(Value::Number(n.to_string(), false));
        return;
    }
    if let (DataType::Array(_), Value::SingleQuotedString(text)) = (&*data_type, &v.value) {
        if let Some(items) = super::quantified::parse_array_text(text) {
            **expr = Expr::Array(sqlparser::ast::Array {
                elem: items
                    .into_iter()
                    .map(|i| match i {
                        Some(s) => Expr::value(Value::SingleQuotedString(s)),
                        None => Expr::value(Value::Null),
                    })
                    .collect(),
                named: true,
            });
        }
    }
}

/// Quoted literals read as a type, in the forms PostgreSQL's input functions accept and the
/// engine's casts do not: a timestamp without seconds (`TIMESTAMP '2024-01-01 10:00'` gets
/// `:00`), numbers with blanks around them (`' 123 '::int`), and numerics with an exponent
/// (`'1e3'::numeric` is 1000), `'epoch'`. Applies to typed literals and to casts of a quoted
/// string.
pub(super) fn quoted_as_type(e: &mut Expr) {
    let (data_type, value) = match e {
        Expr::TypedString(sqlparser::ast::TypedString {
            data_type, value, ..
        }) => (data_type, value),
        Expr::Cast {
            data_type, expr, ..
        } => match expr.as_mut() {
            Expr::Value(v) => (data_type, v),
            _ => return,
        },
        _ => return,
    };
    let Value::SingleQuotedString(s) = &mut value.value else {
        return;
    };
    // `'12.5'::numeric` is the number 12.5 with its own scale (a cast to the engine's bare
    // decimal would print ten places); an integer keeps scale 0.
    if let DataType::Numeric(ExactNumberInfo::None) | DataType::Decimal(ExactNumberInfo::None) =
        data_type
    {
        if let Some(number) = numeric_literal(s.trim()) {
            *e = number;
            return;
        }
    }
    // PostgreSQL's special input `epoch` (the others, `now`, `today`, `infinity`…, are read
    // when the statement runs or have no value in the engine's types).
    let epoch = s.trim().eq_ignore_ascii_case("epoch");
    let respelled = match data_type {
        DataType::Timestamp(..) | DataType::TimestampNtz(_) | DataType::Datetime(_) if epoch => {
            Some("1970-01-01 00:00:00".to_string())
        }
        DataType::Date if epoch => Some("1970-01-01".to_string()),
        DataType::Timestamp(..) | DataType::TimestampNtz(_) | DataType::Datetime(_) => {
            with_seconds(s)
        }
        t if is_integer(t) => Some(s.trim().to_string()),
        DataType::Numeric(_)
        | DataType::Decimal(_)
        | DataType::Dec(_)
        | DataType::Real
        | DataType::Float4
        | DataType::Float8
        | DataType::Double(_)
        | DataType::DoublePrecision => Some(s.trim().to_string()),
        _ => None,
    };
    if let Some(r) = respelled {
        *s = r;
    }
}

/// `-12.5` or `1.5e3` as a numeric literal of its own scale (`1500`, scale 0); None when the
/// text is not a plain number.
fn numeric_literal(t: &str) -> Option<Expr> {
    let (negative, unsigned) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (digits, scale) = match without_exponent(unsigned) {
        Some(found) => found,
        None => {
            let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
            if whole.is_empty()
                || !whole
                    .bytes()
                    .chain(fraction.bytes())
                    .all(|c| c.is_ascii_digit())
            {
                return None;
            }
            (unsigned.to_string(), fraction.len())
        }
    };
    let number = decimal(digits, scale);
    Some(if negative {
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Minus,
            expr: Box::new(number),
        }
    } else {
        number
    })
}

/// The text with `:00` after a time of day written as hours and minutes only; None when it
/// has seconds or no time.
fn with_seconds(s: &str) -> Option<String> {
    let b = s.as_bytes();
    // date, one separator, h or hh, ':', mm, then the end or a zone.
    let sep = s.find([' ', 'T'])?;
    let time = &s[sep + 1..];
    let colon = time.find(':')?;
    let (h, rest) = time.split_at(colon);
    let minutes = rest.get(1..3)?;
    let ok = (1..=2).contains(&h.len())
        && h.bytes().all(|c| c.is_ascii_digit())
        && minutes.bytes().all(|c| c.is_ascii_digit())
        && !matches!(rest.as_bytes().get(3), Some(b':' | b'0'..=b'9'))
        && b[..sep].iter().all(|c| c.is_ascii_digit() || *c == b'-');
    if !ok {
        return None;
    }
    let at = sep + 1 + colon + 3;
    Some(format!("{}:00{}", &s[..at], &s[at..]))
}

#[cfg(test)]
mod quoted_tests {
    use super::with_seconds;

    #[test]
    fn times_without_seconds_get_them() {
        assert_eq!(
            with_seconds("2024-01-01 10:00").as_deref(),
            Some("2024-01-01 10:00:00")
        );
        assert_eq!(
            with_seconds("2024-01-01 9:05+02").as_deref(),
            Some("2024-01-01 9:05:00+02")
        );
        assert_eq!(with_seconds("2024-01-01 10:00:30"), None);
        assert_eq!(with_seconds("2024-01-01"), None);
        assert_eq!(with_seconds("epoch"), None);
    }
}
