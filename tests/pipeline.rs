//! The whole pipeline with the real binary: keygen, serve, submit, status, export, decrypt;
//! and every refused input, each checked to leave the store as it was.

mod common;

use common::*;
use serde_json::json;

const CHINESE_TIP: &str =
    "东山村村主任把2024年的低保金发给了自己的亲戚，金额大约三万元。\n有账本的照片。";

#[test]
fn submit_status_export_decrypt_gives_back_the_exact_text() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);

    // The key the server hands out is the inspectors' key, and it is not a demo.
    let key = server.get("/api/v1/key").json();
    assert_eq!(key["demo"], false);
    let pub_text = std::fs::read_to_string(inspectors.pub_file()).unwrap();
    assert!(pub_text.contains(key["box_public_key"].as_str().unwrap()));
    assert!(pub_text.contains(key["fingerprint"].as_str().unwrap()));

    let sealed = seal_tip(
        &server.box_key(),
        CHINESE_TIP,
        &[("where", "东山村"), ("topic", "pensions")],
    );
    let r = server.submit(&sealed);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let receipt = r.json()["receipt"].as_str().unwrap().to_string();
    let digits: String = receipt.chars().filter(|c| c.is_ascii_digit()).collect();
    assert_eq!(digits.len(), 20);
    assert_eq!(receipt.split(' ').count(), 5, "{receipt}");

    // Status, typed as people type it.
    let wide: String = digits
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
        .collect();
    let dashed = receipt.replace(' ', "-");
    for typed in [receipt.clone(), digits.clone(), wide, dashed] {
        let st = server.status(&typed);
        assert_eq!(st.status, 200, "{typed}: {}", st.body);
        assert_eq!(st.json()["status"], "received");
        assert_eq!(st.header("cache-control"), Some("no-store"));
    }

    // Export needs the token, and only exists on the admin listener.
    server.export_with(None).assert_error(401);
    server
        .export_with(Some("Bearer wrong-token-wrong-token"))
        .assert_error(401);
    server.export_with(Some(TOKEN)).assert_error(401);
    let public_try = agent()
        .get(&format!("{}/admin/v1/export", server.public))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call();
    match public_try {
        Err(ureq::Error::Status(404, _)) => {}
        other => panic!("admin route reachable on the public listener: {other:?}"),
    }
    let bundle = server.export();
    let parsed: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
    assert_eq!(parsed["format"], "whistlebox-export");
    assert_eq!(parsed["version"], 4);
    assert_eq!(parsed["office"], "county");
    assert_eq!(parsed["tips"].as_array().unwrap().len(), 1);
    assert!(
        !String::from_utf8_lossy(&bundle).contains(&digits),
        "bundle holds the receipt"
    );

    let out = tempfile::tempdir().unwrap();
    let d = inspectors.decrypt(&bundle, out.path());
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    let opened = read_decrypted(out.path());
    assert_eq!(opened.len(), 1);
    let (id, text) = opened.into_iter().next().unwrap();
    assert_eq!(text, CHINESE_TIP);
    assert_eq!(id, parsed["tips"][0]["id"].as_str().unwrap());
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join(&id).join("tip.json")).unwrap())
            .unwrap();
    assert_eq!(meta["fields"]["where"], "东山村");
    assert_eq!(meta["status"], "received");
    assert_eq!(meta["received_on"], parsed["tips"][0]["day"]);

    // The data folder holds neither the text nor the receipt.
    let stored = read_tree(&site.data());
    assert!(!contains(&stored, CHINESE_TIP.as_bytes()));
    assert!(!contains(&stored, "东山村".as_bytes()));
    assert!(!contains(&stored, digits.as_bytes()));
}

