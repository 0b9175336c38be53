//! Robustness figures: the real `meshgate` binary as a child process, driven over loopback by
//! hostile, slow and numerous clients. Prints what happened and the server's memory (from
//! /proc); asserts nothing about time.
//!
//!     cargo bench --bench robustness            # release build, all scenarios
//!     cargo bench --bench robustness -- --only slowloris
//!     cargo test --bench robustness -- --only audit   # debug build: relative figures only
//!
//! Scenarios follow issue 5: malformed startups, idle connections, connection limit cycles,
//! slowloris, a slow reader, random CancelRequests, concurrent heavy aggregations under a small
//! pool, reloads under load, SIGTERM under load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::{Rng, RngCore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod process;
use process::{cpu_seconds, Server};

fn code(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_else(|| {
        let mut text = e.to_string();
        if let Some(src) = std::error::Error::source(e) {
            text = format!("{text}: {src}");
        }
        text
    })
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Three rounds, so allocator warm-up (the first round) can be told from a leak (every round).
async fn malformed_startups(s: &Server) {
    let mut rss = vec![s.rss_mib()];
    for _ in 0..3 {
        malformed_round(s).await;
        rss.push(s.rss_mib());
    }
    let alive = s.connect("bench").await.is_ok();
    let rss: Vec<String> = rss.iter().map(|r| format!("{r:.1}")).collect();
    println!("malformed startups   3 rounds of 4096 sent and closed; server alive: {alive}; RSS by round {} MiB", rss.join(" -> "));
}

async fn malformed_round(s: &Server) {
    let n = 4096;
    let done = Arc::new(AtomicU64::new(0));
    futures::stream::iter(0..n)
        .for_each_concurrent(64, |i| {
            let done = done.clone();
            let port = s.port;
            async move {
                let Ok(mut sock) = TcpStream::connect(("127.0.0.1", port)).await else {
                    return;
                };
                let mut r = rand::rng();
                let junk: Vec<u8> = match i % 4 {
                    // A length word out of range.
                    0 => (r.random::<i32>() | 0x4000_0000).to_be_bytes().to_vec(),
                    // A plausible length with a random body.
                    1 => {
                        let body: Vec<u8> =
                            (0..r.random_range(4..200)).map(|_| r.random()).collect();
                        let mut v = ((body.len() + 4) as i32).to_be_bytes().to_vec();
                        v.extend(body);
                        v
                    }
                    // A startup packet with a wrong protocol or broken parameters.
                    2 => {
                        let mut body = vec![0, r.random_range(0..5), 0, 0];
                        body.extend_from_slice(b"user\0");
                        body.extend((0..r.random_range(0..50)).map(|_| r.random::<u8>()));
                        let mut v = ((body.len() + 4) as i32).to_be_bytes().to_vec();
                        v.extend(body);
                        v
                    }
                    // SSLRequest (refused: no TLS configured) then garbage.
                    _ => {
                        let mut v = vec![0, 0, 0, 8, 4, 210, 22, 47];
                        v.extend((0..r.random_range(1..64)).map(|_| r.random::<u8>()));
                        v
                    }
                };
                let _ = sock.write_all(&junk).await;
                let mut buf = [0u8; 256];
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
                })
                .await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
    assert_eq!(
        done.load(Ordering::Relaxed),
        n,
        "every malformed connection was closed by the server"
    );
}

async fn idle_connections(s: &Server) {
    let before = s.rss_mib();
    let mut clients = Vec::new();
    let mut failed = 0;
    for _ in 0..1000 {
        match s.connect("user").await {
            Ok(c) => clients.push(c),
            Err(_) => failed += 1,
        }
    }
    let after = s.rss_mib();
    println!(
        "idle connections     {} open ({failed} failed); RSS {before:.1} -> {after:.1} MiB = {:.1} KiB per connection",
        clients.len(),
        (after - before) * 1024.0 / clients.len().max(1) as f64
    );
    drop(clients);
    s.wait_sessions(0.0).await;
}

async fn connection_limit_cycles(dir: &Path, domains: &Path) {
    let s = Server::start(
        dir,
        domains,
        "limit",
        "max_connections = 100\nreserved_admin_connections = 0",
    )
    .await;
    let mut summary: BTreeMap<(usize, usize, usize), usize> = BTreeMap::new();
    let mut others: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..20 {
        let results = futures::future::join_all((0..150).map(|_| s.connect("user"))).await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(e) if code(e) == "53300"))
            .count();
        for r in &results {
            if let Err(e) = r {
                if code(e) != "53300" {
                    *others.entry(e.to_string()).or_default() += 1;
                }
            }
        }
        *summary
            .entry((ok, refused, 150 - ok - refused))
            .or_default() += 1;
        drop(results);
        s.wait_sessions(0.0).await;
    }
    for ((ok, refused, other), cycles) in summary {
        println!("max_connections=100  {cycles} cycles of 150 logins: {ok} in, {refused} x 53300, {other} other");
    }
    if !others.is_empty() {
        println!("                     other outcomes: {others:?}");
    }
    println!(
        "                     sessions after the last cycle: {}",
        s.metric("meshgate_sessions").await
    );
}

