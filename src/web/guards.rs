//! Guards around every public request, before any handler runs:
//! - a cap on the connections one client holds open at once (keyed like the rate limits, by
//!   a keyed hash of the address held in memory only while its connections are open);
//! - the refusal of posts another website makes a visitor's browser send;
//! - a deadline on the whole request: the head has `--request-timeout-secs` (actix), and
//!   from then on the body has `--request-deadline-secs` to arrive whole, so a body sent
//!   one byte at a time, or not at all, gives its connection back. The body is not
//!   buffered here: the handler still reads it (into its own wiped buffers) as it comes.
//!   Bodies that carry files (a form with files posted without JavaScript, a chunk of an
//!   upload) may take longer on a slow line, but only while they keep coming at
//!   [`MIN_FILE_BODY_RATE`]: past the usual deadline, a body that falls behind that rate
//!   is cut, and none may take longer than its declared length at that rate.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use futures_core::Stream;
use zeroize::Zeroizing;

use super::limits::{client_key, is_shared_peer};
use crate::crypto;

/// Bytes a second a body carrying files must keep up, once the usual deadline has passed:
/// 8 KiB/s (64 kbit/s, a weak 2G signal), so that a 20 MiB form still goes through from a
/// village, while a connection that sends nothing is given back as quickly as any other.
pub const MIN_FILE_BODY_RATE: u64 = 8 * 1024;
/// A body whose first byte has not come this long after its head is cut: a connection
/// that sent a head and nothing more holds its slot a third as long as one that trickles.
const FIRST_BODY_BYTE: Duration = Duration::from_secs(10);
/// Longest any body carrying files may take.
const MAX_FILE_BODY_TIME: Duration = Duration::from_secs(90 * 60);

/// What the guards need, shared by every worker of the public listener.
pub struct Guards {
    /// Time from the end of the request head to the end of its body.
    pub deadline: Duration,
}

/// Counts the open connections of each client. An entry lives only while its client has a
/// connection open, so the table is bounded by `--max-connections` and holds nothing once
/// the client is gone; the key is random, drawn at start and never written down.
pub struct ConnectionCap {
    key: Zeroizing<[u8; 32]>,
    /// Most connections one client may hold open; 0 means no cap.
    max_per_client: u32,
    /// Whether the cap applies at all (not behind `--proxied`).
    per_client: bool,
    /// Whether loopback and other shared peers are exempt (the same rule as the limits).
    shared_peers_exempt: bool,
    open: Mutex<HashMap<[u8; 16], u32>>,
}

/// One open connection, kept in the connection's extensions: dropping it (when the
/// connection closes) gives its place back.
pub struct OpenConnection {
    cap: Arc<ConnectionCap>,
    key: Option<[u8; 16]>,
    /// The client already held as many connections as it may: this one is turned away.
    pub refused: bool,
}

impl ConnectionCap {
    /// A cap of `max_per_client` connections (0: none), with a fresh random key.
    pub fn new(max_per_client: u32, per_client: bool, shared_peers_exempt: bool) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        crypto::random_fill(&mut key[..]);
        Self {
            key,
            max_per_client,
            per_client,
            shared_peers_exempt,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a new connection from `ip`.
    pub fn open(self: &Arc<Self>, ip: IpAddr) -> OpenConnection {
        let exempt = !self.per_client
            || self.max_per_client == 0
            || (self.shared_peers_exempt && is_shared_peer(ip));
        let mut conn = OpenConnection {
            cap: self.clone(),
            key: None,
            refused: false,
        };
        if exempt {
            return conn;
        }
        let key = client_key(&self.key, ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.max_per_client {
            conn.refused = true;
            if *n == 0 {
                open.remove(&key);
            }
        } else {
            *n += 1;
            conn.key = Some(key);
        }
        conn
    }

    /// Clients with at least one counted connection (for tests).
    pub fn clients(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut open = self.cap.open.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = open.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&key);
                }
            }
        }
    }
}

