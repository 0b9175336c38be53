//! Computed numerics (quotients, averages, deviations, conversions) as PostgreSQL sends them:
//! each value with its own display scale, in text and in binary, and the hidden columns that
//! carry those scales never reaching the client.

use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::SimpleQueryMessage;

use crate::harness::TestServer;

/// A binary numeric printed from its digits and its display scale, as a driver reads it.
#[derive(Debug, PartialEq)]
struct Numeric(String);

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let word = |i: usize| i16::from_be_bytes([raw[2 * i], raw[2 * i + 1]]);
        let (ndigits, weight, sign, dscale) = (word(0) as usize, word(1) as i32, word(2), word(3));
        let digit = |k: i32| -> i16 {
            // The group of weight k (k = 0: units).
            let at = weight - k;
            if at < 0 || at as usize >= ndigits {
                0
            } else {
                word(4 + at as usize)
            }
        };
        let mut whole = String::new();
        for k in (0..=weight.max(0)).rev() {
            whole.push_str(&format!("{:04}", digit(k)));
        }
        let whole = whole.trim_start_matches('0');
        let mut fraction = String::new();
        let mut k = -1;
        while (fraction.len() as i16) < dscale {
            fraction.push_str(&format!("{:04}", digit(k)));
            k -= 1;
        }
        fraction.truncate(dscale as usize);
        let mut text = if whole.is_empty() {
            "0".to_string()
        } else {
            whole.to_string()
        };
        if dscale > 0 {
            text = format!("{text}.{fraction}");
        }
        if sign == 0x4000 {
            text = format!("-{text}");
        }
        Ok(Numeric(text))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

const STATEMENT: &str = "SELECT 7.0 / 2 AS q, 2.0 / 3 AS r, avg(o_totalprice) AS a, \
     stddev(o_totalprice) AS s, o_orderstatus FROM sales.orders \
     WHERE o_orderstatus = 'F' GROUP BY o_orderstatus";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotients_and_averages_carry_postgres_display_scales_in_text_and_binary() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;

    // Text (simple protocol): PostgreSQL's digits; the hidden scale columns are not sent.
    let text: Vec<Vec<String>> = c
        .simple_query(STATEMENT)
        .await
        .expect("simple query")
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(text.len(), 1);
    let row = &text[0];
    assert_eq!(row.len(), 5, "only the statement's columns: {row:?}");
    assert_eq!(row[0], "3.5000000000000000");
    assert_eq!(row[1], "0.66666666666666666667");
    // avg of numeric(15,2) values near 10^5: 12 decimals; stddev near 10^4: 8 decimals.
    let decimals = |v: &str| v.split_once('.').map_or(0, |(_, f)| f.len());
    assert_eq!(decimals(&row[2]), 12, "{}", row[2]);
    assert_eq!(decimals(&row[3]), 8, "{}", row[3]);

    // Binary (extended protocol, tokio-postgres asks for binary results): the same text from
    // the digits and each value's display scale; Describe shows the five columns only.
    let statement = c.prepare(STATEMENT).await.expect("prepare");
    assert_eq!(statement.columns().len(), 5);
    let rows = c.query(&statement, &[]).await.expect("query");
    let binary: Vec<String> = (0..4).map(|i| rows[0].get::<_, Numeric>(i).0).collect();
    assert_eq!(binary, row[..4].to_vec());

    // Read through a CTE, a computed numeric keeps its own digits, without the column's
    // padding (PostgreSQL would print 3.5000000000000000 here: a known deviation).
    let rows = c
        .query("WITH t AS (SELECT 7.0 / 2 AS q) SELECT q FROM t", &[])
        .await
        .expect("cte");
    assert_eq!(rows[0].get::<_, Numeric>(0), Numeric("3.5".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_plus_interval_is_a_timestamp_and_still_prunes() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let row = c
        .query_one(
            "SELECT DATE '2024-01-01' + INTERVAL '1 hour' AS t, \
             pg_typeof(DATE '2024-01-01' + INTERVAL '1 hour')::text AS ty",
            &[],
        )
        .await
        .expect("query");
    assert_eq!(
        row.get::<_, std::time::SystemTime>("t"),
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_704_070_800)
    );
    assert_eq!(row.get::<_, String>("ty"), "timestamp without time zone");
    // The comparison is planned on the date column itself (a cast column prunes nothing).
    let plan: Vec<String> = c
        .query(
            "EXPLAIN SELECT count(*) FROM sales.lineitem \
             WHERE l_shipdate <= DATE '1998-12-01' - INTERVAL '90' DAY",
            &[],
        )
        .await
        .expect("explain")
        .iter()
        .map(|r| r.get::<_, String>(1))
        .collect();
    let logical = &plan[0];
    assert!(
        logical.contains("l_shipdate <= Date32(\"1998-09-02\")"),
        "{logical}"
    );
    assert!(
        !logical.contains("CAST(sales.lineitem.l_shipdate"),
        "{logical}"
    );
}
