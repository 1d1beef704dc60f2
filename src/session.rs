//! Browser sessions of the office's own listeners (the inspectors' desk on loopback, the
//! clerk's intake on the office network): a random 32-byte cookie value given after a
//! secret was typed, held in this process's memory only, compared in constant time, ended
//! after a while unused; and the checks every such listener makes of a request (its own
//! host name, no post from another website). Shared by `desk` and `web::clerk`, so that
//! the two keep one set of rules.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use zeroize::Zeroizing;

use crate::crypto;

/// Live sessions, each with when it was last used.
pub struct SessionTable {
    live: Mutex<Vec<(Zeroizing<[u8; 32]>, Instant)>>,
    max: usize,
    idle: Duration,
}

/// A 32-byte secret as 64 lowercase hex digits.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads what [`hex`] wrote for 32 bytes.
pub(crate) fn unhex(text: &str) -> Option<Zeroizing<[u8; 32]>> {
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

impl SessionTable {
    /// At most `max` sessions (the oldest goes first), each ending after `idle` unused.
    pub fn new(max: usize, idle: Duration) -> Self {
        Self {
            live: Mutex::new(Vec::new()),
            max,
            idle,
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Vec<(Zeroizing<[u8; 32]>, Instant)>> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let idle = self.idle;
        live.retain(|(_, used)| used.elapsed() < idle);
        live
    }

    /// A new session; its cookie value.
    pub fn start(&self) -> String {
        let mut token = Zeroizing::new([0u8; 32]);
        crypto::random_fill(&mut token[..]);
        let value = hex(&token[..]);
        let mut live = self.live();
        if live.len() >= self.max {
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
        let mut hit = false;
        for (t, used) in self.live().iter_mut() {
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
            self.live()
                .retain(|(t, _)| !crypto::ct_eq(&t[..], &token[..]));
        }
    }

    /// Ends every session.
    pub fn clear(&self) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.live().len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `Set-Cookie` value for session `value` under cookie `name`.
pub fn set_cookie(name: &str, value: &str) -> String {
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict")
}

/// The `Set-Cookie` value that ends cookie `name` in the browser.
pub fn cleared_cookie(name: &str) -> String {
    format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The value of cookie `name`, if the request carries it. Parsed by hand: actix-web is
/// built without its cookie feature.
pub fn cookie_of(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
        .map(str::to_owned)
        .next()
}

/// Whether a `Host` header names a listener bound to `bound`: its own address, or a
/// loopback name when it is bound to loopback (a page that points a DNS name at the
/// address is refused).
pub fn host_matches(host: &str, bound: SocketAddr) -> bool {
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

/// Whether a post comes from the listener's own pages. A browser's `Sec-Fetch-Site`
/// settles it (no page can change it). Without it, an `Origin` must be this listener's;
/// the pages send no referrer, so a browser without `Sec-Fetch-Site` sends `Origin: null`,
/// which is refused too: these listeners are for current browsers in the office.
pub fn same_origin(headers: &HeaderMap) -> bool {
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

/// A short plain-text refusal, never cached.
pub fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_start_check_end_and_make_room() {
        crypto::init().unwrap();
        let s = SessionTable::new(3, Duration::from_secs(60));
        let a = s.start();
        assert!(s.check(&a));
        assert!(!s.check(&"0".repeat(64)));
        assert!(!s.check("zz"));
        s.end(&a);
        assert!(!s.check(&a));
        for _ in 0..3 {
            s.start();
        }
        let last = s.start();
        assert!(s.check(&last));
        assert_eq!(s.len(), 3);
        s.clear();
        assert!(s.is_empty());
        let gone = SessionTable::new(3, Duration::ZERO);
        let v = gone.start();
        assert!(!gone.check(&v), "an idle session ends");
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
