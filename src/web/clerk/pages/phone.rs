//! A caller's status, to read aloud: the clerk types the code the caller reads out; the
//! clerk's browser (`js/clerk-phone.js`) derives its keys, asks `POST /api/status` with the
//! lookup value only, opens the replies with the reply key it derived, and shows them. The
//! code is kept nowhere: the form asks the browser not to remember it, the field is
//! emptied at once, and "done" (or ten idle minutes) wipes the answer from the page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::{html_response, lang_of, layout, not_found, ClerkState, Kdf, Menu, Page};
use crate::web::i18n::t;
use crate::web::pages::status_script_words;

/// `GET /{lang}/phone`.
pub async fn phone(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ClerkState>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let kdf = Kdf::of(&state);
    let content = html! {
        h1 { (l.pick("来电查询进展", "A caller's status")) }
        p { (l.pick(
            "请来电的人念出查询码，打进下面。查到以后把进展和工作人员的回复念给对方听。查询码不会保存；念完点“结束，清空”。",
            "Ask the caller to read out the code and type it below. Read the status and the office's replies back to them. The code is not kept; press “Done, clear” when finished."
        )) }
        p.note { (l.pick(
            "不要问对方的姓名、住址或电话，也不要记在本子上。",
            "Do not ask for the caller's name, address or number, and do not write them down."
        )) }
        form #phone-form autocomplete="off"
            data-kdf-salt=(kdf.salt) data-kdf-ops=(kdf.ops) data-kdf-mem=(kdf.mem)
            data-msg-deriving=(l.pick("正在计算，已用 {seconds} 秒……", "Working, {seconds} s so far…")) {
            label for="phone-code" { (t(l, "status-label")) span.hint { (t(l, "status-hint")) } }
            input #phone-code type="text" name="code" inputmode="numeric" autocomplete="off"
                spellcheck="false" maxlength="64" required;
            button #phone-submit type="submit" { (l.pick("查询", "Look up")) }
        }
        div #phone-working role="status" hidden {
            p #phone-working-text {}
            progress #phone-progress max="100" {}
        }
        div #phone-error .error role="alert" hidden { p.msg {} }
        section #phone-result tabindex="-1" hidden {
            p.hint #phone-code-shown {}
            div #phone-answer {}
        }
        button #phone-clear .secondary type="button" hidden { (l.pick("结束，清空", "Done, clear")) }
        p #phone-cleared .note role="status" hidden { (l.pick("已清空。", "Cleared.")) }
        (status_script_words(l))
    };
    let p = Page {
        lang: l,
        title: l.pick("来电查询", "Status by phone"),
        path: "/phone",
        menu: Menu::Phone,
        script: true,
        demo: state.demo,
    };
    html_response(StatusCode::OK, layout(p, content))
}
