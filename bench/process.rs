//! The real `meshgate` binary as a child process of a benchmark, with one admin user (`bench`)
//! and one analyst/buyer (`user`), and what /proc says about it. Shared by the benchmarks that
//! measure the server as users run it; each uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const PASSWORD: &str = "bench";

pub struct Server {
    pub child: tokio::process::Child,
    pub port: u16,
    pub admin_port: u16,
}

/// Where a child's stderr goes: `$MESHGATE_BENCH_LOGS/<name>.log` when that variable names a
/// directory (to diagnose a failed run afterwards), otherwise nowhere.
pub fn log_to(name: &str) -> Stdio {
    match std::env::var_os("MESHGATE_BENCH_LOGS") {
        Some(dir) => {
            let path = Path::new(&dir).join(format!("{name}.log"));
            std::fs::File::create(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .into()
        }
        None => Stdio::null(),
    }
}

/// Warnings too when the logs are kept; only errors otherwise.
pub fn log_level() -> &'static str {
    if std::env::var_os("MESHGATE_BENCH_LOGS").is_some() {
        "warn"
    } else {
        "error"
    }
}

impl Server {
    pub async fn start(dir: &Path, domains: &Path, name: &str, limits: &str) -> Server {
        Server::start_with(dir, domains, name, &format!("[limits]\n{limits}\n")).await
    }

    /// A server whose meshgate.toml (`dir/<name>.toml`) also holds `sections` (TOML tables).
    pub async fn start_with(dir: &Path, domains: &Path, name: &str, sections: &str) -> Server {
        let port = free_port();
        let admin_port = free_port();
        let v = meshgate::auth::ScramVerifier::generate(PASSWORD, 4096);
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin_port}\"\n\n{sections}\n[[users]]\nname = \"bench\"\npassword = \"{v}\"\nadmin = true\n\n[[users]]\nname = \"user\"\npassword = \"{v}\"\nroles = [\"analyst\", \"buyer\"]\n\n{roles}\n[domains]\ndir = \"{}\"\n",
                domains.display(),
                roles = meshgate_demo::ROLES_TOML,
            ),
        )
        .expect("write config");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_meshgate"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("MESHGATE_LOG", log_level())
            .stdout(Stdio::null())
            .stderr(log_to(name))
            .kill_on_drop(true)
            .spawn()
            .expect("start meshgate");
        let s = Server {
            child,
            port,
            admin_port,
        };
        let t = Instant::now();
        while s.connect("bench").await.is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    pub fn conn_string(&self, user: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password={PASSWORD} dbname=mesh",
            self.port
        )
    }

    pub async fn connect(
        &self,
        user: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (c, conn) =
            tokio_postgres::connect(&self.conn_string(user), tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        Ok(c)
    }

    /// Resident memory now, in MiB.
    pub fn rss_mib(&self) -> f64 {
        proc_status(self.pid(), "VmRSS:")
    }

    /// Samples resident memory every 10 ms until the returned flag is set; the task yields the
    /// peak in MiB.
    pub fn sample_peak(&self) -> (Arc<AtomicBool>, tokio::task::JoinHandle<f64>) {
        let stop = Arc::new(AtomicBool::new(false));
        let pid = self.pid();
        let s = stop.clone();
        let h = tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while !s.load(Ordering::Relaxed) {
                peak = peak.max(proc_status(pid, "VmRSS:"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        });
        (stop, h)
    }

    pub async fn metric(&self, name: &str) -> f64 {
        let mut sock = TcpStream::connect(("127.0.0.1", self.admin_port))
            .await
            .expect("operator port");
        sock.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        let mut body = String::new();
        sock.read_to_string(&mut body).await.expect("read");
        body.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    pub async fn wait_sessions(&self, n: f64) {
        let t = Instant::now();
        while self.metric("meshgate_sessions").await != n {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "sessions never reached {n}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn signal(&self, sig: &str) {
        std::process::Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .expect("kill");
    }
}

/// CPU seconds (user + system) the process has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

pub fn proc_status(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
