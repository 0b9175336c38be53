//! PostgreSQL's results where the operand types decide them, applied to the analysed plan (types
//! are known only then) as one of DataFusion's analyzer rules, after its own type coercion:
//!
//! - numeric and floating point to an integer round (`'3.7'::numeric::int` is 4; Arrow cuts
//!   to 3): numeric halves away from zero, floating point halves to even, as PostgreSQL;
//! - timestamps, times, intervals and floating point to text print as PostgreSQL prints them
//!   (`text.rs`): `'2024-01-01'::timestamp::text` has no `T`, `1e20::float8::text` is
//!   `1e+20`. dbt's surrogate keys hash such text, so it must match byte for byte;
//! - integer `+`, `-`, `*` that overflow are 22003 (Arrow wraps: `2147483647 + 1` was
//!   -2147483648), floating-point division by zero is 22012 (Arrow gives Infinity).
//!
//! Every rewrite keeps the expression's type: a statement is described (RowDescription, column
//! types) from its plan before this rule runs.
//!
//! Implicit casts (a timestamp concatenated to text) are casts here too, and change the same way.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    BinaryExpr, Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::error::{SqlState, UserError};

/// The analyzer rule; add it after DataFusion's own (`SessionStateBuilder::with_analyzer_rule`).
pub fn rule() -> Arc<dyn AnalyzerRule + Send + Sync> {
    Arc::new(PostgresCasts)
}

#[derive(Debug)]
struct PostgresCasts;

/// Puts [`QuotedBooleans`] right before DataFusion's type coercion, which cannot compare a
/// boolean with a string and would refuse the statement.
pub fn install_before_coercion(
    mut builder: datafusion::execution::session_state::SessionStateBuilder,
) -> datafusion::execution::session_state::SessionStateBuilder {
    let analyzer = builder.analyzer().get_or_insert_with(Default::default);
    let at = analyzer
        .rules
        .iter()
        .position(|r| r.name() == "type_coercion")
        .unwrap_or(0);
    analyzer.rules.insert(at, Arc::new(QuotedBooleans));
    builder
}

/// A quoted literal compared with a boolean is a boolean, as PostgreSQL reads an untyped
/// literal as the other operand's type (psqlODBC's primary-key query: `i.indisprimary = 't'`).
/// Runs before type coercion; anything else is left to it.
#[derive(Debug)]
struct QuotedBooleans;

impl AnalyzerRule for QuotedBooleans {
    fn name(&self) -> &str {
        "postgres_quoted_booleans"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|p| rewrite_node(p, quoted_boolean))
            .map(|t| t.data)
    }
}

fn quoted_boolean(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    if !compares(*op) {
        return Ok(Transformed::no(e));
    }
    let text = |side: &Expr| match side {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s.clone()),
        _ => None,
    };
    let boolean = |side: &Expr| matches!(side.get_type(schema), Ok(DataType::Boolean));
    let (l, r) = match (text(left), text(right)) {
        (None, Some(s)) if boolean(left) => (left.as_ref().clone(), parse_bool(&s)?),
        (Some(s), None) if boolean(right) => (parse_bool(&s)?, right.as_ref().clone()),
        _ => return Ok(Transformed::no(e)),
    };
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(l),
        *op,
        Box::new(r),
    ))))
}

/// PostgreSQL's boolean input: a prefix of true/false/yes/no, on/off, 1/0, in any case,
/// surrounding blanks ignored.
fn parse_bool(s: &str) -> Result<Expr> {
    let v = s.trim().to_ascii_lowercase();
    let prefix = |word: &str| !v.is_empty() && word.starts_with(v.as_str());
    let b = if prefix("true") || prefix("yes") || v == "on" || v == "1" {
        true
    } else if prefix("false") || prefix("no") || v == "off" || v == "of" || v == "0" {
        false
    } else {
        return Err(UserError::new(
            SqlState::InvalidTextRepresentation,
            format!("invalid input syntax for type boolean: \"{s}\""),
        )
        .into_datafusion());
    };
    Ok(Expr::Literal(ScalarValue::Boolean(Some(b)), None))
}

