//! Residents posting tips while servers are killed or fail over (tests/crash.rs,
//! tests/failover.rs): client threads that post until told to stop and keep every receipt
//! they were shown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{agent, seal_tip};

/// Receipts shown, with the words of their tips.
pub type Answered = Arc<Mutex<Vec<(String, String)>>>;

/// Which failures a client counts as "cut off" (no receipt shown) rather than a test failure.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Cuts {
    /// Any failure: the one server is killed mid-request, and may refuse meanwhile.
    Any,
    /// A 5xx (the store failed) or no answer (the server was killed); any other status fails.
    ServerErrorsAndKills,
    /// A 5xx only: the frontends themselves never die, so no answer at all fails.
    ServerErrorsOnly,
}

/// `clients` threads posting tips to `urls` (client c to `urls[c % len]`) until `stop`,
/// each tip's words `"{words} (client {c}, tip {n})"`; every 201 goes into
/// `answered`. Each thread returns how many of its requests were cut off.
pub fn post_tips_until(
    urls: &[String],
    clients: usize,
    key: [u8; 32],
    words: &str,
    cuts: Cuts,
    stop: &Arc<AtomicBool>,
    answered: &Answered,
) -> Vec<JoinHandle<usize>> {
    (0..clients)
        .map(|c| {
            let url = urls[c % urls.len()].clone();
            let (stop, answered) = (stop.clone(), answered.clone());
            let words = words.to_owned();
            std::thread::spawn(move || {
                let mut cut = 0usize;
                let agent = agent();
                for n in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let body = format!("{words} (client {c}, tip {n})");
                    let sealed = seal_tip(&key, &body, &[]);
                    let req = serde_json::json!({ "sealed": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &sealed) });
                    match agent
                        .post(&format!("{url}/api/v1/tips"))
                        .set("Content-Type", "application/json")
                        .send_string(&req.to_string())
                    {
                        Ok(r) if r.status() == 201 => {
                            let v: serde_json::Value = r.into_json().unwrap();
                            let receipt = v["receipt"].as_str().unwrap().to_string();
                            answered.lock().unwrap().push((receipt, body));
                        }
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        Err(ureq::Error::Status(code, _)) if code >= 500 => cut += 1,
                        Err(ureq::Error::Status(code, r)) if cuts != Cuts::Any => {
                            panic!("unexpected status {code}: {}", r.into_string().unwrap())
                        }
                        Err(e) if cuts == Cuts::ServerErrorsOnly => {
                            panic!("the frontend itself failed: {e}")
                        }
                        // Killed mid-request (or, with one server, refused): no receipt shown.
                        Err(_) => {
                            cut += 1;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
                cut
            })
        })
        .collect()
}

/// A random number of milliseconds below `below` (a moment to kill a server at).
pub fn random_ms(below: u64) -> u64 {
    whistlebox::crypto::init().unwrap();
    let mut b = [0u8; 2];
    whistlebox::crypto::random_fill(&mut b);
    u64::from(u16::from_le_bytes(b)) % below
}
