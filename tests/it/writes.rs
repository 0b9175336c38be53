//! Writable data products over the wire: tables (Delta) and views created through meshgate in a
//! domain's own storage, dbt's transaction pattern, policies on writes, persistence across a
//! restart, and a crash during CREATE TABLE AS.

use std::path::{Path, PathBuf};

use tokio_postgres::SimpleQueryMessage;

use crate::harness::{code, tpch, write_config, TestServer, ANALYST, SALES_ANALYST};

/// A mesh: the TPC-H domains plus `analytics`, a domain with one writable product that bob
/// (ANALYST) may write and every analyst may read. Returns (config dir, analytics storage root).
pub fn writable_mesh() -> (tempfile::TempDir, PathBuf) {
    writable_mesh_with("")
}

/// As [`writable_mesh`], with `extra` after the `[server]` keys of meshgate.toml.
pub fn writable_mesh_with(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("meshgate-writes")
        .tempdir()
        .expect("tempdir");
    let domains = dir.path().join("domains");
    std::fs::create_dir_all(&domains).expect("domains dir");
    for e in std::fs::read_dir(&tpch().domains_dir).expect("fixture domains") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), domains.join(e.file_name())).expect("copy domain file");
    }
    let root = dir.path().join("analytics-bucket");
    std::fs::create_dir_all(&root).expect("analytics root");
    let file = format!(
        r#"name = "analytics"
description = "Derived data products built with dbt"
owners = ["analytics-team"]

[storage]
root = "{}"

[[products]]
name = "analytics"
description = "Models the analytics team builds from other domains' products"
owner = "analytics-team"
writable = true

[[grants]]
product = "analytics"
to = ["analyst"]

[[grants]]
product = "analytics"
to = ["bob"]
privilege = "write"
"#,
        root.display()
    );
    std::fs::write(domains.join("analytics.toml"), file).expect("write analytics.toml");
    write_config(dir.path(), &domains, extra);
    (dir, root)
}

pub async fn start(dir: &Path) -> TestServer {
    let config = meshgate::Config::load(&dir.join("meshgate.toml")).expect("config loads");
    TestServer::start_config(config, tempfile::tempdir().expect("tempdir")).await
}

