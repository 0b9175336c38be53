//! Operational databases as data products: a PostgreSQL table served in place, next to the
//! lake, under the same policies, with its filters run in the source and its outages contained.
//!
//! Each test starts its own PostgreSQL (initdb in a temporary directory, SCRAM on a loopback
//! port), so stopping one source never disturbs another test.

use std::path::Path;

use tokio_postgres::Client;

use crate::harness::{code, rows, tpch, write_config, TestServer, REGIONAL};
use crate::pg_server::{self, PgServer};

pub(crate) const PASSWORD: &str = "s3cret-billing-pw";

pub(crate) async fn plan(c: &Client, sql: &str) -> String {
    rows(c, sql)
        .await
        .into_iter()
        .flatten()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
}

/// A source with `billing.invoices` (5000 rows, commented) readable by the role meshgate logs
/// in as, whose statements the server logs.
pub(crate) async fn source() -> PgServer {
    let pg = pg_server::start(true);
    let c = pg.connect().await;
    c.batch_execute(&format!(
        "CREATE ROLE billing_reader LOGIN PASSWORD '{PASSWORD}';
         ALTER ROLE billing_reader SET log_statement = 'all';
         CREATE SCHEMA billing;
         CREATE TABLE billing.invoices (
             id int4 PRIMARY KEY,
             n_nationkey int8 NOT NULL,
             amount numeric(12,2) NOT NULL,
             issued timestamptz NOT NULL,
             note text,
             paid boolean NOT NULL);
         INSERT INTO billing.invoices
             SELECT g, g % 25, (g * 7 % 100000) / 100.0,
                    timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour 1 second',
                    CASE WHEN g % 10 = 0 THEN NULL ELSE 'note ' || g END, g % 3 = 0
             FROM generate_series(1, 5000) g;
         COMMENT ON TABLE billing.invoices IS 'Invoices issued by billing.';
         COMMENT ON COLUMN billing.invoices.amount IS 'Invoice total in EUR.';
         COMMENT ON COLUMN billing.invoices.note IS 'The source''s comment on note.';
         CREATE TABLE billing.customers (
             id int8 PRIMARY KEY,
             tier int4 NOT NULL,
             name text NOT NULL);
         INSERT INTO billing.customers SELECT g, g % 4, 'customer ' || g
             FROM generate_series(0, 999) g;
         CREATE VIEW billing.slow AS SELECT 1::int4 AS id FROM pg_sleep(600);
         GRANT USAGE ON SCHEMA billing TO billing_reader;
         GRANT SELECT ON billing.invoices, billing.customers, billing.slow TO billing_reader;
         ANALYZE billing.invoices;
         ANALYZE billing.customers;"
    ))
    .await
    .expect("create the billing source");
    pg
}

/// The TPC-H mesh's domain files plus a billing domain whose `invoices` is `pg`'s table, with
/// its password in a file; `regional` sees nations 0-4 only and no notes.
pub(crate) fn domains(pg: &PgServer, dir: &Path) {
    for f in std::fs::read_dir(&tpch().domains_dir).expect("fixture domains") {
        let f = f.expect("entry");
        std::fs::copy(f.path(), dir.join(f.file_name())).expect("copy domain file");
    }
    std::fs::write(dir.join("billing.pw"), format!("{PASSWORD}\n")).expect("password file");
    std::fs::write(
        dir.join("billing.toml"),
        format!(
            r#"name = "billing"
[storage]
root = "."

[[products]]
name = "billing"

[[products.tables]]
name = "invoices"
format = "postgres"
columns = {{ note = "Free text from the clerk." }}

[products.tables.connection]
host = "127.0.0.1"
port = {0}
database = "{1}"
user = "billing_reader"
password_file = "billing.pw"
schema = "billing"
tls = "disable"
max_connections = 2

[[products.tables]]
name = "customers"
format = "postgres"

[products.tables.connection]
host = "127.0.0.1"
port = {0}
database = "{1}"
user = "billing_reader"
password_file = "billing.pw"
schema = "billing"
tls = "disable"
max_connections = 2

[[products.tables]]
name = "slow"
format = "postgres"

[products.tables.connection]
host = "127.0.0.1"
port = {0}
database = "{1}"
user = "billing_reader"
password_file = "billing.pw"
schema = "billing"
tls = "disable"
max_connections = 2

[[grants]]
product = "billing"
to = ["analyst"]

[[row_filters]]
name = "first_nations"
product = "billing"
table = "invoices"
to = ["regional"]
filter = "n_nationkey < 5"

[[masks]]
name = "no_notes"
product = "billing"
table = "invoices"
column = "note"
to = ["regional"]
mask = "'masked'"
"#,
            pg.port,
            pg_server::DATABASE
        ),
    )
    .expect("billing domain file");
}

