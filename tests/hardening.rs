//! Floods, slow clients, oversized headers, a full disk, and what the server keeps about the
//! people who use it (nothing). All traffic stays on loopback and every loop is bounded.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use socket2::{Domain, Socket, Type};

/// A raw HTTP/1.1 exchange from a chosen loopback source address (the whole of 127/8 is this
/// machine), so that the server sees distinct clients.
fn exchange(server: &str, from: Ipv4Addr, request: &str) -> Result<(u16, String), String> {
    let addr: SocketAddr = server.trim_start_matches("http://").parse().unwrap();
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| e.to_string())?;
    sock.bind(&SocketAddr::new(from.into(), 0).into())
        .map_err(|e| e.to_string())?;
    sock.connect_timeout(&addr.into(), Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let mut stream: TcpStream = sock.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    Ok((code, text))
}

fn post_from(server: &str, from: Ipv4Addr, path: &str, body: &str) -> (u16, String) {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: whistlebox\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    exchange(server, from, &req).expect("an answer")
}

fn status_from(server: &str, from: Ipv4Addr, receipt: &str) -> (u16, String) {
    post_from(
        server,
        from,
        "/api/v1/status",
        &serde_json::json!({ "receipt": receipt }).to_string(),
    )
}

fn lookup_from(server: &str, from: Ipv4Addr, lookup: &str) -> (u16, String) {
    post_from(
        server,
        from,
        "/api/v2/status",
        &serde_json::json!({ "lookup": lookup }).to_string(),
    )
}

fn submit_from(server: &str, from: Ipv4Addr, sealed: &[u8]) -> (u16, String) {
    let body = serde_json::json!({ "sealed": STANDARD.encode(sealed) }).to_string();
    post_from(server, from, "/api/v1/tips", &body)
}

