//! The residents' pages: home, report, receipt, status and the poster. Server-rendered with
//! maud, which escapes every interpolated value; words come from the Fluent files.
//!
//! Every page works without JavaScript. On the report page, the sealing script (when it was
//! built) seals the tip in the browser and posts only the sealed box to `/api/v1/tips`;
//! without it, the form posts here and the server seals the words in memory at once.

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;
use zeroize::Zeroize;

use super::assets;
use super::errors::{json_error, StatusError, SubmitError};
use super::i18n::{date, t, t_args, Lang};
use super::AppState;
use crate::domain::receipt::{Receipt, ReceiptError, ReceiptKeys};
use crate::domain::reply::ReplyPlaintext;
use crate::domain::tip::{SealedTip, SealedTipError, TipPlaintext};
use crate::domain::Status;
use crate::store::{MonthCounts, TipView};
use std::collections::BTreeMap;

/// Optional questions of the report form, in order.
const OPTIONAL_FIELDS: [&str; 5] = ["where", "who", "when", "amount", "proof"];
/// Topics, in plain words; the last is the default.
const TOPICS: [&str; 6] = [
    "pensions", "village", "clinics", "schools", "police", "unsure",
];
/// Longest answer to one optional question, in characters.
const MAX_FIELD_CHARS: usize = 2000;

/// Form bodies: oversize input is refused with a JSON error before it is read whole.
pub fn form_config(limit: usize) -> web::FormConfig {
    web::FormConfig::default()
        .limit(limit)
        .error_handler(|err, _| {
            let response = json_error(
                StatusCode::BAD_REQUEST,
                "The form could not be read. Please go back and send it again.",
            );
            actix_web::error::InternalError::from_response(err, response).into()
        })
}

struct Page<'a> {
    lang: Lang,
    demo: bool,
    title: String,
    /// Path of this page without the language prefix, for the language switch.
    path: &'a str,
    body_class: &'a str,
    script: bool,
}

fn layout(page: Page<'_>, content: Markup) -> Markup {
    let l = page.lang;
    let integrity = assets::integrity();
    html! {
        (DOCTYPE)
        html lang=(l.html_lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (page.title) " · " (t(l, "site-name")) }
                link rel="stylesheet" href="/assets/site.css" integrity=(integrity.css);
                @if page.script {
                    @if let Some(js) = &integrity.js {
                        script src="/assets/report.js" integrity=(js) defer {}
                    }
                }
            }
            body class=(page.body_class) {
                @if page.demo {
                    p.demo #demo-banner role="alert" { (t(l, "demo-banner")) }
                }
                header.site {
                    a.name href={ "/" (l.code()) "/" } { (t(l, "site-name")) }
                    a #lang-switch lang=(l.other().html_lang())
                        href={ "/" (l.other().code()) (page.path) } { (t(l, "lang-switch")) }
                }
                main #main tabindex="-1" { (content) }
                footer.site { p { (t(l, "home-paper")) } }
            }
        }
    }
}

fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(ContentType::html())
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((header::VARY, "Accept-Language"))
        .body(markup.into_string())
}

fn lang_of(path: &web::Path<String>) -> Option<Lang> {
    Lang::from_code(path.as_str())
}

/// `GET /`: the home page in the resident's language.
pub async fn home_negotiated(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    render_home(Lang::from_accept_language(accept), &state)
}

/// `GET /{lang}/`
pub async fn home(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match lang_of(&path) {
        Some(lang) => render_home(lang, &state),
        None => not_found(req).await,
    }
}

