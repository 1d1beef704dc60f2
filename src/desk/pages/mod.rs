//! The desk's pages, server-rendered with maud (every value escaped), Chinese first and
//! English second, one file per page. No scripts: every page is plain forms and links, so
//! the keyboard (Tab, Enter, the access keys in the menu) does everything.

mod case;
mod files;
mod import;
mod inbox;
mod outbox;
mod report;
mod settings;
mod unlock;

pub use inbox::{inbox_markup, InboxQuery};

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use maud::{html, Markup, DOCTYPE};

use super::ledger::Colour;
use super::DeskError;
use crate::domain::Status;
use crate::lang::Lang;

const CSS: &str = include_str!("../desk.css");

/// Every route of the desk.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/desk.css", web::get().to(css))
        .route("/", web::get().to(root))
        .route("/signin/{token}", web::get().to(unlock::signin))
        .route("/outbox/{file}", web::get().to(outbox::download))
        .route("/case/{id}/file/{n}", web::get().to(files::tip_file))
        .route(
            "/case/{id}/followup/{m}/file/{n}",
            web::get().to(files::followup_file),
        )
        .route("/report.csv", web::get().to(report::csv))
        .service(
            web::scope("/{lang}")
                .route("/", web::get().to(inbox::inbox))
                .route("/", web::post().to(inbox::inbox_post))
                .route("/unlock", web::get().to(unlock::form))
                .route("/unlock", web::post().to(unlock::submit))
                .route("/lock", web::post().to(unlock::lock))
                .route("/case/{id}", web::get().to(case::page))
                .route("/case/{id}/triage", web::post().to(case::triage))
                .route("/case/{id}/note", web::post().to(case::note))
                .route("/case/{id}/answer", web::post().to(case::answer))
                .route("/case/{id}/withdraw", web::post().to(case::withdraw))
                .route("/case/{id}/move", web::post().to(case::hand_over))
                .route("/case/{id}/files/waive", web::post().to(case::waive_files))
                .route("/import", web::get().to(import::form))
                .route("/import", web::post().to(import::upload))
                .route("/outbox", web::get().to(outbox::page))
                .route("/outbox", web::post().to(outbox::write))
                .route("/outbox/{sequence}/again", web::post().to(outbox::again))
                .route("/report", web::get().to(report::page))
                .route("/settings", web::get().to(settings::form))
                .route("/settings", web::post().to(settings::submit)),
        );
}

/// Form bodies: a form the desk cannot read is a plain 400.
pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(256 * 1024)
        .error_handler(|err, _| {
            let res = error_page(
                StatusCode::BAD_REQUEST,
                "这个表单读不出来，请返回重试。 The form could not be read; go back and send it again.",
            );
            actix_web::error::InternalError::from_response(err, res).into()
        })
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(CSS)
}

async fn root() -> HttpResponse {
    see_other("/zh/")
}

/// A redirect after a post (so reloading does not post again).
pub(crate) fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// The language of `/{lang}/...`; anything else is a 404.
pub(crate) fn lang(code: &str) -> Result<Lang, DeskError> {
    Lang::from_code(code).ok_or(DeskError::NoCase)
}

/// What one page says about itself to the layout.
pub(crate) struct Page<'a> {
    pub lang: Lang,
    pub title: String,
    /// The path without the language, for the language switch.
    pub path: &'a str,
    pub office: &'a str,
    /// Which menu item is this page.
    pub menu: Menu,
}

/// The menu items.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Menu {
    Inbox,
    Import,
    Outbox,
    Report,
    Settings,
    None,
}

