//! Plans a session keeps for statements that run whole in one operational source: a repeated
//! statement goes straight to the source, gives what PostgreSQL gives, and is planned again
//! whenever what it depends on changes (a reload's grants and row filters, the user, a
//! setting), while statements with volatile functions are never kept.

use std::time::Duration;

use tokio_postgres::Client;

use crate::audit::{http_get, read_events, series};
use crate::harness::rows;
use crate::harness::{code, wait_for, TestServer, ADMIN, ANALYST, REGIONAL};
use crate::operational::{domains, source};
use crate::pg_server;

/// The server's counters of kept plans: (statements run from one, plans kept).
async fn counters(s: &TestServer) -> (u64, u64) {
    let admin = s.shared.admin_addr().expect("the operator port is bound");
    let body = http_get(admin, "/metrics").await;
    (
        series(&body, "meshgate_kept_plan_hits_total").unwrap_or_else(|| panic!("{body}")),
        series(&body, "meshgate_kept_plans_total").unwrap_or_else(|| panic!("{body}")),
    )
}

async fn start(dir: &std::path::Path, extra: &str) -> TestServer {
    let s = TestServer::start_with(dir, &format!("admin_listen = \"127.0.0.1:0\"\n{extra}")).await;
    wait_for("the operator port", Duration::from_secs(10), || {
        s.shared.admin_addr().is_some()
    })
    .await;
    s
}

