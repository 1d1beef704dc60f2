//! The clerk's pages, one file each: sign-in, the menu, printing forms, the batches, entering
//! a letter, call or visit, and a caller's status. Chinese first, large type, plain words.
//! Every page but sign-in and the batches needs JavaScript: it makes receipts and seals
//! words in the clerk's browser, so that neither reaches the server (a `noscript` says so).

pub mod batches;
pub mod entry;
pub mod forms;
pub mod home;
pub mod phone;
pub mod signin;

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use maud::{html, Markup, DOCTYPE};

use super::ClerkState;
use crate::lang::Lang;
use crate::web::assets;

/// Which menu item a page is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Menu {
    Home,
    Forms,
    Batches,
    Entry,
    Phone,
    None,
}

/// What one page says about itself to the layout.
pub(super) struct Page<'a> {
    pub lang: Lang,
    pub title: &'a str,
    /// The path without the language, for the language switch.
    pub path: &'a str,
    pub menu: Menu,
    /// Whether the page loads the clerk's script.
    pub script: bool,
    pub demo: bool,
}

pub(super) fn layout(page: Page<'_>, content: Markup) -> Markup {
    let l = page.lang;
    let integrity = assets::integrity();
    let item = |menu: Menu, href: &str, zh: &str, en: &str| {
        let here = (menu == page.menu).then_some("page");
        html! { a href={ "/" (l.code()) (href) } aria-current=[here] { (l.pick(zh, en)) } }
    };
    html! {
        (DOCTYPE)
        html lang=(l.html_lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (page.title) " · " (l.pick("来信来电登记", "Office intake")) }
                link rel="stylesheet" href="/assets/site.css" integrity=(integrity.css);
                link rel="stylesheet" href="/assets/clerk.css" integrity=(integrity.clerk_css);
                @if page.script {
                    @if let Some(js) = &integrity.clerk_js {
                        script src="/assets/clerk.js" integrity=(js) defer {}
                    }
                }
            }
            body.clerk {
                @if page.demo {
                    p.demo role="alert" { (crate::web::i18n::t(l, "demo-banner")) }
                }
                header.site.clerk-head {
                    a.name href={ "/" (l.code()) "/" } { (l.pick("来信来电登记", "Office intake")) }
                    @if page.menu != Menu::None {
                        nav aria-label=(l.pick("菜单", "Menu")) {
                            (item(Menu::Forms, "/forms", "打印举报表", "Print forms"))
                            (item(Menu::Entry, "/entry", "登记来信来电", "Enter a letter or call"))
                            (item(Menu::Phone, "/phone", "电话查询", "Status by phone"))
                            (item(Menu::Batches, "/batches", "举报表批次", "Batches"))
                        }
                    }
                    a #lang-switch lang=(l.other().html_lang()) href={ "/" (l.other().code()) (page.path) } {
                        (l.other().pick("中文", "English"))
                    }
                    @if page.menu != Menu::None {
                        form.signout autocomplete="off" method="post" action={ "/" (l.code()) "/signout" } {
                            button.small.secondary type="submit" { (l.pick("退出", "Sign out")) }
                        }
                    }
                }
                main #main tabindex="-1" {
                    @if page.script {
                        noscript {
                            p.error { (l.pick(
                                "这个页面要在浏览器里生成查询码、加密内容，需要 JavaScript。请在浏览器设置里为这个地址打开 JavaScript。",
                                "This page makes codes and seals words in the browser: it needs JavaScript. Please allow JavaScript for this address."
                            )) }
                        }
                    }
                    (content)
                }
            }
        }
    }
}

/// An HTML answer: never cached, never remembered.
pub(super) fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(ContentType::html())
        .insert_header(("Cache-Control", "no-store"))
        .body(markup.into_string())
}

/// `GET /`: the menu in Chinese.
pub async fn root() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/zh/"))
        .finish()
}

/// Unknown addresses: JSON under `/api`, a plain page elsewhere.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        return crate::web::errors::not_found(req).await;
    }
    let markup = html! {
        (DOCTYPE)
        html lang="zh-Hans" {
            head { meta charset="utf-8"; title { "找不到这个页面 Page not found" } }
            body { main { h1 { "找不到这个页面" } p lang="en" { "Page not found." } a href="/zh/" { "回到菜单" } } }
        }
    };
    html_response(StatusCode::NOT_FOUND, markup)
}

/// The language of `/{lang}/...`.
pub(super) fn lang_of(path: &web::Path<String>) -> Option<Lang> {
    Lang::from_code(path.as_str())
}

/// The receipt parameters a page's script needs (the same as on the report form).
pub(super) struct Kdf {
    pub salt: String,
    pub ops: u32,
    pub mem: u64,
}

impl Kdf {
    pub fn of(state: &ClerkState) -> Self {
        let hasher = &state.intake.hasher;
        Self {
            salt: STANDARD.encode(hasher.salt()),
            ops: hasher.params().ops,
            mem: hasher.params().mem_bytes,
        }
    }
}

/// The county office's name as residents read it.
pub(super) fn county_name(l: Lang, state: &ClerkState) -> String {
    let directory = state.intake.offices.directory();
    if directory.root.name.is_empty() {
        crate::web::i18n::t(l, "offices-county-default")
    } else {
        directory.root.name.clone()
    }
}
