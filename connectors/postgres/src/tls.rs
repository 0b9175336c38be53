//! TLS to a source over rustls: the server's certificate must chain to the domain's CA and
//! name the host connected to (libpq's `verify-full`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// Makes verified TLS connections with one client configuration.
#[derive(Clone)]
pub struct MakeRustls {
    config: Arc<rustls::ClientConfig>,
    /// The name the server's certificate must carry, when it is not the host connected to.
    server_name: Option<String>,
}

impl MakeRustls {
    /// Trusts exactly the certificates in `ca_pem`.
    pub fn new(ca_pem: &[u8]) -> Result<Self, String> {
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots(ca_pem)?)
            .with_no_client_auth();
        Ok(MakeRustls {
            config: Arc::new(config),
            server_name: None,
        })
    }

    /// Mutual TLS with a peer gateway: trusts `ca_pem`, expects `server_name` on the peer's
    /// certificate, and presents this gateway's certificate.
    pub fn mutual(
        ca_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
        server_name: &str,
    ) -> Result<Self, String> {
        let certs = rustls_pemfile::certs(&mut &cert_pem[..])
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad certificate: {e}"))?;
        let key = rustls_pemfile::private_key(&mut &key_pem[..])
            .map_err(|e| format!("bad key: {e}"))?
            .ok_or("the key file holds no private key")?;
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots(ca_pem)?)
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("certificate and key do not go together: {e}"))?;
        Ok(MakeRustls {
            config: Arc::new(config),
            server_name: Some(server_name.to_string()),
        })
    }
}

/// Exactly the certificates in `ca_pem`.
fn roots(ca_pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &ca_pem[..]) {
        let cert = cert.map_err(|e| format!("bad CA certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("bad CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("the CA file holds no certificate".into());
    }
    Ok(roots)
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, Self::Error> {
        let name = self.server_name.as_deref().unwrap_or(host);
        Ok(RustlsConnect {
            config: Arc::clone(&self.config),
            name: ServerName::try_from(name.to_string())?,
        })
    }
}

pub struct RustlsConnect {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let s = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            Ok(RustlsStream(s))
        })
    }
}

pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    // Without channel binding, SCRAM runs as SCRAM-SHA-256 (not -PLUS); the certificate check
    // above is what binds the session to the server.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
