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
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, Float32Type, Float64Type, IntervalDayTimeType,
    IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType, Time32MillisecondType,
    Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};

/// The column as PostgreSQL's text, or None when the encoder's own text is already right.
/// Timestamps with a zone (timestamptz) print in `zone`, the session's TimeZone, whatever zone
/// the array carries (a source may hand them in UTC): PostgreSQL prints every timestamptz in
/// the session's zone. Without `zone`, in the array's.
pub fn postgres_text(column: &ArrayRef, zone: Option<&Tz>) -> Option<ArrayRef> {
    let text: StringArray = match column.data_type() {
        // Dates and numerics print right from the encoder too, but slowly (a DateStyle parsed
        // and a decimal converted per value): these are most of the cost of streaming a wide
        // fact table as text, so they are written here straight into one buffer.
        DataType::Date32 => dates(column.as_primitive::<Date32Type>()),
        DataType::Decimal128(_, scale) if *scale >= 0 => {
            numerics(column.as_primitive::<Decimal128Type>(), *scale as usize)
        }
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
                    let own: Tz;
                    let tz = match zone {
                        Some(z) => z,
                        None => {
                            own = tz.parse().ok()?;
                            &own
                        }
                    };
                    micros
                        .iter()
                        .map(|v| v.map(|us| timestamp(us, Some(tz))))
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

/// Formats every value of `a` with `write` into one string array (no string per value).
fn written<T, F>(
    a: &datafusion::arrow::array::PrimitiveArray<T>,
    width: usize,
    write: F,
) -> StringArray
where
    T: datafusion::arrow::datatypes::ArrowPrimitiveType,
    F: Fn(&mut String, T::Native),
{
    let mut out = StringBuilder::with_capacity(a.len(), a.len() * width);
    let mut buf = String::with_capacity(48);
    for v in a.iter() {
        match v {
            Some(v) => {
                buf.clear();
                write(&mut buf, v);
                out.append_value(&buf);
            }
            None => out.append_null(),
        }
    }
    out.finish()
}

fn dates(a: &datafusion::arrow::array::PrimitiveArray<Date32Type>) -> StringArray {
    written(a, 10, |out, days| write_date(out, days as i64))
}

fn numerics(
    a: &datafusion::arrow::array::PrimitiveArray<Decimal128Type>,
    scale: usize,
) -> StringArray {
    written(a, 12, |out, v| write_numeric(out, v, scale))
}

/// `date` in the ISO DateStyle: `2024-03-05`; years before 1 as PostgreSQL counts them
/// (no year 0: day -719528 from 1970 is `0001-12-31 BC`).
pub fn write_date(out: &mut String, days_since_1970: i64) {
    let (year, month, day) = civil_from_days(days_since_1970);
    let bc = year <= 0;
    let shown = if bc { 1 - year } else { year };
    push_padded(out, shown as u64, 4);
    out.push('-');
    push_padded(out, month as u64, 2);
    out.push('-');
    push_padded(out, day as u64, 2);
    if bc {
        out.push_str(" BC");
    }
}

/// Proleptic Gregorian (year, month, day) of a day count from 1970-01-01, in whole 400-year
/// eras of 146,097 days (the calendar repeats exactly after each), the year starting in March
/// inside an era so that leap days fall at its end.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `v` with at least `width` digits, zeros in front.
fn push_padded(out: &mut String, v: u64, width: usize) {
    let mut digits = [0u8; 20];
    let n = decimal_digits(v, &mut digits);
    for _ in n..width {
        out.push('0');
    }
    out.push_str(ascii(&digits[digits.len() - n..]));
}

/// Writes `v`'s decimal digits at the end of `buf`, two at a time (a division per pair, not per
/// digit: this runs for every date and numeric a text result carries); how many it wrote.
fn decimal_digits(mut v: u64, buf: &mut [u8; 20]) -> usize {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";
    let mut n = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        n -= 2;
        buf[n..n + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        n -= 2;
        buf[n..n + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        n -= 1;
        buf[n] = b'0' + v as u8;
    }
    buf.len() - n
}

fn ascii(digits: &[u8]) -> &str {
    std::str::from_utf8(digits).expect("ASCII digits")
}

/// A numeric of `scale` decimals as PostgreSQL prints it at that scale: `-0.50`, `12.00`.
pub fn write_numeric(out: &mut String, v: i128, scale: usize) {
    let abs = v.unsigned_abs();
    let mut wide = [0u8; 40];
    let mut narrow = [0u8; 20];
    let digits: &[u8] = match u64::try_from(abs) {
        Ok(small) => {
            let n = decimal_digits(small, &mut narrow);
            &narrow[narrow.len() - n..]
        }
        Err(_) => {
            // Beyond 64 bits (rare): digit by digit in 128-bit arithmetic.
            let mut n = wide.len();
            let mut rest = abs;
            while rest > 0 {
                n -= 1;
                wide[n] = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
            &wide[n..]
        }
    };
    if v < 0 {
        out.push('-');
    }
    // At least one digit before the point.
    if digits.len() <= scale {
        out.push('0');
        if scale > 0 {
            out.push('.');
        }
        for _ in digits.len()..scale {
            out.push('0');
        }
        out.push_str(ascii(digits));
        return;
    }
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    out.push_str(ascii(whole));
    if scale > 0 {
        out.push('.');
        out.push_str(ascii(fraction));
    }
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
    fn dates_print_like_postgres() {
        let shown = |days: i64| {
            let mut s = String::new();
            write_date(&mut s, days);
            s
        };
        assert_eq!(shown(0), "1970-01-01");
        assert_eq!(shown(19_787), "2024-03-05");
        assert_eq!(shown(11_016), "2000-02-29");
        assert_eq!(shown(-719_162), "0001-01-01");
        assert_eq!(shown(-719_163), "0001-12-31 BC");
        assert_eq!(shown(-735_000), "0044-08-22 BC");
        assert_eq!(shown(2_932_896), "9999-12-31");
        assert_eq!(shown(2_932_897), "10000-01-01");
        // Every day of ±2,000 years agrees with chrono's calendar (years before 1 shifted by
        // one, as PostgreSQL counts them).
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for days in (-1_450_000i64..730_000).step_by(13) {
            let d = epoch + chrono::Duration::days(days);
            let want = if d.year() <= 0 {
                format!("{:04}-{:02}-{:02} BC", 1 - d.year(), d.month(), d.day())
            } else {
                format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
            };
            assert_eq!(shown(days), want, "day {days}");
        }
    }

    #[test]
    fn numerics_print_at_their_scale() {
        let shown = |v: i128, scale: usize| {
            let mut s = String::new();
            write_numeric(&mut s, v, scale);
            s
        };
        assert_eq!(shown(1250, 2), "12.50");
        assert_eq!(shown(-50, 2), "-0.50");
        assert_eq!(shown(0, 3), "0.000");
        assert_eq!(shown(-7, 0), "-7");
        assert_eq!(shown(5, 4), "0.0005");
        assert_eq!(shown(i128::MAX, 0), i128::MAX.to_string());
        assert_eq!(
            shown(-(10i128.pow(37)), 38),
            "-0.10000000000000000000000000000000000000"
        );
        assert_eq!(shown(123, 3), "0.123");
        assert_eq!(shown(-1234, 3), "-1.234");
        assert_eq!(shown(10i128.pow(20) + 5, 2), "1000000000000000000.05");
        for (v, scale) in [
            (123_456_789i128, 3usize),
            (-1, 5),
            (99, 2),
            (100, 2),
            (0, 0),
        ] {
            assert_eq!(shown(v, scale), numeric(v, scale as i8, scale as i32));
        }
    }

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
        let out = postgres_text(&ts, None).expect("replaced");
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "1970-01-01 00:00:00+00");
        assert!(out.is_null(1));
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let out = postgres_text(&ts, Some(&kolkata)).expect("replaced");
        assert_eq!(out.as_string::<i32>().value(0), "1970-01-01 05:30:00+05:30");
        let naive: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![Some(0)]));
        let out = postgres_text(&naive, Some(&kolkata)).expect("replaced");
        assert_eq!(
            out.as_string::<i32>().value(0),
            "1970-01-01 00:00:00",
            "a timestamp without zone is not shifted"
        );
        let f: ArrayRef = Arc::new(Float64Array::from(vec![1e20]));
        assert_eq!(
            postgres_text(&f, None)
                .expect("replaced")
                .as_string::<i32>()
                .value(0),
            "1e+20"
        );
        let s: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        assert!(postgres_text(&s, None).is_none());
    }
}
