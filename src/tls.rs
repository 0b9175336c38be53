//! TLS material: the server's certificate and key, and the CAs client certificates must chain to,
//! read from PEM files into a rustls acceptor. Built at start and again by every reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::config::ServerSettings;

/// Why TLS material could not be used. The text names files, never their contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: not a PEM certificate chain: {1}")]
    NotPem(PathBuf, std::io::Error),
    #[error("{0}: no certificate found")]
    NoCertificate(PathBuf),
    #[error("{0}: {1}")]
    Key(PathBuf, String),
    #[error("certificate and key do not fit together: {0}")]
    Mismatch(rustls::Error),
    #[error("client CA: {0}")]
    ClientCa(Box<TlsError>),
    #[error("{0}: {1}")]
    Verifier(PathBuf, String),
}

impl TlsError {
    /// The configuration key the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            TlsError::ClientCa(_) => "server.tls_client_ca",
            _ => "server.tls_cert",
        }
    }
}

/// The dependency tree enables both of rustls' crypto providers, so rustls cannot pick one by
/// itself: choose ring, once, before any TLS object is built (the acceptor here, the HTTPS
/// client that fetches a JWK set).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The TLS acceptor `[server]` describes: None without `tls_cert`/`tls_key`. With
/// `tls_client_ca`, client certificates are asked for (`optional`) or demanded (`required`).
pub fn acceptor(s: &ServerSettings) -> Result<Option<TlsAcceptor>, TlsError> {
    let (Some(cert), Some(key)) = (&s.tls_cert, &s.tls_key) else {
        return Ok(None);
    };
    let clients = match (&s.tls_client_ca, s.tls_client_auth.as_str()) {
        (Some(ca), "optional") => Some((ca.as_path(), false)),
        (Some(ca), "required") => Some((ca.as_path(), true)),
        _ => None,
    };
    load(cert, key, clients).map(Some)
}

fn certificates(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, TlsError> {
    let file = std::fs::File::open(path).map_err(|e| TlsError::Read(path.into(), e))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(file))
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::NotPem(path.into(), e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.into()));
    }
    Ok(certs)
}

/// Loads a certificate chain and key into a TLS acceptor; `clients` is the client CA file and
/// whether a client certificate is required.
pub fn load(
    cert: &Path,
    key: &Path,
    clients: Option<(&Path, bool)>,
) -> Result<TlsAcceptor, TlsError> {
    install_crypto_provider();
    let certs = certificates(cert)?;
    let file = std::fs::File::open(key).map_err(|e| TlsError::Read(key.into(), e))?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(file))
        .map_err(|e| TlsError::Key(key.into(), e.to_string()))?
        .ok_or_else(|| TlsError::Key(key.into(), "no private key found".into()))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match clients {
        None => builder.with_no_client_auth(),
        Some((ca, required)) => builder.with_client_cert_verifier(
            client_verifier(ca, required).map_err(|e| TlsError::ClientCa(Box::new(e)))?,
        ),
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(TlsError::Mismatch)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Verifies client certificates against the CAs in `ca` (webpki: chain, validity, the
/// clientAuth key usage). `required` false lets clients without a certificate through to
/// password authentication; a certificate that is presented must still verify.
fn client_verifier(
    ca: &Path,
    required: bool,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certificates(ca)? {
        roots
            .add(c)
            .map_err(|e| TlsError::Verifier(ca.into(), e.to_string()))?;
    }
    let builder = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots));
    let builder = if required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|e| TlsError::Verifier(ca.into(), e.to_string()))
}
