//! Printing report forms: A4 sheets with the online form's plain questions, where to post
//! or bring the letter, the county's key fingerprint, a batch label, and a tear-off stub
//! with the form's own receipt for the resident to keep.
//!
//! The server renders one sheet as a `<template>` without any code in it; the clerk's
//! browser (`js/clerk-forms.js`) makes a receipt per form, runs its Argon2id, posts only the
//! lookup values (`POST /api/batches`), and fills the codes and the batch label it gets
//! back into copies of the template, for printing. The codes exist only in that page, until
//! the clerk clears it; no code is ever in an address or a QR code (the QR code on the stub
//! is the status page's address).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup, PreEscaped};

use super::{county_name, html_response, lang_of, layout, not_found, ClerkState, Kdf, Menu, Page};
use crate::domain::intake::MAX_BATCH_FORMS;
use crate::lang::Lang;
use crate::web::i18n::t;
use crate::web::pages::{OPTIONAL_FIELDS, TOPICS};

/// `GET /{lang}/forms`.
pub async fn forms(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ClerkState>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let kdf = Kdf::of(&state);
    let content = html! {
        div.no-print #forms-controls {
            h1 { (l.pick("打印举报表", "Print report forms")) }
            p { (l.pick(
                "每张表带一个新的查询码，印在表上和底部的存根上。查询码在这台电脑的浏览器里生成，服务器只收到由它算出的一个值，看不到查询码本身，也不保存。",
                "Each form carries a new code, on the form and on the tear-off stub. The codes are made in this computer's browser; the server gets only a value derived from each, never the code, and keeps none."
            )) }
            p { (l.pick(
                "每一批有一个批次号，印在每张表上。请在本办公室的登记本上写下哪一批交给了哪个村（只写批次号和村，不写查询码）。一批丢了，可以在“举报表批次”里作废。",
                "Each batch has a number, printed on every sheet. Write in the office's book which batch went to which village (the number and the village, never a code). A lost batch can be withdrawn under “Batches”."
            )) }
            form #forms-make autocomplete="off"
                data-kdf-salt=(kdf.salt) data-kdf-ops=(kdf.ops) data-kdf-mem=(kdf.mem)
                data-msg-progress=(l.pick("正在生成查询码：{done} / {total} 张，已用 {seconds} 秒", "Making codes: {done} of {total}, {seconds} s so far"))
                data-msg-ready=(l.pick("第 {label} 批，共 {total} 张，已经登记好。现在可以打印。", "Batch {label}, {total} forms, is registered. You can print it now."))
                data-msg-failed=(l.pick("没有生成成功，什么都没有登记。请再试一次。", "The forms could not be made; nothing was registered. Please try again."))
                data-msg-cleared=(l.pick("页面已清空，查询码已从本页删除。", "The page is cleared; the codes are gone from it.")) {
                label for="forms-count" { (l.pick("要打印几张？", "How many forms?"))
                    span.hint { (l.pick("一批最多 ", "At most ")) (MAX_BATCH_FORMS) (l.pick(" 张。每张要算大约一秒。", " a batch. Each takes about a second.")) } }
                input #forms-count type="number" name="count" min="1" max=(MAX_BATCH_FORMS) value="10" required inputmode="numeric";
                button #forms-make-button type="submit" { (l.pick("生成这一批", "Make this batch")) }
            }
            div #forms-progress role="status" hidden {
                p #forms-progress-text {}
                progress #forms-progress-bar max="100" value="0" {}
            }
            div #forms-error .error role="alert" hidden { p.msg {} }
            div #forms-ready role="status" hidden {
                p.ok #forms-ready-text {}
                button #forms-print type="button" { (l.pick("打印", "Print")) }
                button #forms-clear .secondary type="button" { (l.pick("打印完了，清空本页", "Printed: clear the page")) }
                p.hint { (l.pick(
                    "打印时选 A4、100% 大小、黑白即可。打完请清空本页；打印机的任务记录里也会留下这些表，请一并清除。",
                    "Print on A4 at 100%, black and white is fine. Clear the page when done; the printer's job list keeps the sheets too: clear it as well."
                )) }
            }
            p #forms-cleared .note role="status" hidden {}
        }
        div #sheets {}
        template #sheet-template { (sheet(l, &state)) }
    };
    let p = Page {
        lang: l,
        title: l.pick("打印举报表", "Print report forms"),
        path: "/forms",
        menu: Menu::Forms,
        script: true,
        demo: state.demo,
    };
    html_response(StatusCode::OK, layout(p, content))
}

