//! Statement audit events and bytes scanned per domain, over real connections: every line of the
//! audit files is parsed and every field checked against what the client did and received.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::SimpleQueryMessage;

use crate::harness::*;

/// An audit file and per-domain files in a temporary directory.
struct AuditFiles {
    _dir: tempfile::TempDir,
    main: PathBuf,
    sales: PathBuf,
    geo: PathBuf,
}

impl AuditFiles {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        AuditFiles {
            main: p("audit.jsonl"),
            sales: p("sales.jsonl"),
            geo: p("geo.jsonl"),
            _dir: dir,
        }
    }

    /// The `[audit]` section, appended after the `[server]` keys.
    fn section(&self, redact: bool) -> String {
        format!(
            "\n[audit]\nsink = \"file\"\npath = \"{}\"\nredact_literals = {redact}\n[audit.domains]\nsales = \"{}\"\ngeo = \"{}\"\n",
            self.main.display(),
            self.sales.display(),
            self.geo.display()
        )
    }
}

/// The complete lines of an audit file, each parsed (a line that is not JSON fails the test).
pub(crate) fn read_events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}"))
        })
        .collect()
}

/// Waits until the file holds at least `n` events (they are written asynchronously).
pub(crate) async fn wait_events(path: &Path, n: usize) -> Vec<Value> {
    wait_for(
        &format!("{n} audit events in {}", path.display()),
        Duration::from_secs(30),
        || read_events(path).len() >= n,
    )
    .await;
    read_events(path)
}

fn rows_of(messages: &[SimpleQueryMessage]) -> u64 {
    messages
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
        .count() as u64
}

/// What one statement must have produced.
struct Expect {
    statement: Option<String>,
    protocol: &'static str,
    tables: Vec<&'static str>,
    /// Domains that must show bytes scanned > 0 (and no other may show any).
    scanned: Vec<&'static str>,
    /// Scans may or may not have read anything yet (a cancelled statement, a cursor's DECLARE):
    /// bytes may appear for these domains only.
    scanned_maybe: bool,
    estimated: Vec<&'static str>,
    rows: u64,
    outcome: &'static str,
    sqlstate: Option<&'static str>,
    /// Client-observed time of the call: the server's duration cannot exceed it.
    within: Duration,
}

impl Expect {
    fn ok(statement: &str, protocol: &'static str, rows: u64, within: Duration) -> Self {
        Expect {
            statement: Some(statement.to_string()),
            protocol,
            tables: vec![],
            scanned: vec![],
            scanned_maybe: false,
            estimated: vec![],
            rows,
            outcome: "ok",
            sqlstate: None,
            within,
        }
    }

    fn reads(mut self, tables: &[&'static str], scanned: &[&'static str]) -> Self {
        self.tables = tables.to_vec();
        self.scanned = scanned.to_vec();
        self
    }

