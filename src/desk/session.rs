//! Who may use the desk. It listens on 127.0.0.1 only, but other programs and other
//! accounts on the machine, and any web page its browser opens, can reach that address. So:
//! - every request must name the desk's own loopback host (a page from elsewhere that
//!   points a DNS name at 127.0.0.1 is refused);
//! - a post from another origin is refused, and the session cookie is `SameSite=Strict`;
//! - every page but the unlock page needs the session cookie, a random 32-byte value given
//!   only after the office passphrase was typed (or through the one-time sign-in link the
//!   desk prints when it was started with `--passphrase-file`), compared in constant time.

use std::sync::Mutex;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{HttpRequest, HttpResponse};
use zeroize::Zeroizing;

use crate::crypto;
use crate::session::{
    cookie_of, hex, host_matches, plain, same_origin, set_cookie, unhex, SessionTable,
};

/// Name of the session cookie.
pub const COOKIE: &str = "desk_session";
/// Most browser sessions at once (each unlock or sign-in adds one).
const MAX_SESSIONS: usize = 8;
/// A session unused this long ends: a desk left open asks for the passphrase again, and a
/// cookie that leaked (browsers send it to every service on 127.0.0.1, whatever the port)
/// stops working.
pub const IDLE: Duration = Duration::from_secs(30 * 60);

/// The live sessions (with when each was last used, in this process's memory only) and the
/// one-time sign-in token.
pub struct Sessions {
    table: SessionTable,
    signin: Mutex<Option<Zeroizing<[u8; 32]>>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            table: SessionTable::new(MAX_SESSIONS, IDLE),
            signin: Mutex::new(None),
        }
    }
}

impl Sessions {
    /// A new session; its cookie value.
    pub fn start(&self) -> String {
        self.table.start()
    }

    /// Whether `value` is a live session.
    pub fn check(&self, value: &str) -> bool {
        self.table.check(value)
    }

    /// Ends every session and the sign-in link.
    pub fn clear(&self) {
        self.table.clear();
        *self.signin.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// A fresh one-time sign-in token (replacing any earlier one), as printed in the link.
    pub fn new_signin(&self) -> String {
        let mut token = Zeroizing::new([0u8; 32]);
        crypto::random_fill(&mut token[..]);
        let value = hex(&token[..]);
        *self.signin.lock().unwrap_or_else(|p| p.into_inner()) = Some(token);
        value
    }

    /// Spends the sign-in token: true once, for the right value.
    pub fn spend_signin(&self, value: &str) -> bool {
        let Some(given) = unhex(value) else {
            return false;
        };
        let mut slot = self.signin.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some(t) if crypto::ct_eq(&t[..], &given[..]) => {
                *slot = None;
                true
            }
            _ => false,
        }
    }
}

/// The `Set-Cookie` value for a session.
pub fn cookie(value: &str) -> String {
    set_cookie(COOKIE, value)
}

/// Whether the request carries a live session.
pub fn has_session(req: &HttpRequest, sessions: &Sessions) -> bool {
    cookie_of(req, COOKIE).is_some_and(|value| sessions.check(&value))
}

/// Headers on every answer: no scripts at all, nothing from elsewhere (images and sound,
/// the residents' files, from the desk itself only), no framing, no caching of case pages
/// or files, no referrer.
pub fn headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add(("Cache-Control", "no-store"))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
}

/// Paths open without a session: the style sheet, the unlock page and the sign-in link.
fn is_open_path(path: &str) -> bool {
    path == "/desk.css"
        || path.starts_with("/signin/")
        || path == "/zh/unlock"
        || path == "/en/unlock"
}

/// Whether the Host header names this desk on loopback.
fn loopback_host(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| host_matches(host, req.app_config().local_addr()))
}

/// The guard around every request (see the module's notes).
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !loopback_host(&req) {
        let res = plain(
            StatusCode::MISDIRECTED_REQUEST,
            "这个办公台只在本机 127.0.0.1 上使用。 This desk answers only on 127.0.0.1.",
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
    let desk = req.app_data::<super::DeskData>().cloned();
    let allowed = is_open_path(req.path())
        || desk
            .as_ref()
            .is_some_and(|d| d.is_open() && has_session(req.request(), &d.sessions));
    if !allowed {
        let lang = if req.path().starts_with("/en") {
            "en"
        } else {
            "zh"
        };
        let res = if req.method() == Method::GET {
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("/{lang}/unlock")))
                .finish()
        } else {
            plain(
                StatusCode::UNAUTHORIZED,
                "请先用办公室口令解锁。 Unlock the desk with the office passphrase first.",
            )
        };
        return Ok(req.into_response(res));
    }
    next.call(req).await.map(|r| r.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_the_signin_link() {
        crypto::init().unwrap();
        let s = Sessions::default();
        let a = s.start();
        assert!(s.check(&a));
        assert!(!s.check(&"0".repeat(64)));
        assert!(!s.check("zz"));
        let link = s.new_signin();
        assert!(!s.spend_signin(&a));
        assert!(s.spend_signin(&link));
        assert!(!s.spend_signin(&link), "the link works once");
        s.clear();
        assert!(!s.check(&a));
        for _ in 0..MAX_SESSIONS {
            s.start();
        }
        let last = s.start();
        assert!(s.check(&last));
        assert_eq!(s.table.len(), MAX_SESSIONS);
    }
}
