//! Signals that cross replicas. A client behind a load balancer may reach any replica, but its
//! session lives on one: the top byte of its pid says which (see `registry`).
//!
//! ```text
//!  CancelRequest (pid, key)      ─► replica A ─ forward_cancel ─► replica B: key checked there
//!  pg_cancel_backend(pid) on A   ─► Peers::signal ── REPLICA_SIGNAL, signed ─► B: Peers::answer
//!                                   ◄──────────── one byte: done / none / denied / refused ─┘
//! ```
//!
//! A CancelRequest carries its own proof (the session's key), so it is passed on as it came. A
//! function call carries only the caller's identity, which B has no way to check by itself:
//! A signs it with the secret every replica shares (`[replicas] secret_file`), and B applies
//! the same rule as for its own callers (one's own role's sessions; admins any).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::ToSocketAddrs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meshgate_connectors::Secret;
use meshgate_protocol::startup::REPLICA_SIGNAL;
use ring::hmac;

use super::registry::{denied, replica_of, Registry};
use crate::config::ReplicasSettings;
use crate::error::{SqlState, UserError};

/// How long a replica waits for another to take a signal: a peer that is down must not hold a
/// session (or an engine thread) for long.
const PEER_TIMEOUT: Duration = Duration::from_secs(3);

/// A signed request older or newer than this is refused, so a captured one cannot be replayed
/// later. Replicas' clocks must agree this closely.
const SIGNAL_WINDOW_MS: i64 = 60_000;

/// The answers, one byte each; `DENIED` is followed by the session's role name.
const DONE: u8 = b'1';
const NO_SUCH: u8 = b'0';
const DENIED: u8 = b'D';
const REFUSED: u8 = b'R';

/// This replica's view of the others: where they listen and the secret they share.
pub struct Peers {
    own: u8,
    addresses: BTreeMap<u8, String>,
    key: Option<hmac::Key>,
}

impl Peers {
    pub fn from_settings(r: &ReplicasSettings) -> Peers {
        Peers {
            own: r.id,
            addresses: r.peers.iter().map(|p| (p.id, p.address.clone())).collect(),
            key: r.secret.as_ref().map(signing_key),
        }
    }

    /// Whether `pid` is a session of another replica.
    pub fn is_remote(&self, pid: i32) -> bool {
        replica_of(pid) != self.own
    }

    /// Asks the replica running `pid` to cancel its statement (or end it), on behalf of `user`.
    /// Blocking: it is called from `pg_cancel_backend`, a scalar function, which the engine
    /// calls synchronously; the engine's worker is released to other tasks meanwhile.
    pub fn signal(
        &self,
        pid: i32,
        user: &str,
        admin: bool,
        terminate: bool,
    ) -> Result<bool, UserError> {
        let replica = replica_of(pid);
        let Some(address) = self.addresses.get(&replica) else {
            // Like PostgreSQL for a pid that is no backend: false, not an error.
            return Ok(false);
        };
        let Some(key) = &self.key else {
            return Err(UserError::new(
                SqlState::ObjectNotInPrerequisiteState,
                format!("process {pid} runs on replica {replica}: signalling another replica needs [replicas] secret_file or secret_env"),
            ));
        };
        let request = signed(key, pid, user, admin, terminate, now_ms());
        let answer = blocking(|| exchange(address, &request)).map_err(|e| {
            UserError::new(
                SqlState::ConnectionFailure,
                format!("replica {replica} ({address}), which runs process {pid}, could not be reached: {e}"),
            )
        })?;
        match answer.first() {
            Some(&DONE) => Ok(true),
            Some(&NO_SUCH) => Ok(false),
            Some(&DENIED) => Err(denied(
                terminate,
                &String::from_utf8_lossy(&answer[1..]),
            )),
            _ => Err(UserError::new(
                SqlState::InternalError,
                format!("replica {replica} refused the signal for process {pid}: the replicas' shared secrets differ, or their clocks are more than a minute apart"),
            )),
        }
    }

    /// Checks a signal another replica sent and carries it out; the byte(s) to answer.
    pub fn answer(&self, body: &[u8], registry: &Registry) -> Vec<u8> {
        let Some(key) = &self.key else {
            tracing::warn!(
                "signal from another replica refused: this replica has no [replicas] secret"
            );
            return vec![REFUSED];
        };
        let Some(req) = verified(key, body, now_ms()) else {
            tracing::warn!("signal from another replica refused: bad signature or stale");
            return vec![REFUSED];
        };
        match registry.signal(req.pid, &req.user, req.admin, req.terminate) {
            Ok(true) => vec![DONE],
            Ok(false) => vec![NO_SUCH],
            Err(_) => {
                let mut out = vec![DENIED];
                out.extend_from_slice(registry.user_of(req.pid).unwrap_or_default().as_bytes());
                out
            }
        }
    }
}

