//! Arrow → PostgreSQL row encoding: field descriptions with real type OIDs and typmods, and rows
//! pumped from a running statement to the socket.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use futures::{SinkExt, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::messages::data::{FieldDescription, RowDescription};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::io::{AsyncRead, AsyncWrite};

use super::codec::FrameError;
use super::{Failure, SessionLoop};
use crate::audit::scan::ScanProbe;
use crate::error::{sqlstate, UserError};
use crate::exec::BatchStream;

/// Field descriptions for a result schema in the given formats.
pub(crate) fn fields(schema: &Schema, format: &Format) -> Result<Arc<Vec<FieldInfo>>, UserError> {
    let infos = arrow_pg::datatypes::arrow_schema_to_pg_fields(schema, format, None)
        .map_err(|e| UserError::unsupported(format!("a result column has a type meshgate cannot send: {e}")))?;
    let infos = infos
        .into_iter()
        .zip(schema.fields())
        .map(|(info, f)| match f.data_type() {
            // PostgreSQL's numeric typmod: ((precision << 16) | scale) + VARHDRSZ. Drivers read
            // the scale from it (JDBC getScale, psycopg's Decimal context).
            DataType::Decimal128(p, s) if *s >= 0 => info.with_type_modifier((((*p as i32) << 16) | (*s as i32)) + 4),
            _ => info,
        })
        .collect();
    Ok(Arc::new(infos))
}

pub(crate) fn row_description(fields: &[FieldInfo]) -> PgWireBackendMessage {
    PgWireBackendMessage::RowDescription(RowDescription::new(fields.iter().map(FieldDescription::from).collect()))
}

/// Result formats from a Bind: none (all text), one for all, or one per column.
pub(crate) fn result_format(codes: &[i16], columns: usize) -> Result<Format, UserError> {
    for c in codes {
        if *c != 0 && *c != 1 {
            return Err(UserError::new(crate::error::sqlstate::PROTOCOL_VIOLATION, format!("unsupported format code: {c}")));
        }
    }
    Ok(match codes.len() {
        0 => Format::UnifiedText,
        1 => Format::from(codes[0]),
        n if n == columns => Format::Individual(codes.to_vec()),
        n => {
            return Err(UserError::new(
                crate::error::sqlstate::PROTOCOL_VIOLATION,
                format!("bind message has {n} result formats but query has {columns} columns"),
            ))
        }
    })
}

/// The rows of a statement on their way to the client; kept in a portal between Executes.
pub(crate) struct RowSource {
    pub stream: BatchStream,
    /// Rows of a batch not yet sent (a row limit fell inside it).
    pub pending: Option<RecordBatch>,
    pub fields: Arc<Vec<FieldInfo>>,
    /// Rows sent so far, for the command tag.
    pub sent: usize,
    /// The plan reads a table under a row filter: an error raised while evaluating rows may
    /// quote a value from a row the filter hides (a failed cast, say), so its text is withheld.
    pub redact: bool,
    /// The plan's scans, read for bytes scanned by each statement that pulls rows from it.
    pub probe: Arc<ScanProbe>,
}

impl RowSource {
    pub fn new(stream: BatchStream, fields: Arc<Vec<FieldInfo>>, redact: bool, probe: Arc<ScanProbe>) -> Self {
        RowSource { stream, pending: None, fields, sent: 0, redact, probe }
    }

    /// The client's error for a failure of the stream.
    pub fn error(&self, e: &datafusion::error::DataFusionError) -> UserError {
        let u = UserError::from_datafusion(e);
        if !self.redact || matches!(u.code, sqlstate::QUERY_CANCELED | sqlstate::OUT_OF_MEMORY | sqlstate::TOO_MANY_CONNECTIONS) {
            return u;
        }
        let id = crate::error::error_id();
        tracing::warn!(error_id = %id, "error under a row filter, withheld from the client: {}", u.message);
        UserError::new(
            u.code,
            format!("the query failed while evaluating rows of a table under a row filter; the details are withheld because they could show filtered rows (error id {id})"),
        )
    }
}

/// What a pump ended with.
pub(crate) enum Pumped {
    Done,
    /// The row limit was reached; the portal can be resumed.
    Suspended,
}

impl<S> SessionLoop<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Sends up to `limit` rows (0 = all) as DataRows. Stops early with 57014 when the statement
    /// is cancelled or times out; the engine task is dropped with the stream.
    pub(crate) async fn pump(&mut self, src: &mut RowSource, limit: usize) -> Result<Pumped, Failure> {
        self.pump_rows(src, limit, true).await
    }

    /// As [`SessionLoop::pump`]; with `send` false the rows are counted and dropped (MOVE).
    pub(crate) async fn pump_rows(&mut self, src: &mut RowSource, limit: usize, send: bool) -> Result<Pumped, Failure> {
        // A cursor's FETCH or a resumed portal reads through a scan started by an earlier message.
        self.audit_attach(&src.probe);
        let token = self.slot.begin();
        let deadline = self.session.statement_timeout().map(|d| tokio::time::Instant::now() + d);
        let mut budget = if limit == 0 { usize::MAX } else { limit };
        let result = loop {
            if let Some(batch) = src.pending.take() {
                let n = batch.num_rows().min(budget);
                let (now, later) = (batch.slice(0, n), batch.slice(n, batch.num_rows() - n));
                if send {
                    for row in arrow_pg::datatypes::encode_recordbatch(src.fields.clone(), now) {
                        let row = row.map_err(|e| UserError::internal("row encoding", &e))?;
                        self.conn.feed(PgWireBackendMessage::DataRow(row)).await?;
                    }
                }
                src.sent += n;
                if send {
                    self.audit_rows(n);
                }
                budget -= n;
                if later.num_rows() > 0 {
                    src.pending = Some(later);
                }
            }
            if budget == 0 {
                break Ok(Pumped::Suspended);
            }
            let next = tokio::select! {
                biased;
                _ = token.cancelled() => break Err(UserError::cancelled().into()),
                _ = sleep_until(deadline) => break Err(UserError::statement_timeout().into()),
                b = src.stream.next() => b,
                // Reading while the engine works is how a vanished client is noticed before
                // the first row is ready; a message that does arrive is kept for later.
                m = self.conn.next(), if self.pending.len() < super::MAX_PENDING => match m {
                    None | Some(Err(FrameError::Io(_))) | Some(Ok(PgWireFrontendMessage::Terminate(_))) => {
                        tracing::info!("client went away during a statement; stopping it");
                        break Err(Failure::Gone);
                    }
                    Some(other) => {
                        self.pending.push_back(other);
                        continue;
                    }
                },
            };
            match next {
                None => break Ok(Pumped::Done),
                Some(Err(e)) => break Err(src.error(&e).into()),
                Some(Ok(b)) if b.num_rows() > 0 => src.pending = Some(b),
                Some(Ok(_)) => {}
            }
        };
        self.slot.end();
        // pg_terminate_backend cancels the running statement; the session ends with it.
        if self.slot.terminated().is_cancelled() {
            self.close_with(&super::terminated_error()).await;
            return Err(Failure::Gone);
        }
        result
    }
}

/// Sleeps for `d`, or forever when `None`.
pub(crate) async fn sleep_for(d: Option<std::time::Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
