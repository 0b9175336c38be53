//! How a connection ends so that the client reads the error it ends with.
//!
//! Closing a socket that still has unread input makes the kernel send a reset instead of a
//! close, and a reset can destroy data the client has not read yet: libpq then reports "server
//! closed the connection unexpectedly" instead of our FATAL. That happens whenever we refuse a
//! client that is still writing (an oversized Query, a startup packet over the limit, a
//! pipelined batch). Over TLS there is a second trap: libpq treats the close_notify that comes
//! with our shutdown as a lost connection if it reads it while still sending, before it has
//! looked at the error. So the last words are written and flushed at once (a client blocked in
//! a write reads them), what the client still sends is read and dropped until it pauses, and
//! only then is our side shut down; what follows is drained until the client closes too. All of
//! it is bounded in bytes and time, so a client cannot hold the connection.

use std::time::Duration;

use bytes::BytesMut;
use pgwire::messages::PgWireBackendMessage;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::error::UserError;

/// How long a closing connection keeps reading what its client still sends.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// How much of it (PostgreSQL's largest message is 1 GiB; a client sending more than this after
/// being refused is not waiting for an answer).
const DRAIN_BYTES: usize = 256 << 20;

/// A client that sends nothing for this long has finished its message.
const QUIET: Duration = Duration::from_millis(100);

/// Sends `e` as a FATAL ErrorResponse on a raw stream, then closes as described above.
pub(super) async fn send_fatal<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, e: &UserError) {
    let mut buf = BytesMut::new();
    if PgWireBackendMessage::ErrorResponse(e.clone().into_fatal().to_response())
        .encode(&mut buf)
        .is_ok()
        && s.write_all(&buf).await.is_ok()
        && s.flush().await.is_ok()
    {
        linger(s).await;
    }
}

/// After the last message has been written and flushed: read and drop what the client still
/// sends until it pauses, shut our side down, then drain until the client closes; at most
/// [`DRAIN_BYTES`] and [`DRAIN_TIME`] in all.
pub(super) async fn linger<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) {
    let deadline = Instant::now() + DRAIN_TIME;
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = DRAIN_BYTES;
    loop {
        let wait = QUIET.min(deadline.saturating_duration_since(Instant::now()));
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                left = left.saturating_sub(n);
                if left == 0 {
                    return;
                }
            }
            // The client closed (or failed): nothing is left unread.
            Ok(_) => return,
            Err(_) => break,
        }
    }
    if s.shutdown().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout_at(deadline.max(Instant::now() + QUIET), async {
        while left > 0 {
            match s.read(&mut buf).await {
                Ok(n) if n > 0 => left = left.saturating_sub(n),
                _ => break,
            }
        }
    })
    .await;
}
