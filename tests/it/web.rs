//! The web catalog on the HTTP port, over the TPC-H mesh (plus a product whose description is
//! HTML): sign-in and the security of sessions and forms over plain HTTP, and a real Chromium,
//! driven over WebDriver, for what a person does. Data shown in the browser is compared with
//! what the same user reads over the Postgres port (tokio-postgres).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_postgres::SimpleQueryMessage;

use crate::harness::{tpch, wait_for, TestServer, ANALYST, REGIONAL, SALES_ANALYST};
use crate::webdriver::Browser;

/// A description with markup in it: the pages must show it as text.
const HTML_DESCRIPTION: &str = "Regions <script>alert('owned')</script> & <b>bold</b> claims";

/// A server with the HTTP port, over a copy of the TPC-H domain files plus product `notes`
/// (in domain geo, whose data is copied too: access requests are written there).
struct Catalog {
    s: TestServer,
    http: SocketAddr,
    domains: tempfile::TempDir,
}

async fn catalog() -> Catalog {
    catalog_with("").await
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The geo domain's storage root in a catalog's copy.
fn geo_root(domains: &Path) -> std::path::PathBuf {
    domains.join("geo-data")
}

async fn catalog_with(extra_server: &str) -> Catalog {
    let fx = tpch();
    let domains = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&fx.domains_dir).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, domains.path().join(f.file_name().unwrap())).unwrap();
    }
    let geo = domains.path().join("geo.toml");
    let mut text = std::fs::read_to_string(&geo).unwrap();
    let root = fx.dir.join("data").join("geo");
    assert!(text.contains(&format!("root = \"{}\"", root.display())));
    copy_dir(&root, &geo_root(domains.path()));
    text = text.replace(
        &format!("root = \"{}\"", root.display()),
        &format!("root = \"{}\"", geo_root(domains.path()).display()),
    );
    text.push_str(&format!(
        "\n[[products]]\nname = \"notes\"\ndescription = {HTML_DESCRIPTION:?}\nowner = \"geo-data@example.com\"\ntags = [\"<i>odd</i>\"]\n\n\
         [[products.tables]]\nname = \"regions\"\nformat = \"parquet\"\nlocation = \"region\"\ndescription = \"<img src=x>\"\n"
    ));
    std::fs::write(&geo, text).unwrap();
    let s = TestServer::start_with(
        domains.path(),
        &format!("http_listen = \"127.0.0.1:0\"\n{extra_server}"),
    )
    .await;
    wait_for("the HTTP port", Duration::from_secs(10), || {
        s.shared.http_addr().is_some()
    })
    .await;
    let http = s.shared.http_addr().unwrap();
    Catalog { s, http, domains }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// `name=value` of each Set-Cookie header.
