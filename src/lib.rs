//! meshgate: a PostgreSQL-protocol gateway to a data mesh of Delta, Iceberg and Parquet tables.
//!
//! ```text
//!  client ─► server (listen, TLS) ─► wire (startup, auth, protocol) ─► session
//!                                                                   │
//!            catalog (domains → products → tables) ◄── DataFusion plan ──► exec (own runtime)
//!                 └─ connectors: delta · iceberg · parquet ─► object stores
//! ```
//!
//! `main.rs` is thin; everything a test needs is reachable from here: bind a listener, load a
//! [`config::Config`], call [`serve`].

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod error;
pub mod exec;
pub mod functions;
pub mod identity;
pub mod jwt;
pub mod metrics;
pub mod policy;
pub mod server;
pub mod session;
pub mod wire;

use std::sync::Arc;

pub use config::Config;

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Io(std::io::Error),
}

/// Serves the mesh described by `config` on an already-bound listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    server::install_crypto_provider();
    let shared = server::Shared::new(config)?;
    serve_shared(listener, shared, shutdown).await;
    Ok(())
}

/// As [`serve`], with state built by the caller (tests keep a handle to it).
pub async fn serve_shared(
    listener: tokio::net::TcpListener,
    shared: Arc<server::Shared>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    server::serve(listener, shared, shutdown).await
}
