//! Residency rules, enforced by the gateway of the data's jurisdiction on what a peer gateway
//! asks for on behalf of a consumer of another region. The peer gateway here is a client that
//! speaks as one does: mutual TLS with a gateway certificate, the user named at startup.

use crate::harness::{code, rows, tpch, TestServer, ANALYST, REGIONAL};
use crate::identity::{login, Login, Pki};

const RULES: &str = r#"
[products.residency]
export = "aggregates"
min_group_size = 10
never_export = ["customer.c_name", "customer.c_address"]
"#;

/// An `eu` gateway over the TPC-H fixture whose sales domain is in jurisdiction `eu` with
/// [`RULES`], which knows a `us` peer by its certificate name.
async fn eu_gateway(pki: &Pki) -> (TestServer, tempfile::TempDir) {
    let domains = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&tpch().domains_dir).unwrap() {
        let f = f.unwrap().path();
        let mut text = std::fs::read_to_string(&f).unwrap();
        if f.file_name().unwrap() == "sales.toml" {
            text = format!("jurisdiction = \"eu\"\n{text}\n{RULES}");
        }
        std::fs::write(domains.path().join(f.file_name().unwrap()), text).unwrap();
    }
    pki.client("us-gateway", "gateway-us", "ca");
    let extra = format!(
        "{}tls_client_ca = \"{ca}\"\ntls_client_auth = \"optional\"\nregion = \"eu\"\n\n\
         [[peers]]\nregion = \"us\"\naddress = \"127.0.0.1:9\"\nname = \"gateway-us\"\n\
         ca_file = \"{ca}\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n",
        pki.server_keys(),
        ca = pki.path("ca.crt").display(),
        cert = pki.path("server.crt").display(),
        key = pki.path("server.key").display(),
    );
    (
        TestServer::start_with(domains.path(), &extra).await,
        domains,
    )
}

/// A session the `us` gateway opens for `user`.
async fn as_peer(s: &TestServer, pki: &Pki, user: &str) -> tokio_postgres::Client {
    login(
        s,
        Login {
            password: None,
            ..Login::new(user, "").tls(&pki.client_tls(Some("us-gateway")))
        },
    )
    .await
    .expect("a peer gateway's certificate logs its user in")
}

async fn refused(c: &tokio_postgres::Client, sql: &str) -> String {
    let e = c
        .simple_query(sql)
        .await
        .expect_err(&format!("{sql} is refused"));
    assert_eq!(code(&e), "42501", "{sql}: {e:?}");
    e.as_db_error().unwrap().message().to_string()
}

