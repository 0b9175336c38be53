//! A batch's DataRows written straight from its arrays. arrow-pg's row encoder looks up each
//! value's Arrow type, converts it through chrono or rust_decimal and clones the field's type
//! and options for every value: streaming a wide fact table in binary, that was more than half
//! of the server's time. Here each column's kind is decided once per batch, the common types
//! are written in PostgreSQL's own text or binary form, and the rest go value by value through
//! arrow-pg's encoder into the same buffer.

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, LargeStringArray, StringArray,
    StringViewArray, TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::arrow::record_batch::RecordBatch;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::ToSqlText;
use postgres_types::{IsNull, ToSql};

/// Days from 1970-01-01 (Arrow's epoch) to 2000-01-01 (PostgreSQL's).
const EPOCH_DAYS: i32 = 10_957;
/// The same in microseconds.
const EPOCH_MICROS: i64 = EPOCH_DAYS as i64 * 86_400 * 1_000_000;

/// The rows of `batch` in the fields' formats. `places` holds, for binary numeric columns
/// whose values each have their own display scale, that scale by row.
pub(super) fn encode(
    fields: &[FieldInfo],
    batch: &RecordBatch,
    places: &[Option<Vec<i32>>],
) -> PgWireResult<Vec<DataRow>> {
    let schema = batch.schema();
    let columns: Vec<Column> = fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            Column::of(
                batch.column(i),
                schema.field(i),
                field,
                places.get(i).and_then(Option::as_deref),
            )
        })
        .collect();
    let nulls: Vec<Option<&NullBuffer>> = columns.iter().map(Column::nulls).collect();
    let n = batch.num_rows();
    let count = columns.len() as i16;
    let mut buf = BytesMut::new();
    let mut rows = Vec::with_capacity(n);
    for row in 0..n {
        for (column, nulls) in columns.iter().zip(&nulls) {
            if nulls.is_some_and(|n| n.is_null(row)) {
                buf.put_i32(-1);
            } else {
                column.write(row, &mut buf)?;
            }
        }
        if row == 0 {
            // The first row's size, with room to spare, for the rest of the batch.
            buf.reserve(buf.len() * (n - 1) * 5 / 4 + 64);
        }
        rows.push(DataRow::new(buf.split(), count));
    }
    Ok(rows)
}