async fn slowloris(dir: &Path, domains: &Path) {
    let s = Server::start(
        dir,
        domains,
        "slowloris",
        "max_connections = 2000\nhandshake_timeout_ms = 3000",
    )
    .await;
    let opened = Instant::now();
    let mut socks = Vec::new();
    for _ in 0..1000 {
        let mut sock = TcpStream::connect(("127.0.0.1", s.port))
            .await
            .expect("connect");
        sock.write_all(&[0, 0, 0, 60, 0, 3]).await.expect("write");
        socks.push(sock);
    }
    let t = Instant::now();
    let c = s.connect("bench").await.expect("login during slowloris");
    c.simple_query("SELECT 1").await.expect("query");
    let login = t.elapsed();
    let closes = futures::future::join_all(socks.into_iter().map(|mut sock| async move {
        let mut b = [0u8; 16];
        let _ = sock.read(&mut b).await;
        opened.elapsed()
    }))
    .await;
    let (min, max) = (
        closes.iter().min().expect("some"),
        closes.iter().max().expect("some"),
    );
    println!(
        "slowloris            1000 stalled handshakes closed {:.2}-{:.2} s after opening (timeout 3 s); a login meanwhile took {:.1} ms",
        min.as_secs_f64(),
        max.as_secs_f64(),
        login.as_secs_f64() * 1000.0
    );
}

