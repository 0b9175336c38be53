//! Values in PostgreSQL's text output format where the Arrow encoder's differs: floating point
//! (shortest exact digits, exponent form outside PostgreSQL's range, `Infinity`), timestamps
//! (no `.000000`, `BC` years, the zone as `+00` / `+05:30`), times and intervals
//! (`1 year 2 mons 3 days 04:05:06`). Drivers parse these strings: a timestamp printed
//! `2024-01-01 00:00:00.000000` round-trips, but every text comparison, `md5()` surrogate key
//! and CSV diff against PostgreSQL differs.
//!
//! Numerics print with a display scale per value where the result carries one (quotients and
//! averages, see `wire::encode`).
//!
//! Used twice: the wire replaces text-format result columns by these strings before the
//! encoder sees them (binary columns keep their types), and casts to text print the same way
//! (see `semantics`).

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, Offset, TimeZone, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{
    DataType, DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
    DurationSecondType, Float32Type, Float64Type, IntervalDayTimeType, IntervalMonthDayNanoType,
    IntervalUnit, IntervalYearMonthType, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};

/// The column as PostgreSQL's text, or None when the encoder's own text is already right.
pub fn postgres_text(column: &ArrayRef) -> Option<ArrayRef> {
    let text: StringArray = match column.data_type() {
        DataType::Float64 => map(column.as_primitive::<Float64Type>(), float8),
        DataType::Float32 => map(column.as_primitive::<Float32Type>(), float4),
        DataType::Timestamp(unit, tz) => {
            let micros = timestamp_micros(column, unit);
            match tz {
                None => micros
                    .iter()
                    .map(|v| v.map(|us| timestamp(us, None::<&Tz>)))
                    .collect(),
                Some(tz) => {
                    let tz: Tz = tz.parse().ok()?;
                    micros
                        .iter()
                        .map(|v| v.map(|us| timestamp(us, Some(&tz))))
                        .collect()
                }
            }
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            map(column.as_primitive::<Time64MicrosecondType>(), time_of_day)
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            map(column.as_primitive::<Time64NanosecondType>(), |ns| {
                time_of_day(ns / 1000)
            })
        }
        DataType::Time32(TimeUnit::Millisecond) => {
            map(column.as_primitive::<Time32MillisecondType>(), |ms| {
                time_of_day(ms as i64 * 1000)
            })
        }
        DataType::Time32(TimeUnit::Second) => map(column.as_primitive::<Time32SecondType>(), |s| {
            time_of_day(s as i64 * 1_000_000)
        }),
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            map(column.as_primitive::<IntervalMonthDayNanoType>(), |v| {
                interval(v.months, v.days, v.nanoseconds / 1000)
            })
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            map(column.as_primitive::<IntervalDayTimeType>(), |v| {
                interval(0, v.days, v.milliseconds as i64 * 1000)
            })
        }
        DataType::Interval(IntervalUnit::YearMonth) => {
            map(column.as_primitive::<IntervalYearMonthType>(), |m| {
                interval(m, 0, 0)
            })
        }
        // timestamp − timestamp: PostgreSQL's interval carries whole days separately.
        DataType::Duration(unit) => {
            let micros: Vec<Option<i64>> = match unit {
                TimeUnit::Second => collect(column.as_primitive::<DurationSecondType>(), |s| {
                    s.saturating_mul(1_000_000)
                }),
                TimeUnit::Millisecond => {
                    collect(column.as_primitive::<DurationMillisecondType>(), |s| {
                        s.saturating_mul(1000)
                    })
                }
                TimeUnit::Microsecond => {
                    collect(column.as_primitive::<DurationMicrosecondType>(), |s| s)
                }
                TimeUnit::Nanosecond => {
                    collect(column.as_primitive::<DurationNanosecondType>(), |s| {
                        s / 1000
                    })
                }
            };
            micros
                .into_iter()
                .map(|v| v.map(|us| interval(0, (us / 86_400_000_000) as i32, us % 86_400_000_000)))
                .collect()
        }
        _ => return None,
    };
    Some(Arc::new(text))
}

fn map<T, F>(a: &datafusion::arrow::array::PrimitiveArray<T>, f: F) -> StringArray
where
    T: datafusion::arrow::datatypes::ArrowPrimitiveType,
    F: Fn(T::Native) -> String,
{
    a.iter().map(|v| v.map(&f)).collect()
}

fn collect<T, F>(a: &datafusion::arrow::array::PrimitiveArray<T>, f: F) -> Vec<Option<i64>>
where
    T: datafusion::arrow::datatypes::ArrowPrimitiveType,
    F: Fn(T::Native) -> i64,
{
    a.iter().map(|v| v.map(&f)).collect()
}

