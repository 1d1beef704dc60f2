//! The residents' evidence files on the case page, and the route that opens one on demand.
//!
//! A file is kept in the workspace as the encrypted blob it arrived as; it is opened (with
//! the key from the case's sealed record) only for the request that shows it, and answered
//! with a Content-Type from a fixed list. Only images and sound are shown in the page; any
//! other file (a document, a video, a type the list does not know) goes out as
//! `application/octet-stream` with `Content-Disposition: attachment`, so the browser never
//! runs or renders it. Every answer carries `X-Content-Type-Options: nosniff`, and the
//! desk's policy lets pages load images and sound from the desk only (`img-src 'self';
//! media-src 'self'`).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use zeroize::Zeroizing;

use crate::desk::ledger::{Case, CaseFile};
use crate::desk::workspace::{read_blob, WorkspaceError};
use crate::desk::{DeskData, DeskError};
use crate::domain::attachment::{extension_for, open_blob, Kind};
use crate::domain::exported::{size_words, FileState};
use crate::domain::TipId;
use crate::lang::Lang;

/// How a file is shown and served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shown {
    /// In the page, as `<img>`.
    Image,
    /// In the page, as `<audio controls>`.
    Audio,
    /// A download only.
    Download,
}

/// The Content-Type a file is served with, from a fixed list (never the resident's own
/// words), and how the page shows it. Nothing a browser runs is on the list: no SVG, HTML,
/// PDF or script; those, and everything else, are downloads of opaque bytes.
pub(crate) fn served_as(mime: &str) -> (&'static str, Shown) {
    match extension_for(mime) {
        "jpg" => ("image/jpeg", Shown::Image),
        "png" => ("image/png", Shown::Image),
        "webp" => ("image/webp", Shown::Image),
        "gif" => ("image/gif", Shown::Image),
        "wav" => ("audio/wav", Shown::Audio),
        "weba" => ("audio/webm", Shown::Audio),
        "ogg" => ("audio/ogg", Shown::Audio),
        "mp3" => ("audio/mpeg", Shown::Audio),
        "m4a" => ("audio/mp4", Shown::Audio),
        _ => ("application/octet-stream", Shown::Download),
    }
}