pub(crate) fn layout(page: Page<'_>, content: Markup) -> Markup {
    let l = page.lang;
    let item = |menu: Menu, href: &str, key: &str, zh: &str, en: &str| {
        let here = (menu == page.menu).then_some("page");
        html! {
            a href={ "/" (l.code()) (href) } accesskey=(key) aria-current=[here] { (l.pick(zh, en)) }
        }
    };
    html! {
        (DOCTYPE)
        html lang=(l.html_lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (page.title) " · " (l.pick("办案台", "Desk")) }
                link rel="stylesheet" href="/desk.css";
            }
            body {
                a.skip href="#main" { (l.pick("跳到正文", "Skip to the content")) }
                header.desk {
                    span.office { (page.office) }
                    nav aria-label=(l.pick("菜单", "Menu")) {
                        (item(Menu::Inbox, "/", "1", "收件箱", "Inbox"))
                        (item(Menu::Import, "/import", "2", "导入", "Import"))
                        (item(Menu::Outbox, "/outbox", "3", "U盘待发", "To the USB stick"))
                        (item(Menu::Report, "/report", "4", "报表", "Reports"))
                        (item(Menu::Settings, "/settings", "5", "设置", "Settings"))
                    }
                    a #lang-switch lang=(l.other().html_lang()) href={ "/" (l.other().code()) (page.path) } {
                        (l.other().pick("中文", "English"))
                    }
                    form.lock autocomplete="off" method="post" action={ "/" (l.code()) "/lock" } {
                        button.small type="submit" { (l.pick("锁定", "Lock")) }
                    }
                }
                main #main tabindex="-1" { (content) }
            }
        }
    }
}

pub(crate) fn html(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(ContentType::html())
        .body(markup.into_string())
}

/// A plain page with one sentence in both languages, for errors.
pub(crate) fn error_page(status: StatusCode, text: &str) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="zh-Hans" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "办案台 Desk" }
                link rel="stylesheet" href="/desk.css";
            }
            body { main #main { p.error role="alert" { (text) } p { a href="/zh/" { "回到收件箱" } " · " a href="/en/" lang="en" { "Back to the inbox" } } } }
        }
    };
    html(status, markup)
}

impl ResponseError for DeskError {
    fn status_code(&self) -> StatusCode {
        match self {
            DeskError::NoCase | DeskError::NoFile => StatusCode::NOT_FOUND,
            DeskError::Locked | DeskError::WrongPassphrase => StatusCode::UNAUTHORIZED,
            DeskError::Workspace(_) | DeskError::Unsaved(_) | DeskError::KeyFile(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            DeskError::Outbox(super::outbox::OutboxError::Nothing) => StatusCode::CONFLICT,
            DeskError::Outbox(_) => StatusCode::INTERNAL_SERVER_ERROR,
            DeskError::Bundle(_) | DeskError::Directory(_) | DeskError::Form(_) => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        error_page(self.status_code(), &self.to_string())
    }
}

/// The words for a status.
pub(crate) fn status_words(l: Lang, s: Status) -> &'static str {
    match s {
        Status::Received => l.pick("已收到", "received"),
        Status::InReview => l.pick("正在查看", "in review"),
        Status::Investigating => l.pick("正在调查", "investigating"),
        Status::ClosedSubstantiated => l.pick("已办结：属实", "closed: substantiated"),
        Status::ClosedUnsubstantiated => l.pick("已办结：未能证实", "closed: not substantiated"),
        Status::Referred => l.pick("已移交", "referred"),
        Status::NeedInfo => l.pick("需要补充情况", "more information needed"),
    }
}

/// The words for a colour.
pub(crate) fn colour_words(l: Lang, c: Option<Colour>) -> &'static str {
    match c {
        Some(Colour::Red) => l.pick("红", "red"),
        Some(Colour::Yellow) => l.pick("黄", "yellow"),
        Some(Colour::Blue) => l.pick("蓝", "blue"),
        None => l.pick("未分级", "not triaged"),
    }
}

/// A coloured mark with its word (never colour alone).
pub(crate) fn colour_chip(l: Lang, c: Option<Colour>) -> Markup {
    let class = c.map(Colour::as_str).unwrap_or("none");
    html! { span class={ "chip " (class) } { (colour_words(l, c)) } }
}
