//! Rate limits (governor), kept in memory only and keyed so that no address is ever held.
//!
//! Per client, the key is a BLAKE2b hash of the peer address (IPv6 by its /56 prefix, the
//! block one household or phone usually gets) under a random key that lives only in memory
//! and is replaced at least daily; replacing it also drops every counter, so memory stays
//! bounded and yesterday's keys cannot be linked to today's. Per route class there is also a
//! global limit: behind Tor or a proxy every client shares one address, and the global limits
//! (with Tor's own proof-of-work defence) carry the load there.
//!
//! Proxies' `X-Forwarded-For` and similar headers are never read: a client could forge them,
//! and they would put addresses where none belong.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use zeroize::Zeroizing;

use crate::crypto;

/// What a request costs us, and so which limits it counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Stores something: a tip or a follow-up (disk).
    Submit,
    /// Tests a receipt the server must hash: status checks and follow-ups with a receipt
    /// (one Argon2id run each, and guessing).
    Receipt,
    /// Everything else: pages, the key, assets.
    Page,
    /// Tests a lookup value a browser derived (`/api/v2`): one keyed BLAKE2b, so a much
    /// larger quota; guessing through it still costs the guesser one Argon2id per receipt.
    Lookup,
    /// Starts an upload of an evidence file: a record that waits for chunks, so a global
    /// rate keeps a flood of empty uploads from filling the room set aside for files.
    Upload,
}

impl Class {
    const ALL: [Class; 5] = [
        Class::Submit,
        Class::Receipt,
        Class::Page,
        Class::Lookup,
        Class::Upload,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// Name used in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Class::Submit => "submit",
            Class::Receipt => "receipt",
            Class::Page => "page",
            Class::Lookup => "lookup",
            Class::Upload => "upload",
        }
    }

    /// The classes a request to the public listener counts against. A follow-up both
    /// stores something and tells whether a receipt exists, so it counts as both.
    pub fn of(method: &Method, path: &str) -> &'static [Class] {
        if method != Method::POST {
            return &[Class::Page];
        }
        let tail = path.rsplit('/').next().unwrap_or("");
        if let Some(v2) = path.strip_prefix("/api/v2/") {
            return match v2 {
                // A tip under a lookup value the browser made: only the store is spent (a
                // taken value answers 409, but the submit quota is far below the lookups').
                "tips" => &[Class::Submit],
                "followups" => &[Class::Lookup, Class::Submit],
                "status" | "consent" => &[Class::Lookup],
                _ => &[Class::Page],
            };
        }
        if path == "/api/v1/uploads" {
            return &[Class::Upload];
        }
        match (path.starts_with("/api/v1/"), tail) {
            (true, "tips") | (false, "report") => &[Class::Submit],
            (true, "followups") | (false, "followup") => &[Class::Receipt, Class::Submit],
            (true, "status") | (false, "status") | (true, "receipts") => &[Class::Receipt],
            (true, "consent") | (false, "consent") => &[Class::Receipt],
            _ => &[Class::Page],
        }
    }
}

/// Limits, from the command line.
#[derive(Clone, Copy, Debug)]
pub struct LimitConfig {
    /// Tips and follow-ups per client per hour.
    pub client_submit_per_hour: u32,
    /// Receipt checks per client per minute.
    pub client_receipt_per_minute: u32,
    /// Page requests per client per minute.
    pub client_page_per_minute: u32,
    /// Lookup-value checks per client per minute.
    pub client_lookup_per_minute: u32,
    /// Tips and follow-ups per second, all clients together.
    pub global_submit_per_second: u32,
    /// Receipt checks per second, all clients together.
    pub global_receipt_per_second: u32,
    /// Lookup-value checks per second, all clients together.
    pub global_lookup_per_second: u32,
    /// Uploads of evidence files started per client per hour.
    pub client_upload_per_hour: u32,
    /// Uploads started per second, all clients together.
    pub global_upload_per_second: u32,
    /// Whether per-client limits apply (off behind a proxy or Tor, where every client has
    /// the proxy's address).
    pub per_client: bool,
    /// Whether a shared peer (loopback, unspecified: a proxy or Tor on this machine, which
    /// speaks for everyone) is exempt from the per-client limits. Only tests that play
    /// distinct clients from 127.0.0.x addresses turn this off.
    pub shared_peers_exempt: bool,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            client_submit_per_hour: 10,
            client_receipt_per_minute: 10,
            client_page_per_minute: 240,
            client_lookup_per_minute: 30,
            global_submit_per_second: 2,
            global_receipt_per_second: 5,
            global_lookup_per_second: 200,
            // A resident with a phone full of photos sends 10 a report; a page that
            // retries starts again. Empty uploads are forgotten after ten minutes, so at
            // this rate they can hold at most 3,000 × 64 KiB of the waiting room.
            client_upload_per_hour: 120,
            global_upload_per_second: 5,
            per_client: true,
            shared_peers_exempt: true,
        }
    }
}

