//! `avg`, `variance` and `stddev` (and their `_samp` / `_pop` forms) as PostgreSQL computes
//! them over integers and numerics: in numeric, exactly, then divided at the scale PostgreSQL's
//! numeric division chooses for that pair (`division`), rounded half away from zero; a
//! standard deviation is the square root of that variance at the same scale. DataFusion
//! averages integers in double precision and numerics four places past their scale, truncated
//! (`avg(o_totalprice)` lost six of PostgreSQL's twelve decimals), and computes variances in
//! double precision (other digits than PostgreSQL's). Floats and intervals keep DataFusion's
//! aggregates, whose types PostgreSQL agrees with.
//!
//! Each has a companion answering the display scale of every result (`meshgate_avg_dscale`…),
//! asked for by the SQL front end beside a result that goes to the client.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Int32Array, UInt64Array,
};
use datafusion::arrow::datatypes::{i256, DataType, Decimal128Type, Field, FieldRef, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::expr::{AggregateFunctionParams, WindowFunctionParams};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, Volatility,
};
use meshgate_sqlfront::rewrite::aggregate_dscale;

use crate::division::{as_numeric, column_scale, computed_field, divide, division_scale};
use crate::error::{fail, NUMERIC_VALUE_OUT_OF_RANGE};
use crate::udf::wrong_types;

/// Which statistic.
#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
pub(crate) enum Stat {
    Avg,
    VarSamp,
    VarPop,
    StddevSamp,
    StddevPop,
}

impl Stat {
    fn squares(self) -> bool {
        self != Stat::Avg
    }

