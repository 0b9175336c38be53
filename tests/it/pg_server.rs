//! A throwaway PostgreSQL 15 loaded with the TPC-H tables of a baseline Parquet directory: the
//! reference meshgate's answers are measured against (tests) and its speed compared with
//! (benchmarks, which include this file by path).
//!
//! It listens on a unix socket in its own directory, and on a loopback TCP port when asked
//! (with SCRAM passwords there, as a client would meet it), runs as the `postgres` user when
//! run as root (initdb refuses root), and is stopped by a guard process that waits for
//! end-of-file on a pipe held by this process: however the process ends (normal exit, panic,
//! signal), the kernel closes the pipe and the guard stops the server and removes its
//! directory.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use futures::SinkExt;
use meshgate_demo::{ColumnType, DOMAINS};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The database name meshgate reports, so `current_database()` compares equal.
pub const DATABASE: &str = "mesh";

pub struct PgServer {
    pub socket_dir: PathBuf,
    /// The port, of the socket and of the loopback listener when there is one.
    pub port: u16,
    pub tcp: bool,
    /// The guard and the pipe to it, held and never written: closing the pipe (at process exit)
    /// tells the guard to stop the server.
    _guard: Mutex<(std::process::Child, std::process::ChildStdin)>,
}

impl PgServer {
    /// The superuser over the unix socket (trusted).
    pub fn conn_string(&self) -> String {
        format!(
            "host={} port={} user=postgres dbname={DATABASE}",
            self.socket_dir.display(),
            self.port
        )
    }

    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.conn_string(), tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL accepts a connection");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    /// The server's log (everything it writes, e.g. statements logged by `log_statement`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.socket_dir.join("server.log")).expect("read the server log")
    }

    /// Stops the server (fast: sessions are ended), returning once it is down.
    pub fn stop(&self) {
        let mut cmd = pg_command(&format!("{PG_BIN}/pg_ctl"));
        cmd.arg("-D")
            .arg(self.socket_dir.join("data"))
            .args(["-m", "fast", "-w", "-t", "60", "stop"]);
        run(cmd, "pg_ctl stop");
    }

    /// Serves TLS with this certificate and key (restarting the server; plain connections are
    /// still accepted).
    pub fn enable_ssl(&self, cert: &Path, key: &Path) {
        let data = self.socket_dir.join("data");
        std::fs::copy(cert, data.join("server.crt")).expect("copy the certificate");
        std::fs::copy(key, data.join("server.key")).expect("copy the key");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .expect("key permissions");
        }
        if as_root() {
            let mut chown = Command::new("chown");
            chown
                .arg("postgres:")
                .arg(data.join("server.crt"))
                .arg(data.join("server.key"));
            run(chown, "chown the certificate to postgres");
        }
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("open postgresql.conf");
        writeln!(
            conf,
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'"
        )
        .expect("write postgresql.conf");
        drop(conf);
        self.stop();
        self.start_again();
    }

    /// Starts a stopped server again, returning once it accepts connections.
    pub fn start_again(&self) {
        let mut cmd = pg_command(&format!("{PG_BIN}/pg_ctl"));
        cmd.arg("-D")
            .arg(self.socket_dir.join("data"))
            .arg("-l")
            .arg(self.socket_dir.join("server.log"))
            .args(["-w", "-t", "60", "start"]);
        run(cmd, "pg_ctl start");
    }

    /// `psql` on the unix socket as the superuser, with these arguments.
    pub fn psql(&self) -> Command {
        let mut cmd = pg_command(&format!("{PG_BIN}/psql"));
        cmd.arg("-h").arg(&self.socket_dir).args([
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-X",
        ]);
        cmd
    }
}

fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { geteuid() == 0 }
}

extern "C" {
    fn geteuid() -> u32;
}

