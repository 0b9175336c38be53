//! Who may connect, and how they prove it: the runtime objects built from the configuration's
//! plain data, and the state that outlives reloads.
//!
//! ```text
//!  Config ──► Credentials::build (at start, on every reload; `meshgate check` too)
//!               ├─ TLS acceptor (tls.rs): server certificate, client CAs
//!               └─ JWT verifier (jwt.rs): issuer, audience, the identity provider's key set
//!  Logins (for the life of the process): login throttling (throttle.rs), the decoy secret
//!  cert.rs: the user name a verified client certificate carries
//! ```
//!
//! SCRAM itself is in the protocol crate (`meshgate_protocol::scram`), beside the other code that
//! reads an unauthenticated client's bytes.

pub mod cert;
pub mod jwt;
pub mod throttle;

use std::fmt;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::config::{Config, ConfigError};

pub use meshgate_protocol::scram::{ScramVerifier, DEFAULT_ITERATIONS};

/// The startup option (`-c mesh.login_roles=a,b`) by which a peer gateway passes on the roles
/// its user logged in with there (a token's roles claim); refused from anyone else.
pub const PEER_ROLES_OPTION: &str = "mesh.login_roles";

/// How a user proved who they are (audit events, `mesh.whoami`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// SCRAM-SHA-256 against the user's verifier.
    Scram,
    /// A cleartext password (TLS only) checked against the verifier.
    Password,
    /// A JWT bearer token sent as the password (TLS only).
    Jwt,
    /// A verified client certificate whose common name is the user.
    Cert,
    /// A peer gateway, recognised by its certificate, speaking for one of its users.
    Peer,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Scram => "scram-sha-256",
            AuthMethod::Password => "password",
            AuthMethod::Jwt => "jwt",
            AuthMethod::Cert => "cert",
            AuthMethod::Peer => "peer",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What logins are checked against, built from one configuration. A reload builds a new one;
/// a connection keeps the one it started with.
#[derive(Clone, Default)]
pub struct Credentials {
    pub tls: Option<TlsAcceptor>,
    pub jwt: Option<Arc<jwt::JwtVerifier>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("tls", &self.tls.is_some())
            .field("jwt", &self.jwt)
            .finish()
    }
}

impl Credentials {
    /// Reads the TLS material and the JWT key set the configuration names. Errors name the
    /// configuration key, as validation errors do.
    pub fn build(config: &Config) -> Result<Credentials, ConfigError> {
        let error = |key: &str, message: String| ConfigError {
            file: config.path.clone(),
            key: key.to_string(),
            message,
        };
        let tls =
            crate::tls::acceptor(&config.server).map_err(|e| error(e.key(), e.to_string()))?;
        let jwt = match &config.jwt {
            Some(settings) => Some(Arc::new(
                jwt::JwtVerifier::load(settings, config.base())
                    .map_err(|(key, m)| error(key, m))?,
            )),
            None => None,
        };
        Ok(Credentials { tls, jwt })
    }
}

/// Login state that lives as long as the process, across reloads.
pub struct Logins {
    /// Failed logins per (address, user) and handshakes in flight per address.
    pub throttle: throttle::LoginThrottle,
    /// Salts the decoy SCRAM verifier of unknown users, so probing reveals nothing.
    pub decoy_secret: [u8; 32],
}

impl Default for Logins {
    fn default() -> Self {
        let mut decoy_secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut decoy_secret);
        Logins {
            throttle: throttle::LoginThrottle::default(),
            decoy_secret,
        }
    }
}