/// Whether an address stands for many people at once: loopback (nginx or Tor on this
/// machine), the unspecified address, and both of those spelled as IPv4-mapped IPv6. A
/// per-client limit on such a peer would lock out everyone behind it.
pub fn is_shared_peer(ip: IpAddr) -> bool {
    let ip = unmapped(ip);
    ip.is_loopback() || ip.is_unspecified()
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least 1")
}

/// Client keys are rotated at least this often.
const ROTATE_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
/// Rotated early if this many clients are tracked at once, so memory stays bounded.
const MAX_TRACKED: usize = 200_000;
/// Forgotten client states are pruned every this many checks.
const PRUNE_EVERY: u64 = 4096;

struct Clients {
    key: Zeroizing<[u8; 32]>,
    born: Instant,
    limiters: [DefaultKeyedRateLimiter<[u8; 16]>; 5],
}

/// The limits of one public listener.
pub struct Limiter {
    config: LimitConfig,
    global: [Option<DefaultDirectRateLimiter>; 5],
    clients: RwLock<Clients>,
    checks: AtomicU64,
    refused: [AtomicU64; 5],
    clock: DefaultClock,
}

impl Limiter {
    /// Limits with a fresh random key.
    pub fn new(config: LimitConfig) -> Self {
        Self {
            global: [
                Some(RateLimiter::direct(
                    Quota::per_second(nz(config.global_submit_per_second))
                        .allow_burst(nz(config.global_submit_per_second.saturating_mul(10))),
                )),
                Some(RateLimiter::direct(
                    Quota::per_second(nz(config.global_receipt_per_second))
                        .allow_burst(nz(config.global_receipt_per_second.saturating_mul(4))),
                )),
                None,
                Some(RateLimiter::direct(
                    Quota::per_second(nz(config.global_lookup_per_second))
                        .allow_burst(nz(config.global_lookup_per_second.saturating_mul(2))),
                )),
                Some(RateLimiter::direct(
                    Quota::per_second(nz(config.global_upload_per_second))
                        .allow_burst(nz(config.global_upload_per_second.saturating_mul(4))),
                )),
            ],
            clients: RwLock::new(Self::fresh_clients(&config)),
            config,
            checks: AtomicU64::new(0),
            refused: Default::default(),
            clock: DefaultClock::default(),
        }
    }

    fn fresh_clients(config: &LimitConfig) -> Clients {
        let mut key = Zeroizing::new([0u8; 32]);
        crypto::random_fill(&mut key[..]);
        Clients {
            key,
            born: Instant::now(),
            limiters: [
                RateLimiter::keyed(
                    Quota::per_hour(nz(config.client_submit_per_hour))
                        .allow_burst(nz(config.client_submit_per_hour.div_ceil(2))),
                ),
                RateLimiter::keyed(Quota::per_minute(nz(config.client_receipt_per_minute))),
                RateLimiter::keyed(Quota::per_minute(nz(config.client_page_per_minute))),
                RateLimiter::keyed(Quota::per_minute(nz(config.client_lookup_per_minute))),
                RateLimiter::keyed(
                    Quota::per_hour(nz(config.client_upload_per_hour))
                        .allow_burst(nz(config.client_upload_per_hour.div_ceil(4))),
                ),
            ],
        }
    }

