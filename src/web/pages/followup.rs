//! Follow-ups without JavaScript: more words under the same receipt, sealed on arrival.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use zeroize::Zeroize;

use super::form_files;
use super::report::{closing, file_refusal, form_refusal};
use super::status::{status_error_kind, status_page};
use super::{html_response, lang_of, layout, not_found, Page};
use crate::domain::receipt::Receipt;
use crate::domain::tip::TipPlaintext;
use crate::service::uploads::PlainError;
use crate::web::errors::StatusError;
use crate::web::i18n::t;
use crate::web::AppState;

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

/// `POST /{lang}/followup`: more words (and perhaps files) under the same receipt, sealed
/// here at once; photos are cleaned first.
pub async fn followup_submit(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
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
    let refused = |status, key: &str| {
        let content = html! {
            h1 { (t(l, "followup-title")) }
            div #followup-error .error role="alert" { p { (t(l, key)) } }
            a.button.secondary href={ "/" (l.code()) "/status" } { (t(l, "status-again")) }
        };
        html_response(status, page("followup-title", content))
    };
    let posted = match form_files::read::<FollowupForm>(
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
            return closing(refused(status, key));
        }
    };
    let (form, files) = (posted.form, posted.files);
    let receipt = match Receipt::parse(&form.receipt) {
        Ok(r) => r,
        Err(e) => {
            let (code, kind) = status_error_kind(&StatusError::Receipt(e));
            return html_response(code, status_page(l, &state, None, kind));
        }
    };
    let body = form.body.replace("\r\n", "\n");
    // A message may be files alone, as long as it is something.
    if body.trim().is_empty() && files.is_empty() {
        return refused(StatusCode::BAD_REQUEST, "followup-error-empty");
    }
    let with_files = !files.is_empty();
    match state
        .intake
        .add_plain_followup_with_files(receipt, TipPlaintext::new(body), files)
        .await
    {
        Ok(_) => {
            let content = html! {
                h1 #followup-done { (t(l, "followup-done-title")) }
                p { (t(l, "followup-done")) }
                @if with_files { p #files-cleaned .note { (t(l, "files-cleaned-server")) } }
                a.button href={ "/" (l.code()) "/" } { (t(l, "followup-back")) }
            };
            html_response(StatusCode::OK, page("followup-done-title", content))
        }
        Err(PlainError::Files(e)) => {
            let (status, key) = file_refusal(&e);
            refused(status, key)
        }
        Err(PlainError::Filing(StatusError::TooLong)) => {
            let content =
                html! { div.error role="alert" { p { (t(l, "report-error-too-long")) } } };
            html_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                page("followup-title", content),
            )
        }
        Err(PlainError::Filing(e)) => {
            let (code, kind) = status_error_kind(&e);
            html_response(code, status_page(l, &state, None, kind))
        }
    }
}
