//! The PostgreSQL protocol: one task per connection, from the first byte to Terminate. Framing,
//! startup and login, and the simple, extended and COPY message flows; what a statement means is
//! the session's, and this layer turns the session's answers into messages.
//!
//! ```text
//!  first packet ─┬─ SSLRequest ─► 'S' + TLS handshake ─► first packet again
//!                ├─ GSSENCRequest ─► 'N' ─► first packet again
//!                ├─ CancelRequest ─► session registry, close
//!                └─ StartupMessage ─► admission ─► login.rs (SCRAM / password, JWT, client cert)
//!                                   ─► Session::start ─► message loop
//!  message loop: Query (simple) | Parse/Bind/Describe/Execute/Close/Sync/Flush (extended.rs)
//!                | Terminate;   replies, rows and COPY data go out through client.rs
//! ```
//!
//! The protocol edge itself (message framing with size limits, the first packets, SCRAM) is the
//! `meshgate_protocol` crate; the connection lifecycle is here, so that every phase has a limit
//! and the row stream can be cancelled while it runs.

mod client;
mod close;
mod copy;
mod extended;
mod login;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use meshgate_protocol::codec::{FrameError, Limits, MeshCodec};
use meshgate_protocol::startup::{read_first_packet, FirstPacket, StartupError};
use pgwire::messages::response::{EmptyQueryResponse, ReadyForQuery};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus, SecretKey};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::Framed;
use tracing::Instrument;

use crate::auth::throttle::Handshake;
use crate::auth::{Credentials, Logins};
use crate::config::Config;
use crate::error::{SqlState, UserError};
use crate::metrics::Metrics;
use crate::session::{Failure, Gone, Login, Services, Session};
use client::Connection;
use close::send_fatal;

pub(crate) type Conn<S> = Framed<S, MeshCodec>;

/// How many bytes of results a session buffers before writing them to the client.
const SEND_BUFFER: usize = 128 * 1024;

/// Messages a session holds while a statement runs (see `Connection::pending`).
const MAX_PENDING: usize = 64;

/// Decisions about a connection that are the server's, not the protocol's.
pub trait Admission: Send + Sync {
    /// Whether `user` could have a session slot now (53300 if not); nothing is taken.
    fn check(&self, user: &str) -> Result<(), UserError>;
    /// Takes a session slot for `user`, or says why not (53300); the slot is held until the
    /// returned guard is dropped.
    fn admit(&self, user: &str) -> Result<Box<dyn Send>, UserError>;
    /// Whether a CancelRequest from `ip` may be looked at now.
    fn allow_cancel(&self, ip: IpAddr) -> bool;
}

/// What one connection needs from the server, as it was when the connection was accepted.
#[derive(Clone)]
pub struct Context {
    pub config: Arc<Config>,
    /// TLS and the JWT key set, built from `config`.
    pub credentials: Credentials,
    pub logins: Arc<Logins>,
    pub metrics: Arc<Metrics>,
    pub admission: Arc<dyn Admission>,
    /// What a session is built with.
    pub services: Services,
    /// Cancelled when the server drains: connections end after their current statement.
    pub draining: tokio_util::sync::CancellationToken,
}

impl Context {
    fn limits(&self) -> Limits {
        Limits {
            large: self.config.limits.max_query_message_bytes,
            small: self.config.limits.max_other_message_bytes,
        }
    }
}