async fn slow_reader(s: &Server) {
    let c = s.connect("bench").await.expect("connect");
    let before = s.rss_mib();
    let (stop, peak) = s.sample_peak();
    let t = Instant::now();
    let rows = c
        .query_raw(
            "SELECT g.value, g.value * 2 AS twice FROM generate_series(1, 10000000) AS g(value)",
            std::iter::empty::<i64>(),
        )
        .await
        .expect("query");
    futures::pin_mut!(rows);
    let mut n = 0u64;
    while let Some(r) = rows.next().await {
        r.expect("row");
        n += 1;
        if n.is_multiple_of(20_000) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let peak = peak.await.expect("sampler");
    println!(
        "slow reader          {n} rows over {:.1} s; server RSS {before:.1} MiB, peak {peak:.1} MiB (+{:.1})",
        t.elapsed().as_secs_f64(),
        peak - before
    );
}

async fn random_cancels(s: &Server) {
    let c = s.connect("bench").await.expect("connect");
    let pid: i32 = c
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    let limited_before = s.metric("meshgate_cancel_requests_limited_total").await;
    let query = tokio::spawn(async move {
        let t = Instant::now();
        let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
        // Keep a query running for the whole flood.
        while t.elapsed() < Duration::from_secs(20) {
            let r = c
                .simple_query("SELECT sum(g.value) FROM generate_series(1, 20000000) AS g(value)")
                .await;
            *outcomes
                .entry(r.map(|_| "ok".to_string()).unwrap_or_else(|e| code(&e)))
                .or_default() += 1;
            if FLOOD_DONE.load(Ordering::Relaxed) {
                break;
            }
        }
        outcomes
    });
    let t = Instant::now();
    let failed_connects = Arc::new(AtomicU64::new(0));
    futures::stream::iter(0..100_000u32)
        .for_each_concurrent(64, |i| {
            let failed = failed_connects.clone();
            let port = s.port;
            async move {
                let Ok(mut sock) = TcpStream::connect(("127.0.0.1", port)).await else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let target = if i % 2 == 0 {
                    pid
                } else {
                    rand::rng().random()
                };
                let mut pkt = vec![0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e];
                pkt.extend_from_slice(&target.to_be_bytes());
                pkt.extend_from_slice(&rand::rng().next_u32().to_be_bytes());
                let _ = sock.write_all(&pkt).await;
                let mut b = [0u8; 1];
                let _ = sock.read(&mut b).await;
            }
        })
        .await;
    FLOOD_DONE.store(true, Ordering::Relaxed);
    let flood = t.elapsed();
    let outcomes = query.await.expect("query task");
    println!(
        "random cancels       100000 CancelRequests in {:.1} s ({} connects failed); limiter dropped {}; concurrent queries: {outcomes:?}",
        flood.as_secs_f64(),
        failed_connects.load(Ordering::Relaxed),
        s.metric("meshgate_cancel_requests_limited_total").await - limited_before
    );
}

static FLOOD_DONE: AtomicBool = AtomicBool::new(false);

/// A cancelled or timed-out CPU-bound statement must stop using CPU.
async fn cancel_returns_cpu(s: &Server) {
    let c = s.connect("bench").await.expect("connect");
    let endless = "SELECT sum(r.r_regionkey + g.value % 7) FROM geo.region r CROSS JOIN generate_series(1, 1000000000000) AS g(value)";
    c.batch_execute("SET statement_timeout = '2s'")
        .await
        .expect("set");
    let pid = s.pid();
    let busy_from = cpu_seconds(pid);
    let t = Instant::now();
    let r = c.simple_query(endless).await;
    let busy = (cpu_seconds(pid) - busy_from) / t.elapsed().as_secs_f64();
    let outcome = r
        .map(|_| "finished?".to_string())
        .unwrap_or_else(|e| code(&e));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_from = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = (cpu_seconds(pid) - idle_from) / 2.0;
    println!("timeout returns CPU   endless query under statement_timeout=2s: {outcome}; server CPU {busy:.2} cores while running, {idle:.2} cores in the 2 s after");
}

async fn heavy_aggregations(dir: &Path, domains: &Path) {
    let s = Server::start(
        dir,
        domains,
        "memory",
        "memory_pool_mb = 256\nquery_memory_mb = 128",
    )
    .await;
    let before = s.rss_mib();
    let (stop, peak) = s.sample_peak();
    let t = Instant::now();
    let results = futures::future::join_all((0..8).map(|i| {
        let s = &s;
        async move {
            let c = s.connect("bench").await.expect("connect");
            let sql = format!(
                "SELECT k, count(*) AS n, sum(v) AS total FROM (SELECT (g.value * {}) % 4000000 AS k, g.value AS v FROM generate_series(1, 16000000) AS g(value)) GROUP BY k ORDER BY n DESC, k LIMIT 3",
                i + 1
            );
            c.simple_query(&sql).await.map(|_| ()).map_err(|e| code(&e))
        }
    }))
    .await;
    stop.store(true, Ordering::Relaxed);
    let peak = peak.await.expect("sampler");
    let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
    for r in results {
        *outcomes
            .entry(r.err().unwrap_or_else(|| "ok".into()))
            .or_default() += 1;
    }
    println!(
        "heavy aggregations   8 concurrent 4M-group aggregations, 256 MiB pool / 128 MiB per query: {outcomes:?} in {:.1} s; RSS {before:.1} -> peak {peak:.1} MiB",
        t.elapsed().as_secs_f64()
    );
}

/// What auditing costs: the same statements against a server with auditing off and one writing
/// every event to a file and a domain file, interleaved in rounds so that noise from other work
/// on the machine falls on both alike. Two workloads: a statement answered without the engine
/// (SHOW), where the audit's own per-statement work shows most, and a small Parquet query.
async fn audit_cost(dir: &Path, domains: &Path) {
    const STATEMENTS: usize = 2000;
    const ROUNDS: usize = 8;
    let audit_dir = dir.join("audit");
    let _ = std::fs::remove_dir_all(&audit_dir);
    std::fs::create_dir_all(&audit_dir).expect("mkdir");
    let off = Server::start(dir, domains, "audit-off", "").await;
    let audit = format!(
        "\n[audit]\nsink = \"file\"\npath = \"{}\"\n[audit.domains]\ngeo = \"{}\"\n",
        audit_dir.join("all.jsonl").display(),
        audit_dir.join("geo.jsonl").display()
    );
    let on = Server::start(dir, domains, "audit-on", &audit).await;
    let servers = [&off, &on];
    let query = |i: usize| {
        format!(
            "SELECT n_name FROM geo.nation WHERE n_nationkey = {}",
            i % 25
        )
    };
    let show = |_: usize| "SHOW search_path".to_string();
    let workloads: [(&str, &dyn Fn(usize) -> String); 2] = [
        ("SHOW search_path", &show),
        ("SELECT … FROM geo.nation WHERE n_nationkey = k", &query),
    ];
    let mut clients = Vec::new();
    for s in servers {
        let c = s.connect("bench").await.expect("connect");
        for i in 0..50 {
            c.simple_query(&query(i)).await.expect("warm-up");
        }
        clients.push(c);
    }
    for (name, sql) in workloads {
        let mut wall = [Duration::ZERO; 2];
        let mut cpu = [0.0f64; 2];
        for round in 0..ROUNDS {
            for k in 0..2 {
                // Alternate which server goes first in each round.
                let k = if round % 2 == 0 { k } else { 1 - k };
                let (s, c) = (servers[k], &clients[k]);
                let cpu0 = cpu_seconds(s.pid());
                let t = Instant::now();
                for i in 0..STATEMENTS / ROUNDS {
                    c.simple_query(&sql(i)).await.expect("statement");
                }
                wall[k] += t.elapsed();
                cpu[k] += cpu_seconds(s.pid()) - cpu0;
            }
        }
        let us = |secs: f64| secs * 1e6 / STATEMENTS as f64;
        println!(
            "audit cost           {STATEMENTS} × {name} (one client): off {:.0} µs wall / {:.0} µs server CPU per statement, \
             on {:.0} / {:.0} µs ({:+.0} µs CPU per statement)",
            us(wall[0].as_secs_f64()),
            us(cpu[0]),
            us(wall[1].as_secs_f64()),
            us(cpu[1]),
            us(cpu[1] - cpu[0]),
        );
    }
    let events = on.metric("meshgate_audit_events_total").await;
    let size = std::fs::metadata(audit_dir.join("all.jsonl"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "audit cost           events written {events}, dropped {}, write errors {}; {:.0} bytes per event",
        on.metric("meshgate_audit_events_dropped_total").await,
        on.metric("meshgate_audit_write_errors_total").await,
        size as f64 / events.max(1.0),
    );
}

/// 16 clients running short queries in a loop until `stop`; returns (queries, errors by code).
fn load(
    s: &Server,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(u64, BTreeMap<String, u32>)>> {
    (0..16)
        .map(|i| {
            let cs = s.conn_string("user");
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut errors: BTreeMap<String, u32> = BTreeMap::new();
                let Ok((c, conn)) = tokio_postgres::connect(&cs, tokio_postgres::NoTls).await else {
                    *errors.entry("connect".into()).or_default() += 1;
                    return (0, errors);
                };
                let conn = tokio::spawn(conn);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let sql = format!("SELECT count(*) FROM sales.orders o JOIN geo.nation n ON o.o_custkey % 25 = n.n_nationkey WHERE n.n_regionkey = {}", i % 5);
                    match c.simple_query(&sql).await {
                        Ok(_) => n += 1,
                        Err(e) if e.is_closed() => {
                            // The server's final word went to the connection task (it came
                            // while no query was pending): report that instead.
                            let last = match conn.await {
                                Ok(Err(e)) => code(&e),
                                _ => "closed without an error".into(),
                            };
                            *errors.entry(last).or_default() += 1;
                            return (n, errors);
                        }
                        Err(e) => {
                            *errors.entry(code(&e)).or_default() += 1;
                            if code(&e) == "57P01" {
                                break;
                            }
                        }
                    }
                }
                (n, errors)
            })
        })
        .collect()
}

