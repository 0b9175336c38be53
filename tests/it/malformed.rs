//! Property tests over malformed input at the protocol edge: random and mutated frames into the
//! message decoder, startup packets, startup options and SCRAM messages. Each must end in a value
//! or an error, never a panic; the seed is printed so a failure can be replayed.

use bytes::{BufMut, BytesMut};
use rand::{Rng, RngCore, SeedableRng};
use tokio_util::codec::Decoder;

use meshgate_protocol::codec::{FrameError, Limits, MeshCodec};
use meshgate_protocol::scram::{ScramExchange, ScramVerifier};
use meshgate_protocol::startup::{parse_first_packet, parse_options};

const CASES: usize = 20_000;

fn rng() -> (u64, rand::rngs::StdRng) {
    let seed = std::env::var("MESHGATE_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().next_u64());
    println!("seed {seed} (set MESHGATE_PROPTEST_SEED to replay)");
    (seed, rand::rngs::StdRng::seed_from_u64(seed))
}

/// Up to `max - 1` random byte flips, deletions and insertions.
fn mutate(body: &mut Vec<u8>, r: &mut impl Rng, max: usize) {
    for _ in 0..r.random_range(0..max) {
        if body.is_empty() {
            break;
        }
        let i = r.random_range(0..body.len());
        match r.random_range(0..3) {
            0 => body[i] = r.random(),
            1 => {
                body.remove(i);
            }
            _ => body.insert(i, r.random()),
        }
    }
}

/// Frontend message tags, valid and not.
const TAGS: &[u8] = b"QPBDECSHXFfdcp\x00\xffz";

/// A frame with a real tag, a length that is right, off by a little or wild, and a body that
/// is random or a mutation of a well-formed body.
fn frame(r: &mut impl Rng) -> Vec<u8> {
    let tag = TAGS[r.random_range(0..TAGS.len())];
    let mut body: Vec<u8> = match r.random_range(0..3) {
        // Well-formed bodies to mutate: a Bind with parameters, a Parse, a Query.
        0 => {
            let mut b = BytesMut::new();
            b.put_slice(b"portal\0stmt\0");
            b.put_i16(2);
            b.put_i16(0);
            b.put_i16(1);
            b.put_i16(2);
            b.put_i32(3);
            b.put_slice(b"abc");
            b.put_i32(-1);
            b.put_i16(1);
            b.put_i16(1);
            b.to_vec()
        }
        1 => b"s1\0SELECT $1\0\x00\x01\x00\x00\x00\x17".to_vec(),
        _ => (0..r.random_range(0..64)).map(|_| r.random()).collect(),
    };
    mutate(&mut body, &mut *r, 4);
    let len = match r.random_range(0..6) {
        0 => r.random_range(-8i32..8),
        1 => r.random(),
        _ => body.len() as i32 + 4 + r.random_range(-2..=2) * i32::from(r.random_bool(0.3)),
    };
    let mut out = vec![tag];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[test]
fn malformed_frames_end_in_a_message_or_an_error() {
    let (_seed, mut r) = rng();
    let limits = Limits {
        large: 4096,
        small: 512,
    };
    let (mut messages, mut errors) = (0usize, 0usize);
    for _ in 0..CASES {
        let mut codec = MeshCodec::new(limits);
        let mut stream: Vec<u8> = Vec::new();
        for _ in 0..r.random_range(1..4) {
            stream.extend(frame(&mut r));
        }
        // Fed in random pieces, as a socket delivers them.
        let mut buf = BytesMut::new();
        let mut at = 0;
        'feed: while at < stream.len() {
            let n = r.random_range(1..=stream.len() - at);
            buf.extend_from_slice(&stream[at..at + n]);
            at += n;
            loop {
                let before = buf.len();
                match codec.decode(&mut buf) {
                    Ok(Some(_)) => {
                        messages += 1;
                        assert!(buf.len() < before, "a decoded message consumes input");
                    }
                    Ok(None) => break,
                    Err(e) => {
                        errors += 1;
                        if let FrameError::TooLarge { len, limit, .. } = e {
                            assert!(len > limit);
                        }
                        // The connection would end here.
                        break 'feed;
                    }
                }
            }
        }
    }
    assert!(
        messages > 0 && errors > 0,
        "the generator reaches both outcomes ({messages} messages, {errors} errors)"
    );
}

#[test]
fn an_oversized_frame_fails_on_its_header_alone() {
    let mut codec = MeshCodec::new(Limits {
        large: 4096,
        small: 512,
    });
    let mut buf = BytesMut::new();
    buf.put_u8(b'Q');
    buf.put_i32(256 * 1024 * 1024);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::TooLarge { kind: 'Q', .. })
    ));
    assert!(
        buf.capacity() < 64 * 1024,
        "no room was reserved for the announced body"
    );
    let mut buf = BytesMut::new();
    buf.put_u8(b'E');
    buf.put_i32(1024);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::TooLarge {
            kind: 'E',
            limit: 512,
            ..
        })
    ));
}

#[test]
fn malformed_startup_packets_and_options_are_errors() {
    let (_seed, mut r) = rng();
    let valid = {
        let mut b = Vec::new();
        b.extend_from_slice(&196608i32.to_be_bytes());
        b.extend_from_slice(b"user\0bob\0database\0mesh\0options\0-c search_path=sales\0\0");
        b
    };
    let (mut ok, mut err) = (0, 0);
    for _ in 0..CASES {
        let mut body = if r.random_bool(0.5) {
            valid.clone()
        } else {
            (0..r.random_range(0..80)).map(|_| r.random()).collect()
        };
        mutate(&mut body, &mut r, 6);
        match parse_first_packet(&body) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
        let opts: String = (0..r.random_range(0..40))
            .map(|_| *b"-c x=y\\ -- =a ".get(r.random_range(0..14)).unwrap() as char)
            .collect();
        // Any text gives pairs (an empty or unknown name is refused later by SET, as FATAL).
        let _ = parse_options(&opts);
    }
    assert_eq!(
        parse_options("-c a=b --c-d=e\\ f"),
        vec![
            ("a".to_string(), "b".to_string()),
            ("c_d".to_string(), "e f".to_string())
        ]
    );
    assert!(
        ok > 0 && err > 0,
        "both outcomes reached ({ok} ok, {err} errors)"
    );
}

#[test]
fn malformed_scram_messages_are_errors() {
    let (_seed, mut r) = rng();
    let verifier = ScramVerifier::generate("pw", 4096);
    let first = b"n,,n=,r=abcdefghijklmnop".to_vec();
    let mut refused = 0;
    for i in 0..2_000 {
        let mut msg = first.clone();
        for _ in 0..r.random_range(0..5) {
            let j = r.random_range(0..msg.len());
            msg[j] = *b"nrpyc=,x\0\xff".get(r.random_range(0..10)).unwrap();
        }
        if i % 3 == 0 {
            msg = (0..r.random_range(0..60)).map(|_| r.random()).collect();
        }
        match ScramExchange::start(verifier.clone(), &msg) {
            Err(_) => refused += 1,
            Ok((exchange, _server_first)) => {
                let fin: Vec<u8> = match r.random_range(0..2) {
                    0 => (0..r.random_range(0..120)).map(|_| r.random()).collect(),
                    _ => b"c=biws,r=abcdefghijklmnop,p=AAAA".to_vec(),
                };
                assert!(
                    exchange.finish(&fin).is_err(),
                    "a random proof never authenticates"
                );
            }
        }
    }
    assert!(refused > 0);
}
