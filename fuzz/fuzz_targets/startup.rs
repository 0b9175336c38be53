//! The first packet of a connection (startup, SSLRequest, GSSENCRequest, CancelRequest) and the
//! `options` startup parameter.
#![no_main]

use meshgate_protocol::startup;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(startup::FirstPacket::Startup { params, .. }) = startup::parse_first_packet(data) {
        if let Some(options) = params.get("options") {
            let _ = startup::parse_options(options);
        }
    }
    let _ = startup::parse_options(&String::from_utf8_lossy(data));
});
