//! Login throttling: failed logins slow down their own (address, user) pair; nothing locks a
//! whole address out.
//!
//! ```text
//!  accept ─► handshake slot (per address, and in all)?  no ─► closed at once (a flood)
//!              │ yes
//!  startup ─► user over the opt-in failure ceiling?  yes ─► 28000
//!              │ no
//!            wait: the pair's last failure + delay(failures of the pair)
//!              │
//!            password exchange ─► wrong: the pair's count grows;  right: the pair's count goes
//! ```
//!
//! Many users reach the server from one address (a BI server, a notebook host, a NAT), so a
//! count per address would let one stale password, or anyone who can reach the port, refuse
//! everyone there. The delay is per pair instead, doubling per failure up to a cap, so a guesser
//! gets a few tries a minute per pair while everyone else logs in at full speed. What stops a
//! flood is the number of handshakes an address may have in flight, not failures.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the throttle behaves, from `[limits]`.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// The delay after the first failure of a pair; it doubles per further failure.
    pub delay: Duration,
    /// The most a pair is ever made to wait.
    pub max_delay: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
    /// Failures of one user, from any address, within the window after which that user is
    /// refused outright. 0 (the default) turns this off: it lets anyone lock a user out.
    pub user_ceiling: u32,
}

impl Policy {
    /// The throttle's settings in a configuration's `[limits]` (the Postgres port and the web
    /// catalog's sign-in share them, and the counts).
    pub fn from_limits(l: &crate::config::LimitsSettings) -> Policy {
        Policy {
            delay: Duration::from_millis(l.failed_login_delay_ms),
            // A throttled login must still fit in the handshake's deadline.
            max_delay: Duration::from_millis(
                l.failed_login_max_delay_ms.min(l.handshake_timeout_ms / 2),
            ),
            window: Duration::from_secs(l.failed_login_window_secs),
            user_ceiling: l.max_failed_logins,
        }
    }

    /// The wait before the next attempt of a pair that has failed `failures` times.
    pub fn delay_after(&self, failures: usize) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let doublings = (failures - 1).min(20) as u32;
        self.delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

/// Why a connection may not start a handshake now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crowded {
    Address,
    Server,
}

/// Failures a pair or user keeps at most: enough to reach any cap.
const KEEP: usize = 32;

/// Maps forget keys whose failures have aged out once they hold this many.
const PRUNE_AT: usize = 10_000;

#[derive(Default)]
struct InFlight {
    total: usize,
    by_addr: HashMap<IpAddr, usize>,
}

/// Failed logins per (address, user) pair and per user, and handshakes in flight per address.
#[derive(Default)]
pub struct LoginThrottle {
    pairs: Mutex<HashMap<(IpAddr, String), VecDeque<Instant>>>,
    users: Mutex<HashMap<String, VecDeque<Instant>>>,
    in_flight: Arc<Mutex<InFlight>>,
}

/// A handshake in flight, counted until it is dropped (the login ended either way).
pub struct Handshake {
    in_flight: Arc<Mutex<InFlight>>,
    addr: IpAddr,
}

impl Drop for Handshake {
    fn drop(&mut self) {
        let mut f = lock(&self.in_flight);
        f.total -= 1;
        if let Some(n) = f.by_addr.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                f.by_addr.remove(&self.addr);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().expect("login throttle lock is never poisoned")
}

/// The key an address is counted under: IPv6 clients usually hold a whole /64, so that is one key.
fn addr_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
        v4 => v4,
    }
}

/// Drops failures that left the window; what is left, oldest first.
fn recent(q: &mut VecDeque<Instant>, now: Instant, window: Duration) -> usize {
    while q
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        q.pop_front();
    }
    q.len()
}

fn record<K: Eq + std::hash::Hash>(
    m: &mut HashMap<K, VecDeque<Instant>>,
    key: K,
    now: Instant,
    window: Duration,
) {
    if m.len() >= PRUNE_AT {
        m.retain(|_, q| {
            q.back()
                .is_some_and(|t| now.saturating_duration_since(*t) < window)
        });
    }
    let q = m.entry(key).or_default();
    q.push_back(now);
    while q.len() > KEEP {
        q.pop_front();
    }
}

impl LoginThrottle {
    /// Counts a handshake from `ip` in flight, unless the address already has `per_address`
    /// of them or the server `total` (0 turns either bound off).
    pub fn enter(
        &self,
        ip: IpAddr,
        per_address: usize,
        total: usize,
    ) -> Result<Handshake, Crowded> {
        let addr = addr_key(ip);
        let mut f = lock(&self.in_flight);
        if total > 0 && f.total >= total {
            return Err(Crowded::Server);
        }
        let mine = f.by_addr.get(&addr).copied().unwrap_or(0);
        if per_address > 0 && mine >= per_address {
            return Err(Crowded::Address);
        }
        f.total += 1;
        *f.by_addr.entry(addr).or_default() += 1;
        Ok(Handshake {
            in_flight: self.in_flight.clone(),
            addr,
        })
    }

    /// Handshakes in flight now.
    pub fn in_flight(&self) -> usize {
        lock(&self.in_flight).total
    }

    /// Whether `user` is over the opt-in failure ceiling.
    pub fn user_refused(&self, user: &str, policy: &Policy) -> bool {
        self.user_refused_at(user, policy, Instant::now())
    }

