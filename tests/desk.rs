//! The inspectors' desk (`whistlebox desk`) with the real binary and no browser: the whole
//! loop from the resident's tip to the reply she reads, what the workspace keeps at rest,
//! imports that change nothing, the guards of the local listener, and the clocks.
//!
//! Every desk start opens the office key (Argon2id, 256 MiB, about a second), so the tests
//! start as few desks as they can.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::desk::*;
use common::*;
use serde_json::{json, Value};
use whistlebox::desk::ledger::Settings;
use whistlebox::domain::Day;

// ---------------------------------------------------------------------------------------
// Reading the pages (server-rendered, no scripts: the HTML is all there is).

/// The text of the element with `id`, up to its first child tag.
fn id_text(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find('<').unwrap();
    html[start..end].trim().to_string()
}

/// The case page's colour, in its facts (the triage form shows every colour's chip).
const RED_CHOSEN: &str = "<dd><span class=\"chip red\">";
const NOT_TRIAGED: &str = "<dd><span class=\"chip none\">";

/// The ids of the cases listed in an inbox page, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("data-case=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

/// The inbox row of case `id`.
fn row<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("data-case=\"{id}\""))
        .unwrap_or_else(|| panic!("case {id} not listed"));
    let start = html[..at].rfind("<tr").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(snapshot(&p));
        } else {
            out.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
    out
}

fn has(hay: &[u8], needle: &str) -> bool {
    memchr::memmem::find(hay, needle.as_bytes()).is_some()
}

/// A refusal printed on stderr: one plain `error:` line, no panic.
fn plain_error(e: &Exited) -> &str {
    assert!(!e.status.success(), "{e:?}");
    assert_eq!(e.status.code().map(|c| c != 0), Some(true), "{e:?}");
    let text = e.stderr.trim();
    assert!(text.starts_with("error: "), "{e:?}");
    assert!(
        !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
        "{e:?}"
    );
    assert!(!e.stdout.contains("the desk is open"), "{e:?}");
    text
}

// ---------------------------------------------------------------------------------------
// The online side.

/// A server with real inspectors' keys, and the offline machine's folder for the desk.
struct Office {
    inspectors: Inspectors,
    site: Site,
    server: Server,
}

impl Office {
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

    fn workspace(&self) -> PathBuf {
        self.site.root.path().join("workspace")
    }

    /// The export, written where the USB stick would bring it.
    fn export_to(&self, name: &str) -> (PathBuf, Vec<u8>) {
        let bytes = self.server.export();
        let path = self.site.root.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        (path, bytes)
    }

    fn desk(&self, extra: &[&str]) -> DeskProc {
        start_desk(
            &self.inspectors.key_file(),
            &self.workspace(),
            Some(&self.inspectors.pass_file()),
            extra,
        )
        .unwrap_or_else(|e| panic!("the desk did not open: {e:?}"))
    }

