//! Syntax DataFusion plans differently from PostgreSQL: `/` between numerics divides at
//! PostgreSQL's scale (`division`), `extract(field FROM x)` returns numeric (DataFusion plans it as `date_part`, double precision), `^` is exponentiation
//! (DataFusion has no plan for PostgreSQL's `^`), `substring(text FROM pattern)` takes a
//! regular expression, and `date - date` is integer (DataFusion's is bigint). JSON's operators
//! are planned as the functions they stand for when an operand is of a JSON type.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{binary_expr, cast, Expr, ExprSchemable, Operator, ScalarUDF};
use datafusion::sql::sqlparser::ast::BinaryOperator;

#[derive(Debug)]
pub(crate) struct PgPlanner {
    extract: Arc<ScalarUDF>,
    power: Arc<ScalarUDF>,
    numeric_div: Arc<ScalarUDF>,
    substring_regex: Arc<ScalarUDF>,
    /// The JSON functions operators stand for, by name.
    json: HashMap<String, Arc<ScalarUDF>>,
}

impl PgPlanner {
    pub(crate) fn new() -> Self {
        PgPlanner {
            extract: crate::datetime::extract_udf(),
            power: crate::numeric::power_udf(),
            numeric_div: crate::division::numeric_div_udf(),
            substring_regex: crate::strings::substring_regex_udf(),
            json: crate::json::functions()
                .into_iter()
                .map(|f| (f.name().to_string(), f))
                .collect(),
        }
    }
}

impl PgPlanner {
    /// `->`, `@>`, `||`… when an operand is of a JSON type (known from its field).
    fn json_operator(&self, expr: &RawBinaryExpr, schema: &DFSchema) -> Option<Expr> {
        if !crate::json::may_be_json_operator(&expr.op) {
            return None;
        }
        let kind = |e: &Expr| {
            e.to_field(schema)
                .ok()
                .and_then(|(_, f)| crate::json::json_kind(&f))
        };
        let name = crate::json::operator_function(&expr.op, kind(&expr.left), kind(&expr.right))?;
        let udf = self.json.get(name)?.clone();
        Some(Expr::ScalarFunction(ScalarFunction::new_udf(
            udf,
            vec![expr.left.clone(), expr.right.clone()],
        )))
    }
}

/// `date - date` is a number of days, integer in PostgreSQL; DataFusion's is bigint, and a
/// driver reads the column by its declared type. Every difference of two dates fits.
fn date_difference(expr: &RawBinaryExpr, schema: &DFSchema) -> Option<Expr> {
    let is_date = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Date32 | DataType::Date64));
    (expr.op == BinaryOperator::Minus && is_date(&expr.left) && is_date(&expr.right)).then(|| {
        cast(
            binary_expr(expr.left.clone(), Operator::Minus, expr.right.clone()),
            DataType::Int32,
        )
    })
}

/// `date ± interval` and `interval + date` are timestamps in PostgreSQL (DataFusion keeps a
/// date and drops the interval's time: `date '2024-01-01' + interval '1 hour'` was the date).
/// Comparisons of dates with the constant timestamps this makes are turned back into date
/// comparisons after folding (`date_comparisons`), so scans still prune on them.
fn date_plus_interval(expr: &RawBinaryExpr, schema: &DFSchema) -> Option<Expr> {
    let is_date = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Date32 | DataType::Date64));
    let is_interval = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Interval(_)));
    let timestamp = |e: Expr| cast(e, DataType::Timestamp(TimeUnit::Nanosecond, None));
    let (l, r) = (expr.left.clone(), expr.right.clone());
    match expr.op {
        BinaryOperator::Plus if is_date(&l) && is_interval(&r) => {
            Some(binary_expr(timestamp(l), Operator::Plus, r))
        }
        BinaryOperator::Plus if is_interval(&l) && is_date(&r) => {
            Some(binary_expr(l, Operator::Plus, timestamp(r)))
        }
        BinaryOperator::Minus if is_date(&l) && is_interval(&r) => {
            Some(binary_expr(timestamp(l), Operator::Minus, r))
        }
        _ => None,
    }
}

/// `interval * n`, `n * interval`, `interval / n` (DataFusion refuses them), and `&&` between
/// arrays (overlap; DataFusion has the function, not the operator).
fn interval_or_array_operator(expr: &RawBinaryExpr, schema: &DFSchema) -> Option<Expr> {
    let t = |e: &Expr| e.get_type(schema).ok();
    let is_interval = |e: &Expr| matches!(t(e), Some(DataType::Interval(_)));
    let is_number = |e: &Expr| t(e).is_some_and(|t| t.is_numeric());
    let is_list = |e: &Expr| {
        matches!(
            t(e),
            Some(DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..))
        )
    };
    let scale = |i: Expr, n: Expr, divide: bool| {
        Expr::ScalarFunction(ScalarFunction::new_udf(
            crate::calendar::interval_scale_udf(),
            vec![i, n, datafusion::logical_expr::lit(divide)],
        ))
    };
    let (l, r) = (expr.left.clone(), expr.right.clone());
    match expr.op {
        BinaryOperator::Multiply if is_interval(&l) && is_number(&r) => Some(scale(l, r, false)),
        BinaryOperator::Multiply if is_number(&l) && is_interval(&r) => Some(scale(r, l, false)),
        BinaryOperator::Divide if is_interval(&l) && is_number(&r) => Some(scale(l, r, true)),
        BinaryOperator::PGOverlap if is_list(&l) && is_list(&r) => {
            Some(datafusion::functions_nested::expr_fn::array_has_any(l, r))
        }
        _ => None,
    }
}

