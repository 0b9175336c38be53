//! Statement audit: one JSON line per statement, for governance (who read which data product,
//! under which policies) and operations (rows, bytes scanned per domain, duration, outcome).
//!
//! ```text
//!  session task ── StatementRecord (begin … attach scans … finish) ── Event
//!        │                                     │ try_send (never waits)
//!        │                                     ▼
//!        │                      bounded queue (audit.queue_events) ── full: dropped + counted
//!        │                                     │
//!        │                      writer thread: JSON → main sink (stdout | file)
//!        │                                          + the file of every domain the statement read
//!        └─ bytes scanned: read from the executed plan's scan metrics (scan.rs), also counted
//!           in meshgate_bytes_scanned_total whether or not auditing is on
//! ```
//!
//! Sessions never wait on the audit disk: an event is handed to a bounded queue with `try_send`,
//! and a dedicated thread does the (blocking, buffered) file writes, flushing whenever the queue
//! runs empty. A slow or full disk therefore costs events, never statement latency; each lost
//! event is counted (`meshgate_audit_events_dropped_total`, `meshgate_audit_write_errors_total`)
//! and logged at most every few seconds. We chose loss-with-a-counter over back-pressure because
//! a stalled audit disk must not stop every query of the mesh.

pub(crate) mod redact;
pub mod scan;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{AuditSettings, AuditSink};
use crate::server::Shared;
use crate::session::Session;
use scan::{ScanProbe, TableRead};

/// The roles the session acts with: every name its grants are matched against except the user
/// itself (roles held, transitively, and `public`; after SET ROLE, that role's).
pub(crate) fn session_roles(session: &Session) -> Vec<String> {
    let p = &session.access.principal;
    p.names.iter().filter(|n| **n != p.user).cloned().collect()
}

/// Names (`domain.policy`) of the row filters and column masks the statement's plan applied.
/// Called when the statement ends: the session's access record then holds what its planning
/// (or, for a portal, its Parse) decided.
pub(crate) fn statement_policies(session: &Session) -> Vec<String> {
    session.access.current().policies.into_iter().collect()
}

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Error,
    /// Cancel request or `statement_timeout` (SQLSTATE 57014).
    Cancelled,
}

impl Outcome {
    /// The outcome of an error with this SQLSTATE.
    pub fn of_error(sqlstate: &str) -> Self {
        if sqlstate == crate::error::sqlstate::QUERY_CANCELED {
            Outcome::Cancelled
        } else {
            Outcome::Error
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Simple,
    Extended,
}

/// One audit line. Field names are the file format: change them only with the README.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// When the statement started, RFC 3339 UTC.
    pub time: String,
    pub pid: i32,
    pub user: String,
    pub roles: Vec<String>,
    pub client_addr: String,
    pub client_port: u16,
    pub application_name: String,
    pub protocol: Protocol,
    /// The statement as parsed and printed again (literals redacted unless configured
    /// otherwise); null when it could not be parsed and redaction is on.
    pub statement: Option<String>,
    /// Data products, `product.table`s and domains the statement read (system catalogs and
    /// temporary tables are not listed).
    pub products: Vec<String>,
    pub tables: Vec<String>,
    pub domains: Vec<String>,
    pub policies: Vec<String>,
    /// `product.table`s the statement wrote or created (writable products).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables_written: Vec<String>,
    /// Rows sent to the client (DataRows, COPY rows).
    pub rows: u64,
    /// Bytes read from storage, by domain; domains with nothing read are absent.
    pub bytes_scanned: BTreeMap<String, u64>,
    /// Domains whose `bytes_scanned` counts the data files the scan planned rather than the
    /// bytes it fetched (Iceberg scans report no byte metric).
    pub bytes_estimated: Vec<String>,
    pub duration_ms: f64,
    pub outcome: Outcome,
    pub sqlstate: Option<String>,
}

/// Who ran a statement, captured when it starts.
struct Head {
    time: chrono::DateTime<chrono::Utc>,
    pid: i32,
    user: String,
    roles: Vec<String>,
    peer: SocketAddr,
    application_name: String,
    protocol: Protocol,
    statement: Option<String>,
    policies: Vec<String>,
}

/// A statement in flight: what it read and returned so far. Finished exactly once with
/// [`StatementRecord::finish`]; a record dropped unfinished writes nothing.
pub struct StatementRecord {
    shared: Arc<Shared>,
    /// `None` when auditing was off as the statement began: then only the bytes-scanned metric
    /// is kept.
    head: Option<Head>,
    started: Instant,
    rows: u64,
    tables: BTreeSet<TableRead>,
    probes: Vec<Arc<ScanProbe>>,
    written: BTreeSet<String>,
}

impl StatementRecord {
    /// Starts recording a statement of `session`. `statement` is the audit text
    /// ([`redact::statement_text`]); it is only needed when auditing is on.
    pub fn begin(
        shared: &Arc<Shared>,
        session: &Session,
        peer: SocketAddr,
        protocol: Protocol,
        statement: Option<String>,
    ) -> Self {
        let head = shared.audit.enabled().then(|| Head {
            time: chrono::Utc::now(),
            pid: session.pid,
            user: session.user.clone(),
            roles: session_roles(session),
            peer,
            application_name: session.get("application_name").unwrap_or_default(),
            protocol,
            statement,
            policies: Vec::new(),
        });
        StatementRecord {
            shared: shared.clone(),
            head,
            started: Instant::now(),
            rows: 0,
            tables: BTreeSet::new(),
            probes: Vec::new(),
            written: BTreeSet::new(),
        }
    }

