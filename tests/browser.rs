//! The resident-facing pages in a real browser: Debian's headless Chromium, driven through
//! chromedriver (WebDriver) with fantoccini, against the real binary on loopback ports.
//!
//! What it must show: a report sealed in the browser (JavaScript on) and one sealed by the
//! server (JavaScript off) both decrypt offline to exactly the words typed; the receipt then
//! works on the status page, and a mistyped one is called a typo; no page fetches anything
//! from another origin or sets a cookie; screenshots at phone and desktop widths; no serious
//! axe-core (WCAG 2 A/AA) violation.
//!
//! Needs /usr/bin/chromium, /usr/bin/chromedriver and `npm ci` in src/web/assets (for axe-core):
//! `bash .ci/test` installs all three. Screenshots land in target/screenshots/.

mod common;
#[path = "browser/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use common::{Inspectors, Server, Site, TOKEN};
use harness::{Browser, Js};

/// A tip as an elderly resident might type it: Chinese, full-width punctuation, two lines.
const BODY_ZH: &str = "村主任把低保金发给了亲戚，大约三万元。\n第二行。";
const WHERE_ZH: &str = "幸福村";
const BODY_EN: &str = "The village head gave the pension money to his relatives.\nSecond line.";

const WAIT: Duration = Duration::from_secs(20);

const LANGS: [&str; 2] = ["zh", "en"];

fn html_lang(lang: &str) -> &'static str {
    match lang {
        "zh" => "zh-Hans",
        _ => "en",
    }
}

fn accept_language(lang: &str) -> &'static str {
    match lang {
        "zh" => "zh-CN,zh;q=0.9",
        _ => "en-US,en;q=0.9",
    }
}

/// `/zh/report` -> `/en/report` and back.
fn other_language(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("/zh/") {
        format!("/en/{rest}")
    } else if let Some(rest) = path.strip_prefix("/en/") {
        format!("/zh/{rest}")
    } else {
        panic!("no language in {path}")
    }
}

/// A server with the inspectors' real public key (not demo mode), and those inspectors.
struct Keyed {
    inspectors: Inspectors,
    _site: Site,
    server: Server,
}

fn keyed() -> Arc<Keyed> {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    assert!(
        !server.get("/api/v1/key").json()["demo"].as_bool().unwrap(),
        "a server with keys/inspectors.pub must not be in demo mode"
    );
    Arc::new(Keyed {
        inspectors,
        _site: site,
        server,
    })
}

/// A server in demo mode: no inspectors.pub, a throwaway key.
fn demo() -> (Site, Server) {
    let site = Site::new();
    let server = site.start(&[]);
    assert!(server.get("/api/v1/key").json()["demo"].as_bool().unwrap());
    (site, server)
}

/// Blocking work (HTTP to the server, running the binary) off the async workers' backs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

impl Keyed {
    /// Exports, decrypts offline, and returns (message.txt, tip.json) of every tip.
    fn decrypted(&self) -> Vec<(String, Value)> {
        let bundle = self.server.export();
        let out = tempfile::tempdir().unwrap();
        let run = self.inspectors.decrypt(&bundle, out.path());
        assert!(
            run.status.success(),
            "whistlebox decrypt failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let mut tips = Vec::new();
        for (id, text) in common::read_decrypted(out.path()) {
            let meta = std::fs::read_to_string(out.path().join(&id).join("tip.json")).unwrap();
            tips.push((text, serde_json::from_str(&meta).unwrap()));
        }
        tips
    }
}

/// The reply public key (standard base64) of the seed a status answer hands back.
fn reply_public_of(status: &Value) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let seed: [u8; 32] = b64
        .decode(status["reply_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = whistlebox::crypto::BoxSecretKey::from_seed(&seed);
    b64.encode(key.public_key().as_bytes())
}

fn assert_receipt_shape(receipt: &str, label: &str) {
    let groups: Vec<&str> = receipt.split(' ').collect();
    assert!(
        groups.len() == 5
            && groups
                .iter()
                .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit())),
        "{label}: the receipt shown is {receipt:?}, not five groups of four digits"
    );
}

/// Strips Unicode bidi isolates (Fluent's FSI/PDI around placeables) for text comparisons.
fn plain(text: &str) -> String {
    text.replace(['\u{2068}', '\u{2069}'], "")
}

/// A receipt with a right check digit that no tip has.
fn unknown_receipt() -> String {
    let digits: Vec<u8> = "4096123409612340961".bytes().map(|b| b - b'0').collect();
    let check = whistlebox::domain::receipt::damm(&digits);
    let mut all: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    all.push(char::from(b'0' + check));
    let groups: Vec<&str> = (0..5).map(|i| &all[i * 4..i * 4 + 4]).collect();
    groups.join(" ")
}

/// The same receipt with its first digit changed: the check digit must catch it.
fn one_digit_wrong(receipt: &str) -> String {
    let mut chars: Vec<char> = receipt.chars().collect();
    let d = chars[0].to_digit(10).unwrap();
    chars[0] = char::from_digit((d + 1) % 10, 10).unwrap();
    chars.into_iter().collect()
}

/// `１２３４-５６７８-…`: what a Chinese IME gives, with dashes.
fn full_width_with_dashes(receipt: &str) -> String {
    receipt
        .chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap(),
            ' ' => '-',
            other => other,
        })
        .collect()
}

/// How the status page writes the day a tip came, from the API's `YYYY-MM-DD`.
fn day_as_written(lang: &str, iso: &str) -> String {
    let parts: Vec<u32> = iso.split('-').map(|p| p.parse().unwrap()).collect();
    let (y, m, d) = (parts[0], parts[1], parts[2]);
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    match lang {
        "zh" => format!("{y}年{m}月{d}日"),
        _ => format!("{d} {} {y}", MONTHS[m as usize - 1]),
    }
}

/// Marks the document, so a later check can tell whether the browser loaded a new one.
async fn mark_document(b: &Browser) {
    b.js("window.__whistleboxSameDocument = true; return true;")
        .await;
}

async fn same_document(b: &Browser) -> bool {
    b.js("return window.__whistleboxSameDocument === true;")
        .await
        == json!(true)
}

/// Waits until a form post has given a new, fully loaded document.
async fn wait_new_document(b: &Browser, what: &str) {
    b.wait_for(
        "window.__whistleboxSameDocument !== true && document.readyState === 'complete'",
        what,
        WAIT,
    )
    .await;
}

/// Fills the report form (body and place) and presses the send button.
async fn fill_and_send_report(b: &Browser, body: &str, place: &str) {
    b.find("form#report-form").await;
    b.type_into("textarea#body", body).await;
    b.type_into("input#where", place).await;
    mark_document(b).await;
    b.click("button#report-submit").await;
}

/// Waits for the receipt view in `mode` and returns the receipt it shows.
async fn wait_receipt(b: &Browser, mode: &str, label: &str) -> String {
    let cond = format!(
        "(() => {{ const v = document.getElementById('receipt-view'); \
           return v && !v.hidden && v.getAttribute('data-mode') === '{mode}' \
             && v.getClientRects().length > 0 \
             && /\\d/.test((document.getElementById('receipt-digits') || {{}}).textContent || ''); }})()"
    );
    b.wait_for(&cond, &format!("{label}: the receipt ({mode} mode)"), WAIT)
        .await;
    assert!(
        b.displayed("#receipt-view").await,
        "{label}: #receipt-view not displayed"
    );
    let receipt = b.text("#receipt-digits").await.trim().to_string();
    assert_receipt_shape(&receipt, label);
    receipt
}

