//! A MariaDB table as a data product: typed as PostgreSQL types, joined with the lake's Delta
//! and Iceberg tables, its filters and one-source subplans run in MariaDB only where MariaDB's
//! answer is PostgreSQL's, under the same policies, its outage contained.
//!
//! Each test starts its own MariaDB (`mariadb_server`); the reference answers come from the
//! reference PostgreSQL holding the same rows.

use std::path::Path;

use tokio_postgres::Client;

use crate::harness::{code, rows, tpch, write_config, TestServer, REGIONAL};
use crate::mariadb_server::{self, MariaDb};
use crate::reference::reference;

const PASSWORD: &str = "pl4nt-reader-pw";
/// The product (and the reference's schema) name: unique in the shared reference server.
const PRODUCT: &str = "mysql_plant";
const SHIPMENTS: usize = 5000;

async fn plan(c: &Client, sql: &str) -> String {
    rows(c, sql)
        .await
        .into_iter()
        .flatten()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
}

/// The statements a plan sends to a source.
fn sent(explained: &str) -> Vec<String> {
    explained
        .lines()
        .filter(|l| l.contains("RemoteQueryExec") || l.contains("ScanExec: source="))
        .map(|l| l.split_once("sql=").map_or("", |(_, sql)| sql).to_string())
        .collect()
}

/// The rows of `shipments` and `sites` as SQL VALUES lists both servers read alike.
fn values() -> (String, String) {
    let shipments = (1..=SHIPMENTS)
        .map(|i| {
            let shipped = format!(
                "'2024-01-{:02} {:02}:{:02}:00'",
                1 + i / 1440,
                i % 1440 / 60,
                i % 60
            );
            let logged = if i % 9 == 0 {
                "NULL".to_string()
            } else {
                format!("'2024-02-01 10:00:{:02}'", i % 60)
            };
            let note = if i % 10 == 0 {
                "NULL".to_string()
            } else {
                format!("'Note {}'", i % 50)
            };
            let big = if i % 3 == 0 {
                "18446744073709551610".to_string()
            } else {
                (i * 11).to_string()
            };
            let ratio = if i % 11 == 0 {
                "NULL".to_string()
            } else {
                format!("{}.25", i % 17)
            };
            format!(
                "({i}, {}, {}, {}, {}.{:02}, {shipped}, {logged}, 'c-{}', {note}, {}, {big}, {ratio}, {})",
                i % 100 + 1,
                i % 1500 + 1,
                i % 40,
                (i * 37) % 900,
                i % 100,
                i % 13,
                i % 2,
                i % 20,
            )
        })
        .collect::<Vec<_>>()
        .join(",\n");
    let sites = (0..20)
        .map(|i| format!("({i}, {}, 'site {i}')", i % 4))
        .collect::<Vec<_>>()
        .join(", ");
    (shipments, sites)
}

/// MariaDB with `plant.shipments` (commented, typed across MySQL's range) and `plant.sites`,
/// readable by `plant_reader`; and the same rows in the reference PostgreSQL, typed as meshgate
/// serves them, under the schema `mysql_plant`.
async fn source() -> MariaDb {
    let db = mariadb_server::start();
    let (shipments, sites) = values();
    db.sql(&format!(
        "CREATE DATABASE plant;
         CREATE TABLE plant.shipments (
             id INT NOT NULL PRIMARY KEY,
             s_suppkey BIGINT NOT NULL,
             c_custkey BIGINT NOT NULL,
             qty INT UNSIGNED NOT NULL,
             weight DECIMAL(10,2) NOT NULL COMMENT 'Gross weight in kg.',
             shipped DATETIME NOT NULL,
             logged TIMESTAMP NULL,
             code VARCHAR(12) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
             note VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci COMMENT 'The source''s note.',
             flag TINYINT(1) NOT NULL,
             big BIGINT UNSIGNED NOT NULL,
             ratio DOUBLE,
             site INT NOT NULL
         ) COMMENT 'Shipments leaving the plant.';
         CREATE TABLE plant.sites (id INT NOT NULL PRIMARY KEY, region INT NOT NULL, name VARCHAR(20));
         CREATE VIEW plant.slow AS SELECT SLEEP(600) AS z;
         SET time_zone = '+00:00';
         INSERT INTO plant.shipments VALUES {shipments};
         INSERT INTO plant.sites VALUES {sites};
         CREATE USER 'plant_reader'@'%' IDENTIFIED BY '{PASSWORD}';
         GRANT SELECT ON plant.shipments TO 'plant_reader'@'%';
         GRANT SELECT ON plant.sites TO 'plant_reader'@'%';
         GRANT SELECT ON plant.slow TO 'plant_reader'@'%';"
    ));
    // The same rows for every test: loaded once per test binary.
    static LOADED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    LOADED
        .get_or_init(|| async {
            let pg = reference().connect().await;
            pg.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {PRODUCT} CASCADE;
         CREATE SCHEMA {PRODUCT};
         SET TIME ZONE 'UTC';
         CREATE TABLE {PRODUCT}.shipments (id int4, s_suppkey int8, c_custkey int8, qty int8,
             weight numeric(10,2), shipped timestamp, logged timestamptz, code text, note text,
             flag int2, big numeric(20,0), ratio float8, site int4);
         CREATE TABLE {PRODUCT}.sites (id int4, region int4, name text);
         INSERT INTO {PRODUCT}.shipments VALUES {shipments};
         INSERT INTO {PRODUCT}.sites VALUES {sites};"
            ))
            .await
            .expect("the reference's copy");
        })
        .await;
    db
}

