//! Signing in and out of the web catalog, and who a request is.
//!
//! ```text
//!  GET /signin ─► form + CSRF token (double submit: the same random value in a cookie)
//!  POST /signin ─► token matches? no ─► 403
//!                   ├─ a JWT (token field) ─► the Postgres port's `[auth.jwt]` verifier ─► session
//!                   └─► the Postgres port's throttle (same counts, same delays, same ceiling)
//!                        └─► the user's SCRAM verifier (a decoy for unknown users)
//!                             ├─ wrong ─► 401, the pair's failure counted
//!                             └─ right ─► server-side session: random id in an HttpOnly,
//!                                         SameSite=Lax cookie (Secure over TLS); 303 to `next`
//!  POST /signout ─► the session's CSRF token? no ─► 403; yes ─► session forgotten, cookie cleared
//! ```
//!
//! A session ends after `server.web_session_idle_secs` unused, and after 12 hours in any case.
//! The API also takes HTTP Basic credentials (for scripts), checked the same way. Passwords and
//! session ids never reach the log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use base64::Engine;
use serde::Deserialize;

use super::signed::Signed;
use super::{html, Peer, Web};
use crate::auth::jwt::TokenError;
use crate::auth::throttle::Policy;
use crate::auth::{AuthMethod, ScramVerifier};

/// The session cookie.
const SESSION_COOKIE: &str = "meshgate_session";
/// The sign-in form's CSRF cookie (there is no session yet to hold its token).
const SIGNIN_COOKIE: &str = "meshgate_signin";
/// A session's longest life, however busy.
const MAX_AGE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;

struct Entry {
    user: String,
    admin: bool,
    method: AuthMethod,
    roles: Vec<String>,
    csrf: String,
    started: Instant,
    used: Instant,
}

/// Server-side sessions by id.
pub(super) struct Sessions {
    map: Mutex<HashMap<String, Entry>>,
    idle: Duration,
}

impl Sessions {
    pub(super) fn new(idle: Duration) -> Sessions {
        Sessions {
            map: Mutex::default(),
            idle,
        }
    }

    fn create(&self, user: &str, admin: bool, method: AuthMethod, roles: Vec<String>) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut map = self.map.lock().expect("no panics while held");
        if map.len() >= SWEEP_AT {
            let idle = self.idle;
            map.retain(|_, e| alive(e, idle, now));
        }
        map.insert(
            id.clone(),
            Entry {
                user: user.to_string(),
                admin,
                method,
                roles,
                csrf: random_token(),
                started: now,
                used: now,
            },
        );
        id
    }

    fn get(&self, id: &str) -> Option<Signed> {
        let now = Instant::now();
        let mut map = self.map.lock().expect("no panics while held");
        let e = map.get_mut(id)?;
        if !alive(e, self.idle, now) {
            map.remove(id);
            return None;
        }
        e.used = now;
        Some(Signed {
            user: e.user.clone(),
            admin: e.admin,
            method: e.method,
            roles: e.roles.clone(),
            csrf: e.csrf.clone(),
        })
    }

    fn remove(&self, id: &str) {
        self.map.lock().expect("no panics while held").remove(id);
    }
}

fn alive(e: &Entry, idle: Duration, now: Instant) -> bool {
    now.duration_since(e.used) < idle && now.duration_since(e.started) < MAX_AGE
}