/// Sends a report through the page and returns the receipt (either mode).
async fn report_through_page(b: &Browser, lang: &str, body: &str, place: &str) -> String {
    b.goto(&format!("/{lang}/report")).await;
    fill_and_send_report(b, body, place).await;
    let mode = match b.js {
        Js::On => "browser",
        Js::Off => "server",
    };
    wait_receipt(b, mode, &format!("report {lang} ({mode})")).await
}

/// Types `typed` into the status form of `lang` and submits it; returns the answer's HTTP
/// status. Without JavaScript that is the answer page's; with it, the page asks
/// `/api/v1/status` itself and shows the answer in place, so it is that request's status.
async fn ask_status(b: &Browser, lang: &str, typed: &str) -> u64 {
    b.goto(&format!("/{lang}/status")).await;
    b.find("form#status-form[method=post]").await;
    let action = b.attr("form#status-form", "action").await;
    assert_eq!(action.as_deref(), Some(format!("/{lang}/status").as_str()));
    if typed.is_empty() {
        // The field is `required`, so a browser would not send it empty; the server must
        // still answer an empty one plainly.
        b.js("document.getElementById('status-receipt').removeAttribute('required'); return 1;")
            .await;
    }
    if typed.is_empty() {
        b.find("input#status-receipt[name=receipt]")
            .await
            .clear()
            .await
            .unwrap();
    } else {
        b.type_into("input#status-receipt[name=receipt]", typed)
            .await;
    }
    mark_document(b).await;
    b.click("button#status-submit").await;
    if b.js == Js::On {
        wait_status_in_place(b, "the status answer").await;
        assert_eq!(b.path().await, format!("/{lang}/status"), "the URL changed");
        return api_status_of_page(b).await;
    }
    wait_new_document(b, "the status answer").await;
    assert_eq!(
        b.path().await,
        format!("/{lang}/status"),
        "the receipt must travel in the body, not the URL"
    );
    b.document_status().await
}

/// Waits until the status script has shown an answer or an error in the same document.
async fn wait_status_in_place(b: &Browser, what: &str) {
    b.wait_for(
        "document.getElementById('status-result') || document.getElementById('status-error')",
        what,
        WAIT,
    )
    .await;
    assert!(
        same_document(b).await,
        "{what}: the page was reloaded: the status script fell back to the form post"
    );
}

/// HTTP status of the page's last status request, to `/api/v2/status` (lookup value) or
/// `/api/v1/status` (receipt) (Resource Timing, whose entry appears once the response body
/// has been read; the answer is shown only after that); 0 when the page sent none.
async fn api_status_of_page(b: &Browser) -> u64 {
    let last = "performance.getEntriesByType('resource').filter(e => ['/api/v1/status', '/api/v2/status'].includes(new URL(e.name).pathname)).pop()";
    b.js(&format!(
        "const e = {last}; return e ? e.responseStatus : 0;"
    ))
    .await
    .as_u64()
    .unwrap_or(0)
}

async fn assert_status_error(b: &Browser, lang: &str, typed: &str, kind: &str, http: u64) {
    // With JavaScript the page judges a mistyped code itself, as the server would, and sends
    // nothing at all.
    let http = if b.js == Js::On && kind != "unknown" {
        0
    } else {
        http
    };
    let status = ask_status(b, lang, typed).await;
    let label = format!("status {lang} for {typed:?}");
    assert!(
        b.displayed("#status-error").await,
        "{label}: no visible #status-error"
    );
    assert_eq!(
        b.attr("#status-error", "data-kind").await.as_deref(),
        Some(kind),
        "{label}: wrong kind of error; it says {:?}",
        b.text("#status-error").await
    );
    assert_eq!(status, http, "{label}: HTTP status");
    assert_eq!(
        b.count("#status-result").await,
        0,
        "{label}: shows a result"
    );
    let words = b.text("#status-error").await;
    if !typed.trim().is_empty() {
        assert!(
            !words.contains(typed.trim()),
            "{label}: the error repeats the receipt"
        );
    }
}

/// The found answer: a timeline whose first step says received, on the right day.
async fn assert_status_found(b: &Browser, lang: &str, typed: &str, day_iso: &str) {
    let status = ask_status(b, lang, typed).await;
    let label = format!("status {lang} for {typed:?}");
    if b.count("#status-error").await > 0 {
        panic!("{label}: #status-error: {}", b.text("#status-error").await);
    }
    assert!(
        b.displayed("#status-result").await,
        "{label}: no #status-result"
    );
    assert_eq!(status, 200, "{label}: HTTP status");
    let steps = b
        .js("return Array.from(document.querySelectorAll('#status-result ol#status-timeline > li')).map(li => li.textContent.trim());")
        .await;
    let steps: Vec<String> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| plain(s.as_str().unwrap()))
        .collect();
    assert!(!steps.is_empty(), "{label}: the timeline has no step");
    let first = &steps[0];
    let received = if lang == "zh" { "收到" } else { "received" };
    assert!(
        first.contains(received),
        "{label}: first step {first:?} does not say {received:?}"
    );
    let day = day_as_written(lang, day_iso);
    assert!(
        first.contains(&day),
        "{label}: first step {first:?} does not give the day {day:?}"
    );
}

/// The sealing script is there, from our own origin, pinned by Subresource Integrity.
async fn assert_script_pinned(b: &Browser, page: &str) {
    let integrity = b
        .attr("script[src='/assets/report.js']", "integrity")
        .await
        .unwrap_or_default();
    assert!(
        integrity.starts_with("sha512-"),
        "{page} must load report.js with integrity=sha512-…, has {integrity:?}"
    );
}

