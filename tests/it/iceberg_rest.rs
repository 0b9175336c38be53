//! Iceberg through a REST catalog: a real Iceberg REST catalog server (lakana-server, from PyPI,
//! installed by `.ci/run` into its own virtualenv) started on an ephemeral 127.0.0.1 port over a
//! local warehouse directory, a table written through it by pyiceberg's `RestCatalog`, read
//! through meshgate with `catalogs.<name>.type = "rest"`, and a new snapshot seen without a
//! restart.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::TestServer;

/// lakana's environment, which is both the REST catalog prefix and the warehouse name.
const PREFIX: &str = "dev";
/// The bootstrap administrator's personal access token is `lakana_pat_<key id>_<secret>`.
const KEY_ID: &str = "meshgatetest01";
const SECRET: &str = "rest-catalog-test-secret-0123456789";

fn token() -> String {
    format!("lakana_pat_{KEY_ID}_{SECRET}")
}

/// Where `.ci/run` installs lakana-server (`tests/requirements-rest-catalog.txt`); `MESHGATE_LAKANA_SERVER`
/// names another executable.
fn lakana_server() -> PathBuf {
    let path = std::env::var_os("MESHGATE_LAKANA_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/meshgate-rest-catalog/bin/lakana-server"));
    assert!(
        path.is_file(),
        "{} not found: install the REST catalog server as .ci/run does \
         (python3 -m venv /opt/meshgate-rest-catalog && \
         /opt/meshgate-rest-catalog/bin/pip install -r tests/requirements-rest-catalog.txt), \
         or set MESHGATE_LAKANA_SERVER",
        path.display()
    );
    path
}

struct RestCatalogServer {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for RestCatalogServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RestCatalogServer {
    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

fn lakana_command(bin: &Path, state: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env(
        "LAKANA_DATABASE__URL",
        format!("sqlite:///{}", state.join("lakana.db").display()),
    )
    .env("LAKANA_BOOTSTRAP_PAT_KEY_ID", KEY_ID)
    .env("LAKANA_BOOTSTRAP_PAT_SECRET", SECRET)
    .env("LAKANA_HOST", "127.0.0.1")
    .env("LAKANA_PORT", "0")
    .current_dir(state)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// Reads `stream` to its end into `log` (so the server never blocks on a full pipe), sending
/// the port of uvicorn's "running on" line to `port`.
fn drain(
    stream: impl std::io::Read + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
    port: std::sync::mpsc::Sender<u16>,
) {
    std::thread::spawn(move || {
        const MARK: &str = "Uvicorn running on http://127.0.0.1:";
        for line in std::io::BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some((_, rest)) = line.split_once(MARK) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(p) = digits.parse() {
                    let _ = port.send(p);
                }
            }
            log.lock().unwrap().push(line);
        }
    });
}

/// Creates lakana's metadata database (sqlite, in `state`), starts the server on a port the
/// kernel picks, and returns once its `/v1/config` answers.
async fn start_rest_catalog(state: &Path) -> RestCatalogServer {
    let bin = lakana_server();
    let migrate = lakana_command(&bin, state)
        .arg("migrate")
        .output()
        .expect("lakana-server runs");
    assert!(
        migrate.status.success(),
        "lakana-server migrate failed:\n{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let mut child = lakana_command(&bin, state)
        .spawn()
        .expect("lakana-server starts");
    // Uvicorn writes its start-up lines to stderr and its access log to stdout.
    let log = Arc::new(Mutex::new(Vec::new()));
    let (port_tx, port_rx) = std::sync::mpsc::channel::<u16>();
    drain(
        child.stderr.take().expect("stderr"),
        Arc::clone(&log),
        port_tx.clone(),
    );
    drain(
        child.stdout.take().expect("stdout"),
        Arc::clone(&log),
        port_tx,
    );
    let port = match port_rx.recv_timeout(Duration::from_secs(60)) {
        Ok(port) => port,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "lakana-server reported no port ({e}):\n{}",
                log.lock().unwrap().join("\n")
            );
        }
    };
    let server = RestCatalogServer { child, port, log };