/// 32 random bytes, base64url.
fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Equal strings, compared in time independent of where they differ.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie's value from the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Web {
    fn set_cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(s) = max_age {
            c.push_str(&format!("; Max-Age={s}"));
        }
        if self.secure {
            c.push_str("; Secure");
        }
        HeaderValue::from_str(&c).expect("cookie text is ASCII")
    }

    /// The signed-in user of a request, if any.
    pub(super) fn signed_in(&self, headers: &HeaderMap) -> Option<Signed> {
        self.sessions.get(cookie(headers, SESSION_COOKIE)?)
    }

    /// The user of a page request, or the redirect to the sign-in page (back here after).
    pub(super) fn page_user(&self, headers: &HeaderMap, uri: &Uri) -> Result<Signed, Redirect> {
        self.signed_in(headers).ok_or_else(|| {
            let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            Redirect::to(&format!("/signin?next={}", html::url_encode(next)))
        })
    }

    /// The user of an API request: a session, or HTTP Basic credentials; else 401.
    pub(super) async fn api_user(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
    ) -> Result<Signed, Response> {
        if let Some(s) = self.signed_in(headers) {
            return Ok(s);
        }
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok());
        let refused = |message: &str| {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({ "error": message })),
            )
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"meshgate\""),
            );
            r
        };
        let Some((user, password)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
            return Err(refused(
                "sign in first (a session cookie or HTTP Basic credentials)",
            ));
        };
        match self.check_password(peer.addr.ip(), user, password).await {
            Checked::In { admin } => Ok(Signed {
                user: user.to_string(),
                admin,
                method: AuthMethod::Password,
                roles: Vec::new(),
                csrf: String::new(),
            }),
            Checked::Refused => Err(refused("too many failed sign-in attempts")),
            Checked::Wrong => Err(refused("sign-in failed")),
        }
    }

    /// A password against the user's verifier, throttled as logins on the Postgres port are
    /// (the same counts: failures on either port slow down both).
    async fn check_password(&self, ip: IpAddr, user: &str, password: &str) -> Checked {
        let config = self.services.mesh.config();
        let policy = Policy::from_limits(&config.limits);
        let throttle = &self.logins.throttle;
        if throttle.user_refused(user, &policy) {
            self.metrics.refused("login_rate_limited");
            tracing::warn!(peer = %ip, user = %user, "web sign-in refused: too many failed logins for this user");
            return Checked::Refused;
        }
        let wait = throttle.wait(ip, user, &policy);
        if !wait.is_zero() {
            self.metrics.login_delayed(wait);
            tokio::time::sleep(wait).await;
        }
        let known = config.users.get(user);
        let verifier = known
            .map(|u| u.verifier.clone())
            .unwrap_or_else(|| ScramVerifier::decoy(user, &self.logins.decoy_secret));
        let password = password.to_string();
        // PBKDF2 is CPU work: off the network threads.
        let right = tokio::task::spawn_blocking(move || verifier.verify_password(&password))
            .await
            .unwrap_or(false);
        match known {
            Some(u) if right => {
                throttle.succeeded(ip, user);
                Checked::In { admin: u.admin }
            }
            _ => {
                let reason = if known.is_some() {
                    "wrong password"
                } else {
                    "unknown user"
                };
                tracing::warn!(peer = %ip, user = %user, "web sign-in failed: {reason}");
                self.metrics.login_failed();
                throttle.failed(ip, user, &policy);
                Checked::Wrong
            }
        }
    }
}

enum Checked {
    In { admin: bool },
    Wrong,
    Refused,
}

#[derive(Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

/// Only paths of this site: never another origin (`//host`, `/\host`).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/",
    }
}

pub(super) async fn signin_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Response {
    let next = safe_next(q.next.as_deref()).to_string();
    if web.signed_in(&headers).is_some() {
        return Redirect::to(&next).into_response();
    }
    signin_form(&web, StatusCode::OK, &next, None)
}

/// The sign-in form with a fresh token in the form and its cookie.
fn signin_form(web: &Web, status: StatusCode, next: &str, message: Option<&str>) -> Response {
    let token = random_token();
    let tokens = (web.jwt)().is_some();
    let mut r = (status, html::signin(&token, next, message, tokens)).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        web.set_cookie(SIGNIN_COOKIE, &token, None),
    );
    r
}

#[derive(Deserialize)]
pub(super) struct SigninForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    /// A JWT from the identity provider, in place of a user name and password.
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// The throttle's user key for token sign-ins: a refused token names no user we could trust,
/// so its failures are counted per address.
const TOKEN_THROTTLE_USER: &str = "\u{0}jwt";

/// What a token sign-in came to.
enum TokenChecked {
    In {
        user: String,
        admin: bool,
        roles: Vec<String>,
    },
    /// Refused; the text is for the person signing in and says why without quoting the token.
    Refused(&'static str),
}

impl Web {
    /// A JWT checked as the Postgres port checks one (the same `[auth.jwt]` keys, issuer,
    /// audience and claims), with failures counted by the same throttle.
    async fn check_token(&self, ip: IpAddr, token: &str) -> TokenChecked {
        let Some(verifier) = (self.jwt)() else {
            return TokenChecked::Refused(
                "This server takes no tokens: sign in with your user name and password.",
            );
        };
        let config = self.services.mesh.config();
        let policy = Policy::from_limits(&config.limits);
        let throttle = &self.logins.throttle;
        let wait = throttle.wait(ip, TOKEN_THROTTLE_USER, &policy);
        if !wait.is_zero() {
            self.metrics.login_delayed(wait);
            tokio::time::sleep(wait).await;
        }
        let refused = |why: &str, shown: &'static str| {
            tracing::warn!(peer = %ip, "web sign-in with a token failed: {why}");
            self.metrics.login_failed();
            throttle.failed(ip, TOKEN_THROTTLE_USER, &policy);
            TokenChecked::Refused(shown)
        };
        match verifier.verify(token.trim(), std::time::SystemTime::now()) {
            Ok(claims) => {
                throttle.succeeded(ip, TOKEN_THROTTLE_USER);
                // Users not in [[users]] are ordinary users, as over the Postgres port.
                let admin = config.users.get(&claims.user).is_some_and(|u| u.admin);
                TokenChecked::In {
                    user: claims.user,
                    admin,
                    roles: claims.roles,
                }
            }
            Err(TokenError::Invalid(why)) if why.starts_with("expired") => refused(
                &why,
                "Sign-in failed: the token has expired. Get a new one from your identity provider.",
            ),
            Err(TokenError::Invalid(why)) => refused(
                &why,
                "Sign-in failed: the token is not valid (its signature, issuer, audience or dates do not check out).",
            ),
            Err(TokenError::Identity(why)) => refused(
                &why,
                "Sign-in failed: the token names no user.",
            ),
        }
    }

