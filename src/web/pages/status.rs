//! The status page: what a receipt unlocks, and the follow-up form under it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use maud::{html, Markup};
use serde::Deserialize;
use zeroize::Zeroize;

use super::{html_response, lang_of, layout, not_found, status_words, Page};
use crate::domain::addressing::{MoveState, MoveView};
use crate::domain::office::{Directory, OfficeId, Reader};
use crate::domain::receipt::{Receipt, ReceiptError, ReceiptKeys};
use crate::domain::reply::ReplyPlaintext;
use crate::domain::{Day, Status};
use crate::service::Unlocked;
use crate::store::TipView;
use crate::web::errors::StatusError;
use crate::web::i18n::{date, t, t_args, Lang};
use crate::web::AppState;

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

pub(super) fn status_error_kind(e: &StatusError) -> (StatusCode, Option<&'static str>) {
    match e {
        StatusError::Receipt(ReceiptError::CheckDigit) => (StatusCode::BAD_REQUEST, Some("typo")),
        StatusError::Receipt(ReceiptError::Empty) => (StatusCode::BAD_REQUEST, Some("empty")),
        StatusError::Receipt(_) => (StatusCode::BAD_REQUEST, Some("format")),
        StatusError::Unknown => (StatusCode::NOT_FOUND, Some("unknown")),
        StatusError::NotEntered => (StatusCode::NOT_FOUND, Some("not-entered")),
        StatusError::Withdrawn => (StatusCode::NOT_FOUND, Some("withdrawn")),
        _ => (StatusCode::SERVICE_UNAVAILABLE, Some("busy")),
    }
}

type Found<'a> = (&'a (TipView, Unlocked), &'a str);

