//! The PostgreSQL protocol: one task per connection, from the first byte to Terminate.
//!
//! ```text
//!  first packet ─┬─ SSLRequest ─► 'S' + TLS handshake ─► first packet again
//!                ├─ GSSENCRequest ─► 'N' ─► first packet again
//!                ├─ CancelRequest ─► cancel registry, close
//!                └─ StartupMessage ─► auth (login.rs: SCRAM / password, JWT, client cert) ─► session loop
//!  session loop: Query | Parse/Bind/Describe/Execute/Close/Sync/Flush | Terminate
//! ```
//!
//! pgwire provides the message types and their encodings; the connection lifecycle is ours, so
//! that every phase has a limit and the row stream can be cancelled while it runs.

mod audit;
pub mod codec;
mod config_fns;
mod copy;
mod cursor;
mod encode;
mod extended;
mod login;
mod names;
mod query;
mod search_path;
pub mod startup;
mod temp;
mod write;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus, SecretKey};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use tracing::Instrument;

use crate::catalog::MeshCatalog;
use crate::error::{sqlstate, UserError};
use crate::server::{CancelSlot, Shared};
use crate::session::Session;
use codec::{FrameError, MeshCodec};
use startup::{read_first_packet, FirstPacket};

pub(crate) type Conn<S> = Framed<S, MeshCodec>;

/// Messages a session holds while a statement runs (see `SessionLoop::pending`).
pub(crate) const MAX_PENDING: usize = 64;

/// Serves one TCP connection to its end. Never panics outward: errors end the connection.
pub async fn handle_connection(mut tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let span = tracing::info_span!(
        "conn",
        %peer,
        user = tracing::field::Empty,
        pid = tracing::field::Empty,
        app = tracing::field::Empty
    );
    shared
        .metrics
        .connections_accepted
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _active = Active::new(shared.clone());
    // One deadline for the whole handshake (TLS, startup packet, authentication): a client that
    // trickles bytes cannot stretch it phase by phase.
    let deadline =
        Instant::now() + Duration::from_millis(shared.config().limits.handshake_timeout_ms);
    let draining = shared.draining();
    async move {
        let handshake = async {
            // Direct TLS (PostgreSQL 17 `sslnegotiation=direct`): the client starts with a
            // TLS ClientHello instead of an SSLRequest.
            let mut first = [0u8; 1];
            if tcp.peek(&mut first).await.ok() == Some(1) && first[0] == 0x16 {
                let Some(acceptor) = shared.tls() else {
                    return Ok(None);
                };
                let mut tls = acceptor.accept(tcp).await?;
                let pkt = read_first_packet(&mut tls).await?;
                return Ok(Some(Stream::Tls(Box::new(tls), pkt)));
            }
            loop {
                match read_first_packet(&mut tcp).await? {
                    FirstPacket::SslRequest => match shared.tls() {
                        Some(acceptor) => {
                            tcp.write_all(b"S").await?;
                            let mut tls = acceptor.accept(tcp).await?;
                            let pkt = read_first_packet(&mut tls).await?;
                            return Ok(Some(Stream::Tls(Box::new(tls), pkt)));
                        }
                        None => tcp.write_all(b"N").await?,
                    },
                    FirstPacket::GssRequest => tcp.write_all(b"N").await?,
                    pkt => return Ok::<_, anyhow_like::Error>(Some(Stream::Plain(tcp, pkt))),
                }
            }
        };
        let handshake = tokio::select! {
            r = tokio::time::timeout_at(deadline, handshake) => r,
            _ = draining.cancelled() => return,
        };
        let stream = match handshake {
            Ok(Ok(Some(s))) => s,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                shared.metrics.refused("handshake_error");
                tracing::debug!("handshake failed: {e}");
                return;
            }
            Err(_) => {
                shared.metrics.refused("handshake_timeout");
                tracing::debug!("handshake timed out");
                return;
            }
        };
        match stream {
            Stream::Plain(s, pkt) => run(s, pkt, false, None, peer, shared, deadline).await,
            Stream::Tls(s, pkt) => {
                let cert = login::client_cert(&s);
                run(*s, pkt, true, cert, peer, shared, deadline).await
            }
        }
    }
    .instrument(span)
    .await
}

/// Counts the connection as open until its task ends (panics included).
struct Active(Arc<Shared>);

