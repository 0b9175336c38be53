//! Requests for access: a user asks a product's domain for a grant, with a reason.
//!
//! ```text
//!  POST /products/{p}/access-requests (reason, CSRF token)
//!    ├─► <domain storage root>/_meshgate/access_requests/<product>/<time>-<id>.json
//!    │     (one object per request: durable, in the domain's own storage, on S3 as on disk)
//!    ├─► an audit event: protocol "http", statement "REQUEST ACCESS TO <product>"
//!    └─► 303 to the product page, which says the request was sent
//!  product page, for its owners (admins, users named in the domain's `owners` or as the
//!  product's `owner`): the requests, read from that storage, each with approve/deny buttons
//!  POST /products/{p}/access-requests/{id}/decision (approve|deny, CSRF token; owners only)
//!    ├─► …/access_requests/<product>/decisions/<id>.json, written only if absent (one decision)
//!    ├─► an audit event: "APPROVE ACCESS REQUEST <id> TO <product>" (or DENY)
//!    └─► 303 to the product page; the requester sees the status there
//! ```
//!
//! Granting stays the domain's to do, in its domain file: an approval is a record of the
//! owner's answer, not a grant.

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

use super::auth::{forbidden, same};
use super::html::{esc, page, url_encode};
use super::signed::Signed;
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
    /// The owner's answer, stored apart (the request object is never rewritten).
    #[serde(skip)]
    pub decision: Option<Decision>,
}

/// An owner's answer to a request, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Decision {
    /// The request's id.
    pub id: String,
    pub approved: bool,
    pub by: String,
    /// RFC 3339, UTC.
    pub time: String,
}

impl AccessRequest {
    /// "pending", "approved by …" or "denied by …".
    pub(super) fn status(&self) -> String {
        match &self.decision {
            None => "pending".into(),
            Some(d) => format!(
                "{} by {} at {}",
                if d.approved { "approved" } else { "denied" },
                d.by,
                d.time
            ),
        }
    }
}

/// Where decisions are kept, under a product's requests.
const DECISIONS: &str = "decisions";

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
        let mut decisions = std::collections::HashMap::new();
        for m in metas {
            let bytes = store
                .get(&m.location)
                .await
                .map_err(|e| e.to_string())?
                .bytes()
                .await
                .map_err(|e| e.to_string())?;
            let decision = m
                .location
                .prefix_match(&prefix)
                .is_some_and(|mut rest| rest.next().is_some_and(|p| p.as_ref() == DECISIONS));
            if decision {
                if let Ok(d) = serde_json::from_slice::<Decision>(&bytes) {
                    decisions.insert(d.id.clone(), d);
                }
            } else if let Ok(r) = serde_json::from_slice::<AccessRequest>(&bytes) {
                out.push(r);
            }
        }
        for r in &mut out {
            r.decision = decisions.remove(&r.id);
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
    let principal = crate::policy::Principal::login(&mesh.policies, &who.user, &who.roles);
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
        decision: None,
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
    audit(
        &web,
        &who,
        &peer,
        &record.time,
        format!("REQUEST ACCESS TO {}", p.name),
        p,
        outcome,
        stored.is_err().then(|| "58030".to_string()),
    );
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

/// An audit event for a request or a decision: the catalog's own statements, over HTTP.
#[allow(clippy::too_many_arguments)]
fn audit(
    web: &Web,
    who: &Signed,
    peer: &Peer,
    time: &str,
    statement: String,
    p: &crate::catalog::ProductEntry,
    outcome: Outcome,
    sqlstate: Option<String>,
) {
    web.services.auditor.submit(Event {
        time: time.to_string(),
        pid: 0,
        user: who.user.clone(),
        roles: who.roles.clone(),
        client_addr: peer.addr.ip().to_string(),
        client_port: peer.addr.port(),
        application_name: super::query::APPLICATION.to_string(),
        gateway: None,
        protocol: Protocol::Http,
        statement: Some(statement),
        products: vec![p.name.clone()],
        tables: Vec::new(),
        domains: vec![p.domain.clone()],
        policies: Vec::new(),
        versions: Default::default(),
        tables_written: Vec::new(),
        source_statements: Vec::new(),
        rows: 0,
        bytes_sent: None,
        bytes_received: Default::default(),
        bytes_scanned: Default::default(),
        bytes_estimated: Vec::new(),
        cluster: false,
        cluster_job: None,
        duration_ms: 0.0,
        outcome,
        sqlstate,
    });
}

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    csrf: String,
}

