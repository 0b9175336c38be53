//! The server: listening, admission, reload and drain, and what every connection is lent.
//!
//! ```text
//!  TcpListener ─ accept ─► task per connection ─► wire::handle_connection(Context)
//!                               │   Context: the configuration, credentials (TLS, JWT), admission,
//!                               │   metrics, and the session services (mesh, executor, audit,
//!  Server ◄─────────────────────┘   session registry), as they are when the connection arrives
//!    ├─ admission.rs  connection slots, CancelRequest rate per address
//!    ├─ http.rs       the HTTP port: /health, /metrics and the web catalog (crate::web)
//!    └─ reload: config ─► credentials ─► mesh, all or nothing
//! ```
//!
//! A panic inside one connection's task ends that task only: tokio catches it at the task
//! boundary, and the connection's guards give back its slot and cancel key on unwind.
//!
//! Shutdown drains: stop accepting, let running statements finish for `drain_timeout_ms`, cancel
//! what is still running, and return once every connection task has ended.

mod admission;
mod http;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::Auditor;
use crate::auth::{Credentials, Logins};
use crate::catalog::{Mesh, MeshState};
use crate::config::{Config, ConfigError};
use crate::exec::Executor;
use crate::metrics::{Gauges, Metrics};
use crate::session::replicas::Peers;
use crate::session::{Control, Registry, Services, Template};
use admission::Admission;

/// Everything connections share. What a reload replaces sits behind a lock; running sessions
/// keep the `Arc`s they started with.
pub struct Server {
    /// The mesh and the configuration it was built from.
    mesh: Arc<MeshState>,
    /// TLS and the JWT key set of the running configuration.
    credentials: RwLock<Credentials>,
    pub executor: Arc<Executor>,
    /// Statement audit events (see `crate::audit`).
    pub audit: Arc<Auditor>,
    pub metrics: Arc<Metrics>,
    /// Every session's pid and cancel key.
    pub registry: Arc<Registry>,
    pub peers: Arc<Peers>,
    /// The engine state every session is copied from.
    template: Arc<Template>,
    logins: Arc<Logins>,
    admission: Arc<Admission>,
    /// Cancelled when shutdown begins: sessions end after their current statement.
    draining: CancellationToken,
    /// Every connection task, so shutdown can wait for them.
    tracker: TaskTracker,
    /// Where the HTTP port listens, once bound (port 0 picks a free one).
    http_addr: OnceLock<std::net::SocketAddr>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Io(std::io::Error),
}

/// Why a reload was refused (the running configuration stays).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ReloadError(#[from] ConfigError);

impl Server {
    pub fn new(config: Config) -> Result<Arc<Self>, Error> {
        let replica = config.replicas.id;
        let peers = Arc::new(Peers::from_settings(&config.replicas));
        let credentials = Credentials::build(&config).map_err(Error::Config)?;
        let threads = config.server.exec_threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        let executor = Arc::new(
            Executor::new(threads, config.server.batch_size, &config.limits)
                .map_err(Error::Io)?
                .with_engine_settings(&config.engine),
        );
        let metrics = Arc::new(Metrics::default());
        let audit = Arc::new(Auditor::start(
            &config.audit,
            metrics.clone(),
            executor.clone(),
        ));
        let mesh = Arc::new(
            MeshState::new(
                config,
                executor.env.clone(),
                meshgate_connectors::registry(),
            )
            .map_err(Error::Config)?,
        );
        Ok(Arc::new(Server {
            admission: Arc::new(Admission::new(mesh.clone(), metrics.clone())),
            mesh,
            credentials: RwLock::new(credentials),
            executor,
            audit,
            metrics,
            registry: Arc::new(Registry::for_replica(replica)),
            peers,
            template: Arc::default(),
            logins: Arc::default(),
            draining: CancellationToken::new(),
            tracker: TaskTracker::new(),
            http_addr: OnceLock::new(),
        }))
    }

    pub fn config(&self) -> Arc<Config> {
        self.mesh.config()
    }

    /// The mesh sessions plan against now.
    pub fn mesh(&self) -> Arc<Mesh> {
        self.mesh.mesh()
    }

