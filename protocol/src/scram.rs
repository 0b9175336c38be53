//! Password authentication: SCRAM-SHA-256 (RFC 5802 / 7677) as PostgreSQL does it.
//!
//! Users are stored as verifiers in PostgreSQL's `rolpassword` format
//! (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`), so the configuration never holds
//! a password and a verifier copied from a PostgreSQL server works here too.
//!
//! An unknown user goes through the same exchange against a made-up verifier and fails at the same
//! step as a wrong password, so the server does not tell which user names exist.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const MECHANISM: &str = "SCRAM-SHA-256";
pub const DEFAULT_ITERATIONS: u32 = 4096;

#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramVerifier([redacted])")
    }
}

impl fmt::Display for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{MECHANISM}${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
    out
}

impl ScramVerifier {
    /// A verifier for `password` with a fresh random salt.
    pub fn generate(password: &str, iterations: u32) -> Self {
        let mut salt = vec![0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        Self::from_password(password, salt, iterations)
    }

    fn from_password(password: &str, salt: Vec<u8>, iterations: u32) -> Self {
        let salted = salted_password(password, &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let server_key = hmac(&salted, b"Server Key");
        ScramVerifier {
            iterations,
            salt,
            stored_key,
            server_key,
        }
    }

    /// Parses PostgreSQL's verifier format. Errors never quote the input (it may be a password
    /// pasted by mistake).
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("SCRAM-SHA-256$")
            .ok_or("not a SCRAM-SHA-256 verifier (expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)")?;
        let (params, keys) = rest.split_once('$').ok_or("malformed SCRAM verifier")?;
        let (iter, salt) = params.split_once(':').ok_or("malformed SCRAM verifier")?;
        let (stored, server) = keys.split_once(':').ok_or("malformed SCRAM verifier")?;
        let iterations: u32 = iter
            .parse()
            .map_err(|_| "bad iteration count in SCRAM verifier")?;
        if iterations == 0 {
            return Err("bad iteration count in SCRAM verifier".into());
        }
        let salt = B64.decode(salt).map_err(|_| "bad salt in SCRAM verifier")?;
        let key = |k: &str| -> Result<[u8; 32], String> {
            B64.decode(k)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or_else(|| "bad key in SCRAM verifier".to_string())
        };
        Ok(ScramVerifier {
            iterations,
            salt,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }

    /// Checks a cleartext password (the `password` method, TLS only).
    pub fn verify_password(&self, password: &str) -> bool {
        let candidate = Self::from_password(password, self.salt.clone(), self.iterations);
        constant_time_eq(&candidate.stored_key, &self.stored_key)
    }

    /// A verifier no password matches, with a salt derived from the user name so that repeated
    /// probes of one unknown name see a stable salt, as they would for a real user.
    pub fn decoy(user: &str, server_secret: &[u8]) -> Self {
        let salt = hmac(server_secret, user.as_bytes())[..16].to_vec();
        let mut stored_key = [0u8; 32];
        let mut server_key = [0u8; 32];
        rand::rng().fill_bytes(&mut stored_key);
        rand::rng().fill_bytes(&mut server_key);
        ScramVerifier {
            iterations: DEFAULT_ITERATIONS,
            salt,
            stored_key,
            server_key,
        }
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a SCRAM exchange failed. `BadProof` is the only one a correct client with a wrong password
/// sees; the others are protocol violations.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramError {
    Malformed(&'static str),
    ChannelBindingUnsupported,
    NonceMismatch,
    BadProof,
}

/// The server side of one SCRAM exchange: `client-first` → `server-first`, `client-final` →
/// `server-final`.
pub struct ScramExchange {
    verifier: ScramVerifier,
    nonce: String,
    client_first_bare: String,
    server_first: String,
    gs2_header: String,
}

impl ScramExchange {
    /// Handles client-first-message; returns the exchange and server-first-message.
    pub fn start(
        verifier: ScramVerifier,
        client_first: &[u8],
    ) -> Result<(Self, String), ScramError> {
        let text =
            std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        // gs2-header: cbind-flag "," [authzid] ","
        let mut parts = text.splitn(3, ',');
        let cbind = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        let authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        let bare = parts
            .next()
            .ok_or(ScramError::Malformed("no client-first-message-bare"))?;
        match cbind {
            // 'y': the client could bind but thinks we can't, which is true (we advertise no -PLUS).
            "n" | "y" => {}
            c if c.starts_with("p=") => return Err(ScramError::ChannelBindingUnsupported),
            _ => return Err(ScramError::Malformed("bad channel binding flag")),
        }
        if !authzid.is_empty() && !authzid.starts_with("a=") {
            return Err(ScramError::Malformed("bad authzid"));
        }
        let client_nonce = bare
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .filter(|n| !n.is_empty())
            .ok_or(ScramError::Malformed("no client nonce"))?;
        let mut raw = [0u8; 18];
        rand::rng().fill_bytes(&mut raw);
        let nonce = format!("{client_nonce}{}", B64.encode(raw));
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&verifier.salt),
            verifier.iterations
        );
        let ex = ScramExchange {
            verifier,
            nonce,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            gs2_header: format!("{cbind},{authzid},"),
        };
        Ok((ex, server_first))
    }

    /// Handles client-final-message; returns server-final-message when the proof is right.
    pub fn finish(self, client_final: &[u8]) -> Result<String, ScramError> {
        let text =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut channel = None;
        let mut nonce = None;
        for attr in without_proof.split(',') {
            if let Some(c) = attr.strip_prefix("c=") {
                channel = Some(c);
            } else if let Some(r) = attr.strip_prefix("r=") {
                nonce = Some(r);
            }
        }
        let channel = channel.ok_or(ScramError::Malformed("no channel binding"))?;
        if B64.decode(channel).ok().as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err(ScramError::Malformed(
                "channel binding does not match the gs2 header",
            ));
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err(ScramError::NonceMismatch);
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof is not base64"))?;
        if proof.len() != 32 {
            return Err(ScramError::BadProof);
        }
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let client_signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof
            .iter()
            .zip(client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let stored: [u8; 32] = Sha256::digest(&client_key).into();
        if !constant_time_eq(&stored, &self.verifier.stored_key) {
            return Err(ScramError::BadProof);
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client side, written from RFC 5802, to drive the server side.
    fn client_final(password: &str, client_first_bare: &str, server_first: &str) -> String {
        let mut salt = None;
        let mut iters = None;
        let mut nonce = None;
        for a in server_first.split(',') {
            if let Some(v) = a.strip_prefix("s=") {
                salt = Some(B64.decode(v).unwrap());
            } else if let Some(v) = a.strip_prefix("i=") {
                iters = Some(v.parse().unwrap());
            } else if let Some(v) = a.strip_prefix("r=") {
                nonce = Some(v.to_string());
            }
        }
        let salted = salted_password(password, &salt.unwrap(), iters.unwrap());
        let client_key = hmac(&salted, b"Client Key");
        let stored: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c=biws,r={}", nonce.unwrap());
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = hmac(&stored, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(sig).map(|(a, b)| a ^ b).collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }

    #[test]
    fn verifier_round_trips_and_checks_passwords() {
        let v = ScramVerifier::generate("s3cret", 4096);
        let text = v.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"));
        let parsed = ScramVerifier::parse(&text).unwrap();
        assert_eq!(parsed, v);
        assert!(parsed.verify_password("s3cret"));
        assert!(!parsed.verify_password("s3cret "));
        assert!(ScramVerifier::parse("s3cret").is_err());
        assert!(!format!("{v:?}").contains(&B64.encode(v.stored_key)));
    }

    #[test]
    fn exchange_accepts_right_password_only() {
        let v = ScramVerifier::generate("pw", 4096);
        for (password, ok) in [("pw", true), ("wrong", false)] {
            let bare = "n=,r=abcdefghijkl";
            let (ex, server_first) =
                ScramExchange::start(v.clone(), format!("n,,{bare}").as_bytes()).unwrap();
            let fin = client_final(password, bare, &server_first);
            let res = ex.finish(fin.as_bytes());
            assert_eq!(res.is_ok(), ok, "{password}: {res:?}");
            if !ok {
                assert_eq!(res.unwrap_err(), ScramError::BadProof);
            }
        }
    }

    #[test]
    fn exchange_rejects_tampering() {
        let v = ScramVerifier::generate("pw", 4096);
        let bare = "n=,r=nonce1";
        let (ex, sf) = ScramExchange::start(v.clone(), format!("n,,{bare}").as_bytes()).unwrap();
        let fin = client_final("pw", bare, &sf).replace("r=nonce1", "r=nonce2");
        assert!(ex.finish(fin.as_bytes()).is_err());
        assert_eq!(
            ScramExchange::start(v.clone(), b"p=tls-server-end-point,,n=,r=x").err(),
            Some(ScramError::ChannelBindingUnsupported)
        );
        assert!(ScramExchange::start(v, b"garbage").is_err());
    }
}
