//! Identity beyond SCRAM: JWT bearer tokens sent as the password over TLS, TLS client
//! certificates (mTLS), and the opt-in ceiling on failed logins (the throttle is throttle.rs).
//!
//! The test is its own identity provider and CA: EC keys come from ring, the RSA key and the
//! X.509 certificates from the openssl command (as in tls.rs). Clients are tokio-postgres over
//! rustls, on sockets the test opens itself so that it can pick the source address
//! (127.0.0.0/8 is all loopback) and so test the per-address limit.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, TlsConnect};

use crate::harness::{code, tpch, TestServer, ADMIN, ANALYST};

pub(crate) const ISSUER: &str = "https://idp.test";
pub(crate) const AUDIENCE: &str = "meshgate";

// ---------------------------------------------------------------------------------------------
// Certificates

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 signed by it, and client certificates on demand.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
        };
        pki.ca("ca");
        pki.leaf(
            "server",
            "localhost",
            "ca",
            "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        );
        pki
    }

    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub(crate) fn ca(&self, name: &str) {
        let (key, crt, subj) = (
            format!("{name}.key"),
            format!("{name}.crt"),
            format!("/CN=meshgate test {name}"),
        );
        openssl(
            self.dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "1",
                "-subj",
                &subj,
                "-keyout",
                &key,
                "-out",
                &crt,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        );
    }

    pub(crate) fn leaf(&self, name: &str, cn: &str, ca: &str, ext: &str) {
        let d = self.dir.path();
        std::fs::write(
            d.join(format!("{name}.ext")),
            format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n{ext}"),
        )
        .unwrap();
        let (key, csr, crt, subj) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("/CN={cn}"),
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &subj,
                "-keyout",
                &key,
                "-out",
                &csr,
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                "1",
                "-out",
                &crt,
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }

    /// A client certificate for `cn`, signed by `ca`; returns its name for [`Pki::client_tls`].
    pub(crate) fn client(&self, name: &str, cn: &str, ca: &str) -> String {
        self.leaf(name, cn, ca, "extendedKeyUsage=clientAuth\n");
        name.to_string()
    }

    /// Client TLS that verifies the server against our CA, with a client certificate or not.
    pub(crate) fn client_tls(&self, cert: Option<&str>) -> Arc<rustls::ClientConfig> {
        meshgate::tls::install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        for c in pem_certs(&self.path("ca.crt")) {
            roots.add(c).unwrap();
        }
        let b = rustls::ClientConfig::builder().with_root_certificates(roots);
        Arc::new(match cert {
            None => b.with_no_client_auth(),
            Some(name) => {
                let key = rustls_pemfile::private_key(&mut io::BufReader::new(
                    std::fs::File::open(self.path(&format!("{name}.key"))).unwrap(),
                ))
                .unwrap()
                .unwrap();
                b.with_client_auth_cert(pem_certs(&self.path(&format!("{name}.crt"))), key)
                    .unwrap()
            }
        })
    }

    /// `[server]` keys for TLS with this PKI's server certificate.
    pub(crate) fn server_keys(&self) -> String {
        format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            self.path("server.crt").display(),
            self.path("server.key").display()
        )
    }
}

