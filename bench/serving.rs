//! Serving rows and small queries, measured against PostgreSQL 15 on the same rows, and many
//! clients at once: the parts of issue 14 that TPC-H's totals do not show.
//!
//!     cargo bench --bench serving -- [--sf 1] [--dir DIR] [--runs 3] [--clients 8] [--load-secs 60]
//!                                      [--only streaming|small|load]
//!
//! Needs Debian's postgresql-15 and python3-psycopg2. In one run:
//! - **streaming**: the SF's lineitem through psql (`SELECT *` in text, `COPY … TO STDOUT` in
//!   text and binary, output discarded) from meshgate over the baseline Parquet copy and from a
//!   throwaway PostgreSQL holding the same rows in a heap table, both over loopback TCP with
//!   SCRAM; and through tokio-postgres, every row read, in text (simple protocol) and binary
//!   (extended protocol). Best of `runs`, interleaved.
//! - **small queries** through psycopg2 (bench/latency.py): connect + SCRAM + `SELECT 1`, a
//!   statement that reads no table on an open connection (the floor under every statement), and
//!   a point lookup by key on a product of one table (customer), p50 and p95; PostgreSQL's
//!   figures (with a primary key on the column) beside them.
//! - **concurrency**: `clients` sessions running TPC-H queries in a shuffled order over the mixed
//!   mesh (Delta, Iceberg, Parquet) for `load-secs`, with the default configuration: queries
//!   answered, failures by query and SQLSTATE, the server's peak resident memory.
//!
//! Not a test: it asserts nothing about time.

#[path = "../tests/it/pg_server.rs"]
mod pg_server;
#[path = "../tests/it/ports.rs"]
mod ports;
mod process;
mod tpch_layout;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use process::Server;
use tpch_layout::{arg, baseline_domains};

/// The domains of the baseline copies, plus `lookup`: one product holding one table.
fn serving_domains(baseline: &Path, dir: &Path) -> PathBuf {
    let domains = baseline_domains(baseline, dir);
    std::fs::write(
        domains.join("lookup.toml"),
        format!(
            "name = \"lookup\"\n[storage]\nroot = \"{}\"\n[[products]]\nname = \"lookup\"\n\
             [[products.tables]]\nname = \"customer\"\nformat = \"parquet\"\nlocation = \"customer\"\n",
            baseline.display()
        ),
    )
    .expect("write lookup domain");
    domains
}

/// One way of fetching all of lineitem.
#[derive(Clone, Copy, PartialEq)]
enum Fetch {
    PsqlSelect,
    PsqlCopyText,
    PsqlCopyBinary,
    TextRows,
    BinaryRows,
}

const FETCHES: [(Fetch, &str); 5] = [
    (Fetch::PsqlSelect, "psql SELECT * (text)"),
    (Fetch::PsqlCopyText, "psql COPY TO STDOUT (text)"),
    (Fetch::PsqlCopyBinary, "psql COPY TO STDOUT (binary)"),
    (Fetch::TextRows, "tokio-postgres rows, text"),
    (Fetch::BinaryRows, "tokio-postgres rows, binary"),
];

