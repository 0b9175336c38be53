//! The functions as a session plans and runs them: through `install`, from SQL text.
//! Expected values and types from PostgreSQL 15.

use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;

use crate::{install, pg_type_name, FunctionError};

fn context() -> SessionContext {
    let mut config = datafusion::prelude::SessionConfig::new();
    config.options_mut().sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
    let state = install(
        SessionStateBuilder::new()
            .with_config(config)
            .with_default_features(),
    )
    .build();
    SessionContext::new_with_state(state)
}

/// The first value of the first column, as text, and its PostgreSQL type name.
async fn typed(sql: &str) -> (String, String) {
    let batches = context()
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let col = batches[0].column(0);
    (
        datafusion::arrow::util::display::array_value_to_string(col, 0).unwrap(),
        pg_type_name(col.data_type()),
    )
}

async fn value(sql: &str) -> String {
    typed(sql).await.0
}

async fn sqlstate(sql: &str) -> &'static str {
    let r = match context().sql(sql).await {
        Ok(df) => df.collect().await.map(|_| ()),
        Err(e) => Err(e),
    };
    let e = r.expect_err(sql);
    FunctionError::find(&e).map_or("none", |f| f.sqlstate)
}

#[tokio::test]
async fn installed_functions_replace_datafusions() {
    assert_eq!(
        value("select to_char(date '2024-03-05', 'YYYY-MM')").await,
        "2024-03"
    );
    assert_eq!(
        typed("select to_date('1995-01-01','YYYY-MM-DD')").await,
        ("1995-01-01".into(), "date".into())
    );
    assert_eq!(value("select pg_typeof(1.5)").await, "double precision");
    assert_eq!(value("select pg_typeof(1)").await, "bigint");
    assert_eq!(value("select pg_typeof('a')").await, "text");
}

#[tokio::test]
async fn to_char_of_columns_and_timestamptz() {
    assert_eq!(
        value("select to_char(d, 'FMDay DDth') from (values (date '2024-03-05'), (date '2024-03-06')) t(d) order by d desc").await,
        "Wednesday 06th"
    );
    assert_eq!(
        value("select to_char(to_timestamp('2024-03-05 14:07:09', 'YYYY-MM-DD HH24:MI:SS'), 'YYYY-MM-DD HH24:MI:SS TZ')").await,
        "2024-03-05 14:07:09 UTC"
    );
    assert_eq!(
        value("select to_char(1234.5, 'FM9G999D00')").await,
        "1,234.50"
    );
    assert_eq!(
        value("select to_char(cast(1.005 as decimal(10,3)), '9.99')").await,
        " 1.01"
    );
    assert_eq!(
        value("select to_number('12,454.8-', '99G999D9S')").await,
        "-12454.8"
    );
}

#[tokio::test]
async fn to_timestamp_forms() {
    assert_eq!(
        typed("select to_timestamp('2024-03-05 02:07:09 PM', 'YYYY-MM-DD HH:MI:SS AM')").await,
        (
            "2024-03-05T14:07:09Z".into(),
            "timestamp with time zone".into()
        )
    );
    assert_eq!(
        value("select to_timestamp(1709647629.5)").await,
        "2024-03-05T14:07:09.500Z"
    );
    assert_eq!(
        sqlstate("select to_date('2024-13-01','YYYY-MM-DD')").await,
        "22008"
    );
    assert_eq!(sqlstate("select to_date('xx','YYYY')").await, "22007");
}

#[tokio::test]
async fn extract_is_numeric_with_postgres_scales() {
    let ts = "timestamp '2024-03-05 14:07:09.123456'";
    for (field, want) in [
        ("century", "21"),
        ("day", "5"),
        ("decade", "202"),
        ("dow", "2"),
        ("doy", "65"),
        ("epoch", "1709647629.123456"),
        ("hour", "14"),
        ("isodow", "2"),
        ("isoyear", "2024"),
        ("julian", "2460375.58830004000000000000"),
        ("microseconds", "9123456"),
        ("millennium", "3"),
        ("milliseconds", "9123.456"),
        ("minute", "7"),
        ("month", "3"),
        ("quarter", "1"),
        ("second", "9.123456"),
        ("week", "10"),
        ("year", "2024"),
    ] {
        let (v, t) = typed(&format!("select extract({field} from {ts})")).await;
        assert_eq!((v.as_str(), t.as_str()), (want, "numeric"), "{field}");
    }
    for (sql, want) in [
        ("extract(epoch from date '2024-03-05')", "1709596800"),
        ("extract(isodow from date '2024-03-03')", "7"),
        ("extract(dow from date '2024-03-03')", "0"),
        ("extract(week from date '2024-12-30')", "1"),
        ("extract(isoyear from date '2024-12-30')", "2025"),
        ("extract(century from date '2000-12-31')", "20"),
        ("extract(millennium from date '2000-12-31')", "2"),
        ("extract(decade from date '2009-12-31')", "200"),
        (
            "extract(epoch from timestamptz '2024-03-05 14:07:09.5+00')",
            "1709647629.500000",
        ),
    ] {
        assert_eq!(value(&format!("select {sql}")).await, want, "{sql}");
    }
}

