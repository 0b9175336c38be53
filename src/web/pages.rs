//! The catalog's pages: home (domains, products, search), a product, a table.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

use super::html::{esc, page, table as html_table, url_encode};
use super::{model, Peer, Web};
use crate::policy::Principal;

#[derive(Deserialize)]
pub(super) struct Search {
    q: Option<String>,
}

/// Rows the table page previews.
pub(super) const PREVIEW_ROWS: usize = 20;

fn product_link(p: &str) -> String {
    format!("<a href=\"/products/{}\">{}</a>", url_encode(p), esc(p))
}

fn table_link(p: &str, t: &str) -> String {
    format!(
        "<a href=\"/products/{}/tables/{}\">{}</a>",
        url_encode(p),
        url_encode(t),
        esc(t)
    )
}

fn tags(tags: &[String]) -> String {
    tags.iter()
        .map(|t| format!("<span class=\"tag\">{}</span>", esc(t)))
        .collect()
}

/// "7 minutes ago".
fn ago(ms: i64) -> String {
    let secs = (chrono::Utc::now().timestamp_millis() - ms).max(0) / 1000;
    let (n, unit) = match secs {
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

fn not_found(who: &super::signed::Signed, what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            Some(who),
            "",
            &format!("<h1>Not found</h1><p>There is no {}.</p>", esc(what)),
        ),
    )
        .into_response()
}

pub(super) async fn home(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    uri: Uri,
    Query(search): Query<Search>,
) -> Response {
    let who = match web.page_user(&headers, &uri) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let mesh = web.services.mesh.mesh();
    mesh.warm_in_background(crate::catalog::OPEN_CONCURRENCY);
    let principal = Principal::login(&mesh.policies, &who.user, &who.roles);
    let q = search.q.unwrap_or_default();
    let mut body = String::new();
    if !q.trim().is_empty() {
        let hits = model::search(&mesh, &q, &principal);
        let _ = write!(
            body,
            "<h1>Search: {}</h1><p id=\"hits\">{} match{}</p>",
            esc(q.trim()),
            hits.len(),
            if hits.len() == 1 { "" } else { "es" }
        );
        let rows: Vec<Vec<String>> = hits
            .iter()
            .map(|h| {
                vec![
                    product_link(&h.product),
                    h.table
                        .as_deref()
                        .map(|t| table_link(&h.product, t))
                        .unwrap_or_default(),
                    h.column.as_deref().map(esc).unwrap_or_default(),
                    esc(h.matched),
                    esc(&h.text),
                ]
            })
            .collect();
        body.push_str(&html_table(
            "results",
            &["Product", "Table", "Column", "Matched", "Text"],
            &rows,
        ));
    } else {
        body.push_str("<h1>Data products</h1>");
    }
    for d in model::domains(&mesh, &principal) {
        let _ = write!(
            body,
            "<section class=\"domain\"><h2>Domain {}</h2><p>{}</p>",
            esc(&d.name),
            esc(&d.description)
        );
        if !d.owners.is_empty() {
            let _ = write!(
                body,
                "<p class=\"note\">Owners: {}</p>",
                esc(&d.owners.join(", "))
            );
        }
        let rows: Vec<Vec<String>> = d
            .products
            .iter()
            .map(|p| {
                vec![
                    product_link(&p.name),
                    esc(&p.description),
                    tags(&p.tags),
                    p.tables.len().to_string(),
                    if p.readable {
                        "yes"
                    } else {
                        "no: request a grant"
                    }
                    .to_string(),
                ]
            })
            .collect();
        body.push_str(&html_table(
            &format!("domain-{}", d.name),
            &["Product", "Description", "Tags", "Tables", "You may read"],
            &rows,
        ));
        body.push_str("</section>");
    }
    page("Data products", Some(&who), &q, &body).into_response()
}

#[derive(Deserialize)]
pub(super) struct ProductQuery {
    requested: Option<String>,
    answered: Option<String>,
}