/// Sums the load clients' query counts and errors.
async fn totals(
    clients: Vec<tokio::task::JoinHandle<(u64, BTreeMap<String, u32>)>>,
) -> (u64, BTreeMap<String, u32>) {
    let (mut queries, mut errors) = (0, BTreeMap::<String, u32>::new());
    for c in clients {
        let (n, e) = c.await.expect("client");
        queries += n;
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
    }
    (queries, errors)
}

async fn reloads_under_load(s: &Server) {
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(s, stop.clone());
    let before = s.metric("meshgate_reloads_total").await;
    for _ in 0..20 {
        s.signal("-HUP");
        let t = Instant::now();
        let target = s.metric("meshgate_reloads_total").await.max(before);
        while s.metric("meshgate_reloads_total").await < target + 1.0
            && t.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (queries, errors) = totals(clients).await;
    println!(
        "reloads under load   {} SIGHUP reloads applied while 16 clients ran {queries} queries; client errors: {errors:?}",
        s.metric("meshgate_reloads_total").await - before
    );
}

async fn sigterm_under_load(dir: &Path, domains: &Path) {
    let mut s = Server::start(dir, domains, "sigterm", "drain_timeout_ms = 10000").await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&s, stop.clone());
    // Let every client get going.
    let t = Instant::now();
    while s.metric("meshgate_statements_total").await < 64.0
        && t.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t = Instant::now();
    s.signal("-TERM");
    let status = s.child.wait().await.expect("wait");
    let exit = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (queries, errors) = totals(clients).await;
    println!(
        "SIGTERM under load   exit code {:?} after {:.2} s; 16 clients completed {queries} queries; how sessions ended: {errors:?}",
        status.code(),
        exit.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let only = arg("--only");
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let dir = std::path::absolute(PathBuf::from(
        arg("--dir").unwrap_or_else(|| "target/bench-robustness".into()),
    ))
    .expect("abs");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let layout = meshgate_demo::generate(&meshgate_demo::DemoOptions {
        dir: dir.join("mesh"),
        scale_factor: 0.01,
    })
    .await
    .expect("generate");
    let domains = layout.conf_dir.join("domains");
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "meshgate robustness figures ({profile} build, SF 0.01 mesh, server in its own process)"
    );

    let main = Server::start(
        &dir,
        &domains,
        "main",
        "max_connections = 2000\nhandshake_timeout_ms = 3000\ncancel_requests_per_sec = 20\nmemory_pool_mb = 512\nquery_memory_mb = 256",
    )
    .await;
    println!(
        "baseline             server RSS after start and one login: {:.1} MiB",
        main.rss_mib()
    );
    if run("malformed") {
        malformed_startups(&main).await;
    }
    if run("idle") {
        idle_connections(&main).await;
    }
    if run("limit") {
        connection_limit_cycles(&dir, &domains).await;
    }
    if run("slowloris") {
        slowloris(&dir, &domains).await;
    }
    if run("slow-reader") {
        slow_reader(&main).await;
    }
    if run("cancels") {
        random_cancels(&main).await;
    }
    if run("cpu") {
        cancel_returns_cpu(&main).await;
    }
    if run("memory") {
        heavy_aggregations(&dir, &domains).await;
    }
    if run("reload") {
        reloads_under_load(&main).await;
    }
    if run("sigterm") {
        sigterm_under_load(&dir, &domains).await;
    }
    if run("audit") {
        audit_cost(&dir, &domains).await;
    }
}
