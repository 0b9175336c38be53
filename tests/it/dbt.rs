//! dbt-postgres against meshgate, reading: the dbt project in tests/dbt/ (sources over the TPC-H
//! mesh, source tests, an ephemeral model) driven by the real `dbt` CLI of the Python that runs
//! the client suites (tests/requirements.txt pins dbt-core and dbt-postgres).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{code, tpch, TestServer, ANALYST, SALES_ANALYST};

/// Copies tests/dbt/ to a fresh directory, so dbt's target/ and logs/ stay out of the source tree
/// and concurrent tests do not share them.
fn project_copy() -> tempfile::TempDir {
    project_copy_of("tests/dbt")
}

/// Copies a dbt project of the repository (`tests/…`) to a fresh directory.
pub(crate) fn project_copy_of(rel: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("create project dir");
        for entry in std::fs::read_dir(from).expect("read tests/dbt") {
            let entry = entry.expect("directory entry");
            let name = entry.file_name();
            if name == "target" || name == "logs" {
                continue;
            }
            let (src, dst) = (entry.path(), to.join(&name));
            if entry.file_type().expect("file type").is_dir() {
                copy(&src, &dst);
            } else {
                std::fs::copy(&src, &dst).expect("copy project file");
            }
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("meshgate-dbt")
        .tempdir()
        .expect("tempdir");
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join(rel), dir.path());
    dir
}

pub(crate) struct Dbt {
    pub(crate) output: std::process::Output,
}

impl Dbt {
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "{}\n--- stdout\n{}\n--- stderr\n{}",
            self.output.status,
            self.stdout(),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}

/// Runs `dbt <args>` in `project` as `user` against `s`. The profile reads everything from the
/// environment (tests/dbt/profiles.yml).
pub(crate) async fn dbt(s: &TestServer, project: &Path, user: (&str, &str), args: &[&str]) -> Dbt {
    dbt_at(s.addr.port(), project, user, args).await
}

