//! Paper and phone (office intake) through the real binary: printed forms whose codes the
//! server never stores, a stub that says "not entered yet" until its letter is entered, the
//! words and the channel inside the sealed tip, a letter entered twice refused, a withdrawn
//! batch, and the clerk's listener closed to anyone without its token (and absent from the
//! public listener). The clerk's browser is played here with whistlebox's own receipt code
//! (`client_derivation`, which tests/cross_impl.rs checks against the browser's), at the
//! installation's real Argon2id parameters.

mod common;

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use common::{agent, reply, Inspectors, Reply, Server, Site, TOKEN};
use whistlebox::crypto::{Argon2Params, BoxSecretKey};
use whistlebox::domain::intake::Channel;
use whistlebox::domain::receipt::{client_derivation, Receipt};
use whistlebox::domain::Day;
use whistlebox::store::{month_of, SledStore, TipStore};

const CLERK_TOKEN: &str = "clerk-token-for-the-tests-0123456789";
const LETTER: &str = "村主任把我家的低保金领走了，已经三个月。\n我不会上网，只好写信。";

/// A server with a clerk's listener, its inspectors, and a signed-in clerk.
struct Office {
    inspectors: Inspectors,
    site: Site,
    server: Server,
    cookie: String,
}

fn office() -> Office {
    office_with(&[])
}

/// The same, with more flags for the server.
fn office_with(more: &[&str]) -> Office {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let token = site.root.path().join("clerk.txt");
    std::fs::write(&token, format!("{CLERK_TOKEN}\n")).unwrap();
    let mut args = vec![
        "--clerk-bind",
        "127.0.0.1:0",
        "--clerk-token-file",
        token.to_str().unwrap(),
        "--office-phone",
        "0771-1234567",
    ];
    args.extend_from_slice(more);
    let server = site.start(&args);
    let cookie = sign_in(&server, CLERK_TOKEN).expect("the clerk token signs in");
    Office {
        inspectors,
        site,
        server,
        cookie,
    }
}

fn clerk(server: &Server) -> &str {
    server.clerk.as_deref().expect("a clerk listener")
}

fn no_redirects() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(std::time::Duration::from_secs(120))
        .build()
}

/// Signs in on the clerk's listener; the session cookie (`name=value`), or `None`.
fn sign_in(server: &Server, token: &str) -> Option<String> {
    let r = reply(
        no_redirects()
            .post(&format!("{}/zh/signin", clerk(server)))
            .send_form(&[("token", token)]),
    );
    if r.status != 303 {
        return None;
    }
    let cookie = r
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    Some(cookie.split(';').next().unwrap().to_string())
}

impl Office {
    fn get(&self, path: &str) -> Reply {
        reply(
            no_redirects()
                .get(&format!("{}{path}", clerk(&self.server)))
                .set("Cookie", &self.cookie)
                .call(),
        )
    }
    fn post(&self, path: &str, body: &Value) -> Reply {
        reply(
            agent()
                .post(&format!("{}{path}", clerk(&self.server)))
                .set("Cookie", &self.cookie)
                .set("Content-Type", "application/json")
                .send_string(&body.to_string()),
        )
    }
    fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        reply(
            agent()
                .post(&format!("{}{path}", clerk(&self.server)))
                .set("Cookie", &self.cookie)
                .send_form(form),
        )
    }
    /// The installation's receipt parameters, as the pages carry them.
    fn kdf(&self) -> ([u8; 16], Argon2Params) {
        let k = self.server.get("/api/v1/key").json();
        let kdf = &k["receipt_kdf"];
        let salt: [u8; 16] = STANDARD
            .decode(kdf["salt"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let params = Argon2Params {
            ops: kdf["ops"].as_u64().unwrap() as u32,
            mem_bytes: kdf["mem_bytes"].as_u64().unwrap(),
        };
        (salt, params)
    }
    /// What the clerk's browser makes for a code: its lookup value (base64) and reply seed.
    fn derive(&self, code: &str) -> (String, [u8; 32]) {
        let (salt, params) = self.kdf();
        let keys = client_derivation(&Receipt::parse(code).unwrap(), &salt, params).unwrap();
        (keys.lookup_value.to_base64().to_string(), *keys.reply_seed)
    }
    /// Prints a batch of `n` forms as the print page does; returns the codes and the batch.
    fn print(&self, n: usize) -> (Vec<String>, Value) {
        let codes: Vec<String> = (0..n)
            .map(|_| Receipt::generate().display().to_string())
            .collect();
        let lookups: Vec<String> = codes.iter().map(|c| self.derive(c).0).collect();
        let r = self.post("/api/batches", &json!({ "lookups": lookups }));
        assert_eq!(r.status, 201, "{}", r.body);
        (codes, r.json())
    }
    /// The entry page's request for `code` (a form's, or a new one with `stub: false`).
    fn entry(&self, code: &str, stub: bool, channel: &str, body: &str) -> Value {
        let (lookup, seed) = self.derive(code);
        let reply_key = BoxSecretKey::from_seed(&seed).public_key();
        let sealed = common::seal_tip_bound(
            &self.server.box_key(),
            Some(reply_key.as_bytes()),
            body,
            &[("channel", channel), ("topic", "pensions")],
        );
        json!({ "sealed": STANDARD.encode(sealed), "lookup": lookup, "channel": channel, "stub": stub })
    }
    fn status_v2(&self, code: &str) -> Reply {
        let (lookup, _) = self.derive(code);
        self.server
            .post_json("/api/v2/status", &json!({ "lookup": lookup }))
    }
    /// Every decrypted tip: (message.txt, tip.json).
    fn decrypted(&self) -> Vec<(String, Value)> {
        let out = tempfile::tempdir().unwrap();
        let run = self.inspectors.decrypt(&self.server.export(), out.path());
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        common::read_decrypted(out.path())
            .into_iter()
            .map(|(id, text)| {
                let meta = std::fs::read_to_string(out.path().join(&id).join("tip.json")).unwrap();
                (text, serde_json::from_str(&meta).unwrap())
            })
            .collect()
    }
}

/// Files under `root` holding `needle`.
fn files_holding(root: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if memchr::memmem::find(&bytes, needle).is_some() {
                    found.push(path);
                }
            }
        }
    }
    found
}