    /// Submits a v1 tip without a reply key.
    fn submit_plain(&self, body: &str) {
        let r = self
            .server
            .submit(&seal_tip(&self.server.box_key(), body, &[]));
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

fn export_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

// ---------------------------------------------------------------------------------------
// 1 and 2: the whole loop, and what it leaves on disk.

/// The resident's words; the tip binds her reply key.
const TIP_ZH: &str = "村支书把危房改造补助款转给了自己的亲戚";
const TIP_ASCII: &str = "grain-station-scales-weigh-short-7731";
const OTHER_ZH: &str = "乡卫生院药房收取回扣";
/// Also markup, which every page must show as text.
const OTHER_ASCII: &str = "the bus depot sells fuel coupons <script>alert(1)</script>";
/// The office's own work on the case: none of it may leave the desk unsealed.
const TAG_ZH: &str = "亲属代领补助";
const TAG_ASCII: &str = "osprey-graft-tag";
const ASSIGNEE: &str = "赵秋菊科长";
const NOTE: &str = "已走访三户村民，核实补助名单 pelican-note-5521";
const MESSAGE: &str = "请补充你所在的村名和大概时间。heron-message-8842";
/// Her answer to it.
const FOLLOWUP: &str = "补充：是东山村，去年十月。kite-followup-3310";

/// The loop up to the bundles on the USB stick: a server with three tips, their export
/// opened at the desk, the bound tip triaged, noted and answered, the bundles written.
struct Worked {
    office: Office,
    desk: DeskProc,
    cookie: String,
    receipt: String,
    /// The worked case.
    id: String,
    first_export: Vec<u8>,
    update: Vec<u8>,
    ack: Vec<u8>,
}

fn work_a_case() -> Worked {
    whistlebox::crypto::init().unwrap();
    let office = Office::new();
    let receipt = office
        .server
        .submit_bound(&format!("{TIP_ZH}。\n{TIP_ASCII}"), &[("place", "东山镇")]);
    office.submit_plain(OTHER_ZH);
    office.submit_plain(OTHER_ASCII);
    let (path, first_export) = office.export_to("export.json");
    assert_eq!(
        export_json(&first_export)["tips"].as_array().unwrap().len(),
        3
    );

    let desk = office.desk(&["--import", path.to_str().unwrap()]);
    assert!(
        desk.printed()
            .contains("3 new case(s), 0 new follow-up(s), 0 unchanged, 0 refused"),
        "{}",
        desk.printed()
    );
    let cookie = desk.sign_in();
    let inbox = desk.page("/zh/", &cookie);
    assert_eq!(id_text(&inbox, "case-count"), "3");
    assert_eq!(listed(&inbox).len(), 3);
    // Search finds the tip by its words, in Chinese and in ASCII.
    let found = listed(&desk.page("/zh/?q=危房改造", &cookie));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        listed(&desk.page(&format!("/zh/?q={TIP_ASCII}"), &cookie)),
        found
    );
    let id = found[0].clone();
    let other = listed(&desk.page("/zh/?q=fuel+coupons", &cookie));
    assert_eq!(other.len(), 1);
    let other_page = desk.page(&format!("/zh/case/{}", other[0]), &cookie);
    for html in [&inbox, &other_page] {
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"));
    }
    let page = desk.page(&format!("/zh/case/{id}"), &cookie);
    assert!(page.contains(TIP_ZH) && page.contains(TIP_ASCII) && page.contains("东山镇"));
    assert!(!page.contains("no-reply-key"), "the tip binds a reply key");

    let topic = Settings::default().topics[6].clone();
    let base = format!("/zh/case/{id}");
    desk.submit(
        &format!("{base}/triage"),
        &cookie,
        &[
            ("colour", "red"),
            ("topic", &topic),
            ("tags", &format!("{TAG_ZH}， {TAG_ASCII}")),
            ("assignee", ASSIGNEE),
            ("supervised", "on"),
            ("ack_by", ""),
            ("answer_by", ""),
        ],
    );
    desk.submit(
        &format!("{base}/note"),
        &cookie,
        &[("by", ASSIGNEE), ("text", NOTE)],
    );
    desk.submit(
        &format!("{base}/answer"),
        &cookie,
        &[("status", "need_info"), ("message", MESSAGE)],
    );

    // The case page shows all of it.
    let page = desk.page(&base, &cookie);
    assert_eq!(id_text(&page, "case-status"), "需要补充情况");
    for shown in [
        RED_CHOSEN,
        "挂牌督办",
        topic.as_str(),
        TAG_ZH,
        TAG_ASCII,
        ASSIGNEE,
        "pelican-note-5521",
        "已走访三户村民",
        MESSAGE,
        "待写入U盘",
    ] {
        assert!(page.contains(shown), "{shown:?} not on the case page");
    }
    // The inbox row too, and the search reaches the note.
    let inbox = desk.page("/zh/", &cookie);
    let r = row(&inbox, &id);
    for shown in [
        "chip red",
        "督办",
        TAG_ZH,
        TAG_ASCII,
        ASSIGNEE,
        "需要补充情况",
    ] {
        assert!(r.contains(shown), "{shown:?} not in the inbox row: {r}");
    }
    assert_eq!(
        listed(&desk.page("/zh/?q=pelican-note", &cookie)),
        vec![id.clone()]
    );
    assert_eq!(
        listed(&desk.page("/zh/?colour=red", &cookie)),
        vec![id.clone()]
    );
    assert_eq!(
        listed(&desk.page(&format!("/zh/?tag={TAG_ASCII}"), &cookie)),
        vec![id.clone()]
    );
    let outbox = desk.page("/zh/outbox", &cookie);
    assert_eq!(id_text(&outbox, "queued-count"), "1");
    assert_eq!(id_text(&outbox, "unacked-count"), "3");

    // The USB stick: one update bundle, one ack bundle.
    let r = desk.post_form("/zh/outbox", &cookie, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<String> = r
        .body
        .split("href=\"/outbox/")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    // Update first, then ack, numbered in that order: the server refuses a bundle numbered
    // lower than one applied, so the page says to import them lowest first.
    let number = |name: &str| -> u64 {
        let n = name.rsplit('-').next().unwrap().trim_end_matches(".json");
        n.parse().unwrap()
    };
    let (update_name, ack_name) = (&names[0], &names[1]);
    assert!(
        update_name.starts_with("update-") && ack_name.starts_with("ack-"),
        "{names:?}"
    );
    assert_eq!(number(ack_name), number(update_name) + 1, "{names:?}");
    assert!(r.body.contains("id=\"import-order\""));
    assert_eq!(id_text(&r.body, "queued-count"), "0");
    assert_eq!(id_text(&r.body, "unacked-count"), "0");
    let dir = office.workspace().join("outbox");
    let update = std::fs::read(dir.join(update_name)).unwrap();
    let ack = std::fs::read(dir.join(ack_name)).unwrap();
    let download = desk.get(&format!("/outbox/{update_name}"), &cookie);
    assert_eq!(download.status, 200);
    assert_eq!(download.body.as_bytes(), &update[..]);
    // The message travels sealed to the resident.
    assert!(!has(&update, "heron-message") && !has(&update, "请补充"));
    let page = desk.page(&base, &cookie);
    assert!(!page.contains("待写入U盘") && page.contains("已写入第 "));
    // Nothing is left to write.
    let again = desk.post_form("/zh/outbox", &cookie, &[]);
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);

    Worked {
        office,
        desk,
        cookie,
        receipt,
        id,
        first_export,
        update,
        ack,
    }
}

#[test]
fn the_whole_loop_without_a_browser() {
    let w = work_a_case();
    let server = &w.office.server;
    assert_eq!(server.status(&w.receipt).json()["status"], "received");

    let r = server.import(&w.update);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.import(&w.ack);
    assert_eq!(r.status, 200, "{}", r.body);

    // The resident reads the new status and the message, with her receipt only.
    let st = server.status(&w.receipt).json();
    assert_eq!(st["status"], "need_info", "{st}");
    assert_eq!(open_replies(&st), vec![Some(MESSAGE.to_string())]);

    // She answers with a follow-up, under her receipt.
    let followup = seal_tip(&server.box_key(), FOLLOWUP, &[]);
    let r = server.post_json(
        "/api/v1/followups",
        &json!({"receipt": w.receipt, "sealed": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &followup)}),
    );
    assert_eq!(r.status, 201, "{}", r.body);