fn render_home(l: Lang, state: &AppState) -> HttpResponse {
    let content = html! {
        h1 { (t(l, "home-title")) }
        p.lead { (t(l, "home-lead")) }
        a.button #go-report href={ "/" (l.code()) "/report" } { (t(l, "home-report")) }
        a.button.secondary #go-status href={ "/" (l.code()) "/status" } { (t(l, "home-status")) }
        h2 { (t(l, "home-who-title")) }
        p { (t(l, "home-who")) }
        h2 { (t(l, "home-kept-title")) }
        p { (t(l, "home-kept")) }
        h2 { (t(l, "home-safe-title")) }
        p { (t(l, "home-safe")) }
        p { a #go-numbers href={ "/" (l.code()) "/numbers" } { (t(l, "home-numbers")) } }
    };
    let page = Page {
        lang: l,
        demo: state.demo,
        title: t(l, "home-title"),
        path: "/",
        body_class: "home-page",
        script: false,
    };
    html_response(StatusCode::OK, layout(page, content))
}

/// What the no-JavaScript report form posts. Wiped when dropped.
#[derive(Deserialize, Default)]
pub struct ReportForm {
    #[serde(default)]
    body: String,
    #[serde(default, rename = "where")]
    place: String,
    #[serde(default)]
    who: String,
    #[serde(default)]
    when: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    proof: String,
    #[serde(default)]
    topic: String,
}

impl Drop for ReportForm {
    fn drop(&mut self) {
        for s in [
            &mut self.body,
            &mut self.place,
            &mut self.who,
            &mut self.when,
            &mut self.amount,
            &mut self.proof,
            &mut self.topic,
        ] {
            s.zeroize();
        }
    }
}

impl ReportForm {
    fn field(&self, name: &str) -> &str {
        match name {
            "where" => &self.place,
            "who" => &self.who,
            "when" => &self.when,
            "amount" => &self.amount,
            "proof" => &self.proof,
            _ => "",
        }
    }

    /// The tip as the browser would have built it; `None` when there is nothing to send.
    fn to_plaintext(&self) -> Option<TipPlaintext> {
        // Browsers send textarea line breaks as CRLF; the sealed format keeps plain LF.
        let body = self.body.replace("\r\n", "\n");
        if body.trim().is_empty() {
            return None;
        }
        let mut tip = TipPlaintext::new(body);
        for name in OPTIONAL_FIELDS {
            let value: String = self
                .field(name)
                .replace("\r\n", "\n")
                .trim()
                .chars()
                .take(MAX_FIELD_CHARS)
                .collect();
            if !value.is_empty() {
                tip.fields.insert(name.into(), value.into());
            }
        }
        let topic = if TOPICS.contains(&self.topic.as_str()) {
            self.topic.as_str()
        } else {
            "unsure"
        };
        tip.fields.insert("topic".into(), topic.into());
        Some(tip)
    }
}

/// `GET /{lang}/report`
pub async fn report_form(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match lang_of(&path) {
        Some(l) => html_response(
            StatusCode::OK,
            report_page(l, &state, &ReportForm::default(), None),
        ),
        None => not_found(req).await,
    }
}

/// `POST /{lang}/report`: the no-JavaScript path. The words are sealed at once, in memory,
/// and wiped; only the sealed box goes to the store.
pub async fn report_submit(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    form: web::Form<ReportForm>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let form = form.into_inner();
    let refuse = |status, key| html_response(status, report_page(l, &state, &form, Some(key)));
    let Some(tip) = form.to_plaintext() else {
        return refuse(StatusCode::BAD_REQUEST, "report-error-empty");
    };
    match state.intake.accept_plain_tip(tip).await {
        Ok((receipt, _day)) => {
            let page = Page {
                lang: l,
                demo: state.demo,
                title: t(l, "receipt-title"),
                path: "/report",
                body_class: "receipt-page",
                script: false,
            };
            html_response(
                StatusCode::OK,
                layout(page, receipt_view(l, &state, Some(&receipt))),
            )
        }
        Err(SubmitError::Sealed(SealedTipError::TooLarge { .. })) => {
            refuse(StatusCode::PAYLOAD_TOO_LARGE, "report-error-too-long")
        }
        Err(SubmitError::Sealed(_)) => refuse(StatusCode::BAD_REQUEST, "report-error-failed"),
        Err(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, "report-error-failed"),
    }
}

fn report_page(l: Lang, state: &AppState, form: &ReportForm, error: Option<&str>) -> Markup {
    let key = STANDARD.encode(state.intake.keys.box_key.as_bytes());
    let chosen = if TOPICS.contains(&form.topic.as_str()) {
        form.topic.as_str()
    } else {
        "unsure"
    };
    let content = html! {
        div #report-area {
            h1 { (t(l, "report-title")) }
            p { (t(l, "report-intro")) }
            div #report-error .error role="alert" hidden[error.is_none()] {
                p.msg { @if let Some(key) = error { (t(l, key)) } }
            }
            form #report-form method="post" action={ "/" (l.code()) "/report" }
                data-box-key=(key)
                data-msg-network=(t(l, "report-msg-network"))
                data-msg-failed=(t(l, "report-error-failed")) {
                label for="body" { (t(l, "field-body"))
                    span.hint #body-hint { (t(l, "field-body-hint")) } }
                textarea #body name="body" required rows="8" aria-describedby="body-hint" { (form.body) }
                @for name in OPTIONAL_FIELDS {
                    label for=(name) { (t(l, &format!("field-{name}")))
                        span.optional { (t(l, "optional")) } }
                    @if name == "proof" {
                        textarea id=(name) name=(name) rows="3" { (form.field(name)) }
                    } @else {
                        input id=(name) type="text" name=(name) value=(form.field(name)) autocomplete="off";
                    }
                }
                fieldset {
                    legend { (t(l, "topic-legend")) }
                    @for topic in TOPICS {
                        label.choice {
                            input type="radio" name="topic" value=(topic) checked[topic == chosen];
                            (t(l, &format!("topic-{topic}")))
                        }
                    }
                }
                p.note { (t(l, "report-seal-note")) }
                button #report-submit type="submit" { (t(l, "report-submit")) }
            }
            div #report-sending role="status" hidden { p { (t(l, "report-sending")) } }
        }
        (receipt_view(l, state, None))
    };
    let page = Page {
        lang: l,
        demo: state.demo,
        title: t(l, "report-title"),
        path: "/report",
        body_class: "report-page",
        script: true,
    };
    layout(page, content)
}