/// `Content-Disposition` for a safe name (`safe_file_name`: letters, digits, `-`, `_` and
/// one `.`): the name as UTF-8 (RFC 6266, RFC 8187), and an ASCII one for old browsers.
pub(crate) fn disposition(name: &str, shown: Shown) -> String {
    let kind = match shown {
        Shown::Download => "attachment",
        Shown::Image | Shown::Audio => "inline",
    };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /case/{id}/file/{n}`: the tip's file `n` (from 1).
pub async fn tip_file(
    desk: DeskData,
    req: HttpRequest,
    path: web::Path<(String, usize)>,
) -> Result<HttpResponse, DeskError> {
    serve(&desk, &req, &path.0, None, path.1).await
}

/// `GET /case/{id}/followup/{m}/file/{n}`: file `n` of follow-up `m`.
pub async fn followup_file(
    desk: DeskData,
    req: HttpRequest,
    path: web::Path<(String, u32, usize)>,
) -> Result<HttpResponse, DeskError> {
    serve(&desk, &req, &path.0, Some(path.1), path.2).await
}

/// Whether the request comes from the desk's own pages (or was typed in the address bar):
/// the session cookie is `SameSite=Strict` already, and a browser's `Sec-Fetch-Site` says
/// it again, so another site's page can neither embed nor fetch a resident's file.
fn from_the_desk(req: &HttpRequest) -> bool {
    req.headers()
        .get("Sec-Fetch-Site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|site| {
            let site = site.trim();
            site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none")
        })
}

async fn serve(
    desk: &DeskData,
    req: &HttpRequest,
    id: &str,
    followup: Option<u32>,
    n: usize,
) -> Result<HttpResponse, DeskError> {
    if !from_the_desk(req) {
        return Ok(HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body("另一个网页发来的请求被拒绝。 A request sent by another website was refused."));
    }
    let id: TipId = id.parse().map_err(|_| DeskError::NoCase)?;
    let (file, path) = desk.with_open(|open| {
        let case = open.ledger.cases.get(&id).ok_or(DeskError::NoCase)?;
        let files = match followup {
            None => &case.files,
            Some(m) => {
                &case
                    .followups
                    .iter()
                    .find(|f| f.n == m)
                    .ok_or(DeskError::NoFile)?
                    .files
            }
        };
        let kept = n
            .checked_sub(1)
            .and_then(|i| files.get(i))
            .filter(|f| f.kept())
            .ok_or(DeskError::NoFile)?;
        Ok((kept.file.clone(), open.workspace.blob_path(&kept.digest())))
    })?;
    let (content_type, shown) = served_as(&file.mime);
    let name = file.safe_file_name(n);
    // Read and opened off the async workers: a file is up to 24 MiB.
    let mut opened = web::block(move || -> Result<Zeroizing<Vec<u8>>, DeskError> {
        let blob = read_blob(&path)?;
        open_blob(&blob, &file).map_err(|_| {
            DeskError::Workspace(WorkspaceError::Damaged(
                "a kept evidence file does not open: it was changed on this disk",
            ))
        })
    })
    .await
    .map_err(|_| DeskError::Form("opening the file stopped unexpectedly; try again".into()))??;
    // The body leaves the wrapper: the response frees it once sent, and the desk's
    // allocator wipes freed memory.
    let body = std::mem::take(&mut *opened);
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_DISPOSITION, disposition(&name, shown)))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body))
}

/// A file's size in the desk's language (`812 字节`, `89 KB`, `1.5 MB`).
pub(crate) fn size_text(l: Lang, bytes: u64) -> String {
    match (l, bytes) {
        (Lang::Zh, 0..=999) => format!("{bytes} 字节"),
        _ => size_words(bytes),
    }
}

/// The words for a file's kind.
pub(crate) fn kind_words(l: Lang, kind: Kind) -> &'static str {
    match kind {
        Kind::Photo => l.pick("照片", "Photo"),
        Kind::Voice => l.pick("语音", "Voice note"),
        Kind::File => l.pick("文件", "File"),
    }
}

/// What cleaning removed, in the desk's words; a word the list does not know is shown as
/// the resident's device wrote it.
fn removed_words(l: Lang, what: &str) -> String {
    match what {
        "location" => l.pick("位置", "location"),
        "camera" => l.pick(
            "相机信息（型号、序列号、镜头）",
            "camera (maker, model, serial, lens)",
        ),
        "time" => l.pick("拍摄时间", "time taken"),
        "thumbnail" => l.pick("缩略图", "thumbnail"),
        "software" => l.pick("软件信息", "software"),
        "xmp" => l.pick("XMP 元数据", "XMP metadata"),
        "comment" => l.pick("注释", "comments"),
        "other" => l.pick("其他元数据", "other metadata"),
        other => other,
    }
    .to_owned()
}

fn state_words(l: Lang, state: FileState) -> &'static str {
    match state {
        FileState::Opened => l.pick("已保存在本机", "kept on this machine"),
        FileState::Missing => l.pick(
            "没有随导出包送到：服务器可能已不再保存它（例如另一个办公室确认收到之后才移送过来的线索），或在路上被拿掉了。",
            "It did not come with the bundle: the server may no longer hold it (for example, a case moved here after another office acknowledged it), or it was left out on the way.",
        ),
        FileState::Changed => l.pick(
            "导出包里放在这个位置的是另一个加密文件（摘要对不上）：路上被改动或调换过，没有打开。",
            "The bundle carries a different encrypted file in its place (its digest does not match): it was changed or swapped on the way and was not opened.",
        ),
        FileState::Damaged => l.pick(
            "加密文件损坏，打不开。",
            "The encrypted file is damaged and does not open.",
        ),
    }
}

/// The files of the tip (`followup` None) or of one follow-up, for the case page.
pub(crate) fn files_markup(l: Lang, c: &Case, followup: Option<u32>, files: &[CaseFile]) -> Markup {
    let base = match followup {
        None => format!("/case/{}", c.id),
        Some(m) => format!("/case/{}/followup/{m}", c.id),
    };
    let tag = followup.map_or("tip".to_owned(), |m| format!("f{m}"));
    html! {
        div.files {
            @for (i, f) in files.iter().enumerate() {
                @let n = i + 1;
                @let href = format!("{base}/file/{n}");
                @let (_, shown) = served_as(&f.file.mime);
                @let name = f.file.safe_file_name(n);
                article.evidence id={ "file-" (tag) "-" (n) } data-state=(state_key(f.state)) {
                    h4 { (kind_words(l, f.file.kind)) " " (n) " · " (size_text(l, f.file.bytes)) " · " code { (name) } }
                    @if f.kept() {
                        @match shown {
                            Shown::Image => {
                                figure {
                                    img src=(href) alt={ (kind_words(l, f.file.kind)) " " (n) } loading="lazy";
                                }
                            }
                            Shown::Audio => {
                                audio controls preload="metadata" src=(href) {
                                    (l.pick("浏览器放不了这段录音，请下载后收听。", "This browser cannot play it: download it to listen."))
                                }
                            }
                            Shown::Download => {}
                        }
                        p { a href=(href) download=(name) { (l.pick("下载 ", "Download ")) (name) } }
                    } @else {
                        p.warning.missing { strong { (l.pick("没有这个文件。", "This file is not here.")) } " " (state_words(l, f.state)) }
                        @if f.waived { p.hint { (l.pick("已决定不等这个文件，照常确认收到。", "You chose to go on without it; the case is acknowledged as it is.")) } }
                    }
                    (cleaning_markup(l, f))
                }
            }
        }
    }
}

fn state_key(state: FileState) -> &'static str {
    match state {
        FileState::Opened => "kept",
        FileState::Missing => "missing",
        FileState::Changed => "changed",
        FileState::Damaged => "damaged",
    }
}

/// What cleaning did to the file, or the warning that it was not cleaned.
fn cleaning_markup(l: Lang, f: &CaseFile) -> Markup {
    let r = &f.file;
    let not_cleaned = r.kind == Kind::File || r.cleaned == Some(false);
    let removed: Vec<String> = r.removed.iter().map(|w| removed_words(l, w)).collect();
    html! {
        @if not_cleaned {
            p.warning.not-cleaned {
                strong { (l.pick("这个文件没有经过清理，", "This file was not cleaned: ")) }
                (l.pick("它可能带有姓名、日期、作者、设备等信息，可能指向发送它的群众。转发或打印之前请先查看。", "it may carry names, dates, an author or a device, which may point to the resident who sent it. Look before you pass it on or print it."))
            }
        } @else if !removed.is_empty() {
            p.cleaned { (l.pick("已去除：", "Removed: ")) (removed.join(l.pick("、", ", "))) }
        } @else if r.kind == Kind::Photo {
            p.cleaned { (l.pick("照片在群众的手机上重新编码过，没有发现要去除的信息。", "The photo was re-encoded on the resident's device; nothing was found to remove.")) }
        }
        @if r.kind == Kind::Voice {
            p.hint {
                @if let Some(s) = r.seconds { (l.pick("时长 ", "Length ")) (format!("{s:.0}")) (l.pick(" 秒", " s")) " · " }
                @match r.disguised {
                    Some(true) => (l.pick("声音已变声处理", "the voice was disguised")),
                    Some(false) => strong { (l.pick("声音没有变声，可能认得出说话的人", "the voice was not disguised: the speaker may be recognised")) },
                    None => (l.pick("不知道是否变声", "not known whether the voice was disguised")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_images_and_sound_are_shown_and_nothing_runs() {
        assert_eq!(served_as("image/jpeg"), ("image/jpeg", Shown::Image));
        assert_eq!(served_as("IMAGE/PNG; x=1"), ("image/png", Shown::Image));
        assert_eq!(served_as("audio/x-wav"), ("audio/wav", Shown::Audio));
        for risky in [
            "image/svg+xml",
            "text/html",
            "application/xhtml+xml",
            "application/pdf",
            "text/plain",
            "application/javascript",
            "video/mp4",
            "image/heic",
            "",
            "image/jpeg\r\nX-Evil: 1",
        ] {
            assert_eq!(
                served_as(risky),
                ("application/octet-stream", Shown::Download),
                "{risky:?}"
            );
        }
    }

    #[test]
    fn names_are_given_as_utf8_and_plain_ascii() {
        assert_eq!(
            disposition("01-photo.jpg", Shown::Image),
            "inline; filename=\"01-photo.jpg\"; filename*=UTF-8''01-photo.jpg"
        );
        assert_eq!(
            disposition("02-低保名单.pdf", Shown::Download),
            "attachment; filename=\"02-____.pdf\"; filename*=UTF-8''02-%E4%BD%8E%E4%BF%9D%E5%90%8D%E5%8D%95.pdf"
        );
    }
}
