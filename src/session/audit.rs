//! Where the session tells the audit what a statement did (see `crate::audit`).
//!
//! ```text
//!  simple Query:  per statement   begin ─ run_command ─ end(result)
//!  extended:      Parse / Bind    an event only when they fail (the statement never runs)
//!                 Execute         begin (or resume the portal's record) ─ execute ─
//!                                   suspended: record parked in the portal
//!                                   else: end(result)
//!                 portal dropped while suspended (Close, Sync, COMMIT…): event, outcome ok
//!  start() of any plan attaches its scans; pumps add rows and attach resumed scans
//! ```
//!
//! A record exists for every statement, audit on or off, because bytes scanned are counted in
//! the metric at the statement's end either way.

use std::sync::Arc;
use std::time::Instant;

use super::prepared::PortalState;
use super::{Failure, Session};
use crate::audit::redact;
use crate::audit::scan::ScanProbe;
use crate::audit::{Outcome, Protocol, StatementRecord, Who};
use crate::error::{SqlState, UserError};

impl Session {
    /// `Some(redact_literals)` when statements need an audit text.
    pub(super) fn audit_texts(&self) -> Option<bool> {
        let settings = self.services.auditor.settings();
        settings.enabled().then_some(settings.redact_literals)
    }

    fn who(&self) -> Who {
        let p = &self.access.principal;
        Who {
            pid: self.pid(),
            user: self.login.user.clone(),
            roles: p.names.iter().filter(|n| **n != p.user).cloned().collect(),
            peer: self.login.peer,
            application_name: self.get("application_name").unwrap_or_default(),
            gateway: self.login.gateway.clone(),
        }
    }

    fn record(&self, protocol: Protocol, statement: Option<String>) -> StatementRecord {
        StatementRecord::begin(&self.services.auditor, || self.who(), protocol, statement)
    }

    /// What the statement's plan applied and read (policies, table versions). Asked when the
    /// statement ends: the access record then holds what its planning (or, for a portal, its
    /// Parse) decided.
    fn planned(&self) -> crate::policy::StatementAccess {
        self.access.current()
    }

    /// Ends `r` with what the session knows at the statement's end.
    fn finish(&self, mut r: StatementRecord, outcome: Outcome, sqlstate: Option<SqlState>) {
        r.set_access(self.planned());
        r.finish(outcome, sqlstate);
    }

    pub(super) fn audit_begin(&mut self, protocol: Protocol, statement: Option<String>) {
        self.record = Some(self.record(protocol, statement));
    }

    pub(super) fn audit_attach(&mut self, probe: &Arc<ScanProbe>) {
        if let Some(r) = self.record.as_mut() {
            r.attach(probe);
        }
    }

    pub(super) fn audit_rows(&mut self, n: usize) {
        if let Some(r) = self.record.as_mut() {
            r.add_rows(n as u64);
        }
    }

    /// What left for a peer gateway: counted for its statements only.
    pub(super) fn audit_bytes_sent(&mut self, n: u64) {
        if self.login.gateway.is_some() {
            if let Some(r) = self.record.as_mut() {
                r.add_bytes_sent(n);
            }
        }
    }

    /// A table the statement wrote or created.
    pub(super) fn audit_written(&mut self, product: &str, table: &str) {
        if let Some(r) = self.record.as_mut() {
            r.add_written(format!("{product}.{table}"));
        }
    }

    pub(super) fn audit_end(&mut self, result: &Result<(), Failure>) {
        let Some(r) = self.record.take() else { return };
        match result {
            Ok(()) => self.finish(r, Outcome::Ok, None),
            Err(Failure::User(e)) => self.finish(r, Outcome::of_error(e.code), Some(e.code)),
            // As PostgreSQL logs a lost client.
            Err(Failure::Gone) => self.finish(r, Outcome::Error, Some(SqlState::ConnectionFailure)),
        }
    }

    /// A simple Query whose text did not parse: one event for the message.
    pub(super) fn audit_unparsed(&mut self, sql: &str, e: &UserError) {
        let text = self
            .audit_texts()
            .and_then(|redact| redact::unparsed_text(sql, redact));
        self.audit_begin(Protocol::Simple, text);
        self.audit_end(&Err(Failure::User(e.clone())));
    }

    /// A Parse that failed (syntax, unknown table…): the statement will never execute, so this
    /// is its event. `started` is when the Parse began.
    pub(super) fn audit_failed_parse(&mut self, sql: &str, started: Instant, e: &UserError) {
        let text = self
            .audit_texts()
            .and_then(|redact| match crate::sql::parse_one(sql) {
                Ok(stmt) => Some(redact::statement_text(&stmt, redact)),
                Err(_) => redact::unparsed_text(sql, redact),
            });
        let mut r = self.record(Protocol::Extended, text);
        r.backdate(started);
        self.finish(r, Outcome::of_error(e.code), Some(e.code));
    }

    /// A Bind that failed (parameter values): the statement's event.
    pub(super) fn audit_failed_bind(
        &mut self,
        text: Option<String>,
        started: Instant,
        e: &UserError,
    ) {
        let mut r = self.record(Protocol::Extended, text);
        r.backdate(started);
        self.finish(r, Outcome::of_error(e.code), Some(e.code));
    }

    /// Before an Execute: the portal's parked record if it was suspended, else a new one.
    /// Executing a portal that already completed records nothing.
    pub(super) fn audit_resume(&mut self, portal: &str) {
        let Some(p) = self.portals.get_mut(portal) else {
            return;
        };
        if let Some(r) = p.audit.take() {
            self.record = Some(r);
        } else if !matches!(p.state, PortalState::Done) {
            let text = p.prepared.audit_text.clone();
            self.record = Some(self.record(Protocol::Extended, text));
        }
    }

    /// After an Execute: a suspended portal keeps its record until it completes or is dropped.
    pub(super) fn audit_after_execute(&mut self, portal: &str, result: &Result<(), Failure>) {
        if result.is_ok() {
            let planned = self.planned();
            if let Some(p) = self.portals.get_mut(portal) {
                if matches!(p.state, PortalState::Running(_)) {
                    // Parked: if the portal is dropped before completing, this is its event.
                    p.audit = self.record.take().map(|mut r| {
                        r.set_access(planned);
                        r
                    });
                    return;
                }
            }
        }
        self.audit_end(result);
    }
}
