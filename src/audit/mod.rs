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

mod record;
pub(crate) mod redact;
pub mod scan;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{AuditSettings, AuditSink};
use crate::error::SqlState;
use crate::exec::Executor;
use crate::metrics::{AuditCounters, Metrics};

pub use record::{StatementRecord, Who};

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
    pub fn of_error(sqlstate: SqlState) -> Self {
        if sqlstate == SqlState::QueryCanceled {
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
    /// The web catalog's own actions (an access request); its queries are `simple`.
    Http,
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
    /// The region of the peer gateway that ran the statement for the user, when one did:
    /// `user` logged in there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
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
    /// The version (Delta version, Iceberg snapshot id) each `product.table` was read at, so
    /// the statement can be run again exactly (`FOR VERSION AS OF`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
    /// `product.table`s the statement wrote or created (writable products).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables_written: Vec<String>,
    /// The statements sent to operational sources (PostgreSQL, SQLite), literals redacted as
    /// the statement's are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_statements: Vec<SourceStatement>,
    /// Rows sent to the client (DataRows, COPY rows).
    pub rows: u64,
    /// For a peer gateway's statement: the bytes of the result rows that left for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
    /// Bytes of the rows received from each remote source (a peer gateway, a PostgreSQL
    /// source), as they came over the wire.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub bytes_received: BTreeMap<String, u64>,
    /// Bytes read from storage, by domain; domains with nothing read are absent.
    pub bytes_scanned: BTreeMap<String, u64>,
    /// Domains whose `bytes_scanned` counts the data files the scan planned rather than the
    /// bytes it fetched (Iceberg scans report no byte metric).
    pub bytes_estimated: Vec<String>,
    /// The statement ran on the `[cluster]` (Ballista): its `bytes_scanned` are the sizes of
    /// the files its plan read, so its domains are in `bytes_estimated`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cluster: bool,
    /// The scheduler's id of its job, to find it in the cluster's logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_job: Option<String>,
    pub duration_ms: f64,
    pub outcome: Outcome,
    pub sqlstate: Option<String>,
}

/// One statement an operational source ran for a statement.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceStatement {
    /// Server and database (or SQLite file); never credentials.
    pub source: String,
    /// Null when it could not be parsed and redaction is on.
    pub statement: Option<String>,
}

/// Counters of the audit writer, for `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    write_errors: AtomicU64,
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
    /// Bytes scanned are counted here whether or not events are written.
    pub(crate) metrics: Arc<Metrics>,
    /// Runs the estimates of scans that report no bytes, off the sessions' path.
    pub(crate) executor: Arc<Executor>,
}

/// How often a failing writer or a full queue is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

impl Auditor {
    /// Starts the writer thread. Its queue size is fixed here (`audit.queue_events` takes effect
    /// at restart); everything else is re-read by [`Auditor::configure`].
    pub fn start(settings: &AuditSettings, metrics: Arc<Metrics>, executor: Arc<Executor>) -> Self {
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
            metrics,
            executor,
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
