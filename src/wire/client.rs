//! The session's client over a socket: replies as messages, rows as DataRows or COPY data.
//!
//! While a statement's rows are being produced the socket is read too: that is how a client
//! that went away is noticed before the first row is ready (the statement is then stopped), and
//! a message that does arrive (a pipelined Sync, say) is kept for after the statement.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use futures::{SinkExt, StreamExt};
use meshgate_protocol::codec::FrameError;
use pgwire::api::results::DataRowEncoder;
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
use pgwire::messages::extendedquery::PortalSuspended;
use pgwire::messages::response::{CommandComplete, EmptyQueryResponse, NoticeResponse};
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::io::{AsyncRead, AsyncWrite};

use super::copy::Framing;
use super::{Conn, MAX_PENDING};
use crate::error::UserError;
use crate::metrics::Metrics;
use crate::session::encode::row_description;
use crate::session::{
    CancelSlot, Client, CopyFormat, Failure, Gone, Guard, Pumped, Reply, RowSource,
};

pub(super) struct Connection<S> {
    pub conn: Conn<S>,
    /// Messages read while a statement was running, handled before the socket is read again.
    /// At most [`MAX_PENDING`] are held; past that the socket is left unread, which is
    /// backpressure on a pipelining client.
    pub pending: VecDeque<Result<PgWireFrontendMessage, FrameError>>,
    /// The session's cancel slot: `pg_terminate_backend` ends the connection through it.
    slot: Arc<CancelSlot>,
    metrics: Arc<Metrics>,
    /// The web catalog's public URL (`server.web_url`): a 42501 for a table names the page
    /// where access to its product can be requested.
    catalog_url: Option<String>,
}

impl<S> Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub fn new(
        conn: Conn<S>,
        slot: Arc<CancelSlot>,
        metrics: Arc<Metrics>,
        catalog_url: Option<String>,
    ) -> Self {
        Connection {
            conn,
            pending: VecDeque::new(),
            slot,
            metrics,
            catalog_url,
        }
    }

    async fn feed(&mut self, m: PgWireBackendMessage) -> Result<(), Gone> {
        self.conn.feed(m).await.map_err(|_| Gone)
    }

    /// An error the statement or protocol step ends with; the session goes on.
    pub async fn error(&mut self, e: &UserError) -> Result<(), Gone> {
        self.metrics.error(e.code);
        let hinted;
        let e = match (&self.catalog_url, crate::policy::denied_product(e)) {
            (Some(url), Some(product)) if e.hint.is_none() => {
                hinted = e.clone().with_hint(format!(
                    "Access can be requested in the data catalog: {url}/products/{product}"
                ));
                &hinted
            }
            _ => e,
        };
        self.conn
            .send(PgWireBackendMessage::ErrorResponse(e.to_response()))
            .await
            .map_err(|_| Gone)
    }

    /// Sends a FATAL error as the connection's last words and closes so that the client reads
    /// it (see `close.rs`).
    pub async fn close_with(&mut self, e: &UserError) {
        self.metrics.error(e.code);
        let sent = self
            .conn
            .send(PgWireBackendMessage::ErrorResponse(e.to_response()))
            .await;
        if sent.is_ok() {
            super::close::linger(self.conn.get_mut()).await;
        }
    }
}

#[async_trait]
impl<S> Client for Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn reply(&mut self, reply: Reply) -> Result<(), Gone> {
        let m = match reply {
            Reply::Columns(fields) => row_description(&fields),
            Reply::Row(fields, values) => {
                let mut enc = DataRowEncoder::new(fields);
                for v in values {
                    // Text values into text columns: the encoder cannot fail on them.
                    let _ = enc.encode_field(&Some(v));
                }
                PgWireBackendMessage::DataRow(enc.take_row())
            }
            Reply::Complete(tag) => {
                PgWireBackendMessage::CommandComplete(CommandComplete::new(tag))
            }
            Reply::Notice {
                warning,
                code,
                message,
            } => {
                let severity = if warning { "WARNING" } else { "NOTICE" };
                PgWireBackendMessage::NoticeResponse(NoticeResponse::new(vec![
                    (b'S', severity.into()),
                    (b'V', severity.into()),
                    (b'C', code.code().into()),
                    (b'M', message),
                ]))
            }
            Reply::Parameter(name, value) => {
                PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name, value))
            }
            Reply::Empty => PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new()),
            Reply::Suspended => PgWireBackendMessage::PortalSuspended(PortalSuspended::new()),
        };
        self.feed(m).await
    }

    async fn rows(
        &mut self,
        src: &mut RowSource,
        limit: usize,
        send: bool,
        guard: &Guard,
    ) -> Result<Pumped, Failure> {
        let mut budget = if limit == 0 { usize::MAX } else { limit };
        let result = loop {
            if let Some(now) = src.take(budget) {
                budget -= now.num_rows();
                if send {
                    for row in src.encode(now) {
                        let row = row.map_err(|e| UserError::internal("row encoding", &e))?;
                        // The message's tag, length and column count, then its columns.
                        src.bytes_sent += 7 + row.data.len() as u64;
                        self.feed(PgWireBackendMessage::DataRow(row)).await?;
                    }
                }
            }
            if budget == 0 {
                break Ok(Pumped::Suspended);
            }
            let next = tokio::select! {
                biased;
                e = guard.stopped() => break Err(e.into()),
                b = src.stream.next() => b,
                // Reading while the engine works is how a vanished client is noticed before
                // the first row is ready; a message that does arrive is kept for later.
                m = self.conn.next(), if self.pending.len() < MAX_PENDING => match m {
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
        // pg_terminate_backend cancels the running statement; the session ends with it.
        if self.slot.terminated().is_cancelled() {
            self.close_with(&UserError::terminated()).await;
            return Err(Failure::Gone);
        }
        result
    }

    async fn copy_out(
        &mut self,
        src: &mut RowSource,
        format: &CopyFormat,
        guard: &Guard,
    ) -> Result<u64, Failure> {
        let columns = src.fields.len();
        let code = i16::from(*format == CopyFormat::Binary);
        self.feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            code as i8,
            columns as i16,
            vec![code; columns],
        )))
        .await?;
        let framing = Framing::new(format);
        let mut buf = BytesMut::new();
        framing.header(&mut buf, &src.fields);
        if !buf.is_empty() {
            self.feed(PgWireBackendMessage::CopyData(CopyData::new(
                buf.split().freeze(),
            )))
            .await?;
        }
        let mut rows = 0u64;
        loop {
            let next = tokio::select! {
                biased;
                e = guard.stopped() => return Err(e.into()),
                b = src.stream.next() => b,
            };
            let batch = match next {
                None => break,
                Some(Err(e)) => return Err(src.error(&e).into()),
                Some(Ok(b)) => b,
            };
            for row in src.encode(batch) {
                let row = row.map_err(|e| UserError::internal("copy encoding", &e))?;
                framing.row(&mut buf, &row);
                // One CopyData per row, as PostgreSQL sends them.
                self.feed(PgWireBackendMessage::CopyData(CopyData::new(
                    buf.split().freeze(),
                )))
                .await?;
                rows += 1;
            }
        }
        if *format == CopyFormat::Binary {
            buf.put_i16(-1);
            self.feed(PgWireBackendMessage::CopyData(CopyData::new(
                buf.split().freeze(),
            )))
            .await?;
        }
        self.feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
            .await?;
        Ok(rows)
    }
}

/// Sleeps for `d`, or forever when `None`.
pub(super) async fn sleep_for(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
