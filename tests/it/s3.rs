//! A domain served from an S3-compatible server (moto, started by the test on 127.0.0.1) with
//! its own credentials, named in the domain file by environment variable.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::harness::{tpch, TestServer};

pub(crate) struct S3Server {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_s3(bucket: &str, upload: &Path, prefix: &str) -> S3Server {
    start_s3_logged(bucket, upload, prefix, None)
}

/// As [`start_s3`], logging the access key id each request was signed with to `log`.
pub(crate) fn start_s3_logged(
    bucket: &str,
    upload: &Path,
    prefix: &str,
    log: Option<&Path>,
) -> S3Server {
    let script = format!("{}/tests/fixtures/s3_server.py", env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new("python3");
    command
        .args([
            &script, "--port", "0", "--bucket", bucket, "--prefix", prefix, "--upload",
        ])
        .arg(upload);
    if let Some(log) = log {
        command.arg("--request-log").arg(log);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut port = None;
    for line in lines.by_ref() {
        let line = line.expect("read server output");
        if let Some(p) = line.strip_prefix("PORT ") {
            port = Some(p.trim().parse().expect("port number"));
        }
        if line == "READY" {
            break;
        }
    }
    S3Server {
        child,
        port: port.expect("s3_server.py printed its port"),
    }
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_on_s3_with_its_own_credentials() {
    let fx = tpch();
    // Upload a Delta table (written by the demo generator) and hive-partitioned Parquet.
    let upload = tempfile::tempdir().unwrap();
    copy_dir(
        &fx.dir.join("data/sales/customer"),
        &upload.path().join("customer"),
    );
    copy_dir(
        &fx.dir.join("data/geo/nation"),
        &upload.path().join("nation"),
    );
    let s3 = start_s3("meshgate-s3-test", upload.path(), "warehouse");

    let conf = tempfile::tempdir().unwrap();
    let domains = conf.path().join("domains");
    std::fs::create_dir_all(&domains).unwrap();
    std::fs::write(
        domains.join("remote.toml"),
        format!(
            r#"name = "remote"
[storage]
root = "s3://meshgate-s3-test/warehouse"
region = "us-east-1"
endpoint = "http://127.0.0.1:{port}"
allow_http = true
access_key_id_env = "REMOTE_S3_KEY"
secret_access_key_env = "REMOTE_S3_SECRET"

[[products]]
name = "remote"

[[products.tables]]
name = "customer"
format = "delta"
location = "customer"

[[products.tables]]
name = "nation"
format = "parquet"
location = "nation"
partition_columns = [{{ name = "n_regionkey", type = "int" }}]

[[products.tables]]
name = "missing"
format = "delta"
location = "no/such/table"
"#,
            port = s3.port
        ),
    )
    .unwrap();
    let path = crate::harness::write_config(conf.path(), &domains, "");
    // Credentials come from the (here: test-provided) environment, never from the file.
    let config = meshgate::Config::load_with_env(&path, &|k| match k {
        "REMOTE_S3_KEY" => Some("test-access-key".into()),
        "REMOTE_S3_SECRET" => Some("test-secret-key-do-not-leak".into()),
        _ => None,
    })
    .expect("config");
    let s = TestServer::start_config(config, conf).await;
    let c = s.admin().await;

    // The same data as the local copies.
    let local = TestServer::tpch().await;
    let lc = local.admin().await;
    for (remote, local_sql) in [
        (
            "SELECT count(*), sum(c_custkey) FROM remote.customer",
            "SELECT count(*), sum(c_custkey) FROM sales.customer",
        ),
        (
            "SELECT n_regionkey, count(*) FROM remote.nation GROUP BY 1 ORDER BY 1",
            "SELECT n_regionkey, count(*) FROM geo.nation GROUP BY 1 ORDER BY 1",
        ),
    ] {
        let a = c
            .simple_query(remote)
            .await
            .unwrap_or_else(|e| panic!("{remote}: {e:?}"));
        let b = lc.simple_query(local_sql).await.unwrap();
        let rows = |m: &[tokio_postgres::SimpleQueryMessage]| {
            m.iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                        (0..r.len())
                            .map(|i| r.get(i).map(str::to_string))
                            .collect::<Vec<_>>(),
                    ),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(&a), rows(&b), "{remote}");
        assert!(!rows(&a).is_empty());
    }
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM remote.nation WHERE n_regionkey = 2",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
    // Scans of S3 files are placed in their domain by bucket and prefix (see audit/scan.rs).
    assert!(
        s.shared.metrics.bytes_scanned("remote") > 0,
        "bytes read from the S3 domain are counted"
    );
    assert_eq!(
        s.shared
            .metrics
            .bytes_scanned(meshgate::audit::scan::UNATTRIBUTED),
        0
    );

    // A table that is not there: a clear error naming the table, no storage details or secrets.
    let e = c
        .simple_query("SELECT * FROM remote.missing")
        .await
        .unwrap_err();
    let msg = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("remote.missing"), "{msg}");
    for secret in [
        "test-secret-key-do-not-leak",
        "test-access-key",
        "127.0.0.1",
        "s3://",
    ] {
        assert!(!msg.contains(secret), "error leaks {secret}: {msg}");
    }
}
