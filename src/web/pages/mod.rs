//! The residents' pages: home, report, receipt, status and the poster. Server-rendered with
//! maud, which escapes every interpolated value; words come from the Fluent files.
//!
//! Every page works without JavaScript. On the report page, the sealing script (when it was
//! built) seals the tip in the browser and posts only the sealed box to `/api/v1/tips`;
//! without it, the form posts here and the server seals the words in memory at once.

mod evidence;
mod followup;
mod form_files;
mod home;
mod numbers;
mod poster;
mod report;
mod status;

pub use followup::followup_submit;
pub use home::{home, home_negotiated};
pub use numbers::numbers;
pub use poster::poster;
pub use report::{report_form, report_submit};
pub(crate) use report::{OPTIONAL_FIELDS, TOPICS};
pub(crate) use status::status_script_words;
pub use status::{consent_submit, status_form, status_submit};

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup, DOCTYPE};

use super::assets;
use super::errors::json_error;
use super::i18n::{t, Lang};
use super::AppState;
use crate::domain::Status;

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

fn status_words(l: Lang, status: Status) -> String {
    t(l, &format!("status-{}", status.as_str()))
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

/// The offices that may read reports, each with its key's fingerprint, so that anyone can
/// check them against what the county publishes (home page and poster).
fn offices_list(l: Lang, state: &AppState) -> Markup {
    let directory = state.intake.offices.directory();
    let county_name = if directory.root.name.is_empty() {
        t(l, "offices-county-default")
    } else {
        directory.root.name.clone()
    };
    maud::html! {
        section #offices {
            h2 { (t(l, "offices-title")) }
            p { (t(l, "offices-intro")) }
            ul.offices {
                li data-office=(directory.root.id.as_str()) {
                    strong { (county_name) } " "
                    span.fingerprint { (t(l, "offices-fingerprint")) " " code { (directory.root.keys.fingerprint()) } }
                }
                @for town in &directory.towns {
                    li data-office=(town.id.as_str()) {
                        strong { (town.name) } " "
                        span.fingerprint { (t(l, "offices-fingerprint")) " " code { (town.keys.fingerprint()) } }
                    }
                }
            }
        }
    }
}