/// One column of a batch, its kind decided once.
enum Column<'a> {
    Bool(&'a BooleanArray, FieldFormat),
    Int16(&'a Int16Array, FieldFormat),
    Int32(&'a Int32Array, FieldFormat),
    Int64(&'a Int64Array, FieldFormat),
    /// Binary only: text floats, dates, numerics and timestamps are already PostgreSQL's text
    /// (`crate::sql::text::postgres_text`), strings by then.
    Float32(&'a Float32Array),
    Float64(&'a Float64Array),
    Date(&'a Date32Array),
    Timestamp(&'a TimestampMicrosecondArray),
    Numeric {
        values: &'a Decimal128Array,
        scale: i8,
        places: Option<&'a [i32]>,
    },
    /// Text of either format, and binary bytea: the bytes as they are.
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    Bytes(&'a BinaryArray),
    Other(&'a ArrayRef, &'a Field, &'a FieldInfo),
}

impl<'a> Column<'a> {
    fn of(
        array: &'a ArrayRef,
        arrow: &'a Field,
        field: &'a FieldInfo,
        places: Option<&'a [i32]>,
    ) -> Self {
        let format = field.format();
        let binary = format == FieldFormat::Binary;
        match array.data_type() {
            DataType::Boolean => Column::Bool(array.as_boolean(), format),
            DataType::Int16 => Column::Int16(array.as_primitive::<Int16Type>(), format),
            DataType::Int32 => Column::Int32(array.as_primitive::<Int32Type>(), format),
            DataType::Int64 => Column::Int64(array.as_primitive::<Int64Type>(), format),
            DataType::Utf8 => Column::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Column::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => Column::Utf8View(array.as_string_view()),
            DataType::Binary if binary => Column::Bytes(array.as_binary::<i32>()),
            DataType::Float32 if binary => Column::Float32(array.as_primitive::<Float32Type>()),
            DataType::Float64 if binary => Column::Float64(array.as_primitive::<Float64Type>()),
            DataType::Date32 if binary => Column::Date(array.as_primitive::<Date32Type>()),
            DataType::Timestamp(TimeUnit::Microsecond, _)
                if binary && matches!(*field.datatype(), Type::TIMESTAMP | Type::TIMESTAMPTZ) =>
            {
                Column::Timestamp(array.as_primitive::<TimestampMicrosecondType>())
            }
            DataType::Decimal128(_, scale) if binary => Column::Numeric {
                values: array.as_primitive::<Decimal128Type>(),
                scale: *scale,
                places,
            },
            _ => Column::Other(array, arrow, field),
        }
    }

    /// The column's NULLs (None for the values arrow-pg writes, NULL or not).
    fn nulls(&self) -> Option<&NullBuffer> {
        match self {
            Column::Bool(a, _) => a.nulls(),
            Column::Int16(a, _) => a.nulls(),
            Column::Int32(a, _) => a.nulls(),
            Column::Int64(a, _) => a.nulls(),
            Column::Float32(a) => a.nulls(),
            Column::Float64(a) => a.nulls(),
            Column::Date(a) => a.nulls(),
            Column::Timestamp(a) => a.nulls(),
            Column::Numeric { values, .. } => values.nulls(),
            Column::Utf8(a) => a.nulls(),
            Column::LargeUtf8(a) => a.nulls(),
            Column::Utf8View(a) => a.nulls(),
            Column::Bytes(a) => a.nulls(),
            Column::Other(..) => None,
        }
    }

    /// Appends the value at `row`, not NULL (see `nulls`) unless arrow-pg writes it: its
    /// 4-byte length, then its bytes.
    fn write(&self, row: usize, buf: &mut BytesMut) -> PgWireResult<()> {
        if let Column::Other(array, arrow, field) = self {
            return arrow_pg::encoder::encode_value(&mut Cell(buf), array, row, arrow, field);
        }
        match self {
            Column::Bool(a, format) => match format {
                FieldFormat::Binary => sized(buf, &[u8::from(a.value(row))]),
                FieldFormat::Text => sized(buf, if a.value(row) { b"t" } else { b"f" }),
            },
            Column::Int16(a, format) => {
                let v = a.value(row);
                integer(buf, v, &v.to_be_bytes(), *format)
            }
            Column::Int32(a, format) => {
                let v = a.value(row);
                integer(buf, v, &v.to_be_bytes(), *format)
            }
            Column::Int64(a, format) => {
                let v = a.value(row);
                integer(buf, v, &v.to_be_bytes(), *format)
            }
            Column::Float32(a) => sized(buf, &a.value(row).to_be_bytes()),
            Column::Float64(a) => sized(buf, &a.value(row).to_be_bytes()),
            Column::Date(a) => {
                let days = a.value(row).checked_sub(EPOCH_DAYS).ok_or_else(too_far)?;
                sized(buf, &days.to_be_bytes())
            }
            Column::Timestamp(a) => {
                let micros = a.value(row).checked_sub(EPOCH_MICROS).ok_or_else(too_far)?;
                sized(buf, &micros.to_be_bytes())
            }
            Column::Numeric {
                values,
                scale,
                places,
            } => {
                let place = places.and_then(|p| p.get(row).copied());
                numeric(buf, values.value(row), *scale, place)?
            }
            Column::Utf8(a) => sized(buf, a.value(row).as_bytes()),
            Column::LargeUtf8(a) => sized(buf, a.value(row).as_bytes()),
            Column::Utf8View(a) => sized(buf, a.value(row).as_bytes()),
            Column::Bytes(a) => sized(buf, a.value(row)),
            Column::Other(..) => unreachable!("written above"),
        }
        Ok(())
    }
}

fn sized(buf: &mut BytesMut, bytes: &[u8]) {
    buf.put_i32(bytes.len() as i32);
    buf.put_slice(bytes);
}

/// An integer in decimal digits, or `binary`: its own width, big-endian.
fn integer(buf: &mut BytesMut, v: impl itoa::Integer, binary: &[u8], format: FieldFormat) {
    match format {
        FieldFormat::Text => sized(buf, itoa::Buffer::new().format(v).as_bytes()),
        FieldFormat::Binary => sized(buf, binary),
    }
}

fn too_far() -> PgWireError {
    PgWireError::UserError(Box::new(pgwire::error::ErrorInfo::new(
        "ERROR".into(),
        "22008".into(),
        "date or timestamp out of range for the PostgreSQL protocol".into(),
    )))
}

/// PostgreSQL's binary numeric: ndigits, weight, sign, display scale (16 bits each), then
/// base-10000 digits, most significant first, without leading or trailing zero digits (as
/// PostgreSQL itself sends them). The display scale is the value's own where it has one,
/// else the column's; zero has no digits but keeps it (0.00).
fn numeric(buf: &mut BytesMut, value: i128, scale: i8, place: Option<i32>) -> PgWireResult<()> {
    let negative = value < 0;
    let mut magnitude = value.unsigned_abs();
    // Whole base-10000 digits after the point: the scale padded to a multiple of 4.
    let mut fraction = scale as i32;
    if fraction < 0 {
        magnitude = 10u128
            .checked_pow((-fraction) as u32)
            .and_then(|p| magnitude.checked_mul(p))
            .ok_or_else(numeric_too_wide)?;
        fraction = 0;
    }
    let pad = (4 - fraction % 4) % 4;
    magnitude = magnitude
        .checked_mul(10u128.pow(pad as u32))
        .ok_or_else(numeric_too_wide)?;
    let fraction_digits = (fraction + pad) / 4;
    // Least significant first; a u128 has at most 10 base-10000 digits.
    let mut digits = [0i16; 10];
    let mut count = 0usize;
    while magnitude > 0 {
        let (rest, digit) = match u64::try_from(magnitude) {
            Ok(small) => ((small / 10_000) as u128, (small % 10_000) as i16),
            Err(_) => (magnitude / 10_000, (magnitude % 10_000) as i16),
        };
        digits[count] = digit;
        count += 1;
        magnitude = rest;
    }
    let low = digits[..count].iter().take_while(|d| **d == 0).count();
    let weight = count as i32 - fraction_digits - 1;
    let dscale = place.unwrap_or(scale as i32).clamp(0, i16::MAX as i32) as u16;
    let kept = &digits[low..count];
    buf.put_i32(8 + 2 * kept.len() as i32);
    buf.put_u16(kept.len() as u16);
    buf.put_i16(if kept.is_empty() { 0 } else { weight as i16 });
    buf.put_u16(if negative && !kept.is_empty() {
        0x4000
    } else {
        0
    });
    buf.put_u16(dscale);
    for d in kept.iter().rev() {
        buf.put_i16(*d);
    }
    Ok(())
}

fn numeric_too_wide() -> PgWireError {
    PgWireError::UserError(Box::new(pgwire::error::ErrorInfo::new(
        "ERROR".into(),
        "22003".into(),
        "numeric value out of range".into(),
    )))
}

/// One value's place in a row for arrow-pg's encoder: the length, then what its text or
/// binary encoding writes.
struct Cell<'b>(&'b mut BytesMut);

impl arrow_pg::encoder::Encoder for Cell<'_> {
    type Item = ();

    fn encode_field<T>(&mut self, value: &T, field: &FieldInfo) -> PgWireResult<()>
    where
        T: ToSql + ToSqlText + Sized,
    {
        let buf = &mut *self.0;
        let at = buf.len();
        buf.put_i32(-1);
        let null = match field.format() {
            FieldFormat::Text => value.to_sql_text(field.datatype(), buf, field.format_options()),
            FieldFormat::Binary => value.to_sql(field.datatype(), buf),
        }?;
        if let IsNull::No = null {
            let len = (buf.len() - at - 4) as i32;
            buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    fn take_row(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(value: i128, scale: i8) -> Vec<u8> {
        let mut buf = BytesMut::new();
        numeric(&mut buf, value, scale, None).expect("numeric");
        buf[4..].to_vec()
    }

    fn words(bytes: &[u8]) -> Vec<i16> {
        bytes
            .chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    // Each expected form is what PostgreSQL 15's numeric_send gives for the literal
    // (`SELECT numeric_send(x::numeric(p, s))`).
    #[test]
    fn numerics_are_sent_as_postgres_sends_them() {
        // ndigits, weight, sign, dscale, digits…
        assert_eq!(words(&numeric_bytes(12345, 2)), [2, 0, 0, 2, 123, 4500]);
        assert_eq!(
            words(&numeric_bytes(-12345, 2)),
            [2, 0, 0x4000, 2, 123, 4500]
        );
        assert_eq!(words(&numeric_bytes(0, 2)), [0, 0, 0, 2]);
        assert_eq!(words(&numeric_bytes(100_000_000, 0)), [1, 2, 0, 0, 1]);
        assert_eq!(words(&numeric_bytes(5, 4)), [1, -1, 0, 4, 5]);
        assert_eq!(words(&numeric_bytes(5, 5)), [1, -2, 0, 5, 5000]);
        assert_eq!(words(&numeric_bytes(12, -3)), [2, 1, 0, 0, 1, 2000]);
        let big = i128::MAX / 10;
        let w = words(&numeric_bytes(big, 0));
        assert_eq!(w[0] as usize, w.len() - 4, "ndigits counts the digits sent");
    }
}