    /// How long an attempt of this pair must wait before its password is looked at.
    pub fn wait(&self, ip: IpAddr, user: &str, policy: &Policy) -> Duration {
        self.wait_at(ip, user, policy, Instant::now())
    }

    /// Counts one failed login of the pair (and of the user, for the ceiling).
    pub fn failed(&self, ip: IpAddr, user: &str, policy: &Policy) {
        self.failed_at(ip, user, policy, Instant::now())
    }

    /// A right password: the pair's failures are forgiven. The user's count for the ceiling is
    /// not, so a guesser elsewhere cannot clear it by logging in.
    pub fn succeeded(&self, ip: IpAddr, user: &str) {
        lock(&self.pairs).remove(&(addr_key(ip), user.to_string()));
    }

    fn user_refused_at(&self, user: &str, policy: &Policy, now: Instant) -> bool {
        if policy.user_ceiling == 0 {
            return false;
        }
        let mut u = lock(&self.users);
        u.get_mut(user)
            .is_some_and(|q| recent(q, now, policy.window) >= policy.user_ceiling as usize)
    }

    fn wait_at(&self, ip: IpAddr, user: &str, policy: &Policy, now: Instant) -> Duration {
        let mut p = lock(&self.pairs);
        let Some(q) = p.get_mut(&(addr_key(ip), user.to_string())) else {
            return Duration::ZERO;
        };
        let n = recent(q, now, policy.window);
        let Some(last) = q.back() else {
            return Duration::ZERO;
        };
        (*last + policy.delay_after(n)).saturating_duration_since(now)
    }

    fn failed_at(&self, ip: IpAddr, user: &str, policy: &Policy, now: Instant) {
        record(
            &mut lock(&self.pairs),
            (addr_key(ip), user.to_string()),
            now,
            policy.window,
        );
        if policy.user_ceiling > 0 {
            record(&mut lock(&self.users), user.to_string(), now, policy.window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(user_ceiling: u32) -> Policy {
        Policy {
            delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            window: Duration::from_secs(60),
            user_ceiling,
        }
    }

    #[test]
    fn the_delay_doubles_per_failure_up_to_the_cap() {
        let p = policy(0);
        let ms: Vec<u128> = (0..8).map(|n| p.delay_after(n).as_millis()).collect();
        assert_eq!(ms, [0, 250, 500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(p.delay_after(1000), Duration::from_secs(4));
    }

    #[test]
    fn failures_slow_their_own_pair_only() {
        let t = LoginThrottle::default();
        let p = policy(0);
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..20 {
            t.failed_at(a, "bob", &p, t0 + Duration::from_millis(i));
        }
        let later = t0 + Duration::from_millis(19);
        assert_eq!(t.wait_at(a, "bob", &p, later), Duration::from_secs(4));
        assert_eq!(t.wait_at(a, "alice", &p, later), Duration::ZERO);
        assert_eq!(t.wait_at(b, "bob", &p, later), Duration::ZERO);
        assert!(
            !t.user_refused_at("bob", &p, later),
            "no ceiling by default"
        );
        // The wait runs from the last failure; a success forgives the pair.
        assert_eq!(
            t.wait_at(a, "bob", &p, later + Duration::from_secs(3)),
            Duration::from_secs(1)
        );
        t.succeeded(a, "bob");
        assert_eq!(t.wait_at(a, "bob", &p, later), Duration::ZERO);
        // Failures leave the window.
        t.failed_at(b, "bob", &p, t0);
        assert_eq!(
            t.wait_at(b, "bob", &p, t0 + Duration::from_secs(60)),
            Duration::ZERO
        );
    }

    #[test]
    fn the_user_ceiling_is_opt_in_and_survives_success() {
        let t = LoginThrottle::default();
        let p = policy(3);
        let now = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..3u8 {
            let ip = IpAddr::from([10, 0, 1, i]);
            assert!(!t.user_refused_at("bob", &p, now));
            t.failed_at(ip, "bob", &p, now);
        }
        t.succeeded(a, "bob");
        assert!(t.user_refused_at("bob", &p, now));
        assert!(!t.user_refused_at("alice", &p, now));
        assert!(!t.user_refused_at("bob", &p, now + Duration::from_secs(60)));
    }

    #[test]
    fn handshakes_in_flight_are_bounded_per_address_and_in_all() {
        let t = LoginThrottle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let held: Vec<_> = (0..2).map(|_| t.enter(a, 2, 3).unwrap()).collect();
        assert_eq!(t.enter(a, 2, 3).err(), Some(Crowded::Address));
        let third = t.enter(b, 2, 3).unwrap();
        assert_eq!(t.enter(b, 2, 3).err(), Some(Crowded::Server));
        drop(held);
        drop(third);
        assert_eq!(t.in_flight(), 0);
        assert!(t.enter(a, 0, 0).is_ok(), "0 turns the bounds off");
    }

    #[test]
    fn ipv6_counts_per_64() {
        let t = LoginThrottle::default();
        let p = policy(0);
        let now = Instant::now();
        t.failed_at("2001:db8::1".parse().unwrap(), "u", &p, now);
        assert!(!t
            .wait_at("2001:db8::ffff:2".parse().unwrap(), "u", &p, now)
            .is_zero());
        assert!(t
            .wait_at("2001:db8:0:1::1".parse().unwrap(), "u", &p, now)
            .is_zero());
    }
}
