//! Receipt version 2 through the real binary: receipts made and hashed by the client, tips,
//! status checks and follow-ups under the lookup value, with the server never given the
//! receipt or the reply key; the same receipt on the server path; and a store from before
//! version 2, whose receipts (and the replies sealed to their version 1 keys) keep working.

mod common;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use whistlebox::crypto::{self, Argon2Params, BoxPublicKey, BoxSecretKey};
use whistlebox::domain::followup::authenticate;
use whistlebox::domain::receipt::{client_derivation, ClientKeys, Receipt, ReceiptHasher};
use whistlebox::domain::reply::ReplyPlaintext;
use whistlebox::domain::tip::TipPlaintext;
use zeroize::Zeroizing;

const QUESTION: &str = "是哪一年的事？Which year?";

/// What a page does with GET /api/v1/key and a fresh receipt: its lookup value and reply seed.
fn derive_like_a_browser(server: &Server, receipt: &Receipt) -> ClientKeys {
    let key = server.get("/api/v1/key").json();
    let kdf = &key["receipt_kdf"];
    assert_eq!(kdf["version"], 2);
    assert_eq!(kdf["alg"], "argon2id13");
    let params = Argon2Params {
        ops: kdf["ops"].as_u64().unwrap() as u32,
        mem_bytes: kdf["mem_bytes"].as_u64().unwrap(),
    };
    assert!(
        params.ops >= 3 && params.mem_bytes >= 64 * 1024 * 1024,
        "{kdf}"
    );
    let salt: [u8; 16] = STANDARD
        .decode(kdf["salt"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    client_derivation(receipt, &salt, params).unwrap()
}

fn digits(receipt: &Receipt) -> String {
    receipt.display().chars().filter(|c| *c != ' ').collect()
}

fn decrypt_all(inspectors: &Inspectors, server: &Server, out: &Path) {
    let o = inspectors.decrypt(&server.export(), out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

fn only_tip(dir: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn sign_question(inspectors: &Inspectors, site: &Site, tips: &Path) -> Vec<u8> {
    let out = site.root.path().join("update.json");
    let tip = only_tip(tips);
    let id = tip.file_name().unwrap().to_str().unwrap();
    let key = inspectors.key_file();
    let pass = inspectors.pass_file();
    let o = run(&[
        "update",
        "--key",
        key.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--tip",
        id,
        "--status",
        "need_info",
        "--message",
        QUESTION,
        "--tips",
        tips.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(out).unwrap()
}

fn import(server: &Server, bundle: &[u8]) {
    let r = agent()
        .post(&format!("{}/admin/v1/import", server.admin))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .send_bytes(bundle)
        .expect("import");
    assert_eq!(r.status(), 200);
}

fn open_replies(status: &Value, seed: &[u8; 32]) -> Vec<Option<String>> {
    let key = BoxSecretKey::from_seed(seed);
    status["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let sealed = STANDARD.decode(r["sealed"].as_str().unwrap()).unwrap();
            ReplyPlaintext::open(&sealed, &key)
                .ok()
                .map(|p| p.message.clone())
        })
        .collect()
}

#[test]
fn a_receipt_made_by_the_client_works_without_the_server_seeing_it() {
    crypto::init().unwrap();
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    let key = server.get("/api/v1/key").json();
    assert_eq!(
        key["legacy_receipts"], false,
        "a new store holds no old receipts"
    );
    // The shape of GET /api/v1/key (README, "Wire formats"): pages and other clients read it.
    let mut names: Vec<&str> = key
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "box_public_key",
            "demo",
            "directory",
            "fingerprint",
            "legacy_receipts",
            "offices",
            "receipt_kdf",
            "sign_public_key",
            "version",
        ]
    );
    assert_eq!(key["version"], 1);
    let mut names: Vec<&str> = key["receipt_kdf"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["alg", "mem_bytes", "ops", "salt", "version"]);
    assert_eq!(key["receipt_kdf"]["ops"], 3);
    assert_eq!(key["receipt_kdf"]["mem_bytes"], 64 * 1024 * 1024);

    let receipt = Receipt::generate();
    let keys = derive_like_a_browser(&server, &receipt);
    let lookup = keys.lookup_value.to_base64().to_string();
    let reply = BoxSecretKey::from_seed(&keys.reply_seed);
    let sealed = seal_tip_bound(
        &server.box_key(),
        Some(reply.public_key().as_bytes()),
        "卫生院收红包。",
        &[],
    );
    let body = json!({"sealed": STANDARD.encode(&sealed), "lookup": lookup});
    let r = server.post_json("/api/v2/tips", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json().get("receipt").is_none());
    assert!(r.json()["received_on"].is_string());
    assert_eq!(r.header("Cache-Control"), Some("no-store"));

    // A repeat (the answer was lost) files nothing twice.
    server.post_json("/api/v2/tips", &body).assert_error(409);
    assert_eq!(server.tip_count(), 1);

    // The lookup value unlocks the status, without any reply key in the answer.
    let st = server.post_json("/api/v2/status", &json!({"lookup": lookup}));
    assert_eq!(st.status, 200, "{}", st.body);
    assert_eq!(st.json()["status"], "received");
    assert!(st.json().get("reply_key").is_none(), "{}", st.body);

    // The same receipt on the server path (no JavaScript): found, with the same reply seed.
    let v1 = server.status(&receipt.display());
    assert_eq!(v1.status, 200, "{}", v1.body);
    assert_eq!(
        v1.json()["reply_key"].as_str().unwrap(),
        STANDARD.encode(&keys.reply_seed[..])
    );

    // Bad and unknown lookup values: a clear 4xx, nothing stored.
    for bad in ["", "abc", &STANDARD.encode([1u8; 31]), &"A".repeat(5000)] {
        // A body over the 1 KiB a status check needs is refused before it is read.
        server
            .post_json("/api/v2/status", &json!({"lookup": bad}))
            .assert_error(if bad.len() > 1000 { 413 } else { 400 });
        server
            .post_json(
                "/api/v2/tips",
                &json!({"sealed": STANDARD.encode(&sealed), "lookup": bad}),
            )
            .assert_error(400);
    }
    server
        .post_json("/api/v2/status", &json!({"receipt": digits(&receipt)}))
        .assert_error(400);
    server
        .post_json(
            "/api/v2/status",
            &json!({"lookup": STANDARD.encode([7u8; 32])}),
        )
        .assert_error(404);
    assert_eq!(server.tip_count(), 1);

    // A follow-up boxed by the client with its reply key, sent with the lookup value only.
    let inspectors_key = BoxPublicKey::from_bytes(&server.box_key()).unwrap();
    let inner = TipPlaintext::new("补充：还有一张收据。")
        .seal(&inspectors_key)
        .unwrap();
    let envelope = authenticate(&inner, &reply, &inspectors_key, usize::MAX).unwrap();
    let r = server.post_json(
        "/api/v2/followups",
        &json!({"lookup": lookup, "sealed": envelope.to_base64()}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = server.post_json(
        "/api/v2/followups",
        &json!({"lookup": STANDARD.encode([7u8; 32]), "sealed": envelope.to_base64()}),
    );
    r.assert_error(404);

    // Offline: the follow-up is verified against the key bound in the tip; the answer is
    // sealed to it and opens with the seed the client derived, and only with it.
    let tips = site.root.path().join("tips");
    decrypt_all(&inspectors, &server, &tips);
    let tip = only_tip(&tips);
    assert_eq!(
        std::fs::read_to_string(tip.join("followup-0001.txt")).unwrap(),
        "补充：还有一张收据。"
    );
    import(&server, &sign_question(&inspectors, &site, &tips));
    let st = server
        .post_json("/api/v2/status", &json!({"lookup": lookup}))
        .json();
    assert_eq!(st["status"], "need_info");
    assert_eq!(
        open_replies(&st, &keys.reply_seed),
        vec![Some(QUESTION.to_string())]
    );
    assert_eq!(open_replies(&st, &[9u8; 32]), vec![None]);

    // Nothing the server printed or stored holds the receipt or the seed.
    let printed = server.printed();
    assert!(!printed.contains(&digits(&receipt)[..12]));
    let mut stored = Vec::new();
    for entry in walk(&site.data()) {
        stored.extend(std::fs::read(entry).unwrap());
    }
    assert!(!stored.windows(32).any(|w| w == &keys.reply_seed[..]));
    assert!(!stored
        .windows(32)
        .any(|w| w == keys.lookup_value.as_bytes()));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A store from before receipt version 2: its receipt was filed under the version 1 lookup
/// and its tip binds the version 1 (peppered) reply key. The server path still finds it,
/// hands the right key, takes follow-ups boxed with it; `legacy_receipts` tells pages to fall
/// back to the server path for it.
#[test]
fn receipts_from_before_version_2_keep_working() {
    use whistlebox::store::{NewTip, SledStore, TipStore};
    crypto::init().unwrap();
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let mut first = site.start(&[]);
    let box_key = first.box_key();
    first.kill9();

    // What an older server wrote: a tip under the version 1 lookup of a receipt.
    let pepper: [u8; 32] = STANDARD
        .decode(
            std::fs::read_to_string(site.keys().join("receipt-pepper.secret"))
                .unwrap()
                .trim(),
        )
        .unwrap()
        .try_into()
        .unwrap();
    let store_dir = site.data().join("store");
    let receipt = Receipt::generate();
    let old_keys = {
        let store = SledStore::open(&store_dir).unwrap();
        let hasher = ReceiptHasher::new(
            store.receipt_salt(),
            Zeroizing::new(pepper),
            Argon2Params::RECEIPT,
        );
        let derived = hasher.derive(&receipt).unwrap();
        let reply_public = derived.legacy.reply_key().public_key();
        let sealed = seal_tip_bound(&box_key, Some(reply_public.as_bytes()), "旧的举报", &[]);
        store
            .insert(NewTip {
                lookup: derived.legacy.lookup,
                day: whistlebox::domain::Day::today(),
                sealed: whistlebox::domain::tip::SealedTip::from_bytes(sealed, usize::MAX).unwrap(),
                sealed_reply_key: Vec::new(),
                towns: Vec::new(),
                uploads: Vec::new(),
            })
            .unwrap();
        derived
    };
    {
        // An older server never wrote the version marker.
        let db = sled::open(&store_dir).unwrap();
        db.open_tree("meta")
            .unwrap()
            .remove("legacy_receipts")
            .unwrap();
        db.flush().unwrap();
    }

    let server = site.start(&[]);
    assert_eq!(server.get("/api/v1/key").json()["legacy_receipts"], true);
    // The page's first try, the lookup value, finds nothing...
    let keys = derive_like_a_browser(&server, &receipt);
    server
        .post_json(
            "/api/v2/status",
            &json!({"lookup": keys.lookup_value.to_base64().as_str()}),
        )
        .assert_error(404);
    // ...the server path does, and hands the version 1 key bound in the tip.
    let st = server.status(&receipt.display());
    assert_eq!(st.status, 200, "{}", st.body);
    assert_eq!(
        st.json()["reply_key"].as_str().unwrap(),
        STANDARD.encode(&old_keys.legacy.reply_seed[..])
    );
    // A follow-up on the server path is boxed with that key and verified offline.
    let inner = seal_tip(&box_key, "旧收据的补充", &[]);
    let r = server.post_json(
        "/api/v1/followups",
        &json!({"receipt": receipt.display().as_str(), "sealed": STANDARD.encode(&inner)}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let tips = site.root.path().join("tips");
    decrypt_all(&inspectors, &server, &tips);
    let tip = only_tip(&tips);
    assert_eq!(
        std::fs::read_to_string(tip.join("followup-0001.txt")).unwrap(),
        "旧收据的补充"
    );
    // And a reply reaches it.
    import(&server, &sign_question(&inspectors, &site, &tips));
    let st = server.status(&receipt.display()).json();
    assert_eq!(
        open_replies(&st, &old_keys.legacy.reply_seed),
        vec![Some(QUESTION.to_string())]
    );
    // The no-JavaScript status page opens it on the server.
    let page = server.post_raw(
        "/en/status",
        "application/x-www-form-urlencoded",
        &format!("receipt={}", digits(&receipt)),
    );
    assert_eq!(page.status, 200);
    assert!(page.body.contains("是哪一年的事"), "{}", page.body);
}
