//! The web catalog on a mesh of 1,000 tables: how long a person waits for each page.
//!
//!     cargo bench --bench web_catalog -- [--domains 50] [--tables-per-domain 20] [--runs 30]
//!
//! Builds a mesh of 50 domains × 4 products × 5 small Parquet tables (written with the arrow
//! writer), starts meshgate in-process with the default configuration plus `http_listen`,
//! waits for the start-up warm-up to have read every table's metadata (the steady state), signs
//! in over HTTP and times the home page, a search, a product page and a table page: the median
//! of `runs` requests after 3 of warm-up, as the admin (who owns every product, so the product
//! page also lists its access requests) and as a user granted half of the products. The goal
//! is 50 ms a page; the table page also runs its 20-row preview and version history through
//! the engine. Not a test: it asserts nothing about time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

/// The goal for a page on a 1,000-table mesh.
const GOAL: Duration = Duration::from_millis(50);
const PRODUCTS_PER_DOMAIN: usize = 4;

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} N")))
}

/// One small Parquet file per table, each with its own values.
fn write_table(path: &Path, seed: i64) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer_name", DataType::Utf8, true),
        Field::new("amount_cents", DataType::Int64, true),
    ]));
    let ids: Vec<i64> = (0..50).map(|i| seed * 1000 + i).collect();
    let names: Vec<String> = ids.iter().map(|i| format!("customer {i}")).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from(names)),
            Arc::new(Int64Array::from(
                ids.iter().map(|i| i * 7 % 10_000).collect::<Vec<_>>(),
            )),
        ],
    )
    .expect("batch");
    let file = std::fs::File::create(path).expect("create parquet");
    let mut w =
        datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
}

/// `domains` domains of 4 products sharing `per_domain` tables; products with an even index
/// are granted to the role `reader`. Returns the configuration file.
fn build_mesh(root: &Path, domains: usize, per_domain: usize) -> PathBuf {
    let data = root.join("data");
    let dir = root.join("domains");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let per_product = per_domain.div_ceil(PRODUCTS_PER_DOMAIN);
    let mut seed = 0;
    for d in 0..domains {
        let mut text = format!(
            "name = \"d{d}\"\ndescription = \"Domain {d}: orders and customers of region {d}.\"\nowners = [\"owner{d}\"]\n[storage]\nroot = \"{}\"\n",
            data.display()
        );
        let mut grants = String::new();
        let mut made = 0;
        for p in 0..PRODUCTS_PER_DOMAIN {
            let product = format!("p{d}_{p}");
            text += &format!(
                "[[products]]\nname = \"{product}\"\ndescription = \"Product {product}.\"\nowner = \"owner{d}\"\ntags = [\"region-{d}\", \"bench\"]\n"
            );
            for t in 0..per_product {
                if made == per_domain {
                    break;
                }
                made += 1;
                seed += 1;
                let tdir = data.join(&product).join(format!("t_{t}"));
                std::fs::create_dir_all(&tdir).expect("mkdir table");
                write_table(&tdir.join("part-0.parquet"), seed);
                text += &format!(
                    "[[products.tables]]\nname = \"t_{t}\"\nformat = \"parquet\"\nlocation = \"{product}/t_{t}\"\ndescription = \"Table {t} of {product}.\"\ncolumns = {{ id = \"Identifier.\", amount_cents = \"Amount in cents.\" }}\n"
                );
            }
            if p % 2 == 0 {
                grants += &format!("[[grants]]\nproduct = \"{product}\"\nto = [\"reader\"]\n");
            }
        }
        std::fs::write(dir.join(format!("d{d}.toml")), text + &grants).expect("write domain");
    }
    let v = meshgate::auth::ScramVerifier::generate("bench", 4096);
    let conf = root.join("meshgate.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\n[[roles]]\nname = \"reader\"\n\
             [[users]]\nname = \"admin\"\npassword = \"{v}\"\nadmin = true\n\
             [[users]]\nname = \"half\"\npassword = \"{v}\"\nroles = [\"reader\"]\n[domains]\ndir = \"{}\"\n",
            dir.display()
        ),
    )
    .expect("write config");
    conf
}

