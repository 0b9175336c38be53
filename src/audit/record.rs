//! One statement's audit record, from its start to its event.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::scan::{self, ScanProbe, TableRead};
use super::{Auditor, Event, Outcome, Protocol};
use crate::error::SqlState;

/// Who runs statements: the session's side of every event.
#[derive(Debug, Clone)]
pub struct Who {
    pub pid: i32,
    pub user: String,
    /// The roles the session acts with: every name its grants are matched against except the
    /// user itself (roles held, transitively, and `public`; after SET ROLE, that role's).
    pub roles: Vec<String>,
    pub peer: SocketAddr,
    pub application_name: String,
    /// The region of the peer gateway that runs the session for the user, when one does.
    pub gateway: Option<String>,
}

/// Who ran a statement, captured when it starts.
struct Head {
    time: chrono::DateTime<chrono::Utc>,
    who: Who,
    protocol: Protocol,
    statement: Option<String>,
    policies: Vec<String>,
    versions: BTreeMap<String, String>,
}

/// A statement in flight: what it read and returned so far. Finished exactly once with
/// [`StatementRecord::finish`]; a record dropped unfinished writes nothing.
pub struct StatementRecord {
    auditor: Arc<Auditor>,
    /// `None` when auditing was off as the statement began: then only the bytes-scanned metric
    /// is kept.
    head: Option<Head>,
    started: Instant,
    rows: u64,
    bytes_sent: Option<u64>,
    tables: BTreeSet<TableRead>,
    probes: Vec<Arc<ScanProbe>>,
    written: BTreeSet<String>,
    remote: BTreeSet<(String, String)>,
}

impl StatementRecord {
    /// Starts recording a statement. `who` is asked for only when auditing is on, as is
    /// `statement`, the audit text ([`super::redact::statement_text`]).
    pub fn begin(
        auditor: &Arc<Auditor>,
        who: impl FnOnce() -> Who,
        protocol: Protocol,
        statement: Option<String>,
    ) -> Self {
        let head = auditor.enabled().then(|| Head {
            time: chrono::Utc::now(),
            who: who(),
            protocol,
            statement,
            policies: Vec::new(),
            versions: BTreeMap::new(),
        });
        StatementRecord {
            auditor: auditor.clone(),
            head,
            started: Instant::now(),
            rows: 0,
            bytes_sent: None,
            tables: BTreeSet::new(),
            probes: Vec::new(),
            written: BTreeSet::new(),
            remote: BTreeSet::new(),
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
            self.remote.extend(
                probe
                    .remote()
                    .iter()
                    .map(|r| (r.source.clone(), r.sql.clone())),
            );
            self.probes.push(probe.clone());
        }
    }

    /// What the statement's plan decided: the row filters and masks (`domain.policy`) it
    /// applied and the version it read each table at.
    pub fn set_access(&mut self, access: crate::policy::StatementAccess) {
        if let Some(h) = self.head.as_mut() {
            h.policies = access.policies.into_iter().collect();
            h.versions = access.versions;
        }
    }

    pub fn add_written(&mut self, table: String) {
        self.written.insert(table);
    }

    pub fn add_rows(&mut self, n: u64) {
        self.rows += n;
    }

    pub fn add_bytes_sent(&mut self, n: u64) {
        *self.bytes_sent.get_or_insert(0) += n;
    }

    /// Ends the statement: settles the bytes its scans read since they were last settled (into
    /// the metric and the event) and hands the event to the writer.
    pub fn finish(self, outcome: Outcome, sqlstate: Option<SqlState>) {
        let duration = self.started.elapsed();
        let mut bytes = BTreeMap::new();
        let mut received = BTreeMap::new();
        let mut planned = Vec::new();
        let cluster = self.probes.iter().any(|p| p.on_cluster());
        let cluster_job = self.probes.iter().find_map(|p| p.cluster_job());
        // A statement stopped while the scheduler's answer was on its way learns its job's
        // id a moment later: the event waits for it.
        let pending_job = match cluster_job {
            None => self.probes.iter().find_map(|p| p.cluster_tracker()),
            Some(_) => None,
        };
        for p in &self.probes {
            p.settle(&mut bytes);
            p.settle_received(&mut received);
            planned.extend(p.take_planned());
        }
        let Some(head) = self.head else {
            if !planned.is_empty() {
                scan::estimate_in_background(&self.auditor, planned, |_, _| {});
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
        let estimated: Vec<String> = if cluster {
            bytes.keys().cloned().collect()
        } else {
            Vec::new()
        };
        let event = Event {
            time: head
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            pid: head.who.pid,
            user: head.who.user,
            roles: head.who.roles,
            client_addr: head.who.peer.ip().to_string(),
            client_port: head.who.peer.port(),
            application_name: head.who.application_name,
            gateway: head.who.gateway,
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
            versions: head.versions,
            tables_written: self.written.into_iter().collect(),
            source_statements: source_statements(
                &self.remote,
                self.auditor.settings().redact_literals,
            ),
            rows: self.rows,
            bytes_sent: self.bytes_sent,
            bytes_received: received,
            bytes_scanned: bytes,
            bytes_estimated: estimated,
            cluster,
            cluster_job,
            duration_ms: (duration.as_micros() as f64) / 1000.0,
            outcome,
            sqlstate: sqlstate.map(|s| s.code().to_string()),
        };
        match (pending_job, tokio::runtime::Handle::try_current()) {
            (Some(job), Ok(handle)) => {
                let auditor = self.auditor.clone();
                let mut event = event;
                handle.spawn(async move {
                    event.cluster_job = job.settled_id().await;
                    deliver(&auditor, event, planned);
                });
            }
            _ => deliver(&self.auditor, event, planned),
        }
    }
}

/// Hands `event` to the writer, once the figures of its `planned` scans are known.
fn deliver(auditor: &Arc<Auditor>, event: Event, planned: Vec<scan::Planned>) {
    if planned.is_empty() {
        auditor.submit(event);
        return;
    }
    // Planned scans' figures need the scan planned again (from the table's manifest cache): done off
    // the session's path, and the event follows when they are known.
    let mut event = event;
    scan::estimate_in_background(auditor, planned, move |auditor, estimates| {
        for (domain, n) in estimates {
            *event.bytes_scanned.entry(domain.clone()).or_default() += n;
            if !event.bytes_estimated.contains(&domain) {
                event.bytes_estimated.push(domain);
            }
        }
        event.bytes_scanned.retain(|_, n| *n > 0);
        auditor.submit(event);
    });
}

/// The audit text of the statements sent to sources: parsed and printed again, literals
/// redacted as configured, like the client's statement.
fn source_statements(
    remote: &BTreeSet<(String, String)>,
    redact: bool,
) -> Vec<super::SourceStatement> {
    use datafusion::sql::sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect};
    use datafusion::sql::sqlparser::parser::Parser;
    remote
        .iter()
        .map(|(source, sql)| {
            // Each source's statements are in its own dialect (MySQL quotes with backticks).
            let dialect: &dyn Dialect = if source.starts_with("mysql://") {
                &MySqlDialect {}
            } else {
                &PostgreSqlDialect {}
            };
            let statement = match Parser::parse_sql(dialect, sql).as_deref() {
                Ok([stmt]) => Some(super::redact::statement_text(stmt, redact)),
                _ => super::redact::unparsed_text(sql, redact),
            };
            super::SourceStatement {
                source: source.clone(),
                statement,
            }
        })
        .collect()
}
