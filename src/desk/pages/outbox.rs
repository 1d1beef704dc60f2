//! What goes back on the USB stick: the queued answers and the acks, signed into bundles
//! the operator imports on the server (`POST /admin/v1/import`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::html;

use super::{layout, status_words, Menu, Page};
use crate::desk::ledger::AnswerState;
use crate::desk::{DeskData, DeskError};
use crate::lang::Lang;

/// `GET /{lang}/outbox`.
pub async fn page(desk: DeskData, lang: web::Path<String>) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    render(&desk, l, None)
}

/// `POST /{lang}/outbox`: writes the bundles.
pub async fn write(desk: DeskData, lang: web::Path<String>) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    let worker = desk.clone();
    let written = web::block(move || worker.write_outbox())
        .await
        .map_err(|_| DeskError::Form("writing stopped unexpectedly; try again".into()))??;
    let names: Vec<String> = written.into_iter().map(|w| w.file).collect();
    render(&desk, l, Some(&names))
}

fn render(
    desk: &DeskData,
    l: Lang,
    just_written: Option<&[String]>,
) -> Result<HttpResponse, DeskError> {
    let outbox_dir = desk.config.outbox.display().to_string();
    let markup = desk.with_open(|open| {
        let queued: Vec<_> = open
            .ledger
            .queued()
            .flat_map(|c| {
                c.answers
                    .iter()
                    .filter(|a| a.state == AnswerState::Queued)
                    .map(move |a| (c.id, a))
            })
            .collect();
        let unacked = open.ledger.unacked().count();
        let waiting: Vec<_> = open.ledger.waiting_for_files().map(|c| c.id).collect();
        let moving: Vec<_> = open
            .ledger
            .moving()
            .flat_map(|c| {
                c.moves
                    .iter()
                    .filter(|m| m.state == AnswerState::Queued)
                    .map(move |m| (c.id, m.to.as_str()))
            })
            .collect();
        let content = html! {
            h1 { (l.pick("写入U盘", "To the USB stick")) }
            @if let Some(names) = just_written {
                section #written role="status" {
                    p { (l.pick("已签名并写入：", "Signed and written: ")) }
                    ul { @for n in names { li { a href={ "/outbox/" (n) } download { (n) } } } }
                    p #import-order { strong { (l.pick("请按包号从小到大的顺序在服务器上导入。", "Import them on the server in number order, lowest first.")) } " " (l.pick("服务器拒收包号比已导入的包更小的包，里面的答复就永远到不了群众手里。", "The server refuses a bundle numbered lower than one it has already applied, and the answers in it would never reach the residents.")) }
                    p.hint { (l.pick("文件在文件夹 ", "The files are in the folder ")) code { (outbox_dir) } (l.pick("。把它们拷到U盘，交给运维人员导入服务器。", ". Copy them to the USB stick for the operator to import on the server.")) }
                }
            }
            h2 { (l.pick("待发的答复", "Answers waiting")) " (" span #queued-count { (queued.len()) } ")" }
            @if queued.is_empty() { p { (l.pick("没有待发的答复。", "No answer is waiting.")) } }
            ul { @for (id, a) in &queued {
                li { a href={ "/" (l.code()) "/case/" (id) } { code { (id) } } " · " (status_words(l, a.status))
                    @if a.message.is_some() { " · " (l.pick("附留言", "with a message")) } }
            } }
            @if !moving.is_empty() {
                h2 { (l.pick("待发的移送", "Hand-overs waiting")) " (" span #moving-count { (moving.len()) } ")" }
                ul { @for (id, to) in &moving {
                    li { a href={ "/" (l.code()) "/case/" (id) } { code { (id) } } " → " (to) }
                } }
            }
            h2 { (l.pick("待确认收到的线索", "Cases to acknowledge to the server")) " (" span #unacked-count { (unacked) } ")" }
            p.hint { (l.pick("确认后，服务器删除这些线索的密文和文件；它们已安全保存在本机的加密工作区。", "Once acknowledged, the server deletes their ciphertext and files; they are safe in this machine's encrypted workspace.")) }
            @if !waiting.is_empty() {
                p.warning #waiting-files {
                    (l.pick("等没收到的文件、暂不确认的线索：", "Waiting for files that did not come, so not acknowledged yet: "))
                    @for id in &waiting { a href={ "/" (l.code()) "/case/" (id) } { code { (id) } } " " }
                }
            }
            form autocomplete="off" method="post" action={ "/" (l.code()) "/outbox" } {
                button #write-bundles type="submit" { (l.pick("签名并写入U盘文件", "Sign and write the files for the USB stick")) }
            }
            h2 { (l.pick("已写出的包", "Bundles written")) }
            p.hint { (l.pick("服务器拒收了某个包（比如先导入了包号更大的包），按“重新待发”，里面的答复、移送和确认会重新待发，下次签名时用新的包号。", "If the server refused a bundle (for example because a higher number was imported first), press \"Queue it again\": its answers, hand-overs and acks wait again and are signed under new numbers next time.")) }
            @if open.written.is_empty() { p { (l.pick("还没有。", "None yet.")) } }
            table {
                thead { tr { th { (l.pick("包号", "No.")) } th { (l.pick("类型", "Kind")) } th { (l.pick("日期", "Day")) } th { (l.pick("线索数", "Cases")) } th { (l.pick("文件", "File")) } th { (l.pick("服务器拒收了？", "Refused by the server?")) } } }
                tbody { @for w in open.written.iter().rev() {
                    tr { td { (w.sequence) } td { (match w.kind.as_str() {
                        "ack" => l.pick("确认收到", "ack"),
                        "move" => l.pick("移送", "hand-over"),
                        _ => l.pick("答复", "answers"),
                    }) } td { (w.day) } td { (w.count) } td { a href={ "/outbox/" (w.file) } download { (w.file) } }
                        td { form autocomplete="off" method="post" action={ "/" (l.code()) "/outbox/" (w.sequence) "/again" } {
                            button.small.secondary type="submit" { (l.pick("重新待发", "Queue it again")) }
                        } } }
                } }
            }
        };
        Ok(layout(
            Page {
                lang: l,
                title: l.pick("写入U盘", "To the USB stick").into(),
                path: "/outbox",
                office: &open.office_name,
                menu: Menu::Outbox,
            },
            content,
        ))
    })?;
    Ok(super::html(StatusCode::OK, markup))
}

/// `POST /{lang}/outbox/{sequence}/again`: the server refused this bundle; queue what it
/// held again, to be signed under a new number.
pub async fn again(
    desk: DeskData,
    path: web::Path<(String, u64)>,
) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&path.0)?;
    desk.requeue(path.1)?;
    Ok(super::see_other(&format!("/{}/outbox", l.code())))
}

/// `GET /outbox/{file}`: a bundle the desk wrote, by the name it recorded (no other file).
pub async fn download(desk: DeskData, file: web::Path<String>) -> Result<HttpResponse, DeskError> {
    let known = desk.with_open(|open| Ok(open.written.iter().any(|w| w.file == *file)))?;
    if !known {
        return Err(DeskError::NoCase);
    }
    let bytes = std::fs::read(desk.config.outbox.join(file.as_str()))
        .map_err(|_| DeskError::Form("the bundle file is no longer in the outbox folder".into()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{file}\""),
        ))
        .body(bytes))
}