/// Sent to a connection over its client's cap, before it is shut.
const OVER_CAP: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\
Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: 95\r\n\r\n\
{\"error\":\"Too many connections from your address at once. Please wait a moment and try again.\"}";

/// `HttpServer::on_connect`: counts the connection, and shuts at once one over its
/// client's cap, so it holds no slot while its head would trickle in.
pub fn on_connect(cap: &Arc<ConnectionCap>, conn: &dyn std::any::Any, ext: &mut Extensions) {
    let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    let Ok(peer) = tcp.peer_addr() else {
        return;
    };
    // The address is used here, in memory, and nowhere else.
    let open = cap.open(peer.ip());
    if open.refused {
        // A fresh socket's send buffer is empty, so this short answer goes out whole (a
        // plain send: tokio's `try_write` knows no readiness yet on a new socket). Either
        // way the connection is then shut, and actix drops it at its first read.
        let sock = socket2::SockRef::from(tcp);
        let _ = sock.send(OVER_CAP);
        let _ = sock.shutdown(std::net::Shutdown::Both);
    }
    ext.insert(open);
}

/// Keeps a connection's lifetime bounded: dropped with the connection's extensions when the
/// connection closes, which ends its timer early. A request that carries files may push
/// the end later ([`Lifetime::extend_to`]).
pub struct Lifetime {
    _alive: tokio::sync::oneshot::Sender<()>,
    until: Rc<Cell<actix_web::rt::time::Instant>>,
}

impl Lifetime {
    /// Moves the end of the connection to `at`, if that is later.
    fn extend_to(&self, at: actix_web::rt::time::Instant) {
        if at > self.until.get() {
            self.until.set(at);
        }
    }
}

/// `HttpServer::on_connect`: gives the connection `lifetime` in all, after which its socket
/// is shut whatever state it is in. Every connection serves one request (each answer closes
/// it), so this bounds what the per-request timers cannot: actix drains a chunked body that
/// no handler reads without any deadline, and such a connection would hold its slot for as
/// long as its client kept sending.
pub fn limit_lifetime(conn: &dyn std::any::Any, ext: &mut Extensions, lifetime: Duration) {
    let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    let Ok(socket) = socket2::SockRef::from(tcp).try_clone() else {
        return;
    };
    let (alive, mut closed) = tokio::sync::oneshot::channel::<()>();
    let until = Rc::new(Cell::new(actix_web::rt::time::Instant::now() + lifetime));
    let end = until.clone();
    actix_web::rt::spawn(async move {
        loop {
            let at = end.get();
            tokio::select! {
                _ = actix_web::rt::time::sleep_until(at) => {
                    if end.get() <= at {
                        let _ = socket.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                }
                _ = &mut closed => return,
            }
        }
    });
    ext.insert(Lifetime {
        _alive: alive,
        until,
    });
}

/// Whether a post comes from another website: a `Sec-Fetch-Site` other than `same-origin`
/// or `none` (typed by the user), or an `Origin` whose host is not the one the request was
/// sent to. Requests with neither header (curl, old browsers, v1 API clients) pass. The
/// scheme is not compared: behind nginx the server speaks plain HTTP while the browser's
/// origin is `https://`. `same-site` is refused too: a sibling subdomain is another site.
/// The host of `--public-url` also counts as this site (a proxy may rewrite `Host`).
fn cross_site(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    // A browser that sends `Sec-Fetch-Site` says exactly where the request comes from, and
    // no page can change it: its word settles the matter.
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("").trim();
        return !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or("").trim();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    let public = req
        .app_data::<web::Data<super::AppState>>()
        .map(|s| authority(s.public_url()).unwrap_or("").to_owned())
        .unwrap_or_default();
    let same = |o: &str, h: &str| !h.is_empty() && o.eq_ignore_ascii_case(h);
    match authority(origin) {
        Some(o) => !same(o, host) && !same(o, &public),
        // Our pages send `Referrer-Policy: no-referrer`, under which the Fetch standard has
        // browsers send `Origin: null` with every POST, our own forms' included: refusing
        // it would lock out the browsers that send no `Sec-Fetch-Site` (Safari before 16.4,
        // on older iPhones). Anything else that is not an http(s) origin is refused.
        None => !origin.eq_ignore_ascii_case("null"),
    }
}

/// `host[:port]` of an `http://` or `https://` URL.
fn authority(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find('/').unwrap_or(rest.len());
    Some(&rest[..end]).filter(|a| !a.is_empty())
}

/// A refusal: JSON under `/api/`, a short page in both languages elsewhere.
fn refusal(path: &str, status: StatusCode, zh: &str, en: &str, close: bool) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    builder.insert_header(("Cache-Control", "no-store"));
    if close {
        builder.force_close();
    }
    if path.starts_with("/api/") {
        return builder.json(serde_json::json!({ "error": en }));
    }
    let page = maud::html! {
        (maud::DOCTYPE)
        html lang="zh-Hans" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (zh) }
            }
            body {
                p { (zh) }
                p lang="en" { (en) }
            }
        }
    };
    builder
        .content_type("text/html; charset=utf-8")
        .body(page.into_string())
}