async fn rows(c: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let msgs = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    msgs.into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

pub async fn one(c: &tokio_postgres::Client, sql: &str) -> String {
    rows(c, sql)
        .await
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_else(|| panic!("{sql}: no value"))
}

/// Delta directories under the analytics root (each CREATE TABLE writes one).
fn table_dirs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("analytics"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "_meshgate")
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn create_table_as_writes_delta_and_reads_back() {
    let (dir, root) = writable_mesh();
    let s = start(dir.path()).await;
    let bob = s
        .connect_as(ANALYST.0, ANALYST.1)
        .await
        .expect("bob connects");
    let expected = one(&bob, "SELECT count(*) FROM sales.customer c JOIN geo.nation n ON c.c_nationkey = n.n_nationkey WHERE n.n_regionkey = 1").await;
    let created = bob
        .simple_query(
            "CREATE TABLE analytics.customers_america AS SELECT c.c_custkey, c.c_name, n.n_name, c.c_acctbal \
             FROM sales.customer c JOIN geo.nation n ON c.c_nationkey = n.n_nationkey WHERE n.n_regionkey = 1",
        )
        .await
        .expect("CTAS");
    let tag = created.iter().find_map(|m| match m {
        SimpleQueryMessage::CommandComplete(n) => Some(*n),
        _ => None,
    });
    assert_eq!(
        tag.map(|n| n.to_string()),
        Some(expected.clone()),
        "CTAS reports its row count"
    );
    assert_eq!(
        one(&bob, "SELECT count(*) FROM analytics.customers_america").await,
        expected
    );
    assert_eq!(
        one(&bob, "SELECT sum(c_acctbal)::text FROM analytics.customers_america").await,
        one(&bob, "SELECT sum(c.c_acctbal)::text FROM sales.customer c JOIN geo.nation n ON c.c_nationkey = n.n_nationkey WHERE n.n_regionkey = 1").await
    );
    // Another session, another user with read access: sees it, in the catalog too.
    let dave = s
        .connect_as(SALES_ANALYST.0, SALES_ANALYST.1)
        .await
        .expect("dave connects");
    assert_eq!(
        one(
            &dave,
            "SELECT count(*) FROM mesh.analytics.customers_america"
        )
        .await,
        expected
    );
    assert_eq!(
        one(&dave, "SELECT table_type FROM information_schema.tables WHERE table_schema = 'analytics' AND table_name = 'customers_america'").await,
        "BASE TABLE"
    );
    assert_eq!(
        rows(&dave, "SELECT column_name FROM information_schema.columns WHERE table_name = 'customers_america' ORDER BY ordinal_position").await,
        ["c_custkey", "c_name", "n_name", "c_acctbal"].map(|c| vec![Some(c.to_string())]).to_vec()
    );
    // It is a Delta table in the domain's own storage, with one commit.
    let dirs = table_dirs(&root);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert!(dirs[0].starts_with("customers_america-"), "{dirs:?}");
    assert!(root
        .join("analytics")
        .join(&dirs[0])
        .join("_delta_log/00000000000000000000.json")
        .exists());
    // dave may read but not write.
    let e = dave
        .simple_query("CREATE TABLE analytics.mine AS SELECT 1 AS x")
        .await
        .expect_err("no write grant");
    assert_eq!(code(&e), "42501", "{e}");
    let e = dave
        .simple_query("DROP TABLE analytics.customers_america")
        .await
        .expect_err("no write grant");
    assert_eq!(code(&e), "42501", "{e}");
    // Nobody writes into a product its domain did not make writable, nor creates products.
    let e = bob
        .simple_query("CREATE TABLE sales.mine AS SELECT 1 AS x")
        .await
        .expect_err("sales is read-only");
    assert_eq!(code(&e), "42501", "{e}");
    let e = bob
        .simple_query("INSERT INTO sales.orders SELECT * FROM sales.orders LIMIT 1")
        .await
        .expect_err("declared table");
    assert_eq!(code(&e), "42501", "{e}");
    let e = bob
        .simple_query("CREATE SCHEMA scratch")
        .await
        .expect_err("products are declared");
    assert_eq!(code(&e), "42501", "{e}");
    bob.simple_query("CREATE SCHEMA IF NOT EXISTS analytics")
        .await
        .expect("the writable product exists");
    let e = bob
        .simple_query("CREATE TABLE analytics.customers_america AS SELECT 1 AS x")
        .await
        .expect_err("exists");
    assert_eq!(code(&e), "42P07", "{e}");
    // A query that fails while its rows are written: the client's SQLSTATE, and no table.
    let e = bob
        .simple_query("CREATE TABLE analytics.bad AS SELECT n_nationkey / (n_nationkey - n_nationkey) AS x FROM geo.nation")
        .await
        .expect_err("division by zero");
    assert_eq!(code(&e), "22012", "{e}");
    let e = bob
        .simple_query("SELECT * FROM analytics.bad")
        .await
        .expect_err("no table");
    assert_eq!(code(&e), "42P01", "{e}");
    // The session goes on after each error.
    assert_eq!(one(&bob, "SELECT 1").await, "1");
}

#[tokio::test]
async fn dbt_swap_in_a_transaction_is_atomic_and_rollback_leaves_nothing() {
    let (dir, root) = writable_mesh();
    let s = start(dir.path()).await;
    let bob = s
        .connect_as(ANALYST.0, ANALYST.1)
        .await
        .expect("bob connects");
    let dave = s
        .connect_as(SALES_ANALYST.0, SALES_ANALYST.1)
        .await
        .expect("dave connects");
    bob.batch_execute("CREATE TABLE analytics.model AS SELECT n_nationkey, n_name FROM geo.nation WHERE n_regionkey = 0")
        .await
        .expect("first version");
    assert_eq!(
        one(&dave, "SELECT count(*) FROM analytics.model").await,
        "5"
    );
    bob.batch_execute(
        "BEGIN; \
         CREATE TABLE \"mesh\".\"analytics\".\"model__dbt_tmp\" AS (SELECT n_nationkey, n_name FROM geo.nation); \
         ALTER TABLE \"mesh\".\"analytics\".\"model\" RENAME TO \"model__dbt_backup\"; \
         ALTER TABLE \"mesh\".\"analytics\".\"model__dbt_tmp\" RENAME TO \"model\";",
    )
    .await
    .expect("swap inside a transaction");
    // Inside, bob sees the new relation; outside, dave still sees the old one and neither temp.
    assert_eq!(
        one(&bob, "SELECT count(*) FROM analytics.model").await,
        "25"
    );
    assert_eq!(
        one(&dave, "SELECT count(*) FROM analytics.model").await,
        "5"
    );
    assert_eq!(
        one(
            &dave,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'analytics'"
        )
        .await,
        "1"
    );
    bob.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(
        one(&dave, "SELECT count(*) FROM analytics.model").await,
        "25"
    );
    bob.batch_execute("DROP TABLE IF EXISTS \"mesh\".\"analytics\".\"model__dbt_backup\" CASCADE")
        .await
        .expect("drop backup");
    assert_eq!(
        rows(
            &dave,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'analytics' ORDER BY 1"
        )
        .await,
        vec![vec![Some("model".to_string())]]
    );
    // The dropped backup's files go (at once: the tests' metadata_refresh_secs is 0).
    crate::harness::wait_for(
        "the dropped backup's directory to go",
        std::time::Duration::from_secs(20),
        || table_dirs(&root).len() == 1,
    )
    .await;
    let dir_count = table_dirs(&root).len();
    // A rolled-back transaction leaves no relation and (soon) no directory behind.
    bob.batch_execute("BEGIN; CREATE TABLE analytics.scratch AS SELECT 1 AS x; DROP TABLE analytics.model; ROLLBACK")
        .await
        .expect("rolled back");
    assert_eq!(
        one(&dave, "SELECT count(*) FROM analytics.model").await,
        "25"
    );
    let e = dave
        .simple_query("SELECT * FROM analytics.scratch")
        .await
        .expect_err("rolled back");
    assert_eq!(code(&e), "42P01", "{e}");
    crate::harness::wait_for(
        "the rolled-back table's directory to go",
        std::time::Duration::from_secs(20),
        || table_dirs(&root).len() == dir_count,
    )
    .await;
    // A client that goes away inside a transaction commits nothing; its table's files go.
    {
        let gone = s
            .connect_as(ANALYST.0, ANALYST.1)
            .await
            .expect("bob connects");
        gone.batch_execute("BEGIN; CREATE TABLE analytics.abandoned AS SELECT 1 AS x")
            .await
            .expect("in a transaction");
        assert_eq!(
            table_dirs(&root).len(),
            dir_count + 1,
            "written before COMMIT"
        );
    }
    crate::harness::wait_for(
        "the abandoned table's directory to go",
        std::time::Duration::from_secs(20),
        || table_dirs(&root).len() == dir_count,
    )
    .await;
    let e = dave
        .simple_query("SELECT * FROM analytics.abandoned")
        .await
        .expect_err("never committed");
    assert_eq!(code(&e), "42P01", "{e}");
    assert_eq!(
        table_dirs(&root).len(),
        1,
        "one directory per live table: {:?}",
        table_dirs(&root)
    );
}

#[tokio::test]
async fn views_rows_and_comments_survive_a_restart() {
    let (dir, _root) = writable_mesh();
    {
        let s = start(dir.path()).await;
        let bob = s
            .connect_as(ANALYST.0, ANALYST.1)
            .await
            .expect("bob connects");
        bob.batch_execute(
            "CREATE TABLE analytics.seed (id integer, name text, amount numeric(10,2), day date); \
             INSERT INTO analytics.seed (id, name, amount, day) VALUES (1, 'a', 1.50, '2026-01-01'), (2, 'b', 2.25, '2026-01-02'), (3, 'c', NULL, NULL); \
             INSERT INTO analytics.seed (name, id) VALUES ('d', 4)",
        )
        .await
        .expect("seed table");
        assert_eq!(one(&bob, "SELECT count(*) FROM analytics.seed").await, "4");
        assert_eq!(
            one(&bob, "SELECT sum(amount)::text FROM analytics.seed").await,
            "3.75"
        );
        let deleted = bob.execute("DELETE FROM analytics.seed WHERE id IN (SELECT n_nationkey FROM geo.nation WHERE n_nationkey IN (2, 4))", &[]).await.expect("delete");
        assert_eq!(deleted, 2);
        assert_eq!(
            rows(&bob, "SELECT id FROM analytics.seed ORDER BY id").await,
            vec![vec![Some("1".into())], vec![Some("3".into())]]
        );
        bob.batch_execute(
            "create or replace view \"mesh\".\"analytics\".\"big_nations\" as (select n_name, n_regionkey from geo.nation where n_nationkey > 20); \
             comment on table analytics.seed is 'Seeded rows'; \
             comment on column analytics.seed.amount is 'Amount in euros'; \
             comment on view analytics.big_nations is $dbt_comment_literal_block$Nations past 20$dbt_comment_literal_block$",
        )
        .await
        .expect("view and comments");
        assert_eq!(
            one(&bob, "SELECT count(*) FROM analytics.big_nations").await,
            "4"
        );
        assert_eq!(
            one(
                &bob,
                "SELECT relkind FROM pg_class WHERE relname = 'big_nations'"
            )
            .await,
            "v"
        );
        assert!(one(
            &bob,
            "SELECT definition FROM pg_views WHERE viewname = 'big_nations'"
        )
        .await
        .contains("n_nationkey > 20"));
        // A table function in a view stays a function, not a table of the view's schema.
        bob.batch_execute(
            "CREATE VIEW analytics.series AS SELECT x FROM generate_series(1, 3) AS g(x)",
        )
        .await
        .expect("a view over generate_series");
        assert_eq!(
            one(
                &bob,
                "SELECT string_agg(x::text, ',' ORDER BY x) FROM analytics.series"
            )
            .await,
            "1,2,3"
        );
        bob.batch_execute("DROP VIEW analytics.series")
            .await
            .expect("drop it");
        // A view over a product the reader may not read fails for that reader: views run as
        // the reader, never around a grant.
        bob.batch_execute("CREATE VIEW analytics.parts AS SELECT p_partkey FROM supply.part")
            .await
            .expect("bob reads supply");
        let dave = s
            .connect_as(SALES_ANALYST.0, SALES_ANALYST.1)
            .await
            .expect("dave connects");
        let e = dave
            .simple_query("SELECT count(*) FROM analytics.parts")
            .await
            .expect_err("dave cannot read supply");
        assert_eq!(code(&e), "42501", "{e}");
        let e = bob
            .simple_query("CREATE OR REPLACE VIEW analytics.big_nations AS SELECT 1 AS x")
            .await
            .expect_err("columns renamed");
        assert_eq!(code(&e), "42P16", "{e}");
        // UPDATE and MERGE (dbt's merge strategy and snapshots) rewrite the table.
        assert_eq!(
            bob.execute(
                "UPDATE analytics.seed SET name = upper(name), amount = amount * 2 WHERE id = 1",
                &[]
            )
            .await
            .expect("update"),
            1
        );
        let merged = bob
            .execute(
                "MERGE INTO analytics.seed AS t USING (SELECT * FROM (VALUES (3, 'three'), (9, 'nine')) AS v(id, name)) AS s ON t.id = s.id \
                 WHEN MATCHED THEN UPDATE SET name = s.name WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name)",
                &[],
            )
            .await
            .expect("merge");
        assert_eq!(merged, 2, "one row updated, one inserted");
        assert_eq!(
            rows(
                &bob,
                "SELECT id, name, amount::text FROM analytics.seed ORDER BY id"
            )
            .await,
            vec![
                vec![Some("1".into()), Some("A".into()), Some("3.00".into())],
                vec![Some("3".into()), Some("three".into()), None],
                vec![Some("9".into()), Some("nine".into()), None],
            ]
        );
        let e = bob
            .simple_query("MERGE INTO analytics.seed t USING analytics.seed s ON t.id = s.id WHEN MATCHED AND s.id = 1 THEN DELETE WHEN MATCHED THEN DELETE")
            .await
            .expect_err("two matched clauses");
        assert_eq!(code(&e), "0A000", "{e}");
        bob.batch_execute("ALTER VIEW analytics.parts RENAME TO part_keys; TRUNCATE analytics.seed; INSERT INTO analytics.seed (id) SELECT 7")
            .await
            .expect("rename view, truncate, insert");
    }
    // A new server over the same storage serves all of it.
    let s = start(dir.path()).await;
    let bob = s
        .connect_as(ANALYST.0, ANALYST.1)
        .await
        .expect("bob connects");
    assert_eq!(
        rows(&bob, "SELECT id, name FROM analytics.seed").await,
        vec![vec![Some("7".into()), None]]
    );
    assert_eq!(
        one(&bob, "SELECT count(*) FROM analytics.part_keys").await,
        one(&bob, "SELECT count(*) FROM supply.part").await
    );
    assert_eq!(
        one(
            &bob,
            "SELECT obj_description('analytics.seed'::regclass, 'pg_class')"
        )
        .await,
        "Seeded rows"
    );
    assert_eq!(
        one(
            &bob,
            "SELECT col_description('analytics.seed'::regclass, 3)"
        )
        .await,
        "Amount in euros"
    );
    assert_eq!(
        one(
            &bob,
            "SELECT obj_description('analytics.big_nations'::regclass, 'pg_class')"
        )
        .await,
        "Nations past 20"
    );
    assert_eq!(
        rows(&bob, "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'analytics' ORDER BY 1").await,
        vec![
            vec![Some("big_nations".into()), Some("VIEW".into())],
            vec![Some("part_keys".into()), Some("VIEW".into())],
            vec![Some("seed".into()), Some("BASE TABLE".into())],
        ]
    );
    bob.batch_execute("DROP SCHEMA IF EXISTS analytics CASCADE")
        .await
        .expect("drop schema cascade");
    assert_eq!(
        one(
            &bob,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'analytics'"
        )
        .await,
        "0"
    );
}

/// Starts the real binary on a free port over `config`; returns it and its port.
async fn spawn_binary(config: &Path) -> (tokio::process::Child, u16) {
    spawn_binary_logging(config, std::process::Stdio::null()).await
}

/// As [`spawn_binary`], with the server's log (its stderr, default filter) going to `log`.
pub(crate) async fn spawn_binary_logging(
    config: &Path,
    log: impl Into<std::process::Stdio>,
) -> (tokio::process::Child, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let text = std::fs::read_to_string(config)
        .expect("config")
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let path = config.with_file_name(format!("meshgate-{port}.toml"));
    std::fs::write(&path, text).expect("write config");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .env_remove("MESHGATE_LOG")
        .kill_on_drop(true)
        .spawn()
        .expect("meshgate starts");
    (child, port)
}

pub(crate) async fn connect_port(port: u16, user: (&str, &str)) -> tokio_postgres::Client {
    let cs = format!(
        "host=127.0.0.1 port={port} user={} password={} dbname=mesh",
        user.0, user.1
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match tokio_postgres::connect(&cs, tokio_postgres::NoTls).await {
            Ok((c, conn)) => {
                tokio::spawn(conn);
                return c;
            }
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the server did not start listening: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

/// Parquet files written under the analytics root so far (a write in progress has some).
fn data_files(root: &Path) -> usize {
    fn walk(p: &Path, n: &mut usize) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, n);
            } else if path.extension().is_some_and(|x| x == "parquet") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(&root.join("analytics"), &mut n);
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_create_table_as_leaves_no_table() {
    // Small files, so the first one is on disk early in the write.
    let (dir, root) = writable_mesh_with("write_file_mb = 1");
    let config = dir.path().join("meshgate.toml");
    let (mut child, port) = spawn_binary(&config).await;
    let bob = connect_port(port, ANALYST).await;
    // Big enough to be written in many files over a while: every line item times 400 rows.
    let writer = tokio::spawn(async move {
        bob.simple_query(
            "CREATE TABLE analytics.exploded AS SELECT l.l_orderkey, l.l_partkey, l.l_comment, n.n_name \
             FROM sales.lineitem l CROSS JOIN (SELECT n_name FROM geo.nation CROSS JOIN geo.region CROSS JOIN (VALUES (1), (2), (3), (4)) AS v(k) LIMIT 400) n",
        )
        .await
    });
    crate::harness::wait_for(
        "the write to have data files on disk",
        std::time::Duration::from_secs(120),
        || data_files(&root) > 0,
    )
    .await;
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.expect("the server exits");
    assert!(!status.success(), "killed, not exited: {status}");
    let e = writer
        .await
        .expect("writer task")
        .expect_err("the statement never completed");
    assert!(
        e.is_closed() || e.code().is_none(),
        "the connection broke: {e}"
    );
    assert!(data_files(&root) > 0, "the killed write left files behind");

    // A new server: no such table, no trace of it in the catalog, and the next run succeeds.
    let (_child, port) = spawn_binary(&config).await;
    let bob = connect_port(port, ANALYST).await;
    let e = bob
        .simple_query("SELECT count(*) FROM analytics.exploded")
        .await
        .expect_err("no partial table");
    assert_eq!(code(&e), "42P01", "{e}");
    assert_eq!(
        one(
            &bob,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'analytics'"
        )
        .await,
        "0"
    );
    bob.batch_execute("CREATE TABLE analytics.exploded AS SELECT n_name FROM geo.nation")
        .await
        .expect("the next run succeeds");
    assert_eq!(
        one(&bob, "SELECT count(*) FROM analytics.exploded").await,
        "25"
    );
}

#[tokio::test]
async fn writes_are_audited_with_the_tables_they_wrote() {
    let audit_dir = tempfile::tempdir().expect("tempdir");
    let log = audit_dir.path().join("audit.jsonl");
    let (dir, _root) = writable_mesh_with(&format!(
        "\n[audit]\nsink = \"file\"\npath = \"{}\"\n",
        log.display()
    ));
    let s = start(dir.path()).await;
    let bob = s
        .connect_as(ANALYST.0, ANALYST.1)
        .await
        .expect("bob connects");
    let dave = s
        .connect_as(SALES_ANALYST.0, SALES_ANALYST.1)
        .await
        .expect("dave connects");
    bob.batch_execute(
        "CREATE TABLE analytics.regions AS SELECT r_regionkey, r_name FROM geo.region",
    )
    .await
    .expect("ctas");
    bob.batch_execute(
        "INSERT INTO analytics.regions SELECT r_regionkey + 10, r_name FROM geo.region",
    )
    .await
    .expect("insert");
    let e = dave
        .simple_query("INSERT INTO analytics.regions VALUES (99, 'x')")
        .await
        .expect_err("no write grant");
    assert_eq!(code(&e), "42501");
    let events = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    };
    crate::harness::wait_for(
        "three write events",
        std::time::Duration::from_secs(20),
        || {
            events()
                .iter()
                .filter(|e| {
                    e["statement"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("CREATE TABLE") || t.starts_with("INSERT"))
                })
                .count()
                >= 3
        },
    )
    .await;
    let ev = events();
    let find = |user: &str, prefix: &str| {
        ev.iter()
            .find(|e| {
                e["user"] == user
                    && e["statement"]
                        .as_str()
                        .is_some_and(|t| t.starts_with(prefix))
            })
            .unwrap_or_else(|| panic!("no {prefix} event of {user}: {ev:?}"))
            .clone()
    };
    let ctas = find("bob", "CREATE TABLE");
    assert_eq!(
        ctas["tables_written"],
        serde_json::json!(["analytics.regions"]),
        "{ctas}"
    );
    assert_eq!(
        ctas["tables"],
        serde_json::json!(["geo.region"]),
        "the read side is recorded too: {ctas}"
    );
    assert_eq!(ctas["outcome"], "ok", "{ctas}");
    let insert = find("bob", "INSERT");
    assert_eq!(
        insert["tables_written"],
        serde_json::json!(["analytics.regions"]),
        "{insert}"
    );
    let denied = find("dave", "INSERT");
    assert_eq!(denied["sqlstate"], "42501", "{denied}");
    assert!(
        denied.get("tables_written").is_none(),
        "nothing written: {denied}"
    );
}

/// Two servers over one storage (replicas behind a load balancer) creating tables in the same
/// product at the same time: every commit lands, none overwrites another's catalog, and two
/// creations of one name leave one table and a 40001 for the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_on_one_storage_never_lose_a_commit() {
    let (dir, root) = writable_mesh();
    let a = start(dir.path()).await;
    let b = start(dir.path()).await;
    let mut sessions = Vec::new();
    for (server, s) in [("a", &a), ("b", &b)] {
        for i in 0..4 {
            let c = s
                .connect_as(ANALYST.0, ANALYST.1)
                .await
                .expect("bob connects");
            sessions.push((format!("t_{server}{i}"), c));
        }
    }
    let created = futures::future::join_all(sessions.iter().map(|(name, c)| async move {
        c.simple_query(&format!("CREATE TABLE analytics.{name} AS SELECT 1 AS x"))
            .await
            .map_err(|e| format!("{name}: {e:?}"))
    }))
    .await;
    for r in &created {
        assert!(r.is_ok(), "{r:?}");
    }
    // Both create the same name: one wins, the other learns it lost.
    let (one_a, one_b) = (&sessions[0].1, &sessions[4].1);
    let (ra, rb) = tokio::join!(
        one_a.simple_query("CREATE TABLE analytics.same AS SELECT 1 AS x"),
        one_b.simple_query("CREATE TABLE analytics.same AS SELECT 2 AS x"),
    );
    let lost: Vec<_> = [ra, rb].into_iter().filter_map(Result::err).collect();
    assert_eq!(lost.len(), 1, "exactly one of the two loses: {lost:?}");
    assert_eq!(code(&lost[0]), "40001", "{:?}", lost[0]);

    // A third server reads the catalog the two wrote: every table is there.
    let third = start(dir.path()).await;
    let c = third
        .connect_as(ANALYST.0, ANALYST.1)
        .await
        .expect("bob connects");
    let mut want: Vec<String> = sessions.iter().map(|(n, _)| n.clone()).collect();
    want.push("same".into());
    want.sort();
    let got: Vec<String> = rows(
        &c,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics' ORDER BY table_name",
    )
    .await
    .into_iter()
    .map(|r| r[0].clone().expect("name"))
    .collect();
    assert_eq!(got, want);
    for name in &want {
        assert_eq!(
            one(&c, &format!("SELECT count(*) FROM analytics.{name}")).await,
            "1",
            "{name}"
        );
    }
    // One numbered catalog per commit (9 of them), the last one current.
    let catalogs = std::fs::read_dir(root.join("analytics/_meshgate/catalog"))
        .expect("numbered catalogs")
        .count();
    assert_eq!(catalogs, 9);
}
