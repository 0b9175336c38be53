//! One shape for every scalar function here: arguments coerced to the types the function
//! reads, then evaluated row by row over `ScalarValue`s.
//!
//! PostgreSQL's functions are mostly about getting each value right (patterns, calendars,
//! rounding), so one value at a time keeps each function a plain Rust function; a constant
//! argument list (the usual case in BI tools' literals) is evaluated once.

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::new_empty_array;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// What a function sees besides its arguments.
pub(crate) struct Ctx<'a> {
    /// The session's TimeZone (`SET TIME ZONE`), for timestamptz values.
    pub tz: Option<&'a str>,
    /// The type the function was planned to return.
    pub ret: &'a DataType,
}

pub(crate) type Eval = fn(&[ScalarValue], &Ctx) -> Result<ScalarValue>;
pub(crate) type Coerce = fn(&[DataType]) -> Result<Vec<DataType>>;
/// The result type from the (coerced) argument types, the constant arguments and the session's
/// time zone.
pub(crate) type Returns =
    fn(&[DataType], &[Option<&ScalarValue>], Option<&str>) -> Result<DataType>;

#[derive(Debug, Clone)]
pub(crate) struct RowFn {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
    coerce: Coerce,
    returns: Returns,
    eval: Eval,
    /// PostgreSQL's STRICT: any NULL argument gives NULL without calling the function.
    strict: bool,
    tz: Option<Arc<str>>,
}

impl PartialEq for RowFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.tz == other.tz && self.strict == other.strict
    }
}
impl Eq for RowFn {}
impl Hash for RowFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.tz.hash(state);
    }
}

impl RowFn {
    pub fn new(name: &'static str, coerce: Coerce, returns: Returns, eval: Eval) -> Self {
        RowFn {
            name,
            aliases: vec![],
            signature: Signature::user_defined(Volatility::Immutable),
            coerce,
            returns,
            eval,
            strict: true,
            tz: None,
        }
    }

    /// Called with NULL arguments too (`format`, `quote_nullable`, `concat`-like functions).
    pub fn lenient(mut self) -> Self {
        self.strict = false;
        self
    }

    pub fn stable(mut self) -> Self {
        self.signature = Signature::user_defined(Volatility::Stable);
        self
    }

    pub fn alias(mut self, name: &str) -> Self {
        self.aliases.push(name.to_string());
        self
    }

    pub fn udf(self) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(self))
    }
}

impl ScalarUDFImpl for RowFn {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.returns)(arg_types, &vec![None; arg_types.len()], self.tz.as_deref())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let ret = (self.returns)(&types, args.scalar_arguments, self.tz.as_deref())?;
        Ok(Arc::new(Field::new(self.name, ret, true)))
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let tz: Option<Arc<str>> = config.execution.time_zone.as_deref().map(Arc::from);
        if tz == self.tz {
            return None;
        }
        Some(ScalarUDF::new_from_impl(RowFn { tz, ..self.clone() }))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ret = args.return_field.data_type().clone();
        let tz = args.config_options.execution.time_zone.clone();
        let ctx = Ctx {
            tz: tz.as_deref(),
            ret: &ret,
        };
        let call = |row: &[ScalarValue]| -> Result<ScalarValue> {
            let v = if self.strict && row.iter().any(ScalarValue::is_null) {
                ScalarValue::try_from(&ret)?
            } else {
                (self.eval)(row, &ctx)?
            };
            if v.data_type() == ret {
                Ok(v)
            } else {
                v.cast_to(&ret)
            }
        };
        row_by_row(&args, &ret, call)
    }
}