/// The TPC-H mesh's domain files plus a plant domain reading `db`'s tables, with the password
/// in a file; `regional` sees suppliers 1-9 only and no notes.
fn domains(db: &MariaDb, dir: &Path) {
    for f in std::fs::read_dir(&tpch().domains_dir).expect("fixture domains") {
        let f = f.expect("entry");
        std::fs::copy(f.path(), dir.join(f.file_name())).expect("copy domain file");
    }
    std::fs::write(dir.join("plant.pw"), format!("{PASSWORD}\n")).expect("password file");
    let table = |name: &str, extra: &str| {
        format!(
            r#"
[[products.tables]]
name = "{name}"
format = "mysql"
{extra}
[products.tables.connection]
host = "127.0.0.1"
port = {}
database = "plant"
user = "plant_reader"
password_file = "plant.pw"
tls = "disable"
max_connections = 2
"#,
            db.port
        )
    };
    std::fs::write(
        dir.join("plant.toml"),
        format!(
            r#"name = "plant"
[storage]
root = "."

[[products]]
name = "{PRODUCT}"
{}{}{}
[[grants]]
product = "{PRODUCT}"
to = ["analyst"]

[[row_filters]]
name = "first_suppliers"
product = "{PRODUCT}"
table = "shipments"
to = ["regional"]
filter = "s_suppkey < 10"

[[masks]]
name = "no_notes"
product = "{PRODUCT}"
table = "shipments"
column = "note"
to = ["regional"]
mask = "'masked'"
"#,
            table("shipments", "columns = { code = \"The carrier's code.\" }"),
            table("sites", ""),
            table("slow", ""),
        ),
    )
    .expect("plant domain file");
}

