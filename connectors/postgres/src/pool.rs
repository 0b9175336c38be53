//! A bounded pool of connections per source: at most `max_connections` are open, idle ones are
//! reused, and one whose connection broke is dropped, so the pool heals once the source is back.

use std::sync::{Arc, Mutex};

use meshgate_connector_api::{PostgresSource, SourceUnavailable, TlsMode, Unreachable};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{CancelToken, Client, Config, NoTls, Socket};

use crate::tls::MakeRustls;

pub struct Pool {
    source: PostgresSource,
    /// Set when the source is reached over TLS.
    tls: Option<MakeRustls>,
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Client>>,
    /// Startup options beyond the ones every connection sets (a peer gateway's user's roles).
    options: String,
    connect_timeout: std::time::Duration,
    /// What messages call the source (never with credentials).
    name: String,
}

/// A connection lent by a [`Pool`]; it goes back when dropped, unless it broke.
pub struct Pooled {
    client: Option<Client>,
    pool: Arc<Pool>,
    _slot: OwnedSemaphorePermit,
}

impl std::ops::Deref for Pooled {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("held until drop")
    }
}

impl Pooled {
    /// Closes the connection instead of returning it to the pool.
    pub fn discard(mut self) {
        self.client.take();
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if !c.is_closed() {
                self.pool
                    .idle
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(c);
            }
        }
    }
}

impl Pool {
    pub fn new(source: PostgresSource) -> Result<Self, String> {
        let tls = match &source.tls {
            TlsMode::Disable => None,
            TlsMode::VerifyFull { ca_pem } => Some(MakeRustls::new(ca_pem)?),
        };
        let name = source.describe();
        Ok(Self::with_tls(
            source,
            tls,
            String::new(),
            std::time::Duration::from_secs(10),
            name,
        ))
    }

    /// A pool whose connections use `tls` (a peer gateway's: a client certificate, and the
    /// peer's certificate name checked rather than the host's), with extra startup `options`.
    pub fn with_tls(
        source: PostgresSource,
        tls: Option<MakeRustls>,
        options: String,
        connect_timeout: std::time::Duration,
        name: String,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(source.max_connections.max(1)));
        Pool {
            source,
            tls,
            slots,
            idle: Mutex::new(Vec::new()),
            options,
            connect_timeout,
            name,
        }
    }

    /// Asks the source to stop the statement `token`'s connection is running.
    pub async fn cancel(&self, token: CancelToken) -> Result<(), tokio_postgres::Error> {
        match &self.tls {
            None => token.cancel_query(NoTls).await,
            Some(t) => token.cancel_query(t.clone()).await,
        }
    }

    /// The source as messages name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn source(&self) -> &PostgresSource {
        &self.source
    }

    pub async fn get(self: &Arc<Self>) -> Result<Pooled, SourceUnavailable> {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        loop {
            let reused = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match reused {
                Some(c) if c.is_closed() => continue,
                Some(c) => return Ok(self.lend(c, slot)),
                None => break,
            }
        }
        let client = self.connect().await?;
        Ok(self.lend(client, slot))
    }

    fn lend(self: &Arc<Self>, client: Client, slot: OwnedSemaphorePermit) -> Pooled {
        Pooled {
            client: Some(client),
            pool: Arc::clone(self),
            _slot: slot,
        }
    }

    async fn connect(&self) -> Result<Client, SourceUnavailable> {
        let s = &self.source;
        let mut config = Config::new();
        config
            .host(&s.host)
            .port(s.port)
            .dbname(&s.database)
            .user(&s.user)
            .application_name("meshgate")
            .connect_timeout(self.connect_timeout)
            // Values are read in these settings' formats (UTC instants, ISO dates).
            .options(format!(
                "-c TimeZone=UTC -c DateStyle=ISO -c extra_float_digits=3{}",
                self.options
            ));
        if let Some(p) = &s.password {
            config.password(p.expose());
        }
        let connected = match &self.tls {
            None => connect(&config, NoTls, s.describe()).await,
            Some(t) => {
                config.ssl_mode(SslMode::Require);
                connect(&config, t.clone(), s.describe()).await
            }
        };
        connected.map_err(|e| unavailable(&self.name, Unreachable::Connect, &e))
    }
}

/// Connects, leaving the connection's I/O to its own task.
async fn connect<T>(config: &Config, tls: T, name: String) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket> + 'static + Send,
    T::TlsConnect: Send,
    T::Stream: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(source = %name, "connection to the source ended: {e}");
        }
    });
    Ok(client)
}

/// The client's view of a failure to reach the source. tokio-postgres' texts name the server's
/// message or the socket error, never the password.
pub fn unavailable(name: &str, kind: Unreachable, e: &tokio_postgres::Error) -> SourceUnavailable {
    let mut reason = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        reason = format!("{reason}: {c}");
        cause = c.source();
    }
    SourceUnavailable {
        source: name.to_string(),
        kind,
        reason,
    }
}

/// Whether a failed query failed because the connection did (rather than the SQL).
pub fn connection_broke(e: &tokio_postgres::Error, client: &Client) -> bool {
    if client.is_closed() || e.is_closed() {
        return true;
    }
    match e.code().map(|c| c.code()) {
        // Connection exceptions, and the server shutting down or being restarted.
        Some(code) => code.starts_with("08") || code.starts_with("57P"),
        None => e.as_db_error().is_none(),
    }
}
