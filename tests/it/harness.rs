//! Starts meshgate in-process on an ephemeral port over real fixtures, and connects real clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use meshgate::auth::ScramVerifier;
use meshgate::server::Server;
use meshgate::Config;

pub const ADMIN: (&str, &str) = ("alice", "alice-pw");
/// Holds `analyst` and `buyer`: reads every product of the TPC-H mesh, unfiltered.
pub const ANALYST: (&str, &str) = ("bob", "bob-pw");
/// Holds `regional` (region EUROPE): European customers only, phone numbers masked.
pub const REGIONAL: (&str, &str) = ("carol", "carol-pw");
/// Holds `analyst` only: no supply product.
pub const SALES_ANALYST: (&str, &str) = ("dave", "dave-pw");

/// The TPC-H mesh written by meshgate's demo generator (Delta, Iceberg via a SQL catalog,
/// Parquet with hive partitions), generated once per test run.
pub struct TpchFixture {
    pub dir: PathBuf,
    pub domains_dir: PathBuf,
    pub baseline_dir: PathBuf,
}

pub const TPCH_SF: f64 = 0.01;

pub fn tpch() -> &'static TpchFixture {
    static FIX: OnceLock<TpchFixture> = OnceLock::new();
    FIX.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("meshgate-tpch")
            .tempdir()
            .expect("tempdir")
            .keep();
        let d2 = dir.clone();
        // Its own runtime on its own thread: the caller may be inside a runtime already.
        let layout = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(meshgate_demo::generate(&meshgate_demo::DemoOptions {
                dir: d2,
                scale_factor: TPCH_SF,
            }))
        })
        .join()
        .expect("generator thread")
        .expect("TPC-H fixture generation");
        TpchFixture {
            domains_dir: layout.conf_dir.join("domains"),
            baseline_dir: layout.baseline_dir,
            dir,
        }
    })
}

/// The domain files of the fixture's tables all in one format (see
/// `meshgate_demo::generate_copy`), written once per test run.
pub fn tpch_copy(format: meshgate_demo::TableFormat) -> PathBuf {
    static COPIES: std::sync::Mutex<Vec<(meshgate_demo::TableFormat, PathBuf)>> =
        std::sync::Mutex::new(Vec::new());
    let mut copies = COPIES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, dir)) = copies.iter().find(|(f, _)| *f == format) {
        return dir.clone();
    }
    let dir = tpch().dir.clone();
    // Its own runtime on its own thread: the caller may be inside a runtime already.
    let domains = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let layout = meshgate_demo::generate(&meshgate_demo::DemoOptions {
                dir,
                scale_factor: TPCH_SF,
            })
            .await?;
            meshgate_demo::generate_copy(&layout, format).await
        })
    })
    .join()
    .expect("generator thread")
    .expect("TPC-H copy generation");
    copies.push((format, domains.clone()));
    domains
}

/// Writes a meshgate.toml with the test users and the demo's roles over `domains_dir` plus
/// `extra` server keys (`metadata_refresh_secs` is 0 unless they set it).
pub fn write_config(dir: &Path, domains_dir: &Path, extra_server: &str) -> PathBuf {
    let users = [
        (ADMIN, "admin = true"),
        (ANALYST, "roles = [\"analyst\", \"buyer\"]"),
        (
            REGIONAL,
            "roles = [\"regional\"]\nattributes = { region = \"EUROPE\" }",
        ),
        (SALES_ANALYST, "roles = [\"analyst\"]"),
    ]
    .iter()
    .map(|((u, p), extra)| {
        format!(
            "[[users]]\nname = \"{u}\"\npassword = \"{}\"\n{extra}\n",
            ScramVerifier::generate(p, 4096)
        )
    })
    .collect::<Vec<_>>()
    .join("\n");
    // Every statement sees the newest commit, unless the test sets its own refresh.
    let refresh = if extra_server.contains("metadata_refresh_secs") {
        ""
    } else {
        "metadata_refresh_secs = 0\n"
    };
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{refresh}{extra_server}\n\n{users}\n{}\n[domains]\ndir = \"{}\"\n",
        meshgate_demo::ROLES_TOML,
        domains_dir.display()
    );
    let path = dir.join("meshgate.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub shared: Arc<Server>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl TestServer {
    /// A server over the TPC-H fixture.
    pub async fn tpch() -> TestServer {
        let fx = tpch();
        Self::start_with(&fx.domains_dir, "").await
    }

    pub async fn start_with(domains_dir: &Path, extra_server: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_config(dir.path(), domains_dir, extra_server);
        let config = Config::load(&path).expect("config loads");
        Self::start_config(config, dir).await
    }

    pub async fn start_config(config: Config, dir: tempfile::TempDir) -> TestServer {
        init_logging();
        meshgate::tls::install_crypto_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Server::new(config).expect("server state");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s2 = shared.clone();
        let served = tokio::spawn(async move {
            meshgate::serve_with(listener, s2, async {
                let _ = rx.await;
            })
            .await
        });
        TestServer {
            addr,
            shared,
            stop: Some(tx),
            served: Some(served),
            _dir: dir,
        }
    }

    /// Starts the shutdown (as SIGTERM does).
    pub fn begin_shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Waits until `serve` has returned (drained).
    pub async fn stopped(&mut self) {
        if let Some(h) = self.served.take() {
            h.await.expect("serve task ends without panicking");
        }
    }

    pub fn conn_string(&self, user: &str, password: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname=mesh",
            self.addr.port()
        )
    }

    pub async fn connect_as(
        &self,
        user: &str,
        password: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, conn) =
            tokio_postgres::connect(&self.conn_string(user, password), tokio_postgres::NoTls)
                .await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    pub async fn admin(&self) -> tokio_postgres::Client {
        self.connect_as(ADMIN.0, ADMIN.1)
            .await
            .expect("admin connects")
    }
}

/// Server logs go to the test's captured output, shown when a test fails.
fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            // MESHGATE_TEST_LOG=meshgate::statements=debug records what clients send (corpus capture).
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                std::env::var("MESHGATE_TEST_LOG")
                    .unwrap_or_else(|_| "warn,meshgate=info".to_string()),
            ))
            .with_test_writer()
            .try_init();
    });
}

/// Waits until `cond` holds, checking every few milliseconds, for at most `within`. Tests use it
/// to wait for a state the server exposes (a slot freed, a query running), never a fixed sleep.
pub async fn wait_for(what: &str, within: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A client whose connection outcome can be awaited (how the server ended the session).
pub async fn connect_watched(
    conn_string: &str,
) -> Result<
    (
        tokio_postgres::Client,
        tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
    ),
    tokio_postgres::Error,
> {
    let (client, conn) = tokio_postgres::connect(conn_string, tokio_postgres::NoTls).await?;
    Ok((client, tokio::spawn(conn)))
}

/// The SQLSTATE of a failed call.
pub fn code(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no sqlstate: {e}"))
}

/// The rows of a simple-protocol statement as PostgreSQL's text (None for NULL); the statement
/// must succeed.
pub async fn rows(c: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    c.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e} {:?}", e.as_db_error()))
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}