fn read_tree(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            all.extend(read_tree(&p));
        } else {
            all.extend(std::fs::read(&p).unwrap());
        }
    }
    all
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn refused_requests_get_plain_errors_and_change_nothing() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&["--max-tip-bytes", "8240"]);
    let key = server.box_key();
    let good = server.submit(&seal_tip(&key, "a first, real tip", &[]));
    assert_eq!(good.status, 201);
    let receipt = good.json()["receipt"].as_str().unwrap().to_string();
    let before = server.export();

    // Bad base64.
    server
        .post_json(
            "/api/v1/tips",
            &json!({"sealed": "this is not base64 at all!"}),
        )
        .assert_error(400);
    // Empty.
    server
        .post_json("/api/v1/tips", &json!({"sealed": ""}))
        .assert_error(400);
    // Right base64, but not the size of a sealed, padded tip.
    server
        .post_json("/api/v1/tips", &json!({"sealed": "AAAA"}))
        .assert_error(400);
    // Oversized: a real sealed tip over the configured limit.
    let big = seal_tip(&key, &"很长的举报。".repeat(2000), &[]);
    assert!(big.len() > 8240);
    server.submit(&big).assert_error(413);
    // A body far over the limit is cut off before it is read whole.
    let huge = format!("{{\"sealed\":\"{}\"}}", "A".repeat(4 * 1024 * 1024));
    server
        .post_raw("/api/v1/tips", "application/json", &huge)
        .assert_error(413);
    // Wrong JSON shapes.
    server
        .post_json("/api/v1/tips", &json!({"seald": "AAAA"}))
        .assert_error(400);
    server
        .post_json("/api/v1/tips", &json!({"sealed": 42}))
        .assert_error(400);
    server
        .post_raw("/api/v1/tips", "application/json", "{not json")
        .assert_error(400);
    server
        .post_raw("/api/v1/tips", "application/json", &"[".repeat(10_000))
        .assert_error(400);
    server
        .post_raw("/api/v1/tips", "text/plain", "{\"sealed\":\"AAAA\"}")
        .assert_error(415);
    // Wrong method, unknown path.
    server.get("/api/v1/tips").assert_error(405);
    server.get("/api/v1/nothing-here").assert_error(404);

    // Receipts: letters, too short, mistyped (check digit), unknown.
    let letters = server.status("1234 abcd 5678");
    letters.assert_error(400);
    let short = server.status("1234 5678");
    assert!(short.assert_error(400).contains("20 digits"));
    let mut digits: Vec<u8> = receipt.bytes().filter(u8::is_ascii_digit).collect();
    digits[3] = b'0' + (digits[3] - b'0' + 1) % 10;
    let typo = server.status(std::str::from_utf8(&digits).unwrap());
    let msg = typo.assert_error(400);
    assert!(msg.contains("digit seems wrong"), "{msg}");
    assert!(!msg.contains(std::str::from_utf8(&digits).unwrap()));
    let unknown = unknown_valid_receipt(&receipt);
    let nf = server.status(&unknown);
    assert!(nf.assert_error(404).contains("No report has this receipt"));
    server
        .post_json("/api/v1/status", &json!({"code": receipt}))
        .assert_error(400);
    server
        .post_json("/api/v1/status", &json!({"receipt": "1".repeat(5000)}))
        .assert_error(413);

    // Wrong admin tokens.
    server.export_with(Some("Bearer ")).assert_error(401);
    server
        .export_with(Some("Basic dXNlcjpwYXNz"))
        .assert_error(401);
    server
        .export_with(Some(&format!("Bearer {TOKEN}x")))
        .assert_error(401);

    // Nothing stored changed, and the good receipt still works.
    assert_eq!(server.export(), before);
    assert_eq!(server.status(&receipt).status, 200);
}

/// A receipt with a valid check digit that the server never issued.
fn unknown_valid_receipt(issued: &str) -> String {
    let mut d: Vec<u8> = issued
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    d[0] = (d[0] + 1) % 10;
    d.truncate(19);
    d.push(whistlebox::domain::receipt::damm(&d));
    d.iter().map(|x| char::from(b'0' + x)).collect()
}