#[tokio::test]
async fn extract_of_intervals() {
    for (sql, want) in [
        (
            "extract(epoch from interval '1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds')",
            "37015506.500000",
        ),
        ("extract(day from interval '40 days')", "40"),
        ("extract(year from interval '14 months')", "1"),
        ("extract(month from interval '14 months')", "2"),
        ("extract(second from interval '90.5 seconds')", "30.500000"),
    ] {
        assert_eq!(value(&format!("select {sql}")).await, want, "{sql}");
    }
}

#[tokio::test]
async fn date_part_is_double() {
    assert_eq!(
        typed("select date_part('isodow', date '2024-03-03')").await,
        ("7.0".into(), "double precision".into())
    );
    assert_eq!(
        value("select date_part('years', timestamp '2024-03-05')").await,
        "2024.0"
    );
    assert_eq!(
        value("select date_part('epoch', interval '1 day')").await,
        "86400.0"
    );
}

#[tokio::test]
async fn extract_errors() {
    assert_eq!(
        sqlstate("select extract(hour from date '2024-03-05')").await,
        "0A000"
    );
    assert_eq!(
        sqlstate("select extract(foo from timestamp '2024-03-05')").await,
        "22023"
    );
    assert_eq!(
        sqlstate("select extract(timezone from timestamp '2024-03-05')").await,
        "0A000"
    );
}

#[tokio::test]
async fn date_trunc_units() {
    let t = "timestamp '2024-05-05 14:07:09.123456'";
    for (unit, want) in [
        ("week", "2024-04-29T00:00:00"),
        ("quarter", "2024-04-01T00:00:00"),
        ("decade", "2020-01-01T00:00:00"),
        ("century", "2001-01-01T00:00:00"),
        ("millennium", "2001-01-01T00:00:00"),
        ("milliseconds", "2024-05-05T14:07:09.123"),
        ("microseconds", "2024-05-05T14:07:09.123456"),
        ("hour", "2024-05-05T14:00:00"),
    ] {
        assert_eq!(
            value(&format!("select date_trunc('{unit}', {t})")).await,
            want,
            "{unit}"
        );
    }
    assert_eq!(
        typed("select date_trunc('month', date '2024-03-05')").await,
        (
            "2024-03-01T00:00:00Z".into(),
            "timestamp with time zone".into()
        )
    );
    assert_eq!(
        sqlstate("select date_trunc('foo', timestamp '2024-03-05')").await,
        "22023"
    );
}

#[tokio::test]
async fn math_results() {
    // meshgate reads 2.5 as double precision; PostgreSQL as numeric: the value is the same.
    for (sql, want) in [
        ("round(cast(2.5 as decimal(2,1)))", "3"),
        ("round(cast(-2.5 as decimal(2,1)))", "-3"),
        ("round(2.5)", "2.0"),
        ("round(-2.5)", "-2.0"),
        ("round(3.5)", "4.0"),
        ("round(1.005, 2)", "1.01"),
        ("round(1234.5678, -2)", "1200.0"),
        ("trunc(-1.9)", "-1.0"),
        ("trunc(1.239, 2)", "1.23"),
        ("round(cast(1.005 as decimal(10,3)), 2)", "1.01"),
        ("round(cast(-1234.5678 as decimal(10,4)), -2)", "-1200"),
        ("sign(-3.2)", "-1.0"),
        ("mod(-7, 3)", "-1"),
        ("div(-7, 2)", "-3"),
        ("gcd(12, 18)", "6"),
        ("lcm(4, 6)", "12"),
        ("factorial(5)", "120"),
        ("width_bucket(5.35, 0.024, 10.06, 5)", "3"),
        ("cbrt(8)", "2.0"),
        ("power(2, 10)", "1024.0"),
        ("2 ^ 10", "1024.0"),
        ("ceiling(1.2)", "2.0"),
        ("log(100)", "2.0"),
        ("log(2, 8)", "3.0000000000000000"),
        ("scale(1.23)", "2"),
    ] {
        assert_eq!(value(&format!("select {sql}")).await, want, "{sql}");
    }
    assert_eq!(typed("select 2 ^ 10").await.1, "double precision");
    assert_eq!(
        typed("select power(cast(2.0 as decimal(2,1)), 3)").await,
        ("8.0000000000000000".into(), "numeric".into())
    );
    assert_eq!(
        typed("select log(2, 8)").await,
        ("3.0000000000000000".into(), "numeric".into())
    );
    assert_eq!(typed("select mod(7, 3)").await.1, "bigint");
    assert_eq!(
        typed("select round(cast(1.005 as decimal(10,3)), 2)")
            .await
            .1,
        "numeric"
    );
}

