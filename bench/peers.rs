//! Two gateways across a jurisdiction against one gateway reading everything: time, and the
//! bytes that cross the border.
//!
//!     cargo bench --bench peers -- [--sf 0.1] [--dir DIR] [--runs 5] [--rtt-ms 80] [--mbit 100]
//!
//! Generates (or reuses, with `--dir`) the demo's TPC-H mesh, puts its sales domain (Delta:
//! orders, lineitem, customer) in jurisdiction `eu` with `export = "aggregates"`, and starts two
//! gateways in-process on loopback with mutual TLS between them: `eu`, which reads sales, and
//! `us`, which reads supply and geo and asks `eu` for sales aggregates. For each TPC-H-shaped
//! aggregate query it prints the median time through `us` (two gateways) and through `eu` alone
//! (one gateway reading everything, the baseline, in the same run), the ratio, the bytes of
//! result rows that crossed from `eu` to `us` (the `eu` gateway's audit), and the bytes a single
//! gateway in `us` would have pulled across from the sales bucket instead (the storage bytes
//! the statement scanned there). It then projects the two-gateway time onto a real
//! inter-region link: one round trip per statement sent to the peer (parse, bind and execute
//! go together) and the crossing bytes at the link's bandwidth. Not a test: it asserts nothing
//! about time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[allow(dead_code)]
#[path = "common.rs"]
mod common;
use common::{connect, serve};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const QUERIES: &[(&str, &str)] = &[
    (
        "pricing summary (q1 shape)",
        "SELECT l_returnflag, l_linestatus, sum(l_quantity), sum(l_extendedprice), \
         avg(l_discount), count(*) FROM sales.lineitem WHERE l_shipdate <= DATE '1998-09-02' \
         GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    (
        "orders per month",
        "SELECT date_trunc('month', o_orderdate) AS month, count(*), sum(o_totalprice) \
         FROM sales.orders GROUP BY 1 ORDER BY 1",
    ),
    (
        "revenue per nation (eu aggregate joined in us)",
        "WITH r AS (SELECT c_nationkey, sum(o_totalprice) AS revenue FROM sales.orders \
         JOIN sales.customer ON o_custkey = c_custkey GROUP BY 1) \
         SELECT n_name, revenue FROM r JOIN geo.nation ON n_nationkey = c_nationkey ORDER BY 2 DESC",
    ),
    (
        "shipping modes (q12 shape)",
        "SELECT l_shipmode, \
         sum(CASE WHEN o_orderpriority IN ('1-URGENT', '2-HIGH') THEN 1 ELSE 0 END) AS high, \
         sum(CASE WHEN o_orderpriority NOT IN ('1-URGENT', '2-HIGH') THEN 1 ELSE 0 END) AS low \
         FROM sales.orders JOIN sales.lineitem ON o_orderkey = l_orderkey \
         WHERE l_shipmode IN ('MAIL', 'SHIP') AND l_commitdate < l_receiptdate \
         AND l_shipdate < l_commitdate AND l_receiptdate >= DATE '1994-01-01' \
         AND l_receiptdate < DATE '1995-01-01' GROUP BY 1 ORDER BY 1",
    ),
    (
        "revenue per supplier nation (1,000s of eu groups joined in us)",
        "WITH s AS (SELECT l_suppkey, sum(l_extendedprice * (1 - l_discount)) AS revenue \
         FROM sales.lineitem GROUP BY 1) \
         SELECT s_nationkey, sum(revenue) FROM s JOIN supply.supplier ON s_suppkey = l_suppkey \
         GROUP BY 1 ORDER BY 1",
    ),
];

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and one certificate per gateway, for its server and as a client of the other.
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-days",
        "1",
        "-subj",
        "/CN=bench ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(dir, &ca);
    for name in ["gateway-eu", "gateway-us"] {
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                 extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:{name},IP:127.0.0.1\n"
            ),
        )
        .unwrap();
        let (key, csr, crt, subj) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("/CN={name}"),
        );
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-subj", &subj, "-keyout", &key, "-out", &csr]);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
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
}

/// The demo's domain files, sales in jurisdiction `eu` with its rules.
fn domains(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap().path();
        let mut text = std::fs::read_to_string(&f).unwrap();
        if f.file_name().unwrap() == "sales.toml" {
            text = format!(
                "jurisdiction = \"eu\"\n{text}\n[products.residency]\nexport = \"aggregates\"\n\
                 min_group_size = 10\nnever_export = [\"customer.c_name\", \"customer.c_phone\"]\n"
            );
        }
        std::fs::write(to.join(f.file_name().unwrap()), text).unwrap();
    }
}

