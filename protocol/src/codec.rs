//! Framing of the regular (post-startup) protocol, with a size guard in front of the decoder.
//!
//! pgwire's decoder accepts a single Query message of up to 2 GiB and buffers all of it before
//! looking at it. Here the length word is checked as soon as the 5-byte header is in: a message
//! over its limit fails before its body is read, so a client cannot make the server buffer more
//! than the limit.

use bytes::{Buf, BytesMut};
use pgwire::error::PgWireError;
use pgwire::messages::{
    DecodeContext, PgWireBackendMessage, PgWireFrontendMessage, ProtocolVersion,
};
use tokio_util::codec::{Decoder, Encoder};

/// Limits per message kind, in bytes (length word included).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Query, Parse, Bind, CopyData: messages that carry SQL or data.
    pub large: usize,
    /// Everything else (Describe, Execute, Sync, password messages…).
    pub small: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // PostgreSQL itself caps most messages at 1 GB; a few MiB is plenty for SQL text and
        // keeps one connection's buffer bounded.
        Limits {
            large: 16 * 1024 * 1024,
            small: 64 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("message of type '{kind}' is {len} bytes, over the limit of {limit} bytes")]
    TooLarge {
        kind: char,
        len: usize,
        limit: usize,
    },
    #[error("invalid message length {0}")]
    BadLength(i64),
    #[error("invalid frontend message: {0}")]
    Invalid(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub struct MeshCodec {
    limits: Limits,
    ctx: DecodeContext,
}

impl MeshCodec {
    pub fn new(limits: Limits) -> Self {
        let mut ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
        ctx.awaiting_frontend_ssl = false;
        ctx.awaiting_frontend_startup = false;
        MeshCodec { limits, ctx }
    }
}

impl Decoder for MeshCodec {
    type Item = PgWireFrontendMessage;
    type Error = FrameError;

    /// Cancel-safe: bytes stay in `src` until a whole message is there.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        if src.len() < 5 {
            return Ok(None);
        }
        let kind = src[0];
        let len = (&src[1..5]).get_i32() as i64;
        if len < 4 {
            return Err(FrameError::BadLength(len));
        }
        let len = len as usize;
        let limit = match kind {
            b'Q' | b'P' | b'B' | b'd' => self.limits.large,
            _ => self.limits.small,
        };
        if len > limit {
            return Err(FrameError::TooLarge {
                kind: kind as char,
                len,
                limit,
            });
        }
        if src.len() < len + 1 {
            src.reserve(len + 1 - src.len());
            return Ok(None);
        }
        // pgwire's body decoders read counts and lengths without checking them against the
        // body (a Parse whose parameter-type count outruns its length panics in `bytes`): check
        // the layout of the messages that carry counts first. A panic that still happens is
        // caught and becomes a protocol error that ends only this connection.
        if !well_formed(kind, &src[5..len + 1]) {
            return Err(FrameError::Invalid(format!(
                "malformed message of type '{}'",
                kind as char
            )));
        }
        let ctx = &self.ctx;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            PgWireFrontendMessage::decode(src, ctx)
        })) {
            Ok(r) => r.map_err(|e: PgWireError| FrameError::Invalid(e.to_string())),
            Err(_) => Err(FrameError::Invalid(format!(
                "malformed message of type '{}'",
                kind as char
            ))),
        }
    }
}

/// Whether a message body has the layout its type requires, for the types whose decoding in
/// pgwire trusts counts and lengths found in the body. Other types are left to pgwire.
fn well_formed(kind: u8, body: &[u8]) -> bool {
    let mut r = Reader(body);
    let ok = match kind {
        b'P' => r.cstr() && r.cstr() && r.count().is_some_and(|n| (0..n).all(|_| r.take(4))),
        b'B' => {
            r.cstr()
                && r.cstr()
                && r.count().is_some_and(|n| (0..n).all(|_| r.take(2)))
                && r.count().is_some_and(|n| {
                    (0..n).all(|_| match r.i32() {
                        Some(len) if len >= 0 => r.take(len as usize),
                        Some(-1) => true,
                        _ => false,
                    })
                })
                && r.count().is_some_and(|n| (0..n).all(|_| r.take(2)))
        }
        b'D' | b'C' => r.take(1) && r.cstr(),
        b'E' => r.cstr() && r.take(4),
        b'Q' | b'f' => r.cstr(),
        b'F' => false, // the function-call sub-protocol is not served
        _ => return true,
    };
    ok && r.0.is_empty()
}

/// A cursor over a message body that fails instead of reading past the end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> bool {
        if self.0.len() < n {
            return false;
        }
        self.0 = &self.0[n..];
        true
    }

    fn cstr(&mut self) -> bool {
        match self.0.iter().position(|b| *b == 0) {
            Some(i) => self.take(i + 1),
            None => false,
        }
    }

    fn i32(&mut self) -> Option<i32> {
        let v = i32::from_be_bytes(self.0.get(..4)?.try_into().ok()?);
        self.0 = &self.0[4..];
        Some(v)
    }

    /// A 16-bit count, which must not be negative.
    fn count(&mut self) -> Option<i16> {
        let v = i16::from_be_bytes(self.0.get(..2)?.try_into().ok()?);
        self.0 = &self.0[2..];
        (v >= 0).then_some(v)
    }
}

impl Encoder<PgWireBackendMessage> for MeshCodec {
    type Error = FrameError;

    fn encode(
        &mut self,
        item: PgWireBackendMessage,
        dst: &mut BytesMut,
    ) -> Result<(), Self::Error> {
        item.encode(dst)
            .map_err(|e| FrameError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_query_fails_on_its_header() {
        let mut c = MeshCodec::new(Limits {
            large: 1024,
            small: 64,
        });
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"Q");
        buf.extend_from_slice(&(1_000_000i32).to_be_bytes());
        // Only the header is here: the guard must not wait for the body.
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::TooLarge { kind: 'Q', .. })
        ));
    }

    #[test]
    fn small_messages_have_a_small_limit_and_negative_lengths_fail() {
        let mut c = MeshCodec::new(Limits {
            large: 1024,
            small: 64,
        });
        let mut buf = BytesMut::from(&[b'S', 0, 0, 1, 0][..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::TooLarge { kind: 'S', .. })
        ));
        let mut buf = BytesMut::from(&[b'Q', 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(c.decode(&mut buf), Err(FrameError::BadLength(-1))));
    }

    #[test]
    fn decodes_a_whole_query() {
        let mut c = MeshCodec::new(Limits::default());
        let mut buf = BytesMut::new();
        let sql = b"select 1\0";
        buf.extend_from_slice(b"Q");
        buf.extend_from_slice(&((sql.len() + 4) as i32).to_be_bytes());
        buf.extend_from_slice(&sql[..4]);
        assert!(c.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&sql[4..]);
        match c.decode(&mut buf).unwrap() {
            Some(PgWireFrontendMessage::Query(q)) => assert_eq!(q.query, "select 1"),
            other => panic!("{other:?}"),
        }
    }
}
