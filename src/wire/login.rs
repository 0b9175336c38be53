//! Authentication of one connection, between the startup packet and AuthenticationOk.
//!
//! ```text
//!  verified client certificate ─► CN = user? ─► "cert"            (no password asked)
//!  TLS and (jwt or password_method = password) ─► cleartext password
//!        ├─ shaped like a JWT and [auth.jwt] set ─► token checks ─► "jwt"
//!        └─ otherwise ─► the user's SCRAM verifier ─► "password"
//!  anything else ─► SCRAM-SHA-256 ─► "scram-sha-256"
//! ```
//!
//! Every refusal is FATAL and ends the connection. The client learns only that it failed (the
//! SQLSTATE, and PostgreSQL's wording); the log says why, with peer and user, and never holds
//! the password or token.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use futures::{SinkExt, StreamExt};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use meshgate_protocol::scram::{ScramError, ScramExchange, ScramVerifier, MECHANISM};

use super::{Conn, Context};
use crate::auth::jwt::{looks_like_jwt, TokenError};
use crate::auth::throttle::Policy;
use crate::auth::AuthMethod;
use crate::error::{SqlState, UserError};

/// Who logged in, and how.
pub(crate) struct Identity {
    pub user: String,
    pub admin: bool,
    pub method: AuthMethod,
    pub roles: Vec<String>,
    /// The region of the peer gateway that logged in for the user.
    pub gateway: Option<String>,
}

/// The common name of a verified client certificate, or why it could not be read; None when
/// the client sent no certificate.
pub(crate) type ClientCert = Option<Result<String, &'static str>>;

/// Where a login attempt comes from.
pub(crate) struct Client {
    pub addr: SocketAddr,
    /// Over TLS.
    pub secure: bool,
    pub cert: ClientCert,
    /// The roles a peer gateway says its user holds (`-c mesh.login_roles=a,b`); heeded only
    /// when the certificate is a peer's.
    pub asserted_roles: Vec<String>,
}

/// The client certificate of a TLS connection (rustls has verified it during the handshake).
pub(crate) fn client_cert(
    tls: &tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
) -> ClientCert {
    let certs = tls.get_ref().1.peer_certificates()?;
    certs
        .first()
        .map(|c| crate::auth::cert::subject_common_name(c))
}

/// Refusals decided from the startup packet alone, before any exchange: a plaintext connection
/// where client certificates are required, and a user over the opt-in failed-login ceiling.
pub(crate) fn refuse_early(cx: &Context, user: &str, client: &Client) -> Option<UserError> {
    let config = &cx.config;
    let peer = client.addr;
    if !client.secure && config.server.tls_client_auth == "required" {
        return Some(UserError::fatal(
            SqlState::InvalidAuthorization,
            "this server requires a TLS connection with a client certificate",
        ));
    }
    // A certificate that names this user cannot be guessed at; letting it through keeps a
    // password guesser from locking certificate users out.
    if matches!(&client.cert, Some(Ok(cn)) if cn == user) {
        return None;
    }
    if !cx
        .logins
        .throttle
        .user_refused(user, &Policy::from_limits(&config.limits))
    {
        return None;
    }
    cx.metrics.refused("login_rate_limited");
    tracing::warn!(%peer, user = %user, "login refused: too many failed logins for this user");
    Some(UserError::fatal(
        SqlState::InvalidAuthorization,
        "too many failed login attempts",
    ))
}

enum Outcome {
    In(Identity),
    /// Wrong credentials: counted against the (address, user) pair.
    Denied {
        code: SqlState,
        message: String,
        reason: String,
    },
}

