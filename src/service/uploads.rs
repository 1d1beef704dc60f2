//! Evidence files on their way in (`docs/attachments.md`): an upload is started for a blob
//! of a given length, filled chunk by chunk (each chunk durable before it is answered, so a
//! dropped connection or a crash loses at most the chunk in flight), and becomes part of a
//! report only in the transaction that stores the report. Uploads that never do are deleted
//! after [`UPLOAD_DAYS`] days have begun.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::{blocking, DailyQuota, Intake};
use crate::domain::attachment::UploadId;
use crate::domain::Day;
use crate::store::{StoreError, UploadState};

/// An upload not used by a report is deleted once this many days have begun since the day
/// it started (so it lives at least 24 hours).
pub const UPLOAD_DAYS: u32 = 2;

/// Limits on files that are not part of a report yet.
pub struct UploadLimits {
    /// Bytes of uploads waiting at once, all clients together.
    pub max_pending_bytes: u64,
    /// Bytes of uploads started per day, all clients together.
    pub daily_quota: DailyQuota,
}

/// Why an upload step was refused.
#[derive(Debug, Error)]
pub enum UploadError {
    /// The store refused it (a bad length or chunk, an unknown or used upload) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The disk is nearly full.
    #[error("The service cannot take files right now because its storage is full. Nothing was saved. Please try again later, or send the report without files.")]
    DiskFull,
    /// Too many bytes wait in unfinished uploads.
    #[error("Too many files are being sent to the service right now. Nothing was saved. Please try again in a few hours, or send the report without files.")]
    Busy,
    /// Today's quota of file bytes is used up.
    #[error("The service has taken all the files it can store today. Nothing was saved. Please try again tomorrow, or send the report without files.")]
    QuotaFull,
    /// An upload id that is not one.
    #[error("This upload is not known here (its id is not valid). Nothing was saved. Please add the file again.")]
    BadId,
    /// A chunk sent as something other than raw bytes.
    #[error("Send a piece of a file with the header Content-Type: application/octet-stream. Nothing was saved.")]
    NotOctetStream,
    /// A chunk longer than any chunk.
    #[error(
        "This piece of the file is too large: a piece is at most 262,144 bytes. Nothing was saved."
    )]
    ChunkTooLarge,
    /// The body of a chunk did not arrive whole.
    #[error(
        "This piece of the file did not arrive whole. Nothing was saved. The page sends it again."
    )]
    BodyCut,
    /// Internal failure.
    #[error("internal failure")]
    Internal,
}

impl Intake {
    /// Starts an upload of a blob of `bytes`; its id and the number of chunks to send.
    pub async fn start_upload(&self, bytes: u64) -> Result<(UploadId, u32), UploadError> {
        if self.disk_is_low() {
            return Err(UploadError::DiskFull);
        }
        let store = self.store.clone();
        let pending = blocking(move || store.pending_upload_bytes())
            .await
            .map_err(|()| UploadError::Internal)??;
        if pending.saturating_add(bytes) > self.uploads.max_pending_bytes {
            return Err(UploadError::Busy);
        }
        if !self.uploads.daily_quota.take(bytes) {
            return Err(UploadError::QuotaFull);
        }
        let store = self.store.clone();
        let started = blocking(move || store.create_upload(bytes, Day::today()))
            .await
            .map_err(|()| UploadError::Internal)
            .and_then(|r| r.map_err(UploadError::from));
        match started {
            Ok(id) => Ok((id, crate::domain::attachment::chunks_in_upload(bytes))),
            Err(e) => {
                self.uploads.daily_quota.give_back(bytes);
                Err(e)
            }
        }
    }

    /// Stores one chunk, durably, and says what is still missing.
    pub async fn put_chunk(
        &self,
        id: UploadId,
        index: u32,
        data: Vec<u8>,
    ) -> Result<UploadState, UploadError> {
        if self.disk_is_low() {
            return Err(UploadError::DiskFull);
        }
        let store = self.store.clone();
        blocking(move || store.put_upload_chunk(&id, index, &data))
            .await
            .map_err(|()| UploadError::Internal)?
            .map_err(UploadError::from)
    }

    /// Where an upload stands.
    pub async fn upload_state(&self, id: UploadId) -> Result<UploadState, UploadError> {
        let store = self.store.clone();
        blocking(move || store.upload_state(&id))
            .await
            .map_err(|()| UploadError::Internal)??
            .ok_or(UploadError::Store(StoreError::UnknownUpload))
    }

    /// Deletes the uploads that expired, now and then every `every`, on its own clock.
    pub async fn expire_uploads(state: Arc<Intake>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let store = state.store.clone();
            let before = Day(Day::today().0.saturating_sub(UPLOAD_DAYS - 1));
            match blocking(move || store.expire_uploads(before)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(uploads = n, "unfinished uploads expired and deleted"),
                Ok(Err(e)) => tracing::error!(error = %e, "expiring unfinished uploads failed"),
                Err(()) => tracing::error!("expiring unfinished uploads failed"),
            }
        }
    }
}
