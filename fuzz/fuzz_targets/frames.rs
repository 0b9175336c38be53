//! Bytes from a client after startup, through the size guard and the message decoder, delivered
//! in pieces whose sizes the input also chooses.
#![no_main]

use meshgate_protocol::codec;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else { return };
    let step = usize::from(step).max(1);
    let mut c = codec::MeshCodec::new(codec::Limits { large: 64 * 1024, small: 1024 });
    let mut buf = BytesMut::new();
    for piece in stream.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match c.decode(&mut buf) {
                Ok(Some(_)) => assert!(buf.len() < before, "a message consumes input"),
                Ok(None) => break,
                Err(_) => return, // the connection ends here
            }
        }
    }
});
