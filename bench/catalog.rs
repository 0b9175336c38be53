//! Catalog answers on a mesh of 1,000 tables: what a schema browser waits for.
//!
//!     cargo bench --bench catalog -- [--tables 1000] [--runs 20]
//!
//! Builds a mesh of `--tables` Parquet tables (10 domains × 10 products × N/100 tables, each with
//! descriptions and its own small file), starts meshgate in-process and times, per query, the
//! median of `runs` executions through tokio-postgres as the admin and as a user granted half of
//! the products (listings then filter by policy). The same queries over a 10-table mesh are the
//! baseline: the ratio shows how catalog time grows with the mesh. The first listing right
//! after start (no table opened yet) is timed apart: it must not wait on storage. psql's `\dt`
//! and `\d` run the real psql binary (process start included, as a user sees it). Not a test:
//! it asserts nothing about time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common.rs"]
mod common;
use common::{connect, serve, Server};

use datafusion::arrow::array::{
    Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

const QUERIES: &[(&str, &str)] = &[
    ("schemas (pgjdbc getSchemas)", "SELECT nspname AS TABLE_SCHEM, NULL AS TABLE_CATALOG FROM pg_catalog.pg_namespace WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_' OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_' OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_')) ORDER BY TABLE_SCHEM"),
    ("tables with remarks (pgjdbc getTables)", "SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME, CASE WHEN c.relkind = 'r' THEN 'TABLE' WHEN c.relkind = 'v' THEN 'VIEW' ELSE NULL END AS TABLE_TYPE, d.description AS REMARKS FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0) WHERE c.relnamespace = n.oid AND c.relname LIKE '%' AND c.relkind IN ('r', 'v') ORDER BY TABLE_TYPE, TABLE_SCHEM, TABLE_NAME"),
    ("all columns (information_schema.columns)", "SELECT table_schema, table_name, column_name, data_type, ordinal_position, is_nullable FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 5"),
    ("columns of one table (pg_attribute by regclass)", "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(a.attrelid, a.attnum) FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'p5_3.t_7'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"),
    ("row estimates (pg_stat_user_tables)", "SELECT schemaname, relname, n_live_tup FROM pg_catalog.pg_stat_user_tables"),
    ("discovery (mesh.datasets)", "SELECT product, table_name, format, row_count FROM mesh.datasets"),
];

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// One small Parquet file with the column types catalogs describe most often.
fn write_sample(path: &Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Decimal128(15, 2), true),
        Field::new("day", DataType::Date32, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
            Arc::new(
                Decimal128Array::from(vec![100, 200, 300])
                    .with_precision_and_scale(15, 2)
                    .expect("decimal"),
            ),
            Arc::new(Date32Array::from(vec![19000, 19001, 19002])),
        ],
    )
    .expect("batch");
    let file = std::fs::File::create(path).expect("create parquet");
    let mut w =
        datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
}

/// 10 domains × 10 products × `tables / 100` tables; products with an even index are granted
/// to the role `reader`.
fn build_mesh(root: &Path, tables: usize) -> PathBuf {
    let data = root.join("data");
    let domains = root.join("domains");
    std::fs::create_dir_all(&domains).expect("mkdir");
    let sample = root.join("sample.parquet");
    write_sample(&sample);
    let per_product = tables.div_ceil(100).max(1);
    let (n_domains, n_products) = if tables < 100 {
        (1, tables.div_ceil(per_product))
    } else {
        (10, 10)
    };
    let mut made = 0;
    for d in 0..n_domains {
        let mut text = format!(
            "name = \"d{d}\"\ndescription = \"Domain {d}.\"\n[storage]\nroot = \"{}\"\n",
            data.display()
        );
        let mut grants = String::new();
        for p in 0..n_products {
            let product = format!("p{}_{}", d, p);
            text += &format!(
                "[[products]]\nname = \"{product}\"\ndescription = \"Product {product}.\"\n"
            );
            for t in 0..per_product {
                if made == tables {
                    break;
                }
                made += 1;
                let dir = data.join(&product).join(format!("t_{t}"));
                std::fs::create_dir_all(&dir).expect("mkdir table");
                std::fs::copy(&sample, dir.join("part-0.parquet")).expect("copy sample");
                text += &format!(
                    "[[products.tables]]\nname = \"t_{t}\"\nformat = \"parquet\"\nlocation = \"{product}/t_{t}\"\ndescription = \"Table {t} of {product}.\"\ncolumns = {{ id = \"Identifier.\", amount = \"Amount in USD.\" }}\n"
                );
            }
            if p % 2 == 0 {
                grants += &format!("[[grants]]\nproduct = \"{product}\"\nto = [\"reader\"]\n");
            }
        }
        std::fs::write(domains.join(format!("d{d}.toml")), text + &grants).expect("write domain");
    }
    let v = meshgate::auth::ScramVerifier::generate("bench", 4096);
    let conf = root.join("meshgate.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nmetadata_refresh_secs = 3600\n[[roles]]\nname = \"reader\"\n\
             [[users]]\nname = \"admin\"\npassword = \"{v}\"\nadmin = true\n\
             [[users]]\nname = \"half\"\npassword = \"{v}\"\nroles = [\"reader\"]\n[domains]\ndir = \"{}\"\n",
            domains.display()
        ),
    )
    .expect("write config");
    conf
}

