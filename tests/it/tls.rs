//! TLS: SSLRequest with rustls, `require_tls`, and the cleartext `password` method (TLS only).
//! Certificates are made by the test with the openssl command; psql is the client.

use std::path::Path;

use crate::harness::{tpch, TestServer, ADMIN};

pub(crate) fn make_cert(dir: &Path) {
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(dir.join("server.key"))
        .arg("-out")
        .arg(dir.join("server.crt"))
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn server(extra: &str) -> (TestServer, tempfile::TempDir) {
    let certs = tempfile::tempdir().unwrap();
    make_cert(certs.path());
    let extra = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n{extra}",
        certs.path().join("server.crt").display(),
        certs.path().join("server.key").display()
    );
    (
        TestServer::start_with(&tpch().domains_dir, &extra).await,
        certs,
    )
}

async fn psql(s: &TestServer, sslmode: &str, sql: &str) -> (bool, String, String) {
    let conn = format!(
        "host=127.0.0.1 port={} user={} dbname=mesh sslmode={sslmode}",
        s.addr.port(),
        ADMIN.0
    );
    let out = tokio::process::Command::new("psql")
        .args(["-X", "-At", "-d", &conn, "-c", sql])
        .env("PGPASSWORD", ADMIN.1)
        .output()
        .await
        .expect("psql runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sessions_work_and_plaintext_still_does_by_default() {
    let (s, _certs) = server("").await;
    let (ok, out, err) = psql(&s, "require", "\\conninfo").await;
    assert!(ok, "{err}");
    assert!(out.contains("SSL connection"), "not encrypted: {out}");
    let (ok, out, err) = psql(&s, "require", "SELECT count(*) FROM geo.region").await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "5");
    let (ok, out, _) = psql(&s, "disable", "SELECT 1").await;
    assert!(ok);
    assert_eq!(out.trim(), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_tls_refuses_plaintext_with_28000() {
    let (s, _certs) = server("require_tls = true").await;
    let (ok, _, err) = psql(&s, "disable", "SELECT 1").await;
    assert!(!ok);
    assert!(err.contains("TLS connections only"), "{err}");
    // tokio-postgres reports the SQLSTATE.
    let e = s.connect_as(ADMIN.0, ADMIN.1).await.unwrap_err();
    assert_eq!(crate::harness::code(&e), "28000");
    let (ok, out, err) = psql(&s, "require", "SELECT 2").await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_password_is_asked_only_over_tls() {
    let (s, _certs) = server("password_method = \"password\"").await;
    // Over TLS the server asks for the password itself; a wrong one is 28P01.
    let (ok, out, err) = psql(&s, "require", "SELECT 3").await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "3");
    let conn = format!(
        "host=127.0.0.1 port={} user={} dbname=mesh sslmode=require",
        s.addr.port(),
        ADMIN.0
    );
    let bad = tokio::process::Command::new("psql")
        .args(["-X", "-At", "-d", &conn, "-c", "SELECT 1"])
        .env("PGPASSWORD", "wrong")
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("password authentication failed"));
    // Plaintext connections still use SCRAM: tokio-postgres (no TLS) logs in.
    let c = s.admin().await;
    assert_eq!(
        c.query_one("SELECT 4::int", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        4
    );
}
