//! Offices in a real browser (headless Chromium through chromedriver, as tests/browser.rs):
//! the "who should read this" question on the report form with JavaScript on and off, and
//! the resident's consent to moving a case, in both languages. Screenshots land in
//! target/screenshots/ (offices-*.png).

mod common;
#[path = "browser/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use common::offices::{opened, tip_count, County};
use harness::{Browser, Js};

const WAIT: Duration = Duration::from_secs(20);

fn accept_language(lang: &str) -> &'static str {
    match lang {
        "zh" => "zh-CN,zh;q=0.9",
        _ => "en-US,en;q=0.9",
    }
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn mark_document(b: &Browser) {
    b.js("window.__sameDocument = true; return true;").await;
}

async fn wait_new_document(b: &Browser, what: &str) {
    b.wait_for(
        "window.__sameDocument !== true && document.readyState === 'complete'",
        what,
        WAIT,
    )
    .await;
}

/// Words each office opened from its own export, sorted.
fn read_by(c: &County, office: &str) -> Vec<String> {
    let (key, bundle) = match office {
        "county" => (&c.county, c.export(None)),
        "dongshan" => (&c.dongshan, c.export(Some("dongshan"))),
        _ => (&c.xishan, c.export(Some("xishan"))),
    };
    if tip_count(&bundle) == 0 {
        return Vec::new();
    }
    let out = tempfile::tempdir().unwrap();
    let d = key.decrypt(&bundle, &out.path().join("o"));
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
    let mut words: Vec<String> = opened(&out.path().join("o")).into_values().collect();
    words.sort();
    words
}

/// Fills the report form, answers "who should read this", sends, and returns the receipt.
async fn report(b: &Browser, lang: &str, body: &str, town: Option<&str>) -> String {
    b.goto(&format!("/{lang}/report")).await;
    b.find("fieldset#readers").await;
    b.type_into("textarea#body", body).await;
    match town {
        Some(t) => {
            b.click("input#readers-town").await;
            b.js(&format!(
                "document.getElementById('town').value = '{t}'; return 1;"
            ))
            .await;
        }
        None => {
            // The default is the county alone: nothing to press.
            assert_eq!(
                b.js("return document.getElementById('readers-county').checked;")
                    .await,
                json!(true)
            );
        }
    }
    mark_document(b).await;
    b.click("button#report-submit").await;
    let mode = if b.js == Js::On { "browser" } else { "server" };
    b.wait_for(
        &format!(
            "(() => {{ const v = document.getElementById('receipt-view'); \
               return v && !v.hidden && v.getAttribute('data-mode') === '{mode}' \
                 && /\\d/.test(document.getElementById('receipt-digits').textContent); }})()"
        ),
        &format!("the receipt ({lang}, {mode})"),
        WAIT,
    )
    .await;
    b.text("#receipt-digits").await.trim().to_string()
}

