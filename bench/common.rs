//! What the benchmarks share: meshgate in-process on an ephemeral port, and clients of it.

use std::path::Path;
use std::sync::Arc;

pub struct Server {
    pub port: u16,
    pub shared: Arc<meshgate::server::Server>,
}

pub async fn serve(conf: &Path) -> Server {
    let config = meshgate::Config::load(conf).expect("config");
    let shared = meshgate::server::Server::new(config).expect("server");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let s2 = shared.clone();
    tokio::spawn(async move { meshgate::serve_with(listener, s2, std::future::pending()).await });
    Server { port, shared }
}

/// A client of the benchmark's users, whose password is always `bench`.
pub async fn connect(port: u16, user: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user={user} password=bench dbname=mesh"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(conn);
    c
}