/// Runs the exchange until the deadline. Some(identity) when the client is in; otherwise the
/// client has been sent its FATAL error (unless it timed out) and the connection should close.
pub(crate) async fn authenticate<S>(
    conn: &mut Conn<S>,
    cx: &Context,
    user: &str,
    client: Client,
    deadline: Instant,
) -> Option<Identity>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let peer = client.addr;
    let policy = Policy::from_limits(&cx.config.limits);
    let throttle = &cx.logins.throttle;
    // A certificate that names the user is not a guess; it is never slowed down.
    let wait = if matches!(&client.cert, Some(Ok(cn)) if cn == user) {
        Duration::ZERO
    } else {
        throttle.wait(peer.ip(), user, &policy)
    };
    let attempt = async {
        if !wait.is_zero() {
            cx.metrics.login_delayed(wait);
            tracing::info!(%peer, user = %user, delay_ms = wait.as_millis() as u64, "login delayed after failed attempts");
            tokio::time::sleep(wait).await;
        }
        exchange(
            conn,
            cx,
            user,
            client.secure,
            client.cert,
            client.asserted_roles,
        )
        .await
    };
    let error = match tokio::time::timeout_at(deadline, attempt).await {
        Ok(Ok(Outcome::In(identity))) => {
            throttle.succeeded(peer.ip(), user);
            return Some(identity);
        }
        Ok(Ok(Outcome::Denied {
            code,
            message,
            reason,
        })) => {
            tracing::warn!(%peer, user = %user, "authentication failed: {reason}");
            cx.metrics.login_failed();
            throttle.failed(peer.ip(), user, &policy);
            UserError::fatal(code, message)
        }
        // Protocol trouble (a client that hangs up to prompt for a password lands here too) is
        // not a guess, so it is not counted.
        Ok(Err(e)) => {
            tracing::warn!(%peer, user = %user, "authentication failed: {}", e.message);
            e
        }
        Err(_) => {
            cx.metrics.refused("handshake_timeout");
            tracing::debug!("authentication timed out");
            return None;
        }
    };
    cx.metrics.refused("authentication");
    let _ = conn
        .send(PgWireBackendMessage::ErrorResponse(error.to_response()))
        .await;
    None
}

async fn exchange<S>(
    conn: &mut Conn<S>,
    cx: &Context,
    user: &str,
    secure: bool,
    cert: ClientCert,
    asserted_roles: Vec<String>,
) -> Result<Outcome, UserError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = &cx.config;
    let known = config.users.get(user);
    // Users not in [[users]] (JWT or certificate logins) are ordinary users.
    let admin = known.is_some_and(|u| u.admin);
    let identity = |method, roles| {
        Outcome::In(Identity {
            user: user.to_string(),
            admin,
            method,
            roles,
            gateway: None,
        })
    };
    let denied = |code, message: String, reason: String| Outcome::Denied {
        code,
        message,
        reason,
    };

    if let Some(cert) = cert {
        let message = format!("certificate authentication failed for user \"{user}\"");
        // A peer gateway's certificate (rustls checked it chains to `tls_client_ca`) names the
        // gateway; the gateway vouches for its user, as a trusted proxy does.
        if let Ok(cn) = &cert {
            if let Some(p) = config.peers.iter().find(|p| &p.name == cn) {
                return Ok(Outcome::In(Identity {
                    user: user.to_string(),
                    // The gateway in its own name reads the mesh's metadata (column types),
                    // and data only as the residency rules let any consumer there. A user it
                    // speaks for is never an administrator here.
                    admin: user == cn,
                    method: AuthMethod::Peer,
                    roles: asserted_roles,
                    gateway: Some(p.region.clone()),
                }));
            }
        }
        return Ok(match cert {
            Ok(cn) if cn == user => identity(AuthMethod::Cert, Vec::new()),
            Ok(cn) => denied(
                SqlState::InvalidAuthorization,
                message,
                format!("certificate common name {cn:?} is not the user"),
            ),
            Err(why) => denied(SqlState::InvalidAuthorization, message, why.to_string()),
        });
    }

    // An unknown user goes through the same steps against a decoy, so that names cannot be probed.
    let verifier = known
        .map(|u| u.verifier.clone())
        .unwrap_or_else(|| ScramVerifier::decoy(user, &cx.logins.decoy_secret));
    let wrong_password = || {
        let reason = if known.is_some() {
            "wrong password"
        } else {
            "unknown user"
        };
        denied(
            SqlState::InvalidPassword,
            format!("password authentication failed for user \"{user}\""),
            reason.to_string(),
        )
    };
    // A token has to travel in the clear inside TLS; SCRAM never shows the server a secret it
    // could check a token with.
    let jwt = cx.credentials.jwt.as_deref();
    let cleartext = secure && (config.server.password_method == "password" || jwt.is_some());
    if !cleartext {
        let ok = authenticate_scram(conn, verifier).await?;
        return Ok(if ok && known.is_some() {
            identity(AuthMethod::Scram, Vec::new())
        } else {
            wrong_password()
        });
    }
    let password = read_cleartext(conn).await?;
    if let Some(jwt) = jwt.filter(|_| looks_like_jwt(&password)) {
        let message = format!("token authentication failed for user \"{user}\"");
        return Ok(match jwt.verify(&password, SystemTime::now()) {
            Ok(claims) if claims.user == user => identity(AuthMethod::Jwt, claims.roles),
            Ok(claims) => denied(
                SqlState::InvalidAuthorization,
                message,
                format!("token is for user {:?}", claims.user),
            ),
            Err(TokenError::Invalid(why)) => denied(
                SqlState::InvalidPassword,
                message,
                format!("token refused: {why}"),
            ),
            Err(TokenError::Identity(why)) => denied(
                SqlState::InvalidAuthorization,
                message,
                format!("token refused: {why}"),
            ),
        });
    }
    Ok(if verifier.verify_password(&password) && known.is_some() {
        identity(AuthMethod::Password, Vec::new())
    } else {
        wrong_password()
    })
}

