//! TPC-H through a gateway that runs every statement on a Ballista cluster on this machine
//! (`meshgate scheduler` and two `meshgate executor` processes on 127.0.0.1) against the same
//! statements run in a gateway, over the demo's mixed mesh (Delta sales, Iceberg supply, Parquet
//! geo). Both gateways are the `meshgate` binary as a child process with the default
//! configuration; the cluster one adds `[cluster] mode = "always"`.
//!
//!     cargo bench --bench cluster -- [--sf 1] [--dir DIR] [--runs 3] [--tasks 1]
//!
//! On 2 cores a cluster cannot be faster: this measures what handing a plan to the cluster
//! costs (stage scheduling, shuffle files, results fetched after the job) as a ratio to running
//! it in the gateway. Queries are interleaved (each runs `runs` times locally, then on the
//! cluster, before the next query); run 1 is *cold* (fresh processes), the best of the others
//! *warm*. Row counts must agree between the two. Not a test: it asserts nothing about time.
//! With `MESHGATE_BENCH_LOGS=DIR` every child's stderr (warnings and errors) is kept in DIR.

mod process;
mod tpch_layout;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use process::{free_port, Server};
use tpch_layout::arg;

/// A `meshgate` subcommand as a child process, stopped when dropped; `name` names its log.
fn meshgate(name: &str, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(args)
        .env("MESHGATE_LOG", process::log_level())
        .stdout(Stdio::null())
        .stderr(process::log_to(name))
        .kill_on_drop(true)
        .spawn()
        .expect("start meshgate")
}

/// Waits until `port` accepts connections.
async fn accepting(port: u16, what: &str) {
    let t = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{what} did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn through(c: &tokio_postgres::Client, sql: &str) -> (Duration, usize) {
    let t = Instant::now();
    let rows = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
        .count();
    (t.elapsed(), rows)
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

fn warm(times: &[Duration]) -> f64 {
    times[1..]
        .iter()
        .map(Duration::as_secs_f64)
        .fold(f64::MAX, f64::min)
}

#[tokio::main]
async fn main() {
    let sf: f64 = arg("--sf").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let runs: usize = arg("--runs")
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(2);
    let tasks = arg("--tasks").unwrap_or_else(|| "1".into());
    let (dir, layout) = tpch_layout::generated(sf).await;
    let domains = layout.domains_dir.clone();

    let scheduler_port = free_port();
    let scheduler = format!("127.0.0.1:{scheduler_port}");
    let _scheduler = meshgate("scheduler", &["scheduler", "--listen", &scheduler]);
    accepting(scheduler_port, "the scheduler").await;
    let local = Server::start(&dir, &domains, "local", "").await;
    let cluster = Server::start_with(
        &dir,
        &domains,
        "cluster",
        &format!("[cluster]\nscheduler = \"{scheduler}\"\nmode = \"always\"\n"),
    )
    .await;
    let config: PathBuf = dir.join("cluster.toml");
    let mut executors = Vec::new();
    let work_dirs: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("executor{i}"))).collect();
    for (i, work) in work_dirs.iter().enumerate() {
        std::fs::create_dir_all(work).expect("executor work dir");
        let (port, grpc) = (free_port(), free_port());
        executors.push(meshgate(
            &format!("executor{i}"),
            &[
                "executor",
                "--config",
                &config.display().to_string(),
                "--scheduler",
                &scheduler,
                "--port",
                &port.to_string(),
                "--grpc-port",
                &grpc.to_string(),
                "--concurrent-tasks",
                &tasks,
                "--work-dir",
                &work.display().to_string(),
            ],
        ));
        accepting(port, "an executor").await;
    }
    let l = local.connect("bench").await.expect("connect");
    let c = cluster.connect("bench").await.expect("connect");

    println!(
        "TPC-H SF {sf} over the mixed mesh, seconds per query: cold (run 1) and warm (best of runs 2..{runs}); cluster = scheduler + 2 executors × {tasks} task(s) on 127.0.0.1"
    );
    println!(
        "{:<6}{:>11}{:>11}{:>11}{:>11}{:>9}{:>12}",
        "query", "local cold", "clus. cold", "local warm", "clus. warm", "× local", "shuffle MB"
    );
    let (mut totals, mut mismatches) = ([0.0f64; 4], Vec::new());
    let mut shuffled_total = 0u64;
    for n in 1..=22 {
        let sql = std::fs::read_to_string(query(n)).expect("query");
        let (mut lt, mut ct) = (Vec::new(), Vec::new());
        let (mut lrows, mut crows) = (0, 0);
        let before: u64 = work_dirs.iter().map(|d| dir_bytes(d)).sum();
        for _ in 0..runs {
            let (t, r) = through(&l, &sql).await;
            lt.push(t);
            lrows = r;
            let (t, r) = through(&c, &sql).await;
            ct.push(t);
            crows = r;
        }
        // Shuffle files stay in the executors' work directories until the scheduler has them
        // removed, minutes after the job: what they grew by is what the runs wrote.
        let shuffled = (work_dirs.iter().map(|d| dir_bytes(d)).sum::<u64>()).saturating_sub(before)
            / runs as u64;
        shuffled_total += shuffled;
        if lrows != crows {
            mismatches.push(format!(
                "q{n}: {lrows} rows locally, {crows} on the cluster"
            ));
        }
        let row = [
            lt[0].as_secs_f64(),
            ct[0].as_secs_f64(),
            warm(&lt),
            warm(&ct),
        ];
        for (t, v) in totals.iter_mut().zip(row) {
            *t += v;
        }
        println!(
            "q{n:<5}{:>11.3}{:>11.3}{:>11.3}{:>11.3}{:>9.2}{:>12.1}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[3] / row[2],
            shuffled as f64 / 1e6
        );
    }
    println!(
        "{:<6}{:>11.3}{:>11.3}{:>11.3}{:>11.3}{:>9.2}",
        "total",
        totals[0],
        totals[1],
        totals[2],
        totals[3],
        totals[3] / totals[2]
    );
    println!("cold total: cluster {:.2}× local", totals[1] / totals[0]);
    println!(
        "shuffle files written per run of the 22 queries: {:.1} MB; the mesh's files: {:.1} MB",
        shuffled_total as f64 / 1e6,
        dir_bytes(&layout.data_dir) as f64 / 1e6
    );
    if mismatches.is_empty() {
        println!("row counts agree on all 22 queries");
    } else {
        println!("ROW COUNTS DIFFER: {}", mismatches.join("; "));
    }
    drop(executors);
}

fn query(n: usize) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/tpch/queries/q{n}.sql"))
}
