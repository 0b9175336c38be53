//! SQL-level cursors: `DECLARE … CURSOR FOR query`, `FETCH n`, `MOVE n`, `CLOSE`, as psycopg2's
//! named cursors (and so dbt) and other drivers send them in a transaction block.
//!
//! A cursor is a running statement parked between FETCHes: DECLARE starts the DataFusion stream
//! and each FETCH pulls the next rows from it, as the extended protocol's portals do, so a cursor
//! over a large table never holds more than a batch. Cursors only move forward (a stream cannot
//! go back); a backward FETCH is refused by the parser's classification.

use futures::SinkExt;
use pgwire::api::portal::Format;
use pgwire::messages::PgWireBackendMessage;
use tokio::io::{AsyncRead, AsyncWrite};

use super::encode::{row_description, Pumped, RowSource};
use super::{Failure, SessionLoop, TxState};
use crate::error::{sqlstate, UserError};

/// An open cursor.
pub(crate) struct Cursor {
    pub src: RowSource,
    /// WITH HOLD: survives the end of the transaction that declared it.
    pub hold: bool,
    /// The stream has ended; later FETCHes return no rows.
    pub done: bool,
}

fn missing(name: &str) -> UserError {
    UserError::new(
        sqlstate::INVALID_CURSOR_NAME,
        format!("cursor \"{name}\" does not exist"),
    )
}

impl<S> SessionLoop<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub(crate) async fn declare(
        &mut self,
        name: String,
        binary: bool,
        hold: bool,
        query: &datafusion::sql::sqlparser::ast::Statement,
    ) -> Result<(), Failure> {
        if !hold && self.tx == TxState::Idle {
            return Err(UserError::new(
                "25P01",
                "DECLARE CURSOR can only be used in transaction blocks",
            )
            .into());
        }
        if self.cursors.contains_key(&name) {
            return Err(
                UserError::new("42P03", format!("cursor \"{name}\" already exists")).into(),
            );
        }
        let plan = self.plan(query).await?;
        let format = if binary {
            Format::UnifiedBinary
        } else {
            Format::UnifiedText
        };
        let src = self.start(plan, &format).await?;
        self.cursors.insert(
            name,
            Cursor {
                src,
                hold,
                done: false,
            },
        );
        self.complete("DECLARE CURSOR").await
    }

    /// FETCH (`send`) or MOVE. `count` None = all remaining rows.
    pub(crate) async fn fetch(
        &mut self,
        name: &str,
        count: Option<u64>,
        send: bool,
        describe: bool,
    ) -> Result<(), Failure> {
        let mut cursor = self.cursors.remove(name).ok_or_else(|| missing(name))?;
        if send && describe {
            self.conn.feed(row_description(&cursor.src.fields)).await?;
        }
        let verb = if send { "FETCH" } else { "MOVE" };
        // FETCH 0 re-reads the current row in PostgreSQL; a stream has none to re-read.
        if cursor.done || count == Some(0) {
            self.cursors.insert(name.to_string(), cursor);
            return self.complete(&format!("{verb} 0")).await;
        }
        let before = cursor.src.sent;
        let limit = count
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .unwrap_or(0);
        // A failed FETCH aborts the transaction, and with it the cursor: it is not put back.
        match self.pump_rows(&mut cursor.src, limit, send).await? {
            Pumped::Done => cursor.done = true,
            Pumped::Suspended => {}
        }
        let n = cursor.src.sent - before;
        self.cursors.insert(name.to_string(), cursor);
        self.complete(&format!("{verb} {n}")).await
    }

    pub(crate) async fn close_cursor(&mut self, name: Option<String>) -> Result<(), Failure> {
        match name {
            None => self.cursors.clear(),
            Some(n) => {
                self.cursors.remove(&n).ok_or_else(|| missing(&n))?;
            }
        }
        self.complete("CLOSE CURSOR").await
    }

    /// Ends the cursors that live no longer than their transaction.
    pub(crate) fn close_transaction_cursors(&mut self) {
        self.cursors.retain(|_, c| c.hold);
    }

    /// The row description a FETCH on this cursor sends (extended protocol's Describe).
    pub(crate) fn cursor_description(&self, name: &str) -> Result<PgWireBackendMessage, UserError> {
        let c = self.cursors.get(name).ok_or_else(|| missing(name))?;
        Ok(row_description(&c.src.fields))
    }
}
