//! MySQL column types as the PostgreSQL types meshgate serves, and values read from MySQL's
//! text protocol (every value arrives as its text, parsed here by the column's kind).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::error::{DataFusionError, Result as DfResult};

/// How a column is served and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int16,
    Int32,
    Int64,
    Numeric(u8, i8),
    Float32,
    Float64,
    /// Character data; `exact` when its collation compares code points with no padding rule
    /// (a `…nopad_bin` collation, or MySQL 8's `utf8mb4_0900_bin`), as PostgreSQL's "C" does.
    Text {
        exact: bool,
    },
    Binary,
    Date,
    /// `DATETIME`: a wall-clock time, PostgreSQL's `timestamp`.
    Timestamp,
    /// `TIMESTAMP`: an instant (read in UTC), PostgreSQL's `timestamptz`.
    Timestamptz,
    /// A boolean a whole subplan returns (MySQL answers 0 or 1).
    Boolean,
    /// Anything else (ENUM, SET, TIME, YEAR, BIT, JSON, DECIMAL wider than 38 digits…), read as
    /// its text form.
    AsText,
}

/// The kind of a column from `information_schema.COLUMNS`: `DATA_TYPE`, `COLUMN_TYPE`,
/// precision, scale and collation.
pub fn kind(
    data_type: &str,
    column_type: &str,
    precision: Option<u32>,
    scale: Option<u32>,
    collation: Option<&str>,
) -> Kind {
    let unsigned = column_type.to_ascii_lowercase().contains("unsigned");
    match data_type.to_ascii_lowercase().as_str() {
        // TINYINT(1) (MySQL's BOOLEAN) may hold any of -128..127: smallint keeps every value.
        "tinyint" => Kind::Int16,
        "smallint" if unsigned => Kind::Int32,
        "smallint" => Kind::Int16,
        "mediumint" => Kind::Int32,
        "int" | "integer" if unsigned => Kind::Int64,
        "int" | "integer" => Kind::Int32,
        "bigint" if unsigned => Kind::Numeric(20, 0),
        "bigint" => Kind::Int64,
        "decimal" | "numeric" => match (precision, scale) {
            (Some(p), Some(s)) if (1..=38).contains(&p) && s <= p => {
                Kind::Numeric(p as u8, s as i8)
            }
            _ => Kind::AsText,
        },
        "float" => Kind::Float32,
        "double" | "real" => Kind::Float64,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => Kind::Text {
            exact: collation.is_some_and(exact_collation),
        },
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => Kind::Binary,
        "date" => Kind::Date,
        "datetime" => Kind::Timestamp,
        "timestamp" => Kind::Timestamptz,
        _ => Kind::AsText,
    }
}

/// Collations under which `=` and `<>` on text are PostgreSQL's under "C": binary, and with no
/// PAD SPACE rule (MySQL's `_bin` collations ignore trailing spaces, the `nopad` ones do not).
fn exact_collation(c: &str) -> bool {
    let c = c.to_ascii_lowercase();
    c.ends_with("_nopad_bin") || c == "utf8mb4_0900_bin"
}

impl Kind {
    pub fn arrow(self) -> DataType {
        match self {
            Kind::Int16 => DataType::Int16,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Numeric(p, s) => DataType::Decimal128(p, s),
            Kind::Float32 => DataType::Float32,
            Kind::Float64 => DataType::Float64,
            Kind::Text { .. } | Kind::AsText => DataType::Utf8,
            Kind::Binary => DataType::Binary,
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Boolean => DataType::Boolean,
        }
    }

    /// How a scan selects the column.
    pub fn select(self, quoted: &str) -> String {
        match self {
            Kind::AsText => format!("CAST({quoted} AS CHAR)"),
            _ => quoted.to_string(),
        }
    }