/// A short page for a decision that could not be recorded.
fn decision_refused(who: &Signed, product: &str, status: StatusCode, text: &str) -> Response {
    (
        status,
        page(
            "Access request",
            Some(who),
            "",
            &format!(
                "<h1>Access request</h1><p class=\"error\" id=\"message\">{}</p>\
                 <p><a href=\"/products/{}\">Back to the product</a></p>",
                esc(text),
                url_encode(product)
            ),
        ),
    )
        .into_response()
}

pub(super) async fn decide(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    uri: Uri,
    Path((product, id)): Path<(String, String)>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let who = match web.page_user(&headers, &uri) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    if !same(&who.csrf, &form.csrf) {
        return forbidden();
    }
    let mesh = web.services.mesh.mesh();
    let Some(p) = mesh.products.get(&product) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    if !owns(&mesh, &who, &product) {
        return decision_refused(
            &who,
            &product,
            StatusCode::FORBIDDEN,
            "Only the product's owners answer its access requests.",
        );
    }
    let approved = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return decision_refused(
                &who,
                &product,
                StatusCode::BAD_REQUEST,
                "Choose approve or deny.",
            )
        }
    };
    let requests = match list(&mesh, &product).await {
        Ok(r) => r,
        Err(e) => {
            let error_id = crate::error::error_id();
            tracing::error!(%error_id, product = %product, "access requests not read: {e}");
            return decision_refused(
                &who,
                &product,
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("The requests could not be read (error id {error_id}). Try again later."),
            );
        }
    };
    let Some(request) = requests.iter().find(|r| r.id == id) else {
        return decision_refused(
            &who,
            &product,
            StatusCode::NOT_FOUND,
            "There is no such request for this product.",
        );
    };
    if request.decision.is_some() {
        return decision_refused(
            &who,
            &product,
            StatusCode::CONFLICT,
            &format!("This request was already answered: {}.", request.status()),
        );
    }
    let Some((store, prefix)) = prefix(&mesh, &product) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let decision = Decision {
        id: request.id.clone(),
        approved,
        by: who.user.clone(),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    };
    // The id was matched against a stored request, so it is a plain path segment.
    let location = prefix.join(DECISIONS).join(format!("{}.json", decision.id));
    let body = serde_json::to_vec_pretty(&decision).expect("a decision serialises");
    // Written only if absent: two owners answering at once leave one answer, the first.
    let stored = store
        .put_opts(
            &location,
            body.into(),
            object_store::PutOptions::from(object_store::PutMode::Create),
        )
        .await;
    let verb = if approved { "APPROVE" } else { "DENY" };
    let (outcome, sqlstate) = match &stored {
        Ok(_) => (Outcome::Ok, None),
        Err(object_store::Error::AlreadyExists { .. }) => {
            (Outcome::Error, Some("40001".to_string()))
        }
        Err(_) => (Outcome::Error, Some("58030".to_string())),
    };
    audit(
        &web,
        &who,
        &peer,
        &decision.time,
        format!("{verb} ACCESS REQUEST {} TO {}", decision.id, p.name),
        p,
        outcome,
        sqlstate,
    );
    match stored {
        Ok(_) => {
            tracing::info!(user = %who.user, product = %p.name, request = %decision.id, approved, "access request answered");
            Redirect::to(&format!("/products/{}?answered=1", url_encode(&p.name))).into_response()
        }
        Err(object_store::Error::AlreadyExists { .. }) => decision_refused(
            &who,
            &product,
            StatusCode::CONFLICT,
            "Another owner answered this request a moment ago.",
        ),
        Err(e) => {
            let error_id = crate::error::error_id();
            tracing::error!(%error_id, product = %p.name, "access decision not stored: {e}");
            decision_refused(
                &who,
                &product,
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!(
                    "The decision could not be stored (error id {error_id}). Try again later."
                ),
            )
        }
    }
}
