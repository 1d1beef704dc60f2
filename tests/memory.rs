//! What stays in the server's memory: after a no-JavaScript tip, a status check and a
//! follow-up, the resident's words and receipt must not be readable anywhere in the process
//! (searched through `/proc/PID/mem`, as someone who seizes the running server could).

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// One request on its own connection, closed after the answer (as a phone's browser would
/// once the page is shown).
fn exchange(server: &str, request: &str) -> String {
    let addr = server.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}

fn post_form(server: &str, path: &str, body: &str) -> String {
    exchange(
        server,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: whistlebox\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn post_json(server: &str, path: &str, body: &str) -> String {
    exchange(
        server,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: whistlebox\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every readable mapping of the process, read through /proc/PID/mem.
fn process_memory(pid: u32) -> Vec<u8> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut all = Vec::new();
    for line in maps.lines() {
        let mut parts = line.split_whitespace();
        let range = parts.next().unwrap();
        let perms = parts.next().unwrap();
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut buf = vec![0u8; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_ok() && mem.read_exact(&mut buf).is_ok() {
            all.extend_from_slice(&buf);
        }
    }
    all
}

fn found(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

#[test]
fn words_and_receipts_do_not_linger_in_memory() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);

    let marker = format!("WBMEMWORDS{:016x}", rand_u64());
    let chinese = "会计在仓库后门收钱";
    let words = format!("{marker} {chinese}");
    let page = post_form(
        &server.public,
        "/zh/report",
        &format!("body={}&where={marker}W", percent(&words)),
    );
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let receipt = page
        .split("id=\"receipt-digits\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the receipt on the page")
        .to_string();
    assert_eq!(receipt.len(), 24, "{receipt:?}");

    // A status check without JavaScript, one through the API (which answers the reply
    // key's seed), and a follow-up without JavaScript.
    let status = post_form(
        &server.public,
        "/zh/status",
        &format!("receipt={}", receipt.replace(' ', "+")),
    );
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let api = post_json(
        &server.public,
        "/api/v1/status",
        &format!("{{\"receipt\":\"{receipt}\"}}"),
    );
    assert!(api.starts_with("HTTP/1.1 200"), "{api}");
    let seed = api
        .split("\"reply_key\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let more = format!("WBMEMMORE{:016x}", rand_u64());
    let followup = post_form(
        &server.public,
        "/zh/followup",
        &format!("receipt={}&body={more}", receipt.replace(' ', "+")),
    );
    assert!(followup.starts_with("HTTP/1.1 200"), "{followup}");

    std::thread::sleep(Duration::from_secs(1));
    let memory = process_memory(server.pid());
    // The scan does read the heap: the pages' words, loaded at start, are there.
    assert!(found(&memory, "report-title"), "the scan saw no heap");

    let digits: String = receipt.chars().filter(char::is_ascii_digit).collect();
    // As the code holds them: the receipt as digit values (0 to 9), the seed as raw bytes.
    let values: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    let raw_seed = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&seed)
            .unwrap()
    };
    let mut lingering = Vec::new();
    for (what, needle) in [
        ("the receipt's digit values", values.as_slice()),
        ("the reply key's raw seed", raw_seed.as_slice()),
    ] {
        if memchr::memmem::find(&memory, needle).is_some() {
            lingering.push(what);
        }
    }
    for (what, needle) in [
        ("the tip's marker", marker.clone()),
        ("the tip's Chinese words", chinese.to_string()),
        ("the tip's words, form-encoded", percent(chinese)),
        ("the follow-up's marker", more.clone()),
        ("the receipt as shown", receipt.clone()),
        ("the receipt as posted", receipt.replace(' ', "+")),
        ("the receipt's digits", digits.clone()),
        ("the reply key's seed", seed.clone()),
    ] {
        if found(&memory, &needle) {
            lingering.push(what);
        }
    }
    assert!(
        lingering.is_empty(),
        "still readable in the server's memory one second later: {lingering:?}"
    );
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    whistlebox::crypto::init().unwrap();
    whistlebox::crypto::random_fill(&mut b);
    u64::from_le_bytes(b)
}