#[tokio::test]
async fn math_errors() {
    for (sql, code) in [
        ("power(0, -1)", "2201F"),
        ("power(-8, 0.5)", "2201F"),
        ("0 ^ -1", "2201F"),
        ("ln(0)", "2201E"),
        ("ln(-1)", "2201E"),
        ("sqrt(-1)", "2201F"),
        ("log(0)", "2201E"),
        ("mod(7, 0)", "22012"),
        ("div(7, 0)", "22012"),
        ("factorial(-1)", "22003"),
        ("width_bucket(5, 1, 1, 3)", "2201G"),
    ] {
        assert_eq!(sqlstate(&format!("select {sql}")).await, code, "{sql}");
    }
}

#[tokio::test]
async fn string_functions_in_sql() {
    assert_eq!(
        value("select format('%s has %s rows', quote_ident('Orders'), 3)").await,
        "\"Orders\" has 3 rows"
    );
    assert_eq!(value("select quote_nullable(NULL)").await, "NULL");
    assert_eq!(
        value("select encode('hello world', 'base64')").await,
        "aGVsbG8gd29ybGQ="
    );
    assert_eq!(value("select split_part('a,b,c', ',', -1)").await, "c");
    assert_eq!(
        value("select regexp_replace('foo bar foo', 'foo', 'X', 'g')").await,
        "X bar X"
    );
    assert_eq!(
        value("select array_remove([1, 2, 1, 3], 1)").await,
        "[2, 3]"
    );
    assert_eq!(
        sqlstate("select regexp_replace('abc', '(', 'x')").await,
        "2201B"
    );
    assert_eq!(sqlstate("select format('%I', NULL)").await, "22004");
}

#[tokio::test]
async fn calendar_functions_in_sql() {
    assert_eq!(
        typed("select age(timestamp '2024-03-05 10:00:00', timestamp '2023-01-31 12:30:00')")
            .await
            .1,
        "interval"
    );
    assert_eq!(value("select make_date(2024, 2, 29)").await, "2024-02-29");
    assert_eq!(
        value("select make_timestamp(2024, 3, 5, 14, 7, 9.5)").await,
        "2024-03-05T14:07:09.500"
    );
    assert_eq!(value("select make_time(8, 15, 23.5)").await, "08:15:23.500");
    assert_eq!(sqlstate("select make_date(2024, 2, 30)").await, "22008");
    assert_eq!(value("select isfinite(date '2024-01-01')").await, "true");
}

#[tokio::test]
async fn ordered_set_aggregates() {
    let t = "(values (1), (2), (2), (3), (3), (4), (null)) t(x)";
    assert_eq!(
        value(&format!("select mode() within group (order by x) from {t}")).await,
        "2"
    );
    assert_eq!(
        value(&format!(
            "select mode() within group (order by x desc) from {t}"
        ))
        .await,
        "3"
    );
    assert_eq!(
        value(&format!(
            "select percentile_disc(0.5) within group (order by x) from {t}"
        ))
        .await,
        "2"
    );
    assert_eq!(
        value(&format!(
            "select percentile_disc(0.9) within group (order by x) from {t}"
        ))
        .await,
        "4"
    );
    assert_eq!(
        value(&format!("select every(x > 0) from {t}")).await,
        "true"
    );
    // numeric, as PostgreSQL: 16 significant digits past the leading one.
    assert_eq!(
        value(&format!("select variance(x) from {t}")).await,
        "1.1000000000000000"
    );
    assert_eq!(
        sqlstate(&format!(
            "select percentile_disc(1.5) within group (order by x) from {t}"
        ))
        .await,
        "22003"
    );
}

#[tokio::test]
async fn extract_of_times() {
    assert_eq!(
        value("select extract(hour from time '14:07:09.5')").await,
        "14"
    );
    assert_eq!(
        value("select extract(second from time '14:07:09.5')").await,
        "9.500000"
    );
    assert_eq!(
        value("select date_part('minute', time '14:07:09.5')").await,
        "7.0"
    );
    assert_eq!(
        sqlstate("select extract(day from time '14:07:09')").await,
        "0A000"
    );
}

#[tokio::test]
async fn datafusion_functions_kept_agree_with_postgres() {
    assert_eq!(
        value("select initcap('hello wORLD-foo bar_baz 1st')").await,
        "Hello World-Foo Bar_Baz 1st"
    );
    assert_eq!(
        value("select percentile_cont(0.5) within group (order by x) from (values (1.0), (2.0), (4.0), (8.0)) t(x)").await,
        "3.0"
    );
    assert_eq!(
        value("select bool_and(x > 1) from (values (1), (2)) t(x)").await,
        "false"
    );
}

