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

/// A connection slot, held from the startup packet to the end of the connection.
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

impl crate::wire::Admission for Admission {
    /// Takes a connection slot for `user`, or says why not (53300), before authentication as
    /// PostgreSQL does, so a flood of connections never reaches the password check.
    fn admit(&self, user: &str) -> Result<Box<dyn Send>, UserError> {
        let config = self.mesh.config();
        let limits = &config.limits;
        let entry = config.users.get(user);
        let admin = entry.is_some_and(|u| u.admin);
        let mut c = self
            .counts
            .lock()
            .expect("session count lock is never poisoned");
        let refuse = |m: &str| {
            self.metrics.refused("too_many_connections");
            Err(UserError::fatal(SqlState::TooManyConnections, m))
        };
        if c.total >= limits.max_connections {
            return refuse("sorry, too many clients already");
        }
        if !admin && c.total >= limits.max_connections - limits.reserved_admin_connections {
            return refuse("remaining connection slots are reserved for admins");
        }
        let mine = c.per_user.get(user).copied().unwrap_or(0);
        if let Some(cap) = entry.and_then(|u| u.max_connections) {
            if mine >= cap {
                return refuse(&format!("too many connections for role \"{user}\""));
            }
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
