//! Statements run in a session with no socket: a recording client stands in for the
//! connection, over a small Parquet mesh on disk (see `crate::testing`).

use bytes::Bytes;
use pgwire::messages::extendedquery::Bind;

use super::{Description, Failure, Session};
use crate::error::SqlState;
use crate::testing::{Mesh, Recorder};

/// Runs a simple-query message; the first error ends it, as the protocol says.
async fn run(s: &mut Session, c: &mut Recorder, sql: &str) -> Result<(), SqlState> {
    for parsed in s.parse_batch(sql).map_err(|e| e.code)? {
        match s.run_statement(parsed, c).await {
            Ok(()) => {}
            Err(Failure::User(e)) => return Err(e.code),
            Err(Failure::Gone) => panic!("a recorder never goes away"),
        }
    }
    Ok(())
}

async fn rows(s: &mut Session, sql: &str) -> Vec<Vec<String>> {
    let mut c = Recorder::default();
    run(s, &mut c, sql).await.expect(sql);
    c.take_rows()
}

#[tokio::test]
async fn queries_answer_with_columns_rows_and_a_tag() {
    let mesh = Mesh::new().await;
    let mut s = mesh.session("reader");
    let mut c = Recorder::default();
    run(
        &mut s,
        &mut c,
        "SELECT id, name FROM shop.items ORDER BY id",
    )
    .await
    .expect("runs");
    assert_eq!(
        c.rows,
        vec![vec!["1", "pen"], vec!["2", "book"], vec!["3", "cup"]]
    );
    assert_eq!(c.tags(), ["SELECT 3"]);
    assert!(matches!(c.replies[0], super::Reply::Columns(ref f) if f.len() == 2));
}

#[tokio::test]
async fn names_resolve_as_postgresql_resolves_them() {
    let mesh = Mesh::new().await;
    let mut s = mesh.session("reader");
    // The search path's schemas, pg_catalog before them, CTEs before everything.
    assert_eq!(
        rows(
            &mut s,
            "SET search_path = public, shop; SELECT count(*) FROM items"
        )
        .await,
        [["3"]]
    );
    assert_eq!(
        rows(
            &mut s,
            "WITH items AS (SELECT 1 AS x) SELECT count(*) FROM items"
        )
        .await,
        [["1"]]
    );
    assert!(!rows(&mut s, "SELECT relname FROM pg_class")
        .await
        .is_empty());
    // A relation that exists nowhere is 42P01, named as written.
    let mut c = Recorder::default();
    assert_eq!(
        run(&mut s, &mut c, "SELECT * FROM shop.nope").await,
        Err(SqlState::UndefinedTable)
    );
    // A temporary table comes first.
    rows(
        &mut s,
        "CREATE TEMP TABLE items (x int); INSERT INTO items VALUES (7), (8)",
    )
    .await;
    assert_eq!(rows(&mut s, "SELECT sum(x) FROM items").await, [["15"]]);
    assert_eq!(
        rows(&mut s, "SELECT count(*) FROM shop.items").await,
        [["3"]]
    );
}

#[tokio::test]
async fn row_filters_apply_to_whoever_reads() {
    let mesh = Mesh::new().await;
    let mut filtered = mesh.session("filtered");
    assert_eq!(
        rows(&mut filtered, "SELECT name FROM shop.items ORDER BY id").await,
        [["pen"], ["cup"]]
    );
    // The settings functions are answered before planning, and cannot reach a policy.
    assert_eq!(
        rows(
            &mut filtered,
            "SELECT set_config('application_name', 'x', false)"
        )
        .await,
        [["x"]]
    );
    assert_eq!(rows(&mut filtered, "SHOW application_name").await, [["x"]]);
}

#[tokio::test]
async fn a_failed_block_takes_only_rollback() {
    let mesh = Mesh::new().await;
    let mut s = mesh.session("reader");
    let mut c = Recorder::default();
    run(&mut s, &mut c, "BEGIN").await.expect("begin");
    assert!(s.in_transaction());
    assert_eq!(
        run(&mut s, &mut c, "SELECT 1/0").await,
        Err(SqlState::DivisionByZero)
    );
    assert_eq!(
        run(&mut s, &mut c, "SELECT 1").await,
        Err(SqlState::InFailedTransaction)
    );
    run(&mut s, &mut c, "COMMIT").await.expect("ends the block");
    assert_eq!(c.tags().last().map(String::as_str), Some("ROLLBACK"));
    assert!(!s.in_transaction());
    assert_eq!(
        run(&mut s, &mut c, "SET no_such_setting = 1").await,
        Err(SqlState::UndefinedObject)
    );
}