/// Report with JavaScript (sealed in the browser), in Chinese, then the status page with
/// that receipt typed in several ways.
#[test]
fn report_sealed_in_the_browser_then_status() {
    let k = keyed();
    let origin = k.server.public.clone();
    let kk = k.clone();
    harness::run(move |wd| async move {
        let k = kk;
        let b = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        b.goto("/zh/report").await;
        // The sealing script is there, same origin, pinned by Subresource Integrity.
        assert_script_pinned(&b, "the report page").await;
        let form = b.find("form#report-form").await;
        assert_eq!(form.attr("method").await.unwrap().as_deref(), Some("post"));
        assert_eq!(
            form.attr("action").await.unwrap().as_deref(),
            Some("/zh/report")
        );
        assert!(
            form.attr("data-box-key")
                .await
                .unwrap()
                .unwrap_or_default()
                .len()
                >= 40,
            "form has no data-box-key"
        );
        // Topic radios, "unsure" chosen unless the resident picks one.
        let topics = b
            .js("return Array.from(document.querySelectorAll('input[type=radio][name=topic]')).map(r => [r.value, r.checked]);")
            .await;
        assert_eq!(
            topics,
            json!([
                ["pensions", false],
                ["village", false],
                ["clinics", false],
                ["schools", false],
                ["police", false],
                ["unsure", true]
            ])
        );
        for id in ["where", "who", "when", "amount", "proof"] {
            assert_eq!(b.attr(&format!("#{id}"), "name").await.as_deref(), Some(id));
        }
        assert!(
            b.attr("textarea#body[name=body]", "required")
                .await
                .is_some(),
            "the body must be required"
        );

        // An empty report is stopped by the browser: nothing is sent.
        mark_document(&b).await;
        b.click("button#report-submit").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(same_document(&b).await, "an empty report left the page");
        assert_eq!(
            b.js("return document.getElementById('body').validity.valueMissing;")
                .await,
            json!(true)
        );
        assert!(!b.displayed("#receipt-view").await);

        fill_and_send_report(&b, BODY_ZH, WHERE_ZH).await;
        let receipt = wait_receipt(&b, "browser", "report zh (browser)").await;
        assert!(
            same_document(&b).await,
            "the page was reloaded: the form was posted instead of sealed in the browser"
        );
        assert_eq!(b.path().await, "/zh/report", "the URL changed");
        assert!(
            !b.displayed("#report-form").await,
            "the form is still shown"
        );
        let fetched = b.fetched().await;
        assert!(
            fetched.iter().any(|u| u == &b.url("/api/v2/tips")),
            "no request to /api/v2/tips; fetched: {fetched:?}"
        );
        b.assert_same_origin_no_cookies("receipt (browser)").await;

        // Typing the last four digits back confirms it was written down.
        b.type_into("#receipt-confirm", &receipt[receipt.len() - 4..])
            .await;
        b.wait_for(
            "!document.getElementById('receipt-done').hidden",
            "#receipt-done after the last four digits",
            WAIT,
        )
        .await;
        assert_eq!(
            b.attr("#receipt-confirm-result", "data-ok")
                .await
                .as_deref(),
            Some("1")
        );

        // The inspectors read exactly what was typed. FormData hands report.js the
        // textarea's value with "\n" line ends (checked in Chromium), so that is what is sealed.
        let tips = blocking(|| k.decrypted());
        assert_eq!(tips.len(), 1, "one tip stored");
        assert_eq!(
            tips[0].0, BODY_ZH,
            "message.txt differs from what was typed"
        );
        let fields = &tips[0].1["fields"];
        assert_eq!(fields["where"], json!(WHERE_ZH), "tip.json: {}", tips[0].1);
        assert_eq!(fields["topic"], json!("unsure"), "tip.json: {}", tips[0].1);

        let api = blocking(|| k.server.status(&receipt));
        assert_eq!(api.status, 200, "{}", api.body);
        let day = api.json()["received_on"].as_str().unwrap().to_string();
        // The page made its receipt itself (no request for one) and sealed that receipt's
        // reply key inside.
        assert!(
            !fetched.iter().any(|u| u == &b.url("/api/v1/receipts")),
            "the page asked the server for a receipt; fetched: {fetched:?}"
        );
        assert_eq!(
            tips[0].1["bound_reply_key"],
            json!(reply_public_of(&api.json())),
            "the sealed tip binds the receipt's reply key"
        );

        // The status page: as shown (with spaces), as an IME types it, and wrong ones.
        assert_status_found(&b, "zh", &receipt, &day).await;
        b.assert_same_origin_no_cookies("status answer").await;
        assert_status_found(&b, "en", &full_width_with_dashes(&receipt), &day).await;
        assert_status_error(&b, "zh", &one_digit_wrong(&receipt), "typo", 400).await;
        assert_status_error(&b, "zh", &unknown_receipt(), "unknown", 404).await;
        assert_status_error(&b, "zh", "1234 abcd 5678", "format", 400).await;
        assert_status_error(&b, "en", "1234 5678", "format", 400).await;
        assert_status_error(&b, "zh", "", "empty", 400).await;
        b.close().await;
    });
}

/// Report without JavaScript: the form posts, the server seals on arrival.
#[test]
fn report_sealed_by_the_server_without_javascript() {
    let k = keyed();
    let origin = k.server.public.clone();
    let kk = k.clone();
    harness::run(move |wd| async move {
        let k = kk;
        let b = Browser::open(&wd, &origin, Js::Off, accept_language("zh")).await;

        // An empty report (past the browser's own `required` check) gets the form back with
        // a visible error, status 400, and nothing stored.
        b.goto("/zh/report").await;
        b.js("document.getElementById('body').removeAttribute('required'); return 1;")
            .await;
        mark_document(&b).await;
        b.click("button#report-submit").await;
        wait_new_document(&b, "the answer to an empty report").await;
        assert_eq!(b.document_status().await, 400, "empty report: HTTP status");
        assert!(
            b.displayed("#report-error").await,
            "empty report: #report-error is not visible"
        );
        assert!(
            b.displayed("form#report-form").await,
            "empty report: no form"
        );
        assert!(!b.displayed("#receipt-view").await);
        assert_eq!(blocking(|| k.server.tip_count()), 0);

        let receipt = report_through_page(&b, "zh", BODY_ZH, WHERE_ZH).await;
        assert!(
            !same_document(&b).await,
            "the page was not reloaded: did JavaScript run?"
        );
        assert_eq!(b.document_status().await, 200);
        assert_eq!(b.path().await, "/zh/report", "answer page URL");
        let fetched = b.fetched().await;
        assert!(
            !fetched.iter().any(|u| u.ends_with("/api/v1/tips")),
            "JavaScript is off, yet /api/v1/tips was called: {fetched:?}"
        );
        b.assert_same_origin_no_cookies("receipt (server)").await;

        // The browser sends the textarea's line ends as CRLF (HTML form submission); the
        // server turns them back into "\n", so both paths give the inspectors the same text.
        let tips = blocking(|| k.decrypted());
        assert_eq!(tips.len(), 1, "one tip stored");
        assert_eq!(
            tips[0].0, BODY_ZH,
            "message.txt differs from what was typed"
        );
        assert_eq!(tips[0].1["fields"]["where"], json!(WHERE_ZH));
        assert_eq!(tips[0].1["fields"]["topic"], json!("unsure"));

        // The status form needs no JavaScript either.
        let api = blocking(|| k.server.status(&receipt));
        assert_eq!(api.status, 200, "{}", api.body);
        let day = api.json()["received_on"].as_str().unwrap().to_string();
        assert_eq!(
            tips[0].1["bound_reply_key"],
            json!(reply_public_of(&api.json())),
            "the server sealed the receipt's reply key inside the tip"
        );
        assert_status_found(&b, "zh", &receipt, &day).await;
        assert_status_error(&b, "en", &one_digit_wrong(&receipt), "typo", 400).await;

        // English, too.
        let receipt_en = report_through_page(&b, "en", BODY_EN, "Sunny Village").await;
        assert_ne!(receipt_en, receipt);
        let tips = blocking(|| k.decrypted());
        let mut bodies: Vec<&str> = tips.iter().map(|t| t.0.as_str()).collect();
        bodies.sort();
        let mut want = vec![BODY_ZH, BODY_EN];
        want.sort();
        assert_eq!(bodies, want);
        b.close().await;
    });
}