fn timestamp_micros(column: &ArrayRef, unit: &TimeUnit) -> Vec<Option<i64>> {
    match unit {
        TimeUnit::Second => collect(column.as_primitive::<TimestampSecondType>(), |s| {
            s.saturating_mul(1_000_000)
        }),
        TimeUnit::Millisecond => collect(column.as_primitive::<TimestampMillisecondType>(), |s| {
            s.saturating_mul(1000)
        }),
        TimeUnit::Microsecond => collect(column.as_primitive::<TimestampMicrosecondType>(), |s| s),
        TimeUnit::Nanosecond => collect(column.as_primitive::<TimestampNanosecondType>(), |s| {
            s.div_euclid(1000)
        }),
    }
}

/// `float8` as PostgreSQL prints it (extra_float_digits = 1, its default since 12): the
/// shortest digits that read back exactly, in exponent form below 1e-4 and from 1e15.
/// A numeric of `scale` (an Arrow decimal's raw value) printed with `places` decimals, its
/// display scale. The value was rounded at `places` where that is fewer, so the digits dropped
/// are zeros.
pub fn numeric(v: i128, scale: i8, places: i32) -> String {
    let scale = scale.max(0) as usize;
    let places = places.clamp(0, 1000) as usize;
    let mut digits = v.unsigned_abs().to_string();
    if digits.len() <= scale {
        digits = format!("{}{digits}", "0".repeat(scale + 1 - digits.len()));
    }
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    let mut fraction = fraction.to_string();
    if places < scale {
        fraction.truncate(places);
    } else {
        fraction.push_str(&"0".repeat(places - scale));
    }
    let sign = if v < 0 { "-" } else { "" };
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

pub fn float8(v: f64) -> String {
    float(v, 15, format!("{v:e}"), || format!("{v}"))
}

/// `float4`: the same with float4's 6-digit range.
pub fn float4(v: f32) -> String {
    float(v as f64, 6, format!("{v:e}"), || format!("{v}"))
}

fn float(v: f64, digits: i32, scientific: String, fixed: impl Fn() -> String) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return fixed();
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..digits).contains(&exponent) {
        return fixed();
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

/// `2024-01-02 03:04:05.5`, `0044-03-15 00:00:00 BC`, `… +05:30` with a zone: the instant in
/// that zone with its offset, as PostgreSQL prints a timestamptz in the session's TimeZone.
fn timestamp(micros: i64, tz: Option<&Tz>) -> String {
    let Some(utc) = DateTime::from_timestamp_micros(micros) else {
        return micros.to_string();
    };
    match tz {
        None => wall_clock(&utc.naive_utc(), None),
        Some(tz) => {
            let local = tz.from_utc_datetime(&utc.naive_utc());
            let offset = local.offset().fix().local_minus_utc();
            wall_clock(&local.naive_local(), Some(offset))
        }
    }
}

fn wall_clock(t: &NaiveDateTime, offset_seconds: Option<i32>) -> String {
    let (year, bc) = if t.year() <= 0 {
        (1 - t.year(), true)
    } else {
        (t.year(), false)
    };
    let mut s = format!(
        "{year:04}-{:02}-{:02} {}",
        t.month(),
        t.day(),
        time_of_day(
            t.num_seconds_from_midnight() as i64 * 1_000_000 + (t.nanosecond() / 1000) as i64
        )
    );
    if let Some(off) = offset_seconds {
        let sign = if off < 0 { '-' } else { '+' };
        let off = off.abs();
        s.push_str(&format!("{sign}{:02}", off / 3600));
        if off % 3600 != 0 {
            s.push_str(&format!(":{:02}", off % 3600 / 60));
            if off % 60 != 0 {
                s.push_str(&format!(":{:02}", off % 60));
            }
        }
    }
    if bc {
        s.push_str(" BC");
    }
    s
}

/// `HH:MM:SS` with the fraction only when there is one, trailing zeros cut.
fn time_of_day(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let mut s = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    );
    push_fraction(&mut s, fraction);
    s
}

fn push_fraction(s: &mut String, micros: i64) {
    if micros != 0 {
        let f = format!(".{micros:06}");
        s.push_str(f.trim_end_matches('0'));
    }
}