#[tokio::test]
async fn cursors_stream_forward_in_a_block() {
    let mesh = Mesh::new().await;
    let mut s = mesh.session("reader");
    let mut c = Recorder::default();
    run(
        &mut s,
        &mut c,
        "BEGIN; DECLARE c CURSOR FOR SELECT id FROM shop.items ORDER BY id",
    )
    .await
    .expect("declared");
    assert_eq!(rows(&mut s, "FETCH 1 FROM c").await, [["1"]]);
    assert!(rows(&mut s, "MOVE 1 IN c").await.is_empty());
    assert_eq!(rows(&mut s, "FETCH ALL FROM c").await, [["3"]]);
    let mut c = Recorder::default();
    run(&mut s, &mut c, "COMMIT; FETCH 1 FROM c")
        .await
        .unwrap_err();
}

#[tokio::test]
async fn prepared_statements_bind_parameters_and_suspend() {
    let mesh = Mesh::new().await;
    let mut s = mesh.session("reader");
    s.parse_statement(
        "q".into(),
        "SELECT name FROM shop.items WHERE id >= $1 ORDER BY id",
        &[],
    )
    .await
    .expect("parses");
    let (params, desc) = s.describe_statement("q").expect("described");
    assert_eq!(params, [pgwire::api::Type::INT8.oid()]);
    assert!(matches!(desc, Description::Rows(f) if f.len() == 1));
    let bind = Bind::new(
        Some("p".into()),
        Some("q".into()),
        vec![0],
        vec![Some(Bytes::from_static(b"2"))],
        vec![],
    );
    s.bind_portal(&bind).await.expect("binds");
    let mut c = Recorder::default();
    s.execute("p", 1, &mut c).await.expect("first row");
    assert_eq!(c.take_rows(), [["book"]]);
    assert!(matches!(c.replies.last(), Some(super::Reply::Suspended)));
    s.execute("p", 0, &mut c).await.expect("the rest");
    assert_eq!(c.take_rows(), [["cup"]]);
    // The tag counts the rows of this Execute, as PostgreSQL's does, not the portal's total.
    assert_eq!(c.tags(), ["SELECT 1"]);
    assert_eq!(
        s.parse_statement("q".into(), "SELECT 1", &[])
            .await
            .unwrap_err()
            .code,
        SqlState::DuplicatePreparedStatement
    );
}

#[tokio::test]
async fn settings_follow_the_transaction_block() {
    let mesh = Mesh::new().await;
    let mut s = mesh.session("reader");
    let show = |s: &mut Session| {
        s.settings
            .get("statement_timeout", &s.access.principal)
            .unwrap_or_default()
    };
    rows(&mut s, "SET statement_timeout = 1000").await;
    // ROLLBACK undoes a SET made in the block.
    rows(&mut s, "BEGIN; SET statement_timeout = 2000").await;
    assert_eq!(show(&mut s), "2000");
    rows(&mut s, "ROLLBACK").await;
    assert_eq!(show(&mut s), "1000");
    // COMMIT keeps it.
    rows(&mut s, "BEGIN; SET statement_timeout = 3000; COMMIT").await;
    assert_eq!(show(&mut s), "3000");
    // SET LOCAL ends with the block, committed or not.
    rows(&mut s, "BEGIN; SET LOCAL statement_timeout = 4000").await;
    assert_eq!(show(&mut s), "4000");
    rows(&mut s, "COMMIT").await;
    assert_eq!(show(&mut s), "3000");
    // A RESET in a rolled-back block comes back too, search_path's effect on names included.
    rows(&mut s, "SET search_path = shop").await;
    rows(&mut s, "BEGIN; RESET search_path; ROLLBACK").await;
    assert_eq!(rows(&mut s, "SELECT count(*) FROM items").await, [["3"]]);
    // Outside a block, SET LOCAL warns and changes nothing.
    let mut c = Recorder::default();
    run(&mut s, &mut c, "SET LOCAL statement_timeout = 5000")
        .await
        .expect("a warning, not an error");
    assert_eq!(show(&mut s), "3000");
    assert!(c
        .replies
        .iter()
        .any(|r| matches!(r, super::Reply::Notice { warning: true, .. })));
}

