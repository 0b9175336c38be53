//! TPC-H in one run, query by query: DuckDB and DataFusion in-process over the baseline Parquet
//! files, and the `meshgate` binary (a child process with the default configuration) over the
//! same Parquet files, over Delta and Iceberg copies of the same rows, and over the demo's
//! mixed mesh (Delta sales, Iceberg supply, Parquet geo).
//!
//!     python3 -m venv /opt/meshgate-bench && /opt/meshgate-bench/bin/pip install -r bench/requirements.txt
//!     cargo bench --bench tpch -- [--sf 1] [--dir DIR] [--runs 3] [--python /opt/meshgate-bench/bin/python]
//!         [--formats parquet,delta,iceberg,mixed] [--variant NAME:SETTING=VALUE,…]
//!
//! `--variant` adds one more server over the Parquet copy whose meshgate.toml sets those
//! `[engine]` settings (e.g. `pushdown:datafusion.execution.parquet.pushdown_filters=true`): an
//! A/B of a setting against the default in the same run, query by query.
//!
//! Every engine runs a query `runs` times before the next query starts (interleaved per query,
//! so drift in the machine's speed hits all alike). The first run of each query is its *cold*
//! time (the servers are fresh: the first query to touch a table opens it); the best of the
//! others is its *warm* time. Results go through tokio-postgres over TCP in text, every row
//! read; DuckDB's rows are fetched into Python. The row counts must agree with DuckDB's. Prints
//! per-query warm times, totals warm and cold, each column's ratio to DuckDB, and each server's
//! peak resident memory. Not a test: it asserts nothing about time.

mod process;
mod tpch_layout;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use meshgate_demo::TableFormat;
use process::{proc_status, Server};
use tpch_layout::{arg, baseline_domains, tables};

/// DuckDB in a Python process that stays up for the whole run: it reads a query file's path per
/// line and answers `<seconds> <rows>`.
struct DuckDb {
    child: std::process::Child,
    answers: BufReader<std::process::ChildStdout>,
}

impl DuckDb {
    fn start(python: &str, baseline: &Path) -> DuckDb {
        let views: Vec<String> = tables()
            .map(|(s, t)| format!("{s}.{t}={}", baseline.join(t).display()))
            .collect();
        let mut child = Command::new(python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/duckdb_tpch.py"))
            .args(&views)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{python}: {e} (see bench/requirements.txt)"));
        let mut answers = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        answers.read_line(&mut line).expect("duckdb starts");
        assert_eq!(line.trim(), "ready", "duckdb did not start: {line}");
        DuckDb { child, answers }
    }

    fn run(&mut self, query: &Path) -> (Duration, usize) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{}", query.display()).expect("ask duckdb");
        stdin.flush().expect("flush");
        let mut line = String::new();
        self.answers.read_line(&mut line).expect("duckdb answers");
        let (secs, rows) = line
            .trim()
            .split_once(' ')
            .unwrap_or_else(|| panic!("duckdb: {line}"));
        (
            Duration::from_secs_f64(secs.parse().expect("seconds")),
            rows.parse().expect("rows"),
        )
    }
}

/// One column of the table: how a query is run, and what it measured.
struct Engine {
    name: &'static str,
    cold: Vec<f64>,
    warm: Vec<f64>,
}

impl Engine {
    fn new(name: &'static str) -> Engine {
        Engine {
            name,
            cold: vec![],
            warm: vec![],
        }
    }

    fn record(&mut self, times: &[Duration]) {
        let secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
        self.cold.push(secs[0]);
        let rest = if secs.len() > 1 {
            &secs[1..]
        } else {
            &secs[..]
        };
        self.warm
            .push(rest.iter().copied().fold(f64::MAX, f64::min));
    }
}

async fn through(c: &tokio_postgres::Client, sql: &str) -> (Duration, usize) {
    let t = Instant::now();
    let rows = c
        .simple_query(sql)
        .await
        .expect("meshgate answers")
        .iter()
        .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
        .count();
    (t.elapsed(), rows)
}