/// Serves one TCP connection to its end. Never panics outward: errors end the connection.
pub async fn handle_connection(mut tcp: TcpStream, peer: SocketAddr, cx: Context) {
    let _ = tcp.set_nodelay(true);
    let span = tracing::info_span!(
        "conn",
        %peer,
        user = tracing::field::Empty,
        pid = tracing::field::Empty,
        app = tracing::field::Empty
    );
    cx.metrics
        .connections_accepted
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _active = Active::new(cx.metrics.clone());
    let limits = &cx.config.limits;
    let in_flight = match cx.logins.throttle.enter(
        peer.ip(),
        limits.max_handshakes_per_address,
        limits.max_handshakes,
    ) {
        Ok(h) => h,
        Err(crowded) => {
            // A flood: closed without a word, as cheaply as possible.
            let reason = match crowded {
                crate::auth::throttle::Crowded::Address => "handshakes_per_address",
                crate::auth::throttle::Crowded::Server => "handshakes",
            };
            cx.metrics.refused(reason);
            tracing::debug!(%peer, "connection closed: too many handshakes in flight ({reason})");
            return;
        }
    };
    // One deadline for the whole handshake (TLS, startup packet, authentication): a client that
    // trickles bytes cannot stretch it phase by phase.
    let deadline = Instant::now() + Duration::from_millis(cx.config.limits.handshake_timeout_ms);
    async move {
        let handshake = async {
            // Direct TLS (PostgreSQL 17 `sslnegotiation=direct`): the client starts with a
            // TLS ClientHello instead of an SSLRequest.
            let mut first = [0u8; 1];
            if tcp.peek(&mut first).await.ok() == Some(1) && first[0] == 0x16 {
                let Some(acceptor) = cx.credentials.tls.clone() else {
                    return Ok(None);
                };
                let mut tls = acceptor.accept(tcp).await?;
                let pkt = read_first_packet(&mut tls).await;
                return Ok(Some(Stream::Tls(Box::new(tls), pkt)));
            }
            loop {
                match read_first_packet(&mut tcp).await {
                    Ok(FirstPacket::SslRequest) => match cx.credentials.tls.clone() {
                        Some(acceptor) => {
                            tcp.write_all(b"S").await?;
                            let mut tls = acceptor.accept(tcp).await?;
                            let pkt = read_first_packet(&mut tls).await;
                            return Ok(Some(Stream::Tls(Box::new(tls), pkt)));
                        }
                        None => tcp.write_all(b"N").await?,
                    },
                    Ok(FirstPacket::GssRequest) => tcp.write_all(b"N").await?,
                    pkt => return Ok::<_, std::io::Error>(Some(Stream::Plain(tcp, pkt))),
                }
            }
        };
        let handshake = tokio::select! {
            r = tokio::time::timeout_at(deadline, handshake) => r,
            _ = cx.draining.cancelled() => return,
        };
        let stream = match handshake {
            Ok(Ok(Some(s))) => s,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                cx.metrics.refused("handshake_error");
                tracing::debug!("handshake failed: {e}");
                return;
            }
            Err(_) => {
                cx.metrics.refused("handshake_timeout");
                tracing::debug!("handshake timed out");
                return;
            }
        };
        match stream {
            Stream::Plain(s, pkt) => run(s, pkt, false, None, peer, cx, deadline, in_flight).await,
            Stream::Tls(s, pkt) => {
                let cert = login::client_cert(&s);
                run(*s, pkt, true, cert, peer, cx, deadline, in_flight).await
            }
        }
    }
    .instrument(span)
    .await
}

/// Counts the connection as open until its task ends (panics included).
struct Active(Arc<Metrics>);