impl AnalyzerRule for PostgresCasts {
    fn name(&self) -> &str {
        "postgres_semantics"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|p| rewrite_node(p, rewrite_expr))
            .map(|t| t.data)
    }
}

/// PostgreSQL has no operators between real and an integer or a numeric: `real / 8` and
/// `real = 0.1` resolve to its real-and-double ones (double precision is the preferred numeric
/// type), so they compute, compare and answer in double precision (`1::real / 3` is
/// 0.3333333333333333, `0.1::real = 0.1` is false). DataFusion stays in real. Unlike the
/// analyzer rule this changes result types, so it runs on the plan as the statement planned
/// it, before the statement is described.
pub fn real_widened(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|p| rewrite_node(p, widen_real))
        .map(|t| t.data)
}

fn widen_real(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    let arithmetic = matches!(
        op,
        Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide
    );
    if !arithmetic && !compares(*op) {
        return Ok(Transformed::no(e));
    }
    let (Ok(lt), Ok(rt)) = (left.get_type(schema), right.get_type(schema)) else {
        return Ok(Transformed::no(e));
    };
    let exact = |t: &DataType| {
        t.is_integer() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
    };
    let double = |e: &Expr| {
        Box::new(Expr::Cast(Cast::new(
            Box::new(e.clone()),
            DataType::Float64,
        )))
    };
    let (l, r) = match (&lt, &rt) {
        (DataType::Float32, t) if exact(t) => (double(left), right.clone()),
        (t, DataType::Float32) if exact(t) => (left.clone(), double(right)),
        _ => return Ok(Transformed::no(e)),
    };
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
        l, *op, r,
    ))))
}

/// A plan node with `rewrite` applied to every expression, bottom up, against the node's
/// input schema; output names and the node's schema kept right.
fn rewrite_node(
    plan: LogicalPlan,
    rewrite: fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    let inputs = plan.inputs();
    if inputs.is_empty() {
        return Ok(Transformed::no(plan));
    }
    let schema = merge_schema(&inputs);
    // A projection's output names come from its expressions: the rewritten ones keep the old.
    let names = NamePreserver::new(&plan);
    let t = plan.map_expressions(|e| {
        let saved = names.save(&e);
        Ok(e.transform_up(|e| rewrite(e, &schema))?
            .update_data(|e| saved.restore(e)))
    })?;
    if t.transformed {
        t.map_data(|p| p.recompute_schema())
    } else {
        Ok(t)
    }
}

fn rewrite_expr(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match &e {
        Expr::Cast(_) => rewrite_cast(e, schema),
        Expr::BinaryExpr(b) if compares(b.op) => rewrite_comparison(e, schema),
        Expr::BinaryExpr(_) => rewrite_arithmetic(e, schema),
        _ => Ok(Transformed::no(e)),
    }
}

/// The operators that compare two values of one type: `= <> < <= > >=` and `IS [NOT] DISTINCT
/// FROM`.
pub(crate) fn compares(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

/// A quoted literal compared with a number: PostgreSQL reads the literal as the number's type
/// (`key = '01'` is `key = 1`; `key = 'x'` is 22P02), where DataFusion's coercion turns the
/// number into text and compares strings (`'1' = '01'` is false: a silent wrong answer).
fn rewrite_comparison(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    let number_as_text = |side: &Expr| -> Option<(Expr, DataType)> {
        let Expr::Cast(Cast { expr, data_type }) = side else {
            return None;
        };
        if !matches!(
            data_type,
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        ) {
            return None;
        }
        let t = expr.get_type(schema).ok()?;
        (t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(..)))
            .then(|| (expr.as_ref().clone(), t))
    };
    let text_literal = |side: &Expr| {
        matches!(
            side,
            Expr::Literal(
                ScalarValue::Utf8(Some(_))
                    | ScalarValue::Utf8View(Some(_))
                    | ScalarValue::LargeUtf8(Some(_)),
                _
            )
        )
    };
    let (l, r) = match (number_as_text(left), number_as_text(right)) {
        (Some((n, t)), None) if text_literal(right) => (n, Expr::Cast(Cast::new(right.clone(), t))),
        (None, Some((n, t))) if text_literal(left) => (Expr::Cast(Cast::new(left.clone(), t)), n),
        _ => return Ok(Transformed::no(e)),
    };
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(l),
        *op,
        Box::new(r),
    ))))
}

