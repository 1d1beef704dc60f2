//! Pages for residents. Templates auto-escape (askama).

use actix_web::{web, HttpResponse};
use askama::Template;

use super::AppState;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    demo: bool,
}

/// `GET /`
pub async fn home(state: web::Data<AppState>) -> HttpResponse {
    let page = Home { demo: state.demo };
    match page.render() {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(html),
        Err(_) => super::errors::internal_error_response(),
    }
}
