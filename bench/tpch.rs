//! TPC-H through meshgate vs in-process DataFusion on the same Parquet files, in one run.
//!
//!     cargo bench --bench tpch -- [--sf 1] [--dir bench-data] [--runs 3]
//!
//! For each query: the best of `runs` wall times through meshgate (tokio-postgres over TCP,
//! text results, all rows read) and in-process (DataFusion `collect`), and their ratio. A third
//! column runs the query through meshgate over the mixed Delta/Iceberg/Parquet mesh of the same
//! data, for information. Not a test: it asserts nothing about time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

/// (product, table) for every TPC-H table, as the demo generator lays them out.
fn tables() -> impl Iterator<Item = (&'static str, &'static str)> {
    meshgate_demo::DOMAINS
        .iter()
        .flat_map(|d| d.tables.iter().map(move |t| (d.name, t.name())))
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Domain files that publish the baseline Parquet copies as the same three products.
fn baseline_domains(baseline: &Path, out: &Path) -> PathBuf {
    let dir = out.join("baseline-domains");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for product in ["sales", "supply", "geo"] {
        let mut text = format!(
            "name = \"{product}\"\n[storage]\nroot = \"{}\"\n[[products]]\nname = \"{product}\"\n",
            baseline.display()
        );
        for (_, t) in tables().filter(|(p, _)| *p == product) {
            text += &format!(
                "[[products.tables]]\nname = \"{t}\"\nformat = \"parquet\"\nlocation = \"{t}\"\n"
            );
        }
        std::fs::write(dir.join(format!("{product}.toml")), text).expect("write domain");
    }
    dir
}

fn server_config(domains: &Path, out: &Path, name: &str) -> meshgate::Config {
    let v = meshgate::auth::ScramVerifier::generate("bench", 4096);
    let path = out.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nmetadata_refresh_secs = 3600\n# The limits a user gets by default.\n[[users]]\nname = \"bench\"\npassword = \"{v}\"\nadmin = true\n{roles}\n[domains]\ndir = \"{}\"\n",
            domains.display(),
            roles = meshgate_demo::ROLES_TOML,
        ),
    )
    .expect("write config");
    meshgate::Config::load(&path).expect("config")
}

async fn start(config: meshgate::Config) -> tokio_postgres::Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { meshgate::serve(listener, config, std::future::pending()).await });
    let (c, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=bench password=bench dbname=mesh"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(conn);
    c
}

async fn best<F, Fut>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(f().await);
        best = best.min(t.elapsed());
    }
    best
}

#[tokio::main]
async fn main() {
    let sf: f64 = arg("--sf").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let runs: usize = arg("--runs").and_then(|s| s.parse().ok()).unwrap_or(3);
    let dir = PathBuf::from(arg("--dir").unwrap_or_else(|| format!("target/bench-tpch-sf{sf}")));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let dir = std::path::absolute(&dir).expect("abs");
    eprintln!(
        "generating TPC-H SF {sf} under {} (reused when present)…",
        dir.display()
    );
    let layout = meshgate_demo::generate(&meshgate_demo::DemoOptions {
        dir: dir.clone(),
        scale_factor: sf,
    })
    .await
    .expect("generate");

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

    let same_files = start(server_config(
        &baseline_domains(&layout.baseline_dir, &dir),
        &dir,
        "baseline",
    ))
    .await;
    let mesh = start(server_config(
        &layout.conf_dir.join("domains"),
        &dir,
        "mesh",
    ))
    .await;

    println!("TPC-H SF {sf}, best of {runs} runs, seconds");
    println!(
        "{:<5} {:>10} {:>10} {:>7} {:>12}",
        "query", "in-process", "meshgate", "ratio", "mixed-mesh"
    );
    let (mut sum_local, mut sum_gate, mut sum_mesh) = (0.0, 0.0, 0.0);
    for n in 1..=22 {
        let sql = std::fs::read_to_string(format!(
            "{}/tests/tpch/queries/q{n}.sql",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("query");
        let local = best(runs, || async {
            ctx.sql(&sql)
                .await
                .expect("plan")
                .collect()
                .await
                .expect("run")
                .iter()
                .map(|b| b.num_rows())
                .sum()
        })
        .await;
        let gate = best(runs, || async {
            same_files.simple_query(&sql).await.expect("meshgate").len()
        })
        .await;
        let mixed = best(runs, || async {
            mesh.simple_query(&sql).await.expect("mesh").len()
        })
        .await;
        let (l, g, m) = (local.as_secs_f64(), gate.as_secs_f64(), mixed.as_secs_f64());
        sum_local += l;
        sum_gate += g;
        sum_mesh += m;
        println!("q{n:<4} {l:>10.3} {g:>10.3} {:>7.2} {m:>12.3}", g / l);
    }
    println!(
        "{:<5} {sum_local:>10.3} {sum_gate:>10.3} {:>7.2} {sum_mesh:>12.3}",
        "total",
        sum_gate / sum_local
    );
}