    /// The statement began at `started`, before its record could be made (a failed Parse).
    pub fn backdate(&mut self, started: Instant) {
        let ago = started.elapsed();
        self.started = started;
        if let Some(h) = self.head.as_mut() {
            h.time -= chrono::Duration::from_std(ago).unwrap_or_default();
        }
    }

    /// The statement reads through this scan (again, for a cursor or a resumed portal).
    pub fn attach(&mut self, probe: &Arc<ScanProbe>) {
        if !self.probes.iter().any(|p| Arc::ptr_eq(p, probe)) {
            self.tables.extend(probe.tables().iter().cloned());
            self.probes.push(probe.clone());
        }
    }

    /// The policies applied to the statement (see [`statement_policies`]).
    pub fn set_policies(&mut self, policies: Vec<String>) {
        if let Some(h) = self.head.as_mut() {
            h.policies = policies;
        }
    }

    pub fn add_written(&mut self, table: String) {
        self.written.insert(table);
    }

    pub fn add_rows(&mut self, n: u64) {
        self.rows += n;
    }

    /// Ends the statement: settles the bytes its scans read since they were last settled (into
    /// the metric and the event) and hands the event to the writer.
    pub fn finish(self, outcome: Outcome, sqlstate: Option<&str>) {
        let duration = self.started.elapsed();
        let mut bytes = BTreeMap::new();
        let mut planned = Vec::new();
        for p in &self.probes {
            p.settle(&mut bytes);
            planned.extend(p.take_iceberg());
        }
        let Some(head) = self.head else {
            if !planned.is_empty() {
                scan::estimate_in_background(&self.shared, planned, |_, _| {});
            }
            return;
        };
        let mut products = BTreeSet::new();
        let mut domains = BTreeSet::new();
        for t in &self.tables {
            products.insert(t.product.clone());
            domains.insert(t.domain.clone());
        }
        bytes.retain(|_, n| *n > 0);
        let event = Event {
            time: head
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            pid: head.pid,
            user: head.user,
            roles: head.roles,
            client_addr: head.peer.ip().to_string(),
            client_port: head.peer.port(),
            application_name: head.application_name,
            protocol: head.protocol,
            statement: head.statement,
            products: products.into_iter().collect(),
            tables: self
                .tables
                .iter()
                .map(|t| format!("{}.{}", t.product, t.table))
                .collect(),
            domains: domains.into_iter().collect(),
            policies: head.policies,
            tables_written: self.written.into_iter().collect(),
            rows: self.rows,
            bytes_scanned: bytes,
            bytes_estimated: Vec::new(),
            duration_ms: (duration.as_micros() as f64) / 1000.0,
            outcome,
            sqlstate: sqlstate.map(str::to_string),
        };
        if planned.is_empty() {
            self.shared.audit.submit(event);
            return;
        }
        // Iceberg figures need the scan planned again (from the table's manifest cache): done off
        // the session's path, and the event follows when they are known.
        let mut event = event;
        scan::estimate_in_background(&self.shared, planned, move |shared, estimates| {
            for (domain, n) in estimates {
                *event.bytes_scanned.entry(domain.clone()).or_default() += n;
                if !event.bytes_estimated.contains(&domain) {
                    event.bytes_estimated.push(domain);
                }
            }
            event.bytes_scanned.retain(|_, n| *n > 0);
            shared.audit.submit(event);
        });
    }
}

/// Counters of the audit writer, for `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    write_errors: AtomicU64,
}