    /// Refusals so far, per class (for the metrics).
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        Class::ALL
            .iter()
            .map(|c| (c.name(), self.refused[c.index()].load(Ordering::Relaxed)))
            .collect()
    }

    /// Counts a request; `Err` holds how long to wait.
    pub fn check(&self, class: Class, peer: Option<IpAddr>) -> Result<(), Duration> {
        let verdict = self.check_inner(class, peer);
        if verdict.is_err() {
            self.refused[class.index()].fetch_add(1, Ordering::Relaxed);
        }
        verdict
    }

    fn check_inner(&self, class: Class, peer: Option<IpAddr>) -> Result<(), Duration> {
        let now = self.clock.now();
        if self.config.per_client {
            if let Some(ip) =
                peer.filter(|ip| !(self.config.shared_peers_exempt && is_shared_peer(*ip)))
            {
                self.maintain();
                let clients = self.clients.read().unwrap_or_else(|p| p.into_inner());
                let key = client_key(&clients.key, ip);
                clients.limiters[class.index()]
                    .check_key(&key)
                    .map_err(|n| n.wait_time_from(now))?;
            }
        }
        if let Some(global) = &self.global[class.index()] {
            global.check().map_err(|n| n.wait_time_from(now))?;
        }
        Ok(())
    }

    /// Rotates the client key when it is old or too many clients are tracked, and prunes
    /// forgotten states now and then.
    fn maintain(&self) {
        let n = self.checks.fetch_add(1, Ordering::Relaxed);
        let stale = {
            let clients = self.clients.read().unwrap_or_else(|p| p.into_inner());
            if n % PRUNE_EVERY == 0 {
                for l in &clients.limiters {
                    l.retain_recent();
                    l.shrink_to_fit();
                }
            }
            clients.born.elapsed() > ROTATE_EVERY
                || clients.limiters.iter().map(|l| l.len()).sum::<usize>() > MAX_TRACKED
        };
        if stale {
            let mut clients = self.clients.write().unwrap_or_else(|p| p.into_inner());
            if clients.born.elapsed() > ROTATE_EVERY
                || clients.limiters.iter().map(|l| l.len()).sum::<usize>() > MAX_TRACKED
            {
                *clients = Self::fresh_clients(&self.config);
            }
        }
    }

    /// Number of client states held (for tests and metrics).
    pub fn tracked(&self) -> usize {
        let clients = self.clients.read().unwrap_or_else(|p| p.into_inner());
        clients.limiters.iter().map(|l| l.len()).sum()
    }
}

/// An IPv4 address written as IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The in-memory key of a client: a keyed hash of its address, IPv6 cut to its /56.
pub(crate) fn client_key(key: &[u8; 32], ip: IpAddr) -> [u8; 16] {
    match unmapped(ip) {
        IpAddr::V4(v4) => crypto::blake2b(Some(key), &[b"v4", &v4.octets()]),
        IpAddr::V6(v6) => crypto::blake2b(Some(key), &[b"v6", &v6.octets()[..7]]),
    }
}

