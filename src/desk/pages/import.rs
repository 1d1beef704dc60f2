//! Import: an export bundle from the USB stick, uploaded from the browser, opened into the
//! workspace. The same bundle twice changes nothing; a hostile bundle is refused as
//! `whistlebox decrypt` refuses it.

use std::pin::Pin;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use futures_core::Stream;
use maud::html;

use super::{layout, Menu, Page};
use crate::desk::ledger::ImportReport;
use crate::desk::{DeskData, DeskError, MAX_UPLOAD_BYTES};
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

/// `POST /{lang}/import`.
pub async fn upload(
    desk: DeskData,
    lang: web::Path<String>,
    mut multipart: Multipart,
) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    let bytes = first_file(&mut multipart).await?;
    let worker = desk.clone();
    let report = web::block(move || worker.import(&bytes))
        .await
        .map_err(|_| DeskError::Form("the import stopped unexpectedly; try again".into()))??;
    page(&desk, l, Some(&report))
}

/// The bytes of the form's file field, at most [`MAX_UPLOAD_BYTES`].
async fn first_file(multipart: &mut Multipart) -> Result<Vec<u8>, DeskError> {
    let unreadable =
        || DeskError::Form("the uploaded file could not be read; choose it again".into());
    let mut field = std::future::poll_fn(|cx| Pin::new(&mut *multipart).poll_next(cx))
        .await
        .ok_or_else(|| DeskError::Form("choose a bundle file first".into()))?
        .map_err(|_| unreadable())?;
    let bytes = field
        .bytes(MAX_UPLOAD_BYTES)
        .await
        .map_err(|_| DeskError::Form("the file is larger than a desk takes (512 MiB)".into()))?
        .map_err(|_| unreadable())?;
    if bytes.is_empty() {
        return Err(DeskError::Form(
            "the file is empty; choose the export bundle".into(),
        ));
    }
    Ok(bytes.to_vec())
}