/// The middleware: turns away connections over their client's cap and cross-site posts,
/// then gives the body `deadline` to arrive whole. A body past it fails in the handler (so
/// nothing of it is stored), the answer is 408 and the connection is closed.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path().to_owned();
    let over_cap = req.conn_data::<OpenConnection>().is_some_and(|c| c.refused);
    if over_cap {
        let response = refusal(
            &path,
            StatusCode::TOO_MANY_REQUESTS,
            "同一地址同时打开的连接太多了。请稍等一会儿再试。",
            "Too many connections from your address at once. Please wait a moment and try again.",
            true,
        );
        return Ok(req.into_response(response).map_into_right_body());
    }
    if matches!(*req.method(), Method::POST | Method::PUT | Method::DELETE) && cross_site(&req) {
        let response = refusal(
            &path,
            StatusCode::FORBIDDEN,
            "这个请求来自别的网站，所以没有被接受。请直接在本网站上填写。",
            "This request came from another website, so it was refused. Please use the form on this site itself.",
            false,
        );
        return Ok(req.into_response(response).map_into_right_body());
    }
    let deadline = req
        .app_data::<web::Data<Guards>>()
        .map(|g| g.deadline)
        .unwrap_or(Duration::from_secs(30));
    let late = Rc::new(Cell::new(false));
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let slow = file_body_time(&req, deadline);
        // A chunk's connection may live as long as the chunk may take; a form's only once
        // its handler has taken it in ([`allow_slow_body`]), so that one turned away at
        // once does not keep its connection for the time its body would have had.
        if let (Some(longest), Some(lifetime), true) = (
            slow,
            req.conn_data::<Lifetime>(),
            req.method() == Method::PUT,
        ) {
            lifetime
                .extend_to(actix_web::rt::time::Instant::now() + longest + Duration::from_secs(30));
        }
        let now = actix_web::rt::time::Instant::now();
        let (_, payload) = req.parts_mut();
        let inner = std::mem::replace(payload, Payload::None);
        let body: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(Deadline {
            inner,
            timer: Box::pin(actix_web::rt::time::sleep(deadline.min(FIRST_BODY_BYTE))),
            late: late.clone(),
            started: now,
            grace: deadline,
            received: 0,
            longest: slow.map(|l| now + l),
        });
        req.set_payload(Payload::from(body));
    }
    let response = next.call(req).await?;
    if late.get() {
        // The handler saw its body fail; whatever it answered, the answer is this one, and
        // the connection (whose body may still be trickling in) is closed.
        let response = response.into_response(refusal(
            &path,
            StatusCode::REQUEST_TIMEOUT,
            "请求发送得太慢，没有被处理，什么也没有保存。请再试一次。",
            "The request arrived too slowly, so it was not processed and nothing was saved. Please try again.",
            true,
        ));
        return Ok(response.map_into_right_body());
    }
    Ok(response.map_into_left_body())
}

/// Gives the connection of a form with files `more` time from now to be answered: its
/// photos are cleaned and every file sealed after the body is in.
pub fn allow_work(req: &actix_web::HttpRequest, more: Duration) {
    if let Some(lifetime) = req.conn_data::<Lifetime>() {
        lifetime.extend_to(actix_web::rt::time::Instant::now() + more);
    }
}

