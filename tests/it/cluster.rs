//! Statements offloaded to an Apache DataFusion Ballista cluster: a scheduler and two executors
//! on 127.0.0.1, started inside the test (as Ballista's own tests do) and once as real
//! `meshgate scheduler` / `meshgate executor` processes. Answers are compared with the
//! reference PostgreSQL holding the same TPC-H rows; the audit event of each statement says
//! whether it ran on the cluster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use std::io::Write as _;

use serde_json::Value;
use tokio_postgres::SimpleQueryMessage;

use crate::audit::wait_events;
use crate::harness::*;
use crate::ports::free_port;
use crate::tpch::{assert_all_match, compare_all, compare_queries};

/// A scheduler and two executors in this process, for the domains of `config`.
async fn in_process_cluster(config: &Path) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind scheduler");
    let scheduler = meshgate::cluster::start_scheduler(listener, meshgate::cluster::Tasks::Pull)
        .await
        .expect("scheduler starts");
    let config = meshgate::Config::load(config).expect("config loads");
    for _ in 0..2 {
        meshgate::cluster::start_executor_in_process(&config, scheduler, 2)
            .await
            .expect("executor starts");
    }
    scheduler
}

/// A meshgate configuration over `domains` whose `[cluster]` names `scheduler`, with the audit
/// written to `audit`.
fn cluster_section(scheduler: &str, mode: &str, audit: &Path) -> String {
    cluster_section_with(scheduler, mode, "", audit)
}

fn cluster_section_with(scheduler: &str, mode: &str, extra: &str, audit: &Path) -> String {
    format!(
        "\n[cluster]\nscheduler = \"{scheduler}\"\nmode = \"{mode}\"\n{extra}\n[audit]\nsink = \"file\"\npath = \"{}\"\n",
        audit.display()
    )
}

/// The audit events of statements whose text contains `needle`.
fn events_of<'a>(events: &'a [Value], needle: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["statement"].as_str().is_some_and(|s| s.contains(needle)))
        .collect()
}

/// The audit events once one of a statement containing `needle` has been written.
async fn wait_event(audit: &Path, needle: &str) -> Vec<Value> {
    wait_for(
        &format!("an audit event of {needle:?}"),
        Duration::from_secs(30),
        || !events_of(&crate::audit::read_events(audit), needle).is_empty(),
    )
    .await;
    crate::audit::read_events(audit)
}

fn ran_on_cluster(e: &Value) -> bool {
    e["cluster"].as_bool() == Some(true)
}