    /// The name of the aggregate in the front end's vocabulary, for the companion's name.
    fn canonical(self) -> &'static str {
        match self {
            Stat::Avg => "avg",
            Stat::VarSamp => "var_samp",
            Stat::VarPop => "var_pop",
            Stat::StddevSamp => "stddev_samp",
            Stat::StddevPop => "stddev_pop",
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Moments {
    inner: Arc<AggregateUDF>,
    signature: Signature,
    stat: Stat,
    /// The companion: answers each result's display scale instead of the result.
    display_scale: bool,
}

/// PostgreSQL's statistic over DataFusion's aggregate of it (`inner`), and its display-scale
/// companion.
pub(crate) fn over(inner: Arc<AggregateUDF>, stat: Stat) -> Vec<Arc<AggregateUDF>> {
    [false, true]
        .into_iter()
        .map(|display_scale| {
            Arc::new(AggregateUDF::new_from_impl(Moments {
                inner: inner.clone(),
                signature: Signature::user_defined(Volatility::Immutable),
                stat,
                display_scale,
            }))
        })
        .collect()
}

/// The numeric an argument is aggregated as, (precision, scale); None for types aggregated in
/// DataFusion's way.
fn as_aggregated_numeric(t: &DataType) -> Option<(u8, i8)> {
    match t {
        DataType::Dictionary(_, v) => as_aggregated_numeric(v),
        t => as_numeric(t).filter(|(_, s)| *s <= 18),
    }
}

/// Scale of the result column for arguments of (precision, scale): an average or a standard
/// deviation has at most their integer digits, a variance twice as many (counted up to 22,
/// past which values this large are not expected and would overflow).
fn result_scale(stat: Stat, (p, s): (u8, i8)) -> i8 {
    let digits = p as i32 - s as i32;
    match stat {
        Stat::Avg => column_scale(digits, &[s]),
        Stat::VarSamp | Stat::VarPop => column_scale((2 * digits).min(22), &[2 * s]),
        Stat::StddevSamp | Stat::StddevPop => column_scale(digits, &[2 * s]),
    }
}

fn numeric_input(args: &AccumulatorArgs) -> Option<(u8, i8)> {
    match args.expr_fields.first()?.data_type() {
        DataType::Decimal128(p, s) if !args.is_distinct && *s <= 18 => Some((*p, *s)),
        _ => None,
    }
}

impl Moments {
    fn state(&self, (p, s): (u8, i8)) -> State {
        State {
            stat: self.stat,
            display_scale: self.display_scale,
            scale: s,
            out_scale: result_scale(self.stat, (p, s)),
        }
    }
}

impl AggregateUDFImpl for Moments {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        if self.display_scale {
            aggregate_dscale(self.stat.canonical()).unwrap_or("meshgate_dscale")
        } else {
            self.inner.name()
        }
    }

    fn aliases(&self) -> &[String] {
        if self.display_scale {
            &[]
        } else {
            self.inner.aliases()
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [t] = arg_types else {
            return Err(wrong_types(self.name(), arg_types));
        };
        if let Some((p, s)) = as_aggregated_numeric(t) {
            return Ok(vec![DataType::Decimal128(p, s)]);
        }
        match t {
            _ if self.display_scale => Ok(arg_types.to_vec()),
            DataType::Duration(_) if self.stat == Stat::Avg => Ok(arg_types.to_vec()),
            DataType::Dictionary(_, v) => self.coerce_types(&[v.as_ref().clone()]),
            t if t.is_numeric() || t.is_null() => Ok(vec![DataType::Float64]),
            _ => Err(wrong_types(self.name(), arg_types)),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            _ if self.display_scale => Ok(DataType::Int32),
            [DataType::Decimal128(p, s)] if *s <= 18 => {
                Ok(DataType::Decimal128(38, result_scale(self.stat, (*p, *s))))
            }
            _ => self.inner.return_type(arg_types),
        }
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        let types: Vec<DataType> = arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let t = self.return_type(&types)?;
        Ok(match types.as_slice() {
            [DataType::Decimal128(..)] if !self.display_scale => computed_field(self.name(), t),
            _ => Arc::new(Field::new(self.name(), t, true)),
        })
    }

    fn schema_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        let inner = self.inner.inner().schema_name(params)?;
        Ok(inner.replacen(self.inner.name(), self.name(), 1))
    }

    fn window_function_schema_name(&self, params: &WindowFunctionParams) -> Result<String> {
        let inner = self.inner.inner().window_function_schema_name(params)?;
        Ok(inner.replacen(self.inner.name(), self.name(), 1))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match numeric_input(&args) {
            Some(t) => Ok(Box::new(Accumulated {
                count: 0,
                sum: 0,
                squares: 0,
                state: self.state(t),
            })),
            None if self.display_scale => Ok(Box::new(NoScale)),
            None => self.inner.accumulator(args),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        match args.input_fields[0].data_type() {
            DataType::Decimal128(_, s) if !args.is_distinct && *s <= 18 => {
                let field = |what: &str, t: DataType| {
                    Arc::new(Field::new(format!("{}[{what}]", args.name), t, true))
                };
                Ok(vec![
                    field("count", DataType::UInt64),
                    field("sum", DataType::Decimal128(38, *s)),
                    field("squares", DataType::Decimal128(38, 2 * *s)),
                ])
            }
            _ if self.display_scale => Ok(vec![Arc::new(Field::new(
                format!("{}[none]", args.name),
                DataType::Int32,
                true,
            ))]),
            _ => self.inner.state_fields(args),
        }
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        match numeric_input(&args) {
            Some(_) => true,
            None if self.display_scale => false,
            None => self.inner.groups_accumulator_supported(args),
        }
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        match numeric_input(&args) {
            Some(t) => Ok(Box::new(Groups {
                counts: Vec::new(),
                sums: Vec::new(),
                squares: Vec::new(),
                state: self.state(t),
            })),
            None => self.inner.create_groups_accumulator(args),
        }
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        ScalarValue::try_from(data_type)
    }
}

fn overflow<T>() -> Result<T> {
    fail(NUMERIC_VALUE_OUT_OF_RANGE, "numeric field overflow")
}

fn add(a: i128, b: i128) -> Result<i128> {
    a.checked_add(b).map_or_else(overflow, Ok)
}

fn mul(a: i128, b: i128) -> Result<i128> {
    a.checked_mul(b).map_or_else(overflow, Ok)
}

/// What every accumulator of one aggregate call shares.
#[derive(Debug, Clone, Copy)]
struct State {
    stat: Stat,
    display_scale: bool,
    /// The arguments' scale (sums have it, sums of squares twice it).
    scale: i8,
    out_scale: i8,
}

impl State {
    /// The result and its display scale for one group; None for NULL.
    fn result(&self, count: u64, sum: i128, squares: i128) -> Result<Option<(i128, i32)>> {
        let n = count as i128;
        let s = self.scale;
        let out = self.out_scale;
        match self.stat {
            _ if count == 0 => Ok(None),
            Stat::Avg => {
                let places = division_scale(sum, s, n, 0).min(out as i32);
                Ok(Some((divide(sum, s, n, 0, places, out)?, places)))
            }
            Stat::VarSamp | Stat::StddevSamp if count == 1 => Ok(None),
            stat => {
                // PostgreSQL's numeric_stddev_internal: (N·Σx² − (Σx)²) / (N·(N−1)) or / N².
                let numerator = mul(n, squares)? - mul(sum, sum)?;
                if numerator <= 0 {
                    return Ok(Some((0, 0)));
                }
                let denominator = match stat {
                    Stat::VarSamp | Stat::StddevSamp => mul(n, n - 1)?,
                    _ => mul(n, n)?,
                };
                let places = division_scale(numerator, 2 * s, denominator, 0).min(out as i32);
                let variance = divide(numerator, 2 * s, denominator, 0, places, places as i8)?;
                let value = match stat {
                    Stat::StddevSamp | Stat::StddevPop => square_root(variance, places)?,
                    _ => variance,
                };
                let widened = 10i128
                    .checked_pow((out as i32 - places) as u32)
                    .and_then(|f| value.checked_mul(f));
                Ok(Some((widened.map_or_else(overflow, Ok)?, places)))
            }
        }
    }

    fn answer(&self, count: u64, sum: i128, squares: i128) -> Result<ScalarValue> {
        let result = self.result(count, sum, squares)?;
        Ok(if self.display_scale {
            ScalarValue::Int32(result.map(|(_, places)| places))
        } else {
            ScalarValue::Decimal128(result.map(|(v, _)| v), 38, self.out_scale)
        })
    }

    fn answers(&self, groups: impl Iterator<Item = (u64, i128, i128)>) -> Result<ArrayRef> {
        let results = groups
            .map(|(count, sum, squares)| self.result(count, sum, squares))
            .collect::<Result<Vec<_>>>()?;
        Ok(if self.display_scale {
            Arc::new(
                results
                    .into_iter()
                    .map(|r| r.map(|(_, p)| p))
                    .collect::<Int32Array>(),
            )
        } else {
            Arc::new(
                results
                    .into_iter()
                    .map(|r| r.map(|(v, _)| v))
                    .collect::<Decimal128Array>()
                    .with_precision_and_scale(38, self.out_scale)?,
            )
        })
    }
}

/// √(v·10^-places), rounded half up at `places` decimals, as a value of that scale.
fn square_root(v: i128, places: i32) -> Result<i128> {
    let ten = i256::from_i128(10);
    let scaled = ten
        .checked_pow(places as u32)
        .and_then(|f| i256::from_i128(v).checked_mul(f))
        .and_then(|x| x.checked_mul(i256::from_i128(4)));
    let root = integer_sqrt(scaled.map_or_else(overflow, Ok)?);
    // ⌊√(4y)⌋ = z gives round(√y) = ⌊(z + 1) / 2⌋.
    ((root + i256::ONE) / i256::from_i128(2))
        .to_i128()
        .map_or_else(overflow, Ok)
}

/// ⌊√n⌋ for n ≥ 0, by Newton's iteration from a power of ten above the root.
fn integer_sqrt(n: i256) -> i256 {
    let two = i256::from_i128(2);
    if n < two {
        return n;
    }
    let digits = n.to_string().len() as u32;
    let mut x = i256::from_i128(10)
        .checked_pow(digits.div_ceil(2))
        .unwrap_or(n);
    loop {
        let y = (x + n / x) / two;
        if y >= x {
            return x;
        }
        x = y;
    }
}

#[derive(Debug)]
struct Accumulated {
    count: u64,
    sum: i128,
    squares: i128,
    state: State,
}

impl Accumulated {
    fn add(&mut self, values: &ArrayRef, sign: i128) -> Result<()> {
        let v = values.as_primitive::<Decimal128Type>();
        for x in v.iter().flatten() {
            self.sum = add(self.sum, sign * x)?;
            if self.state.stat.squares() {
                self.squares = add(self.squares, sign * mul(x, x)?)?;
            }
            if sign > 0 {
                self.count += 1;
            } else {
                self.count -= 1;
            }
        }
        Ok(())
    }
}

impl Accumulator for Accumulated {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0], 1)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0], -1)
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = states[0].as_primitive::<UInt64Type>();
        let sums = states[1].as_primitive::<Decimal128Type>();
        let squares = states[2].as_primitive::<Decimal128Type>();
        for i in 0..counts.len() {
            if counts.is_valid(i) {
                self.count += counts.value(i);
                self.sum = add(self.sum, sums.value(i))?;
                self.squares = add(self.squares, squares.value(i))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.count)),
            ScalarValue::Decimal128(Some(self.sum), 38, self.state.scale),
            ScalarValue::Decimal128(Some(self.squares), 38, 2 * self.state.scale),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.state.answer(self.count, self.sum, self.squares)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// The display scale of a statistic PostgreSQL does not compute in numeric: none to tell.
