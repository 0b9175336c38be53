//! meshgate's own scan of Delta and Iceberg files (`connectors/lakescan`): which tables it takes
//! and which it leaves to the format library, and that the answers are the writer's data either
//! way. Tables are written by the Python `deltalake` and `pyiceberg` packages; the Delta table
//! with a deletion vector was written by Databricks (see `tests/fixtures/delta_dv_small`).

use std::path::Path;

use serde_json::Value;
use tokio_postgres::Client;

use crate::harness::TestServer;
use crate::python_writers::python;

/// One domain over the fixture directory: the two `sales` copies, the renamed Iceberg table and
/// the Delta table with a deletion vector.
fn domain_file(dir: &Path, fx: &Value, dv_table: &Path) -> std::path::PathBuf {
    let ice = &fx["iceberg"];
    let domains = dir.join("domains");
    std::fs::create_dir_all(&domains).unwrap();
    let text = format!(
        r#"name = "lake"
description = "Tables meshgate scans itself"
[storage]
root = "{root}"

[catalogs.lakecat]
type = "sql"
catalog_name = "lakecat"
uri = "{uri}"
warehouse = "{warehouse}"

[[products]]
name = "lake"
description = "Lake fixtures"

[[products.tables]]
name = "delta_sales"
format = "delta"
location = "lake_delta/sales"

[[products.tables]]
name = "iceberg_sales"
format = "iceberg"
catalog = "lakecat"
namespace = "lake"
table = "sales"

[[products.tables]]
name = "renamed"
format = "iceberg"
catalog = "lakecat"
namespace = "lake"
table = "renamed"

[[products.tables]]
name = "deleted"
format = "delta"
location = "{dv}"
"#,
        root = fx["out_dir"].as_str().unwrap(),
        uri = ice["catalog_uri"].as_str().unwrap(),
        warehouse = ice["warehouse"].as_str().unwrap(),
        dv = dv_table.display(),
    );
    std::fs::write(domains.join("lake.toml"), text).unwrap();
    domains
}

struct Lake {
    fx: Value,
    _data: tempfile::TempDir,
    _conf: tempfile::TempDir,
    server: TestServer,
}

async fn lake() -> Lake {
    let data = tempfile::tempdir().unwrap();
    let fx = python("write_lake_tables.py", data.path());
    let dv = data.path().join("delta_dv_small");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/delta_dv_small"),
        &dv,
    );
    let conf = tempfile::tempdir().unwrap();
    let domains = domain_file(conf.path(), &fx, &dv);
    let server = TestServer::start_with(&domains, "").await;
    Lake {
        fx,
        _data: data,
        _conf: conf,
        server,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else if e.file_name() != "README.md" {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

async fn plan(c: &Client, sql: &str) -> String {
    c.simple_query(&format!("EXPLAIN {sql}"))
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e:?}"))
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(1).map(str::to_string),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The physical plan's Parquet files (each named once per scan).
fn planned_files(plan: &str) -> usize {
    plan.lines()
        .filter(|l| l.contains("DataSourceExec"))
        .map(|l| l.matches(".parquet").count())
        .sum()
}

/// (id, region, day, amount, at µs, local_at µs) as the writer was given them.
type Sale = (i64, String, String, String, i64, i64);

fn sales(rows: &Value) -> Vec<Sale> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["region"].as_str().unwrap().to_string(),
                r["day"].as_str().unwrap().to_string(),
                r["amount"].as_str().unwrap().to_string(),
                r["at_us"].as_i64().unwrap(),
                r["local_at_us"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn read_sales(c: &Client, table: &str, amount: &str, filter: &str) -> Vec<Sale> {
    let sql = format!(
        "SELECT id, region, day::text, {amount}::text, at, local_at FROM lake.{table} {filter} ORDER BY id"
    );
    c.query(&sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get::<_, chrono::DateTime<chrono::Utc>>(4)
                    .timestamp_micros(),
                r.get::<_, chrono::NaiveDateTime>(5)
                    .and_utc()
                    .timestamp_micros(),
            )
        })
        .collect()
}

/// Delta partition columns are not in the files: their values (a string and a date) come from
/// the log, and a `timestamp` (UTC) and a `timestamp_ntz` column keep their instants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_partition_values_come_from_the_log() {
    let l = lake().await;
    let c = l.server.admin().await;
    let scan = plan(&c, "SELECT * FROM lake.delta_sales").await;
    assert!(
        scan.contains("DataSourceExec") && !scan.contains("DeltaScan"),
        "meshgate's scan reads the table:\n{scan}"
    );
    assert_eq!(
        planned_files(&scan),
        l.fx["delta"]["files"].as_u64().unwrap() as usize
    );
    let want = sales(&l.fx["delta"]["rows"]);
    assert_eq!(read_sales(&c, "delta_sales", "amount", "").await, want);
    let east: Vec<Sale> = want.iter().filter(|r| r.1 == "east").cloned().collect();
    assert_eq!(
        read_sales(&c, "delta_sales", "amount", "WHERE region = 'east'").await,
        east
    );
    let day: Vec<Sale> = want
        .iter()
        .filter(|r| r.2 == "2024-01-03")
        .cloned()
        .collect();
    assert_eq!(
        read_sales(&c, "delta_sales", "amount", "WHERE day = DATE '2024-01-03'").await,
        day
    );
}