fn set_cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn cookie_value(h: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(h).iter().find_map(|c| {
        let first = c.split(';').next()?;
        let (k, v) = first.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// The value of a hidden input `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in\n{page}"))
        + marker.len();
    page[at..].split('"').next().unwrap().to_string()
}

fn form(fields: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Signs in over HTTP; the session cookie.
async fn sign_in(http: &reqwest::Client, base: &str, user: &str, password: &str) -> String {
    let r = http.get(format!("{base}/signin")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token_cookie = cookie_value(r.headers(), "meshgate_signin").expect("sign-in cookie");
    let page = r.text().await.unwrap();
    let csrf = hidden(&page, "csrf");
    assert_eq!(csrf, token_cookie, "double-submit token");
    let r = http
        .post(format!("{base}/signin"))
        .header(COOKIE, format!("meshgate_signin={token_cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("user", user),
            ("password", password),
            ("csrf", &csrf),
            ("next", "/"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in of {user}");
    cookie_value(r.headers(), "meshgate_session").expect("session cookie")
}

async fn get(http: &reqwest::Client, url: &str, session: Option<&str>) -> reqwest::Response {
    let mut req = http.get(url);
    if let Some(s) = session {
        req = req.header(COOKIE, format!("meshgate_session={s}"));
    }
    req.send().await.unwrap()
}

async fn pg_rows(c: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    c.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

/// The cells of an HTML table with `id` (text between `<td>` tags, tags inside removed and
/// entities of the escaper decoded).
fn table_cells(page: &str, id: &str) -> Vec<Vec<String>> {
    let start = page
        .find(&format!("<table id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no table {id} in\n{page}"));
    let end = start + page[start..].find("</table>").unwrap();
    let body = &page[start..end];
    let body = &body[body.find("<tbody>").unwrap() + 7..];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td>")
                .skip(1)
                .map(|cell| {
                    let cell = cell.split("</td>").next().unwrap();
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in cell.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    text.replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&quot;", "\"")
                        .replace("&#39;", "'")
                        .replace("&amp;", "&")
                })
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_answers_nothing_without_a_session_and_refuses_forged_tokens() {
    let c = catalog().await;
    let base = format!("http://{}", c.http);
    let http = client();

    // No session: pages redirect to the sign-in page (coming back after), the API is 401.
    for path in [
        "/",
        "/products/sales",
        "/products/sales/tables/customer",
        "/?q=phone",
    ] {
        let r = get(&http, &format!("{base}{path}"), None).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        let to = r.headers()[LOCATION].to_str().unwrap().to_string();
        assert!(to.starts_with("/signin?next=%2F"), "{path} → {to}");
    }
    for path in [
        "/api/v1/domains",
        "/api/v1/products",
        "/api/v1/products/sales",
    ] {
        let r = get(&http, &format!("{base}{path}"), None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // A made-up session id is no session.
    let r = get(&http, &format!("{base}/"), Some("made-up")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The operator endpoints stay open (monitors, scrapers).
    assert_eq!(
        get(&http, &format!("{base}/health"), None).await.status(),
        200
    );

    // Sign-in without the form's token, or with a forged one: 403, no session.
    let r = http.get(format!("{base}/signin")).send().await.unwrap();
    let token = cookie_value(r.headers(), "meshgate_signin").unwrap();
    for (cookie, field) in [
        (None, Some(token.as_str())),
        (Some(token.as_str()), None),
        (Some(token.as_str()), Some("forged")),
    ] {
        let mut req = http
            .post(format!("{base}/signin"))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            req = req.header(COOKIE, format!("meshgate_signin={c}"));
        }
        let mut fields = vec![("user", ANALYST.0), ("password", ANALYST.1)];
        if let Some(f) = field {
            fields.push(("csrf", f));
        }
        let r = req.body(form(&fields)).send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "cookie {cookie:?}, field {field:?}"
        );
        assert!(cookie_value(r.headers(), "meshgate_session").is_none());
    }

    // A wrong password: 401, no session, and the page does not echo the password.
    let r = http
        .post(format!("{base}/signin"))
        .header(COOKIE, format!("meshgate_signin={token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("user", ANALYST.0),
            ("password", "not-the-secret-pw"),
            ("csrf", &token),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_value(r.headers(), "meshgate_session").is_none());
    let page = r.text().await.unwrap();
    assert!(page.contains("Sign-in failed"));
    assert!(!page.contains("not-the-secret-pw"));

    // The right password: a session in an HttpOnly, SameSite cookie.
    let session = sign_in(&http, &base, ANALYST.0, ANALYST.1).await;
    assert!(session.len() >= 40, "a long random id");
    let r = get(&http, &format!("{base}/"), Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    let csrf = hidden(&page, "csrf");
    assert_ne!(csrf, session);
    let r = get(&http, &format!("{base}/api/v1/products"), Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let products: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    let names: BTreeSet<&str> = products
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["geo", "notes", "sales", "supply"]));
    // Scripts may use HTTP Basic instead of a cookie; wrong credentials are 401.
    let r = http
        .get(format!("{base}/api/v1/domains"))
        .basic_auth(ANALYST.0, Some(ANALYST.1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .get(format!("{base}/api/v1/domains"))
        .basic_auth(ANALYST.0, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Sign-out with a forged token: 403, the session lives on.
    let signout = |token: String| {
        http.post(format!("{base}/signout"))
            .header(COOKIE, format!("meshgate_session={session}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("csrf", &token)]))
            .send()
    };
    let r = signout("forged".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        get(&http, &format!("{base}/"), Some(&session))
            .await
            .status(),
        StatusCode::OK
    );
    // With the session's token: signed out, the cookie cleared, the id worthless.
    let r = signout(csrf).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/signin");
    assert!(set_cookies(r.headers())
        .iter()
        .any(|c| c.starts_with("meshgate_session=;") && c.contains("Max-Age=0")));
    assert_eq!(
        get(&http, &format!("{base}/"), Some(&session))
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        get(&http, &format!("{base}/api/v1/products"), Some(&session))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_escapes_html_from_descriptions() {
    let c = catalog().await;
    let base = format!("http://{}", c.http);
    let http = client();
    let session = sign_in(&http, &base, ANALYST.0, ANALYST.1).await;
    for path in ["/", "/products/notes", "/?q=claims"] {
        let page = get(&http, &format!("{base}{path}"), Some(&session))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("Regions &lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; claims"),
            "{path}: description escaped\n{page}"
        );
        assert!(!page.contains("<script"), "{path}: no script element");
        assert!(!page.contains("<b>bold"), "{path}");
        assert!(!page.contains("<i>odd"), "{path}");
    }
    let page = get(&http, &format!("{base}/products/notes"), Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("&lt;img src=x&gt;"),
        "table description escaped"
    );
    assert!(!page.contains("<img"));
    // The API gives the text as it is (JSON escapes it its own way).
    let r = get(
        &http,
        &format!("{base}/api/v1/products/notes"),
        Some(&session),
    )
    .await;
    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["description"], HTML_DESCRIPTION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_shows_metadata_of_unreadable_products_but_refuses_their_preview() {
    let c = catalog().await;
    let base = format!("http://{}", c.http);
    let http = client();
    // dave (analyst only) has no grant on supply.
    let session = sign_in(&http, &base, SALES_ANALYST.0, SALES_ANALYST.1).await;
    let page = get(&http, &format!("{base}/products/supply"), Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("The parts catalogue, the suppliers"),
        "{page}"
    );
    assert!(page.contains("id=\"no-access\""), "{page}");
    let tables: Vec<String> = table_cells(&page, "tables")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(tables, ["part", "partsupp", "supplier"]);
    let grants = table_cells(&page, "grants");
    assert!(
        grants.iter().any(|g| g[1].contains("buyer")),
        "grants as written: {grants:?}"
    );
    let page = get(
        &http,
        &format!("{base}/products/supply/tables/part"),
        Some(&session),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(page.contains("One row per part"), "metadata shown: {page}");
    assert!(
        page.contains("id=\"preview-error\"")
            && page.contains("permission denied for table supply.part")
            && page.contains("42501"),
        "preview refused as SQL refuses it:\n{page}"
    );
    assert!(!page.contains("<table id=\"preview\">"));
    // The same user over SQL is refused the same way.
    let pg =
        c.s.connect_as(SALES_ANALYST.0, SALES_ANALYST.1)
            .await
            .unwrap();
    let e = pg
        .simple_query("SELECT * FROM supply.part LIMIT 20")
        .await
        .unwrap_err();
    assert_eq!(crate::harness::code(&e), "42501");
    // The API says it too.
    let r = get(
        &http,
        &format!("{base}/api/v1/products/supply"),
        Some(&session),
    )
    .await;
    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["readable"], false);
    let r = get(
        &http,
        &format!("{base}/api/v1/products/sales"),
        Some(&session),
    )
    .await;
    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["readable"], true);
}

/// Signs in through the browser's form.
async fn browser_sign_in(b: &Browser, base: &str, user: &str, password: &str) {
    b.goto(&format!("{base}/")).await;
    b.wait_url("the sign-in page", |u| u.contains("/signin"))
        .await;
    let u = b.find("#user").await;
    b.type_into(&u, user).await;
    let p = b.find("#password").await;
    b.type_into(&p, password).await;
    b.screenshot("signin").await;
    let go = b.find("#signin").await;
    b.click(&go).await;
    b.find("#who").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_signs_in_searches_previews_and_requests_access() {
    let started = Instant::now();
    let c = catalog().await;
    let base = format!("http://{}", c.http);
    // What carol (regional: European customers only, phone masked) reads over SQL. The query
    // also opens the table, so its columns are known to the catalog.
    let pg = c.s.connect_as(REGIONAL.0, REGIONAL.1).await.unwrap();
    let over_sql: BTreeSet<Vec<Option<String>>> = pg_rows(&pg, "SELECT * FROM sales.customer")
        .await
        .into_iter()
        .collect();
    assert!(over_sql.len() > 20, "enough rows to preview");
    let europe: BTreeSet<String> = pg_rows(
        &pg,
        "SELECT n_nationkey FROM geo.nation JOIN geo.region ON n_regionkey = r_regionkey WHERE r_name = 'EUROPE'",
    )
    .await
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect();

    let b = Browser::start("browser_signs_in_searches_previews_and_requests_access").await;
    browser_sign_in(&b, &base, REGIONAL.0, REGIONAL.1).await;
    let who = b.find("#who").await;
    assert_eq!(b.text(&who).await, REGIONAL.0);
    // The session cookie is out of the page's reach and not sent cross-site.
    let cookies = b.cookies().await;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "meshgate_session")
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Lax");
    // Home: the domains and their products.
    b.find("#domain-sales").await;
    let source = b.source().await;
    for d in ["Domain geo", "Domain sales", "Domain supply"] {
        assert!(source.contains(d), "{d} on the home page");
    }
    b.screenshot("home").await;

    // Search by a column name.
    let q = b.find("#q").await;
    b.type_into(&q, "c_phone").await;
    let go = b.find("#search").await;
    b.click(&go).await;
    b.wait_url("the search", |u| u.contains("q=c_phone")).await;
    let results = b.find("#results").await;
    let text = b.text(&results).await;
    assert!(
        text.contains("customer") && text.contains("c_phone"),
        "{text}"
    );
    b.screenshot("search").await;

    // Into the product, from the search result.
    let links = b.find_in(&results, "a[href='/products/sales']").await;
    assert!(!links.is_empty(), "a link to the product");
    b.click(&links[0]).await;
    b.wait_url("the product page", |u| u.ends_with("/products/sales"))
        .await;
    let desc = b.find("#description").await;
    assert_eq!(
        b.text(&desc).await,
        "Customer orders with their line items, and the customers who placed them."
    );
    let freshness = b.find("#freshness").await;
    assert!(b.text(&freshness).await.contains("version"));
    let psql = b.find("#psql").await;
    assert_eq!(
        b.text(&psql).await,
        format!(
            "psql \"host=127.0.0.1 port={} dbname=mesh user={}\"",
            c.s.addr.port(),
            REGIONAL.0
        )
    );
    b.screenshot("product").await;

    // Into the table.
    let tables = b.find("#tables").await;
    let link = b
        .find_in(&tables, "a[href='/products/sales/tables/customer']")
        .await;
    b.click(&link[0]).await;
    b.wait_url("the table page", |u| u.ends_with("/tables/customer"))
        .await;
    b.find("#preview").await;
    b.screenshot("table").await;
    let page = b.source().await;
    // The masked flag, for carol, on c_phone only.
    let columns = table_cells(&page, "columns");
    let masked: Vec<&str> = columns
        .iter()
        .filter(|r| r[4] == "masked for you")
        .map(|r| r[0].as_str())
        .collect();
    assert_eq!(masked, ["c_phone"]);
    assert!(
        page.contains("customers_of_my_region"),
        "her row filter is named"
    );
    // The preview: 20 of carol's rows, exactly as she reads them over SQL.
    let header: Vec<String> = {
        let t = b.find("#preview").await;
        let ths = b.find_in(&t, "th").await;
        let mut h = Vec::new();
        for th in ths {
            h.push(b.text(&th).await);
        }
        h
    };
    let nationkey = header.iter().position(|h| h == "c_nationkey").unwrap();
    let phone = header.iter().position(|h| h == "c_phone").unwrap();
    let preview = table_cells(&page, "preview");
    assert_eq!(preview.len(), 20);
    for row in &preview {
        let as_sql: Vec<Option<String>> = row.iter().map(|v| Some(v.clone())).collect();
        assert!(
            over_sql.contains(&as_sql),
            "preview row {row:?} is not one carol reads over SQL"
        );
        assert!(europe.contains(&row[nationkey]), "{row:?} is European");
        assert!(row[phone].ends_with("****"), "{row:?} phone masked");
    }
    // The version history from mesh.history.
    let history = table_cells(&page, "history");
    assert!(!history.is_empty(), "at least the table's creation");

    // Request access to a product she may not read.
    b.goto(&format!("{base}/products/notes")).await;
    let reason = b.find("#reason").await;
    b.type_into(&reason, "Regional planning needs the region notes")
        .await;
    let go = b.find("#request-access").await;
    b.click(&go).await;
    b.wait_url("the request's answer", |u| u.ends_with("?requested=1"))
        .await;
    b.find("#requested").await;
    b.screenshot("request-access").await;

    // Sign out: back at the sign-in page, and the pages are closed again.
    let out = b.find("#signout").await;
    b.click(&out).await;
    b.wait_url("the sign-in page", |u| u.contains("/signin"))
        .await;
    b.screenshot("signed-out").await;
    b.goto(&format!("{base}/products/sales")).await;
    let u = b
        .wait_url("the sign-in page", |u| u.contains("/signin"))
        .await;
    assert!(u.contains("next=%2Fproducts%2Fsales"), "{u}");

    // The owner (the admin) sees her request on the product page.
    browser_sign_in(&b, &base, crate::harness::ADMIN.0, crate::harness::ADMIN.1).await;
    b.goto(&format!("{base}/products/notes")).await;
    let requests = b.find("#access-requests").await;
    let text = b.text(&requests).await;
    assert!(
        text.contains(REGIONAL.0) && text.contains("Regional planning needs the region notes"),
        "{text}"
    );
    b.screenshot("owner").await;
    // She approves it: the list shows the answer and no more buttons for it.
    let approve = b.find("button[value='approve']").await;
    b.click(&approve).await;
    b.wait_url("the answer's page", |u| u.ends_with("?answered=1"))
        .await;
    b.find("#answered").await;
    let requests = b.find("#access-requests").await;
    let text = b.text(&requests).await;
    assert!(
        text.contains(&format!("approved by {}", crate::harness::ADMIN.0)),
        "{text}"
    );
    assert!(b.source().await.contains("id=\"approval-note\""));
    assert!(!b.source().await.contains("value=\"approve\""));
    b.screenshot("approved").await;
    // The requester sees the answer; the grant is still the domain file's to add.
    let out = b.find("#signout").await;
    b.click(&out).await;
    b.wait_url("the sign-in page", |u| u.contains("/signin"))
        .await;
    browser_sign_in(&b, &base, REGIONAL.0, REGIONAL.1).await;
    b.goto(&format!("{base}/products/notes")).await;
    let mine = b.find("#my-requests").await;
    let text = b.text(&mine).await;
    assert!(text.contains("approved by"), "{text}");
    b.find("#no-access").await;
    b.screenshot("requester-status").await;
    for shot in [
        "signin",
        "home",
        "search",
        "product",
        "table",
        "request-access",
        "signed-out",
        "owner",
        "approved",
        "requester-status",
    ] {
        assert!(b.shots.join(format!("{shot}.png")).exists(), "{shot}.png");
    }
    b.quit().await;
    eprintln!(
        "browser test wall time: {:?} (screenshots in {})",
        started.elapsed(),
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("web").display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_over_https_with_the_server_certificate_marks_cookies_secure() {
    let certs = tempfile::tempdir().unwrap();
    crate::tls::make_cert(certs.path());
    let s = TestServer::start_with(
        &tpch().domains_dir,
        &format!(
            "http_listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            certs.path().join("server.crt").display(),
            certs.path().join("server.key").display()
        ),
    )
    .await;
    wait_for("the HTTP port", Duration::from_secs(10), || {
        s.shared.http_addr().is_some()
    })
    .await;
    let addr = s.shared.http_addr().unwrap();
    // The test's certificate is self-signed, for CN=localhost only.
    let https = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .unwrap();
    let base = format!("https://{addr}");
    let r = https.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ok\n");
    // The session cookie is Secure (and HttpOnly, SameSite) over TLS.
    let r = https.get(format!("{base}/signin")).send().await.unwrap();
    let token = cookie_value(r.headers(), "meshgate_signin").unwrap();
    assert!(set_cookies(r.headers())
        .iter()
        .all(|c| c.contains("; Secure") && c.contains("HttpOnly")));
    let r = https
        .post(format!("{base}/signin"))
        .header(COOKIE, format!("meshgate_signin={token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("user", ANALYST.0),
            ("password", ANALYST.1),
            ("csrf", &token),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session = set_cookies(r.headers())
        .into_iter()
        .find(|c| c.starts_with("meshgate_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.ends_with("; Secure"),
        "{session}"
    );
    // Plain HTTP on the HTTPS port gets no answer.
    assert!(client()
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .is_err_and(|e| !e.is_status()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_preview_stops_at_its_statement_timeout() {
    // A view whose first row needs far more than the timeout (a sum over a cross join of
    // 60,175 × 15,000 rows; a count would be answered from statistics): a table's first 20
    // rows can come back within 1 ms, and whether they do depends on how its files are laid
    // out, not on the timeout.
    let (dir, _) = crate::writes::writable_mesh_with(
        "http_listen = \"127.0.0.1:0\"\nweb_statement_timeout_ms = 1",
    );
    let s = crate::writes::start(dir.path()).await;
    wait_for("the HTTP port", Duration::from_secs(10), || {
        s.shared.http_addr().is_some()
    })
    .await;
    let bob = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    bob.batch_execute(
        "CREATE VIEW analytics.pairs AS SELECT sum(l_quantity * o_totalprice) AS n \
         FROM sales.lineitem CROSS JOIN sales.orders",
    )
    .await
    .unwrap();
    let base = format!("http://{}", s.shared.http_addr().unwrap());
    let http = client();
    let session = sign_in(&http, &base, ANALYST.0, ANALYST.1).await;
    let page = get(
        &http,
        &format!("{base}/products/analytics/tables/pairs"),
        Some(&session),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        page.contains("id=\"preview-error\"")
            && page.contains("canceling statement due to statement timeout")
            && page.contains("57014"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_preview_is_audited_as_the_user_with_her_policies() {
    let audit = tempfile::tempdir().unwrap();
    let log = audit.path().join("audit.jsonl");
    let s = TestServer::start_with(
        &tpch().domains_dir,
        &format!(
            "http_listen = \"127.0.0.1:0\"\n\n[audit]\nsink = \"file\"\npath = \"{}\"\n",
            log.display()
        ),
    )
    .await;
    wait_for("the HTTP port", Duration::from_secs(10), || {
        s.shared.http_addr().is_some()
    })
    .await;
    let base = format!("http://{}", s.shared.http_addr().unwrap());
    let http = client();
    let session = sign_in(&http, &base, REGIONAL.0, REGIONAL.1).await;
    let r = get(
        &http,
        &format!("{base}/products/sales/tables/customer"),
        Some(&session),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("<table id=\"preview\">"));
    let preview = |e: &Value| {
        e["application_name"] == "meshgate web catalog"
            && e["tables"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "sales.customer"))
    };
    let events = || -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    // The version history is SQL as her too. (The audit writer writes events as they come, so
    // wait for both rather than for the first.)
    let history = |e: &Value| {
        e["application_name"] == "meshgate web catalog"
            && e["statement"]
                .as_str()
                .is_some_and(|s| s.contains("mesh.history"))
    };
    wait_for(
        "the preview's and the history's audit events",
        Duration::from_secs(10),
        || {
            let all = events();
            all.iter().any(preview) && all.iter().any(history)
        },
    )
    .await;
    let all = events();
    let e = all.iter().find(|e| preview(e)).unwrap();
    assert_eq!(e["user"], REGIONAL.0);
    assert_eq!(e["outcome"], "ok");
    assert_eq!(e["rows"], 20);
    let policies: Vec<&str> = e["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        policies
            .iter()
            .any(|p| p.contains("customers_of_my_region"))
            && policies.iter().any(|p| p.contains("phone_prefix_only")),
        "her row filter and mask are recorded: {policies:?}"
    );
    let h = all.iter().find(|e| history(e)).unwrap();
    assert_eq!(h["user"], REGIONAL.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_port_closes_a_connection_that_sends_no_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = catalog().await;
    let mut sock = tokio::net::TcpStream::connect(c.http).await.unwrap();
    // Half a request head, then nothing.
    sock.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), sock.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection")
        .ok();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5),
        "closed only after the head's time ran out: {waited:?}"
    );
    // Other clients were served meanwhile, and after.
    let r = get(&client(), &format!("http://{}/health", c.http), None).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_access_requests_are_stored_in_the_domain_audited_and_shown_to_owners() {
    let audit = tempfile::tempdir().unwrap();
    let log = audit.path().join("audit.jsonl");
    let c = catalog_with(&format!(
        "\n[audit]\nsink = \"file\"\npath = \"{}\"\n",
        log.display()
    ))
    .await;
    let base = format!("http://{}", c.http);
    let http = client();
    let stored = geo_root(c.domains.path())
        .join("_meshgate")
        .join("access_requests")
        .join("notes");
    // dave has no grant on `notes`: its page offers the request form, and no list of requests.
    let dave = sign_in(&http, &base, SALES_ANALYST.0, SALES_ANALYST.1).await;
    let page = get(&http, &format!("{base}/products/notes"), Some(&dave))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"request-access\""), "{page}");
    assert!(!page.contains("id=\"access-requests\""));
    let csrf = hidden(&page, "csrf");
    let post = |token: String, reason: &'static str| {
        http.post(format!("{base}/products/notes/access-requests"))
            .header(COOKIE, format!("meshgate_session={dave}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("csrf", &token), ("reason", reason)]))
            .send()
    };
    // A forged token is refused, and nothing is stored.
    let r = post("forged".into(), "let me in").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!stored.exists());
    // An empty reason is refused.
    let r = post(csrf.clone(), "   ").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let reason = "Need <regions> for the Q3 report & forecast";
    let r = post(csrf.clone(), reason).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/products/notes?requested=1");
    let page = get(
        &http,
        &format!("{base}/products/notes?requested=1"),
        Some(&dave),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(page.contains("id=\"requested\""));
    // Durable: one object in the domain's own storage.
    let files: Vec<_> = std::fs::read_dir(&stored)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let record: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(record["user"], SALES_ANALYST.0);
    assert_eq!(record["product"], "notes");
    assert_eq!(record["domain"], "geo");
    assert_eq!(record["reason"], reason);
    // Audited.
    let events = || -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let is_request = |e: &Value| e["statement"] == "REQUEST ACCESS TO notes";
    wait_for("the request's audit event", Duration::from_secs(10), || {
        events().iter().any(is_request)
    })
    .await;
    let all = events();
    let e = all.iter().find(|e| is_request(e)).unwrap();
    assert_eq!(e["user"], SALES_ANALYST.0);
    assert_eq!(e["protocol"], "http");
    assert_eq!(e["outcome"], "ok");
    assert_eq!(e["domains"], serde_json::json!(["geo"]));
    // The owners (here the admin) see it on the product page, escaped.
    let alice = sign_in(
        &http,
        &base,
        crate::harness::ADMIN.0,
        crate::harness::ADMIN.1,
    )
    .await;
    let page = get(&http, &format!("{base}/products/notes"), Some(&alice))
        .await
        .text()
        .await
        .unwrap();
    let requests = table_cells(&page, "access-requests");
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0][1], SALES_ANALYST.0);
    assert_eq!(requests[0][2], reason);
    assert!(page.contains("Need &lt;regions&gt; for the Q3 report &amp; forecast"));
    // Another reader without ownership does not.
    let bob = sign_in(&http, &base, ANALYST.0, ANALYST.1).await;
    let page = get(&http, &format!("{base}/products/notes"), Some(&bob))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("id=\"access-requests\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_hides_a_hidden_product_from_those_who_may_not_read_it() {
    // The copy's `notes` product, hidden; geo is public, and no one but the admin reads notes.
    let c = catalog().await;
    let geo = c.domains.path().join("geo.toml");
    let text = std::fs::read_to_string(&geo)
        .unwrap()
        .replace("name = \"notes\"\n", "name = \"notes\"\nhidden = true\n");
    std::fs::write(&geo, text).unwrap();
    c.s.shared.reload().expect("the hidden flag reloads");
    let base = format!("http://{}", c.http);
    let http = client();
    let bob = sign_in(&http, &base, ANALYST.0, ANALYST.1).await;
    let home = get(&http, &format!("{base}/"), Some(&bob))
        .await
        .text()
        .await
        .unwrap();
    assert!(!home.contains("/products/notes"), "not listed");
    assert!(home.contains("/products/geo"), "the other products are");
    for path in [
        "/products/notes",
        "/products/notes/tables/regions",
        "/api/v1/products/notes",
        "/api/v1/products/notes/tables/regions",
    ] {
        let r = get(&http, &format!("{base}{path}"), Some(&bob)).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let search = get(&http, &format!("{base}/api/v1/search?q=claims"), Some(&bob)).await;
    let hits: Value = serde_json::from_slice(&search.bytes().await.unwrap()).unwrap();
    assert_eq!(hits, serde_json::json!([]));
    let listed = get(&http, &format!("{base}/api/v1/products"), Some(&bob)).await;
    let listed: Value = serde_json::from_slice(&listed.bytes().await.unwrap()).unwrap();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["name"] != "notes"));
    // No request for what cannot be seen.
    let page = get(&http, &format!("{base}/"), Some(&bob))
        .await
        .text()
        .await
        .unwrap();
    let r = http
        .post(format!("{base}/products/notes/access-requests"))
        .header(COOKIE, format!("meshgate_session={bob}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &hidden(&page, "csrf")), ("reason", "x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Those who may read it (the admin) see it as before.
    let alice = sign_in(
        &http,
        &base,
        crate::harness::ADMIN.0,
        crate::harness::ADMIN.1,
    )
    .await;
    let r = get(&http, &format!("{base}/products/notes"), Some(&alice)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("claims"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_denied_over_sql_names_the_catalog_page_to_request_access() {
    let s = TestServer::start_with(
        &tpch().domains_dir,
        "web_url = \"https://catalog.example.com/\"",
    )
    .await;
    let dave = s
        .connect_as(SALES_ANALYST.0, SALES_ANALYST.1)
        .await
        .unwrap();
    for sql in [
        "SELECT * FROM supply.part",
        "SELECT count(*) FROM sales.orders JOIN supply.partsupp ON o_orderkey = ps_partkey",
    ] {
        let e = dave.simple_query(sql).await.unwrap_err();
        let db = e.as_db_error().expect("a server error");
        assert_eq!(db.code().code(), "42501", "{sql}");
        assert!(db
            .message()
            .starts_with("permission denied for table supply."));
        assert_eq!(
            db.hint(),
            Some("Access can be requested in the data catalog: https://catalog.example.com/products/supply"),
            "{sql}"
        );
    }
    // Extended protocol too; and other errors carry no such hint.
    let e = dave
        .query("SELECT * FROM supply.part", &[])
        .await
        .unwrap_err();
    assert!(e
        .as_db_error()
        .and_then(|d| d.hint())
        .is_some_and(|h| h.ends_with("/products/supply")));
    let e = dave
        .simple_query("SELECT * FROM nowhere.t")
        .await
        .unwrap_err();
    assert_eq!(e.as_db_error().unwrap().hint(), None);
    // Without web_url, no hint.
    let plain = TestServer::tpch().await;
    let dave = plain
        .connect_as(SALES_ANALYST.0, SALES_ANALYST.1)
        .await
        .unwrap();
    let e = dave
        .simple_query("SELECT * FROM supply.part")
        .await
        .unwrap_err();
    assert_eq!(e.as_db_error().unwrap().hint(), None);
}

/// Posts the sign-in form with a token in place of a user name and password.
async fn post_token(http: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    let r = http.get(format!("{base}/signin")).send().await.unwrap();
    let csrf = cookie_value(r.headers(), "meshgate_signin").unwrap();
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"token\""), "the token form:\n{page}");
    http.post(format!("{base}/signin"))
        .header(COOKIE, format!("meshgate_signin={csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", token), ("csrf", &csrf), ("next", "/")]))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_signs_in_with_a_jwt_as_its_subject_and_refuses_bad_tokens() {
    use crate::identity::{now, Idp};
    let idp = Idp::new();
    let c = catalog_with(&format!(
        "[limits]\nmax_failed_logins = 0\n{}",
        idp.jwt_keys(&format!("jwks_file = \"{}\"", idp.jwks_path().display()))
    ))
    .await;
    let base = format!("http://{}", c.http);
    let http = client();
    let readable = |products: &Value, name: &str| {
        products
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {products}"))["readable"]
            .as_bool()
            .unwrap()
    };

    // A good token for a user the configuration does not list: signed in as its subject, with
    // the roles its claim gives (role analyst reads sales, not supply).
    let mut claims = Idp::claims("erin");
    claims["roles"] = serde_json::json!(["analyst"]);
    let good = idp.es256(&claims);
    let r = post_token(&http, &base, &good).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/");
    let session = cookie_value(r.headers(), "meshgate_session").expect("a session");
    let page = get(&http, &format!("{base}/"), Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(">erin<"), "signed in as erin:\n{page}");
    let products: Value = get(&http, &format!("{base}/api/v1/products"), Some(&session))
        .await
        .json()
        .await
        .unwrap();
    assert!(readable(&products, "sales"));
    assert!(!readable(&products, "supply"));

    // Expired, forged (signed by a key the server does not know), or not a token at all:
    // refused with a message that says why, no session, the token never echoed.
    let mut expired = Idp::claims("erin");
    expired["exp"] = serde_json::json!(now() - 3600);
    for (token, says) in [
        (idp.es256(&expired), "the token has expired"),
        (idp.forge(&Idp::claims("alice")), "the token is not valid"),
        ("not.a.token".to_string(), "the token is not valid"),
    ] {
        let r = post_token(&http, &base, &token).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{says}");
        assert!(cookie_value(r.headers(), "meshgate_session").is_none());
        let page = r.text().await.unwrap();
        assert!(page.contains(says), "{says}:\n{page}");
        assert!(!page.contains(&token));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_without_jwt_settings_offers_no_token_sign_in() {
    let c = catalog().await;
    let base = format!("http://{}", c.http);
    let http = client();
    let page = http
        .get(format!("{base}/signin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("id=\"token\""));
    let idp = crate::identity::Idp::new();
    let r = http.get(format!("{base}/signin")).send().await.unwrap();
    let csrf = cookie_value(r.headers(), "meshgate_signin").unwrap();
    let token = idp.es256(&crate::identity::Idp::claims("erin"));
    let r = http
        .post(format!("{base}/signin"))
        .header(COOKIE, format!("meshgate_signin={csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", &token), ("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_value(r.headers(), "meshgate_session").is_none());
    assert!(r.text().await.unwrap().contains("takes no tokens"));
}

/// A page that must answer 200, as text.
async fn ok_text(http: &reqwest::Client, base: &str, session: &str, path: &str) -> String {
    let r = get(http, &format!("{base}{path}"), Some(session)).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.unwrap()
}

/// An API answer that must be 200, as JSON.
async fn ok_json(http: &reqwest::Client, base: &str, session: &str, path: &str) -> Value {
    let r = get(http, &format!("{base}{path}"), Some(session)).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_table_pages_show_lineage_of_views_and_created_tables() {
    let (dir, root) = crate::writes::writable_mesh_with("http_listen = \"127.0.0.1:0\"");
    let s = crate::writes::start(dir.path()).await;
    wait_for("the HTTP port", Duration::from_secs(10), || {
        s.shared.http_addr().is_some()
    })
    .await;
    let base = format!("http://{}", s.shared.http_addr().unwrap());
    let bob = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    bob.batch_execute(
        "CREATE VIEW analytics.rich_customers AS SELECT c_custkey, c_name FROM sales.customer WHERE c_acctbal > 5000;\
         CREATE VIEW analytics.customers_then AS SELECT c_custkey FROM sales.customer FOR VERSION AS OF 0;\
         CREATE TABLE analytics.customers_by_nation AS SELECT n.n_name, count(*) AS customers \
         FROM sales.customer c JOIN geo.nation n ON c.c_nationkey = n.n_nationkey GROUP BY n.n_name",
    )
    .await
    .unwrap();
    let http = client();
    let session = sign_in(&http, &base, ANALYST.0, ANALYST.1).await;
    let page = |path: &'static str| ok_text(&http, &base, &session, path);
    let api = |path: &'static str| ok_json(&http, &base, &session, path);

    // The source table lists both models that read it.
    let customer = page("/products/sales/tables/customer").await;
    let read_by = table_cells(&customer, "read-by");
    assert_eq!(
        read_by,
        vec![
            vec!["analytics.customers_by_nation".to_string(), "table".into()],
            vec!["analytics.customers_then".to_string(), "view".into()],
            vec!["analytics.rich_customers".to_string(), "view".into()],
        ]
    );
    assert!(customer.contains("id=\"built-from-none\""));
    // geo.nation only the created table reads.
    let nation = api("/api/v1/products/geo/tables/nation").await;
    assert_eq!(
        nation["lineage"]["read_by"],
        serde_json::json!([{"product": "analytics", "table": "customers_by_nation", "kind": "table"}])
    );
    assert_eq!(nation["lineage"]["built_from"], Value::Null);
    // A table read by nothing.
    let part = api("/api/v1/products/supply/tables/part").await;
    assert_eq!(part["lineage"]["read_by"], serde_json::json!([]));

    // What the created table was built from: its query, names qualified, and what it read.
    let built = api("/api/v1/products/analytics/tables/customers_by_nation").await;
    let reads: BTreeSet<&str> = built["lineage"]["built_from"]["reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(reads, BTreeSet::from(["geo.nation", "sales.customer"]));
    let sql = built["lineage"]["built_from"]["sql"].as_str().unwrap();
    assert!(
        sql.contains("sales.customer") && sql.contains("GROUP BY"),
        "{sql}"
    );
    let table_page = page("/products/analytics/tables/customers_by_nation").await;
    assert!(table_page.contains("id=\"built-from\""), "{table_page}");
    assert!(table_page.contains("href=\"/products/geo/tables/nation\""));
    // A view's lineage is its definition.
    let view = api("/api/v1/products/analytics/tables/rich_customers").await;
    assert_eq!(
        view["lineage"]["built_from"]["reads"],
        serde_json::json!(["sales.customer"])
    );
    assert!(view["lineage"]["built_from"]["sql"]
        .as_str()
        .unwrap()
        .contains("c_acctbal > 5000"));
    // One over a version reads the table, and shows the clause as written.
    let then = api("/api/v1/products/analytics/tables/customers_then").await;
    assert_eq!(
        then["lineage"]["built_from"]["reads"],
        serde_json::json!(["sales.customer"])
    );
    let then_sql = then["lineage"]["built_from"]["sql"].as_str().unwrap();
    assert!(
        then_sql.contains("FROM sales.customer FOR VERSION AS OF 0") && !then_sql.contains('"'),
        "{then_sql}"
    );

    // The source is recorded durably in the product's catalog, in the domain's storage.
    let catalogs = root.join("analytics/_meshgate/catalog");
    let newest = std::fs::read_dir(&catalogs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let manifest: Value = serde_json::from_slice(&std::fs::read(newest).unwrap()).unwrap();
    assert_eq!(
        manifest["tables"]["customers_by_nation"]["source"]["sql"],
        sql
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_owners_answer_access_requests_durably_and_only_once() {
    let audit = tempfile::tempdir().unwrap();
    let log = audit.path().join("audit.jsonl");
    let c = catalog_with(&format!(
        "\n[audit]\nsink = \"file\"\npath = \"{}\"\n",
        log.display()
    ))
    .await;
    let base = format!("http://{}", c.http);
    let http = client();
    let stored = geo_root(c.domains.path())
        .join("_meshgate")
        .join("access_requests")
        .join("notes");
    let post = |session: String, path: String, fields: Vec<(&'static str, String)>| {
        let http = http.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http.post(path)
                .header(COOKIE, format!("meshgate_session={session}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&fields))
                .send()
                .await
                .unwrap()
        }
    };
    // dave and carol, neither of whom reads `notes`, each ask.
    let mut ids = Vec::new();
    for (user, password) in [SALES_ANALYST, REGIONAL] {
        let session = sign_in(&http, &base, user, password).await;
        let page = ok_text(&http, &base, &session, "/products/notes").await;
        let r = post(
            session.clone(),
            format!("{base}/products/notes/access-requests"),
            vec![
                ("csrf", hidden(&page, "csrf")),
                ("reason", format!("{user} needs it")),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let page = ok_text(&http, &base, &session, "/products/notes").await;
        let mine = table_cells(&page, "my-requests");
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(mine[0][2], "pending");
    }
    for f in std::fs::read_dir(&stored).unwrap() {
        let r: Value = serde_json::from_slice(&std::fs::read(f.unwrap().path()).unwrap()).unwrap();
        ids.push((
            r["user"].as_str().unwrap().to_string(),
            r["id"].as_str().unwrap().to_string(),
        ));
    }
    ids.sort();
    let id_of = |user: &str| ids.iter().find(|(u, _)| u == user).unwrap().1.clone();
    let (carol_id, dave_id) = (id_of(REGIONAL.0), id_of(SALES_ANALYST.0));
    let decide = |id: &str| format!("{base}/products/notes/access-requests/{id}/decision");

    // A requester is no owner: refused, nothing recorded.
    let dave = sign_in(&http, &base, SALES_ANALYST.0, SALES_ANALYST.1).await;
    let page = ok_text(&http, &base, &dave, "/products/notes").await;
    let r = post(
        dave.clone(),
        decide(&dave_id),
        vec![
            ("csrf", hidden(&page, "csrf")),
            ("decision", "approve".into()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Only the product"));
    let decisions = stored.join("decisions");
    assert!(!decisions.exists());

    // The owner: a forged token, an unknown answer, an unknown request are refused.
    let alice = sign_in(
        &http,
        &base,
        crate::harness::ADMIN.0,
        crate::harness::ADMIN.1,
    )
    .await;
    let page = ok_text(&http, &base, &alice, "/products/notes").await;
    let csrf = hidden(&page, "csrf");
    assert!(page.contains(&format!("id=\"approve-{dave_id}\"")));
    assert!(page.contains("it does not grant access"));
    let r = post(
        alice.clone(),
        decide(&dave_id),
        vec![("csrf", "forged".into()), ("decision", "approve".into())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(
        alice.clone(),
        decide(&dave_id),
        vec![("csrf", csrf.clone()), ("decision", "maybe".into())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(
        alice.clone(),
        decide("0123456789abcdef"),
        vec![("csrf", csrf.clone()), ("decision", "approve".into())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!decisions.exists());

    // Approve dave's, deny carol's; a second answer is refused.
    for (id, answer) in [(&dave_id, "approve"), (&carol_id, "deny")] {
        let r = post(
            alice.clone(),
            decide(id),
            vec![("csrf", csrf.clone()), ("decision", answer.into())],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{answer}");
        assert_eq!(r.headers()[LOCATION], "/products/notes?answered=1");
    }
    let r = post(
        alice.clone(),
        decide(&dave_id),
        vec![("csrf", csrf.clone()), ("decision", "deny".into())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("already answered"));

    // Durable, next to the requests, in the domain's storage.
    let d: Value =
        serde_json::from_slice(&std::fs::read(decisions.join(format!("{dave_id}.json"))).unwrap())
            .unwrap();
    assert_eq!(d["approved"], true);
    assert_eq!(d["by"], crate::harness::ADMIN.0);
    let d: Value =
        serde_json::from_slice(&std::fs::read(decisions.join(format!("{carol_id}.json"))).unwrap())
            .unwrap();
    assert_eq!(d["approved"], false);
    // The owner's list and each requester's page show the answers; no grant was added.
    let page = ok_text(&http, &base, &alice, "/products/notes").await;
    let rows = table_cells(&page, "access-requests");
    let status = |user: &str| rows.iter().find(|r| r[1] == user).unwrap()[3].clone();
    assert!(
        status(SALES_ANALYST.0).starts_with("approved by alice"),
        "{rows:?}"
    );
    assert!(
        status(REGIONAL.0).starts_with("denied by alice"),
        "{rows:?}"
    );
    assert!(!page.contains("value=\"approve\""));
    let page = ok_text(&http, &base, &dave, "/products/notes").await;
    assert!(table_cells(&page, "my-requests")[0][2].starts_with("approved by alice"));
    assert!(page.contains("id=\"no-access\""), "approval is not a grant");
    let carol = sign_in(&http, &base, REGIONAL.0, REGIONAL.1).await;
    let page = ok_text(&http, &base, &carol, "/products/notes").await;
    assert!(table_cells(&page, "my-requests")[0][2].starts_with("denied by alice"));

    // Audited: both answers, and the refused second one.
    let events = || -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let approve = format!("APPROVE ACCESS REQUEST {dave_id} TO notes");
    let deny = format!("DENY ACCESS REQUEST {carol_id} TO notes");
    let again = format!("DENY ACCESS REQUEST {dave_id} TO notes");
    wait_for("the answers' audit events", Duration::from_secs(10), || {
        let e = events();
        [&approve, &deny]
            .iter()
            .all(|s| e.iter().any(|e| e["statement"] == s.as_str()))
    })
    .await;
    let all = events();
    let e = all
        .iter()
        .find(|e| e["statement"] == approve.as_str())
        .unwrap();
    assert_eq!(e["user"], crate::harness::ADMIN.0);
    assert_eq!(e["protocol"], "http");
    assert_eq!(e["outcome"], "ok");
    assert_eq!(e["domains"], serde_json::json!(["geo"]));
    // The second answer was refused before anything was written, so it is not an event.
    assert!(!all.iter().any(|e| e["statement"] == again.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_preview_over_the_memory_cap_is_refused_and_the_server_goes_on() {
    let (dir, _root) = crate::writes::writable_mesh_with(
        "http_listen = \"127.0.0.1:0\"\n[limits]\nmemory_pool_mb = 128\nquery_memory_mb = 32",
    );
    let s = crate::writes::start(dir.path()).await;
    wait_for("the HTTP port", Duration::from_secs(10), || {
        s.shared.http_addr().is_some()
    })
    .await;
    let base = format!("http://{}", s.shared.http_addr().unwrap());
    // A view whose one row needs an accumulator holding 3 million values, which cannot
    // spill: its preview needs far more than the 32 MB a statement may take.
    let bob = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    bob.batch_execute(
        "CREATE TABLE analytics.numbers AS SELECT g.value AS v FROM generate_series(1, 3000000) AS g(value);\
         CREATE VIEW analytics.hungry AS SELECT array_length(array_agg(v || 'some padding text'), 1) AS n \
         FROM analytics.numbers",
    )
    .await
    .unwrap();
    let http = client();
    let session = sign_in(&http, &base, ANALYST.0, ANALYST.1).await;
    let page = ok_text(&http, &base, &session, "/products/analytics/tables/hungry").await;
    assert!(
        page.contains("id=\"preview-error\"")
            && page.contains("memory limit")
            && page.contains("53200"),
        "{page}"
    );
    // The server goes on: pages, other previews and SQL answer, and the pool empties.
    let page = ok_text(&http, &base, &session, "/products/geo/tables/region").await;
    assert_eq!(table_cells(&page, "preview").len(), 5);
    assert_eq!(
        pg_rows(&bob, "SELECT count(*) FROM geo.nation").await,
        vec![vec![Some("25".to_string())]]
    );
    let ex = s.shared.executor.clone();
    wait_for("the pool to empty", Duration::from_secs(10), || {
        ex.memory_reserved() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_secrets_never_reach_the_server_log_or_pages() {
    let dir = tempfile::tempdir().unwrap();
    let http_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = crate::harness::write_config(
        dir.path(),
        &tpch().domains_dir,
        &format!("http_listen = \"127.0.0.1:{http_port}\""),
    );
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // The binary as operators run it, logging everything down to debug to stderr.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    std::fs::write(&config, text).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .env("MESHGATE_LOG", "debug")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The Postgres port listens once the HTTP port does.
    let pg = crate::writes::connect_port(port, ANALYST).await;
    let base = format!("http://127.0.0.1:{http_port}");
    let http = client();

    let wrong = "Wrong-Secret-4711";
    let r = http.get(format!("{base}/signin")).send().await.unwrap();
    let signin_token = cookie_value(r.headers(), "meshgate_signin").unwrap();
    let r = http
        .post(format!("{base}/signin"))
        .header(COOKIE, format!("meshgate_signin={signin_token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("user", ANALYST.0),
            ("password", wrong),
            ("csrf", &signin_token),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let mut pages = vec![r.text().await.unwrap()];
    let session = sign_in(&http, &base, ANALYST.0, ANALYST.1).await;
    for path in [
        "/",
        "/?q=customer",
        "/products/sales",
        "/products/sales/tables/customer",
        "/api/v1/products/sales/tables/customer",
    ] {
        pages.push(ok_text(&http, &base, &session, path).await);
    }
    let r = http
        .get(format!("{base}/api/v1/domains"))
        .basic_auth(ANALYST.0, Some(ANALYST.1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csrf = hidden(&pages[1], "csrf");
    let r = http
        .post(format!("{base}/signout"))
        .header(COOKIE, format!("meshgate_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    drop(pg);
    child.kill().await.unwrap();

    let logged = std::fs::read_to_string(&log_path).unwrap();
    // The log did capture the sign-ins it must not leak from.
    assert!(logged.contains("web sign-in failed"), "{logged}");
    assert!(logged.contains("web catalog sign-in"), "{logged}");
    for (what, secret) in [
        ("the password", ANALYST.1),
        ("the wrong password", wrong),
        ("the session id", session.as_str()),
        ("the session's CSRF token", csrf.as_str()),
        ("the sign-in token", signin_token.as_str()),
    ] {
        assert!(!logged.contains(secret), "{what} in the server log");
        for p in &pages {
            assert!(!p.contains(secret) || secret == csrf, "{what} in a page");
        }
    }
    // The CSRF token is the one secret a page must carry: in its forms, nowhere else.
    for p in &pages[1..5] {
        assert_eq!(
            p.matches(csrf.as_str()).count(),
            p.matches("name=\"csrf\"").count(),
            "the CSRF token only in forms"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_product_page_shows_jurisdiction_and_residency_rules() {
    let domains = crate::residency::domains(None);
    let s = TestServer::start_with(domains.path(), "http_listen = \"127.0.0.1:0\"").await;
    wait_for("the HTTP port", Duration::from_secs(10), || {
        s.shared.http_addr().is_some()
    })
    .await;
    let base = format!("http://{}", s.shared.http_addr().unwrap());
    let http = client();
    let session = sign_in(&http, &base, ANALYST.0, ANALYST.1).await;
    let page = ok_text(&http, &base, &session, "/products/sales").await;
    assert!(
        page.contains("<span id=\"jurisdiction\">eu</span>"),
        "{page}"
    );
    assert!(
        page.contains(
            "<span id=\"residency\">only aggregates of at least 10 rows; never customer.c_name, customer.c_address</span>"
        ),
        "{page}"
    );
    // A product without a jurisdiction says nothing of one.
    let page = ok_text(&http, &base, &session, "/products/geo").await;
    assert!(!page.contains("id=\"jurisdiction\""), "{page}");
    let api = ok_json(&http, &base, &session, "/api/v1/products/sales").await;
    assert_eq!(api["jurisdiction"], "eu");
    assert!(api["residency"]
        .as_str()
        .unwrap()
        .starts_with("only aggregates of at least 10 rows"));
}