impl Active {
    fn new(metrics: Arc<Metrics>) -> Self {
        metrics
            .connections_active
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Active(metrics)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0
            .connections_active
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The stream after negotiation, with the first packet read on it (or why it could not be):
/// a bad startup packet is answered on the stream it came on.
enum Stream {
    Plain(TcpStream, Result<FirstPacket, StartupError>),
    Tls(
        Box<tokio_rustls::server::TlsStream<TcpStream>>,
        Result<FirstPacket, StartupError>,
    ),
}

#[allow(clippy::too_many_arguments)]
async fn run<S>(
    mut stream: S,
    pkt: Result<FirstPacket, StartupError>,
    secure: bool,
    cert: login::ClientCert,
    peer: SocketAddr,
    cx: Context,
    deadline: Instant,
    handshake: Handshake,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let pkt = match pkt {
        Ok(pkt) => pkt,
        // The client went away, or sent half a packet before the deadline.
        Err(StartupError::Io(e)) => {
            cx.metrics.refused("handshake_error");
            tracing::debug!("handshake failed: {e}");
            return;
        }
        Err(e) => {
            cx.metrics.refused("bad_startup");
            tracing::info!("connection refused: {e}");
            let code = match e {
                StartupError::Protocol(..) => SqlState::FeatureNotSupported,
                _ => SqlState::ProtocolViolation,
            };
            send_fatal(&mut stream, &UserError::fatal(code, e.to_string())).await;
            return;
        }
    };
    let params = match pkt {
        FirstPacket::Cancel { pid, secret } => {
            cx.metrics
                .cancel_requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if !cx.admission.allow_cancel(peer.ip()) {
                cx.metrics
                    .cancel_requests_limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(pid, "cancel request dropped: rate limit for this address");
                return;
            }
            let replica = crate::session::replica_of(pid);
            if replica != cx.config.replicas.id {
                crate::session::replicas::forward_cancel(
                    &cx.config.replicas,
                    replica,
                    pid,
                    &secret,
                )
                .await;
                return;
            }
            let done = cx.services.registry.cancel(pid, &secret);
            tracing::debug!(pid, done, "cancel request");
            return;
        }
        FirstPacket::ReplicaSignal { body } => {
            // Rate-limited like CancelRequests: an unsigned flood must stay cheap.
            if !cx.admission.allow_cancel(peer.ip()) {
                return;
            }
            let answer = cx.services.peers.answer(&body, &cx.services.registry);
            let _ = stream.write_all(&answer).await;
            let _ = stream.shutdown().await;
            return;
        }
        FirstPacket::Startup { params, .. } => params,
        // A second SSLRequest inside TLS, or GSS: protocol violation.
        _ => {
            send_fatal(
                &mut stream,
                &UserError::fatal(
                    SqlState::ProtocolViolation,
                    "unexpected negotiation request",
                ),
            )
            .await;
            return;
        }
    };
    let config = cx.config.clone();
    let user = params.get("user").cloned().unwrap_or_default();
    tracing::Span::current().record("user", user.as_str());
    if config.server.require_tls && !secure {
        send_fatal(
            &mut stream,
            &UserError::fatal(
                SqlState::InvalidAuthorization,
                "this server accepts TLS connections only (sslmode=require)",
            ),
        )
        .await;
        return;
    }
    let database = params
        .get("database")
        .cloned()
        .unwrap_or_else(|| user.clone());
    if database != config.server.database {
        send_fatal(
            &mut stream,
            &UserError::fatal(
                SqlState::InvalidCatalogName,
                format!("database \"{database}\" does not exist"),
            ),
        )
        .await;
        return;
    }

    let client = login::Client {
        addr: peer,
        secure,
        cert,
        asserted_roles: params
            .get("options")
            .map(|o| {
                meshgate_protocol::startup::parse_options(o)
                    .into_iter()
                    .filter(|(k, _)| k == crate::auth::PEER_ROLES_OPTION)
                    .flat_map(|(_, v)| {
                        v.split(',')
                            .filter(|r| !r.is_empty())
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    if let Some(e) = login::refuse_early(&cx, &user, &client) {
        send_fatal(&mut stream, &e).await;
        return;
    }
    // A full server refuses before the password exchange…
    if let Err(e) = cx.admission.check(&user) {
        tracing::info!(user = %user, "connection refused: {}", e.message);
        send_fatal(&mut stream, &e).await;
        return;
    }

    let mut conn: Conn<S> = Framed::new(stream, MeshCodec::new(cx.limits()));
    let Some(identity) = login::authenticate(&mut conn, &cx, &user, client, deadline).await else {
        close::linger(conn.get_mut()).await;
        return;
    };
    drop(handshake);
    // …and the slot is taken only now (see `Admission::admit`).
    let _slot = match cx.admission.admit(&user) {
        Ok(slot) => slot,
        Err(e) => {
            tracing::info!(user = %user, "connection refused: {}", e.message);
            send_fatal(conn.get_mut(), &e).await;
            return;
        }
    };
    let login = Login {
        user: identity.user,
        admin: identity.admin,
        method: identity.method,
        roles: identity.roles,
        peer,
        gateway: identity.gateway,
    };
    let session = match Session::start(cx.services.clone(), login, &params) {
        Ok(s) => s,
        Err(e) => {
            send_fatal(conn.get_mut(), &e).await;
            return;
        }
    };
    tracing::Span::current().record("pid", session.pid());
    if greet(&mut conn, &session).await.is_err() {
        return;
    }
    let (app, method) = session.log_fields();
    tracing::Span::current().record("app", app.as_str());
    tracing::info!(auth = method.as_str(), roles = %session.login.roles.join(","), "session started");

    // Rows are written to the socket when this much is buffered: at the codec's default of
    // 8 KiB a stream of rows spent a third of the server's time in writev calls.
    conn.set_backpressure_boundary(SEND_BUFFER);
    let slot = session.cancel_slot().clone();
    let mut l = Loop {
        io: Connection::new(
            conn,
            slot,
            cx.metrics.clone(),
            cx.config
                .server
                .web_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_string()),
        ),
        session,
        cx,
        skip_until_sync: false,
    };
    l.run().await;
    // A transaction its client left open (gone, terminated, drained): what it wrote goes.
    l.session.end();
    tracing::info!("session ended");
}

/// AuthenticationOk, the reported settings, BackendKeyData and the first ReadyForQuery.
async fn greet<S>(conn: &mut Conn<S>, session: &Session) -> Result<(), FrameError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    conn.feed(PgWireBackendMessage::Authentication(Authentication::Ok))
        .await?;
    for name in [
        "server_version",
        "server_encoding",
        "client_encoding",
        "DateStyle",
        "TimeZone",
        "IntervalStyle",
        "integer_datetimes",
        "standard_conforming_strings",
        "application_name",
        "is_superuser",
        "session_authorization",
        "search_path",
    ] {
        conn.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
            name.to_string(),
            session.get(name).unwrap_or_default(),
        )))
        .await?;
    }
    let (pid, secret) = session.cancel_key();
    conn.feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
        pid,
        SecretKey::I32(i32::from_be_bytes(secret)),
    )))
    .await?;
    conn.feed(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
        session.transaction_status(),
    )))
    .await?;
    conn.flush().await
}

