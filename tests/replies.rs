//! The inspectors' round trip with the real binary: export, decrypt, update with a message,
//! import, status; refused bundles; ack and purge; follow-ups; the public numbers.

mod common;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use serde_json::Value;
use whistlebox::domain::reply::ReplyPlaintext;

const QUESTION: &str = "请问这笔钱是哪一年发的？有没有人能作证？\nWhich year was it?";

/// A site with real keys, and the helpers an inspector needs.
struct Desk {
    inspectors: Inspectors,
    site: Site,
    server: Server,
}

impl Desk {
    fn new() -> Self {
        let inspectors = Inspectors::new();
        let site = Site::new();
        inspectors.server_keys(&site.keys());
        let server = site.start(&[]);
        Self {
            inspectors,
            site,
            server,
        }
    }

    fn submit(&self, body: &str) -> String {
        self.server.submit_bound(body, &[])
    }

    /// Exports and decrypts into a fresh folder; returns it.
    fn export_and_decrypt(&self, name: &str) -> PathBuf {
        let out = self.site.root.path().join(name);
        let d = self.inspectors.decrypt(&self.server.export(), &out);
        assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
        out
    }

    fn sign(&self, args: &[&str], out: &str) -> Vec<u8> {
        let o = self.try_sign(args, out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(self.site.root.path().join(out)).unwrap()
    }

    /// Runs `update` or `ack` with the inspectors' key, whatever its outcome.
    fn try_sign(&self, args: &[&str], out: &str) -> std::process::Output {
        let out_path = self.site.root.path().join(out);
        let key = self.inspectors.key_file();
        let pass = self.inspectors.pass_file();
        let mut all = vec![
            args[0],
            "--key",
            key.to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
        ];
        all.extend_from_slice(&args[1..]);
        run(&all)
    }

    /// Asks the resident `QUESTION` about tip `id` (need_info), from the folder `tips`.
    fn ask(&self, id: &str, tips: &Path, out: &str) -> std::process::Output {
        let tips = tips.to_str().unwrap();
        let args = [
            "update",
            "--tip",
            id,
            "--status",
            "need_info",
            "--message",
            QUESTION,
            "--tips",
            tips,
        ];
        self.try_sign(&args, out)
    }

    /// Files a follow-up under a receipt through the API, as the status page's script does.
    fn follow_up(&self, receipt: &str, text: &str) {
        let sealed = seal_tip(&self.server.box_key(), text, &[]);
        let r = self.server.post_json(
            "/api/v1/followups",
            &serde_json::json!({"receipt": receipt, "sealed": STANDARD.encode(&sealed)}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }

    fn import(&self, bundle: &[u8]) -> Reply {
        let r = agent()
            .post(&format!("{}/admin/v1/import", self.server.admin))
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .send_bytes(bundle);
        match r {
            Ok(r) => Reply {
                status: r.status(),
                body: r.into_string().unwrap(),
                headers: vec![],
            },
            Err(ureq::Error::Status(code, r)) => Reply {
                status: code,
                body: r.into_string().unwrap(),
                headers: vec![],
            },
            Err(e) => panic!("{e}"),
        }
    }
}

fn tip_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_type()
                .unwrap()
                .is_dir()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    ids.sort();
    ids
}

fn id_of(dir: &Path, text: &str) -> String {
    tip_ids(dir)
        .into_iter()
        .find(|id| {
            std::fs::read_to_string(dir.join(id).join("message.txt"))
                .ok()
                .as_deref()
                == Some(text)
        })
        .unwrap_or_else(|| panic!("no tip with text {text:?}"))
}

#[test]
fn an_update_with_a_message_reaches_only_its_resident() {
    whistlebox::crypto::init().unwrap();
    let desk = Desk::new();
    let ra = desk.submit("tip A: 村会计挪用了修路的钱。");
    let rb = desk.submit("tip B: something else");
    let tips = desk.export_and_decrypt("tips");
    let a = id_of(&tips, "tip A: 村会计挪用了修路的钱。");
    let meta: Value =
        serde_json::from_slice(&std::fs::read(tips.join(&a).join("tip.json")).unwrap()).unwrap();
    assert!(
        meta["bound_reply_key"].is_string(),
        "decrypt reads the reply key from inside the sealed tip"
    );

    let bundle = desk.sign(
        &[
            "update",
            "--tip",
            &a,
            "--status",
            "need_info",
            "--message",
            QUESTION,
            "--tips",
            tips.to_str().unwrap(),
        ],
        "update-1.json",
    );
    // The server cannot read the message: it is not in the bundle in any readable form.
    assert!(!String::from_utf8_lossy(&bundle).contains("作证"));
    let r = desk.import(&bundle);
    assert_eq!(r.status, 200, "{}", r.body);

    let st = desk.server.status(&ra).json();
    assert_eq!(st["status"], "need_info");
    assert_eq!(st["history"][0]["status"], "need_info");
    assert_eq!(open_replies(&st), vec![Some(QUESTION.to_string())]);

    // Another receipt sees no reply, and its key cannot open A's reply.
    let stb = desk.server.status(&rb).json();
    assert_eq!(stb["status"], "received");
    assert!(stb["replies"].as_array().unwrap().is_empty());
    let mut crossed = stb.clone();
    crossed["replies"] = st["replies"].clone();
    assert_eq!(open_replies(&crossed), vec![None]);

    // Without JavaScript the status page opens the reply on the server, for that answer.
    let page = desk.server.post_raw(
        "/zh/status",
        "application/x-www-form-urlencoded",
        &format!("receipt={}", ra.replace(' ', "+")),
    );
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("请问这笔钱是哪一年发的？"),
        "{}",
        page.body
    );
    assert!(page.body.contains("status-question"));

    // The data folder holds neither the message nor anything readable of it.
    let mut all = Vec::new();
    for entry in walk(&desk.site.data()) {
        all.extend(std::fs::read(entry).unwrap());
    }
    assert!(!all.windows("作证".len()).any(|w| w == "作证".as_bytes()));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
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

#[test]
fn forged_modified_replayed_stale_or_unknown_bundles_change_nothing() {
    whistlebox::crypto::init().unwrap();
    let desk = Desk::new();
    let ra = desk.submit("tip for bundle checks");
    let tips = desk.export_and_decrypt("tips");
    let a = tip_ids(&tips)[0].clone();
    let first = desk.sign(&["update", "--tip", &a, "--status", "in_review"], "u1.json");
    let second = desk.sign(
        &["update", "--tip", &a, "--status", "investigating"],
        "u2.json",
    );
    assert_eq!(desk.import(&second).status, 200);
    let before_status = desk.server.status(&ra).body;
    let before_export = desk.server.export();

    // Stale: bundle 1 after bundle 2.
    let stale = desk.import(&first);
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert!(stale.body.contains("older"));
    // Replayed: bundle 2 again.
    let replay = desk.import(&second);
    assert_eq!(replay.status, 409);
    assert!(replay.body.contains("already applied"));
    // Modified: the signed payload changed after signing.
    let mut env: Value = serde_json::from_slice(&second).unwrap();
    let payload =
        String::from_utf8(STANDARD.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    let tampered = payload
        .replace("investigating", "closed_unsubstantiated")
        .replace("\"sequence\":2", "\"sequence\":3");
    env["payload"] = STANDARD.encode(tampered).into();
    let modified = desk.import(env.to_string().as_bytes());
    assert_eq!(modified.status, 400);
    assert!(modified.body.contains("signature"));
    // Forged: a well-made bundle signed by another key.
    let other = Inspectors::new();
    let forged_path = desk.site.root.path().join("forged.json");
    let o = run(&[
        "update",
        "--key",
        other.key_file().to_str().unwrap(),
        "--passphrase-file",
        other.pass_file().to_str().unwrap(),
        "--out",
        forged_path.to_str().unwrap(),
        "--tip",
        &a,
        "--status",
        "closed_unsubstantiated",
    ]);
    assert!(o.status.success());
    let forged = desk.import(&std::fs::read(&forged_path).unwrap());
    assert_eq!(forged.status, 400);
    // Unknown tip: signed, new, but names a tip the server never had; nothing applies.
    let ghost = desk.sign(
        &[
            "update",
            "--tip",
            "00000000deadbeef",
            "--status",
            "referred",
        ],
        "u3.json",
    );
    assert_eq!(desk.import(&ghost).status, 422);
    // Garbage and no token.
    assert_eq!(desk.import(b"not a bundle").status, 400);
    let no_token = agent()
        .post(&format!("{}/admin/v1/import", desk.server.admin))
        .send_bytes(&second);
    assert!(matches!(no_token, Err(ureq::Error::Status(401, _))));

    assert_eq!(desk.server.status(&ra).body, before_status);
    assert_eq!(desk.server.export(), before_export);
    assert_eq!(desk.server.status(&ra).json()["status"], "investigating");
}

#[test]
fn ack_purges_exactly_the_acked_ciphertexts_and_follow_ups_come_through() {
    whistlebox::crypto::init().unwrap();
    let desk = Desk::new();
    let ra = desk.submit("tip one");
    let rb = desk.submit("tip two");
    let tips = desk.export_and_decrypt("tips");
    let a = id_of(&tips, "tip one");
    let b = id_of(&tips, "tip two");
    // The inspectors hold only tip one (say tip two's folder went elsewhere).
    std::fs::remove_dir_all(tips.join(&b)).unwrap();

    // A follow-up arrives for tip one after the export: the ack must not delete it.
    desk.follow_up(&ra, "补充：会计姓王。");

    let ack = desk.sign(&["ack", "--tips", tips.to_str().unwrap()], "ack-1.json");
    let r = desk.import(&ack);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["tips_purged"], 1);

    let left: Value = serde_json::from_slice(&desk.server.export()).unwrap();
    let entries = left["tips"].as_array().unwrap();
    let find = |id: &str| entries.iter().find(|t| t["id"] == id).cloned();
    assert!(
        find(&b).unwrap()["sealed"].is_string(),
        "the unacked tip stays whole"
    );
    let ea = find(&a).expect("tip one stays listed for its pending follow-up");
    assert!(ea["sealed"].is_null() && ea["reply_key"].is_null());
    assert_eq!(ea["followups"].as_array().unwrap().len(), 1);
    // The status page still works after the purge.
    assert_eq!(desk.server.status(&ra).status, 200);
    assert_eq!(desk.server.status(&rb).status, 200);

    // The follow-up decrypts into tip one's folder, beside its message, checked against the
    // reply key that the earlier decrypt read from inside the tip.
    let out2 = desk.export_and_decrypt("tips");
    assert_eq!(
        std::fs::read_to_string(out2.join(&a).join("followup-0001.txt")).unwrap(),
        "补充：会计姓王。"
    );
    // Opened where the tip was never opened, nothing shows who wrote it, and it says so.
    let elsewhere = desk.export_and_decrypt("elsewhere");
    let unverified =
        std::fs::read_to_string(elsewhere.join(&a).join("followup-0001.NOT-VERIFIED.txt")).unwrap();
    assert!(unverified.starts_with("NOT VERIFIED"), "{unverified}");
    assert!(unverified.ends_with("补充：会计姓王。"));
    assert!(!elsewhere.join(&a).join("followup-0001.txt").exists());
    // A follow-up for an unknown receipt, and a mistyped one, are refused.
    let followup = seal_tip(&desk.server.box_key(), "补充：会计姓王。", &[]);
    let mut wrong: Vec<u8> = ra.bytes().filter(u8::is_ascii_digit).collect();
    wrong[0] = b'0' + (wrong[0] - b'0' + 1) % 10;
    let r = desk.server.post_json(
        "/api/v1/followups",
        &serde_json::json!({"receipt": String::from_utf8(wrong).unwrap(), "sealed": STANDARD.encode(&followup)}),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn a_follow_up_without_javascript_and_the_public_numbers() {
    whistlebox::crypto::init().unwrap();
    let desk = Desk::new();
    let ra = desk.submit("first");
    let page = desk.server.post_raw(
        "/en/followup",
        "application/x-www-form-urlencoded",
        &format!(
            "receipt={}&body=more+details%0D%0Ahere",
            ra.replace(' ', "+")
        ),
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("followup-done"));
    let tips = desk.export_and_decrypt("tips");
    let a = tip_ids(&tips)[0].clone();
    assert_eq!(
        std::fs::read_to_string(tips.join(&a).join("followup-0001.txt")).unwrap(),
        "more details\nhere"
    );

    // Only finished months are published: this month's tip does not show yet (the counting
    // and the hiding of small counts are unit-tested in the store and the page).
    let numbers = desk.server.get("/en/numbers");
    assert_eq!(numbers.status, 200);
    assert!(numbers.body.contains("numbers-none"), "{}", numbers.body);
    let this_month = &whistlebox::domain::Day::today().to_string()[..7];
    assert!(!numbers.body.contains(this_month));
}

/// The export as a JSON value, with a way to write it back for decrypt.
fn export_value(desk: &Desk) -> Value {
    serde_json::from_slice(&desk.server.export()).unwrap()
}

fn decrypt_value(desk: &Desk, bundle: &Value, name: &str) -> (PathBuf, std::process::Output) {
    let out = desk.site.root.path().join(name);
    let o = desk.inspectors.decrypt(bundle.to_string().as_bytes(), &out);
    (out, o)
}

/// The review's attack: whoever carries the export replaces a tip's reply key with his own
/// (sealed to the inspectors' public key, which anyone can do). The offline tools must use
/// only the key sealed inside the tip, so the inspectors' question still reaches the
/// resident alone.
#[test]
fn a_reply_key_swapped_in_the_export_does_not_redirect_the_reply() {
    whistlebox::crypto::init().unwrap();
    let desk = Desk::new();
    let receipt = desk.submit("乡卫生院收回扣。");
    let mut bundle = export_value(&desk);
    let outsider = whistlebox::crypto::BoxSecretKey::from_seed(&[66; 32]);
    let inspectors_pub =
        whistlebox::crypto::BoxPublicKey::from_bytes(&desk.server.box_key()).unwrap();
    use whistlebox::crypto::Sealer;
    bundle["tips"][0]["reply_key"] = STANDARD
        .encode(inspectors_pub.seal(outsider.public_key().as_bytes()))
        .into();
    let (tips, o) = decrypt_value(&desk, &bundle, "tips");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let id = tip_ids(&tips)[0].clone();
    assert!(desk.ask(&id, &tips, "update.json").status.success());
    let update = std::fs::read(desk.site.root.path().join("update.json")).unwrap();
    assert_eq!(desk.import(&update).status, 200);
    let status = desk.server.status(&receipt).json();
    assert_eq!(open_replies(&status), vec![Some(QUESTION.to_string())]);
    // The outsider's key opens nothing.
    let sealed = STANDARD
        .decode(status["replies"][0]["sealed"].as_str().unwrap())
        .unwrap();
    assert!(ReplyPlaintext::open(&sealed, &outsider).is_err());
}

/// Follow-ups are checked against the reply key inside the tip: one added to the export by
/// someone without the receipt is refused or marked, never passed off as the resident's.
#[test]
fn forged_follow_ups_are_refused_or_marked_and_real_ones_verified() {
    use whistlebox::crypto::{BoxPublicKey, BoxSecretKey};
    use whistlebox::domain::followup::authenticate;
    use whistlebox::domain::tip::{SealedTip, TipPlaintext};
    whistlebox::crypto::init().unwrap();
    let desk = Desk::new();
    let receipt = desk.submit("村里低保名单造假。");
    desk.follow_up(&receipt, "真的补充");

    let inspectors = BoxPublicKey::from_bytes(&desk.server.box_key()).unwrap();
    let inner = TipPlaintext::new("假的补充：撤回举报")
        .seal(&inspectors)
        .unwrap();
    // A forger without the receipt: an envelope from his own key, and a bare sealed box.
    let forged_envelope = authenticate(
        &inner,
        &BoxSecretKey::from_seed(&[9; 32]),
        &inspectors,
        usize::MAX,
    )
    .unwrap();
    let mut bundle = export_value(&desk);
    let day = bundle["tips"][0]["day"].clone();
    let list = bundle["tips"][0]["followups"].as_array_mut().unwrap();
    assert_eq!(list.len(), 1);
    list.push(serde_json::json!({"n": 2, "day": day, "sealed": forged_envelope.to_base64()}));
    list.push(serde_json::json!({"n": 3, "day": day, "sealed": SealedTip::to_base64(&inner)}));
    let (tips, o) = decrypt_value(&desk, &bundle, "tips");
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(2), "one follow-up refused: {printed}");
    let dir = tips.join(tip_ids(&tips)[0].clone());
    assert_eq!(
        std::fs::read_to_string(dir.join("followup-0001.txt")).unwrap(),
        "真的补充"
    );
    assert!(!dir.join("followup-0002.txt").exists());
    assert!(!dir.join("followup-0002.NOT-VERIFIED.txt").exists());
    let report = std::fs::read_to_string(tips.join("not-opened.txt")).unwrap();
    assert!(
        report.contains("follow-up 2") && report.contains("failed its check"),
        "{report}"
    );
    // A bare sealed box under a tip that binds a key cannot be the server's: refused too.
    assert!(report.contains("follow-up 3"), "{report}");
    assert!(!dir.join("followup-0003.txt").exists());
    assert!(!dir.join("followup-0003.NOT-VERIFIED.txt").exists());
    assert!(printed.contains("could not open 2"), "{printed}");
}

/// A client of the v1 contract seals no reply key: it still gets a receipt and a status, and
/// the inspectors are told plainly that no message can reach it.
#[test]
fn a_tip_without_a_bound_reply_key_gets_a_status_but_no_message() {
    whistlebox::crypto::init().unwrap();
    let desk = Desk::new();
    let r = desk
        .server
        .submit(&seal_tip(&desk.server.box_key(), "v1 client tip", &[]));
    assert_eq!(r.status, 201, "{}", r.body);
    let receipt = r.json()["receipt"].as_str().unwrap().to_string();
    let tips = desk.export_and_decrypt("tips");
    let id = tip_ids(&tips)[0].clone();
    let meta: Value =
        serde_json::from_slice(&std::fs::read(tips.join(&id).join("tip.json")).unwrap()).unwrap();
    assert!(meta["bound_reply_key"].is_null());
    let o = desk.ask(&id, &tips, "u.json");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no reply key bound"));
    let status_only = desk.sign(&["update", "--tip", &id, "--status", "in_review"], "s.json");
    assert_eq!(desk.import(&status_only).status, 200);
    assert_eq!(desk.server.status(&receipt).json()["status"], "in_review");
}

/// Tickets: one tip per ticket, and a ticket from elsewhere is refused; neither stores
/// anything.
#[test]
fn a_receipt_ticket_files_one_tip_only() {
    whistlebox::crypto::init().unwrap();
    let desk = Desk::new();
    let reserved = desk
        .server
        .post_json("/api/v1/receipts", &serde_json::json!({}))
        .json();
    let sealed = STANDARD.encode(seal_tip(&desk.server.box_key(), "once", &[]));
    let post = |ticket: &Value| {
        desk.server.post_json(
            "/api/v1/tips",
            &serde_json::json!({"sealed": sealed, "ticket": ticket}),
        )
    };
    assert_eq!(post(&reserved["ticket"]).status, 201);
    let again = post(&reserved["ticket"]);
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("already used"));
    let forged = post(&Value::from(STANDARD.encode([0u8; 72])));
    assert_eq!(forged.status, 400);
    assert!(forged.body.contains("Please press send again"));
    assert_eq!(desk.server.tip_count(), 1);
    let st = desk.server.status(reserved["receipt"].as_str().unwrap());
    assert_eq!(st.status, 200);
}

/// The review's attack on the offline side: after an ack, whoever carries the next export
/// puts a sealed tip of his own (with his reply key) under the acked tip's id, and adds a
/// follow-up boxed with his key. Decrypting into the same folder must keep what was opened
/// first: the words, the reply key, and so where replies go and which follow-ups verify.
#[test]
fn a_tip_swapped_in_after_an_ack_changes_nothing_opened_before() {
    use whistlebox::crypto::{BoxPublicKey, BoxSecretKey};
    use whistlebox::domain::followup::authenticate;
    use whistlebox::domain::tip::TipPlaintext;
    whistlebox::crypto::init().unwrap();
    let desk = Desk::new();
    let receipt = desk.submit("原来的举报。");
    let tips = desk.export_and_decrypt("tips");
    let id = tip_ids(&tips)[0].clone();
    let first_meta = std::fs::read(tips.join(&id).join("tip.json")).unwrap();
    let ack = desk.sign(&["ack", "--tips", tips.to_str().unwrap()], "ack.json");
    assert_eq!(desk.import(&ack).status, 200);
    desk.follow_up(&receipt, "居民的补充");

    let inspectors = BoxPublicKey::from_bytes(&desk.server.box_key()).unwrap();
    let attacker = BoxSecretKey::from_seed(&[77; 32]);
    let mut fake = TipPlaintext::new("假的举报");
    fake.bind_reply_key(&attacker.public_key());
    let fake = fake.seal(&inspectors).unwrap();
    let forged_inner = TipPlaintext::new("我是举报人，请回复这里")
        .seal(&inspectors)
        .unwrap();
    let forged = authenticate(&forged_inner, &attacker, &inspectors, usize::MAX).unwrap();
    let mut bundle = export_value(&desk);
    let entry = &mut bundle["tips"][0];
    assert!(entry["sealed"].is_null(), "acked");
    entry["sealed"] = fake.to_base64().into();
    let day = entry["day"].clone();
    entry["followups"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"n": 7, "day": day, "sealed": forged.to_base64()}));
    let (out, o) = decrypt_value(&desk, &bundle, "tips");
    assert_eq!(out, tips);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let dir = tips.join(&id);
    assert_eq!(std::fs::read(dir.join("tip.json")).unwrap(), first_meta);
    assert_eq!(
        std::fs::read_to_string(dir.join("message.txt")).unwrap(),
        "原来的举报。"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("followup-0001.txt")).unwrap(),
        "居民的补充"
    );
    assert!(!dir.join("followup-0007.txt").exists());
    assert!(!dir.join("followup-0007.NOT-VERIFIED.txt").exists());
    let report = std::fs::read_to_string(tips.join("not-opened.txt")).unwrap();
    assert!(
        report.contains("opened here before with other contents"),
        "{report}"
    );
    assert!(report.contains("follow-up 7"), "{report}");
    // The question still goes to the resident alone.
    assert!(desk.ask(&id, &tips, "q.json").status.success());
    let update = std::fs::read(desk.site.root.path().join("q.json")).unwrap();
    assert_eq!(desk.import(&update).status, 200);
    let status = desk.server.status(&receipt).json();
    assert_eq!(open_replies(&status), vec![Some(QUESTION.to_string())]);
}