/// Checks every page must pass: language, switch, landmarks, demo banner, stylesheet, no
/// inline script or style, nothing from elsewhere, no cookie.
async fn assert_page_contract(
    b: &Browser,
    label: &str,
    lang: &str,
    switch_to: Option<&str>,
    demo: bool,
) {
    assert_eq!(
        b.js("return document.documentElement.getAttribute('lang');")
            .await,
        json!(html_lang(lang)),
        "{label}: <html lang>"
    );
    if let Some(other) = switch_to {
        let href = b
            .js("const a = document.querySelector('a#lang-switch'); return a ? new URL(a.getAttribute('href'), location.href).pathname : null;")
            .await;
        assert_eq!(href, json!(other), "{label}: a#lang-switch");
    }
    // The language switch leads to a page that exists.
    let switch = b
        .js("const a = document.querySelector('a#lang-switch'); return a ? a.href : null;")
        .await;
    if let Some(href) = switch.as_str() {
        let href = href.to_string();
        let status = blocking(|| match common::agent().get(&href).call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("GET {href}: {e}"),
        });
        assert_eq!(status, 200, "{label}: a#lang-switch leads to {href}");
    } else {
        assert!(switch_to.is_none(), "{label}: no a#lang-switch");
    }
    // Every address the page shows a resident (poster, receipt card) must be one that
    // reaches this server.
    let shown = b
        .js(r"return document.body.innerText.match(/https?:\/\/[^\s]+/g) || [];")
        .await;
    for url in shown.as_array().unwrap() {
        let url = url.as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/", b.origin)),
            "{label}: the page tells residents to go to {url}, but this server is at {}",
            b.origin
        );
    }
    assert_eq!(b.count("main#main").await, 1, "{label}: <main id=main>");
    assert!(
        !b.js("return document.title.trim();")
            .await
            .as_str()
            .unwrap()
            .is_empty(),
        "{label}: no <title>"
    );
    if demo {
        assert!(
            b.displayed("#demo-banner").await && b.text("#demo-banner").await.contains("DEMO MODE"),
            "{label}: no visible #demo-banner saying DEMO MODE"
        );
    } else {
        assert_eq!(b.count("#demo-banner").await, 0, "{label}: demo banner");
    }
    let sheets = b
        .js(r#"return Array.from(document.styleSheets).map(s => {
                let rules = -1; try { rules = s.cssRules.length; } catch (e) {}
                return [s.href ? new URL(s.href).pathname : '(inline)', rules];
            });"#)
        .await;
    assert!(
        sheets
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s[0] == json!("/assets/site.css") && s[1].as_i64().unwrap_or(0) > 0),
        "{label}: /assets/site.css is not loaded: {sheets}"
    );
    let inline = b
        .js(r#"
            const bad = [];
            for (const s of document.querySelectorAll('script:not([src])')) bad.push('inline <script>');
            for (const s of document.querySelectorAll('style')) bad.push('<style>');
            for (const el of document.querySelectorAll('*')) {
                for (const a of el.getAttributeNames()) {
                    if (a === 'style' || a.startsWith('on')) bad.push(`<${el.tagName.toLowerCase()} ${a}>`);
                }
            }
            return bad;
        "#)
        .await;
    assert_eq!(
        inline,
        json!([]),
        "{label}: inline script or style, which the CSP blocks"
    );
    b.assert_same_origin_no_cookies(label).await;
}

/// Every page: its language, its switch, its links; nothing from elsewhere; no cookie;
/// the demo banner in demo mode; the strict CSP in force.
#[test]
fn every_page_keeps_to_its_origin_and_language() {
    let (_site, server) = demo();
    let origin = server.public.clone();
    let server = Arc::new(server);
    let s = server.clone();
    harness::run(move |wd| async move {
        // `/` follows Accept-Language, Chinese when it names neither language.
        for (accept, want) in [
            ("zh-CN,zh;q=0.9", "zh"),
            ("en-GB,en;q=0.9", "en"),
            ("fr-FR,fr;q=0.9", "zh"),
        ] {
            let b = Browser::open(&wd, &origin, Js::On, accept).await;
            b.goto("/").await;
            assert_eq!(
                b.js("return document.documentElement.getAttribute('lang');")
                    .await,
                json!(html_lang(want)),
                "GET / with Accept-Language {accept}"
            );
            b.close().await;
        }

        let b = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        for lang in LANGS {
            let other = if lang == "zh" { "en" } else { "zh" };
            for page in ["/", "/report", "/status"] {
                let path = format!("/{lang}{page}");
                b.goto(&path).await;
                assert_eq!(b.document_status().await, 200, "GET {path}");
                let switch = other_language(&path);
                assert_page_contract(&b, &path, lang, Some(&switch), true).await;
                assert!(switch.starts_with(&format!("/{other}/")));
            }
            // Home leads to the report and the status pages.
            b.goto(&format!("/{lang}/")).await;
            for (link, to) in [("a#go-report", "/report"), ("a#go-status", "/status")] {
                let href = b.attr(link, "href").await;
                assert_eq!(href, Some(format!("/{lang}{to}")), "{lang} home: {link}");
            }
            b.click("a#go-report").await;
            b.wait_for(
                "document.getElementById('report-form')",
                "the report page",
                WAIT,
            )
            .await;
            assert_eq!(b.path().await, format!("/{lang}/report"));

            // The receipt page (browser mode) and a status answer keep to it too.
            let receipt = report_through_page(&b, lang, BODY_ZH, WHERE_ZH).await;
            assert_page_contract(&b, &format!("receipt {lang}"), lang, None, true).await;
            let day = blocking(|| s.status(&receipt)).json()["received_on"]
                .as_str()
                .unwrap()
                .to_string();
            assert_status_found(&b, lang, &receipt, &day).await;
            assert_page_contract(
                &b,
                &format!("status answer {lang}"),
                lang,
                Some(&format!("/{other}/status")),
                true,
            )
            .await;
        }
        b.goto("/poster").await;
        assert_eq!(b.document_status().await, 200, "GET /poster");
        assert_page_contract(&b, "/poster", "zh", None, true).await;
        assert_eq!(b.count("svg").await, 1, "/poster: one inline <svg> QR code");

        // The page's Content-Security-Policy really is in force: an inline script does not run.
        b.goto("/zh/report").await;
        let ran = b
            .js(r#"const s = document.createElement('script');
                   s.textContent = 'window.__inlineRan = true';
                   document.head.appendChild(s);
                   return window.__inlineRan === true;"#)
            .await;
        assert_eq!(
            ran,
            json!(false),
            "an inline script ran: the CSP is not strict"
        );
        b.close().await;

        // Without JavaScript: the server-made receipt page.
        let b = Browser::open(&wd, &origin, Js::Off, accept_language("en")).await;
        b.goto("/en/report").await;
        assert_page_contract(&b, "/en/report (no JS)", "en", Some("/zh/report"), true).await;
        report_through_page(&b, "en", BODY_EN, "Sunny Village").await;
        assert_page_contract(&b, "receipt en (server)", "en", Some("/zh/report"), true).await;
        b.close().await;
    });
    // The headers the browser saw, read directly.
    for path in [
        "/",
        "/zh/",
        "/en/",
        "/zh/report",
        "/en/report",
        "/zh/status",
        "/en/status",
        "/poster",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 200, "GET {path}");
        let csp = r.header("Content-Security-Policy").unwrap_or_default();
        // WebAssembly (the receipt worker's Argon2id) may be compiled; JavaScript may never
        // be evaluated from strings, nor inline. Object URLs (blob:) the page made itself may
        // be shown (a photo's preview, a voice note played back), never run.
        let directive = |name: &str| {
            csp.split(';')
                .map(str::trim)
                .find(|d| d.starts_with(&format!("{name} ")))
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval';")
                && csp.contains("worker-src 'self';")
                && !csp.contains("'unsafe-inline'")
                && !csp.contains("'unsafe-eval'")
                && directive("img-src") == "img-src 'self' blob:"
                && directive("media-src") == "media-src blob:"
                && csp.matches("blob:").count() == 2,
            "GET {path}: CSP {csp:?}"
        );
        assert_eq!(
            r.header("Permissions-Policy").unwrap_or_default(),
            "camera=(), microphone=(self), geolocation=(), interest-cohort=()",
            "GET {path}: the microphone for voice notes, on this origin only"
        );
        assert!(r.header("Set-Cookie").is_none(), "GET {path} sets a cookie");
    }
}

