//! `/api/v1/uploads`: evidence files arrive here as encrypted blobs, in chunks, before the
//! tip or follow-up that names them (`docs/attachments.md`). Every chunk is on disk before
//! it is answered, so a page that lost its connection asks what is missing and sends only
//! that.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

use super::errors::{
    internal_error_response, json_error, json_payload_error, store_error_response,
};
use super::AppState;
use crate::domain::attachment::{UploadId, UPLOAD_CHUNK_BYTES};
use crate::service::uploads::UploadError;
use crate::store::UploadState;
use actix_web::http::StatusCode;

/// Bodies of `POST /api/v1/uploads`.
pub fn start_json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(256).error_handler(|e, _| {
        json_payload_error(e, "The request must be JSON like {\"bytes\": 65572}.")
    })
}

#[derive(Deserialize)]
pub struct StartRequest {
    bytes: u64,
}

#[derive(Serialize)]
struct Started {
    upload: String,
    chunk_bytes: usize,
    chunks: u32,
}

#[derive(Serialize)]
struct Received {
    received: u32,
    chunks: u32,
}

#[derive(Serialize)]
struct State {
    bytes: u64,
    chunk_bytes: usize,
    chunks: u32,
    missing: Vec<u32>,
    used: bool,
}

impl From<UploadState> for State {
    fn from(s: UploadState) -> Self {
        Self {
            bytes: s.bytes,
            chunk_bytes: UPLOAD_CHUNK_BYTES,
            chunks: s.chunks,
            missing: s.missing,
            used: s.used,
        }
    }
}

impl ResponseError for UploadError {
    fn error_response(&self) -> HttpResponse {
        // Closed after: a refused chunk's body may not have been read, and a page opens a
        // new connection for the next one anyway.
        let mut response = self.plain_response();
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        response
    }
}

impl UploadError {
    fn plain_response(&self) -> HttpResponse {
        match self {
            UploadError::Store(e) => store_error_response(e),
            UploadError::DiskFull | UploadError::Busy | UploadError::QuotaFull => {
                json_error(StatusCode::SERVICE_UNAVAILABLE, &self.to_string())
            }
            UploadError::BadId => json_error(StatusCode::BAD_REQUEST, &self.to_string()),
            UploadError::NotOctetStream => {
                json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &self.to_string())
            }
            UploadError::ChunkTooLarge => {
                json_error(StatusCode::PAYLOAD_TOO_LARGE, &self.to_string())
            }
            UploadError::BodyCut => json_error(StatusCode::BAD_REQUEST, &self.to_string()),
            UploadError::NoLength => json_error(StatusCode::LENGTH_REQUIRED, &self.to_string()),
            UploadError::Internal => internal_error_response(),
        }
    }
}

/// `POST /api/v1/uploads`: starts an upload of an encrypted file of `bytes`.
pub async fn start(
    state: web::Data<AppState>,
    body: web::Json<StartRequest>,
) -> Result<HttpResponse, UploadError> {
    let (id, chunks) = state.intake.start_upload(body.bytes).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(Started {
            upload: id.to_string(),
            chunk_bytes: UPLOAD_CHUNK_BYTES,
            chunks,
        }))
}

/// `PUT /api/v1/uploads/{upload}/{chunk}`: one chunk of the blob, stored before the answer.
pub async fn put_chunk(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> Result<HttpResponse, UploadError> {
    let is_octets = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/octet-stream"));
    if !is_octets {
        return Err(UploadError::NotOctetStream);
    }
    let (id, index) = path.into_inner();
    let id: UploadId = id.parse().map_err(|_| UploadError::BadId)?;
    let index: u32 = match index.parse() {
        Ok(i) if index.bytes().all(|b| b.is_ascii_digit()) => i,
        _ => {
            return Err(UploadError::Store(crate::store::StoreError::BadChunk(
                "the piece's number is not a number",
            )))
        }
    };
    // The chunk's declared length is taken from the memory for chunks before its body is
    // read; a chunk that does not say its length, or says more than a chunk, is refused.
    let declared: usize = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or(UploadError::NoLength)?;
    if declared > UPLOAD_CHUNK_BYTES {
        return Err(UploadError::ChunkTooLarge);
    }
    let _held = state
        .intake
        .uploads
        .chunk_kib
        .try_acquire_many(declared.div_ceil(1024).max(1) as u32)
        .map_err(|_| UploadError::Busy)?;
    let body = read_chunk(body, declared).await?;
    let state_now = state.intake.put_chunk(id, index, body).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(Received {
            received: state_now.chunks - state_now.missing.len() as u32,
            chunks: state_now.chunks,
        }))
}

/// A chunk's bytes, at most one chunk: a body that does not end, or ends too long, is
/// refused before anything is stored (it is ciphertext, so no wiping is needed).
async fn read_chunk(mut body: web::Payload, declared: usize) -> Result<Vec<u8>, UploadError> {
    use futures_core::Stream;
    let mut out = Vec::with_capacity(declared);
    while let Some(piece) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_next(cx)).await
    {
        let piece = piece.map_err(|_| UploadError::BodyCut)?;
        if out.len() + piece.len() > declared {
            return Err(UploadError::ChunkTooLarge);
        }
        out.extend_from_slice(&piece);
    }
    Ok(out)
}

/// `GET /api/v1/uploads/{upload}`: what is stored and what is missing.
pub async fn status(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, UploadError> {
    let id: UploadId = path.parse().map_err(|_| UploadError::BadId)?;
    let found = state.intake.upload_state(id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(State::from(found)))
}

/// `DELETE /api/v1/uploads/{upload}`: the resident took the file off the list before
/// sending; its chunks are deleted (an upload already part of a report stays).
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, UploadError> {
    let id: UploadId = path.parse().map_err(|_| UploadError::BadId)?;
    state.intake.drop_upload(id).await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

/// Upload ids as a tip or follow-up names them.
pub fn parse_ids(ids: &[String]) -> Result<Vec<UploadId>, crate::domain::attachment::BadUploadId> {
    ids.iter().map(|s| s.parse()).collect()
}