/// A snapshot of the writer's counters.
#[derive(Debug, Clone, Copy)]
pub struct AuditCounters {
    pub written: u64,
    pub dropped: u64,
    pub write_errors: u64,
}

enum Msg {
    Event(Box<Event>),
    /// Write out everything queued before it, then answer.
    Flush(std::sync::mpsc::Sender<()>),
}

/// The audit front: sessions submit events; one thread writes them.
pub struct Auditor {
    /// Shared with the writer thread, which reopens its files when `generation` moves.
    settings: Arc<RwLock<Arc<AuditSettings>>>,
    generation: Arc<AtomicU64>,
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
    last_drop_log: Mutex<Option<Instant>>,
    /// Where scanned files belong, for the mesh in use (see `scan`).
    pub(crate) attribution: scan::AttributionCache,
}

/// How often a failing writer or a full queue is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

impl Auditor {
    /// Starts the writer thread. Its queue size is fixed here (`audit.queue_events` takes effect
    /// at restart); everything else is re-read by [`Auditor::configure`].
    pub fn start(settings: &AuditSettings) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(settings.queue_events.max(1));
        let shared_settings = Arc::new(RwLock::new(Arc::new(settings.clone())));
        let generation = Arc::new(AtomicU64::new(0));
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            settings: shared_settings.clone(),
            generation: generation.clone(),
            counters: counters.clone(),
            seen: u64::MAX,
            main: None,
            domains: BTreeMap::new(),
        };
        if let Err(e) = std::thread::Builder::new()
            .name("meshgate-audit".into())
            .spawn(move || writer.run(rx))
        {
            // Events will count as dropped; the server itself runs on.
            tracing::error!("audit writer thread not started, audit events will be dropped: {e}");
        }
        Auditor {
            settings: shared_settings,
            generation,
            tx,
            counters,
            last_drop_log: Mutex::new(None),
            attribution: scan::AttributionCache::default(),
        }
    }

    /// Applies a reloaded `[audit]`; the writer reopens its files before its next write (which
    /// also serves log rotation: move the files away, then reload).
    pub fn configure(&self, settings: &AuditSettings) {
        *self
            .settings
            .write()
            .expect("audit settings lock is never poisoned") = Arc::new(settings.clone());
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn settings(&self) -> Arc<AuditSettings> {
        self.settings
            .read()
            .expect("audit settings lock is never poisoned")
            .clone()
    }

    pub fn enabled(&self) -> bool {
        self.settings().enabled()
    }

    pub fn counters(&self) -> AuditCounters {
        AuditCounters {
            written: self.counters.written.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            write_errors: self.counters.write_errors.load(Ordering::Relaxed),
        }
    }

    /// Queues an event without waiting; a full queue drops it (counted, logged now and then).
    pub fn submit(&self, event: Event) {
        match self.tx.try_send(Msg::Event(Box::new(event))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let mut last = self
                    .last_drop_log
                    .lock()
                    .expect("audit log lock is never poisoned");
                if last.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                    *last = Some(Instant::now());
                    tracing::warn!(
                        dropped,
                        "audit queue full or writer gone: audit events are being dropped"
                    );
                }
            }
        }
    }

    /// Waits (blocking, at most `within`) until every event queued so far is written and
    /// flushed. For shutdown and tests; sessions never call it.
    pub fn flush(&self, within: Duration) -> bool {
        let (ack_tx, ack_rx) = std::sync::mpsc::channel();
        let deadline = Instant::now() + within;
        let mut msg = Msg::Flush(ack_tx);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return false,
            }
        }
        ack_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

