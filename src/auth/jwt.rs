//! JWT bearer tokens (RFC 7519, signed as JWS RFC 7515) sent in place of a password.
//!
//! An identity provider signs the token; we hold its public keys as a JWK set (RFC 7517), read
//! from a file or fetched from a URL when the configuration is loaded (at start and on every
//! reload: nothing refreshes the set in the background, so a key rotation needs a reload).
//!
//! Signature first, claims after: no claim is looked at before the signature is known good, and
//! the token's `alg` must fit the key it names, so a token cannot pick a weaker check (`none`, or
//! an HMAC keyed with a public key) than the key was published for.
//!
//! Verification is written here over `ring` rather than taken from a JWT crate: the part that
//! matters is small, and every rule above is visible in one file.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::Value;

/// How long fetching a JWK set may take before the load fails.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A JWK set is a few KiB; anything far larger is not one.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Rsa => "RSA",
            Kind::P256 => "EC P-256",
            Kind::P384 => "EC P-384",
            Kind::Ed25519 => "OKP Ed25519",
        }
    }
}

/// The algorithms accepted, each with the one key kind it may be checked with.
fn algorithm(alg: &str) -> Option<(Kind, &'static dyn VerificationAlgorithm)> {
    Some(match alg {
        "RS256" => (Kind::Rsa, &signature::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => (Kind::Rsa, &signature::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => (Kind::Rsa, &signature::RSA_PKCS1_2048_8192_SHA512),
        "PS256" => (Kind::Rsa, &signature::RSA_PSS_2048_8192_SHA256),
        "PS384" => (Kind::Rsa, &signature::RSA_PSS_2048_8192_SHA384),
        "PS512" => (Kind::Rsa, &signature::RSA_PSS_2048_8192_SHA512),
        "ES256" => (Kind::P256, &signature::ECDSA_P256_SHA256_FIXED),
        "ES384" => (Kind::P384, &signature::ECDSA_P384_SHA384_FIXED),
        "EdDSA" => (Kind::Ed25519, &signature::ED25519),
        _ => return None,
    })
}

/// One usable public key from the set.
#[derive(Debug)]
struct Key {
    kid: Option<String>,
    /// The JWK's own `alg`, when it pins one.
    alg: Option<String>,
    kind: Kind,
    /// What ring verifies with: DER RSAPublicKey for RSA, the encoded public point otherwise.
    public: Vec<u8>,
}

/// DER of RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, the form
/// ring's RSA verification algorithms take.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend_from_slice(&bytes);
        }
    }
    fn integer(out: &mut Vec<u8>, v: &[u8]) {
        let v = &v[v
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(v.len().saturating_sub(1))..];
        // A set top bit would make the INTEGER negative.
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        out.push(0x02);
        length(out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let mut body = Vec::new();
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = vec![0x30];
    length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// The configured checks and the keys, ready to verify tokens.
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    user_claim: String,
    roles_claim: String,
    leeway: u64,
    keys: Vec<Key>,
    /// Where the keys came from, for messages.
    pub source: String,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys.len())
            .field("source", &self.source)
            .finish()
    }
}

/// Who a good token says the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub user: String,
    pub roles: Vec<String>,
}

/// Why a token was refused. The text is for the server log only: it never quotes the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a good token (malformed, bad signature, wrong issuer or audience, expired): 28P01.
    Invalid(String),
    /// A good token that names no usable identity: 28000.
    Identity(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Invalid(m) | TokenError::Identity(m) => f.write_str(m),
        }
    }
}

fn invalid(m: impl Into<String>) -> TokenError {
    TokenError::Invalid(m.into())
}

/// A value from a token, shortened and quoted for a log line.
fn shown(v: &str) -> String {
    let mut s: String = v.chars().take(80).collect();
    if s.len() < v.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// Whether a password is shaped like a JWT: three base64url segments whose first decodes to a
/// JSON object. The last check keeps a password that happens to contain two dots a password.
pub fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 3 || parts[0].is_empty() || parts[1].is_empty() {
        return false;
    }
    let b64url = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    parts.iter().all(|p| b64url(p))
        && B64URL
            .decode(parts[0])
            .is_ok_and(|h| h.trim_ascii_start().first() == Some(&b'{'))
}