/// The receipt, how to keep it, a printable card and the "did you copy it" check. With
/// `receipt = None` it is the hidden template the sealing script fills in.
fn receipt_view(l: Lang, state: &AppState, receipt: Option<&str>) -> Markup {
    let mode = if receipt.is_some() {
        "server"
    } else {
        "browser"
    };
    let last_group = receipt.and_then(|r| r.rsplit(' ').next()).unwrap_or("");
    // Accept ASCII and full-width digits, as a Chinese input method may type them; the CSS
    // shows the "well done" line once the input matches, so this works without JavaScript.
    let pattern: String = last_group
        .chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| format!("[{d}{}]", char::from_u32('０' as u32 + d).unwrap_or('０')))
        .collect();
    html! {
        section #receipt-view data-mode=(mode) tabindex="-1" hidden[receipt.is_none()] {
            h1 { (t(l, "receipt-title")) }
            p.receipt { span #receipt-digits { @if let Some(r) = receipt { (r) } } }
            p #receipt-how {
                @if receipt.is_some() { (t(l, "receipt-sealed-server")) } @else { (t(l, "receipt-sealed-browser")) }
            }
            p { (t(l, "receipt-explain")) }
            ul {
                li { (t(l, "receipt-keep-paper")) }
                li { (t(l, "receipt-keep-photo")) }
                li { (t(l, "receipt-keep-tell")) }
            }
            div.receipt-confirm {
                label for="receipt-confirm" { (t(l, "receipt-confirm-label")) }
                @if receipt.is_some() {
                    input #receipt-confirm type="text" inputmode="numeric" autocomplete="off"
                        required pattern={ "\\s*" (pattern) "\\s*" } maxlength="12";
                } @else {
                    input #receipt-confirm type="text" inputmode="numeric" autocomplete="off" maxlength="12";
                }
                p #receipt-confirm-result aria-live="polite"
                    data-text-ok=(t(l, "receipt-confirm-ok")) data-text-bad=(t(l, "receipt-confirm-bad")) {}
                @if receipt.is_some() {
                    div #receipt-done .after-confirm {
                        p.ok { (t(l, "receipt-confirm-ok")) }
                        a.button href={ "/" (l.code()) "/" } { (t(l, "receipt-done")) }
                    }
                } @else {
                    div #receipt-done hidden {
                        p.ok { (t(l, "receipt-confirm-ok")) }
                        a.button href={ "/" (l.code()) "/" } { (t(l, "receipt-done")) }
                    }
                }
            }
            p.no-print { (t(l, "receipt-print")) }
            div.card {
                p { strong { (t(l, "receipt-card-title")) } }
                p.receipt { @if let Some(r) = receipt { (r) } }
                p { (t_args(l, "receipt-card-where", &[("url", format!("{}{}/status", state.public_url(), l.code()))])) }
            }
        }
    }
}

