//! Listening, TLS, and what all connections share.
//!
//! ```text
//!  TcpListener ─ accept ─► task per connection ─► wire::handle_connection
//!                               │                    (startup → auth → session loop)
//!  Shared ◄─────────────────────┘  config, mesh, executor, TLS acceptor, cancel registry
//! ```
//!
//! A panic inside one connection's task ends that task only: tokio catches it at the task
//! boundary, and the connection's guards give back its slot and cancel key on unwind.
//!
//! Shutdown drains: stop accepting, let running statements finish for `drain_timeout_ms`, cancel
//! what is still running, and return once every connection task has ended.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::Mesh;
use crate::config::Config;
use crate::error::{sqlstate, UserError};
use crate::exec::Executor;
use crate::metrics::Metrics;
use crate::wire::codec::Limits;

/// Everything connections share. Swappable parts sit behind a lock so a reload can replace them
/// while running sessions keep the `Arc` they started with.
pub struct Shared {
    config: RwLock<Arc<Config>>,
    mesh: RwLock<Arc<Mesh>>,
    pub executor: Arc<Executor>,
    tls: RwLock<Option<TlsAcceptor>>,
    pub cancels: CancelRegistry,
    next_pid: AtomicI32,
    /// Salts the decoy SCRAM verifier of unknown users, so probing reveals nothing.
    pub decoy_secret: [u8; 32],
    pub metrics: Metrics,
    /// Statement audit events (see `crate::audit`).
    pub audit: crate::audit::Auditor,
    sessions: Mutex<SessionCounts>,
    /// Bumped by every applied reload; sessions compare it to re-attach to the new mesh.
    generation: AtomicU64,
    /// Cancelled when shutdown begins: sessions end after their current statement.
    draining: CancellationToken,
    /// Every connection task, so shutdown can wait for them.
    tracker: TaskTracker,
    cancel_limiter: Mutex<HashMap<IpAddr, Bucket>>,
    /// Where the operator port listens, once bound (port 0 picks a free one).
    admin_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// Failed logins per address and per user (`limits.max_failed_logins`).
    pub logins: crate::identity::LoginLimiter,
    /// The committed catalogs of writable products (what clients created in them).
    pub workspaces: crate::catalog::workspace::Workspaces,
}

#[derive(Default)]
struct SessionCounts {
    total: usize,
    per_user: HashMap<String, usize>,
}

/// A token bucket of CancelRequests for one client address.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A connection slot, held from the startup packet to the end of the connection.
pub struct SessionSlot {
    shared: Arc<Shared>,
    user: String,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut c = self
            .shared
            .sessions
            .lock()
            .expect("session count lock is never poisoned");
        c.total -= 1;
        if let Some(n) = c.per_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                c.per_user.remove(&self.user);
            }
        }
    }
}