/// As [`dbt`], against a server listening on `port` of 127.0.0.1.
pub(crate) async fn dbt_at(port: u16, project: &Path, user: (&str, &str), args: &[&str]) -> Dbt {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    // dbt's console script is `dbt.cli.main:cli`; calling it from the chosen Python does not
    // depend on where pip put the script.
    let output = tokio::process::Command::new(&python)
        .args(["-c", "from dbt.cli.main import cli; cli()"])
        .args(args)
        .current_dir(project)
        .env("DBT_PROFILES_DIR", project)
        .env("MESHGATE_HOST", "127.0.0.1")
        .env("MESHGATE_PORT", port.to_string())
        .env("MESHGATE_USER", user.0)
        .env("MESHGATE_PASSWORD", user.1)
        .env("MESHGATE_SSLMODE", "disable")
        // No calls home: usage statistics and the version check reach for the network.
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("DBT_VERSION_CHECK", "false")
        .env("DO_NOT_TRACK", "1")
        .env("NO_COLOR", "1")
        .env("DBT_USE_COLORS", "false")
        .kill_on_drop(true)
        .output()
        .await
        .expect("python runs dbt (dbt-core and dbt-postgres come from tests/requirements.txt)");
    Dbt { output }
}

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Descriptions of a domain file's tables: table name → (description, column → description).
fn domain_descriptions(domain: &str) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
    let text = std::fs::read_to_string(tpch().domains_dir.join(format!("{domain}.toml")))
        .expect("fixture wrote the domain file");
    let d: toml::Value = toml::from_str(&text).expect("domain file is TOML");
    let mut out = BTreeMap::new();
    for t in d["products"][0]["tables"].as_array().expect("tables") {
        let cols = t
            .get("columns")
            .and_then(|c| c.as_table())
            .map(|c| {
                c.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().expect("column description").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert(
            t["name"].as_str().expect("name").to_string(),
            (
                t["description"].as_str().expect("description").to_string(),
                cols,
            ),
        );
    }
    out
}

/// PostgreSQL's `format_type` name for the type a query over the table returns.
fn type_name(t: &tokio_postgres::types::Type) -> &'static str {
    use tokio_postgres::types::Type;
    match *t {
        Type::INT8 => "bigint",
        Type::INT4 => "integer",
        Type::INT2 => "smallint",
        Type::NUMERIC => "numeric",
        Type::DATE => "date",
        Type::TEXT => "text",
        Type::VARCHAR => "character varying",
        Type::FLOAT8 => "double precision",
        Type::BOOL => "boolean",
        _ => panic!("no expectation for column type {t}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbt_reads_sources_runs_source_tests_and_generates_docs() {
    let s = TestServer::tpch().await;
    let project = project_copy();
    let p = project.path();

    let r = dbt(&s, p, ANALYST, &["debug"]).await;
    assert!(r.output.status.success(), "dbt debug: {}", r.describe());
    assert!(
        r.stdout().contains("All checks passed"),
        "dbt debug: {}",
        r.describe()
    );

    let r = dbt(&s, p, ANALYST, &["parse"]).await;
    assert!(r.output.status.success(), "dbt parse: {}", r.describe());
    let manifest = read_json(p.join("target/manifest.json"));
    let declared: Vec<String> = manifest["nodes"]
        .as_object()
        .expect("manifest nodes")
        .iter()
        .filter(|(_, n)| n["resource_type"] == "test")
        .map(|(id, _)| id.clone())
        .collect();
    for kind in ["not_null", "unique", "accepted_values", "relationships"] {
        assert!(
            declared
                .iter()
                .any(|id| id.contains(&format!("source_{kind}_"))),
            "no {kind} source test in {declared:?}"
        );
    }

    // Every source test passes: each is a query over a mesh table inside BEGIN … ROLLBACK.
    let r = dbt(&s, p, ANALYST, &["test"]).await;
    assert!(r.output.status.success(), "dbt test: {}", r.describe());
    let results = read_json(p.join("target/run_results.json"));
    let results = results["results"].as_array().expect("run results");
    let passed: Vec<&str> = results
        .iter()
        .filter(|x| x["status"] == "pass")
        .map(|x| x["unique_id"].as_str().expect("unique_id"))
        .collect();
    assert_eq!(
        passed.len(),
        declared.len(),
        "passed {passed:?} of {declared:?}:\n{}",
        r.describe()
    );
    assert_eq!(results.len(), declared.len());

    // The ephemeral model is inlined into `dbt show`'s query: orders per nation, from the mesh.
    let r = dbt(
        &s,
        p,
        ANALYST,
        &[
            "show",
            "--select",
            "orders_by_nation",
            "--limit",
            "100",
            "--output",
            "json",
            "--log-format",
            "json",
        ],
    )
    .await;
    assert!(r.output.status.success(), "dbt show: {}", r.describe());
    let preview: Vec<Value> = r
        .stdout()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["info"]["name"] == "ShowNode")
        .and_then(|e| serde_json::from_str(e["data"]["preview"].as_str()?).ok())
        .unwrap_or_else(|| panic!("dbt show printed no preview: {}", r.describe()));
    let c = s
        .connect_as(ANALYST.0, ANALYST.1)
        .await
        .expect("analyst connects");
    let nations = c
        .query_one("SELECT count(*) FROM geo.nation", &[])
        .await
        .expect("count nations")
        .get::<_, i64>(0);
    let orders = c
        .query_one("SELECT count(*) FROM sales.orders", &[])
        .await
        .expect("count orders")
        .get::<_, i64>(0);
    assert_eq!(
        preview.len() as i64,
        nations,
        "one row per nation: {preview:?}"
    );
    assert_eq!(
        preview
            .iter()
            .map(|row| row["orders"].as_i64().expect("orders is a number"))
            .sum::<i64>(),
        orders
    );

    // `dbt docs generate` reads the catalog: tables and columns with the domain files'
    // descriptions as comments, and the types a query returns.
    let r = dbt(&s, p, ANALYST, &["docs", "generate"]).await;
    assert!(
        r.output.status.success(),
        "dbt docs generate: {}",
        r.describe()
    );
    assert!(
        !r.stdout().contains("Encountered an error"),
        "dbt docs generate: {}",
        r.describe()
    );
    let catalog = read_json(p.join("target/catalog.json"));
    assert!(
        catalog["errors"].is_null(),
        "catalog errors: {}",
        catalog["errors"]
    );
    let sources = catalog["sources"].as_object().expect("catalog sources");
    let mut seen = Vec::new();
    for (domain, tables) in [
        ("sales", &["orders", "customer", "lineitem"][..]),
        ("geo", &["nation", "region"][..]),
    ] {
        let described = domain_descriptions(domain);
        for table in tables {
            let entry = &sources[&format!("source.mesh_reading.{domain}.{table}")];
            let (table_desc, col_descs) = &described[*table];
            assert_eq!(entry["metadata"]["schema"], *domain);
            assert_eq!(entry["metadata"]["name"], **table);
            assert_eq!(entry["metadata"]["type"], "BASE TABLE");
            assert_eq!(
                entry["metadata"]["comment"].as_str(),
                Some(table_desc.as_str()),
                "{domain}.{table}"
            );
            let columns = entry["columns"].as_object().expect("catalog columns");
            let returned = c
                .prepare(&format!("SELECT * FROM {domain}.{table}"))
                .await
                .expect("prepare");
            assert_eq!(
                columns.len(),
                returned.columns().len(),
                "{domain}.{table} columns: {columns:?}"
            );
            for (i, col) in returned.columns().iter().enumerate() {
                let got = &columns[col.name()];
                assert_eq!(
                    got["index"].as_i64(),
                    Some(i as i64 + 1),
                    "{domain}.{table}.{}",
                    col.name()
                );
                let ty = got["type"].as_str().expect("column type");
                assert_eq!(
                    ty.split('(').next(),
                    Some(type_name(col.type_())),
                    "{domain}.{table}.{}",
                    col.name()
                );
                if let Some(d) = col_descs.get(col.name()) {
                    assert_eq!(
                        got["comment"].as_str(),
                        Some(d.as_str()),
                        "{domain}.{table}.{}",
                        col.name()
                    );
                }
            }
            seen.push(format!("{domain}.{table}"));
        }
    }
    assert_eq!(seen.len(), 5);
    // Decimal precision and scale survive into the catalog.
    assert_eq!(
        sources["source.mesh_reading.sales.orders"]["columns"]["o_totalprice"]["type"],
        "numeric(15,2)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbt_test_without_grant_reports_permission_denied() {
    let s = TestServer::tpch().await;
    let project = project_copy();
    let p = project.path();

    // dave holds `analyst` only: the supply product is not his to read.
    let r = dbt(&s, p, SALES_ANALYST, &["test", "--select", "source:supply"]).await;
    // dbt's exit code 1 is "the run finished with failures"; 2 would be dbt itself failing.
    assert_eq!(
        r.output.status.code(),
        Some(1),
        "dbt test as dave: {}",
        r.describe()
    );
    assert!(!r.stdout().contains("Traceback"), "{}", r.describe());
    let results = read_json(p.join("target/run_results.json"));
    let results = results["results"].as_array().expect("run results");
    assert!(!results.is_empty(), "no supply tests ran: {}", r.describe());
    for x in results {
        assert_eq!(x["status"], "error", "{x}");
        let msg = x["message"].as_str().expect("message");
        assert!(
            msg.contains("permission denied for table supply.part"),
            "{msg}"
        );
    }

    // dbt shows the message, not the SQLSTATE: the statement it compiled gets 42501.
    let compiled = results[0]["compiled_code"].as_str().expect("compiled code");
    let c = s
        .connect_as(SALES_ANALYST.0, SALES_ANALYST.1)
        .await
        .expect("dave connects");
    let e = c
        .simple_query(compiled)
        .await
        .expect_err("dave may not read supply.part");
    assert_eq!(code(&e), "42501", "{e:?}");
}
