//! The inspectors' desk in a real browser (headless Chromium through chromedriver, as
//! tests/browser.rs), the whole loop: a resident reports on the public site, the operator
//! exports, the inspector unlocks the desk by typing the passphrase, uploads the bundle,
//! triages, tags, notes and answers, writes the bundles for the USB stick, the operator
//! imports them, and the resident's status page shows the answer. Screenshots of the desk's
//! pages in Chinese and English land in target/screenshots/ (desk-*.png).

mod common;
#[path = "browser/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use common::desk::{start_desk, DeskProc};
use common::{Inspectors, Server, Site, PASSPHRASE};
use harness::{Browser, Js};

const WAIT: Duration = Duration::from_secs(30);
const ZH: &str = "zh-CN,zh;q=0.9";
const WORDS: &str = "东风村的低保名单上有村主任的三个亲戚，他们家里都有小汽车。";
const MESSAGE: &str = "我们已经派人核查。请问名单是在哪里张贴的？";
const NOTE: &str = "已调取民政所名单原件，待比对";
const ASSIGNEE: &str = "王科长";

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn mark_document(b: &Browser) {
    b.js("window.__deskSameDocument = true; return true;").await;
}

/// Waits until a form post (and its redirect) has given a new, fully loaded document.
async fn wait_new_document(b: &Browser, what: &str) {
    b.wait_for(
        "window.__deskSameDocument !== true && document.readyState === 'complete'",
        what,
        WAIT,
    )
    .await;
}

/// Clicks `css` (a submit button) and waits for the page that answers.
async fn submit(b: &Browser, css: &str, what: &str) {
    mark_document(b).await;
    b.click(css).await;
    wait_new_document(b, what).await;
}

/// Every severe axe finding on the page now shown, as text (empty when none).
async fn axe_clean(b: &Browser, label: &str) {
    let report = b.axe(label).await;
    assert!(report.severe().is_empty(), "{label}: {}", report.describe());
}

struct World {
    _inspectors: Inspectors,
    _site: Site,
    server: Server,
    desk: DeskProc,
    files: tempfile::TempDir,
}