/// The report form asks who should read the report, with JavaScript on (sealed in the
/// browser for the offices chosen) and off (sealed on arrival), in both languages; a town
/// office reads only what is addressed to it.
#[test]
fn the_resident_chooses_who_reads_with_and_without_javascript() {
    let c = Arc::new(County::new());
    let origin = c.server.public.clone();
    let cc = c.clone();
    harness::run(move |wd| async move {
        let c = cc;
        let on = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        let off = Browser::open(&wd, &origin, Js::Off, accept_language("en")).await;

        // The question, in plain words, the county alone chosen by default, the towns listed.
        on.goto("/zh/report").await;
        assert_eq!(on.text("#readers legend").await, "谁来读这份举报？");
        assert!(on
            .text("#readers-why")
            .await
            .contains("镇里连有这份举报都不会知道"));
        let towns = on
            .js("return Array.from(document.querySelectorAll('#town option')).map(o => [o.value, o.textContent]);")
            .await;
        assert_eq!(
            towns,
            json!([
                ["", "请选择"],
                ["dongshan", "东山镇纪委"],
                ["xishan", "西山镇纪委"]
            ])
        );
        on.screenshot("offices-report-choice-zh-360", 360, 1400)
            .await;
        off.goto("/en/report").await;
        assert_eq!(
            off.text("#readers legend").await,
            "Who should read this report?"
        );
        off.screenshot("offices-report-choice-en-360", 360, 1400)
            .await;

        // "My town" without a town: JavaScript says so, and nothing is sent.
        on.goto("/zh/report").await;
        on.type_into("textarea#body", "没选镇").await;
        on.click("input#readers-town").await;
        mark_document(&on).await;
        on.click("button#report-submit").await;
        on.wait_for(
            "!document.getElementById('report-error').hidden",
            "the missing-town message",
            WAIT,
        )
        .await;
        assert!(on.text("#report-error").await.contains("请选择您所在的镇"));
        assert!(!on.displayed("#receipt-view").await);

        let r1 = report(&on, "zh", "浏览器加密，只给县里", None).await;
        let r2 = report(&on, "zh", "浏览器加密，县里和东山镇", Some("dongshan")).await;
        let fetched = on.fetched().await;
        assert!(
            fetched.iter().any(|u| u == &on.url("/api/v2/tips")),
            "sealed in the page and posted to the API; fetched: {fetched:?}"
        );
        on.assert_same_origin_no_cookies("report with a town office")
            .await;
        let r3 = report(
            &off,
            "en",
            "sealed by the server, county and Xishan",
            Some("xishan"),
        )
        .await;
        let r4 = report(&off, "en", "sealed by the server, county only", None).await;
        // Without JavaScript, "my town" without a town is a plain refusal that keeps the words.
        off.goto("/en/report").await;
        off.type_into("textarea#body", "no town picked").await;
        off.click("input#readers-town").await;
        mark_document(&off).await;
        off.click("button#report-submit").await;
        wait_new_document(&off, "the refusal").await;
        assert_eq!(off.document_status().await, 400);
        assert!(off
            .text("#report-error")
            .await
            .contains("Please choose your town"));
        assert_eq!(
            off.js("return document.getElementById('body').value;")
                .await,
            json!("no town picked")
        );

        let (county, dongshan, xishan) = blocking(|| {
            (
                read_by(&c, "county"),
                read_by(&c, "dongshan"),
                read_by(&c, "xishan"),
            )
        });
        let mut all = vec![
            "浏览器加密，只给县里".to_string(),
            "浏览器加密，县里和东山镇".into(),
            "sealed by the server, county and Xishan".into(),
            "sealed by the server, county only".into(),
        ];
        all.sort();
        assert_eq!(county, all, "the county reads every report");
        assert_eq!(dongshan, ["浏览器加密，县里和东山镇"]);
        assert_eq!(xishan, ["sealed by the server, county and Xishan"]);
        for r in [&r1, &r2, &r3, &r4] {
            assert_eq!(blocking(|| c.server.status(r)).status, 200);
        }
        on.close().await;
        off.close().await;
    });
}

/// Checks a receipt on the status page (JavaScript on) and waits for the answer.
async fn ask(b: &Browser, receipt: &str) {
    b.goto("/zh/status").await;
    b.type_into("input#status-receipt", receipt).await;
    mark_document(b).await;
    b.click("button#status-submit").await;
    b.wait_for(
        "document.getElementById('status-result')",
        "the status answer",
        WAIT,
    )
    .await;
}

