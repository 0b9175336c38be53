//! The limit on failed logins per source address and per user.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failed logins per source address and per user over a sliding window. A key with
/// `max` failures inside the window is refused until the oldest of them leaves it. A success
/// resets nothing: failures only age out, so a guesser cannot clear a count by logging in
/// somewhere else.
#[derive(Default)]
pub struct LoginLimiter {
    by_addr: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    by_user: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Which count refused an attempt (for the log; the client is not told).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Address,
    User,
}

/// Maps forget keys whose failures have aged out once they hold this many.
const PRUNE_AT: usize = 10_000;

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

fn recent<K: Eq + Hash>(
    m: &mut HashMap<K, VecDeque<Instant>>,
    key: &K,
    now: Instant,
    window: Duration,
) -> usize {
    match m.get_mut(key) {
        Some(q) => {
            while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
                q.pop_front();
            }
            q.len()
        }
        None => 0,
    }
}

fn record<K: Eq + Hash>(
    m: &mut HashMap<K, VecDeque<Instant>>,
    key: K,
    now: Instant,
    max: usize,
    window: Duration,
) {
    if m.len() >= PRUNE_AT {
        m.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
    }
    let q = m.entry(key).or_default();
    q.push_back(now);
    // Only the last `max` failures decide anything.
    while q.len() > max {
        q.pop_front();
    }
}

impl LoginLimiter {
    /// Whether an attempt from `ip` as `user` is refused now. `max` 0 turns the limit off.
    pub fn check(&self, ip: IpAddr, user: &str, max: u32, window: Duration) -> Option<Limited> {
        self.check_at(ip, user, max, window, Instant::now())
    }

    /// Counts one failed login.
    pub fn failed(&self, ip: IpAddr, user: &str, max: u32, window: Duration) {
        self.failed_at(ip, user, max, window, Instant::now())
    }

    fn check_at(
        &self,
        ip: IpAddr,
        user: &str,
        max: u32,
        window: Duration,
        now: Instant,
    ) -> Option<Limited> {
        if max == 0 {
            return None;
        }
        let max = max as usize;
        let mut a = self
            .by_addr
            .lock()
            .expect("login limiter lock is never poisoned");
        if recent(&mut a, &addr_key(ip), now, window) >= max {
            return Some(Limited::Address);
        }
        drop(a);
        let mut u = self
            .by_user
            .lock()
            .expect("login limiter lock is never poisoned");
        (recent(&mut u, &user.to_string(), now, window) >= max).then_some(Limited::User)
    }

    fn failed_at(&self, ip: IpAddr, user: &str, max: u32, window: Duration, now: Instant) {
        if max == 0 {
            return;
        }
        let max = max as usize;
        record(
            &mut self
                .by_addr
                .lock()
                .expect("login limiter lock is never poisoned"),
            addr_key(ip),
            now,
            max,
            window,
        );
        record(
            &mut self
                .by_user
                .lock()
                .expect("login limiter lock is never poisoned"),
            user.to_string(),
            now,
            max,
            window,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_by_address_and_by_user_until_the_window_passes() {
        let l = LoginLimiter::default();
        let w = Duration::from_secs(60);
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..3 {
            assert_eq!(l.check_at(a, "bob", 3, w, t0), None);
            l.failed_at(a, "bob", 3, w, t0 + Duration::from_secs(i));
        }
        assert_eq!(
            l.check_at(a, "alice", 3, w, t0 + Duration::from_secs(5)),
            Some(Limited::Address)
        );
        assert_eq!(
            l.check_at(b, "bob", 3, w, t0 + Duration::from_secs(5)),
            Some(Limited::User)
        );
        assert_eq!(
            l.check_at(b, "alice", 3, w, t0 + Duration::from_secs(5)),
            None
        );
        // The first failure leaves the window at t0+60: one more try is allowed.
        assert_eq!(
            l.check_at(b, "bob", 3, w, t0 + Duration::from_secs(60)),
            None
        );
        assert_eq!(l.check_at(a, "x", 0, w, t0), None, "0 turns the limit off");
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = LoginLimiter::default();
        let w = Duration::from_secs(60);
        let now = Instant::now();
        l.failed_at("2001:db8::1".parse().unwrap(), "u1", 1, w, now);
        assert_eq!(
            l.check_at("2001:db8::ffff:2".parse().unwrap(), "u2", 1, w, now),
            Some(Limited::Address)
        );
        assert_eq!(
            l.check_at("2001:db8:0:1::1".parse().unwrap(), "u2", 1, w, now),
            None
        );
    }
}