#[test]
fn a_tip_goes_round_the_desk_and_back_to_the_resident() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    let files = tempfile::tempdir().unwrap();
    // Started locked: the passphrase is typed in the browser, as an inspector would.
    let desk = start_desk(
        &inspectors.key_file(),
        &files.path().join("workspace"),
        None,
        &[],
    )
    .expect("desk");
    assert!(
        desk.printed().contains("the desk is locked"),
        "{}",
        desk.printed()
    );
    let w = Arc::new(World {
        _inspectors: inspectors,
        _site: site,
        server,
        desk,
        files,
    });
    let origin = w.server.public.clone();
    let desk_origin = w.desk.origin();
    harness::run(move |wd| async move {
        // The resident reports on the public site (sealed in the browser).
        let public = Browser::open(&wd, &origin, Js::On, ZH).await;
        public.goto("/zh/report").await;
        public.type_into("textarea#body", WORDS).await;
        public.click("button#report-submit").await;
        public
            .wait_for(
                "(() => { const v = document.getElementById('receipt-view'); \
                   return v && !v.hidden && /\\d/.test(document.getElementById('receipt-digits').textContent); })()",
                "the receipt",
                WAIT,
            )
            .await;
        let receipt = public.text("#receipt-digits").await.trim().to_string();

        // The operator exports; the bundle goes to the offline machine.
        let bundle_path = w.files.path().join("export.json");
        let bundle = blocking(|| w.server.export());
        std::fs::write(&bundle_path, &bundle).unwrap();

        // The desk starts locked; a wrong passphrase opens nothing.
        let d = Browser::open(&wd, &desk_origin, Js::On, ZH).await;
        d.goto("/zh/").await;
        assert_eq!(
            d.path().await,
            "/zh/unlock",
            "a locked desk shows only the unlock page"
        );
        d.screenshot("desk-unlock-zh", 1280, 800).await;
        d.type_into("input#passphrase", "not the passphrase").await;
        submit(&d, "main button[type=submit]", "the refused unlock").await;
        assert!(d.text("p.error").await.contains("口令不对"));
        assert_eq!(d.document_status().await, 401);
        d.type_into("input#passphrase", PASSPHRASE).await;
        submit(&d, "main button[type=submit]", "the unlocked inbox").await;
        assert_eq!(d.path().await, "/zh/");
        assert_eq!(d.text("#case-count").await, "0");

        // Import: the bundle uploaded from the "USB stick", then again (nothing changes).
        for (round, new) in [(1, "1"), (2, "0")] {
            d.goto("/zh/import").await;
            d.find("input#bundle")
                .await
                .send_keys(bundle_path.to_str().unwrap())
                .await
                .expect("choose the file");
            submit(&d, "main form button[type=submit]", "the import result").await;
            assert_eq!(d.text("#new-cases").await, new, "import round {round}");
        }
        assert_eq!(d.text("#unchanged").await, "1");
        d.screenshot("desk-import-zh", 1280, 800).await;

        // The inbox lists the case, untriaged, with its clocks; open it.
        d.goto("/zh/").await;
        assert_eq!(d.count("tr[data-case]").await, 1);
        assert!(d
            .text("tr[data-case] td.words")
            .await
            .starts_with("东风村的低保名单"));
        mark_document(&d).await;
        d.click("tr[data-case] a").await;
        wait_new_document(&d, "the case page").await;
        let case_path = d.path().await;
        assert!(case_path.starts_with("/zh/case/"), "{case_path}");
        assert_eq!(d.text("#words div.words").await, WORDS);

        // Triage: red, a topic, two tags, the inspector in charge, under supervision.
        d.click("input[name=colour][value=red]").await;
        d.js("const t = document.getElementById('topic'); t.selectedIndex = 7; return t.value;")
            .await;
        d.type_into("input#tags", "低保, 村委会").await;
        d.type_into("input#assignee", ASSIGNEE).await;
        d.click("input#supervised").await;
        submit(&d, "section#triage button[type=submit]", "the triaged case").await;
        assert_eq!(d.text("dl.facts .chip").await, "红");
        assert_eq!(d.count("dl.facts .tag").await, 2);
        assert!(d.text("dl.facts").await.contains(ASSIGNEE));
        assert!(d.text("dl.facts").await.contains("挂牌督办"));

        // An internal note, then the answer: a question for the resident.
        d.type_into("input#note-by", ASSIGNEE).await;
        d.type_into("textarea#note-text", NOTE).await;
        submit(&d, "section#notes button[type=submit]", "the noted case").await;
        assert!(d.text("section#notes").await.contains(NOTE));
        d.js("document.getElementById('answer-status').value = 'need_info'; return 1;")
            .await;
        d.type_into("textarea#answer-message", MESSAGE).await;
        submit(&d, "form#answer button[type=submit]", "the answered case").await;
        assert_eq!(d.text("#case-status").await, "需要补充情况");
        assert!(d.text("ol.answers").await.contains("待写入U盘"));
        d.screenshot("desk-case-zh", 1280, 900).await;
        axe_clean(&d, "desk case page (zh)").await;
        d.goto(&case_path.replacen("/zh/", "/en/", 1)).await;
        assert_eq!(d.text("#case-status").await, "more information needed");
        d.screenshot("desk-case-en", 1280, 900).await;

        // The inbox: the colour, the tags and the supervision mark; search in Chinese.
        d.goto("/zh/?state=all").await;
        assert_eq!(d.text("tr[data-case] .chip").await, "红");
        assert!(d.text("tr[data-case]").await.contains("督办"));
        d.screenshot("desk-inbox-zh", 1280, 800).await;
        axe_clean(&d, "desk inbox (zh)").await;
        assert_eq!(d.attr("html", "lang").await.as_deref(), Some("zh-Hans"));
        for url in d.fetched().await {
            assert!(url.starts_with(&desk_origin), "the desk fetched {url}");
        }
        assert!(
            !d.displayed("tr.overdue").await,
            "nothing is overdue on day 0"
        );
        d.goto("/en/?state=all").await;
        d.screenshot("desk-inbox-en", 1280, 800).await;
        // The search form posts: the words searched stay out of the address, and so out of
        // the browser's history.
        d.goto("/zh/").await;
        d.type_into("input#q", "比对").await;
        submit(&d, "form.filters button[type=submit]", "the search").await;
        assert_eq!(
            d.path().await,
            "/zh/",
            "the search words stay out of the address"
        );
        assert_eq!(d.count("tr[data-case]").await, 1);
        assert_eq!(d.attr("input#q", "value").await.as_deref(), Some("比对"));
        for (q, rows) in [("小汽车", 1), ("比对", 1), ("村委会", 1), ("医院", 0)] {
            d.goto(&format!("/zh/?state=all&q={}", urlencode(q))).await;
            assert_eq!(d.count("tr[data-case]").await, rows, "search {q}");
        }

        // The USB stick: the answer and the ack, signed.
        d.goto("/zh/outbox").await;
        assert_eq!(d.text("#queued-count").await, "1");
        assert_eq!(d.text("#unacked-count").await, "1");
        submit(&d, "button#write-bundles", "the bundles written").await;
        let names: Vec<String> = serde_json::from_value(
            d.js("return Array.from(document.querySelectorAll('#written a')).map(a => a.textContent);")
                .await,
        )
        .unwrap();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(d.text("#queued-count").await, "0");
        assert_eq!(d.text("#unacked-count").await, "0");
        d.screenshot("desk-outbox-zh", 1280, 800).await;

        // The operator imports both on the server.
        let outbox = w.files.path().join("workspace/outbox");
        for name in &names {
            let bytes = std::fs::read(outbox.join(name)).unwrap();
            let r = blocking(|| w.server.import(&bytes));
            assert_eq!(r.status, 200, "import {name}: {}", r.body);
        }
        let again = blocking(|| w.server.export());
        let again: serde_json::Value = serde_json::from_slice(&again).unwrap();
        assert_eq!(
            again["tips"],
            json!([]),
            "the acked ciphertext is gone from the server"
        );

        // The resident sees the question and the message, opened in the browser.
        public.goto("/zh/status").await;
        public.type_into("input#status-receipt", &receipt).await;
        public.click("button#status-submit").await;
        public
            .wait_for(
                "document.querySelector('#status-result div.reply p.message') !== null",
                "the reply on the status page",
                WAIT,
            )
            .await;
        assert_eq!(
            public.text("#status-result div.reply p.message").await,
            MESSAGE
        );
        assert!(public.text("#status-now").await.contains("有问题想问您"));
        public
            .assert_same_origin_no_cookies("the status page with the desk's answer")
            .await;

        // The reports of this month, both languages.
        d.goto("/zh/report").await;
        let totals: Vec<String> = serde_json::from_value(
            d.js("return Array.from(document.querySelectorAll('#totals tbody td')).map(td => td.textContent.trim());")
                .await,
        )
        .unwrap();
        assert_eq!(
            totals,
            ["1", "0", "1", "0"],
            "new, closed, open, overdue this month"
        );
        let sheet = d.text("main").await;
        for private in [WORDS, NOTE, ASSIGNEE, "低保", "村委会"] {
            assert!(!sheet.contains(private), "the report shows {private}");
        }
        d.screenshot("desk-report-zh", 1280, 900).await;
        axe_clean(&d, "desk report (zh)").await;
        d.goto("/en/report").await;
        d.screenshot("desk-report-en", 1280, 900).await;

        // Locking forgets the keys: the inbox asks for the passphrase again.
        d.goto("/zh/").await;
        submit(&d, "form.lock button", "the locked desk").await;
        assert_eq!(d.path().await, "/zh/unlock");
        d.goto("/zh/").await;
        assert_eq!(d.path().await, "/zh/unlock");
        d.close().await;
        public.close().await;
    });
}