/// Every TPC-H query's audit event says the cluster ran it, with the bytes of its files.
async fn assert_tpch_ran_on_cluster(audit: &Path) {
    // 22 queries, each one event; SETs and the connection's own statements come on top.
    let events = wait_events(audit, 22).await;
    let selects: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["statement"]
                .as_str()
                .is_some_and(|s| s.to_ascii_lowercase().contains("from"))
                && e["outcome"] == "ok"
        })
        .collect();
    assert!(
        selects.len() >= 22,
        "{} query events: {events:?}",
        selects.len()
    );
    let local: Vec<&&Value> = selects.iter().filter(|e| !ran_on_cluster(e)).collect();
    assert!(local.is_empty(), "queries that ran locally: {local:#?}");
    for e in &selects {
        let scanned: u64 = e["bytes_scanned"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        assert!(
            scanned > 0,
            "a cluster statement counts its files' bytes: {e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_22_tpch_queries_on_an_in_process_cluster_match_postgres() {
    let fx = tpch();
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = write_config(dir.path(), &fx.domains_dir, "");
    let scheduler = in_process_cluster(&plain).await;
    let audit = dir.path().join("audit.jsonl");
    let s = TestServer::start_with(
        &fx.domains_dir,
        &cluster_section(&scheduler.to_string(), "always", &audit),
    )
    .await;
    let c = s.admin().await;
    let found = compare_all(&c, None).await;
    assert_all_match("on the cluster", &found);
    assert_tpch_ran_on_cluster(&audit).await;
    // The overhead of the loopback cluster, for the record (two cores cannot show a speed-up).
    let mut took = Vec::new();
    for placement in ["local", "cluster"] {
        c.batch_execute(&format!("SET mesh.execution = '{placement}'"))
            .await
            .unwrap();
        let started = std::time::Instant::now();
        for n in 1..=22 {
            c.simple_query(&crate::tpch::query_text(n)).await.unwrap();
        }
        took.push(started.elapsed().as_secs_f64());
    }
    let _ = writeln!(
        std::io::stderr(),
        "TPC-H SF {TPCH_SF}, 22 queries: local {:.2}s, on the in-process cluster {:.2}s",
        took[0],
        took[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_filtered_masked_user_gets_the_same_rows_on_the_cluster() {
    let fx = tpch();
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = write_config(dir.path(), &fx.domains_dir, "");
    let scheduler = in_process_cluster(&plain).await;
    let audit = dir.path().join("audit.jsonl");
    // `auto` with a threshold between the nation table's files (a few KB) and the customer
    // table's; the comparisons below choose explicitly.
    let s = TestServer::start_with(
        &fx.domains_dir,
        &cluster_section_with(
            &scheduler.to_string(),
            "auto",
            "auto_min_bytes = 20000\n",
            &audit,
        ),
    )
    .await;
    let carol = s
        .connect_as(REGIONAL.0, REGIONAL.1)
        .await
        .expect("regional user connects");
    let queries = [
        "SELECT c_custkey, c_name, c_phone, c_nationkey FROM sales.customer ORDER BY c_custkey",
        "SELECT n_name, count(*), sum(o_totalprice) FROM sales.orders \
         JOIN sales.customer ON o_custkey = c_custkey JOIN geo.nation ON c_nationkey = n_nationkey \
         GROUP BY n_name ORDER BY n_name",
    ];
    for sql in queries {
        carol
            .batch_execute("SET mesh.execution = 'local'")
            .await
            .unwrap();
        let local = rows(&carol, sql).await;
        carol
            .batch_execute("SET mesh.execution = 'cluster'")
            .await
            .unwrap();
        let remote = rows(&carol, sql).await;
        assert!(!local.is_empty(), "{sql}: the user sees rows");
        assert_eq!(remote, local, "{sql}: cluster and local rows differ");
    }
    // The policy held on the cluster: European customers only, phone numbers masked.
    let admin = s.admin().await;
    let all = rows(&admin, "SELECT count(*) FROM sales.customer").await;
    carol
        .batch_execute("SET mesh.execution = 'cluster'")
        .await
        .unwrap();
    let mine = rows(&carol, "SELECT count(*) FROM sales.customer").await;
    let (all, mine): (u64, u64) = (
        all[0][0].as_deref().unwrap().parse().unwrap(),
        mine[0][0].as_deref().unwrap().parse().unwrap(),
    );
    assert!(mine > 0 && mine < all, "filtered: {mine} of {all}");
    let phones = rows(&carol, "SELECT c_phone FROM sales.customer").await;
    let pg = crate::reference::reference().connect().await;
    let real: std::collections::BTreeSet<String> = pg
        .query("SELECT c_phone FROM sales.customer", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert!(
        phones
            .iter()
            .all(|r| !real.contains(r[0].as_deref().unwrap_or(""))),
        "no real phone number reaches the user"
    );
    // Back to `auto`: the small table is read here, the big one on the cluster.
    carol.batch_execute("RESET mesh.execution").await.unwrap();
    rows(&carol, "SELECT n_name FROM geo.nation WHERE n_name <> 'X'").await;
    rows(
        &carol,
        "SELECT c_name FROM sales.customer WHERE c_acctbal > 0",
    )
    .await;
    let events = wait_event(&audit, "WHERE c_acctbal").await;
    let auto_small = events_of(&events, "FROM geo.nation WHERE n_name");
    let auto_big = events_of(&events, "WHERE c_acctbal");
    assert!(
        auto_small.len() == 1 && !ran_on_cluster(auto_small[0]),
        "{auto_small:#?}"
    );
    assert!(
        auto_big.len() == 1 && ran_on_cluster(auto_big[0]),
        "{auto_big:#?}"
    );
    let cluster_ones = events_of(&events, "sales.customer")
        .into_iter()
        .filter(|e| e["user"] == REGIONAL.0 && ran_on_cluster(e))
        .count();
    // Two queries, the count and phones after `SET mesh.execution = 'cluster'`, and `auto`'s.
    assert_eq!(cluster_ones, 5, "{events:#?}");
    let policies = events_of(&events, "c_phone")
        .into_iter()
        .find(|e| ran_on_cluster(e))
        .map(|e| e["policies"].clone())
        .expect("an audited cluster statement");
    assert!(
        policies.as_array().is_some_and(|p| !p.is_empty()),
        "the cluster's statement names the policies it applied: {policies}"
    );
}

/// Ballista's planner turns a partitioned join with a small side into a broadcast join, the small
/// side built in every task, whatever the join's type; an outer, semi or anti join then loses
/// or repeats the rows of that side that match nothing (q13 at SF 1 lost its customers without
/// orders). At the suite's scale DataFusion already plans these joins `CollectLeft`, so the
/// gateway here is told (`[engine]`) to partition every hash join, as it does at SF 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outer_semi_and_anti_joins_planned_partitioned_keep_their_rows_on_the_cluster() {
    let fx = tpch();
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = write_config(dir.path(), &fx.domains_dir, "");
    let scheduler = in_process_cluster(&plain).await;
    let audit = dir.path().join("audit.jsonl");
    let engine = "\n[engine]\n\"datafusion.optimizer.hash_join_single_partition_threshold\" = 0\n\"datafusion.optimizer.hash_join_single_partition_threshold_rows\" = 0\n";
    let s = TestServer::start_with(
        &fx.domains_dir,
        &format!(
            "{}{engine}",
            cluster_section(&scheduler.to_string(), "always", &audit)
        ),
    )
    .await;
    let c = s.admin().await;
    let plan = rows(&c, &format!("EXPLAIN {}", crate::tpch::query_text(13)))
        .await
        .concat()
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        plan.contains("mode=Partitioned, join_type=Left"),
        "q13's outer join is planned partitioned, as at SF 1:\n{plan}"
    );
    // q13: LEFT join; q4, q20, q21: semi joins; q21, q22: anti joins; q16: NOT IN.
    let found = compare_queries(&c, None, [4, 13, 16, 20, 21, 22]).await;
    assert!(
        found.failures().is_empty(),
        "queries differ from PostgreSQL on the cluster:\n{}",
        found.failures().join("\n\n")
    );
    let events = wait_event(&audit, "custdist").await;
    let q13: Vec<&Value> = events_of(&events, "custdist")
        .into_iter()
        .filter(|e| {
            e["statement"]
                .as_str()
                .is_some_and(|s| s.starts_with("SELECT"))
        })
        .collect();
    assert!(
        !q13.is_empty() && q13.iter().all(|e| ran_on_cluster(e)),
        "q13 ran on the cluster: {q13:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_with_an_operational_source_runs_locally() {
    let fx = tpch();
    let dir = tempfile::tempdir().expect("tempdir");
    let domains = dir.path().join("domains");
    std::fs::create_dir_all(&domains).unwrap();
    for f in std::fs::read_dir(&fx.domains_dir).expect("fixture domains") {
        let f = f.expect("entry");
        std::fs::copy(f.path(), domains.join(f.file_name())).expect("copy domain file");
    }
    let db = domains.join("plant.db");
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg(
            "CREATE TABLE readings (id INTEGER PRIMARY KEY, n_nationkey INTEGER NOT NULL, value REAL);
             WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 500)
             INSERT INTO readings SELECT x, x % 25, x * 0.5 FROM g;",
        )
        .output()
        .expect("sqlite3 runs (.ci/run installs it)");
    assert!(out.status.success(), "sqlite3: {out:?}");
    std::fs::write(
        domains.join("plant.toml"),
        "name = \"plant\"\n[storage]\nroot = \".\"\n[[products]]\nname = \"plant\"\n\
         [[products.tables]]\nname = \"readings\"\nformat = \"sqlite\"\n\
         [products.tables.connection]\npath = \"plant.db\"\n",
    )
    .unwrap();
    let conf_dir = dir.path().join("conf");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let plain = write_config(&conf_dir, &domains, "");
    let scheduler = in_process_cluster(&plain).await;
    let audit = dir.path().join("audit.jsonl");
    let s = TestServer::start_with(
        &domains,
        &cluster_section(&scheduler.to_string(), "always", &audit),
    )
    .await;
    let c = s.admin().await;
    let joined = "SELECT n_name, count(*), sum(value) FROM plant.readings \
                  JOIN geo.nation USING (n_nationkey) GROUP BY n_name ORDER BY n_name";
    let got = rows(&c, joined).await;
    assert_eq!(got.len(), 25, "{got:?}");
    let counts: u64 = got
        .iter()
        .map(|r| r[1].as_deref().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counts, 500);
    // A lake-only statement of the same session still goes to the cluster (one that reads
    // the files: a bare count is answered from the files' statistics, here).
    let n = rows(&c, "SELECT count(*) FROM geo.nation WHERE n_name <> 'X'").await;
    assert_eq!(n, vec![vec![Some("25".to_string())]]);
    // EXPLAIN ANALYZE shows the metrics of a run here, where they are.
    let analyzed: String = rows(
        &c,
        "EXPLAIN ANALYZE SELECT count(*) FROM geo.nation WHERE n_name <> 'X'",
    )
    .await
    .into_iter()
    .filter_map(|r| r.get(1).cloned().flatten())
    .collect();
    assert!(analyzed.contains("output_rows=25"), "{analyzed}");
    let events = wait_events(&audit, 3).await;
    let analyze = events_of(&events, "EXPLAIN ANALYZE");
    assert!(
        analyze.len() == 1 && !ran_on_cluster(analyze[0]),
        "{analyze:#?}"
    );
    let with_source = events_of(&events, "plant.readings");
    assert_eq!(with_source.len(), 1, "{events:#?}");
    assert!(
        !ran_on_cluster(with_source[0]),
        "an operational source's node has no codec: the statement ran here"
    );
    assert!(
        events_of(&events, "FROM geo.nation WHERE")
            .iter()
            .any(|e| ran_on_cluster(e)),
        "{events:#?}"
    );
}

/// A child process, killed and reaped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn meshgate(args: &[&str]) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_meshgate"))
            .args(args)
            .env("MESHGATE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("meshgate runs"),
    )
}

/// Waits until something accepts connections on `port` (the process is up), or fails.
async fn accepting(port: u16, p: &mut Proc) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        if let Ok(Some(status)) = p.0.try_wait() {
            panic!("the process on port {port} exited: {status}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_on_meshgate_scheduler_and_executor_processes_matches_postgres() {
    let fx = tpch();
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = ProcessCluster::start(dir.path(), &fx.domains_dir, 30).await;
    let (scheduler, audit) = (&cluster.scheduler, &cluster.audit);
    let s = cluster.gateway().await;
    let c = s.admin().await;
    let found = compare_all(&c, None).await;
    assert_all_match("on meshgate scheduler and executor processes", &found);
    assert_tpch_ran_on_cluster(audit).await;

    // statement_timeout cancels the job on the cluster: the scheduler marks it cancelled (and
    // tells the executors running its tasks to stop them), and the session goes on.
    c.batch_execute("SET statement_timeout = '3s'")
        .await
        .unwrap();
    let endless =
        "SELECT count(*) FROM sales.lineitem a, sales.lineitem b WHERE a.l_comment < b.l_comment";
    let e = c.simple_query(endless).await.unwrap_err();
    assert_eq!(code(&e), "57014", "{e:?}");
    let events = wait_events(audit, 22 + 2).await;
    let job = events_of(&events, "a.l_comment < b.l_comment")
        .first()
        .and_then(|e| e["cluster_job"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("the cancelled statement names its cluster job: {events:#?}"));
    wait_cancelled(scheduler, &job, "after the statement timed out").await;
    c.batch_execute("SET statement_timeout = 0").await.unwrap();
    // The cluster runs the next statement.
    let after = tokio::time::timeout(
        Duration::from_secs(60),
        rows(
            &c,
            "SELECT count(*) FROM sales.orders WHERE o_orderstatus = 'F'",
        ),
    )
    .await
    .expect("the cluster runs the next statement");
    let pg = crate::reference::reference().connect().await;
    let want: i64 = pg
        .query_one(
            "SELECT count(*) FROM sales.orders WHERE o_orderstatus = 'F'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(after, vec![vec![Some(want.to_string())]]);
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_execution_takes_three_values() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    for v in ["local", "cluster", "auto", "LOCAL"] {
        c.batch_execute(&format!("SET mesh.execution = '{v}'"))
            .await
            .unwrap_or_else(|e| panic!("{v}: {e:?}"));
        let shown = rows(&c, "SHOW mesh.execution").await;
        assert_eq!(
            shown[0][0].as_deref(),
            Some(v.to_ascii_lowercase().as_str())
        );
    }
    let e = c
        .batch_execute("SET mesh.execution = 'everywhere'")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "22023");
    // Asked for the cluster without one configured: the statement runs here, and says so only
    // in the server's log.
    c.batch_execute("SET mesh.execution = 'cluster'")
        .await
        .unwrap();
    assert_eq!(
        rows(&c, "SELECT count(*) FROM geo.nation").await,
        vec![vec![Some("25".to_string())]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn executors_read_a_domain_on_s3_with_its_credentials() {
    let fx = tpch();
    let upload = tempfile::tempdir().unwrap();
    crate::s3::copy_dir(
        &fx.dir.join("data/sales/customer"),
        &upload.path().join("customer"),
    );
    crate::s3::copy_dir(
        &fx.dir.join("data/geo/nation"),
        &upload.path().join("nation"),
    );
    let s3 = crate::s3::start_s3("meshgate-cluster-test", upload.path(), "warehouse");
    let dir = tempfile::tempdir().unwrap();
    let domains = dir.path().join("domains");
    std::fs::create_dir_all(&domains).unwrap();
    std::fs::write(
        domains.join("remote.toml"),
        format!(
            r#"name = "remote"
[storage]
root = "s3://meshgate-cluster-test/warehouse"
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
"#,
            port = s3.port
        ),
    )
    .unwrap();
    let env = |k: &str| match k {
        "REMOTE_S3_KEY" => Some("test-access-key".to_string()),
        "REMOTE_S3_SECRET" => Some("test-secret-key-do-not-leak".to_string()),
        _ => None,
    };
    // The executors are built from the same files and environment as the gateway.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheduler = meshgate::cluster::start_scheduler(listener, meshgate::cluster::Tasks::Pull)
        .await
        .expect("scheduler starts");
    let audit = dir.path().join("audit.jsonl");
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let path = write_config(
        &conf,
        &domains,
        &cluster_section(&scheduler.to_string(), "always", &audit),
    );
    let config = meshgate::Config::load_with_env(&path, &env).expect("config");
    for _ in 0..2 {
        meshgate::cluster::start_executor_in_process(&config, scheduler, 2)
            .await
            .expect("executor starts");
    }
    let s = TestServer::start_config(config, tempfile::tempdir().unwrap()).await;
    let c = s.admin().await;
    let local = TestServer::tpch().await;
    let lc = local.admin().await;
    for (remote, local_sql) in [
        (
            "SELECT c_mktsegment, count(*), sum(c_acctbal) FROM remote.customer GROUP BY 1 ORDER BY 1",
            "SELECT c_mktsegment, count(*), sum(c_acctbal) FROM sales.customer GROUP BY 1 ORDER BY 1",
        ),
        (
            "SELECT n_regionkey, count(*) FROM remote.nation WHERE n_name <> 'X' GROUP BY 1 ORDER BY 1",
            "SELECT n_regionkey, count(*) FROM geo.nation WHERE n_name <> 'X' GROUP BY 1 ORDER BY 1",
        ),
    ] {
        let got = rows(&c, remote).await;
        assert!(!got.is_empty(), "{remote}");
        assert_eq!(got, rows(&lc, local_sql).await, "{remote}");
    }
    let events = wait_event(&audit, "FROM remote.nation").await;
    let on_s3: Vec<&Value> = events_of(&events, "FROM remote.");
    assert_eq!(on_s3.len(), 2, "{events:#?}");
    assert!(on_s3.iter().all(|e| ran_on_cluster(e)), "{on_s3:#?}");
    assert!(
        !std::fs::read_to_string(&audit)
            .unwrap()
            .contains("do-not-leak"),
        "no credential reaches the audit"
    );
}

/// The job directories an executor's work dir holds: a task of a job creates the job's
/// directory before it reads anything (its shuffle output goes there).
fn jobs_in(work_dir: &Path) -> Vec<String> {
    std::fs::read_dir(work_dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_killed_mid_query_leaves_the_gateway_answering() {
    use ballista_core::serde::protobuf::job_status::Status;
    let fx = tpch();
    let dir = tempfile::tempdir().expect("tempdir");
    let scheduler_port = free_port();
    let scheduler = format!("127.0.0.1:{scheduler_port}");
    let audit = dir.path().join("audit.jsonl");
    let config: PathBuf = write_config(
        dir.path(),
        &fx.domains_dir,
        &cluster_section(&scheduler, "always", &audit),
    );
    let config_arg = config.display().to_string();
    // An executor silent for 3 s is lost (heartbeats every second), so the test does not wait
    // the default 30 s.
    let mut sched = meshgate(&[
        "scheduler",
        "--listen",
        &scheduler,
        "--executor-timeout",
        "3",
    ]);
    accepting(scheduler_port, &mut sched).await;
    let mut executors = Vec::new();
    let mut work_dirs = Vec::new();
    for i in 0..2 {
        let (port, grpc) = (free_port(), free_port());
        let work = dir.path().join(format!("executor{i}"));
        std::fs::create_dir_all(&work).unwrap();
        let mut p = meshgate(&[
            "executor",
            "--config",
            &config_arg,
            "--port",
            &port.to_string(),
            "--grpc-port",
            &grpc.to_string(),
            "--concurrent-tasks",
            "2",
            "--heartbeat-interval",
            "1",
            "--work-dir",
            &work.display().to_string(),
        ]);
        accepting(port, &mut p).await;
        executors.push(p);
        work_dirs.push(work);
    }
    let s = TestServer::start_config(
        meshgate::Config::load(&config).expect("config loads"),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let c = s.admin().await;
    let pg = crate::reference::reference().connect().await;
    let slow =
        "SELECT count(*) FROM sales.customer a, sales.orders b WHERE a.c_comment < b.o_comment";
    let want: i64 = pg.query_one(slow, &[]).await.unwrap().get(0);

    let started = std::time::Instant::now();
    let running = tokio::spawn(async move {
        let got = c.simple_query(slow).await;
        (c, got)
    });
    // A task of the job has started on an executor: that one is killed while it runs.
    let (victim, job) = {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(found) = work_dirs
                .iter()
                .enumerate()
                .find_map(|(i, w)| jobs_in(w).into_iter().next().map(|j| (i, j)))
            {
                break found;
            }
            assert!(
                !running.is_finished(),
                "the statement ended before any task started"
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "no task of the statement started on an executor"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let mut scheduler_client =
        ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient::connect(
            format!("http://{scheduler}"),
        )
        .await
        .expect("scheduler client");
    let status = scheduler_client
        .get_job_status(ballista_core::serde::protobuf::GetJobStatusParams {
            job_id: job.clone(),
        })
        .await
        .expect("job status")
        .into_inner()
        .status
        .and_then(|s| s.status);
    assert!(
        matches!(status, Some(Status::Running(_))),
        "job {job} runs when its executor is killed: {status:?}"
    );
    executors[victim].0.kill().expect("SIGKILL the executor");
    executors[victim].0.wait().expect("reap the executor");
    let killed_at = started.elapsed();

    let (c, got) = tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("the statement ends once the executor is counted lost")
        .expect("statement task");
    let outcome = match got {
        Ok(messages) => {
            let rows: Vec<String> = messages
                .into_iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                })
                .collect();
            assert_eq!(
                rows,
                vec![want.to_string()],
                "the job's tasks ran again on the other executor"
            );
            "answered"
        }
        Err(e) => {
            let db = e.as_db_error().unwrap_or_else(|| panic!("{e:?}"));
            assert_eq!(db.code().code(), "58030", "{db:?}");
            assert!(
                db.message().contains(&job) && db.message().contains("executor"),
                "the error names the job and the lost executor: {}",
                db.message()
            );
            "failed with 58030"
        }
    };
    let _ = writeln!(
        std::io::stderr(),
        "executor killed {:.1}s into job {job}; the statement {outcome} after {:.1}s",
        killed_at.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    // The session goes on, on the cluster's surviving executor.
    let next = "SELECT count(*) FROM sales.orders WHERE o_orderstatus = 'F'";
    let want_next: i64 = pg.query_one(next, &[]).await.unwrap().get(0);
    let after = tokio::time::timeout(Duration::from_secs(60), rows(&c, next))
        .await
        .expect("the cluster runs the next statement");
    assert_eq!(after, vec![vec![Some(want_next.to_string())]]);
    let events = wait_event(&audit, "WHERE o_orderstatus").await;
    let next_events = events_of(&events, "WHERE o_orderstatus");
    assert!(
        next_events.len() == 1 && ran_on_cluster(next_events[0]),
        "{next_events:#?}"
    );
    let slow_events = events_of(&events, "a.c_comment < b.o_comment");
    assert!(
        slow_events.len() == 1
            && ran_on_cluster(slow_events[0])
            && slow_events[0]["cluster_job"].as_str() == Some(job.as_str()),
        "{slow_events:#?}"
    );
    drop(executors);
    drop(sched);
}

/// A `meshgate executor` process running `slots` tasks at once for the scheduler its
/// configuration names, heartbeating every second, its shuffle files in `work`; returned once
/// it serves (registered with the scheduler: a pushed-tasks executor registers before it
/// listens).
async fn executor_process(config: &Path, work: &Path, slots: usize) -> Proc {
    let port = free_port();
    let grpc = free_port();
    std::fs::create_dir_all(work).unwrap();
    let mut p = meshgate(&[
        "executor",
        "--config",
        &config.display().to_string(),
        "--port",
        &port.to_string(),
        "--grpc-port",
        &grpc.to_string(),
        "--concurrent-tasks",
        &slots.to_string(),
        "--heartbeat-interval",
        "1",
        "--work-dir",
        &work.display().to_string(),
    ]);
    accepting(port, &mut p).await;
    p
}

/// Waits until the scheduler reports `job` failed as cancelled (it may take a moment after the
/// statement ended); fails if it is still otherwise after 30 s.
async fn wait_cancelled(scheduler: &str, job: &str, when: &str) {
    use ballista_core::serde::protobuf::job_status::Status;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match job_status(scheduler, job).await {
            Some(Status::Failed(f)) => {
                assert!(f.error.contains("Cancelled"), "{f:?}");
                return;
            }
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "job {job} still {other:?} {when}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The scheduler's status of `job`.
async fn job_status(
    scheduler: &str,
    job: &str,
) -> Option<ballista_core::serde::protobuf::job_status::Status> {
    let mut client =
        ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient::connect(
            format!("http://{scheduler}"),
        )
        .await
        .expect("scheduler client");
    client
        .get_job_status(ballista_core::serde::protobuf::GetJobStatusParams {
            job_id: job.to_string(),
        })
        .await
        .expect("job status")
        .into_inner()
        .status
        .and_then(|s| s.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_executor_killed_fails_the_statement_with_58030_in_bounded_time() {
    use ballista_core::serde::protobuf::job_status::Status;
    let fx = tpch();
    let dir = tempfile::tempdir().expect("tempdir");
    // Executors are lost after 2 s of silence and looked for every second (a sixth of the
    // timeout, at least one); a job with none left fails one timeout later.
    let timeout_secs = 2u64;
    let check_secs = 1u64;
    let mut cluster = ProcessCluster::start(dir.path(), &fx.domains_dir, timeout_secs).await;
    let scheduler = cluster.scheduler.clone();
    let s = cluster.gateway().await;
    let c = s.admin().await;
    // Far longer than the test: only the lost executors can end it.
    let endless =
        "SELECT count(*) FROM sales.lineitem a, sales.lineitem b WHERE a.l_comment < b.l_comment";
    let running = tokio::spawn(async move {
        let got = c.simple_query(endless).await;
        (c, got)
    });
    let job = cluster.first_job(&running).await;
    assert!(
        matches!(job_status(&scheduler, &job).await, Some(Status::Running(_))),
        "job {job} runs when its executors are killed"
    );
    for p in &mut cluster.executors {
        p.0.kill().expect("SIGKILL the executor");
        p.0.wait().expect("reap the executor");
    }
    let killed = std::time::Instant::now();
    // Counted lost after the timeout (a heartbeat's second late at most, seconds being the
    // scheduler's unit, and found at the next check), then one more timeout for a replacement
    // to register; the rest is slack for a loaded machine.
    let bound = Duration::from_secs(2 * timeout_secs + 2 * check_secs + 1 + 10);
    let (c, got) = tokio::time::timeout(bound, running)
        .await
        .unwrap_or_else(|_| panic!("the statement still runs {bound:?} after every executor died"))
        .expect("statement task");
    let took = killed.elapsed();
    let e = got.expect_err("no executor can answer the statement");
    let db = e.as_db_error().unwrap_or_else(|| panic!("{e:?}"));
    assert_eq!(db.code().code(), "58030", "{db:?}");
    assert!(
        db.message().contains(&job) && db.message().contains("no executor is left"),
        "the error names the job and says no executor is left: {}",
        db.message()
    );
    match job_status(&scheduler, &job).await {
        Some(Status::Failed(f)) => assert!(f.error.contains("no executor is left"), "{f:?}"),
        other => panic!("the scheduler reports job {job} as {other:?}"),
    }
    let _ = writeln!(
        std::io::stderr(),
        "every executor killed: the statement failed {:.1}s later (executor timeout {timeout_secs}s)",
        took.as_secs_f64()
    );

    // The session goes on: a statement run here answers.
    let pg = crate::reference::reference().connect().await;
    let local =
        "SELECT count(*), max(o_custkey) FROM sales.orders WHERE o_orderdate < DATE '1995-01-01'";
    let want = rows(&pg, local).await;
    c.batch_execute("SET mesh.execution = 'local'")
        .await
        .unwrap();
    assert_eq!(rows(&c, local).await, want);

    // A fresh executor takes the next cluster statement.
    let fresh = executor_process(&cluster.config, &dir.path().join("executor2"), 2).await;
    cluster.executors.push(fresh);
    c.batch_execute("SET mesh.execution = 'cluster'")
        .await
        .unwrap();
    let next = "SELECT count(*) FROM sales.orders WHERE o_orderstatus = 'F'";
    let want_next: i64 = pg.query_one(next, &[]).await.unwrap().get(0);
    let after = tokio::time::timeout(Duration::from_secs(60), rows(&c, next))
        .await
        .expect("the fresh executor runs the next statement");
    assert_eq!(after, vec![vec![Some(want_next.to_string())]]);
    let events = wait_event(&cluster.audit, "WHERE o_orderstatus").await;
    let next_events = events_of(&events, "WHERE o_orderstatus");
    assert!(
        next_events.len() == 1 && ran_on_cluster(next_events[0]),
        "{next_events:#?}"
    );
    let local_events = events_of(&events, "max(o_custkey)");
    assert!(
        local_events.len() == 1 && !ran_on_cluster(local_events[0]),
        "{local_events:#?}"
    );
    drop(cluster);
}

/// A `meshgate scheduler` process (executors lost after `executor_timeout` seconds) and two
/// executor processes, with a configuration that sends every statement to them.
struct ProcessCluster {
    scheduler: String,
    config: PathBuf,
    audit: PathBuf,
    work_dirs: Vec<PathBuf>,
    executors: Vec<Proc>,
    _scheduler: Proc,
}

impl ProcessCluster {
    async fn start(dir: &Path, domains: &Path, executor_timeout: u64) -> ProcessCluster {
        Self::start_with(dir, domains, executor_timeout, 2).await
    }

    /// [`ProcessCluster::start`] with executors of `slots` task slots each.
    async fn start_with(
        dir: &Path,
        domains: &Path,
        executor_timeout: u64,
        slots: usize,
    ) -> ProcessCluster {
        let port = free_port();
        let scheduler = format!("127.0.0.1:{port}");
        let audit = dir.join("audit.jsonl");
        let config = write_config(dir, domains, &cluster_section(&scheduler, "always", &audit));
        let mut sched = meshgate(&[
            "scheduler",
            "--listen",
            &scheduler,
            "--executor-timeout",
            &executor_timeout.to_string(),
        ]);
        accepting(port, &mut sched).await;
        let work_dirs: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("executor{i}"))).collect();
        let mut executors = Vec::new();
        for w in &work_dirs {
            executors.push(executor_process(&config, w, slots).await);
        }
        ProcessCluster {
            scheduler,
            config,
            audit,
            work_dirs,
            executors,
            _scheduler: sched,
        }
    }

    async fn gateway(&self) -> TestServer {
        TestServer::start_config(
            meshgate::Config::load(&self.config).expect("config loads"),
            tempfile::tempdir().unwrap(),
        )
        .await
    }

    /// Runs a statement that never ends on `c`, and cancels it once a task of its job runs on
    /// an executor: the statement fails with 57014. The client and the job's id.
    async fn cancel_endless(&self, c: tokio_postgres::Client) -> (tokio_postgres::Client, String) {
        use ballista_core::serde::protobuf::job_status::Status;
        let cancel = c.cancel_token();
        let endless = "SELECT count(*) FROM sales.lineitem a, sales.lineitem b \
                       WHERE a.l_comment < b.l_comment";
        let running = tokio::spawn(async move {
            let got = c.simple_query(endless).await;
            (c, got)
        });
        let job = self.first_job(&running).await;
        assert!(
            matches!(
                job_status(&self.scheduler, &job).await,
                Some(Status::Running(_))
            ),
            "job {job} runs when the cancel is sent"
        );
        cancel
            .cancel_query(tokio_postgres::NoTls)
            .await
            .expect("the cancel request is sent");
        let (c, got) = tokio::time::timeout(Duration::from_secs(30), running)
            .await
            .expect("the cancel ends the statement")
            .expect("statement task");
        let e = got.expect_err("a cancelled statement fails");
        assert_eq!(code(&e), "57014", "{e:?}");
        (c, job)
    }

    /// The job a task of which has started on an executor (its directory appears in the
    /// executor's work dir before it reads anything), while `running` has not ended.
    async fn first_job<T>(&self, running: &tokio::task::JoinHandle<T>) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(j) = self
                .work_dirs
                .iter()
                .find_map(|w| jobs_in(w).into_iter().next())
            {
                return j;
            }
            assert!(
                !running.is_finished(),
                "the statement ended before any task started"
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "no task of the statement started on an executor"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_cancels_the_cluster_job() {
    let fx = tpch();
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = ProcessCluster::start(dir.path(), &fx.domains_dir, 30).await;
    let s = cluster.gateway().await;
    let (c, job) = cluster.cancel_endless(s.admin().await).await;
    // The scheduler reports the job cancelled (the gateway asks for that once the statement
    // has stopped reading).
    wait_cancelled(
        &cluster.scheduler,
        &job,
        "after the statement was cancelled",
    )
    .await;
    // The next statement runs, on the cluster.
    let next = "SELECT count(*) FROM sales.orders WHERE o_orderstatus = 'F'";
    let pg = crate::reference::reference().connect().await;
    let want = rows(&pg, next).await;
    let after = tokio::time::timeout(Duration::from_secs(60), rows(&c, next))
        .await
        .expect("the cluster runs the next statement");
    assert_eq!(after, want);
    wait_event(&cluster.audit, "a.l_comment < b.l_comment").await;
    let events = wait_event(&cluster.audit, "WHERE o_orderstatus").await;
    let cancelled = events_of(&events, "a.l_comment < b.l_comment");
    assert!(
        cancelled.len() == 1 && cancelled[0]["cluster_job"].as_str() == Some(job.as_str()),
        "{cancelled:#?}"
    );
    let next_events = events_of(&events, "WHERE o_orderstatus");
    assert!(
        next_events.len() == 1 && ran_on_cluster(next_events[0]),
        "{next_events:#?}"
    );
    drop(cluster);
}

/// A TCP relay to `upstream` whose answers (upstream to client) are held while `hold` says so:
/// a scheduler that has accepted a job whose answer has not reached the gateway yet.
async fn holding_relay(upstream: String, hold: tokio::sync::watch::Receiver<bool>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            });
            let mut hold = hold.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if hold.wait_for(|held| !held).await.is_err() {
                        return;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A statement cancelled after the scheduler accepted its job but before the scheduler's
/// answer (the job's id) reached the gateway: the gateway learns the id afterwards and
/// cancels the job, rather than leaving it running on the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_before_the_job_id_arrives_still_cancels_the_job() {
    let fx = tpch();
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = ProcessCluster::start(dir.path(), &fx.domains_dir, 30).await;
    let (hold, held) = tokio::sync::watch::channel(true);
    let relay = holding_relay(cluster.scheduler.clone(), held).await;
    let gateway_dir = dir.path().join("gateway");
    std::fs::create_dir_all(&gateway_dir).unwrap();
    let config = write_config(
        &gateway_dir,
        &fx.domains_dir,
        &cluster_section(&relay, "always", &gateway_dir.join("audit.jsonl")),
    );
    let s = TestServer::start_config(
        meshgate::Config::load(&config).expect("config loads"),
        tempfile::tempdir().unwrap(),
    )
    .await;
    // The job's tasks run while its id is still held back from the gateway.
    let (c, job) = cluster.cancel_endless(s.admin().await).await;
    assert!(
        matches!(
            job_status(&cluster.scheduler, &job).await,
            Some(ballista_core::serde::protobuf::job_status::Status::Running(
                _
            ))
        ),
        "job {job} still runs while its id is held back"
    );
    hold.send(false).unwrap();
    wait_cancelled(&cluster.scheduler, &job, "once its id reached the gateway").await;
    // The statement's audit event names the job, though the statement ended before its id
    // was known.
    let events = wait_event(
        &gateway_dir.join("audit.jsonl"),
        "a.l_comment < b.l_comment",
    )
    .await;
    let cancelled = events_of(&events, "a.l_comment < b.l_comment");
    assert!(
        cancelled.len() == 1 && cancelled[0]["cluster_job"].as_str() == Some(job.as_str()),
        "{cancelled:#?}"
    );
    drop(c);
    drop(cluster);
}

/// The tasks each stage of `job` ran, by stage: every task of a stage writes its output under
/// `job/stage/` in its executor's work dir, as `partition/data.arrow` (one output partition
/// per task) or `output_partition/data-task.arrow` (hash-partitioned output).
fn stage_tasks(work_dirs: &[PathBuf], job: &str) -> std::collections::BTreeMap<String, usize> {
    let mut tasks: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    let entries = |p: &Path| -> Vec<std::fs::DirEntry> {
        std::fs::read_dir(p)
            .map(|d| d.filter_map(|e| e.ok()).collect())
            .unwrap_or_default()
    };
    for w in work_dirs {
        for stage in entries(&w.join(job)) {
            let stage_name = stage.file_name().to_string_lossy().into_owned();
            for partition in entries(&stage.path()) {
                let partition_name = partition.file_name().to_string_lossy().into_owned();
                for file in entries(&partition.path()) {
                    let name = file.file_name().to_string_lossy().into_owned();
                    let task = match name.strip_prefix("data-") {
                        Some(rest) => rest.trim_end_matches(".arrow").to_string(),
                        None => partition_name.clone(),
                    };
                    tasks.entry(stage_name.clone()).or_default().insert(task);
                }
            }
        }
    }
    tasks.into_iter().map(|(s, t)| (s, t.len())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_statements_are_planned_with_the_clusters_partitions() {
    let fx = tpch();
    let dir = tempfile::tempdir().expect("tempdir");
    // Task slots that differ from this machine's cores, which plan the gateway's statements.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slots = cores + 1;
    let cluster = ProcessCluster::start_with(dir.path(), &fx.domains_dir, 30, slots).await;
    let grouped = "SELECT o_orderpriority, count(*) FROM sales.orders GROUP BY 1";
    // The audit writes the statement with its literals hidden.
    let needle = "o_orderpriority, count(*)";

    // Without `partitions`: the executors' task slots, as the scheduler says.
    let by_slots = cluster.gateway().await;
    let c = by_slots.admin().await;
    rows(&c, grouped).await;
    let events = wait_event(&cluster.audit, needle).await;
    let job = events_of(&events, needle)[0]["cluster_job"]
        .as_str()
        .unwrap_or_else(|| panic!("the statement ran on the cluster: {events:#?}"))
        .to_string();
    let tasks = stage_tasks(&cluster.work_dirs, &job);
    assert_eq!(
        tasks.values().max().copied(),
        Some(2 * slots),
        "stages of job {job} by tasks, planned for 2 executors of {slots} slots: {tasks:?}"
    );

    let _ = writeln!(
        std::io::stderr(),
        "{cores} cores here, 2 executors of {slots} slots: tasks by stage {tasks:?}"
    );

    // With `partitions` set, that many, whatever the cluster's size (and this machine's).
    let fixed = 2 * slots + 1;
    let other = tempfile::tempdir().unwrap();
    let audit = other.path().join("audit.jsonl");
    let config = write_config(
        other.path(),
        &fx.domains_dir,
        &cluster_section_with(
            &cluster.scheduler,
            "always",
            &format!("partitions = {fixed}"),
            &audit,
        ),
    );
    let set = TestServer::start_config(
        meshgate::Config::load(&config).expect("config loads"),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let c = set.admin().await;
    let pg = crate::reference::reference().connect().await;
    let mut want = rows(&pg, &format!("{grouped} ORDER BY 1")).await;
    let mut got = rows(&c, grouped).await;
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let events = wait_event(&audit, needle).await;
    let job = events_of(&events, needle)[0]["cluster_job"]
        .as_str()
        .unwrap_or_else(|| panic!("the statement ran on the cluster: {events:#?}"))
        .to_string();
    let tasks = stage_tasks(&cluster.work_dirs, &job);
    assert_eq!(
        tasks.values().max().copied(),
        Some(fixed),
        "stages of job {job} by tasks, planned with {fixed} partitions: {tasks:?}"
    );
    let _ = writeln!(
        std::io::stderr(),
        "partitions = {fixed}: tasks by stage {tasks:?}"
    );
    // Answers stay PostgreSQL's: aggregates, joins (q13's outer join reads its probe side as
    // one partition), a subquery.
    let found = compare_queries(&c, None, [1, 3, 13, 18]).await;
    assert!(
        found.failures().is_empty(),
        "TPC-H on the cluster with {fixed} partitions:\n{}",
        found.failures().join("\n\n")
    );
    drop(cluster);
}
