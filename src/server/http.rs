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
//! connection, as the monitors expect). Connections are bounded: at most `CONNECTIONS` at once,
//! 10 seconds for a TLS handshake and for each request head (a slow client cannot hold a
//! connection without sending), keep-alive otherwise.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::Server;
use crate::web::{self, Peer};

/// Connections the HTTP port serves at once; more wait in the kernel's backlog.
const CONNECTIONS: usize = 256;

/// Time for a TLS handshake, and for each request head.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Serves the operator endpoints and the catalog until the server stops (the task is aborted).
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
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
    // Connection tasks end with this one (shutdown aborts it).
    let mut connections = tokio::task::JoinSet::new();
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
        while connections.try_join_next().is_some() {}
        let app = app.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _slot = slot;
            match tls {
                None => connection(tcp, addr, false, app).await,
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await
                {
                    Ok(Ok(stream)) => connection(stream, addr, true, app).await,
                    Ok(Err(e)) => tracing::debug!(%addr, "HTTPS handshake failed: {e}"),
                    Err(_) => tracing::debug!(%addr, "HTTPS handshake timed out"),
                },
            }
        });
    }
}

/// One HTTP/1.1 connection, its requests tagged with where they come from.
async fn connection<S>(stream: S, addr: SocketAddr, secure: bool, app: Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let app = app.layer(Extension(Peer { addr, secure }));
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
        .await;
    if let Err(e) = served {
        tracing::debug!(%addr, "HTTP connection ended: {e}");
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
