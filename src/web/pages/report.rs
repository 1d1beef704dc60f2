//! The report page and the receipt. With JavaScript the page seals the tip itself (js/report.js);
//! without it the form posts here and the words are sealed on arrival.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use maud::{html, Markup};
use serde::Deserialize;
use zeroize::Zeroize;

use super::form_files::{self, FormError};
use super::{html_response, lang_of, layout, not_found, Page};
use crate::domain::office::OfficeId;
use crate::domain::tip::{SealedTipError, TipPlaintext};
use crate::service::uploads::{FileError, PlainError, UploadError};
use crate::store::StoreError;
use crate::web::errors::SubmitError;
use crate::web::i18n::{t, t_args, Lang};
use crate::web::AppState;

/// Optional questions of the report form, in order.
pub(crate) const OPTIONAL_FIELDS: [&str; 5] = ["where", "who", "when", "amount", "proof"];
/// Topics, in plain words; the last is the default.
pub(crate) const TOPICS: [&str; 6] = [
    "pensions", "village", "clinics", "schools", "police", "unsure",
];
/// Longest answer to one optional question, in characters.
const MAX_FIELD_CHARS: usize = 2000;

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
    /// "county" (the county office only) or "town" (the county and `town`).
    #[serde(default)]
    readers: String,
    /// The town office chosen, when `readers` is "town".
    #[serde(default)]
    town: String,
}

/// The resident's answer to "who should read this".
enum Readers {
    /// The county office alone (the default).
    County,
    /// The county office and this town office.
    Town(OfficeId),
    /// "My town" without a town picked, or a town not in the list.
    Unclear,
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
            &mut self.readers,
            &mut self.town,
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