/// What the status form posts.
#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    receipt: String,
}

impl Drop for StatusForm {
    fn drop(&mut self) {
        self.receipt.zeroize();
    }
}

/// `GET /{lang}/status`
pub async fn status_form(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match lang_of(&path) {
        Some(l) => html_response(StatusCode::OK, status_page(l, &state, None, None)),
        None => not_found(req).await,
    }
}

/// `POST /{lang}/status`: the receipt travels in the body, never in the URL.
pub async fn status_submit(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    form: web::Form<StatusForm>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let (outcome, shown) = match Receipt::parse(&form.receipt) {
        Ok(receipt) => {
            let shown = receipt.display();
            (state.intake.find_status(receipt).await, Some(shown))
        }
        Err(e) => (Err(StatusError::Receipt(e)), None),
    };
    let (code, error) = match &outcome {
        Ok(_) => (StatusCode::OK, None),
        Err(e) => status_error_kind(e),
    };
    let found = outcome
        .as_ref()
        .ok()
        .zip(shown.as_deref().map(String::as_str));
    html_response(code, status_page(l, &state, found, error))
}

fn status_error_kind(e: &StatusError) -> (StatusCode, Option<&'static str>) {
    match e {
        StatusError::Receipt(ReceiptError::CheckDigit) => (StatusCode::BAD_REQUEST, Some("typo")),
        StatusError::Receipt(ReceiptError::Empty) => (StatusCode::BAD_REQUEST, Some("empty")),
        StatusError::Receipt(_) => (StatusCode::BAD_REQUEST, Some("format")),
        StatusError::Unknown => (StatusCode::NOT_FOUND, Some("unknown")),
        _ => (StatusCode::SERVICE_UNAVAILABLE, Some("busy")),
    }
}

type Found<'a> = (&'a (TipView, ReceiptKeys), &'a str);

fn status_page(l: Lang, state: &AppState, found: Option<Found<'_>>, error: Option<&str>) -> Markup {
    let content = html! {
        h1 { (t(l, "status-title")) }
        @if let Some(kind) = error {
            div #status-error .error role="alert" data-kind=(kind) {
                p { (t(l, &format!("status-error-{kind}"))) }
            }
        }
        @if let Some(((view, keys), receipt)) = found {
            (status_result(l, view, keys, receipt))
            a.button.secondary #status-again href={ "/" (l.code()) "/status" } { (t(l, "status-again")) }
        } @else {
            form #status-form method="post" action={ "/" (l.code()) "/status" } autocomplete="off" {
                label for="status-receipt" { (t(l, "status-label"))
                    span.hint #status-hint { (t(l, "status-hint")) } }
                input #status-receipt type="text" name="receipt" inputmode="numeric"
                    autocomplete="off" spellcheck="false" maxlength="64" required
                    aria-describedby="status-hint";
                button #status-submit type="submit" { (t(l, "status-submit")) }
            }
            // What the status script (js/status.js) fills in and shows once it has opened
            // the answer here; without JavaScript these stay hidden and the form posts.
            div #status-checking role="status" hidden { p { (t(l, "status-checking")) } }
            (followup_section(l, "", true))
            a.button.secondary #status-again hidden href={ "/" (l.code()) "/status" } { (t(l, "status-again")) }
            (status_script_words(l))
        }
    };
    let page = Page {
        lang: l,
        demo: state.demo,
        title: t(l, "status-title"),
        path: "/status",
        body_class: "status-page",
        // The bundle opens the replies in the browser (js/status.js); without it, the form
        // posts and the server opens them for that one answer.
        script: true,
    };
    layout(page, content)
}