/// The rows fetched and the time it took.
async fn fetch(how: Fetch, dsn: &str) -> (Duration, u64) {
    const SELECT: &str = "SELECT * FROM sales.lineitem";
    let copy = |format: &str| format!("COPY ({SELECT}) TO STDOUT{format}");
    let psql = |sql: String| async move {
        use tokio::io::AsyncReadExt;
        let t = Instant::now();
        let mut child = tokio::process::Command::new("psql")
            .args([
                dsn,
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &sql,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run psql");
        // Read as it comes, counting lines: what a client does with the rows is not measured.
        let mut out = child.stdout.take().expect("psql stdout");
        let mut buf = vec![0u8; 1 << 20];
        let mut lines = 0u64;
        loop {
            let n = out.read(&mut buf).await.expect("read psql output");
            if n == 0 {
                break;
            }
            lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        }
        assert!(
            child.wait().await.expect("psql").success(),
            "psql {sql} failed"
        );
        (t.elapsed(), lines)
    };
    match how {
        Fetch::PsqlSelect => psql(SELECT.into()).await,
        Fetch::PsqlCopyText => psql(copy("")).await,
        // Binary COPY has no line per row: the count is of bytes' newlines, not compared.
        Fetch::PsqlCopyBinary => psql(copy(" (FORMAT binary)")).await,
        Fetch::TextRows | Fetch::BinaryRows => {
            let (c, conn) = tokio_postgres::connect(dsn, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            let t = Instant::now();
            let mut n = 0u64;
            if matches!(how, Fetch::TextRows) {
                let s = c.simple_query_raw(SELECT).await.expect("query");
                futures::pin_mut!(s);
                while let Some(r) = s.next().await {
                    r.expect("row");
                    n += 1;
                }
            } else {
                let s = c
                    .query_raw(SELECT, std::iter::empty::<i32>())
                    .await
                    .expect("query");
                futures::pin_mut!(s);
                while let Some(r) = s.next().await {
                    r.expect("row");
                    n += 1;
                }
            }
            (t.elapsed(), n)
        }
    }
}

fn latency(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/latency.py"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run bench/latency.py (python3 with psycopg2)");
    assert!(out.status.success(), "latency.py {:?} failed", &args[..1]);
    serde_json::from_slice(&out.stdout).expect("latency JSON")
}

/// Gives PostgreSQL a login like meshgate's (SCRAM, password `bench`), a primary key where the
/// point lookups go, and fresh statistics.
async fn prepare_postgres(pg: &pg_server::PgServer) {
    let c = pg.connect().await;
    c.batch_execute(&format!(
        "CREATE ROLE bench LOGIN PASSWORD '{}';
         GRANT USAGE ON SCHEMA sales TO bench;
         GRANT SELECT ON ALL TABLES IN SCHEMA sales TO bench;
         ALTER TABLE sales.customer ADD PRIMARY KEY (c_custkey);",
        process::PASSWORD
    ))
    .await
    .expect("prepare PostgreSQL");
    // Not in the batch above: a batch is one transaction, and VACUUM runs outside any.
    c.batch_execute("VACUUM ANALYZE")
        .await
        .expect("vacuum PostgreSQL");
}

/// Sessions running the 22 queries in shuffled orders until the time is up. Answers: queries
/// answered, and failures by query and SQLSTATE.
async fn load(s: &Server, clients: usize, secs: u64) -> (u64, BTreeMap<String, u64>) {
    let queries: Arc<Vec<String>> = Arc::new(
        (1..=22)
            .map(|n| {
                std::fs::read_to_string(format!(
                    "{}/tests/tpch/queries/q{n}.sql",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .expect("query")
            })
            .collect(),
    );
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for k in 0..clients {
        let c = s.connect("bench").await.expect("connect");
        let queries = queries.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            let mut failed: BTreeMap<String, u64> = BTreeMap::new();
            // A different walk through the queries per client (a small LCG, seeded by client).
            let mut x = 12_345u64 + k as u64 * 7_919;
            while Instant::now() < until {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let q = (x >> 33) as usize % queries.len();
                match c.simple_query(&queries[q]).await {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        let code = e.code().map_or("?".into(), |c| c.code().to_string());
                        *failed.entry(format!("q{} {code}", q + 1)).or_default() += 1;
                    }
                }
            }
            (ok, failed)
        }));
    }
    let mut ok = 0;
    let mut failed = BTreeMap::new();
    for t in tasks {
        let (o, f) = t.await.expect("client");
        ok += o;
        for (k, v) in f {
            *failed.entry(k).or_default() += v;
        }
    }
    (ok, failed)
}