async fn reload(admin: &Client) {
    let r = rows(admin, "SELECT pg_reload_conf()").await;
    assert_eq!(r, [[Some("t".to_string())]], "the reload is applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_statement_runs_from_its_kept_plan_with_the_sources_rows_and_audit() {
    let pg = source().await;
    let direct = pg.connect().await;
    let dir = tempfile::tempdir().expect("tempdir");
    domains(&pg, dir.path());
    let log = dir.path().join("audit.jsonl");
    let s = start(
        dir.path(),
        &format!("\n[audit]\nsink = \"file\"\npath = \"{}\"\n", log.display()),
    )
    .await;
    let analyst = s.connect_as(ANALYST.0, ANALYST.1).await.expect("bob");

    let query = "SELECT id, amount, note, paid FROM billing.invoices WHERE id BETWEEN 100 AND 150";
    let ordered =
        "SELECT id, amount FROM billing.invoices WHERE id BETWEEN 100 AND 150 ORDER BY id";
    let sorted = |mut r: Vec<Vec<Option<String>>>| {
        r.sort();
        r
    };
    let want = sorted(rows(&direct, query).await);
    assert_eq!(want.len(), 51);
    assert_eq!(sorted(rows(&analyst, query).await), want, "planned");
    assert_eq!(counters(&s).await, (0, 1), "kept, not yet reused");
    for _ in 0..2 {
        assert_eq!(sorted(rows(&analyst, query).await), want, "kept");
    }
    assert_eq!(counters(&s).await, (2, 1));
    // A local sort above the statement sent whole is kept too, and keeps the order.
    let want_ordered = rows(&direct, ordered).await;
    for _ in 0..2 {
        assert_eq!(rows(&analyst, ordered).await, want_ordered);
    }
    assert_eq!(counters(&s).await, (3, 2));

    // The rows are the source's as it runs, not as it was planned.
    direct
        .batch_execute("UPDATE billing.invoices SET note = 'changed' WHERE id = 120")
        .await
        .expect("update the source");
    let now = sorted(rows(&analyst, query).await);
    assert_eq!(now, sorted(rows(&direct, query).await));
    assert!(now.iter().any(|r| r[2].as_deref() == Some("changed")));
    assert_eq!(counters(&s).await, (4, 2));

    // EXPLAIN is planned each time and shows the statement sent.
    let explained = crate::operational::plan(&analyst, &format!("EXPLAIN {query}")).await;
    assert!(
        explained.contains("PostgresScanExec") && explained.contains("\"billing\".\"invoices\""),
        "{explained}"
    );
    assert_eq!(
        counters(&s).await.0,
        4,
        "EXPLAIN is not run from a kept plan"
    );

    // Every run is audited with the statement sent to the source, literals redacted.
    let events = || {
        read_events(&log)
            .into_iter()
            .filter(|e| e["statement"].as_str() == Some(query))
            .count()
    };
    let redacted = || {
        read_events(&log)
            .into_iter()
            .filter(|e| {
                e["statement"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("SELECT id, amount, note, paid"))
            })
            .collect::<Vec<_>>()
    };
    wait_for("the audit events", Duration::from_secs(30), || {
        redacted().len() >= 4
    })
    .await;
    assert_eq!(events(), 0, "the audit redacts literals: {:?}", redacted());
    for e in redacted() {
        assert_eq!(e["tables"], serde_json::json!(["billing.invoices"]), "{e}");
        let sent = &e["source_statements"][0];
        assert_eq!(
            sent["source"],
            format!("postgres://127.0.0.1:{}/{}", pg.port, pg_server::DATABASE),
            "{e}"
        );
        let text = sent["statement"].as_str().unwrap_or_default();
        assert!(
            text.contains(r#"FROM "billing"."invoices" WHERE"#) && !text.contains("150"),
            "{e}"
        );
        assert_eq!(e["rows"], 51, "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_plan_is_planned_again_for_a_reload_another_user_or_a_setting() {
    let pg = source().await;
    let direct = pg.connect().await;
    let dir = tempfile::tempdir().expect("tempdir");
    domains(&pg, dir.path());
    let s = start(dir.path(), "").await;
    let admin = s.admin().await;
    let regional = s.connect_as(REGIONAL.0, REGIONAL.1).await.expect("carol");
    let analyst = s.connect_as(ANALYST.0, ANALYST.1).await.expect("bob");

    let query = "SELECT n_nationkey, id FROM billing.invoices WHERE id BETWEEN 1 AND 60";
    let sorted = |mut r: Vec<Vec<Option<String>>>| {
        r.sort();
        r
    };
    let visible = |bound: u32| {
        format!("SELECT n_nationkey, id FROM billing.invoices WHERE id BETWEEN 1 AND 60 AND n_nationkey < {bound}")
    };
    let all = sorted(rows(&direct, query).await);
    let first5 = sorted(rows(&direct, &visible(5)).await);
    assert!(first5.len() < all.len() && !first5.is_empty());

    // Each session keeps its own: the filtered user and the admin, same text.
    for _ in 0..2 {
        assert_eq!(sorted(rows(&regional, query).await), first5);
        assert_eq!(sorted(rows(&admin, query).await), all);
    }
    let (hits, _) = counters(&s).await;
    assert_eq!(hits, 2, "the row-filtered plan is kept too");

    // A reload narrows the row filter: the next run is planned under the new one.
    let file = dir.path().join("billing.toml");
    let text = std::fs::read_to_string(&file).expect("domain file");
    std::fs::write(
        &file,
        text.replace(
            r#"filter = "n_nationkey < 5""#,
            r#"filter = "n_nationkey < 3""#,
        ),
    )
    .expect("rewrite the domain file");
    reload(&admin).await;
    let first3 = sorted(rows(&direct, &visible(3)).await);
    assert!(first3.len() < first5.len());
    assert_eq!(sorted(rows(&regional, query).await), first3);
    assert_eq!(sorted(rows(&regional, query).await), first3);

    // A grant taken away by a reload refuses the statement a session had kept.
    assert_eq!(sorted(rows(&analyst, query).await), all);
    assert_eq!(sorted(rows(&analyst, query).await), all);
    let text = std::fs::read_to_string(&file).expect("domain file");
    std::fs::write(
        &file,
        text.replace(
            "[[grants]]\nproduct = \"billing\"\nto = [\"analyst\"]\n",
            "",
        ),
    )
    .expect("rewrite the domain file");
    reload(&admin).await;
    let e = analyst.simple_query(query).await.expect_err("no grant now");
    assert_eq!(code(&e), "42501", "{e:?}");

    // A changed setting plans the statement again under it (the time zone), and a setting
    // back where it was finds the plan kept under it again.
    // PostgreSQL prints a timestamptz in the session's zone.
    let stamp = "SELECT issued FROM billing.invoices WHERE id = 7";
    let before = counters(&s).await;
    for zone in ["UTC", "UTC", "Asia/Tokyo", "Asia/Tokyo"] {
        let set = format!("SET TimeZone = '{zone}'");
        direct.batch_execute(&set).await.expect("set the zone");
        admin.batch_execute(&set).await.expect("set the zone");
        assert_eq!(
            rows(&admin, stamp).await,
            rows(&direct, stamp).await,
            "in {zone}"
        );
    }
    let after = counters(&s).await;
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (2, 2),
        "planned once per zone, then reused"
    );
    // And search_path: an unqualified name kept under one path is not found under another.
    admin
        .batch_execute("SET search_path = billing")
        .await
        .expect("set search_path");
    let unqualified = "SELECT count(*) FROM invoices WHERE id < 10";
    for _ in 0..2 {
        assert_eq!(rows(&admin, unqualified).await, [[Some("9".to_string())]]);
    }
    admin
        .batch_execute("SET search_path = public")
        .await
        .expect("set search_path");
    let e = admin
        .simple_query(unqualified)
        .await
        .expect_err("no invoices on this path");
    assert_eq!(code(&e), "42P01", "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_with_volatile_functions_are_never_kept() {
    let pg = source().await;
    let dir = tempfile::tempdir().expect("tempdir");
    domains(&pg, dir.path());
    let s = start(dir.path(), "").await;
    let admin = s.connect_as(ADMIN.0, ADMIN.1).await.expect("alice");

    let query = "SELECT id, now()::text FROM billing.invoices WHERE id = 3";
    let first = rows(&admin, query).await;
    let second = rows(&admin, query).await;
    assert_eq!(first.len(), 1);
    assert!(
        second[0][1] > first[0][1],
        "now() moves on: {first:?} then {second:?}"
    );
    let filtered = "SELECT count(*) FROM billing.invoices WHERE issued < now() AND id < 10";
    for _ in 0..2 {
        assert_eq!(rows(&admin, filtered).await, [[Some("9".to_string())]]);
    }
    assert_eq!(counters(&s).await, (0, 0), "nothing volatile is kept");
}