/// The owners' list of requests, each pending one with approve and deny buttons.
fn requests_for_owners(
    product: &str,
    csrf: &str,
    requests: &[super::access::AccessRequest],
) -> String {
    let rows: Vec<Vec<String>> = requests
        .iter()
        .map(|r| {
            let answer = if r.decision.is_some() {
                String::new()
            } else {
                format!(
                    "<form method=\"post\" action=\"/products/{}/access-requests/{}/decision\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                     <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve-{id}\">Approve</button> \
                     <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny-{id}\">Deny</button></form>",
                    url_encode(product),
                    url_encode(&r.id),
                    esc(csrf),
                    id = esc(&r.id),
                )
            };
            vec![
                esc(&r.time),
                esc(&r.user),
                esc(&r.reason),
                esc(&r.status()),
                answer,
            ]
        })
        .collect();
    format!(
        "<h2>Access requests</h2>{}<p class=\"note\" id=\"approval-note\">Approving records your answer \
         and shows it to the requester; it does not grant access. Add the grant to the domain file \
         to give it.</p>",
        html_table(
            "access-requests",
            &["Time", "User", "Reason", "Status", "Answer"],
            &rows
        )
    )
}

pub(super) async fn product(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Query(pq): Query<ProductQuery>,
) -> Response {
    let who = match web.page_user(&headers, &uri) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let mesh = web.services.mesh.mesh();
    let principal = Principal::login(&mesh.policies, &who.user, &who.roles);
    let Some(p) = model::product(&mesh, &name, &principal) else {
        return not_found(&who, &format!("product {name}"));
    };
    let s = &p.summary;
    let mut body = format!(
        "<h1>Product <span id=\"product\">{}</span></h1><p id=\"description\">{}</p><table id=\"facts\">",
        esc(&s.name),
        esc(&s.description)
    );
    let mut fact = |k: &str, v: String| {
        let _ = write!(body, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
    };
    fact("Domain", esc(&s.domain));
    fact("Owner / contact", esc(&s.owner));
    fact("Domain owners", esc(&p.domain_owners.join(", ")));
    fact("Tags", tags(&s.tags));
    fact("Formats", esc(&p.formats.join(", ")));
    if let Some(j) = &p.jurisdiction {
        fact(
            "Jurisdiction",
            format!("<span id=\"jurisdiction\">{}</span>", esc(j)),
        );
        fact(
            "Leaves the jurisdiction",
            format!(
                "<span id=\"residency\">{}</span>",
                esc(p.residency.as_deref().unwrap_or("all rows"))
            ),
        );
    }
    fact(
        "Freshness",
        match &p.freshness {
            Some(f) => format!(
                "<span id=\"freshness\">{}version {}, {}</span> <span class=\"note\">({}, {})</span>",
                if p.tables.len() > 1 {
                    format!("{}: ", esc(&f.table))
                } else {
                    String::new()
                },
                esc(f.version.as_deref().unwrap_or("?")),
                ago(f.committed_at_ms),
                esc(&f.committed_at),
                esc(&f.table)
            ),
            None => "not known yet".into(),
        },
    );
    fact(
        "You may read",
        if s.readable {
            "yes".into()
        } else {
            "<span id=\"no-access\">no: you have no grant on this product; ask its owner</span>"
                .into()
        },
    );
    body.push_str("</table>");
    if pq.answered.is_some() {
        body.push_str("<p class=\"note\" id=\"answered\">Your answer was recorded.</p>");
    }
    if pq.requested.is_some() {
        body.push_str(
            "<p class=\"note\" id=\"requested\">Your request was sent to the product's domain.</p>",
        );
    }
    if !s.readable {
        let _ = write!(
            body,
            "<h2>Request access</h2><form method=\"post\" action=\"/products/{}/access-requests\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <label>Why do you need it? <textarea name=\"reason\" id=\"reason\" rows=\"3\" cols=\"60\" maxlength=\"{}\" required></textarea></label> \
             <button type=\"submit\" id=\"request-access\">Request access</button></form>",
            url_encode(&s.name),
            esc(&who.csrf),
            super::access::MAX_REASON
        );
    }
    let owner = super::access::owns(&mesh, &who, &s.name);
    // Storage is read only for those who have something to see there: the owners, and users
    // who cannot read the product (their own requests' status).
    if owner || !s.readable {
        match super::access::list(&mesh, &s.name).await {
            Ok(requests) if owner => {
                body.push_str(&requests_for_owners(&s.name, &who.csrf, &requests));
            }
            Ok(requests) => {
                let rows: Vec<Vec<String>> = requests
                    .iter()
                    .filter(|r| r.user == who.user)
                    .map(|r| vec![esc(&r.time), esc(&r.reason), esc(&r.status())])
                    .collect();
                if !rows.is_empty() {
                    body.push_str("<h2>Your access requests</h2>");
                    body.push_str(&html_table(
                        "my-requests",
                        &["Time", "Reason", "Status"],
                        &rows,
                    ));
                    body.push_str(
                        "<p class=\"note\">An approved request becomes access once the domain adds the grant to its domain file.</p>",
                    );
                }
            }
            Err(e) => {
                let id = crate::error::error_id();
                tracing::error!(error_id = %id, product = %s.name, "access requests not read: {e}");
                let _ = write!(
                    body,
                    "<p class=\"error\">The access requests could not be read (error id {id}).</p>"
                );
            }
        }
    }
    body.push_str("<h2>Tables</h2>");
    let rows: Vec<Vec<String>> = p
        .tables
        .iter()
        .map(|t| {
            vec![
                table_link(&s.name, &t.name),
                esc(&t.format),
                esc(t.description.as_deref().unwrap_or("")),
                t.row_count.map(|n| n.to_string()).unwrap_or_default(),
                esc(t.version.as_deref().unwrap_or("")),
                esc(t.committed_at.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    body.push_str(&html_table(
        "tables",
        &[
            "Table",
            "Format",
            "Description",
            "Rows",
            "Version",
            "Committed",
        ],
        &rows,
    ));
    body.push_str("<h2>Who may read it</h2>");
    let rows: Vec<Vec<String>> = p
        .grants
        .iter()
        .map(|g| {
            vec![
                esc(g.table.as_deref().unwrap_or("(every table)")),
                esc(&g.to.join(", ")),
                esc(g.privilege),
            ]
        })
        .collect();
    body.push_str(&html_table("grants", &["Table", "To", "Privilege"], &rows));
    // Connection strings.
    let config = web.services.mesh.config();
    let (host, port) = match web.pg_addr {
        Some(a) if !a.ip().is_unspecified() => (a.ip().to_string(), a.port()),
        Some(a) => (request_host(&headers), a.port()),
        None => (request_host(&headers), 5433),
    };
    let db = &config.server.database;
    let first = p.tables.first().map(|t| t.name.as_str()).unwrap_or("t");
    let _ = write!(
        body,
        "<h2>Connect</h2><p>psql</p><pre id=\"psql\">psql \"host={h} port={port} dbname={d} user={u}\"</pre>\
         <p>JDBC</p><pre id=\"jdbc\">jdbc:postgresql://{h}:{port}/{d}?user={u}</pre>\
         <p>Sample query</p><pre id=\"sample\">SELECT * FROM {pq}.{tq} LIMIT 10;</pre>",
        h = esc(&host),
        d = esc(db),
        u = esc(&who.user),
        pq = esc(&quote_ident(&s.name)),
        tq = esc(&quote_ident(first)),
    );
    page(&format!("Product {}", s.name), Some(&who), "", &body).into_response()
}

/// The host name the browser used, for connection strings when the server listens on every
/// address.
fn request_host(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h.to_string(),
        _ => host.to_string(),
    }
}

/// An identifier as SQL needs it: bare when it is lowercase and plain, else double-quoted.
fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub(super) async fn table(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    uri: Uri,
    Path((product, name)): Path<(String, String)>,
) -> Response {
    let who = match web.page_user(&headers, &uri) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let mesh = web.services.mesh.mesh();
    let principal = Principal::login(&mesh.policies, &who.user, &who.roles);
    let shown = mesh
        .products
        .get(&product)
        .is_some_and(|p| model::visible(p, &principal) && p.tables.contains_key(&name));
    if !shown {
        return not_found(&who, &format!("table {product}.{name}"));
    }
    // The preview first: as SQL would, it opens the table, so its columns are known below.
    let preview = web
        .run_as(
            &who,
            peer.addr,
            &format!(
                "SELECT * FROM {}.{} LIMIT {PREVIEW_ROWS}",
                quote_ident(&product),
                quote_ident(&name)
            ),
        )
        .await;
    let history = web
        .run_as(
            &who,
            peer.addr,
            &format!(
                "SELECT version, committed_at, operation, rows_added, rows_removed FROM mesh.history \
                 WHERE product = {} AND table_name = {} ORDER BY committed_at DESC LIMIT 20",
                quote_literal(&product),
                quote_literal(&name)
            ),
        )
        .await;
    let Some(t) = model::table(&mesh, &product, &name, &principal) else {
        return not_found(&who, &format!("table {product}.{name}"));
    };
    let s = &t.summary;
    let mut body = format!(
        "<p>{} › {}</p><h1>Table <span id=\"table\">{}.{}</span></h1><p id=\"description\">{}</p><table id=\"facts\">",
        esc(&t.domain),
        product_link(&t.product),
        esc(&t.product),
        esc(&s.name),
        esc(s.description.as_deref().unwrap_or(""))
    );
    let mut fact = |k: &str, v: String| {
        let _ = write!(body, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
    };
    fact("Format", esc(&s.format));
    fact(
        "Rows",
        format!(
            "<span id=\"row-count\">{}</span>",
            s.row_count
                .map(|n| n.to_string())
                .unwrap_or_else(|| "not known".into())
        ),
    );
    fact(
        "Version",
        format!(
            "{}{}",
            esc(s.version.as_deref().unwrap_or("?")),
            s.committed_at
                .as_deref()
                .map(|c| format!(", committed {}", esc(c)))
                .unwrap_or_default()
        ),
    );
    if !t.row_filters.is_empty() {
        fact(
            "Row filters for you",
            format!(
                "<span id=\"row-filters\">{}</span>: you see only the rows they let through",
                esc(&t.row_filters.join(", "))
            ),
        );
    }
    body.push_str("</table><h2>Columns</h2>");
    match &t.columns {
        Some(columns) => {
            let rows: Vec<Vec<String>> = columns
                .iter()
                .map(|c| {
                    vec![
                        format!("<code>{}</code>", esc(&c.name)),
                        esc(&c.data_type),
                        if c.nullable { "yes" } else { "no" }.into(),
                        esc(c.description.as_deref().unwrap_or("")),
                        if c.masked {
                            "<span class=\"masked\">masked for you</span>".into()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect();
            body.push_str(&html_table(
                "columns",
                &["Column", "Type", "Nullable", "Description", "Masked"],
                &rows,
            ));
        }
        None => body.push_str("<p class=\"note\">The table's metadata has not been read yet.</p>"),
    }
    body.push_str(&lineage_html(&t.lineage));
    let _ = write!(body, "<h2>Preview ({PREVIEW_ROWS} rows, as you)</h2>");
    body.push_str(&answer_html("preview", &preview));
    body.push_str("<h2>Version history</h2>");
    body.push_str(&answer_html("history", &history));
    page(&format!("Table {product}.{name}"), Some(&who), "", &body).into_response()
}

fn lineage_html(l: &model::Lineage) -> String {
    let mut h = String::from("<h2>Lineage</h2><h3>Read by</h3>");
    if l.read_by.is_empty() {
        h.push_str("<p class=\"note\" id=\"read-by-none\">No view or created table in a writable product reads it.</p>");
    } else {
        let rows: Vec<Vec<String>> = l
            .read_by
            .iter()
            .map(|r| {
                vec![
                    format!(
                        "{}.{}",
                        product_link(&r.product),
                        table_link(&r.product, &r.table)
                    ),
                    esc(r.kind),
                ]
            })
            .collect();
        h.push_str(&html_table("read-by", &["Relation", "Kind"], &rows));
    }
    h.push_str("<h3>Built from</h3>");
    match &l.built_from {
        Some(b) => {
            let reads: Vec<String> = b
                .reads
                .iter()
                .map(|r| match r.split_once('.') {
                    Some((p, t)) => format!("{}.{}", product_link(p), table_link(p, t)),
                    None => esc(r),
                })
                .collect();
            let _ = write!(
                h,
                "<p id=\"built-from-reads\">Reads: {}</p><pre id=\"built-from\">{}</pre>",
                if reads.is_empty() { "no table".into() } else { reads.join(", ") },
                esc(&b.sql)
            );
        }
        None => h.push_str(
            "<p class=\"note\" id=\"built-from-none\">Not written by meshgate: the domain's own pipelines build it.</p>",
        ),
    }
    h
}

fn answer_html(id: &str, a: &Result<super::query::Answer, crate::error::UserError>) -> String {
    match a {
        Ok(a) => {
            let rows: Vec<Vec<String>> = a
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| match v {
                            Some(v) => esc(v),
                            None => "<span class=\"note\">NULL</span>".into(),
                        })
                        .collect()
                })
                .collect();
            let head: Vec<&str> = a.columns.iter().map(String::as_str).collect();
            html_table(id, &head, &rows)
        }
        Err(e) => format!(
            "<p class=\"error\" id=\"{}-error\">Refused: {} (SQLSTATE {})</p>",
            esc(id),
            esc(&e.message),
            esc(e.code.code())
        ),
    }
}