    /// Whether MySQL compares, groups and orders the column's values as meshgate does, so that
    /// a whole subplan reading it may run there. Text under a case- or pad-insensitive
    /// collation does not; neither do values served as text (ENUMs order by position…).
    pub fn answered_alike(self) -> bool {
        !matches!(self, Kind::AsText | Kind::Text { exact: false })
    }
}

/// How a result column of an Arrow type is read from a whole subplan's statement.
pub fn kind_for(t: &DataType) -> Option<Kind> {
    Some(match t {
        DataType::Int16 => Kind::Int16,
        DataType::Int32 => Kind::Int32,
        DataType::Int64 => Kind::Int64,
        DataType::Decimal128(p, s) if *s >= 0 && *s as u8 <= *p => Kind::Numeric(*p, *s),
        DataType::Float32 => Kind::Float32,
        DataType::Float64 => Kind::Float64,
        DataType::Utf8 => Kind::Text { exact: true },
        DataType::Binary => Kind::Binary,
        DataType::Date32 => Kind::Date,
        DataType::Boolean => Kind::Boolean,
        DataType::Timestamp(TimeUnit::Microsecond, None) => Kind::Timestamp,
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => {
            Kind::Timestamptz
        }
        _ => return None,
    })
}

/// `12.5`, `-0.07`, `3` as a decimal of scale `scale`; None when it is not one, or has more
/// fractional digits than the scale keeps (MySQL returns a DECIMAL(p,s) with s digits).
pub fn parse_decimal(text: &str, scale: i8) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let fraction = fraction.trim_end_matches('0');
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > scale.max(0) as usize
    {
        return None;
    }
    let mut v: i128 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    for _ in fraction.len()..scale.max(0) as usize {
        v = v.checked_mul(10)?;
    }
    Some(if negative { -v } else { v })
}

fn epoch() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

/// Builds one column of a batch from the text MySQL sends.
pub enum Builder {
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Numeric(Decimal128Builder, u8, i8),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Text(StringBuilder),
    Binary(BinaryBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder, bool),
    Boolean(BooleanBuilder),
}

