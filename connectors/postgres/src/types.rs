//! PostgreSQL column types as Arrow types, and rows as Arrow batches.
//!
//! Each column is read in the form that converts without loss: binary for the fixed-width
//! types, text for `numeric` (parsed into a decimal of the column's declared precision and
//! scale) and for types Arrow has no counterpart of (which are then served as `text`).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::error::{DataFusionError, Result};
use tokio_postgres::Row;

/// How a column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(p, s)`.
    Numeric(u8, i8),
    Text,
    /// `char(n)`: blank-padded text, whose comparisons ignore the padding in PostgreSQL but
    /// not in DataFusion.
    Bpchar,
    Bytea,
    Date,
    Timestamp,
    Timestamptz,
    /// Anything else, read as its text form.
    AsText,
}

/// The kind of a column from its `pg_type.typname` and `atttypmod`.
pub fn kind(typname: &str, typmod: i32) -> Kind {
    match typname {
        "bool" => Kind::Bool,
        "int2" => Kind::Int2,
        "int4" => Kind::Int4,
        "int8" => Kind::Int8,
        "float4" => Kind::Float4,
        "float8" => Kind::Float8,
        "numeric" if typmod >= 4 => {
            let precision = ((typmod - 4) >> 16) & 0xffff;
            // Scale is a signed 11-bit field in PostgreSQL 15+; negative scales have no Arrow
            // decimal of the same meaning here, so those columns are read as text.
            let scale = (typmod - 4) & 0x7ff;
            if (1..=38).contains(&precision) && scale <= precision {
                Kind::Numeric(precision as u8, scale as i8)
            } else {
                Kind::AsText
            }
        }
        "text" | "varchar" | "name" => Kind::Text,
        "bpchar" => Kind::Bpchar,
        "bytea" => Kind::Bytea,
        "date" => Kind::Date,
        "timestamp" => Kind::Timestamp,
        "timestamptz" => Kind::Timestamptz,
        _ => Kind::AsText,
    }
}

impl Kind {
    pub fn arrow(self) -> DataType {
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::Int2 => DataType::Int16,
            Kind::Int4 => DataType::Int32,
            Kind::Int8 => DataType::Int64,
            Kind::Float4 => DataType::Float32,
            Kind::Float8 => DataType::Float64,
            Kind::Numeric(p, s) => DataType::Decimal128(p, s),
            Kind::Text | Kind::Bpchar | Kind::AsText => DataType::Utf8,
            Kind::Bytea => DataType::Binary,
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }

    /// The select-list entry reading a column of this kind.
    pub fn select(self, quoted: &str) -> String {
        match self {
            // `bpchar` and `char` arrive binary as their text; `name` too. Only the kinds read
            // as text need the cast.
            Kind::Numeric(..) | Kind::AsText => format!("{quoted}::text"),
            _ => quoted.to_string(),
        }
    }

    /// Whether filters on the column may be sent: its values compare in PostgreSQL as the
    /// values meshgate serves do. Columns served as their text form compare as their own type
    /// there, and `char(n)` ignores padding.
    pub fn pushable(self) -> bool {
        !matches!(self, Kind::AsText | Kind::Bpchar)
    }

    pub fn is_text(self) -> bool {
        matches!(self, Kind::Text)
    }

    pub fn is_integer(self) -> bool {
        matches!(self, Kind::Int2 | Kind::Int4 | Kind::Int8)
    }
}

/// How a value of an Arrow type is read from PostgreSQL, and the cast that gives it that form.
pub fn cast_for(t: &DataType) -> Option<(Kind, String)> {
    Some(match t {
        DataType::Boolean => (Kind::Bool, "boolean".into()),
        DataType::Int16 => (Kind::Int2, "int2".into()),
        DataType::Int32 => (Kind::Int4, "int4".into()),
        DataType::Int64 => (Kind::Int8, "int8".into()),
        DataType::Float32 => (Kind::Float4, "float4".into()),
        DataType::Float64 => (Kind::Float8, "float8".into()),
        DataType::Decimal128(p, s) if *s >= 0 && *s as u8 <= *p => {
            (Kind::Numeric(*p, *s), format!("numeric({p},{s})::text"))
        }
        DataType::Utf8 => (Kind::Text, "text".into()),
        DataType::Binary => (Kind::Bytea, "bytea".into()),
        DataType::Date32 => (Kind::Date, "date".into()),
        DataType::Timestamp(TimeUnit::Microsecond, None) => (Kind::Timestamp, "timestamp".into()),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => {
            (Kind::Timestamptz, "timestamptz".into())
        }
        _ => return None,
    })
}

/// Collects one column of a batch.
pub enum Builder {
    Bool(BooleanBuilder),
    Int2(Int16Builder),
    Int4(Int32Builder),
    Int8(Int64Builder),
    Float4(Float32Builder),
    Float8(Float64Builder),
    Numeric(Decimal128Builder, u8, i8),
    Text(StringBuilder),
    Bytea(BinaryBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder, Option<Arc<str>>),
}