/// Consent to a move on the status page. With JavaScript, in Chinese: the receipt's keys are
/// derived in the page, "do not agree" and then "agree" (for another office) are answered in
/// place, the town's key opened in the page, and no receipt digit is sent. Without it, in
/// English: the form posts the receipt and the server opens the key.
#[test]
fn the_resident_is_asked_before_a_town_office_reads_the_report() {
    let c = Arc::new(County::new());
    let receipt = c.submit("镇长的亲戚冒领了补贴", &[]);
    let second = c.submit("second report: the clinic's kickbacks", &[]);
    c.county_proposes_move("镇长的亲戚冒领了补贴", "dongshan", "first");
    let origin = c.server.public.clone();
    let cc = c.clone();
    harness::run(move |wd| async move {
        let c = cc;
        let on = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        ask(&on, &receipt).await;
        assert_eq!(
            on.attr("#status-result", "data-opened").await.as_deref(),
            Some("browser")
        );
        assert_eq!(
            on.text(".consent h2").await,
            "要把您的举报转给东山镇纪委吗？"
        );
        assert!(on
            .text("#status-timeline")
            .await
            .contains("东山县纪委监委提出把您的举报转给东山镇纪委"));
        assert_eq!(on.count(".consent").await, 1, "one question");
        on.screenshot("offices-consent-zh-360", 360, 1200).await;
        let axe = on.axe("status answer with the consent question, zh").await;
        assert!(axe.severe().is_empty(), "{}", axe.describe());
        on.click(".consent button.consent-decline").await;
        on.wait_for(
            "document.querySelectorAll('.consent').length === 0 && /您没有同意/.test(document.getElementById('status-timeline').textContent)",
            "the answer to \"do not agree\", in place",
            WAIT,
        )
        .await;
        assert_eq!(on.path().await, "/zh/status", "answered in the page");
        assert!(blocking(|| read_by(&c, "dongshan")).is_empty());

        // Asked about another office (never again about the same one): "agree" in place.
        blocking(|| c.county_proposes_move("镇长的亲戚冒领了补贴", "xishan", "second"));
        ask(&on, &receipt).await;
        assert_eq!(
            on.text(".consent h2").await,
            "要把您的举报转给西山镇纪委吗？"
        );
        on.click(".consent button.consent-agree").await;
        on.wait_for(
            "document.querySelectorAll('.consent').length === 0 && /您同意了/.test(document.getElementById('status-timeline').textContent)",
            "the answer to \"agree\", in place",
            WAIT,
        )
        .await;
        let fetched = on.fetched().await;
        assert!(
            fetched.iter().any(|u| u == &on.url("/api/v2/consent")),
            "answered through /api/v2/consent; fetched: {fetched:?}"
        );
        assert!(
            !fetched
                .iter()
                .any(|u| u.ends_with("/consent") && !u.contains("/api/v2/")),
            "the receipt form was posted: {fetched:?}"
        );
        on.screenshot("offices-consent-agreed-zh-360", 360, 1200)
            .await;
        assert_eq!(blocking(|| read_by(&c, "xishan")), ["镇长的亲戚冒领了补贴"]);
        assert!(blocking(|| read_by(&c, "dongshan")).is_empty());
        let status: Value = blocking(|| c.server.status(&receipt)).json();
        assert_eq!(status["moves"][1]["state"], "agreed");
        // A follow-up from the page now reaches both offices that read the report: the page
        // makes the envelope for them with the reply key it derived, and each office's
        // decrypt checks it came from the receipt holder.
        on.type_into("textarea#followup-body", "账本在村会计家里")
            .await;
        on.click("button#followup-submit").await;
        on.wait_for(
            "!document.getElementById('followup-done').hidden",
            "the follow-up taken",
            WAIT,
        )
        .await;
        let followups = blocking(|| {
            let mut found = Vec::new();
            for (office, bundle) in [
                (&c.xishan, c.export(Some("xishan"))),
                (&c.county, c.export(None)),
            ] {
                let out = tempfile::tempdir().unwrap();
                let dir = out.path().join("o");
                let d = office.decrypt(&bundle, &dir);
                assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
                for tip in std::fs::read_dir(&dir).unwrap() {
                    let path = tip.unwrap().path().join("followup-0001.txt");
                    if let Ok(text) = std::fs::read_to_string(path) {
                        found.push(text);
                    }
                }
            }
            found
        });
        assert_eq!(followups, ["账本在村会计家里", "账本在村会计家里"]);

        // Without JavaScript, in English, about the second report: the resident agrees.
        blocking(|| {
            c.county_proposes_move("second report: the clinic's kickbacks", "dongshan", "third")
        });
        let off = Browser::open(&wd, &origin, Js::Off, accept_language("en")).await;
        off.goto("/en/status").await;
        off.type_into("input#status-receipt", &second).await;
        mark_document(&off).await;
        off.click("button#status-submit").await;
        wait_new_document(&off, "the status answer").await;
        assert_eq!(
            off.text(".consent h2").await,
            "Pass your report to 东山镇纪委?"
        );
        off.screenshot("offices-consent-en-360", 360, 1200).await;
        mark_document(&off).await;
        off.click(".consent button.consent-agree").await;
        wait_new_document(&off, "the answer to \"agree\"").await;
        assert_eq!(off.path().await, "/en/consent");
        let timeline = off.text("#status-timeline").await;
        assert!(
            timeline.contains("you agreed, and 东山镇纪委 can now read your report too"),
            "{timeline}"
        );
        off.screenshot("offices-consent-agreed-en-360", 360, 1200)
            .await;
        assert_eq!(
            blocking(|| read_by(&c, "dongshan")),
            ["second report: the clinic's kickbacks"]
        );
        on.close().await;
        off.close().await;
    });
}
