//! Binary results byte for byte as PostgreSQL sends them: the same statement over the same
//! rows, through the extended protocol (each value's raw bytes as tokio-postgres receives
//! them) and through `COPY … TO STDOUT (FORMAT binary)` (the whole stream), on meshgate and on
//! the reference PostgreSQL.

use bytes::Bytes;
use futures::TryStreamExt;
use tokio_postgres::types::{FromSql, Type};

use crate::harness::TestServer;
use crate::reference::reference;

/// A value's bytes as the server sent them, whatever its type.
#[derive(Debug, PartialEq)]
struct Raw(Option<Vec<u8>>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw.to_vec())))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Integers of three widths, numerics of several scales (negative, zero, products with more
/// places than their factors, large sums), floats, dates, timestamps with and without a zone,
/// booleans, text of both kinds, NULLs.
const ROWS: &str = "SELECT l_orderkey, l_linenumber, l_linenumber::smallint AS small, \
     l_partkey::bigint * 1000003 AS wide, \
     l_quantity, l_extendedprice, l_discount, -l_extendedprice AS negative, \
     l_quantity - l_quantity AS zero, l_extendedprice * (1 - l_discount) AS net, \
     l_extendedprice * 100000 AS large, \
     l_linenumber::float8 / 4 AS f8, l_linenumber::real / 8::real AS f4, \
     l_shipdate, l_shipdate::timestamp AS ts, \
     l_shipdate::timestamp + l_linenumber * interval '5 hours 7 minutes' AS later, \
     l_shipdate::timestamptz AS tstz, l_quantity > 25 AS big, \
     l_returnflag, l_comment, \
     CASE WHEN l_linenumber = 1 THEN NULL ELSE l_comment END AS sometimes \
     FROM sales.lineitem ORDER BY l_orderkey, l_linenumber LIMIT 2000";

/// Per order: sums and counts, and averages whose display scale is each value's own.
const GROUPS: &str = "SELECT o_orderkey, count(*) AS n, sum(l_quantity) AS q, \
     sum(l_extendedprice * (1 - l_discount)) AS revenue, min(l_shipdate) AS first \
     FROM sales.orders JOIN sales.lineitem ON l_orderkey = o_orderkey \
     GROUP BY o_orderkey ORDER BY o_orderkey LIMIT 500";

async fn raw_rows(c: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Raw>> {
    let rows = c.query(sql, &[]).await.expect("binary rows");
    rows.iter()
        .map(|r| (0..r.len()).map(|i| r.get::<_, Raw>(i)).collect())
        .collect()
}

async fn binary_copy(c: &tokio_postgres::Client, sql: &str) -> Vec<u8> {
    let stream = c
        .copy_out(&format!("COPY ({sql}) TO STDOUT (FORMAT binary)"))
        .await
        .expect("binary COPY");
    let chunks: Vec<Bytes> = stream.try_collect().await.expect("COPY data");
    chunks.concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_rows_and_binary_copy_are_postgres_bytes() {
    let s = TestServer::tpch().await;
    let gate = s.admin().await;
    let pg = reference().connect().await;
    // timestamptz from a date depends on the zone; the binary value is the instant itself.
    for c in [&gate, &pg] {
        c.batch_execute("SET TimeZone = 'Europe/Paris'")
            .await
            .expect("set the zone");
    }
    for sql in [ROWS, GROUPS] {
        let want = raw_rows(&pg, sql).await;
        let got = raw_rows(&gate, sql).await;
        assert!(want.len() > 100, "the reference answers with rows: {sql}");
        assert_eq!(got.len(), want.len(), "row count of {sql}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "row {i} of {sql}");
        }
        let want = binary_copy(&pg, sql).await;
        let got = binary_copy(&gate, sql).await;
        assert_eq!(got.len(), want.len(), "binary COPY length of {sql}");
        assert!(got == want, "binary COPY bytes of {sql}");
    }
}