/// Integer `+ - *` checked for overflow; floating-point `+ - * /` checked for a zero divisor,
/// overflow and underflow (PostgreSQL's float8 arithmetic refuses to make an infinity or a zero
/// from finite, non-zero operands; Arrow returns them).
fn rewrite_arithmetic(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    let (Ok(lt), Ok(rt)) = (left.get_type(schema), right.get_type(schema)) else {
        return Ok(Transformed::no(e));
    };
    let checked = match op {
        Operator::Plus | Operator::Minus | Operator::Multiply
            if lt == rt && matches!(lt, DataType::Int16 | DataType::Int32 | DataType::Int64) =>
        {
            Checked::new(*op)
        }
        Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide
            if lt == rt && matches!(lt, DataType::Float32 | DataType::Float64) =>
        {
            Checked::new(*op)
        }
        _ => return Ok(Transformed::no(e)),
    };
    let args = vec![left.as_ref().clone(), right.as_ref().clone()];
    Ok(Transformed::yes(
        ScalarUDF::new_from_impl(checked).call(args),
    ))
}

fn rewrite_cast(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::Cast(Cast { expr, data_type }) = &e else {
        return Ok(Transformed::no(e));
    };
    let Ok(from) = expr.get_type(schema) else {
        return Ok(Transformed::no(e));
    };
    let to = data_type.clone();
    let inner = expr.as_ref().clone();
    let new = match (&from, &to) {
        (DataType::Decimal128(p, s), to) if to.is_integer() && *s > 0 => {
            // Arrow rounds halves away from zero when it drops decimal places.
            let whole = ((*p as i16 - *s as i16 + 1).clamp(1, 38)) as u8;
            Expr::Cast(Cast::new(
                Box::new(Expr::Cast(Cast::new(
                    Box::new(inner),
                    DataType::Decimal128(whole, 0),
                ))),
                to.clone(),
            ))
        }
        (DataType::Float64 | DataType::Float32, to) if to.is_integer() => Expr::Cast(Cast::new(
            Box::new(ScalarUDF::new_from_impl(RoundHalfEven::new()).call(vec![inner])),
            to.clone(),
        )),
        (from, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            if prints_differently(from) =>
        {
            let text = ScalarUDF::new_from_impl(PostgresText::new()).call(vec![inner]);
            if to == DataType::Utf8 {
                text
            } else {
                Expr::Cast(Cast::new(Box::new(text), to))
            }
        }
        _ => return Ok(Transformed::no(e)),
    };
    Ok(Transformed::yes(new))
}

fn prints_differently(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Float64
            | DataType::Float32
            | DataType::Timestamp(_, _)
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Interval(_)
            | DataType::Duration(_)
    )
}

/// A value as PostgreSQL's text output prints it (`text::postgres_text`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PostgresText {
    signature: Signature,
}