fn pem_certs(p: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    rustls_pemfile::certs(&mut io::BufReader::new(std::fs::File::open(p).unwrap()))
        .collect::<Result<_, _>>()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// tokio-postgres over rustls

struct Tls(Arc<rustls::ClientConfig>);

struct TlsStream(tokio_rustls::client::TlsStream<TcpStream>);

impl TlsConnect<TcpStream> for Tls {
    type Stream = TlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream>> + Send>>;

    fn connect(self, stream: TcpStream) -> Self::Future {
        Box::pin(async move {
            let name = rustls::pki_types::ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
            Ok(TlsStream(
                tokio_rustls::TlsConnector::from(self.0)
                    .connect(name, stream)
                    .await?,
            ))
        })
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
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

impl tokio_postgres::tls::TlsStream for TlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// One login attempt: from which loopback address, over TLS or not, with or without a password.
pub(crate) struct Login<'a> {
    pub(crate) user: &'a str,
    pub(crate) password: Option<&'a str>,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) from: [u8; 4],
    /// The startup `options` (`-c name=value …`).
    pub(crate) options: Option<&'a str>,
}

impl<'a> Login<'a> {
    pub(crate) fn new(user: &'a str, password: &'a str) -> Self {
        Login {
            user,
            password: Some(password),
            tls: None,
            from: [127, 0, 0, 1],
            options: None,
        }
    }
    pub(crate) fn tls(mut self, tls: &Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls.clone());
        self
    }
    pub(crate) fn from(mut self, from: [u8; 4]) -> Self {
        self.from = from;
        self
    }
}

pub(crate) async fn login(
    s: &TestServer,
    l: Login<'_>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind((IpAddr::from(l.from), 0).into())
        .expect("bind a loopback source address");
    let stream = sock.connect(s.addr).await.expect("tcp connect");
    let mut cfg = tokio_postgres::Config::new();
    cfg.user(l.user).dbname("mesh");
    if let Some(p) = l.password {
        cfg.password(p);
    }
    if let Some(o) = l.options {
        cfg.options(o);
    }
    let client = match l.tls {
        Some(tls) => {
            let (client, conn) = cfg
                .ssl_mode(SslMode::Require)
                .connect_raw(stream, Tls(tls))
                .await?;
            tokio::spawn(conn);
            client
        }
        None => {
            let (client, conn) = cfg
                .ssl_mode(SslMode::Disable)
                .connect_raw(stream, tokio_postgres::NoTls)
                .await?;
            tokio::spawn(conn);
            client
        }
    };
    Ok(client)
}

pub(crate) async fn current_user(c: &tokio_postgres::Client) -> String {
    c.query_one("SELECT current_user", &[])
        .await
        .unwrap()
        .get(0)
}

/// The SQLSTATE and message of a refused login.
pub(crate) fn refusal(
    r: Result<tokio_postgres::Client, tokio_postgres::Error>,
) -> (String, String) {
    let e = r.expect_err("the login is refused");
    let message = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string());
    (code(&e), message)
}

// ---------------------------------------------------------------------------------------------
// The identity provider

pub(crate) struct Idp {
    es256: EcdsaKeyPair,
    rsa: RsaKeyPair,
    /// A key the server does not know, published under the ES256 key's kid.
    impostor: EcdsaKeyPair,
    dir: tempfile::TempDir,
}

fn ec_key() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap()
}

