//! The clerk's menu: what each page is for, in plain words.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::{html_response, lang_of, layout, not_found, ClerkState, Menu, Page};

/// `GET /{lang}/`.
pub async fn home(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ClerkState>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let link = |href: &str, zh: &str, en: &str| {
        html! { a.button href={ "/" (l.code()) (href) } { (l.pick(zh, en)) } }
    };
    let content = html! {
        h1 { (l.pick("来信来电登记", "Office intake")) }
        p { (l.pick(
            "群众写信、打电话、来办公室反映的问题，都在这里登记，和网上的举报一样加密、一样编号、一样处理、一样统计。",
            "Letters, calls and visits are entered here: sealed, given a code, handled and counted like any report made online."
        )) }
        (link("/entry", "登记一封信、一个电话或一次来访", "Enter a letter, a call or a visit"))
        (link("/phone", "来电查询进展（念给对方听）", "Check a caller's status (to read aloud)"))
        (link("/forms", "打印带查询码的举报表", "Print report forms with their own codes"))
        (link("/batches", "查看举报表批次，作废丢失的一批", "Batches of forms; withdraw a lost batch"))
        h2 { (l.pick("请记住", "Remember")) }
        ul {
            li { (l.pick("查询码是举报人的凭证。不要抄下来留在办公室，不要写进台账。", "A code is the resident's key. Do not copy it down at the office, nor into any register.")) }
            li { (l.pick("登记完一件，点“下一件”清空页面，再登记下一件。", "After each entry, press “Next” to clear the page before the next one.")) }
            li { (l.pick("离开电脑时点右上角“退出”。", "Press “Sign out” (top right) when you leave the computer.")) }
        }
    };
    let p = Page {
        lang: l,
        title: l.pick("菜单", "Menu"),
        path: "/",
        menu: Menu::Home,
        script: false,
        demo: state.demo,
    };
    html_response(StatusCode::OK, layout(p, content))
}
