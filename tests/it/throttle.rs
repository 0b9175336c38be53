//! Login throttling: failures slow down their own (address, user) pair and lock no one out, and
//! a handshake flood from one address does not hold up logins from elsewhere. Clients are
//! tokio-postgres on sockets bound to chosen loopback addresses (127.0.0.0/8 is all loopback).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::harness::{tpch, TestServer, ADMIN, ANALYST};
use crate::identity::{current_user, login, refusal, Login};

/// The value of one unlabelled series in the server's `/metrics` text.
fn metric(s: &TestServer, name: &str) -> f64 {
    let body = s.shared.metrics.render(&Default::default());
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{body}"))
}

/// The count of connections refused for `reason`, 0 when none was.
fn refused(s: &TestServer, reason: &str) -> f64 {
    let body = s.shared.metrics.render(&Default::default());
    let prefix = format!("meshgate_connections_refused_total{{reason=\"{reason}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str())?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_slow_their_own_pair_and_lock_no_one_out() {
    // The default cap (README: 250 ms doubling to 4 s) with a shorter first delay. After six
    // failures the pair's next attempt waits the whole cap from the last failure, which leaves
    // the two logins from elsewhere below 4 s to run before bob's right password is still
    // held back, however loaded the machine.
    let s = TestServer::start_with(
        &tpch().domains_dir,
        "\n[limits]\nfailed_login_delay_ms = 150\nfailed_login_max_delay_ms = 4000\n",
    )
    .await;
    let nat = [127, 0, 0, 2];
    for _ in 0..6 {
        assert_eq!(
            refusal(login(&s, Login::new(ANALYST.0, "stale-password").from(nat)).await).0,
            "28P01"
        );
    }
    assert_eq!(metric(&s, "meshgate_login_failures_total"), 6.0);
    let delayed = metric(&s, "meshgate_logins_delayed_total");
    assert_eq!(delayed, 5.0, "every attempt after the first waited");

    // Another user at the same address logs in without waiting.
    let c = login(&s, Login::new(ADMIN.0, ADMIN.1).from(nat))
        .await
        .expect("a user with no failures is never refused");
    assert_eq!(current_user(&c).await, ADMIN.0);
    assert_eq!(metric(&s, "meshgate_logins_delayed_total"), delayed);
    // So does bob from another address.
    let c = login(&s, Login::new(ANALYST.0, ANALYST.1).from([127, 0, 0, 3]))
        .await
        .expect("bob from elsewhere");
    assert_eq!(current_user(&c).await, ANALYST.0);
    assert_eq!(metric(&s, "meshgate_logins_delayed_total"), delayed);

    // Bob's right password at the throttled pair succeeds, after the delay.
    let c = login(&s, Login::new(ANALYST.0, ANALYST.1).from(nat))
        .await
        .expect("the right password gets in after the delay");
    assert_eq!(current_user(&c).await, ANALYST.0);
    assert_eq!(metric(&s, "meshgate_logins_delayed_total"), delayed + 1.0);
    // The success forgave the pair: the next login does not wait.
    login(&s, Login::new(ANALYST.0, ANALYST.1).from(nat))
        .await
        .expect("bob again");
    assert_eq!(metric(&s, "meshgate_logins_delayed_total"), delayed + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_flood_from_one_address_does_not_hold_up_others() {
    // The default limits: 32 handshakes per address in flight, 10 s handshake timeout.
    let s = TestServer::tpch().await;
    let flood_from: SocketAddr = "127.0.0.2:0".parse().unwrap();
    // 1,000 handshakes that never finish: the first ones are held until the handshake timeout,
    // the rest are closed at once without being read. They come in waves of 100 so the test's
    // own descriptors stay few; a socket still open after a second counts as held.
    let attempt = || async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(flood_from).unwrap();
        let mut sock = sock.connect(s.addr).await.ok()?;
        let mut b = [0u8; 1];
        match tokio::time::timeout(Duration::from_secs(1), sock.read(&mut b)).await {
            Err(_) => Some(sock),
            Ok(Ok(0) | Err(_)) => None,
            Ok(Ok(_)) => panic!("the server spoke first"),
        }
    };
    let mut held = Vec::new();
    let mut closed = 0;
    for _ in 0..10 {
        for sock in futures::future::join_all((0..100).map(|_| attempt())).await {
            match sock {
                Some(sock) => held.push(sock),
                None => closed += 1,
            }
        }
    }
    assert_eq!(held.len(), 32, "the per-address budget holds");
    assert_eq!(closed, 968);
    assert_eq!(refused(&s, "handshakes_per_address"), 968.0);

    // A login from another address does not queue behind the flood (README's bound: it waits
    // for nothing the flood holds, so it takes what a login always takes).
    let started = Instant::now();
    let c = login(&s, Login::new(ANALYST.0, ANALYST.1).from([127, 0, 0, 3]))
        .await
        .expect("a normal login during the flood");
    let took = started.elapsed();
    assert_eq!(current_user(&c).await, ANALYST.0);
    assert!(
        took < Duration::from_secs(2),
        "a login during the flood took {took:?}"
    );
    // The flood took no session slots: the server still has them all.
    assert_eq!(s.shared.sessions(), 1);
    drop(held);
}