impl Builder {
    pub fn new(kind: Kind) -> Self {
        match kind {
            Kind::Int16 => Builder::Int16(Int16Builder::new()),
            Kind::Int32 => Builder::Int32(Int32Builder::new()),
            Kind::Int64 => Builder::Int64(Int64Builder::new()),
            Kind::Numeric(p, s) => Builder::Numeric(Decimal128Builder::new(), p, s),
            Kind::Float32 => Builder::Float32(Float32Builder::new()),
            Kind::Float64 => Builder::Float64(Float64Builder::new()),
            Kind::Text { .. } | Kind::AsText => Builder::Text(StringBuilder::new()),
            Kind::Binary => Builder::Binary(BinaryBuilder::new()),
            Kind::Date => Builder::Date(Date32Builder::new()),
            Kind::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::new(), false),
            Kind::Timestamptz => Builder::Timestamp(TimestampMicrosecondBuilder::new(), true),
            Kind::Boolean => Builder::Boolean(BooleanBuilder::new()),
        }
    }

    /// Appends one value (None is NULL); `column` names it in errors.
    pub fn push(&mut self, value: Option<&[u8]>, column: &str) -> DfResult<()> {
        let wrong = |what: &str| {
            DataFusionError::Execution(format!(
                "column {column}: the source sent a value that is not {what}"
            ))
        };
        let Some(bytes) = value else {
            match self {
                Builder::Int16(b) => b.append_null(),
                Builder::Int32(b) => b.append_null(),
                Builder::Int64(b) => b.append_null(),
                Builder::Numeric(b, ..) => b.append_null(),
                Builder::Float32(b) => b.append_null(),
                Builder::Float64(b) => b.append_null(),
                Builder::Text(b) => b.append_null(),
                Builder::Binary(b) => b.append_null(),
                Builder::Date(b) => b.append_null(),
                Builder::Timestamp(b, _) => b.append_null(),
                Builder::Boolean(b) => b.append_null(),
            }
            return Ok(());
        };
        if let Builder::Binary(b) = self {
            b.append_value(bytes);
            return Ok(());
        }
        let text = std::str::from_utf8(bytes).map_err(|_| wrong("UTF-8 text"))?;
        match self {
            Builder::Int16(b) => b.append_value(text.parse().map_err(|_| wrong("a smallint"))?),
            Builder::Int32(b) => b.append_value(text.parse().map_err(|_| wrong("an integer"))?),
            Builder::Int64(b) => b.append_value(text.parse().map_err(|_| wrong("a bigint"))?),
            Builder::Numeric(b, p, s) => {
                let v = parse_decimal(text, *s)
                    .filter(|v| v.unsigned_abs() < 10u128.pow(u32::from(*p)))
                    .ok_or_else(|| wrong(&format!("a numeric({p},{s})")))?;
                b.append_value(v)
            }
            Builder::Float32(b) => b.append_value(text.parse().map_err(|_| wrong("a real"))?),
            Builder::Float64(b) => {
                b.append_value(text.parse().map_err(|_| wrong("a double precision"))?)
            }
            Builder::Text(b) => b.append_value(text),
            Builder::Binary(_) => unreachable!("appended above"),
            Builder::Date(b) => {
                let d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map_err(|_| wrong("a date"))?;
                b.append_value((d - epoch()).num_days() as i32)
            }
            Builder::Timestamp(b, _) => {
                let t = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                    .map_err(|_| wrong("a timestamp"))?;
                b.append_value(t.and_utc().timestamp_micros())
            }
            Builder::Boolean(b) => b.append_value(match text {
                "0" => false,
                "1" => true,
                _ => return Err(wrong("a boolean")),
            }),
        }
        Ok(())
    }

    pub fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int16(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Numeric(b, p, s) => Arc::new(
                b.finish()
                    .with_precision_and_scale(*p, *s)
                    .expect("precision and scale checked when the kind was made"),
            ),
            Builder::Float32(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b, tz) => {
                let a = b.finish();
                Arc::new(if *tz { a.with_timezone("UTC") } else { a })
            }
            Builder::Boolean(b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_postgresql_types() {
        let k = |t: &str, ct: &str| kind(t, ct, None, None, None);
        assert_eq!(k("tinyint", "tinyint(1)"), Kind::Int16);
        assert_eq!(k("int", "int(10) unsigned"), Kind::Int64);
        assert_eq!(k("bigint", "bigint(20) unsigned"), Kind::Numeric(20, 0));
        assert_eq!(
            kind("decimal", "decimal(12,2)", Some(12), Some(2), None),
            Kind::Numeric(12, 2)
        );
        assert_eq!(
            kind("decimal", "decimal(65,2)", Some(65), Some(2), None),
            Kind::AsText
        );
        assert_eq!(k("datetime", "datetime"), Kind::Timestamp);
        assert_eq!(k("timestamp", "timestamp"), Kind::Timestamptz);
        assert_eq!(k("enum", "enum('a','b')"), Kind::AsText);
        let text = |c: &str| kind("varchar", "varchar(9)", None, None, Some(c));
        assert_eq!(text("utf8mb4_general_ci"), Kind::Text { exact: false });
        assert_eq!(text("utf8mb4_bin"), Kind::Text { exact: false });
        assert_eq!(text("utf8mb4_nopad_bin"), Kind::Text { exact: true });
    }

    #[test]
    fn decimals_parse_at_their_scale() {
        assert_eq!(parse_decimal("12.5", 2), Some(1250));
        assert_eq!(parse_decimal("-0.07", 2), Some(-7));
        assert_eq!(parse_decimal("3", 0), Some(3));
        assert_eq!(parse_decimal("3.10", 1), Some(31));
        assert_eq!(parse_decimal("3.14", 1), None);
        assert_eq!(parse_decimal("1e3", 0), None);
        assert_eq!(parse_decimal("", 0), None);
    }
}
