//! The report and follow-up forms posted without JavaScript: as `multipart/form-data` when
//! they carry files (the pages' forms always say so), or urlencoded (older pages, scripts).
//! Text fields and files are read into wiped buffers, with bounds on each and in all, and
//! nothing is stored until the whole form is in.

use std::collections::BTreeMap;
use std::pin::Pin;

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_core::Stream;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::domain::attachment::{MAX_ATTACHMENTS, MAX_FILE_BYTES};
use crate::service::uploads::PlainFile;

/// Most bytes of files one form may carry (the padded limit is checked when they are sealed).
pub const MAX_FORM_FILE_BYTES: usize = 33 * 1024 * 1024;
/// Most bytes of one text field other than the words themselves.
const MAX_FIELD_BYTES: usize = 32 * 1024;

/// Why a form could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum FormError {
    /// It could not be read (cut off, malformed).
    Unreadable,
    /// Its words or a field are longer than the form takes.
    TooLong,
    /// More files than a report may carry.
    TooManyFiles,
    /// Files over the size limits.
    FilesTooLarge,
    /// Too many forms with files are being read at once.
    Busy,
}

/// What a form posted: its text fields and its files.
pub struct Posted<'a, T> {
    /// The text fields.
    pub form: T,
    /// The files, in the order they came.
    pub files: Vec<PlainFile>,
    /// The memory the form holds, given back when this drops (after its files are sealed).
    pub _held: Option<tokio::sync::SemaphorePermit<'a>>,
}

/// Reads a report or follow-up form. `T` is built from the text fields (as from an
/// urlencoded body); `body_limit` bounds the field named `body`. The checkbox `keep_names`
/// says whether file names are kept. A form with files first takes its declared length
/// (or the most a form may be) from `memory`, in MiB, and is turned away when that is spent.
pub async fn read<'a, T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: web::Payload,
    body_limit: usize,
    memory: &'a tokio::sync::Semaphore,
) -> Result<Posted<'a, T>, FormError> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("multipart/form-data"));
    if !multipart {
        let mut inner = payload.into_inner();
        let form = web::Form::<T>::from_request(req, &mut inner)
            .await
            .map_err(|_| FormError::Unreadable)?;
        return Ok(Posted {
            form: form.into_inner(),
            files: Vec::new(),
            _held: None,
        });
    }
    let most = MAX_FORM_FILE_BYTES + body_limit + 64 * 1024;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > most) {
        return Err(FormError::FilesTooLarge);
    }
    let mib = declared.unwrap_or(most).div_ceil(1024 * 1024).max(1) as u32;
    let held = memory.try_acquire_many(mib).map_err(|_| FormError::Busy)?;
    if let Some(guards) = req.app_data::<web::Data<crate::web::guards::Guards>>() {
        crate::web::guards::allow_slow_body(req, guards.deadline);
    }
    let mut parts = Multipart::new(req.headers(), payload.into_inner());
    let mut fields: BTreeMap<String, Zeroizing<String>> = BTreeMap::new();
    let mut files: Vec<(Zeroizing<Vec<u8>>, String, Option<String>)> = Vec::new();
    let mut file_bytes = 0usize;
    while let Some(part) = next(&mut parts).await {
        let mut part = part.map_err(|_| FormError::Unreadable)?;
        let name = part.name().unwrap_or("").to_owned();
        let filename = part
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        if name == "files" {
            let mime = part
                .content_type()
                .map(|m| m.essence_str().to_owned())
                .unwrap_or_default();
            let mut bytes = Zeroizing::new(Vec::new());
            while let Some(piece) = next(&mut part).await {
                let piece = piece.map_err(|_| FormError::Unreadable)?;
                file_bytes += piece.len();
                if bytes.len() + piece.len() > MAX_FILE_BYTES as usize
                    || file_bytes > MAX_FORM_FILE_BYTES
                {
                    return Err(FormError::FilesTooLarge);
                }
                extend_wiping(&mut bytes, &piece);
            }
            // A file input left empty still sends a part, with no name and no bytes.
            if bytes.is_empty() && filename.as_deref().unwrap_or("").is_empty() {
                continue;
            }
            if files.len() == MAX_ATTACHMENTS {
                return Err(FormError::TooManyFiles);
            }
            files.push((bytes, mime, filename));
            continue;
        }
        let limit = if name == "body" {
            body_limit
        } else {
            MAX_FIELD_BYTES
        };
        let mut value = Zeroizing::new(Vec::new());
        while let Some(piece) = next(&mut part).await {
            let piece = piece.map_err(|_| FormError::Unreadable)?;
            if value.len() + piece.len() > limit {
                return Err(FormError::TooLong);
            }
            extend_wiping(&mut value, &piece);
        }
        let text =
            String::from_utf8(std::mem::take(&mut *value)).map_err(|_| FormError::Unreadable)?;
        if fields.len() < 64 {
            fields.insert(name, Zeroizing::new(text));
        }
    }
    let keep_names = fields.get("keep_names").is_some_and(|v| v.as_str() == "1");
    let form = from_fields(&fields)?;
    let files = files
        .into_iter()
        .map(|(bytes, mime, name)| PlainFile {
            bytes,
            mime,
            name: name.filter(|_| keep_names).map(Zeroizing::new),
        })
        .collect();
    Ok(Posted {
        form,
        files,
        _held: Some(held),
    })
}

/// `T` from text fields, through the same deserializer an urlencoded body goes through.
fn from_fields<T: DeserializeOwned>(
    fields: &BTreeMap<String, Zeroizing<String>>,
) -> Result<T, FormError> {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let encoded =
        Zeroizing::new(serde_urlencoded::to_string(&pairs).map_err(|_| FormError::Unreadable)?);
    serde_urlencoded::from_str(&encoded).map_err(|_| FormError::Unreadable)
}

/// Appends to a buffer that is wiped; growing it first, so that no copy of the old contents
/// is left behind in a freed block (the allocator wipes those too; this does not rely on it).
fn extend_wiping(buf: &mut Zeroizing<Vec<u8>>, piece: &[u8]) {
    if buf.len() + piece.len() > buf.capacity() {
        let mut bigger = Zeroizing::new(Vec::with_capacity(
            (buf.len() + piece.len()).max(buf.capacity() * 2),
        ));
        bigger.extend_from_slice(buf);
        *buf = bigger;
    }
    buf.extend_from_slice(piece);
}

async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}