/// An interval in PostgreSQL's default `postgres` style: each nonzero field with its own sign
/// (`-1 years +2 mons`: a `+` once a negative field came before), then the time as
/// `[-]HH:MM:SS[.ffffff]`; `00:00:00` when everything is zero.
pub fn interval(months: i32, days: i32, micros: i64) -> String {
    let mut s = String::new();
    let mut before_negative = false;
    for (value, unit) in [(months / 12, "year"), (months % 12, "mon"), (days, "day")] {
        if value == 0 {
            continue;
        }
        if !s.is_empty() {
            s.push(' ');
        }
        if before_negative && value > 0 {
            s.push('+');
        }
        s.push_str(&format!("{value} {unit}"));
        if value != 1 {
            s.push('s');
        }
        before_negative = value < 0;
    }
    if s.is_empty() || micros != 0 {
        if !s.is_empty() {
            s.push(' ');
        }
        if micros < 0 {
            s.push('-');
        } else if before_negative {
            s.push('+');
        }
        let abs = micros.unsigned_abs();
        let seconds = abs / 1_000_000;
        s.push_str(&format!(
            "{:02}:{:02}:{:02}",
            seconds / 3600,
            seconds % 3600 / 60,
            seconds % 60
        ));
        push_fraction(&mut s, (abs % 1_000_000) as i64);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, TimestampMicrosecondArray};

    // Expected strings are what PostgreSQL 15 prints for the same values.
    #[test]
    fn floats_print_as_postgres() {
        assert_eq!(float8(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(float8(1e15), "1e+15");
        assert_eq!(float8(123456789012345.0), "123456789012345");
        assert_eq!(float8(0.0001), "0.0001");
        assert_eq!(float8(0.00001), "1e-05");
        assert_eq!(float8(1.5e300), "1.5e+300");
        assert_eq!(float8(-2.5), "-2.5");
        assert_eq!(float8(100.0), "100");
        assert_eq!(float8(f64::INFINITY), "Infinity");
        assert_eq!(float8(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(float8(f64::NAN), "NaN");
        assert_eq!(float8(-0.0), "-0");
        assert_eq!(float4(1.1), "1.1");
        assert_eq!(float4(1234567.0), "1.234567e+06");
        assert_eq!(float4(123456.0), "123456");
    }

    #[test]
    fn timestamps_print_as_postgres() {
        // 2024-01-02 03:04:05.5 UTC
        let us = 1_704_164_645_500_000;
        assert_eq!(timestamp(us, None), "2024-01-02 03:04:05.5");
        assert_eq!(timestamp(us - 500_000, None), "2024-01-02 03:04:05");
        let utc: Tz = "+00:00".parse().unwrap();
        assert_eq!(timestamp(us, Some(&utc)), "2024-01-02 03:04:05.5+00");
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        assert_eq!(timestamp(us, Some(&kolkata)), "2024-01-02 08:34:05.5+05:30");
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(timestamp(us, Some(&ny)), "2024-01-01 22:04:05.5-05");
        // 0044-03-15 BC is year -43 in the proleptic calendar chrono uses.
        let bc = chrono::NaiveDate::from_ymd_opt(-43, 3, 15)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        assert_eq!(timestamp(bc, None), "0044-03-15 00:00:00 BC");
    }

    #[test]
    fn times_and_intervals_print_as_postgres() {
        assert_eq!(time_of_day(3_723_000_000), "01:02:03");
        assert_eq!(time_of_day(3_723_250_000), "01:02:03.25");
        assert_eq!(
            interval(14, 3, 14_706_000_000),
            "1 year 2 mons 3 days 04:05:06"
        );
        assert_eq!(interval(0, 0, 0), "00:00:00");
        assert_eq!(interval(0, 1, 0), "1 day");
        assert_eq!(interval(-12, 0, 0), "-1 years");
        assert_eq!(interval(-1, 2, 0), "-1 mons +2 days");
        assert_eq!(interval(0, -1, 3_600_000_000), "-1 days +01:00:00");
        assert_eq!(interval(0, 0, -1_500_000), "-00:00:01.5");
        assert_eq!(interval(25, 0, 0), "2 years 1 mon");
    }

    #[test]
    fn only_types_with_other_text_are_replaced() {
        let ts: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(vec![Some(0), None]).with_timezone("UTC"));
        let out = postgres_text(&ts).expect("replaced");
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "1970-01-01 00:00:00+00");
        assert!(out.is_null(1));
        let f: ArrayRef = Arc::new(Float64Array::from(vec![1e20]));
        assert_eq!(
            postgres_text(&f)
                .expect("replaced")
                .as_string::<i32>()
                .value(0),
            "1e+20"
        );
        let s: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        assert!(postgres_text(&s).is_none());
    }
}