pub(super) fn status_page(
    l: Lang,
    state: &AppState,
    found: Option<Found<'_>>,
    error: Option<&str>,
) -> Markup {
    let kdf = crate::web::api::ReceiptKdf::of(state);
    let content = html! {
        h1 { (t(l, "status-title")) }
        @if let Some(kind) = error {
            div #status-error .error role="alert" data-kind=(kind) {
                p { (t(l, &format!("status-error-{kind}"))) }
            }
        }
        @if let Some(((view, unlocked), receipt)) = found {
            (status_result(l, state, view, unlocked.keys(), receipt))
            a.button.secondary #status-again href={ "/" (l.code()) "/status" } { (t(l, "status-again")) }
        } @else {
            form #status-form method="post" action={ "/" (l.code()) "/status" } autocomplete="off"
                data-kdf-salt=(kdf.salt) data-kdf-ops=(kdf.ops) data-kdf-mem=(kdf.mem_bytes)
                data-legacy-receipts=(state.intake.legacy_receipts) {
                label for="status-receipt" { (t(l, "status-label"))
                    span.hint #status-hint { (t(l, "status-hint")) } }
                input #status-receipt type="text" name="receipt" inputmode="numeric"
                    autocomplete="off" spellcheck="false" maxlength="64" required
                    aria-describedby="status-hint";
                button #status-submit type="submit" { (t(l, "status-submit")) }
            }
            // What the status script (js/status.js) fills in and shows once it has opened
            // the answer here; without JavaScript these stay hidden and the form posts.
            div #status-checking role="status" hidden {
                p { (t(l, "status-checking")) }
                // While the browser runs Argon2id on the receipt (js/receipt.js).
                div #status-deriving hidden {
                    p { (t(l, "status-deriving")) }
                    progress #status-progress max="100" {}
                    p.hint #status-deriving-time {}
                }
            }
            (followup_section(l, "", true, &[]))
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
pub(crate) fn status_script_words(l: Lang) -> Markup {
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
        "status-error-not-entered",
        "status-error-withdrawn",
        "status-error-consent",
        "status-legacy",
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
    for key in [
        "move-step-waiting",
        "move-step-agreed",
        "move-step-declined",
        "move-step-done",
    ] {
        words.push((
            key.into(),
            t_args(
                l,
                key,
                &[
                    ("day", ph("day")),
                    ("office", ph("office")),
                    ("by", ph("by")),
                ],
            ),
        ));
    }
    for key in ["consent-title", "consent-if-yes"] {
        words.push((key.into(), t_args(l, key, &[("office", ph("office"))])));
    }
    words.push((
        "consent-explain".into(),
        t_args(
            l,
            "consent-explain",
            &[
                ("day", ph("day")),
                ("office", ph("office")),
                ("by", ph("by")),
            ],
        ),
    ));
    for key in ["consent-if-no", "consent-agree", "consent-decline"] {
        words.push((key.into(), t(l, key)));
    }
    words.push((
        "receipt-deriving-seconds".into(),
        t_args(l, "receipt-deriving-seconds", &[("seconds", ph("seconds"))]),
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
fn status_result(
    l: Lang,
    state: &AppState,
    view: &TipView,
    keys: &ReceiptKeys,
    receipt: &str,
) -> Markup {
    let reply_key = keys.reply_key();
    let directory = state.intake.offices.directory();
    let name_of = |reader: &Reader| office_name(l, &directory, reader);
    // Status changes and moves, in the order of their days.
    let mut steps: Vec<(Day, String)> = view
        .history
        .iter()
        .map(|(day, status)| {
            let words = t_args(
                l,
                "status-step",
                &[("day", date(l, *day)), ("status", status_words(l, *status))],
            );
            (*day, words)
        })
        .collect();
    for m in &view.moves {
        let office = name_of(&m.to);
        let by = name_of(&m.by);
        let (day, key) = match m.state {
            MoveState::Waiting => (m.proposed_on, "move-step-waiting"),
            MoveState::Agreed(day) => (day, "move-step-agreed"),
            MoveState::Declined(day) => (day, "move-step-declined"),
            MoveState::Done(day) => (day, "move-step-done"),
        };
        steps.push((
            day,
            t_args(
                l,
                key,
                &[("day", date(l, day)), ("office", office), ("by", by)],
            ),
        ));
    }
    steps.sort_by_key(|(day, _)| *day);
    // Follow-ups sealed on this page are for the offices that read the report now.
    let readers: Vec<String> = state
        .intake
        .offices
        .keys_for(&view.towns)
        .iter()
        .map(|k| STANDARD.encode(k.as_bytes()))
        .collect();
    let waiting: Vec<&MoveView> = view
        .moves
        .iter()
        .filter(|m| m.state == MoveState::Waiting)
        .collect();
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
                @for (_, words) in &steps {
                    li { (words) }
                }
            }
            @for m in &waiting {
                (consent_question(l, &name_of(&m.to), &name_of(&m.by), m, receipt))
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
        (followup_section(l, receipt, false, &readers))
    }
}

/// An office's name as residents read it.
fn office_name(l: Lang, directory: &Directory, reader: &Reader) -> String {
    match directory.office(reader) {
        Some(o) if !o.name.is_empty() => o.name.clone(),
        Some(_) | None if *reader == Reader::Root => t(l, "offices-county-default"),
        _ => reader.town().map(|t| t.to_string()).unwrap_or_default(),
    }
}

/// "May we pass your report to this town office?", with "agree" and "do not agree". Until
/// the resident agrees, the town office gets nothing.
fn consent_question(l: Lang, office: &str, by: &str, m: &MoveView, receipt: &str) -> Markup {
    let to = m.to.town().map(|t| t.to_string()).unwrap_or_default();
    html! {
        section.consent data-office=(to) {
            h2 { (t_args(l, "consent-title", &[("office", office.to_owned())])) }
            p { (t_args(l, "consent-explain", &[("office", office.to_owned()), ("by", by.to_owned()), ("day", date(l, m.proposed_on))])) }
            p { (t_args(l, "consent-if-yes", &[("office", office.to_owned())])) }
            p { (t(l, "consent-if-no")) }
            form.consent-form method="post" action={ "/" (l.code()) "/consent" } autocomplete="off" {
                // The receipt travels in the form body (never a URL), as it came.
                input type="hidden" name="receipt" value=(receipt);
                input type="hidden" name="to" value=(to);
                button.consent-agree type="submit" name="answer" value="agree" { (t(l, "consent-agree")) }
                button.secondary.consent-decline type="submit" name="answer" value="decline" { (t(l, "consent-decline")) }
            }
        }
    }
}

/// The follow-up form under a status answer. On the status form page it is there hidden,
/// with an empty receipt, for the status script to fill in and show.
fn followup_section(l: Lang, receipt: &str, hidden: bool, readers: &[String]) -> Markup {
    let keys = readers.join(" ");
    html! {
        section #followup hidden[hidden] {
            h2 { (t(l, "followup-title")) }
            form #followup-form method="post" action={ "/" (l.code()) "/followup" } autocomplete="off"
                enctype="multipart/form-data"
                data-box-keys=(keys)
                data-msg-unsure=(t(l, "followup-msg-unsure")) {
                // The receipt travels in the form body (never a URL), as it came.
                input type="hidden" name="receipt" value=(receipt);
                label for="followup-body" { (t(l, "followup-label"))
                    span.hint #followup-hint { (t(l, "followup-hint")) } }
                textarea #followup-body name="body" rows="5" required aria-describedby="followup-hint" {}
                (super::evidence::evidence_fieldset(l))
                button #followup-submit type="submit" { (t(l, "followup-submit")) }
            }
            // What the follow-up script (js/followup.js) shows once it has sealed the words
            // here and the server took them; the same words as the server's own answer page.
            div #followup-error .error role="alert" hidden { p.msg {} }
            // How far the files are (js/attach.js), in plain words.
            p #followup-files-progress role="status" hidden {}
            div #followup-done role="status" hidden {
                h3 { (t(l, "followup-done-title")) }
                p { (t(l, "followup-done")) }
            }
        }
    }
}

/// What the consent form posts.
#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    receipt: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    answer: String,
}

impl Drop for ConsentForm {
    fn drop(&mut self) {
        self.receipt.zeroize();
    }
}

/// `POST /{lang}/consent`: the resident's answer to a proposed move, then the report as it
/// now stands.
pub async fn consent_submit(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    form: web::Form<ConsentForm>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let agree = match form.answer.as_str() {
        "agree" => true,
        "decline" => false,
        _ => {
            return html_response(
                StatusCode::BAD_REQUEST,
                status_page(l, &state, None, Some("consent")),
            )
        }
    };
    let Ok(to) = form.to.parse::<OfficeId>() else {
        return html_response(
            StatusCode::BAD_REQUEST,
            status_page(l, &state, None, Some("consent")),
        );
    };
    let (outcome, shown) = match Receipt::parse(&form.receipt) {
        Ok(receipt) => {
            let shown = receipt.display();
            (
                state.intake.decide_move(receipt, to, agree).await,
                Some(shown),
            )
        }
        Err(e) => (Err(StatusError::Receipt(e)), None),
    };
    let (code, error) = match &outcome {
        Ok(_) => (StatusCode::OK, None),
        Err(StatusError::NoQuestion) => (StatusCode::CONFLICT, Some("consent")),
        Err(e) => status_error_kind(e),
    };
    let found = outcome
        .as_ref()
        .ok()
        .zip(shown.as_deref().map(String::as_str));
    html_response(code, status_page(l, &state, found, error))
}