/// A filter on a column whose range the log's statistics (Delta) or the manifests' bounds
/// (Iceberg) rule out for some files leaves those files out of the plan, and the rows are
/// still all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_pruned_by_metadata_statistics() {
    let l = lake().await;
    let c = l.server.admin().await;
    for (table, rows, files) in [
        (
            "delta_sales",
            &l.fx["delta"]["rows"],
            &l.fx["delta"]["files"],
        ),
        (
            "iceberg_sales",
            &l.fx["iceberg"]["sales"],
            &l.fx["iceberg"]["sales_files"],
        ),
    ] {
        let all = files.as_u64().unwrap() as usize;
        // ids 200..209 are the third append's: one file per region.
        let filter = "WHERE id BETWEEN 203 AND 207";
        let scan = plan(&c, &format!("SELECT * FROM lake.{table} {filter}")).await;
        assert_eq!(planned_files(&scan), 2, "{table} of {all} files:\n{scan}");
        let want: Vec<Sale> = sales(rows)
            .into_iter()
            .filter(|r| (203..=207).contains(&r.0))
            .collect();
        assert_eq!(want.len(), 5);
        assert_eq!(
            read_sales(&c, table, "amount", filter).await,
            want,
            "{table}"
        );
        // A partition value and a bound together: one file.
        let filter = "WHERE id BETWEEN 203 AND 207 AND region = 'west'";
        let scan = plan(&c, &format!("SELECT * FROM lake.{table} {filter}")).await;
        assert_eq!(planned_files(&scan), 1, "{table}:\n{scan}");
        let west: Vec<Sale> = want.into_iter().filter(|r| r.1 == "west").collect();
        assert_eq!(
            read_sales(&c, table, "amount", filter).await,
            west,
            "{table}"
        );
    }
}

/// Iceberg's `timestamptz` and `timestamp` keep their instants, decimals their scale, through
/// meshgate's scan of an identity-partitioned table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iceberg_files_are_scanned_by_meshgate() {
    let l = lake().await;
    let c = l.server.admin().await;
    let scan = plan(&c, "SELECT * FROM lake.iceberg_sales").await;
    assert!(
        scan.contains("DataSourceExec") && !scan.contains("IcebergTableScan"),
        "meshgate's scan reads the table:\n{scan}"
    );
    let want = sales(&l.fx["iceberg"]["sales"]);
    assert_eq!(read_sales(&c, "iceberg_sales", "amount", "").await, want);
    let n: i64 = c
        .query_one("SELECT count(*) FROM lake.iceberg_sales", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n as usize, want.len());
}

/// A column renamed after files were written: the old files carry the old name, which only
/// iceberg-rust's reading by field id maps to the column, so the table is left to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_iceberg_column_is_read_by_iceberg_rust() {
    let l = lake().await;
    let c = l.server.admin().await;
    let scan = plan(&c, "SELECT * FROM lake.renamed").await;
    assert!(
        scan.contains("IcebergTableScan"),
        "iceberg-rust reads the table:\n{scan}"
    );
    let want = sales(&l.fx["iceberg"]["renamed"]);
    assert_eq!(read_sales(&c, "renamed", "total", "").await, want);
}

/// Rows a deletion vector removes are still in the file: the table is left to delta-rs, which
/// applies it. Version 1 deleted `value IN (0, 9)` from 0..9.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_deletion_vector_is_applied_by_delta_rs() {
    let l = lake().await;
    let c = l.server.admin().await;
    let scan = plan(&c, "SELECT value FROM lake.deleted").await;
    assert!(
        scan.contains("DeltaScan"),
        "delta-rs reads the table:\n{scan}"
    );
    let got: Vec<i32> = c
        .query("SELECT value FROM lake.deleted ORDER BY value", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(got, (1..=8).collect::<Vec<i32>>());
    let n: i64 = c
        .query_one("SELECT count(*) FROM lake.deleted", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 8);
}

/// PostgreSQL prints a timestamptz in the session's TimeZone, as a column's text and as
/// `::text`; Delta and Iceberg files hold them in UTC. The reference PostgreSQL prints the same
/// instants in the same zones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamptz_text_follows_the_session_time_zone() {
    let l = lake().await;
    let c = l.server.admin().await;
    let pg = crate::reference::reference().connect().await;
    for (table, rows) in [
        ("delta_sales", &l.fx["delta"]["rows"]),
        ("iceberg_sales", &l.fx["iceberg"]["sales"]),
    ] {
        let instants: Vec<String> = sales(rows)
            .iter()
            .map(|r| format!("({}, {})", r.0, r.4))
            .collect();
        let reference = format!(
            "SELECT id::text, t::text, t::text FROM (SELECT id, timestamptz 'epoch' + us * interval '1 microsecond' AS t \
             FROM (VALUES {}) v(id, us)) s ORDER BY s.id",
            instants.join(", ")
        );
        let ours = format!("SELECT id, at, at::text FROM lake.{table} ORDER BY id");
        // Names in any case, numbers (hours east), POSIX zones (hours west: `+02:00` is two
        // hours behind UTC, and pgjdbc sends a JVM's GMT+2 as `GMT-02:00`).
        for zone in [
            "America/New_York",
            "Asia/Kolkata",
            "UTC",
            "europe/berlin",
            "EST5EDT",
            "+02:00",
            "GMT-02:00",
            "UTC+5",
            "-5",
            "5.5",
        ] {
            let set = format!("SET TimeZone = '{zone}'");
            pg.batch_execute(&set).await.expect("zone on PostgreSQL");
            c.batch_execute(&set).await.expect("zone on meshgate");
            let want = crate::harness::rows(&pg, &reference).await;
            assert!(!want.is_empty());
            assert_eq!(
                crate::harness::rows(&c, &ours).await,
                want,
                "{table} in {zone}"
            );
            assert_eq!(
                crate::harness::rows(&c, "SHOW TimeZone").await,
                crate::harness::rows(&pg, "SHOW TimeZone").await,
                "SHOW after {set}"
            );
        }
    }
}
