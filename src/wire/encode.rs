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
    let infos =
        arrow_pg::datatypes::arrow_schema_to_pg_fields(schema, format, None).map_err(|e| {
            UserError::unsupported(format!(
                "a result column has a type meshgate cannot send: {e}"
            ))
        })?;
    let infos = infos
        .into_iter()
        .zip(schema.fields())
        .map(|(info, f)| match f.data_type() {
            // PostgreSQL's numeric typmod: ((precision << 16) | scale) + VARHDRSZ. Drivers read
            // the scale from it (JDBC getScale, psycopg's Decimal context).
            DataType::Decimal128(p, s) if *s >= 0 => {
                info.with_type_modifier((((*p as i32) << 16) | (*s as i32)) + 4)
            }
            _ => info,
        })
        .collect();
    Ok(Arc::new(infos))
}

/// The rows of a batch as DataRows in the fields' formats.
pub(crate) fn encode_rows(
    fields: Arc<Vec<FieldInfo>>,
    batch: RecordBatch,
) -> impl Iterator<Item = pgwire::error::PgWireResult<pgwire::messages::data::DataRow>> {
    let scales = binary_numeric_scales(&fields);
    arrow_pg::datatypes::encode_recordbatch(fields, batch).map(move |row| {
        let mut row = row?;
        if let Some(scales) = &scales {
            keep_zero_scale(&mut row, scales);
        }
        Ok(row)
    })
}

/// The scale of each binary numeric column with one; None when there is none.
fn binary_numeric_scales(fields: &[FieldInfo]) -> Option<Vec<u16>> {
    let scales: Vec<u16> = fields
        .iter()
        .map(|f| match f.format() {
            pgwire::api::results::FieldFormat::Binary
                if *f.datatype() == pgwire::api::Type::NUMERIC && f.type_modifier() >= 4 =>
            {
                ((f.type_modifier() - 4) & 0xffff) as u16
            }
            _ => 0,
        })
        .collect();
    scales.iter().any(|s| *s > 0).then_some(scales)
}

/// The binary encoder writes a zero as a numeric without digits and with display scale 0;
/// PostgreSQL keeps the column's scale (0.00), which drivers decode (pgjdbc's BigDecimal
/// scale, psycopg's Decimal('0.00')), as they do from text. A binary numeric is ndigits,
/// weight, sign, dscale (i16 each), then the digits.
fn keep_zero_scale(row: &mut pgwire::messages::data::DataRow, scales: &[u16]) {
    let data = &mut row.data;
    let mut at = 0usize;
    for scale in scales {
        let Some(len) = data
            .get(at..at + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return;
        };
        at += 4;
        if len < 0 {
            continue;
        }
        let len = len as usize;
        if *scale > 0
            && len == 8
            && data
                .get(at..at + 8)
                .is_some_and(|v| v.iter().all(|b| *b == 0))
        {
            data[at + 6..at + 8].copy_from_slice(&scale.to_be_bytes());
        }
        at += len;
    }
}

pub(crate) fn row_description(fields: &[FieldInfo]) -> PgWireBackendMessage {
    PgWireBackendMessage::RowDescription(RowDescription::new(
        fields.iter().map(FieldDescription::from).collect(),
    ))
}

/// Result formats from a Bind: none (all text), one for all, or one per column.
pub(crate) fn result_format(codes: &[i16], columns: usize) -> Result<Format, UserError> {
    for c in codes {
        if *c != 0 && *c != 1 {
            return Err(UserError::new(
                crate::error::sqlstate::PROTOCOL_VIOLATION,
                format!("unsupported format code: {c}"),
            ));
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
    pub fn new(
        stream: BatchStream,
        fields: Arc<Vec<FieldInfo>>,
        redact: bool,
        probe: Arc<ScanProbe>,
    ) -> Self {
        RowSource {
            stream,
            pending: None,
            fields,
            sent: 0,
            redact,
            probe,
        }
    }

    /// The client's error for a failure of the stream.
    pub fn error(&self, e: &datafusion::error::DataFusionError) -> UserError {
        let u = UserError::from_datafusion(e);
        if !self.redact
            || matches!(
                u.code,
                sqlstate::QUERY_CANCELED | sqlstate::OUT_OF_MEMORY | sqlstate::TOO_MANY_CONNECTIONS
            )
        {
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
    pub(crate) async fn pump(
        &mut self,
        src: &mut RowSource,
        limit: usize,
    ) -> Result<Pumped, Failure> {
        self.pump_rows(src, limit, true).await
    }

    /// As [`SessionLoop::pump`]; with `send` false the rows are counted and dropped (MOVE).
    pub(crate) async fn pump_rows(
        &mut self,
        src: &mut RowSource,
        limit: usize,
        send: bool,
    ) -> Result<Pumped, Failure> {
        // A cursor's FETCH or a resumed portal reads through a scan started by an earlier message.
        self.audit_attach(&src.probe);
        let token = self.slot.arm();
        let deadline = self
            .session
            .statement_timeout()
            .map(|d| tokio::time::Instant::now() + d);
        let mut budget = if limit == 0 { usize::MAX } else { limit };
        let result = loop {
            if let Some(batch) = src.pending.take() {
                let n = batch.num_rows().min(budget);
                let (now, later) = (batch.slice(0, n), batch.slice(n, batch.num_rows() - n));
                if send {
                    for row in encode_rows(src.fields.clone(), now) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Decimal128Array;
    use datafusion::arrow::datatypes::Field;

    #[test]
    fn binary_numeric_zeros_keep_their_scale() {
        let schema = Schema::new(vec![Field::new("n", DataType::Decimal128(15, 2), true)]);
        let values = Decimal128Array::from(vec![Some(0), Some(150), None])
            .with_precision_and_scale(15, 2)
            .expect("decimal array");
        let batch =
            RecordBatch::try_new(Arc::new(schema.clone()), vec![Arc::new(values)]).expect("batch");
        let rows: Vec<_> = encode_rows(
            fields(&schema, &Format::UnifiedBinary).expect("fields"),
            batch,
        )
        .map(|r| r.expect("row").data.to_vec())
        .collect();
        // Length 8, then ndigits 0, weight 0, sign 0, dscale 2: PostgreSQL's 0.00.
        assert_eq!(rows[0], vec![0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2]);
        // 1.50: one digit group (1), weight 0, dscale 2, then 1 and 5000 — untouched.
        assert_eq!(
            rows[1],
            vec![0, 0, 0, 12, 0, 2, 0, 0, 0, 0, 0, 2, 0, 1, 0x13, 0x88]
        );
        assert_eq!(rows[2], vec![0xff, 0xff, 0xff, 0xff]);
    }
}
