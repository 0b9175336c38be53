//! Operational sources (issue 17): a PostgreSQL table of a million rows served in place.
//!
//!     cargo bench --bench operational -- [--rows 1000000] [--runs 200]
//!
//! Needs Debian's postgresql-15. Starts its own PostgreSQL (initdb in a temporary directory,
//! SCRAM on a loopback port) holding `ops.orders` (`--rows` rows, generate_series) and
//! `ops.customers` (a tenth as many), and the real `meshgate` binary publishing both as
//! `format = "postgres"`. Then:
//! - **selective query**: a range of 51 orders by key, through meshgate and straight to
//!   PostgreSQL with tokio-postgres (same protocol, same login kind), `runs` times each,
//!   interleaved; medians and their ratio (the goal is ≤ 1.2). Through meshgate twice: the
//!   same text each time (after the first, run from the session's kept plan), and a text made
//!   new each time by a comment (planned every time);
//! - the same against **MariaDB** (Debian's mariadb-server; skipped, saying so, without it):
//!   the orders in a MariaDB table published as `format = "mysql"`, straight to it with sqlx's
//!   text protocol, as meshgate's connector reads it;
//! - **rows transferred** from PostgreSQL to meshgate for TPC-H-like shapes (filter, join,
//!   aggregate, join + aggregate, top-N), with whole-subplan pushdown and without it, read
//!   from EXPLAIN ANALYZE's `rows_fetched` of every statement sent. "Without" is the same query
//!   with a predicate that is always true but that no engine is sent (`o_id + 0 = o_id`): each
//!   scan still sends its own filters, columns and LIMIT, nothing above a scan is sent.
//!
//! Not a test: it asserts nothing about time.

#[path = "../tests/it/mariadb_server.rs"]
mod mariadb_server;
#[path = "../tests/it/pg_server.rs"]
mod pg_server;
#[path = "../tests/it/ports.rs"]
mod ports;
mod process;
mod tpch_layout;

use std::path::Path;
use std::time::{Duration, Instant};

use process::Server;
use tpch_layout::arg;

/// Creates the tables in the bench's PostgreSQL, and a login for meshgate and for the direct
/// client.
async fn load(pg: &pg_server::PgServer, rows: u64) {
    let c = pg.connect().await;
    c.batch_execute(&format!(
        "CREATE ROLE bench LOGIN PASSWORD '{pw}';
         CREATE SCHEMA ops;
         CREATE TABLE ops.customers (
             c_id int8 PRIMARY KEY,
             c_nation int4 NOT NULL,
             c_segment text NOT NULL);
         INSERT INTO ops.customers
             SELECT g, g % 25, (ARRAY['AUTOMOBILE','BUILDING','FURNITURE','HOUSEHOLD','MACHINERY'])[g % 5 + 1]
             FROM generate_series(1, {customers}) g;
         CREATE TABLE ops.orders (
             o_id int8 PRIMARY KEY,
             o_custkey int8 NOT NULL,
             o_status text NOT NULL,
             o_total numeric(12,2) NOT NULL,
             o_priority int4 NOT NULL);
         INSERT INTO ops.orders
             SELECT g, (g * 7919) % {customers} + 1, (ARRAY['F','O','P'])[g % 3 + 1],
                    ((g * 104729) % 100000) / 100.0, g % 5
             FROM generate_series(1::int8, {rows}::int8) g;
         GRANT USAGE ON SCHEMA ops TO bench;
         GRANT SELECT ON ALL TABLES IN SCHEMA ops TO bench;",
        pw = process::PASSWORD,
        customers = (rows / 10).max(1),
    ))
    .await
    .expect("load PostgreSQL");
    c.batch_execute("VACUUM ANALYZE")
        .await
        .expect("vacuum PostgreSQL");
}

/// A domain publishing both tables, read in place.
fn domains(pg: &pg_server::PgServer, dir: &Path) -> std::path::PathBuf {
    let domains = dir.join("domains");
    std::fs::create_dir_all(&domains).expect("mkdir");
    std::fs::write(domains.join("ops.pw"), process::PASSWORD).expect("password file");
    let table = |name: &str| {
        format!(
            "[[products.tables]]\nname = \"{name}\"\nformat = \"postgres\"\n\
             [products.tables.connection]\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{}\"\n\
             user = \"bench\"\npassword_file = \"ops.pw\"\nschema = \"ops\"\ntls = \"disable\"\n\
             max_connections = 4\n\n",
            pg.port,
            pg_server::DATABASE
        )
    };
    std::fs::write(
        domains.join("ops.toml"),
        format!(
            "name = \"ops\"\n[storage]\nroot = \".\"\n\n[[products]]\nname = \"ops\"\n\n{}{}\
             [[grants]]\nproduct = \"ops\"\nto = [\"analyst\"]\n",
            table("orders"),
            table("customers")
        ),
    )
    .expect("domain file");
    domains
}