#[test]
fn decrypt_survives_a_hostile_bundle_and_keeps_the_good_tips() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    let key = server.box_key();
    assert_eq!(
        server.submit(&seal_tip(&key, "好的举报一", &[])).status,
        201
    );
    assert_eq!(
        server.submit(&seal_tip(&key, "good tip two", &[])).status,
        201
    );
    let bundle: serde_json::Value = serde_json::from_slice(&server.export()).unwrap();
    let good = bundle["tips"].as_array().unwrap().clone();

    let stranger = whistlebox::crypto::BoxSecretKey::generate().public_key();
    let foreign = seal_tip(stranger.as_bytes(), "sealed to someone else", &[]);
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let mut tips = good.clone();
    tips.push(json!({"id": "../../../../tmp/pwned", "day": "2026-01-01", "status": "received", "sealed": good[0]["sealed"]}));
    tips.push(json!({"id": "abcdefabcdef0001", "day": "2026-01-01", "status": "received", "sealed": b64(&foreign)}));
    tips.push(json!({"id": "abcdefabcdef0002", "day": "2026-01-01", "status": "received", "sealed": "%%%"}));
    tips.push(json!({"id": "abcdefabcdef0003", "day": "2026-01-01", "status": "hacked", "sealed": good[0]["sealed"]}));
    tips.push(good[0].clone()); // a duplicate id
    tips.push(json!(["not", "an", "object"]));
    let hostile = json!({"format": "whistlebox-export", "version": 1, "tips": tips});

    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let d = inspectors.decrypt(hostile.to_string().as_bytes(), &out);
    assert_eq!(
        d.status.code(),
        Some(2),
        "partial success has its own exit code"
    );
    let printed = String::from_utf8_lossy(&d.stdout);
    assert!(printed.contains("could not open 6 message(s)"), "{printed}");
    let opened = read_decrypted(&out);
    let texts: Vec<&str> = opened.values().map(String::as_str).collect();
    assert_eq!(opened.len(), 2, "{texts:?}");
    assert!(texts.contains(&"好的举报一") && texts.contains(&"good tip two"));
    assert!(out.join("not-opened.txt").exists());
    assert!(!std::path::Path::new("/tmp/pwned").exists());
    let entries: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "nothing written beside the output folder");

    // A bundle that is not one at all: clear error, nothing written.
    let out2 = work.path().join("out2");
    for junk in [
        &b"\x00\x01garbage"[..],
        b"{\"format\":\"whistlebox-export\",\"version\":99,\"tips\":[]}",
        b"",
    ] {
        let d = inspectors.decrypt(junk, &out2);
        assert_eq!(d.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&d.stderr).contains("error:"));
        assert!(!out2.exists());
    }
}