/// Acks name what was opened by digest: if whoever carries a tip's first export swaps it,
/// the inspectors read the swap, but their ack does not delete the resident's unread tip or
/// follow-up on the server, and the next export brings the real one.
#[test]
fn an_ack_of_a_swapped_tip_deletes_nothing_of_the_residents() {
    use whistlebox::crypto::BoxPublicKey;
    use whistlebox::domain::tip::TipPlaintext;
    whistlebox::crypto::init().unwrap();
    let desk = Desk::new();
    let receipt = desk.submit("真的举报内容。");
    desk.follow_up(&receipt, "真的补充");
    let inspectors = BoxPublicKey::from_bytes(&desk.server.box_key()).unwrap();
    let mut bundle = export_value(&desk);
    bundle["tips"][0]["sealed"] = TipPlaintext::new("调包的内容")
        .seal(&inspectors)
        .unwrap()
        .to_base64()
        .into();
    // The follow-up swapped too: under the swapped tip (which binds no key) it opens, marked
    // NOT-VERIFIED, and its ack names a digest the server's copy does not have.
    bundle["tips"][0]["followups"][0]["sealed"] = TipPlaintext::new("调包的补充")
        .seal(&inspectors)
        .unwrap()
        .to_base64()
        .into();
    let (tips, _) = decrypt_value(&desk, &bundle, "tips");
    let id = tip_ids(&tips)[0].clone();
    assert_eq!(
        std::fs::read_to_string(tips.join(&id).join("message.txt")).unwrap(),
        "调包的内容"
    );
    let ack = desk.sign(&["ack", "--tips", tips.to_str().unwrap()], "ack.json");
    let r = desk.import(&ack);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["tips_purged"], 0, "{}", r.body);
    assert_eq!(r.json()["followups_purged"], 0, "{}", r.body);
    assert_eq!(r.json()["not_purged_differs_from_opened"], 2, "{}", r.body);
    let left = export_value(&desk);
    assert!(
        left["tips"][0]["sealed"].is_string(),
        "the resident's tip was deleted"
    );
    assert_eq!(left["tips"][0]["followups"].as_array().unwrap().len(), 1);
    // Opened for real elsewhere, acked, and then it goes.
    let real = desk.export_and_decrypt("real");
    assert_eq!(
        std::fs::read_to_string(real.join(&id).join("message.txt")).unwrap(),
        "真的举报内容。"
    );
    assert_eq!(
        std::fs::read_to_string(real.join(&id).join("followup-0001.txt")).unwrap(),
        "真的补充"
    );
    let ack = desk.sign(&["ack", "--tips", real.to_str().unwrap()], "ack2.json");
    let r = desk.import(&ack);
    assert_eq!(r.json()["tips_purged"], 1, "{}", r.body);
    assert_eq!(r.json()["followups_purged"], 1, "{}", r.body);
}