async fn median(runs: usize, c: &tokio_postgres::Client, sql: &str) -> (Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let t = Instant::now();
        rows = c
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .len();
        times.push(t.elapsed());
    }
    times.sort();
    (times[runs / 2], rows)
}

fn psql(port: u16, cmd: &str) -> Duration {
    let t = Instant::now();
    let out = std::process::Command::new("psql")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "admin",
            "-d",
            "mesh",
            "-c",
            cmd,
        ])
        .env("PGPASSWORD", "bench")
        .output()
        .expect("psql is installed");
    assert!(
        out.status.success(),
        "psql {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

/// Waits until the background warm-up has opened every table (the steady state of a server).
async fn warmed(s: &Server) {
    let mesh = s.shared.mesh();
    let all: Vec<_> = mesh
        .products
        .values()
        .flat_map(|p| p.tables.values().cloned())
        .collect();
    let t = Instant::now();
    while all.iter().any(|t| t.known().is_none()) {
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "warm-up did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "  warm-up opened {} tables in {:.2} s",
        all.len(),
        t.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    meshgate::tls::install_crypto_provider();
    let tables: usize = arg("--tables")
        .map(|s| s.parse().expect("--tables N"))
        .unwrap_or(1000);
    let runs: usize = arg("--runs")
        .map(|s| s.parse().expect("--runs N"))
        .unwrap_or(20);
    let dir = tempfile::tempdir().expect("tempdir");
    let big_conf = build_mesh(&dir.path().join("big"), tables);
    let small_conf = build_mesh(&dir.path().join("small"), 10);

    println!("catalog benchmark: {tables}-table mesh vs a 10-table mesh, median of {runs} runs");
    let big = serve(&big_conf).await;
    // The first listing on a fresh server, before the warm-up opened anything.
    let first = connect(big.port, "admin").await;
    let t = Instant::now();
    let n = first
        .simple_query(QUERIES[1].1)
        .await
        .expect("first listing")
        .len();
    println!(
        "  first pgjdbc getTables right after start: {:.1} ms ({n} messages)",
        t.elapsed().as_secs_f64() * 1e3
    );
    warmed(&big).await;
    let small = serve(&small_conf).await;
    // The first session starts the warm-up.
    let _first_small = connect(small.port, "admin").await;
    warmed(&small).await;

    println!();
    println!(
        "{:<48} {:>12} {:>12} {:>12} {:>7}",
        "query", "admin ms", "half ms", "10-table ms", "ratio"
    );
    for (name, sql) in QUERIES {
        let sql = if tables < 100 {
            sql.replace("p5_3.t_7", "p0_0.t_0")
        } else {
            sql.to_string()
        };
        let admin = connect(big.port, "admin").await;
        let half = connect(big.port, "half").await;
        let base = connect(small.port, "admin").await;
        let (a, _) = median(runs, &admin, &sql).await;
        let (h, _) = median(runs, &half, &sql).await;
        let (b, _) = median(runs, &base, &sql.replace("p5_3.t_7", "p0_0.t_0")).await;
        println!(
            "{:<48} {:>12.2} {:>12.2} {:>12.2} {:>7.1}",
            name,
            a.as_secs_f64() * 1e3,
            h.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
    let psql_runs = runs.min(5);
    for (name, cmd_big, cmd_small) in [
        ("psql \\dt *.* (process)", "\\dt *.*", "\\dt *.*"),
        (
            "psql \\d p5_3.t_7 (process)",
            "\\d p5_3.t_7",
            "\\d p0_0.t_0",
        ),
        ("psql -c 'select 1' (process)", "select 1", "select 1"),
    ] {
        let cmd_big = if tables < 100 { cmd_small } else { cmd_big };
        let mut a: Vec<Duration> = (0..psql_runs).map(|_| psql(big.port, cmd_big)).collect();
        let mut b: Vec<Duration> = (0..psql_runs)
            .map(|_| psql(small.port, cmd_small))
            .collect();
        a.sort();
        b.sort();
        let (a, b) = (a[psql_runs / 2], b[psql_runs / 2]);
        println!(
            "{:<48} {:>12.2} {:>12} {:>12.2} {:>7.1}",
            name,
            a.as_secs_f64() * 1e3,
            "",
            b.as_secs_f64() * 1e3,
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
}