impl Shared {
    pub fn new(config: Config) -> Result<Arc<Self>, crate::Error> {
        let threads = config.server.exec_threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        let executor = Arc::new(
            Executor::new(threads, config.server.batch_size, &config.limits)
                .map_err(crate::Error::Io)?,
        );
        let mesh = Mesh::build(&config, &executor.env).map_err(crate::Error::Config)?;
        let tls = tls_acceptor(&config.server).map_err(crate::Error::Tls)?;
        let audit = crate::audit::Auditor::start(&config.audit);
        let mut decoy_secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut decoy_secret);
        Ok(Arc::new(Shared {
            config: RwLock::new(Arc::new(config)),
            mesh: RwLock::new(Arc::new(mesh)),
            executor,
            tls: RwLock::new(tls),
            cancels: CancelRegistry::default(),
            // Start where PostgreSQL backends usually are, so pids look ordinary to tools.
            next_pid: AtomicI32::new(10_000),
            decoy_secret,
            metrics: Metrics::default(),
            audit,
            sessions: Mutex::new(SessionCounts::default()),
            generation: AtomicU64::new(0),
            draining: CancellationToken::new(),
            tracker: TaskTracker::new(),
            cancel_limiter: Mutex::new(HashMap::new()),
            admin_addr: std::sync::OnceLock::new(),
            logins: crate::identity::LoginLimiter::default(),
            workspaces: Default::default(),
        }))
    }

    /// Message-size limits for new connections.
    pub fn limits(&self) -> Limits {
        let l = &self.config().limits;
        Limits {
            large: l.max_query_message_bytes,
            small: l.max_other_message_bytes,
        }
    }

    /// The reload generation; changes whenever a reload is applied.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The operator port's address, once it listens.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin_addr.get().copied()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Resolves when shutdown begins.
    pub fn draining(&self) -> CancellationToken {
        self.draining.clone()
    }

    /// Sessions holding a slot now.
    pub fn sessions(&self) -> usize {
        self.sessions
            .lock()
            .expect("session count lock is never poisoned")
            .total
    }

    /// Takes a connection slot for `user`, or says why not (53300), before authentication as
    /// PostgreSQL does, so a flood of connections never reaches the password check.
    pub fn admit(self: &Arc<Self>, user: &str) -> Result<SessionSlot, UserError> {
        let config = self.config();
        let limits = &config.limits;
        let entry = config.users.get(user);
        let admin = entry.is_some_and(|u| u.admin);
        let mut c = self
            .sessions
            .lock()
            .expect("session count lock is never poisoned");
        let refuse = |m: &str| {
            self.metrics.refused("too_many_connections");
            Err(UserError::fatal(sqlstate::TOO_MANY_CONNECTIONS, m))
        };
        if c.total >= limits.max_connections {
            return refuse("sorry, too many clients already");
        }
        if !admin && c.total >= limits.max_connections - limits.reserved_admin_connections {
            return refuse("remaining connection slots are reserved for admins");
        }
        let mine = c.per_user.get(user).copied().unwrap_or(0);
        if let Some(cap) = entry.and_then(|u| u.max_connections) {
            if mine >= cap {
                return refuse(&format!("too many connections for role \"{user}\""));
            }
        }
        c.total += 1;
        *c.per_user.entry(user.to_string()).or_default() += 1;
        Ok(SessionSlot {
            shared: self.clone(),
            user: user.to_string(),
        })
    }

    /// Whether a CancelRequest from `ip` may be looked at now (a token bucket per address, so
    /// guessing (pid, secret) pairs is slow and cheap to refuse).
    pub fn allow_cancel(&self, ip: IpAddr) -> bool {
        let rate = f64::from(self.config().limits.cancel_requests_per_sec);
        let burst = rate * 2.0;
        let now = Instant::now();
        let mut m = self
            .cancel_limiter
            .lock()
            .expect("cancel limiter lock is never poisoned");
        if m.len() > 10_000 {
            // Forget addresses whose bucket has refilled: they are not limited anyway.
            m.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = m.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Re-reads the configuration file and, when it is valid, switches to it: users, TLS
    /// certificates, limits, domains and products. Running statements keep the mesh they
    /// started with; the next statement of every session sees the new one. Settings fixed at
    /// start (listen address, threads, memory pool) are reported and left as they were.
    pub fn reload(&self) -> Result<(), String> {
        let old = self.config();
        let result = (|| {
            let config = Config::load(&old.path).map_err(|e| e.to_string())?;
            let tls = tls_acceptor(&config.server)?;
            let mesh = self.mesh_with(&config, &self.workspaces.snapshot())?;
            Ok::<_, String>((config, tls, mesh))
        })();
        let (config, tls, mesh) = match result {
            Ok(x) => x,
            Err(e) => {
                self.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!("reload refused, keeping the running configuration: {e}");
                return Err(e);
            }
        };
        for (key, changed) in [
            ("server.listen", config.server.listen != old.server.listen),
            (
                "server.admin_listen",
                config.server.admin_listen != old.server.admin_listen,
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
        *self.tls.write().expect("tls lock is never poisoned") = tls;
        *self.mesh.write().expect("mesh lock is never poisoned") = mesh;
        *self.config.write().expect("config lock is never poisoned") = Arc::new(config);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
        tracing::info!("configuration reloaded");
        Ok(())
    }

    /// Reads the catalogs of writable products not read yet, then serves what they hold. A
    /// product whose catalog cannot be read is logged and served without its created relations
    /// until a commit reads it again.
    pub async fn load_workspaces(&self) {
        let mesh = self.mesh();
        let mut loaded = false;
        for p in mesh.products.values() {
            if let Some(w) = &p.write {
                if !self.workspaces.is_loaded(&p.name) {
                    match self.workspaces.load(&p.name, w).await {
                        Ok(()) => loaded = true,
                        Err(e) => {
                            tracing::error!(product = %p.name, "created relations not loaded: {}", e.message)
                        }
                    }
                }
            }
        }
        if loaded {
            if let Err(e) = self.rebuild_mesh() {
                tracing::error!("mesh not rebuilt with created relations: {e}");
            }
        }
    }

    /// Builds the mesh again from the running configuration and the committed catalogs of
    /// writable products (after a commit); every session sees it at its next statement.
    pub fn rebuild_mesh(&self) -> Result<(), String> {
        let mesh = self.mesh_with(&self.config(), &self.workspaces.snapshot())?;
        *self.mesh.write().expect("mesh lock is never poisoned") = mesh;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// A mesh with these catalogs for writable products (a transaction's own view of them),
    /// sharing what the running mesh has learned about unchanged tables.
    pub fn mesh_with(
        &self,
        config: &Config,
        created: &HashMap<String, Arc<crate::catalog::workspace::Manifest>>,
    ) -> Result<Arc<Mesh>, String> {
        let mesh =
            Mesh::build_with(config, &self.executor.env, created).map_err(|e| e.to_string())?;
        mesh.inherit(&self.mesh());
        Ok(Arc::new(mesh))
    }

    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .expect("config lock is never poisoned")
            .clone()
    }

    pub fn mesh(&self) -> Arc<Mesh> {
        self.mesh
            .read()
            .expect("mesh lock is never poisoned")
            .clone()
    }

    pub fn tls(&self) -> Option<TlsAcceptor> {
        self.tls.read().expect("tls lock is never poisoned").clone()
    }

    pub fn next_pid(&self) -> i32 {
        self.next_pid.fetch_add(1, Ordering::Relaxed)
    }
}

/// The TLS acceptor `[server]` describes: None without `tls_cert`/`tls_key`. With
/// `tls_client_ca`, client certificates are asked for (`optional`) or demanded (`required`).
pub fn tls_acceptor(s: &crate::config::ServerSettings) -> Result<Option<TlsAcceptor>, String> {
    let (Some(cert), Some(key)) = (&s.tls_cert, &s.tls_key) else {
        return Ok(None);
    };
    let clients = match (&s.tls_client_ca, s.tls_client_auth.as_str()) {
        (Some(ca), "optional") => Some((ca.as_path(), false)),
        (Some(ca), "required") => Some((ca.as_path(), true)),
        _ => None,
    };
    load_tls(cert, key, clients).map(Some)
}

/// Loads a certificate chain and key into a TLS acceptor; `clients` is the client CA file and
/// whether a client certificate is required.
pub fn load_tls(
    cert: &Path,
    key: &Path,
    clients: Option<(&Path, bool)>,
) -> Result<TlsAcceptor, String> {
    install_crypto_provider();
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).map_err(|e| format!("cannot read {}: {e}", cert.display()))?,
    ))
    .collect::<Result<_, _>>()
    .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).map_err(|e| format!("cannot read {}: {e}", key.display()))?,
    ))
    .map_err(|e| format!("{}: {e}", key.display()))?
    .ok_or_else(|| format!("{}: no private key found", key.display()))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match clients {
        None => builder.with_no_client_auth(),
        Some((ca, required)) => builder.with_client_cert_verifier(client_verifier(ca, required)?),
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Verifies client certificates against the CAs in `ca` (webpki: chain, validity, the
/// clientAuth key usage). `required` false lets clients without a certificate through to
/// password authentication; a certificate that is presented must still verify.
fn client_verifier(
    ca: &Path,
    required: bool,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(ca)
            .map_err(|e| format!("client CA: cannot read {}: {e}", ca.display()))?,
    ))
    .collect::<Result<_, _>>()
    .map_err(|e| format!("client CA: {}: not PEM certificates: {e}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("client CA: {}: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("client CA: {}: no certificate found", ca.display()));
    }
    let builder = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots));
    let builder = if required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|e| format!("client CA: {}: {e}", ca.display()))
}

