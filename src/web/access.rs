//! Requests for access: a user asks a product's domain for a grant, with a reason.
//!
//! ```text
//!  POST /products/{p}/access-requests (reason, CSRF token)
//!    ├─► <domain storage root>/_meshgate/access_requests/<product>/<time>-<id>.json
//!    │     (one object per request: durable, in the domain's own storage, on S3 as on disk)
//!    ├─► an audit event: protocol "http", statement "REQUEST ACCESS TO <product>"
//!    └─► 303 to the product page, which says the request was sent
//!  product page, for its owners (admins, users named in the domain's `owners` or as the
//!  product's `owner`): the requests, read from that storage
//! ```
//!
//! Granting stays the domain's to do, in its domain file.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use super::auth::{forbidden, same, Signed};
use super::html::{esc, page, url_encode};
use super::{Peer, Web};
use crate::audit::{Event, Outcome, Protocol};
use crate::catalog::Mesh;

/// The longest reason taken, in characters.
pub(super) const MAX_REASON: usize = 2000;

/// How long the product page waits for its owners' list of requests.
const LIST_WITHIN: Duration = Duration::from_secs(5);

/// One request, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AccessRequest {
    pub id: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub user: String,
    pub domain: String,
    pub product: String,
    pub reason: String,
}

/// Whether `user` owns the product: an admin, or named in its domain's `owners` or as its
/// `owner`.
pub(super) fn owns(mesh: &Mesh, who: &Signed, product: &str) -> bool {
    let Some(p) = mesh.products.get(product) else {
        return false;
    };
    who.admin
        || p.owner == who.user
        || mesh
            .domains
            .iter()
            .any(|d| d.name == p.domain && d.owners.contains(&who.user))
}

fn prefix(mesh: &Mesh, product: &str) -> Option<(Arc<dyn object_store::ObjectStore>, ObjectPath)> {
    let p = mesh.products.get(product)?;
    let d = mesh.domains.iter().find(|d| d.name == p.domain)?;
    let path = ObjectPath::from_url_path(format!(
        "{}_meshgate/access_requests/{}",
        d.storage.root.path(),
        p.name
    ))
    .ok()?;
    Some((d.storage.object_store.clone(), path))
}

/// The requests for a product, oldest first.
pub(super) async fn list(mesh: &Mesh, product: &str) -> Result<Vec<AccessRequest>, String> {
    let Some((store, prefix)) = prefix(mesh, product) else {
        return Ok(Vec::new());
    };
    let read = async {
        let metas: Vec<_> = store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for m in metas {
            let bytes = store
                .get(&m.location)
                .await
                .map_err(|e| e.to_string())?
                .bytes()
                .await
                .map_err(|e| e.to_string())?;
            if let Ok(r) = serde_json::from_slice::<AccessRequest>(&bytes) {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.time.cmp(&b.time));
        Ok(out)
    };
    tokio::time::timeout(LIST_WITHIN, read)
        .await
        .unwrap_or_else(|_| Err("the domain's storage did not answer in time".into()))
}

#[derive(Deserialize)]
pub(super) struct RequestForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    csrf: String,
}

pub(super) async fn request(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    uri: Uri,
    Path(product): Path<String>,
    Form(form): Form<RequestForm>,
) -> Response {
    let who = match web.page_user(&headers, &uri) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    if !same(&who.csrf, &form.csrf) {
        return forbidden();
    }
    let mesh = web.services.mesh.mesh();
    let principal = crate::policy::Principal::login(&mesh.policies, &who.user, &[]);
    let Some(p) = mesh
        .products
        .get(&product)
        .filter(|p| super::model::visible(p, &principal))
    else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let reason = form.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return (
            StatusCode::BAD_REQUEST,
            page(
                "Request access",
                Some(&who),
                "",
                &format!(
                    "<h1>Request access</h1><p class=\"error\" id=\"message\">Give a reason of 1 to {MAX_REASON} characters.</p>\
                     <p><a href=\"/products/{}\">Back to the product</a></p>",
                    url_encode(&product)
                ),
            ),
        )
            .into_response();
    }
    let now = chrono::Utc::now();
    let id = {
        let mut b = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    };
    let record = AccessRequest {
        id: id.clone(),
        time: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        user: who.user.clone(),
        domain: p.domain.clone(),
        product: p.name.clone(),
        reason: reason.to_string(),
    };
    let Some((store, prefix)) = prefix(&mesh, &product) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let location = prefix
        .clone()
        .join(format!("{}-{id}.json", now.format("%Y%m%dT%H%M%S%6fZ")));
    let body = serde_json::to_vec_pretty(&record).expect("a request serialises");
    let stored = store.put(&location, body.into()).await;
    let outcome = if stored.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Error
    };
    web.services.auditor.submit(Event {
        time: record.time.clone(),
        pid: 0,
        user: who.user.clone(),
        roles: Vec::new(),
        client_addr: peer.addr.ip().to_string(),
        client_port: peer.addr.port(),
        application_name: super::query::APPLICATION.to_string(),
        protocol: Protocol::Http,
        statement: Some(format!("REQUEST ACCESS TO {}", p.name)),
        products: vec![p.name.clone()],
        tables: Vec::new(),
        domains: vec![p.domain.clone()],
        policies: Vec::new(),
        versions: Default::default(),
        tables_written: Vec::new(),
        source_statements: Vec::new(),
        rows: 0,
        bytes_scanned: Default::default(),
        bytes_estimated: Vec::new(),
        duration_ms: 0.0,
        outcome,
        sqlstate: stored.is_err().then(|| "58030".to_string()),
    });
    if let Err(e) = stored {
        let error_id = crate::error::error_id();
        tracing::error!(%error_id, product = %p.name, "access request not stored: {e}");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            page(
                "Request access",
                Some(&who),
                "",
                &format!(
                    "<h1>Request access</h1><p class=\"error\">The request could not be stored (error id {}). Try again later.</p>",
                    esc(&error_id)
                ),
            ),
        )
            .into_response();
    }
    tracing::info!(user = %who.user, product = %p.name, "access requested");
    Redirect::to(&format!("/products/{}?requested=1", url_encode(&p.name))).into_response()
}