#[derive(Debug)]
struct NoScale;

impl Accumulator for NoScale {
    fn update_batch(&mut self, _: &[ArrayRef]) -> Result<()> {
        Ok(())
    }
    fn retract_batch(&mut self, _: &[ArrayRef]) -> Result<()> {
        Ok(())
    }
    fn supports_retract_batch(&self) -> bool {
        true
    }
    fn merge_batch(&mut self, _: &[ArrayRef]) -> Result<()> {
        Ok(())
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int32(None)])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int32(None))
    }
    fn size(&self) -> usize {
        0
    }
}

/// Counts and sums per group, for GROUP BY (the common case: one accumulator per group would
/// cost an allocation and a call per group and batch).
#[derive(Debug)]
struct Groups {
    counts: Vec<u64>,
    sums: Vec<i128>,
    squares: Vec<i128>,
    state: State,
}

impl Groups {
    fn grow(&mut self, total_num_groups: usize) {
        self.counts.resize(total_num_groups, 0);
        self.sums.resize(total_num_groups, 0);
        if self.state.stat.squares() {
            self.squares.resize(total_num_groups, 0);
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> (Vec<u64>, Vec<i128>, Vec<i128>) {
        let counts = emit_to.take_needed(&mut self.counts);
        let sums = emit_to.take_needed(&mut self.sums);
        let squares = if self.state.stat.squares() {
            emit_to.take_needed(&mut self.squares)
        } else {
            vec![0; counts.len()]
        };
        (counts, sums, squares)
    }
}

fn selected(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let v = values[0].as_primitive::<Decimal128Type>();
        let nulls = v.null_count() > 0;
        let squares = self.state.stat.squares();
        for (row, &g) in group_indices.iter().enumerate() {
            if (nulls && v.is_null(row)) || !selected(opt_filter, row) {
                continue;
            }
            let x = v.value(row);
            self.sums[g] = add(self.sums[g], x)?;
            if squares {
                self.squares[g] = add(self.squares[g], mul(x, x)?)?;
            }
            self.counts[g] += 1;
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let counts = values[0].as_primitive::<UInt64Type>();
        let sums = values[1].as_primitive::<Decimal128Type>();
        let squares = values[2].as_primitive::<Decimal128Type>();
        let with_squares = self.state.stat.squares();
        for (row, &g) in group_indices.iter().enumerate() {
            if counts.is_null(row) || !selected(opt_filter, row) {
                continue;
            }
            self.counts[g] += counts.value(row);
            self.sums[g] = add(self.sums[g], sums.value(row))?;
            if with_squares {
                self.squares[g] = add(self.squares[g], squares.value(row))?;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (counts, sums, squares) = self.take(emit_to);
        let groups = counts
            .into_iter()
            .zip(sums)
            .zip(squares)
            .map(|((c, s), q)| (c, s, q));
        self.state.answers(groups)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (counts, sums, squares) = self.take(emit_to);
        let scale = self.state.scale;
        Ok(vec![
            Arc::new(UInt64Array::from(counts)),
            Arc::new(Decimal128Array::from(sums).with_precision_and_scale(38, scale)?),
            Arc::new(Decimal128Array::from(squares).with_precision_and_scale(38, 2 * scale)?),
        ])
    }

    fn size(&self) -> usize {
        self.counts.capacity() * 8 + (self.sums.capacity() + self.squares.capacity()) * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(stat: Stat, scale: i8, out_scale: i8) -> State {
        State {
            stat,
            display_scale: false,
            scale,
            out_scale,
        }
    }

    fn text(v: i128, places: i32) -> String {
        Decimal128Array::from(vec![v])
            .with_precision_and_scale(38, places as i8)
            .expect("decimal")
            .value_as_string(0)
    }

    /// Figures from PostgreSQL 15 over the same values.
    #[test]
    fn statistics_have_postgres_digits() {
        // 1, 2, 3, 4: avg 2.5000000000000000, var_samp 1.6666666666666667,
        // stddev_samp 1.2909944487358056, var_pop 1.2500000000000000.
        let (n, sum, squares) = (4, 10, 30);
        let at = |stat| {
            let (v, p) = state(stat, 0, 18)
                .result(n, sum, squares)
                .expect("computes")
                .expect("not null");
            text(v / 10i128.pow((18 - p) as u32), p)
        };
        assert_eq!(at(Stat::Avg), "2.5000000000000000");
        assert_eq!(at(Stat::VarSamp), "1.6666666666666667");
        assert_eq!(at(Stat::StddevSamp), "1.2909944487358056");
        assert_eq!(at(Stat::VarPop), "1.2500000000000000");
        assert_eq!(at(Stat::StddevPop), "1.1180339887498948");
        // One value: no sample variance; a constant: zero.
        assert_eq!(
            state(Stat::VarSamp, 0, 18).result(1, 5, 25).expect("ok"),
            None
        );
        assert_eq!(
            state(Stat::VarPop, 0, 18).result(2, 10, 50).expect("ok"),
            Some((0, 0))
        );
    }

    #[test]
    fn square_roots_round_half_up() {
        assert_eq!(square_root(4, 0).expect("ok"), 2);
        assert_eq!(square_root(2, 0).expect("ok"), 1);
        assert_eq!(square_root(3, 0).expect("ok"), 2);
        assert_eq!(square_root(0, 4).expect("ok"), 0);
        // √2.00 = 1.41421… → 1.41
        assert_eq!(square_root(200, 2).expect("ok"), 141);
        // 20 places of a variance of 10^10: past 128 bits on the way.
        let v = 10i128.pow(30);
        assert_eq!(square_root(v, 20).expect("ok"), 10i128.pow(25));
        assert_eq!(integer_sqrt(i256::from_i128(99)), i256::from_i128(9));
    }
}
