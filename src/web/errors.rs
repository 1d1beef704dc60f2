//! Error responses: always JSON `{"error": "<plain sentence>"}`, never with tip text or a
//! receipt in it, and one shared mapping from store errors to HTTP.

use actix_web::error::{InternalError, JsonPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::receipt::ReceiptError;
use crate::domain::tip::SealedTipError;
pub use crate::service::{StatusError, SubmitError};
use crate::store::StoreError;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    /// For a code on a printed form that finds no tip: `waiting` (its letter is not entered
    /// yet) or `withdrawn` (its batch was), so that a page can say so in its own words.
    #[serde(skip_serializing_if = "Option::is_none")]
    stub: Option<&'static str>,
    /// For a refusal a page words itself (the clerk's pages, in the clerk's language): a
    /// stable name of what was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<&'static str>,
}

/// A JSON error response.
pub fn json_error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(ErrorBody {
            error: message,
            stub: None,
            refused: None,
        })
}

/// A JSON error that also names what was refused (`refused`), for pages that say it in
/// their own words.
pub fn json_refusal(status: StatusCode, message: &str, refused: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(ErrorBody {
            error: message,
            stub: None,
            refused: Some(refused),
        })
}

/// The 404 for a printed form's code under which no tip is filed: the sentence and the
/// form's state (`waiting` or `withdrawn`).
fn stub_error(message: &str, stub: &'static str) -> HttpResponse {
    HttpResponse::build(StatusCode::NOT_FOUND)
        .insert_header(("Cache-Control", "no-store"))
        .json(ErrorBody {
            error: message,
            stub: Some(stub),
            refused: None,
        })
}

/// The one mapping from store failures to what a client is told. Details go to the
/// operator's log (they never hold tip text or receipts), not to the client.
pub fn store_error_response(e: &StoreError) -> HttpResponse {
    let refusal = match e {
        StoreError::NotABlobLength | StoreError::BadChunk(_) | StoreError::TooManyFiles => {
            Some(StatusCode::BAD_REQUEST)
        }
        StoreError::FilesTooLarge => Some(StatusCode::PAYLOAD_TOO_LARGE),
        StoreError::UnknownUpload => Some(StatusCode::NOT_FOUND),
        StoreError::UploadUsed
        | StoreError::UploadIncomplete(_)
        | StoreError::ChunkConflict
        | StoreError::TipFilesFull
        | StoreError::TooManyFollowupsHeld => Some(StatusCode::CONFLICT),
        _ => None,
    };
    if let Some(status) = refusal {
        return json_error(status, &e.to_string());
    }
    tracing::error!(error = %e, "store failure");
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service cannot save or read reports right now. Nothing was changed. Please try again later.",
    )
}

/// Failure of a blocking task (a panic or a shut-down pool).
pub fn internal_error_response() -> HttpResponse {
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side. Nothing was saved. Please try again.",
    )
}

impl ResponseError for SubmitError {
    fn error_response(&self) -> HttpResponse {
        match self {
            SubmitError::Sealed(e @ SealedTipError::TooLarge { .. }) => {
                json_error(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string())
            }
            SubmitError::Sealed(e) => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
            SubmitError::Store(e) => store_error_response(e),
            SubmitError::DiskFull | SubmitError::QuotaFull => {
                json_error(StatusCode::SERVICE_UNAVAILABLE, &self.to_string())
            }
            SubmitError::Ticket(_)
            | SubmitError::Lookup(_)
            | SubmitError::Choice(_)
            | SubmitError::Addressing => json_error(StatusCode::BAD_REQUEST, &self.to_string()),
            SubmitError::TicketUsed | SubmitError::LookupUsed => {
                json_error(StatusCode::CONFLICT, &self.to_string())
            }
            SubmitError::BadUpload(_) => json_error(StatusCode::BAD_REQUEST, &self.to_string()),
            SubmitError::Internal => internal_error_response(),
        }
    }
}

impl ResponseError for StatusError {
    fn error_response(&self) -> HttpResponse {
        match self {
            StatusError::Receipt(e) => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
            StatusError::Lookup(e) => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
            StatusError::Unknown => json_error(StatusCode::NOT_FOUND, &self.to_string()),
            StatusError::NotEntered => stub_error(&self.to_string(), "waiting"),
            StatusError::Withdrawn => stub_error(&self.to_string(), "withdrawn"),
            StatusError::TooLong => json_error(StatusCode::PAYLOAD_TOO_LARGE, &self.to_string()),
            StatusError::NoQuestion | StatusError::CannotRelease => {
                json_error(StatusCode::CONFLICT, &self.to_string())
            }
            StatusError::BadUpload(_) => json_error(StatusCode::BAD_REQUEST, &self.to_string()),
            StatusError::Store(e) => store_error_response(e),
            StatusError::DiskFull | StatusError::QuotaFull => {
                json_error(StatusCode::SERVICE_UNAVAILABLE, &self.to_string())
            }
            StatusError::Internal => internal_error_response(),
        }
    }
}