    /// The HTTP port's address (operator endpoints and web catalog), once it listens.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http_addr.get().copied()
    }

    /// The former name of [`Server::http_addr`].
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.http_addr()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Sessions holding a slot now.
    pub fn sessions(&self) -> usize {
        self.admission.sessions()
    }

    fn gauges(&self) -> Gauges {
        Gauges {
            sessions: self.sessions(),
            queries_running: self.executor.running(),
            queries_queued: self.executor.queued(),
            memory_reserved: self.executor.memory_reserved(),
            audit: self.audit.counters(),
        }
    }

    /// What a new connection is lent.
    fn context(self: &Arc<Self>) -> crate::wire::Context {
        crate::wire::Context {
            config: self.config(),
            credentials: self
                .credentials
                .read()
                .expect("credentials lock is never poisoned")
                .clone(),
            logins: self.logins.clone(),
            metrics: self.metrics.clone(),
            admission: self.admission.clone(),
            services: Services {
                mesh: self.mesh.clone(),
                executor: self.executor.clone(),
                auditor: self.audit.clone(),
                registry: self.registry.clone(),
                peers: self.peers.clone(),
                control: self.clone(),
                metrics: self.metrics.clone(),
                template: self.template.clone(),
            },
            draining: self.draining.clone(),
        }
    }

    /// Re-reads the configuration file and, when it is valid, switches to it: users, TLS
    /// certificates, limits, domains and products. Running statements keep the mesh they
    /// started with; the next statement of every session sees the new one. Settings fixed at
    /// start (listen address, threads, memory pool) are reported and left as they were.
    pub fn reload(&self) -> Result<(), ReloadError> {
        let old = self.config();
        let result = (|| {
            let config = Config::load(&old.path)?;
            let credentials = Credentials::build(&config)?;
            let mesh = self.mesh.build(&config, &self.mesh.workspaces.snapshot())?;
            Ok::<_, ConfigError>((config, credentials, mesh))
        })();
        let (config, credentials, mesh) = match result {
            Ok(x) => x,
            Err(e) => {
                self.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!("reload refused, keeping the running configuration: {e}");
                return Err(e.into());
            }
        };
        for (key, changed) in [
            ("server.listen", config.server.listen != old.server.listen),
            (
                "server.http_listen",
                config.server.http_listen != old.server.http_listen,
            ),
            (
                "server.exec_threads",
                config.server.exec_threads != old.server.exec_threads,
            ),
            (
                "limits.memory_pool_mb",
                config.limits.memory_pool_mb != old.limits.memory_pool_mb,
            ),
            (
                "limits.query_memory_mb",
                config.limits.query_memory_mb != old.limits.query_memory_mb,
            ),
            (
                "limits.max_running_queries",
                config.limits.max_running_queries != old.limits.max_running_queries,
            ),
            (
                "audit.queue_events",
                config.audit.queue_events != old.audit.queue_events,
            ),
        ] {
            if changed {
                tracing::warn!("reload: `{key}` changed; it takes effect at the next restart");
            }
        }
        self.audit.configure(&config.audit);
        *self
            .credentials
            .write()
            .expect("credentials lock is never poisoned") = credentials;
        self.mesh.install(Arc::new(config), mesh);
        self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
        tracing::info!("configuration reloaded");
        Ok(())
    }
}

impl Control for Server {
    fn reload(&self) -> bool {
        Server::reload(self).is_ok()
    }
}

/// Accepts connections until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    server: Arc<Server>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    // Before the first session: what was created in writable products is part of the mesh.
    server.mesh.load_workspaces().await;
    let config = server.config();
    let admin = match config.server.http_listen.clone() {
        Some(addr) => match TcpListener::bind(&addr).await {
            Ok(l) => {
                let bound = l.local_addr().map(|a| a.to_string()).unwrap_or(addr);
                if let Ok(a) = l.local_addr() {
                    let _ = server.http_addr.set(a);
                }
                // The certificate of the start: a reload does not change the HTTP port's.
                let tls = server
                    .credentials
                    .read()
                    .expect("credentials lock is never poisoned")
                    .tls
                    .clone();
                let scheme = if tls.is_some() { "https" } else { "http" };
                tracing::info!("HTTP port (/health, /metrics, web catalog) on {scheme}://{bound}");
                let catalog = Arc::new(crate::web::Web::new(
                    server.context().services,
                    server.logins.clone(),
                    server.metrics.clone(),
                    tls.is_some(),
                    listener.local_addr().ok(),
                    {
                        let weak = Arc::downgrade(&server);
                        Box::new(move || {
                            weak.upgrade()?
                                .credentials
                                .read()
                                .expect("credentials lock is never poisoned")
                                .jwt
                                .clone()
                        })
                    },
                ));
                Some(tokio::spawn(http::serve(l, server.clone(), catalog, tls)))
            }
            Err(e) => {
                tracing::error!("cannot listen on http_listen {addr}: {e}");
                None
            }
        },
        None => None,
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let cx = server.context();
                    server.tracker.spawn(crate::wire::handle_connection(stream, peer, cx));
                }
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    drain(&server).await;
    // Events of the last statements are still queued: write them before the process ends.
    let audit = server.audit.clone();
    let _ = tokio::task::spawn_blocking(move || audit.flush(Duration::from_secs(5))).await;
    if let Some(a) = admin {
        a.abort();
    }
}

/// Lets sessions finish their statements, then cancels the stragglers and waits for every
/// connection task to end.
async fn drain(server: &Server) {
    let timeout = Duration::from_millis(server.config().limits.drain_timeout_ms);
    tracing::info!(
        sessions = server.sessions(),
        "draining: no new connections; running statements get {timeout:?}"
    );
    server.draining.cancel();
    server.tracker.close();
    if tokio::time::timeout(timeout, server.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("drain timeout reached: cancelling running statements");
        server.registry.cancel_all();
        // A cancelled statement ends at its next batch; sockets that do not take the error
        // are given a moment, then abandoned with the process.
        if tokio::time::timeout(Duration::from_secs(5), server.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after cancelling; leaving them");
        }
    }
    tracing::info!("drained");
}