async fn serve(db: &MariaDb, extra: &str) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    domains(db, dir.path());
    (TestServer::start_with(dir.path(), extra).await, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_types_comments_and_a_join_with_delta_and_iceberg_match_postgresql() {
    let db = source().await;
    let (s, _dir) = serve(&db, "").await;
    let admin = s.admin().await;
    let direct = reference().connect().await;

    let columns = format!(
        "SELECT column_name, data_type, numeric_precision, numeric_scale, is_nullable \
         FROM information_schema.columns WHERE table_schema = '{PRODUCT}' \
         AND table_name = 'shipments' ORDER BY ordinal_position"
    );
    let served = rows(&admin, &columns).await;
    let types: Vec<_> = served.iter().map(|r| r[1].clone().unwrap()).collect();
    assert_eq!(
        types,
        [
            "integer",
            "bigint",
            "bigint",
            "bigint",
            "numeric",
            "timestamp without time zone",
            "timestamp with time zone",
            "text",
            "text",
            "smallint",
            "numeric",
            "double precision",
            "integer"
        ]
    );
    let described = rows(
        &admin,
        &format!(
            "SELECT format_type(atttypid, atttypmod), col_description(attrelid, attnum), \
             obj_description(attrelid, 'pg_class') FROM pg_catalog.pg_attribute \
             WHERE attrelid = '{PRODUCT}.shipments'::regclass AND attnum > 0 ORDER BY attnum"
        ),
    )
    .await;
    assert_eq!(described[4][0].as_deref(), Some("numeric(10,2)"));
    assert_eq!(described[10][0].as_deref(), Some("numeric(20,0)"));
    assert_eq!(described[4][1].as_deref(), Some("Gross weight in kg."));
    assert_eq!(
        described[7][1].as_deref(),
        Some("The carrier's code."),
        "the domain file overrides"
    );
    assert_eq!(described[8][1].as_deref(), Some("The source's note."));
    assert_eq!(
        described[0][2].as_deref(),
        Some("Shipments leaving the plant.")
    );

    let values =
        format!("SELECT * FROM {PRODUCT}.shipments WHERE id IN (1, 9, 10, 30, 4999) ORDER BY id");
    assert_eq!(
        rows(&admin, &values).await,
        rows(&direct, &values).await,
        "values as PostgreSQL prints them"
    );

    // sales.customer is Delta, supply.supplier Iceberg.
    let join = format!(
        "SELECT n.n_name, count(*), sum(sh.weight), max(sh.shipped), min(sh.logged), sum(sh.big) \
         FROM {PRODUCT}.shipments sh \
         JOIN sales.customer c ON sh.c_custkey = c.c_custkey \
         JOIN supply.supplier s ON sh.s_suppkey = s.s_suppkey \
         JOIN geo.nation n ON s.s_nationkey = n.n_nationkey \
         WHERE sh.qty > 5 AND c.c_mktsegment = 'BUILDING' GROUP BY n.n_name ORDER BY n.n_name"
    );
    let want = rows(&direct, &join).await;
    assert!(want.len() > 10, "{want:?}");
    assert_eq!(rows(&admin, &join).await, want, "meshgate = PostgreSQL");

    // Text under MariaDB's default collation ignores case: compared here, not there.
    let cased = format!(
        "SELECT count(*), count(DISTINCT note) FROM {PRODUCT}.shipments \
         WHERE note = 'note 7' OR note IN ('Note 8', 'NOTE 9')"
    );
    assert_eq!(rows(&admin, &cased).await, rows(&direct, &cased).await);
    let explained = plan(&admin, &format!("EXPLAIN {cased}")).await;
    assert!(
        sent(&explained).iter().all(|s| !s.contains("WHERE")),
        "{explained}"
    );

    let selective = format!(
        "SELECT id, weight FROM {PRODUCT}.shipments \
         WHERE id BETWEEN 100 AND 120 AND code = 'c-3' AND weight > 1.5"
    );
    let analyzed = plan(&admin, &format!("EXPLAIN ANALYZE {selective}")).await;
    let line = analyzed
        .lines()
        .find(|l| l.contains("MysqlScanExec"))
        .unwrap_or_else(|| panic!("a scan of the source:\n{analyzed}"));
    let statement = line.split_once("sql=").map_or("", |(_, s)| s);
    for part in [
        "SELECT `id`, `weight` FROM `plant`.`shipments` WHERE",
        "`id` >= 100",
        "`id` <= 120",
        "(`code` = 'c-3')",
        "`weight` > 1.5",
    ] {
        assert!(
            statement.contains(part),
            "{part} runs in MariaDB:\n{analyzed}"
        );
    }
    let want = rows(&direct, &selective).await;
    assert_eq!(want.len(), 2);
    assert!(
        line.contains("rows_fetched=2"),
        "2 of the {SHIPMENTS} rows leave the source:\n{analyzed}"
    );
    let statement = statement.split(", metrics=").next().unwrap_or_default();
    assert!(
        db.log().contains(statement),
        "the source ran the filtered statement {statement}"
    );

    assert_eq!(
        rows(
            &admin,
            &format!(
                "SELECT format, location FROM mesh.datasets WHERE product = '{PRODUCT}' \
                 AND table_name = 'shipments'"
            )
        )
        .await,
        [[
            Some("mysql".to_string()),
            Some(format!("mysql://127.0.0.1:{}/plant/shipments", db.port))
        ]]
    );
}

#[test]
fn check_validates_a_mysql_connection_without_printing_its_password() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(source());
    let dir = tempfile::tempdir().expect("tempdir");
    let domains_dir = dir.path().join("domains");
    std::fs::create_dir(&domains_dir).expect("domains dir");
    domains(&db, &domains_dir);
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

    let plant = domains_dir.join("plant.toml");
    let file = std::fs::read_to_string(&plant).expect("read");
    std::fs::write(
        &plant,
        file.replacen(
            "password_file = \"plant.pw\"",
            "password_env = \"MESHGATE_TEST_UNSET_PLANT_PW\"",
            1,
        ),
    )
    .expect("write");
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("password_env") && err.contains("MESHGATE_TEST_UNSET_PLANT_PW"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_of_mysql_tables_runs_there_as_one_statement() {
    let db = source().await;
    let (s, _dir) = serve(&db, "").await;
    let admin = s.admin().await;
    let direct = reference().connect().await;

    let query = format!(
        "SELECT st.region, count(*), sum(sh.weight), max(sh.shipped), min(sh.big) \
         FROM {PRODUCT}.shipments sh JOIN {PRODUCT}.sites st ON sh.site = st.id \
         WHERE sh.qty > 10 AND sh.code <> 'c-1' GROUP BY st.region ORDER BY st.region DESC LIMIT 3"
    );
    let want = rows(&direct, &query).await;
    assert_eq!(want.len(), 3);
    assert_eq!(rows(&admin, &query).await, want, "meshgate = PostgreSQL");

    let analyzed = plan(&admin, &format!("EXPLAIN ANALYZE {query}")).await;
    let statements = sent(&analyzed);
    assert_eq!(statements.len(), 1, "one statement:\n{analyzed}");
    for part in ["JOIN `plant`.`sites`", "GROUP BY", "ORDER BY", "LIMIT 3"] {
        assert!(
            statements[0].contains(part),
            "{part} runs in MariaDB: {}",
            statements[0]
        );
    }
    assert!(
        analyzed.contains("RemoteQueryExec")
            && !analyzed.contains("MysqlScanExec")
            && analyzed.contains("rows_fetched=3"),
        "three groups leave the source, not {SHIPMENTS} shipments:\n{analyzed}"
    );
    let log = db.log();
    let ran: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("`plant`.`shipments`"))
        .collect();
    assert!(
        ran.iter()
            .any(|l| l.contains("JOIN `plant`.`sites`") && l.contains("LIMIT 3")),
        "{log}"
    );

    // Ascending, PostgreSQL puts NULLs last and MariaDB first: sorting a nullable column
    // stays here; so does grouping by text under a case-insensitive collation.
    for local in [
        format!(
            "SELECT sh.logged, count(*) FROM {PRODUCT}.shipments sh JOIN {PRODUCT}.sites st \
             ON sh.site = st.id GROUP BY sh.logged ORDER BY sh.logged LIMIT 4"
        ),
        format!(
            "SELECT sh.note, count(*) FROM {PRODUCT}.shipments sh JOIN {PRODUCT}.sites st \
             ON sh.site = st.id GROUP BY sh.note ORDER BY sh.note LIMIT 4"
        ),
    ] {
        assert_eq!(rows(&admin, &local).await, rows(&direct, &local).await);
        let explained = plan(&admin, &format!("EXPLAIN {local}")).await;
        assert!(
            sent(&explained).iter().all(|s| !s.contains("ORDER BY")),
            "{explained}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_masked_user_sees_exactly_their_mysql_rows() {
    let db = source().await;
    let (s, _dir) = serve(&db, "").await;
    let regional = s.connect_as(REGIONAL.0, REGIONAL.1).await.expect("carol");
    let direct = reference().connect().await;

    let want = rows(
        &direct,
        &format!(
            "SELECT id, s_suppkey, weight, 'masked' FROM {PRODUCT}.shipments \
             WHERE s_suppkey < 10 AND qty > 3 ORDER BY id"
        ),
    )
    .await;
    assert!(want.len() > 100);
    let query = format!(
        "SELECT id, s_suppkey, weight, note FROM {PRODUCT}.shipments WHERE qty > 3 ORDER BY id"
    );
    assert_eq!(rows(&regional, &query).await, want);

    // A predicate that fails on hidden rows only runs on visible ones; the row filter itself
    // runs in MariaDB, and nothing above it is joined there.
    let probe = format!(
        "SELECT st.region, count(*) FROM {PRODUCT}.shipments sh JOIN {PRODUCT}.sites st \
         ON sh.site = st.id WHERE 1 / (sh.s_suppkey - 50) > -100 GROUP BY st.region ORDER BY st.region"
    );
    assert_eq!(
        rows(&regional, &probe).await,
        rows(
            &direct,
            &format!(
                "SELECT st.region, count(*) FROM {PRODUCT}.shipments sh JOIN {PRODUCT}.sites st \
                 ON sh.site = st.id WHERE sh.s_suppkey < 10 GROUP BY st.region ORDER BY st.region"
            )
        )
        .await
    );
    let explained = plan(&regional, &format!("EXPLAIN {probe}")).await;
    assert!(explained.contains("SecurityBarrierExec"), "{explained}");
    for statement in sent(&explained) {
        assert!(!statement.contains(" / "), "{explained}");
        if statement.contains("`shipments`") {
            assert!(
                statement.contains("`s_suppkey` < 10") && !statement.contains("`sites`"),
                "{explained}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_timeouts_and_outages_fail_only_their_queries_and_the_audit_names_the_sql() {
    let db = source().await;
    let dir = tempfile::tempdir().expect("tempdir");
    domains(&db, dir.path());
    let log = dir.path().join("audit.jsonl");
    let s = TestServer::start_with(
        dir.path(),
        &format!("\n[audit]\nsink = \"file\"\npath = \"{}\"\n", log.display()),
    )
    .await;
    let admin = s.admin().await;

    let count = format!("SELECT count(*) FROM {PRODUCT}.shipments WHERE id < 4242");
    let before = rows(&admin, &count).await;
    assert_eq!(before, [[Some("4241".to_string())]]);
    let event = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| {
                e["statement"]
                    .as_str()
                    .is_some_and(|t| t.contains("shipments"))
            })
    };
    crate::harness::wait_for(
        "the audit event",
        std::time::Duration::from_secs(30),
        || event().is_some(),
    )
    .await;
    let e = event().expect("found above");
    let sent = &e["source_statements"][0];
    assert_eq!(
        sent["source"],
        format!("mysql://127.0.0.1:{}/plant", db.port),
        "{e}"
    );
    let text = sent["statement"].as_str().unwrap_or_default();
    assert!(
        text.contains("FROM `plant`.`shipments`")
            && text.contains("`id` <")
            && !text.contains("4242"),
        "the statement sent, its literal redacted: {e}"
    );

    // A statement that outlives statement_timeout is killed in the source too.
    admin
        .batch_execute("SET statement_timeout = 300")
        .await
        .expect("set");
    let e = admin
        .simple_query(&format!("SELECT * FROM {PRODUCT}.slow"))
        .await
        .expect_err("the source sleeps for 10 minutes");
    assert_eq!(code(&e), "57014", "{e:?}");
    let running = "SELECT count(*) FROM information_schema.PROCESSLIST \
         WHERE USER = 'plant_reader' AND COMMAND = 'Query'";
    crate::harness::wait_for(
        "the source's statement to be killed",
        std::time::Duration::from_secs(20),
        || db.sql(running).trim() == "0",
    )
    .await;
    assert!(
        db.log().contains("KILL QUERY"),
        "killed, not left to finish"
    );
    admin
        .batch_execute("SET statement_timeout = 0")
        .await
        .expect("reset");
    assert_eq!(
        rows(&admin, &count).await,
        before,
        "the pool serves the next query"
    );

    db.stop();
    let e = admin
        .simple_query(&count)
        .await
        .expect_err("the source is down");
    let err = e.as_db_error().expect("an ErrorResponse");
    assert!(
        ["08001", "08006"].contains(&code(&e).as_str()),
        "{}: {}",
        code(&e),
        err.message()
    );
    assert!(
        err.message()
            .contains(&format!("mysql://127.0.0.1:{}/plant", db.port)),
        "names the source: {}",
        err.message()
    );
    assert!(!err.message().contains(PASSWORD), "{}", err.message());
    assert_eq!(
        rows(&admin, "SELECT count(*) FROM geo.region").await,
        [[Some("5".to_string())]],
        "the session goes on"
    );

    db.start_again();
    assert_eq!(rows(&admin, &count).await, before, "back with the source");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_source_is_reached_over_verified_tls() {
    let db = source().await;
    let certs = tempfile::tempdir().expect("tempdir");
    for ca in ["ca", "other-ca"] {
        openssl(
            certs.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                &format!("/CN={ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
            ],
        );
    }
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
    db.enable_tls(
        &certs.path().join("server.crt"),
        &certs.path().join("server.key"),
    );
    // Plain connections of the reader are refused from now on.
    db.sql("ALTER USER 'plant_reader'@'%' REQUIRE SSL;");

    let serve_with_ca = |ca: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        domains(&db, dir.path());
        std::fs::copy(certs.path().join(ca), dir.path().join("ca.pem")).expect("copy CA");
        let plant = dir.path().join("plant.toml");
        let text = std::fs::read_to_string(&plant).expect("read");
        std::fs::write(
            &plant,
            text.replace(
                "tls = \"disable\"",
                "tls = \"verify-full\"\nca_file = \"ca.pem\"",
            ),
        )
        .expect("write");
        dir
    };
    let count = format!("SELECT count(*) FROM {PRODUCT}.shipments WHERE id <= 10");

    let dir = serve_with_ca("ca.crt");
    let s = TestServer::start_with(dir.path(), "").await;
    let admin = s.admin().await;
    assert_eq!(rows(&admin, &count).await, [[Some("10".to_string())]]);

    // The same reader over plain TCP is refused by the server: the query above went over TLS.
    let plain = tempfile::tempdir().expect("tempdir");
    domains(&db, plain.path());
    let s_plain = TestServer::start_with(plain.path(), "").await;
    let e = s_plain
        .admin()
        .await
        .simple_query(&count)
        .await
        .expect_err("REQUIRE SSL");
    assert_eq!(code(&e), "08001", "{e:?}");

    // A certificate from another CA is refused: 08001, the source named.
    let dir = serve_with_ca("other-ca.crt");
    let s = TestServer::start_with(dir.path(), "").await;
    let admin = s.admin().await;
    let e = admin
        .simple_query(&count)
        .await
        .expect_err("the server's certificate is not from this CA");
    assert_eq!(code(&e), "08001", "{e:?}");
    let m = e
        .as_db_error()
        .expect("an ErrorResponse")
        .message()
        .to_string();
    assert!(
        m.contains(&format!("mysql://127.0.0.1:{}/plant", db.port)),
        "{m}"
    );
    assert!(!m.contains(PASSWORD), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_sources_own_error_reaches_the_client_with_its_sqlstate() {
    let db = source().await;
    let (s, _dir) = serve(&db, "").await;
    let admin = s.admin().await;
    let count = format!("SELECT count(*) FROM {PRODUCT}.sites WHERE region = 1");
    let before = rows(&admin, &count).await;
    assert_eq!(before, [[Some("5".to_string())]]);

    db.sql("RENAME TABLE plant.sites TO plant.sites_old;");
    let e = admin
        .simple_query(&count)
        .await
        .expect_err("the table is gone from the source");
    assert_eq!(code(&e), "42P01", "{e:?}");
    let m = e
        .as_db_error()
        .expect("an ErrorResponse")
        .message()
        .to_string();
    assert!(
        m.contains(&format!("mysql://127.0.0.1:{}/plant", db.port)) && m.contains("sites"),
        "{m}"
    );
    db.sql("RENAME TABLE plant.sites_old TO plant.sites;");
    assert_eq!(rows(&admin, &count).await, before, "the session goes on");

    db.sql("REVOKE SELECT ON plant.sites FROM 'plant_reader'@'%';");
    let e = admin
        .simple_query(&count)
        .await
        .expect_err("the source refuses");
    // MySQL hides the table from the reader's catalog; reading it says why.
    assert_eq!(code(&e), "42501", "{e:?}");
    let m = e
        .as_db_error()
        .expect("an ErrorResponse")
        .message()
        .to_string();
    assert!(
        m.starts_with(&format!("mysql://127.0.0.1:{}/plant: ", db.port))
            && m.contains("command denied"),
        "{m}"
    );
    assert!(!m.contains(PASSWORD), "{m}");
    db.sql("GRANT SELECT ON plant.sites TO 'plant_reader'@'%';");
    assert_eq!(rows(&admin, &count).await, before, "back once granted");
}
