//! The JSON API under `/api/v1`: what the pages show, for scripts and catalog tools. A session
//! cookie or HTTP Basic credentials; 401 otherwise.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::Deserialize;

use super::{model, Peer, Web};
use crate::policy::Principal;

fn missing(what: String) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": format!("no {what}") })),
    )
        .into_response()
}

/// The signed-in principal, or the 401 answer.
async fn principal(
    web: &Web,
    headers: &HeaderMap,
    peer: &Peer,
) -> Result<(Arc<crate::catalog::Mesh>, Principal), Response> {
    let who = web.api_user(headers, peer).await?;
    let mesh = web.services.mesh.mesh();
    mesh.warm_in_background(crate::catalog::OPEN_CONCURRENCY);
    let p = Principal::login(&mesh.policies, &who.user, &who.roles);
    Ok((mesh, p))
}

pub(super) async fn domains(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    match principal(&web, &headers, &peer).await {
        Ok((mesh, who)) => Json(model::domains(&mesh, &who)).into_response(),
        Err(r) => r,
    }
}

pub(super) async fn products(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    match principal(&web, &headers, &peer).await {
        Ok((mesh, who)) => Json(
            mesh.products
                .values()
                .filter(|p| model::visible(p, &who))
                .map(|p| model::summary(p, &who))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(r) => r,
    }
}

pub(super) async fn product(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    match principal(&web, &headers, &peer).await {
        Ok((mesh, who)) => match model::product(&mesh, &name, &who) {
            Some(p) => Json(p).into_response(),
            None => missing(format!("product {name}")),
        },
        Err(r) => r,
    }
}

pub(super) async fn table(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path((product, name)): Path<(String, String)>,
) -> Response {
    match principal(&web, &headers, &peer).await {
        Ok((mesh, who)) => match model::table(&mesh, &product, &name, &who) {
            Some(t) => Json(t).into_response(),
            None => missing(format!("table {product}.{name}")),
        },
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    q: Option<String>,
}

pub(super) async fn search(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> Response {
    match principal(&web, &headers, &peer).await {
        Ok((mesh, who)) => {
            Json(model::search(&mesh, q.q.as_deref().unwrap_or(""), &who)).into_response()
        }
        Err(r) => r,
    }
}
