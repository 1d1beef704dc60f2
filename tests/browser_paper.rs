//! Paper and phone in Chromium: a clerk signs in on the clerk's listener, prints a batch of
//! forms (codes made and run through Argon2id in the page), enters a letter under a form's
//! code and a call under a new one, and reads the caller's status; a resident's status page
//! says "not entered yet" for a form's code until its letter is entered. What the clerk's
//! page posts holds no code and no words; the data folder holds no code; the decrypted tips
//! carry the words and the channel; each page is wiped after use.
//!
//! Saves `target/screenshots/paper-form-zh.png` (one printed sheet), `paper-forms-zh.pdf`
//! (the batch as Chromium prints it, A4), and screenshots of the entry and phone pages.
//! Needs what tests/browser.rs needs (`bash .ci/test` installs it).

mod common;
#[path = "browser/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use common::{Inspectors, Server, Site};
use harness::{screenshot_dir, Browser, Js};

const CLERK_TOKEN: &str = "clerk-token-for-the-browser-0123456789";
const LETTER: &str = "村主任把我家的低保金领走了，已经三个月。我不会上网，只好写信。";
const CALL: &str = "电话里说：卫生院收药费不开票。";
const WAIT: Duration = Duration::from_secs(90);

struct Office {
    inspectors: Inspectors,
    site: Site,
    server: Server,
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Records what the page's own `fetch` sends (a WebDriver script runs outside the page's
/// policy, so it can wrap it): every request's address and body.
const RECORD_FETCH: &str = r#"
    if (!window.__sent) {
        window.__sent = [];
        const f = window.fetch;
        window.fetch = function (url, init) {
            window.__sent.push([String(url), init && init.body ? String(init.body) : '']);
            return f.apply(this, arguments);
        };
    }
    return true;
"#;

async fn sent(b: &Browser) -> Vec<(String, String)> {
    let v = b.js("return window.__sent || [];").await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn storage_is_empty(b: &Browser, label: &str) {
    let n = b
        .js("return localStorage.length + sessionStorage.length;")
        .await;
    assert_eq!(n, json!(0), "{label}: the page stored something");
}

fn digits(code: &str) -> String {
    code.chars().filter(char::is_ascii_digit).collect()
}

#[test]
fn a_clerk_prints_forms_enters_a_letter_and_a_call_and_reads_a_status() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let token = site.root.path().join("clerk.txt");
    std::fs::write(&token, format!("{CLERK_TOKEN}\n")).unwrap();
    let server = site.start(&[
        "--clerk-bind",
        "127.0.0.1:0",
        "--clerk-token-file",
        token.to_str().unwrap(),
        "--office-phone",
        "0771-1234567",
        "--office-postal-address",
        "东山县人民路1号 县纪委监委信访室（邮编 530000）",
        "--public-url",
        "https://jubao.dongshan.example/",
    ]);
    let o = Arc::new(Office {
        inspectors,
        site,
        server,
    });
    let oo = o.clone();
    harness::run(move |wd| async move {
        let o = oo;
        let wd = wd.as_str();
        let clerk_origin = o.server.clerk.clone().unwrap();
        let c = Browser::open(wd, &clerk_origin, Js::On, "zh-CN,zh;q=0.9").await;
        // Signing in.
        c.goto("/zh/forms").await;
        assert_eq!(c.path().await, "/zh/signin");
        c.type_into("input#token", "not the token").await;
        c.click("#signin-form button").await;
        c.wait_for(
            "document.getElementById('signin-error')",
            "the wrong-token message",
            WAIT,
        )
        .await;
        c.type_into("input#token", CLERK_TOKEN).await;
        c.click("#signin-form button").await;
        c.wait_for("location.pathname === '/zh/'", "the menu", WAIT)
            .await;

        // Printing a batch of three forms.
        c.goto("/zh/forms").await;
        c.js(RECORD_FETCH).await;
        c.type_into("input#forms-count", "3").await;
        c.click("button#forms-make-button").await;
        c.wait_for(
            "!document.getElementById('forms-ready').hidden || !document.getElementById('forms-error').hidden",
            "the batch",
            WAIT,
        )
        .await;
        assert!(
            c.displayed("#forms-ready").await,
            "{}",
            c.text("#forms-error").await
        );
        assert_eq!(c.count("#sheets .sheet").await, 3);
        let codes: Vec<String> = c
            .js("return [...document.querySelectorAll('#sheets .stub-code .sheet-code')].map(e => e.textContent);")
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(codes.len(), 3);
        for code in &codes {
            assert!(
                whistlebox::domain::receipt::Receipt::parse(code).is_ok(),
                "{code}"
            );
        }
        let labels = c
            .js("return [...document.querySelectorAll('#sheets .sheet-batch')].map(e => e.textContent);")
            .await;
        assert_eq!(labels, json!(["0001", "0001", "0001"]));
        // The page posted the lookup values only.
        let posted = sent(&c).await;
        assert_eq!(posted.len(), 1, "{posted:?}");
        assert!(posted[0].0.ends_with("/api/batches"));
        let body: Value = serde_json::from_str(&posted[0].1).unwrap();
        assert_eq!(
            body.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["lookups"]
        );
        for code in &codes {
            assert!(
                !posted[0].1.contains(&digits(code)[..8]),
                "a code was posted"
            );
        }
        // The sheet as printed: one page screenshot, and the batch as a PDF.
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        // Print media, as Chromium's print preview lays the sheet out (through chromedriver's
        // DevTools endpoint), at A4's 96 dpi size.
        emulate_media(wd, &c, "print").await;
        c.set_viewport(794, 1123).await;
        let png = c
            .find("#sheets .sheet")
            .await
            .screenshot()
            .await
            .expect("sheet screenshot");
        std::fs::write(dir.join("paper-form-zh.png"), &png).unwrap();
        emulate_media(wd, &c, "").await;
        c.set_viewport(1280, 900).await;
        let pdf =
            c.c.print(
                fantoccini::wd::PrintConfiguration::builder()
                    .size(fantoccini::wd::PrintSize::A4)
                    .margins(fantoccini::wd::PrintMargins {
                        top: 0.0,
                        bottom: 0.0,
                        left: 0.0,
                        right: 0.0,
                    })
                    .shrink_to_fit(false)
                    .build()
                    .expect("print settings"),
            )
            .await
            .expect("print to PDF");
        assert!(pdf.starts_with(b"%PDF"));
        println!(
            "paper: the printed batch of 3 forms: {} bytes of PDF",
            pdf.len()
        );
        std::fs::write(dir.join("paper-forms-zh.pdf"), &pdf).unwrap();
        assert_no_serious_axe(&c, "forms (zh)").await;
        // Clearing the page forgets the codes.
        c.click("button#forms-clear").await;
        assert_eq!(c.count("#sheets .sheet").await, 0);
        let html = c.js("return document.documentElement.outerHTML;").await;
        for code in &codes {
            assert!(!html.as_str().unwrap().contains(code.as_str()));
        }
        storage_is_empty(&c, "forms").await;

        // A resident checks a form's code before the letter is entered.
        let r = Browser::open(wd, &o.server.public, Js::On, "zh-CN,zh;q=0.9").await;
        r.goto("/zh/status").await;
        r.type_into("input#status-receipt", &codes[0]).await;
        r.click("button#status-submit").await;
        r.wait_for(
            "document.getElementById('status-error')",
            "the status answer",
            WAIT,
        )
        .await;
        assert_eq!(
            r.attr("#status-error", "data-kind").await.as_deref(),
            Some("not-entered")
        );
        assert!(r.text("#status-error").await.contains("还没有登记"));

        // The clerk enters the letter under that code.
        c.goto("/zh/entry").await;
        c.js(RECORD_FETCH).await;
        c.type_into("input#entry-code", &codes[0]).await;
        c.type_into("textarea#entry-body", LETTER).await;
        c.type_into("input#entry-where", "东山村").await;
        c.click("button#entry-submit").await;
        c.wait_for(
            "!document.getElementById('entry-done').hidden || !document.getElementById('entry-error').hidden",
            "the entry",
            WAIT,
        )
        .await;
        assert!(
            c.displayed("#entry-done").await,
            "{}",
            c.text("#entry-error").await
        );
        assert!(
            !c.displayed("#entry-new-receipt").await,
            "a form's code needs no new one"
        );
        c.screenshot("paper-entry-zh", 1280, 900).await;
        assert_no_serious_axe(&c, "entry (zh)").await;
        // Entering the same letter again is refused in plain words.
        c.click("button#entry-next").await;
        assert_eq!(
            c.js("return document.getElementById('entry-body').value;")
                .await,
            json!("")
        );
        assert_eq!(
            c.js("return document.getElementById('entry-code').value;")
                .await,
            json!("")
        );
        c.type_into("input#entry-code", &codes[0]).await;
        c.type_into("textarea#entry-body", LETTER).await;
        c.click("button#entry-submit").await;
        c.wait_for(
            "!document.getElementById('entry-error').hidden",
            "the refusal",
            WAIT,
        )
        .await;
        assert!(c.text("#entry-error").await.contains("已经登记过了"));
        c.goto("/zh/entry").await;
        c.js(RECORD_FETCH).await;
        // A call: a new code is made, to read out.
        c.click("input[name=channel][value=phone]").await;
        assert_eq!(
            c.js("return document.getElementById('entry-no-stub').checked;")
                .await,
            json!(true)
        );
        c.type_into("textarea#entry-body", CALL).await;
        c.click("button#entry-submit").await;
        c.wait_for(
            "!document.getElementById('entry-done').hidden",
            "the call's entry",
            WAIT,
        )
        .await;
        let new_code = c.text("#entry-receipt").await;
        assert!(
            whistlebox::domain::receipt::Receipt::parse(&new_code).is_ok(),
            "{new_code}"
        );
        c.screenshot("paper-call-zh", 1280, 900).await;
        let posted = sent(&c).await;
        assert_eq!(posted.len(), 1);
        for secret in [digits(&new_code), CALL.to_string(), "卫生院".to_string()] {
            assert!(!posted[0].1.contains(&secret), "the page posted {secret:?}");
        }
        c.click("button#entry-next").await;
        assert_eq!(c.text("#entry-receipt").await, "");
        assert!(!c.displayed("#entry-new-receipt").await);
        storage_is_empty(&c, "entry").await;

        // The resident's stub now shows the status.
        r.goto("/zh/status").await;
        r.type_into("input#status-receipt", &codes[0]).await;
        r.click("button#status-submit").await;
        r.wait_for(
            "document.getElementById('status-result')",
            "the status",
            WAIT,
        )
        .await;
        r.close().await;

        // The caller phones back: the clerk reads the status aloud, then clears it.
        c.goto("/zh/phone").await;
        c.js(RECORD_FETCH).await;
        c.type_into("input#phone-code", &new_code).await;
        c.click("button#phone-submit").await;
        c.wait_for(
            "!document.getElementById('phone-result').hidden || !document.getElementById('phone-error').hidden",
            "the caller's status",
            WAIT,
        )
        .await;
        assert!(
            c.displayed("#phone-result").await,
            "{}",
            c.text("#phone-error").await
        );
        assert_eq!(
            c.js("return document.getElementById('phone-code').value;")
                .await,
            json!("")
        );
        assert!(c.text("#phone-now").await.contains("已收到"));
        c.screenshot("paper-phone-zh", 1280, 900).await;
        assert_no_serious_axe(&c, "phone (zh)").await;
        let prefix = format!("{clerk_origin}/");
        for url in c.fetched().await {
            assert!(url.starts_with(&prefix), "the clerk's page fetched {url}");
        }
        let posted = sent(&c).await;
        assert_eq!(posted.len(), 1);
        assert!(posted[0].0.ends_with("/api/status"));
        assert!(!posted[0].1.contains(&digits(&new_code)[..8]));
        c.click("button#phone-clear").await;
        assert_eq!(
            c.js("return document.getElementById('phone-answer').textContent;")
                .await,
            json!("")
        );
        storage_is_empty(&c, "phone").await;
        c.close().await;

        // Offline: the words and the channel of each.
        let tips = blocking(|| {
            let out = tempfile::tempdir().unwrap();
            let run = o.inspectors.decrypt(&o.server.export(), out.path());
            assert!(run.status.success());
            common::read_decrypted(out.path())
                .into_iter()
                .map(|(id, text)| {
                    let meta: Value = serde_json::from_str(
                        &std::fs::read_to_string(out.path().join(&id).join("tip.json")).unwrap(),
                    )
                    .unwrap();
                    (
                        text,
                        meta["fields"]["channel"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(tips.len(), 2);
        assert!(
            tips.contains(&(LETTER.to_string(), "letter".to_string())),
            "{tips:?}"
        );
        assert!(
            tips.contains(&(CALL.to_string(), "phone".to_string())),
            "{tips:?}"
        );
        // And no code is anywhere in the server's folders.
        for code in codes.iter().chain([&new_code]) {
            let d = digits(code);
            for needle in [d.as_str(), code.as_str()] {
                let found = files_holding(o.site.root.path(), needle.as_bytes());
                assert!(found.is_empty(), "{code} in {found:?}");
            }
        }
    });
}

/// Chromium's CSS media emulation (`print`, or `""` for the screen again), through
/// chromedriver's DevTools endpoint.
async fn emulate_media(driver: &str, b: &Browser, media: &str) {
    let session = b.c.session_id().await.unwrap().expect("a session");
    let url = format!("{driver}/session/{session}/goog/cdp/execute");
    let body = json!({ "cmd": "Emulation.setEmulatedMedia", "params": { "media": media } });
    let r = blocking(|| common::reply(common::agent().post(&url).send_json(body)));
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn assert_no_serious_axe(b: &Browser, label: &str) {
    let report = b.axe(label).await;
    assert!(report.severe().is_empty(), "{}", report.describe());
}

fn files_holding(root: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path);
                }
            }
        }
    }
    found
}
