//! The untyped first packets of a connection: SSLRequest, GSSENCRequest, CancelRequest and the
//! StartupMessage. They have no type byte, so they are read here by hand, with PostgreSQL's own
//! limit on their size, before any framing is set up.

use std::collections::BTreeMap;

use tokio::io::{AsyncRead, AsyncReadExt};

/// PostgreSQL's MAX_STARTUP_PACKET_LENGTH (src/include/libpq/pqcomm.h).
pub const MAX_STARTUP_PACKET: usize = 10_000;

const SSL_REQUEST: i32 = 80877103;
const GSS_REQUEST: i32 = 80877104;
const CANCEL_REQUEST: i32 = 80877102;
/// meshgate's own request code, in PostgreSQL's reserved 1234.x range beside the three above:
/// one replica asking another to signal a session (`pg_cancel_backend` across replicas).
pub const REPLICA_SIGNAL: i32 = 80877123;

#[derive(Debug, PartialEq, Eq)]
pub enum FirstPacket {
    SslRequest,
    GssRequest,
    Cancel {
        pid: i32,
        secret: Vec<u8>,
    },
    /// The body after the code; authenticated (or refused) by the session layer.
    ReplicaSignal {
        body: Vec<u8>,
    },
    Startup {
        major: u16,
        minor: u16,
        params: BTreeMap<String, String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid length of startup packet")]
    BadLength,
    #[error("unsupported frontend protocol {0}.{1}: server supports 3.0")]
    Protocol(u16, u16),
    #[error("invalid startup packet layout")]
    Layout,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one untyped packet. Not cancel-safe (a partial read is lost); callers wrap it in a
/// timeout that ends the connection.
pub async fn read_first_packet<S: AsyncRead + Unpin>(
    s: &mut S,
) -> Result<FirstPacket, StartupError> {
    let len = s.read_i32().await? as i64;
    if !(8..=MAX_STARTUP_PACKET as i64).contains(&len) {
        return Err(StartupError::BadLength);
    }
    let mut body = vec![0u8; len as usize - 4];
    s.read_exact(&mut body).await?;
    parse_first_packet(&body)
}

/// Parses a packet body (after the length word). Public for the fuzz targets.
pub fn parse_first_packet(body: &[u8]) -> Result<FirstPacket, StartupError> {
    if body.len() < 4 {
        return Err(StartupError::BadLength);
    }
    let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let rest = &body[4..];
    match code {
        SSL_REQUEST if rest.is_empty() => Ok(FirstPacket::SslRequest),
        GSS_REQUEST if rest.is_empty() => Ok(FirstPacket::GssRequest),
        CANCEL_REQUEST => {
            // Protocol 3.2 allows secrets of up to 256 bytes; 3.0 uses 4.
            if rest.len() < 8 || rest.len() > 4 + 256 {
                return Err(StartupError::BadLength);
            }
            let pid = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            Ok(FirstPacket::Cancel {
                pid,
                secret: rest[4..].to_vec(),
            })
        }
        REPLICA_SIGNAL => Ok(FirstPacket::ReplicaSignal {
            body: rest.to_vec(),
        }),
        SSL_REQUEST | GSS_REQUEST => Err(StartupError::BadLength),
        _ => {
            let major = (code >> 16) as u16;
            let minor = (code & 0xffff) as u16;
            if major != 3 {
                return Err(StartupError::Protocol(major, minor));
            }
            let mut params = BTreeMap::new();
            let mut pos = 0;
            // A NUL-terminated string at `pos`; None when the terminator is missing.
            let cstr = |pos: &mut usize| -> Option<String> {
                let end = *pos + rest[*pos..].iter().position(|b| *b == 0)?;
                let s = String::from_utf8(rest[*pos..end].to_vec()).ok()?;
                *pos = end + 1;
                Some(s)
            };
            loop {
                let key = cstr(&mut pos).ok_or(StartupError::Layout)?;
                if key.is_empty() {
                    break;
                }
                let value = cstr(&mut pos).ok_or(StartupError::Layout)?;
                params.insert(key, value);
            }
            // The empty name that ends the list must be the last byte.
            if pos != rest.len() {
                return Err(StartupError::Layout);
            }
            if !params.contains_key("user") {
                return Err(StartupError::Layout);
            }
            Ok(FirstPacket::Startup {
                major,
                minor,
                params,
            })
        }
    }
}

/// `options=-c search_path=sales -c statement_timeout=5s --application_name=x` → pairs.
pub fn parse_options(options: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut words = Vec::new();
    // Backslash escapes a space, as in libpq.
    let mut cur = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n)
                }
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        let kv = if w == "-c" {
            it.next()
        } else if let Some(rest) = w.strip_prefix("--") {
            Some(rest.to_string())
        } else {
            w.strip_prefix("-c").map(str::to_string)
        };
        if let Some((k, v)) = kv.as_deref().and_then(|kv| kv.split_once('=')) {
            out.push((k.replace('-', "_"), v.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup(params: &[(&str, &str)]) -> Vec<u8> {
        let mut b = 196608i32.to_be_bytes().to_vec();
        for (k, v) in params {
            b.extend_from_slice(k.as_bytes());
            b.push(0);
            b.extend_from_slice(v.as_bytes());
            b.push(0);
        }
        b.push(0);
        b
    }

    #[test]
    fn parses_the_packets() {
        assert_eq!(
            parse_first_packet(&SSL_REQUEST.to_be_bytes()).unwrap(),
            FirstPacket::SslRequest
        );
        let mut c = CANCEL_REQUEST.to_be_bytes().to_vec();
        c.extend_from_slice(&7i32.to_be_bytes());
        c.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(
            parse_first_packet(&c).unwrap(),
            FirstPacket::Cancel {
                pid: 7,
                secret: vec![1, 2, 3, 4]
            }
        );
        match parse_first_packet(&startup(&[("user", "a"), ("database", "mesh")])).unwrap() {
            FirstPacket::Startup { params, .. } => assert_eq!(params["database"], "mesh"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_malformed_packets() {
        assert!(parse_first_packet(&[0, 1]).is_err());
        assert!(
            parse_first_packet(&startup(&[("database", "mesh")])).is_err(),
            "user is required"
        );
        let mut b = startup(&[("user", "a")]);
        b.pop();
        assert!(parse_first_packet(&b).is_err(), "unterminated");
        assert!(
            parse_first_packet(&(4i32 << 16).to_be_bytes()).is_err(),
            "protocol 4"
        );
    }

    #[test]
    fn parses_libpq_options() {
        let o = parse_options(
            "-c search_path=sales,geo -csearch_path=x --statement-timeout=5s -c a\\ b=c\\ d",
        );
        assert_eq!(
            o,
            vec![
                ("search_path".into(), "sales,geo".into()),
                ("search_path".into(), "x".into()),
                ("statement_timeout".into(), "5s".into()),
                ("a b".into(), "c d".into()),
            ]
        );
    }
}