fn b64(v: &[u8]) -> String {
    B64.encode(v)
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Idp {
    pub(crate) fn new() -> Idp {
        let dir = tempfile::tempdir().unwrap();
        openssl(
            dir.path(),
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "rsa.pem",
            ],
        );
        let pem = rustls_pemfile::private_key(&mut io::BufReader::new(
            std::fs::File::open(dir.path().join("rsa.pem")).unwrap(),
        ))
        .unwrap()
        .unwrap();
        let rustls::pki_types::PrivateKeyDer::Pkcs8(der) = pem else {
            panic!("openssl genpkey writes PKCS#8")
        };
        let rsa = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
        let idp = Idp {
            es256: ec_key(),
            rsa,
            impostor: ec_key(),
            dir,
        };
        std::fs::write(
            idp.jwks_path(),
            idp.jwks(&["ec-1", "rsa-1", "rsa-any"]).to_string(),
        )
        .unwrap();
        idp
    }

    pub(crate) fn jwks_path(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    fn ec_jwk(key: &EcdsaKeyPair, kid: &str) -> Value {
        let p = key.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "x": b64(&p[1..33]), "y": b64(&p[33..])})
    }

    /// The public keys, as the IdP publishes them.
    fn jwks(&self, kids: &[&str]) -> Value {
        let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public());
        let mut keys = Vec::new();
        for kid in kids {
            keys.push(match *kid {
                "rsa-1" => json!({"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "n": b64(&c.n), "e": b64(&c.e)}),
                // The same key without an `alg` pin: any RSA algorithm may use it.
                "rsa-any" => json!({"kty": "RSA", "kid": "rsa-any", "n": b64(&c.n), "e": b64(&c.e)}),
                "imp-1" => Self::ec_jwk(&self.impostor, "imp-1"),
                kid => Self::ec_jwk(&self.es256, kid),
            });
        }
        json!({ "keys": keys })
    }

    pub(crate) fn claims(user: &str) -> Value {
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": user, "iat": now(), "exp": now() + 300, "roles": ["analyst", "sales_reader"]})
    }

    /// A compact JWS. `alg` picks the signing key: ES256 (the impostor's for kid `imp-1`),
    /// RS256, or none.
    fn sign(&self, header: Value, claims: &Value) -> String {
        self.sign_as(header, claims, false)
    }

    /// A token that names the real ES256 key but is signed by the impostor's.
    pub(crate) fn forge(&self, claims: &Value) -> String {
        self.sign_as(json!({"alg": "ES256", "kid": "ec-1"}), claims, true)
    }

    fn sign_as(&self, header: Value, claims: &Value, impostor: bool) -> String {
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let sig = match (header["alg"].as_str().unwrap(), header["kid"].as_str()) {
            ("none", _) => Vec::new(),
            (alg @ ("RS256" | "PS256"), _) => {
                let padding: &dyn signature::RsaEncoding = if alg == "RS256" {
                    &signature::RSA_PKCS1_SHA256
                } else {
                    &signature::RSA_PSS_SHA256
                };
                let mut sig = vec![0; self.rsa.public().modulus_len()];
                self.rsa
                    .sign(padding, &rng, signed.as_bytes(), &mut sig)
                    .unwrap();
                sig
            }
            (_, kid) if impostor || kid == Some("imp-1") => self
                .impostor
                .sign(&rng, signed.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            _ => self
                .es256
                .sign(&rng, signed.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
        };
        format!("{signed}.{}", b64(&sig))
    }

    pub(crate) fn es256(&self, claims: &Value) -> String {
        self.sign(json!({"alg": "ES256", "typ": "JWT", "kid": "ec-1"}), claims)
    }

    pub(crate) fn jwt_keys(&self, jwks: &str) -> String {
        format!("[auth.jwt]\n{jwks}\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n")
    }
}

/// A TLS server with `[auth.jwt]` over the IdP's key file. The failed-login limit is off, as
/// these tests make many failures from one address on purpose.
async fn jwt_server(pki: &Pki, idp: &Idp) -> TestServer {
    let extra = format!(
        "{}\n[limits]\nmax_failed_logins = 0\n{}",
        pki.server_keys(),
        idp.jwt_keys(&format!("jwks_file = \"{}\"", idp.jwks_path().display()))
    );
    TestServer::start_with(&tpch().domains_dir, &extra).await
}

// ---------------------------------------------------------------------------------------------
// JWT

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_tokens_log_in_over_tls_and_bad_ones_are_refused() {
    let (pki, idp) = (Pki::new(), Idp::new());
    let s = jwt_server(&pki, &idp).await;
    let tls = pki.client_tls(None);

    // ES256, for a user who is not in [[users]]: in, as that user, and not an admin.
    let token = idp.es256(&Idp::claims("carol"));
    let carol = login(&s, Login::new("carol", &token).tls(&tls))
        .await
        .expect("a good ES256 token logs in");
    assert_eq!(current_user(&carol).await, "carol");
    assert_eq!(
        code(
            &carol
                .query_one("SELECT pg_reload_conf()", &[])
                .await
                .unwrap_err()
        ),
        "42501"
    );
    let row = carol
        .query_one(
            "SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0).as_str(), row.get::<_, bool>(1)),
        ("carol", false),
        "the session sees its own role"
    );
    // RS256, for a listed user; an `aud` array holding ours is fine too.
    let mut claims = Idp::claims(ANALYST.0);
    claims["aud"] = json!(["other-service", AUDIENCE]);
    let token = idp.sign(json!({"alg": "RS256", "kid": "rsa-1"}), &claims);
    let bob = login(&s, Login::new(ANALYST.0, &token).tls(&tls))
        .await
        .expect("a good RS256 token logs in");
    assert_eq!(current_user(&bob).await, ANALYST.0);
    // PS256 with the same RSA key, published without an alg pin.
    let token = idp.sign(
        json!({"alg": "PS256", "kid": "rsa-any"}),
        &Idp::claims(ANALYST.0),
    );
    assert!(
        login(&s, Login::new(ANALYST.0, &token).tls(&tls))
            .await
            .is_ok(),
        "PS256"
    );

    let with = |k: &str, v: Value| {
        let mut c = Idp::claims("carol");
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    };
    let good = Idp::claims("carol");
    let cases = [
        (
            "expired",
            idp.es256(&with("exp", json!(now() - 120))),
            "28P01",
        ),
        ("no exp", idp.es256(&with("exp", Value::Null)), "28P01"),
        (
            "not yet valid",
            idp.es256(&with("nbf", json!(now() + 600))),
            "28P01",
        ),
        (
            "wrong audience",
            idp.es256(&with("aud", json!("another-service"))),
            "28P01",
        ),
        (
            "wrong issuer",
            idp.es256(&with("iss", json!("https://evil.test"))),
            "28P01",
        ),
        (
            "signed by another key under a known kid",
            idp.forge(&good),
            "28P01",
        ),
        (
            "alg none",
            idp.sign(json!({"alg": "none", "kid": "ec-1"}), &good),
            "28P01",
        ),
        (
            "RS256 claimed for the EC key",
            idp.sign(json!({"alg": "RS256", "kid": "ec-1"}), &good),
            "28P01",
        ),
        (
            "PS256 for a key pinned to RS256",
            idp.sign(json!({"alg": "PS256", "kid": "rsa-1"}), &good),
            "28P01",
        ),
        (
            "unknown kid",
            idp.sign(json!({"alg": "ES256", "kid": "imp-1"}), &good),
            "28P01",
        ),
        (
            "token for another user",
            idp.es256(&Idp::claims("dave")),
            "28000",
        ),
    ];
    // A payload swap keeps the header and signature of a good token.
    let forged = {
        let t = idp.es256(&good);
        let parts: Vec<&str> = t.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            b64(Idp::claims("alice").to_string().as_bytes()),
            parts[2]
        )
    };
    for (what, token, want) in cases.iter().map(|(w, t, c)| (*w, t.clone(), *c)).chain([(
        "payload swapped",
        forged,
        "28P01",
    )]) {
        let user = if what == "payload swapped" {
            ADMIN.0
        } else {
            "carol"
        };
        let (got, message) = refusal(login(&s, Login::new(user, &token).tls(&tls)).await);
        assert_eq!(got, want, "{what}: {message}");
        assert_eq!(
            message,
            format!("token authentication failed for user \"{user}\""),
            "{what}"
        );
        assert!(!message.contains(&token), "{what}");
    }

    // The sessions opened before all that are still served, and new ones open.
    assert_eq!(current_user(&carol).await, "carol");
    assert_eq!(
        bob.query_one("SELECT count(*) FROM geo.region", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        5
    );
    let again = login(
        &s,
        Login::new("carol", &idp.es256(&Idp::claims("carol"))).tls(&tls),
    )
    .await
    .unwrap();
    assert_eq!(current_user(&again).await, "carol");

    // A normal password still works over TLS, through the cleartext path; a wrong one does not.
    let alice = login(&s, Login::new(ADMIN.0, ADMIN.1).tls(&tls))
        .await
        .expect("password over TLS");
    assert_eq!(current_user(&alice).await, ADMIN.0);
    let (got, message) = refusal(login(&s, Login::new(ADMIN.0, "wrong").tls(&tls)).await);
    assert_eq!(
        (got.as_str(), message.as_str()),
        ("28P01", "password authentication failed for user \"alice\"")
    );
    // A password with dots is still a password.
    let (got, message) = refusal(login(&s, Login::new(ADMIN.0, "not.a.token").tls(&tls)).await);
    assert_eq!(
        (got.as_str(), message.as_str()),
        ("28P01", "password authentication failed for user \"alice\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_plaintext_tokens_are_not_offered_and_scram_is_used() {
    let (pki, idp) = (Pki::new(), Idp::new());
    let s = jwt_server(&pki, &idp).await;
    // SCRAM as before for listed users…
    let alice = login(&s, Login::new(ADMIN.0, ADMIN.1))
        .await
        .expect("SCRAM over plaintext");
    assert_eq!(current_user(&alice).await, ADMIN.0);
    // …and a token, even a good one, is just a wrong password there.
    for user in ["carol", ADMIN.0] {
        let (got, message) =
            refusal(login(&s, Login::new(user, &idp.es256(&Idp::claims(user)))).await);
        assert_eq!(got, "28P01", "{user}: {message}");
        assert_eq!(
            message,
            format!("password authentication failed for user \"{user}\"")
        );
    }
}

/// A one-file HTTP server for the JWK set: what it serves can be swapped while it runs.
async fn serve_jwks(
    body: Arc<Mutex<String>>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let body = body.lock().unwrap().clone();
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_is_fetched_at_start_and_again_on_reload() {
    let (pki, idp) = (Pki::new(), Idp::new());
    let served = Arc::new(Mutex::new(idp.jwks(&["ec-1"]).to_string()));
    let (addr, http) = serve_jwks(served.clone()).await;
    let extra = format!(
        "{}\n{}",
        pki.server_keys(),
        idp.jwt_keys(&format!("jwks_url = \"http://{addr}/jwks.json\""))
    );
    let s = TestServer::start_with(&tpch().domains_dir, &extra).await;
    let tls = pki.client_tls(None);

    let ec_token = idp.es256(&Idp::claims("carol"));
    let rsa_token = idp.sign(
        json!({"alg": "RS256", "kid": "rsa-1"}),
        &Idp::claims("carol"),
    );
    assert!(login(&s, Login::new("carol", &ec_token).tls(&tls))
        .await
        .is_ok());
    assert_eq!(
        refusal(login(&s, Login::new("carol", &rsa_token).tls(&tls)).await).0,
        "28P01",
        "rsa-1 is not published yet"
    );

    // The IdP rotates to the RSA key; a reload fetches the set again.
    *served.lock().unwrap() = idp.jwks(&["rsa-1"]).to_string();
    s.shared.reload().expect("reload with the new key set");
    assert!(login(&s, Login::new("carol", &rsa_token).tls(&tls))
        .await
        .is_ok());
    assert_eq!(
        refusal(login(&s, Login::new("carol", &ec_token).tls(&tls)).await).0,
        "28P01",
        "ec-1 was withdrawn"
    );

    // A set that cannot be used fails the reload, and the running keys stay.
    *served.lock().unwrap() = "{\"keys\": []}".into();
    assert!(s
        .shared
        .reload()
        .unwrap_err()
        .to_string()
        .contains("no usable signing key"));
    assert!(login(&s, Login::new("carol", &rsa_token).tls(&tls))
        .await
        .is_ok());
    http.abort();
}

#[test]
fn jwt_configuration_errors_name_the_key() {
    let idp = Idp::new();
    let dir = tempfile::tempdir().unwrap();
    let domains = dir.path().join("domains");
    std::fs::create_dir(&domains).unwrap();
    let load = |auth: &str| {
        let path = crate::harness::write_config(dir.path(), &domains, &format!("\n{auth}"));
        meshgate::Config::load(&path)
            .and_then(|c| meshgate::auth::Credentials::build(&c))
            .map(|_| ())
            .map_err(|e| (e.key.clone(), e.to_string()))
    };
    let file = format!("jwks_file = \"{}\"", idp.jwks_path().display());
    assert!(load(&idp.jwt_keys(&file)).is_ok());
    assert_eq!(
        load(&format!("[auth.jwt]\n{file}\naudience = \"a\"\n"))
            .unwrap_err()
            .0,
        "auth.jwt.issuer"
    );
    assert_eq!(
        load("[auth.jwt]\nissuer = \"i\"\naudience = \"a\"\n")
            .unwrap_err()
            .0,
        "auth.jwt.jwks_file"
    );
    assert_eq!(
        load(&idp.jwt_keys("jwks_url = \"http://example.com/jwks\""))
            .unwrap_err()
            .0,
        "auth.jwt.jwks_url"
    );
    std::fs::write(
        dir.path().join("bad.json"),
        "{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}]}",
    )
    .unwrap();
    let (key, text) = load(&idp.jwt_keys("jwks_file = \"bad.json\"")).unwrap_err();
    assert_eq!(key, "auth.jwt.jwks_file");
    assert!(text.contains("no usable signing key"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Client certificates

async fn mtls_server(pki: &Pki, mode: &str) -> TestServer {
    let extra = format!(
        "{}tls_client_ca = \"{}\"\ntls_client_auth = \"{mode}\"\n",
        pki.server_keys(),
        pki.path("ca.crt").display()
    );
    TestServer::start_with(&tpch().domains_dir, &extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_log_in_the_user_they_name() {
    let pki = Pki::new();
    let carol = pki.client("carol", "carol", "ca");
    pki.ca("other-ca");
    let forged = pki.client("forged", "carol", "other-ca");
    let s = mtls_server(&pki, "optional").await;

    // CN = user: in without a password.
    let c = login(
        &s,
        Login {
            password: None,
            ..Login::new("carol", "").tls(&pki.client_tls(Some(&carol)))
        },
    )
    .await
    .expect("certificate login");
    assert_eq!(current_user(&c).await, "carol");
    // The certificate decides even when a (wrong) password is given.
    let c = login(
        &s,
        Login::new("carol", "whatever").tls(&pki.client_tls(Some(&carol))),
    )
    .await
    .unwrap();
    assert_eq!(
        c.query_one("SELECT count(*) FROM geo.region", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        5
    );
    // CN ≠ user: 28000, also for a user whose password is right.
    let (got, message) = refusal(
        login(
            &s,
            Login::new(ADMIN.0, ADMIN.1).tls(&pki.client_tls(Some(&carol))),
        )
        .await,
    );
    assert_eq!(
        (got.as_str(), message.as_str()),
        (
            "28000",
            "certificate authentication failed for user \"alice\""
        )
    );
    // A certificate from a CA the server does not trust ends the TLS handshake.
    let e = login(
        &s,
        Login {
            password: None,
            ..Login::new("carol", "").tls(&pki.client_tls(Some(&forged)))
        },
    )
    .await
    .unwrap_err();
    assert!(
        e.code().is_none(),
        "refused in TLS, before any SQL error: {e}"
    );
    // `optional`: no certificate → passwords as usual, over TLS and in plaintext.
    let a = login(&s, Login::new(ADMIN.0, ADMIN.1).tls(&pki.client_tls(None)))
        .await
        .expect("password over TLS, no certificate");
    assert_eq!(current_user(&a).await, ADMIN.0);
    assert_eq!(current_user(&s.admin().await).await, ADMIN.0);
    assert_eq!(current_user(&c).await, "carol");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_client_certificates_refuse_everyone_else() {
    let pki = Pki::new();
    let alice = pki.client("alice", ADMIN.0, "ca");
    let s = mtls_server(&pki, "required").await;
    let e = login(&s, Login::new(ADMIN.0, ADMIN.1).tls(&pki.client_tls(None)))
        .await
        .unwrap_err();
    assert!(
        e.code().is_none(),
        "no certificate: refused in the TLS handshake: {e}"
    );
    let (got, message) = refusal(login(&s, Login::new(ADMIN.0, ADMIN.1)).await);
    assert_eq!(got, "28000", "plaintext: {message}");
    assert!(message.contains("client certificate"), "{message}");
    let c = login(
        &s,
        Login {
            password: None,
            ..Login::new(ADMIN.0, "").tls(&pki.client_tls(Some(&alice)))
        },
    )
    .await
    .unwrap();
    assert_eq!(current_user(&c).await, ADMIN.0);
    // A listed user logged in by certificate keeps its admin flag.
    assert!(c
        .query_one("SELECT pg_reload_conf()", &[])
        .await
        .unwrap()
        .get::<_, bool>(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_reads_the_client_ca_again() {
    let pki = Pki::new();
    pki.ca("next-ca");
    let old = pki.client("old", "carol", "ca");
    let new = pki.client("new", "carol", "next-ca");
    // The server reads its client CA from a copy, which the test then replaces.
    std::fs::copy(pki.path("ca.crt"), pki.path("clients.crt")).unwrap();
    let extra = format!(
        "{}tls_client_ca = \"{}\"\ntls_client_auth = \"optional\"\n",
        pki.server_keys(),
        pki.path("clients.crt").display()
    );
    let s = TestServer::start_with(&tpch().domains_dir, &extra).await;
    let as_carol = |cert: &str| Login {
        password: None,
        ..Login::new("carol", "").tls(&pki.client_tls(Some(cert)))
    };

    let before = login(&s, as_carol(&old)).await.expect("old CA trusted");
    assert!(login(&s, as_carol(&new)).await.is_err());
    std::fs::copy(pki.path("next-ca.crt"), pki.path("clients.crt")).unwrap();
    s.shared.reload().expect("reload");
    assert_eq!(
        current_user(
            &login(&s, as_carol(&new))
                .await
                .expect("new CA trusted after reload")
        )
        .await,
        "carol"
    );
    assert!(
        login(&s, as_carol(&old)).await.is_err(),
        "old CA no longer trusted"
    );
    assert_eq!(
        current_user(&before).await,
        "carol",
        "sessions from before the reload go on"
    );
}

// ---------------------------------------------------------------------------------------------
// The opt-in ceiling on failed logins per user

async fn limited_server(max: u32, window_secs: u64) -> TestServer {
    let extra = format!(
        "\n[limits]\nmax_failed_logins = {max}\nfailed_login_window_secs = {window_secs}\n\
         failed_login_delay_ms = 1\nfailed_login_max_delay_ms = 10\n"
    );
    TestServer::start_with(&tpch().domains_dir, &extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opt_in_ceiling_refuses_a_user_from_every_address_and_no_one_else() {
    let s = limited_server(3, 60).await;
    const LIMITED: (&str, &str) = ("28000", "too many failed login attempts");

    // Three wrong passwords for bob from three addresses…
    for a in 2..5 {
        assert_eq!(
            refusal(login(&s, Login::new(ANALYST.0, "wrong").from([127, 0, 0, a])).await).0,
            "28P01"
        );
    }
    // …and bob is refused at once from anywhere, even with the right password.
    let (c, m) = refusal(login(&s, Login::new(ANALYST.0, ANALYST.1).from([127, 0, 0, 5])).await);
    assert_eq!((c.as_str(), m.as_str()), LIMITED);
    // Another user from the addresses bob failed from is not affected.
    for a in 2..5 {
        let c = login(&s, Login::new(ADMIN.0, ADMIN.1).from([127, 0, 0, a]))
            .await
            .expect("alice logs in where bob failed");
        assert_eq!(current_user(&c).await, ADMIN.0);
    }
    // Failures of unknown users from one address lock out no one else there.
    for u in ["u1", "u2", "u3", "u4"] {
        assert_eq!(
            refusal(login(&s, Login::new(u, "guess").from([127, 0, 0, 6])).await).0,
            "28P01"
        );
    }
    assert!(login(&s, Login::new(ADMIN.0, ADMIN.1).from([127, 0, 0, 6]))
        .await
        .is_ok());
    // Successful logins elsewhere did not reset bob's count.
    assert_eq!(
        refusal(login(&s, Login::new(ANALYST.0, ANALYST.1).from([127, 0, 0, 7])).await).0,
        "28000"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_age_out_of_the_window() {
    let s = limited_server(2, 1).await;
    for _ in 0..2 {
        assert_eq!(
            refusal(login(&s, Login::new(ANALYST.0, "wrong")).await).0,
            "28P01"
        );
    }
    let started = std::time::Instant::now();
    assert_eq!(
        refusal(login(&s, Login::new(ANALYST.0, ANALYST.1)).await).0,
        "28000"
    );
    // Refused attempts do not extend the lockout: once the window has passed, bob is in.
    let deadline = started + Duration::from_secs(10);
    loop {
        match login(&s, Login::new(ANALYST.0, ANALYST.1)).await {
            Ok(c) => {
                assert_eq!(current_user(&c).await, ANALYST.0);
                break;
            }
            Err(e) => {
                assert_eq!(code(&e), "28000");
                assert!(
                    std::time::Instant::now() < deadline,
                    "still refused after the window"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets stay secret

/// Everything the server logs on this thread while the guard lives. The test runs on a
/// current-thread runtime, so the connection tasks log on this thread too.
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_the_log_or_the_client() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || Captured(sink.clone()))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (pki, idp) = (Pki::new(), Idp::new());
    let s = jwt_server(&pki, &idp).await;
    let tls = pki.client_tls(None);
    let password = "hunter2-not-the-password";
    let good = idp.es256(&Idp::claims("carol"));
    let bad_sig = idp.forge(&Idp::claims("carol"));
    let expired = idp.es256(&{
        let mut c = Idp::claims("carol");
        c["exp"] = json!(now() - 600);
        c
    });
    let for_dave = idp.es256(&Idp::claims("dave"));

    let mut client_saw = Vec::new();
    for (user, secret) in [
        (ADMIN.0, password),
        ("carol", bad_sig.as_str()),
        ("carol", expired.as_str()),
        ("carol", for_dave.as_str()),
    ] {
        let e = login(&s, Login::new(user, secret).tls(&tls))
            .await
            .unwrap_err();
        client_saw.push(format!("{e} {e:?}"));
    }
    // Over plaintext (SCRAM) too.
    let e = login(&s, Login::new(ADMIN.0, password)).await.unwrap_err();
    client_saw.push(format!("{e} {e:?}"));
    let c = login(&s, Login::new("carol", &good).tls(&tls))
        .await
        .unwrap();
    assert_eq!(current_user(&c).await, "carol");
    drop(c);

    let log = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    let secrets: Vec<&str> = [password, &bad_sig, &expired, &for_dave, &good]
        .into_iter()
        // Each part of a token alone: the signature is the secret-bearing part, but none of it
        // belongs in a log.
        .flat_map(|t| t.split('.'))
        .filter(|p| p.len() > 8)
        .collect();
    for secret in &secrets {
        assert!(
            !log.contains(secret),
            "the log holds a secret: {secret}\n{log}"
        );
        for c in &client_saw {
            assert!(!c.contains(secret), "the client saw a secret: {c}");
        }
    }
    // The log says why, with the peer and the user; the client only that it failed.
    for reason in [
        "wrong password",
        "bad signature",
        "expired",
        "token is for user \"dave\"",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains("authentication failed") && l.contains(reason));
        let line = line.unwrap_or_else(|| panic!("no log line for {reason}:\n{log}"));
        assert!(
            line.contains("peer=127.0.0.1:") && line.contains("user="),
            "{line}"
        );
    }
    for c in &client_saw {
        assert!(
            !c.contains("signature") && !c.contains("expired") && !c.contains("dave"),
            "the client learns why: {c}"
        );
    }
    let started = log
        .lines()
        .find(|l| l.contains("session started"))
        .expect("session started is logged");
    assert!(
        started.contains("auth=\"jwt\"") && started.contains("analyst,sales_reader"),
        "{started}"
    );
}

// ---------------------------------------------------------------------------------------------
// libpq

/// psql (libpq) with a token as PGPASSWORD, and with a client certificate, on one server that
/// has both; the server certificate is verified (`verify-full`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_logs_in_with_a_token_and_with_a_certificate() {
    let (pki, idp) = (Pki::new(), Idp::new());
    let carol = pki.client("carol", "carol", "ca");
    let extra = format!(
        "{}tls_client_ca = \"{}\"\ntls_client_auth = \"optional\"\n{}",
        pki.server_keys(),
        pki.path("ca.crt").display(),
        idp.jwt_keys(&format!("jwks_file = \"{}\"", idp.jwks_path().display()))
    );
    let s = TestServer::start_with(&tpch().domains_dir, &extra).await;
    let psql = |conn: String, password: Option<String>| {
        let mut cmd = tokio::process::Command::new("psql");
        cmd.args(["-X", "-At", "-d", &conn, "-c", "SELECT current_user"])
            .env_remove("PGPASSWORD")
            .env("PGCONNECT_TIMEOUT", "10");
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
        async move {
            let out = cmd.output().await.expect("psql runs");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).trim().to_string(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let base = |user: &str| {
        format!(
            "host=127.0.0.1 port={} dbname=mesh user={user} sslmode=verify-full sslrootcert={}",
            s.addr.port(),
            pki.path("ca.crt").display()
        )
    };
    let (ok, out, err) = psql(base("carol"), Some(idp.es256(&Idp::claims("carol")))).await;
    assert!(ok, "{err}");
    assert_eq!(out, "carol");
    let (ok, _, err) = psql(base("carol"), Some(idp.es256(&Idp::claims("dave")))).await;
    assert!(!ok);
    assert!(
        err.contains("token authentication failed for user \"carol\""),
        "{err}"
    );
    let with_cert = format!(
        "{} sslcert={} sslkey={}",
        base("carol"),
        pki.path(&format!("{carol}.crt")).display(),
        pki.path(&format!("{carol}.key")).display()
    );
    let (ok, out, err) = psql(with_cert, None).await;
    assert!(ok, "{err}");
    assert_eq!(out, "carol");
}