/// Decimal texts without trailing zeros after the point (`4566.6970` is `4566.697`).
fn untrailed(rows: &[Vec<Option<String>>]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|v| {
                    v.as_ref().map(|v| match v.split_once('.') {
                        Some((i, f)) if f.chars().all(|c| c.is_ascii_digit()) => {
                            let f = f.trim_end_matches('0');
                            if f.is_empty() {
                                i.to_string()
                            } else {
                                format!("{i}.{f}")
                            }
                        }
                        _ => v.clone(),
                    })
                })
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_large_enough_aggregates_leave_the_jurisdiction() {
    let pki = Pki::new();
    let (s, _domains) = eu_gateway(&pki).await;
    let peer = as_peer(&s, &pki, ANALYST.0).await;
    let local = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();

    // Grouped aggregates leave, and are what the gateway answers its own users.
    for sql in [
        "SELECT c_nationkey, count(*), sum(c_acctbal) FROM sales.customer GROUP BY 1 ORDER BY 1",
        "SELECT o_orderstatus, count(*), avg(o_totalprice) FROM sales.orders o \
         JOIN sales.customer c ON o.o_custkey = c.c_custkey GROUP BY 1 HAVING count(*) > 0 ORDER BY 1",
        "SELECT count(*) FROM sales.lineitem",
    ] {
        let got = rows(&peer, sql).await;
        assert!(!got.is_empty(), "{sql}");
        assert_eq!(got, rows(&local, sql).await, "{sql}");
    }
    // Other domains' tables (no jurisdiction) are not restricted.
    assert_eq!(
        rows(&peer, "SELECT n_name FROM geo.nation WHERE n_nationkey = 7")
            .await
            .len(),
        1
    );

    // Rows themselves do not leave.
    let m = refused(&peer, "SELECT c_custkey, c_acctbal FROM sales.customer").await;
    assert_eq!(
        m,
        "sales.customer: only aggregates of at least 10 rows may leave jurisdiction eu"
    );
    refused(
        &peer,
        "SELECT o_orderkey FROM sales.orders ORDER BY 1 LIMIT 1",
    )
    .await;
    // An aggregate joined back to raw rows is raw rows.
    refused(
        &peer,
        "SELECT o.o_orderkey, t.n FROM sales.orders o CROSS JOIN (SELECT count(*) AS n FROM sales.customer) t LIMIT 3",
    )
    .await;
    // Aggregates that return the values they aggregate are rows too.
    let m = refused(
        &peer,
        "SELECT c_nationkey, array_agg(c_custkey) FROM sales.customer GROUP BY 1",
    )
    .await;
    assert!(m.contains("array_agg"), "{m}");

    // A group of fewer than 10 rows is refused as a whole, before any row is sent.
    let m = refused(
        &peer,
        "SELECT c_mktsegment, count(*) FROM sales.customer WHERE c_custkey <= 30 GROUP BY 1",
    )
    .await;
    assert_eq!(
        m,
        "sales.customer: only aggregates of at least 10 rows may leave jurisdiction eu"
    );
    refused(
        &peer,
        "SELECT count(*) FROM sales.orders WHERE o_custkey = 1",
    )
    .await;
    // The catalog says what leaves, to everyone who may see the product.
    assert_eq!(
        rows(
            &local,
            "SELECT d.jurisdiction, p.jurisdiction, p.residency FROM mesh.data_products p \
                      JOIN mesh.domains d ON d.name = p.domain WHERE p.product = 'sales'"
        )
        .await,
        vec![vec![
            Some("eu".to_string()),
            Some("eu".to_string()),
            Some(
                "only aggregates of at least 10 rows; never customer.c_name, customer.c_address"
                    .to_string()
            ),
        ]]
    );
    // The same query over enough rows answers.
    assert_eq!(
        rows(
            &peer,
            "SELECT count(*) FROM sales.orders WHERE o_custkey <= 100"
        )
        .await,
        rows(
            &local,
            "SELECT count(*) FROM sales.orders WHERE o_custkey <= 100"
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_export_columns_leave_by_no_path() {
    let pki = Pki::new();
    let (s, _domains) = eu_gateway(&pki).await;
    let peer = as_peer(&s, &pki, ANALYST.0).await;
    for sql in [
        "SELECT * FROM sales.customer",
        "SELECT c_name, count(*) FROM sales.customer GROUP BY 1",
        "SELECT count(DISTINCT c_name) FROM sales.customer",
        "SELECT max(length(c_address)) FROM sales.customer",
        "SELECT c_nationkey, count(*) FROM sales.customer GROUP BY 1 ORDER BY max(c_address)",
        "SELECT count(*) FROM sales.customer WHERE c_name = 'Customer#000000001'",
        "SELECT count(*) FROM sales.orders WHERE o_custkey IN \
         (SELECT c_custkey FROM sales.customer WHERE c_address LIKE '1%')",
        "SELECT count(*) FROM sales.orders o WHERE EXISTS \
         (SELECT 1 FROM sales.customer c WHERE c.c_custkey = o.o_custkey AND c.c_name LIKE '%1')",
        // An error message could carry a value: refused before anything runs.
        "SELECT count(*) FROM sales.customer WHERE c_name::int > 0",
    ] {
        let m = refused(&peer, sql).await;
        assert!(
            m.contains("may never leave jurisdiction eu") && !m.contains("Customer#"),
            "{sql}: {m}"
        );
    }
    // EXPLAIN shows plans, with their filters: not for a peer.
    refused(&peer, "EXPLAIN SELECT count(*) FROM sales.customer").await;
    // Nor writes.
    refused(&peer, "CREATE TEMP TABLE t AS SELECT 1 AS x").await;
    // The session goes on after each refusal.
    assert_eq!(
        rows(&peer, "SELECT 1").await,
        vec![vec![Some("1".to_string())]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_user_gets_their_own_row_filters_and_masks() {
    let pki = Pki::new();
    let (s, _domains) = eu_gateway(&pki).await;
    // `regional` sees only the customers of the region in their attributes.
    let peer = as_peer(&s, &pki, REGIONAL.0).await;
    let local = s.connect_as(REGIONAL.0, REGIONAL.1).await.unwrap();
    let sql = "SELECT c_nationkey, count(*) FROM sales.customer GROUP BY 1 ORDER BY 1";
    let got = rows(&peer, sql).await;
    assert_eq!(got, rows(&local, sql).await);
    let admin = s.admin().await;
    assert!(
        got.len() < rows(&admin, sql).await.len(),
        "the row filter applied: {got:?}"
    );
    // A user the peer vouches for is no more than that user: no grant, no rows.
    let stranger = as_peer(&s, &pki, "mallory").await;
    refused(&stranger, "SELECT count(*) FROM sales.customer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_peer_gateway_passes_on_login_roles() {
    let pki = Pki::new();
    let (s, _domains) = eu_gateway(&pki).await;
    // A user the peer knows from a token, with the token's roles: they count here too.
    let sql = "SELECT count(*) FROM sales.orders";
    let without = as_peer(&s, &pki, "tina").await;
    refused(&without, sql).await;
    let with = login(
        &s,
        Login {
            password: None,
            options: Some("-c mesh.login_roles=analyst"),
            ..Login::new("tina", "").tls(&pki.client_tls(Some("us-gateway")))
        },
    )
    .await
    .expect("the peer logs tina in with her roles");
    assert_eq!(rows(&with, sql).await.len(), 1);

    let e = tokio_postgres::connect(
        &format!(
            "{} options='-c mesh.login_roles=analyst'",
            s.conn_string("mallory-not-a-peer", "x")
        ),
        tokio_postgres::NoTls,
    )
    .await
    .err()
    .expect("no such user, and no peer");
    assert!(code(&e) == "28P01" || code(&e) == "42501", "{e:?}");
    let c = tokio_postgres::connect(
        &format!(
            "{} options='-c mesh.login_roles=buyer'",
            s.conn_string(ANALYST.0, ANALYST.1)
        ),
        tokio_postgres::NoTls,
    )
    .await;
    let e = c.err().expect("a user cannot give themselves roles");
    assert_eq!(code(&e), "42501", "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Two gateways

/// A gateway's certificate, for its server and as a client of its peers.
fn gateway_cert(pki: &Pki, region: &str) -> String {
    let name = format!("gateway-{region}");
    pki.leaf(
        &name,
        &name,
        "ca",
        &format!(
            "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:{name},IP:127.0.0.1\n"
        ),
    );
    name
}

/// The fixture's domain files with sales in jurisdiction `eu` under [`RULES`]; `sales_root`
/// replaces the sales storage root (None: keep it).
pub(crate) fn domains(sales_root: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&tpch().domains_dir).unwrap() {
        let f = f.unwrap().path();
        let mut text = std::fs::read_to_string(&f).unwrap();
        if f.file_name().unwrap() == "sales.toml" {
            if let Some(root) = sales_root {
                let old = text
                    .lines()
                    .find(|l| l.starts_with("root = "))
                    .unwrap()
                    .to_string();
                text = text.replace(&old, &format!("root = \"{root}\""));
            }
            text = format!("jurisdiction = \"eu\"\n{text}\n{RULES}");
        }
        std::fs::write(dir.path().join(f.file_name().unwrap()), text).unwrap();
    }
    dir
}

/// `[server]` keys and `[[peers]]` of the gateway of `region` with certificate `cert`, whose
/// peer `peer_region` listens on `peer_port`.
fn gateway_keys(pki: &Pki, region: &str, peer_region: &str, peer_port: u16) -> String {
    let cert = format!("gateway-{region}");
    format!(
        "tls_cert = \"{c}\"\ntls_key = \"{k}\"\ntls_client_ca = \"{ca}\"\ntls_client_auth = \"optional\"\n\
         region = \"{region}\"\n\n\
         [[peers]]\nregion = \"{peer_region}\"\naddress = \"127.0.0.1:{peer_port}\"\nname = \"gateway-{peer_region}\"\n\
         ca_file = \"{ca}\"\ncert_file = \"{c}\"\nkey_file = \"{k}\"\nconnect_timeout_ms = 2000\n",
        c = pki.path(&format!("{cert}.crt")).display(),
        k = pki.path(&format!("{cert}.key")).display(),
        ca = pki.path("ca.crt").display(),
    )
}

struct TwoGateways {
    eu: TestServer,
    us: TestServer,
    /// Each gateway's audit file.
    eu_audit: std::path::PathBuf,
    us_audit: std::path::PathBuf,
    _pki: Pki,
    _dirs: [tempfile::TempDir; 3],
}

fn audit_to(path: &std::path::Path) -> String {
    format!(
        "\n[audit]\nsink = \"file\"\npath = \"{}\"\n",
        path.display()
    )
}

/// An `eu` gateway serving the sales domain, and a `us` gateway that reads it through `eu`.
async fn two_gateways() -> TwoGateways {
    let pki = Pki::new();
    gateway_cert(&pki, "eu");
    gateway_cert(&pki, "us");
    let audit = tempfile::tempdir().unwrap();
    let (eu_audit, us_audit) = (audit.path().join("eu.jsonl"), audit.path().join("us.jsonl"));
    let eu_domains = domains(None);
    let eu = TestServer::start_with(
        eu_domains.path(),
        &(gateway_keys(&pki, "eu", "us", 9) + &audit_to(&eu_audit)),
    )
    .await;
    // The us gateway's copy of the sales domain points at storage that does not exist there:
    // every sales answer it gives came through the eu gateway.
    let us_domains = domains(Some("/nonexistent/eu-bucket/sales"));
    let us = TestServer::start_with(
        us_domains.path(),
        &(gateway_keys(&pki, "us", "eu", eu.addr.port()) + &audit_to(&us_audit)),
    )
    .await;
    TwoGateways {
        eu,
        us,
        eu_audit,
        us_audit,
        _pki: pki,
        _dirs: [eu_domains, us_domains, audit],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_us_gateway_reads_eu_data_only_as_the_eu_gateway_lets_it() {
    // Held whole: its directories live as long as the gateways.
    let g = two_gateways().await;
    let (eu, us, eu_audit, us_audit) = (&g.eu, &g.us, &g.eu_audit, &g.us_audit);
    let at_us = us.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let at_eu = eu.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let reference = crate::reference::reference().connect().await;

    // Both sides audit the statement: at home, what was sent to the peer; at the peer, which
    // gateway asked for which user, and the bytes that left.
    let marker = "SELECT c_mktsegment, count(*) AS audited FROM sales.customer GROUP BY 1";
    let got = rows(&at_us, marker).await;
    assert_eq!(got.len(), 5, "{got:?}");
    let home = crate::audit::wait_events(us_audit, 1).await;
    let home = home
        .iter()
        .find(|e| {
            e["statement"]
                .as_str()
                .is_some_and(|s| s.contains("audited"))
        })
        .expect("the home event");
    assert_eq!(home["user"], ANALYST.0);
    let sent = home["source_statements"]
        .as_array()
        .expect("statements sent");
    assert_eq!(sent.len(), 1, "{home}");
    assert!(
        sent[0]["source"]
            .as_str()
            .unwrap()
            .starts_with("peer gateway eu"),
        "{home}"
    );
    let peer_events = crate::audit::wait_events(eu_audit, 1).await;
    let peer = peer_events
        .iter()
        .find(|e| e["gateway"] == "us" && e["rows"] == 5)
        .unwrap_or_else(|| panic!("the peer's event: {peer_events:?}"));
    assert_eq!(peer["user"], ANALYST.0);
    assert_eq!(peer["tables"], serde_json::json!(["sales.customer"]));
    let sent = peer["bytes_sent"].as_u64().unwrap();
    assert!(sent > 5 * 7, "{peer}");
    // What left the eu gateway is what reached the us gateway, byte for byte.
    let received = home["bytes_received"]
        .as_object()
        .expect("bytes received by source");
    assert_eq!(received.len(), 1, "{home}");
    let (source, n) = received.iter().next().unwrap();
    assert!(source.starts_with("peer gateway eu"), "{home}");
    assert_eq!(n.as_u64(), Some(sent), "{home}\n{peer}");

    for sql in [
        "SELECT c_nationkey, count(*), sum(c_acctbal) FROM sales.customer GROUP BY 1 ORDER BY 1",
        // EU aggregates joined with US and shared tables, in one statement.
        "WITH eu AS (SELECT c_nationkey, count(*) AS customers, avg(c_acctbal) AS balance \
                     FROM sales.customer GROUP BY c_nationkey) \
         SELECT n.n_name, eu.customers, eu.balance, s.suppliers \
         FROM eu JOIN geo.nation n ON n.n_nationkey = eu.c_nationkey \
         JOIN (SELECT s_nationkey, count(*) AS suppliers FROM supply.supplier GROUP BY 1) s \
           ON s.s_nationkey = n.n_nationkey ORDER BY 1",
        "SELECT o_orderstatus, count(*) FROM sales.orders o JOIN sales.customer c \
         ON o.o_custkey = c.c_custkey WHERE c.c_mktsegment = 'BUILDING' GROUP BY 1 ORDER BY 1",
    ] {
        let got = rows(&at_us, sql).await;
        assert!(!got.is_empty(), "{sql}");
        // What one gateway reading everything answers, and what PostgreSQL answers on the
        // same data (an average read through a CTE prints without PostgreSQL's trailing zeros:
        // a known deviation, README "Numeric scale"; the values are compared).
        assert_eq!(got, rows(&at_eu, sql).await, "{sql}");
        assert_eq!(
            untrailed(&got),
            untrailed(&rows(&reference, sql).await),
            "{sql}"
        );
    }
    // EXPLAIN at home shows the statement sent to the peer.
    let plan = rows(
        &at_us,
        "EXPLAIN SELECT c_nationkey, count(*) FROM sales.customer GROUP BY 1",
    )
    .await
    .into_iter()
    .flatten()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n");
    assert!(
        plan.contains("RemoteQuery") && plan.contains("peer gateway eu"),
        "{plan}"
    );

    // Rows are refused by the eu gateway, with its rule in the message.
    let m = refused(&at_us, "SELECT c_custkey, c_acctbal FROM sales.customer").await;
    assert!(
        m.contains("sales.customer: only aggregates of at least 10 rows may leave jurisdiction eu"),
        "{m}"
    );
    let m = refused(
        &at_us,
        "SELECT c_name, count(*) FROM sales.customer GROUP BY 1",
    )
    .await;
    assert!(m.contains("may never leave jurisdiction eu"), "{m}");
    // The session goes on.
    assert_eq!(rows(&at_us, "SELECT 1").await.len(), 1);

    // The peer acts for the login user: after SET ROLE (whose own filters it would not know)
    // another jurisdiction's tables are refused, not read wider.
    at_us.simple_query("SET ROLE analyst").await.unwrap();
    let e = at_us
        .simple_query("SELECT count(*) FROM sales.customer")
        .await
        .expect_err("refused under a role");
    assert_eq!(code(&e), "0A000", "{e:?}");
    at_us.simple_query("RESET ROLE").await.unwrap();
    assert_eq!(
        rows(&at_us, "SELECT count(*) FROM sales.customer")
            .await
            .len(),
        1
    );

    // Time travel reaches the peer: a version, a session's instant, a transaction's.
    let sql = "SELECT c_mktsegment, count(*) FROM sales.customer FOR VERSION AS OF 0 \
               GROUP BY 1 ORDER BY 1";
    assert_eq!(rows(&at_us, sql).await, rows(&at_eu, sql).await);
    let e = at_us
        .simple_query("SELECT count(*) FROM sales.customer FOR VERSION AS OF 99")
        .await
        .expect_err("no such version at the peer");
    assert_eq!(code(&e), "22023", "{e:?}");
    let m = e.as_db_error().unwrap().message().to_string();
    assert!(
        m.contains("peer gateway eu") && m.contains("sales.customer"),
        "{m}"
    );
    // Before the table's first commit: the pin reached the peer, or this would answer.
    at_us
        .simple_query("SET mesh.as_of = '2000-01-01 00:00:00+00'")
        .await
        .unwrap();
    let e = at_us
        .simple_query("SELECT count(*) FROM sales.customer")
        .await
        .expect_err("nothing at that instant");
    assert_eq!(code(&e), "22023", "{e:?}");
    assert!(e
        .as_db_error()
        .unwrap()
        .message()
        .contains("oldest version available"));
    at_us.simple_query("RESET mesh.as_of").await.unwrap();
    at_us
        .simple_query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    let pinned = rows(&at_us, "SELECT count(*) FROM sales.customer").await;
    at_us.simple_query("COMMIT").await.unwrap();
    assert_eq!(
        pinned,
        rows(&at_eu, "SELECT count(*) FROM sales.customer").await
    );

    // A row-filtered user is filtered by the eu gateway as at home.
    let regional_us = us.connect_as(REGIONAL.0, REGIONAL.1).await.unwrap();
    let regional_eu = eu.connect_as(REGIONAL.0, REGIONAL.1).await.unwrap();
    let sql = "SELECT c_nationkey, count(*) FROM sales.customer GROUP BY 1 ORDER BY 1";
    let got = rows(&regional_us, sql).await;
    assert_eq!(got, rows(&regional_eu, sql).await);
    // And masked: her phone numbers are prefixes, grouped there as at home (unmasked, each
    // number would be a group of one, which may not leave).
    let sql = "SELECT c_phone, count(*) FROM sales.customer GROUP BY 1 ORDER BY 1";
    let masked = rows(&regional_us, sql).await;
    assert!(!masked.is_empty());
    assert!(
        masked
            .iter()
            .all(|r| r[0].as_deref().is_some_and(|p| p.ends_with("****"))),
        "{masked:?}"
    );
    assert_eq!(masked, rows(&regional_eu, sql).await);
    let m = refused(&at_us, sql).await;
    assert!(m.contains("only aggregates of at least 10 rows"), "{m}");
    assert!(got.len() < rows(&at_eu, sql).await.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_is_down_fails_only_the_queries_that_need_it() {
    let pki = Pki::new();
    gateway_cert(&pki, "us");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let us_domains = domains(Some("/nonexistent/eu-bucket/sales"));
    let us = TestServer::start_with(us_domains.path(), &gateway_keys(&pki, "us", "eu", port)).await;
    let c = us.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let e = c
        .simple_query("SELECT count(*) FROM sales.customer")
        .await
        .expect_err("the peer is down");
    assert_eq!(code(&e), "08001", "{e:?}");
    let m = e.as_db_error().unwrap().message().to_string();
    assert!(m.contains("peer gateway eu"), "{m}");
    // Tables of this gateway's own region answer.
    assert_eq!(
        rows(&c, "SELECT count(*) FROM geo.nation").await,
        vec![vec![Some("25".to_string())]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_at_home_stops_the_statement_at_the_peer() {
    let g = two_gateways().await;
    let (eu, us) = (&g.eu, &g.us);
    let c = us.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    c.simple_query("SET statement_timeout = '2s'")
        .await
        .unwrap();
    // An aggregate over 3.6 billion pairs: minutes of work, all of it at the peer.
    let query = tokio::spawn(async move {
        c.simple_query("SELECT sum(a.l_quantity + b.l_quantity) FROM sales.lineitem a CROSS JOIN sales.lineitem b")
            .await
    });
    let running = || eu.shared.executor.running();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while running() == 0 {
        if query.is_finished() {
            panic!("ended before the peer ran it: {:?}", query.await.unwrap());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the peer never ran the statement"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let e = query.await.unwrap().expect_err("the statement times out");
    assert_eq!(code(&e), "57014", "{e:?}");
    // The peer stops it too, rather than computing for nobody.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the peer still runs the cancelled statement"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eu_bucket_is_read_only_with_the_eu_gateway_s_credentials() {
    // The sales tables in an S3 bucket (moto on 127.0.0.1) that logs who signed each request.
    let upload = tempfile::tempdir().unwrap();
    for t in ["orders", "lineitem", "customer"] {
        crate::s3::copy_dir(
            &tpch().dir.join("data/sales").join(t),
            &upload.path().join(t),
        );
    }
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("requests.log");
    let s3 = crate::s3::start_s3_logged("eu-sales", upload.path(), "warehouse", Some(&log));
    let setup = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count();

    let pki = Pki::new();
    gateway_cert(&pki, "eu");
    gateway_cert(&pki, "us");
    let on_s3 = |dir: &std::path::Path| {
        let sales = dir.join("sales.toml");
        let text = std::fs::read_to_string(&sales).unwrap();
        let root = text
            .lines()
            .find(|l| l.starts_with("root = "))
            .unwrap()
            .to_string();
        let text = text.replace(
            &root,
            &format!(
                "root = \"s3://eu-sales/warehouse\"\nregion = \"us-east-1\"\n\
                 endpoint = \"http://127.0.0.1:{}\"\nallow_http = true\n\
                 access_key_id_env = \"EU_SALES_KEY\"\nsecret_access_key_env = \"EU_SALES_SECRET\"",
                s3.port
            ),
        );
        std::fs::write(&sales, text).unwrap();
    };
    let eu_domains = domains(None);
    on_s3(eu_domains.path());
    let us_domains = domains(None);
    on_s3(us_domains.path());

    // The bucket's credentials are in the eu gateway's environment only.
    let start = |domains: &std::path::Path, keys: String, env: &dyn Fn(&str) -> Option<String>| {
        let dir = tempfile::tempdir().unwrap();
        let path = crate::harness::write_config(dir.path(), domains, &keys);
        let config = meshgate::Config::load_with_env(&path, env).expect("config");
        TestServer::start_config(config, dir)
    };
    let eu = start(
        eu_domains.path(),
        gateway_keys(&pki, "eu", "us", 9),
        &|k| match k {
            "EU_SALES_KEY" => Some("eu-gateway-key".into()),
            "EU_SALES_SECRET" => Some("eu-gateway-secret".into()),
            _ => None,
        },
    )
    .await;
    let us = start(
        us_domains.path(),
        gateway_keys(&pki, "us", "eu", eu.addr.port()),
        &|_| None,
    )
    .await;
    let at_us = us.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let at_eu = eu.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    for sql in [
        "SELECT c_mktsegment, count(*), sum(c_acctbal) FROM sales.customer GROUP BY 1 ORDER BY 1",
        "SELECT o_orderstatus, count(*) FROM sales.orders o JOIN sales.customer c \
         ON o.o_custkey = c.c_custkey GROUP BY 1 ORDER BY 1",
    ] {
        let got = rows(&at_us, sql).await;
        assert!(!got.is_empty(), "{sql}");
        assert_eq!(got, rows(&at_eu, sql).await, "{sql}");
    }
    let requests: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .skip(setup)
        .map(str::to_string)
        .collect();
    assert!(!requests.is_empty(), "the eu gateway read the bucket");
    for r in &requests {
        assert!(
            r.starts_with("eu-gateway-key "),
            "a request not signed by eu: {r}"
        );
    }
}
