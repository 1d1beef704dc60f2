//! Who may use the clerk's listener. It is for office staff only, on loopback or the office
//! network, and it takes letters into the tip line and checks callers' codes, so:
//! - every request must name the listener's own address as its host (a web page that points
//!   a DNS name at that address is refused);
//! - a post from another origin is refused, and the session cookie is `SameSite=Strict`;
//! - every page but the sign-in page needs the session cookie, a random 32-byte value given
//!   only after the clerk token (its own, never the admin token) was typed, compared in
//!   constant time; wrong tokens are answered one at a time, a second apart.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse};

use crate::session::{cookie_of, host_matches, plain, same_origin, set_cookie, SessionTable};

/// Name of the session cookie (not the desk's: the two never share a session).
pub const COOKIE: &str = "clerk_session";
/// Most sessions at once (each sign-in adds one; the oldest goes first).
const MAX_SESSIONS: usize = 16;
/// A session unused this long ends: a computer left on asks for the token again.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// How long a wrong token is held before it is answered, one at a time.
pub const WRONG_TOKEN_PAUSE: Duration = Duration::from_secs(1);

/// The live sessions, with when each was last used, in this process's memory only.
pub struct Sessions {
    table: SessionTable,
    /// Held while a typed token is judged, so guesses go one at a time.
    pub(super) judging: tokio::sync::Mutex<()>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            table: SessionTable::new(MAX_SESSIONS, IDLE),
            judging: tokio::sync::Mutex::new(()),
        }
    }
}

impl Sessions {
    /// A new session; its cookie value.
    pub fn start(&self) -> String {
        self.table.start()
    }

    /// Whether `value` is a live session (and, if so, it counts as used now).
    pub fn check(&self, value: &str) -> bool {
        self.table.check(value)
    }

    /// Ends the session `value`.
    pub fn end(&self, value: &str) {
        self.table.end(value)
    }
}

/// The `Set-Cookie` value for a session.
pub fn cookie(value: &str) -> String {
    set_cookie(COOKIE, value)
}

/// The `Set-Cookie` value that ends it in the browser.
pub fn cleared_cookie() -> String {
    crate::session::cleared_cookie(COOKIE)
}

/// The session cookie's value, if the request carries one.
pub fn session_of(req: &HttpRequest) -> Option<String> {
    cookie_of(req, COOKIE)
}

/// Paths open without a session: the style sheets and the sign-in page.
fn is_open_path(path: &str) -> bool {
    path == "/assets/site.css"
        || path == "/assets/clerk.css"
        || path == "/"
        || path == "/zh/signin"
        || path == "/en/signin"
}

/// Whether the Host header names this listener: the address it is bound to, or a loopback
/// name when it is bound to loopback.
fn own_host(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| host_matches(host, req.app_config().local_addr()))
}

/// The guard around every request of the clerk's listener (see the module's notes).
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !own_host(&req) {
        let res = plain(
            StatusCode::MISDIRECTED_REQUEST,
            "这个登记台只在它自己的地址上使用。 The office intake answers only on its own address.",
        );
        return Ok(req.into_response(res));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD && !same_origin(req.headers()) {
        let res = plain(
            StatusCode::FORBIDDEN,
            "另一个网页发来的请求被拒绝。 A request sent by another website was refused.",
        );
        return Ok(req.into_response(res));
    }
    let state = req
        .app_data::<actix_web::web::Data<super::ClerkState>>()
        .cloned();
    let signed_in = state
        .as_ref()
        .is_some_and(|s| session_of(req.request()).is_some_and(|value| s.sessions.check(&value)));
    if !signed_in && !is_open_path(req.path()) {
        let lang = if req.path().starts_with("/en") {
            "en"
        } else {
            "zh"
        };
        let res = if req.path().starts_with("/api/") {
            crate::web::errors::json_error(
                StatusCode::UNAUTHORIZED,
                "Sign in with the clerk token first. Nothing was changed.",
            )
        } else if req.method() == Method::GET {
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("/{lang}/signin")))
                .insert_header(("Cache-Control", "no-store"))
                .finish()
        } else {
            plain(
                StatusCode::UNAUTHORIZED,
                "请先输入登记台口令。 Sign in with the clerk token first.",
            )
        };
        return Ok(req.into_response(res));
    }
    next.call(req).await.map(|r| r.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table itself is tested in `crate::session`; here only what the clerk's sessions
    /// add: its size.
    #[test]
    fn the_clerks_sessions_keep_at_most_max_sessions() {
        crate::crypto::init().unwrap();
        let s = Sessions::default();
        let a = s.start();
        s.end(&a);
        assert!(!s.check(&a));
        for _ in 0..=MAX_SESSIONS {
            s.start();
        }
        assert_eq!(s.table.len(), MAX_SESSIONS);
    }
}