const PHONE: (u32, u32) = (360, 780);
const DESKTOP: (u32, u32) = (1280, 900);

async fn shoot_both(b: &Browser, name: &str, lang: &str, shots: &mut Vec<String>) {
    for (w, h) in [PHONE, DESKTOP] {
        let file = format!("{name}-{lang}-{w}");
        let path = b.screenshot(&file, w, h).await;
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size > 2000, "{file}.png is only {size} bytes");
        shots.push(format!("{file}.png"));
    }
}

/// Screenshots of every page at phone and desktop widths, in both languages, into
/// target/screenshots/.
#[test]
fn screenshots_at_phone_and_desktop_widths() {
    let k = keyed();
    let origin = k.server.public.clone();
    let kk = k.clone();
    harness::run(move |wd| async move {
        let k = kk;
        let mut shots = Vec::new();
        let on = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        let off = Browser::open(&wd, &origin, Js::Off, accept_language("zh")).await;
        for lang in LANGS {
            let body = if lang == "zh" { BODY_ZH } else { BODY_EN };
            on.goto(&format!("/{lang}/")).await;
            shoot_both(&on, "home", lang, &mut shots).await;
            on.goto(&format!("/{lang}/report")).await;
            shoot_both(&on, "report", lang, &mut shots).await;
            let receipt = report_through_page(&on, lang, body, WHERE_ZH).await;
            shoot_both(&on, "receipt-browser", lang, &mut shots).await;
            report_through_page(&off, lang, body, WHERE_ZH).await;
            shoot_both(&off, "receipt-server", lang, &mut shots).await;
            on.goto(&format!("/{lang}/status")).await;
            shoot_both(&on, "status", lang, &mut shots).await;
            let day = blocking(|| k.server.status(&receipt)).json()["received_on"]
                .as_str()
                .unwrap()
                .to_string();
            assert_status_found(&on, lang, &receipt, &day).await;
            shoot_both(&on, "status-result", lang, &mut shots).await;
            assert_status_error(&on, lang, &one_digit_wrong(&receipt), "typo", 400).await;
            shoot_both(&on, "status-error", lang, &mut shots).await;
        }
        on.goto("/poster").await;
        shoot_both(&on, "poster", "zh", &mut shots).await;
        println!(
            "{} screenshots in {}:\n  {}",
            shots.len(),
            harness::screenshot_dir().display(),
            shots.join("\n  ")
        );
        on.close().await;
        off.close().await;
    });
}

/// The narrowest phones: no sideways scrolling on the report form or the receipt.
#[test]
fn report_page_fits_a_320px_screen() {
    let (_site, server) = demo();
    let origin = server.public.clone();
    harness::run(move |wd| async move {
        let b = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        b.set_viewport(320, 640).await;
        let scroll = "return [document.documentElement.scrollWidth, window.innerWidth];";
        for lang in LANGS {
            b.goto(&format!("/{lang}/report")).await;
            let v = b.js(scroll).await;
            assert_eq!(v[1], json!(320), "viewport width");
            assert!(
                v[0].as_u64().unwrap() <= 320,
                "/{lang}/report at 320 px scrolls sideways: scrollWidth {}",
                v[0]
            );
            report_through_page(&b, lang, BODY_ZH, WHERE_ZH).await;
            let v = b.js(scroll).await;
            assert!(
                v[0].as_u64().unwrap() <= 320,
                "receipt {lang} at 320 px scrolls sideways: scrollWidth {}",
                v[0]
            );
        }
        b.close().await;
    });
}

/// axe-core's WCAG 2 A and AA rules on every resident page, both languages, both modes.
/// Fails on any serious or critical violation; prints everything it found.
#[test]
fn accessibility_axe_wcag2_a_and_aa() {
    let (_site, server) = demo();
    let origin = server.public.clone();
    let server = Arc::new(server);
    let s = server.clone();
    harness::run(move |wd| async move {
        let mut reports = Vec::new();
        let b = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        for lang in LANGS {
            b.goto(&format!("/{lang}/")).await;
            reports.push(b.axe(&format!("home {lang}")).await);
            b.goto(&format!("/{lang}/report")).await;
            reports.push(b.axe(&format!("report {lang}")).await);
            let receipt = report_through_page(&b, lang, BODY_ZH, WHERE_ZH).await;
            reports.push(b.axe(&format!("receipt {lang} (browser)")).await);
            b.goto(&format!("/{lang}/status")).await;
            reports.push(b.axe(&format!("status {lang}")).await);
            let day = blocking(|| s.status(&receipt)).json()["received_on"]
                .as_str()
                .unwrap()
                .to_string();
            assert_status_found(&b, lang, &receipt, &day).await;
            reports.push(b.axe(&format!("status answer {lang}")).await);
            assert_status_error(&b, lang, &one_digit_wrong(&receipt), "typo", 400).await;
            reports.push(b.axe(&format!("status typo {lang}")).await);
        }
        b.goto("/poster").await;
        reports.push(b.axe("poster zh").await);
        // The harness itself: a field with no label must be reported (critical), or a clean
        // result above would prove nothing.
        b.js("document.querySelector('main').insertAdjacentHTML('beforeend', '<input type=text id=axe-probe>'); return 1;")
            .await;
        let probe = b.axe("probe: unlabelled field").await;
        assert!(
            probe.severe().iter().any(|v| v["id"] == json!("label")),
            "axe did not catch an unlabelled <input>; is axe really running?"
        );
        // The server-made receipt page. Pages without JavaScript run no timers, so axe cannot
        // run there; instead this browser posts the form itself (form.submit() skips
        // report.js's submit handler), which gives the same server-rendered page.
        for lang in LANGS {
            b.goto(&format!("/{lang}/report")).await;
            b.type_into("textarea#body", BODY_ZH).await;
            mark_document(&b).await;
            b.js("document.getElementById('report-form').submit(); return 1;")
                .await;
            wait_new_document(&b, "the server-made receipt page").await;
            wait_receipt(&b, "server", &format!("receipt {lang} (server)")).await;
            reports.push(b.axe(&format!("receipt {lang} (server)")).await);
        }
        b.close().await;

        let mut severe = Vec::new();
        println!("axe-core, rules tagged wcag2a and wcag2aa, per page:");
        for r in &reports {
            println!(
                "  {:<24} {:>3} passed {:>3} violated {:>3} incomplete",
                r.label,
                r.passes,
                r.violations.len(),
                r.incomplete
            );
            for v in r.severe() {
                severe.push(format!("{}: {} ({})", r.label, v["id"], v["impact"]));
            }
        }
        let passes: usize = reports.iter().map(|r| r.passes).sum();
        let violations: usize = reports.iter().map(|r| r.violations.len()).sum();
        println!(
            "axe total over {} pages: {passes} rule passes, {violations} violations, {} serious or critical",
            reports.len(),
            severe.len()
        );
        assert!(
            severe.is_empty(),
            "serious or critical accessibility violations:\n  {}",
            severe.join("\n  ")
        );
    });
}

/// The inspectors' question, with a line break and something that must stay text.
const QUESTION_ZH: &str = "请问这笔钱是哪一年发的？\n有没有人能作证？<b>不是粗体</b>";

