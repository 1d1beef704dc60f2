//! Signing in with the clerk token, and out. The token is typed, compared in constant time
//! against its hash and never kept; a right one starts a session (a random cookie).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;
use zeroize::Zeroize;

use super::{html_response, lang_of, layout, not_found, ClerkState, Menu, Page};
use crate::crypto;
use crate::lang::Lang;
use crate::web::clerk::session::{cleared_cookie, cookie, session_of, WRONG_TOKEN_PAUSE};

/// What the sign-in form posts. Wiped when dropped.
#[derive(Deserialize)]
pub struct SigninForm {
    #[serde(default)]
    token: String,
}

impl Drop for SigninForm {
    fn drop(&mut self) {
        self.token.zeroize();
    }
}

fn page(l: Lang, state: &ClerkState, error: bool, status: StatusCode) -> HttpResponse {
    let content = html! {
        h1 { (l.pick("登记台：请输入口令", "Office intake: sign in")) }
        p { (l.pick(
            "这是县纪委监委办公室登记来信、来电、来访和打印举报表用的页面，只给工作人员用。口令由管理服务器的同事给您（它和管理口令不同）。",
            "These are the office's pages for entering letters, calls and visits and printing report forms, for staff only. The operator gives you the token (it is not the admin token)."
        )) }
        @if error {
            p.error role="alert" #signin-error { (l.pick("口令不对。请再输入一次。", "That token is not right. Please type it again.")) }
        }
        form #signin-form method="post" action={ "/" (l.code()) "/signin" } autocomplete="off" {
            label for="token" { (l.pick("登记台口令", "Clerk token")) }
            input #token type="password" name="token" autocomplete="off" required autofocus;
            button type="submit" { (l.pick("进入", "Sign in")) }
        }
        p.hint { (l.pick(
            "30分钟不用会自动退出。离开电脑时请点“退出”。",
            "A session ends after 30 idle minutes. Press “Sign out” when you leave the computer."
        )) }
    };
    let p = Page {
        lang: l,
        title: l.pick("登记台口令", "Sign in"),
        path: "/signin",
        menu: Menu::None,
        script: false,
        demo: state.demo,
    };
    html_response(status, layout(p, content))
}

/// `GET /{lang}/signin`.
pub async fn form(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ClerkState>,
) -> HttpResponse {
    match lang_of(&path) {
        Some(l) => page(l, &state, false, StatusCode::OK),
        None => not_found(req).await,
    }
}

/// `POST /{lang}/signin`: a right token starts a session; a wrong one is answered after a
/// pause, one at a time, so the token cannot be guessed quickly.
pub async fn submit(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ClerkState>,
    form: web::Form<SigninForm>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let typed = crypto::blake2b::<32>(None, &[form.token.trim().as_bytes()]);
    if !crypto::ct_eq(&typed, &state.token_hash) {
        // Wrong tokens wait their turn, one a second; the right one is never queued behind
        // them (a stranger's flood of guesses cannot keep the clerks out).
        let _one_at_a_time = state.sessions.judging.lock().await;
        tokio::time::sleep(WRONG_TOKEN_PAUSE).await;
        return page(l, &state, true, StatusCode::UNAUTHORIZED);
    }
    let value = state.sessions.start();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/{}/", l.code())))
        .insert_header((header::SET_COOKIE, cookie(&value)))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// `POST /{lang}/signout`: ends the session, and asks the browser to drop what it cached.
pub async fn signout(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ClerkState>,
) -> HttpResponse {
    let l = lang_of(&path).unwrap_or(Lang::Zh);
    if let Some(value) = session_of(&req) {
        state.sessions.end(&value);
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/{}/signin", l.code())))
        .insert_header((header::SET_COOKIE, cleared_cookie()))
        .insert_header(("Clear-Site-Data", "\"cache\", \"storage\""))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}
