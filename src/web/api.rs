//! `/api/v1` and `/api/v2`: the inspectors' key, tip intake, status and follow-ups.
//!
//! `/api/v1` takes receipts: the server runs Argon2id for each request. `/api/v2` takes the
//! lookup value a browser derived from its receipt (receipt version 2), so the server sees
//! neither the receipt nor its reply key and spends one keyed BLAKE2b per request.

use actix_web::{web, HttpResponse, HttpResponseBuilder};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::errors::{json_payload_error, FollowupError, StatusError, SubmitError};
use super::AppState;
use crate::domain::receipt::{LookupValue, Receipt};
use crate::domain::tip::SealedTip;
use crate::store::TipView;

pub fn tips_json_config(max_sealed_bytes: usize) -> web::JsonConfig {
    // Base64 grows the sealed box by a third; allow a little for the JSON around it. The
    // exact limit on the decoded box is checked in `SealedTip::from_base64`.
    web::JsonConfig::default()
        .limit(max_sealed_bytes / 3 * 4 + 1024)
        .error_handler(|e, _| {
            json_payload_error(
                e,
                "The request must be JSON like {\"sealed\": \"<base64 sealed box>\"}.",
            )
        })
}

pub fn status_json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(4096)
        .error_handler(|e, _| {
            json_payload_error(
                e,
                "The request must be JSON like {\"receipt\": \"1234 5678 ...\"}.",
            )
        })
}

pub fn lookup_json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(1024)
        .error_handler(|e, _| {
            json_payload_error(
                e,
                "The request must be JSON like {\"lookup\": \"<base64 lookup value>\"}.",
            )
        })
}

#[derive(Serialize)]
struct KeyResponse {
    version: u32,
    box_public_key: String,
    sign_public_key: String,
    fingerprint: String,
    demo: bool,
    receipt_kdf: ReceiptKdf,
    legacy_receipts: bool,
}

/// How a browser turns a receipt into its lookup value and reply key (receipt version 2).
#[derive(Serialize)]
pub struct ReceiptKdf {
    /// Always 2 for now.
    pub version: u32,
    /// libsodium's name for the algorithm of `crypto_pwhash`.
    pub alg: &'static str,
    /// The installation's salt, standard base64 (16 bytes).
    pub salt: String,
    /// Passes.
    pub ops: u32,
    /// Memory, in bytes.
    pub mem_bytes: u64,
}

impl ReceiptKdf {
    /// The installation's parameters.
    pub fn of(state: &AppState) -> Self {
        let hasher = &state.intake.hasher;
        Self {
            version: 2,
            alg: "argon2id13",
            salt: STANDARD.encode(hasher.salt()),
            ops: hasher.params().ops,
            mem_bytes: hasher.params().mem_bytes,
        }
    }
}

/// `GET /api/v1/key`
pub async fn key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(KeyResponse {
        version: 1,
        box_public_key: STANDARD.encode(state.intake.keys.box_key.as_bytes()),
        sign_public_key: STANDARD.encode(state.intake.keys.sign_key.as_bytes()),
        fingerprint: state.intake.keys.fingerprint(),
        demo: state.demo,
        receipt_kdf: ReceiptKdf::of(&state),
        legacy_receipts: state.intake.legacy_receipts,
    })
}

#[derive(Deserialize)]
pub struct SubmitRequest {
    sealed: String,
    /// From `POST /api/v1/receipts`, when the tip binds that receipt's reply key.
    #[serde(default)]
    ticket: Option<String>,
}

#[derive(Serialize)]
struct SubmitResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<&'a str>,
    received_on: String,
}

/// `POST /api/v1/tips`: store a sealed tip, then (only once it is on disk) answer. With a
/// ticket, the browser already holds the receipt; without one, a receipt is made and shown.
pub async fn submit_tip(
    state: web::Data<AppState>,
    body: web::Json<SubmitRequest>,
) -> Result<HttpResponse, SubmitError> {
    let body = body.into_inner();
    let sealed = SealedTip::from_base64(&body.sealed, state.intake.max_sealed_bytes)?;
    let (receipt, day) = match body.ticket.as_deref() {
        Some(ticket) => (
            None,
            state.intake.accept_reserved_tip(sealed, ticket).await?,
        ),
        None => {
            let (receipt, day) = state.intake.accept_tip(sealed).await?;
            (Some(receipt), day)
        }
    };
    Ok(receipt_response(
        HttpResponse::Created(),
        &SubmitResponse {
            receipt: receipt.as_deref().map(String::as_str),
            received_on: day.to_string(),
        },
    ))
}

#[derive(Serialize)]
struct ReceiptResponse<'a> {
    receipt: &'a str,
    reply_key: String,
    ticket: &'a str,
}

/// `POST /api/v1/receipts`: a receipt, its reply public key and a ticket, for a browser that
/// seals the reply key inside its tip before posting it to `/api/v1/tips` with the ticket.
/// Nothing is stored: the receipt means nothing until a tip is filed under it.
pub async fn reserve_receipt(state: web::Data<AppState>) -> Result<HttpResponse, SubmitError> {
    let reservation = state.intake.reserve_receipt().await?;
    Ok(receipt_response(
        HttpResponse::Ok(),
        &ReceiptResponse {
            receipt: &reservation.receipt,
            reply_key: STANDARD.encode(reservation.reply_key.as_bytes()),
            ticket: &reservation.ticket,
        },
    ))
}

/// A response that carries a receipt or a reply key: never cached, and the connection is
/// closed after it, so the buffers that held it are freed (and wiped by the allocator)
/// rather than kept for the next request.
fn receipt_response(mut builder: HttpResponseBuilder, body: &impl Serialize) -> HttpResponse {
    let json = Zeroizing::new(serde_json::to_vec(body).expect("plain data serializes"));
    builder
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .force_close()
        .body(json.to_vec())
}

