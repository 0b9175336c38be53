//! Tables of a domain in another jurisdiction, read through that region's gateway: another
//! meshgate, which speaks PostgreSQL's protocol. The link is mutual TLS, the peer knowing this
//! gateway by its certificate; each statement runs there as the user it runs for here (the
//! session's [`OnBehalfOf`]), under that user's grants and policies and the product's
//! residency rules, which the peer enforces. Metadata (column types) is read as the gateway
//! itself.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::Field;
use datafusion::common::TableReference;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use meshgate_connector_api::{
    AsOf, Connector, ConnectorError, OnBehalfOf, OpenedTable, PeerSource, PostgresSource,
    RemoteError, RemoteSource, Result, Storage, TableSpec, TlsMode,
};

use crate::pool::{self, Pool};
use crate::pushdown::ident;
use crate::tls::MakeRustls;
use crate::{remote_table, types, Link};

/// Opens tables of other jurisdictions through their region's gateway; keeps one link per
/// peer for the server's life.
#[derive(Default)]
pub struct PeerConnector {
    links: Mutex<HashMap<String, Arc<PeerLink>>>,
}

impl fmt::Debug for PeerConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerConnector")
    }
}

impl PeerConnector {
    fn link(&self, s: &PeerSource) -> Result<Arc<PeerLink>, String> {
        // New certificates (a reload) make a new link; the old one ends with its last query.
        let key = format!(
            "{}\u{0}{}:{}\u{0}{}\u{0}{:?}\u{0}{:?}",
            s.region, s.host, s.port, s.server_name, s.cert_pem, s.ca_pem
        );
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = links.get(&key) {
            return Ok(Arc::clone(l));
        }
        let link = Arc::new(PeerLink::new(s.clone())?);
        links.insert(key, Arc::clone(&link));
        Ok(link)
    }
}

#[async_trait]
impl Connector for PeerConnector {
    fn format(&self) -> &'static str {
        "peer"
    }

    async fn open(&self, spec: &TableSpec, _storage: &Storage) -> Result<OpenedTable> {
        self.open_peer(spec, None).await
    }

    /// The peer reads the version: the table's name carries it, as the front end folds
    /// `FOR … AS OF` into names, so the statements sent there name it too.
    async fn open_at(&self, spec: &TableSpec, _storage: &Storage, at: AsOf) -> Result<OpenedTable> {
        self.open_peer(spec, Some(at)).await
    }
}

impl PeerConnector {
    async fn open_peer(&self, spec: &TableSpec, at: Option<AsOf>) -> Result<OpenedTable> {
        let name = spec.qualified_name.as_str();
        let Some(RemoteSource::Peer(source)) = &spec.remote else {
            return Err(ConnectorError::Config {
                table: name.to_string(),
                reason: "a table of another jurisdiction needs its peer gateway".into(),
            });
        };
        let link = self.link(source).map_err(|reason| ConnectorError::Config {
            table: name.to_string(),
            reason,
        })?;
        let pool = link.own();
        let client = pool.get().await.map_err(|e| ConnectorError::Unavailable {
            table: name.to_string(),
            source: e,
        })?;
        let table = match at {
            None => source.table.clone(),
            Some(AsOf::Version(n)) => format!("{} FOR VERSION AS OF {n}", source.table),
            Some(AsOf::Timestamp(ms)) => format!(
                "{} FOR TIMESTAMP AS OF {}",
                source.table,
                chrono::DateTime::from_timestamp_millis(ms)
                    .unwrap_or_default()
                    .format("%Y-%m-%d %H:%M:%S%.3f+00")
            ),
        };
        let from = format!("{}.{}", ident(&source.product), ident(&table));
        // Describing a statement plans it there without reading a row.
        let statement = client
            .prepare(&format!("SELECT * FROM {from}"))
            .await
            .map_err(|e| {
                if pool::connection_broke(&e, &client) {
                    ConnectorError::Unavailable {
                        table: name.to_string(),
                        source: pool::unavailable(
                            pool.name(),
                            meshgate_connector_api::Unreachable::Lost,
                            &e,
                        ),
                    }
                } else {
                    let db = e.as_db_error();
                    ConnectorError::Remote {
                        source: RemoteError {
                            source: source.describe(),
                            code: db.map(|d| d.code().code().to_string()).unwrap_or_default(),
                            message: db.map(|d| d.message().to_string()).unwrap_or_default(),
                        },
                    }
                }
            })?;
        let mut fields = Vec::new();
        let mut kinds = Vec::new();
        for c in statement.columns() {
            let kind = types::kind(c.type_().name(), c.type_modifier());
            fields.push(Field::new(c.name(), kind.arrow(), true));
            kinds.push(kind);
        }
        Ok(OpenedTable::new(Arc::new(remote_table(
            Link::Peer(link),
            TableReference::partial(source.product.as_str(), table.as_str()),
            fields,
            kinds,
        ))))
    }
}

/// Connections a peer gateway gets from here, per user.
const PEER_CONNECTIONS: usize = 4;

/// One peer gateway: its TLS, and a pool per user this gateway speaks for there.
pub struct PeerLink {
    pub source: PeerSource,
    tls: MakeRustls,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
}

impl PeerLink {
    pub fn new(source: PeerSource) -> Result<PeerLink, String> {
        let tls = MakeRustls::mutual(
            &source.ca_pem,
            &source.cert_pem,
            source.key_pem.expose().as_bytes(),
            &source.server_name,
        )?;
        Ok(PeerLink {
            source,
            tls,
            pools: Mutex::new(HashMap::new()),
        })
    }

    /// The pool of connections logged in as `user` with `roles`.
    pub fn pool(&self, user: &str, roles: &[String]) -> Arc<Pool> {
        let key = format!("{user}\u{0}{}", roles.join(","));
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = pools.get(&key) {
            return Arc::clone(p);
        }
        let s = &self.source;
        let login = PostgresSource {
            host: s.host.clone(),
            port: s.port,
            database: s.database.clone(),
            user: user.to_string(),
            password: None,
            schema: s.product.clone(),
            table: s.table.clone(),
            tls: TlsMode::VerifyFull {
                ca_pem: s.ca_pem.clone(),
            },
            max_connections: PEER_CONNECTIONS,
        };
        // Role names are identifiers (the config checks them), so they need no quoting here.
        let options = if roles.is_empty() {
            String::new()
        } else {
            format!(" -c mesh.login_roles={}", roles.join(","))
        };
        let pool = Arc::new(Pool::with_tls(
            login,
            Some(self.tls.clone()),
            options,
            Duration::from_millis(s.connect_timeout_ms.max(1)),
            s.describe(),
        ));
        pools.insert(key, Arc::clone(&pool));
        pool
    }

    /// The pool for the statement `ctx` runs: its user's.
    pub fn pool_for(&self, ctx: &TaskContext) -> DfResult<Arc<Pool>> {
        let who = ctx
            .session_config()
            .get_extension::<OnBehalfOf>()
            .ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "a statement for {} names no user",
                    self.source.describe()
                ))
            })?;
        Ok(self.pool(&who.user, &who.login_roles))
    }

    /// The gateway's own login there, for metadata.
    pub fn own(&self) -> Arc<Pool> {
        self.pool(&self.source.gateway_user, &[])
    }
}