/// A case with a photo and a voice note, and a follow-up with a document that was not
/// cleaned, shown by the desk in a real browser: the photo decodes (the desk served it as an
/// image), the voice note's player reads the recording, nothing is fetched from elsewhere.
/// Screenshots: desk-case-files-zh.png, desk-case-files-en.png.
#[test]
fn a_case_with_a_photo_and_a_voice_note() {
    use common::evidence::{bundle, entry, office_key, png, Evidence, Resident};
    let inspectors = Inspectors::new();
    let office = office_key(&inspectors);
    let resident = Resident::new(3);
    let (sealed, blobs) = resident.tip(
        &office,
        "镇卫生院的药房把医保药卖到外面的药店，这是药房后门的照片和我录的一段话。",
        &[Evidence::photo(png(480, 320)), Evidence::voice(3.0)],
    );
    let (more, more_blobs) = resident.followup(
        &office,
        "补充：这是药店的进货单。",
        &[Evidence::document(
            "application/pdf",
            b"%PDF-1.4\n%%EOF\n".to_vec(),
            Some("进货单.pdf"),
        )],
    );
    let id = whistlebox::domain::TipId([0x5a; 8]);
    let files = tempfile::tempdir().unwrap();
    let bundle_path = files.path().join("export.json");
    std::fs::write(
        &bundle_path,
        bundle(&[entry(id, sealed, blobs, vec![(1, more, more_blobs)])]),
    )
    .unwrap();
    let desk = start_desk(
        &inspectors.key_file(),
        &files.path().join("workspace"),
        Some(&inspectors.pass_file()),
        &["--import", bundle_path.to_str().unwrap()],
    )
    .expect("desk");
    let origin = desk.origin();
    let signin = desk.signin.clone().expect("a sign-in link");
    let _keep = (desk, files, inspectors);
    harness::run(move |wd| async move {
        let d = Browser::open(&wd, &origin, Js::On, ZH).await;
        d.goto(&signin).await;
        assert_eq!(d.path().await, "/zh/");
        d.goto(&format!("/zh/case/{id}")).await;
        d.wait_for(
            "(() => { const i = document.querySelector('#files img'); \
               return i && i.complete && i.naturalWidth === 480; })()",
            "the photo, decoded",
            WAIT,
        )
        .await;
        d.wait_for(
            "(() => { const a = document.querySelector('#files audio'); \
               return a && a.readyState >= 1 && Math.round(a.duration) === 3; })()",
            "the voice note's length, read by the player",
            WAIT,
        )
        .await;
        assert!(d.text("#files").await.contains("已去除：位置"));
        assert!(d.text("#followups").await.contains("这个文件没有经过清理"));
        assert_eq!(
            d.attr("#followups article.evidence a[download]", "download")
                .await
                .as_deref(),
            Some("01-进货单.pdf")
        );
        for url in d.fetched().await {
            assert!(url.starts_with(&origin), "the desk fetched {url}");
        }
        d.screenshot("desk-case-files-zh", 1280, 900).await;
        d.goto(&format!("/en/case/{id}")).await;
        d.wait_for(
            "(() => { const i = document.querySelector('#files img'); \
               return i && i.complete && i.naturalWidth === 480; })()",
            "the photo, decoded",
            WAIT,
        )
        .await;
        d.screenshot("desk-case-files-en", 1280, 900).await;
        d.close().await;
    });
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}
