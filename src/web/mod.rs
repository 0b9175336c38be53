//! The web catalog: the mesh for people who do not write catalog queries, and a JSON API for
//! tools, on the server's HTTP port (`server.http_listen`, see `crate::server`).
//!
//! ```text
//!  GET  /signin, POST /signin ─► auth.rs   the user's SCRAM verifier, the Postgres port's throttle
//!  POST /signout                           server-side sessions, HttpOnly cookie, CSRF tokens
//!  GET  /                      ─► pages.rs domains and products; ?q= searches (model.rs)
//!  GET  /products/{p}          ─► pages.rs the product page
//!  POST /products/{p}/access-requests ─► access.rs a request for a grant, stored in the domain's
//!                                          storage, audited, listed for the product's owners
//!  POST /products/{p}/access-requests/{id}/decision  an owner approves or denies (access.rs)
//!  GET  /products/{p}/tables/{t}           the table page; its preview and history run as the
//!                                          user through a session (query.rs): same engine,
//!                                          policies, limits and audit as SQL
//!  GET  /api/v1/…              ─► api.rs   the same data as JSON (model.rs)
//!  html.rs: escaping, the page frame, the stylesheet
//! ```
//!
//! Pages read the mesh's in-memory metadata (what pg_catalog lists); only the preview and the
//! version history read storage, through SQL. Nothing answers without a session: pages
//! redirect to the sign-in page, the API answers 401.

mod access;
mod api;
mod auth;
mod html;
mod model;
mod pages;
mod query;
mod signed;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::auth::jwt::JwtVerifier;
use crate::auth::Logins;
use crate::metrics::Metrics;
use crate::session::Services;

/// Where a request comes from (the HTTP port adds it to every request).
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: SocketAddr,
    /// Over TLS.
    pub secure: bool,
}

/// What the catalog's handlers share.
pub struct Web {
    services: Services,
    logins: Arc<Logins>,
    metrics: Arc<Metrics>,
    /// Served over TLS: cookies are `Secure`.
    secure: bool,
    sessions: auth::Sessions,
    /// The Postgres port, for the connection strings the product page shows.
    pg_addr: Option<SocketAddr>,
    /// The `[auth.jwt]` verifier in force now (a reload replaces it), if tokens are configured.
    jwt: JwtSource,
}

/// Where the catalog finds the JWT verifier of the configuration in force.
pub type JwtSource = Box<dyn Fn() -> Option<Arc<JwtVerifier>> + Send + Sync>;

impl Web {
    pub fn new(
        services: Services,
        logins: Arc<Logins>,
        metrics: Arc<Metrics>,
        secure: bool,
        pg_addr: Option<SocketAddr>,
        jwt: JwtSource,
    ) -> Web {
        let idle = services.mesh.config().server.web_session_idle_secs;
        Web {
            services,
            logins,
            metrics,
            secure,
            sessions: auth::Sessions::new(std::time::Duration::from_secs(idle)),
            pg_addr,
            jwt,
        }
    }
}

/// The catalog's routes.
pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/signin", get(auth::signin_page).post(auth::signin))
        .route("/signout", post(auth::signout))
        .route("/products/{product}", get(pages::product))
        .route("/products/{product}/access-requests", post(access::request))
        .route(
            "/products/{product}/access-requests/{id}/decision",
            post(access::decide),
        )
        .route("/products/{product}/tables/{table}", get(pages::table))
        .route("/style.css", get(html::stylesheet))
        .route("/api/v1/domains", get(api::domains))
        .route("/api/v1/products", get(api::products))
        .route("/api/v1/products/{product}", get(api::product))
        .route("/api/v1/products/{product}/tables/{table}", get(api::table))
        .route("/api/v1/search", get(api::search))
        .fallback(not_found)
        // Forms are a user name, a password and a token.
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(web)
}

async fn not_found() -> Response {
    let mut r = (StatusCode::NOT_FOUND, "not found\n").into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Every answer: no caching of what a user saw, no framing, no scripts, no sniffing.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}
