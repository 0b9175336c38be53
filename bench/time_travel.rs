//! A query at a pinned version against the same query at the newest one.
//!
//!     cargo bench --bench time_travel -- [--versions 100] [--rows 100000] [--runs 20]
//!
//! Writes a Delta table through meshgate (a writable product): `--rows` rows, then `--versions`
//! more commits of one row each. Then times, through tokio-postgres, the median of `runs`
//! executions of one aggregate at the newest version, `FOR VERSION AS OF` the middle version,
//! under `SET mesh.as_of`, and in REPEATABLE READ transactions; and the first open of each of
//! ten versions never opened before (what the version cache saves every later time). Prints
//! the ratios to the newest. Not a test: it asserts nothing about time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// Each benchmark uses only part of what they share.
#[allow(dead_code)]
#[path = "common.rs"]
mod common;
use common::{connect, serve};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(root: &Path) -> PathBuf {
    let domains = root.join("domains");
    std::fs::create_dir_all(&domains).expect("domains dir");
    let data = root.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::write(
        domains.join("ws.toml"),
        format!(
            "name = \"ws\"\n[storage]\nroot = \"{}\"\n[[products]]\nname = \"ws\"\nwritable = true\n",
            data.display()
        ),
    )
    .expect("write domain");
    let v = meshgate::auth::ScramVerifier::generate("bench", 4096);
    let conf = root.join("meshgate.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\
             [[users]]\nname = \"admin\"\npassword = \"{v}\"\nadmin = true\n[domains]\ndir = \"{}\"\n",
            domains.display()
        ),
    )
    .expect("write config");
    conf
}

async fn timed(c: &tokio_postgres::Client, sql: &str) -> Duration {
    let t = Instant::now();
    c.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    t.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn median_of(runs: usize, c: &tokio_postgres::Client, sqls: &[&str]) -> Duration {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        for sql in sqls {
            timed(c, sql).await;
        }
        times.push(t.elapsed());
    }
    median(times)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let versions = arg("--versions", 100);
    let rows = arg("--rows", 100_000);
    let runs = arg("--runs", 20);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = serve(&config(dir.path())).await.port;
    let c = connect(port, "admin").await;

    let t = Instant::now();
    timed(
        &c,
        &format!("CREATE TABLE ws.t AS SELECT g AS x, g % 7 AS k FROM generate_series(1, {rows}) AS s(g)"),
    )
    .await;
    for i in 0..versions {
        timed(
            &c,
            &format!("INSERT INTO ws.t VALUES ({}, 0)", rows + i + 1),
        )
        .await;
    }
    println!(
        "wrote {rows} rows and {versions} more commits in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let middle = versions / 2;
    let q = "SELECT k, count(*), sum(x) FROM ws.t GROUP BY k ORDER BY k";
    let at = q.replace("ws.t", &format!("ws.t FOR VERSION AS OF {middle}"));
    let instant = c
        .query_one(
            &format!("SELECT committed_at::text FROM mesh.history WHERE table_name = 't' AND version = {middle}"),
            &[],
        )
        .await
        .expect("history")
        .get::<_, String>(0);

    // Both warm: the newest version opened, the pinned one in the version cache.
    timed(&c, q).await;
    timed(&c, &at).await;
    let newest = median_of(runs, &c, &[q]).await;
    let pinned = median_of(runs, &c, &[&at]).await;
    let session = connect(port, "admin").await;
    timed(&session, &format!("SET mesh.as_of = '{instant}'")).await;
    timed(&session, q).await;
    let as_of = median_of(runs, &session, &[q]).await;
    // Every transaction pins a new instant, so each opens its own version of the table.
    let tx = connect(port, "admin").await;
    let in_tx = median_of(
        runs,
        &tx,
        &["BEGIN ISOLATION LEVEL REPEATABLE READ", q, "COMMIT"],
    )
    .await;
    let plain_tx = median_of(runs, &c, &["BEGIN", q, "COMMIT"]).await;
    // First opens: versions no statement read before.
    let mut cold = Vec::new();
    for v in (0..versions).step_by((versions / 10).max(1)).take(10) {
        if v == middle {
            continue;
        }
        let sql = q.replace("ws.t", &format!("ws.t FOR VERSION AS OF {v}"));
        cold.push(timed(&c, &sql).await);
    }
    let cold = median(cold);

    println!("query: {q}  ({versions} versions after the first; median of {runs})");
    println!("  newest version                 {:8.2} ms", ms(newest));
    println!(
        "  FOR VERSION AS OF {middle:<4} (cached) {:8.2} ms  ratio {:.2}",
        ms(pinned),
        pinned.as_secs_f64() / newest.as_secs_f64()
    );
    println!(
        "  SET mesh.as_of (cached)        {:8.2} ms  ratio {:.2}",
        ms(as_of),
        as_of.as_secs_f64() / newest.as_secs_f64()
    );
    println!(
        "  first open of a version        {:8.2} ms  ratio {:.2}",
        ms(cold),
        cold.as_secs_f64() / newest.as_secs_f64()
    );
    println!(
        "  REPEATABLE READ block          {:8.2} ms  ratio {:.2} to a READ COMMITTED block ({:.2} ms)",
        ms(in_tx),
        in_tx.as_secs_f64() / plain_tx.as_secs_f64(),
        ms(plain_tx)
    );
}