impl Keyed {
    /// Submits a tip, exports and decrypts it offline, signs a need_info update with
    /// `message` (`whistlebox update`) and imports it on the admin listener, as the
    /// inspectors would. Returns the receipt.
    fn tip_with_question(&self, body: &str, message: &str) -> String {
        let receipt = self.server.submit_bound(body, &[]);
        self.ask(body, message);
        receipt
    }

    /// Asks the resident of the tip with words `body` a question (need_info, `message`).
    fn ask(&self, body: &str, message: &str) {
        let work = tempfile::tempdir().unwrap();
        let tips = work.path().join("tips");
        let d = self.inspectors.decrypt(&self.server.export(), &tips);
        assert!(
            d.status.success(),
            "decrypt: {}",
            String::from_utf8_lossy(&d.stderr)
        );
        let id = common::read_decrypted(&tips)
            .into_iter()
            .find(|(_, text)| text == body)
            .map(|(id, _)| id)
            .expect("the tip among the decrypted ones");
        let out = work.path().join("update.json");
        let signed = common::run(&[
            "update",
            "--key",
            self.inspectors.key_file().to_str().unwrap(),
            "--passphrase-file",
            self.inspectors.pass_file().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--tip",
            &id,
            "--status",
            "need_info",
            "--message",
            message,
            "--tips",
            tips.to_str().unwrap(),
        ]);
        assert!(
            signed.status.success(),
            "whistlebox update: {}",
            String::from_utf8_lossy(&signed.stderr)
        );
        let bundle = std::fs::read(&out).unwrap();
        let imported = common::agent()
            .post(&format!("{}/admin/v1/import", self.server.admin))
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .send_bytes(&bundle);
        match imported {
            Ok(r) => assert_eq!(r.status(), 200),
            Err(e) => panic!("import: {e}"),
        }
    }
}

