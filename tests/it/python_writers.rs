//! Tables written by independent writers (the Python `deltalake` and `pyiceberg` packages) read
//! through meshgate: a Delta table with several versions, an Iceberg table with two snapshots
//! (through its SQL catalog and through its table directory), and new versions seen without a
//! restart.

use std::path::Path;

use serde_json::Value;
use tokio_postgres::SimpleQueryMessage;

use crate::harness::TestServer;

pub fn python(script: &str, out: &Path) -> Value {
    let path = format!("{}/tests/fixtures/{script}", env!("CARGO_MANIFEST_DIR"));
    let o = std::process::Command::new("python3")
        .arg(&path)
        .arg(out)
        .output()
        .expect("python3 runs");
    assert!(
        o.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

pub fn domain_file(dir: &Path, fx: &Value) -> std::path::PathBuf {
    let ice = &fx["iceberg"];
    let domains = dir.join("domains");
    std::fs::create_dir_all(&domains).unwrap();
    let table_dir = ice["location"]
        .as_str()
        .unwrap()
        .trim_start_matches("file://")
        .to_string();
    let text = format!(
        r#"name = "pyfx"
description = "Tables written by Python writers"
[storage]
root = "{root}"

[catalogs.pycat]
type = "sql"
catalog_name = "{catalog_name}"
uri = "{uri}"
warehouse = "{warehouse}"

[[products]]
name = "fixtures"
description = "Independent-writer fixtures"

[[products.tables]]
name = "events"
format = "delta"
location = "py_delta/events"

[[products.tables]]
name = "readings"
format = "iceberg"
catalog = "pycat"
namespace = "fixtures"
table = "readings"

[[products.tables]]
name = "readings_by_path"
format = "iceberg"
location = "{table_dir}"
"#,
        root = fx["out_dir"].as_str().unwrap(),
        uri = ice["catalog_uri"].as_str().unwrap(),
        catalog_name = ice["catalog_name"].as_str().unwrap(),
        warehouse = ice["warehouse"].as_str().unwrap(),
    );
    std::fs::write(domains.join("pyfx.toml"), text).unwrap();
    domains
}

pub fn text_rows(msgs: &[SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_written_delta_and_iceberg_read_correctly_and_refresh() {
    let data = tempfile::tempdir().unwrap();
    let fx = python("write_fixtures.py", data.path());
    let conf = tempfile::tempdir().unwrap();
    let domains = domain_file(conf.path(), &fx);
    let s = TestServer::start_with(&domains, "").await;
    let c = s.admin().await;

    // Delta: the newest of three versions (create, append, delete).
    assert_eq!(fx["delta"]["version"], 2);
    let got = text_rows(
        &c.simple_query("SELECT id, name, amount, day FROM fixtures.events ORDER BY id")
            .await
            .unwrap(),
    );
    let want: Vec<Vec<Option<String>>> = fx["delta"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            ["id", "name", "amount", "day"]
                .iter()
                .map(|k| match &r[*k] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                })
                .collect()
        })
        .collect();
    assert_eq!(got, want);

    // Iceberg: both snapshots' rows, through the catalog and through the table directory.
    let expected: Vec<(String, f64, i64)> = fx["iceberg"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["sensor"].as_str().unwrap().to_string(),
                r["reading"].as_f64().unwrap(),
                r["ts_us"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 5);
    for table in ["readings", "readings_by_path"] {
        let rows = c
            .query(
                &format!("SELECT sensor, reading, ts FROM fixtures.{table} ORDER BY ts, sensor"),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{table}: {e:?}"));
        let got: Vec<(String, f64, i64)> = rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get::<_, chrono::NaiveDateTime>(2)
                        .and_utc()
                        .timestamp_micros(),
                )
            })
            .collect();
        let mut want = expected.clone();
        want.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
        assert_eq!(got, want, "{table}");
    }

    // New versions written after the server opened the tables become visible (refresh is 0s).
    let delta_after = python("append_delta_version.py", data.path());
    let ice_after = python("append_iceberg_snapshot.py", data.path());
    let n: i64 = c
        .query_one("SELECT count(*) FROM fixtures.events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        n,
        delta_after["row_count"]
            .as_i64()
            .expect("append_delta_version.py reports row_count")
    );
    for table in ["readings", "readings_by_path"] {
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM fixtures.{table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            n,
            ice_after["row_count"]
                .as_i64()
                .expect("append_iceberg_snapshot.py reports row_count"),
            "{table}"
        );
    }
}