/// The middleware: counts each public request against its class's limits.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // The refusal is returned as a response, not an error, so that the security headers
    // wrapped around this middleware are added to it too.
    // The router decodes percent-escapes but the classes are read from the raw path, so
    // `/api/v1/statu%73` would slip past the receipt limits. None of our addresses needs an
    // escape: refuse them all.
    if req.path().contains('%') {
        let response = super::errors::json_error(
            StatusCode::BAD_REQUEST,
            "This address is not valid. Please check it and try again.",
        );
        return Ok(req.into_response(response).map_into_right_body());
    }
    let limiter = req.app_data::<web::Data<Arc<Limiter>>>().cloned();
    if let Some(limiter) = limiter {
        // The address is used here, in memory, and nowhere else.
        let peer = req.peer_addr().map(|a| a.ip());
        for class in Class::of(req.method(), req.path()) {
            if let Err(wait) = limiter.check(*class, peer) {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let response = too_many(req.path(), secs.max(1));
                return Ok(req.into_response(response).map_into_right_body());
            }
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn too_many(path: &str, secs: u64) -> HttpResponse {
    let mut response = if path.starts_with("/api/") {
        super::errors::json_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many requests. Please wait {secs} seconds and try again."),
        )
    } else {
        HttpResponse::build(StatusCode::TOO_MANY_REQUESTS)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(format!(
                "<!doctype html><html lang=\"zh-Hans\"><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                 <title>请稍后再试</title><h1>请稍后再试</h1>\
                 <p>现在请求太多了。请等 {secs} 秒再试，您写的内容请先保存好。</p>\
                 <p lang=\"en\">Too many requests. Please wait {secs} seconds and try again.</p></html>"
            ))
    };
    response.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(secs),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn classes() {
        assert_eq!(Class::of(&Method::POST, "/api/v1/tips"), [Class::Submit]);
        assert_eq!(Class::of(&Method::POST, "/zh/report"), [Class::Submit]);
        assert_eq!(
            Class::of(&Method::POST, "/api/v1/followups"),
            [Class::Receipt, Class::Submit]
        );
        assert_eq!(
            Class::of(&Method::POST, "/en/followup"),
            [Class::Receipt, Class::Submit]
        );
        assert_eq!(Class::of(&Method::POST, "/en/status"), [Class::Receipt]);
        assert_eq!(Class::of(&Method::POST, "/api/v1/status"), [Class::Receipt]);
        assert_eq!(Class::of(&Method::POST, "/zh/consent"), [Class::Receipt]);
        assert_eq!(
            Class::of(&Method::POST, "/api/v1/consent"),
            [Class::Receipt]
        );
        assert_eq!(
            Class::of(&Method::POST, "/api/v1/receipts"),
            [Class::Receipt]
        );
        assert_eq!(Class::of(&Method::GET, "/zh/status"), [Class::Page]);
        assert_eq!(Class::of(&Method::POST, "/api/v2/status"), [Class::Lookup]);
        assert_eq!(
            Class::of(&Method::POST, "/api/v2/followups"),
            [Class::Lookup, Class::Submit]
        );
        assert_eq!(Class::of(&Method::POST, "/api/v2/tips"), [Class::Submit]);
        assert_eq!(Class::of(&Method::POST, "/api/v2/other"), [Class::Page]);
    }

    #[test]
    fn lookups_have_their_own_larger_quota() {
        crypto::init().unwrap();
        let limiter = Limiter::new(LimitConfig {
            per_client: false,
            ..LimitConfig::default()
        });
        let peer = Some(IpAddr::from([10, 0, 0, 1]));
        // The Argon2id class runs dry after its burst of 20...
        let receipts = (0..100)
            .filter(|_| limiter.check(Class::Receipt, peer).is_ok())
            .count();
        assert_eq!(receipts, 20);
        // ...while lookups, counted apart, still pass by the hundred.
        let lookups = (0..400)
            .filter(|_| limiter.check(Class::Lookup, peer).is_ok())
            .count();
        assert_eq!(lookups, 400);
        assert!(limiter.check(Class::Lookup, peer).is_err());
    }

    #[test]
    fn ipv6_is_keyed_by_its_56_prefix() {
        let key = [1u8; 32];
        let a: Ipv6Addr = "2001:db8:1234:5600::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1234:56ff:ffff::9".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1234:5700::1".parse().unwrap();
        assert_eq!(client_key(&key, a.into()), client_key(&key, b.into()));
        assert_ne!(client_key(&key, a.into()), client_key(&key, c.into()));
        let v4 = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(
            client_key(&key, v4.into()),
            client_key(&key, v4.to_ipv6_mapped().into())
        );
        assert_ne!(
            client_key(&key, v4.into()),
            client_key(&[2u8; 32], v4.into())
        );
    }

    #[test]
    fn a_client_over_its_limit_waits_and_others_pass() {
        crypto::init().unwrap();
        let limiter = Limiter::new(LimitConfig {
            client_receipt_per_minute: 3,
            global_receipt_per_second: 1000,
            ..LimitConfig::default()
        });
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        for _ in 0..3 {
            limiter.check(Class::Receipt, a).unwrap();
        }
        let wait = limiter.check(Class::Receipt, a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20));
        limiter.check(Class::Receipt, b).unwrap();
        assert_eq!(limiter.refusals()[1], ("receipt", 1));
        assert_eq!(limiter.tracked(), 2);
    }

    #[test]
    fn shared_peers_are_exempt_unless_told_otherwise() {
        crypto::init().unwrap();
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "0.0.0.0",
            "::",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_shared_peer(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.1", "192.0.2.7", "2001:db8::1", "::ffff:192.0.2.7"] {
            assert!(!is_shared_peer(ip.parse().unwrap()), "{ip}");
        }
        let config = LimitConfig {
            client_receipt_per_minute: 1,
            global_receipt_per_second: 1000,
            ..LimitConfig::default()
        };
        let loopback = Some(IpAddr::from([127, 0, 0, 1]));
        let exempt = Limiter::new(config);
        for _ in 0..5 {
            exempt.check(Class::Receipt, loopback).unwrap();
        }
        assert_eq!(exempt.tracked(), 0);
        let strict = Limiter::new(LimitConfig {
            shared_peers_exempt: false,
            ..config
        });
        strict.check(Class::Receipt, loopback).unwrap();
        assert!(strict.check(Class::Receipt, loopback).is_err());
    }

    #[test]
    fn the_global_limit_holds_without_per_client_limits() {
        crypto::init().unwrap();
        let limiter = Limiter::new(LimitConfig {
            per_client: false,
            global_submit_per_second: 1,
            ..LimitConfig::default()
        });
        let refused = (0..50)
            .filter(|i| {
                limiter
                    .check(Class::Submit, Some(IpAddr::from([10, 0, 0, *i as u8])))
                    .is_err()
            })
            .count();
        assert_eq!(refused, 40, "a burst of 10, then one a second");
        assert_eq!(limiter.tracked(), 0);
    }
}
