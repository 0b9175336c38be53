//! Counters an operator watches, and their Prometheus text exposition.
//!
//! ```text
//!  sessions / statements / scans ── Metrics (atomics) ─┐
//!  server gauges (sessions, queries, memory, audit) ────┴─► render() ─► GET /metrics (server::http)
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the query latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// What the server measures now, read when `/metrics` is asked for.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub sessions: usize,
    pub queries_running: usize,
    pub queries_queued: usize,
    pub memory_reserved: usize,
    pub audit: AuditCounters,
}

/// The audit writer's counters (see `crate::audit`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditCounters {
    pub written: u64,
    pub dropped: u64,
    pub write_errors: u64,
}

#[derive(Default)]
pub struct Metrics {
    pub connections_accepted: AtomicU64,
    pub connections_active: AtomicU64,
    /// Refused before a session started, by reason (`too_many`, `auth`, `handshake_timeout`…).
    refused: Mutex<BTreeMap<&'static str, u64>>,
    pub statements: AtomicU64,
    /// Failed statements by SQLSTATE.
    errors: Mutex<BTreeMap<String, u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    pub cancel_requests: AtomicU64,
    pub cancel_requests_limited: AtomicU64,
    /// Wrong passwords, tokens or certificates (see `auth::throttle`).
    login_failures: AtomicU64,
    /// Login attempts made to wait after failures of their (address, user) pair, and how long.
    logins_delayed: AtomicU64,
    login_delay_us: AtomicU64,
    pub reloads: AtomicU64,
    /// Statements a session ran from a plan it kept, and plans kept (`session::plancache`).
    pub kept_plan_hits: AtomicU64,
    pub plans_kept: AtomicU64,
    pub reload_failures: AtomicU64,
    /// Bytes read from storage by table scans, by domain (see `audit::scan`).
    bytes_scanned: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    pub fn refused(&self, reason: &'static str) {
        *self
            .refused
            .lock()
            .expect("metrics lock is never poisoned")
            .entry(reason)
            .or_default() += 1;
    }

