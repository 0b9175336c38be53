//! A bounded pool of connections to one MySQL server, database and user.
//!
//! Its own rather than sqlx's: sqlx's pool retries a refused connection until its acquire
//! timeout, where a source that is down should fail the query at once (08001); and a statement
//! abandoned mid-result (a cancel, `statement_timeout`) must be stopped in the server with
//! `KILL QUERY`, which needs the connection's id.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshgate_connector_api::{MysqlSource, SourceUnavailable, TlsMode, Unreachable};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::{Connection, Executor, Row};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Pool {
    source: MysqlSource,
    options: MySqlConnectOptions,
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<(MySqlConnection, u64)>>,
}

/// A connection lent out; back to the pool when dropped, unless it was left mid-statement.
pub struct Pooled {
    conn: Option<MySqlConnection>,
    /// The server's id of the connection (`CONNECTION_ID()`), what `KILL QUERY` names.
    pub id: u64,
    pool: Arc<Pool>,
    /// Set while a statement's rows are being read: a connection dropped then is closed, and
    /// its statement killed.
    pub busy: bool,
    _slot: OwnedSemaphorePermit,
}

impl Pooled {
    pub fn conn(&mut self) -> &mut MySqlConnection {
        self.conn.as_mut().expect("present until dropped")
    }

    /// Closes the connection instead of returning it.
    pub fn discard(mut self) {
        self.busy = false;
        self.conn.take();
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !self.busy {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.push((conn, self.id));
            return;
        }
        // The statement may still be running in the server: stop it from a connection of its
        // own, then drop this one.
        let pool = Arc::clone(&self.pool);
        let id = self.id;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Ok(Ok(mut killer)) = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    MySqlConnection::connect_with(&pool.options),
                )
                .await
                {
                    let _ = killer.execute(format!("KILL QUERY {id}").as_str()).await;
                    let _ = killer.close().await;
                }
                drop(conn);
            });
        }
    }
}

impl Pool {
    pub fn new(source: MysqlSource) -> Self {
        let mut options = MySqlConnectOptions::new()
            .host(&source.host)
            .port(source.port)
            .username(&source.user)
            .database(&source.database)
            // UTC: TIMESTAMP columns are read as instants.
            .timezone(Some("+00:00".to_string()));
        if let Some(p) = &source.password {
            options = options.password(p.expose());
        }
        options = match &source.tls {
            TlsMode::Disable => options.ssl_mode(MySqlSslMode::Disabled),
            // The certificate must chain to the domain's CA (sqlx adds it to the system's
            // roots) and name the host.
            TlsMode::VerifyFull { ca_pem } => options
                .ssl_mode(MySqlSslMode::VerifyIdentity)
                .ssl_ca_from_pem(ca_pem.clone()),
        };
        Pool {
            slots: Arc::new(Semaphore::new(source.max_connections.max(1))),
            source,
            options,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn source(&self) -> &MysqlSource {
        &self.source
    }

    pub fn unavailable(&self, kind: Unreachable, e: &sqlx::Error) -> SourceUnavailable {
        SourceUnavailable {
            source: self.source.describe(),
            kind,
            reason: reason(e),
        }
    }

    /// A live connection: an idle one that still answers, or a new one.
    pub async fn get(self: &Arc<Self>) -> Result<Pooled, SourceUnavailable> {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((mut conn, id)) = idle else { break };
            // A connection the server dropped (a restart) is found here, not by the query.
            if conn.ping().await.is_ok() {
                return Ok(self.lend(conn, id, slot));
            }
        }
        let (conn, id) = self.connect().await?;
        Ok(self.lend(conn, id, slot))
    }

    fn lend(
        self: &Arc<Self>,
        conn: MySqlConnection,
        id: u64,
        slot: OwnedSemaphorePermit,
    ) -> Pooled {
        Pooled {
            conn: Some(conn),
            id,
            pool: Arc::clone(self),
            busy: false,
            _slot: slot,
        }
    }

    async fn connect(&self) -> Result<(MySqlConnection, u64), SourceUnavailable> {
        let connected = async {
            let mut conn = MySqlConnection::connect_with(&self.options).await?;
            // A backslash in a literal is itself (as in PostgreSQL); without this MySQL reads
            // it as an escape, and a literal could end early.
            conn.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
                .await?;
            let id: u64 = conn
                .fetch_one("SELECT CAST(CONNECTION_ID() AS CHAR)")
                .await?
                .try_get::<String, _>(0)?
                .parse()
                .map_err(|_| sqlx::Error::Protocol("CONNECTION_ID() is not a number".into()))?;
            Ok::<_, sqlx::Error>((conn, id))
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, connected).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(self.unavailable(Unreachable::Connect, &e)),
            Err(_) => Err(SourceUnavailable {
                source: self.source.describe(),
                kind: Unreachable::Connect,
                reason: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
            }),
        }
    }
}

/// An error's text for a client: sqlx's, which names no password.
fn reason(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.message().to_string(),
        e => e.to_string(),
    }
}
