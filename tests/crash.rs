//! Crash test: while residents submit tips concurrently, the server is killed with SIGKILL at
//! random moments and restarted on the same data folder. Every receipt that was answered
//! must still be there, and its tip must still decrypt.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::load::{post_tips_until, random_ms, Cuts};
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
        let workers = post_tips_until(
            &[url],
            CLIENTS,
            key,
            &format!("第{round}轮：村里的补贴被挪用了。"),
            Cuts::Any,
            &stop,
            &answered,
        );
        std::thread::sleep(Duration::from_millis(400 + random_ms(1600)));
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

/// Two `whistlebox serve` on one PostgreSQL database, residents posting to both, each
/// killed with SIGKILL at its own random moment and restarted, six times: every answered
/// receipt is found (through either) and its tip decrypts.
#[test]
fn answered_receipts_survive_sigkill_of_two_frontends_on_postgres() {
    let Some(db) =
        common::pg::Database::new("answered_receipts_survive_sigkill_of_two_frontends_on_postgres")
    else {
        return;
    };
    let inspectors = Inspectors::new();
    let (a, b) = (Site::new(), Site::new());
    inspectors.server_keys(&a.keys());
    inspectors.server_keys(&b.keys());
    // One pepper for both, as the deployment copies it to every frontend.
    let pepper = a.root.path().join("pepper.secret");
    let mut secret = [0u8; 32];
    whistlebox::crypto::init().unwrap();
    whistlebox::crypto::random_fill(&mut secret);
    std::fs::write(
        &pepper,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret) + "\n",
    )
    .unwrap();
    let flags: Vec<String> = vec![
        "--store".into(),
        db.url.clone(),
        "--pepper-file".into(),
        pepper.display().to_string(),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let answered: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut cut = 0usize;
    for round in 0..ROUNDS {
        // Started together: on the first round they race to set the schema up.
        let (mut sa, mut sb) = std::thread::scope(|s| {
            let ta = s.spawn(|| a.start(&flags));
            let tb = s.spawn(|| b.start(&flags));
            (ta.join().unwrap(), tb.join().unwrap())
        });
        let key = sa.box_key();
        let stop = Arc::new(AtomicBool::new(false));
        let workers = post_tips_until(
            &[sa.public.clone(), sb.public.clone()],
            CLIENTS,
            key,
            &format!("第{round}轮：村卫生室的药品回扣。"),
            Cuts::ServerErrorsAndKills,
            &stop,
            &answered,
        );
        let (first, second) = (400 + random_ms(1200), random_ms(800));
        std::thread::sleep(Duration::from_millis(first));
        if round % 2 == 0 {
            sa.kill9();
        } else {
            sb.kill9();
        }
        std::thread::sleep(Duration::from_millis(second));
        if round % 2 == 0 {
            sb.kill9();
        } else {
            sa.kill9();
        }
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            cut += w.join().unwrap();
        }
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() >= ROUNDS,
        "too few answered: {}",
        answered.len()
    );
    let (sa, sb) = (a.start(&flags), b.start(&flags));
    for (i, (receipt, _)) in answered.iter().enumerate() {
        let st = if i % 2 == 0 {
            sa.status(receipt)
        } else {
            sb.status(receipt)
        };
        assert_eq!(st.status, 200, "an answered receipt was lost: {}", st.body);
    }
    let bundle = sb.export();
    let stored: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
    let stored_count = stored["tips"].as_array().unwrap().len();
    let out = tempfile::tempdir().unwrap();
    let d = inspectors.decrypt(&bundle, out.path());
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
    let opened: std::collections::HashSet<String> =
        read_decrypted(out.path()).into_values().collect();
    let found = answered
        .iter()
        .filter(|(_, body)| opened.contains(body))
        .count();
    assert_eq!(found, answered.len(), "an answered tip does not decrypt");
    println!(
        "crash test, PostgreSQL, two frontends: {} SIGKILLs, {} receipts answered, all {found} \
         found and decrypted; {stored_count} tips stored in all; {cut} requests cut off or \
         refused while a frontend was down",
        2 * ROUNDS,
        answered.len()
    );
}