/// The words the status script needs, from the same Fluent messages as the server's answer
/// page, with `{day}`, `{status}`, `{year}`, `{month}` and `{monthname}` left for it to fill.
/// A `<template>`: inert, never shown, and not read out by screen readers.
fn status_script_words(l: Lang) -> Markup {
    let ph = |name: &str| format!("{{{name}}}");
    let mut words: Vec<(String, String)> = [
        "status-result-title",
        "status-question",
        "status-replies-title",
        "status-reply-unreadable",
        "status-opened-browser",
        "status-error-typo",
        "status-error-unknown",
        "status-error-format",
        "status-error-empty",
        "status-error-busy",
    ]
    .iter()
    .map(|key| (key.to_string(), t(l, key)))
    .collect();
    words.push((
        "status-step-received".into(),
        t_args(l, "status-step-received", &[("day", ph("day"))]),
    ));
    words.push((
        "status-step".into(),
        t_args(
            l,
            "status-step",
            &[("day", ph("day")), ("status", ph("status"))],
        ),
    ));
    words.push((
        "status-now".into(),
        t_args(l, "status-now", &[("status", ph("status"))]),
    ));
    for status in Status::ALL {
        words.push((
            format!("status-{}", status.as_str()),
            status_words(l, status),
        ));
    }
    words.push((
        "date".into(),
        t_args(
            l,
            "date",
            &[
                ("year", ph("year")),
                ("month", ph("month")),
                ("day", ph("day")),
                ("monthname", ph("monthname")),
            ],
        ),
    ));
    for m in 1..=12u8 {
        let name = time::Month::try_from(m)
            .map(|m| m.to_string())
            .unwrap_or_default();
        words.push((format!("month-{m}"), name));
    }
    html! {
        template #status-words {
            @for (key, text) in &words { span data-key=(key) { (text) } }
        }
    }
}

/// The timeline, the replies (opened here, in memory, with the key derived from the receipt
/// for this one answer) and the follow-up form. js/status.js builds the same section in the
/// browser (`data-opened="browser"`); keep the two alike.
fn status_result(l: Lang, view: &TipView, keys: &ReceiptKeys, receipt: &str) -> Markup {
    let reply_key = keys.reply_key();
    let replies: Vec<_> = view
        .replies
        .iter()
        .map(|(day, sealed)| (*day, ReplyPlaintext::open(sealed, &reply_key).ok()))
        .collect();
    html! {
        section #status-result data-opened="server" {
            h2 { (t(l, "status-result-title")) }
            ol #status-timeline .timeline {
                li { (t_args(l, "status-step-received", &[("day", date(l, view.day))])) }
                @for (day, status) in &view.history {
                    li { (t_args(l, "status-step", &[("day", date(l, *day)), ("status", status_words(l, *status))])) }
                }
            }
            p #status-now { strong { (t_args(l, "status-now", &[("status", status_words(l, view.status))])) } }
            @if view.status == Status::NeedInfo {
                p.note #status-question { (t(l, "status-question")) }
            }
            @if !replies.is_empty() {
                h2 { (t(l, "status-replies-title")) }
                p.hint #status-opened { (t(l, "status-opened-server")) }
                @for (day, reply) in &replies {
                    div.reply {
                        p.hint { (date(l, *day)) }
                        @match reply {
                            Some(r) => { p.message { (r.message) } }
                            None => { p { (t(l, "status-reply-unreadable")) } }
                        }
                    }
                }
            }
        }
        (followup_section(l, receipt, false))
    }
}

/// The follow-up form under a status answer. On the status form page it is there hidden,
/// with an empty receipt, for the status script to fill in and show.
fn followup_section(l: Lang, receipt: &str, hidden: bool) -> Markup {
    html! {
        section #followup hidden[hidden] {
            h2 { (t(l, "followup-title")) }
            form #followup-form method="post" action={ "/" (l.code()) "/followup" } autocomplete="off"
                data-msg-unsure=(t(l, "followup-msg-unsure")) {
                // The receipt travels in the form body (never a URL), as it came.
                input type="hidden" name="receipt" value=(receipt);
                label for="followup-body" { (t(l, "followup-label"))
                    span.hint #followup-hint { (t(l, "followup-hint")) } }
                textarea #followup-body name="body" rows="5" required aria-describedby="followup-hint" {}
                button #followup-submit type="submit" { (t(l, "followup-submit")) }
            }
            // What the follow-up script (js/followup.js) shows once it has sealed the words
            // here and the server took them; the same words as the server's own answer page.
            div #followup-error .error role="alert" hidden { p.msg {} }
            div #followup-done role="status" hidden {
                h3 { (t(l, "followup-done-title")) }
                p { (t(l, "followup-done")) }
            }
        }
    }
}

