//! The HTTP port (`server.http_listen`): the operator endpoints and the web catalog, on one
//! axum stack, over TLS with the server's certificate when one is configured.
//!
//! ```text
//!  GET /metrics ─► Metrics::render(counters + the server's gauges)      (no sign-in: scrapers)
//!  GET /health  ─► 200 serving, 503 draining                           (no sign-in: monitors)
//!  everything else ─► crate::web (the catalog: sign-in, pages, /api/v1)
//! ```
//!
//! It shares nothing with the Postgres port's accept loop, so a flood there does not hide the
//! server's health from its monitor. Operator answers close their connection (one request per
//! connection, as the monitors expect).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::Server;
use crate::web::{self, Peer};

/// Serves the operator endpoints and the catalog until the server stops.
pub async fn serve(
    listener: TcpListener,
    server: Arc<Server>,
    catalog: Arc<web::Web>,
    tls: Option<TlsAcceptor>,
) {
    let operator = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(server.clone());
    let app = operator.merge(web::router(catalog));
    let result = match tls {
        None => axum::serve(listener, app.into_make_service_with_connect_info::<Peer>()).await,
        Some(acceptor) => {
            axum::serve(
                TlsListener::new(listener, acceptor),
                app.into_make_service_with_connect_info::<Peer>(),
            )
            .await
        }
    };
    if let Err(e) = result {
        tracing::error!("HTTP port stopped: {e}");
    }
}

/// A plain-text answer that closes its connection.
fn operator_answer(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn metrics(State(server): State<Arc<Server>>) -> Response {
    operator_answer(StatusCode::OK, server.metrics.render(&server.gauges()))
}

async fn health(State(server): State<Arc<Server>>) -> Response {
    if server.is_draining() {
        operator_answer(StatusCode::SERVICE_UNAVAILABLE, "draining\n".into())
    } else {
        operator_answer(StatusCode::OK, "ok\n".into())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TcpListener>) -> Self {
        Peer {
            addr: *stream.remote_addr(),
            secure: false,
        }
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        Peer {
            addr: *stream.remote_addr(),
            secure: true,
        }
    }
}

/// Handshakes in flight at most; further connections wait in the kernel's backlog.
const HANDSHAKES: usize = 64;

/// TCP connections after their TLS handshake. Handshakes run in tasks of their own, so one
/// slow client does not hold up the others; each has 10 seconds.
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: std::io::Result<SocketAddr>,
    _accepting: tokio_util::task::AbortOnDropHandle<()>,
}

impl TlsListener {
    fn new(listener: TcpListener, acceptor: TlsAcceptor) -> TlsListener {
        let (tx, ready) = tokio::sync::mpsc::channel(HANDSHAKES);
        let local = listener.local_addr();
        let slots = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (tcp, addr) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("HTTP accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%addr, "HTTPS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%addr, "HTTPS handshake timed out"),
                    }
                });
            }
        });
        TlsListener {
            ready,
            local,
            _accepting: tokio_util::task::AbortOnDropHandle::new(accepting),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(x) => x,
            // The accept task ended (it never does while the listener lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.local {
            Ok(a) => Ok(*a),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}