/// A `name=value` of the response's Set-Cookie headers.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next()?.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Signs in through the form; the session cookie.
async fn sign_in(http: &reqwest::Client, base: &str, user: &str) -> String {
    let r = http
        .get(format!("{base}/signin"))
        .send()
        .await
        .expect("GET /signin");
    let token = set_cookie(&r, "meshgate_signin").expect("sign-in cookie");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("user", user)
        .append_pair("password", "bench")
        .append_pair("csrf", &token)
        .finish();
    let r = http
        .post(format!("{base}/signin"))
        .header(reqwest::header::COOKIE, format!("meshgate_signin={token}"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .expect("POST /signin");
    assert_eq!(
        r.status(),
        reqwest::StatusCode::SEE_OTHER,
        "sign-in of {user}"
    );
    set_cookie(&r, "meshgate_session").expect("session cookie")
}

/// The median time of `runs` requests for `path`, after 3 unmeasured ones, and the page size.
async fn median(
    http: &reqwest::Client,
    base: &str,
    session: &str,
    path: &str,
    runs: usize,
) -> (Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    for i in 0..runs + 3 {
        let t = Instant::now();
        let r = http
            .get(format!("{base}{path}"))
            .header(
                reqwest::header::COOKIE,
                format!("meshgate_session={session}"),
            )
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
        size = r.bytes().await.expect("body").len();
        if i >= 3 {
            times.push(t.elapsed());
        }
    }
    times.sort();
    (times[runs / 2], size)
}

#[tokio::main]
async fn main() {
    meshgate::tls::install_crypto_provider();
    let domains = arg("--domains").unwrap_or(50);
    let per_domain = arg("--tables-per-domain").unwrap_or(20);
    let runs = arg("--runs").unwrap_or(30);
    let dir = tempfile::tempdir().expect("tempdir");
    let t = Instant::now();
    let conf = build_mesh(dir.path(), domains, per_domain);
    println!(
        "web catalog benchmark: {} tables ({domains} domains × {PRODUCTS_PER_DOMAIN} products), written in {:.1} s; median of {runs} requests after 3",
        domains * per_domain,
        t.elapsed().as_secs_f64()
    );

    let config = meshgate::Config::load(&conf).expect("config");
    let shared = meshgate::server::Server::new(config).expect("server");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let s2 = shared.clone();
    tokio::spawn(async move { meshgate::serve_with(listener, s2, std::future::pending()).await });
    let t = Instant::now();
    let http_addr = loop {
        if let Some(a) = shared.http_addr() {
            break a;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no HTTP port");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let base = format!("http://{http_addr}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client");
    let admin = sign_in(&http, &base, "admin").await;
    // The first page after start, before the warm-up has read any table.
    let t = Instant::now();
    let r = http
        .get(format!("{base}/"))
        .header(reqwest::header::COOKIE, format!("meshgate_session={admin}"))
        .send()
        .await
        .expect("GET /");
    r.bytes().await.expect("body");
    println!(
        "  first home page right after start: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    // The steady state: every table's metadata read by the background warm-up.
    let mesh = shared.mesh();
    let all: Vec<_> = mesh
        .products
        .values()
        .flat_map(|p| p.tables.values().cloned())
        .collect();
    let t = Instant::now();
    while all.iter().any(|t| t.known().is_none()) {
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "warm-up did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "  warm-up read {} tables in {:.2} s",
        all.len(),
        t.elapsed().as_secs_f64()
    );
    let half = sign_in(&http, &base, "half").await;

    let pages = [
        ("home page", "/".to_string()),
        (
            "search (column name, every table)",
            "/?q=customer_name".to_string(),
        ),
        ("search (one tag)", "/?q=region-37".to_string()),
        ("product page", "/products/p25_2".to_string()),
        (
            "table page (with preview, history)",
            "/products/p25_2/tables/t_1".to_string(),
        ),
        ("API: all products (JSON)", "/api/v1/products".to_string()),
    ];
    println!();
    println!(
        "{:<38} {:>10} {:>10} {:>10} {:>12}",
        "page", "admin ms", "half ms", "KiB", "admin/goal"
    );
    for (name, path) in &pages {
        let (a, size) = median(&http, &base, &admin, path, runs).await;
        let (h, _) = median(&http, &base, &half, path, runs).await;
        println!(
            "{:<38} {:>10.2} {:>10.2} {:>10.1} {:>12.2}",
            name,
            a.as_secs_f64() * 1e3,
            h.as_secs_f64() * 1e3,
            size as f64 / 1024.0,
            a.as_secs_f64() / GOAL.as_secs_f64()
        );
    }
}
