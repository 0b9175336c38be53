//! The PostgreSQL protocol through tokio-postgres: simple and extended queries, parameters,
//! binary results, portals, cancel, session statements and SQLSTATEs.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::harness::{code, TestServer, ADMIN};

fn simple_rows(msgs: &[SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

/// A query that keeps the engine busy for far longer than any test waits: a scan of a mesh table
/// crossed with an endless series. The large side streams, so the engine yields between batches
/// and cancel and timeout take effect at once even in a debug build.
const ENDLESS: &str = "SELECT sum(r.r_regionkey + g.value % 7) FROM geo.region r CROSS JOIN generate_series(1, 1000000000000) AS g(value)";

async fn wait_running(server: &TestServer, pid: i32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !server.shared.registry.is_running(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "statement never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn backend_pid(c: &tokio_postgres::Client) -> i32 {
    // pg_backend_pid() is answered from the session; compare with BackendKeyData via cancel.
    let row = c
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid");
    row.get::<_, i32>(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_query_runs_several_statements() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let msgs = c
        .simple_query("SELECT 1 AS a; SELECT count(*) AS n FROM geo.region; SELECT r_name FROM geo.region WHERE r_regionkey = 0")
        .await
        .expect("three statements");
    let rows = simple_rows(&msgs);
    assert_eq!(
        rows,
        vec![
            vec![Some("1".into())],
            vec![Some("5".into())],
            vec![Some("AFRICA".into())]
        ]
    );
    let completes = msgs
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::CommandComplete(_)))
        .count();
    assert_eq!(completes, 3);
    // An error stops the rest of the message, and the session goes on.
    let e = c
        .simple_query("SELECT 1; SELECT * FROM sales.nope; SELECT 2")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P01");
    assert_eq!(
        simple_rows(&c.simple_query("SELECT 3").await.unwrap()),
        vec![vec![Some("3".into())]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_query_with_many_parameters_and_binary_results() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let keys: Vec<i64> = c
        .query(
            "SELECT o_orderkey FROM sales.orders ORDER BY o_orderkey LIMIT 12",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys.len(), 12);
    let placeholders: Vec<String> = (1..=12).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT o_orderkey, o_custkey, o_orderdate, o_orderstatus, CAST(o_totalprice AS DOUBLE) AS price \
         FROM sales.orders WHERE o_orderkey IN ({}) ORDER BY o_orderkey",
        placeholders.join(", ")
    );
    let params: Vec<&(dyn ToSql + Sync)> = keys.iter().map(|k| k as &(dyn ToSql + Sync)).collect();
    let stmt = c.prepare(&sql).await.expect("prepare");
    assert_eq!(stmt.params().len(), 12);
    assert_eq!(
        stmt.columns()[2].type_(),
        &tokio_postgres::types::Type::DATE
    );
    let rows = c.query(&stmt, &params).await.expect("binary results");
    assert_eq!(rows.len(), 12);
    let got: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(got, keys);
    // The same rows through the text protocol agree with the binary decoding.
    let text = c
        .simple_query(&format!(
            "SELECT o_orderkey, o_custkey, o_orderdate, o_orderstatus FROM sales.orders WHERE o_orderkey = {} ",
            keys[0]
        ))
        .await
        .unwrap();
    let t = &simple_rows(&text)[0];
    let r = &rows[0];
    assert_eq!(t[1].as_deref().unwrap(), r.get::<_, i64>(1).to_string());
    assert_eq!(
        t[2].as_deref().unwrap(),
        r.get::<_, chrono::NaiveDate>(2).to_string()
    );
    assert_eq!(t[3].as_deref().unwrap(), r.get::<_, String>(3));
    assert!(r.get::<_, f64>(4) > 0.0);
    // Named statements are reusable with other values.
    let one = c
        .query(
            &stmt,
            &params
                .iter()
                .map(|_| &keys[3] as &(dyn ToSql + Sync))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].get::<_, i64>(0), keys[3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_row_limits_resume_until_done() {
    let s = TestServer::tpch().await;
    let mut c = s.admin().await;
    let total: i64 = c
        .query_one("SELECT count(*) FROM sales.customer", &[])
        .await
        .unwrap()
        .get(0);
    assert!(total > 1000);
    let tx = c.transaction().await.unwrap();
    let stmt = tx
        .prepare("SELECT c_custkey FROM sales.customer WHERE c_custkey > $1")
        .await
        .unwrap();
    let portal = tx.bind(&stmt, &[&0i64]).await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut fetches = 0;
    loop {
        let chunk = tx.query_portal(&portal, 100).await.expect("fetch");
        fetches += 1;
        assert!(chunk.len() <= 100);
        if chunk.is_empty() {
            break;
        }
        for r in chunk {
            assert!(seen.insert(r.get::<_, i64>(0)), "a row came twice");
        }
    }
    tx.commit().await.unwrap();
    assert_eq!(seen.len() as i64, total);
    assert!(
        fetches > total / 100,
        "rows arrived in pages of 100: {fetches} fetches"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_scan_and_the_session_goes_on() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let pid = backend_pid(&c).await;
    let token = c.cancel_token();
    let fut = c.query(ENDLESS, &[]);
    let canceller = async {
        wait_running(&s, pid).await;
        token
            .cancel_query(NoTls)
            .await
            .expect("cancel request sent");
    };
    let (res, ()) = tokio::join!(fut, canceller);
    assert_eq!(code(&res.unwrap_err()), "57014");
    let n: i64 = c
        .query_one("SELECT count(*) FROM geo.nation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_query_that_is_streaming_rows() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let token = c.cancel_token();
    let params: [&(dyn ToSql + Sync); 0] = [];
    let stream = c
        .query_raw(
            "SELECT a.l_orderkey, b.l_partkey FROM sales.lineitem a CROSS JOIN sales.lineitem b",
            params.iter().copied(),
        )
        .await
        .expect("rows start");
    futures::pin_mut!(stream);
    let mut got = 0;
    while got < 10 {
        stream.next().await.expect("a row").expect("row ok");
        got += 1;
    }
    token.cancel_query(NoTls).await.unwrap();
    let err = loop {
        match stream.try_next().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the cross join ended by itself instead of being cancelled"),
            Err(e) => break e,
        }
    };
    assert_eq!(code(&err), "57014");
    assert_eq!(
        c.query_one("SELECT 41 + 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        42
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cancels_with_57014() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    c.batch_execute("SET statement_timeout = '200ms'")
        .await
        .unwrap();
    let shown = c.simple_query("SHOW statement_timeout").await.unwrap();
    assert_eq!(simple_rows(&shown), vec![vec![Some("200".into())]]);
    let e = c.query(ENDLESS, &[]).await.unwrap_err();
    assert_eq!(code(&e), "57014");
    assert!(e
        .as_db_error()
        .unwrap()
        .message()
        .contains("statement timeout"));
    c.batch_execute("RESET statement_timeout").await.unwrap();
    assert_eq!(
        c.query_one("SELECT 1::bigint", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        1
    );
}

/// An aggregate over a cross join polls its join input, whose batches come from the buffered
/// side, and not the scans that yield to the runtime: without yield points at the join, a
/// cancelled statement kept the engine's threads until it ended by itself (minutes here), and
/// every other session's statements waited behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_cross_join_aggregate_frees_the_engine_at_once() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    c.batch_execute("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    let e = c
        .query("SELECT count(*) FROM sales.lineitem a CROSS JOIN sales.lineitem b WHERE a.l_quantity + b.l_quantity > 0", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), "57014");
    let other = s.admin().await;
    let started = std::time::Instant::now();
    let n: i64 = tokio::time::timeout(
        Duration::from_secs(60),
        other.query_one("SELECT count(*) FROM geo.nation", &[]),
    )
    .await
    .expect("another session's query is not stuck behind the cancelled one")
    .unwrap()
    .get(0);
    assert_eq!(n, 25);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the next query waited {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_the_right_sqlstate_and_the_session_survives() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let cases = [
        ("SELEC 1", "42601"),
        ("SELECT * FROM sales.no_such_table", "42P01"),
        ("SELECT * FROM no_such_product.orders", "42P01"),
        ("SELECT no_such_column FROM sales.orders", "42703"),
        ("SELECT no_such_function(1)", "42883"),
        ("SELECT 1 / 0", "22012"),
        ("SELECT CAST('abc' AS INT)", "22P02"),
        ("LISTEN channel", "0A000"),
        // A lateral subquery correlated by an inequality under an aggregate: not planned.
        (
            "SELECT * FROM sales.orders o, LATERAL (SELECT count(*) FROM sales.lineitem l \
             WHERE l.l_orderkey > o.o_orderkey) x",
            "0A000",
        ),
        ("INSERT INTO sales.orders (o_orderkey) VALUES (1)", "42501"),
        ("DELETE FROM sales.orders", "42501"),
        ("CREATE TABLE sales.evil (a INT)", "42501"),
        ("DROP TABLE sales.orders", "42501"),
        ("COPY sales.orders FROM '/etc/passwd'", "42501"),
        ("COPY (SELECT 1) TO '/tmp/out.csv'", "42501"),
        ("SET datafusion.execution.batch_size = 1", "42501"),
        ("SET no_such_setting = 1", "42704"),
    ];
    for (sql, want) in cases {
        let e = c.simple_query(sql).await.expect_err(sql);
        assert_eq!(code(&e), want, "{sql}: {e:?}");
        // Through the extended protocol too (where the statement can be prepared).
        if let Err(e) = c.query(sql, &[]).await {
            assert_eq!(code(&e), want, "extended {sql}: {e:?}");
        }
        let ok = c.simple_query("SELECT 1").await.expect("session goes on");
        assert_eq!(simple_rows(&ok), vec![vec![Some("1".into())]]);
    }
    let e = c
        .simple_query("SELECT * FROM sales.no_such_table")
        .await
        .unwrap_err();
    assert_eq!(
        e.as_db_error().unwrap().message(),
        "relation \"sales.no_such_table\" does not exist"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_settings_set_and_show() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    for (set, show, want) in [
        (
            "SET application_name = 'meshgate-tests'",
            "SHOW application_name",
            "meshgate-tests",
        ),
        ("SET DateStyle TO 'ISO, MDY'", "SHOW DateStyle", "ISO, MDY"),
        ("SET TIME ZONE 'UTC'", "SHOW TimeZone", "UTC"),
        ("SET TimeZone = '+02:00'", "SHOW timezone", "+02:00"),
        ("SET extra_float_digits = 3", "SHOW extra_float_digits", "3"),
        (
            "SET client_encoding = 'UTF8'",
            "SHOW client_encoding",
            "UTF8",
        ),
        (
            "SET statement_timeout = 5000",
            "SHOW statement_timeout",
            "5000",
        ),
        (
            "SET search_path TO geo, sales",
            "SHOW search_path",
            "geo, sales",
        ),
    ] {
        c.batch_execute(set)
            .await
            .unwrap_or_else(|e| panic!("{set}: {e}"));
        assert_eq!(
            simple_rows(&c.simple_query(show).await.unwrap()),
            vec![vec![Some(want.to_string())]],
            "{show}"
        );
    }
    // search_path applies to unqualified names, each found in the first schema that has it.
    let n: i64 = c
        .query_one("SELECT count(*) FROM region", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
    let joined: i64 = c
        .query_one(
            "WITH c AS (SELECT * FROM customer) SELECT count(*) FROM c JOIN nation ON c.c_nationkey = n_nationkey JOIN region ON n_regionkey = r_regionkey WHERE r_name = 'ASIA'",
            &[],
        )
        .await
        .expect("names in geo and in sales")
        .get(0);
    let qualified: i64 = c
        .query_one(
            "SELECT count(*) FROM sales.customer c JOIN geo.nation n ON c.c_nationkey = n.n_nationkey JOIN geo.region r ON n.n_regionkey = r.r_regionkey WHERE r.r_name = 'ASIA'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(joined, qualified);
    assert!(qualified > 0);
    c.batch_execute("SET search_path = sales").await.unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM customer", &[])
        .await
        .unwrap()
        .get(0);
    let m: i64 = c
        .query_one("SELECT count(*) FROM sales.customer", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, m);
    assert_eq!(
        code(
            &c.query("SELECT count(*) FROM region", &[])
                .await
                .unwrap_err()
        ),
        "42P01"
    );
    assert_eq!(
        code(
            &c.batch_execute("SET client_encoding = 'LATIN1'")
                .await
                .unwrap_err()
        ),
        "0A000"
    );
    assert_eq!(
        code(
            &c.batch_execute("SET extra_float_digits = 99")
                .await
                .unwrap_err()
        ),
        "22023"
    );
    assert_eq!(
        code(
            &c.batch_execute("SET server_version = '1'")
                .await
                .unwrap_err()
        ),
        "55P02"
    );
    let v: String = c.query_one("SELECT version()", &[]).await.unwrap().get(0);
    assert!(v.starts_with("PostgreSQL 16."), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_options_set_the_search_path() {
    let s = TestServer::tpch().await;
    let conn = format!(
        "{} options='-c search_path=geo'",
        s.conn_string(ADMIN.0, ADMIN.1)
    );
    let (c, conn) = tokio_postgres::connect(&conn, NoTls).await.unwrap();
    tokio::spawn(conn);
    let n: i64 = c
        .query_one("SELECT count(*) FROM nation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_are_read_only_blocks() {
    let s = TestServer::tpch().await;
    let mut c = s.admin().await;
    let tx = c.transaction().await.unwrap();
    let n: i64 = tx
        .query_one("SELECT count(*) FROM geo.region", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
    tx.commit().await.unwrap();
    // An error inside a block fails it until ROLLBACK, as in PostgreSQL.
    c.batch_execute("BEGIN").await.unwrap();
    assert!(c.batch_execute("SELECT * FROM sales.nope").await.is_err());
    assert_eq!(
        code(&c.batch_execute("SELECT 1").await.unwrap_err()),
        "25P02"
    );
    c.batch_execute("ROLLBACK").await.unwrap();
    c.batch_execute("BEGIN READ ONLY; SELECT 1; COMMIT")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_part_names_and_cross_domain_joins() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let a: i64 = c
        .query_one("SELECT count(*) FROM mesh.sales.orders", &[])
        .await
        .unwrap()
        .get(0);
    let b: i64 = c
        .query_one("SELECT count(*) FROM sales.orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(a, b);
    // sales (Delta) × geo (Parquet, hive-partitioned) × supply (Iceberg) in one plan.
    let rows = c
        .query(
            "SELECT r.r_name, count(DISTINCT c.c_custkey) AS customers, count(DISTINCT s.s_suppkey) AS suppliers \
             FROM sales.customer c \
             JOIN geo.nation n ON c.c_nationkey = n.n_nationkey \
             JOIN geo.region r ON n.n_regionkey = r.r_regionkey \
             JOIN supply.supplier s ON s.s_nationkey = n.n_nationkey \
             GROUP BY r.r_name ORDER BY r.r_name",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    let total: i64 = rows.iter().map(|r| r.get::<_, i64>(1)).sum();
    let customers_with_suppliers: i64 = c
        .query_one(
            "SELECT count(*) FROM sales.customer WHERE c_nationkey IN (SELECT s_nationkey FROM supply.supplier)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, customers_with_suppliers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_projections_and_limits_reach_the_scans() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let plan = |sql: String| {
        let c = &c;
        async move {
            let msgs = c.simple_query(&format!("EXPLAIN {sql}")).await.unwrap();
            simple_rows(&msgs)
                .into_iter()
                .flatten()
                .flatten()
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    // Parquet (hive partitions): the partition predicate prunes, the column predicate is pushed.
    let p = plan("SELECT n_name FROM geo.nation WHERE n_regionkey = 1 AND n_nationkey > 3".into())
        .await;
    assert!(p.contains("DataSourceExec"), "{p}");
    assert!(
        p.contains("predicate=") && p.contains("n_nationkey"),
        "predicate not in the scan:\n{p}"
    );
    assert!(!p.contains("n_comment"), "projection not pushed:\n{p}");
    let p = plan("SELECT r_name FROM geo.region LIMIT 2".into()).await;
    assert!(p.contains("limit=2"), "limit not in the scan:\n{p}");
    // Delta.
    let p = plan("SELECT o_orderkey FROM sales.orders WHERE o_orderkey = 7".into()).await;
    assert!(
        p.contains("o_orderkey@0 = 7") || p.contains("o_orderkey = Int64(7)"),
        "delta predicate:\n{p}"
    );
    assert!(!p.contains("o_comment"), "delta projection:\n{p}");
    // Iceberg: its files read by DataFusion's Parquet scan too.
    let p = plan("SELECT p_name FROM supply.part WHERE p_partkey = 7".into()).await;
    assert!(p.contains("DataSourceExec"), "{p}");
    assert!(
        p.contains("predicate=") && p.contains("p_partkey@0 = 7"),
        "iceberg predicate:\n{p}"
    );
    assert!(!p.contains("p_comment"), "iceberg projection:\n{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_unknown_users_get_28p01() {
    let s = TestServer::tpch().await;
    let e = s.connect_as(ADMIN.0, "wrong").await.unwrap_err();
    assert_eq!(code(&e), "28P01");
    let e = s.connect_as("mallory", "whatever").await.unwrap_err();
    assert_eq!(code(&e), "28P01");
    assert!(
        !e.to_string().contains("does not exist"),
        "must not reveal which users exist: {e}"
    );
    let e = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user={} password={} dbname=other",
            s.addr.port(),
            ADMIN.0,
            ADMIN.1
        ),
        NoTls,
    )
    .await
    .err()
    .expect("unknown database refused");
    assert_eq!(code(&e), "3D000");
    // The server is still fine for a correct login.
    let c = s.admin().await;
    assert_eq!(
        c.query_one("SELECT 1::int", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );
}