    fn failed(mut self, outcome: &'static str, sqlstate: &'static str) -> Self {
        self.outcome = outcome;
        self.sqlstate = Some(sqlstate);
        self
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Checks every field of `e` against `x` and the session it came from.
fn check(e: &Value, x: &Expect, pid: i64, since: chrono::DateTime<chrono::Utc>) {
    let ctx = format!("event {e}");
    let time = chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap())
        .unwrap_or_else(|err| panic!("{err}: {ctx}"));
    assert!(
        e["time"].as_str().unwrap().ends_with('Z'),
        "time is UTC: {ctx}"
    );
    assert!(
        time >= since && time <= chrono::Utc::now(),
        "time within the test: {ctx}"
    );
    assert_eq!(e["pid"].as_i64(), Some(pid), "{ctx}");
    assert_eq!(e["user"], "bob", "{ctx}");
    // bob holds analyst and buyer; everyone holds public.
    assert_eq!(
        e["roles"],
        serde_json::json!(["analyst", "buyer", "public"]),
        "{ctx}"
    );
    assert_eq!(e["client_addr"], "127.0.0.1", "{ctx}");
    assert!(
        e["client_port"]
            .as_u64()
            .is_some_and(|p| p > 0 && p <= 65535),
        "{ctx}"
    );
    assert_eq!(e["application_name"], "audit-it", "{ctx}");
    assert_eq!(e["protocol"], x.protocol, "{ctx}");
    assert_eq!(
        e["statement"].as_str().map(str::to_string),
        x.statement,
        "{ctx}"
    );
    assert_eq!(strings(&e["tables"]), x.tables, "{ctx}");
    let products: BTreeSet<String> = x
        .tables
        .iter()
        .map(|t| t.split('.').next().unwrap().to_string())
        .collect();
    assert_eq!(
        strings(&e["products"]),
        products.iter().cloned().collect::<Vec<_>>(),
        "{ctx}"
    );
    // In the TPC-H mesh each domain publishes one product of its own name.
    assert_eq!(
        strings(&e["domains"]),
        products.into_iter().collect::<Vec<_>>(),
        "{ctx}"
    );
    assert_eq!(e["policies"], serde_json::json!([]), "{ctx}");
    assert_eq!(
        e["rows"].as_u64(),
        Some(x.rows),
        "rows returned = rows received: {ctx}"
    );
    let bytes = e["bytes_scanned"]
        .as_object()
        .unwrap_or_else(|| panic!("bytes_scanned: {ctx}"));
    for (domain, n) in bytes {
        assert!(
            n.as_u64().is_some_and(|n| n > 0),
            "a listed domain scanned bytes: {ctx}"
        );
        assert!(
            x.scanned.contains(&domain.as_str()),
            "no bytes for a domain not read ({domain}): {ctx}"
        );
    }
    if !x.scanned_maybe {
        let listed: Vec<&str> = bytes.keys().map(String::as_str).collect();
        assert_eq!(listed, x.scanned, "{ctx}");
    }
    assert_eq!(strings(&e["bytes_estimated"]), x.estimated, "{ctx}");
    let ms = e["duration_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("duration_ms: {ctx}"));
    assert!(
        ms >= 0.0 && ms <= x.within.as_secs_f64() * 1000.0 + 1.0,
        "duration within the client's wait ({:?}): {ctx}",
        x.within
    );
    assert_eq!(e["outcome"], x.outcome, "{ctx}");
    assert_eq!(e["sqlstate"].as_str(), x.sqlstate, "{ctx}");
}

/// Pairs each expected statement with its event, in order (an Iceberg event may come late: its
/// byte figure is estimated in the background), and checks that there is no other event.
fn match_events<'a>(events: &'a [Value], expected: &[Expect]) -> Vec<&'a Value> {
    let mut used = vec![false; events.len()];
    let mut out = Vec::new();
    for x in expected {
        let i = (0..events.len())
            .find(|&i| {
                !used[i]
                    && events[i]["statement"].as_str().map(str::to_string) == x.statement
                    && events[i]["protocol"] == x.protocol
            })
            .unwrap_or_else(|| {
                panic!(
                    "no event for {:?} ({}) among {events:#?}",
                    x.statement, x.protocol
                )
            });
        used[i] = true;
        out.push(&events[i]);
    }
    assert_eq!(
        events.len(),
        expected.len(),
        "one event per statement, no more: {events:#?}"
    );
    out
}

