//! meshgate: a PostgreSQL-protocol gateway to a data mesh of Delta, Iceberg and Parquet tables.
//!
//! A connection flows one way, each layer importing only those below it:
//!
//! ```text
//!  server   listen, TLS handshake, admission, reload, drain, operator port
//!    │
//!  wire     framing, startup and login, the simple / extended / COPY message flows
//!  web      the web catalog over HTTP: sign-in, pages, /api/v1 (beside wire: a second way in)
//!    │
//!  session  per-connection state: settings, transactions, prepared statements, cursors,
//!    │      temporary tables; the dispatch of each statement (DDL, DML, queries)
//!  sql      the one front end: respell → parse → classify → resolve names → rewrite → plan
//!    │
//!  catalog · policy · audit · exec      the mesh as DataFusion sees it; who may read what;
//!    │                                  what each statement did; running plans
//!  config · auth · tls · metrics · error       plain data and the objects built from it
//!    │
//!  connectors (crates)  delta · iceberg · parquet behind one registry; protocol (crate):
//!                       the bytes an unauthenticated client sends
//! ```
//!
//! `main.rs` is thin; everything a test needs is reachable from here: bind a listener, load a
//! [`config::Config`], call [`serve`].

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cluster;
pub mod config;
pub mod error;
pub mod exec;
pub mod metrics;
pub mod policy;
pub mod server;
pub mod session;
pub mod sql;
pub mod tls;
pub mod web;
pub mod wire;

#[cfg(test)]
mod testing;

use std::sync::Arc;

pub use config::Config;
pub use server::Error;

/// Serves the mesh described by `config` on an already-bound listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    tls::install_crypto_provider();
    let server = server::Server::new(config)?;
    serve_with(listener, server, shutdown).await;
    Ok(())
}

/// As [`serve`], with the server built by the caller (tests keep a handle to it).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    server: Arc<server::Server>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    server::serve(listener, server, shutdown).await
}