#[tokio::test]
async fn extreme_inputs_are_errors_or_values_never_panics() {
    for sql in [
        "select to_char(cast(1.5 as decimal(10,1)), '9V99999999999999999999999999999999999999999999')",
        "select round(1e300, -2)",
        "select round(123.45, -40)",
        "select round(1e20, -21)",
        "select extract(julian from timestamp '+200000-01-01 00:00:00')",
        "select to_date('99999999-01-01', 'YYYY-MM-DD')",
        "select to_char(date '2024-03-05', repeat('FMDDth\"', 100))",
        "select to_timestamp('2024-03-05 10:00 +99', 'YYYY-MM-DD HH24:MI TZH')",
        "select date_trunc('week', date '0001-01-01')",
        "select to_number('99999999999999999999999999999999999999999', '99999999999999999999999999999999999999999')",
    ] {
        let r = match context().sql(sql).await {
            Ok(df) => df.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        // Either an answer or an error; reaching here means no panic.
        let _ = r;
    }
    assert_eq!(value("select round(123.45, -40)").await, "0.0");
}

#[tokio::test]
async fn rounding_large_doubles() {
    assert_eq!(value("select round(1e300, -2)").await, "1e300");
    // 2e20 is how the engine prints the double PostgreSQL prints as 200000000000000000000.
    assert_eq!(value("select round(1.5e20, -20)").await, "2e20");
    assert_eq!(value("select round(123456.0, -2)").await, "123500.0");
}

#[tokio::test]
async fn to_char_of_intervals() {
    assert_eq!(
        value("select to_char(interval '15 hours 2 minutes 12.5 seconds', 'HH24:MI:SS.MS')").await,
        "15:02:12.500"
    );
    assert_eq!(
        value("select to_char(timestamp '2024-03-05 10:00:00' - timestamp '2024-03-05 08:30:00', 'HH24:MI')").await,
        "01:30"
    );
}

#[tokio::test]
async fn regexp_match_in_sql() {
    assert_eq!(
        value("select regexp_match('abc123', '([a-z]+)([0-9]+)')").await,
        "[abc, 123]"
    );
    assert_eq!(sqlstate("select regexp_match('abc', '(')").await, "2201B");
}

#[tokio::test]
async fn regexp_count_is_integer() {
    assert_eq!(
        typed("select regexp_count('ababab', 'ab')").await,
        ("3".into(), "integer".into())
    );
}

#[tokio::test]
async fn date_trunc_in_a_zone() {
    assert_eq!(
        value("select date_trunc('day', to_timestamp('2024-03-05 03:00:00', 'YYYY-MM-DD HH24:MI:SS'), 'America/New_York')").await,
        "2024-03-04T05:00:00Z"
    );
    assert_eq!(
        sqlstate(
            "select date_trunc('day', to_timestamp('2024-03-05', 'YYYY-MM-DD'), 'Nowhere/City')"
        )
        .await,
        "22023"
    );
}

#[tokio::test]
async fn integer_and_whole_results_as_postgres() {
    assert_eq!(
        typed("select mod(cast(10 as int), cast(3 as int))").await,
        ("1".into(), "integer".into())
    );
    assert_eq!(
        typed("select mod(10, 3)").await,
        ("1".into(), "bigint".into())
    );
    assert_eq!(
        typed("select gcd(cast(12 as int), cast(18 as int))").await,
        ("6".into(), "integer".into())
    );
    assert_eq!(
        typed("select ceiling(cast(4.2 as decimal(3,1)))").await,
        ("5".into(), "numeric".into())
    );
    assert_eq!(value("select ceil(cast(-4.2 as decimal(3,1)))").await, "-4");
    assert_eq!(value("select floor(cast(4.8 as decimal(3,1)))").await, "4");
    assert_eq!(
        value("select floor(cast(-4.2 as decimal(3,1)))").await,
        "-5"
    );
    assert_eq!(value("select sign(cast(2.5 as decimal(3,1)))").await, "1");
    assert_eq!(
        typed("select ceil(4.2)").await,
        ("5.0".into(), "double precision".into())
    );
}

#[tokio::test]
async fn substring_from_a_pattern() {
    assert_eq!(
        value("select substring('foo123bar' from '\\d+')").await,
        "123"
    );
    assert_eq!(value("select substring('foobar' from 'o(.)b')").await, "o");
    assert_eq!(
        value("select substring('foobar' from 2 for 3)").await,
        "oob"
    );
    assert_eq!(
        value("select regexp_split_to_array('a1b22c', '\\d+')").await,
        "[a, b, c]"
    );
}