async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, Duration) {
    let t = Instant::now();
    let r = f.await;
    (r, t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_gets_one_audit_event_with_every_field() {
    let files = AuditFiles::new();
    let s = TestServer::start_with(&tpch().domains_dir, &files.section(true)).await;
    let since = chrono::Utc::now();
    let cs = format!(
        "{} application_name=audit-it",
        s.conn_string(ANALYST.0, ANALYST.1)
    );
    let (mut c, _conn) = connect_watched(&cs).await.unwrap();
    let mut x = Vec::new();

    let (r, t) = timed(c.simple_query("SELECT pg_backend_pid()")).await;
    let r = r.unwrap();
    let pid: i64 = match &r[1] {
        SimpleQueryMessage::Row(row) => row.get(0).unwrap().parse().unwrap(),
        other => panic!("{other:?}"),
    };
    x.push(Expect::ok("SELECT pg_backend_pid()", "simple", 1, t));

    // Simple protocol, one domain (Delta); the literals must not reach the file.
    let (r, t) = timed(c.simple_query("SELECT o_orderkey, o_comment FROM sales.orders WHERE o_orderkey < 100 AND o_comment <> 'zzz-secret'")).await;
    let n = rows_of(&r.unwrap());
    assert!(n > 0);
    x.push(
        Expect::ok("SELECT o_orderkey, o_comment FROM sales.orders WHERE o_orderkey < $? AND o_comment <> '?'", "simple", n, t)
            .reads(&["sales.orders"], &["sales"]),
    );

    // Extended protocol, one domain (Parquet): parameters stay placeholders, literals are redacted.
    let (r, t) = timed(c.query(
        "SELECT n_name FROM geo.nation WHERE n_regionkey = $1 AND n_name <> 'x'",
        &[&1i64],
    ))
    .await;
    assert_eq!(r.as_ref().unwrap().len(), 5);
    x.push(
        Expect::ok(
            "SELECT n_name FROM geo.nation WHERE n_regionkey = $1 AND n_name <> '?'",
            "extended",
            5,
            t,
        )
        .reads(&["geo.nation"], &["geo"]),
    );

    // A join across two domains.
    let sql = "SELECT c_name, n_name FROM sales.customer JOIN geo.nation ON c_nationkey = n_nationkey WHERE c_custkey <= 20";
    let (r, t) = timed(c.query(sql, &[])).await;
    assert_eq!(r.unwrap().len(), 20);
    x.push(
        Expect::ok(
            "SELECT c_name, n_name FROM sales.customer JOIN geo.nation ON c_nationkey = n_nationkey WHERE c_custkey <= $?",
            "extended",
            20,
            t,
        )
        .reads(&["geo.nation", "sales.customer"], &["geo", "sales"]),
    );

    // Iceberg: its files are read by DataFusion's Parquet scan, whose byte metric is measured
    // as for Delta and Parquet (nothing estimated).
    let (r, t) = timed(c.simple_query("SELECT p_name FROM supply.part WHERE p_partkey < 10")).await;
    assert_eq!(rows_of(&r.unwrap()), 9);
    x.push(
        Expect::ok(
            "SELECT p_name FROM supply.part WHERE p_partkey < $?",
            "simple",
            9,
            t,
        )
        .reads(&["supply.part"], &["supply"]),
    );

    // Errors: unknown table (simple and at Parse), syntax error (the text cannot be redacted
    // without a parse, so it is left out).
    let (r, t) = timed(c.simple_query("SELECT * FROM sales.nope WHERE x = 'secret'")).await;
    assert_eq!(code(&r.unwrap_err()), "42P01");
    x.push(
        Expect::ok("SELECT * FROM sales.nope WHERE x = '?'", "simple", 0, t)
            .failed("error", "42P01"),
    );
    let (r, t) = timed(c.query("SELECT * FROM geo.nope", &[])).await;
    assert_eq!(code(&r.unwrap_err()), "42P01");
    x.push(Expect::ok("SELECT * FROM geo.nope", "extended", 0, t).failed("error", "42P01"));
    let (r, t) = timed(c.simple_query("SELEC 'secret'")).await;
    assert_eq!(code(&r.unwrap_err()), "42601");
    let mut e = Expect::ok("", "simple", 0, t).failed("error", "42601");
    e.statement = None;
    x.push(e);

    // Session statements: no tables, SHOW returns its row.
    let (r, t) = timed(c.simple_query("SET search_path = geo")).await;
    r.unwrap();
    x.push(Expect::ok("SET search_path = geo", "simple", 0, t));
    let (r, t) = timed(c.simple_query("SHOW search_path")).await;
    assert_eq!(rows_of(&r.unwrap()), 1);
    x.push(Expect::ok("SHOW search_path", "simple", 1, t));
    // Unqualified names resolve in the search path.
    let (r, t) = timed(c.simple_query("SELECT r_name FROM region")).await;
    assert_eq!(rows_of(&r.unwrap()), 5);
    x.push(
        Expect::ok("SELECT r_name FROM region", "simple", 5, t).reads(&["geo.region"], &["geo"]),
    );

    // A portal run in pieces is one event, written when it completes.
    let (tx, t) = timed(c.transaction()).await;
    let tx = tx.unwrap();
    x.push(Expect::ok("START TRANSACTION", "simple", 0, t));
    let portal_sql = "SELECT l_orderkey FROM sales.lineitem WHERE l_orderkey < $1";
    let started = Instant::now();
    let portal = tx.bind(portal_sql, &[&200i64]).await.unwrap();
    let mut n = 0u64;
    loop {
        let batch = tx.query_portal(&portal, 50).await.unwrap();
        n += batch.len() as u64;
        if batch.len() < 50 {
            break;
        }
    }
    let t = started.elapsed();
    assert!(n > 50, "the portal took several Executes ({n} rows)");
    x.push(
        Expect::ok(
            "SELECT l_orderkey FROM sales.lineitem WHERE l_orderkey < $1",
            "extended",
            n,
            t,
        )
        .reads(&["sales.lineitem"], &["sales"]),
    );
    drop(portal);
    let (r, t) = timed(tx.commit()).await;
    r.unwrap();
    x.push(Expect::ok("COMMIT", "simple", 0, t));

    // A cursor: DECLARE lists what it reads; each FETCH returns rows; bytes fall to whichever
    // statement was running while the scan read them.
    for (sql, text, rows) in [
        ("BEGIN", "BEGIN", 0),
        (
            "DECLARE c CURSOR FOR SELECT n_name FROM geo.nation",
            "DECLARE c CURSOR FOR SELECT n_name FROM geo.nation",
            0,
        ),
        ("FETCH 10 FROM c", "FETCH $? FROM c", 10),
        ("FETCH ALL FROM c", "FETCH ALL FROM c", 15),
        ("COMMIT", "COMMIT", 0),
    ] {
        let (r, t) = timed(c.simple_query(sql)).await;
        assert_eq!(rows_of(&r.unwrap()), rows, "{sql}");
        let mut e = Expect::ok(text, "simple", rows, t);
        if sql.starts_with("DECLARE") || sql.starts_with("FETCH") {
            e = e.reads(&["geo.nation"], &["geo"]);
            e.scanned_maybe = true;
        }
        x.push(e);
    }

    // COPY TO STDOUT counts the rows it copies.
    let (r, t) = timed(async {
        let stream = c
            .copy_out("COPY (SELECT r_name FROM geo.region) TO STDOUT")
            .await
            .unwrap();
        futures::pin_mut!(stream);
        let mut text = Vec::new();
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            text.extend_from_slice(&chunk.unwrap());
        }
        text
    })
    .await;
    assert_eq!(r.iter().filter(|b| **b == b'\n').count(), 5);
    x.push(
        Expect::ok(
            "COPY (SELECT r_name FROM geo.region) TO STDOUT",
            "extended",
            5,
            t,
        )
        .reads(&["geo.region"], &["geo"]),
    );

    // A statement stopped by statement_timeout is "cancelled" with 57014.
    let (r, t) = timed(c.simple_query("SET statement_timeout = 200")).await;
    r.unwrap();
    x.push(Expect::ok("SET statement_timeout = $?", "simple", 0, t));
    let endless = "SELECT sum(r.r_regionkey + g.value % 7) FROM geo.region r CROSS JOIN generate_series(1, 1000000000000) AS g(value)";
    let (r, t) = timed(c.simple_query(endless)).await;
    assert_eq!(code(&r.unwrap_err()), "57014");
    let mut e = Expect::ok("SELECT sum(r.r_regionkey + g.value % $?) FROM geo.region r CROSS JOIN generate_series($?, $?) AS g (value)", "simple", 0, t)
        .reads(&["geo.region"], &["geo"])
        .failed("cancelled", "57014");
    e.scanned_maybe = true;
    x.push(e);

    let events = wait_events(&files.main, x.len()).await;
    let matched = match_events(&events, &x);
    for (e, x) in matched.iter().zip(&x) {
        check(e, x, pid, since);
    }
    // The cursor's statements read geo between them.
    let cursor_bytes: u64 = matched
        .iter()
        .filter(|e| {
            e["statement"]
                .as_str()
                .is_some_and(|s| s.starts_with("DECLARE") || s.starts_with("FETCH"))
        })
        .map(|e| e["bytes_scanned"]["geo"].as_u64().unwrap_or(0))
        .sum();
    assert!(cursor_bytes > 0, "the cursor's scan is counted");
    assert!(
        !std::fs::read_to_string(&files.main)
            .unwrap()
            .contains("secret"),
        "no literal reaches the audit file"
    );

    // A domain's file gets exactly the events of statements that read its products, in order.
    for (path, domain) in [(&files.sales, "sales"), (&files.geo, "geo")] {
        let reading: Vec<Value> = events
            .iter()
            .filter(|e| strings(&e["domains"]).contains(&domain.to_string()))
            .cloned()
            .collect();
        assert!(!reading.is_empty());
        let routed = wait_events(path, reading.len()).await;
        assert_eq!(routed, reading, "{domain}'s file");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_reach_the_audit_even_unredacted() {
    let files = AuditFiles::new();
    let s = TestServer::start_with(&tpch().domains_dir, &files.section(false)).await;
    let cs = format!(
        "{} application_name=audit-it",
        s.conn_string(ANALYST.0, ANALYST.1)
    );
    let (c, _conn) = connect_watched(&cs).await.unwrap();
    let mut x = Vec::new();
    let (r, t) = timed(c.simple_query("SELECT 'visible' AS v, 42 AS n")).await;
    r.unwrap();
    x.push(Expect::ok("SELECT 'visible' AS v, 42 AS n", "simple", 1, t));
    let (r, t) = timed(c.simple_query("CREATE ROLE mallory LOGIN PASSWORD 'hunter2'")).await;
    assert_eq!(code(&r.unwrap_err()), "42501");
    x.push(
        Expect::ok("CREATE ROLE mallory LOGIN PASSWORD '?'", "simple", 0, t)
            .failed("error", "42501"),
    );
    let (r, t) = timed(c.simple_query("ALTER ROLE bob WITH PASSWORD 'hunter2'")).await;
    assert_eq!(code(&r.unwrap_err()), "0A000");
    x.push(Expect::ok("ALTER ROLE bob WITH PASSWORD '?'", "simple", 0, t).failed("error", "0A000"));
    // Unparsable: the raw text is kept when redaction is off, unless it mentions a password.
    let (r, t) = timed(c.simple_query("SELEC 'plain'")).await;
    assert_eq!(code(&r.unwrap_err()), "42601");
    x.push(Expect::ok("SELEC 'plain'", "simple", 0, t).failed("error", "42601"));
    let (r, t) = timed(c.simple_query("ALTER ROLE bob PASSWORD 'hunter2' oops(")).await;
    assert_eq!(code(&r.unwrap_err()), "42601");
    let mut e = Expect::ok("", "simple", 0, t).failed("error", "42601");
    e.statement = None;
    x.push(e);

    let events = wait_events(&files.main, x.len()).await;
    let pid = events[0]["pid"].as_i64().unwrap();
    for (e, x) in match_events(&events, &x).iter().zip(&x) {
        check(e, x, pid, chrono::Utc::now() - chrono::Duration::minutes(5));
    }
    assert!(!std::fs::read_to_string(&files.main)
        .unwrap()
        .contains("hunter2"));
    // Statements that read no product go to no domain file.
    assert!(read_events(&files.sales).is_empty() && read_events(&files.geo).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_name_the_policies_a_statement_applied() {
    let files = AuditFiles::new();
    let s = TestServer::start_with(&tpch().domains_dir, &files.section(true)).await;
    let c = s
        .connect_as(crate::harness::REGIONAL.0, crate::harness::REGIONAL.1)
        .await
        .unwrap();
    c.simple_query("SELECT count(*) FROM sales.customer")
        .await
        .unwrap();
    c.simple_query("SELECT count(*) FROM sales.orders")
        .await
        .unwrap();
    let st = c
        .prepare("SELECT c_phone FROM sales.customer WHERE c_custkey > $1")
        .await
        .unwrap();
    c.query(&st, &[&0i64]).await.unwrap();
    let e = c
        .simple_query("SELECT count(*) FROM supply.part")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42501");
    let events = wait_events(&files.main, 4).await;
    let both = serde_json::json!(["sales.customers_of_my_region", "sales.phone_prefix_only"]);
    assert_eq!(events[0]["user"], "carol");
    assert_eq!(
        events[0]["roles"],
        serde_json::json!(["analyst", "public", "regional"])
    );
    assert_eq!(events[0]["policies"], both, "{}", events[0]);
    assert_eq!(events[1]["tables"], serde_json::json!(["sales.orders"]));
    assert_eq!(
        events[1]["policies"],
        serde_json::json!([]),
        "{}",
        events[1]
    );
    assert_eq!(events[2]["protocol"], "extended");
    assert_eq!(
        events[2]["policies"], both,
        "a portal reports what its Parse planned: {}",
        events[2]
    );
    assert_eq!(
        (
            events[3]["outcome"].as_str(),
            events[3]["sqlstate"].as_str()
        ),
        (Some("error"), Some("42501"))
    );
}

pub(crate) async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    sock.read_to_string(&mut out).await.unwrap();
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// The value of one series in a Prometheus text body, if present.
pub(crate) fn series(body: &str, name: &str) -> Option<u64> {
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_bytes_scanned_per_domain() {
    let files = AuditFiles::new();
    let s = TestServer::start_with(
        &tpch().domains_dir,
        &format!("admin_listen = \"127.0.0.1:0\"\n{}", files.section(true)),
    )
    .await;
    wait_for("the operator port", Duration::from_secs(10), || {
        s.shared.admin_addr().is_some()
    })
    .await;
    let admin = s.shared.admin_addr().unwrap();
    let body = http_get(admin, "/metrics").await;
    assert!(
        body.contains("# TYPE meshgate_bytes_scanned_total counter"),
        "{body}"
    );
    assert_eq!(
        series(&body, "meshgate_bytes_scanned_total{domain=\"geo\"}"),
        None,
        "nothing read yet"
    );

    let c = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let rows = c
        .query("SELECT n_name, n_comment FROM geo.nation", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 25);
    let body = http_get(admin, "/metrics").await;
    let geo = series(&body, "meshgate_bytes_scanned_total{domain=\"geo\"}")
        .unwrap_or_else(|| panic!("{body}"));
    assert!(geo > 0);
    assert_eq!(
        series(&body, "meshgate_bytes_scanned_total{domain=\"sales\"}"),
        None,
        "{body}"
    );
    // The metric and the audit event count the same bytes.
    let events = wait_events(&files.main, 1).await;
    assert_eq!(events[0]["bytes_scanned"]["geo"].as_u64(), Some(geo));
    let body = http_get(admin, "/metrics").await;
    assert_eq!(
        series(&body, "meshgate_audit_events_total"),
        Some(1),
        "{body}"
    );
    assert_eq!(
        series(&body, "meshgate_audit_events_dropped_total"),
        Some(0)
    );
    assert_eq!(series(&body, "meshgate_audit_write_errors_total"), Some(0));

    // A second query adds to the counter.
    c.query("SELECT n_name, n_comment FROM geo.nation", &[])
        .await
        .unwrap();
    let body = http_get(admin, "/metrics").await;
    assert_eq!(
        series(&body, "meshgate_bytes_scanned_total{domain=\"geo\"}"),
        Some(2 * geo)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_turns_auditing_on_and_bad_audit_settings_are_named() {
    let s = TestServer::start_with(&tpch().domains_dir, "").await;
    let c = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    c.simple_query("SELECT 1").await.unwrap();
    let files = AuditFiles::new();
    let path = s.shared.config().path.clone();
    let original = std::fs::read_to_string(&path).unwrap();

    // An unknown domain is refused, naming the file and the key; the running config stays.
    std::fs::write(
        &path,
        format!(
            "{original}\n[audit]\nsink = \"stdout\"\n[audit.domains]\nnope = \"{}\"\n",
            files.sales.display()
        ),
    )
    .unwrap();
    let e = meshgate::Config::load(&path).unwrap_err();
    assert_eq!(e.key, "audit.domains.nope", "{e}");
    assert!(e.to_string().contains(&*path.to_string_lossy()), "{e}");
    let admin = s.admin().await;
    let reload = || async {
        match &admin.simple_query("SELECT pg_reload_conf()").await.unwrap()[1] {
            SimpleQueryMessage::Row(r) => r.get(0).unwrap().to_string(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(reload().await, "f");
    std::fs::write(&path, format!("{original}\n[audit]\nsink = \"file\"\n")).unwrap();
    assert_eq!(meshgate::Config::load(&path).unwrap_err().key, "audit.path");
    std::fs::write(
        &path,
        format!("{original}\n[audit]\nsink = \"file\"\npath = \"/no/such/dir/a.jsonl\"\n"),
    )
    .unwrap();
    assert_eq!(meshgate::Config::load(&path).unwrap_err().key, "audit.path");

    std::fs::write(&path, format!("{original}{}", files.section(true))).unwrap();
    assert_eq!(reload().await, "t");
    c.simple_query("SELECT r_name FROM geo.region WHERE r_regionkey = 1")
        .await
        .unwrap();
    let events = wait_events(&files.main, 1).await;
    assert_eq!(
        events.len(),
        1,
        "only statements after the reload: {events:#?}"
    );
    assert_eq!(
        events[0]["statement"],
        "SELECT r_name FROM geo.region WHERE r_regionkey = $?"
    );
    assert_eq!(wait_events(&files.geo, 1).await, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_audit_file_drops_events_and_never_blocks_sessions() {
    // A FIFO nobody reads: the writer thread blocks opening it, as on a hung disk.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("audit.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let extra = format!(
        "\n[audit]\nsink = \"file\"\npath = \"{}\"\nqueue_events = 4\n",
        fifo.display()
    );
    let s = TestServer::start_with(&tpch().domains_dir, &extra).await;
    let c = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    const N: u64 = 50;
    let t = Instant::now();
    for _ in 0..N {
        c.simple_query("SELECT 1").await.unwrap();
    }
    assert!(t.elapsed() < Duration::from_secs(30), "sessions went on");
    // The writer holds the first event, the queue four more; every later one is dropped.
    let dropped = s.shared.audit.counters().dropped;
    assert!((N - 5..=N - 4).contains(&dropped), "dropped {dropped}");

    // A reader turns up: the writer delivers what it kept and goes on.
    let kept = (N - dropped) as usize;
    let path = fifo.clone();
    let lines = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let r = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        r.lines().take(kept).map(|l| l.unwrap()).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for l in &lines {
        let e: Value = serde_json::from_str(l).unwrap();
        assert_eq!(e["statement"], "SELECT $?");
        assert_eq!(e["outcome"], "ok");
    }
    assert_eq!(lines.len(), kept);
    wait_for(
        "the kept events counted as written",
        Duration::from_secs(10),
        || s.shared.audit.counters().written == kept as u64,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_write_failures_are_counted_and_the_server_goes_on() {
    // The path names a directory: every open fails.
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[audit]\nsink = \"file\"\npath = \"{}\"\n",
        dir.path().display()
    );
    let s = TestServer::start_with(&tpch().domains_dir, &extra).await;
    let c = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            rows_of(
                &c.simple_query("SELECT r_name FROM geo.region")
                    .await
                    .unwrap()
            ),
            5
        );
    }
    wait_for("three failed audit writes", Duration::from_secs(10), || {
        s.shared.audit.counters().write_errors == 3
    })
    .await;
    assert_eq!(s.shared.audit.counters().written, 0);
    assert_eq!(
        rows_of(
            &c.simple_query("SELECT r_name FROM geo.region")
                .await
                .unwrap()
        ),
        5,
        "the session is unaffected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_closed_before_its_end_is_one_event_with_the_rows_sent() {
    let files = AuditFiles::new();
    let s = TestServer::start_with(&tpch().domains_dir, &files.section(true)).await;
    let since = chrono::Utc::now();
    let cs = format!(
        "{} application_name=audit-it",
        s.conn_string(ANALYST.0, ANALYST.1)
    );
    let (mut c, _conn) = connect_watched(&cs).await.unwrap();
    let t = Instant::now();
    let pid: i64 = c
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get::<_, i32>(0)
        .into();
    let tx = c.transaction().await.unwrap();
    let portal = tx
        .bind("SELECT l_orderkey FROM sales.lineitem", &[])
        .await
        .unwrap();
    assert_eq!(tx.query_portal(&portal, 30).await.unwrap().len(), 30);
    assert_eq!(tx.query_portal(&portal, 30).await.unwrap().len(), 30);
    drop(portal);
    tx.commit().await.unwrap();
    let within = t.elapsed();
    let mut x = vec![
        Expect::ok("SELECT pg_backend_pid()", "extended", 1, within),
        Expect::ok("START TRANSACTION", "simple", 0, within),
        Expect::ok(
            "SELECT l_orderkey FROM sales.lineitem",
            "extended",
            60,
            within,
        )
        .reads(&["sales.lineitem"], &["sales"]),
        Expect::ok("COMMIT", "simple", 0, within),
    ];
    // The scan may not have fetched anything beyond what the first batches needed.
    x[2].scanned_maybe = true;
    let events = wait_events(&files.main, x.len()).await;
    let matched = match_events(&events, &x);
    for (e, x) in matched.iter().zip(&x) {
        check(e, x, pid, since);
    }
    assert_eq!(wait_events(&files.sales, 1).await, vec![matched[2].clone()]);
}
