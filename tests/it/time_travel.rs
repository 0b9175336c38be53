//! The mesh as of a moment: `FOR VERSION AS OF` / `FOR TIMESTAMP AS OF` per table, `mesh.as_of`
//! per session, REPEATABLE READ per transaction, `mesh.history`, and the version in audit
//! events. New versions are committed between statements by the Python `deltalake` and
//! `pyiceberg` writers (tests/fixtures), never by meshgate itself.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio_postgres::Client;

use crate::harness::{code, wait_for, TestServer, REGIONAL};
use crate::python_writers::{domain_file, python, text_rows};

struct Mesh {
    _data: tempfile::TempDir,
    _conf: tempfile::TempDir,
    data: std::path::PathBuf,
    fx: Value,
    audit: std::path::PathBuf,
    s: TestServer,
}

/// Delta `fixtures.events` at versions 0 (3 rows), 1 (5 rows), 2 (4 rows); Iceberg
/// `fixtures.readings` (its SQL catalog) and `fixtures.readings_by_path` (its directory) with
/// two snapshots (3 rows, then 5); audit events to a file.
async fn mesh() -> Mesh {
    mesh_with("").await
}

/// [`mesh`] with `server` keys of its own.
async fn mesh_with(server: &str) -> Mesh {
    let data = tempfile::tempdir().unwrap();
    let fx = python("write_fixtures.py", data.path());
    let conf = tempfile::tempdir().unwrap();
    let domains = domain_file(conf.path(), &fx);
    let audit = conf.path().join("audit.jsonl");
    let s = TestServer::start_with(
        &domains,
        &format!(
            "{server}\n[audit]\nsink = \"file\"\npath = \"{}\"\nredact_literals = false\n",
            audit.display()
        ),
    )
    .await;
    Mesh {
        data: data.path().to_path_buf(),
        _data: data,
        _conf: conf,
        fx,
        audit,
        s,
    }
}

async fn rows(c: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    text_rows(
        &c.simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e} {:?}", e.as_db_error())),
    )
}

async fn one(c: &Client, sql: &str) -> String {
    let r = rows(c, sql).await;
    assert_eq!(r.len(), 1, "{sql}: one row expected, got {r:?}");
    r[0][0].clone().unwrap_or_default()
}

/// Runs `sql`, which must fail with `sqlstate`; then the session must still answer. Returns the
/// message.
async fn refused(c: &Client, sql: &str, sqlstate: &str) -> String {
    let e = c.simple_query(sql).await.expect_err(sql);
    assert_eq!(code(&e), sqlstate, "{sql}: {e:?}");
    assert_eq!(
        one(c, "SELECT 1").await,
        "1",
        "the session goes on after {sql}"
    );
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default()
}

