//! Listening, TLS, and what all connections share.
//!
//! ```text
//!  TcpListener ─ accept ─► task per connection ─► wire::handle_connection
//!                               │                    (startup → auth → session loop)
//!  Shared ◄─────────────────────┘  config, mesh, executor, TLS acceptor, cancel registry
//! ```
//!
//! A panic inside one connection's task ends that task only: tokio catches it at the task
//! boundary, and the connection's guards deregister its cancel key on unwind.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::catalog::Mesh;
use crate::config::Config;
use crate::exec::Executor;
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
    pub limits: Limits,
}

impl Shared {
    pub fn new(config: Config) -> Result<Arc<Self>, crate::Error> {
        let threads = config
            .server
            .exec_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
        let executor = Arc::new(Executor::new(threads, config.server.batch_size).map_err(crate::Error::Io)?);
        let mesh = Mesh::build(&config, &executor.env).map_err(crate::Error::Config)?;
        let tls = match (&config.server.tls_cert, &config.server.tls_key) {
            (Some(c), Some(k)) => Some(load_tls(c, k).map_err(crate::Error::Tls)?),
            _ => None,
        };
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
            limits: Limits::default(),
        }))
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.read().expect("config lock is never poisoned").clone()
    }

    pub fn mesh(&self) -> Arc<Mesh> {
        self.mesh.read().expect("mesh lock is never poisoned").clone()
    }

    pub fn tls(&self) -> Option<TlsAcceptor> {
        self.tls.read().expect("tls lock is never poisoned").clone()
    }

    pub fn next_pid(&self) -> i32 {
        self.next_pid.fetch_add(1, Ordering::Relaxed)
    }
}

/// Loads a certificate chain and key into a TLS acceptor.
pub fn load_tls(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
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
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
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
    /// The running statement's token; replaced per statement, so a late cancel cannot hit the
    /// statement after the one it was meant for.
    current: Mutex<Option<CancellationToken>>,
}

impl CancelSlot {
    /// Starts a statement: returns the token that a cancel for this connection will trigger.
    pub fn begin(&self) -> CancellationToken {
        let t = CancellationToken::new();
        *self.current.lock().expect("cancel slot lock is never poisoned") = Some(t.clone());
        t
    }

    pub fn end(&self) {
        *self.current.lock().expect("cancel slot lock is never poisoned") = None;
    }
}

impl CancelRegistry {
    pub fn register(&self, pid: i32) -> (Arc<CancelSlot>, [u8; 4]) {
        let mut secret = [0u8; 4];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
        let slot = Arc::new(CancelSlot { secret, current: Mutex::new(None) });
        self.slots.lock().expect("cancel registry lock is never poisoned").insert(pid, slot.clone());
        (slot, secret)
    }

    pub fn unregister(&self, pid: i32) {
        self.slots.lock().expect("cancel registry lock is never poisoned").remove(&pid);
    }

    /// Cancels the statement running on `pid` if the secret matches. Returns whether it did.
    pub fn cancel(&self, pid: i32, secret: &[u8]) -> bool {
        let slot = self.slots.lock().expect("cancel registry lock is never poisoned").get(&pid).cloned();
        match slot {
            Some(slot) if crate::auth::constant_time_eq(&slot.secret, secret) => {
                match slot.current.lock().expect("cancel slot lock is never poisoned").as_ref() {
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

    /// Whether a statement is running on `pid` (tests and admin views wait on this instead of
    /// sleeping).
    pub fn is_running(&self, pid: i32) -> bool {
        let slot = self.slots.lock().expect("cancel registry lock is never poisoned").get(&pid).cloned();
        slot.is_some_and(|s| s.current.lock().expect("cancel slot lock is never poisoned").is_some())
    }

    /// Cancels every running statement (shutdown).
    pub fn cancel_all(&self) {
        for slot in self.slots.lock().expect("cancel registry lock is never poisoned").values() {
            if let Some(t) = slot.current.lock().expect("cancel slot lock is never poisoned").as_ref() {
                t.cancel();
            }
        }
    }
}

/// Accepts connections until `shutdown` resolves.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let shared = shared.clone();
                    tokio::spawn(async move { crate::wire::handle_connection(stream, peer, shared).await });
                }
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
    shared.cancels.cancel_all();
}