/// What the follow-up form posts. Wiped when dropped.
#[derive(Deserialize)]
pub struct FollowupForm {
    #[serde(default)]
    receipt: String,
    #[serde(default)]
    body: String,
}

impl Drop for FollowupForm {
    fn drop(&mut self) {
        self.receipt.zeroize();
        self.body.zeroize();
    }
}

/// `POST /{lang}/followup`: more words under the same receipt, sealed here at once.
pub async fn followup_submit(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    form: web::Form<FollowupForm>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let receipt = match Receipt::parse(&form.receipt) {
        Ok(r) => r,
        Err(e) => {
            let (code, kind) = status_error_kind(&StatusError::Receipt(e));
            return html_response(code, status_page(l, &state, None, kind));
        }
    };
    let body = form.body.replace("\r\n", "\n");
    let page = |title: &str, content: Markup| {
        let page = Page {
            lang: l,
            demo: state.demo,
            title: t(l, title),
            path: "/status",
            body_class: "status-page",
            script: false,
        };
        layout(page, content)
    };
    if body.trim().is_empty() {
        let content = html! {
            h1 { (t(l, "followup-title")) }
            div #followup-error .error role="alert" { p { (t(l, "followup-error-empty")) } }
            a.button.secondary href={ "/" (l.code()) "/status" } { (t(l, "status-again")) }
        };
        return html_response(StatusCode::BAD_REQUEST, page("followup-title", content));
    }
    let sealed = TipPlaintext::new(body)
        .seal(&state.intake.keys.box_key)
        .ok()
        .and_then(|s| {
            SealedTip::from_bytes(s.as_bytes().to_vec(), state.intake.max_sealed_bytes).ok()
        });
    let Some(sealed) = sealed else {
        let content = html! { div.error role="alert" { p { (t(l, "report-error-too-long")) } } };
        return html_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            page("followup-title", content),
        );
    };
    match state.intake.add_followup(receipt, sealed).await {
        Ok(_) => {
            let content = html! {
                h1 #followup-done { (t(l, "followup-done-title")) }
                p { (t(l, "followup-done")) }
                a.button href={ "/" (l.code()) "/" } { (t(l, "followup-back")) }
            };
            html_response(StatusCode::OK, page("followup-done-title", content))
        }
        Err(e) => {
            let (code, kind) = status_error_kind(&e);
            html_response(code, status_page(l, &state, None, kind))
        }
    }
}

/// `GET /{lang}/numbers`: monthly counts for the public, from coarse days and signed status
/// changes only. Only finished months are shown (live counts would let someone watching the
/// page and the network tie a tip to the hour it arrived), counts from 1 to 4 are not shown,
/// and the figures are computed at most once an hour.
pub async fn numbers(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let Some(months) = finished_months(&state).await else {
        return super::errors::internal_error_response();
    };
    let page = Page {
        lang: l,
        demo: state.demo,
        title: t(l, "numbers-title"),
        path: "/numbers",
        body_class: "numbers-page",
        script: false,
    };
    html_response(StatusCode::OK, layout(page, numbers_content(l, &months)))
}

/// Finished months' counts, from the cache when it is less than an hour old.
async fn finished_months(
    state: &AppState,
) -> Option<std::sync::Arc<BTreeMap<String, MonthCounts>>> {
    const FRESH: std::time::Duration = std::time::Duration::from_secs(3600);
    if let Some((at, months)) = state.numbers_cache.lock().ok()?.as_ref() {
        if at.elapsed() < FRESH {
            return Some(months.clone());
        }
    }
    let store = state.intake.store.clone();
    let mut months = web::block(move || store.monthly_counts())
        .await
        .ok()?
        .ok()?;
    let this_month = crate::store::month_of(crate::domain::Day::today());
    months.retain(|month, _| *month < this_month);
    let months = std::sync::Arc::new(months);
    *state.numbers_cache.lock().ok()? = Some((std::time::Instant::now(), months.clone()));
    Some(months)
}

/// A count as published: 1 to 4 become "fewer than 5".
fn published(l: Lang, n: u64) -> String {
    match n {
        0 => "0".into(),
        1..=4 => t(l, "numbers-few"),
        n => n.to_string(),
    }
}

