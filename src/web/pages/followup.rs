//! Follow-ups without JavaScript: more words under the same receipt, sealed on arrival.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use zeroize::Zeroize;

use super::status::{status_error_kind, status_page};
use super::{html_response, lang_of, layout, not_found, Page};
use crate::domain::receipt::Receipt;
use crate::domain::tip::TipPlaintext;
use crate::service::FollowupContent;
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
    let content = FollowupContent::Plain(TipPlaintext::new(body));
    match state
        .intake
        .add_followup(receipt, content, Vec::new())
        .await
    {
        Ok(_) => {
            let content = html! {
                h1 #followup-done { (t(l, "followup-done-title")) }
                p { (t(l, "followup-done")) }
                a.button href={ "/" (l.code()) "/" } { (t(l, "followup-back")) }
            };
            html_response(StatusCode::OK, page("followup-done-title", content))
        }
        Err(StatusError::TooLong) => {
            let content =
                html! { div.error role="alert" { p { (t(l, "report-error-too-long")) } } };
            html_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                page("followup-title", content),
            )
        }
        Err(e) => {
            let (code, kind) = status_error_kind(&e);
            html_response(code, status_page(l, &state, None, kind))
        }
    }
}
