//! Every session of the server: its process id, the secret a CancelRequest must present, who
//! may signal it, and the statement it runs now.
//!
//! ```text
//!  CancelRequest (pid, secret) ─┐
//!  pg_cancel_backend(pid) ──────┼─► Registry ─► CancelSlot ─► the running statement's token
//!  pg_terminate_backend(pid) ───┘                         └─► the session's terminate token
//!  drain timeout: cancel_all
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::error::UserError;

/// Matches CancelRequests (pid, secret) to the statement running on that connection.
pub struct Registry {
    slots: Mutex<HashMap<i32, Arc<CancelSlot>>>,
    next_pid: AtomicI32,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::for_replica(0)
    }
}

/// The bits of a pid below the replica number.
const PID_BITS: u32 = 24;

/// The replica (`[replicas] id`) whose session a pid is; 0 on a server running alone.
pub fn replica_of(pid: i32) -> u8 {
    (pid >> PID_BITS) as u8
}

/// The refusal of `pg_cancel_backend`/`pg_terminate_backend`, the same whichever replica runs
/// the session.
pub fn denied(terminate: bool, owner: &str) -> UserError {
    let what = if terminate {
        "terminate process"
    } else {
        "cancel query"
    };
    UserError::denied(format!(
        "permission denied to {what}: only sessions of role \"{owner}\" and admins may"
    ))
}

impl Registry {
    /// The registry of replica `replica` (0: a server alone), whose pids carry its number in
    /// their top byte so that any replica can tell where a CancelRequest belongs.
    pub fn for_replica(replica: u8) -> Registry {
        Registry {
            slots: Mutex::default(),
            // Start where PostgreSQL backends usually are, so pids look ordinary to tools.
            next_pid: AtomicI32::new((i32::from(replica) << PID_BITS) | 10_000),
        }
    }
}

pub struct CancelSlot {
    secret: [u8; 4],
    /// The session's user: `pg_cancel_backend`/`pg_terminate_backend` act on one's own sessions.
    user: String,
    /// Cancelled by `pg_terminate_backend`: the session ends with FATAL 57P01.
    terminate: CancellationToken,
    /// The running statement's token; replaced per statement, so a late cancel cannot hit the
    /// statement after the one it was meant for.
    current: Mutex<Option<CancellationToken>>,
}

impl CancelSlot {
    /// The token of the work in progress, started if none is: the session arms it when a
    /// client's messages arrive, so a CancelRequest sent right after an Execute (before the
    /// engine started) still cancels that statement, as in PostgreSQL. Disarmed at
    /// ReadyForQuery, so a late cancel never reaches the next batch.
    pub fn arm(&self) -> CancellationToken {
        self.current
            .lock()
            .expect("cancel slot lock is never poisoned")
            .get_or_insert_with(CancellationToken::new)
            .clone()
    }

    pub fn end(&self) {
        *self
            .current
            .lock()
            .expect("cancel slot lock is never poisoned") = None;
    }

    /// Resolves when another session (or this one) terminates this session.
    pub fn terminated(&self) -> CancellationToken {
        self.terminate.clone()
    }

    /// Cancels the statement running now; whether one was.
    fn cancel_current(&self) -> bool {
        match self
            .current
            .lock()
            .expect("cancel slot lock is never poisoned")
            .as_ref()
        {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }
}

/// A session's place in the registry; dropping it (the connection's end, a panic included)
/// frees its pid.
pub struct Registered {
    registry: Arc<Registry>,
    pub pid: i32,
    pub secret: [u8; 4],
    pub slot: Arc<CancelSlot>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.unregister(self.pid);
    }
}

impl Registry {
    /// Gives a new session of `user` its pid and cancel secret.
    pub fn register(self: &Arc<Self>, user: &str) -> Registered {
        // Wraps within the replica's range (16M sessions), never into another replica's.
        let n = self.next_pid.fetch_add(1, Ordering::Relaxed);
        let low = (n & ((1 << PID_BITS) - 1)).max(1);
        let pid = (n & !((1 << PID_BITS) - 1)) | low;
        let (slot, secret) = self.register_pid(pid, user);
        Registered {
            registry: self.clone(),
            pid,
            secret,
            slot,
        }
    }

    fn register_pid(&self, pid: i32, user: &str) -> (Arc<CancelSlot>, [u8; 4]) {
        let mut secret = [0u8; 4];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
        let slot = Arc::new(CancelSlot {
            secret,
            user: user.to_string(),
            terminate: CancellationToken::new(),
            current: Mutex::new(None),
        });
        self.slots
            .lock()
            .expect("cancel registry lock is never poisoned")
            .insert(pid, slot.clone());
        (slot, secret)
    }

    fn unregister(&self, pid: i32) {
        self.slots
            .lock()
            .expect("cancel registry lock is never poisoned")
            .remove(&pid);
    }

    fn slot(&self, pid: i32) -> Option<Arc<CancelSlot>> {
        self.slots
            .lock()
            .expect("cancel registry lock is never poisoned")
            .get(&pid)
            .cloned()
    }

    /// Cancels the statement running on `pid` if the secret matches. Returns whether it did.
    pub fn cancel(&self, pid: i32, secret: &[u8]) -> bool {
        self.slot(pid).is_some_and(|slot| {
            meshgate_protocol::scram::constant_time_eq(&slot.secret, secret)
                && slot.cancel_current()
        })
    }

    /// `pg_cancel_backend(pid)` / `pg_terminate_backend(pid)` from `user`: allowed on one's own
    /// sessions, and on any for admins. False when no session has that pid (PostgreSQL warns and
    /// answers false too).
    pub fn signal(
        &self,
        pid: i32,
        user: &str,
        admin: bool,
        terminate: bool,
    ) -> Result<bool, UserError> {
        let Some(slot) = self.slot(pid) else {
            return Ok(false);
        };
        if !admin && slot.user != user {
            return Err(denied(terminate, &slot.user));
        }
        if terminate {
            slot.terminate.cancel();
        }
        slot.cancel_current();
        Ok(true)
    }

    /// The role whose session `pid` is.
    pub fn user_of(&self, pid: i32) -> Option<String> {
        self.slot(pid).map(|s| s.user.clone())
    }

    /// Whether a statement is running on `pid` (tests and admin views wait on this instead of
    /// sleeping).
    pub fn is_running(&self, pid: i32) -> bool {
        self.slot(pid).is_some_and(|s| {
            s.current
                .lock()
                .expect("cancel slot lock is never poisoned")
                .is_some()
        })
    }

    /// Cancels every running statement (shutdown).
    pub fn cancel_all(&self) {
        for slot in self
            .slots
            .lock()
            .expect("cancel registry lock is never poisoned")
            .values()
        {
            slot.cancel_current();
        }
    }
}