/// `program args…`, as the `postgres` user when running as root.
fn pg_command(program: &str) -> Command {
    if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

pub fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a server; with `tcp`, also on a loopback port where logins use SCRAM.
pub fn start(tcp: bool) -> PgServer {
    let initdb = format!("{PG_BIN}/initdb");
    assert!(
        Path::new(&initdb).exists(),
        "{initdb} missing: install Debian's postgresql-15 (.ci/run does)"
    );
    // /tmp rather than $TMPDIR: the postgres user must be able to reach it, and the socket path
    // inside it must stay under the 107 bytes a unix socket address holds.
    let root = tempfile::Builder::new()
        .prefix("meshgate-pg")
        .tempdir_in("/tmp")
        .expect("tempdir")
        .keep();
    if as_root() {
        let mut chown = Command::new("chown");
        chown.arg("postgres:").arg(&root);
        run(chown, "chown the reference directory to postgres");
    }
    let data = root.join("data");
    let log = root.join("server.log");
    let pg_ctl = format!("{PG_BIN}/pg_ctl");

    // The guard first, so that a failure below still removes the directory.
    let mut guard = Command::new("sh");
    guard
        .arg("-c")
        .arg(format!(
            "read _; {} -D \"$1\" -m immediate stop >/dev/null 2>&1; rm -rf \"$2\"",
            if as_root() {
                format!("runuser -u postgres -- {pg_ctl}")
            } else {
                pg_ctl.clone()
            }
        ))
        .arg("guard")
        .arg(&data)
        .arg(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own process group: a Ctrl-C meant for the tests must not kill the guard before the
    // pipe closes.
    std::os::unix::process::CommandExt::process_group(&mut guard, 0);
    let mut guard = guard.spawn().expect("start the reference server's guard");
    let guard_stdin = guard.stdin.take().expect("guard stdin");

    let mut cmd = pg_command(&initdb);
    cmd.arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"])
        .arg("--no-sync");
    run(cmd, "initdb");
    // Settings meshgate reports (UTC, ISO dates), a socket in our own directory, and no
    // durability: the data is rebuilt on every run.
    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .expect("open postgresql.conf");
    // Without TCP the socket's name needs no free port.
    let port = if tcp { crate::ports::free_port() } else { 5432 };
    writeln!(
        conf,
        "listen_addresses = '{}'\nunix_socket_directories = '{}'\nport = {port}\nfsync = off\n\
         synchronous_commit = off\nfull_page_writes = off\ntimezone = 'UTC'\n\
         datestyle = 'ISO, MDY'\nlc_messages = 'C'\nmax_connections = 20\n\
         password_encryption = 'scram-sha-256'\n",
        if tcp { "127.0.0.1" } else { "" },
        root.display()
    )
    .expect("write postgresql.conf");
    drop(conf);
    if tcp {
        let mut hba = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("pg_hba.conf"))
            .expect("open pg_hba.conf");
        writeln!(hba, "host all all 127.0.0.1/32 scram-sha-256").expect("write pg_hba.conf");
    }
    let mut cmd = pg_command(&pg_ctl);
    cmd.arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .args(["-w", "-t", "60", "start"]);
    if let Err(e) =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cmd, "pg_ctl start")))
    {
        eprintln!(
            "reference server log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::panic::resume_unwind(e);
    }
    let server = PgServer {
        socket_dir: root,
        port,
        tcp,
        _guard: Mutex::new((guard, guard_stdin)),
    };
    let mut cmd = server.psql();
    cmd.args(["-d", "postgres", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(["-c", &format!("CREATE DATABASE {DATABASE}")]);
    run(cmd, "create the database");
    server
}

fn pg_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Key => "bigint",
        ColumnType::Int => "integer",
        ColumnType::Decimal => "numeric(15,2)",
        ColumnType::Date => "date",
        ColumnType::Text => "text",
    }
}

/// Creates the eight tables under their products' schema names and copies the baseline
/// Parquet rows into them.
pub async fn load(conn: &str, baseline: &Path) {
    let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    for domain in &DOMAINS {
        client
            .batch_execute(&format!("CREATE SCHEMA {}", domain.name))
            .await
            .expect("create schema");
        for table in domain.tables {
            let columns = table
                .columns()
                .iter()
                .map(|c| format!("{} {} NOT NULL", c.name, pg_type(c.ty)))
                .collect::<Vec<_>>()
                .join(", ");
            let name = format!("{}.{}", domain.name, table.name());
            client
                .batch_execute(&format!("CREATE TABLE {name} ({columns})"))
                .await
                .unwrap_or_else(|e| panic!("create {name}: {e}"));
            let names = table
                .columns()
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", ");
            let sink = client
                .copy_in(&format!("COPY {name} ({names}) FROM STDIN"))
                .await
                .unwrap_or_else(|e| panic!("copy into {name}: {e}"));
            futures::pin_mut!(sink);
            let mut files: Vec<_> = std::fs::read_dir(baseline.join(table.name()))
                .expect("baseline table directory")
                .map(|e| e.expect("directory entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                .collect();
            files.sort();
            assert!(!files.is_empty(), "no baseline files for {name}");
            for file in files {
                let reader = ParquetRecordBatchReaderBuilder::try_new(
                    std::fs::File::open(&file).expect("open baseline file"),
                )
                .expect("baseline Parquet")
                .build()
                .expect("baseline reader");
                for batch in reader {
                    let batch = batch.expect("baseline batch");
                    let text = copy_text(&batch, table.columns().iter().map(|c| c.name));
                    sink.send(bytes::Bytes::from(text))
                        .await
                        .unwrap_or_else(|e| panic!("copy into {name}: {e}"));
                }
            }
            sink.finish()
                .await
                .unwrap_or_else(|e| panic!("copy into {name}: {e}"));
        }
    }
    client
        .batch_execute("ANALYZE")
        .await
        .expect("analyze the tables");
}

/// `batch` in COPY's text format, columns in the order `names`. Arrow's display of Decimal128
/// and Date32 is already PostgreSQL's input syntax; text needs COPY's escapes.
fn copy_text<'a>(batch: &RecordBatch, names: impl Iterator<Item = &'a str>) -> String {
    let options = FormatOptions::default();
    let formatters: Vec<_> = names
        .map(|n| {
            let column = batch
                .column_by_name(n)
                .unwrap_or_else(|| panic!("baseline batch lacks {n}"));
            ArrayFormatter::try_new(column.as_ref(), &options).expect("formatter")
        })
        .collect();
    let mut out = String::new();
    for row in 0..batch.num_rows() {
        for (i, f) in formatters.iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            for ch in f.value(row).to_string().chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
        out.push('\n');
    }
    out
}
