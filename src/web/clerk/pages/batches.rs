//! The batches of printed forms: number, day printed, how many, and whether withdrawn; a
//! lost batch is withdrawn here (its codes then take no letter, and the status page says
//! the form was withdrawn). Plain forms: this page needs no script.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::{html_response, lang_of, layout, not_found, ClerkState, Menu, Page};
use crate::domain::intake::Batch;
use crate::lang::Lang;
use crate::web::i18n::date;

/// `GET /{lang}/batches`.
pub async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ClerkState>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    render(l, &state, None).await
}

/// What the withdraw form posts.
#[derive(Deserialize)]
pub struct VoidForm {
    #[serde(default)]
    batch: String,
    /// The box "yes, this batch was lost".
    #[serde(default)]
    sure: String,
}

/// `POST /{lang}/batches/void`: withdraws a batch once the box saying it was lost is ticked.
pub async fn void(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ClerkState>,
    form: web::Form<VoidForm>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let Ok(number) = form.batch.trim().parse::<u32>() else {
        return render(
            l,
            &state,
            Some((
                false,
                l.pick("没有这个批次。", "There is no such batch.").into(),
            )),
        )
        .await;
    };
    if form.sure != "yes" {
        let msg = l.pick(
            "没有作废：请先勾选“这一批确实丢了”。",
            "Nothing was withdrawn: tick “this batch was lost” first.",
        );
        return render(l, &state, Some((false, msg.into()))).await;
    }
    let outcome = match state.intake.void_batch(number).await {
        Ok(b) => (
            true,
            format!(
                "{} {} {}",
                l.pick("第", "Batch"),
                b.label(),
                l.pick(
                    "批已作废。这批表上的查询码不能再登记来信；有人查询时，会看到这批表已作废。",
                    "is withdrawn. Its codes take no letter; whoever checks one is told the form was withdrawn."
                )
            ),
        ),
        Err(e) => (false, e.to_string()),
    };
    render(l, &state, Some(outcome)).await
}

async fn render(l: Lang, state: &ClerkState, message: Option<(bool, String)>) -> HttpResponse {
    let batches = match state.intake.batches().await {
        Ok(b) => b,
        Err(_) => return crate::web::errors::internal_error_response(),
    };
    let status = match &message {
        Some((false, _)) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let content = html! {
        h1 { (l.pick("举报表批次", "Batches of forms")) }
        p { (l.pick(
            "服务器只知道每一批的批次号、打印的日期和张数，不知道交给了哪个村，也不知道哪张表被用过。哪一批给了哪个村，记在办公室的登记本上。",
            "The server knows each batch's number, the day it was printed and how many forms it holds: not which village got it, nor which forms were used. Which batch went where is written in the office's book."
        )) }
        @if let Some((ok, text)) = &message {
            @if *ok { p.ok #batches-message role="status" { (text) } }
            @else { p.error #batches-message role="alert" { (text) } }
        }
        @if batches.is_empty() {
            p #batches-none { (l.pick("还没有打印过举报表。", "No forms have been printed yet.")) }
        } @else {
            table #batches {
                thead { tr {
                    th scope="col" { (l.pick("批次", "Batch")) }
                    th scope="col" { (l.pick("打印日期", "Printed on")) }
                    th scope="col" { (l.pick("张数", "Forms")) }
                    th scope="col" { (l.pick("状态", "State")) }
                } }
                tbody {
                    @for b in batches.iter().rev() { (row(l, b)) }
                }
            }
        }
        h2 { (l.pick("作废丢失的一批", "Withdraw a lost batch")) }
        p { (l.pick(
            "只在一批表还没发出去就丢了（或者落到了不该拿的人手里）时作废。作废后，这批表上的查询码不能再登记；已经登记的信不受影响。作废不能撤销。",
            "Withdraw a batch only when it was lost before it was handed out (or reached the wrong hands). Its codes then take no letter; letters already entered keep theirs. This cannot be undone."
        )) }
        form #void-form method="post" action={ "/" (l.code()) "/batches/void" } autocomplete="off" {
            label for="void-batch" { (l.pick("批次号", "Batch number")) }
            input #void-batch type="text" name="batch" inputmode="numeric" autocomplete="off" required;
            label.choice { input #void-sure type="checkbox" name="sure" value="yes"; (l.pick("这一批确实丢了", "This batch was lost")) }
            button #void-submit type="submit" { (l.pick("作废这一批", "Withdraw this batch")) }
        }
    };
    let p = Page {
        lang: l,
        title: l.pick("举报表批次", "Batches of forms"),
        path: "/batches",
        menu: Menu::Batches,
        script: false,
        demo: state.demo,
    };
    html_response(status, layout(p, content))
}

fn row(l: Lang, b: &Batch) -> maud::Markup {
    html! {
        tr data-batch=(b.label()) {
            td { (b.label()) }
            td { (date(l, b.made_on)) }
            td { (b.forms) }
            td {
                @match b.voided_on {
                    Some(d) => { (l.pick("已作废：", "Withdrawn: ")) (date(l, d)) }
                    None => { (l.pick("在用", "In use")) }
                }
            }
        }
    }
}
