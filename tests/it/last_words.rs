//! Every FATAL reaches the client: a connection refused while the client is still writing (an
//! oversized statement, a startup packet over the limit) or at startup (a full server) ends with
//! the error being read, not with a reset. Clients: psql (libpq) and pgjdbc, plaintext and TLS,
//! with the default limits (4 MiB statements).

use crate::clients::run_client;
use crate::harness::{tpch, TestServer, ANALYST};
use crate::tls::make_cert;

/// A server with TLS, and one just like it with every session slot taken by `hold`.
struct Servers {
    open: TestServer,
    full: TestServer,
    _hold: Vec<tokio_postgres::Client>,
    _certs: tempfile::TempDir,
}

async fn servers() -> Servers {
    let certs = tempfile::tempdir().unwrap();
    make_cert(certs.path());
    let tls = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        certs.path().join("server.crt").display(),
        certs.path().join("server.key").display()
    );
    let open = TestServer::start_with(&tpch().domains_dir, &tls).await;
    let full = TestServer::start_with(
        &tpch().domains_dir,
        &format!("{tls}\n[limits]\nmax_connections = 2\nreserved_admin_connections = 0\n"),
    )
    .await;
    let mut hold = Vec::new();
    for _ in 0..2 {
        hold.push(full.connect_as(ANALYST.0, ANALYST.1).await.unwrap());
    }
    Servers {
        open,
        full,
        _hold: hold,
        _certs: certs,
    }
}

/// psql's exit status and stderr, with `VERBOSITY=verbose` so errors carry their SQLSTATE.
async fn psql(s: &TestServer, sslmode: &str, app: &str, args: &[&str]) -> (bool, String) {
    let conn = format!(
        "host=127.0.0.1 port={} user={} dbname=mesh sslmode={sslmode}",
        s.addr.port(),
        ANALYST.0
    );
    let out = tokio::process::Command::new("psql")
        .args([
            "-X",
            "-v",
            "VERBOSITY=verbose",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &conn,
        ])
        .args(args)
        .env("PGPASSWORD", ANALYST.1)
        .env("PGAPPNAME", app)
        .kill_on_drop(true)
        .output()
        .await
        .expect("psql runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_reads_the_fatal_error_it_is_refused_with() {
    let s = servers().await;
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.sql");
    std::fs::write(&big, format!("SELECT '{}';\n", "x".repeat(5 << 20))).unwrap();
    let big = big.display().to_string();
    let long_app = "x".repeat(12_000);
    for sslmode in ["disable", "require"] {
        let (ok, err) = psql(&s.open, sslmode, "psql", &["-f", &big]).await;
        assert!(!ok);
        assert!(
            err.contains("FATAL:  54000: message of type 'Q'"),
            "sslmode={sslmode}: {err}"
        );
        let (ok, err) = psql(&s.open, sslmode, &long_app, &["-c", "SELECT 1"]).await;
        assert!(!ok);
        assert!(
            err.contains("FATAL:  invalid length of startup packet"),
            "sslmode={sslmode}: {err}"
        );
        let (ok, err) = psql(&s.full, sslmode, "psql", &["-c", "SELECT 1"]).await;
        assert!(!ok);
        assert!(
            err.contains("FATAL:  sorry, too many clients already"),
            "sslmode={sslmode}: {err}"
        );
    }
    // The server goes on.
    let (ok, err) = psql(&s.open, "disable", "psql", &["-c", "SELECT 1"]).await;
    assert!(ok, "{err}");
}

/// pgjdbc (tests/clients/LastWords.java): the same refusals, checked by SQLSTATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_reads_the_fatal_error_it_is_refused_with() {
    let s = servers().await;
    let jar = std::env::var("PGJDBC_JAR")
        .unwrap_or_else(|_| "/usr/share/java/postgresql.jar".to_string());
    let java = std::env::var("JAVA").unwrap_or_else(|_| "java".to_string());
    let args = ["-cp".to_string(), jar, "LastWords.java".to_string()];
    let params = serde_json::json!({
        "port": s.open.addr.port(),
        "full_port": s.full.addr.port(),
        "user": ANALYST.0,
        "password": ANALYST.1,
    });
    run_client("pgjdbc last words", &java, &args, params).await;
}