impl JwtVerifier {
    /// Validates the settings and loads the key set. Errors are (key, message) for ConfigError.
    pub fn load(
        s: &crate::config::JwtSettings,
        base: &Path,
    ) -> Result<Self, (&'static str, String)> {
        let issuer = s
            .issuer
            .clone()
            .filter(|v| !v.is_empty())
            .ok_or(("auth.jwt.issuer", "is required".to_string()))?;
        let audience = s
            .audience
            .clone()
            .filter(|v| !v.is_empty())
            .ok_or(("auth.jwt.audience", "is required".to_string()))?;
        if s.user_claim.is_empty() {
            return Err(("auth.jwt.user_claim", "must not be empty".into()));
        }
        if s.roles_claim.is_empty() {
            return Err(("auth.jwt.roles_claim", "must not be empty".into()));
        }
        let (key, source, text) = match (&s.jwks_file, &s.jwks_url) {
            (Some(_), Some(_)) => {
                return Err((
                    "auth.jwt.jwks_url",
                    "give jwks_file or jwks_url, not both".into(),
                ))
            }
            (None, None) => {
                return Err((
                    "auth.jwt.jwks_file",
                    "one of jwks_file or jwks_url is required".into(),
                ))
            }
            (Some(f), None) => {
                let p = base.join(f);
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    (
                        "auth.jwt.jwks_file",
                        format!("cannot read {}: {e}", p.display()),
                    )
                })?;
                ("auth.jwt.jwks_file", p.display().to_string(), text)
            }
            (None, Some(u)) => (
                "auth.jwt.jwks_url",
                u.clone(),
                fetch_jwks(u).map_err(|e| ("auth.jwt.jwks_url", e))?,
            ),
        };
        let keys = parse_jwks(&text).map_err(|e| (key, format!("{source}: {e}")))?;
        tracing::info!("JWT: {} signing keys from {source}", keys.len());
        Ok(JwtVerifier {
            issuer,
            audience,
            user_claim: s.user_claim.clone(),
            roles_claim: s.roles_claim.clone(),
            leeway: s.leeway_secs,
            keys,
            source,
        })
    }

    /// Checks a token at time `now`: signature by a key of the set, then `exp` (required),
    /// `nbf`, `iss`, `aud`, and reads the user and roles claims.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("not a compact JWS (three dot-separated parts)"));
        };
        let header: Value = B64URL
            .decode(h64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid("header is not base64url JSON"))?;
        let header = header
            .as_object()
            .ok_or_else(|| invalid("header is not a JSON object"))?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("header has no alg"))?;
        // `none` is refused by name so the log says so, not just "unsupported".
        if alg.eq_ignore_ascii_case("none") {
            return Err(invalid("unsigned token (alg none)"));
        }
        let (kind, algorithm) =
            algorithm(alg).ok_or_else(|| invalid(format!("unsupported alg {}", shown(alg))))?;
        // RFC 7515 §4.1.11: extensions we do not understand must fail the token.
        if header.contains_key("crit") {
            return Err(invalid(
                "header lists critical extensions (crit), none of which are supported",
            ));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(_) => return Err(invalid("kid is not a string")),
        };
        let named: Vec<&Key> = match kid {
            Some(k) => self
                .keys
                .iter()
                .filter(|key| key.kid.as_deref() == Some(k))
                .collect(),
            None => self.keys.iter().collect(),
        };
        if named.is_empty() {
            return Err(invalid(format!(
                "no key with kid {} in {}",
                shown(kid.unwrap_or_default()),
                self.source
            )));
        }
        let fitting: Vec<&Key> = named
            .iter()
            .copied()
            .filter(|k| k.kind == kind && k.alg.as_deref().is_none_or(|a| a == alg))
            .collect();
        let key = match (fitting.as_slice(), kid) {
            ([k], _) => *k,
            ([], Some(kid)) => {
                return Err(invalid(format!(
                    "alg {alg} does not fit key {}, which is {}{}",
                    shown(kid),
                    named[0].kind.name(),
                    named[0]
                        .alg
                        .as_deref()
                        .map(|a| format!(" for {a}"))
                        .unwrap_or_default()
                )))
            }
            ([], None) => {
                return Err(invalid(format!(
                    "alg {alg} does not fit any key of {}",
                    self.source
                )))
            }
            // Without a kid the token must leave no doubt which key signs it.
            (_, None) => {
                return Err(invalid(
                    "token has no kid and the key set has several keys for its alg",
                ))
            }
            (_, Some(_)) => {
                return Err(invalid(
                    "the key set has several keys with this kid and alg",
                ))
            }
        };
        let sig = B64URL
            .decode(s64)
            .map_err(|_| invalid("signature is not base64url"))?;
        let signed = &token[..h64.len() + 1 + p64.len()];
        if UnparsedPublicKey::new(algorithm, &key.public)
            .verify(signed.as_bytes(), &sig)
            .is_err()
        {
            return Err(invalid(format!(
                "bad signature (kid {}, alg {alg})",
                shown(kid.unwrap_or("-"))
            )));
        }

        let payload: Value = B64URL
            .decode(p64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid("payload is not base64url JSON"))?;
        let claims = payload
            .as_object()
            .ok_or_else(|| invalid("payload is not a JSON object"))?;
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let leeway = self.leeway as f64;
        let exp = claims
            .get("exp")
            .ok_or_else(|| invalid("token has no exp"))?;
        let exp = exp.as_f64().ok_or_else(|| invalid("exp is not a number"))?;
        if now >= exp + leeway {
            return Err(invalid(format!("expired {:.0} s ago", now - exp)));
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf.as_f64().ok_or_else(|| invalid("nbf is not a number"))?;
            if now + leeway < nbf {
                return Err(invalid(format!(
                    "not valid for another {:.0} s (nbf)",
                    nbf - now
                )));
            }
        }
        match claims.get("iss") {
            Some(Value::String(i)) if *i == self.issuer => {}
            Some(Value::String(i)) => return Err(invalid(format!("wrong issuer {}", shown(i)))),
            _ => return Err(invalid("token has no issuer (iss)")),
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == self.audience,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(self.audience.as_str())),
            _ => return Err(invalid("token has no audience (aud)")),
        };
        if !aud_ok {
            return Err(invalid(format!(
                "wrong audience {}",
                shown(&claims["aud"].to_string())
            )));
        }

        let user = match claims.get(&self.user_claim) {
            Some(Value::String(u)) if !u.is_empty() => u.clone(),
            _ => {
                return Err(TokenError::Identity(format!(
                    "no string claim {} names the user",
                    shown(&self.user_claim)
                )))
            }
        };
        let roles = match claims.get(&self.roles_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    TokenError::Identity(format!(
                        "claim {} holds a non-string",
                        shown(&self.roles_claim)
                    ))
                })?,
            Some(_) => {
                return Err(TokenError::Identity(format!(
                    "claim {} is neither an array of strings nor a string",
                    shown(&self.roles_claim)
                )))
            }
        };
        Ok(Claims { user, roles })
    }
}