async fn timed(c: &tokio_postgres::Client, sql: &str) -> Duration {
    let t = Instant::now();
    c.simple_query(sql).await.expect("query");
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The rows every statement sent to a source returned, from EXPLAIN ANALYZE, and how many
/// statements there were.
async fn transferred(c: &tokio_postgres::Client, sql: &str) -> (u64, usize) {
    let text: Vec<String> = c
        .simple_query(&format!("EXPLAIN ANALYZE {sql}"))
        .await
        .expect("explain")
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).filter_map(|i| r.get(i)).collect::<String>())
            }
            _ => None,
        })
        .collect();
    let mut rows = 0;
    let mut statements = 0;
    for line in text.iter().flat_map(|t| t.lines()) {
        if !(line.contains("RemoteQueryExec") || line.contains("ScanExec: source=")) {
            continue;
        }
        statements += 1;
        let Some((_, rest)) = line.split_once("rows_fetched=") else {
            continue;
        };
        let value: String = rest
            .chars()
            .take_while(|c| *c != ',' && *c != ']')
            .collect();
        rows += count(value.trim());
    }
    (rows, statements)
}

/// A count as DataFusion prints metrics: `812`, `1.00 K`, `1.00 M`.
fn count(v: &str) -> u64 {
    let (n, scale) = match v.split_once(' ') {
        Some((n, "K")) => (n, 1e3),
        Some((n, "M")) => (n, 1e6),
        Some((n, "B")) => (n, 1e9),
        _ => (v, 1.0),
    };
    (n.parse::<f64>().unwrap_or(f64::NAN) * scale).round() as u64
}

