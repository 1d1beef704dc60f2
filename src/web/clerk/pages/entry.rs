//! Entering a letter, a phone call or a visit: the words as the resident gave them, how they
//! came, and the code on the letter's form when there is one (otherwise a new receipt is
//! made, to read to a caller or print for a visitor). The clerk's browser
//! (`js/clerk-entry.js`) derives the receipt's keys, seals the words with the channel and
//! the reply key inside for the county (and the town chosen), and posts the sealed box and
//! the lookup value only. After each entry, "next" wipes what the page held.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use maud::html;

use super::{html_response, lang_of, layout, not_found, ClerkState, Kdf, Menu, Page};
use crate::web::i18n::t;
use crate::web::pages::{OPTIONAL_FIELDS, TOPICS};

/// `GET /{lang}/entry`.
pub async fn entry(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ClerkState>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let kdf = Kdf::of(&state);
    let directory = state.intake.offices.directory();
    let county_key = STANDARD.encode(directory.root.keys.box_key.as_bytes());
    let status_url = format!("{}{}/status", state.public_url(), l.code());
    let content = html! {
        h1 { (l.pick("登记一封信、一个电话或一次来访", "Enter a letter, a call or a visit")) }
        p { (l.pick(
            "把群众写的或说的照原样打进来。点“加密并登记”后，内容在这台电脑上加密，只有纪检监察工作人员在离线电脑上能打开；服务器和本页都不留原文。",
            "Type what the resident wrote or said, as they put it. “Seal and enter” seals it on this computer, for the inspectors' offline computer only; neither the server nor this page keeps the words."
        )) }
        form #entry-form autocomplete="off"
            data-box-key=(county_key)
            data-kdf-salt=(kdf.salt) data-kdf-ops=(kdf.ops) data-kdf-mem=(kdf.mem)
            data-msg-deriving=(l.pick("正在计算查询码的钥匙，已用 {seconds} 秒……", "Deriving the code's keys, {seconds} s so far…"))
            data-msg-typo=(t(l, "status-error-typo"))
            data-msg-format=(t(l, "status-error-format"))
            data-msg-empty=(l.pick("请先打入信的内容。", "Please type the words first."))
            data-msg-town=(t(l, "report-error-town"))
            data-msg-failed=(l.pick("没有登记成功，什么都没有保存。内容还在，请再试一次。", "The entry did not go through; nothing was saved. The words are still here: please try again."))
            data-msg-entered=(l.pick("已登记：{day}。它和网上的举报一样处理。", "Entered on {day}. It is handled like any report made online."))
            data-msg-cleared=(l.pick("页面已清空，可以登记下一件。", "The page is cleared for the next entry."))
            data-msg-already-entered=(l.pick("这个查询码的信已经登记过了，这次没有保存，什么都没有改变。", "A letter was already entered under this code. Nothing was saved or changed."))
            data-msg-unknown-stub=(l.pick("本办公室印的举报表上没有这个查询码，什么都没有保存。请对照信上的码一位一位核对；如果信不是写在我们的表上，请选“没有查询码”。", "No form this office printed has this code; nothing was saved. Check it digit by digit against the letter, or choose “No code” if the letter is not on one of our forms."))
            data-msg-withdrawn=(l.pick("这个查询码所在的一批表已经作废，什么都没有保存。请选“没有查询码：新开一个”再登记，信不会丢。", "This code's batch of forms was withdrawn; nothing was saved. Choose “No code: make a new one” and enter it again, so the letter is not lost."))
            data-msg-code-taken=(l.pick("新开的查询码碰巧已被使用，什么都没有保存。请再点一次“加密并登记”。", "The new code happens to be taken; nothing was saved. Please press “Seal and enter” again.")) {
            fieldset #entry-channel {
                legend { (l.pick("怎么来的？", "How did it come?")) }
                label.choice { input type="radio" name="channel" value="letter" checked; (l.pick("来信", "A letter")) }
                label.choice { input type="radio" name="channel" value="phone"; (l.pick("来电", "A phone call")) }
                label.choice { input type="radio" name="channel" value="visit"; (l.pick("来访", "A visit")) }
            }
            fieldset #entry-code-choice {
                legend { (l.pick("查询码", "Code")) }
                label.choice { input #entry-has-stub type="radio" name="code" value="stub" checked;
                    (l.pick("信是写在我们印的举报表上的，表上有查询码：", "The letter is on one of our printed forms, which carries a code:")) }
                label for="entry-code" { (l.pick("表上的查询码（20位）", "The form's code (20 digits)")) }
                input #entry-code type="text" name="stub_code" inputmode="numeric" autocomplete="off"
                    spellcheck="false" maxlength="64";
                label.choice { input #entry-no-stub type="radio" name="code" value="new";
                    (l.pick("没有查询码（电话、来访，或者普通来信）：新开一个", "No code (a call, a visit or a plain letter): make a new one")) }
                p.hint { (l.pick(
                    "新开的查询码会显示在这里，请念给来电的人，或打印给来访的人。普通来信没法把查询码交给写信人，也照样登记，信不会丢。",
                    "A new code is shown here to read to the caller or print for the visitor. A plain letter's writer cannot be given it; it is entered all the same, so the letter is not lost."
                )) }
            }
            label for="entry-body" { (t(l, "field-body")) span.hint { (t(l, "field-body-hint")) } }
            textarea #entry-body name="body" rows="10" required {}
            @for name in OPTIONAL_FIELDS {
                label for={ "entry-" (name) } { (t(l, &format!("field-{name}"))) span.optional { (t(l, "optional")) } }
                @if name == "proof" {
                    textarea id={ "entry-" (name) } name=(name) rows="3" {}
                } @else {
                    input id={ "entry-" (name) } type="text" name=(name) autocomplete="off";
                }
            }
            fieldset {
                legend { (t(l, "topic-legend")) }
                @for topic in TOPICS {
                    label.choice { input type="radio" name="topic" value=(topic) checked[topic == "unsure"]; (t(l, &format!("topic-{topic}"))) }
                }
            }
            @if !directory.towns.is_empty() {
                fieldset #entry-readers {
                    legend { (t(l, "readers-legend")) }
                    label.choice { input type="radio" name="readers" value="county" checked; (t(l, "readers-county")) }
                    label.choice { input type="radio" name="readers" value="town"; (t(l, "readers-town")) }
                    label for="entry-town" { (t(l, "readers-town-pick")) }
                    select #entry-town name="town" {
                        option value="" { (t(l, "readers-town-none")) }
                        @for town in &directory.towns {
                            option value=(town.id.as_str()) data-box-key=(STANDARD.encode(town.keys.box_key.as_bytes())) { (town.name) }
                        }
                    }
                }
            }
            button #entry-submit type="submit" { (l.pick("加密并登记", "Seal and enter")) }
        }
        div #entry-working role="status" hidden {
            p #entry-working-text {}
            progress #entry-progress max="100" {}
        }
        div #entry-error .error role="alert" hidden { p.msg {} }
        section #entry-done tabindex="-1" hidden {
            h2 { (l.pick("已登记", "Entered")) }
            p.ok #entry-done-text {}
            div #entry-new-receipt hidden {
                p { strong { (l.pick("新的查询码：请念给对方听（四位一组，念两遍），或打印给来访的人。", "The new code: read it to the caller (in groups of four, twice), or print it for the visitor.")) } }
                p.receipt #entry-receipt {}
                p { (l.pick("请对方自己抄下来、收好。本办公室不留这个码。", "Ask them to write it down and keep it. The office keeps no copy.")) }
                button #entry-print-receipt .secondary type="button" { (l.pick("打印查询码卡片", "Print the code card")) }
                div.card #entry-card {
                    p { strong { (t(l, "receipt-card-title")) } }
                    p.receipt #entry-card-receipt {}
                    p { (crate::web::i18n::t_args(l, "receipt-card-where", &[("url", status_url.clone())])) }
                    @if let Some(phone) = &state.contact.phone {
                        p { (l.pick("电话查询：", "By phone: ")) (phone) }
                    }
                }
            }
            button #entry-next type="button" { (l.pick("下一件（清空本页）", "Next (clear the page)")) }
        }
        p #entry-cleared .note role="status" hidden {}
    };
    let p = Page {
        lang: l,
        title: l.pick("登记来信来电", "Enter a letter or call"),
        path: "/entry",
        menu: Menu::Entry,
        script: true,
        demo: state.demo,
    };
    html_response(StatusCode::OK, layout(p, content))
}