impl Builder {
    pub fn new(kind: Kind) -> Self {
        match kind {
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            Kind::Int2 => Builder::Int2(Int16Builder::new()),
            Kind::Int4 => Builder::Int4(Int32Builder::new()),
            Kind::Int8 => Builder::Int8(Int64Builder::new()),
            Kind::Float4 => Builder::Float4(Float32Builder::new()),
            Kind::Float8 => Builder::Float8(Float64Builder::new()),
            Kind::Numeric(p, s) => Builder::Numeric(Decimal128Builder::new(), p, s),
            Kind::Text | Kind::Bpchar | Kind::AsText => Builder::Text(StringBuilder::new()),
            Kind::Bytea => Builder::Bytea(BinaryBuilder::new()),
            Kind::Date => Builder::Date(Date32Builder::new()),
            Kind::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::new(), None),
            Kind::Timestamptz => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new(), Some("UTC".into()))
            }
        }
    }

    /// Appends column `i` of `row`.
    pub fn push(&mut self, row: &Row, i: usize) -> Result<()> {
        let e = |e: tokio_postgres::Error| {
            DataFusionError::Execution(format!("reading column {}: {e}", row.columns()[i].name()))
        };
        match self {
            Builder::Bool(b) => b.append_option(row.try_get::<_, Option<bool>>(i).map_err(e)?),
            Builder::Int2(b) => b.append_option(row.try_get::<_, Option<i16>>(i).map_err(e)?),
            Builder::Int4(b) => b.append_option(row.try_get::<_, Option<i32>>(i).map_err(e)?),
            Builder::Int8(b) => b.append_option(row.try_get::<_, Option<i64>>(i).map_err(e)?),
            Builder::Float4(b) => b.append_option(row.try_get::<_, Option<f32>>(i).map_err(e)?),
            Builder::Float8(b) => b.append_option(row.try_get::<_, Option<f64>>(i).map_err(e)?),
            Builder::Numeric(b, _, s) => match row.try_get::<_, Option<&str>>(i).map_err(e)? {
                None => b.append_null(),
                Some(t) => b.append_value(decimal(t, *s).ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "column {}: numeric value {t:?} has no decimal form",
                        row.columns()[i].name()
                    ))
                })?),
            },
            Builder::Text(b) => b.append_option(row.try_get::<_, Option<&str>>(i).map_err(e)?),
            Builder::Bytea(b) => b.append_option(row.try_get::<_, Option<&[u8]>>(i).map_err(e)?),
            Builder::Date(b) => {
                let d = row.try_get::<_, Option<chrono::NaiveDate>>(i).map_err(e)?;
                b.append_option(d.map(|d| {
                    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date"))
                        .num_days() as i32
                }))
            }
            Builder::Timestamp(b, None) => {
                let t = row
                    .try_get::<_, Option<chrono::NaiveDateTime>>(i)
                    .map_err(e)?;
                b.append_option(t.map(|t| t.and_utc().timestamp_micros()))
            }
            Builder::Timestamp(b, Some(_)) => {
                let t = row
                    .try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(i)
                    .map_err(e)?;
                b.append_option(t.map(|t| t.timestamp_micros()))
            }
        }
        Ok(())
    }

    pub fn finish(&mut self) -> Result<ArrayRef> {
        Ok(match self {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Int2(b) => Arc::new(b.finish()),
            Builder::Int4(b) => Arc::new(b.finish()),
            Builder::Int8(b) => Arc::new(b.finish()),
            Builder::Float4(b) => Arc::new(b.finish()),
            Builder::Float8(b) => Arc::new(b.finish()),
            Builder::Numeric(b, p, s) => Arc::new(b.finish().with_precision_and_scale(*p, *s)?),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Bytea(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b, tz) => Arc::new(b.finish().with_timezone_opt(tz.clone())),
        })
    }
}

/// `numeric` text (`-12.50`) as an integer scaled by `10^scale`. PostgreSQL prints a
/// `numeric(p, s)` value with exactly `s` decimals; fewer are padded, `NaN` and infinities
/// (which a Decimal128 cannot hold) give `None`.
pub fn decimal(text: &str, scale: i8) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = usize::try_from(scale).ok()?;
    if fraction.len() > scale
        || whole.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut v: i128 = 0;
    let padded = fraction
        .bytes()
        .chain(std::iter::repeat_n(b'0', scale - fraction.len()));
    for b in whole.bytes().chain(padded) {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    Some(if negative { -v } else { v })
}

/// The bytes a row took on the wire: the DataRow message (tag, length, column count), each
/// column's length word and its value.
pub fn wire_size(row: &Row) -> usize {
    (0..row.len())
        .map(|i| 4 + row.try_get::<_, RawLen>(i).map_or(0, |r| r.0))
        .sum::<usize>()
        + 7
}

/// A column's value length, whatever its type; NULL is 0.
struct RawLen(usize);

impl<'a> tokio_postgres::types::FromSql<'a> for RawLen {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawLen(raw.len()))
    }

    fn from_sql_null(
        _: &tokio_postgres::types::Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawLen(0))
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_text_becomes_a_scaled_integer() {
        assert_eq!(decimal("12.50", 2), Some(1250));
        assert_eq!(decimal("-0.05", 2), Some(-5));
        assert_eq!(decimal("7", 2), Some(700));
        assert_eq!(decimal("1.5", 3), Some(1500));
        assert_eq!(decimal("NaN", 2), None);
        assert_eq!(decimal("Infinity", 2), None);
        assert_eq!(decimal("1.234", 2), None);
    }

    #[test]
    fn numeric_typmod_carries_precision_and_scale() {
        // atttypmod of numeric(15,2) is ((15 << 16) | 2) + 4.
        assert_eq!(kind("numeric", ((15 << 16) | 2) + 4), Kind::Numeric(15, 2));
        assert_eq!(kind("numeric", -1), Kind::AsText);
        assert_eq!(
            kind("timestamptz", -1).arrow(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(kind("uuid", -1), Kind::AsText);
    }
}
