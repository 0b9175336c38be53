//! The server stays up: connection limits, phase timeouts, memory caps, the admission queue,
//! drain on shutdown, reload, and the operator port, all through real sockets.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{
    code, connect_watched, tpch, wait_for, TestServer, ADMIN, ANALYST, SALES_ANALYST,
};

/// Never finishes on its own: a CPU-bound cross join over a huge series.
const ENDLESS: &str = "SELECT sum(r.r_regionkey + g.value % 7) FROM geo.region r CROSS JOIN generate_series(1, 1000000000000) AS g(value)";

async fn server(limits: &str) -> TestServer {
    TestServer::start_with(&tpch().domains_dir, &format!("\n[limits]\n{limits}\n")).await
}

/// The first value of a simple-protocol query.
async fn simple_value(c: &tokio_postgres::Client, sql: &str) -> String {
    c.simple_query(sql)
        .await
        .unwrap()
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .expect("a row")
}

/// The server's message of a failed call.
fn msg(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// How the server ended a watched connection: the SQLSTATE of its final error.
async fn ended_with(conn: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>) -> String {
    match tokio::time::timeout(Duration::from_secs(30), conn)
        .await
        .expect("the server ends the session")
        .expect("join")
    {
        Ok(()) => "closed without an error".into(),
        Err(e) => code(&e),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_refuses_with_53300_and_keeps_admin_slots() {
    let s = server("max_connections = 4\nreserved_admin_connections = 1").await;
    for cycle in 0..3 {
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(
                s.connect_as(ANALYST.0, ANALYST.1)
                    .await
                    .expect("within the limit"),
            );
        }
        let e = s
            .connect_as(ANALYST.0, ANALYST.1)
            .await
            .expect_err("the admin slot is reserved");
        assert_eq!(code(&e), "53300", "cycle {cycle}: {e}");
        held.push(s.admin().await);
        let e = s
            .connect_as(ADMIN.0, ADMIN.1)
            .await
            .expect_err("over max_connections");
        assert_eq!(code(&e), "53300");
        assert!(msg(&e).contains("too many clients"), "{e:?}");
        for c in &held {
            assert_eq!(
                c.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0),
                1
            );
        }
        assert_eq!(s.shared.sessions(), 4);
        drop(held);
        // Every slot comes back: nothing leaks across cycles.
        wait_for("slots to be released", Duration::from_secs(10), || {
            s.shared.sessions() == 0
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_connection_cap() {
    let fx = tpch();
    let dir = tempfile::tempdir().unwrap();
    let path = crate::harness::write_config(dir.path(), &fx.domains_dir, "");
    // Give the analyst a cap of 2 sessions.
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "roles = [\"analyst\", \"buyer\"]",
        "roles = [\"analyst\", \"buyer\"]\nmax_connections = 2",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let s = TestServer::start_config(meshgate::Config::load(&path).unwrap(), dir).await;
    let _a = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let _b = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let e = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap_err();
    assert_eq!(code(&e), "53300");
    assert!(
        msg(&e).contains("too many connections for role \"bob\""),
        "{e:?}"
    );
    // Others are not affected by bob's cap.
    s.admin().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_are_closed_at_the_timeout_and_logins_go_on() {
    let s = server("handshake_timeout_ms = 2000").await;
    let mut stalled = Vec::new();
    // Fewer than the 32 an address may have in flight (throttle.rs floods past that).
    for _ in 0..30 {
        let mut sock = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        // Half a startup packet, then nothing.
        sock.write_all(&[0, 0, 0, 40, 0, 3]).await.unwrap();
        stalled.push(sock);
    }
    let c = s.admin().await;
    assert_eq!(
        c.query_one("SELECT 41 + 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        42
    );
    // The login did not wait for the stalled handshakes to be cleared: they are all still open.
    for sock in &stalled {
        let mut buf = [0u8; 16];
        assert!(
            matches!(sock.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a stalled handshake was closed before the login finished"
        );
    }
    for mut sock in stalled {
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
            .await
            .expect("the server closes a stalled handshake")
            .unwrap_or(0);
        assert_eq!(n, 0, "closed without a reply");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_refused_before_they_are_buffered() {
    let s = server("max_query_message_bytes = 2048").await;
    let c = s.admin().await;
    let big = format!("SELECT '{}'", "x".repeat(4096));
    let e = c.simple_query(&big).await.unwrap_err();
    assert_eq!(code(&e), "54000", "{e}");
    // Other sessions are untouched; a query under the limit works.
    let c2 = s.admin().await;
    let ok = format!("SELECT length('{}')", "x".repeat(1000));
    assert_eq!(c2.query_one(&ok, &[]).await.unwrap().get::<_, i32>(0), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_and_idle_transactions_time_out() {
    let s = server("idle_session_timeout_ms = 300").await;
    let (c, conn) = connect_watched(&s.conn_string(ANALYST.0, ANALYST.1))
        .await
        .unwrap();
    assert_eq!(
        c.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0),
        1
    );
    assert_eq!(ended_with(conn).await, "57P05");

    // A session can turn it off for itself.
    let (c, _conn) = connect_watched(&s.conn_string(ANALYST.0, ANALYST.1))
        .await
        .unwrap();
    c.batch_execute("SET idle_session_timeout = 0")
        .await
        .unwrap();
    // Still answering after twice the server's timeout (the watched task shows no end).
    let quiet =
        tokio::time::timeout(Duration::from_millis(700), std::future::pending::<()>()).await;
    assert!(quiet.is_err());
    assert_eq!(
        c.query_one("SELECT 2", &[]).await.unwrap().get::<_, i32>(0),
        2
    );

    let (c, conn) = connect_watched(&s.conn_string(ANALYST.0, ANALYST.1))
        .await
        .unwrap();
    c.batch_execute(
        "SET idle_in_transaction_session_timeout = '200ms'; SET idle_session_timeout = 0; BEGIN",
    )
    .await
    .unwrap();
    assert_eq!(ended_with(conn).await, "25P03");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_its_memory_cap_fails_with_53200_and_the_session_goes_on() {
    let s = server("memory_pool_mb = 128\nquery_memory_mb = 32").await;
    let c = s.admin().await;
    // Holding every value in one accumulator cannot spill: the cap stops it.
    let e = c
        .query("SELECT array_length(array_agg(g.value || 'some padding text'), 1) FROM generate_series(1, 3000000) AS g(value)", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), "53200", "{e}");
    assert!(msg(&e).contains("memory limit"), "{e:?}");
    // A sort of the same size spills to disk instead and answers.
    let row = c
        .query_one(
            "SELECT v, rn::bigint FROM (SELECT v, row_number() OVER (ORDER BY v DESC) AS rn \
             FROM (SELECT g.value || 'some padding text' AS v FROM generate_series(1, 1000000) AS g(value))) ORDER BY rn LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    // Digits sort before letters: "9some…" is the greatest.
    assert_eq!(
        (row.get::<_, String>(0).as_str(), row.get::<_, i64>(1)),
        ("9some padding text", 1)
    );
    assert_eq!(
        c.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0),
        1
    );
    // Every reservation is given back once the engine tasks wind down.
    let ex = s.shared.executor.clone();
    wait_for("the pool to empty", Duration::from_secs(10), || {
        ex.memory_reserved() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admission_queue_holds_then_refuses() {
    let s = server("max_running_queries = 1\nmax_queued_queries = 1").await;
    let a = s.admin().await;
    let b = s.admin().await;
    let c = s.admin().await;
    let cancel = a.cancel_token();
    let endless = tokio::spawn(async move { a.query(ENDLESS, &[]).await.map(|_| ()) });
    let ex = s.shared.executor.clone();
    wait_for("the endless query to run", Duration::from_secs(10), || {
        ex.running() == 1
    })
    .await;
    let queued = tokio::spawn(async move {
        b.query_one("SELECT 7", &[])
            .await
            .map(|r| r.get::<_, i32>(0))
    });
    wait_for("the second query to queue", Duration::from_secs(10), || {
        ex.queued() == 1
    })
    .await;
    let e = c.query_one("SELECT 8", &[]).await.unwrap_err();
    assert_eq!(code(&e), "53300", "{e}");
    assert!(
        !queued.is_finished(),
        "the queued query waits for the running one"
    );
    cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    assert_eq!(code(&endless.await.unwrap().unwrap_err()), "57014");
    assert_eq!(queued.await.unwrap().unwrap(), 7);
    assert_eq!(
        c.query_one("SELECT 9", &[]).await.unwrap().get::<_, i32>(0),
        9
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_query_stops_the_query() {
    let s = server("").await;
    let (c, conn) = connect_watched(&s.conn_string(ADMIN.0, ADMIN.1))
        .await
        .unwrap();
    let q = tokio::spawn(async move { c.query(ENDLESS, &[]).await.map(|_| ()) });
    let ex = s.shared.executor.clone();
    wait_for("the query to run", Duration::from_secs(10), || {
        ex.running() == 1
    })
    .await;
    // Drop the socket without a Terminate, as a killed client does.
    conn.abort();
    q.abort();
    wait_for(
        "the server to stop the query",
        Duration::from_secs(10),
        || ex.running() == 0,
    )
    .await;
    wait_for("the session to end", Duration::from_secs(10), || {
        s.shared.sessions() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_requests_are_rate_limited_per_address() {
    let s = server("cancel_requests_per_sec = 5").await;
    let c = s.admin().await;
    let pid: i32 = c
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let victim = tokio::spawn({
        let q = "SELECT count(*) FROM sales.lineitem a JOIN sales.lineitem b ON a.l_orderkey = b.l_orderkey";
        async move { c.query_one(q, &[]).await.map(|r| r.get::<_, i64>(0)) }
    });
    // Guessed secrets for the right pid: none may cancel, and the limiter engages.
    for guess in 0..200u32 {
        let mut sock = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let mut pkt = vec![0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e];
        pkt.extend_from_slice(&pid.to_be_bytes());
        pkt.extend_from_slice(&guess.to_be_bytes());
        sock.write_all(&pkt).await.unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(
            sock.read(&mut buf).await.unwrap_or(0),
            0,
            "a cancel gets no answer"
        );
    }
    let limited = s
        .shared
        .metrics
        .cancel_requests_limited
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(limited >= 150, "limiter engaged for {limited} of 200");
    assert!(
        victim.await.unwrap().unwrap() > 0,
        "no guessed cancel stopped the query"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_running_statements_and_closes_idle_sessions() {
    let mut s = server("drain_timeout_ms = 60000").await;
    let (idle, idle_conn) = connect_watched(&s.conn_string(ANALYST.0, ANALYST.1))
        .await
        .unwrap();
    let (busy, busy_conn) = connect_watched(&s.conn_string(ADMIN.0, ADMIN.1))
        .await
        .unwrap();
    let ex = s.shared.executor.clone();
    // Simple protocol: an extended-protocol statement's Close, sent when it is dropped, would
    // be the pending request the FATAL is attributed to, and the watched connection would only
    // see the close.
    let q = tokio::spawn(async move {
        let r = busy
            .simple_query("SELECT sum(g.value) FROM generate_series(1, 40000000) AS g(value)")
            .await
            .map(|m| {
                m.iter()
                    .find_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => {
                            r.get(0).map(|v| v.parse::<i64>().unwrap())
                        }
                        _ => None,
                    })
                    .unwrap()
            });
        // Keep the client: dropping it would close the connection from our side.
        (r, busy)
    });
    wait_for("the query to run", Duration::from_secs(10), || {
        ex.running() == 1
    })
    .await;
    s.begin_shutdown();
    // The idle session is told at once, while the statement still runs.
    assert_eq!(ended_with(idle_conn).await, "57P01");
    drop(idle);
    let (sum, _busy) = q.await.unwrap();
    assert_eq!(
        sum.expect("the running statement completes"),
        800000020000000
    );
    assert_eq!(ended_with(busy_conn).await, "57P01");
    s.stopped().await;
    assert!(
        tokio::net::TcpStream::connect(s.addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_what_outlives_the_drain_timeout() {
    let mut s = server("drain_timeout_ms = 300").await;
    let (c, conn) = connect_watched(&s.conn_string(ADMIN.0, ADMIN.1))
        .await
        .unwrap();
    let ex = s.shared.executor.clone();
    // Simple protocol, and the client kept alive, so the session's end is the server's doing.
    let q = tokio::spawn(async move { (c.simple_query(ENDLESS).await.map(|_| ()), c) });
    wait_for("the query to run", Duration::from_secs(10), || {
        ex.running() == 1
    })
    .await;
    s.begin_shutdown();
    let (r, _c) = q.await.unwrap();
    assert_eq!(code(&r.unwrap_err()), "57014");
    assert_eq!(ended_with(conn).await, "57P01");
    tokio::time::timeout(Duration::from_secs(15), s.stopped())
        .await
        .expect("serve returns after the drain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_a_valid_configuration_and_keeps_the_old_one_otherwise() {
    let fx = tpch();
    // A private copy of the domain files, so this test can edit them.
    let dir = tempfile::tempdir().unwrap();
    let domains = dir.path().join("domains");
    std::fs::create_dir(&domains).unwrap();
    for e in std::fs::read_dir(&fx.domains_dir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), domains.join(e.file_name())).unwrap();
    }
    let path = crate::harness::write_config(dir.path(), &domains, "");
    let s = TestServer::start_config(meshgate::Config::load(&path).unwrap(), dir).await;
    let admin = s.admin().await;
    let bob = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();

    // Non-admins may not reload.
    assert_eq!(
        code(
            &bob.query_one("SELECT pg_reload_conf()", &[])
                .await
                .unwrap_err()
        ),
        "42501"
    );

    // A new product (a second name for the geo tables) and a new user.
    let geo = std::fs::read_to_string(domains.join("geo.toml")).unwrap();
    let extra = geo.replacen("name = \"geo\"", "name = \"geo2\"", 1);
    assert_ne!(extra, geo, "the fixture's geo domain is named geo");
    let extra = extra.replace(
        "[[products]]\nname = \"geo\"",
        "[[products]]\nname = \"atlas\"",
    );
    assert!(
        extra.contains("name = \"atlas\""),
        "the fixture names its product geo: {extra}"
    );
    // Its grant follows the product (a domain grants only its own products).
    let extra = extra.replace("product = \"geo\"", "product = \"atlas\"");
    // The second domain shares the bucket with the same settings, which is allowed.
    std::fs::write(domains.join("geo2.toml"), &extra).unwrap();
    let conf = std::fs::read_to_string(&path).unwrap();
    let erin = meshgate::auth::ScramVerifier::generate("erin-pw", 4096);
    std::fs::write(
        &path,
        conf.replace(
            "[domains]",
            &format!("[[users]]\nname = \"erin\"\npassword = \"{erin}\"\n\n[domains]"),
        ),
    )
    .unwrap();
    assert!(s.connect_as("erin", "erin-pw").await.is_err(), "not yet");

    // Open one table, so the reload has something to carry over.
    assert_eq!(
        admin
            .query_one("SELECT count(*) FROM geo.region", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        5
    );
    let old_mesh = s.shared.mesh();
    assert!(admin
        .query_one("SELECT pg_reload_conf()", &[])
        .await
        .unwrap()
        .get::<_, bool>(0));
    let new_mesh = s.shared.mesh();
    assert!(!std::sync::Arc::ptr_eq(&old_mesh, &new_mesh), "a new mesh");
    assert!(
        new_mesh.table("geo", "region").unwrap().known().is_some(),
        "unchanged tables keep their metadata"
    );
    assert!(
        new_mesh.table("atlas", "region").unwrap().known().is_none(),
        "new tables start unopened"
    );
    // Running sessions stay, and their next statement sees the new mesh.
    let n: i64 = bob
        .query_one("SELECT count(*) FROM atlas.region", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
    // …and so does its catalog.
    let listed: i64 = bob
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'atlas'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(listed, 2);
    let ns: i64 = bob
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = 'atlas'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ns, 1);
    let erin_c = s
        .connect_as("erin", "erin-pw")
        .await
        .expect("new user logs in");
    assert_eq!(
        erin_c
            .query_one("SELECT count(*) FROM atlas.nation", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        25
    );

    // An invalid file is refused and the running configuration kept.
    std::fs::write(domains.join("broken.toml"), "name = \n").unwrap();
    assert!(!admin
        .query_one("SELECT pg_reload_conf()", &[])
        .await
        .unwrap()
        .get::<_, bool>(0));
    assert_eq!(
        s.shared
            .metrics
            .reload_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    s.connect_as("erin", "erin-pw")
        .await
        .expect("the last good configuration still serves");
    assert_eq!(
        bob.query_one("SELECT count(*) FROM atlas.region", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_cause_no_client_errors() {
    let s = server("").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for i in 0..8 {
        let c = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let mut done = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || done == 0 {
                let n: i64 = c
                    .query_one("SELECT count(*) FROM sales.orders o JOIN geo.nation n ON true WHERE n.n_nationkey = $1", &[&(i as i64)])
                    .await
                    .expect("no client error during reloads")
                    .get(0);
                assert!(n > 0);
                done += 1;
            }
            done
        }));
    }
    let admin = s.admin().await;
    for _ in 0..20 {
        assert!(admin
            .query_one("SELECT pg_reload_conf()", &[])
            .await
            .unwrap()
            .get::<_, bool>(0));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        assert!(c.await.unwrap() > 0);
    }
    assert_eq!(
        s.shared
            .metrics
            .reloads
            .load(std::sync::atomic::Ordering::Relaxed),
        20
    );
}

/// One HTTP GET on the operator port.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    sock.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_port_serves_health_and_metrics() {
    let s = TestServer::start_with(&tpch().domains_dir, "admin_listen = \"127.0.0.1:0\"").await;
    wait_for("the operator port", Duration::from_secs(10), || {
        s.shared.admin_addr().is_some()
    })
    .await;
    let admin_addr = s.shared.admin_addr().unwrap();
    let (status, body) = http_get(admin_addr, "/health").await;
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );

    let c = s.admin().await;
    c.query("SELECT 1", &[]).await.unwrap();
    c.simple_query("SELECT 2").await.unwrap();
    assert_eq!(
        code(
            &c.query("SELECT * FROM nowhere.nothing", &[])
                .await
                .unwrap_err()
        ),
        "42P01"
    );
    assert!(s.connect_as(ADMIN.0, "wrong").await.is_err());
    let (status, body) = http_get(admin_addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let value = |name: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("{name} missing from\n{body}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(value("meshgate_errors_total{sqlstate=\"42P01\"}"), 1.0);
    assert_eq!(
        value("meshgate_connections_refused_total{reason=\"authentication\"}"),
        1.0
    );
    assert!(value("meshgate_statements_total") >= 2.0);
    assert!(value("meshgate_connections_accepted_total") >= 2.0);
    assert_eq!(value("meshgate_sessions"), 1.0);
    assert!(value("meshgate_statement_duration_seconds_count") >= 2.0);
    assert!(body.contains("# TYPE meshgate_statement_duration_seconds histogram"));
    let (status, _) = http_get(admin_addr, "/nope").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

/// The real binary: SIGHUP reloads, SIGTERM drains and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reloads_on_sighup_and_drains_on_sigterm() {
    let fx = tpch();
    let dir = tempfile::tempdir().unwrap();
    let path = crate::harness::write_config(dir.path(), &fx.domains_dir, "");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&path, &text).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap().to_string();
    let conn_string =
        |u: &str, p: &str| format!("host=127.0.0.1 port={port} user={u} password={p} dbname=mesh");
    let connect = |u: &'static str, p: &'static str| {
        let cs = conn_string(u, p);
        async move { connect_watched(&cs).await }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (bob, bob_conn) = loop {
        match connect(ANALYST.0, ANALYST.1).await {
            Ok(c) => break c,
            Err(_) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the server did not start listening"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(
        simple_value(&bob, "SELECT count(*) FROM geo.region").await,
        "5"
    );

    let erin = meshgate::auth::ScramVerifier::generate("erin-pw", 4096);
    std::fs::write(
        &path,
        text.replace(
            "[domains]",
            &format!("[[users]]\nname = \"erin\"\npassword = \"{erin}\"\n\n[domains]"),
        ),
    )
    .unwrap();
    assert!(connect("erin", "erin-pw").await.is_err());
    let kill = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
    };
    assert!(kill("-HUP").success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (_erin, erin_conn) = loop {
        match connect("erin", "erin-pw").await {
            Ok(c) => break c,
            Err(_) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "SIGHUP did not reload the users"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // The session that predates the reload is still there (simple protocol, see the drain test).
    assert_eq!(simple_value(&bob, "SELECT 1").await, "1");

    assert!(kill("-TERM").success());
    assert_eq!(ended_with(bob_conn).await, "57P01");
    assert_eq!(ended_with(erin_conn).await, "57P01");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after draining")
        .unwrap();
    assert_eq!(status.code(), Some(0), "a drained shutdown exits 0");
}

/// Replicas behind a load balancer: a client's CancelRequest may reach another replica than
/// its session's, which forwards it by the replica number in the pid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_that_reaches_another_replica_is_forwarded() {
    let a = TestServer::start_with(&tpch().domains_dir, "\n[replicas]\nid = 1\n").await;
    let b = TestServer::start_with(
        &tpch().domains_dir,
        &format!(
            "\n[replicas]\nid = 2\n[[replicas.peers]]\nid = 1\naddress = \"{}\"\n",
            a.addr
        ),
    )
    .await;
    let c = a.admin().await;
    let pid: i32 = c
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pid >> 24, 1, "replica 1's pid {pid}");
    let cancel = c.cancel_token();
    let endless = tokio::spawn(async move { c.query(ENDLESS, &[]).await.map(|_| ()) });
    let ex = a.shared.executor.clone();
    wait_for("the query to run", Duration::from_secs(10), || {
        ex.running() == 1
    })
    .await;
    let to_b = tokio::net::TcpStream::connect(b.addr).await.unwrap();
    cancel
        .cancel_query_raw(to_b, tokio_postgres::NoTls)
        .await
        .unwrap();
    assert_eq!(code(&endless.await.unwrap().unwrap_err()), "57014");
    let pid_b: i32 = b
        .admin()
        .await
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pid_b >> 24, 2, "replica 2's pid {pid_b}");
}

/// The first error's SQLSTATE and message of `sql` on `c`.
async fn failure(c: &tokio_postgres::Client, sql: &str) -> (String, String) {
    let e = c.query(sql, &[]).await.expect_err(sql);
    let message = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    (code(&e), message)
}

#[tokio::test]
async fn pg_cancel_and_terminate_backend_reach_a_session_on_another_replica() {
    let secrets = tempfile::tempdir().unwrap();
    let shared = secrets.path().join("replicas.secret");
    let other = secrets.path().join("other.secret");
    std::fs::write(&shared, "a shared secret of forty characters long\n").unwrap();
    std::fs::write(&other, "a different secret of forty characters!!\n").unwrap();
    let replica = |id: u8, peers: &str, secret: Option<&std::path::Path>| {
        let secret = secret
            .map(|p| format!("secret_file = \"{}\"\n", p.display()))
            .unwrap_or_default();
        format!("\n[replicas]\nid = {id}\n{secret}{peers}")
    };
    let a = TestServer::start_with(&tpch().domains_dir, &replica(1, "", Some(&shared))).await;
    let peer_a = format!("[[replicas.peers]]\nid = 1\naddress = \"{}\"\n", a.addr);
    // Replica 4 is configured but nothing listens there: it is down.
    let peer_down = "[[replicas.peers]]\nid = 4\naddress = \"127.0.0.1:1\"\n";
    let b = TestServer::start_with(
        &tpch().domains_dir,
        &replica(2, &format!("{peer_a}{peer_down}"), Some(&shared)),
    )
    .await;

    let on_a = a.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let pid: i64 = on_a
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get::<_, i32>(0)
        .into();
    let endless = tokio::spawn(async move { on_a.query(ENDLESS, &[]).await.map(|_| ()) });
    let ex = a.shared.executor.clone();
    wait_for(
        "the query to run on replica 1",
        Duration::from_secs(10),
        || ex.running() == 1,
    )
    .await;

    // Another role may not, from any replica: the same rule as on the session's own replica.
    let dave = b
        .connect_as(SALES_ANALYST.0, SALES_ANALYST.1)
        .await
        .unwrap();
    let (state, message) = failure(&dave, &format!("SELECT pg_cancel_backend({pid})")).await;
    assert_eq!(state, "42501", "{message}");
    assert!(
        message.contains(&format!("role \"{}\"", ANALYST.0)),
        "{message}"
    );
    assert_eq!(ex.running(), 1, "a refused signal cancels nothing");

    // The session's own role may, through replica 2.
    let bob = b.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let done: bool = bob
        .query_one(&format!("SELECT pg_cancel_backend({pid})"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(done, "replica 1 reports the signal delivered");
    assert_eq!(code(&endless.await.unwrap().unwrap_err()), "57014");

    // An admin ends a session on replica 1 from replica 2.
    let idle = a.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let idle_pid: i32 = idle
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let admin_b = b.admin().await;
    let ended: bool = admin_b
        .query_one(&format!("SELECT pg_terminate_backend({idle_pid})"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(ended);
    let registry = a.shared.registry.clone();
    wait_for(
        "the session on replica 1 to end",
        Duration::from_secs(10),
        || registry.user_of(idle_pid).is_none(),
    )
    .await;
    assert!(idle.query("SELECT 1", &[]).await.is_err());

    // No such session on replica 1: false, as PostgreSQL answers for a pid that is no backend.
    let gone: bool = admin_b
        .query_one(
            &format!("SELECT pg_cancel_backend({})", (1 << 24) | 999_999),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!gone);

    // A replica that is down fails the call, names itself, and the session goes on.
    let (state, message) = failure(
        &admin_b,
        &format!("SELECT pg_cancel_backend({})", (4 << 24) | 10_000),
    )
    .await;
    assert_eq!(state, "08006", "{message}");
    assert!(message.contains("replica 4 (127.0.0.1:1)"), "{message}");
    assert_eq!(admin_b.query("SELECT 1", &[]).await.unwrap().len(), 1);

    // Without the shared secret a replica cannot vouch for its caller; with another secret the
    // signal is refused by replica 1.
    let unsigned = TestServer::start_with(&tpch().domains_dir, &replica(3, &peer_a, None)).await;
    let (state, message) = failure(
        &unsigned.admin().await,
        &format!("SELECT pg_cancel_backend({pid})"),
    )
    .await;
    assert_eq!(state, "55000", "{message}");
    let forged =
        TestServer::start_with(&tpch().domains_dir, &replica(5, &peer_a, Some(&other))).await;
    let (state, message) = failure(
        &forged.admin().await,
        &format!("SELECT pg_terminate_backend({pid})"),
    )
    .await;
    assert_eq!(state, "XX000", "{message}");
    assert!(message.contains("shared secrets differ"), "{message}");
}
