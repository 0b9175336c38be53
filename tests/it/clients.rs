//! Python client libraries against meshgate over the TPC-H mesh: each suite in tests/clients/ is
//! a script that drives one real driver and exits non-zero at the first wrong answer.

use crate::harness::{tpch, TestServer, ADMIN, ANALYST, REGIONAL, SALES_ANALYST};

/// Descriptions the domain file gives sales.orders and its columns: what catalog clients must show.
fn orders_descriptions() -> serde_json::Value {
    let text = std::fs::read_to_string(tpch().domains_dir.join("sales.toml")).expect("fixture wrote sales.toml");
    let domain: toml::Value = toml::from_str(&text).expect("sales.toml is TOML");
    let orders = domain["products"][0]["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"].as_str() == Some("orders"))
        .expect("orders table");
    let mut d = serde_json::Map::new();
    d.insert("orders".into(), orders["description"].as_str().expect("orders description").into());
    for (col, desc) in orders["columns"].as_table().expect("column descriptions") {
        d.insert(col.clone(), desc.as_str().expect("column description").into());
    }
    serde_json::Value::Object(d)
}

/// Runs `tests/clients/<suite>_suite.py` against a fresh server as the non-admin user.
async fn run_suite(suite: &str) {
    let s = TestServer::tpch().await;
    let params = serde_json::json!({
        "host": "127.0.0.1",
        "port": s.addr.port(),
        "user": ANALYST.0,
        "admin_user": ADMIN.0,
        "admin_password": ADMIN.1,
        "password": ANALYST.1,
        "sales_user": SALES_ANALYST.0,
        "sales_password": SALES_ANALYST.1,
        "regional_user": REGIONAL.0,
        "regional_password": REGIONAL.1,
        "dbname": "mesh",
        "descriptions": orders_descriptions(),
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let out = tokio::process::Command::new(&python)
        .arg(dir.join(format!("{suite}_suite.py")))
        .arg(params.to_string())
        .current_dir(&dir)
        .kill_on_drop(true)
        .output()
        .await
        .expect("python3 runs (the drivers come from tests/requirements.txt)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{suite} suite failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}", out.status);
    assert!(stdout.contains("checks passed"), "{suite} suite ended without its summary:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_policy_visibility() {
    run_suite("policy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_psycopg2() {
    run_suite("psycopg2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_psycopg3() {
    run_suite("psycopg").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_asyncpg() {
    run_suite("asyncpg").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sqlalchemy_inspector() {
    run_suite("sqlalchemy").await;
}
