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
