//! The extended-query protocol's messages: Parse → Bind → Describe → Execute (with a row limit
//! that suspends the portal) → Sync, with named and unnamed statements and portals, which the
//! session holds. After an error, the loop skips everything up to Sync.

use futures::SinkExt;
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{BindComplete, CloseComplete, ParseComplete};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Loop;
use crate::session::encode::row_description;
use crate::session::{Description, Failure, Gone};

fn description(d: Description) -> PgWireBackendMessage {
    match d {
        Description::Rows(fields) => row_description(&fields),
        Description::NoData => PgWireBackendMessage::NoData(NoData::new()),
    }
}

impl<S> Loop<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn feed(&mut self, m: PgWireBackendMessage) -> Result<(), Failure> {
        self.io.conn.feed(m).await.map_err(|_| Failure::Gone)
    }

    /// One extended-protocol message. An error fails an open transaction block.
    pub(super) async fn extended(&mut self, msg: PgWireFrontendMessage) -> Result<(), Failure> {
        let result = self.message(msg).await;
        if matches!(result, Err(Failure::User(_))) {
            self.session.fail_transaction();
        }
        result
    }

    async fn message(&mut self, msg: PgWireFrontendMessage) -> Result<(), Failure> {
        match msg {
            PgWireFrontendMessage::Parse(p) => {
                let name = p.name.clone().unwrap_or_default();
                self.session
                    .parse_statement(name, &p.query, &p.type_oids)
                    .await?;
                self.feed(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
                    .await
            }
            PgWireFrontendMessage::Bind(b) => {
                self.session.bind_portal(&b).await?;
                self.feed(PgWireBackendMessage::BindComplete(BindComplete::new()))
                    .await
            }
            PgWireFrontendMessage::Describe(d) => {
                let name = d.name.clone().unwrap_or_default();
                if d.target_type == b'S' {
                    let (oids, desc) = self.session.describe_statement(&name)?;
                    self.feed(PgWireBackendMessage::ParameterDescription(
                        ParameterDescription::new(oids),
                    ))
                    .await?;
                    self.feed(description(desc)).await
                } else {
                    let desc = self.session.describe_portal(&name)?;
                    self.feed(description(desc)).await
                }
            }
            PgWireFrontendMessage::Execute(e) => {
                let name = e.name.clone().unwrap_or_default();
                let max_rows = usize::try_from(e.max_rows).unwrap_or(0);
                self.session.execute(&name, max_rows, &mut self.io).await
            }
            PgWireFrontendMessage::Close(c) => {
                let name = c.name.clone().unwrap_or_default();
                self.session.close(c.target_type == b'S', &name);
                self.feed(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
                    .await
            }
            PgWireFrontendMessage::Flush(_) => self.io.conn.flush().await.map_err(|_| Gone.into()),
            _ => Ok(()),
        }
    }
}
