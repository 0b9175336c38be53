//! Client libraries against meshgate over the TPC-H mesh: each suite in tests/clients/ is a
//! program (Python scripts, one Java file for pgjdbc) that drives one real driver and exits
//! non-zero at the first wrong answer.

use crate::harness::{tpch, TestServer, ADMIN, ANALYST, REGIONAL, SALES_ANALYST};

/// Descriptions the domain file gives sales.orders and its columns: what catalog clients must show.
fn orders_descriptions() -> serde_json::Value {
    let text = std::fs::read_to_string(tpch().domains_dir.join("sales.toml"))
        .expect("fixture wrote sales.toml");
    let domain: toml::Value = toml::from_str(&text).expect("sales.toml is TOML");
    let orders = domain["products"][0]["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"].as_str() == Some("orders"))
        .expect("orders table");
    let mut d = serde_json::Map::new();
    d.insert(
        "orders".into(),
        orders["description"]
            .as_str()
            .expect("orders description")
            .into(),
    );
    for (col, desc) in orders["columns"].as_table().expect("column descriptions") {
        d.insert(
            col.clone(),
            desc.as_str().expect("column description").into(),
        );
    }
    serde_json::Value::Object(d)
}

/// Connection parameters a suite gets as its one JSON argument: the analyst it mainly runs as,
/// the admin, and the users the policies narrow (regional: filtered and masked; sales analyst:
/// no supply product).
fn suite_params(s: &TestServer) -> serde_json::Value {
    serde_json::json!({
        "host": "127.0.0.1",
        "port": s.addr.port(),
        "user": ANALYST.0,
        "password": ANALYST.1,
        "admin_user": ADMIN.0,
        "admin_password": ADMIN.1,
        "regional_user": REGIONAL.0,
        "regional_password": REGIONAL.1,
        "sales_analyst_user": SALES_ANALYST.0,
        "sales_analyst_password": SALES_ANALYST.1,
        "dbname": "mesh",
        "descriptions": orders_descriptions(),
    })
}

/// Runs a client suite (`program args… '<json>'` in tests/clients/) and asserts it passed.
pub(crate) async fn run_client(
    name: &str,
    program: &str,
    args: &[String],
    params: serde_json::Value,
) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let out = tokio::process::Command::new(program)
        .args(args)
        .arg(params.to_string())
        .current_dir(&dir)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("{program} runs the {name} suite (see tests/requirements.txt and .ci/run): {e}")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} suite failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("checks passed"),
        "{name} suite ended without its summary:\n{stdout}"
    );
}

/// Runs `tests/clients/<suite>_suite.py` against a fresh server as the non-admin user.
async fn run_suite(suite: &str) {
    let s = TestServer::tpch().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let script = dir.join(format!("{suite}_suite.py")).display().to_string();
    run_client(suite, &python, &[script], suite_params(&s)).await;
}

/// pgjdbc (Metabase, Tableau, DBeaver) through the JDK's single-file source launcher, with the
/// driver jar of Debian's libpostgresql-jdbc-java (`PGJDBC_JAR` and `JAVA` override them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_pgjdbc() {
    let s = TestServer::tpch().await;
    let jar = std::env::var("PGJDBC_JAR")
        .unwrap_or_else(|_| "/usr/share/java/postgresql.jar".to_string());
    assert!(
        std::path::Path::new(&jar).exists(),
        "pgjdbc jar {jar} missing: apt-get install libpostgresql-jdbc-java (.ci/run does)"
    );
    let java = std::env::var("JAVA").unwrap_or_else(|_| "java".to_string());
    let args = ["-cp".to_string(), jar, "PgjdbcSuite.java".to_string()];
    run_client("pgjdbc", &java, &args, suite_params(&s)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_policy_visibility() {
    run_suite("policy").await;
}

/// pgcli's completion engine (its catalog queries through psycopg 3, with a list parameter
/// bound untyped) and its `\dt`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_pgcli() {
    run_suite("pgcli").await;
}

/// Apache Superset as a new user sets it up, through its REST API in-process: connect, list
/// schemas and tables, read a table's metadata, add a dataset, run charts' queries over a time
/// range and a SQL Lab query.
/// Its own virtualenv (tests/requirements-superset.txt, installed by .ci/run): Superset pins
/// SQLAlchemy 1.4. `SUPERSET_PYTHON` overrides /opt/meshgate-superset/bin/python.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_superset() {
    let s = TestServer::tpch().await;
    let python = std::env::var("SUPERSET_PYTHON")
        .unwrap_or_else(|_| "/opt/meshgate-superset/bin/python".to_string());
    assert!(
        std::path::Path::new(&python).exists(),
        "{python} missing: python3 -m venv /opt/meshgate-superset && \
         /opt/meshgate-superset/bin/pip install -r tests/requirements-superset.txt (.ci/run does)"
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients/superset_suite.py")
        .display()
        .to_string();
    let mut params = suite_params(&s);
    // The answers come from the baseline Parquet copy, read without meshgate.
    params["baseline_dir"] = tpch().baseline_dir.display().to_string().into();
    run_client("superset", &python, &[script], params).await;
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
