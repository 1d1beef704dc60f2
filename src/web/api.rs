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
use super::uploads::parse_ids;
use super::AppState;
use crate::domain::addressing::MoveState;
use crate::domain::office::{Directory, OfficeId};
use crate::domain::receipt::{LookupValue, Receipt};
use crate::domain::tip::SealedTip;
use crate::service::offices::ChoiceError;
use crate::service::FollowupContent;
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
    /// The offices a report may be addressed to: the county first, then the towns.
    offices: Vec<OfficeJson>,
    /// The number of the signed directory in use (0: none, the county alone).
    directory: u64,
}

#[derive(Serialize)]
struct OfficeJson {
    id: String,
    name: String,
    county: bool,
    box_public_key: String,
    fingerprint: String,
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
    let directory = state.intake.offices.directory();
    let offices = std::iter::once((true, &directory.root))
        .chain(directory.towns.iter().map(|t| (false, t)))
        .map(|(county, o)| OfficeJson {
            id: o.id.to_string(),
            name: o.name.clone(),
            county,
            box_public_key: STANDARD.encode(o.keys.box_key.as_bytes()),
            fingerprint: o.keys.fingerprint(),
        })
        .collect();
    HttpResponse::Ok().json(KeyResponse {
        version: 1,
        box_public_key: STANDARD.encode(state.intake.keys.box_key.as_bytes()),
        sign_public_key: STANDARD.encode(state.intake.keys.sign_key.as_bytes()),
        fingerprint: state.intake.keys.fingerprint(),
        demo: state.demo,
        receipt_kdf: ReceiptKdf::of(&state),
        legacy_receipts: state.intake.legacy_receipts,
        offices,
        directory: directory.sequence,
    })
}

#[derive(Deserialize)]
pub struct SubmitRequest {
    sealed: String,
    /// From `POST /api/v1/receipts`, when the tip binds that receipt's reply key.
    #[serde(default)]
    ticket: Option<String>,
    /// The town offices the tip is sealed for besides the county (format 2); none for the
    /// county alone.
    #[serde(default)]
    towns: Vec<String>,
    /// Complete uploads that are the tip's evidence files, in the order the sealed tip
    /// names them (`docs/attachments.md`).
    #[serde(default)]
    uploads: Vec<String>,
}

/// Office ids as sent; a malformed one is an office the directory does not hold.
fn parse_towns(towns: &[String]) -> Result<Vec<OfficeId>, SubmitError> {
    towns
        .iter()
        .map(|t| t.parse::<OfficeId>())
        .collect::<Result<_, _>>()
        .map_err(|_| SubmitError::Choice(ChoiceError::UnknownOffice))
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
    let towns = parse_towns(&body.towns)?;
    let uploads = parse_ids(&body.uploads)?;
    let (receipt, day) = match body.ticket.as_deref() {
        Some(ticket) => (
            None,
            state
                .intake
                .accept_reserved_tip(sealed, ticket, towns, uploads)
                .await?,
        ),
        None => {
            let (receipt, day) = state.intake.accept_tip(sealed, towns, uploads).await?;
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
    /// The offices that read the report now, the county first: follow-ups are sealed for
    /// them.
    offices: Vec<ReaderJson>,
    /// Moves of the report between offices, oldest first.
    moves: Vec<MoveJson>,
}

#[derive(Serialize)]
struct ReaderJson {
    id: String,
    name: String,
    box_public_key: String,
}

#[derive(Serialize)]
struct MoveJson {
    by: String,
    by_name: String,
    to: String,
    to_name: String,
    proposed_on: String,
    /// waiting, agreed, declined or done.
    state: &'static str,
    /// The day of the answer (agreed, declined) or of the move (done).
    on: Option<String>,
}

impl StatusResponse {
    fn of(view: &TipView, reply_seed: Option<&[u8; 32]>, directory: &Directory) -> Self {
        Self {
            offices: std::iter::once(&directory.root)
                .chain(view.towns.iter().filter_map(|t| directory.town(t)))
                .map(|o| ReaderJson {
                    id: o.id.to_string(),
                    name: o.name.clone(),
                    box_public_key: STANDARD.encode(o.keys.box_key.as_bytes()),
                })
                .collect(),
            moves: view
                .moves
                .iter()
                .map(|m| {
                    let (state_name, on) = match m.state {
                        MoveState::Waiting => ("waiting", None),
                        MoveState::Agreed(d) => ("agreed", Some(d)),
                        MoveState::Declined(d) => ("declined", Some(d)),
                        MoveState::Done(d) => ("done", Some(d)),
                    };
                    let to = directory.office(&m.to);
                    let by = directory.office(&m.by);
                    MoveJson {
                        by: by.map(|o| o.id.to_string()).unwrap_or_default(),
                        by_name: by.map(|o| o.name.clone()).unwrap_or_default(),
                        to: to.map(|o| o.id.to_string()).unwrap_or_default(),
                        to_name: to.map(|o| o.name.clone()).unwrap_or_default(),
                        proposed_on: m.proposed_on.to_string(),
                        state: state_name,
                        on: on.map(|d| d.to_string()),
                    }
                })
                .collect(),
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
    let directory = state.intake.offices.directory();
    let body = StatusResponse::of(&view, Some(&unlocked.keys().reply_seed), &directory);
    Ok(receipt_response(HttpResponse::Ok(), &body))
}

#[derive(Deserialize)]
pub struct ConsentRequest {
    receipt: String,
    to: String,
    agree: bool,
}

impl Drop for ConsentRequest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.receipt);
    }
}

/// `POST /api/v1/consent`: the resident's answer to the proposed move of their report to a
/// town office (the server opens the town's key with the receipt's reply key); answers with
/// the report as it now stands, like `/api/v1/status`.
pub async fn consent(
    state: web::Data<AppState>,
    body: web::Json<ConsentRequest>,
) -> Result<HttpResponse, StatusError> {
    let body = body.into_inner();
    let receipt = Receipt::parse(&body.receipt)?;
    let to = body
        .to
        .parse::<OfficeId>()
        .map_err(|_| StatusError::NoQuestion)?;
    let (view, unlocked) = state.intake.decide_move(receipt, to, body.agree).await?;
    let directory = state.intake.offices.directory();
    let body = StatusResponse::of(&view, Some(&unlocked.keys().reply_seed), &directory);
    Ok(receipt_response(HttpResponse::Ok(), &body))
}

#[derive(Deserialize)]
pub struct ConsentV2Request {
    lookup: String,
    to: String,
    agree: bool,
    /// With "agree": the town's key stanza, opened in the browser with the receipt's reply
    /// key from what `/api/v2/status` gave (`moves[].sealed_for_you`).
    #[serde(default)]
    stanza: Option<String>,
}

impl Drop for ConsentV2Request {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.lookup);
    }
}

