//! The `meshgate` command itself: `check` on the shipped examples and on broken files, `passwd`.

use std::io::Write;
use std::process::{Command, Stdio};

fn meshgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshgate"))
}

#[test]
fn check_accepts_the_shipped_configuration() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/meshgate.toml");
    let out = meshgate()
        .args(["check", "--config", conf])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ok (4 domains"), "{text}");
}

#[test]
fn check_names_file_key_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("domains")).unwrap();
    std::fs::write(
        dir.path().join("meshgate.toml"),
        "[server]\nlisten = \"127.0.0.1:5433\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("domains/sales.toml"),
        "name = \"sales\"\n[storage]\nroot = \"data\"\n[[products]]\nname = \"sales\"\n[[products.tables]]\nname = \"orders\"\nformat = \"csv\"\nlocation = \"orders\"\n",
    )
    .unwrap();
    let out = meshgate()
        .args(["check", "--config"])
        .arg(dir.path().join("meshgate.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("domains/sales.toml"), "{err}");
    assert!(err.contains("products[0].tables[0].format"), "{err}");
    assert!(err.contains("\"csv\" is not a format"), "{err}");
}

#[test]
fn passwd_prints_a_verifier_that_checks_the_password() {
    let mut child = meshgate()
        .arg("passwd")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let v = meshgate::auth::ScramVerifier::parse(line.trim()).expect("a verifier");
    assert!(v.verify_password("correct horse"));
    assert!(!v.verify_password("correct horse\n"));
}

/// What the container image does (deploy/Dockerfile): the demo mesh generated ahead with
/// `--prepare-only` and its password removed; the container's `meshgate demo` then serves the
/// prepared files without generating them again, under a fresh password it prints.
#[tokio::test]
async fn a_demo_prepared_ahead_serves_at_once_under_a_fresh_password() {
    use tokio::io::AsyncBufReadExt;

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let args = [
        "demo".to_string(),
        "--dir".into(),
        dir.path().display().to_string(),
        "--scale-factor".into(),
        crate::harness::TPCH_SF.to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--http-listen".into(),
        "127.0.0.1:0".into(),
    ];
    let out = meshgate()
        .args(&args)
        .arg("--prepare-only")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password_file = dir.path().join("demo-password");
    let built_password = std::fs::read_to_string(&password_file).unwrap();
    std::fs::remove_file(&password_file).unwrap();
    let lineitem = files_under(&dir.path().join("data"), "lineitem");
    assert!(!lineitem.is_empty(), "no lineitem files were prepared");
    let written: Vec<_> = lineitem.iter().map(|p| modified(p)).collect();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The banner is printed once the port listens; it carries the password.
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let password = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the demo ended before printing its banner");
        if let Some(rest) = line.trim().strip_prefix("PGPASSWORD=") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    assert_ne!(
        password,
        built_password.trim(),
        "the password was not made afresh"
    );
    assert_eq!(
        std::fs::read_to_string(&password_file).unwrap().trim(),
        password
    );
    let client = crate::writes::connect_port(port, ("demo", &password)).await;
    let sql = "SELECT count(*)::int8, sum(l_quantity)::text FROM sales.lineitem";
    let got = client.query_one(sql, &[]).await.unwrap();
    let reference = crate::reference::reference().connect().await;
    let want = reference.query_one(sql, &[]).await.unwrap();
    assert_eq!(
        (got.get::<_, i64>(0), got.get::<_, String>(1)),
        (want.get::<_, i64>(0), want.get::<_, String>(1))
    );
    let served: Vec<_> = lineitem.iter().map(|p| modified(p)).collect();
    assert_eq!(written, served, "the demo generated its files again");
    assert!(
        tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={port} user=demo password={} dbname=mesh",
                built_password.trim()
            ),
            tokio_postgres::NoTls,
        )
        .await
        .is_err(),
        "the build-time password still logs in"
    );
    child.kill().await.unwrap();
}

/// Data files whose path mentions `table`, under `root`.
fn files_under(root: &std::path::Path, table: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet")
                && p.display().to_string().contains(table)
            {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

fn modified(p: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}