/// An untyped quoted literal in arithmetic with a number is read as that number's type, as
/// PostgreSQL reads it (`1 + '2'` is 3; `1 + 'a'` is 22P02); the engine refuses to add a
/// string to a number. None when the expression is not such a one.
fn quoted_number(expr: &RawBinaryExpr, schema: &DFSchema) -> Option<Result<RawBinaryExpr>> {
    if !matches!(
        expr.op,
        BinaryOperator::Plus
            | BinaryOperator::Minus
            | BinaryOperator::Multiply
            | BinaryOperator::Divide
            | BinaryOperator::Modulo
    ) {
        return None;
    }
    let text = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => {
            Some(s.clone())
        }
        _ => None,
    };
    let number = |e: &Expr| e.get_type(schema).ok().filter(|t| t.is_numeric());
    let parse = |s: &str, t: &DataType| -> Result<Expr> {
        match ScalarValue::try_from_string(s.trim().to_string(), t) {
            Ok(v) if !v.is_null() => Ok(Expr::Literal(v, None)),
            _ => crate::error::fail(
                crate::error::INVALID_TEXT_REPRESENTATION,
                format!(
                    "invalid input syntax for type {}: \"{s}\"",
                    crate::pg_type_name(t)
                ),
            ),
        }
    };
    let mut planned = expr.clone();
    match (text(&expr.left), text(&expr.right)) {
        (None, Some(s)) => {
            let t = number(&expr.left)?;
            planned.right = match parse(&s, &t) {
                Ok(e) => e,
                Err(e) => return Some(Err(e)),
            };
        }
        (Some(s), None) => {
            let t = number(&expr.right)?;
            planned.left = match parse(&s, &t) {
                Ok(e) => e,
                Err(e) => return Some(Err(e)),
            };
        }
        _ => return None,
    }
    Some(Ok(planned))
}

impl ExprPlanner for PgPlanner {
    fn plan_extract(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(self.extract.clone(), args),
        )))
    }

    /// `substring(text FROM pattern)`: a text where the position goes is a regular expression
    /// in PostgreSQL. Known only for a literal here (the planner sees no types).
    fn plan_substring(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        let text_from = matches!(
            args.get(1),
            Some(Expr::Literal(
                ScalarValue::Utf8(_) | ScalarValue::Utf8View(_) | ScalarValue::LargeUtf8(_),
                _
            ))
        );
        if args.len() != 2 || !text_from {
            return Ok(PlannerResult::Original(args));
        }
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(self.substring_regex.clone(), args),
        )))
    }

    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        if let Some(planned) = self.json_operator(&expr, schema) {
            return Ok(PlannerResult::Planned(planned));
        }
        let expr = match quoted_number(&expr, schema) {
            Some(typed) => typed?,
            None => expr,
        };
        if let Some(days) = date_difference(&expr, schema) {
            return Ok(PlannerResult::Planned(days));
        }
        if let Some(timestamp) = date_plus_interval(&expr, schema) {
            return Ok(PlannerResult::Planned(timestamp));
        }
        if let Some(planned) = interval_or_array_operator(&expr, schema) {
            return Ok(PlannerResult::Planned(planned));
        }
        if expr.op == BinaryOperator::Divide {
            let (l, r) = (expr.left.get_type(schema), expr.right.get_type(schema));
            if let (Ok(l), Ok(r)) = (l, r) {
                if crate::division::is_numeric_division(&l, &r) {
                    return Ok(PlannerResult::Planned(Expr::ScalarFunction(
                        ScalarFunction::new_udf(
                            self.numeric_div.clone(),
                            vec![expr.left, expr.right],
                        ),
                    )));
                }
            }
            return Ok(PlannerResult::Original(expr));
        }
        if expr.op != BinaryOperator::PGExp {
            return Ok(PlannerResult::Original(expr));
        }
        // PostgreSQL's `^` is numeric for numeric operands, double precision otherwise.
        let numeric = |e: &Expr| {
            matches!(
                e.get_type(schema),
                Ok(DataType::Decimal32(..)
                    | DataType::Decimal64(..)
                    | DataType::Decimal128(..)
                    | DataType::Decimal256(..))
            )
        };
        let (l, r) = if numeric(&expr.left) || numeric(&expr.right) {
            (expr.left, expr.right)
        } else {
            (
                cast(expr.left, DataType::Float64),
                cast(expr.right, DataType::Float64),
            )
        };
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(self.power.clone(), vec![l, r]),
        )))
    }
}