    /// Counts a login refused for wrong credentials.
    pub fn login_failed(&self) {
        self.login_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a login attempt the throttle made wait `d`.
    pub fn login_delayed(&self, d: Duration) {
        self.logins_delayed.fetch_add(1, Ordering::Relaxed);
        self.login_delay_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Records an error sent to a client.
    pub fn error(&self, sqlstate: crate::error::SqlState) {
        *self
            .errors
            .lock()
            .expect("metrics lock is never poisoned")
            .entry(sqlstate.to_string())
            .or_default() += 1;
    }

    /// Records one finished statement's duration.
    pub fn statement(&self, elapsed: Duration) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Adds bytes that scans read from a domain's storage.
    pub fn scanned(&self, domain: &str, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let mut m = self
            .bytes_scanned
            .lock()
            .expect("metrics lock is never poisoned");
        match m.get_mut(domain) {
            Some(n) => *n += bytes,
            None => {
                m.insert(domain.to_string(), bytes);
            }
        }
    }

    /// Bytes scanned from `domain` so far (tests and the admin view).
    pub fn bytes_scanned(&self, domain: &str) -> u64 {
        self.bytes_scanned
            .lock()
            .expect("metrics lock is never poisoned")
            .get(domain)
            .copied()
            .unwrap_or(0)
    }

    /// Failed statements with `sqlstate` so far (tests and the admin view).
    pub fn errors_with(&self, sqlstate: &str) -> u64 {
        self.errors
            .lock()
            .expect("metrics lock is never poisoned")
            .get(sqlstate)
            .copied()
            .unwrap_or(0)
    }

    /// The Prometheus text exposition of every counter plus the server's gauges.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut o = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: Vec<(String, String)>| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in lines {
                let _ = writeln!(o, "{name}{labels} {value}");
            }
        };
        let v = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        metric(
            "meshgate_connections_accepted_total",
            "counter",
            "TCP connections accepted.",
            vec![(String::new(), v(&self.connections_accepted))],
        );
        metric(
            "meshgate_connections_active",
            "gauge",
            "Connections open now, in any phase.",
            vec![(String::new(), v(&self.connections_active))],
        );
        metric(
            "meshgate_sessions",
            "gauge",
            "Sessions holding a connection slot.",
            vec![(String::new(), gauges.sessions.to_string())],
        );
        let refused = self
            .refused
            .lock()
            .expect("metrics lock is never poisoned")
            .clone();
        metric(
            "meshgate_connections_refused_total",
            "counter",
            "Connections ended before a session, by reason.",
            refused
                .iter()
                .map(|(r, n)| (format!("{{reason=\"{r}\"}}"), n.to_string()))
                .collect(),
        );
        metric(
            "meshgate_login_failures_total",
            "counter",
            "Logins refused for a wrong password, token or certificate.",
            vec![(String::new(), v(&self.login_failures))],
        );
        metric(
            "meshgate_logins_delayed_total",
            "counter",
            "Login attempts made to wait after recent failures of the same address and user.",
            vec![(String::new(), v(&self.logins_delayed))],
        );
        metric(
            "meshgate_login_delay_seconds_total",
            "counter",
            "Time login attempts were made to wait, in all.",
            vec![(
                String::new(),
                format!(
                    "{:.3}",
                    self.login_delay_us.load(Ordering::Relaxed) as f64 / 1e6
                ),
            )],
        );
        metric(
            "meshgate_statements_total",
            "counter",
            "Statements finished.",
            vec![(String::new(), v(&self.statements))],
        );
        let errors = self
            .errors
            .lock()
            .expect("metrics lock is never poisoned")
            .clone();
        metric(
            "meshgate_errors_total",
            "counter",
            "Errors sent to clients, by SQLSTATE.",
            errors
                .iter()
                .map(|(c, n)| (format!("{{sqlstate=\"{c}\"}}"), n.to_string()))
                .collect(),
        );
        let mut hist: Vec<(String, String)> = LATENCY_BUCKETS
            .iter()
            .zip(&self.latency_buckets)
            .map(|(b, n)| (format!("_bucket{{le=\"{b}\"}}"), v(n)))
            .collect();
        hist.push(("_bucket{le=\"+Inf\"}".into(), v(&self.latency_count)));
        hist.push((
            "_sum".into(),
            format!(
                "{:.6}",
                self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
            ),
        ));
        hist.push(("_count".into(), v(&self.latency_count)));
        metric(
            "meshgate_statement_duration_seconds",
            "histogram",
            "Statement latency, first message to completion.",
            hist,
        );
        metric(
            "meshgate_queries_running",
            "gauge",
            "Queries executing.",
            vec![(String::new(), gauges.queries_running.to_string())],
        );
        metric(
            "meshgate_queries_queued",
            "gauge",
            "Queries waiting for an execution slot.",
            vec![(String::new(), gauges.queries_queued.to_string())],
        );
        metric(
            "meshgate_memory_pool_reserved_bytes",
            "gauge",
            "Bytes reserved in the query memory pool.",
            vec![(String::new(), gauges.memory_reserved.to_string())],
        );
        metric(
            "meshgate_cancel_requests_total",
            "counter",
            "CancelRequests received.",
            vec![(String::new(), v(&self.cancel_requests))],
        );
        metric(
            "meshgate_cancel_requests_limited_total",
            "counter",
            "CancelRequests dropped by the per-address limit.",
            vec![(String::new(), v(&self.cancel_requests_limited))],
        );
        metric(
            "meshgate_reloads_total",
            "counter",
            "Configuration reloads applied.",
            vec![(String::new(), v(&self.reloads))],
        );
        metric(
            "meshgate_reload_failures_total",
            "counter",
            "Reloads refused because the new configuration was invalid.",
            vec![(String::new(), v(&self.reload_failures))],
        );
        let scanned = self
            .bytes_scanned
            .lock()
            .expect("metrics lock is never poisoned")
            .clone();
        metric(
            "meshgate_bytes_scanned_total",
            "counter",
            "Bytes table scans read from each domain's storage (Iceberg: bytes of the data files the scans planned).",
            scanned.iter().map(|(d, n)| (format!("{{domain=\"{}\"}}", label_value(d)), n.to_string())).collect(),
        );
        metric(
            "meshgate_kept_plan_hits_total",
            "counter",
            "Statements run from a plan their session kept (one remote statement), without planning.",
            vec![(String::new(), v(&self.kept_plan_hits))],
        );
        metric(
            "meshgate_kept_plans_total",
            "counter",
            "Plans kept by sessions for statements that run whole in one remote source.",
            vec![(String::new(), v(&self.plans_kept))],
        );
        let audit = &gauges.audit;
        metric(
            "meshgate_audit_events_total",
            "counter",
            "Audit events written.",
            vec![(String::new(), audit.written.to_string())],
        );
        metric(
            "meshgate_audit_events_dropped_total",
            "counter",
            "Audit events dropped because the writer's queue was full.",
            vec![(String::new(), audit.dropped.to_string())],
        );
        metric(
            "meshgate_audit_write_errors_total",
            "counter",
            "Audit writes that failed (the event is lost for that file).",
            vec![(String::new(), audit.write_errors.to_string())],
        );
        o
    }
}

/// Escapes a Prometheus label value.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
