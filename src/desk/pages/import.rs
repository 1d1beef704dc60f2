//! Import: an export bundle from the USB stick, uploaded from the browser, opened into the
//! workspace. The same bundle twice changes nothing; a hostile bundle is refused as
//! `whistlebox decrypt` refuses it.

use std::pin::Pin;

use actix_multipart::Multipart;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_core::Stream;
use maud::html;

use super::{layout, Menu, Page};
use crate::desk::ledger::ImportReport;
use crate::desk::{DeskData, DeskError, MAX_UPLOAD_BYTES};
use crate::domain::exported::FileState;
use crate::lang::Lang;

/// `GET /{lang}/import`.
pub async fn form(desk: DeskData, lang: web::Path<String>) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    page(&desk, l, None)
}

fn page(
    desk: &DeskData,
    l: Lang,
    report: Option<&ImportReport>,
) -> Result<HttpResponse, DeskError> {
    let office = desk.with_open(|open| Ok(open.office_name.clone()))?;
    let content = html! {
        h1 { (l.pick("导入U盘上的线索包", "Import a bundle from the USB stick")) }
        @if let Some(r) = report {
            section #import-result role="status" {
                h2 { (l.pick("导入结果", "What the import did")) }
                ul {
                    li { (l.pick("新线索：", "New cases: ")) strong #new-cases { (r.new_cases) } }
                    li { (l.pick("已有线索的新补充：", "New follow-ups: ")) strong #new-followups { (r.new_followups) } }
                    li { (l.pick("已导入过、没有变化：", "Already here, unchanged: ")) strong #unchanged { (r.unchanged) } }
                    @if r.not_verified > 0 {
                        li.warning { (l.pick("不能确认来自回执持有人的补充：", "Follow-ups not shown to come from the resident: ")) (r.not_verified) }
                    }
                    li { (l.pick("保存的文件：", "Files kept: ")) strong #files-kept { (r.files_kept) } }
                }
                @if !r.files_not_kept.is_empty() {
                    h3.warning { (l.pick("没有收到或打不开的文件", "Files that did not come or do not open")) }
                    ul #files-not-kept {
                        @for f in &r.files_not_kept {
                            li {
                                a href={ "/" (l.code()) "/case/" (f.tip) } { code { (f.tip) } }
                                @if let Some(m) = f.followup { " · " (l.pick("补充 #", "follow-up #")) (m) }
                                " · " (super::files::kind_words(l, f.kind)) " " (f.n) " · " (super::files::size_text(l, f.bytes))
                                " · " (file_state_words(l, f.state))
                            }
                        }
                    }
                    p.hint { (l.pick("这些线索在文件收到之前不会向服务器确认收到，服务器会保留它的副本。", "These reports are not acknowledged to the server until their files come, so the server keeps its copy.")) }
                }
                @if !r.refused.is_empty() {
                    h3 { (l.pick("没有导入的条目", "Entries not taken")) }
                    ul #refused {
                        @for e in &r.refused {
                            li {
                                @if let Some(id) = e.id { code { (id) } } @else { "#" (e.position) }
                                ": " (e.reason)
                            }
                        }
                    }
                }
                p { a href={ "/" (l.code()) "/" } { (l.pick("去收件箱", "Go to the inbox")) } }
            }
        }
        form autocomplete="off" method="post" enctype="multipart/form-data" action={ "/" (l.code()) "/import" } {
            label for="bundle" {
                (l.pick("选择导出包文件（export.json）", "Choose the export bundle (export.json)"))
                span.hint { (l.pick("同一个包导入两次不会重复。", "Importing the same bundle twice changes nothing.")) }
            }
            input #bundle type="file" name="bundle" required;
            button type="submit" { (l.pick("导入", "Import")) }
        }
    };
    let markup = layout(
        Page {
            lang: l,
            title: l.pick("导入", "Import").into(),
            path: "/import",
            office: &office,
            menu: Menu::Import,
        },
        content,
    );
    Ok(super::html(StatusCode::OK, markup))
}

fn file_state_words(l: Lang, state: FileState) -> &'static str {
    match state {
        FileState::Opened => l.pick("已保存", "kept"),
        FileState::Missing => l.pick("没有随包送到", "did not come with the bundle"),
        FileState::Changed => l.pick(
            "路上被改动或调换，没有打开",
            "changed or swapped on the way; not opened",
        ),
        FileState::Damaged => l.pick("损坏，打不开", "damaged; does not open"),
    }
}

/// `POST /{lang}/import`.
pub async fn upload(
    desk: DeskData,
    lang: web::Path<String>,
    req: HttpRequest,
    mut multipart: Multipart,
) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    let bytes = first_file(&req, &mut multipart).await?;
    let worker = desk.clone();
    let report = web::block(move || worker.import(&bytes))
        .await
        .map_err(|_| DeskError::Form("the import stopped unexpectedly; try again".into()))??;
    page(&desk, l, Some(&report))
}

/// The bytes of the form's file field, at most [`MAX_UPLOAD_BYTES`], in one buffer sized
/// from the request's length (grown by doubling, a bundle of files would pass through
/// copies of up to twice its size). A request announced larger is refused before it is
/// read.
async fn first_file(req: &HttpRequest, multipart: &mut Multipart) -> Result<Vec<u8>, DeskError> {
    let too_large = || {
        DeskError::Form(
            "the file is larger than a desk takes (2 GiB): ask the operator for a smaller \
             export"
                .into(),
        )
    };
    let unreadable =
        || DeskError::Form("the uploaded file could not be read; choose it again".into());
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // The form's own lines around the file are a few hundred bytes.
    if announced.is_some_and(|n| n > MAX_UPLOAD_BYTES as u64 + 64 * 1024) {
        return Err(too_large());
    }
    let mut field = std::future::poll_fn(|cx| Pin::new(&mut *multipart).poll_next(cx))
        .await
        .ok_or_else(|| DeskError::Form("choose a bundle file first".into()))?
        .map_err(|_| unreadable())?;
    let capacity = announced.map_or(0, |n| n.min(MAX_UPLOAD_BYTES as u64) as usize);
    let mut bytes = Vec::with_capacity(capacity);
    while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut field).poll_next(cx)).await {
        let chunk = chunk.map_err(|_| unreadable())?;
        if bytes.len() + chunk.len() > MAX_UPLOAD_BYTES {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(DeskError::Form(
            "the file is empty; choose the export bundle".into(),
        ));
    }
    Ok(bytes)
}
