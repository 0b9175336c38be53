//! SQL run as the signed-in user, for the table page's preview and version history: a
//! session like a Postgres connection's (the same front end, policies, `statement_timeout`,
//! memory limits and audit events), whose client keeps the rows as PostgreSQL's text.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use async_trait::async_trait;
use futures::StreamExt;
use pgwire::messages::data::DataRow;

use super::signed::Signed;
use super::Web;
use crate::error::UserError;
use crate::session::{
    Client, CopyFormat, Failure, Gone, Guard, Login, Pumped, Reply, RowSource, Session,
};

/// What a query answered.
#[derive(Debug, Default)]
pub(super) struct Answer {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// The `application_name` of the catalog's sessions (audit events show it).
pub(super) const APPLICATION: &str = "meshgate web catalog";

impl Web {
    /// Runs `sql` (one statement) as `who`; its error as SQL would report it.
    pub(super) async fn run_as(
        &self,
        who: &Signed,
        peer: SocketAddr,
        sql: &str,
    ) -> Result<Answer, UserError> {
        let login = Login {
            user: who.user.clone(),
            admin: who.admin,
            method: who.method,
            roles: who.roles.clone(),
            peer,
            gateway: None,
        };
        let timeout = self.services.mesh.config().server.web_statement_timeout_ms;
        let params = BTreeMap::from([
            ("application_name".to_string(), APPLICATION.to_string()),
            ("statement_timeout".to_string(), timeout.to_string()),
        ]);
        let mut session = Session::start(self.services.clone(), login, &params)?;
        let mut out = Answer::default();
        let result = run(&mut session, sql, &mut out).await;
        session.end();
        result.map(|()| out)
    }
}

async fn run(session: &mut Session, sql: &str, out: &mut Answer) -> Result<(), UserError> {
    for parsed in session.parse_batch(sql)? {
        match session.run_statement(parsed, out).await {
            Ok(()) => {}
            Err(Failure::User(e)) => return Err(e),
            Err(Failure::Gone) => return Err(UserError::cancelled()),
        }
    }
    Ok(())
}

/// A DataRow's text values.
fn text_values(row: &DataRow) -> Vec<Option<String>> {
    let mut rest: &[u8] = &row.data;
    let mut out = Vec::with_capacity(row.field_count.max(0) as usize);
    for _ in 0..row.field_count {
        if rest.len() < 4 {
            break;
        }
        let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        rest = &rest[4..];
        if len < 0 {
            out.push(None);
            continue;
        }
        let len = (len as usize).min(rest.len());
        out.push(Some(String::from_utf8_lossy(&rest[..len]).into_owned()));
        rest = &rest[len..];
    }
    out
}

#[async_trait]
impl Client for Answer {
    async fn reply(&mut self, reply: Reply) -> Result<(), Gone> {
        match reply {
            Reply::Columns(fields) => {
                self.columns = fields.iter().map(|f| f.name().to_string()).collect();
            }
            Reply::Row(fields, values) => {
                self.columns = fields.iter().map(|f| f.name().to_string()).collect();
                self.rows.push(values.into_iter().map(Some).collect());
            }
            _ => {}
        }
        Ok(())
    }

    async fn rows(
        &mut self,
        src: &mut RowSource,
        limit: usize,
        send: bool,
        guard: &Guard,
    ) -> Result<Pumped, Failure> {
        let mut budget = if limit == 0 { usize::MAX } else { limit };
        loop {
            if let Some(now) = src.take(budget) {
                budget -= now.num_rows();
                if send {
                    for row in src.encode(now) {
                        let row = row.map_err(|e| UserError::internal("row encoding", &e))?;
                        self.rows.push(text_values(&row));
                    }
                }
            }
            if budget == 0 {
                return Ok(Pumped::Suspended);
            }
            let next = tokio::select! {
                biased;
                e = guard.stopped() => return Err(e.into()),
                b = src.stream.next() => b,
            };
            match next {
                None => return Ok(Pumped::Done),
                Some(Err(e)) => return Err(src.error(&e).into()),
                Some(Ok(b)) => src.pending = Some(b),
            }
        }
    }

    async fn copy_out(
        &mut self,
        _src: &mut RowSource,
        _format: &CopyFormat,
        _guard: &Guard,
    ) -> Result<u64, Failure> {
        Err(UserError::new(
            crate::error::SqlState::FeatureNotSupported,
            "COPY is not available in the web catalog",
        )
        .into())
    }
}