/// Reads the usable signing keys of a JWK set. Keys of other kinds, or published for
/// encryption, are left out; a set with no usable key is an error.
fn parse_jwks(text: &str) -> Result<Vec<Key>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JWK set (no \"keys\" array)")?;
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (i, k) in list.iter().enumerate() {
        match parse_jwk(k) {
            Ok(Some(key)) => keys.push(key),
            Ok(None) => skipped.push(i),
            Err(e) => return Err(format!("keys[{i}]: {e}")),
        }
    }
    if keys.is_empty() {
        return Err("no usable signing key (supported: RSA of 2048 bits or more, EC P-256 and P-384, OKP Ed25519)".into());
    }
    if !skipped.is_empty() {
        tracing::debug!(
            "JWK set: keys {skipped:?} are not signature keys of a supported kind and are ignored"
        );
    }
    Ok(keys)
}

/// One JWK: Ok(None) when it is of a kind we do not verify with (symmetric, encryption).
fn parse_jwk(k: &Value) -> Result<Option<Key>, String> {
    let field = |name: &str| k.get(name).and_then(Value::as_str);
    if field("use").is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let bytes = |name: &str| -> Result<Vec<u8>, String> {
        B64URL
            .decode(field(name).ok_or(format!("no {name}"))?)
            .map_err(|_| format!("{name} is not base64url"))
    };
    let (kind, public) = match field("kty") {
        Some("RSA") => {
            let n = bytes("n")?;
            let e = bytes("e")?;
            let bits = n
                .iter()
                .position(|b| *b != 0)
                .map_or(0, |i| (n.len() - i) * 8 - n[i].leading_zeros() as usize);
            if bits < 2048 {
                return Err(format!(
                    "RSA key of {bits} bits; at least 2048 are required"
                ));
            }
            (Kind::Rsa, rsa_public_key_der(&n, &e))
        }
        Some("EC") => {
            let (kind, len) = match field("crv") {
                Some("P-256") => (Kind::P256, 32),
                Some("P-384") => (Kind::P384, 48),
                _ => return Ok(None),
            };
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != len || y.len() != len {
                return Err(format!("x and y must be {len} bytes for {}", kind.name()));
            }
            // SEC1 uncompressed point, the form ring takes.
            let mut p = vec![4u8];
            p.extend_from_slice(&x);
            p.extend_from_slice(&y);
            (kind, p)
        }
        Some("OKP") if field("crv") == Some("Ed25519") => {
            let x = bytes("x")?;
            if x.len() != 32 {
                return Err("x must be 32 bytes for Ed25519".into());
            }
            (Kind::Ed25519, x)
        }
        _ => return Ok(None),
    };
    let alg = field("alg").map(str::to_string);
    if let Some(a) = &alg {
        match algorithm(a) {
            Some((k, _)) if k == kind => {}
            _ => return Err(format!("alg {a:?} does not fit a {} key", kind.name())),
        }
    }
    Ok(Some(Key {
        kid: field("kid").map(str::to_string),
        alg,
        kind,
        public,
    }))
}