/// Evaluates `call` on each row of the arguments (once when all are constants), giving a
/// column of type `ret`.
pub(crate) fn row_by_row(
    args: &ScalarFunctionArgs,
    ret: &DataType,
    mut call: impl FnMut(&[ScalarValue]) -> Result<ScalarValue>,
) -> Result<ColumnarValue> {
    if args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)))
    {
        let row: Vec<ScalarValue> = args
            .args
            .iter()
            .map(|a| match a {
                ColumnarValue::Scalar(s) => s.clone(),
                ColumnarValue::Array(_) => unreachable!("all arguments are scalars"),
            })
            .collect();
        return Ok(ColumnarValue::Scalar(call(&row)?));
    }
    // Constant arguments (a template, a unit) are set once; only columns change per row.
    let mut row: Vec<ScalarValue> = Vec::with_capacity(args.args.len());
    let mut columns = Vec::new();
    for (i, a) in args.args.iter().enumerate() {
        match a {
            ColumnarValue::Scalar(s) => row.push(s.clone()),
            ColumnarValue::Array(arr) => {
                row.push(ScalarValue::Null);
                columns.push((i, arr));
            }
        }
    }
    let mut out = Vec::with_capacity(args.number_rows);
    for r in 0..args.number_rows {
        for (i, arr) in &columns {
            row[*i] = ScalarValue::try_from_array(arr, r)?;
        }
        out.push(call(&row)?);
    }
    if out.is_empty() {
        return Ok(ColumnarValue::Array(new_empty_array(ret)));
    }
    Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
}

// ---- coercion helpers: the type each argument is read as ----

pub(crate) fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

pub(crate) const TEXT: DataType = DataType::Utf8;
pub(crate) const INT: DataType = DataType::Int64;
pub(crate) const FLOAT: DataType = DataType::Float64;

/// Timestamps are read as microseconds (PostgreSQL's precision), keeping any zone.
pub(crate) fn micros(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Timestamp(_, tz) => Some(DataType::Timestamp(TimeUnit::Microsecond, tz.clone())),
        DataType::Date32 | DataType::Date64 => Some(DataType::Date32),
        _ => None,
    }
}

/// `n` text arguments, or the function does not exist for these types.
pub(crate) fn texts(name: &str, types: &[DataType], n: usize) -> Result<Vec<DataType>> {
    if types.len() == n && types.iter().all(is_text) {
        Ok(vec![TEXT; n])
    } else {
        Err(wrong_types(name, types))
    }
}

pub(crate) fn wrong_types(name: &str, types: &[DataType]) -> DataFusionError {
    let list: Vec<String> = types.iter().map(crate::types::pg_type_name).collect();
    DataFusionError::from(crate::error::FunctionError::new(
        crate::error::UNDEFINED_FUNCTION,
        format!("function {name}({}) does not exist", list.join(", ")),
    ))
}

// ---- reading arguments ----

pub(crate) fn arg_str(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.as_deref(),
        _ => None,
    }
}

pub(crate) fn arg_i64(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::Int64(x) => *x,
        ScalarValue::Int32(x) => x.map(i64::from),
        ScalarValue::Int16(x) => x.map(i64::from),
        ScalarValue::Int8(x) => x.map(i64::from),
        ScalarValue::UInt32(x) => x.map(i64::from),
        ScalarValue::UInt16(x) => x.map(i64::from),
        ScalarValue::UInt8(x) => x.map(i64::from),
        ScalarValue::UInt64(x) => x.and_then(|x| i64::try_from(x).ok()),
        _ => None,
    }
}

pub(crate) fn arg_f64(v: &ScalarValue) -> Option<f64> {
    match v {
        ScalarValue::Float64(x) => *x,
        ScalarValue::Float32(x) => x.map(f64::from),
        ScalarValue::Decimal128(Some(x), _, s) => Some(*x as f64 / 10f64.powi(i32::from(*s))),
        other => arg_i64(other).map(|x| x as f64),
    }
}

pub(crate) fn text(s: impl Into<String>) -> ScalarValue {
    ScalarValue::Utf8(Some(s.into()))
}

/// A DataFusion function under another name (PostgreSQL's name for the same semantics).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Renamed {
    name: &'static str,
    inner: Arc<ScalarUDF>,
}

impl Renamed {
    pub fn new(name: &'static str, inner: Arc<ScalarUDF>) -> Self {
        Renamed { name, inner }
    }
}

impl ScalarUDFImpl for Renamed {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }
}
