//! The operator port: `/health` and Prometheus `/metrics` over HTTP. The server's one HTTP
//! stack, where later pages (the web catalog) belong too.
//!
//! ```text
//!  GET /metrics ─► Metrics::render(counters + the server's gauges)
//!  GET /health  ─► 200 serving, 503 draining
//! ```
//!
//! A deliberately tiny HTTP/1.1 responder: fixed paths, bounded request size and time, one
//! response per connection. It shares nothing with the Postgres port, so a flood there does not
//! hide the server's health from its monitor.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::Server;

/// Serves `/health` and `/metrics` until the server stops.
pub async fn serve(listener: TcpListener, server: Arc<Server>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let server = server.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                let mut buf = vec![0u8; 4096];
                let mut len = 0;
                // Read the request head only; bodies are not expected.
                while len < buf.len() {
                    let n = stream.read(&mut buf[len..]).await?;
                    if n == 0 {
                        break;
                    }
                    len += n;
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf[..len]);
                let path = head.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("");
                let (status, body) = match path {
                    "/metrics" => ("200 OK", server.metrics.render(&server.gauges())),
                    "/health" if server.is_draining() => ("503 Service Unavailable", "draining\n".to_string()),
                    "/health" => ("200 OK", "ok\n".to_string()),
                    _ => ("404 Not Found", "not found\n".to_string()),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(resp.as_bytes()).await?;
                stream.shutdown().await
            })
            .await;
        });
    }
}
