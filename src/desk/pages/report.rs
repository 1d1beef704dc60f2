//! The reports page and its CSV.

use actix_web::{web, HttpResponse};

use crate::desk::{DeskData, DeskError};

/// `GET /{lang}/report`.
pub async fn page(_desk: DeskData, lang: web::Path<String>) -> Result<HttpResponse, DeskError> {
    let _ = super::lang(&lang)?;
    Err(DeskError::NoCase)
}

/// `GET /report.csv`.
pub async fn csv(_desk: DeskData) -> Result<HttpResponse, DeskError> {
    Err(DeskError::NoCase)
}
