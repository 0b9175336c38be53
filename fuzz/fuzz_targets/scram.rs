//! A SCRAM-SHA-256 exchange with client messages from the fuzzer: client-first, then
//! client-final (split at the first NUL byte). Nothing but the right proof may authenticate.
#![no_main]

use meshgate_protocol::scram as auth;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    // Verifier generation runs PBKDF2; do it once.
    static VERIFIER: OnceLock<auth::ScramVerifier> = OnceLock::new();
    let verifier = VERIFIER.get_or_init(|| auth::ScramVerifier::generate("pw", 4096)).clone();
    let mut parts = data.splitn(2, |b| *b == 0);
    let first = parts.next().unwrap_or_default();
    let last = parts.next().unwrap_or_default();
    if let Ok((exchange, _server_first)) = auth::ScramExchange::start(verifier, first) {
        // The fuzzer cannot know the server nonce, so a proof it made up never verifies.
        assert!(exchange.finish(last).is_err(), "a made-up proof authenticated");
    }
});
