//! The real psql binary against meshgate: `-c`, several statements, `\copy (query) to stdout`.

use crate::harness::{TestServer, ADMIN};

async fn psql(s: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new("psql")
        .args([
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            &s.addr.port().to_string(),
            "-U",
            ADMIN.0,
            "-d",
            "mesh",
        ])
        .args(args)
        .env("PGPASSWORD", ADMIN.1)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .await
        .expect("psql is installed (.ci/run installs postgresql-client)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_runs_queries() {
    let s = TestServer::tpch().await;
    let (ok, out, err) = psql(
        &s,
        &[
            "-At",
            "-c",
            "SELECT r_regionkey, r_name FROM geo.region ORDER BY r_regionkey",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0], "0|AFRICA");
    assert_eq!(lines[4], "4|MIDDLE EAST");
    // Several statements in one -c, with SET applied to the next.
    let (ok, out, err) = psql(
        &s,
        &[
            "-At",
            "-c",
            "SET search_path = geo; SELECT count(*) FROM nation",
        ],
    )
    .await;
    assert!(ok, "{err}");
    // psql 15+ prints every statement's result: the SET tag, then the count.
    assert_eq!(out.trim(), "SET\n25");
    // Errors come back as psql shows them, with the SQLSTATE.
    let (ok, _, err) = psql(
        &s,
        &["-v", "VERBOSITY=verbose", "-c", "SELECT * FROM sales.nope"],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("42P01"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_copy_to_stdout_in_text_and_csv() {
    let s = TestServer::tpch().await;
    let (ok, out, err) =
        psql(&s, &["-c", "\\copy (SELECT n_nationkey, n_name FROM geo.nation WHERE n_nationkey < 3 ORDER BY 1) to stdout"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "0\tALGERIA\n1\tARGENTINA\n2\tBRAZIL\n");
    let (ok, out, err) = psql(
        &s,
        &["-c", "\\copy (SELECT r_regionkey, r_name, 'a,b' AS quoted, NULL AS nothing FROM geo.region WHERE r_regionkey = 1) to stdout with (format csv, header)"],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "r_regionkey,r_name,quoted,nothing\n1,AMERICA,\"a,b\",\n"
    );
    // COPY … TO STDOUT sent directly (as tools other than psql do).
    let (ok, out, err) = psql(
        &s,
        &["-c", "COPY (SELECT count(*) FROM geo.nation) TO STDOUT"],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "25\n");
}