/// Errors of `POST /api/v1/followups`.
#[derive(Debug, thiserror::Error)]
pub enum FollowupError {
    /// The receipt was refused or is unknown, or the store failed.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The sealed message was refused.
    #[error(transparent)]
    Sealed(#[from] SealedTipError),
}

impl From<ReceiptError> for FollowupError {
    fn from(e: ReceiptError) -> Self {
        FollowupError::Status(StatusError::Receipt(e))
    }
}

impl ResponseError for FollowupError {
    fn error_response(&self) -> HttpResponse {
        match self {
            FollowupError::Status(e) => e.error_response(),
            FollowupError::Sealed(e) => SubmitError::Sealed(e.clone()).error_response(),
        }
    }
}

/// Errors of the admin routes.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Missing or wrong bearer token.
    #[error("This needs the admin token: send it as `Authorization: Bearer <token>`.")]
    Unauthorized,
    /// A signed bundle was refused before anything was applied.
    #[error("The bundle was refused and nothing was applied: {0}.")]
    Refused(String),
    /// A signed bundle was already applied, or is older than one that was.
    #[error("The bundle was refused and nothing was applied: {0}.")]
    OutOfOrder(String),
    /// A signed bundle names a tip the server does not hold.
    #[error("The bundle was refused and nothing was applied: {0}.")]
    UnknownTip(String),
    /// The office that signed the bundle may not do what it asks.
    #[error("The bundle was refused and nothing was applied: {0}.")]
    NotAllowed(String),
    /// A directory of offices was refused.
    #[error("The directory of offices was refused and nothing was changed: {0}.")]
    Directory(String),
    /// An export for an office the directory does not hold.
    #[error("There is no such office in the county's directory of offices.")]
    UnknownOffice,
    /// The bundle is larger than any bundle the server takes.
    #[error("The bundle is too large: the server takes signed bundles of at most 16 MiB.")]
    TooLarge,
    /// The body could not be read to its end.
    #[error("The bundle did not arrive whole. Please send it again.")]
    BadBody,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Internal failure.
    #[error("internal failure")]
    Internal,
}

impl ResponseError for AdminError {
    fn error_response(&self) -> HttpResponse {
        match self {
            AdminError::Unauthorized => json_error(StatusCode::UNAUTHORIZED, &self.to_string()),
            AdminError::Refused(_) => json_error(StatusCode::BAD_REQUEST, &self.to_string()),
            AdminError::OutOfOrder(_) => json_error(StatusCode::CONFLICT, &self.to_string()),
            AdminError::UnknownTip(_) => {
                json_error(StatusCode::UNPROCESSABLE_ENTITY, &self.to_string())
            }
            AdminError::NotAllowed(_) => json_error(StatusCode::FORBIDDEN, &self.to_string()),
            AdminError::UnknownOffice => json_error(StatusCode::NOT_FOUND, &self.to_string()),
            AdminError::Directory(_) => json_error(StatusCode::BAD_REQUEST, &self.to_string()),
            AdminError::TooLarge => json_error(StatusCode::PAYLOAD_TOO_LARGE, &self.to_string()),
            AdminError::BadBody => json_error(StatusCode::BAD_REQUEST, &self.to_string()),
            AdminError::Store(e) => store_error_response(e),
            AdminError::Internal => internal_error_response(),
        }
    }
}

/// Maps JSON extraction failures to plain JSON errors. `hint` says what the body should be.
/// serde's own messages are not passed on: they may quote the input, and the input may be
/// a receipt.
pub fn json_payload_error(err: JsonPayloadError, hint: &'static str) -> actix_web::Error {
    let response = match &err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request is too large. Please shorten the report or send it in parts.",
            )
        }
        JsonPayloadError::ContentType => json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the request as JSON, with the header Content-Type: application/json.",
        ),
        _ => json_error(StatusCode::BAD_REQUEST, hint),
    };
    InternalError::from_response(err, response).into()
}

/// For addresses that do not exist.
pub async fn not_found(_req: HttpRequest) -> HttpResponse {
    json_error(StatusCode::NOT_FOUND, "There is nothing at this address.")
}

/// For a known address asked with the wrong method.
pub async fn method_not_allowed() -> HttpResponse {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "This address does not take that kind of request.",
    )
}