#[derive(Deserialize)]
pub struct StatusRequest {
    receipt: String,
}

impl Drop for StatusRequest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.receipt);
    }
}

#[derive(Serialize)]
struct Step {
    day: String,
    status: &'static str,
}

#[derive(Serialize)]
struct SealedReply {
    day: String,
    sealed: String,
}

#[derive(Serialize)]
struct StatusResponse {
    status: &'static str,
    received_on: String,
    history: Vec<Step>,
    replies: Vec<SealedReply>,
    /// `/api/v1` only: the seed of the receipt's reply key (libsodium
    /// `crypto_box_seed_keypair`), so the page can open the replies itself. The client sent
    /// the receipt, so this tells it nothing it could not derive; it is never stored.
    /// `/api/v2` never has it: the browser derived the seed and never sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_key: Option<Zeroizing<String>>,
}

impl StatusResponse {
    fn of(view: &TipView, reply_seed: Option<&[u8; 32]>) -> Self {
        Self {
            status: view.status.as_str(),
            received_on: view.day.to_string(),
            history: view
                .history
                .iter()
                .map(|(day, status)| Step {
                    day: day.to_string(),
                    status: status.as_str(),
                })
                .collect(),
            replies: view
                .replies
                .iter()
                .map(|(day, sealed)| SealedReply {
                    day: day.to_string(),
                    sealed: STANDARD.encode(sealed),
                })
                .collect(),
            reply_key: reply_seed.map(|seed| Zeroizing::new(STANDARD.encode(seed))),
        }
    }
}

/// `POST /api/v1/status`: what a receipt unlocks (the server runs Argon2id).
pub async fn status(
    state: web::Data<AppState>,
    body: web::Json<StatusRequest>,
) -> Result<HttpResponse, StatusError> {
    let receipt = Receipt::parse(&body.into_inner().receipt)?;
    let (view, unlocked) = state.intake.find_status(receipt).await?;
    let body = StatusResponse::of(&view, Some(&unlocked.keys().reply_seed));
    Ok(receipt_response(HttpResponse::Ok(), &body))
}

#[derive(Deserialize)]
pub struct LookupRequest {
    lookup: String,
}

impl Drop for LookupRequest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.lookup);
    }
}

/// `POST /api/v2/status`: what a lookup value unlocks, without the reply key.
pub async fn status_v2(
    state: web::Data<AppState>,
    body: web::Json<LookupRequest>,
) -> Result<HttpResponse, StatusError> {
    let value = LookupValue::from_base64(&body.lookup)?;
    let view = state.intake.find_status_by_lookup(&value).await?;
    Ok(receipt_response(
        HttpResponse::Ok(),
        &StatusResponse::of(&view, None),
    ))
}

#[derive(Deserialize)]
pub struct SubmitV2Request {
    sealed: String,
    lookup: String,
}

impl Drop for SubmitV2Request {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.lookup);
    }
}

#[derive(Serialize)]
struct ReceivedResponse {
    received_on: String,
}

/// `POST /api/v2/tips`: a tip sealed in the browser, filed under the lookup value of the
/// receipt the browser made. Answered only once the tip is on disk.
pub async fn submit_tip_v2(
    state: web::Data<AppState>,
    body: web::Json<SubmitV2Request>,
) -> Result<HttpResponse, SubmitError> {
    let value = LookupValue::from_base64(&body.lookup)?;
    let sealed = SealedTip::from_base64(&body.sealed, state.intake.max_sealed_bytes)?;
    let day = state.intake.accept_tip_by_lookup(sealed, &value).await?;
    Ok(receipt_response(
        HttpResponse::Created(),
        &ReceivedResponse {
            received_on: day.to_string(),
        },
    ))
}

/// `POST /api/v2/followups`: a follow-up envelope made in the browser (version 2 stored
/// follow-up: boxed with the reply key the browser derived), filed as it is.
pub async fn followup_v2(
    state: web::Data<AppState>,
    body: web::Json<SubmitV2Request>,
) -> Result<HttpResponse, FollowupError> {
    let value = LookupValue::from_base64(&body.lookup).map_err(StatusError::from)?;
    let envelope = SealedTip::from_base64(
        &body.sealed,
        state.intake.max_sealed_bytes + crate::domain::tip::PAD_BLOCK,
    )?;
    let day = state.intake.add_sealed_followup(&value, envelope).await?;
    Ok(receipt_response(
        HttpResponse::Created(),
        &ReceivedResponse {
            received_on: day.to_string(),
        },
    ))
}

#[derive(Deserialize)]
pub struct FollowupRequest {
    receipt: String,
    sealed: String,
}

impl Drop for FollowupRequest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.receipt);
    }
}

#[derive(Serialize)]
struct FollowupResponse {
    received_on: String,
}

/// `POST /api/v1/followups`: more words from the resident, sealed like a tip, filed under
/// the tip of the receipt.
pub async fn followup(
    state: web::Data<AppState>,
    body: web::Json<FollowupRequest>,
) -> Result<HttpResponse, FollowupError> {
    let body = body.into_inner();
    let receipt = Receipt::parse(&body.receipt)?;
    let sealed = SealedTip::from_base64(&body.sealed, state.intake.max_sealed_bytes)?;
    let day = state.intake.add_followup(receipt, sealed).await?;
    Ok(receipt_response(
        HttpResponse::Created(),
        &FollowupResponse {
            received_on: day.to_string(),
        },
    ))
}
