//! The home page: what this is, who reads a report, what is kept, how to stay safe.

use actix_web::http::header::{self};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::{html_response, lang_of, layout, not_found, Page};
use crate::web::i18n::{t, Lang};
use crate::web::AppState;

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
        (super::offices_list(l, state))
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