/// Lets the connection of a form with files live as long as its body may take (see
/// [`file_body_time`]), once its handler has decided to read it.
pub fn allow_slow_body(req: &actix_web::HttpRequest, deadline: Duration) {
    let Some(lifetime) = req.conn_data::<Lifetime>() else {
        return;
    };
    let len: u64 = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let longest =
        (deadline + Duration::from_secs(len / MIN_FILE_BODY_RATE)).min(MAX_FILE_BODY_TIME);
    lifetime.extend_to(actix_web::rt::time::Instant::now() + longest + Duration::from_secs(30));
}

/// For a body that carries files (a chunk of an upload; a form with files, posted without
/// JavaScript), the longest it may take: the usual deadline plus its declared length at
/// [`MIN_FILE_BODY_RATE`]. `None` for every other body, and for one whose length is not
/// declared.
fn file_body_time(req: &ServiceRequest, deadline: Duration) -> Option<Duration> {
    let path = req.path();
    let carries_files = match *req.method() {
        Method::PUT => path.starts_with("/api/v1/uploads/"),
        Method::POST => {
            let multipart = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim_start().starts_with("multipart/form-data"));
            multipart && (path.ends_with("/report") || path.ends_with("/followup"))
        }
        _ => false,
    };
    if !carries_files {
        return None;
    }
    let len: u64 = req
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    let time = deadline + Duration::from_secs(len / MIN_FILE_BODY_RATE);
    Some(time.min(MAX_FILE_BODY_TIME).max(deadline))
}

/// A request body that fails once its deadline has passed. A body with files (`longest`)
/// may go on past the deadline for as long as it keeps up [`MIN_FILE_BODY_RATE`] since the
/// grace period ended, up to `longest`.
struct Deadline {
    inner: Payload,
    timer: Pin<Box<actix_web::rt::time::Sleep>>,
    late: Rc<Cell<bool>>,
    started: actix_web::rt::time::Instant,
    grace: Duration,
    received: u64,
    longest: Option<actix_web::rt::time::Instant>,
}

impl Deadline {
    /// Whether a body with files is still on time: under its longest time, and at least
    /// [`MIN_FILE_BODY_RATE`] a second since the grace period.
    fn keeps_up(&self, now: actix_web::rt::time::Instant) -> bool {
        let Some(longest) = self.longest else {
            return false;
        };
        let past = now.saturating_duration_since(self.started + self.grace);
        now < longest && self.received >= MIN_FILE_BODY_RATE * past.as_secs()
    }
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.late.get() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            if let Some(Ok(bytes)) = &item {
                self.received += bytes.len() as u64;
            }
            return Poll::Ready(item);
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            let now = actix_web::rt::time::Instant::now();
            let deadline = self.started + self.grace;
            if self.received > 0 && now < deadline {
                // The body has begun: the usual deadline now.
                self.timer.as_mut().reset(deadline);
                continue;
            }
            if self.received > 0 && self.keeps_up(now) {
                // Look again in a second; the timer is polled once more, to register.
                self.timer.as_mut().reset(now + Duration::from_secs(1));
                continue;
            }
            self.late.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_open_connections_and_forgets_closed_ones() {
        crypto::init().unwrap();
        let cap = Arc::new(ConnectionCap::new(2, true, true));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = cap.open(a);
        let second = cap.open(a);
        assert!(!first.refused && !second.refused);
        assert!(cap.open(a).refused);
        assert!(!cap.open(b).refused);
        drop(first);
        let third = cap.open(a);
        assert!(!third.refused);
        drop((second, third));
        assert_eq!(cap.clients(), 0);
        // Loopback is a proxy or Tor: exempt, as for the rate limits.
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let many: Vec<_> = (0..5).map(|_| cap.open(lo)).collect();
        assert!(many.iter().all(|c| !c.refused));
        let strict = Arc::new(ConnectionCap::new(1, true, false));
        let _one = strict.open(lo);
        assert!(strict.open(lo).refused);
        let proxied = Arc::new(ConnectionCap::new(1, false, false));
        let _one = proxied.open(a);
        assert!(!proxied.open(a).refused);
    }
}
