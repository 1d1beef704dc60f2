//! Crash test: while residents submit tips concurrently, the server is killed with SIGKILL at
//! random moments and restarted on the same data folder. Every receipt that was answered
//! must still be there, and its tip must still decrypt.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

const ROUNDS: usize = 6;
const CLIENTS: usize = 4;

#[test]
fn answered_receipts_survive_sigkill() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let answered: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut refused_or_cut = 0usize;

    for round in 0..ROUNDS {
        let mut server = site.start(&[]);
        let key = server.box_key();
        let url = server.public.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (url, stop, answered) = (url.clone(), stop.clone(), answered.clone());
                std::thread::spawn(move || {
                    let mut cut = 0usize;
                    let agent = agent();
                    for n in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let body = format!("第{round}轮 client {c} tip {n}: 村里的补贴被挪用了。");
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
                            // The server died mid-request: this tip's receipt was never shown.
                            Err(_) => {
                                cut += 1;
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    }
                    cut
                })
            })
            .collect();
        whistlebox::crypto::init().unwrap();
        let mut b = [0u8; 2];
        whistlebox::crypto::random_fill(&mut b);
        let wait = 400 + u64::from(u16::from_le_bytes(b)) % 1600;
        std::thread::sleep(Duration::from_millis(wait));
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            refused_or_cut += w.join().unwrap();
        }
    }

    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() >= ROUNDS,
        "too few tips were answered to prove anything: {} of {ROUNDS}",
        answered.len()
    );
    let server = site.start(&[]);
    for (receipt, _) in &answered {
        let st = server.status(receipt);
        assert_eq!(st.status, 200, "an answered receipt was lost: {}", st.body);
    }
    let bundle = server.export();
    let stored: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
    let stored_count = stored["tips"].as_array().unwrap().len();
    let out = tempfile::tempdir().unwrap();
    let d = inspectors.decrypt(&bundle, out.path());
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
    let opened: std::collections::HashSet<String> =
        read_decrypted(out.path()).into_values().collect();
    for (_, body) in &answered {
        assert!(
            opened.contains(body),
            "an answered tip does not decrypt: {body}"
        );
    }
    println!(
        "crash test: {ROUNDS} SIGKILLs, {} receipts answered, all {} found and decrypted; \
         {stored_count} tips stored in all; {refused_or_cut} requests cut off by the kills",
        answered.len(),
        answered.len()
    );
}