#[tokio::test]
async fn deallocate_drops_prepared_statements() {
    let mesh = Mesh::new().await;
    let mut s = mesh.session("reader");
    for name in ["a", "b"] {
        s.parse_statement(name.into(), "SELECT 1", &[])
            .await
            .expect("parses");
    }
    let mut c = Recorder::default();
    run(&mut s, &mut c, "DEALLOCATE a")
        .await
        .expect("deallocates");
    assert!(s.describe_statement("a").is_err());
    assert!(s.describe_statement("b").is_ok());
    assert_eq!(
        run(&mut s, &mut c, "DEALLOCATE a").await,
        Err(SqlState::InvalidSqlStatementName)
    );
    run(&mut s, &mut c, "DEALLOCATE ALL").await.expect("all");
    assert!(s.describe_statement("b").is_err());
    assert_eq!(c.tags(), ["DEALLOCATE", "DEALLOCATE ALL"]);
}

/// Sessions are copied from one engine template: each keeps its own catalog (its principal's
/// view of the mesh, its temporary tables) and its own settings.
#[tokio::test]
async fn sessions_copied_from_one_template_stay_apart() {
    let mesh = Mesh::new().await;
    let mut reader = mesh.session("reader");
    let mut filtered = mesh.session("filtered");
    rows(
        &mut reader,
        "CREATE TEMP TABLE mine (x int); INSERT INTO mine VALUES (1); SET extra_float_digits = 3",
    )
    .await;
    assert_eq!(
        rows(&mut reader, "SELECT count(*) FROM mine").await,
        [["1"]]
    );
    let mut c = Recorder::default();
    assert_eq!(
        run(&mut filtered, &mut c, "SELECT count(*) FROM mine").await,
        Err(SqlState::UndefinedTable)
    );
    assert_eq!(
        rows(&mut filtered, "SHOW extra_float_digits").await,
        [["1"]]
    );
    // The row filter is `filtered`'s alone, though both sessions started from one template.
    assert_eq!(
        rows(&mut reader, "SELECT count(*) FROM shop.items").await,
        [["3"]]
    );
    assert_eq!(
        rows(&mut filtered, "SELECT count(*) FROM shop.items").await,
        [["2"]]
    );
    let mut fresh = mesh.session("reader");
    let mut c = Recorder::default();
    assert_eq!(
        run(&mut fresh, &mut c, "SELECT count(*) FROM mine").await,
        Err(SqlState::UndefinedTable)
    );
    assert_eq!(rows(&mut fresh, "SHOW extra_float_digits").await, [["1"]]);
}

/// Statements plan with a kept copy of the session's engine state (`context::Snapshot`); each
/// still gets its own `now()`, and sees what the statements before it set.
#[tokio::test]
async fn each_statement_plans_with_the_state_as_it_is_now() {
    let mesh = Mesh::new().await;
    let mut s = mesh.session("reader");
    let mut times = Vec::new();
    for _ in 0..3 {
        let got = rows(&mut s, "SELECT now()::text").await;
        times.push(got[0][0].clone());
    }
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "every statement has its own now(): {times:?}"
    );
    let instant = "SELECT '2020-01-01 12:00:00+00'::timestamptz::text";
    assert_eq!(rows(&mut s, instant).await, [["2020-01-01 12:00:00+00"]]);
    rows(&mut s, "SET TimeZone = 'Asia/Tokyo'").await;
    assert_eq!(rows(&mut s, instant).await, [["2020-01-01 21:00:00+09"]]);
    rows(
        &mut s,
        "SELECT set_config('TimeZone', 'America/New_York', false)",
    )
    .await;
    assert_eq!(rows(&mut s, instant).await, [["2020-01-01 07:00:00-05"]]);
    // A setting applied by the statement itself is seen by its own plan.
    assert_eq!(
        rows(
            &mut s,
            "SELECT set_config('TimeZone', 'UTC', false), '2020-01-01 12:00:00+00'::timestamptz::text"
        )
        .await,
        [["UTC", "2020-01-01 12:00:00+00"]]
    );
    rows(&mut s, "SET search_path = shop").await;
    assert_eq!(rows(&mut s, "SELECT count(*) FROM items").await, [["3"]]);
}