#[test]
fn printing_forms_registers_their_codes_and_stores_none_of_them() {
    let o = office();
    let (codes, batch) = o.print(5);
    assert_eq!(
        (
            batch["batch"].as_u64(),
            batch["label"].as_str(),
            batch["forms"].as_u64()
        ),
        (Some(1), Some("0001"), Some(5))
    );
    let page = o.get("/zh/batches");
    assert!(page.body.contains(r#"data-batch="0001""#) && page.body.contains("<td>5</td>"));
    // Every code of the batch is known as a form whose letter is not entered yet: on the
    // browser's path, on the server's path and on the page without JavaScript.
    for code in &codes {
        let r = o.status_v2(code);
        let msg = r.assert_error(404);
        assert_eq!(r.json()["stub"], "waiting", "{}", r.body);
        assert!(
            msg.contains("No letter with this code has been entered yet"),
            "{msg}"
        );
        let r = o.server.status(code);
        r.assert_error(404);
        assert_eq!(r.json()["stub"], "waiting");
    }
    let page = o.server.post_raw(
        "/zh/status",
        "application/x-www-form-urlencoded",
        &format!("receipt={}", codes[0].replace(' ', "+")),
    );
    assert_eq!(page.status, 404);
    assert!(
        page.body.contains("这个查询码的信还没有登记"),
        "{}",
        page.body
    );
    // A code no form carries is still just unknown.
    let r = o.status_v2(&Receipt::generate().display());
    r.assert_error(404);
    assert!(r.json().get("stub").is_none());
    // Registering forms filed no tip.
    assert_eq!(o.server.tip_count(), 0);
    // Nothing of any code is in the server's folders: not its digits (grouped or not), nor
    // its lookup value (raw or base64), nor its reply seed. Only keyed hashes are kept.
    for code in &codes {
        let (lookup, seed) = o.derive(code);
        let digits: String = code.chars().filter(char::is_ascii_digit).collect();
        for needle in [
            digits.as_bytes(),
            code.as_bytes(),
            &digits.as_bytes()[..12],
            lookup.as_bytes(),
            &STANDARD.decode(&lookup).unwrap()[..],
            &seed[..],
        ] {
            let holding = files_holding(o.site.root.path(), needle);
            assert!(holding.is_empty(), "{code}: found in {holding:?}");
        }
    }
}

#[test]
fn a_stub_says_not_entered_until_its_letter_is_entered_and_a_second_entry_changes_nothing() {
    let o = office();
    let (codes, _) = o.print(2);
    o.status_v2(&codes[0]).assert_error(404);
    let entry = o.entry(&codes[0], true, "letter", LETTER);
    let r = o.post("/api/entries", &entry);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["channel"], "letter");
    // The resident's stub now shows the status, on both paths.
    let r = o.status_v2(&codes[0]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "received");
    assert!(r.json().get("reply_key").is_none());
    let r = o.server.status(&codes[0]);
    assert_eq!(r.status, 200, "{}", r.body);
    // The clerk's status by phone gives the same answer.
    let (lookup, _) = o.derive(&codes[0]);
    let r = o.post("/api/status", &json!({ "lookup": lookup }));
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("received"))
    );
    // The other form's stub is still waiting.
    assert_eq!(o.status_v2(&codes[1]).json()["stub"], "waiting");
    // Offline, the tip carries the words and the channel, and the reply key of the code.
    let tips = o.decrypted();
    assert_eq!(tips.len(), 1);
    assert_eq!(tips[0].0, LETTER);
    let meta = &tips[0].1;
    assert_eq!(meta["fields"]["channel"], "letter", "{meta}");
    let (_, seed) = o.derive(&codes[0]);
    assert_eq!(
        meta["bound_reply_key"].as_str().unwrap(),
        STANDARD.encode(BoxSecretKey::from_seed(&seed).public_key().as_bytes())
    );
    // The same letter again, or other words under the same stub: refused, nothing changes.
    let before = o.server.export();
    for again in [
        entry.clone(),
        o.entry(&codes[0], true, "letter", "别的内容"),
    ] {
        let r = o.post("/api/entries", &again);
        let msg = r.assert_error(409);
        assert!(msg.contains("already entered"), "{msg}");
    }
    assert_eq!(o.server.export(), before);
    assert_eq!(o.decrypted()[0].0, LETTER);
}

