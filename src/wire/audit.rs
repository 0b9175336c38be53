//! Where the session loop tells the audit what a statement did (see `crate::audit`).
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

use tokio::io::{AsyncRead, AsyncWrite};

use super::extended::PortalState;
use super::{Failure, SessionLoop};
use crate::audit::redact;
use crate::audit::scan::ScanProbe;
use crate::audit::{statement_policies, Outcome, Protocol, StatementRecord};
use crate::error::UserError;

/// The SQLSTATE recorded for a statement whose client went away before it ended
/// (`connection_failure`, as PostgreSQL logs a lost client).
const CONNECTION_FAILURE: &str = "08006";

impl<S> SessionLoop<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// `Some(redact_literals)` when statements need an audit text.
    pub(crate) fn audit_texts(&self) -> Option<bool> {
        let settings = self.shared.audit.settings();
        settings.enabled().then_some(settings.redact_literals)
    }

    fn record(&self, protocol: Protocol, statement: Option<String>) -> StatementRecord {
        StatementRecord::begin(&self.shared, &self.session, self.peer, protocol, statement)
    }

    /// Ends `r` with what the session knows at the statement's end.
    fn finish(&self, mut r: StatementRecord, outcome: Outcome, sqlstate: Option<&str>) {
        r.set_policies(statement_policies(&self.session));
        r.finish(outcome, sqlstate);
    }

    pub(crate) fn audit_begin(&mut self, protocol: Protocol, statement: Option<String>) {
        self.stmt = Some(self.record(protocol, statement));
    }

    pub(crate) fn audit_attach(&mut self, probe: &Arc<ScanProbe>) {
        if let Some(r) = self.stmt.as_mut() {
            r.attach(probe);
        }
    }

    pub(crate) fn audit_rows(&mut self, n: usize) {
        if let Some(r) = self.stmt.as_mut() {
            r.add_rows(n as u64);
        }
    }

    pub(crate) fn audit_end(&mut self, result: &Result<(), Failure>) {
        let Some(r) = self.stmt.take() else { return };
        match result {
            Ok(()) => self.finish(r, Outcome::Ok, None),
            Err(Failure::User(e)) => self.finish(r, Outcome::of_error(e.code), Some(e.code)),
            Err(Failure::Gone) => self.finish(r, Outcome::Error, Some(CONNECTION_FAILURE)),
        }
    }

    /// A simple Query whose text did not parse: one event for the message.
    pub(crate) fn audit_unparsed(&mut self, sql: &str, e: &UserError) {
        let text = self
            .audit_texts()
            .and_then(|redact| redact::unparsed_text(sql, redact));
        self.audit_begin(Protocol::Simple, text);
        self.audit_end(&Err(Failure::User(e.clone())));
    }

    /// A Parse that failed (syntax, unknown table…): the statement will never execute, so this
    /// is its event. `started` is when the Parse began.
    pub(crate) fn audit_failed_parse(&mut self, sql: &str, started: Instant, e: &UserError) {
        let text = self
            .audit_texts()
            .and_then(|redact| match super::query::parse(sql) {
                Ok(stmts) if stmts.len() == 1 => Some(redact::statement_text(&stmts[0], redact)),
                _ => redact::unparsed_text(sql, redact),
            });
        let mut r = self.record(Protocol::Extended, text);
        r.backdate(started);
        self.finish(r, Outcome::of_error(e.code), Some(e.code));
    }

    /// A Bind that failed (parameter values): the statement's event.
    pub(crate) fn audit_failed_bind(
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
    pub(crate) fn audit_resume(&mut self, portal: &str) {
        let Some(p) = self.portals.get_mut(portal) else {
            return;
        };
        if let Some(r) = p.audit.take() {
            self.stmt = Some(r);
        } else if !matches!(p.state, PortalState::Done) {
            let text = p.prepared.audit_text.clone();
            self.stmt = Some(StatementRecord::begin(
                &self.shared,
                &self.session,
                self.peer,
                Protocol::Extended,
                text,
            ));
        }
    }

    /// After an Execute: a suspended portal keeps its record until it completes or is dropped.
    pub(crate) fn audit_after_execute(&mut self, portal: &str, result: &Result<(), Failure>) {
        if result.is_ok() {
            if let Some(p) = self.portals.get_mut(portal) {
                if matches!(p.state, PortalState::Running(_)) {
                    // Parked: if the portal is dropped before completing, this is its event.
                    p.audit = self.stmt.take().map(|mut r| {
                        r.set_policies(statement_policies(&self.session));
                        r
                    });
                    return;
                }
            }
        }
        self.audit_end(result);
    }
}
