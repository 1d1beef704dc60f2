//! `/admin/v1`, on the admin listener only.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::errors::AdminError;
use super::AdminState;
use crate::bundle::write_export;
use crate::crypto;
use crate::domain::Day;

/// Checks `Authorization: Bearer <token>` in constant time (both sides hashed first, so
/// neither the length nor the content of the token leaks through timing).
fn authorize(req: &HttpRequest, state: &AdminState) -> Result<(), AdminError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(AdminError::Unauthorized)?;
    let hash: [u8; 32] = crypto::blake2b(None, &[presented.trim().as_bytes()]);
    if crypto::ct_eq(&hash, &state.token_hash) {
        Ok(())
    } else {
        Err(AdminError::Unauthorized)
    }
}

/// `GET /admin/v1/export`: every tip the server holds, as an export bundle.
pub async fn export(
    req: HttpRequest,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state)?;
    let store = state.store.clone();
    let tips = web::block(move || store.export())
        .await
        .map_err(|_| AdminError::Internal)??;
    let today = Day::today();
    tracing::info!(tips = tips.len(), "export bundle written");
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"whistlebox-export-{today}.json\""),
        ))
        .body(write_export(today, &tips)))
}