    /// A new session: its cookie set, the sign-in cookie cleared, back to `next`.
    fn start_session(
        &self,
        peer: &Peer,
        next: &str,
        user: &str,
        admin: bool,
        method: AuthMethod,
        roles: Vec<String>,
    ) -> Response {
        let id = self.sessions.create(user, admin, method, roles);
        tracing::info!(peer = %peer.addr, user = %user, method = %method, "web catalog sign-in");
        let mut r = Redirect::to(next).into_response();
        let h = r.headers_mut();
        h.append(
            header::SET_COOKIE,
            self.set_cookie(SESSION_COOKIE, &id, None),
        );
        h.append(
            header::SET_COOKIE,
            self.set_cookie(SIGNIN_COOKIE, "", Some(0)),
        );
        r
    }
}

pub(super) async fn signin(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<SigninForm>,
) -> Response {
    let expected = cookie(&headers, SIGNIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !same(expected, &form.csrf) {
        return forbidden();
    }
    let next = safe_next(form.next.as_deref()).to_string();
    if !form.token.trim().is_empty() {
        return match web.check_token(peer.addr.ip(), &form.token).await {
            TokenChecked::In { user, admin, roles } => {
                web.start_session(&peer, &next, &user, admin, AuthMethod::Jwt, roles)
            }
            TokenChecked::Refused(message) => {
                signin_form(&web, StatusCode::UNAUTHORIZED, &next, Some(message))
            }
        };
    }
    match web
        .check_password(peer.addr.ip(), &form.user, &form.password)
        .await
    {
        Checked::In { admin } => web.start_session(
            &peer,
            &next,
            &form.user,
            admin,
            AuthMethod::Password,
            Vec::new(),
        ),
        Checked::Wrong => signin_form(
            &web,
            StatusCode::UNAUTHORIZED,
            &next,
            Some("Sign-in failed: wrong user name or password."),
        ),
        Checked::Refused => signin_form(
            &web,
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            Some("Too many failed sign-in attempts for this user; try again later."),
        ),
    }
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn signout(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let Some(id) = cookie(&headers, SESSION_COOKIE) else {
        return Redirect::to("/signin").into_response();
    };
    let Some(who) = web.sessions.get(id) else {
        return Redirect::to("/signin").into_response();
    };
    if !same(&who.csrf, &form.csrf) {
        return forbidden();
    }
    web.sessions.remove(id);
    let mut r = Redirect::to("/signin").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        web.set_cookie(SESSION_COOKIE, "", Some(0)),
    );
    r
}

pub(super) fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        html::message_page(
            "Refused",
            "The form's security token is missing or wrong. Reload the page and try again.",
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/products/sales?x=1")),
            "/products/sales?x=1"
        );
        for other in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "",
            "x",
        ] {
            assert_eq!(safe_next(Some(other)), "/", "{other}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same(&a, &a[..42]));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("xmeshgate_session=no; meshgate_session=yes; other=1"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("yes"));
        assert_eq!(cookie(&h, SIGNIN_COOKIE), None);
    }

    #[test]
    fn sessions_expire_when_idle() {
        let s = Sessions::new(Duration::from_millis(0));
        let id = s.create("bob", false, AuthMethod::Password, Vec::new());
        assert!(s.get(&id).is_none(), "idle longer than 0 ms");
        let s = Sessions::new(Duration::from_secs(60));
        let id = s.create("bob", false, AuthMethod::Password, Vec::new());
        let who = s.get(&id).expect("a fresh session");
        assert_eq!(who.user, "bob");
        s.remove(&id);
        assert!(s.get(&id).is_none());
    }
}