/// One authenticated session's message loop.
struct Loop<S> {
    io: Connection<S>,
    session: Session,
    cx: Context,
    /// After an error in an extended-protocol message, everything up to Sync is skipped.
    skip_until_sync: bool,
}

impl<S> Loop<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Waits for the client's next message, ending the session when it stays idle too long or
    /// the server drains. Cancel-safe: Framed keeps partial messages buffered.
    async fn next_message(&mut self) -> Option<Option<Result<PgWireFrontendMessage, FrameError>>> {
        if let Some(m) = self.io.pending.pop_front() {
            return Some(Some(m));
        }
        let idle = self.session.idle_timeout();
        let in_tx = self.session.in_transaction();
        let terminated = self.session.cancel_slot().terminated();
        if terminated.is_cancelled() {
            self.io.close_with(&UserError::terminated()).await;
            return None;
        }
        // Biased: a message already buffered is served before a timeout or the drain is noticed,
        // so a pipelined batch is not cut in half.
        let ended = tokio::select! {
            biased;
            // Termination is served first: a client that keeps sending must not outrun it.
            _ = terminated.cancelled() => UserError::terminated(),
            m = self.io.conn.next() => return Some(m),
            _ = self.cx.draining.cancelled() => UserError::terminated(),
            _ = client::sleep_for(idle) => if in_tx {
                UserError::fatal(SqlState::IdleInTransactionTimeout, "terminating connection due to idle-in-transaction timeout")
            } else {
                UserError::fatal(SqlState::IdleSessionTimeout, "terminating connection due to idle-session timeout")
            },
        };
        tracing::info!("{}", ended.message);
        self.io.close_with(&ended).await;
        None
    }

    async fn run(&mut self) {
        loop {
            let Some(next) = self.next_message().await else {
                return;
            };
            let msg = match next {
                None => return,
                Some(Ok(m)) => m,
                Some(Err(FrameError::TooLarge { kind, len, limit })) => {
                    let e = UserError::fatal(
                        SqlState::ProgramLimitExceeded,
                        format!("message of type '{kind}' is {len} bytes, over the server's limit of {limit} bytes"),
                    );
                    tracing::info!("{}", e.message);
                    self.io.close_with(&e).await;
                    return;
                }
                Some(Err(FrameError::Io(_))) => return,
                Some(Err(e)) => {
                    let e = UserError::fatal(SqlState::ProtocolViolation, e.to_string());
                    tracing::info!("{}", e.message);
                    self.io.close_with(&e).await;
                    return;
                }
            };
            let started = std::time::Instant::now();
            let counts = matches!(
                msg,
                PgWireFrontendMessage::Query(_) | PgWireFrontendMessage::Execute(_)
            );
            if counts {
                self.session.cancel_slot().arm();
            }
            let ends_batch = matches!(
                msg,
                PgWireFrontendMessage::Query(_) | PgWireFrontendMessage::Sync(_)
            );
            let res = match msg {
                PgWireFrontendMessage::Query(q) => self.simple_query(&q.query).await,
                PgWireFrontendMessage::Terminate(_) => return,
                PgWireFrontendMessage::Sync(_) => {
                    self.skip_until_sync = false;
                    self.session.sync();
                    self.ready().await
                }
                m if m.is_extended_query() => {
                    if self.skip_until_sync {
                        Ok(())
                    } else {
                        match self.extended(m).await {
                            Ok(()) => Ok(()),
                            Err(Failure::User(e)) => {
                                self.skip_until_sync = true;
                                self.io.error(&e).await
                            }
                            Err(Failure::Gone) => Err(Gone),
                        }
                    }
                }
                // CopyData/CopyDone/CopyFail with no COPY FROM running are ignored, as in
                // PostgreSQL (a client may still be sending after an error).
                PgWireFrontendMessage::CopyData(_)
                | PgWireFrontendMessage::CopyDone(_)
                | PgWireFrontendMessage::CopyFail(_) => Ok(()),
                _ => {
                    let e = UserError::fatal(SqlState::ProtocolViolation, "unexpected message");
                    tracing::info!("{}", e.message);
                    self.io.close_with(&e).await;
                    return;
                }
            };
            if res.is_err() {
                return;
            }
            if counts && !self.skip_until_sync {
                self.cx.metrics.statement(started.elapsed());
            }
            // Draining: a session that keeps sending still ends at its next ReadyForQuery.
            if ends_batch
                && self.cx.draining.is_cancelled()
                && !self.session.in_transaction()
                && self.io.pending.is_empty()
            {
                let e = UserError::terminated();
                tracing::info!("{}", e.message);
                self.io.close_with(&e).await;
                return;
            }
        }
    }

    async fn ready(&mut self) -> Result<(), Gone> {
        self.session.cancel_slot().end();
        self.io
            .conn
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                self.session.transaction_status(),
            )))
            .await
            .map_err(|_| Gone)
    }

    /// The simple-query protocol: run each statement, stop at the first error, then
    /// ReadyForQuery.
    async fn simple_query(&mut self, sql: &str) -> Result<(), Gone> {
        // A Query message also ends any half-done extended-protocol exchange.
        self.skip_until_sync = false;
        let stmts = match self.session.parse_batch(sql) {
            Ok(s) => s,
            Err(e) => {
                self.io.error(&e).await?;
                return self.ready().await;
            }
        };
        if stmts.is_empty() {
            self.io
                .conn
                .send(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await
                .map_err(|_| Gone)?;
            return self.ready().await;
        }
        for parsed in stmts {
            match self.session.run_statement(parsed, &mut self.io).await {
                Ok(()) => {}
                Err(Failure::User(e)) => {
                    self.io.error(&e).await?;
                    break;
                }
                Err(Failure::Gone) => return Err(Gone),
            }
        }
        self.ready().await
    }
}
