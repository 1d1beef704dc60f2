//! A flood of lookup-value guesses against a running server (benches/run.sh starts it with
//! its rate limits on), and a resident's check in the middle of it: does the resident still
//! get an answer, after how many tries and how long? Not a test; prints Markdown table rows.
//!
//! Environment: `PUBLIC` (http://127.0.0.1:PORT), `LOOKUP` (a lookup value the store holds),
//! `FLOOD_PER_SECOND`, `FLOOD_SECONDS`, `FLOOD_ADDRESSES` (distinct loopback source addresses,
//! 127.0.1.1 and on; 1 plays Tor or a proxy: every guess from one address), `LABEL`.
//! Only loopback addresses are ever used.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// One POST /api/v2/status from `from`; the HTTP status, 0 on a socket error.
fn check(server: SocketAddr, from: Ipv4Addr, lookup: &str) -> u16 {
    let attempt = || -> std::io::Result<u16> {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        socket.bind(&SocketAddr::from((from, 0)).into())?;
        socket.connect_timeout(&server.into(), Duration::from_secs(5))?;
        let mut stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let body = format!("{{\"lookup\":\"{lookup}\"}}");
        write!(
            stream,
            "POST /api/v2/status HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let head = String::from_utf8_lossy(&answer[..answer.len().min(16)]).into_owned();
        Ok(head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    };
    attempt().unwrap_or(0)
}

fn random_lookup() -> String {
    use base64::Engine;
    let mut raw = [0u8; 32];
    whistlebox::crypto::random_fill(&mut raw);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn main() {
    whistlebox::crypto::init().expect("libsodium");
    let public = env("PUBLIC", "http://127.0.0.1:8080");
    let server: SocketAddr = public
        .trim_start_matches("http://")
        .parse()
        .expect("PUBLIC is http://IP:PORT");
    assert!(server.ip().is_loopback(), "floods go to loopback only");
    let lookup = env("LOOKUP", "");
    let rate: u64 = env("FLOOD_PER_SECOND", "200").parse().unwrap();
    let seconds: u64 = env("FLOOD_SECONDS", "20").parse().unwrap();
    let addresses: u32 = env("FLOOD_ADDRESSES", "500").parse().unwrap();
    let label = env("LABEL", "flood");

    let sent = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(seconds);
    let threads = 16u64;
    let mut flood = Vec::new();
    for t in 0..threads {
        let (sent, refused) = (sent.clone(), refused.clone());
        flood.push(std::thread::spawn(move || {
            // Each thread paces its share, so the total is `rate` a second.
            let every = Duration::from_secs_f64(threads as f64 / rate as f64);
            let mut next = Instant::now() + every.mul_f64(t as f64 / threads as f64);
            let mut n = t;
            while Instant::now() < stop {
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
                next += every;
                let i = (n % addresses as u64) as u32;
                n += threads;
                let from = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 1, 1)) + i);
                let status = check(server, from, &random_lookup());
                sent.fetch_add(1, Ordering::Relaxed);
                if status == 429 {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    // The resident: from an address of their own, every second once the flood runs, retrying
    // a 429 after a second as the page does (up to 5 tries).
    std::thread::sleep(Duration::from_secs(2));
    let resident = Ipv4Addr::new(127, 0, 9, 9);
    let mut outcomes = Vec::new();
    while Instant::now() + Duration::from_secs(6) < stop {
        let start = Instant::now();
        let mut tries = 0;
        let mut status = 0;
        while tries < 5 {
            tries += 1;
            status = check(server, resident, &lookup);
            if status != 429 {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        outcomes.push((status, tries, start.elapsed()));
        std::thread::sleep(Duration::from_secs(1));
    }
    for t in flood {
        t.join().unwrap();
    }
    let sent = sent.load(Ordering::Relaxed);
    let refused = refused.load(Ordering::Relaxed);
    let answered = outcomes.iter().filter(|(s, _, _)| *s == 200).count();
    let first_try = outcomes
        .iter()
        .filter(|(s, t, _)| *s == 200 && *t == 1)
        .count();
    let worst = outcomes
        .iter()
        .map(|(_, _, d)| d.as_millis())
        .max()
        .unwrap_or(0);
    let mean_ms = outcomes.iter().map(|(_, _, d)| d.as_millis()).sum::<u128>()
        / outcomes.len().max(1) as u128;
    println!(
        "| {label}: {rate} guesses/s for {seconds} s from {addresses} addresses | {:.0} sent/s, {:.0}% refused (429); resident's checks answered {answered} of {} ({first_try} at the first try), mean {mean_ms} ms, worst {worst} ms |",
        sent as f64 / seconds as f64,
        100.0 * refused as f64 / sent.max(1) as f64,
        outcomes.len(),
    );
}