/// Ruled lines to write on.
fn lines(n: usize) -> Markup {
    html! { @for _ in 0..n { span.line {} } }
}

/// One printed sheet, without its code and batch label (the script fills `.sheet-code` and
/// `.sheet-batch`). The sheet is Chinese first whatever the page's language: it goes to
/// villages; an English page prints the English words below the Chinese ones.
fn sheet(l: Lang, state: &ClerkState) -> Markup {
    let zh = Lang::Zh;
    let county = county_name(zh, state);
    let directory = state.intake.offices.directory();
    let fingerprint = directory.root.keys.fingerprint();
    let status_url = format!("{}{}/status", state.public_url(), zh.code());
    let contact = &state.contact;
    let both = |key: &str| {
        html! {
            (t(zh, key))
            @if l == Lang::En { span.en lang="en" { (t(Lang::En, key)) } }
        }
    };
    html! {
        section.sheet {
            header.sheet-head {
                h1 { "举报信" span.sub { "（不用写名字）" } }
                p.sheet-batch-line { "批次 " span.sheet-batch {} }
            }
            p.sheet-lead { (t(zh, "poster-lead")) " 用自己的话写下来，写好后寄出或者送来。只有第一个问题必须回答。" }
            div.q.q-body {
                p.q-label { "1. " (both("field-body")) }
                p.q-hint { (t(zh, "field-body-hint")) }
                (lines(7))
            }
            @for (i, name) in OPTIONAL_FIELDS.iter().enumerate() {
                div.q {
                    p.q-label { (i + 2) ". " (both(&format!("field-{name}"))) span.opt { (t(zh, "optional")) } }
                    (lines(if *name == "proof" { 2 } else { 1 }))
                }
            }
            div.q.q-topics {
                p.q-label { (OPTIONAL_FIELDS.len() + 2) ". " (both("topic-legend")) span.opt { "（在方框里打勾）" } }
                p.boxes {
                    @for topic in TOPICS {
                        span.box { "☐ " (t(zh, &format!("topic-{topic}"))) }
                    }
                }
            }
            @if !directory.towns.is_empty() {
                div.q.q-readers {
                    p.q-label { (OPTIONAL_FIELDS.len() + 3) ". " (both("readers-legend")) }
                    p.boxes {
                        span.box { "☐ " (t(zh, "readers-county")) }
                        span.box { "☐ " (t(zh, "readers-town")) "：" span.blank {} }
                    }
                    p.q-hint { (t(zh, "readers-county-why")) }
                }
            }
            div.send {
                p {
                    strong { "写好后：" }
                    @match &contact.postal_address {
                        Some(address) => { "寄到 " strong.addr { (address) } "，" }
                        None => {}
                    }
                    "或者送到" (county) "，投进举报信箱也可以。信封上不用写您的名字和地址。"
                    @if let Some(phone) = &contact.phone {
                        " 不方便写，也可以打电话 " strong.addr { (phone) } " 说。"
                    }
                }
                p.code-line { "本表查询码：" span.sheet-code.code {} " " span.code-note { "（工作人员登记时用，请不要涂改）" } }
                p.fp { (county) "的公钥指纹：" code { (fingerprint) } }
            }
            div.cut aria-hidden="true" { span { "✂ 沿虚线剪下，下面这一条您自己留好" } }
            section.stub {
                div.stub-text {
                    p.stub-title { "举报查询码（请自己留好，不要给别人看）" }
                    p.stub-code { span.sheet-code.code {} }
                    p { "信登记以后，凭这个码查看处理进展和工作人员的回复：" }
                    p { "网上：" strong.addr { (status_url) } }
                    @if let Some(phone) = &contact.phone {
                        p { "电话：" strong.addr { (phone) } "，只报查询码，工作人员在电话里念给您听，不用说名字。" }
                    } @else {
                        p { "也可以打电话到" (county) "，只报查询码，不用说名字。" }
                    }
                    p.stub-hint { "信寄到、登记好要几天。登记以前查询会说“这个查询码的信还没有登记”。" }
                }
                div.stub-qr role="img" aria-label=(status_url) { (PreEscaped(qr_svg(&status_url))) }
            }
        }
    }
}

/// An inline SVG QR code of `url` (the status page's address: never a code).
fn qr_svg(url: &str) -> String {
    let svg = match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(120, 120)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    };
    svg.find("<svg")
        .map(|i| svg[i..].to_owned())
        .unwrap_or_default()
}