impl Active {
    fn new(shared: Arc<Shared>) -> Self {
        shared
            .metrics
            .connections_active
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Active(shared)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0
            .metrics
            .connections_active
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

enum Stream {
    Plain(TcpStream, FirstPacket),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>, FirstPacket),
}

/// Error plumbing for the handshake, where every failure just ends the connection.
mod anyhow_like {
    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        #[error(transparent)]
        Io(#[from] std::io::Error),
        #[error(transparent)]
        Startup(#[from] super::startup::StartupError),
    }
}

async fn send_fatal<S: AsyncWrite + Unpin>(s: &mut S, e: &UserError) {
    let mut buf = BytesMut::new();
    let mut e = e.clone();
    e.severity = crate::error::Severity::Fatal;
    if PgWireBackendMessage::ErrorResponse(e.to_response())
        .encode(&mut buf)
        .is_ok()
    {
        let _ = s.write_all(&buf).await;
        let _ = s.flush().await;
    }
}

async fn run<S>(
    mut stream: S,
    pkt: FirstPacket,
    secure: bool,
    cert: login::ClientCert,
    peer: SocketAddr,
    shared: Arc<Shared>,
    deadline: Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let params = match pkt {
        FirstPacket::Cancel { pid, secret } => {
            shared
                .metrics
                .cancel_requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if !shared.allow_cancel(peer.ip()) {
                shared
                    .metrics
                    .cancel_requests_limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(pid, "cancel request dropped: rate limit for this address");
                return;
            }
            let done = shared.cancels.cancel(pid, &secret);
            tracing::debug!(pid, done, "cancel request");
            return;
        }
        FirstPacket::Startup { params, .. } => params,
        // A second SSLRequest inside TLS, or GSS: protocol violation.
        _ => {
            send_fatal(
                &mut stream,
                &UserError::fatal(
                    sqlstate::PROTOCOL_VIOLATION,
                    "unexpected negotiation request",
                ),
            )
            .await;
            return;
        }
    };
    let config = shared.config();
    let user = params.get("user").cloned().unwrap_or_default();
    tracing::Span::current().record("user", user.as_str());
    if config.server.require_tls && !secure {
        send_fatal(
            &mut stream,
            &UserError::fatal(
                sqlstate::INVALID_AUTHORIZATION,
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
                sqlstate::INVALID_CATALOG_NAME,
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
    };
    if let Some(e) = login::refuse_early(&shared, &config, &user, &client) {
        send_fatal(&mut stream, &e).await;
        return;
    }

    // The slot is taken before authentication, so a connection flood is refused cheaply.
    let _slot = match shared.admit(&user) {
        Ok(slot) => slot,
        Err(e) => {
            tracing::info!(user = %user, "connection refused: {}", e.message);
            send_fatal(&mut stream, &e).await;
            return;
        }
    };

    let mut conn: Conn<S> = Framed::new(stream, MeshCodec::new(shared.limits()));
    let Some(identity) =
        login::authenticate(&mut conn, &shared, &config, &user, client, deadline).await
    else {
        return;
    };

    let pid = shared.next_pid();
    tracing::Span::current().record("pid", pid);
    let (slot, secret) = shared.cancels.register(pid, &identity.user);
    let _unregister = Unregister {
        shared: shared.clone(),
        pid,
    };

    let mesh = shared.mesh();
    let state = datafusion::execution::session_state::SessionStateBuilder::new()
        .with_config(shared.executor.session_config(&config.server.database))
        .with_runtime_env(shared.executor.env.clone())
        .with_default_features()
        .build();
    let ctx = datafusion::prelude::SessionContext::new_with_state(state);
    let access = crate::policy::Access::new(crate::policy::Principal::login(
        &mesh.policies,
        &identity.user,
        &identity.roles,
    ));
    ctx.register_catalog(
        config.server.database.as_str(),
        Arc::new(MeshCatalog::new(mesh, access.clone())),
    );
    if let Err(e) = crate::functions::register(&ctx, &config.server.database, &config, pid) {
        let e = UserError::internal("session setup", &e);
        let _ = conn
            .send(PgWireBackendMessage::ErrorResponse(e.to_response()))
            .await;
        return;
    }
    crate::server::register_control_functions(&ctx, &shared, &identity.user, identity.admin);
    let mut session = Session::new(
        identity.user.clone(),
        identity.admin,
        config.server.database.clone(),
        pid,
        ctx,
        access,
        config.server.max_statement_timeout_ms,
    );
    session.auth_method = identity.method;
    session.login_roles = identity.roles;
    session.set_idle_defaults(
        config.limits.idle_session_timeout_ms,
        config.limits.idle_in_transaction_timeout_ms,
    );
    if let Err(e) = apply_startup_params(&mut session, &params) {
        let _ = conn
            .send(PgWireBackendMessage::ErrorResponse(
                UserError {
                    severity: crate::error::Severity::Fatal,
                    ..e
                }
                .to_response(),
            ))
            .await;
        return;
    }

    let mut out = vec![PgWireBackendMessage::Authentication(Authentication::Ok)];
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
        out.push(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
            name.to_string(),
            session.get(name).unwrap_or_default(),
        )));
    }
    out.push(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
        pid,
        SecretKey::I32(i32::from_be_bytes(secret)),
    )));
    out.push(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
        TransactionStatus::Idle,
    )));
    for m in out {
        if conn.feed(m).await.is_err() {
            return;
        }
    }
    if conn.flush().await.is_err() {
        return;
    }
    tracing::Span::current().record(
        "app",
        session.get("application_name").unwrap_or_default().as_str(),
    );
    tracing::info!(auth = session.auth_method, roles = %session.login_roles.join(","), "session started");

    let mut s = SessionLoop {
        conn,
        session,
        shared: shared.clone(),
        slot,
        tx: TxState::Idle,
        statements: BTreeMap::new(),
        portals: BTreeMap::new(),
        cursors: BTreeMap::new(),
        tx_isolation: None,
        skip_until_sync: false,
        pending: std::collections::VecDeque::new(),
        generation: shared.generation(),
        access_generation: 0,
        write_tx: None,
        peer,
        stmt: None,
    };
    s.run().await;
    // A transaction its client left open (gone, terminated, drained): what it wrote goes.
    s.discard_open_writes();
    tracing::info!("session ended");
}