    // Ready when the REST catalog's config endpoint answers (pyiceberg and iceberg-rust both
    // start there), polled for a bounded time.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match get(port, "/v1/config").await {
            Ok(resp) if resp.starts_with("HTTP/1.1 200") => break,
            other => assert!(
                Instant::now() < deadline,
                "/v1/config never answered 200 (last: {other:?}):\n{}",
                server.log()
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server
}

/// One plain HTTP/1.0 GET on 127.0.0.1, the whole response as text.
async fn get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Runs tests/fixtures/rest_catalog_writer.py (pyiceberg's `RestCatalog`) against the server.
fn writer(server: &RestCatalogServer, warehouse: &Path, action: &str) -> Value {
    let script = format!(
        "{}/tests/fixtures/rest_catalog_writer.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let o = Command::new(python)
        .arg(&script)
        .arg(server.uri())
        .arg(PREFIX)
        .arg(warehouse)
        .arg(action)
        .env("REST_CATALOG_TOKEN", token())
        .output()
        .expect("python3 runs");
    assert!(
        o.status.success(),
        "rest_catalog_writer.py {action} failed:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&o.stderr),
        server.log()
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "rest_catalog_writer.py printed no JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

type Row = (i64, Option<String>, Option<f64>, Option<chrono::NaiveDate>);

fn fixture_rows(fx: &Value) -> Vec<Row> {
    fx["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().expect("id"),
                r["name"].as_str().map(str::to_string),
                r["amount"].as_f64(),
                r["day"].as_str().map(|d| d.parse().expect("ISO date")),
            )
        })
        .collect()
}

fn last_snapshot(fx: &Value) -> String {
    fx["snapshot_ids"]
        .as_array()
        .and_then(|ids| ids.last())
        .expect("snapshot ids")
        .to_string()
}

async fn orders(c: &tokio_postgres::Client) -> Vec<Row> {
    c.query(
        "SELECT id, name, amount, day FROM sales.orders ORDER BY id",
        &[],
    )
    .await
    .expect("sales.orders reads")
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

/// The snapshot the mesh opened, as `mesh.datasets` reports it.
async fn opened_version(c: &tokio_postgres::Client) -> Option<String> {
    c.query_one(
        "SELECT version FROM mesh.datasets WHERE product = 'sales' AND table_name = 'orders'",
        &[],
    )
    .await
    .expect("mesh.datasets reads")
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iceberg_through_a_live_rest_catalog_reads_rows_and_sees_a_new_snapshot() {
    let state = tempfile::tempdir().unwrap();
    let warehouse = tempfile::tempdir().unwrap();
    let rest = start_rest_catalog(state.path()).await;

    let fx = writer(&rest, warehouse.path(), "setup");
    assert_eq!(
        fx["snapshot_ids"].as_array().map(Vec::len),
        Some(2),
        "the writer committed two snapshots"
    );
    let metadata = fx["metadata_location"].as_str().unwrap();
    assert!(
        metadata.starts_with(&format!("file://{}/", warehouse.path().display())),
        "the catalog keeps the table in the warehouse directory: {metadata}"
    );

    let conf = tempfile::tempdir().unwrap();
    let domains = conf.path().join("domains");
    std::fs::create_dir_all(&domains).unwrap();
    std::fs::write(
        domains.join("restfx.toml"),
        format!(
            r#"name = "restfx"
[storage]
root = "{root}"

[catalogs.lakana]
type = "rest"
uri = "{uri}"
warehouse = "{PREFIX}"
prefix = "{PREFIX}"
token_env = "RESTFX_CATALOG_TOKEN"

[catalogs.lakana_bad_token]
type = "rest"
uri = "{uri}"
warehouse = "{PREFIX}"
prefix = "{PREFIX}"
token_env = "RESTFX_BAD_TOKEN"

[[products]]
name = "sales"
description = "Written by pyiceberg through a REST catalog"

[[products.tables]]
name = "orders"
format = "iceberg"
catalog = "lakana"
namespace = "gold.sales"
table = "orders"

[[products.tables]]
name = "orders_bad_token"
format = "iceberg"
catalog = "lakana_bad_token"
namespace = "gold.sales"
table = "orders"
"#,
            root = warehouse.path().display(),
            uri = rest.uri(),
        ),
    )
    .unwrap();
    let path = crate::harness::write_config(conf.path(), &domains, "");
    let good = token();
    let config = meshgate::Config::load_with_env(&path, &|k| match k {
        "RESTFX_CATALOG_TOKEN" => Some(good.clone()),
        "RESTFX_BAD_TOKEN" => Some(format!("lakana_pat_{KEY_ID}_not-the-secret")),
        _ => None,
    })
    .expect("config");
    let s = TestServer::start_config(config, conf).await;
    let c = s.admin().await;

    // Both snapshots' rows, through the catalog, pinned to the newest snapshot.
    let want = fixture_rows(&fx);
    assert_eq!(want.len(), 5);
    assert_eq!(orders(&c).await, want);
    assert_eq!(opened_version(&c).await, Some(last_snapshot(&fx)));

    // The catalog checks the bearer token: the same table under a wrong one is refused by the
    // server (its access log has the 401), and the client is told which table failed.
    let err = c
        .query("SELECT count(*) FROM sales.orders_bad_token", &[])
        .await
        .expect_err("a wrong token is refused");
    let db = err.as_db_error().expect("an error response");
    assert_eq!(db.code().code(), "XX000");
    assert!(
        db.message()
            .starts_with("table sales.orders_bad_token could not be opened"),
        "{}",
        db.message()
    );
    let refused =
        format!("\"GET /v1/{PREFIX}/namespaces/gold%1Fsales/tables/orders HTTP/1.1\" 401");
    crate::harness::wait_for(
        "the catalog server to log the refused load",
        Duration::from_secs(10),
        || rest.log().contains(&refused),
    )
    .await;

    // A third snapshot committed through the catalog after meshgate opened the table becomes
    // visible without a restart (metadata_refresh_secs = 0).
    let after = writer(&rest, warehouse.path(), "append");
    assert_eq!(after["snapshot_ids"].as_array().map(Vec::len), Some(3));
    let want = fixture_rows(&after);
    assert_eq!(want.len(), 6);
    assert_eq!(orders(&c).await, want);
    assert_eq!(opened_version(&c).await, Some(last_snapshot(&after)));

    // Time travel through the catalog: each snapshot by its id, and as of its commit time.
    let ids: Vec<i64> = after["snapshot_ids"]
        .as_array()
        .expect("snapshot ids")
        .iter()
        .map(|v| v.as_i64().expect("an id"))
        .collect();
    let count = |sql: String| {
        let c = &c;
        async move {
            c.query_one(&sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
                .get::<_, i64>(0)
        }
    };
    let first = count(format!("SELECT rows_added FROM mesh.history WHERE product = 'sales' AND table_name = 'orders' AND version = {}", ids[0])).await;
    for (id, n) in ids.iter().zip([first, 5, 6]) {
        let sql = format!("SELECT count(*) FROM sales.orders FOR VERSION AS OF {id}");
        assert_eq!(count(sql.clone()).await, n, "{sql}");
    }
    let at: String = c
        .query_one(
            &format!("SELECT committed_at::text FROM mesh.history WHERE table_name = 'orders' AND version = {}", ids[1]),
            &[],
        )
        .await
        .expect("mesh.history reads")
        .get(0);
    assert_eq!(
        count(format!(
            "SELECT count(*) FROM sales.orders FOR TIMESTAMP AS OF TIMESTAMP '{at}'"
        ))
        .await,
        5
    );
}
