//! Who may take a connection slot, and how many CancelRequests an address may send: decided
//! before authentication, so a flood is refused cheaply.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::catalog::MeshState;
use crate::error::{SqlState, UserError};
use crate::metrics::Metrics;

#[derive(Default)]
struct Counts {
    total: usize,
    per_user: HashMap<String, usize>,
}

/// A token bucket of CancelRequests for one client address.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Session slots, per server and per user, and the CancelRequest rate per address. The limits
/// are read from the running configuration at each decision, so a reload changes them.
pub struct Admission {
    mesh: Arc<MeshState>,
    metrics: Arc<Metrics>,
    counts: Arc<Mutex<Counts>>,
    cancels: Mutex<HashMap<IpAddr, Bucket>>,
}

/// A session slot, held from authentication to the end of the connection.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    user: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self
            .counts
            .lock()
            .expect("session count lock is never poisoned");
        c.total -= 1;
        if let Some(n) = c.per_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                c.per_user.remove(&self.user);
            }
        }
    }
}

impl Admission {
    pub fn new(mesh: Arc<MeshState>, metrics: Arc<Metrics>) -> Self {
        Admission {
            mesh,
            metrics,
            counts: Arc::default(),
            cancels: Mutex::default(),
        }
    }

    /// Sessions holding a slot now.
    pub fn sessions(&self) -> usize {
        self.counts
            .lock()
            .expect("session count lock is never poisoned")
            .total
    }
}

impl Admission {
    /// Why `user` may not have a session slot now, if it may not.
    fn refusal(&self, c: &Counts, user: &str) -> Option<UserError> {
        let config = self.mesh.config();
        let limits = &config.limits;
        let entry = config.users.get(user);
        let admin = entry.is_some_and(|u| u.admin);
        let message = if c.total >= limits.max_connections {
            "sorry, too many clients already".to_string()
        } else if !admin && c.total >= limits.max_connections - limits.reserved_admin_connections {
            "remaining connection slots are reserved for admins".to_string()
        } else {
            let mine = c.per_user.get(user).copied().unwrap_or(0);
            match entry.and_then(|u| u.max_connections) {
                Some(cap) if mine >= cap => format!("too many connections for role \"{user}\""),
                _ => return None,
            }
        };
        self.metrics.refused("too_many_connections");
        Some(UserError::fatal(SqlState::TooManyConnections, message))
    }
}

impl crate::wire::Admission for Admission {
    /// Refuses (53300) before authentication when the slots are already taken, so a full
    /// server does not check passwords it cannot serve.
    fn check(&self, user: &str) -> Result<(), UserError> {
        let c = self
            .counts
            .lock()
            .expect("session count lock is never poisoned");
        self.refusal(&c, user).map_or(Ok(()), Err)
    }

    /// Takes a session slot for `user` once authenticated, or says why not (53300). Taken after
    /// the password, not before: connections that never authenticate (a flood, a stalled
    /// client) are bounded by the handshake limits and must not use up the sessions' slots.
    fn admit(&self, user: &str) -> Result<Box<dyn Send>, UserError> {
        let mut c = self
            .counts
            .lock()
            .expect("session count lock is never poisoned");
        if let Some(e) = self.refusal(&c, user) {
            return Err(e);
        }
        c.total += 1;
        *c.per_user.entry(user.to_string()).or_default() += 1;
        Ok(Box::new(Slot {
            counts: self.counts.clone(),
            user: user.to_string(),
        }))
    }

    /// Whether a CancelRequest from `ip` may be looked at now (a token bucket per address, so
    /// guessing (pid, secret) pairs is slow and cheap to refuse).
    fn allow_cancel(&self, ip: IpAddr) -> bool {
        let rate = f64::from(self.mesh.config().limits.cancel_requests_per_sec);
        let burst = rate * 2.0;
        let now = Instant::now();
        let mut m = self
            .cancels
            .lock()
            .expect("cancel limiter lock is never poisoned");
        if m.len() > 10_000 {
            // Forget addresses whose bucket has refilled: they are not limited anyway.
            m.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = m.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
