//! The reference PostgreSQL that meshgate's answers are measured against (differential and
//! TPC-H tests): one server per test binary, on a unix socket only (no port to collide with),
//! started and loaded with the fixture's TPC-H tables on first use (see `pg_server`).

use std::sync::OnceLock;

use crate::harness::tpch;
use crate::pg_server::{self, PgServer};

/// The reference server, started and loaded on first use.
pub fn reference() -> &'static PgServer {
    static REF: OnceLock<PgServer> = OnceLock::new();
    REF.get_or_init(|| {
        let baseline = tpch().baseline_dir.clone();
        let reference = pg_server::start(false);
        let conn = reference.conn_string();
        // Its own runtime on its own thread: the caller may be inside a runtime already.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(pg_server::load(&conn, &baseline))
        })
        .join()
        .expect("loader thread");
        reference
    })
}