fn numbers_content(l: Lang, months: &BTreeMap<String, MonthCounts>) -> Markup {
    let reached = [
        Status::InReview,
        Status::Investigating,
        Status::ClosedSubstantiated,
        Status::ClosedUnsubstantiated,
        Status::Referred,
    ];
    html! {
        h1 { (t(l, "numbers-title")) }
        p { (t(l, "numbers-intro")) }
        @if months.is_empty() {
            p #numbers-none { (t(l, "numbers-none")) }
        }
        @for (month, counts) in months.iter().rev() {
            section.month {
                h2 { (month) }
                table #{ "numbers-" (month) } {
                    tr { th scope="row" { (t(l, "numbers-received")) } td { (published(l, counts.received)) } }
                    @for status in reached {
                        tr { th scope="row" { (status_words(l, status)) }
                             td { (published(l, counts.reached.get(status.as_str()).copied().unwrap_or(0))) } }
                    }
                }
            }
        }
    }
}

fn status_words(l: Lang, status: Status) -> String {
    t(l, &format!("status-{}", status.as_str()))
}

/// `GET /poster`: an A4 poster for village notice boards, in Chinese, with a QR code of the
/// address (an SVG drawn by the `qrcode` crate, inline, so nothing is fetched).
pub async fn poster(state: web::Data<AppState>) -> HttpResponse {
    let l = Lang::Zh;
    let url = format!("{}{}/", state.public_url(), l.code());
    let qr = match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    };
    // The renderer emits an XML prolog, which has no place inside HTML.
    let svg = qr.find("<svg").map(|i| &qr[i..]).unwrap_or("");
    let content = html! {
        div.poster {
            h1 { (t(l, "poster-title")) }
            p.lead { (t(l, "poster-lead")) }
            div.qr role="img" aria-label=(url) { (PreEscaped(svg)) }
            p.url { (url) }
            ol {
                li { (t(l, "poster-step-1")) }
                li { (t(l, "poster-step-2")) }
                li { (t(l, "poster-step-3")) }
            }
            p { strong { (t(l, "poster-safe")) } }
            p { (t(l, "poster-paper")) }
        }
    };
    let page = Page {
        lang: l,
        demo: state.demo,
        title: t(l, "poster-title"),
        path: "/",
        body_class: "poster-page",
        script: false,
    };
    html_response(StatusCode::OK, layout(page, content))
}

/// Unknown addresses: JSON under `/api`, a plain page elsewhere.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") || req.path().starts_with("/admin/") {
        return super::errors::not_found(req).await;
    }
    let markup = html! {
        (DOCTYPE)
        html lang="zh-Hans" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "找不到这个页面 Page not found" }
                link rel="stylesheet" href="/assets/site.css" integrity=(assets::integrity().css);
            }
            body {
                main #main {
                    h1 { "找不到这个页面" }
                    p lang="en" { "Page not found." }
                    a.button href="/zh/" { "回到首页" }
                    a.button.secondary href="/en/" lang="en" { "Go to the start" }
                }
            }
        }
    };
    html_response(StatusCode::NOT_FOUND, markup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_not_published() {
        let mut months = BTreeMap::new();
        let mut counts = MonthCounts {
            received: 3,
            ..Default::default()
        };
        counts.reached.insert("referred", 7);
        months.insert("2026-10".to_string(), counts);
        let html = numbers_content(Lang::En, &months).into_string();
        assert!(html.contains("<td>fewer than 5</td>"));
        assert!(html.contains("<td>7</td>"));
        assert!(!html.contains("<td>3</td>"));
        assert!(numbers_content(Lang::En, &BTreeMap::new())
            .into_string()
            .contains("numbers-none"));
    }

    #[test]
    fn the_form_becomes_the_browser_format() {
        let mut form = ReportForm::default();
        form.body = "第一行\r\n第二行".into();
        form.place = "  东山村 ".into();
        form.topic = "nonsense".into();
        let tip = form.to_plaintext().unwrap();
        assert_eq!(tip.body, "第一行\n第二行");
        assert_eq!(tip.fields["where"], "东山村");
        assert_eq!(tip.fields["topic"], "unsure");
        assert!(!tip.fields.contains_key("who"));
        let mut empty = ReportForm::default();
        empty.body = " \r\n ".into();
        assert!(empty.to_plaintext().is_none());
    }
}