#[tokio::main]
async fn main() {
    let rows: u64 = arg("--rows")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = arg("--runs").and_then(|s| s.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().expect("tempdir");

    eprintln!("loading PostgreSQL with {rows} orders…");
    let pg = pg_server::start(true);
    load(&pg, rows).await;
    let (direct, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=bench password={} dbname={}",
            pg.port,
            process::PASSWORD,
            pg_server::DATABASE
        ),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect to PostgreSQL");
    tokio::spawn(conn);

    let gate = Server::start(dir.path(), &domains(&pg, dir.path()), "operational", "").await;
    let mesh = gate.connect("bench").await.expect("connect to meshgate");

    let mid = rows / 2;
    let selective = format!(
        "SELECT o_id, o_total FROM ops.orders WHERE o_id BETWEEN {mid} AND {}",
        mid + 50
    );
    // By key the statement costs PostgreSQL a fraction of a millisecond, so the ratio is the
    // gateway's own cost per statement (a second round trip on loopback among it); without an
    // index PostgreSQL scans the table, and the ratio is what a user of such a query sees.
    let unindexed = "SELECT o_id, o_total FROM ops.orders WHERE o_custkey = 4242".to_string();
    for (what, sql, runs) in [
        ("51 rows by key", &selective, runs),
        ("by a column without an index", &unindexed, runs.min(30)),
    ] {
        // Warm: the pools' connections, PostgreSQL's cache.
        for _ in 0..5 {
            timed(&direct, sql).await;
            timed(&mesh, sql).await;
        }
        let (mut t_pg, mut t_gate, mut t_planned) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..runs {
            t_pg.push(timed(&direct, sql).await);
            t_gate.push(timed(&mesh, sql).await);
            t_planned.push(timed(&mesh, &format!("{sql} /* {i} */")).await);
        }
        let (p, g, planned) = (median(t_pg), median(t_gate), median(t_planned));
        println!("Selective query on {rows} rows ({what}), median of {runs} (ms)");
        println!(
            "  PostgreSQL {:>8.3}   meshgate {:>8.3}   ratio {:.2}×   (planned each time {:>8.3}, {:.2}×)",
            p.as_secs_f64() * 1e3,
            g.as_secs_f64() * 1e3,
            g.as_secs_f64() / p.as_secs_f64(),
            planned.as_secs_f64() * 1e3,
            planned.as_secs_f64() / p.as_secs_f64()
        );
    }
    mysql_selective(dir.path(), rows, runs).await;

    let shapes: [(&str, &str); 5] = [
        (
            "filter",
            "SELECT o_id, o_total FROM ops.orders o WHERE o_custkey = 4242",
        ),
        (
            "join",
            "SELECT o.o_id, c.c_nation FROM ops.orders o JOIN ops.customers c \
             ON o.o_custkey = c.c_id WHERE c.c_segment = 'BUILDING' AND o.o_total > 990",
        ),
        (
            "aggregate",
            "SELECT o_status, count(*), sum(o_total), max(o_priority) FROM ops.orders o \
             WHERE o_priority < 4 GROUP BY o_status",
        ),
        (
            "join + aggregate",
            "SELECT c.c_nation, count(*), sum(o.o_total) FROM ops.orders o JOIN ops.customers c \
             ON o.o_custkey = c.c_id WHERE c.c_segment = 'BUILDING' GROUP BY c.c_nation",
        ),
        (
            "top-N",
            "SELECT o_id, o_total FROM ops.orders o ORDER BY o_total DESC, o_id LIMIT 10",
        ),
    ];
    println!("\nRows transferred from PostgreSQL (statements sent), and time (ms, best of 3)");
    println!(
        "{:<18}{:>22}{:>10}{:>22}{:>10}",
        "", "whole subplans", "ms", "per scan only", "ms"
    );
    for (name, sql) in shapes {
        let kept = if sql.contains(" WHERE ") {
            sql.replacen(" WHERE ", " WHERE o.o_id + 0 = o.o_id AND ", 1)
        } else {
            sql.replacen(" ORDER BY ", " WHERE o.o_id + 0 = o.o_id ORDER BY ", 1)
        };
        let (with_rows, with_n) = transferred(&mesh, sql).await;
        let (without_rows, without_n) = transferred(&mesh, &kept).await;
        let best = |q: String| {
            let mesh = &mesh;
            async move {
                let mut b = Duration::MAX;
                for _ in 0..3 {
                    b = b.min(timed(mesh, &q).await);
                }
                b.as_secs_f64() * 1e3
            }
        };
        let with_ms = best(sql.to_string()).await;
        let without_ms = best(kept.clone()).await;
        println!(
            "{name:<18}{:>22}{with_ms:>10.1}{:>22}{without_ms:>10.1}",
            format!("{with_rows} ({with_n})"),
            format!("{without_rows} ({without_n})"),
        );
    }
    drop(gate);
}

/// The selective query against MariaDB: straight to it and through meshgate.
async fn mysql_selective(dir: &Path, rows: u64, runs: usize) {
    use sqlx::Connection as _;
    if !std::process::Command::new("mariadb-install-db")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        println!(
            "  MariaDB: skipped, mariadb-install-db is not installed (Debian's mariadb-server)"
        );
        return;
    }
    eprintln!("loading MariaDB with {rows} orders…");
    let db = mariadb_server::start();
    db.sql(&format!(
        "CREATE DATABASE ops;
         CREATE USER 'bench'@'127.0.0.1' IDENTIFIED BY '{pw}';
         GRANT SELECT ON ops.* TO 'bench'@'127.0.0.1';
         USE ops;
         CREATE TABLE ops.orders (
             o_id BIGINT PRIMARY KEY,
             o_custkey BIGINT NOT NULL,
             o_total DECIMAL(12,2) NOT NULL);
         INSERT INTO ops.orders SELECT seq, seq % 100000 + 1, (seq * 7919 % 100000) / 100.0
             FROM seq_1_to_{rows};
         ANALYZE TABLE ops.orders;",
        pw = process::PASSWORD
    ));
    let domains = dir.join("mysql-domains");
    std::fs::create_dir_all(&domains).expect("mkdir");
    std::fs::write(domains.join("ops.pw"), process::PASSWORD).expect("password file");
    std::fs::write(
        domains.join("ops.toml"),
        format!(
            "name = \"ops\"\n[storage]\nroot = \".\"\n\n[[products]]\nname = \"ops\"\n\n\
             [[products.tables]]\nname = \"orders\"\nformat = \"mysql\"\n\
             [products.tables.connection]\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"ops\"\n\
             user = \"bench\"\npassword_file = \"ops.pw\"\ntls = \"disable\"\n\
             max_connections = 4\n\n\
             [[grants]]\nproduct = \"ops\"\nto = [\"analyst\"]\n",
            db.port
        ),
    )
    .expect("domain file");
    let gate_dir = dir.join("mysql-gate");
    std::fs::create_dir_all(&gate_dir).expect("mkdir");
    let gate = Server::start(&gate_dir, &domains, "operational-mysql", "").await;
    let mesh = gate.connect("bench").await.expect("connect to meshgate");
    let mut direct = sqlx::mysql::MySqlConnection::connect(&format!(
        "mysql://bench:{}@127.0.0.1:{}/ops?ssl-mode=disabled",
        process::PASSWORD,
        db.port
    ))
    .await
    .expect("connect to MariaDB");
    let mid = rows / 2;
    let selective = format!(
        "SELECT o_id, o_total FROM ops.orders WHERE o_id BETWEEN {mid} AND {}",
        mid + 50
    );
    for _ in 0..5 {
        to_mysql(&mut direct, &selective).await;
        timed(&mesh, &selective).await;
    }
    let (mut t_db, mut t_gate) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        t_db.push(to_mysql(&mut direct, &selective).await);
        t_gate.push(timed(&mesh, &selective).await);
    }
    let (m, g) = (median(t_db), median(t_gate));
    println!(
        "  MariaDB    {:>8.3}   meshgate {:>8.3}   ratio {:.2}×",
        m.as_secs_f64() * 1e3,
        g.as_secs_f64() * 1e3,
        g.as_secs_f64() / m.as_secs_f64()
    );
    drop(gate);
    db.stop();
}

async fn to_mysql(direct: &mut sqlx::mysql::MySqlConnection, sql: &str) -> Duration {
    let t = Instant::now();
    let rows = sqlx::raw_sql(sql)
        .fetch_all(direct)
        .await
        .expect("query MariaDB");
    assert_eq!(rows.len(), 51);
    t.elapsed()
}