/// The dependency tree enables both of rustls' crypto providers, so rustls cannot pick one by
/// itself: choose ring, once, before any TLS object is built.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Matches CancelRequests (pid, secret) to the statement running on that connection.
#[derive(Default)]
pub struct CancelRegistry {
    slots: Mutex<HashMap<i32, Arc<CancelSlot>>>,
}

pub struct CancelSlot {
    secret: [u8; 4],
    /// The session's user: `pg_cancel_backend`/`pg_terminate_backend` act on one's own sessions.
    user: String,
    /// Cancelled by `pg_terminate_backend`: the session ends with FATAL 57P01.
    terminate: CancellationToken,
    /// The running statement's token; replaced per statement, so a late cancel cannot hit the
    /// statement after the one it was meant for.
    current: Mutex<Option<CancellationToken>>,
}

impl CancelSlot {
    /// Starts a statement: returns the token that a cancel for this connection will trigger.
    pub fn begin(&self) -> CancellationToken {
        let t = CancellationToken::new();
        *self
            .current
            .lock()
            .expect("cancel slot lock is never poisoned") = Some(t.clone());
        t
    }

    /// The token of the work in progress, started if none is: the session arms it when a
    /// client's messages arrive, so a CancelRequest sent right after an Execute (before the
    /// engine started) still cancels that statement, as in PostgreSQL. Disarmed at
    /// ReadyForQuery, so a late cancel never reaches the next batch.
    pub fn arm(&self) -> CancellationToken {
        self.current
            .lock()
            .expect("cancel slot lock is never poisoned")
            .get_or_insert_with(CancellationToken::new)
            .clone()
    }