    fn readers(&self, state: &AppState) -> Readers {
        if self.readers != "town" {
            return Readers::County;
        }
        match self.town.parse::<OfficeId>() {
            Ok(id) if state.intake.offices.directory().town(&id).is_some() => Readers::Town(id),
            _ => Readers::Unclear,
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
/// and wiped; photos are cleaned and every file sealed the same way; only sealed boxes go
/// to the store.
pub async fn report_submit(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let posted = match form_files::read::<ReportForm>(
        &req,
        payload,
        state.intake.max_sealed_bytes,
        &state.intake.uploads.form_mib,
    )
    .await
    {
        Ok(posted) => posted,
        Err(e) => {
            let (status, key) = form_refusal(&e);
            return closing(html_response(
                status,
                report_page(l, &state, &ReportForm::default(), Some(key)),
            ));
        }
    };
    let (form, files) = (posted.form, posted.files);
    let refuse = |status, key| html_response(status, report_page(l, &state, &form, Some(key)));
    let Some(mut tip) = form.to_plaintext() else {
        return refuse(StatusCode::BAD_REQUEST, "report-error-empty");
    };
    let towns = match form.readers(&state) {
        Readers::County => Vec::new(),
        Readers::Town(id) => {
            // Inside the seal too, so the offices read the resident's own choice.
            tip.fields.insert("town".into(), id.to_string().into());
            vec![id]
        }
        Readers::Unclear => return refuse(StatusCode::BAD_REQUEST, "report-error-town"),
    };
    let with_files = !files.is_empty();
    match state
        .intake
        .accept_plain_tip_with_files(tip, towns, files)
        .await
    {
        Ok((receipt, _day)) => {
            let page = Page {
                lang: l,
                demo: state.demo,
                title: t(l, "receipt-title"),
                path: "/report",
                body_class: "receipt-page",
                script: false,
            };
            let content = html! {
                @if with_files { p #files-cleaned .note { (t(l, "files-cleaned-server")) } }
                (receipt_view(l, &state, Some(&receipt)))
            };
            html_response(StatusCode::OK, layout(page, content))
        }
        Err(PlainError::Files(e)) => {
            let (status, key) = file_refusal(&e);
            refuse(status, key)
        }
        Err(PlainError::Filing(SubmitError::Sealed(SealedTipError::TooLarge { .. }))) => {
            refuse(StatusCode::PAYLOAD_TOO_LARGE, "report-error-too-long")
        }
        Err(PlainError::Filing(SubmitError::Sealed(_))) => {
            refuse(StatusCode::BAD_REQUEST, "report-error-failed")
        }
        Err(PlainError::Filing(_)) => {
            refuse(StatusCode::SERVICE_UNAVAILABLE, "report-error-failed")
        }
    }
}

/// A refusal of a form whose body may not have been read: the connection is closed after
/// it rather than drained.
pub(super) fn closing(mut response: HttpResponse) -> HttpResponse {
    response
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    response
}

/// The status and words for a form that could not be read.
pub(super) fn form_refusal(e: &FormError) -> (StatusCode, &'static str) {
    match e {
        FormError::Unreadable => (StatusCode::BAD_REQUEST, "report-error-failed"),
        FormError::TooLong => (StatusCode::PAYLOAD_TOO_LARGE, "report-error-too-long"),
        FormError::TooManyFiles => (StatusCode::BAD_REQUEST, "files-error-too-many"),
        FormError::FilesTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "files-error-too-large"),
        FormError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "files-error-busy"),
    }
}

/// The status and words for files that were refused.
pub(super) fn file_refusal(e: &FileError) -> (StatusCode, &'static str) {
    match e {
        FileError::TooMany => (StatusCode::BAD_REQUEST, "files-error-too-many"),
        FileError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "files-error-too-large"),
        FileError::Photo(_) => (StatusCode::UNPROCESSABLE_ENTITY, "files-error-photo"),
        FileError::Upload(UploadError::Store(StoreError::FilesTooLarge)) => {
            (StatusCode::PAYLOAD_TOO_LARGE, "files-error-too-large")
        }
        FileError::Upload(UploadError::Busy | UploadError::QuotaFull | UploadError::DiskFull) => {
            (StatusCode::SERVICE_UNAVAILABLE, "files-error-busy")
        }
        FileError::Upload(_) => (StatusCode::SERVICE_UNAVAILABLE, "report-error-failed"),
    }
}

fn report_page(l: Lang, state: &AppState, form: &ReportForm, error: Option<&str>) -> Markup {
    let key = STANDARD.encode(state.intake.keys.box_key.as_bytes());
    let kdf = crate::web::api::ReceiptKdf::of(state);
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
                enctype="multipart/form-data"
                data-box-key=(key)
                data-kdf-salt=(kdf.salt) data-kdf-ops=(kdf.ops) data-kdf-mem=(kdf.mem_bytes)
                data-msg-deriving-seconds=(t_args(l, "receipt-deriving-seconds", &[("seconds", "{seconds}".to_string())]))
                data-msg-network=(t(l, "report-msg-network"))
                data-msg-failed=(t(l, "report-error-failed"))
                data-msg-town=(t(l, "report-error-town")) {
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
                (readers_choice(l, state, form))
                fieldset {
                    legend { (t(l, "topic-legend")) }
                    @for topic in TOPICS {
                        label.choice {
                            input type="radio" name="topic" value=(topic) checked[topic == chosen];
                            (t(l, &format!("topic-{topic}")))
                        }
                    }
                }
                (super::evidence::evidence_fieldset(l))
                p.note { (t(l, "report-seal-note")) }
                button #report-submit type="submit" { (t(l, "report-submit")) }
            }
            div #report-sending role="status" hidden {
                p { (t(l, "report-sending")) }
                // How far the files are (js/attach.js), in plain words.
                p #report-files-progress hidden {}
                // While the browser makes the receipt and runs Argon2id on it (js/receipt.js).
                div #report-deriving hidden {
                    p { (t(l, "receipt-deriving")) }
                    progress #report-progress max="100" {}
                    p.hint #report-deriving-time {}
                }
            }
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

/// "Who should read this?": the county office alone (the default), or the county and the
/// resident's town office. Shown only when the county has signed town offices in.
fn readers_choice(l: Lang, state: &AppState, form: &ReportForm) -> Markup {
    let directory = state.intake.offices.directory();
    let town_chosen = form.readers == "town";
    html! {
        @if !directory.towns.is_empty() {
            fieldset #readers {
                legend { (t(l, "readers-legend")) }
                p.hint { (t(l, "readers-county-always")) }
                label.choice {
                    input #readers-county type="radio" name="readers" value="county"
                        checked[!town_chosen] data-box-key=(STANDARD.encode(directory.root.keys.box_key.as_bytes()));
                    (t(l, "readers-county"))
                }
                p.hint #readers-why { (t(l, "readers-county-why")) }
                label.choice {
                    input #readers-town type="radio" name="readers" value="town" checked[town_chosen];
                    (t(l, "readers-town"))
                }
                label for="town" { (t(l, "readers-town-pick")) }
                select #town name="town" {
                    option value="" { (t(l, "readers-town-none")) }
                    @for town in &directory.towns {
                        option value=(town.id.as_str()) selected[form.town == town.id.as_str()]
                            data-box-key=(STANDARD.encode(town.keys.box_key.as_bytes())) { (town.name) }
                    }
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