/// meshgate.toml of the gateway of `region`, whose peer is `peer` on `peer_port`.
fn config(
    dir: &Path,
    certs: &Path,
    domains: &Path,
    region: &str,
    peer: &str,
    peer_port: u16,
) -> PathBuf {
    let v = meshgate::auth::ScramVerifier::generate("bench", 4096);
    let c = |n: &str| certs.join(n).display().to_string();
    let own = format!("gateway-{region}");
    let path = dir.join(format!("{region}.toml"));
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nregion = \"{region}\"\n\
             tls_cert = \"{cert}\"\ntls_key = \"{key}\"\ntls_client_ca = \"{ca}\"\n\
             tls_client_auth = \"optional\"\n\n\
             [[peers]]\nregion = \"{peer}\"\naddress = \"127.0.0.1:{peer_port}\"\nname = \"gateway-{peer}\"\n\
             ca_file = \"{ca}\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n\n\
             [audit]\nsink = \"file\"\npath = \"{audit}\"\n\n\
             [[users]]\nname = \"bench\"\npassword = \"{v}\"\nroles = [\"analyst\", \"buyer\"]\n\n\
             {roles}\n[domains]\ndir = \"{domains}\"\n",
            cert = c(&format!("{own}.crt")),
            key = c(&format!("{own}.key")),
            ca = c("ca.crt"),
            audit = dir.join(format!("{region}-audit.jsonl")).display(),
            roles = meshgate_demo::ROLES_TOML,
            domains = domains.display(),
        ),
    )
    .unwrap();
    path
}

fn events(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line"))
        .collect()
}

/// The next `n` events of an audit file after the first `seen` (written asynchronously).
async fn next_events(path: &Path, seen: usize, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = events(path);
        if e.len() >= seen + n {
            return e[seen..].to_vec();
        }
        assert!(
            Instant::now() < deadline,
            "audit events of {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn median(c: &tokio_postgres::Client, sql: &str, runs: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        c.simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sf: f64 = arg("--sf", 0.1);
    let runs: usize = arg("--runs", 5);
    let rtt_ms: f64 = arg("--rtt-ms", 80.0);
    let mbit: f64 = arg("--mbit", 100.0);
    let scratch = tempfile::tempdir().expect("tempdir");
    let data_dir: PathBuf = arg("--dir", scratch.path().join("mesh"));
    let layout = meshgate_demo::generate(&meshgate_demo::DemoOptions {
        dir: data_dir,
        scale_factor: sf,
    })
    .await
    .expect("demo mesh");
    let work = scratch.path();
    certificates(work);
    let doms = work.join("domains");
    domains(&layout.domains_dir, &doms);
    meshgate::tls::install_crypto_provider();
    let eu = serve(&config(work, work, &doms, "eu", "us", 9)).await;
    let us = serve(&config(work, work, &doms, "us", "eu", eu.port)).await;
    let eu_audit = work.join("eu-audit.jsonl");
    let at_eu = connect(eu.port, "bench").await;
    let at_us = connect(us.port, "bench").await;

    println!("TPC-H SF {sf}: sales (Delta) in jurisdiction eu; supply and geo read in us");
    println!(
        "{:<62} {:>10} {:>10} {:>7} {:>12} {:>14} {:>12}",
        "query", "one gw ms", "two gw ms", "ratio", "crossed B", "bucket B", "projected ms"
    );
    let (mut one_total, mut two_total, mut crossed_total, mut bucket_total) =
        (0.0, 0.0, 0u64, 0u64);
    for (name, sql) in QUERIES {
        // Warm both paths (metadata, the peer link's connections).
        at_eu
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        at_us
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        let one = median(&at_eu, sql, runs).await;
        let two = median(&at_us, sql, runs).await;
        // One more run through us, whose statement at eu is audited on its own.
        let seen = events(&eu_audit).len();
        at_us.simple_query(sql).await.unwrap();
        let peer = next_events(&eu_audit, seen, 1).await;
        let peer = peer
            .iter()
            .find(|e| e["gateway"] == "us")
            .expect("the statement us sent");
        let crossed = peer["bytes_sent"].as_u64().unwrap_or(0);
        let bucket: u64 = peer["bytes_scanned"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0);
        let projected = ms(two) + rtt_ms + crossed as f64 * 8.0 / (mbit * 1e6) * 1000.0;
        println!(
            "{:<62} {:>10.1} {:>10.1} {:>7.2} {:>12} {:>14} {:>12.0}",
            name,
            ms(one),
            ms(two),
            ms(two) / ms(one),
            crossed,
            bucket,
            projected
        );
        one_total += ms(one);
        two_total += ms(two);
        crossed_total += crossed;
        bucket_total += bucket;
    }
    println!(
        "total: one gateway {one_total:.0} ms, two gateways {two_total:.0} ms ({:.2}x); \
         {crossed_total} bytes crossed instead of {bucket_total} bytes of sales storage \
         ({:.0}x less)",
        two_total / one_total,
        bucket_total as f64 / crossed_total.max(1) as f64
    );
    println!(
        "projection for a {rtt_ms} ms round trip at {mbit} Mbit/s: +{:.0} ms per statement sent \
         (1 round trip) plus the crossing bytes; a single us gateway pulling the bucket's bytes \
         would add {:.1} s at that bandwidth",
        rtt_ms,
        bucket_total as f64 * 8.0 / (mbit * 1e6)
    );
}