impl PostgresText {
    fn new() -> Self {
        PostgresText {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PostgresText {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        "pg_text_out"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // A timestamptz's text is in the session's TimeZone.
        let zone = args
            .config_options
            .execution
            .time_zone
            .as_deref()
            .and_then(|z| z.parse::<datafusion::arrow::array::timezone::Tz>().ok());
        per_value(args, |a| {
            match super::text::postgres_text(a, zone.as_ref()) {
                Some(text) => Ok(text),
                None => Ok(cast(a, &DataType::Utf8)?),
            }
        })
    }
}

/// PostgreSQL's float-to-integer rounding (`rint`: halves to even) before the cast.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundHalfEven {
    signature: Signature,
}

impl RoundHalfEven {
    fn new() -> Self {
        RoundHalfEven {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RoundHalfEven {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        "pg_rint"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        per_value(args, |a| {
            let f = cast(a, &DataType::Float64)?;
            let f = f
                .as_any()
                .downcast_ref::<Float64Array>()
                .expect("cast to Float64 gives a Float64Array");
            let out: Float64Array = f.iter().map(|v| v.map(f64::round_ties_even)).collect();
            Ok(Arc::new(out) as ArrayRef)
        })
    }
}

/// An arithmetic operator with PostgreSQL's errors: integer overflow (22003) and floating-point
/// division by zero (22012), where Arrow wraps or gives Infinity.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked {
    op: Operator,
    signature: Signature,
}

impl Checked {
    fn new(op: Operator) -> Self {
        Checked {
            op,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Checked {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        match self.op {
            Operator::Plus => "pg_checked_add",
            Operator::Minus => "pg_checked_sub",
            Operator::Multiply => "pg_checked_mul",
            _ => "pg_checked_div",
        }
    }
    fn display_name(&self, args: &[Expr]) -> Result<String> {
        // Shown (EXPLAIN, unnamed columns) as the operator it stands for.
        match args {
            [l, r] => Ok(format!("{l} {} {r}", self.op)),
            _ => Ok(self.name().to_string()),
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Int64))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::compute::kernels::numeric;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let [l, r] = args.args.as_slice() else {
            return Err(datafusion::error::DataFusionError::Internal(
                "an operator takes two operands".into(),
            ));
        };
        let (l, r) = (l.to_array(rows)?, r.to_array(rows)?);
        let t = l.data_type().clone();
        let out = match self.op {
            Operator::Plus => numeric::add(&l, &r),
            Operator::Minus => numeric::sub(&l, &r),
            Operator::Multiply => numeric::mul(&l, &r),
            _ => {
                let divisor = cast(&r, &DataType::Float64)?;
                let divisor = divisor
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .expect("cast to Float64 gives a Float64Array");
                if divisor.iter().any(|v| v == Some(0.0)) {
                    return Err(UserError::new(SqlState::DivisionByZero, "division by zero")
                        .into_datafusion());
                }
                numeric::div(&l, &r)
            }
        }
        .map_err(|e| match e {
            ArrowError::ArithmeticOverflow(_) => UserError::new(
                SqlState::NumericValueOutOfRange,
                format!("{} out of range", integer_name(&t)),
            )
            .into_datafusion(),
            other => other.into(),
        })?;
        if matches!(t, DataType::Float32 | DataType::Float64) {
            float_range(self.op, &l, &r, &out)?;
        }
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

/// PostgreSQL's float8 checks: an infinite result from finite operands is an overflow, a zero
/// product or quotient of non-zero finite operands an underflow (both 22003).
fn float_range(op: Operator, l: &ArrayRef, r: &ArrayRef, out: &ArrayRef) -> Result<()> {
    let as_f64 = |a: &ArrayRef| -> Result<Float64Array> {
        Ok(cast(a, &DataType::Float64)?
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("cast to Float64 gives a Float64Array")
            .clone())
    };
    let (l, r, out) = (as_f64(l)?, as_f64(r)?, as_f64(out)?);
    for i in 0..out.len() {
        if out.is_null(i) {
            continue;
        }
        let (a, b, v) = (l.value(i), r.value(i), out.value(i));
        let problem = if v.is_infinite() && a.is_finite() && b.is_finite() {
            "overflow"
        } else if v == 0.0
            && a != 0.0
            && (matches!(op, Operator::Multiply) && b != 0.0
                || matches!(op, Operator::Divide) && b.is_finite())
        {
            "underflow"
        } else {
            continue;
        };
        return Err(UserError::new(
            SqlState::NumericValueOutOfRange,
            format!("value out of range: {problem}"),
        )
        .into_datafusion());
    }
    Ok(())
}

fn integer_name(t: &DataType) -> &'static str {
    match t {
        DataType::Int16 => "smallint",
        DataType::Int32 => "integer",
        _ => "bigint",
    }
}

/// `meshgate_one_row(list)`: the one value a scalar subquery aggregated (see
/// `rewrite::subquery`), NULL for none, 21000 for more than one.
pub fn one_row() -> ScalarUDF {
    ScalarUDF::new_from_impl(OneRow {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct OneRow {
    signature: Signature,
}

impl ScalarUDFImpl for OneRow {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        super::rewrite::ONE_ROW
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(DataType::List(f) | DataType::LargeList(f)) => Ok(f.data_type().clone()),
            Some(DataType::Null) | None => Ok(DataType::Null),
            Some(other) => Ok(other.clone()),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        per_value(args, |a| {
            let Some(list) = a.as_list_opt::<i32>() else {
                return Ok(a.clone());
            };
            let offsets = list.value_offsets();
            let mut take = Vec::with_capacity(list.len());
            for i in 0..list.len() {
                let n = offsets[i + 1] - offsets[i];
                if list.is_null(i) || n == 0 {
                    take.push(None);
                } else if n == 1 {
                    take.push(Some(offsets[i] as u32));
                } else {
                    return Err(UserError::new(
                        SqlState::CardinalityViolation,
                        "more than one row returned by a subquery used as an expression",
                    )
                    .into_datafusion());
                }
            }
            let indices = datafusion::arrow::array::UInt32Array::from(take);
            Ok(datafusion::arrow::compute::take(
                list.values().as_ref(),
                &indices,
                None,
            )?)
        })
    }
}

/// Applies an array function to the one argument; a scalar stays a scalar (formatted once).
fn per_value(
    args: ScalarFunctionArgs,
    f: impl Fn(&ArrayRef) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    match args.args.into_iter().next() {
        Some(ColumnarValue::Array(a)) => Ok(ColumnarValue::Array(f(&a)?)),
        Some(ColumnarValue::Scalar(s)) => {
            let out = f(&s.to_array_of_size(1)?)?;
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        }
        None => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::execution::session_state::SessionStateBuilder;
    use datafusion::prelude::SessionContext;

    fn context() -> SessionContext {
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_analyzer_rule(rule())
            .build();
        SessionContext::new_with_state(state)
    }

    async fn error_code(sql: &str) -> &'static str {
        let e = match context().sql(sql).await {
            Ok(df) => df.collect().await.expect_err("fails"),
            Err(e) => e,
        };
        UserError::from_datafusion(&e).code.code()
    }

    async fn one_text(sql: &str) -> String {
        let batches = context()
            .sql(&format!("SELECT CAST(({sql}) AS VARCHAR) AS v"))
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let col = cast(batches[0].column(0), &DataType::Utf8).expect("text");
        col.as_string::<i32>().value(0).to_string()
    }

    // Expected values are PostgreSQL 15's answers.
    #[tokio::test]
    async fn numbers_round_to_integers_as_postgres() {
        assert_eq!(
            one_text("CAST(CAST('3.7' AS DECIMAL(10,2)) AS INT)").await,
            "4"
        );
        assert_eq!(
            one_text("CAST(CAST('-2.5' AS DECIMAL(10,2)) AS INT)").await,
            "-3"
        );
        assert_eq!(one_text("CAST(CAST(2.5 AS DOUBLE) AS INT)").await, "2");
        assert_eq!(one_text("CAST(CAST(3.5 AS DOUBLE) AS BIGINT)").await, "4");
        assert_eq!(one_text("CAST(CAST(-2.7 AS DOUBLE) AS INT)").await, "-3");
    }

    #[tokio::test]
    async fn values_print_as_postgres_in_text() {
        assert_eq!(
            one_text("CAST(TIMESTAMP '2024-01-02 03:04:05' AS TIMESTAMP)").await,
            "2024-01-02 03:04:05"
        );
        assert_eq!(one_text("CAST(1e20 AS DOUBLE)").await, "1e+20");
        assert_eq!(one_text("INTERVAL '1 day 2 hours'").await, "1 day 02:00:00");
    }

    #[tokio::test]
    async fn overflow_and_division_by_zero_are_errors() {
        assert_eq!(
            error_code("SELECT CAST(2147483647 AS INT) + CAST(1 AS INT)").await,
            "22003"
        );
        assert_eq!(
            error_code("SELECT a * a FROM (VALUES (CAST(9223372036854775807 AS BIGINT))) t(a)")
                .await,
            "22003"
        );
        assert_eq!(
            error_code("SELECT CAST(1 AS DOUBLE) / CAST(0 AS DOUBLE)").await,
            "22012"
        );
        assert_eq!(
            one_text("CAST(2147483646 AS INT) + CAST(1 AS INT)").await,
            "2147483647"
        );
    }
}