    // The acked ciphertexts are gone from the next export: only the new follow-up is left,
    // under its tip.
    let first = export_json(&w.first_export);
    let (second_path, second) = w.office.export_to("export-2.json");
    let second_v = export_json(&second);
    let tips = second_v["tips"].as_array().unwrap();
    assert_eq!(tips.len(), 1, "{second_v}");
    assert_eq!(tips[0]["id"], w.id.as_str());
    assert!(tips[0]["sealed"].is_null(), "{second_v}");
    assert_eq!(tips[0]["status"], "need_info");
    assert_eq!(tips[0]["followups"].as_array().unwrap().len(), 1);
    for t in first["tips"].as_array().unwrap() {
        let sealed = t["sealed"].as_str().unwrap();
        assert!(!has(&second, sealed), "an acked ciphertext came back");
    }

    // At the desk the follow-up joins its case, verified as the resident's; the cases the
    // server no longer holds stay.
    let r = w
        .desk
        .upload(&w.cookie, &std::fs::read(second_path).unwrap());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(id_text(&r.body, "new-cases"), "0");
    assert_eq!(id_text(&r.body, "new-followups"), "1");
    assert!(!r.body.contains("id=\"refused\""), "{}", r.body);
    let inbox = w.desk.page("/zh/", &w.cookie);
    assert_eq!(id_text(&inbox, "case-count"), "3");
    // The inbox points at the case with something new from the resident.
    assert_eq!(id_text(&inbox, "new-count"), "1");
    assert!(row(&inbox, &w.id).contains("有新补充"));
    let fresh = w.desk.page("/zh/?state=all&new=1", &w.cookie);
    assert_eq!(listed(&fresh), vec![w.id.clone()]);
    let page = w.desk.page(&format!("/zh/case/{}", w.id), &w.cookie);
    assert!(page.contains(TIP_ZH) && page.contains(NOTE) && page.contains(FOLLOWUP));
    assert!(
        !page.contains("NOT VERIFIED"),
        "the follow-up came from the receipt holder"
    );
    // The follow-up is the one thing left to acknowledge.
    let outbox = w.desk.page("/zh/outbox", &w.cookie);
    assert_eq!(id_text(&outbox, "unacked-count"), "1");
    let r = w.desk.post_form("/zh/outbox", &w.cookie, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let ack2 = r
        .body
        .split("href=\"/outbox/")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .next()
        .unwrap();
    assert!(ack2.starts_with("ack-"), "{ack2}");
    let ack2 = std::fs::read(w.office.workspace().join("outbox").join(ack2)).unwrap();
    let r = server.import(&ack2);
    assert_eq!(r.status, 200, "{}", r.body);
    let third = export_json(&server.export());
    assert!(third["tips"].as_array().unwrap().is_empty(), "{third}");
    // The resident still reads her status and reply.
    let st = server.status(&w.receipt).json();
    assert_eq!(st["status"], "need_info");
    assert_eq!(open_replies(&st), vec![Some(MESSAGE.to_string())]);
}

#[test]
fn the_workspace_at_rest_shows_nothing_and_opens_only_with_its_key() {
    let mut w = work_a_case();
    w.desk.kill();
    let ws = w.office.workspace();
    let before = snapshot(&ws);
    let names: Vec<String> = before
        .keys()
        .map(|p| p.strip_prefix(&ws).unwrap().display().to_string())
        .collect();
    for expected in ["desk.head", "ledger.log", "desk.lock"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    assert_eq!(
        names.iter().filter(|n| n.starts_with("outbox/")).count(),
        2,
        "{names:?}"
    );
    let all: Vec<u8> = before.values().flatten().copied().collect();
    for secret in [
        TIP_ZH,
        "危房改造",
        TIP_ASCII,
        OTHER_ZH,
        OTHER_ASCII,
        "东山镇",
        TAG_ZH,
        TAG_ASCII,
        ASSIGNEE,
        NOTE,
        "pelican-note",
        "已走访三户村民",
        MESSAGE,
        "heron-message",
    ] {
        for (path, bytes) in &before {
            assert!(
                !has(bytes, secret),
                "{secret:?} readable in {}",
                path.display()
            );
        }
    }
    assert!(
        all.len() > 4 * 1024,
        "the ledger is there: {} bytes",
        all.len()
    );

    // A wrong passphrase: a plain error, nothing served, nothing touched.
    let wrong = w.office.site.root.path().join("wrong.txt");
    std::fs::write(&wrong, "not the office passphrase\n").unwrap();
    let key = w.office.inspectors.key_file();
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let e = start_desk(&key, &ws, Some(&wrong), &["--bind", &bind])
        .err()
        .expect("refused");
    assert!(
        plain_error(&e).contains("the passphrase does not open this office's key"),
        "{e:?}"
    );
    assert!(!listening(port), "a refused desk serves nothing");
    assert_eq!(snapshot(&ws), before);

    // Locked: a wrong passphrase typed in the browser opens nothing; the right one does.
    let locked = start_desk(&key, &ws, None, &[]).unwrap();
    assert!(locked.signin.is_none());
    assert!(locked.printed().contains("the desk is locked"));
    let r = locked.get("/zh/", "");
    assert_eq!((r.status, r.header("Location")), (303, Some("/zh/unlock")));
    let r = locked.post_form(
        "/zh/unlock",
        "",
        &[("passphrase", "not the office passphrase")],
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("口令不对"), "{}", r.body);
    assert!(r.header("Set-Cookie").is_none());
    let r = locked.get("/zh/", "");
    assert_eq!((r.status, r.header("Location")), (303, Some("/zh/unlock")));
    let r = locked.get("/outbox/x.json", "desk_session=00");
    assert_eq!(r.status, 303);
    assert_eq!(snapshot(&ws), before);
    let r = locked.post_form("/en/unlock", "", &[("passphrase", PASSPHRASE)]);
    assert_eq!(
        (r.status, r.header("Location")),
        (303, Some("/en/")),
        "{}",
        r.body
    );
    let cookie = r
        .header("Set-Cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let inbox = locked.page("/en/", &cookie);
    assert_eq!(id_text(&inbox, "case-count"), "3");
    let page = locked.page(&format!("/en/case/{}", w.id), &cookie);
    assert!(page.contains(NOTE) && page.contains(TIP_ZH) && page.contains(MESSAGE));
    drop(locked);

    // Another office's key on this workspace is refused plainly.
    let other = Inspectors::new();
    let e = start_desk(&other.key_file(), &ws, Some(&other.pass_file()), &[])
        .err()
        .expect("refused");
    assert!(
        plain_error(&e).contains("this workspace was made with another office key"),
        "{e:?}"
    );
    assert_eq!(snapshot(&ws), before);
}

// ---------------------------------------------------------------------------------------
// 3: importing twice, and hostile bundles.

#[test]
fn an_import_twice_changes_nothing_and_hostile_bundles_are_refused() {
    whistlebox::crypto::init().unwrap();
    let office = Office::new();
    let _receipt = office
        .server
        .submit_bound("第一件：养老金被冒领 first-tip-2219", &[]);
    office.submit_plain("第二件：low-income list padded second-tip-6604");
    let (path, bytes) = office.export_to("export.json");
    let p = path.to_str().unwrap();
    let mut desk = office.desk(&["--import", p, "--import", p]);
    let lines: Vec<String> = desk.printed().lines().map(String::from).collect();
    assert!(
        lines[0].ends_with(": 2 new case(s), 0 new follow-up(s), 0 unchanged, 0 refused"),
        "{lines:?}"
    );
    assert!(
        lines[1].ends_with(": 0 new case(s), 0 new follow-up(s), 2 unchanged, 0 refused"),
        "{lines:?}"
    );
    let cookie = desk.sign_in();
    let ws = office.workspace();
    let before = snapshot(&ws);
    let inbox = desk.page("/zh/", &cookie);
    assert_eq!(id_text(&inbox, "case-count"), "2");
    let ids = listed(&inbox);

    // The same bundle through the upload page.
    let r = desk.upload(&cookie, &bytes);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(id_text(&r.body, "new-cases"), "0");
    assert_eq!(id_text(&r.body, "new-followups"), "0");
    assert_eq!(id_text(&r.body, "unchanged"), "2");
    assert!(!r.body.contains("id=\"refused\""));
    assert_eq!(snapshot(&ws), before, "the same bundle again wrote nothing");

    // A tip's sealed bytes swapped for the other tip's, under the same id.
    let mut swapped = export_json(&bytes);
    let victim = swapped["tips"][0]["id"].as_str().unwrap().to_string();
    swapped["tips"][0]["sealed"] = swapped["tips"][1]["sealed"].clone();
    let victim_page_before = desk.page(&format!("/zh/case/{victim}"), &cookie);
    let r = desk.upload(&cookie, swapped.to_string().as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(id_text(&r.body, "new-cases"), "0");
    let refused = &r.body[r.body.find("id=\"refused\"").expect("a refusal listed")..];
    assert!(refused.contains(&victim), "{refused}");
    assert!(
        refused.contains("opened here before with other contents"),
        "{refused}"
    );
    assert_eq!(snapshot(&ws), before);
    assert_eq!(
        desk.page(&format!("/zh/case/{victim}"), &cookie),
        victim_page_before
    );

    // Entries that are junk, one by one: each refused with a reason, none kept.
    let stranger = whistlebox::crypto::BoxSecretKey::generate().public_key();
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let foreign = b64(&seal_tip(
        stranger.as_bytes(),
        "sealed to someone else",
        &[],
    ));
    let day = export_json(&bytes)["tips"][0]["day"].clone();
    let junk = json!({"format": "whistlebox-export", "version": 1, "tips": [
        {"id": "abcdefabcdef0001", "day": day, "status": "received", "sealed": foreign},
        {"id": "abcdefabcdef0002", "day": day, "status": "received", "sealed": "%%%"},
        {"id": "abcdefabcdef0003", "day": day, "status": "hacked", "sealed": foreign},
        {"id": "../../etc/passwd", "day": day, "status": "received", "sealed": foreign},
        ["not", "an", "object"],
    ]});
    let r = desk.upload(&cookie, junk.to_string().as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(id_text(&r.body, "new-cases"), "0");
    let refused = &r.body[r.body.find("id=\"refused\"").unwrap()..];
    assert_eq!(refused.matches("<li>").count(), 5, "{refused}");
    assert!(!refused.contains("someone else"));
    assert_eq!(snapshot(&ws), before);

    // Not a bundle at all, or a huge array of junk: refused whole, plainly.
    let many: Vec<Value> = (0..20_000u32)
        .map(|i| json!({"id": format!("{i:016x}"), "day": day, "status": "received", "sealed": "%%%"}))
        .collect();
    let huge = json!({"format": "whistlebox-export", "version": 1, "tips": many}).to_string();
    for (bundle, why) in [
        (
            &b"{\"format\":\"whistlebox-export\", garbage"[..],
            "not a whistlebox export bundle",
        ),
        (b"\x00\x01\x02 not json", "not a whistlebox export bundle"),
        (
            b"{\"format\":\"whistlebox-export\",\"version\":99,\"tips\":[]}",
            "version 99",
        ),
        (huge.as_bytes(), "damaged entries"),
    ] {
        let r = desk.upload(&cookie, bundle);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("this file was refused whole"), "{}", r.body);
        assert!(r.body.contains(why), "{why:?}: {}", r.body);
        assert!(r.body.contains("role=\"alert\""));
        assert_eq!(snapshot(&ws), before);
    }
    let inbox = desk.page("/zh/", &cookie);
    assert_eq!(id_text(&inbox, "case-count"), "2");
    assert_eq!(listed(&inbox), ids);

    // At the command line: a hostile file stops the desk before it opens.
    desk.kill();
    let garbage = office.site.root.path().join("garbage.json");
    std::fs::write(&garbage, huge).unwrap();
    let e = start_desk(
        &office.inspectors.key_file(),
        &ws,
        Some(&office.inspectors.pass_file()),
        &["--import", garbage.to_str().unwrap()],
    )
    .err()
    .expect("refused");
    assert!(
        plain_error(&e).contains("this file was refused whole"),
        "{e:?}"
    );
    assert_eq!(snapshot(&ws), before);

    // Started again on the kept workspace, the same bundle is still nothing new.
    let desk = office.desk(&["--import", p]);
    assert!(
        desk.printed()
            .contains(": 0 new case(s), 0 new follow-up(s), 2 unchanged, 0 refused"),
        "{}",
        desk.printed()
    );
    let cookie = desk.sign_in();
    assert_eq!(listed(&desk.page("/zh/", &cookie)), ids);
    assert_eq!(snapshot(&ws), before);
}

// ---------------------------------------------------------------------------------------
// 4: the guards of the local listener.

/// A GET sent as written (no client normalizes its path), without a cookie.
fn raw_get(port: u16, path: &str) -> (u16, String) {
    use std::io::Write;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    (status, text)
}

fn assert_guarded_headers(what: &str, r: &Reply) {
    let csp = r
        .header("Content-Security-Policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"));
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert_eq!(r.header("Cache-Control"), Some("no-store"), "{what}");
}

#[test]
fn the_listener_answers_only_its_own_pages_on_loopback() {
    whistlebox::crypto::init().unwrap();
    let office = Office::new();
    office.submit_plain("guard test tip: 镇长的亲戚垄断了工程");
    let (path, _) = office.export_to("export.json");
    let ws = office.workspace();
    // Refused before anything is opened.
    for bind in ["0.0.0.0:18090", "[::]:18090"] {
        let e = start_desk(
            &office.inspectors.key_file(),
            &ws,
            Some(&office.inspectors.pass_file()),
            &["--bind", bind],
        )
        .err()
        .expect("refused");
        assert!(
            plain_error(&e).contains("listens on this machine only"),
            "{e:?}"
        );
        assert!(!ws.exists(), "nothing made");
    }
    // A port already taken is said at once (before the passphrase opens anything), and no
    // link to someone else's listener is printed.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let e = start_desk(
        &office.inspectors.key_file(),
        &ws,
        Some(&office.inspectors.pass_file()),
        &["--bind", &bind],
    )
    .err()
    .expect("refused");
    assert!(
        plain_error(&e).contains(&format!("the desk cannot listen on {bind}")),
        "{e:?}"
    );
    assert!(!e.stdout.contains("/signin/"), "{e:?}");
    assert!(!ws.exists(), "nothing opened");
    drop(taken);
    let desk = office.desk(&["--import", path.to_str().unwrap()]);
    let port = desk.port;
    let mut seen: Vec<(String, Reply)> = Vec::new();
    let mut keep = |what: &str, r: Reply| -> Reply {
        let copy = Reply {
            status: r.status,
            body: String::new(),
            headers: r.headers.clone(),
        };
        seen.push((what.to_string(), copy));
        r
    };

    // No session: pages lead to the unlock page, posts are refused.
    for (path, to) in [
        ("/zh/", "/zh/unlock"),
        ("/en/settings", "/en/unlock"),
        ("/outbox/ack-1.json", "/zh/unlock"),
    ] {
        let r = keep(path, desk.get(path, ""));
        assert_eq!((r.status, r.header("Location")), (303, Some(to)), "{path}");
    }
    let r = keep(
        "bogus cookie",
        desk.get("/zh/", &format!("desk_session={}", "ab".repeat(32))),
    );
    assert_eq!(r.status, 303);
    let r = keep(
        "post without session",
        desk.post_form("/zh/outbox", "", &[]),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!ws.join("outbox").exists());
    // The paths open without a session open nothing else, however the path is bent.
    for path in [
        "/signin/../zh/",
        "/signin/%2e%2e/zh/",
        "/signin/..%2fzh/",
        "/signin/x/../../zh/import",
        "/zh/unlock/../",
        "/zh/unlock/..%2f",
        "/signin/zh/",
        "/signin/",
        "/desk.css/../zh/",
    ] {
        let (status, text) = raw_get(port, path);
        assert!(matches!(status, 303 | 404), "{path}: {text}");
        assert!(
            !text.contains("case-count") && !text.contains("镇长"),
            "{path}: {text}"
        );
    }
    let r = keep("unlock page", desk.get("/zh/unlock", ""));
    assert_eq!(r.status, 200);
    let r = keep("css", desk.get("/desk.css", ""));
    assert_eq!(r.status, 200);

    // Another Host (DNS rebinding, another port): 421, and the link is not spent by it.
    let link = desk.signin.clone().unwrap();
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "127.0.0.1".to_string(),
        format!("127.0.0.2:{port}"),
    ] {
        let r = keep("wrong host", desk.get_with(&link, &[("Host", &host)]));
        assert_eq!(r.status, 421, "{host}");
        assert!(r.header("Set-Cookie").is_none());
    }

    // The link works once.
    let cookie = desk.sign_in();
    let r = keep("link again", desk.get(&link, ""));
    assert_eq!((r.status, r.header("Location")), (303, Some("/zh/unlock")));
    assert!(r.header("Set-Cookie").is_none());
    let r = keep(
        "another link",
        desk.get(&format!("/signin/{}", "0".repeat(64)), ""),
    );
    assert_eq!((r.status, r.header("Location")), (303, Some("/zh/unlock")));
    // The session holds, under each loopback name; a wrong Host with it is still 421.
    for host in [
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        format!("127.0.0.1:{port}"),
    ] {
        let r = keep(
            "loopback names",
            desk.get_with("/zh/", &[("Host", &host), ("Cookie", &cookie)]),
        );
        assert_eq!(r.status, 200, "{host}");
    }
    let r = keep(
        "wrong host with session",
        desk.get_with("/zh/", &[("Host", "evil.example"), ("Cookie", &cookie)]),
    );
    assert_eq!(r.status, 421);

    let id = listed(&desk.page("/zh/", &cookie))[0].clone();
    let triage = format!("/zh/case/{id}/triage");
    let form =
        serde_urlencoded::to_string([("colour", "red"), ("assignee", "foreign-assignee")]).unwrap();
    let form_type = "application/x-www-form-urlencoded";
    // Posts from another site: refused, nothing changed.
    let other_port = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    let foreign: Vec<Vec<(&str, &str)>> = vec![
        vec![("Origin", "http://evil.example")],
        vec![("Origin", "null")],
        vec![("Origin", &other_port)],
        vec![("Sec-Fetch-Site", "cross-site")],
        vec![("Sec-Fetch-Site", "same-site")],
    ];
    for headers in &foreign {
        let mut h = headers.clone();
        h.push(("Cookie", &cookie));
        let r = keep(
            "foreign triage",
            desk.post_with(&triage, &h, form_type, form.as_bytes()),
        );
        assert_eq!(r.status, 403, "{headers:?}");
        let r = keep(
            "foreign outbox",
            desk.post_with("/zh/outbox", &h, form_type, b""),
        );
        assert_eq!(r.status, 403, "{headers:?}");
        let r = keep(
            "foreign lock",
            desk.post_with("/zh/lock", &h, form_type, b""),
        );
        assert_eq!(r.status, 403, "{headers:?}");
    }
    let without = desk.post_with(&triage, &[], form_type, form.as_bytes());
    assert_eq!(without.status, 401);
    let page = desk.page(&format!("/zh/case/{id}"), &cookie);
    assert!(page.contains(NOT_TRIAGED) && !page.contains(RED_CHOSEN));
    assert!(!page.contains("foreign-assignee"));
    assert!(!ws.join("outbox").exists(), "no bundle was written");
    assert_eq!(desk.get("/zh/", &cookie).status, 200, "still unlocked");
    // The same form from the desk's own page is taken (so the refusals above refused).
    desk.submit(&triage, &cookie, &[("colour", "red")]);
    assert!(desk
        .page(&format!("/zh/case/{id}"), &cookie)
        .contains(RED_CHOSEN));

    // Every answer carries the policy: pages, errors, redirects, the style sheet. (The
    // report pages are not written yet: 404 for now.)
    for (path, status) in [
        ("/zh/".to_string(), 200),
        ("/en/".to_string(), 200),
        (format!("/zh/case/{id}"), 200),
        (format!("/en/case/{id}"), 200),
        ("/zh/case/0000000000000000".to_string(), 404),
        ("/zh/case/not-an-id".to_string(), 404),
        ("/zh/import".to_string(), 200),
        ("/zh/outbox".to_string(), 200),
        ("/en/settings".to_string(), 200),
        ("/outbox/update-1.json".to_string(), 404),
        ("/zh/report".to_string(), 200),
        ("/en/report?period=2026-Q4".to_string(), 200),
        ("/zh/report?period=2026-13".to_string(), 400),
        ("/report.csv".to_string(), 200),
        ("/".to_string(), 303),
        ("/fr/".to_string(), 404),
    ] {
        let r = desk.get(&path, &cookie);
        assert_eq!(r.status, status, "{path}");
        keep(&path, r);
    }
    let r = keep("404 case", desk.get("/zh/case/0000000000000000", &cookie));
    assert_eq!(r.status, 404);
    let r = keep(
        "bad form",
        desk.post_with(
            &format!("/zh/case/{id}/answer"),
            &[("Cookie", &cookie)],
            form_type,
            b"status=hacked",
        ),
    );
    assert_eq!(r.status, 400);
    assert!(seen.len() > 40);
    for (what, r) in &seen {
        assert_guarded_headers(what, r);
    }

    // A second desk on the same workspace, while this one runs: refused.
    let e = start_desk(
        &office.inspectors.key_file(),
        &ws,
        Some(&office.inspectors.pass_file()),
        &[],
    )
    .err()
    .expect("refused");
    assert!(
        plain_error(&e).contains("another desk has this workspace open"),
        "{e:?}"
    );
    assert_eq!(
        desk.get("/zh/", &cookie).status,
        200,
        "the first one runs on"
    );

    // Locking ends the session.
    let r = desk.post_form("/zh/lock", &cookie, &[]);
    assert_eq!((r.status, r.header("Location")), (303, Some("/zh/unlock")));
    let r = desk.get("/zh/", &cookie);
    assert_eq!((r.status, r.header("Location")), (303, Some("/zh/unlock")));
    let r = desk.get(&link, "");
    assert_eq!(r.status, 303);
    assert!(r.header("Set-Cookie").is_none());
    // Unlocked again in the browser, the workspace gives back what was saved.
    let r = desk.post_form("/zh/unlock", "", &[("passphrase", PASSPHRASE)]);
    assert_eq!(
        (r.status, r.header("Location")),
        (303, Some("/zh/")),
        "{}",
        r.body
    );
    let cookie = r
        .header("Set-Cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(desk
        .page(&format!("/zh/case/{id}"), &cookie)
        .contains(RED_CHOSEN));
}

// ---------------------------------------------------------------------------------------
// 5: the clocks.

#[test]
fn overdue_cases_are_counted_and_an_answer_stops_the_acknowledge_clock() {
    whistlebox::crypto::init().unwrap();
    let office = Office::new();
    office.submit_plain("clock tip one: 扶贫款被截留");
    office.submit_plain("clock tip two: the ferry licence was sold");
    let (path, bytes) = office.export_to("export.json");
    let export = export_json(&bytes);
    let received: Day = export["tips"][0]["day"].as_str().unwrap().parse().unwrap();
    let today = Day(received.0 + 10).to_string();
    let day = |n: u32| Day(received.0 + n).to_string();
    let desk = office.desk(&["--import", path.to_str().unwrap(), "--today", &today]);
    let cookie = desk.sign_in();

    let inbox = desk.page("/zh/", &cookie);
    assert!(
        inbox.contains(&format!("今天 {today}")),
        "the desk takes --today"
    );
    assert_eq!(id_text(&inbox, "overdue-count"), "2");
    let ids = listed(&inbox);
    assert_eq!(ids.len(), 2);
    for id in &ids {
        let r = row(&inbox, id);
        assert!(r.starts_with("<tr class=\"overdue\""), "{r}");
        assert!(r.contains(&format!("回复 {}", day(3))), "{r}");
    }
    let (a, b) = (&ids[0], &ids[1]);
    assert!(desk
        .page(&format!("/zh/case/{a}"), &cookie)
        .contains("已超期"));

    // A message cannot reach a resident whose tip bound no reply key: refused plainly, and
    // refused whole (no status queued either).
    let r = desk.post_form(
        &format!("/zh/case/{a}/answer"),
        &cookie,
        &[("status", "need_info"), ("message", "请补充村名")],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("came without a reply key"), "{}", r.body);
    assert!(desk
        .page(&format!("/zh/case/{a}"), &cookie)
        .contains("no-reply-key"));
    assert_eq!(id_text(&desk.page("/zh/", &cookie), "overdue-count"), "2");

    // An answer queued for A: A is acknowledged, B is still overdue.
    desk.submit(
        &format!("/zh/case/{a}/answer"),
        &cookie,
        &[("status", "in_review"), ("message", "")],
    );
    let inbox = desk.page("/zh/", &cookie);
    assert_eq!(id_text(&inbox, "overdue-count"), "1");
    let ra = row(&inbox, a);
    assert!(!ra.contains("overdue") && !ra.contains("回复 "), "{ra}");
    assert!(ra.contains(&format!("办结 {}", day(30))), "{ra}");
    assert!(row(&inbox, b).starts_with("<tr class=\"overdue\""));
    assert!(!desk
        .page(&format!("/zh/case/{a}"), &cookie)
        .contains("已超期"));
    assert!(desk
        .page(&format!("/zh/case/{b}"), &cookie)
        .contains("已超期"));
    assert_eq!(
        listed(&desk.page("/zh/?overdue=1", &cookie)),
        vec![b.clone()]
    );

    // Withdrawn before it was written: the clock runs again.
    desk.submit(&format!("/zh/case/{a}/withdraw"), &cookie, &[]);
    assert_eq!(id_text(&desk.page("/zh/", &cookie), "overdue-count"), "2");
    desk.submit(
        &format!("/zh/case/{a}/answer"),
        &cookie,
        &[("status", "in_review"), ("message", "")],
    );
    assert_eq!(id_text(&desk.page("/zh/", &cookie), "overdue-count"), "1");

    // The answer-by clock: a day of the case's own that has passed makes it overdue again
    // even though it was acknowledged; closing the case stops every clock.
    desk.submit(
        &format!("/zh/case/{a}/triage"),
        &cookie,
        &[("answer_by", &day(5))],
    );
    let inbox = desk.page("/zh/", &cookie);
    assert_eq!(id_text(&inbox, "overdue-count"), "2");
    assert!(row(&inbox, a).starts_with("<tr class=\"overdue\""));
    desk.submit(
        &format!("/zh/case/{a}/answer"),
        &cookie,
        &[("status", "closed_unsubstantiated"), ("message", "")],
    );
    let inbox = desk.page("/zh/", &cookie);
    assert_eq!(id_text(&inbox, "overdue-count"), "1");
    assert_eq!(
        listed(&inbox),
        vec![b.clone()],
        "a closed case leaves the open list"
    );
    assert_eq!(
        listed(&desk.page("/zh/?state=closed", &cookie)),
        vec![a.clone()]
    );
}

/// The operator imports the ack before the update: the server refuses the older number, and
/// "queue it again" on the desk's USB-stick page puts the answer back in the queue, to be
/// signed under a new number that the server then takes.
#[test]
fn a_bundle_the_server_refused_is_queued_again_under_a_new_number() {
    let w = work_a_case();
    let server = &w.office.server;
    let r = server.import(&w.ack);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.import(&w.update);
    assert_eq!(
        r.status, 409,
        "the older number after a newer one: {}",
        r.body
    );
    assert_eq!(server.status(&w.receipt).json()["status"], "received");

    let outbox = w.desk.page("/zh/outbox", &w.cookie);
    assert_eq!(id_text(&outbox, "queued-count"), "0");
    let update_no = outbox
        .split("/outbox/update-")
        .nth(1)
        .and_then(|s| s.split('.').next())
        .unwrap()
        .to_string();
    let r = w
        .desk
        .post_form(&format!("/zh/outbox/{update_no}/again"), &w.cookie, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    let outbox = w.desk.page("/zh/outbox", &w.cookie);
    assert_eq!(id_text(&outbox, "queued-count"), "1");
    assert_eq!(id_text(&outbox, "unacked-count"), "0", "the ack was taken");
    // A number the desk never wrote is refused plainly.
    let r = w.desk.post_form("/zh/outbox/999/again", &w.cookie, &[]);
    assert_eq!(r.status, 404, "{}", r.body);

    let r = w.desk.post_form("/zh/outbox", &w.cookie, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let again = r
        .body
        .split("href=\"/outbox/")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .next()
        .unwrap();
    assert!(again.starts_with("update-") && again != format!("update-{update_no}.json"));
    let bytes = std::fs::read(w.office.workspace().join("outbox").join(&again)).unwrap();
    let r = server.import(&bytes);
    assert_eq!(r.status, 200, "{}", r.body);
    let st = server.status(&w.receipt).json();
    assert_eq!(st["status"], "need_info", "{st}");
    assert_eq!(open_replies(&st), vec![Some(MESSAGE.to_string())]);
    let page = w.desk.page(&format!("/zh/case/{}", w.id), &w.cookie);
    assert!(
        page.contains("服务器拒收后重新待发"),
        "the case's history says so"
    );
}

/// When the workspace cannot be written, the desk locks itself rather than show, ack or
/// sign what it could not save: an import whose cases never reached the disk is not acked
/// (the server would delete the only other copy), and unlocking again reads the disk.
#[test]
fn a_write_that_fails_locks_the_desk_and_nothing_unsaved_is_acked() {
    let office = Office::new();
    office.submit_plain("第一件：村支书侵占集体土地");
    let (first, _) = office.export_to("export-1.json");
    let desk = office.desk(&["--import", first.to_str().unwrap()]);
    let cookie = desk.sign_in();
    office.submit_plain("第二件：卫生院倒卖药品");
    let (_, second) = office.export_to("export-2.json");

    // The log cannot be appended to (a folder where the file was: even root cannot).
    let log = office.workspace().join("ledger.log");
    let kept = office.workspace().join("ledger.log.kept");
    std::fs::rename(&log, &kept).unwrap();
    std::fs::create_dir(&log).unwrap();
    let r = desk.upload(&cookie, &second);
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("locked itself"), "{}", r.body);
    // Locked: nothing of it can be seen, and no ack of it can be written.
    let r = desk.get("/zh/", &cookie);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("Location"), Some("/zh/unlock"));
    let r = desk.post_form("/zh/outbox", &cookie, &[]);
    assert_eq!(r.status, 401, "{}", r.body);

    // The disk is fixed; the passphrase opens what the workspace holds: the first case only.
    std::fs::remove_dir(&log).unwrap();
    std::fs::rename(&kept, &log).unwrap();
    let pass = std::fs::read_to_string(office.inspectors.pass_file()).unwrap();
    let r = desk.post_form("/zh/unlock", "", &[("passphrase", pass.trim())]);
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = r
        .header("Set-Cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let inbox = desk.page("/zh/", &cookie);
    assert_eq!(id_text(&inbox, "case-count"), "1");
    assert!(!inbox.contains("卫生院"));
}