#[tokio::main]
async fn main() {
    let sf: f64 = arg("--sf").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let runs: usize = arg("--runs").and_then(|s| s.parse().ok()).unwrap_or(3);
    let clients: usize = arg("--clients").and_then(|s| s.parse().ok()).unwrap_or(8);
    let load_secs: u64 = arg("--load-secs")
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    // One part alone (`--only small`: the small queries) when the others are not wanted.
    let only = arg("--only");
    let part = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let (dir, layout) = tpch_layout::generated(sf).await;

    eprintln!("loading PostgreSQL…");
    let pg = pg_server::start(true);
    pg_server::load(&pg.conn_string(), &layout.baseline_dir).await;
    prepare_postgres(&pg).await;
    let pg_dsn = format!(
        "host=127.0.0.1 port={} user=bench password={} dbname={}",
        pg.port,
        process::PASSWORD,
        pg_server::DATABASE
    );
    let gate = Server::start(
        &dir,
        &serving_domains(&layout.baseline_dir, &dir),
        "serving",
        "",
    )
    .await;
    let gate_dsn = gate.conn_string("bench");

    if part("streaming") {
        println!("Streaming SF {sf} lineitem, best of {runs} (seconds; rows seen)");
        println!(
            "{:<32}{:>12}{:>12}{:>10}",
            "", "PostgreSQL", "meshgate", "ratio"
        );
    }
    // Each fetch's best times (PostgreSQL, meshgate), for the binary-over-text ratios below.
    let mut best = Vec::new();
    for (how, name) in FETCHES.into_iter().filter(|_| part("streaming")) {
        let (mut best_pg, mut best_gate) = (Duration::MAX, Duration::MAX);
        let (mut rows_pg, mut rows_gate) = (0, 0);
        for _ in 0..runs {
            let (t, n) = fetch(how, &pg_dsn).await;
            (best_pg, rows_pg) = (best_pg.min(t), n);
            let (t, n) = fetch(how, &gate_dsn).await;
            (best_gate, rows_gate) = (best_gate.min(t), n);
        }
        let rows = if matches!(how, Fetch::PsqlCopyBinary) {
            String::new()
        } else {
            format!("  rows {rows_pg} / {rows_gate}")
        };
        println!(
            "{name:<32}{:>12.2}{:>12.2}{:>9.2}×{rows}",
            best_pg.as_secs_f64(),
            best_gate.as_secs_f64(),
            best_gate.as_secs_f64() / best_pg.as_secs_f64()
        );
        best.push((how, best_pg.as_secs_f64(), best_gate.as_secs_f64()));
    }
    // How much faster binary results are than text, per server (text time / binary time).
    let time = |f: Fetch| best.iter().find(|b| b.0 == f).map(|b| (b.1, b.2));
    for (text, binary, what) in [
        (Fetch::PsqlCopyText, Fetch::PsqlCopyBinary, "COPY"),
        (Fetch::TextRows, Fetch::BinaryRows, "tokio-postgres rows"),
    ] {
        if let (Some(t), Some(b)) = (time(text), time(binary)) {
            println!(
                "binary vs text, {what:<20} PostgreSQL {:.2}×   meshgate {:.2}×",
                t.0 / b.0,
                t.1 / b.1
            );
        }
    }

    let n = "300";
    let lookup = "SELECT * FROM {}.customer WHERE c_custkey = %s";
    let customers = (150_000.0 * sf).round().max(1.0).to_string();
    let (pg_lookup, gate_lookup) = (
        lookup.replace("{}", "sales"),
        lookup.replace("{}", "lookup"),
    );
    if part("small") {
        println!("\nSmall queries through psycopg2 (ms, p50 / p95 of {n})");
    }
    let small = [
        (
            "connect + SCRAM + SELECT 1",
            vec!["connect", &pg_dsn, n],
            vec!["connect", &gate_dsn, n],
        ),
        (
            "SELECT %s, open connection",
            vec!["lookup", &pg_dsn, n, "SELECT %s", &customers],
            vec!["lookup", &gate_dsn, n, "SELECT %s", &customers],
        ),
        (
            "point lookup, one-table product",
            vec!["lookup", &pg_dsn, n, &pg_lookup, &customers],
            vec!["lookup", &gate_dsn, n, &gate_lookup, &customers],
        ),
    ];
    for (what, pg_args, gate_args) in small.into_iter().filter(|_| part("small")) {
        let p = latency(&pg_args);
        let g = latency(&gate_args);
        println!(
            "{what:<34} PostgreSQL {:>6.2} / {:>6.2}   meshgate {:>6.2} / {:>6.2}",
            p["p50_ms"].as_f64().unwrap_or(f64::NAN),
            p["p95_ms"].as_f64().unwrap_or(f64::NAN),
            g["p50_ms"].as_f64().unwrap_or(f64::NAN),
            g["p95_ms"].as_f64().unwrap_or(f64::NAN),
        );
    }
    let peak_serving = process::proc_status(gate.pid(), "VmHWM:");
    drop(gate);
    if !part("load") {
        return;
    }

    let mixed = Server::start(&dir, &layout.domains_dir, "mixed", "").await;
    let (stop, peak) = mixed.sample_peak();
    let t = Instant::now();
    let (ok, failed) = load(&mixed, clients, load_secs).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = peak.await.expect("sampler");
    println!(
        "\n{clients} clients, TPC-H queries in shuffled orders over the mixed mesh, default configuration, {:.0} s:",
        t.elapsed().as_secs_f64()
    );
    println!(
        "  answered {ok}, failed {}; peak RSS {peak:.0} MiB (serving run: {peak_serving:.0} MiB)",
        failed.values().sum::<u64>()
    );
    for (k, v) in &failed {
        println!("  failed: {k} × {v}");
    }
}