async fn read_auth_message<S>(
    conn: &mut Conn<S>,
) -> Result<pgwire::messages::startup::PasswordMessageFamily, UserError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match conn.next().await {
        Some(Ok(PgWireFrontendMessage::PasswordMessageFamily(m))) => Ok(m),
        Some(Ok(_)) => Err(UserError::fatal(
            SqlState::ProtocolViolation,
            "expected a password message",
        )),
        Some(Err(e)) => Err(UserError::fatal(SqlState::ProtocolViolation, e.to_string())),
        None => Err(UserError::fatal(
            SqlState::ProtocolViolation,
            "connection closed during authentication",
        )),
    }
}

async fn send_now<S>(conn: &mut Conn<S>, m: PgWireBackendMessage) -> Result<(), UserError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    conn.send(m)
        .await
        .map_err(|e| UserError::fatal(SqlState::ProtocolViolation, format!("connection lost: {e}")))
}

/// SCRAM-SHA-256. Returns whether the proof was right.
async fn authenticate_scram<S>(
    conn: &mut Conn<S>,
    verifier: ScramVerifier,
) -> Result<bool, UserError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    send_now(
        conn,
        PgWireBackendMessage::Authentication(Authentication::SASL(vec![MECHANISM.to_string()])),
    )
    .await?;
    let first = read_auth_message(conn)
        .await?
        .into_sasl_initial_response()
        .map_err(|_| {
            UserError::fatal(SqlState::ProtocolViolation, "malformed SASLInitialResponse")
        })?;
    if first.auth_method != MECHANISM {
        return Err(UserError::fatal(
            SqlState::ProtocolViolation,
            "client selected an invalid SASL authentication mechanism",
        ));
    }
    let data = first.data.unwrap_or_default();
    let (exchange, server_first) = ScramExchange::start(verifier, &data).map_err(|e| {
        UserError::fatal(
            SqlState::ProtocolViolation,
            format!("malformed SCRAM message: {e:?}"),
        )
    })?;
    send_now(
        conn,
        PgWireBackendMessage::Authentication(Authentication::SASLContinue(
            server_first.into_bytes().into(),
        )),
    )
    .await?;
    let last = read_auth_message(conn)
        .await?
        .into_sasl_response()
        .map_err(|_| UserError::fatal(SqlState::ProtocolViolation, "malformed SASLResponse"))?;
    match exchange.finish(&last.data) {
        Ok(server_final) => {
            send_now(
                conn,
                PgWireBackendMessage::Authentication(Authentication::SASLFinal(
                    server_final.into_bytes().into(),
                )),
            )
            .await?;
            Ok(true)
        }
        Err(ScramError::BadProof) => Ok(false),
        Err(e) => Err(UserError::fatal(
            SqlState::ProtocolViolation,
            format!("malformed SCRAM message: {e:?}"),
        )),
    }
}

/// Asks for the password in the clear; only ever done on TLS connections.
async fn read_cleartext<S>(conn: &mut Conn<S>) -> Result<String, UserError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    send_now(
        conn,
        PgWireBackendMessage::Authentication(Authentication::CleartextPassword),
    )
    .await?;
    let p = read_auth_message(conn)
        .await?
        .into_password()
        .map_err(|_| UserError::fatal(SqlState::ProtocolViolation, "malformed password message"))?;
    Ok(p.password)
}