/// `POST /api/v2/consent`: the resident's answer under a lookup value; with "agree", the
/// town's key the browser opened. Answers like `/api/v2/status`.
pub async fn consent_v2(
    state: web::Data<AppState>,
    body: web::Json<ConsentV2Request>,
) -> Result<HttpResponse, StatusError> {
    let value = LookupValue::from_base64(&body.lookup)?;
    let to = body
        .to
        .parse::<OfficeId>()
        .map_err(|_| StatusError::NoQuestion)?;
    let stanza = match &body.stanza {
        Some(text) => Some(
            STANDARD
                .decode(text)
                .map_err(|_| StatusError::CannotRelease)?,
        ),
        None => None,
    };
    let view = state
        .intake
        .decide_move_by_lookup(&value, to, body.agree, stanza)
        .await?;
    status_v2_answer(&state.intake, &value, &view).await
}

/// The `/api/v2/status` answer: no reply key; for each move waiting for the resident, the
/// town's key sealed to the resident's reply key, for the browser to open on "agree".
pub(crate) async fn status_v2_answer(
    intake: &crate::service::Intake,
    value: &LookupValue,
    view: &TipView,
) -> Result<HttpResponse, StatusError> {
    let directory = intake.offices.directory();
    let mut body = serde_json::to_value(StatusResponse::of(view, None, &directory))
        .map_err(|_| StatusError::Internal)?;
    for (i, m) in view.moves.iter().enumerate() {
        if let (MoveState::Waiting, Some(town)) = (m.state, m.to.town()) {
            if let Some(wrapped) = intake.waiting_key(value, town).await? {
                body["moves"][i]["sealed_for_you"] = STANDARD.encode(wrapped).into();
            }
        }
    }
    let json = Zeroizing::new(serde_json::to_vec(&body).map_err(|_| StatusError::Internal)?);
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .force_close()
        .body(json.to_vec()))
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
    status_v2_answer(&state.intake, &value, &view).await
}

#[derive(Deserialize)]
pub struct SubmitV2Request {
    sealed: String,
    lookup: String,
    /// As in `/api/v1/tips`: the town offices a format 2 tip is sealed for.
    #[serde(default)]
    towns: Vec<String>,
    /// As in `/api/v1/tips`: the evidence files' uploads, in order.
    #[serde(default)]
    uploads: Vec<String>,
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
    let towns = parse_towns(&body.towns)?;
    let uploads = parse_ids(&body.uploads)?;
    let day = state
        .intake
        .accept_tip_by_lookup(sealed, &value, towns, uploads)
        .await?;
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
    let uploads = parse_ids(&body.uploads).map_err(StatusError::from)?;
    let day = state
        .intake
        .add_sealed_followup(&value, envelope, uploads)
        .await?;
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
    /// The follow-up's evidence files' uploads, in order.
    #[serde(default)]
    uploads: Vec<String>,
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
    let uploads = parse_ids(&body.uploads).map_err(StatusError::from)?;
    let day = state
        .intake
        .add_followup(receipt, FollowupContent::Sealed(sealed), uploads)
        .await?;
    Ok(receipt_response(
        HttpResponse::Created(),
        &FollowupResponse {
            received_on: day.to_string(),
        },
    ))
}
