//! Session statements over tokio-postgres' simple protocol: cursor rules PostgreSQL enforces,
//! temporary tables kept per session, and what stays refused.

use crate::harness::{code, TestServer, ANALYST};

fn rows(msgs: &[tokio_postgres::SimpleQueryMessage]) -> Vec<Vec<String>> {
    msgs.iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

fn tag(msgs: &[tokio_postgres::SimpleQueryMessage]) -> Option<u64> {
    msgs.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_follow_postgres_rules() {
    let s = TestServer::tpch().await;
    let c = s.connect_as(ANALYST.0, ANALYST.1).await.expect("connects");
    let e = c
        .simple_query("DECLARE c CURSOR FOR SELECT 1")
        .await
        .expect_err("needs a transaction block");
    assert_eq!(code(&e), "25P01");

    c.simple_query("BEGIN").await.expect("begin");
    c.simple_query("DECLARE c NO SCROLL CURSOR FOR SELECT n_nationkey FROM geo.nation ORDER BY 1")
        .await
        .expect("declare");
    let e = c
        .simple_query("DECLARE c CURSOR FOR SELECT 1")
        .await
        .expect_err("duplicate name");
    assert_eq!(code(&e), "42P03");
    c.simple_query("ROLLBACK").await.expect("rollback");

    c.simple_query("BEGIN").await.expect("begin");
    c.simple_query("DECLARE c CURSOR FOR SELECT n_nationkey FROM geo.nation ORDER BY 1")
        .await
        .expect("declare");
    let m = c.simple_query("FETCH 3 FROM c").await.expect("fetch 3");
    assert_eq!(
        rows(&m),
        vec![
            vec!["0".to_string()],
            vec!["1".to_string()],
            vec!["2".to_string()]
        ]
    );
    assert_eq!(
        tag(&c.simple_query("MOVE 20 IN c").await.expect("move")),
        Some(20)
    );
    let m = c
        .simple_query("FETCH NEXT FROM c")
        .await
        .expect("fetch next");
    assert_eq!(rows(&m), vec![vec!["23".to_string()]]);
    let m = c.simple_query("FETCH ALL FROM c").await.expect("fetch all");
    assert_eq!(rows(&m), vec![vec!["24".to_string()]]);
    assert_eq!(
        tag(&c
            .simple_query("FETCH ALL FROM c")
            .await
            .expect("fetch at the end")),
        Some(0)
    );
    let e = c
        .simple_query("FETCH BACKWARD 1 FROM c")
        .await
        .expect_err("streams only go forward");
    assert_eq!(code(&e), "55000");
    c.simple_query("ROLLBACK").await.expect("rollback");

    // A WITH HOLD cursor outlives its transaction; a plain one ends with it.
    c.simple_query("BEGIN; DECLARE plain CURSOR FOR SELECT 1; DECLARE held CURSOR WITH HOLD FOR SELECT 2; COMMIT")
        .await
        .expect("declare both");
    let e = c
        .simple_query("FETCH 1 FROM plain")
        .await
        .expect_err("closed at commit");
    assert_eq!(code(&e), "34000");
    assert_eq!(
        rows(&c.simple_query("FETCH 1 FROM held").await.expect("held")),
        vec![vec!["2".to_string()]]
    );
    c.simple_query("CLOSE held").await.expect("close");
    let e = c
        .simple_query("CLOSE held")
        .await
        .expect_err("already closed");
    assert_eq!(code(&e), "34000");
    c.simple_query("CLOSE ALL").await.expect("close all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_tables_belong_to_their_session() {
    let s = TestServer::tpch().await;
    let a = s.connect_as(ANALYST.0, ANALYST.1).await.expect("connects");
    let b = s.connect_as(ANALYST.0, ANALYST.1).await.expect("connects");
    a.simple_query(
        r##"CREATE LOCAL TEMPORARY TABLE "#Tableau_9" ("COL" INTEGER) ON COMMIT PRESERVE ROWS"##,
    )
    .await
    .expect("create");
    let m = a
        .simple_query(r##"INSERT INTO "#Tableau_9" VALUES (1), (2), (3)"##)
        .await
        .expect("insert");
    assert_eq!(tag(&m), Some(3));
    let m = a
        .simple_query(r##"SELECT sum("COL") FROM pg_temp."#Tableau_9""##)
        .await
        .expect("qualified select");
    assert_eq!(rows(&m), vec![vec!["6".to_string()]]);
    let e = b
        .simple_query(r##"SELECT * FROM "#Tableau_9""##)
        .await
        .expect_err("other sessions do not see it");
    assert_eq!(code(&e), "42P01");
    // The catalogs list it for its own session only: pg_class (temporary persistence, in
    // pg_temp), information_schema, and 'name'::regclass.
    let listed = r##"SELECT c.relname, c.relpersistence, n.nspname, c.relnatts::text, (c.oid = '"#Tableau_9"'::regclass)::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname LIKE '#Tableau%'"##;
    let m = a.simple_query(listed).await.expect("pg_class");
    assert_eq!(
        rows(&m),
        vec![["#Tableau_9", "t", "pg_temp", "1", "true"]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()]
    );
    let m = a
        .simple_query("SELECT table_schema, table_type, (SELECT data_type FROM information_schema.columns WHERE table_name = '#Tableau_9') FROM information_schema.tables WHERE table_name = '#Tableau_9'")
        .await
        .expect("information_schema");
    assert_eq!(
        rows(&m),
        vec![vec![
            "pg_temp".to_string(),
            "LOCAL TEMPORARY".to_string(),
            "integer".to_string()
        ]]
    );
    let m = a
        .simple_query(r##"SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '"#Tableau_9"'::regclass AND attnum > 0"##)
        .await
        .expect("pg_attribute");
    assert_eq!(
        rows(&m),
        vec![vec!["COL".to_string(), "integer".to_string()]]
    );
    let m = b
        .simple_query("SELECT count(*) FROM pg_class WHERE relname LIKE '#Tableau%'")
        .await
        .expect("other session");
    assert_eq!(rows(&m), vec![vec!["0".to_string()]]);
    // Writes to data products stay refused, whatever the statement's form.
    for sql in [
        "INSERT INTO geo.region VALUES (9, 'X', 'y')",
        "DROP TABLE geo.region",
        "CREATE TABLE geo.x (a int)",
    ] {
        let e = a.simple_query(sql).await.expect_err(sql);
        assert_eq!(code(&e), "42501", "{sql}");
    }
    a.simple_query(r##"DROP TABLE "#Tableau_9""##)
        .await
        .expect("drop");
    a.simple_query(r##"DROP TABLE IF EXISTS "#Tableau_9""##)
        .await
        .expect("drop if exists");
    let e = a
        .simple_query(r##"DROP TABLE "#Tableau_9""##)
        .await
        .expect_err("gone");
    assert_eq!(code(&e), "42P01");
}

/// Nesting that would make the parser take exponential time is refused before the parse, with
/// 54001, and the session goes on (sqlfront/src/parse.rs has the bounds and their timings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_nested_past_the_bounds_are_refused_at_once() {
    let s = TestServer::tpch().await;
    let c = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let calls = |n: usize| format!("SELECT {}1{}", "abs(".repeat(n), ")".repeat(n));
    let subqueries = |n: usize| format!("SELECT {}1{}", "(SELECT ".repeat(n), ")".repeat(n));
    let parens = |n: usize| format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n));
    // The input fuzzing found: minutes of parsing at 14 levels, had it been parsed.
    let found = "(SELECT(S * FROM ".repeat(14);
    for sql in [calls(17), calls(40), subqueries(17), parens(21), found] {
        let started = std::time::Instant::now();
        let e = c.simple_query(&sql).await.unwrap_err();
        assert_eq!(code(&e), "54001", "{sql}: {e}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "refused before parsing: {sql}"
        );
    }
    // Within the bounds statements answer (shallow here: the test server is a debug build,
    // whose stack frames are several times a release build's).
    for sql in [calls(8), parens(8)] {
        let r = c.simple_query(&sql).await.unwrap();
        assert_eq!(rows(&r), vec![vec!["1".to_string()]], "{sql}");
    }
}