/// One output of the writer: stdout or an append-only file, opened lazily and again after a
/// failure.
struct Output {
    path: Option<PathBuf>,
    out: Option<Box<dyn Write + Send>>,
    last_error_log: Option<Instant>,
}

impl Output {
    fn new(path: Option<PathBuf>) -> Self {
        Output {
            path,
            out: None,
            last_error_log: None,
        }
    }

    fn write(&mut self, line: &[u8], counters: &Counters) -> bool {
        if self.out.is_none() {
            self.out = match &self.path {
                None => Some(Box::new(std::io::stdout())),
                Some(p) => match std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                {
                    Ok(f) => Some(Box::new(std::io::BufWriter::with_capacity(64 * 1024, f))),
                    Err(e) => {
                        self.failed(&e);
                        counters.write_errors.fetch_add(1, Ordering::Relaxed);
                        return false;
                    }
                },
            };
        }
        let out = self.out.as_mut().expect("opened above");
        if let Err(e) = out.write_all(line) {
            self.failed(&e);
            self.out = None;
            counters.write_errors.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn flush(&mut self, counters: &Counters) {
        if let Some(out) = self.out.as_mut() {
            if let Err(e) = out.flush() {
                self.failed(&e);
                self.out = None;
                counters.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn failed(&mut self, e: &std::io::Error) {
        if self.last_error_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            self.last_error_log = Some(Instant::now());
            let target = self
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "stdout".into());
            tracing::error!("audit events cannot be written to {target}: {e}");
        }
    }
}

struct Writer {
    settings: Arc<RwLock<Arc<AuditSettings>>>,
    generation: Arc<AtomicU64>,
    counters: Arc<Counters>,
    /// The settings generation the outputs were opened for.
    seen: u64,
    main: Option<Output>,
    domains: BTreeMap<String, Output>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        // Blocks for the first message, then takes whatever else is queued before flushing, so a
        // burst costs one flush and a lone event is on disk at once.
        while let Ok(first) = rx.recv() {
            let mut acks = Vec::new();
            let mut next = Some(first);
            while let Some(msg) = next {
                match msg {
                    Msg::Event(e) => self.write(&e),
                    Msg::Flush(ack) => acks.push(ack),
                }
                next = rx.try_recv().ok();
            }
            self.flush();
            for ack in acks {
                let _ = ack.send(());
            }
        }
        self.flush();
    }

    fn reopen_if_reconfigured(&mut self) {
        let generation = self.generation.load(Ordering::SeqCst);
        if generation == self.seen {
            return;
        }
        self.flush();
        self.seen = generation;
        let settings = self
            .settings
            .read()
            .expect("audit settings lock is never poisoned")
            .clone();
        self.main = match &settings.sink {
            AuditSink::None => None,
            AuditSink::Stdout => Some(Output::new(None)),
            AuditSink::File(p) => Some(Output::new(Some(p.clone()))),
        };
        self.domains = settings
            .domains
            .iter()
            .map(|(d, p)| (d.clone(), Output::new(Some(p.clone()))))
            .collect();
    }

    fn write(&mut self, event: &Event) {
        self.reopen_if_reconfigured();
        let mut line = match serde_json::to_vec(event) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("audit event not serialisable: {e}");
                self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        line.push(b'\n');
        let mut ok = true;
        if let Some(main) = self.main.as_mut() {
            ok &= main.write(&line, &self.counters);
        }
        for d in &event.domains {
            if let Some(out) = self.domains.get_mut(d) {
                ok &= out.write(&line, &self.counters);
            }
        }
        if ok {
            self.counters.written.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&mut self) {
        let counters = self.counters.clone();
        if let Some(main) = self.main.as_mut() {
            main.flush(&counters);
        }
        for out in self.domains.values_mut() {
            out.flush(&counters);
        }
    }
}