/// Fetches a JWK set. Called from configuration loading, which is synchronous and may run on a
/// runtime thread (a reload from `pg_reload_conf`), so the request runs on a thread of its own.
fn fetch_jwks(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    };
    // Keys fetched in the clear could be swapped on the way; only a local sidecar may skip TLS.
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "{url:?}: must be https (http only on a loopback address)"
            ))
        }
    }
    crate::tls::install_crypto_provider();
    let url = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let client = reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?;
            let mut resp = client
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("fetching {url}: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!("fetching {url}: HTTP {}", resp.status()));
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| format!("fetching {url}: {e}"))?
            {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_JWKS_BYTES {
                    return Err(format!(
                        "fetching {url}: larger than {MAX_JWKS_BYTES} bytes"
                    ));
                }
            }
            String::from_utf8(body).map_err(|_| format!("fetching {url}: not UTF-8"))
        })
    })
    .join()
    .map_err(|_| "the JWK set fetch thread panicked".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    const NOW: u64 = 1_700_000_000;

    fn b64(v: &[u8]) -> String {
        B64URL.encode(v)
    }

    struct Signer {
        es256: EcdsaKeyPair,
        es384: EcdsaKeyPair,
        ed: Ed25519KeyPair,
    }

    impl Signer {
        fn new() -> Self {
            let rng = SystemRandom::new();
            let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pk = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
            let es256 = EcdsaKeyPair::from_pkcs8(alg, pk.as_ref(), &rng).unwrap();
            let alg = &signature::ECDSA_P384_SHA384_FIXED_SIGNING;
            let pk = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
            let es384 = EcdsaKeyPair::from_pkcs8(alg, pk.as_ref(), &rng).unwrap();
            let pk = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            let ed = Ed25519KeyPair::from_pkcs8(pk.as_ref()).unwrap();
            Signer { es256, es384, ed }
        }

        fn jwks(&self) -> String {
            let p = self.es256.public_key().as_ref();
            let q = self.es384.public_key().as_ref();
            serde_json::json!({"keys": [
                {"kty": "EC", "crv": "P-384", "kid": "ec384", "x": b64(&q[1..49]), "y": b64(&q[49..])},
                {"kty": "EC", "crv": "P-256", "kid": "ec1", "use": "sig", "x": b64(&p[1..33]), "y": b64(&p[33..])},
                {"kty": "OKP", "crv": "Ed25519", "kid": "ed1", "x": b64(self.ed.public_key().as_ref())},
                {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            ]})
            .to_string()
        }

        fn token(&self, header: Value, claims: Value) -> String {
            let signed = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            );
            let sig = match header["alg"].as_str() {
                Some("EdDSA") => self.ed.sign(signed.as_bytes()).as_ref().to_vec(),
                Some("ES384") => self
                    .es384
                    .sign(&SystemRandom::new(), signed.as_bytes())
                    .unwrap()
                    .as_ref()
                    .to_vec(),
                _ => self
                    .es256
                    .sign(&SystemRandom::new(), signed.as_bytes())
                    .unwrap()
                    .as_ref()
                    .to_vec(),
            };
            format!("{signed}.{}", b64(&sig))
        }
    }

    fn verifier(jwks: &str) -> JwtVerifier {
        JwtVerifier {
            issuer: "https://idp".into(),
            audience: "meshgate".into(),
            user_claim: "sub".into(),
            roles_claim: "roles".into(),
            leeway: 30,
            keys: parse_jwks(jwks).unwrap(),
            source: "test".into(),
        }
    }

    fn claims() -> Value {
        serde_json::json!({"iss": "https://idp", "aud": ["other", "meshgate"], "sub": "carol", "exp": NOW + 60, "roles": ["analyst", "sales"]})
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn good_tokens_give_user_and_roles() {
        let s = Signer::new();
        let v = verifier(&s.jwks());
        let t = s.token(
            serde_json::json!({"alg": "ES256", "kid": "ec1", "typ": "JWT"}),
            claims(),
        );
        assert!(looks_like_jwt(&t));
        assert_eq!(
            v.verify(&t, at(NOW)).unwrap(),
            Claims {
                user: "carol".into(),
                roles: vec!["analyst".into(), "sales".into()]
            }
        );
        let mut c = claims();
        c["roles"] = "a b".into();
        c["aud"] = "meshgate".into();
        let t = s.token(serde_json::json!({"alg": "EdDSA", "kid": "ed1"}), c);
        assert_eq!(v.verify(&t, at(NOW)).unwrap().roles, vec!["a", "b"]);
        let t = s.token(
            serde_json::json!({"alg": "ES384", "kid": "ec384"}),
            claims(),
        );
        assert_eq!(v.verify(&t, at(NOW)).unwrap().user, "carol");
        // The P-384 key does not check ES256 signatures, even under its kid.
        let t = s.token(
            serde_json::json!({"alg": "ES256", "kid": "ec384"}),
            claims(),
        );
        assert!(v
            .verify(&t, at(NOW))
            .unwrap_err()
            .to_string()
            .contains("does not fit"));
    }

    #[test]
    fn claims_are_checked() {
        let s = Signer::new();
        let v = verifier(&s.jwks());
        let h = serde_json::json!({"alg": "ES256", "kid": "ec1"});
        let with = |k: &str, val: Value| {
            let mut c = claims();
            if val.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = val;
            }
            s.token(h.clone(), c)
        };
        let err = |t: &str, now: u64| v.verify(t, at(now)).unwrap_err().to_string();
        assert!(err(&with("iss", "https://evil".into()), NOW).contains("wrong issuer"));
        assert!(err(&with("aud", "other".into()), NOW).contains("wrong audience"));
        assert!(err(&with("aud", Value::Null), NOW).contains("no audience"));
        assert!(err(&with("exp", Value::Null), NOW).contains("no exp"));
        // Leeway: 20 s past exp is still good, 31 s is not.
        let t = with("exp", NOW.into());
        assert!(v.verify(&t, at(NOW + 20)).is_ok());
        assert!(err(&t, NOW + 31).contains("expired"));
        assert!(err(&with("nbf", (NOW + 100).into()), NOW).contains("nbf"));
        assert!(v.verify(&with("nbf", (NOW + 10).into()), at(NOW)).is_ok());
        assert!(matches!(
            v.verify(&with("sub", Value::Null), at(NOW)),
            Err(TokenError::Identity(_))
        ));
        assert!(matches!(
            v.verify(&with("roles", serde_json::json!([1])), at(NOW)),
            Err(TokenError::Identity(_))
        ));
    }

    #[test]
    fn forged_and_mismatched_tokens_are_refused() {
        let s = Signer::new();
        let v = verifier(&s.jwks());
        let good = s.token(serde_json::json!({"alg": "ES256", "kid": "ec1"}), claims());
        // Another user in the payload, signature kept.
        let (h, rest) = good.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let mut c = claims();
        c["sub"] = "alice".into();
        let forged = format!("{h}.{}.{sig}", b64(c.to_string().as_bytes()));
        assert!(v
            .verify(&forged, at(NOW))
            .unwrap_err()
            .to_string()
            .contains("bad signature"));
        // alg none, with or without a signature.
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(claims().to_string().as_bytes())
        );
        assert!(looks_like_jwt(&none));
        assert!(v
            .verify(&none, at(NOW))
            .unwrap_err()
            .to_string()
            .contains("alg none"));
        // An EC key named with an RSA alg, and HMAC against the symmetric key: refused.
        let t = s.token(serde_json::json!({"alg": "RS256", "kid": "ec1"}), claims());
        assert!(v
            .verify(&t, at(NOW))
            .unwrap_err()
            .to_string()
            .contains("does not fit"));
        let t = s.token(serde_json::json!({"alg": "HS256", "kid": "hmac"}), claims());
        assert!(v
            .verify(&t, at(NOW))
            .unwrap_err()
            .to_string()
            .contains("unsupported alg"));
        let t = s.token(serde_json::json!({"alg": "ES256", "kid": "nope"}), claims());
        assert!(v
            .verify(&t, at(NOW))
            .unwrap_err()
            .to_string()
            .contains("no key with kid"));
        let t = s.token(
            serde_json::json!({"alg": "ES256", "kid": "ec1", "crit": ["exp"]}),
            claims(),
        );
        assert!(v.verify(&t, at(NOW)).is_err());
        // Without a kid, the one key of the token's kind is used.
        let t = s.token(serde_json::json!({"alg": "ES256"}), claims());
        assert!(v.verify(&t, at(NOW)).is_ok());
        // No error message quotes the token.
        for t in [&forged, &none] {
            let m = v.verify(t, at(NOW)).unwrap_err().to_string();
            assert!(!m.contains(t.split('.').nth(1).unwrap()), "{m}");
        }
    }

    #[test]
    fn jwk_sets_are_validated() {
        assert!(parse_jwks("[]").is_err());
        assert!(parse_jwks(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#)
            .unwrap_err()
            .contains("no usable"));
        let small =
            serde_json::json!({"keys": [{"kty": "RSA", "n": b64(&[0xc1; 128]), "e": "AQAB"}]})
                .to_string();
        assert!(parse_jwks(&small).unwrap_err().contains("1024 bits"));
        let s = Signer::new();
        let p = s.es256.public_key().as_ref();
        let wrong_alg =
            serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "RS256", "x": b64(&p[1..33]), "y": b64(&p[33..])}]})
                .to_string();
        assert!(parse_jwks(&wrong_alg).unwrap_err().contains("does not fit"));
    }

    #[test]
    fn passwords_are_not_mistaken_for_tokens() {
        assert!(!looks_like_jwt("pass.word.123"));
        assert!(!looks_like_jwt("plain-password"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt(&format!("{}.x y.z", b64(b"{}"))));
    }

    #[test]
    fn rsa_der_encoding() {
        // n with the top bit set gets a leading zero; e = 65537.
        let der = rsa_public_key_der(&[0x80, 1], &[1, 0, 1]);
        assert_eq!(
            der,
            vec![0x30, 0x0a, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x03, 0x01, 0x00, 0x01]
        );
    }
}
