//! The clerk's JSON API, called by the clerk's pages (`js/clerk.js`): registering a batch of
//! printed forms by their lookup values, entering a sealed letter, call or visit, and
//! reading a caller's status by its lookup value. Receipts never come here.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::ClerkState;
use crate::domain::intake::{Batch, Channel};
use crate::domain::office::OfficeId;
use crate::domain::receipt::LookupValue;
use crate::domain::tip::SealedTip;
use crate::service::clerk::{ClerkError, Entry};
use crate::service::offices::ChoiceError;
use crate::service::{StatusError, SubmitError};
use crate::store::StoreError;
use crate::web::errors::{json_error, json_payload_error, json_refusal, store_error_response};

/// A batch of at most 200 lookup values, 44 characters of base64 each.
pub fn batch_json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(16 * 1024)
        .error_handler(|e, _| {
            json_payload_error(
                e,
                "The request must be JSON like {\"lookups\": [\"<base64 lookup value>\", ...]}.",
            )
        })
}

impl ResponseError for ClerkError {
    fn error_response(&self) -> HttpResponse {
        let say = |status, kind| json_refusal(status, &self.to_string(), kind);
        match self {
            ClerkError::Submit(e) => e.error_response(),
            ClerkError::Channel => say(StatusCode::BAD_REQUEST, "channel"),
            ClerkError::AlreadyEntered => say(StatusCode::CONFLICT, "already-entered"),
            ClerkError::CodeTaken => say(StatusCode::CONFLICT, "code-taken"),
            ClerkError::NoSuchBatch => say(StatusCode::NOT_FOUND, "no-batch"),
            ClerkError::Store(StoreError::UnknownStub) => {
                say(StatusCode::NOT_FOUND, "unknown-stub")
            }
            ClerkError::Store(StoreError::BatchVoided(_)) => say(StatusCode::CONFLICT, "withdrawn"),
            ClerkError::Store(e @ StoreError::StubTaken) => {
                json_error(StatusCode::CONFLICT, &e.to_string())
            }
            ClerkError::Store(e @ StoreError::BatchSize) => {
                json_error(StatusCode::BAD_REQUEST, &e.to_string())
            }
            ClerkError::Store(e) => store_error_response(e),
            ClerkError::Internal => crate::web::errors::internal_error_response(),
        }
    }
}

/// What `POST /api/batches` takes.
#[derive(Deserialize)]
pub struct BatchRequest {
    lookups: Vec<String>,
}

impl Drop for BatchRequest {
    fn drop(&mut self) {
        for l in &mut self.lookups {
            l.zeroize();
        }
    }
}

/// A batch as the pages show it.
#[derive(Serialize)]
pub struct BatchJson {
    batch: u32,
    label: String,
    made_on: String,
    forms: u32,
    voided_on: Option<String>,
}

impl From<&Batch> for BatchJson {
    fn from(b: &Batch) -> Self {
        Self {
            batch: b.number,
            label: b.label(),
            made_on: b.made_on.to_string(),
            forms: b.forms,
            voided_on: b.voided_on.map(|d| d.to_string()),
        }
    }
}

/// `POST /api/batches`: the lookup values of a batch of forms made in the clerk's browser;
/// answers the batch and its label (201), or refuses it whole.
pub async fn print_batch(
    state: web::Data<ClerkState>,
    body: web::Json<BatchRequest>,
) -> Result<HttpResponse, ClerkError> {
    let values = body
        .lookups
        .iter()
        .map(|l| LookupValue::from_base64(l))
        .collect::<Result<Vec<_>, _>>()
        .map_err(SubmitError::from)?;
    let batch = state.intake.print_batch(&values).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(BatchJson::from(&batch)))
}

/// What `POST /api/entries` takes.
#[derive(Deserialize)]
pub struct EntryRequest {
    sealed: String,
    lookup: String,
    channel: String,
    /// Whether the code is a printed form's.
    #[serde(default)]
    stub: bool,
    #[serde(default)]
    towns: Vec<String>,
}

impl Drop for EntryRequest {
    fn drop(&mut self) {
        self.lookup.zeroize();
    }
}

#[derive(Serialize)]
struct Entered {
    received_on: String,
    channel: &'static str,
}

/// `POST /api/entries`: a letter, call or visit sealed in the clerk's browser; 201 once it
/// is on disk.
pub async fn enter(
    state: web::Data<ClerkState>,
    body: web::Json<EntryRequest>,
) -> Result<HttpResponse, ClerkError> {
    let channel: Channel = body.channel.parse().map_err(|_| ClerkError::Channel)?;
    let lookup = LookupValue::from_base64(&body.lookup).map_err(SubmitError::from)?;
    let sealed = SealedTip::from_base64(&body.sealed, state.intake.max_sealed_bytes)
        .map_err(SubmitError::from)?;
    let towns = body
        .towns
        .iter()
        .map(|t| t.parse::<OfficeId>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| SubmitError::Choice(ChoiceError::UnknownOffice))?;
    let entry = Entry {
        sealed,
        lookup,
        channel,
        from_stub: body.stub,
        towns,
    };
    let day = state.intake.enter(entry).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .force_close()
        .json(Entered {
            received_on: day.to_string(),
            channel: channel.as_str(),
        }))
}

/// What `POST /api/status` takes.
#[derive(Deserialize)]
pub struct LookupRequest {
    lookup: String,
}

impl Drop for LookupRequest {
    fn drop(&mut self) {
        self.lookup.zeroize();
    }
}

/// `POST /api/status`: a caller's status by the lookup value the clerk's browser derived
/// from the code they read out: the same answer as `/api/v2/status` (the replies sealed, for
/// the browser to open), a 404 saying whether it is a form not entered yet.
pub async fn status(
    state: web::Data<ClerkState>,
    body: web::Json<LookupRequest>,
) -> Result<HttpResponse, StatusError> {
    let value = LookupValue::from_base64(&body.lookup)?;
    let view = state.intake.find_status_by_lookup(&value).await?;
    crate::web::api::status_v2_answer(&state.intake, &value, &view).await
}