    pub fn end(&self) {
        *self
            .current
            .lock()
            .expect("cancel slot lock is never poisoned") = None;
    }

    /// Resolves when another session (or this one) terminates this session.
    pub fn terminated(&self) -> CancellationToken {
        self.terminate.clone()
    }

    fn cancel_current(&self) {
        if let Some(t) = self
            .current
            .lock()
            .expect("cancel slot lock is never poisoned")
            .as_ref()
        {
            t.cancel();
        }
    }
}

impl CancelRegistry {
    pub fn register(&self, pid: i32, user: &str) -> (Arc<CancelSlot>, [u8; 4]) {
        let mut secret = [0u8; 4];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
        let slot = Arc::new(CancelSlot {
            secret,
            user: user.to_string(),
            terminate: CancellationToken::new(),
            current: Mutex::new(None),
        });
        self.slots
            .lock()
            .expect("cancel registry lock is never poisoned")
            .insert(pid, slot.clone());
        (slot, secret)
    }

    pub fn unregister(&self, pid: i32) {
        self.slots
            .lock()
            .expect("cancel registry lock is never poisoned")
            .remove(&pid);
    }

    /// Cancels the statement running on `pid` if the secret matches. Returns whether it did.
    pub fn cancel(&self, pid: i32, secret: &[u8]) -> bool {
        let slot = self
            .slots
            .lock()
            .expect("cancel registry lock is never poisoned")
            .get(&pid)
            .cloned();
        match slot {
            Some(slot) if crate::auth::constant_time_eq(&slot.secret, secret) => {
                match slot
                    .current
                    .lock()
                    .expect("cancel slot lock is never poisoned")
                    .as_ref()
                {
                    Some(t) => {
                        t.cancel();
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }

    /// `pg_cancel_backend(pid)` / `pg_terminate_backend(pid)` from `user`: allowed on one's own
    /// sessions, and on any for admins. False when no session has that pid (PostgreSQL warns and
    /// answers false too).
    pub fn signal(
        &self,
        pid: i32,
        user: &str,
        admin: bool,
        terminate: bool,
    ) -> Result<bool, UserError> {
        let slot = self
            .slots
            .lock()
            .expect("cancel registry lock is never poisoned")
            .get(&pid)
            .cloned();
        let Some(slot) = slot else { return Ok(false) };
        if !admin && slot.user != user {
            let what = if terminate {
                "terminate process"
            } else {
                "cancel query"
            };
            return Err(UserError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!(
                    "permission denied to {what}: only sessions of role \"{}\" and admins may",
                    slot.user
                ),
            ));
        }
        if terminate {
            slot.terminate.cancel();
        }
        slot.cancel_current();
        Ok(true)
    }

    /// Whether a statement is running on `pid` (tests and admin views wait on this instead of
    /// sleeping).
    pub fn is_running(&self, pid: i32) -> bool {
        let slot = self
            .slots
            .lock()
            .expect("cancel registry lock is never poisoned")
            .get(&pid)
            .cloned();
        slot.is_some_and(|s| {
            s.current
                .lock()
                .expect("cancel slot lock is never poisoned")
                .is_some()
        })
    }

    /// Cancels every running statement (shutdown).
    pub fn cancel_all(&self) {
        for slot in self
            .slots
            .lock()
            .expect("cancel registry lock is never poisoned")
            .values()
        {
            if let Some(t) = slot
                .current
                .lock()
                .expect("cancel slot lock is never poisoned")
                .as_ref()
            {
                t.cancel();
            }
        }
    }
}

/// Accepts connections until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    // Before the first session: what was created in writable products is part of the mesh.
    shared.load_workspaces().await;
    let admin = match shared.config().server.admin_listen.clone() {
        Some(addr) => match TcpListener::bind(&addr).await {
            Ok(l) => {
                if let Ok(a) = l.local_addr() {
                    let _ = shared.admin_addr.set(a);
                }
                tracing::info!("operator port (/health, /metrics) on {addr}");
                Some(tokio::spawn(crate::metrics::serve_admin(l, shared.clone())))
            }
            Err(e) => {
                tracing::error!("cannot listen on admin_listen {addr}: {e}");
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
                    let s = shared.clone();
                    shared.tracker.spawn(async move { crate::wire::handle_connection(stream, peer, s).await });
                }
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    drain(&shared).await;
    // Events of the last statements are still queued: write them before the process ends.
    let s = shared.clone();
    let _ = tokio::task::spawn_blocking(move || s.audit.flush(Duration::from_secs(5))).await;
    if let Some(a) = admin {
        a.abort();
    }
}

/// Lets sessions finish their statements, then cancels the stragglers and waits for every
/// connection task to end.
async fn drain(shared: &Shared) {
    let timeout = Duration::from_millis(shared.config().limits.drain_timeout_ms);
    tracing::info!(
        sessions = shared.sessions(),
        "draining: no new connections; running statements get {timeout:?}"
    );
    shared.draining.cancel();
    shared.tracker.close();
    if tokio::time::timeout(timeout, shared.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("drain timeout reached: cancelling running statements");
        shared.cancels.cancel_all();
        // A cancelled statement ends at its next batch; sockets that do not take the error
        // are given a moment, then abandoned with the process.
        if tokio::time::timeout(Duration::from_secs(5), shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after cancelling; leaving them");
        }
    }
    tracing::info!("drained");
}

/// Server-control functions a session may call: `pg_reload_conf()` (admins only), as in
/// PostgreSQL, re-reads the configuration like SIGHUP does.
pub fn register_control_functions(
    ctx: &datafusion::prelude::SessionContext,
    shared: &Arc<Shared>,
    user: &str,
    admin: bool,
) {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::common::ScalarValue;
    use datafusion::error::DataFusionError;
    use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};

    let weak = Arc::downgrade(shared);
    ctx.register_udf(create_udf(
        "pg_reload_conf",
        vec![],
        DataType::Boolean,
        Volatility::Volatile,
        Arc::new(move |_args: &[ColumnarValue]| {
            if !admin {
                return Err(DataFusionError::External(Box::new(UserError::new(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    "permission denied for function pg_reload_conf",
                ))));
            }
            let Some(shared) = weak.upgrade() else {
                return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(false))));
            };
            // PostgreSQL answers true once the reload is signalled; an invalid file is logged
            // and the old configuration kept. Here the outcome is known, so it is reported.
            Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(
                shared.reload().is_ok(),
            ))))
        }),
    ));
    for (name, terminate) in [("pg_cancel_backend", false), ("pg_terminate_backend", true)] {
        let weak = Arc::downgrade(shared);
        let user = user.to_string();
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Int64],
            DataType::Boolean,
            Volatility::Volatile,
            Arc::new(move |args: &[ColumnarValue]| {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let pids = datafusion::common::cast::as_int64_array(&arrays[0])?;
                let Some(shared) = weak.upgrade() else {
                    return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(false))));
                };
                let mut out = datafusion::arrow::array::BooleanBuilder::with_capacity(pids.len());
                for pid in pids.iter() {
                    match pid.and_then(|p| i32::try_from(p).ok()) {
                        Some(p) => out.append_value(
                            shared
                                .cancels
                                .signal(p, &user, admin, terminate)
                                .map_err(|e| DataFusionError::External(Box::new(e)))?,
                        ),
                        None => out.append_null(),
                    }
                }
                let result: datafusion::arrow::array::ArrayRef = Arc::new(out.finish());
                Ok(
                    if arrays[0].len() == 1 && matches!(args[0], ColumnarValue::Scalar(_)) {
                        ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
                    } else {
                        ColumnarValue::Array(result)
                    },
                )
            }),
        ));
    }
}