#[test]
fn wrong_passphrase_is_a_clear_error_not_a_panic() {
    let inspectors = Inspectors::new();
    let wrong = inspectors.dir.path().join("wrong.txt");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    let bundle = inspectors.dir.path().join("b.json");
    std::fs::write(
        &bundle,
        r#"{"format":"whistlebox-export","version":1,"tips":[]}"#,
    )
    .unwrap();
    let out = run(&[
        "decrypt",
        "--key",
        inspectors.key_file().to_str().unwrap(),
        "--passphrase-file",
        wrong.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--out",
        inspectors.dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn demo_mode_is_obvious_and_works_end_to_end() {
    let site = Site::new();
    let server = site.start(&[]);
    assert_eq!(server.get("/api/v1/key").json()["demo"], true);
    let home = server.get("/");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("DEMO MODE"));
    assert!(server.printed().contains("DEMO MODE"));
    let r = server.submit(&seal_tip(&server.box_key(), "demo tip", &[]));
    assert_eq!(r.status, 201);

    // The demo key in the data folder opens the demo tips.
    let demo = site.data().join("demo-keys");
    let bundle_path = site.root.path().join("bundle.json");
    std::fs::write(&bundle_path, server.export()).unwrap();
    let out = site.root.path().join("opened");
    let d = run(&[
        "decrypt",
        "--key",
        demo.join("inspectors.key").to_str().unwrap(),
        "--passphrase-file",
        demo.join("passphrase.txt").to_str().unwrap(),
        "--bundle",
        bundle_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    assert_eq!(
        read_decrypted(&out).into_values().collect::<Vec<_>>(),
        vec!["demo tip"]
    );
}

#[test]
fn real_keys_never_mean_demo_mode() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    assert!(!server.get("/").body.contains("DEMO MODE"));
    assert!(!server.printed().contains("DEMO MODE"));
    assert!(!site.data().join("demo-keys").exists());
}

#[test]
fn startup_refuses_a_wrong_pepper_or_a_damaged_key_file() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    {
        let server = site.start(&[]);
        assert_eq!(
            server.submit(&seal_tip(&server.box_key(), "x", &[])).status,
            201
        );
    }
    // Another pepper for the same data folder: every receipt would silently be unknown.
    let other = site.root.path().join("other-pepper");
    std::fs::write(&other, "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\n").unwrap();
    let err = site
        .try_start(&["--pepper-file", other.to_str().unwrap()])
        .err()
        .expect("must refuse");
    assert!(err.contains("pepper"), "{err}");

    // A damaged public key file stops the server instead of falling back to demo mode.
    let pub_path = site.keys().join("inspectors.pub");
    let text = std::fs::read_to_string(&pub_path).unwrap();
    std::fs::write(
        &pub_path,
        text.replace("box_public_key: ", "box_public_key: AAAA"),
    )
    .unwrap();
    let err = site.try_start(&[]).err().expect("must refuse");
    assert!(err.contains("inspectors.pub"), "{err}");
    assert!(!err.contains("DEMO MODE"));
}

#[test]
fn security_headers_are_on_every_response() {
    let site = Site::new();
    let server = site.start(&[]);
    for r in [
        server.get("/"),
        server.get("/api/v1/key"),
        server.get("/nope"),
        server.status("1"),
    ] {
        let csp = r.header("content-security-policy").expect("CSP");
        assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert!(r.header("set-cookie").is_none());
    }
}

/// Runs `serve` on `bind` with output to files; waits (bounded) until it exits or prints
/// its admin listener line. Returns the child if still running, and what it printed.
fn serve_on(
    site: &Site,
    bind: &str,
    extra: &[&str],
) -> (
    Option<std::process::Child>,
    Option<std::process::ExitStatus>,
    String,
) {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let log = site.root.path().join(format!("serve-{}.log", extra.len()));
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--data",
            site.data().to_str().unwrap(),
            "--keys",
            site.keys().to_str().unwrap(),
            "--bind",
            bind,
            "--admin-bind",
            "127.0.0.1:0",
            "--admin-token-file",
            site.root.path().join("token.txt").to_str().unwrap(),
        ])
        .args(extra)
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if let Some(status) = child.try_wait().unwrap() {
            return (None, Some(status), std::fs::read_to_string(&log).unwrap());
        }
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("admin listener on") {
            std::thread::sleep(Duration::from_millis(200));
            return (Some(child), None, std::fs::read_to_string(&log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server neither started nor exited within 30 s");
}

#[test]
fn a_public_address_without_keys_refuses_to_start_unless_demo_is_asked() {
    // No keys/inspectors.pub (a wrong --keys path), on an address others can reach.
    let site = Site::new();
    let (child, status, printed) = serve_on(&site, "0.0.0.0:0", &[]);
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
        panic!("it started without keys on a public address:\n{printed}");
    }
    assert!(!status.unwrap().success());
    assert!(printed.contains("inspectors.pub not found"), "{printed}");
    assert!(printed.contains("--demo"), "{printed}");
    assert!(!printed.contains("DEMO MODE"), "{printed}");
    assert!(!site.data().join("demo-keys").exists());

    // Asked for explicitly, demo mode starts, and says so loudly on stderr.
    let (child, _, printed) = serve_on(&site, "0.0.0.0:0", &["--demo"]);
    let mut child = child.expect("demo mode starts with --demo");
    let _ = child.kill();
    let _ = child.wait();
    assert!(printed.contains("DEMO MODE"), "{printed}");
    assert!(printed.contains("****"), "no banner: {printed}");

    // Behind a proxy the listener is on loopback, yet it faces the public: --proxied or
    // --public-url without keys is refused just the same.
    for behind in [
        &["--proxied"][..],
        &["--public-url", "https://tips.example.org/"],
    ] {
        let site = Site::new();
        let (child, status, printed) = serve_on(&site, "127.0.0.1:0", behind);
        if let Some(mut c) = child {
            let _ = c.kill();
            let _ = c.wait();
            panic!("it started without keys behind a proxy ({behind:?}):\n{printed}");
        }
        assert!(!status.unwrap().success());
        assert!(printed.contains("behind a proxy"), "{printed}");
    }

    // On loopback (the README's first command) it starts in demo mode without --demo.
    let site = Site::new();
    let (child, _, printed) = serve_on(&site, "127.0.0.1:0", &[]);
    let mut child = child.expect("demo mode starts on loopback");
    let _ = child.kill();
    let _ = child.wait();
    assert!(printed.contains("DEMO MODE"), "{printed}");
}