/// What a status answer shows, read from the page: timeline steps, "now", the question
/// note, and each reply's day and words (textContent, so line breaks are kept).
async fn shown_answer(b: &Browser) -> Value {
    b.js(r#"
        const r = document.getElementById('status-result');
        const q = document.getElementById('status-question');
        return {
            steps: Array.from(r.querySelectorAll('ol#status-timeline > li')).map(li => li.textContent.trim()),
            now: document.getElementById('status-now').textContent.trim(),
            question: q ? q.textContent.trim() : null,
            replies: Array.from(r.querySelectorAll('div.reply')).map(d => ({
                day: d.querySelector('p.hint').textContent.trim(),
                message: d.querySelector('p.message') ? d.querySelector('p.message').textContent : null,
            })),
            bold: r.querySelectorAll('b').length,
        };
    "#)
    .await
}

/// The resident's view of an answer with a question: with JavaScript the page asks
/// /api/v1/status and opens the reply in the browser (no navigation, no POST of the form);
/// without it the server opens it for that one page. Both show the same thing.
#[test]
fn replies_open_in_the_browser_and_without_javascript() {
    let k = keyed();
    let receipt = blocking(|| k.tip_with_question(BODY_ZH, QUESTION_ZH));
    let api = k.server.status(&receipt).json();
    assert_eq!(api["status"], json!("need_info"));
    let received = api["received_on"].as_str().unwrap().to_string();
    let asked = api["history"][0]["day"].as_str().unwrap().to_string();
    let expected_steps = json!([
        format!("{}：收到您的举报", day_as_written("zh", &received)),
        format!("{}：工作人员有问题想问您", day_as_written("zh", &asked)),
    ]);
    let origin = k.server.public.clone();
    let kk = k.clone();
    harness::run(move |wd| async move {
        let _k = kk;
        // JavaScript on: the answer is opened here.
        let b = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        b.goto("/zh/status").await;
        assert_script_pinned(&b, "the status page").await;
        assert!(!b.displayed("#followup").await, "follow-up shown too early");
        b.type_into("input#status-receipt", &receipt).await;
        mark_document(&b).await;
        b.click("button#status-submit").await;
        wait_opened_in_browser(&b).await;
        assert!(
            same_document(&b).await,
            "the page was reloaded: the form was posted instead of opened in the browser"
        );
        assert_eq!(b.path().await, "/zh/status", "the URL changed");
        assert_eq!(
            b.js("return performance.getEntriesByType('navigation').length;")
                .await,
            json!(1)
        );
        assert_eq!(api_status_of_page(&b).await, 200, "POST /api/v2/status");
        assert_eq!(b.count("#status-error").await, 0);
        let shown = shown_answer(&b).await;
        assert_eq!(shown["steps"], expected_steps, "timeline: {shown}");
        assert_eq!(
            shown["replies"],
            json!([{ "day": day_as_written("zh", &asked), "message": QUESTION_ZH }]),
            "the reply as opened in the browser"
        );
        assert_eq!(shown["bold"], json!(0), "the reply's words became markup");
        assert!(
            plain(shown["now"].as_str().unwrap()).contains("工作人员有问题想问您"),
            "{shown}"
        );
        assert!(
            b.displayed("#status-question").await,
            "no visible question note"
        );
        assert!(b.displayed("div.reply p.message").await);
        assert!(b.displayed("#status-opened").await);
        assert!(
            !b.displayed("#status-form").await,
            "the form is still shown"
        );
        assert!(b.displayed("#status-again").await);
        assert!(b.displayed("#followup").await, "no follow-up form");
        assert_eq!(
            b.attr("#followup-form input[type=hidden][name=receipt]", "value")
                .await
                .as_deref(),
            Some(receipt.as_str()),
            "the follow-up form does not carry the receipt"
        );
        assert_eq!(
            b.js("return document.getElementById('status-receipt').value;")
                .await,
            json!(""),
            "the receipt is left in the status field"
        );
        b.assert_same_origin_no_cookies("status answer opened in the browser")
            .await;
        let mut shots = Vec::new();
        shoot_both(&b, "status-replies", "zh", &mut shots).await;
        println!("screenshots: {}", shots.join(", "));

        // The follow-up form under the browser-made answer: when sealing here cannot reach
        // the server (network down), it posts like the server's form, which seals at once.
        // (Sealed in the browser: followup_sealed_in_the_browser.)
        b.type_into("textarea#followup-body", "是2024年发的，会计也知道。")
            .await;
        // The answer named the offices to seal for; without them the page asks for the
        // key, which fails here, so nothing is sealed and the form posts instead.
        assert!(b
            .attr("#followup-form", "data-box-keys")
            .await
            .is_some_and(|k| k.len() >= 40));
        b.js(
            "document.getElementById('followup-form').removeAttribute('data-box-keys'); \
              window.fetch = () => Promise.reject(new TypeError('offline')); return 1;",
        )
        .await;
        mark_document(&b).await;
        b.click("button#followup-submit").await;
        wait_new_document(&b, "the follow-up answer").await;
        assert!(
            b.displayed("#followup-done").await,
            "the follow-up was not taken: {}",
            b.text("main").await
        );

        // When the request fails (network down), the form is posted as without JavaScript.
        b.goto("/zh/status").await;
        b.js("window.fetch = () => Promise.reject(new TypeError('offline')); return 1;")
            .await;
        b.type_into("input#status-receipt", &receipt).await;
        mark_document(&b).await;
        b.click("button#status-submit").await;
        wait_new_document(&b, "the fallback form post").await;
        assert_eq!(b.document_status().await, 200);
        assert_eq!(
            b.attr("#status-result", "data-opened").await.as_deref(),
            Some("server"),
            "after a failed request the server's page should answer"
        );
        b.close().await;

        // JavaScript off: the form posts, the server opens the reply for that one page.
        let b = Browser::open(&wd, &origin, Js::Off, accept_language("zh")).await;
        let status = ask_status(&b, "zh", &receipt).await;
        assert_eq!(status, 200);
        assert_eq!(
            b.attr("#status-result", "data-opened").await.as_deref(),
            Some("server")
        );
        let by_server = shown_answer(&b).await;
        assert_eq!(
            by_server, shown,
            "the server's page and the browser's differ"
        );
        assert!(b.displayed("#status-question").await);
        assert!(b.displayed("div.reply p.message").await);
        b.close().await;
    });
}

/// Follow-up words with JavaScript: sealed in the browser like a tip and posted only as a
/// sealed box to /api/v1/followups; the page shows the server's confirmation words in place,
/// an error answer's sentence keeps the words, and offline they decrypt to exactly the typed
/// text in the tip's followup-0001.txt.
#[test]
fn followup_sealed_in_the_browser() {
    const FOLLOWUP_ZH: &str = "是2024年发的，会计也知道。\n她姓王，住在村东头。";
    let k = keyed();
    let receipt = blocking(|| k.server.submit_bound(BODY_ZH, &[]));
    let origin = k.server.public.clone();
    let typed = receipt.clone();
    harness::run(move |wd| async move {
        let b = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        b.goto("/zh/status").await;
        assert!(
            !b.displayed("#followup-done").await,
            "confirmation shown before anything was sent"
        );
        b.type_into("input#status-receipt", &typed).await;
        mark_document(&b).await;
        b.click("button#status-submit").await;
        wait_opened_in_browser(&b).await;
        assert!(b.displayed("#followup-form").await, "no follow-up form");
        b.type_into("textarea#followup-body", FOLLOWUP_ZH).await;

        // An error answer (a lookup value no tip has: 404) shows the server's sentence in
        // the alert region and keeps the words.
        b.js("const real = window.fetch; window.__wrongLookup = true; \
             window.fetch = (url, options) => { \
               if (window.__wrongLookup && String(url).includes('/api/v2/followups')) { \
                 const body = JSON.parse(options.body); \
                 body.lookup = btoa(String.fromCharCode.apply(null, new Array(32).fill(7))); \
                 options = Object.assign({}, options, { body: JSON.stringify(body) }); } \
               return real(url, options); }; return 1;")
            .await;
        b.click("button#followup-submit").await;
        wait_followup_error(&b).await;
        assert!(
            same_document(&b).await,
            "the error answer reloaded the page"
        );
        assert!(b.displayed("#followup-error[role=alert]").await);
        assert!(b.displayed("#followup-form").await, "the form went away");
        assert!(!b.displayed("#followup-done").await);
        assert_eq!(
            b.js("return document.getElementById('followup-body').value;")
                .await,
            json!(FOLLOWUP_ZH),
            "the words were not kept after an error"
        );
        let error = b.text("#followup-error").await;
        assert!(
            !error.contains(&unknown_receipt()),
            "the error repeats the receipt: {error}"
        );

        // The right lookup value: sealed here, taken (201), confirmed in place.
        b.js("window.__wrongLookup = false; return 1;").await;
        b.click("button#followup-submit").await;
        b.wait_for(
            "(() => { const d = document.querySelector('#followup-done[data-sealed=browser]'); \
               return d && !d.hidden; })()",
            "the follow-up confirmation (sealed in the browser)",
            WAIT,
        )
        .await;
        assert!(
            same_document(&b).await,
            "the page was reloaded: the follow-up form was posted instead of sealed here"
        );
        assert_eq!(b.path().await, "/zh/status", "the URL changed");
        assert_eq!(
            b.js("return performance.getEntriesByType('navigation').length;")
                .await,
            json!(1)
        );
        assert!(
            b.displayed("#followup-done").await,
            "no visible confirmation"
        );
        assert!(
            !b.displayed("#followup-form").await,
            "the form is still shown"
        );
        assert!(
            !b.displayed("#followup-error").await,
            "the old error is still shown"
        );
        let done = plain(&b.text("#followup-done").await);
        assert!(
            done.contains("已收到您的补充") && done.contains("以后还用同一个查询码查看进展"),
            "the confirmation does not say the server's words: {done:?}"
        );
        assert_eq!(
            b.js("return document.getElementById('followup-body').value;")
                .await,
            json!(""),
            "the words were left in the field"
        );
        let last = "performance.getEntriesByType('resource').filter(e => new URL(e.name).pathname === '/api/v2/followups').map(e => e.responseStatus)";
        b.wait_for(
            &format!("{last}.length >= 2"),
            "the /api/v2/followups requests",
            WAIT,
        )
        .await;
        assert_eq!(
            b.js(&format!("return {last};")).await,
            json!([404, 201]),
            "POST /api/v2/followups"
        );
        assert_eq!(
            b.js("return performance.getEntriesByType('resource').filter(e => new URL(e.name).pathname.endsWith('/followup')).length;")
                .await,
            json!(0),
            "the words went to the form's no-JavaScript address"
        );
        b.assert_same_origin_no_cookies("follow-up sealed in the browser")
            .await;
        b.close().await;
    });

    // Offline: the tip's folder holds the follow-up, exactly as typed.
    let out = tempfile::tempdir().unwrap();
    let run = blocking(|| k.inspectors.decrypt(&k.server.export(), out.path()));
    assert!(
        run.status.success(),
        "whistlebox decrypt failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let id = common::read_decrypted(out.path())
        .into_iter()
        .find(|(_, text)| text == BODY_ZH)
        .map(|(id, _)| id)
        .expect("the tip among the decrypted ones");
    let folder = out.path().join(&id);
    assert_eq!(
        std::fs::read_to_string(folder.join("followup-0001.txt")).unwrap(),
        FOLLOWUP_ZH,
        "the follow-up as decrypted offline"
    );
    assert!(
        !folder.join("followup-0002.txt").exists(),
        "the refused attempt was filed too"
    );
}

/// Waits until the follow-up form shows an error sentence.
async fn wait_followup_error(b: &Browser) {
    b.wait_for(
        "(() => { const e = document.getElementById('followup-error'); \
           return e && !e.hidden && e.textContent.trim() !== ''; })()",
        "the follow-up error",
        WAIT,
    )
    .await;
}

/// Waits until the status script has fetched the answer and opened it in the page.
async fn wait_opened_in_browser(b: &Browser) {
    b.wait_for(
        "document.querySelector('#status-result[data-opened=browser]')",
        "the answer opened in the browser",
        WAIT,
    )
    .await;
}

/// A follow-up that reached the server but whose answer was lost (here a proxy's error page
/// in place of the server's JSON) is never posted a second time through the plain form: the
/// page says it cannot tell whether the words arrived, keeps them, and stays put.
#[test]
fn a_lost_follow_up_answer_never_sends_the_words_twice() {
    let k = keyed();
    let receipt = blocking(|| k.server.submit_bound(BODY_EN, &[]));
    let origin = k.server.public.clone();
    let kk = k.clone();
    harness::run(move |wd| async move {
        let k = kk;
        let b = Browser::open(&wd, &origin, Js::On, accept_language("en")).await;
        b.goto("/en/status").await;
        b.type_into("input#status-receipt", &receipt).await;
        b.click("button#status-submit").await;
        wait_opened_in_browser(&b).await;
        // The request goes through; its answer is replaced, as a failing proxy would.
        b.js(
            "const real = window.fetch; window.fetch = async (url, options) => { \
                const answer = await real(url, options); \
                return String(url).includes('/api/v2/followups') \
                  ? new Response('<html>502 Bad Gateway</html>', { status: 502 }) : answer; }; \
              return 1;",
        )
        .await;
        mark_document(&b).await;
        b.type_into("textarea#followup-body", "one more detail")
            .await;
        b.click("button#followup-submit").await;
        wait_followup_error(&b).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(same_document(&b).await, "the plain form was posted too");
        let said = plain(&b.text("#followup-error").await);
        assert!(said.contains("could not tell"), "{said}");
        assert_eq!(
            b.js("return document.getElementById('followup-body').value;")
                .await,
            json!("one more detail"),
            "the words were not kept"
        );
        let bundle: Value = serde_json::from_slice(&blocking(|| k.server.export())).unwrap();
        let tip = bundle["tips"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| !t["followups"].as_array().unwrap().is_empty())
            .cloned()
            .expect("the follow-up arrived");
        assert_eq!(tip["followups"].as_array().unwrap().len(), 1, "filed twice");
        b.close().await;
    });
}

/// A TCP relay between the browser and the server that keeps every byte the browser sent:
/// what the server received, as a network observer or a server logging its requests would.
struct Recorder {
    origin: String,
    sent: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Recorder {
    fn start(server: &str) -> Self {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        let upstream = server.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { break };
                let Ok(mut server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut client_r, mut server_w) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = client_r.read(&mut buf) {
                        if n == 0 || server_w.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = server_w.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Self { origin, sent }
    }

    fn sent(&self) -> Vec<u8> {
        self.sent.lock().unwrap().clone()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Receipt version 2 in Chromium: with JavaScript the page makes the receipt and runs
/// Argon2id on it (in a worker), and the server receives neither the receipt's digits nor the
/// reply key; replies still open in the page and a follow-up is taken; the same receipt then
/// works with JavaScript off.
#[test]
fn receipts_hashed_in_the_browser_never_reach_the_server() {
    use base64::Engine;
    use whistlebox::crypto::{Argon2Params, BoxSecretKey};
    use whistlebox::domain::receipt::{client_derivation, Receipt};
    let b64 = base64::engine::general_purpose::STANDARD;
    let k = keyed();
    let recorder = Arc::new(Recorder::start(&k.server.public));
    let origin = recorder.origin.clone();
    let (kk, rec) = (k.clone(), recorder.clone());
    harness::run(move |wd| async move {
        let (k, recorder) = (kk, rec);
        let b = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        b.goto("/zh/report").await;
        assert!(
            b.attr("form#report-form", "data-kdf-salt").await.is_some(),
            "the report form gives no receipt parameters"
        );
        let started = std::time::Instant::now();
        fill_and_send_report(&b, BODY_ZH, WHERE_ZH).await;
        let receipt = wait_receipt(&b, "browser", "report (receipt made here)").await;
        println!(
            "browser: typing, Argon2id in the worker and sending took {} ms",
            started.elapsed().as_millis()
        );
        // How long the derivation alone takes in this Chromium (for the README).
        let ms = b
            .js(r#"
                const t0 = performance.now();
                const w = new Worker('/assets/receipt-worker.js');
                const f = document.getElementById('report-form');
                const kdf = { salt: f.getAttribute('data-kdf-salt'), ops: Number(f.getAttribute('data-kdf-ops')),
                              mem_bytes: Number(f.getAttribute('data-kdf-mem')) };
                return new Promise((ok) => {
                  w.onmessage = () => { w.terminate(); ok(performance.now() - t0); };
                  w.postMessage({ digits: '12345678901234567891', kdf });
                });
            "#)
            .await;
        println!("browser: one receipt derivation in a worker: {ms} ms");

        let fetched = b.fetched().await;
        assert!(
            fetched.iter().any(|u| u == &b.url("/api/v2/tips")),
            "{fetched:?}"
        );
        assert!(
            !fetched.iter().any(|u| u.contains("/api/v1/")),
            "{fetched:?}"
        );

        // What the server files and what the tip binds are the receipt's version 2 keys.
        let key = blocking(|| k.server.get("/api/v1/key").json());
        let salt: [u8; 16] = b64
            .decode(key["receipt_kdf"]["salt"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let parsed = Receipt::parse(&receipt).unwrap();
        let keys = client_derivation(&parsed, &salt, Argon2Params::RECEIPT).unwrap();
        let reply = BoxSecretKey::from_seed(&keys.reply_seed);
        let tips = blocking(|| k.decrypted());
        assert_eq!(tips[0].0, BODY_ZH);
        assert_eq!(
            tips[0].1["bound_reply_key"],
            json!(b64.encode(reply.public_key().as_bytes()))
        );

        // An inspectors' question, opened in the page.
        blocking(|| k.ask(BODY_ZH, QUESTION_ZH));
        b.goto("/zh/status").await;
        b.type_into("input#status-receipt", &receipt).await;
        mark_document(&b).await;
        b.click("button#status-submit").await;
        wait_opened_in_browser(&b).await;
        assert!(same_document(&b).await, "the status form was posted");
        let shown = shown_answer(&b).await;
        assert_eq!(
            shown["replies"][0]["message"],
            json!(QUESTION_ZH),
            "{shown}"
        );
        let statuses = b
            .js("return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname).filter(p => p.startsWith('/api/'));")
            .await;
        assert_eq!(
            statuses,
            json!(["/api/v2/status"]),
            "only the lookup value was sent"
        );

        // A follow-up from the page, boxed here with the reply key.
        b.type_into("textarea#followup-body", "会计也知道这件事。")
            .await;
        b.click("button#followup-submit").await;
        b.wait_for(
            "(() => { const d = document.querySelector('#followup-done[data-sealed=browser]'); \
               return d && !d.hidden; })()",
            "the follow-up confirmation",
            WAIT,
        )
        .await;
        b.close().await;

        // The server received no digit string of the receipt and nothing of the reply key.
        let sent = recorder.sent();
        assert!(
            contains(&sent, b"/api/v2/followups"),
            "the recorder saw the requests"
        );
        let plain_digits: String = receipt.chars().filter(|c| c.is_ascii_digit()).collect();
        for needle in [
            plain_digits.clone(),
            receipt.clone(),
            receipt.replace(' ', "+"),
            plain_digits[..8].to_string(),
            plain_digits[12..].to_string(),
            b64.encode(&keys.reply_seed[..]),
            b64.encode(reply.expose_bytes()),
        ] {
            assert!(
                !contains(&sent, needle.as_bytes()),
                "the server received {needle:?}"
            );
        }
        assert!(!contains(&sent, &keys.reply_seed[..]));
        assert!(contains(&sent, keys.lookup_value.to_base64().as_bytes()));

        // The same receipt without JavaScript: the server path finds it and opens the reply.
        let b = Browser::open(&wd, &origin, Js::Off, accept_language("zh")).await;
        assert_eq!(ask_status(&b, "zh", &receipt).await, 200);
        assert_eq!(
            b.attr("#status-result", "data-opened").await.as_deref(),
            Some("server")
        );
        let by_server = shown_answer(&b).await;
        assert_eq!(by_server["replies"], shown["replies"]);
        b.close().await;
    });
}
