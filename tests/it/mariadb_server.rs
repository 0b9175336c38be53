//! A throwaway MariaDB server for the MySQL-source tests: `mariadb-install-db` in a temporary
//! directory, `mariadbd` on a loopback port and a unix socket of its own, every statement it
//! runs written to its general log.
//!
//! As for PostgreSQL (`pg_server`), a guard process waits for end-of-file on a pipe this
//! process holds: however the tests end, the kernel closes the pipe and the guard stops the
//! server and removes its directory.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct MariaDb {
    pub dir: PathBuf,
    pub port: u16,
    /// The running `mariadbd`, reaped when it is stopped.
    server: Mutex<Option<std::process::Child>>,
    /// Serves TLS with this certificate and key (files in `dir`) once set.
    tls: Mutex<Option<(PathBuf, PathBuf)>>,
    _guard: Mutex<(std::process::Child, std::process::ChildStdin)>,
}

fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { geteuid() == 0 }
}

extern "C" {
    fn geteuid() -> u32;
}

impl MariaDb {
    fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    /// `mariadb` as root over the unix socket, running `sql`.
    pub fn sql(&self, sql: &str) -> String {
        let mut child = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-uroot", "--batch", "--skip-column-names"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mariadb client runs (.ci/run installs mariadb-server)");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), sql.as_bytes())
            .expect("write the script");
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("mariadb client");
        assert!(
            out.status.success(),
            "mariadb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Every statement the server ran (its general log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("general.log")).unwrap_or_default()
    }

    fn spawn(&self) {
        let mut cmd = Command::new("mariadbd");
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--tmpdir={}", self.dir.join("tmp").display()))
            .arg(format!("--port={}", self.port))
            .args(["--skip-networking=0", "--bind-address=127.0.0.1"])
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mysqld.pid").display()
            ))
            .arg(format!(
                "--log-error={}",
                self.dir.join("error.log").display()
            ))
            .args(["--general-log=1"])
            .arg(format!(
                "--general-log-file={}",
                self.dir.join("general.log").display()
            ))
            .args(["--innodb-buffer-pool-size=32M", "--skip-log-bin"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if as_root() {
            // mariadbd refuses to run as root unless told to.
            cmd.arg("--user=root");
        }
        if let Some((cert, key)) = &*self.tls.lock().unwrap_or_else(|e| e.into_inner()) {
            cmd.arg(format!("--ssl-cert={}", cert.display()))
                .arg(format!("--ssl-key={}", key.display()));
        }
        let child = cmd.spawn().expect("start mariadbd");
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        self.wait_ready();
    }

    /// Polls a connection until the server answers one.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new("mariadb")
                .arg("--no-defaults")
                .arg(format!("--socket={}", self.socket().display()))
                .args(["-uroot", "-e", "SELECT 1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not start:\n{}",
                std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server, returning once it is down.
    pub fn stop(&self) {
        let out = Command::new("mariadb-admin")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-uroot", "shutdown"])
            .output()
            .expect("mariadb-admin");
        assert!(
            out.status.success(),
            "shutdown: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(mut child) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            child.wait().expect("mariadbd exits");
        }
    }

    /// Serves TLS with this certificate and key from now on (restarting the server; plain
    /// connections are still accepted unless a user requires SSL).
    pub fn enable_tls(&self, cert: &std::path::Path, key: &std::path::Path) {
        let (c, k) = (self.dir.join("server.crt"), self.dir.join("server.key"));
        std::fs::copy(cert, &c).expect("copy the certificate");
        std::fs::copy(key, &k).expect("copy the key");
        *self.tls.lock().unwrap_or_else(|e| e.into_inner()) = Some((c, k));
        self.stop();
        self.spawn();
    }

    /// Starts a stopped server again, returning once it accepts connections.
    pub fn start_again(&self) {
        self.spawn();
    }
}

/// Installs and starts a server; prints how long each took (the CI's cost of these tests).
pub fn start() -> MariaDb {
    assert!(
        Command::new("mariadb-install-db")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "mariadb-install-db missing: install Debian's mariadb-server (.ci/run does)"
    );
    // /tmp: the socket path must stay under the 107 bytes a unix socket address holds.
    let dir = tempfile::Builder::new()
        .prefix("meshgate-mariadb")
        .tempdir_in("/tmp")
        .expect("tempdir")
        .keep();
    let mut guard = Command::new("sh");
    guard
        .arg("-c")
        .arg(
            "read _; [ -f \"$1/mysqld.pid\" ] && kill -9 \"$(cat \"$1/mysqld.pid\")\" 2>/dev/null; \
             rm -rf \"$1\"",
        )
        .arg("guard")
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut guard, 0);
    let mut guard = guard.spawn().expect("start the MariaDB guard");
    let guard_stdin = guard.stdin.take().expect("guard stdin");

    // Temporary tables of their own: servers bootstrapping side by side in one /tmp were seen
    // to lose each other's (`Could not remove temporary table '/tmp/#sql-temptable-…'`).
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).expect("the server's tmpdir");
    let started = Instant::now();
    let install = || {
        let data = dir.join("data");
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            // The bootstrap server's own messages: what a failure needs to be understood.
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                "--verbose",
            ]);
        if as_root() {
            install.arg("--user=root");
        }
        let out = install.output().expect("run mariadb-install-db");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, output) = install();
    assert!(ok, "mariadb-install-db: {output}");
    let installed = started.elapsed();
    let server = MariaDb {
        dir,
        port: crate::ports::free_port(),
        server: Mutex::new(None),
        tls: Mutex::new(None),
        _guard: Mutex::new((guard, guard_stdin)),
    };
    server.spawn();
    eprintln!(
        "mariadb: install-db {:.2}s, start {:.2}s",
        installed.as_secs_f64(),
        (started.elapsed() - installed).as_secs_f64()
    );
    server
}
