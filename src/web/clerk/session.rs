//! Who may use the clerk's listener. It is for office staff only, on loopback or the office
//! network, and it takes letters into the tip line and checks callers' codes, so:
//! - every request must name the listener's own address as its host (a web page that points
//!   a DNS name at that address is refused);
//! - a post from another origin is refused, and the session cookie is `SameSite=Strict`;
//! - every page but the sign-in page needs the session cookie, a random 32-byte value given
//!   only after the clerk token (its own, never the admin token) was typed, compared in
//!   constant time; wrong tokens are answered one at a time, a second apart.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse};
use zeroize::Zeroizing;

use crate::crypto;

/// Name of the session cookie (not the desk's: the two never share a session).
pub const COOKIE: &str = "clerk_session";
/// Most sessions at once (each sign-in adds one; the oldest goes first).
const MAX_SESSIONS: usize = 16;
/// A session unused this long ends: a computer left on asks for the token again.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// How long a wrong token is held before it is answered, one at a time.
pub const WRONG_TOKEN_PAUSE: Duration = Duration::from_secs(1);

/// The live sessions, with when each was last used, in this process's memory only.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<Vec<(Zeroizing<[u8; 32]>, Instant)>>,
    /// Held while a typed token is judged, so guesses go one at a time.
    pub(super) judging: tokio::sync::Mutex<()>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = Zeroizing::new([0u8; 32]);
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

impl Sessions {
    /// A new session; its cookie value.
    pub fn start(&self) -> String {
        let mut token = Zeroizing::new([0u8; 32]);
        crypto::random_fill(&mut token[..]);
        let value = hex(&token[..]);
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|(_, used)| used.elapsed() < IDLE);
        if live.len() >= MAX_SESSIONS {
            live.remove(0);
        }
        live.push((token, Instant::now()));
        value
    }

    /// Whether `value` is a live session (and, if so, it counts as used now).
    pub fn check(&self, value: &str) -> bool {
        let Some(token) = unhex(value) else {
            return false;
        };
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|(_, used)| used.elapsed() < IDLE);
        let mut hit = false;
        for (t, used) in live.iter_mut() {
            if crypto::ct_eq(&t[..], &token[..]) {
                *used = Instant::now();
                hit = true;
            }
        }
        hit
    }

    /// Ends the session `value`.
    pub fn end(&self, value: &str) {
        if let Some(token) = unhex(value) {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            live.retain(|(t, _)| !crypto::ct_eq(&t[..], &token[..]));
        }
    }
}

/// The `Set-Cookie` value for a session.
pub fn cookie(value: &str) -> String {
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict")
}

/// The `Set-Cookie` value that ends it in the browser.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session cookie's value, if the request carries one.
pub fn session_of(req: &HttpRequest) -> Option<String> {
    // Parsed by hand: actix-web is built without its cookie feature.
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .map(str::to_owned)
        .next()
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
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    host_matches(host, req.app_config().local_addr())
}

fn host_matches(host: &str, bound: SocketAddr) -> bool {
    let port = bound.port();
    let own = match bound.ip() {
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let mut names = vec![own];
    if bound.ip().is_loopback() {
        names.extend(["127.0.0.1", "localhost", "[::1]"].map(String::from));
    }
    names.iter().any(|name| host == format!("{name}:{port}"))
}

/// Whether a post comes from the listener's own pages (see the desk's `same_origin`): a
/// browser's `Sec-Fetch-Site` settles it; without it, an `Origin` must be this one's.
fn same_origin(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("Sec-Fetch-Site") {
        let site = site.to_str().unwrap_or("").trim();
        return site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            origin == format!("http://{host}")
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(text)
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
    if req.method() != Method::GET && req.method() != Method::HEAD && !same_origin(&req) {
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

    #[test]
    fn sessions_start_check_and_end() {
        crypto::init().unwrap();
        let s = Sessions::default();
        let a = s.start();
        assert!(s.check(&a));
        assert!(!s.check(&"0".repeat(64)));
        assert!(!s.check("zz"));
        s.end(&a);
        assert!(!s.check(&a));
        for _ in 0..MAX_SESSIONS {
            s.start();
        }
        let last = s.start();
        assert!(s.check(&last));
        assert_eq!(s.live.lock().unwrap().len(), MAX_SESSIONS);
    }

    #[test]
    fn hosts_are_the_bound_address_or_loopback_names() {
        let lo: SocketAddr = "127.0.0.1:8082".parse().unwrap();
        for ok in ["127.0.0.1:8082", "localhost:8082", "[::1]:8082"] {
            assert!(host_matches(ok, lo), "{ok}");
        }
        for bad in [
            "127.0.0.1:8083",
            "evil.example:8082",
            "localhost",
            "10.0.0.5:8082",
        ] {
            assert!(!host_matches(bad, lo), "{bad}");
        }
        let lan: SocketAddr = "10.0.0.5:8082".parse().unwrap();
        assert!(host_matches("10.0.0.5:8082", lan));
        assert!(!host_matches("localhost:8082", lan));
        assert!(!host_matches("rebound.example:8082", lan));
    }
}
