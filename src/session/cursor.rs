//! SQL-level cursors: `DECLARE … CURSOR FOR query`, `FETCH n`, `MOVE n`, `CLOSE`, as psycopg2's
//! named cursors (and so dbt) and other drivers send them in a transaction block.
//!
//! A cursor is a running statement parked between FETCHes: DECLARE starts the DataFusion stream
//! and each FETCH pulls the next rows from it, as the extended protocol's portals do, so a cursor
//! over a large table never holds more than a batch. Cursors only move forward (a stream cannot
//! go back); a backward FETCH is refused by the parser's classification.

use std::sync::Arc;

use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;

use super::transaction::TxState;
use super::{complete, Client, Failure, Pumped, Reply, RowSource, Session};
use crate::error::{SqlState, UserError};

/// An open cursor.
pub(super) struct Cursor {
    pub src: RowSource,
    /// WITH HOLD: survives the end of the transaction that declared it.
    pub hold: bool,
    /// The stream has ended; later FETCHes return no rows.
    pub done: bool,
}

fn missing(name: &str) -> UserError {
    UserError::new(
        SqlState::InvalidCursorName,
        format!("cursor \"{name}\" does not exist"),
    )
}

impl Session {
    pub(super) async fn declare(
        &mut self,
        name: String,
        binary: bool,
        hold: bool,
        query: &datafusion::sql::sqlparser::ast::Statement,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        if !hold && self.tx.state == TxState::Idle {
            return Err(UserError::new(
                SqlState::NoActiveTransaction,
                "DECLARE CURSOR can only be used in transaction blocks",
            )
            .into());
        }
        if self.cursors.contains_key(&name) {
            return Err(UserError::new(
                SqlState::DuplicateCursor,
                format!("cursor \"{name}\" already exists"),
            )
            .into());
        }
        let plan = self.plan_for_client(query).await?;
        let format = if binary {
            Format::UnifiedBinary
        } else {
            Format::UnifiedText
        };
        let src = self.stream(plan, &format).await?;
        self.cursors.insert(
            name,
            Cursor {
                src,
                hold,
                done: false,
            },
        );
        complete(client, "DECLARE CURSOR").await
    }

    /// FETCH (`send`) or MOVE. `count` None = all remaining rows.
    pub(super) async fn fetch(
        &mut self,
        name: &str,
        count: Option<u64>,
        send: bool,
        describe: bool,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let mut cursor = self.cursors.remove(name).ok_or_else(|| missing(name))?;
        if send && describe {
            client
                .reply(Reply::Columns(cursor.src.fields.clone()))
                .await?;
        }
        let verb = if send { "FETCH" } else { "MOVE" };
        // FETCH 0 re-reads the current row in PostgreSQL; a stream has none to re-read.
        if cursor.done || count == Some(0) {
            self.cursors.insert(name.to_string(), cursor);
            return complete(client, &format!("{verb} 0")).await;
        }
        let before = cursor.src.sent;
        let limit = count
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .unwrap_or(0);
        // A failed FETCH aborts the transaction, and with it the cursor: it is not put back.
        match self.pump(client, &mut cursor.src, limit, send).await? {
            Pumped::Done => cursor.done = true,
            Pumped::Suspended => {}
        }
        let n = cursor.src.sent - before;
        self.cursors.insert(name.to_string(), cursor);
        complete(client, &format!("{verb} {n}")).await
    }

    pub(super) async fn close_cursor(
        &mut self,
        name: Option<String>,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        match name {
            None => self.cursors.clear(),
            Some(n) => {
                self.cursors.remove(&n).ok_or_else(|| missing(&n))?;
            }
        }
        complete(client, "CLOSE CURSOR").await
    }

    /// Ends the cursors that live no longer than their transaction.
    pub(super) fn close_transaction_cursors(&mut self) {
        self.cursors.retain(|_, c| c.hold);
    }

    /// The columns a FETCH on this cursor sends (extended protocol's Describe).
    pub(super) fn cursor_fields(&self, name: &str) -> Result<Arc<Vec<FieldInfo>>, UserError> {
        let c = self.cursors.get(name).ok_or_else(|| missing(name))?;
        Ok(c.src.fields.clone())
    }
}