fn snapshot_ids(fx: &Value) -> Vec<i64> {
    fx["iceberg"]["snapshot_ids"]
        .as_array()
        .expect("write_fixtures.py reports snapshot_ids")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

/// The commit time of one version, as mesh.history shows it.
async fn committed_at(c: &Client, table: &str, version: i64) -> String {
    one(
        c,
        &format!("SELECT committed_at FROM mesh.history WHERE table_name = '{table}' AND version = {version}"),
    )
    .await
}

fn count_sql(table: &str, clause: &str) -> String {
    format!("SELECT count(*) FROM fixtures.{table} {clause}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_timestamps_read_the_older_rows_on_delta_and_iceberg() {
    let m = mesh().await;
    let c = m.s.admin().await;
    let [s1, s2] = snapshot_ids(&m.fx)[..] else {
        panic!("two snapshots: {}", m.fx["iceberg"]);
    };

    // Delta versions, and the newest without a clause.
    for (clause, n) in [
        ("FOR VERSION AS OF 0", "3"),
        ("FOR VERSION AS OF 1", "5"),
        ("FOR VERSION AS OF 2", "4"),
        ("", "4"),
    ] {
        assert_eq!(one(&c, &count_sql("events", clause)).await, n, "{clause}");
    }
    // The deleted row is back at version 1; the table's own name qualifies its columns.
    assert_eq!(
        one(
            &c,
            "SELECT events.name FROM fixtures.events FOR VERSION AS OF 1 WHERE events.id = 2"
        )
        .await,
        "beta"
    );
    // Iceberg snapshot ids, through the SQL catalog and through the table directory.
    for table in ["readings", "readings_by_path"] {
        for (id, n) in [(s1, "3"), (s2, "5")] {
            let sql = count_sql(table, &format!("FOR VERSION AS OF {id}"));
            assert_eq!(one(&c, &sql).await, n, "{sql}");
        }
    }
    // One table at two versions in one statement, and two formats at mixed versions.
    assert_eq!(
        one(&c, "SELECT count(*) FROM fixtures.events FOR VERSION AS OF 0 a JOIN fixtures.events FOR VERSION AS OF 1 AS b ON a.id = b.id").await,
        "3"
    );
    assert_eq!(
        rows(&c, &format!("SELECT (SELECT count(*) FROM fixtures.events FOR VERSION AS OF 1), (SELECT count(*) FROM fixtures.readings FOR VERSION AS OF {s1}), (SELECT count(*) FROM fixtures.readings)")).await,
        vec![vec![Some("5".into()), Some("3".into()), Some("5".into())]]
    );

    // mesh.history: every commit, what it did, and the rows it added or removed.
    assert_eq!(
        rows(&c, "SELECT version, operation, rows_added, rows_removed FROM mesh.history WHERE table_name = 'events' ORDER BY version").await,
        vec![
            vec![Some("0".into()), Some("WRITE".into()), Some("3".into()), None],
            vec![Some("1".into()), Some("WRITE".into()), Some("2".into()), None],
            vec![Some("2".into()), Some("DELETE".into()), None, Some("1".into())],
        ]
    );
    assert_eq!(
        rows(&c, "SELECT version, operation, rows_added FROM mesh.history WHERE table_name = 'readings' ORDER BY committed_at").await,
        vec![
            vec![Some(s1.to_string()), Some("append".into()), Some("3".into())],
            vec![Some(s2.to_string()), Some("append".into()), Some("2".into())],
        ]
    );

    // A commit time from mesh.history reads that version, whichever spelling of the literal.
    let v1 = committed_at(&c, "events", 1).await;
    for clause in [
        format!("FOR TIMESTAMP AS OF TIMESTAMP '{v1}'"),
        format!("FOR TIMESTAMP AS OF '{v1}'"),
        format!(
            "for timestamp as of timestamp with time zone '{}'",
            v1.replacen(' ', "T", 1)
        ),
    ] {
        assert_eq!(
            one(&c, &count_sql("events", &clause)).await,
            "5",
            "{clause}"
        );
    }
    let at_s1 = committed_at(&c, "readings", s1).await;
    assert_eq!(
        one(
            &c,
            &count_sql(
                "readings",
                &format!("FOR TIMESTAMP AS OF TIMESTAMP '{at_s1}'")
            )
        )
        .await,
        "3"
    );

    // The audit event says which version each table was read at.
    one(
        &c,
        "SELECT count(*) FROM fixtures.events FOR VERSION AS OF 1 JOIN fixtures.readings ON true",
    )
    .await;
    let e = audit_event(&m.audit, "JOIN fixtures.readings").await;
    assert_eq!(
        e["versions"],
        serde_json::json!({"fixtures.events": "1", "fixtures.readings": s2.to_string()}),
        "{e}"
    );
    assert_eq!(
        e["tables"],
        serde_json::json!(["fixtures.events", "fixtures.readings"]),
        "{e}"
    );
    // One table at two versions: both listed.
    one(
        &c,
        "SELECT count(*) FROM fixtures.events FOR VERSION AS OF 0 e0, fixtures.events FOR VERSION AS OF 2 e2",
    )
    .await;
    let e = audit_event(&m.audit, "e0").await;
    assert_eq!(
        e["versions"],
        serde_json::json!({"fixtures.events": "0, 2"}),
        "{e}"
    );
}

/// The audit event of the statement whose text holds `marker`, once it is written.
async fn audit_event(path: &Path, marker: &str) -> Value {
    let is_it = |e: &Value| e["statement"].as_str().is_some_and(|s| s.contains(marker));
    wait_for("the audit event", Duration::from_secs(30), || {
        read_events(path).iter().any(is_it)
    })
    .await;
    read_events(path)
        .into_iter()
        .find(is_it)
        .expect("the statement's event")
}

fn read_events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_versions_are_22023_naming_the_table_and_its_oldest_version() {
    let m = mesh().await;
    let c = m.s.admin().await;
    let s1 = snapshot_ids(&m.fx)[0];

    // A syntax error after a version clause is placed in the text as the client wrote it.
    // (The clause spans two lines, which the folded name does not: the line would be off too.)
    let sql = "SELECT *\nFROM fixtures.events FOR VERSION\n  AS OF 0 e WHERE ) > 1";
    let msg = refused(&c, sql, "42601").await;
    assert!(msg.ends_with("at Line: 3, Column: 19"), "{msg}");

    for (table, clause, naming) in [
        (
            "events",
            "FOR VERSION AS OF 99".to_string(),
            "has no version 99",
        ),
        (
            "events",
            "FOR TIMESTAMP AS OF TIMESTAMP '2001-02-03 04:05:06+00'".to_string(),
            "has no version as of 2001-02-03 04:05:06+00",
        ),
        (
            "readings",
            "FOR VERSION AS OF 12345".to_string(),
            "has no version 12345",
        ),
    ] {
        let msg = refused(&c, &count_sql(table, &clause), "22023").await;
        let oldest = if table == "events" { 0 } else { s1 };
        for part in [
            format!("table fixtures.{table} {naming}"),
            format!("the oldest version available is {oldest}, committed at"),
        ] {
            assert!(msg.contains(&part), "{msg} names {part}");
        }
    }
    // The future is not known yet.
    refused(
        &c,
        &count_sql("events", "FOR TIMESTAMP AS OF '2999-01-01'"),
        "22023",
    )
    .await;
    refused(
        &c,
        &count_sql("events", "FOR TIMESTAMP AS OF 'not a time'"),
        "22007",
    )
    .await;
    refused(
        &c,
        &count_sql("events", "FOR TIMESTAMP AS OF now()"),
        "0A000",
    )
    .await;
    // A CTE named like the table is not the table, and has no versions.
    let msg = refused(
        &c,
        "WITH events AS (SELECT 1 AS id) SELECT * FROM events FOR VERSION AS OF 0",
        "42809",
    )
    .await;
    assert!(msg.contains("WITH query"), "{msg}");
    assert_eq!(
        one(&c, "WITH events AS (SELECT 7 AS id) SELECT count(*) FROM events, fixtures.events FOR VERSION AS OF 0 e").await,
        "3"
    );
    // Names in messages are the tables as written, not their folded spelling.
    let msg = refused(&c, &count_sql("nothing", "FOR VERSION AS OF 0"), "42P01").await;
    assert!(msg.contains("nothing") && !msg.contains("AS OF"), "{msg}");
    let msg = refused(
        &c,
        "SELECT nope FROM fixtures.events FOR VERSION AS OF 0",
        "42703",
    )
    .await;
    assert!(msg.contains("nope") && !msg.contains("AS OF"), "{msg}");

    // The session setting: a bad value leaves it as it was.
    refused(&c, "SET mesh.as_of = 'yesterday-ish'", "22007").await;
    refused(&c, "SET mesh.as_of = '2999-01-01 00:00:00+00'", "22023").await;
    assert_eq!(one(&c, "SHOW mesh.as_of").await, "");
    c.simple_query("SET mesh.as_of = '2001-01-01'")
        .await
        .unwrap();
    let msg = refused(&c, &count_sql("events", ""), "22023").await;
    assert!(
        msg.contains("fixtures.events has no version as of 2001-01-01 00:00:00"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeatable_read_keeps_its_answers_while_writers_commit() {
    let m = mesh().await;
    let c = m.s.admin().await;
    let other = m.s.admin().await;

    c.simple_query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    assert_eq!(one(&c, &count_sql("events", "")).await, "4");
    python("append_delta_version.py", &m.data);
    python("append_iceberg_snapshot.py", &m.data);
    // Read committed (and a refresh of 0 s): the other session sees both commits at once.
    assert_eq!(one(&other, &count_sql("events", "")).await, "5");
    assert_eq!(one(&other, &count_sql("readings", "")).await, "6");
    // The transaction does not, not even in a table it first reads after the commits.
    assert_eq!(one(&c, &count_sql("events", "")).await, "4");
    assert_eq!(one(&c, &count_sql("readings", "")).await, "5");
    assert_eq!(one(&c, &count_sql("readings_by_path", "")).await, "5");
    // Writes are refused: the transaction reads the past.
    let e = c
        .simple_query("CREATE TABLE fixtures.copy AS SELECT 1 AS x")
        .await
        .expect_err("write in a snapshot");
    assert_eq!(code(&e), "25006", "{e:?}");
    c.simple_query("ROLLBACK").await.unwrap();
    assert_eq!(one(&c, &count_sql("events", "")).await, "5");
    assert_eq!(one(&c, &count_sql("readings", "")).await, "6");

    // pgjdbc's spelling: the session's default isolation, then a block.
    c.simple_query("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        .await
        .unwrap();
    c.simple_query("BEGIN").await.unwrap();
    assert_eq!(one(&c, &count_sql("events", "")).await, "5");
    python("append_delta_version.py", &m.data);
    assert_eq!(one(&other, &count_sql("events", "")).await, "6");
    assert_eq!(one(&c, &count_sql("events", "")).await, "5");
    c.simple_query("COMMIT").await.unwrap();
    assert_eq!(one(&c, &count_sql("events", "")).await, "6");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_as_of_reads_every_table_at_one_instant() {
    let m = mesh().await;
    let c = m.s.admin().await;
    let s1 = snapshot_ids(&m.fx)[0];
    // The fixtures write Delta first: at the first Iceberg snapshot, events is at version 2.
    let at_s1 = committed_at(&c, "readings", s1).await;

    c.simple_query(&format!("SET mesh.as_of = '{at_s1}'"))
        .await
        .unwrap();
    assert_eq!(one(&c, "SHOW mesh.as_of").await, at_s1);
    python("append_delta_version.py", &m.data);
    assert_eq!(one(&c, &count_sql("events", "")).await, "4");
    assert_eq!(one(&c, &count_sql("readings", "")).await, "3");
    // A clause on the table wins over the session's instant.
    assert_eq!(
        one(&c, &count_sql("events", "FOR VERSION AS OF 0")).await,
        "3"
    );
    let e = c
        .simple_query("INSERT INTO fixtures.events VALUES (9, 'x', 1, '2024-01-01')")
        .await
        .expect_err("write while pinned");
    assert_eq!(code(&e), "25006", "{e:?}");
    assert_eq!(one(&c, "SELECT 1").await, "1");
    c.simple_query("RESET mesh.as_of").await.unwrap();
    assert_eq!(one(&c, &count_sql("events", "")).await, "5");
    assert_eq!(one(&c, &count_sql("readings", "")).await, "5");

    // As a startup option, so a connection string can pin a date.
    let options = format!("-c mesh.as_of={}", at_s1.replacen(' ', "T", 1));
    let conn = format!(
        "{} options='{options}'",
        m.s.conn_string("alice", "alice-pw")
    );
    let (pinned, conn) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .expect("connects with mesh.as_of");
    tokio::spawn(conn);
    assert_eq!(one(&pinned, &count_sql("events", "")).await, "4");
    assert_eq!(one(&pinned, &count_sql("readings", "")).await, "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_masked_user_reads_old_versions_filtered_and_masked() {
    let s = TestServer::tpch().await;
    let admin = s.admin().await;
    let regional = s
        .connect_as(REGIONAL.0, REGIONAL.1)
        .await
        .expect("regional connects");
    let sql = "SELECT c_custkey, c_name, c_phone FROM sales.customer ORDER BY c_custkey";
    let now = rows(&regional, sql).await;
    let expected = rows(&admin, "SELECT c_custkey, c_name, left(c_phone, 3) || '****' FROM sales.customer WHERE c_nationkey IN (SELECT n_nationkey FROM geo.nation JOIN geo.region ON n_regionkey = r_regionkey WHERE r_name = 'EUROPE') ORDER BY c_custkey").await;
    assert!(!expected.is_empty());
    assert_eq!(now, expected);
    // The demo creates the table (version 0), then writes its rows (version 1).
    let at = |v: i64| {
        sql.replace(
            "sales.customer",
            &format!("sales.customer FOR VERSION AS OF {v}"),
        )
    };
    assert_eq!(rows(&regional, &at(1)).await, expected);
    assert_eq!(
        rows(&regional, &at(0)).await,
        Vec::<Vec<Option<String>>>::new()
    );
    let first = one(&admin, "SELECT committed_at FROM mesh.history WHERE product = 'sales' AND table_name = 'customer' AND version = 1").await;
    regional
        .simple_query(&format!("SET mesh.as_of = '{first}'"))
        .await
        .unwrap();
    assert_eq!(rows(&regional, sql).await, expected);
    // Plain Parquet keeps no history: a session pinned in time reads it as it is, a clause is
    // refused.
    assert_eq!(one(&regional, "SELECT count(*) FROM geo.region").await, "5");
    let e = regional
        .simple_query("SELECT count(*) FROM geo.region FOR VERSION AS OF 0")
        .await
        .expect_err("parquet has no versions");
    assert_eq!(code(&e), "22023", "{e:?}");
    assert!(
        e.as_db_error()
            .unwrap()
            .message()
            .contains("geo.region has no versions"),
        "{e:?}"
    );
    // mesh.history shows the regional user no row counts of a table it sees only part of.
    assert_eq!(
        rows(&regional, "SELECT rows_added FROM mesh.history WHERE product = 'sales' AND table_name = 'customer' AND version = 1").await,
        vec![vec![None]]
    );
    assert_eq!(
        one(
            &regional,
            "SELECT count(*) FROM mesh.history WHERE product = 'supply'"
        )
        .await,
        "0",
        "no history of a product it may not read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_meshgate_writes_have_versions_too_through_both_protocols() {
    let (dir, _root) = crate::writes::writable_mesh();
    let s = crate::writes::start(dir.path()).await;
    let bob = s
        .connect_as(crate::harness::ANALYST.0, crate::harness::ANALYST.1)
        .await
        .expect("bob connects");
    // Version 0: the table with two rows; version 1: a third; version 2: one deleted.
    bob.simple_query("CREATE TABLE analytics.t AS SELECT * FROM (VALUES (1), (2)) v(x)")
        .await
        .unwrap();
    bob.simple_query("INSERT INTO analytics.t VALUES (3)")
        .await
        .unwrap();
    bob.simple_query("DELETE FROM analytics.t WHERE x = 1")
        .await
        .unwrap();
    assert_eq!(
        rows(
            &bob,
            "SELECT version FROM mesh.history WHERE table_name = 't' ORDER BY version"
        )
        .await,
        vec![
            vec![Some("0".into())],
            vec![Some("1".into())],
            vec![Some("2".into())]
        ]
    );
    for (v, want) in [(0, vec![1, 2]), (1, vec![1, 2, 3]), (2, vec![2, 3])] {
        let sql = format!("SELECT x FROM analytics.t FOR VERSION AS OF {v} ORDER BY x");
        // The extended protocol (Parse, Bind, Execute) reads the same version.
        let got: Vec<i32> = bob
            .query(&sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(got, want, "{sql}");
        let simple: Vec<i32> = rows(&bob, &sql)
            .await
            .iter()
            .map(|r| r[0].as_deref().unwrap().parse().unwrap())
            .collect();
        assert_eq!(simple, want, "{sql}");
    }
    // A view has no versions of its own; pinned, it reads its tables as they were.
    bob.simple_query("CREATE VIEW analytics.v AS SELECT x FROM analytics.t")
        .await
        .unwrap();
    let e = bob
        .simple_query("SELECT * FROM analytics.v FOR VERSION AS OF 0")
        .await
        .expect_err("a view has no versions");
    assert_eq!(code(&e), "42809", "{e:?}");
    // A view over a version shows its definition as written, and reads that version.
    bob.simple_query("CREATE VIEW analytics.v0 AS SELECT x FROM analytics.t FOR VERSION AS OF 0")
        .await
        .unwrap();
    for catalog in [
        "SELECT definition FROM pg_views WHERE viewname = 'v0'",
        "SELECT view_definition FROM information_schema.views WHERE table_name = 'v0'",
        "SELECT pg_get_viewdef(oid, true) FROM pg_class WHERE relname = 'v0'",
        "SELECT pg_get_viewdef('analytics.v0')",
    ] {
        let shown = one(&bob, catalog).await;
        assert!(
            shown.contains("FROM analytics.t FOR VERSION AS OF 0") && !shown.contains('"'),
            "{catalog}: {shown}"
        );
        // The definition shown runs as it is.
        assert_eq!(
            one(
                &bob,
                &format!("SELECT count(*) FROM ({}) d", shown.trim_end_matches(';'))
            )
            .await,
            "2"
        );
    }
    assert_eq!(one(&bob, "SELECT count(*) FROM analytics.v0").await, "2");
    let at = one(
        &bob,
        "SELECT committed_at FROM mesh.history WHERE table_name = 't' AND version = 1",
    )
    .await;
    bob.simple_query(&format!("SET mesh.as_of = '{at}'"))
        .await
        .unwrap();
    assert_eq!(one(&bob, "SELECT count(*) FROM analytics.v").await, "3");
    let e = bob
        .simple_query("INSERT INTO analytics.t VALUES (4)")
        .await
        .expect_err("no writes while pinned");
    assert_eq!(code(&e), "25006", "{e:?}");
    bob.simple_query("RESET mesh.as_of").await.unwrap();
    bob.simple_query("INSERT INTO analytics.t VALUES (4)")
        .await
        .unwrap();
    assert_eq!(one(&bob, "SELECT count(*) FROM analytics.v").await, "3");
}

/// psql with `options` in its connection (PGOPTIONS), as a BI connection string pins a date.
async fn psql(s: &TestServer, options: &str, sql: &str) -> String {
    let out = tokio::process::Command::new("psql")
        .args([
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
        ])
        .arg(s.addr.port().to_string())
        .args(["-U", crate::harness::ADMIN.0, "-d", "mesh", "-c", sql])
        .env("PGPASSWORD", crate::harness::ADMIN.1)
        .env("PGOPTIONS", options)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .await
        .expect("psql is installed (.ci/run installs postgresql-client)");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_pins_a_session_by_setting_or_by_connection_option() {
    let s = TestServer::tpch().await;
    let admin = s.admin().await;
    // The demo creates sales.customer empty (version 0), then writes its rows.
    let created = one(&admin, "SELECT committed_at FROM mesh.history WHERE product = 'sales' AND table_name = 'customer' AND version = 0").await;
    let now = one(&admin, "SELECT count(*) FROM sales.customer").await;
    assert_ne!(now, "0");
    let option = format!("-c mesh.as_of={}", created.replacen(' ', "T", 1));
    assert_eq!(
        psql(&s, &option, "SELECT count(*) FROM sales.customer").await,
        "0"
    );
    assert_eq!(
        psql(
            &s,
            "",
            &format!("SET mesh.as_of = '{created}'; SELECT count(*) FROM sales.customer; RESET mesh.as_of; SELECT count(*) FROM sales.customer")
        )
        .await,
        format!("SET\n0\nRESET\n{now}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_across_domains_read_each_table_at_its_own_version() {
    let s = TestServer::tpch().await;
    let admin = s.admin().await;
    // Delta sales.customer at its two versions (created empty, then written), Iceberg
    // supply.supplier at its snapshot.
    let snapshot = one(&admin, "SELECT max(version) FROM mesh.history WHERE product = 'supply' AND table_name = 'supplier'").await;
    let join = |v: i64| {
        format!("SELECT count(*) FROM sales.customer FOR VERSION AS OF {v} c JOIN supply.supplier FOR VERSION AS OF {snapshot} s ON c.c_nationkey = s.s_nationkey")
    };
    let now = one(&admin, "SELECT count(*) FROM sales.customer c JOIN supply.supplier s ON c.c_nationkey = s.s_nationkey").await;
    assert_ne!(now, "0");
    assert_eq!(one(&admin, &join(1)).await, now);
    assert_eq!(one(&admin, &join(0)).await, "0");
}

/// A version whose data files VACUUM deleted still has its commit in the log: asking for it is
/// 22023 naming the version, not a scan that fails on a missing file; the session goes on and
/// the versions whose files remain still read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_vacuum_emptied_are_22023_and_the_rest_still_read() {
    let m = mesh().await;
    let c = m.s.admin().await;
    // Rows, not a count the log's statistics could answer without reading a file.
    let names = |v: i64| {
        format!(
            "SELECT string_agg(name, ',' ORDER BY id) FROM fixtures.events FOR VERSION AS OF {v}"
        )
    };
    // Version 1 is open (and cached) before the vacuum deletes its files; version 0 is not.
    assert!(!one(&c, &names(1)).await.is_empty());
    let v = python("vacuum_delta.py", &m.data);
    let overwrite = v["overwrite_version"].as_i64().expect("overwrite version");
    assert!(
        overwrite >= 3,
        "the fixture's three versions come first: {v}"
    );
    // The open version fails when its scan reaches a missing file, and is checked when read
    // again; the version nothing opened is checked when it is opened.
    for (old, why) in [
        (1, "after it was opened"),
        (1, "data files it needs were removed (VACUUM)"),
        (0, "data files it needs were removed (VACUUM)"),
    ] {
        let msg = refused(&c, &names(old), "22023").await;
        let named = format!("table fixtures.events version {old} can no longer be read: ");
        assert!(!msg.contains('/'), "no storage path: {msg}");
        assert!(msg.contains(&named) && msg.contains(why), "{msg}");
    }
    assert_eq!(
        one(
            &c,
            &count_sql("events", &format!("FOR VERSION AS OF {overwrite}"))
        )
        .await,
        "1"
    );
}

/// Snapshot expiry takes a snapshot out of an Iceberg table's metadata: asking for it is 22023
/// naming the oldest snapshot left, and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_iceberg_snapshot_is_22023_naming_the_oldest_left() {
    let m = mesh().await;
    let c = m.s.admin().await;
    let e = python("expire_iceberg_snapshot.py", &m.data);
    let expired = e["expired"].as_i64().expect("expired id");
    let left = e["snapshot_ids"][0].as_i64().expect("a snapshot left");
    let msg = refused(
        &c,
        &count_sql("readings", &format!("FOR VERSION AS OF {expired}")),
        "22023",
    )
    .await;
    for part in [
        format!("table fixtures.readings has no version {expired}"),
        format!("the oldest version available is {left}, committed at"),
    ] {
        assert!(msg.contains(&part), "{msg} names {part}");
    }
    assert_eq!(
        one(
            &c,
            &count_sql("readings", &format!("FOR VERSION AS OF {left}"))
        )
        .await,
        "5"
    );
}

/// The newest version a statement read, kept for `metadata_refresh_secs`, loses its files to a
/// newer commit and VACUUM: the scan is 22023 naming the version, and the next statement opens
/// the table afresh and reads its newest rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newest_version_vacuum_emptied_is_22023_once_then_the_table_reads_afresh() {
    let m = mesh_with("metadata_refresh_secs = 3600").await;
    let c = m.s.admin().await;
    let names = "SELECT string_agg(name, ',' ORDER BY id) FROM fixtures.events";
    let before = one(&c, names).await;
    assert_eq!(
        before.split(',').count(),
        3,
        "version 2, after a delete, has three rows: {before}"
    );
    let v = python("vacuum_delta.py", &m.data);
    assert!(v["removed_files"].as_i64().unwrap_or(0) > 0, "{v}");
    let msg = refused(&c, names, "22023").await;
    assert!(
        msg.contains("table fixtures.events version 2 can no longer be read: ")
            && msg.contains("after it was opened")
            && !msg.contains('/'),
        "{msg}"
    );
    // The overwrite left one row, read without waiting for the refresh.
    let after = one(&c, names).await;
    assert_eq!(after.split(',').count(), 1, "{after}");
    assert_ne!(after, before);
}

/// An Iceberg snapshot already open when snapshot expiry deleted the data files only it used
/// (pyiceberg expires, the fixture deletes the files as cleaning engines do): 22023 naming the
/// snapshot when the scan reaches a missing file, then, opened afresh, 22023 naming the
/// snapshot left; the newest reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_iceberg_snapshot_whose_files_expiry_deleted_is_22023() {
    let m = mesh().await;
    let c = m.s.admin().await;
    let [_, s2] = snapshot_ids(&m.fx)[..] else {
        panic!("two snapshots: {}", m.fx["iceberg"]);
    };
    // Rows, not a count the manifests could answer without reading a file.
    let sensors = |clause: &str| {
        format!(
            "SELECT string_agg(sensor, ',' ORDER BY sensor, ts) FROM fixtures.readings {clause}"
        )
    };
    let at_s2 = sensors(&format!("FOR VERSION AS OF {s2}"));
    assert_eq!(one(&c, &at_s2).await.split(',').count(), 5);
    let e = python("expire_iceberg_files.py", &m.data);
    let expired: Vec<i64> = e["expired"]
        .as_array()
        .expect("expired ids")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert!(expired.contains(&s2), "{e}");
    let left = e["snapshot_ids"][0].as_i64().expect("a snapshot left");
    let msg = refused(&c, &at_s2, "22023").await;
    assert!(
        msg.contains(&format!(
            "table fixtures.readings version {s2} can no longer be read: data files it needs were removed"
        )) && msg.contains("after it was opened")
            && !msg.contains('/'),
        "{msg}"
    );
    let msg = refused(&c, &at_s2, "22023").await;
    for part in [
        format!("table fixtures.readings has no version {s2}"),
        format!("the oldest version available is {left}"),
    ] {
        assert!(msg.contains(&part), "{msg} names {part}");
    }
    assert_eq!(one(&c, &sensors("")).await.split(',').count(), 1);
}

/// The position of a syntax error (the `P` field).
fn error_position(e: &tokio_postgres::Error) -> u32 {
    match e.as_db_error().and_then(|d| d.position()) {
        Some(tokio_postgres::error::ErrorPosition::Original(p)) => *p,
        other => panic!("no position in the text sent: {other:?} ({e:?})"),
    }
}

/// A syntax error after a version clause is positioned (the `P` field: a character index,
/// 1-based) in the text as the client sent it: where PostgreSQL positions it in the same text
/// without the clause, moved on by the clause's length; through both protocols.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syntax_error_after_a_version_clause_is_positioned_in_the_text_as_sent() {
    let m = mesh().await;
    let c = m.s.admin().await;
    let pg = crate::pg_server::start(false);
    let postgres = pg.connect().await;
    for (head, clause, tail) in [
        (
            "SELECT 'é' AS x, name FROM fixtures.events",
            " FOR TIMESTAMP AS OF TIMESTAMP '2026-01-01 00:00:00+00'",
            " e WHERE id = = 1",
        ),
        (
            "SELECT name\n  FROM fixtures.events",
            "  FOR  VERSION AS OF 1",
            " AS e\n  WHERE e.id IN (1,, 2)",
        ),
        // With a spelling the parser does not take before the clause and after it.
        (
            "SELECT e.name, e.id BETWEEN SYMMETRIC 3 AND 1 AS b FROM fixtures.events",
            " FOR VERSION AS OF 2",
            " e WHERE e.id BETWEEN SYMMETRIC 3 AND 1 OR e.id = = 1",
        ),
    ] {
        let without = format!("{head}{tail}");
        let e = postgres.simple_query(&without).await.expect_err(&without);
        assert_eq!(code(&e), "42601", "{e:?}");
        let expected = error_position(&e) + clause.chars().count() as u32;
        let sent = format!("{head}{clause}{tail}");
        let simple = c.simple_query(&sent).await.expect_err(&sent);
        assert_eq!(code(&simple), "42601", "{simple:?}");
        assert_eq!(error_position(&simple), expected, "{sent}: {simple:?}");
        let extended = c.prepare(&sent).await.expect_err(&sent);
        assert_eq!(error_position(&extended), expected, "{sent}: {extended:?}");
        // The message's line and column say the same.
        let at: String = sent.chars().take(expected as usize - 1).collect();
        let line = at.matches('\n').count() + 1;
        let column = at.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        let message = simple.as_db_error().unwrap().message().to_string();
        assert!(
            message.ends_with(&format!("at Line: {line}, Column: {column}")),
            "{message}"
        );
        assert_eq!(one(&c, "SELECT 1").await, "1");
    }
    pg.stop();
}

/// A snapshot already open when expiry took it out of the metadata, its files left in place
/// (pyiceberg's expiry deletes none), is still read from them; one nothing had opened is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_snapshot_expired_with_its_files_left_is_still_read() {
    let m = mesh().await;
    let c = m.s.admin().await;
    let [s1, _] = snapshot_ids(&m.fx)[..] else {
        panic!("two snapshots: {}", m.fx["iceberg"]);
    };
    let at_s1 = format!(
        "SELECT string_agg(sensor, ',' ORDER BY sensor, ts) FROM fixtures.readings FOR VERSION AS OF {s1}"
    );
    let before = one(&c, &at_s1).await;
    let e = python("expire_iceberg_snapshot.py", &m.data);
    assert_eq!(e["expired"].as_i64(), Some(s1), "{e}");
    assert_eq!(one(&c, &at_s1).await, before);
    // The same snapshot through the table kept by its path was never opened.
    let msg = refused(
        &c,
        &format!("SELECT count(*) FROM fixtures.readings_by_path FOR VERSION AS OF {s1}"),
        "22023",
    )
    .await;
    assert!(msg.contains(&format!("has no version {s1}")), "{msg}");
}