struct Unregister {
    shared: Arc<Shared>,
    pid: i32,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        self.shared.cancels.unregister(self.pid);
    }
}

fn apply_startup_params(
    session: &mut Session,
    params: &BTreeMap<String, String>,
) -> Result<(), UserError> {
    for (k, v) in params {
        match k.as_str() {
            "user" | "database" | "replication" => {}
            "options" => {
                for (name, value) in startup::parse_options(v) {
                    session.set(&name, &value)?;
                }
            }
            // libpq sends these from the environment; unknown ones are ignored as PostgreSQL
            // ignores `_pq_` and unknown GUCs would fail the connection for no gain.
            name => {
                if let Err(e) = session.set(name, v) {
                    if e.code != sqlstate::UNDEFINED_PARAMETER {
                        return Err(e);
                    }
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxState {
    Idle,
    InBlock,
    Failed,
}

impl TxState {
    fn status(self) -> TransactionStatus {
        match self {
            TxState::Idle => TransactionStatus::Idle,
            TxState::InBlock => TransactionStatus::Transaction,
            TxState::Failed => TransactionStatus::Error,
        }
    }
}

/// One authenticated session's message loop.
pub(crate) struct SessionLoop<S> {
    conn: Conn<S>,
    session: Session,
    shared: Arc<Shared>,
    slot: Arc<CancelSlot>,
    tx: TxState,
    statements: BTreeMap<String, Arc<extended::Prepared>>,
    portals: BTreeMap<String, extended::Portal>,
    /// SQL cursors (DECLARE … CURSOR), by name.
    cursors: BTreeMap<String, cursor::Cursor>,
    /// The isolation level the open transaction block was begun with, for SHOW.
    tx_isolation: Option<String>,
    /// After an error in an extended-protocol message, everything up to Sync is skipped.
    skip_until_sync: bool,
    /// Messages read while a statement was running (reading is how a closed connection is
    /// noticed mid-query; a client's Sync is usually already behind its Execute), handled before
    /// the socket is read again. At most [`MAX_PENDING`] are held; past that the socket is left
    /// unread, which is backpressure on a pipelining client.
    pending: std::collections::VecDeque<Result<PgWireFrontendMessage, FrameError>>,
    /// The reload generation this session's catalog was built from.
    generation: u64,
    /// Bumped whenever the catalog is rebuilt for another principal or mesh: statements
    /// prepared before must be planned again (their policies may differ).
    pub(crate) access_generation: u64,
    /// The client's address, for audit events.
    peer: SocketAddr,
    /// The audit record of the statement running now (see `audit`).
    stmt: Option<crate::audit::StatementRecord>,
    /// The open transaction's changes to writable products (see `write`).
    write_tx: Option<write::WriteTx>,
}

/// What a session ended by `pg_terminate_backend` gets, as in PostgreSQL.
fn terminated_error() -> UserError {
    UserError::fatal(
        sqlstate::ADMIN_SHUTDOWN,
        "terminating connection due to administrator command",
    )
}

/// The connection is gone or broken; the loop ends.
#[derive(Debug)]
pub(crate) struct Disconnected;

impl From<FrameError> for Disconnected {
    fn from(_: FrameError) -> Self {
        Disconnected
    }
}

impl<S> SessionLoop<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Waits for the client's next message, ending the session when it stays idle too long or
    /// the server drains. Cancel-safe: Framed keeps partial messages buffered.
    async fn next_message(&mut self) -> Option<Option<Result<PgWireFrontendMessage, FrameError>>> {
        if let Some(m) = self.pending.pop_front() {
            return Some(Some(m));
        }
        let in_tx = self.tx != TxState::Idle;
        let idle = self.session.idle_timeout(in_tx);
        let draining = self.shared.draining();
        let terminated = self.slot.terminated();
        if terminated.is_cancelled() {
            self.close_with(&terminated_error()).await;
            return None;
        }
        // Biased: a message already buffered is served before a timeout or the drain is noticed,
        // so a pipelined batch is not cut in half.
        let ended = tokio::select! {
            biased;
            // Termination is served first: a client that keeps sending must not outrun it.
            _ = terminated.cancelled() => terminated_error(),
            m = self.conn.next() => return Some(m),
            _ = draining.cancelled() => UserError::fatal(sqlstate::ADMIN_SHUTDOWN, "terminating connection due to administrator command"),
            _ = encode::sleep_for(idle) => if in_tx {
                UserError::fatal("25P03", "terminating connection due to idle-in-transaction timeout")
            } else {
                UserError::fatal("57P05", "terminating connection due to idle-session timeout")
            },
        };
        tracing::info!("{}", ended.message);
        self.close_with(&ended).await;
        None
    }

    /// Sends a FATAL error and closes so the client reads it: our side is shut down first and
    /// what the client still sends is drained briefly. Closing a socket with unread input makes
    /// the kernel reset the connection, and the client may then lose the error (tokio-postgres
    /// sends Close+Sync when a statement is dropped, so this is common).
    async fn close_with(&mut self, e: &UserError) {
        let _ = self
            .conn
            .send(PgWireBackendMessage::ErrorResponse(e.to_response()))
            .await;
        let io = self.conn.get_mut();
        let _ = io.shutdown().await;
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while matches!(tokio::io::AsyncReadExt::read(io, &mut buf).await, Ok(n) if n > 0) {}
        })
        .await;
    }

    /// After a reload, the next statement plans against the new mesh, with the policies as
    /// they are now for the role the session acts as.
    fn refresh_catalog(&mut self) {
        let generation = self.shared.generation();
        if generation != self.generation && self.write_tx.is_some() {
            // A transaction with writes keeps seeing its own changes over the newest mesh.
            self.generation = generation;
            if let Err(e) = self.install_write_view() {
                tracing::error!("transaction catalog not rebuilt: {e}");
            }
            return;
        }
        if generation != self.generation {
            self.generation = generation;
            let mesh = self.shared.mesh();
            let old = &self.session.access.principal;
            let principal = crate::policy::Principal::login(
                &mesh.policies,
                &self.session.user,
                &self.session.login_roles,
            );
            // A role the reload took away falls back to the login user.
            let principal = principal
                .with_role(old.role.as_deref())
                .unwrap_or(principal);
            self.install_catalog(mesh, principal);
        }
    }

    /// The catalog just installed is the shared mesh as it is now.
    pub(crate) fn sync_generation(&mut self) {
        self.generation = self.shared.generation();
    }

    /// SET ROLE / RESET ROLE (`None`).
    pub(crate) fn set_role(&mut self, role: Option<&str>) -> Result<(), UserError> {
        let principal = self.session.access.principal.with_role(role)?;
        self.install_catalog(self.shared.mesh(), principal);
        Ok(())
    }

    /// Registers the database catalog (and pg_catalog, information_schema and the catalog
    /// functions, which describe one mesh for one principal) for `principal`.
    pub(crate) fn install_catalog(
        &mut self,
        mesh: Arc<crate::catalog::Mesh>,
        principal: crate::policy::Principal,
    ) {
        let db = self.session.database.clone();
        let config = self.shared.config();
        self.session.access = self.session.access.with_principal(principal);
        self.session.ctx.register_catalog(
            db.as_str(),
            Arc::new(MeshCatalog::new(mesh, self.session.access.clone())),
        );
        if let Err(e) =
            crate::functions::register(&self.session.ctx, &db, &config, self.session.pid)
        {
            tracing::error!("catalog functions not rebuilt: {e}");
        }
        self.session.attach_temp_schema();
        self.access_generation += 1;
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
                        sqlstate::PROGRAM_LIMIT_EXCEEDED,
                        format!("message of type '{kind}' is {len} bytes, over the server's limit of {limit} bytes"),
                    );
                    let _ = self
                        .conn
                        .send(PgWireBackendMessage::ErrorResponse(e.to_response()))
                        .await;
                    return;
                }
                Some(Err(FrameError::Io(_))) => return,
                Some(Err(e)) => {
                    let e = UserError::fatal(sqlstate::PROTOCOL_VIOLATION, e.to_string());
                    let _ = self
                        .conn
                        .send(PgWireBackendMessage::ErrorResponse(e.to_response()))
                        .await;
                    return;
                }
            };
            let started = std::time::Instant::now();
            let counts = matches!(
                msg,
                PgWireFrontendMessage::Query(_) | PgWireFrontendMessage::Execute(_)
            );
            if matches!(
                msg,
                PgWireFrontendMessage::Query(_) | PgWireFrontendMessage::Parse(_)
            ) {
                self.refresh_catalog();
            }
            if matches!(
                msg,
                PgWireFrontendMessage::Query(_) | PgWireFrontendMessage::Execute(_)
            ) {
                self.slot.arm();
            }
            let ends_batch = matches!(
                msg,
                PgWireFrontendMessage::Query(_) | PgWireFrontendMessage::Sync(_)
            );
            let res = match msg {
                PgWireFrontendMessage::Query(q) => self.simple_query(&q.query).await,
                PgWireFrontendMessage::Terminate(_) => return,
                PgWireFrontendMessage::Sync(_) => self.on_sync().await,
                m if m.is_extended_query() => {
                    if self.skip_until_sync {
                        Ok(())
                    } else {
                        match self.extended(m).await {
                            Ok(()) => Ok(()),
                            Err(Failure::User(e)) => {
                                self.skip_until_sync = true;
                                self.fail_tx();
                                self.send_error(&e).await
                            }
                            Err(Failure::Gone) => Err(Disconnected),
                        }
                    }
                }
                // CopyData/CopyDone/CopyFail with no COPY FROM running are ignored, as in
                // PostgreSQL (a client may still be sending after an error).
                PgWireFrontendMessage::CopyData(_)
                | PgWireFrontendMessage::CopyDone(_)
                | PgWireFrontendMessage::CopyFail(_) => Ok(()),
                _ => {
                    let e = UserError::fatal(sqlstate::PROTOCOL_VIOLATION, "unexpected message");
                    let _ = self
                        .conn
                        .send(PgWireBackendMessage::ErrorResponse(e.to_response()))
                        .await;
                    return;
                }
            };
            if res.is_err() {
                return;
            }
            if counts && !self.skip_until_sync {
                self.shared.metrics.statement(started.elapsed());
            }
            // Draining: a session that keeps sending still ends at its next ReadyForQuery.
            if ends_batch
                && self.shared.is_draining()
                && self.tx == TxState::Idle
                && self.pending.is_empty()
            {
                let e = UserError::fatal(
                    sqlstate::ADMIN_SHUTDOWN,
                    "terminating connection due to administrator command",
                );
                tracing::info!("{}", e.message);
                self.close_with(&e).await;
                return;
            }
        }
    }

    fn fail_tx(&mut self) {
        if self.tx == TxState::InBlock {
            self.tx = TxState::Failed;
        }
    }

    async fn send_error(&mut self, e: &UserError) -> Result<(), Disconnected> {
        self.shared.metrics.error(e.code);
        self.conn
            .send(PgWireBackendMessage::ErrorResponse(e.to_response()))
            .await?;
        Ok(())
    }

    async fn ready(&mut self) -> Result<(), Disconnected> {
        self.slot.end();
        self.conn
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                self.tx.status(),
            )))
            .await?;
        Ok(())
    }

    async fn on_sync(&mut self) -> Result<(), Disconnected> {
        self.skip_until_sync = false;
        if self.tx == TxState::Idle {
            // Outside a transaction block each Sync ends the implicit transaction, and portals
            // live no longer than their transaction.
            self.portals.clear();
        }
        self.ready().await
    }
}

/// Why a statement or protocol step did not complete.
pub(crate) enum Failure {
    /// Report to the client and go on.
    User(UserError),
    /// The connection is gone.
    Gone,
}

impl From<UserError> for Failure {
    fn from(e: UserError) -> Self {
        Failure::User(e)
    }
}

impl From<Disconnected> for Failure {
    fn from(_: Disconnected) -> Self {
        Failure::Gone
    }
}

impl From<FrameError> for Failure {
    fn from(_: FrameError) -> Self {
        Failure::Gone
    }
}