fn signing_key(secret: &Secret) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A signal request as sent: length, code, then pid, flags, time, user and the signature over
/// all of it from the code on.
fn signed(key: &hmac::Key, pid: i32, user: &str, admin: bool, terminate: bool, at: i64) -> Vec<u8> {
    let user = &user.as_bytes()[..user.len().min(1024)];
    let mut m = Vec::with_capacity(64 + user.len());
    m.extend_from_slice(&0i32.to_be_bytes());
    m.extend_from_slice(&REPLICA_SIGNAL.to_be_bytes());
    m.extend_from_slice(&pid.to_be_bytes());
    m.push(u8::from(terminate) | (u8::from(admin) << 1));
    m.extend_from_slice(&at.to_be_bytes());
    m.extend_from_slice(&(user.len() as u16).to_be_bytes());
    m.extend_from_slice(user);
    let tag = hmac::sign(key, &m[4..]);
    m.extend_from_slice(tag.as_ref());
    let len = m.len() as i32;
    m[..4].copy_from_slice(&len.to_be_bytes());
    m
}

#[derive(Debug, PartialEq)]
struct Request {
    pid: i32,
    user: String,
    admin: bool,
    terminate: bool,
}

/// The request in `body` (after the code), if its signature is right and it is recent.
fn verified(key: &hmac::Key, body: &[u8], now: i64) -> Option<Request> {
    const TAG: usize = 32;
    if body.len() < 15 + TAG {
        return None;
    }
    let (fields, tag) = body.split_at(body.len() - TAG);
    let mut signed = REPLICA_SIGNAL.to_be_bytes().to_vec();
    signed.extend_from_slice(fields);
    hmac::verify(key, &signed, tag).ok()?;
    let pid = i32::from_be_bytes(fields[0..4].try_into().ok()?);
    let flags = fields[4];
    let at = i64::from_be_bytes(fields[5..13].try_into().ok()?);
    let len = u16::from_be_bytes(fields[13..15].try_into().ok()?) as usize;
    if fields.len() != 15 + len || (now - at).abs() > SIGNAL_WINDOW_MS {
        return None;
    }
    Some(Request {
        pid,
        user: String::from_utf8(fields[15..].to_vec()).ok()?,
        terminate: flags & 1 != 0,
        admin: flags & 2 != 0,
    })
}

/// Sends `request` to `address` and reads the whole answer (the peer closes after it).
fn exchange(address: &str, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let addr = address.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "address resolves to nothing")
    })?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, PEER_TIMEOUT)?;
    s.set_read_timeout(Some(PEER_TIMEOUT))?;
    s.set_write_timeout(Some(PEER_TIMEOUT))?;
    s.write_all(request)?;
    let mut answer = Vec::new();
    s.take(1 + 1024).read_to_end(&mut answer)?;
    if answer.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed without an answer",
        ));
    }
    Ok(answer)
}

/// Runs blocking I/O from inside the runtime without stalling its other tasks, where the
/// runtime allows that (a multi-threaded one; a current-thread one has nothing to hand over to).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Passes a CancelRequest on to the replica whose session it names (as PgBouncer and Neon's
/// proxy pass theirs on): the client reached this replica through a load balancer. Nothing is
/// answered either way, as PostgreSQL answers no CancelRequest.
pub async fn forward_cancel(replicas: &ReplicasSettings, replica: u8, pid: i32, secret: &[u8]) {
    let Some(peer) = replicas.peers.iter().find(|p| p.id == replica) else {
        tracing::debug!(
            pid,
            replica,
            "cancel request for an unknown replica dropped"
        );
        return;
    };
    let mut packet = Vec::with_capacity(12 + secret.len());
    packet.extend_from_slice(&(12 + secret.len() as i32).to_be_bytes());
    packet.extend_from_slice(&80_877_102i32.to_be_bytes());
    packet.extend_from_slice(&pid.to_be_bytes());
    packet.extend_from_slice(secret);
    let sent = tokio::time::timeout(PEER_TIMEOUT, async {
        let mut s = tokio::net::TcpStream::connect(&peer.address).await?;
        tokio::io::AsyncWriteExt::write_all(&mut s, &packet).await?;
        tokio::io::AsyncWriteExt::shutdown(&mut s).await
    })
    .await;
    match sent {
        Ok(Ok(())) => tracing::debug!(pid, replica, "cancel request forwarded"),
        Ok(Err(e)) => tracing::warn!(pid, replica, "forwarding a cancel request failed: {e}"),
        Err(_) => tracing::warn!(pid, replica, "forwarding a cancel request timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_is_read_back_only_when_signed_with_the_same_secret_and_recent() {
        let key = signing_key(&Secret::new("a".repeat(32)));
        let other = signing_key(&Secret::new("b".repeat(32)));
        let msg = signed(&key, 0x0200_2711, "ann", false, true, 1_000_000);
        let body = &msg[8..];
        let want = Request {
            pid: 0x0200_2711,
            user: "ann".into(),
            admin: false,
            terminate: true,
        };
        assert_eq!(verified(&key, body, 1_000_000), Some(want));
        assert_eq!(verified(&other, body, 1_000_000), None, "another secret");
        assert_eq!(
            verified(&key, body, 1_000_000 + 61_000),
            None,
            "replayed late"
        );
        let mut forged = body.to_vec();
        forged[4] |= 2; // claims admin
        assert_eq!(verified(&key, &forged, 1_000_000), None, "altered flags");
        assert_eq!(verified(&key, &body[..20], 1_000_000), None, "truncated");
        assert_eq!(
            i32::from_be_bytes(msg[..4].try_into().unwrap()) as usize,
            msg.len(),
            "length word"
        );
    }
}