#[tokio::main]
async fn main() {
    let sf: f64 = arg("--sf").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let runs: usize = arg("--runs")
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(2);
    let python = arg("--python").unwrap_or_else(|| "python3".into());
    // Which copies meshgate serves; a large scale factor may want only the mixed mesh.
    let formats = arg("--formats").unwrap_or_else(|| "parquet,delta,iceberg,mixed".into());
    let wanted = |f: &str| formats.split(',').any(|w| w.trim() == f);
    let (dir, layout) = tpch_layout::generated(sf).await;

    let ctx = SessionContext::new_with_config(meshgate::exec::session_config("mesh", 8192));
    let catalog = Arc::new(MemoryCatalogProvider::new());
    for s in ["sales", "supply", "geo", "public"] {
        catalog
            .register_schema(s, Arc::new(MemorySchemaProvider::new()))
            .expect("schema");
    }
    ctx.register_catalog("mesh", catalog);
    for (s, t) in tables() {
        ctx.register_parquet(
            format!("{s}.{t}"),
            layout.baseline_dir.join(t).to_str().expect("utf8"),
            ParquetReadOptions::default(),
        )
        .await
        .expect("register");
    }
    let mut duck = DuckDb::start(&python, &layout.baseline_dir);

    let mut servers = Vec::new();
    if wanted("parquet") {
        servers.push(("parquet", baseline_domains(&layout.baseline_dir, &dir)));
    }
    for (name, format) in [
        ("delta", TableFormat::Delta),
        ("iceberg", TableFormat::Iceberg),
    ] {
        if wanted(name) {
            let copy = meshgate_demo::generate_copy(&layout, format)
                .await
                .unwrap_or_else(|e| panic!("{name} copy: {e}"));
            servers.push((name, copy));
        }
    }
    if wanted("mixed") {
        servers.push(("mixed", layout.domains_dir.clone()));
    }
    let variant = arg("--variant").map(|v| variant_settings(&v));
    let mut sections = vec![String::new(); servers.len()];
    if let Some((name, engine)) = &variant {
        servers.push((name, baseline_domains(&layout.baseline_dir, &dir)));
        sections.push(engine.clone());
    }
    let mut gates = Vec::new();
    for ((name, domains), engine) in servers.iter().zip(&sections) {
        let s = Server::start_with(&dir, domains, name, &format!("[limits]\n\n{engine}")).await;
        let c = s.connect("bench").await.expect("connect");
        gates.push((s, c));
    }

    let mut engines = vec![Engine::new("duckdb"), Engine::new("datafusion")];
    for (name, _) in &servers {
        engines.push(Engine::new(name));
    }
    let header: Vec<String> = engines.iter().map(|e| format!("{:>11}", e.name)).collect();
    println!("TPC-H SF {sf}, warm seconds per query (best of runs 2..{runs})");
    println!("{:<6}{}", "query", header.join(""));
    let mut mismatches = Vec::new();
    for n in 1..=22 {
        let path = PathBuf::from(format!(
            "{}/tests/tpch/queries/q{n}.sql",
            env!("CARGO_MANIFEST_DIR")
        ));
        let sql = std::fs::read_to_string(&path).expect("query");
        let mut rows_seen = Vec::new();
        let mut times = Vec::new();
        for _ in 0..runs {
            let (t, rows) = duck.run(&path);
            times.push(t);
            rows_seen.push(("duckdb", rows));
        }
        engines[0].record(&times);
        times.clear();
        for _ in 0..runs {
            let t = Instant::now();
            let batches = ctx
                .sql(&sql)
                .await
                .expect("plan")
                .collect()
                .await
                .expect("run");
            times.push(t.elapsed());
            rows_seen.push(("datafusion", batches.iter().map(|b| b.num_rows()).sum()));
        }
        engines[1].record(&times);
        for (k, (_, c)) in gates.iter().enumerate() {
            times.clear();
            for _ in 0..runs {
                let (t, rows) = through(c, &sql).await;
                times.push(t);
                rows_seen.push((servers[k].0, rows));
            }
            engines[2 + k].record(&times);
        }
        let want = rows_seen[0].1;
        for (engine, rows) in &rows_seen {
            if *rows != want {
                mismatches.push(format!("q{n}: {engine} {rows} rows, duckdb {want}"));
            }
        }
        let cells: Vec<String> = engines
            .iter()
            .map(|e| format!("{:>11.3}", e.warm[n - 1]))
            .collect();
        println!("q{n:<5}{}", cells.join(""));
    }

    println!("\nTPC-H SF {sf}, {runs} runs per query, seconds");
    println!("{:<6}{}", "", header.join(""));
    let total = |v: &[f64]| v.iter().sum::<f64>();
    let duck_warm = total(&engines[0].warm);
    let duck_cold = total(&engines[0].cold);
    let line = |label: &str, f: &dyn Fn(&Engine) -> String| {
        let cells: Vec<String> = engines.iter().map(|e| format!("{:>11}", f(e))).collect();
        println!("{label:<6}{}", cells.join(""));
    };
    line("warm", &|e| format!("{:.3}", total(&e.warm)));
    line("×duck", &|e| format!("{:.2}", total(&e.warm) / duck_warm));
    line("cold", &|e| format!("{:.3}", total(&e.cold)));
    line("×duck", &|e| format!("{:.2}", total(&e.cold) / duck_cold));
    // Per query, the worst ratios to DuckDB of the mixed mesh.
    if let Some(mixed) = engines.iter().find(|e| e.name == "mixed") {
        worst_ratios(mixed, &engines[0]);
    }
    for (k, (s, _)) in gates.iter().enumerate() {
        println!(
            "meshgate over {}: peak RSS {:.0} MiB",
            servers[k].0,
            proc_status(s.pid(), "VmHWM:")
        );
    }
    if mismatches.is_empty() {
        println!("row counts: every engine agrees with DuckDB on all 22 queries");
    } else {
        println!(
            "row counts that differ from DuckDB's:\n  {}",
            mismatches.join("\n  ")
        );
    }
    let _ = duck.child.kill();
}

/// `NAME:key=value,key=value` → the variant's name and its `[engine]` section.
fn variant_settings(v: &str) -> (&'static str, String) {
    let (name, settings) = v.split_once(':').expect("--variant NAME:SETTING=VALUE,…");
    let mut section = String::from("[engine]\n");
    for kv in settings.split(',') {
        let (k, v) = kv.split_once('=').expect("SETTING=VALUE");
        let v = v.trim();
        let literal = v == "true" || v == "false" || v.parse::<f64>().is_ok();
        let v = if literal {
            v.to_string()
        } else {
            format!("{v:?}")
        };
        section.push_str(&format!("{:?} = {v}\n", k.trim()));
    }
    // Named like the built-in engines for the whole run.
    (Box::leak(name.to_string().into_boxed_str()), section)
}

/// The six queries where `mixed` is slowest relative to DuckDB.
fn worst_ratios(mixed: &Engine, duck: &Engine) {
    let mut worst: Vec<(f64, usize)> = (0..22)
        .map(|q| (mixed.warm[q] / duck.warm[q], q + 1))
        .collect();
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    let worst: Vec<String> = worst
        .iter()
        .take(6)
        .map(|(r, q)| format!("q{q:02} {r:.1}×"))
        .collect();
    println!(
        "mixed mesh, worst warm ratios to DuckDB: {}",
        worst.join(", ")
    );
}