pub(crate) async fn serve(pg: &PgServer) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    domains(pg, dir.path());
    (TestServer::start_with(dir.path(), "").await, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_types_comments_and_values_are_the_sources() {
    let pg = source().await;
    let direct = pg.connect().await;
    let (s, _dir) = serve(&pg).await;
    let admin = s.admin().await;

    let columns = "SELECT column_name, data_type, numeric_precision, numeric_scale, is_nullable \
         FROM information_schema.columns \
         WHERE table_schema = 'billing' AND table_name = 'invoices' ORDER BY ordinal_position";
    let served = rows(&admin, columns).await;
    assert_eq!(served, rows(&direct, columns).await, "information_schema");
    let types: Vec<_> = served.iter().map(|r| r[1].clone().unwrap()).collect();
    assert_eq!(
        types,
        [
            "integer",
            "bigint",
            "numeric",
            "timestamp with time zone",
            "text",
            "boolean"
        ]
    );

    let formatted = "SELECT attname, format_type(atttypid, atttypmod), \
         col_description(attrelid, attnum), obj_description(attrelid, 'pg_class') \
         FROM pg_catalog.pg_attribute \
         WHERE attrelid = 'billing.invoices'::regclass AND attnum > 0 ORDER BY attnum";
    let got = rows(&admin, formatted).await;
    let text = |r: usize, c: usize| got[r][c].as_deref();
    assert_eq!(text(2, 1), Some("numeric(12,2)"));
    assert_eq!(text(3, 1), Some("timestamp with time zone"));
    assert_eq!(
        text(2, 2),
        Some("Invoice total in EUR."),
        "the source's comment"
    );
    assert_eq!(
        text(4, 2),
        Some("Free text from the clerk."),
        "the domain file overrides the source's comment"
    );
    assert_eq!(text(0, 3), Some("Invoices issued by billing."));

    let values = "SELECT id, n_nationkey, amount, issued, note, paid FROM billing.invoices \
         WHERE id IN (1, 10, 4999) ORDER BY id";
    assert_eq!(
        rows(&admin, values).await,
        rows(&direct, values).await,
        "values as the source prints them"
    );

    let listed = rows(
        &admin,
        "SELECT format, location FROM mesh.datasets WHERE product = 'billing' AND table_name = 'invoices'",
    )
    .await;
    assert_eq!(
        listed,
        [[
            Some("postgres".to_string()),
            Some(format!(
                "postgres://127.0.0.1:{}/{}/billing.invoices",
                pg.port,
                pg_server::DATABASE
            ))
        ]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_with_the_lake_matches_postgresql_and_filters_run_in_the_source() {
    let pg = source().await;
    // The lake's rows in the same PostgreSQL: the reference computes the same join there.
    pg_server::load(&pg.conn_string(), &tpch().baseline_dir).await;
    let direct = pg.connect().await;
    let (s, _dir) = serve(&pg).await;
    let admin = s.admin().await;

    let join = "SELECT n.n_name, count(*), sum(i.amount), min(i.issued) \
         FROM billing.invoices i JOIN geo.nation n ON i.n_nationkey = n.n_nationkey \
         WHERE i.paid AND i.amount > 100 GROUP BY n.n_name ORDER BY n.n_name";
    let want = rows(&direct, join).await;
    assert_eq!(want.len(), 25);
    assert_eq!(rows(&admin, join).await, want, "meshgate = PostgreSQL");

    let selective = "SELECT id, amount FROM billing.invoices WHERE id BETWEEN 100 AND 102 AND note LIKE 'note%'";
    let explained = plan(&admin, &format!("EXPLAIN {selective}")).await;
    let pushed = r#"SELECT "id", "amount"::text FROM "billing"."invoices" WHERE ("id" >= '100'::int4) AND ("id" <= '102'::int4) AND ("note" LIKE 'note%'::text)"#;
    assert!(
        explained.contains("PostgresScanExec") && explained.contains(pushed),
        "EXPLAIN shows the SQL sent:\n{explained}"
    );
    let analyzed = plan(&admin, &format!("EXPLAIN ANALYZE {selective}")).await;
    // 101 and 102: invoice 100 has no note.
    assert_eq!(rows(&direct, selective).await.len(), 2);
    assert!(
        analyzed.contains("rows_fetched=2"),
        "2 of the 5000 rows leave the source:\n{analyzed}"
    );
    assert!(
        pg.log().contains(pushed),
        "the source ran the filtered statement:\n{}",
        pg.log()
    );

    let limited = plan(&admin, "EXPLAIN SELECT id FROM billing.invoices LIMIT 7").await;
    assert!(
        limited.contains(r#"sql=SELECT "id" FROM "billing"."invoices" LIMIT 7"#),
        "{limited}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_names_the_statement_sent_to_the_source() {
    let pg = source().await;
    let dir = tempfile::tempdir().expect("tempdir");
    domains(&pg, dir.path());
    let log = dir.path().join("audit.jsonl");
    let s = TestServer::start_with(
        dir.path(),
        &format!("\n[audit]\nsink = \"file\"\npath = \"{}\"\n", log.display()),
    )
    .await;
    let admin = s.admin().await;
    rows(&admin, "SELECT id FROM billing.invoices WHERE id < 4242").await;
    let event = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| {
                e["statement"]
                    .as_str()
                    .is_some_and(|t| t.contains("billing.invoices"))
            })
    };
    crate::harness::wait_for(
        "the audit event",
        std::time::Duration::from_secs(30),
        || event().is_some(),
    )
    .await;
    let e = event().expect("found above");
    assert_eq!(e["tables"], serde_json::json!(["billing.invoices"]));
    let sent = &e["source_statements"];
    assert_eq!(
        sent[0]["source"],
        format!("postgres://127.0.0.1:{}/{}", pg.port, pg_server::DATABASE),
        "{e}"
    );
    let text = sent[0]["statement"]
        .as_str()
        .unwrap_or_else(|| panic!("{e}"));
    assert!(
        text.starts_with(r#"SELECT "id" FROM "billing"."invoices" WHERE"#)
            && !text.contains("4242"),
        "the pushed statement, its literal redacted: {text}"
    );

    // A join sent whole is named as the one statement the source ran.
    rows(
        &admin,
        "SELECT c.tier, count(*) FROM billing.invoices i JOIN billing.customers c \
         ON i.n_nationkey = c.id WHERE i.id < 4343 GROUP BY c.tier",
    )
    .await;
    let joined = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| {
                e["statement"]
                    .as_str()
                    .is_some_and(|t| t.contains("billing.customers"))
            })
    };
    crate::harness::wait_for(
        "the join's audit event",
        std::time::Duration::from_secs(30),
        || joined().is_some(),
    )
    .await;
    let e = joined().expect("found above");
    let sent = e["source_statements"].as_array().expect("statements");
    assert_eq!(sent.len(), 1, "{e}");
    let text = sent[0]["statement"].as_str().unwrap_or_default();
    assert!(
        text.contains(r#"JOIN "billing"."customers""#)
            && text.contains("GROUP BY")
            && !text.contains("4343"),
        "the joined statement, its literal redacted: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_masked_user_sees_exactly_their_rows() {
    let pg = source().await;
    let direct = pg.connect().await;
    let (s, _dir) = serve(&pg).await;
    let regional = s.connect_as(REGIONAL.0, REGIONAL.1).await.expect("carol");

    let want = rows(
        &direct,
        "SELECT id, n_nationkey, amount, 'masked' FROM billing.invoices \
         WHERE n_nationkey < 5 AND paid AND amount > 10 ORDER BY id",
    )
    .await;
    assert!(want.len() > 100);
    let query = "SELECT id, n_nationkey, amount, note FROM billing.invoices \
         WHERE paid AND amount > 10 ORDER BY id";
    assert_eq!(rows(&regional, query).await, want);

    // A predicate that fails on hidden rows only (nation 7) is evaluated on visible ones only;
    // the row filter itself runs in the source.
    let probe = "SELECT count(*) FROM billing.invoices WHERE 1 / (n_nationkey - 7) > -100";
    assert_eq!(
        rows(&regional, probe).await,
        rows(
            &direct,
            "SELECT count(*) FROM billing.invoices WHERE n_nationkey < 5"
        )
        .await
    );
    let explained = plan(&regional, &format!("EXPLAIN {probe}")).await;
    let scan = explained
        .lines()
        .find(|l| l.contains("PostgresScanExec"))
        .unwrap_or_else(|| panic!("no remote scan:\n{explained}"));
    assert!(
        scan.contains(r#"WHERE ("n_nationkey" < '5'::int8)"#) && !scan.contains(" / "),
        "only the row filter is sent:\n{explained}"
    );

    let admin = s.admin().await;
    let all = rows(&admin, "SELECT count(*) FROM billing.invoices").await;
    assert_eq!(all, [[Some("5000".to_string())]]);
}

/// `openssl` with these arguments, in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` (`<name>.crt`, `<name>.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_is_reached_over_verified_tls() {
    let pg = source().await;
    let certs = tempfile::tempdir().expect("tempdir");
    make_ca(certs.path(), "ca");
    make_ca(certs.path(), "other-ca");
    std::fs::write(
        certs.path().join("san.ext"),
        "subjectAltName = IP:127.0.0.1\n",
    )
    .expect("ext");
    openssl(
        certs.path(),
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        certs.path(),
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    );
    pg.enable_ssl(
        &certs.path().join("server.crt"),
        &certs.path().join("server.key"),
    );
    let direct = pg.connect().await;

    let serve_with_ca = |ca: &'static str| {
        let dir = tempfile::tempdir().expect("tempdir");
        domains(&pg, dir.path());
        std::fs::copy(certs.path().join(ca), dir.path().join("ca.pem")).expect("copy CA");
        let billing = dir.path().join("billing.toml");
        let text = std::fs::read_to_string(&billing).expect("read");
        std::fs::write(
            &billing,
            text.replace(
                "tls = \"disable\"",
                "tls = \"verify-full\"\nca_file = \"ca.pem\"",
            ),
        )
        .expect("write");
        dir
    };

    let dir = serve_with_ca("ca.crt");
    let s = TestServer::start_with(dir.path(), "").await;
    let admin = s.admin().await;
    assert_eq!(
        rows(&admin, "SELECT count(*) FROM billing.invoices").await,
        [[Some("5000".to_string())]]
    );
    let plain: i64 = direct
        .query_one(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.usename = 'billing_reader' AND NOT s.ssl",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0);
    let encrypted: i64 = direct
        .query_one(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.usename = 'billing_reader' AND s.ssl",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0);
    assert!(
        plain == 0 && encrypted >= 1,
        "{plain} plain, {encrypted} TLS connections"
    );

    // A certificate that does not chain to the domain's CA is refused: no connection, 08001.
    let dir = serve_with_ca("other-ca.crt");
    let s = TestServer::start_with(dir.path(), "").await;
    let admin = s.admin().await;
    let e = admin
        .simple_query("SELECT count(*) FROM billing.invoices")
        .await
        .expect_err("the source's certificate is not trusted");
    assert_eq!(code(&e), "08001", "{e:?}");
    let message = e
        .as_db_error()
        .expect("an ErrorResponse")
        .message()
        .to_string();
    assert!(
        message.contains(&format!("postgres://127.0.0.1:{}/", pg.port))
            && !message.contains(PASSWORD),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_a_source_are_bounded() {
    let pg = source().await;
    let direct = pg.connect().await;
    let (s, _dir) = serve(&pg).await;
    let mut sessions = Vec::new();
    for _ in 0..6 {
        sessions.push(s.admin().await);
    }
    // Six sessions at once through a pool of two (both tables name the same server, database,
    // user and limit, so they share it): all are answered.
    let answers = futures::future::join_all(sessions.iter().enumerate().map(|(i, c)| async move {
        rows(
            c,
            &format!("SELECT count(*) FROM billing.invoices WHERE n_nationkey <> {i}"),
        )
        .await
    }))
    .await;
    assert!(
        answers.iter().all(|a| a == &[[Some("4800".to_string())]]),
        "{answers:?}"
    );
    let opened: i64 = direct
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'billing_reader'",
            &[],
        )
        .await
        .expect("activity")
        .get(0);
    assert!((1..=2).contains(&opened), "{opened} connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_query_stops_in_the_source() {
    let pg = source().await;
    let direct = pg.connect().await;
    let (s, _dir) = serve(&pg).await;
    let admin = s.admin().await;
    admin
        .batch_execute("SET statement_timeout = 300")
        .await
        .expect("set");
    let e = admin
        .simple_query("SELECT * FROM billing.slow")
        .await
        .expect_err("the source sleeps for 10 minutes");
    assert_eq!(code(&e), "57014", "{e:?}");

    // The source's statement is cancelled too: its session goes idle long before the sleep ends.
    let active = "SELECT count(*) FROM pg_stat_activity \
         WHERE usename = 'billing_reader' AND state = 'active'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let n: i64 = direct
            .query_one(active, &[])
            .await
            .expect("activity")
            .get(0);
        if n == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the source still runs the statement"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    admin
        .batch_execute("SET statement_timeout = 0")
        .await
        .expect("reset");
    assert_eq!(
        rows(&admin, "SELECT count(*) FROM billing.invoices").await,
        [[Some("5000".to_string())]],
        "the pool serves the next query"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_goes_down_fails_only_its_queries_and_comes_back() {
    let pg = source().await;
    let (s, _dir) = serve(&pg).await;
    let admin = s.admin().await;
    let count = "SELECT count(*) FROM billing.invoices WHERE paid";
    let before = rows(&admin, count).await;
    assert_eq!(before, [[Some("1666".to_string())]]);

    pg.stop();
    let e = admin
        .simple_query(count)
        .await
        .expect_err("the source is down");
    let db = e.as_db_error().expect("an ErrorResponse");
    assert!(
        ["08001", "08006"].contains(&code(&e).as_str()),
        "{}: {}",
        code(&e),
        db.message()
    );
    let name = format!("postgres://127.0.0.1:{}/{}", pg.port, pg_server::DATABASE);
    assert!(
        db.message().contains(&name),
        "names the source: {}",
        db.message()
    );
    assert!(!db.message().contains(PASSWORD), "{}", db.message());

    // The session goes on: the lake is still there.
    assert_eq!(
        rows(&admin, "SELECT count(*) FROM geo.region").await,
        [[Some("5".to_string())]]
    );

    pg.start_again();
    assert_eq!(rows(&admin, count).await, before, "back with the source");
}

#[test]
fn check_validates_a_connection_without_printing_its_password() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let pg = rt.block_on(source());
    let dir = tempfile::tempdir().expect("tempdir");
    let domains_dir = dir.path().join("domains");
    std::fs::create_dir(&domains_dir).expect("domains dir");
    domains(&pg, &domains_dir);
    let config = write_config(dir.path(), &domains_dir, "");
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_meshgate"))
            .arg("check")
            .arg("--config")
            .arg(&config)
            .output()
            .expect("run meshgate check")
    };
    let out = check();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");

    let billing = domains_dir.join("billing.toml");
    let file = std::fs::read_to_string(&billing).expect("read");
    std::fs::write(
        &billing,
        file.replace(
            "password_file = \"billing.pw\"",
            "password_env = \"MESHGATE_TEST_UNSET_BILLING_PW\"",
        ),
    )
    .expect("write");
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("password_env") && err.contains("MESHGATE_TEST_UNSET_BILLING_PW"),
        "{err}"
    );
}

/// Runs `sql` in the sqlite3 CLI on `file`, returning what it prints.
fn sqlite3(file: &Path, args: &[&str], sql: &str) -> String {
    let out = std::process::Command::new("sqlite3")
        .args(args)
        .arg(file)
        .arg(sql)
        .output()
        .expect("sqlite3 runs (.ci/run installs it)");
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_is_served_joined_with_the_lake_and_filtered_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in std::fs::read_dir(&tpch().domains_dir).expect("fixture domains") {
        let f = f.expect("entry");
        std::fs::copy(f.path(), dir.path().join(f.file_name())).expect("copy domain file");
    }
    let file = dir.path().join("plant.db");
    sqlite3(
        &file,
        &[],
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, n_nationkey INTEGER NOT NULL, \
           device VARCHAR(20) NOT NULL, value REAL, taken DATETIME, ok BOOLEAN);
         WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 3000)
         INSERT INTO readings
           SELECT x, x % 25, 'dev-' || (x % 7), CASE WHEN x % 11 = 0 THEN NULL ELSE x * 0.25 END,
                  datetime('2024-01-01', '+' || x || ' minutes'), x % 2 FROM g;",
    );
    std::fs::write(
        dir.path().join("plant.toml"),
        r#"name = "plant"
[storage]
root = "."

[[products]]
name = "plant"

[[products.tables]]
name = "readings"
format = "sqlite"
description = "Sensor readings shipped by the plant."

[products.tables.connection]
path = "plant.db"

[[grants]]
product = "plant"
to = ["analyst"]
"#,
    )
    .expect("plant domain file");
    let s = TestServer::start_with(dir.path(), "").await;
    let admin = s.admin().await;

    let types = rows(
        &admin,
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_schema = 'plant' AND table_name = 'readings' ORDER BY ordinal_position",
    )
    .await;
    let types: Vec<_> = types.iter().map(|r| r[1].clone().unwrap()).collect();
    assert_eq!(
        types,
        [
            "bigint",
            "bigint",
            "text",
            "double precision",
            "timestamp without time zone",
            "boolean"
        ]
    );

    // The reference: PostgreSQL over the lake's rows and the file's rows, as sqlite3 prints them.
    let pg = pg_server::start(false);
    pg_server::load(&pg.conn_string(), &tpch().baseline_dir).await;
    let direct = pg.connect().await;
    direct
        .batch_execute(
            "CREATE SCHEMA plant; CREATE TABLE plant.readings (id int8, n_nationkey int8, \
             device text, value float8, taken timestamp, ok boolean)",
        )
        .await
        .expect("reference table");
    let csv = sqlite3(
        &file,
        &["-csv"],
        "SELECT id, n_nationkey, device, value, taken, CASE ok WHEN 1 THEN 't' ELSE 'f' END FROM readings",
    );
    let sink = direct
        .copy_in("COPY plant.readings FROM STDIN (FORMAT csv)")
        .await
        .expect("copy");
    futures::pin_mut!(sink);
    futures::SinkExt::send(&mut sink, bytes::Bytes::from(csv))
        .await
        .expect("copy rows");
    sink.finish().await.expect("copy done");

    let join = "SELECT n.n_name, count(*), count(r.value), sum(r.value), max(r.taken) \
         FROM plant.readings r JOIN geo.nation n ON r.n_nationkey = n.n_nationkey \
         WHERE r.ok AND r.device <> 'dev-3' GROUP BY n.n_name ORDER BY n.n_name";
    let want = rows(&direct, join).await;
    assert_eq!(want.len(), 25);
    assert_eq!(rows(&admin, join).await, want, "meshgate = PostgreSQL");

    let selective = "SELECT id, value FROM plant.readings WHERE id < 4 AND device >= 'dev-2'";
    let analyzed = plan(&admin, &format!("EXPLAIN ANALYZE {selective}")).await;
    assert!(
        analyzed.contains(r#"sql=SELECT "id", "value" FROM "readings" WHERE ("id" < 4) AND ("device" COLLATE BINARY >= 'dev-2')"#),
        "the filter runs in the file's engine:\n{analyzed}"
    );
    assert_eq!(rows(&direct, selective).await.len(), 2);
    assert!(
        analyzed.contains("rows_fetched=2"),
        "2 of the 3000 rows leave the file:\n{analyzed}"
    );
    assert_eq!(
        rows(
            &admin,
            "SELECT format, location FROM mesh.datasets WHERE product = 'plant'"
        )
        .await,
        [[
            Some("sqlite".to_string()),
            Some("sqlite file of domain plant".to_string())
        ]]
    );
}

/// The lines of a plan that send a statement to a source, and the statements themselves.
fn sent(explained: &str) -> Vec<String> {
    explained
        .lines()
        .filter(|l| l.contains("RemoteQueryExec") || l.contains("ScanExec: source="))
        .map(|l| l.split_once("sql=").map_or("", |(_, sql)| sql).to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_of_one_sources_tables_runs_there_as_one_statement() {
    let pg = source().await;
    let direct = pg.connect().await;
    let (s, _dir) = serve(&pg).await;
    let admin = s.admin().await;

    let query = "SELECT c.tier, count(*), sum(i.amount), max(i.issued), min(c.id) \
         FROM billing.invoices i JOIN billing.customers c ON i.n_nationkey = c.id \
         WHERE i.paid AND i.amount > 100 GROUP BY c.tier ORDER BY c.tier DESC LIMIT 3";
    let want = rows(&direct, query).await;
    assert_eq!(want.len(), 3);
    assert_eq!(rows(&admin, query).await, want, "meshgate = PostgreSQL");

    let explained = plan(&admin, &format!("EXPLAIN {query}")).await;
    let statements = sent(&explained);
    assert_eq!(statements.len(), 1, "one statement:\n{explained}");
    assert!(
        explained.contains("RemoteQueryExec") && !explained.contains("PostgresScanExec"),
        "{explained}"
    );
    let statement = &statements[0];
    for part in ["JOIN", "GROUP BY", "ORDER BY", "LIMIT 3"] {
        assert!(
            statement.contains(part),
            "{part} runs in the source: {statement}"
        );
    }
    // The source's own log: the rows were read by one statement that joins, groups and
    // limits, and no statement read either table on its own.
    let log = pg.log();
    let ran: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(": SELECT") && l.contains("\"billing\".\"invoices\""))
        .collect();
    assert_eq!(ran.len(), 1, "{log}");
    for part in ["JOIN \"billing\".\"customers\"", "GROUP BY", "LIMIT 3"] {
        assert!(ran[0].contains(part), "{part}: {}", ran[0]);
    }

    // Only the three groups leave the source, not the 5000 invoices.
    let analyzed = plan(&admin, &format!("EXPLAIN ANALYZE {query}")).await;
    assert!(
        analyzed.contains("RemoteQueryExec") && analyzed.contains("rows_fetched=3"),
        "{analyzed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sources_join_inside_a_join_with_the_lake_matches_postgresql() {
    let pg = source().await;
    pg_server::load(&pg.conn_string(), &tpch().baseline_dir).await;
    let direct = pg.connect().await;
    let (s, _dir) = serve(&pg).await;
    let admin = s.admin().await;

    let query = "SELECT n.n_name, c.tier, count(*), sum(i.amount) \
         FROM billing.invoices i JOIN billing.customers c ON i.n_nationkey = c.id \
         JOIN geo.nation n ON n.n_nationkey = c.id \
         WHERE NOT i.paid GROUP BY n.n_name, c.tier ORDER BY n.n_name, c.tier";
    let want = rows(&direct, query).await;
    assert_eq!(want.len(), 25);
    assert_eq!(rows(&admin, query).await, want, "meshgate = PostgreSQL");

    let explained = plan(&admin, &format!("EXPLAIN {query}")).await;
    let statements = sent(&explained);
    assert_eq!(statements.len(), 1, "{explained}");
    assert!(
        statements[0].contains("JOIN") && explained.contains("RemoteQueryExec"),
        "the billing join is one statement, the lake's join runs here:\n{explained}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_masked_users_join_and_aggregate_see_only_their_rows() {
    let pg = source().await;
    let direct = pg.connect().await;
    let (s, _dir) = serve(&pg).await;
    let regional = s.connect_as(REGIONAL.0, REGIONAL.1).await.expect("carol");

    let query = "SELECT c.tier, count(*), sum(i.amount), max(i.note) \
         FROM billing.invoices i JOIN billing.customers c ON i.n_nationkey = c.id \
         WHERE i.paid GROUP BY c.tier ORDER BY c.tier";
    let want = rows(
        &direct,
        "SELECT c.tier, count(*), sum(i.amount), max('masked') \
         FROM billing.invoices i JOIN billing.customers c ON i.n_nationkey = c.id \
         WHERE i.paid AND i.n_nationkey < 5 GROUP BY c.tier ORDER BY c.tier",
    )
    .await;
    assert_eq!(want.len(), 4);
    assert_eq!(rows(&regional, query).await, want);

    // A predicate that fails on hidden rows only (nation 7 is `id % 25 = 7`) must not run
    // before the row filter, in the source or here. It names no join key, so no copy of it
    // is inferred for the customers' side.
    let probe = "SELECT c.tier, count(*) \
         FROM billing.invoices i JOIN billing.customers c ON i.n_nationkey = c.id \
         WHERE 1 / (i.id % 25 - 7) > -100 GROUP BY c.tier ORDER BY c.tier";
    eprintln!(
        "DEBUG {}",
        plan(&regional, &format!("EXPLAIN VERBOSE {probe}")).await
    );
    assert_eq!(
        rows(&regional, probe).await,
        rows(
            &direct,
            "SELECT c.tier, count(*) \
             FROM billing.invoices i JOIN billing.customers c ON i.n_nationkey = c.id \
             WHERE i.n_nationkey < 5 GROUP BY c.tier ORDER BY c.tier"
        )
        .await
    );
    let explained = plan(&regional, &format!("EXPLAIN {probe}")).await;
    assert!(explained.contains("SecurityBarrierExec"), "{explained}");
    for statement in sent(&explained) {
        assert!(!statement.contains(" / "), "{explained}");
        if statement.contains("invoices") {
            assert!(
                statement.contains("n_nationkey") && statement.contains('5'),
                "a statement reading invoices carries the row filter:\n{explained}"
            );
            assert!(
                !statement.contains("customers"),
                "nothing above the barrier joins in the source:\n{explained}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_files_strict_tables_are_joined_there_as_one_statement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("edge.db");
    sqlite3(
        &file,
        &[],
        "CREATE TABLE devices (id INTEGER PRIMARY KEY, site INTEGER NOT NULL, name TEXT) STRICT;
         CREATE TABLE samples (id INTEGER PRIMARY KEY, device INTEGER NOT NULL,
           reading INTEGER, note TEXT) STRICT;
         CREATE TABLE loose (id INTEGER, device INTEGER);
         WITH RECURSIVE g(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM g WHERE x < 49)
         INSERT INTO devices SELECT x, x % 6, 'device ' || x FROM g;
         WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 4000)
         INSERT INTO samples SELECT x, x % 50, CASE WHEN x % 13 = 0 THEN NULL ELSE x % 997 END,
           'n' || x FROM g;
         INSERT INTO loose SELECT id, device FROM samples;",
    );
    std::fs::write(
        dir.path().join("edge.toml"),
        r#"name = "edge"
[storage]
root = "."

[[products]]
name = "edge"

[[products.tables]]
name = "devices"
format = "sqlite"
[products.tables.connection]
path = "edge.db"

[[products.tables]]
name = "samples"
format = "sqlite"
[products.tables.connection]
path = "edge.db"

[[products.tables]]
name = "loose"
format = "sqlite"
[products.tables.connection]
path = "edge.db"

[[grants]]
product = "edge"
to = ["analyst"]
"#,
    )
    .expect("edge domain file");
    let s = TestServer::start_with(dir.path(), "").await;
    let admin = s.admin().await;

    let query = "SELECT d.site, count(*), count(s.reading), sum(s.reading), max(s.reading) \
         FROM edge.samples s JOIN edge.devices d ON s.device = d.id \
         WHERE s.reading > 100 GROUP BY d.site ORDER BY d.site DESC LIMIT 4";
    // The reference is the file's own engine answering the same query.
    let want: Vec<Vec<Option<String>>> = sqlite3(&file, &["-csv"], &query.replace("edge.", ""))
        .lines()
        .map(|l| l.split(',').map(|v| Some(v.to_string())).collect())
        .collect();
    assert_eq!(want.len(), 4);
    assert_eq!(rows(&admin, query).await, want, "meshgate = sqlite3");

    let explained = plan(&admin, &format!("EXPLAIN ANALYZE {query}")).await;
    let statements = sent(&explained);
    assert_eq!(statements.len(), 1, "{explained}");
    assert!(
        explained.contains("RemoteQueryExec")
            && !explained.contains("SqliteScanExec")
            && statements[0].contains("JOIN")
            && statements[0].contains("GROUP BY")
            && explained.contains("rows_fetched=4"),
        "one statement in the file, four rows out:\n{explained}"
    );

    // An ordinary table's columns may hold any value; its rows are read and checked here.
    let loose = plan(
        &admin,
        "EXPLAIN SELECT d.site, count(*) FROM edge.loose l JOIN edge.devices d \
         ON l.device = d.id GROUP BY d.site",
    )
    .await;
    assert!(
        !loose.contains("RemoteQueryExec") && loose.contains("SqliteScanExec"),
        "{loose}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sources_own_error_reaches_the_client_with_its_sqlstate() {
    let pg = source().await;
    let (s, _dir) = serve(&pg).await;
    let admin = s.admin().await;
    let count = "SELECT count(*) FROM billing.invoices WHERE paid";
    let before = rows(&admin, count).await;
    // The domain's table is renamed away in the source, after meshgate read its columns.
    let direct = pg.connect().await;
    direct
        .batch_execute("ALTER TABLE billing.invoices RENAME TO invoices_old")
        .await
        .unwrap();
    let e = admin
        .simple_query(count)
        .await
        .expect_err("the table is gone from the source");
    // undefined_table, naming the source, not XX000: whether the table's columns are read
    // again first (as here, `metadata_refresh_secs = 0`) or the scan meets PostgreSQL's own
    // error.
    assert_eq!(code(&e), "42P01", "{e:?}");
    let m = e.as_db_error().unwrap().message().to_string();
    assert!(
        m.contains(&format!("postgres://127.0.0.1:{}/", pg.port)) && m.contains("invoices"),
        "{m}"
    );
    assert!(!m.contains(PASSWORD), "{m}");
    direct
        .batch_execute("ALTER TABLE billing.invoices_old RENAME TO invoices")
        .await
        .unwrap();
    assert_eq!(rows(&admin, count).await, before, "the session goes on");

    // The table is there but its reader may no longer read it: PostgreSQL refuses the scan
    // itself, and its code and words reach the client.
    direct
        .batch_execute("REVOKE SELECT ON billing.invoices FROM billing_reader")
        .await
        .unwrap();
    let e = admin
        .simple_query(count)
        .await
        .expect_err("the source refuses");
    assert_eq!(code(&e), "42501", "{e:?}");
    let m = e.as_db_error().unwrap().message().to_string();
    assert!(
        m.starts_with(&format!("postgres://127.0.0.1:{}/", pg.port))
            && m.contains("permission denied"),
        "{m}"
    );
    direct
        .batch_execute("GRANT SELECT ON billing.invoices TO billing_reader")
        .await
        .unwrap();
    assert_eq!(rows(&admin, count).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outer_semi_and_anti_joins_of_one_source_match_postgresql() {
    let pg = source().await;
    let direct = pg.connect().await;
    let (s, _dir) = serve(&pg).await;
    let admin = s.admin().await;

    // (query, a part of the one statement sent whole, or None when the join must stay here
    // because the unparser would fold a preserved side's filter into its condition)
    let cases = [
        (
            "SELECT c.id, count(i.id) FROM billing.customers c LEFT JOIN billing.invoices i \
             ON i.n_nationkey = c.id AND i.paid GROUP BY c.id ORDER BY c.id LIMIT 40",
            Some("LEFT OUTER JOIN"),
        ),
        (
            "SELECT c.id, count(i.id) FROM billing.customers c LEFT JOIN billing.invoices i \
             ON i.n_nationkey = c.id WHERE c.tier = 1 GROUP BY c.id ORDER BY c.id LIMIT 40",
            None,
        ),
        (
            "SELECT c.id, i.id FROM billing.invoices i RIGHT JOIN billing.customers c \
             ON i.n_nationkey = c.id AND i.id < 60 ORDER BY c.id, i.id LIMIT 40",
            Some("OUTER JOIN"),
        ),
        (
            "SELECT count(*), count(i.id), count(c.id) FROM billing.invoices i \
             FULL JOIN billing.customers c ON i.n_nationkey = c.id",
            Some("FULL JOIN"),
        ),
        (
            "SELECT count(*) FROM billing.customers c \
             WHERE c.id IN (SELECT n_nationkey FROM billing.invoices)",
            Some("EXISTS"),
        ),
        (
            "SELECT count(*) FROM billing.customers c \
             WHERE NOT EXISTS (SELECT 1 FROM billing.invoices i WHERE i.n_nationkey = c.id)",
            Some("NOT EXISTS"),
        ),
        (
            "SELECT count(*) FROM billing.customers c \
             WHERE EXISTS (SELECT 1 FROM billing.invoices i WHERE i.n_nationkey = c.id AND i.paid AND i.id < 40)",
            None,
        ),
        (
            "SELECT count(*) FROM billing.customers c WHERE c.tier = 2 \
             AND NOT EXISTS (SELECT 1 FROM billing.invoices i WHERE i.n_nationkey = c.id)",
            None,
        ),
    ];
    for (query, whole) in cases {
        let want = rows(&direct, query).await;
        assert!(!want.is_empty());
        assert_eq!(
            rows(&admin, query).await,
            want,
            "meshgate = PostgreSQL: {query}"
        );
        let explained = plan(&admin, &format!("EXPLAIN {query}")).await;
        let statements = sent(&explained);
        match whole {
            Some(part) => {
                assert_eq!(statements.len(), 1, "one statement:\n{explained}");
                assert!(
                    statements[0].contains(part) && explained.contains("RemoteQueryExec"),
                    "{part} runs in the source:\n{explained}"
                );
            }
            None => assert!(
                statements.len() == 2
                    && !statements
                        .iter()
                        .any(|s| s.contains("JOIN") || s.contains("EXISTS")),
                "the join stays here, each table read on its own:\n{explained}"
            ),
        }
    }
}

/// A grouped subquery joined on its key with a filtered table, all in one source, is sent as one
/// statement that joins and groups there (the plan rules of `sql/prefilter.rs` and
/// `sql/semijoin.rs`, which reshape such joins over the lake, leave plans over a source to
/// federation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grouped_subquery_joined_in_one_source_runs_there_whole() {
    let pg = source().await;
    let direct = pg.connect().await;
    let (s, _dir) = serve(&pg).await;
    let admin = s.admin().await;

    let query = "SELECT c.id, t.total FROM billing.customers c \
         JOIN (SELECT id, sum(amount) AS total FROM billing.invoices GROUP BY id) t ON t.id = c.id \
         WHERE c.tier = 2 ORDER BY c.id LIMIT 10";
    let want = rows(&direct, query).await;
    assert_eq!(want.len(), 10);
    assert_eq!(rows(&admin, query).await, want, "meshgate = PostgreSQL");

    let explained = plan(&admin, &format!("EXPLAIN {query}")).await;
    let statements = sent(&explained);
    assert_eq!(statements.len(), 1, "one statement:\n{explained}");
    assert!(
        statements[0].contains("GROUP BY") && statements[0].contains("JOIN"),
        "the join and the aggregate run in the source:\n{explained}"
    );
}