fn receipt_of(reply: &str) -> String {
    let body = &reply[reply.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["receipt"].as_str().unwrap().to_string()
}

/// Peak and current resident memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[test]
fn floods_are_limited_and_other_residents_still_get_through() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start_limited(&[
        "--client-limits-on-loopback",
        "--limit-client-status-per-minute",
        "10",
        "--limit-client-submit-per-hour",
        "6",
        "--limit-global-submit-per-second",
        "1",
    ]);
    let url = server.public.clone();
    let key = server.box_key();
    let started = Instant::now();

    // Client A: one real tip, then a flood of receipt guesses.
    let (code, reply) = submit_from(&url, A, &seal_tip(&key, "a real tip", &[]));
    assert_eq!(code, 201, "{reply}");
    let receipt = receipt_of(&reply);
    let mut refused = 0;
    let mut retry_after_seen = false;
    for i in 0..80 {
        let guess = if i % 2 == 0 {
            receipt.clone()
        } else {
            "1234 5678 9012 3456 7890".to_string()
        };
        let (code, text) = status_from(&url, A, &guess);
        if code == 429 {
            refused += 1;
            retry_after_seen |= text.to_ascii_lowercase().contains("retry-after:");
            assert!(text.contains("Too many requests"), "{text}");
        }
    }
    assert!(refused >= 65, "only {refused} of 80 guesses were refused");
    assert!(retry_after_seen);

    // Client B is not held back by A's flood.
    let (code, text) = status_from(&url, B, &receipt);
    assert_eq!(code, 200, "{text}");

    // A flood of submissions from A: a few pass, the rest wait; B still gets through.
    let mut accepted = 1;
    for _ in 0..20 {
        let (code, _) = submit_from(&url, A, &seal_tip(&key, "flood", &[]));
        match code {
            201 => accepted += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        accepted <= 3,
        "{accepted} submissions from one client got through"
    );
    let (code, _) = submit_from(&url, B, &seal_tip(&key, "from B", &[]));
    assert_eq!(code, 201);
    accepted += 1;
    assert_eq!(
        server.tip_count(),
        accepted,
        "only answered submissions are stored"
    );

    // Many clients at once meet the global limit (1 a second, burst 10): at most the burst
    // plus one a second of the time the flood took gets through, however slow the machine.
    let mut global_refused = 0;
    let flood_started = Instant::now();
    for i in 0..30u8 {
        let (code, _) = submit_from(
            &url,
            Ipv4Addr::new(127, 0, 1, i + 1),
            &seal_tip(&key, "many", &[]),
        );
        if code == 429 {
            global_refused += 1;
        }
    }
    let allowed = 10 + flood_started.elapsed().as_secs() as usize + 1;
    assert!(
        30 - global_refused <= allowed,
        "the global limit let {} of 30 through in {:?}",
        30 - global_refused,
        flood_started.elapsed()
    );
    println!(
        "global limit: {} of 30 submissions refused in {:?}",
        global_refused,
        flood_started.elapsed()
    );

    // Idle connections are held without harm, and the service still answers.
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(url.trim_start_matches("http://")).unwrap())
        .collect();
    let (code, _) = exchange(
        &url,
        B,
        "GET /zh/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(code, 200);
    drop(idle);

    let (peak, now) = memory_kib(server.pid());
    assert!(peak < 700 * 1024, "peak memory {peak} KiB");
    let metrics = agent()
        .get(&format!("{}/admin/v1/metrics", server.admin))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(metrics.contains("whistlebox_rate_limited{class=\"receipt\"}"));
    let limited: u64 = metrics
        .lines()
        .find(|l| l.starts_with("whistlebox_rate_limited{class=\"receipt\"}"))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(limited >= refused as u64);
    println!(
        "flood: {refused}/80 guesses refused from one client; {accepted} tips stored; {global_refused}/30 \
         refused by the global limit; 200 idle connections held; peak RSS {} MiB, now {} MiB; {:.1} s",
        peak / 1024,
        now / 1024,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn slow_clients_and_huge_headers_are_cut_off() {
    let site = Site::new();
    let server = site.start(&["--request-timeout-secs", "2"]);
    let addr = server.public.trim_start_matches("http://").to_string();

    // Headers that never finish: the server answers 408 or hangs up within seconds.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    slow.write_all(b"GET /zh/ HTTP/1.1\r\nHost: x\r\n").unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "a slow client was held {:?}",
        t.elapsed()
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );

    // Request heads are bounded (actix-http stops at 128 KiB): a 256 KiB header is refused,
    // not read, and so are a hundred headers.
    let huge = format!(
        "GET /zh/ HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(256 * 1024)
    );
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /zh/ HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n");
    // A hang-up (an error here) is a refusal too.
    if let Ok((code, _)) = exchange(&server.public, A, &many) {
        assert!((400..500).contains(&code), "{code}");
    }
    // A hang-up (an error here) is a refusal too.
    if let Ok((code, _)) = exchange(&server.public, A, &huge) {
        assert!((400..500).contains(&code), "{code}");
    }
    // And the service is fine afterwards.
    assert_eq!(server.get("/zh/").status, 200);
}

#[test]
fn no_address_agent_referrer_cookie_or_time_is_kept_or_printed() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let mut server = site.start_limited(&[]);
    let agent_probe = "WhistleboxProbeAgent/7.7.7-ZQXJ";
    let address_probe = "198.51.100.203";
    let referrer_probe = "https://probe-referrer.example/KQWV-unique";
    let cookie_probe = "probe-cookie-VVZX";
    let probe = |req: ureq::Request| {
        req.set("User-Agent", agent_probe)
            .set("X-Forwarded-For", address_probe)
            .set("X-Real-IP", address_probe)
            .set("Forwarded", &format!("for={address_probe}"))
            .set("Referer", referrer_probe)
            .set("Cookie", &format!("session={cookie_probe}"))
    };
    let a = agent();
    let sealed = seal_tip(&server.box_key(), "metadata probe tip", &[]);
    let r = probe(a.post(&format!("{}/api/v1/tips", server.public)))
        .send_json(serde_json::json!({"sealed": STANDARD.encode(&sealed)}))
        .unwrap();
    let receipt = r.into_json::<serde_json::Value>().unwrap()["receipt"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        "/",
        "/zh/report",
        "/en/status",
        "/poster",
        "/assets/site.css",
    ] {
        let _ = probe(a.get(&format!("{}{path}", server.public))).call();
    }
    let _ = probe(a.post(&format!("{}/api/v1/status", server.public)))
        .send_json(serde_json::json!({"receipt": receipt}));
    let _ = probe(a.post(&format!("{}/zh/report", server.public)))
        .send_form(&[("body", "form probe"), ("where", "probe village")]);
    let _ = probe(a.post(&format!("{}/api/v1/status", server.public)))
        .send_json(serde_json::json!({"receipt": "1111 2222 3333 4444 5555"}));
    // Requests from a second loopback address, which must not show up either.
    let _ = status_from(&server.public, B, &receipt);
    let _ = exchange(
        &server.public,
        B,
        "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    std::thread::sleep(Duration::from_millis(300));
    server.kill9();

    let printed = server.printed();
    let mut kept = Vec::new();
    collect(&site.data(), &mut kept);
    for needle in [
        agent_probe,
        address_probe,
        referrer_probe,
        cookie_probe,
        "127.0.0.2",
        &receipt,
    ] {
        assert!(
            !printed.contains(needle),
            "the server printed {needle:?}:\n{printed}"
        );
        assert!(
            !contains(&kept, needle.as_bytes()),
            "the data folder holds {needle:?}"
        );
    }
    let digits: String = receipt.chars().filter(char::is_ascii_digit).collect();
    assert!(!contains(&kept, digits.as_bytes()));
    // No clock time in anything printed (logs carry no timestamps).
    let b = printed.as_bytes();
    let clock = b.windows(8).any(|w| {
        w[2] == b':' && w[5] == b':' && [0, 1, 3, 4, 6, 7].iter().all(|&i| w[i].is_ascii_digit())
    });
    assert!(!clock, "the server printed a clock time:\n{printed}");
}

fn collect(dir: &Path, into: &mut Vec<u8>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, into);
        } else {
            into.extend(std::fs::read(&p).unwrap());
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn every_response_carries_the_privacy_headers() {
    let site = Site::new();
    let server = site.start_limited(&[
        "--client-limits-on-loopback",
        "--limit-client-status-per-minute",
        "1",
    ]);
    let form =
        |path: &str, body: &str| server.post_raw(path, "application/x-www-form-urlencoded", body);
    let personal = [
        (
            "tips",
            server.submit(&seal_tip(&server.box_key(), "h", &[])),
        ),
        ("status", server.status("1111 2222 3333 4444 5555")),
        ("limited", server.status("1111 2222 3333 4444 5555")),
        ("receipt page", form("/zh/report", "body=hello")),
        ("status page", form("/en/status", "receipt=1")),
        ("report page", server.get("/zh/report")),
    ];
    assert_eq!(personal[2].1.status, 429);
    assert!(personal[2].1.header("retry-after").is_some());
    let public = [
        ("home", server.get("/")),
        ("asset", server.get("/assets/site.css")),
        ("missing page", server.get("/nowhere")),
        ("missing api", server.get("/api/v1/nowhere")),
        ("key", server.get("/api/v1/key")),
    ];
    for (what, r) in personal.iter().chain(public.iter()) {
        let csp = r
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{what}: no CSP"));
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "{what}: CSP lacks {part}");
        }
        // The one exception: WebAssembly may be compiled (the receipt worker's Argon2id);
        // no eval of JavaScript, no inline script or style.
        assert!(
            !csp.replace("'wasm-unsafe-eval'", "").contains("unsafe") && !csp.contains("http"),
            "{what}: {csp}"
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert!(r.header("set-cookie").is_none(), "{what}");
        assert!(r.header("server").is_none(), "{what}");
    }
    for (what, r) in &personal {
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
    }
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn new(size_mib: u32) -> Self {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_full_disk_refuses_new_tips_cleanly_and_recovers() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let disk = Tmpfs::new(48);
    // The site's data folder lives on the small disk.
    let data = disk.0.join("data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::symlink(&data, site.data()).unwrap();
    let min_free: u64 = 12 * 1024 * 1024;
    let server = site.start(&["--min-free-bytes", &min_free.to_string()]);
    let key = server.box_key();

    // Leave only a little room above the limit.
    let free = fs4::available_space(&data).unwrap();
    let filler_len = free.saturating_sub(min_free + 3 * 1024 * 1024);
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![0u8; filler_len as usize]).unwrap();

    let big = "满".repeat(100_000); // about 300 KB once sealed
    let mut receipts = Vec::new();
    let mut refusal = None;
    for _ in 0..40 {
        let r = server.submit(&seal_tip(&key, &big, &[]));
        match r.status {
            201 => receipts.push(r.json()["receipt"].as_str().unwrap().to_string()),
            503 => {
                refusal = Some(r.assert_error(503));
                break;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    let refusal = refusal.expect("the disk never filled");
    assert!(refusal.contains("storage is full"), "{refusal}");
    assert!(!receipts.is_empty());
    // Every answered receipt is there; nothing half-stored shows.
    for r in &receipts {
        assert_eq!(server.status(r).status, 200);
    }
    assert_eq!(server.tip_count(), receipts.len());
    // The no-JavaScript form says so plainly too.
    let page = server.post_raw("/zh/report", "application/x-www-form-urlencoded", "body=x");
    assert_eq!(page.status, 503);
    // A refusal prints nothing: a line per refused tip would mark when someone reported.
    // (The disk watcher logs the change on its own clock, once a minute at most.)
    let before = server.printed();
    let r = server.submit(&seal_tip(&key, "refused for disk", &[]));
    assert_eq!(r.status, 503);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server.printed(),
        before,
        "a refusal for disk printed a line"
    );

    // Space comes back: so does the service.
    std::fs::remove_file(&filler).unwrap();
    let r = server.submit(&seal_tip(&key, "after the disk was freed", &[]));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(server.tip_count(), receipts.len() + 1);
    println!(
        "disk full: {} tips of ~300 KB stored before the guard refused at {} MiB free; recovered after freeing space",
        receipts.len(),
        min_free / 1024 / 1024
    );
    drop(server);
}

#[test]
fn percent_escaped_paths_cannot_dodge_the_limits() {
    let site = Site::new();
    let server = site.start_limited(&[
        "--client-limits-on-loopback",
        "--limit-client-status-per-minute",
        "2",
    ]);
    let body = serde_json::json!({ "receipt": "1111 2222 3333 4444 5555" }).to_string();
    for path in [
        "/api/v1/statu%73",
        "/zh/statu%73",
        "/api/v1/tip%73",
        "/%7A%68/report",
    ] {
        let (code, text) = post_from(&server.public, A, path, &body);
        assert_eq!(code, 400, "{path}: {text}");
    }
    // The plain path is limited as it should be.
    let codes: Vec<u16> = (0..4)
        .map(|_| post_from(&server.public, A, "/api/v1/status", &body).0)
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 2, "{codes:?}");
}

/// Seconds since `t`, for the figures the tests print.
fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// A connection from `from` that sends a request head announcing `len` body bytes, then
/// only `sent` of them.
fn half_sent(server: &str, from: Ipv4Addr, path: &str, len: usize, sent: &[u8]) -> TcpStream {
    let addr: SocketAddr = server.trim_start_matches("http://").parse().unwrap();
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(from.into(), 0).into()).unwrap();
    sock.connect_timeout(&addr.into(), Duration::from_secs(5))
        .unwrap();
    let mut stream: TcpStream = sock.into();
    let ct = if path.starts_with("/api/") {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    let _ = write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: {len}\r\n\r\n"
    );
    let _ = stream.write_all(sent);
    stream
}

/// One page and one receipt check by a resident from `from`; each must answer within
/// `bound`. Returns the slowest time.
fn resident_visit(server: &str, from: Ipv4Addr, bound: Duration) -> Duration {
    let t = Instant::now();
    let (code, text) = exchange(
        server,
        from,
        "GET /zh/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("the home page answers");
    let page = t.elapsed();
    assert_eq!(code, 200, "{text}");
    assert!(page < bound, "the home page took {page:?}");
    let t = Instant::now();
    let (code, text) = status_from(server, from, "1111 2222 3333 4444 5555");
    let status = t.elapsed();
    assert!(code == 404 || code == 400, "{code}: {text}");
    assert!(status < bound, "a receipt check took {status:?}");
    page.max(status)
}

#[test]
fn loopback_peers_are_not_one_client_by_default() {
    // As deployed behind nginx or Tor without --proxied: every resident is 127.0.0.1.
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start_limited(&["--limit-global-submit-per-second", "20"]);
    let printed = server.printed();
    assert!(
        printed.contains("per-client limits ON for direct clients; loopback peers exempt"),
        "{printed}"
    );
    let key = server.box_key();
    let mut receipts = Vec::new();
    for i in 0..12 {
        let r = server.submit(&seal_tip(&key, &format!("resident {i}"), &[]));
        assert_eq!(r.status, 201, "tip {i} was refused: {}", r.body);
        receipts.push(r.json()["receipt"].as_str().unwrap().to_string());
    }
    // More receipt checks than one client may make in a minute (10).
    for r in receipts.iter().chain(receipts.iter().take(2)) {
        assert_eq!(server.status(r).status, 200);
    }
    drop(server);

    // Behind --proxied the line says so; with the test flag, loopback is one client again.
    let proxied = site.start_limited(&["--proxied"]);
    assert!(proxied
        .printed()
        .contains("per-client limits OFF because proxied"));
    drop(proxied);
    let strict = site.start_limited(&[
        "--client-limits-on-loopback",
        "--limit-global-submit-per-second",
        "20",
    ]);
    assert!(strict
        .printed()
        .contains("per-client limits ON for every client, loopback peers included"));
    let codes: Vec<u16> = (0..8)
        .map(|_| strict.submit(&seal_tip(&key, "one client", &[])).status)
        .collect();
    assert!(codes.contains(&429), "{codes:?}");
    // And the shipped unit runs --proxied.
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/whistlebox.service"),
    )
    .unwrap();
    assert!(unit.contains("--proxied"), "deploy/whistlebox.service");
}

#[test]
fn a_body_silent_past_the_deadline_is_not_served() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&["--request-deadline-secs", "2"]);
    let body = serde_json::json!({
        "sealed": STANDARD.encode(seal_tip(&server.box_key(), "a slow tip", &[]))
    })
    .to_string();
    let half = body.len() / 2;
    let mut conn = half_sent(
        &server.public,
        A,
        "/api/v1/tips",
        body.len(),
        &body.as_bytes()[..half],
    );
    conn.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let t = Instant::now();
    let mut first = [0u8; 4096];
    let n = conn.read(&mut first).unwrap_or(0);
    let waited = t.elapsed();
    let answer = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(
        waited < Duration::from_secs(6),
        "a silent body held its connection {waited:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    if !answer.is_empty() {
        assert!(answer.contains("arrived too slowly"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"));
    }
    // The rest of the body, late: it is not served, and nothing is stored.
    let _ = conn.write_all(&body.as_bytes()[half..]);
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest);
    let rest = String::from_utf8_lossy(&rest);
    assert!(!rest.contains("201 Created"), "{rest}");
    assert_eq!(server.tip_count(), 0);
    let line = answer.lines().next().unwrap_or("(hung up)");
    println!("silent body: {line:?} after {waited:?}; nothing stored");
}

#[test]
fn a_slow_body_flood_does_not_starve_pages() {
    const FLOOD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
    let bound = Duration::from_secs(3);

    // 1. A flooder with an address of its own (the test flag makes loopback count): 24
    //    connections trickling bodies, reopened as they are cut, against 8 slots.
    let site = Site::new();
    let server = site.start(&[
        "--client-limits-on-loopback",
        "--workers",
        "1",
        "--max-connections",
        "8",
        "--max-connections-per-client",
        "4",
        "--request-deadline-secs",
        "2",
    ]);
    let url = server.public.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooder = {
        let (url, stop) = (url.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut conns: Vec<TcpStream> = Vec::new();
            let started = Instant::now();
            let mut opened = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(30)
            {
                // Trickle one byte on each; drop the ones the server cut.
                conns.retain_mut(|c| c.write_all(b"r").is_ok());
                while conns.len() < 24 && opened < 2000 {
                    let c = half_sent(&url, FLOOD, "/zh/status", 4000, b"receipt=1");
                    c.set_nonblocking(true).unwrap();
                    conns.push(c);
                    opened += 1;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            opened
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut visits = 0;
    while t.elapsed() < Duration::from_secs(6) {
        slowest = slowest.max(resident_visit(&url, B, bound));
        visits += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let opened = flooder.join().unwrap();
    println!(
        "slow-body flood from one address ({opened} connections opened against 8 slots, cap 4): \
         {visits} resident visits, slowest answer {slowest:?}"
    );
    drop(server);

    // 2. Behind a proxy or Tor the flood comes from loopback, exempt from the cap: the
    //    deadline gives the slots back. 16 silent bodies against 8 slots.
    let server = site.start(&[
        "--workers",
        "1",
        "--max-connections",
        "8",
        "--request-deadline-secs",
        "2",
    ]);
    let url = server.public.clone();
    let flood: Vec<TcpStream> = (0..16)
        .map(|_| half_sent(&url, A, "/zh/status", 4000, b"receipt=1"))
        .collect();
    let t = Instant::now();
    // At most two rounds (deadline and 1 s for the cut connections to close) in the queue
    // behind the flood, then as usual.
    let first = resident_visit(&url, B, Duration::from_secs(9));
    let freed = secs(t);
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        slowest = slowest.max(resident_visit(&url, B, bound));
    }
    drop(flood);
    println!(
        "16 silent bodies from loopback against 8 slots: first visit {first:?} ({freed:.1} s after \
         the flood), then slowest {slowest:?}"
    );
}

#[test]
fn one_client_cannot_hold_every_connection() {
    const GREEDY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 7);
    let site = Site::new();
    let server = site.start(&[
        "--client-limits-on-loopback",
        "--max-connections-per-client",
        "3",
        "--request-deadline-secs",
        "30",
    ]);
    let url = server.public.clone();
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| half_sent(&url, GREEDY, "/zh/status", 4000, b"receipt=1"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let get = "GET /zh/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let t = Instant::now();
    // A hang-up (an error here) before it could answer is a refusal too.
    if let Ok((code, text)) = exchange(&url, GREEDY, get) {
        assert_eq!(code, 429, "{text}");
        assert!(text.contains("Too many connections"), "{text}");
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Another address is served meanwhile.
    let (code, _) = exchange(&url, B, get).unwrap();
    assert_eq!(code, 200);
    // Once one of its connections closes, the client has a place again.
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(300));
    let (code, text) = exchange(&url, GREEDY, get).unwrap();
    assert_eq!(code, 200, "{text}");
    drop(held);
}

#[test]
fn metrics_and_log_lines_do_not_move_when_a_tip_arrives() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let metrics_token = site.root.path().join("metrics-token.txt");
    std::fs::write(&metrics_token, "monitoring-only-token-0123456789\n").unwrap();
    let server = site.start_limited(&[
        "--client-limits-on-loopback",
        "--limit-client-submit-per-hour",
        "1",
        "--metrics-token-file",
        metrics_token.to_str().unwrap(),
    ]);
    let scrape = || {
        agent()
            .get(&format!("{}/admin/v1/metrics", server.admin))
            .set("Authorization", "Bearer monitoring-only-token-0123456789")
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    };
    // The metrics token opens the metrics and nothing else: no export, no import.
    let export = server.export_with(Some("Bearer monitoring-only-token-0123456789"));
    assert_eq!(export.status, 401, "{}", export.body);
    let key = server.box_key();
    let before = scrape();
    let printed = server.printed();
    let r = server.submit(&seal_tip(&key, &"x".repeat(50_000), &[]));
    assert_eq!(r.status, 201);
    // Refused by the rate limit: not counted where a scraper sees it either.
    let refused = server.submit(&seal_tip(&key, "refused", &[]));
    assert_eq!(refused.status, 429);
    std::thread::sleep(Duration::from_millis(300));
    let after = scrape();
    assert_eq!(before, after, "the metrics moved when a tip arrived");
    assert!(after.contains("whistlebox_tips_accepted"));
    assert_eq!(
        server.printed(),
        printed,
        "a line was printed when a tip arrived"
    );
}

#[test]
fn an_unauthenticated_import_is_refused_before_its_body_is_read() {
    let site = Site::new();
    let server = site.start(&[]);
    let token = format!("Authorization: Bearer {TOKEN}\r\n");
    let cases = [
        ("", "17000000", "HTTP/1.1 401", "admin token"),
        (
            "Authorization: Bearer not-the-token-0123456789\r\n",
            "16000000",
            "HTTP/1.1 401",
            "admin token",
        ),
        // With the token, a bundle announced over 16 MiB is refused before it is read.
        (token.as_str(), "17000000", "HTTP/1.1 413", "too large"),
    ];
    for (auth, len, status, words) in cases {
        let addr: SocketAddr = server.admin.trim_start_matches("http://").parse().unwrap();
        let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // A large body is announced; not a byte of it is sent.
        write!(
            conn,
            "POST /admin/v1/import HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {len}\r\n\r\n"
        )
        .unwrap();
        let t = Instant::now();
        let mut buf = [0u8; 4096];
        let n = conn.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            text.starts_with(status),
            "no {status} before the body ({:?}): {text:?}",
            t.elapsed()
        );
        assert!(text.contains(words), "{text}");
    }
}

fn reply_of(result: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match result {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

#[test]
fn cross_site_posts_are_refused_and_same_site_ones_pass() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    let sealed = STANDARD.encode(seal_tip(&server.box_key(), "cross-site", &[]));
    let receipt = "1111 2222 3333 4444 5555";
    let posts: Vec<(&str, &str, String)> = vec![
        (
            "/api/v1/tips",
            "application/json",
            serde_json::json!({ "sealed": sealed }).to_string(),
        ),
        (
            "/api/v1/status",
            "application/json",
            serde_json::json!({ "receipt": receipt }).to_string(),
        ),
        (
            "/api/v1/followups",
            "application/json",
            serde_json::json!({ "receipt": receipt, "sealed": sealed }).to_string(),
        ),
        (
            "/zh/report",
            "application/x-www-form-urlencoded",
            "body=cross-site".into(),
        ),
        (
            "/en/status",
            "application/x-www-form-urlencoded",
            "receipt=1111".into(),
        ),
        (
            "/zh/followup",
            "application/x-www-form-urlencoded",
            "receipt=1111&body=x".into(),
        ),
    ];
    let own = server.public.clone();
    let send = |path: &str, ct: &str, body: &str, headers: &[(&str, &str)]| {
        let mut req = agent()
            .post(&format!("{}{path}", server.public))
            .set("Content-Type", ct);
        for (n, v) in headers {
            req = req.set(n, v);
        }
        reply_of(req.send_string(body))
    };
    let hostile: [&[(&str, &str)]; 5] = [
        &[("Origin", "https://evil.example")],
        &[("Origin", "null"), ("Sec-Fetch-Site", "cross-site")],
        &[("Sec-Fetch-Site", "cross-site")],
        &[("Sec-Fetch-Site", "same-site")],
        &[("Origin", &own), ("Sec-Fetch-Site", "cross-site")],
    ];
    for (path, ct, body) in &posts {
        for headers in hostile {
            let (code, text) = send(path, ct, body, headers);
            assert_eq!(code, 403, "{path} {headers:?}: {text}");
            assert!(text.contains("another website"), "{path}: {text}");
            if path.starts_with("/api/") {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert!(v["error"].as_str().unwrap().ends_with('.'));
            }
        }
    }
    assert_eq!(server.tip_count(), 0, "a refused post stored something");
    // `Origin: null` is what browsers send with every POST from a page whose referrer
    // policy is no-referrer, as ours is: a same-origin form post from Chromium carries it
    // beside `Sec-Fetch-Site: same-origin`, and one from an old Safari carries it alone.
    let friendly: [&[(&str, &str)]; 6] = [
        &[],
        &[("Origin", &own)],
        &[("Sec-Fetch-Site", "same-origin"), ("Origin", &own)],
        &[("Sec-Fetch-Site", "none")],
        &[("Sec-Fetch-Site", "same-origin"), ("Origin", "null")],
        &[("Origin", "null")],
    ];
    for headers in friendly {
        let (code, text) = send("/api/v1/tips", "application/json", &posts[0].2, headers);
        assert_eq!(code, 201, "{headers:?}: {text}");
        let (code, text) = send(
            "/zh/report",
            "application/x-www-form-urlencoded",
            "body=same-site",
            headers,
        );
        assert_eq!(code, 200, "{headers:?}: {text}");
    }
    assert_eq!(server.tip_count(), 12);
}

/// The review's way to hold a slot forever: actix times only the first request head on a
/// connection, and drains a kept-alive request's unread body without a deadline. Every
/// answer now closes its connection, so after one answer the server hangs up, whether the
/// client then trickles a second head or keeps sending a body nobody reads.
#[test]
fn no_connection_outlives_its_first_answer() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&["--connection-lifetime-secs", "3"]);
    let addr: SocketAddr = server.public.trim_start_matches("http://").parse().unwrap();
    let ends_within = |stream: &mut TcpStream, limit: Duration| -> (String, bool) {
        stream.set_read_timeout(Some(limit)).unwrap();
        let started = Instant::now();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return (String::from_utf8_lossy(&raw).into_owned(), true),
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(_) => return (String::from_utf8_lossy(&raw).into_owned(), false),
            }
            if started.elapsed() > limit {
                return (String::from_utf8_lossy(&raw).into_owned(), false);
            }
        }
    };
    // A kept-alive page request, then the start of a second head that never ends.
    let mut a = TcpStream::connect(addr).unwrap();
    a.write_all(b"GET /zh/ HTTP/1.1\r\nHost: whistlebox\r\n\r\nGET /zh/ HTTP/1.1\r\nHo")
        .unwrap();
    let (answer, closed) = ends_within(&mut a, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"));
    assert!(closed, "the connection stayed open after its answer");
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 1);
    // A GET with a chunked body that keeps coming and is never read.
    let mut b = TcpStream::connect(addr).unwrap();
    b.write_all(
        b"GET /zh/ HTTP/1.1\r\nHost: whistlebox\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n",
    )
    .unwrap();
    let feeder = {
        let mut b = b.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..20 {
                if b.write_all(b"1\r\nx\r\n").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let (answer, closed) = ends_within(&mut b, Duration::from_secs(8));
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    assert!(
        closed,
        "a body nobody reads held the connection past its lifetime"
    );
    feeder.join().unwrap();
}

/// A flood of lookup-value guesses (receipt version 2) from many addresses: each address is
/// held to its own quota, the global lookup quota refuses the rest with 429, and neither
/// touches the Argon2id class: a resident's lookup check, and a no-JavaScript receipt check,
/// still answer.
#[test]
fn a_lookup_value_flood_locks_no_resident_out() {
    use whistlebox::crypto::Argon2Params;
    use whistlebox::domain::receipt::{client_derivation, Receipt};
    whistlebox::crypto::init().unwrap();
    let site = Site::new();
    let server = site.start_limited(&[
        "--client-limits-on-loopback",
        "--limit-global-lookup-per-second",
        "20",
        "--limit-client-lookup-per-minute",
        "5",
    ]);
    let url = server.public.clone();
    // A resident's tip, filed under the lookup value of a receipt made "in the browser".
    let receipt = Receipt::generate();
    let key = server.get("/api/v1/key").json();
    let salt: [u8; 16] = STANDARD
        .decode(key["receipt_kdf"]["salt"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let keys = client_derivation(&receipt, &salt, Argon2Params::RECEIPT).unwrap();
    let lookup = keys.lookup_value.to_base64().to_string();
    let sealed = seal_tip(&server.box_key(), "flood test", &[]);
    let body =
        serde_json::json!({"sealed": STANDARD.encode(&sealed), "lookup": lookup}).to_string();
    let (code, text) = post_from(&url, Ipv4Addr::new(127, 0, 3, 1), "/api/v2/tips", &body);
    assert_eq!(code, 201, "{text}");

    // One address over its quota is refused; the flood's other addresses fill the global one.
    let guess =
        |i: u32| STANDARD.encode(whistlebox::crypto::blake2b::<32>(None, &[&i.to_be_bytes()]));
    let one = Ipv4Addr::new(127, 0, 4, 1);
    let codes: Vec<u16> = (0..8)
        .map(|i| lookup_from(&url, one, &guess(i)).0)
        .collect();
    assert_eq!(&codes[..5], &[404; 5], "{codes:?}");
    assert!(codes[5..].iter().all(|c| *c == 429), "{codes:?}");
    let mut refused = 0;
    for i in 0..60u32 {
        let from = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 5, 1)) + i);
        match lookup_from(&url, from, &guess(1000 + i)).0 {
            404 => {}
            429 => refused += 1,
            other => panic!("a guess answered {other}"),
        }
    }
    assert!(refused > 0, "the global lookup quota never refused");

    // The resident, from an address of their own: refused at most for a second or two.
    let resident = Ipv4Addr::new(127, 0, 6, 1);
    let mut answer = 0;
    for _ in 0..5 {
        answer = lookup_from(&url, resident, &lookup).0;
        if answer != 429 {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(answer, 200, "the resident's check");
    // The Argon2id class was never touched by the flood.
    let (code, text) = status_from(
        &url,
        Ipv4Addr::new(127, 0, 6, 2),
        "1111 2222 3333 4444 5555",
    );
    assert!(code == 400 || code == 404, "{code}: {text}");
    let (code, text) = status_from(&url, Ipv4Addr::new(127, 0, 6, 3), &receipt.display());
    assert_eq!(code, 200, "the same receipt on the server path: {text}");
}