#[test]
fn calls_and_visits_get_new_codes_and_bad_entries_store_nothing() {
    let o = office();
    // A call: the entry page makes a new code; it works at once.
    let code = Receipt::generate().display().to_string();
    let r = o.post(
        "/api/entries",
        &o.entry(&code, false, "phone", "电话里说：村会计收回扣。"),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(o.status_v2(&code).json()["status"], "received");
    let code2 = Receipt::generate().display().to_string();
    let r = o.post(
        "/api/entries",
        &o.entry(&code2, false, "visit", "来访：学校乱收费。"),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let channels: Vec<String> = o
        .decrypted()
        .iter()
        .map(|(_, m)| m["fields"]["channel"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(channels.len(), 2);
    assert!(channels.contains(&"phone".into()) && channels.contains(&"visit".into()));
    // Refusals: a code on no form, an online "entry", a malformed lookup; nothing stored.
    let before = o.server.export();
    let stray = Receipt::generate().display().to_string();
    let msg = o
        .post("/api/entries", &o.entry(&stray, true, "letter", LETTER))
        .assert_error(404);
    assert!(msg.contains("not on any form"), "{msg}");
    o.post("/api/entries", &o.entry(&stray, false, "online", LETTER))
        .assert_error(400);
    let mut bad = o.entry(&stray, false, "letter", LETTER);
    bad["lookup"] = json!("AAAA");
    o.post("/api/entries", &bad).assert_error(400);
    o.post("/api/batches", &json!({ "lookups": [] }))
        .assert_error(400);
    o.post("/api/batches", &json!({ "lookups": ["nope"] }))
        .assert_error(400);
    assert_eq!(o.server.export(), before);
    assert_eq!(o.status_v2(&stray).status, 404);
    // The counts by channel are kept in memory until the day is over (a count written with
    // its tip would tie the two): nothing of them in the store yet; a clean stop writes them.
    let mut o = o;
    let month = month_of(Day::today());
    let status = o.server.stop();
    assert!(status.success(), "{status:?}: {}", o.server.printed());
    whistlebox::crypto::init().unwrap();
    let store = SledStore::open(&o.site.data().join("store")).unwrap();
    let counts = &store.monthly_counts().unwrap()[&month];
    assert_eq!(counts.received, 2);
    assert_eq!(
        counts.entered,
        [(Channel::Phone, 1), (Channel::Visit, 1)]
            .into_iter()
            .collect()
    );
}

#[test]
fn a_withdrawn_batch_takes_no_letter_and_its_stubs_say_so() {
    let o = office();
    let (codes, _) = o.print(2);
    let r = o.post("/api/entries", &o.entry(&codes[0], true, "letter", LETTER));
    assert_eq!(r.status, 201);
    // Without the box ticked, nothing is withdrawn.
    let page = o.post_form("/zh/batches/void", &[("batch", "1")]);
    assert_eq!(page.status, 400);
    assert_eq!(o.status_v2(&codes[1]).json()["stub"], "waiting");
    let page = o.post_form("/zh/batches/void", &[("batch", "1"), ("sure", "yes")]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("已作废"));
    let before = o.server.export();
    let msg = o
        .post("/api/entries", &o.entry(&codes[1], true, "letter", LETTER))
        .assert_error(409);
    assert!(msg.contains("withdrew"), "{msg}");
    assert_eq!(o.server.export(), before);
    let r = o.status_v2(&codes[1]);
    r.assert_error(404);
    assert_eq!(r.json()["stub"], "withdrawn");
    // The letter entered before keeps its code.
    assert_eq!(o.status_v2(&codes[0]).status, 200);
    assert_eq!(
        o.post_form("/zh/batches/void", &[("batch", "9"), ("sure", "yes")])
            .status,
        400
    );
}

#[test]
fn the_clerks_pages_need_their_own_token_and_are_not_on_the_public_listener() {
    let o = office();
    let base = clerk(&o.server).to_string();
    // Without a session: pages send the clerk to sign in, the API refuses, nothing stored.
    for page in [
        "/zh/",
        "/zh/forms",
        "/zh/entry",
        "/zh/phone",
        "/zh/batches",
        "/en/entry",
    ] {
        let r = reply(no_redirects().get(&format!("{base}{page}")).call());
        assert_eq!(r.status, 303, "{page}");
        assert!(r.header("location").unwrap().ends_with("/signin"), "{page}");
    }
    let code = Receipt::generate().display().to_string();
    let entry = o.entry(&code, false, "phone", LETTER);
    for (cookie, what) in [
        (None, "no cookie"),
        (
            Some(format!("clerk_session={}", "0".repeat(64))),
            "a made-up session",
        ),
    ] {
        let mut req = agent()
            .post(&format!("{base}/api/entries"))
            .set("Content-Type", "application/json");
        if let Some(c) = &cookie {
            req = req.set("Cookie", c);
        }
        let r = reply(req.send_string(&entry.to_string()));
        r.assert_error(401);
        let _ = what;
    }
    assert_eq!(o.server.tip_count(), 0);
    // Wrong tokens, the admin token among them, open nothing.
    for wrong in ["nope", TOKEN, &CLERK_TOKEN[1..]] {
        assert!(sign_in(&o.server, wrong).is_none(), "{wrong}");
    }
    // Wrong tokens are judged one a second, but the right one does not queue behind them:
    // with eight guesses in flight it signs in before the fourth guess is answered.
    let guesses: Vec<_> = (0..8)
        .map(|_| {
            let server_clerk = base.clone();
            std::thread::spawn(move || {
                let r = reply(
                    no_redirects()
                        .post(&format!("{server_clerk}/zh/signin"))
                        .send_form(&[("token", "a-wrong-guess-of-the-token")]),
                );
                (r.status, std::time::Instant::now())
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(sign_in(&o.server, CLERK_TOKEN).is_some());
    let signed_in = std::time::Instant::now();
    let mut answered: Vec<_> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    assert!(answered.iter().all(|(status, _)| *status == 401));
    answered.sort_by_key(|(_, at)| *at);
    assert!(
        signed_in < answered[3].1,
        "the right token waited behind the wrong ones"
    );
    // Another website cannot post with the clerk's session, nor reach the listener by a
    // name of its own.
    let r = reply(
        agent()
            .post(&format!("{base}/api/entries"))
            .set("Cookie", &o.cookie)
            .set("Sec-Fetch-Site", "cross-site")
            .set("Content-Type", "application/json")
            .send_string(&entry.to_string()),
    );
    assert_eq!(r.status, 403);
    let r = reply(
        no_redirects()
            .get(&format!("{base}/zh/forms"))
            .set("Cookie", &o.cookie)
            .set("Host", "evil.example")
            .call(),
    );
    assert_eq!(r.status, 421);
    assert_eq!(o.server.tip_count(), 0);
    // With the session, the same entry goes in.
    assert_eq!(o.post("/api/entries", &entry).status, 201);
    // The clerk's pages and API are not on the public listener, nor on the admin one.
    for path in [
        "/zh/forms",
        "/zh/entry",
        "/zh/phone",
        "/zh/batches",
        "/zh/signin",
    ] {
        assert_eq!(o.server.get(path).status, 404, "public {path}");
    }
    for path in ["/api/batches", "/api/entries"] {
        assert_eq!(
            o.server.post_json(path, &json!({})).status,
            404,
            "public {path}"
        );
    }
    // (On the public listener `/api/status` is the shape of `/{lang}/status` with no such
    // language, so it refuses the body: no status answer either way.)
    let (lookup, _) = o.derive(&code);
    let r = o
        .server
        .post_json("/api/status", &json!({ "lookup": lookup }));
    assert!(
        r.status >= 400 && !r.body.contains("received"),
        "{}",
        r.body
    );
    let admin = reply(agent().get(&format!("{}/zh/entry", o.server.admin)).call());
    assert_eq!(admin.status, 404);
    // The clerk token opens nothing on the admin listener.
    let r = o.server.export_with(Some(&format!("Bearer {CLERK_TOKEN}")));
    assert_eq!(r.status, 401);
    // Signing out ends the session.
    let r = reply(
        no_redirects()
            .post(&format!("{base}/zh/signout"))
            .set("Cookie", &o.cookie)
            .call(),
    );
    assert_eq!(r.status, 303);
    assert_eq!(o.get("/zh/forms").status, 303);
}

/// A body trickled in a byte every two seconds (found by a hostile review: 64 of them kept
/// every clerk out for two hours) is cut off by the body's deadline, and the listener keeps
/// serving while it trickles.
#[test]
fn a_trickling_body_is_cut_off_on_the_clerks_listener() {
    use std::io::{Read, Write};
    // Sealed tips of at most 64 KiB: bodies within 30 s + 85 KiB at 8 KiB/s = 40 s.
    let o = office_with(&["--max-tip-bytes", "65536"]);
    let addr = clerk(&o.server).trim_start_matches("http://").to_string();
    let mut conns: Vec<std::net::TcpStream> = (0..70)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.write_all(
                format!(
                    "POST /en/signin HTTP/1.1\r\nHost: {addr}\r\nContent-Type: \
                     application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\nt"
                )
                .as_bytes(),
            )
            .unwrap();
            c
        })
        .collect();
    // More trickling connections than the old cap (64), and a clerk still gets the page.
    assert_eq!(
        reply(
            no_redirects()
                .get(&format!("{}/en/signin", clerk(&o.server)))
                .call()
        )
        .status,
        200
    );
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    conns[0]
        .set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    'trickle: while started.elapsed() < std::time::Duration::from_secs(90) {
        for c in conns.iter_mut() {
            let _ = c.write_all(b"x");
        }
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while std::time::Instant::now() < until {
            match conns[0].read(&mut buf) {
                Ok(0) => break 'trickle,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            if !answer.is_empty() {
                break 'trickle;
            }
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "a trickling body held its connection {:?}",
        started.elapsed()
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(sign_in(&o.server, CLERK_TOKEN).is_some());
}

#[test]
fn a_clerk_listener_needs_its_own_token_and_one_address() {
    let site = Site::new();
    // No --clerk-bind: no clerk listener at all.
    let server = site.start(&[]);
    assert!(server.clerk.is_none());
    assert!(!server.printed().contains("clerk listener"));
    drop(server);
    let refused_with_token_file = |path: &Path| {
        site.try_start(&[
            "--clerk-bind",
            "127.0.0.1:0",
            "--clerk-token-file",
            path.to_str().unwrap(),
        ])
        .err()
        .expect("refused")
    };
    let err = refused_with_token_file(&site.root.path().join("token.txt"));
    assert!(err.contains("must differ from the admin"), "{err}");
    let err = site
        .try_start(&["--clerk-bind", "0.0.0.0:0"])
        .err()
        .expect("refused");
    assert!(err.contains("not every address"), "{err}");
    // A token file named but missing is a typo: refused, and no token made in its place.
    let typo = site.root.path().join("clerk.tokk");
    let err = refused_with_token_file(&typo);
    assert!(err.contains("no such file"), "{err}");
    assert!(!typo.exists());
    // Without --clerk-token-file, a token is made in the keys folder.
    let server = site.start(&["--clerk-bind", "127.0.0.1:0"]);
    assert!(server.clerk.is_some());
    let made = std::fs::read_to_string(site.keys().join("clerk-token.secret")).unwrap();
    assert!(sign_in(&server, made.trim()).is_some());
}

#[test]
fn the_poster_and_the_forms_say_where_letters_and_calls_go() {
    let o = office();
    let poster = o.server.get("/poster").body;
    assert!(
        poster.contains("0771-1234567"),
        "the phone is on the poster"
    );
    assert!(!poster.contains("poster-address"), "no address was given");
    let forms = o.get("/zh/forms").body;
    assert!(forms.contains("0771-1234567"));
    assert!(forms.contains(r#"<template id="sheet-template">"#));
    // The sheet template holds no code: the page's script fills them in.
    assert!(
        forms.contains(r#"<span class="sheet-code code"></span>"#),
        "{forms}"
    );
    let fingerprint = o.server.get("/api/v1/key").json()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(forms.contains(&fingerprint));
    // Without the flags, neither shows.
    let site = Site::new();
    let plain = site.start(&[]).get("/poster").body;
    assert!(!plain.contains("poster-phone") && !plain.contains("poster-address"));
}
