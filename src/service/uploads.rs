//! Evidence files on their way in (`docs/attachments.md`): an upload is started for a blob
//! of a given length, filled chunk by chunk (each chunk durable before it is answered, so a
//! dropped connection or a crash loses at most the chunk in flight), and becomes part of a
//! report only in the transaction that stores the report. Uploads that never do are deleted
//! after [`UPLOAD_DAYS`] days have begun.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::photos::{self, PhotoError, PhotoFormat};
use super::{blocking, DailyQuota, FollowupContent, Intake, StatusError, SubmitError};
use crate::domain::attachment::{
    self, AttachmentRef, Kind, UploadId, MAX_ATTACHMENTS, MAX_FILE_BYTES, MAX_PIECES_PER_REPORT,
    UPLOAD_CHUNK_BYTES,
};
use crate::domain::office::OfficeId;
use crate::domain::receipt::Receipt;
use crate::domain::tip::TipPlaintext;
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
    /// Photos from forms without JavaScript cleaned at once (each takes a core and up to a
    /// few hundred MiB while it is decoded).
    pub cleaning: Semaphore,
    /// MiB of forms with files (posted without JavaScript) read into memory at once, all
    /// clients together: past it such a form is turned away at once, before it is read.
    pub form_mib: Semaphore,
    /// KiB of chunk bodies being read at once, all clients together: a chunk past it is
    /// turned away (503) before its body is read.
    pub chunk_kib: Semaphore,
    /// Uploads started here that have not received a chunk yet, with when they started
    /// (in memory only, never written down): deleted after [`IDLE_UPLOAD`].
    idle: std::sync::Mutex<std::collections::HashMap<UploadId, std::time::Instant>>,
}

/// An upload that receives no chunk for this long after it started is deleted (on this
/// clock, in memory; after a restart the day-based expiry takes over).
pub const IDLE_UPLOAD: Duration = Duration::from_secs(10 * 60);

impl UploadLimits {
    /// Limits of `max_pending_bytes` waiting and `daily_bytes` a day, one photo cleaned at
    /// a time, and `form_mib` MiB of forms' files in memory at once.
    pub fn new(max_pending_bytes: u64, daily_bytes: u64, form_mib: usize) -> Self {
        Self {
            max_pending_bytes,
            daily_quota: DailyQuota::new(daily_bytes),
            cleaning: Semaphore::new(1),
            form_mib: Semaphore::new(form_mib),
            chunk_kib: Semaphore::new(CHUNKS_IN_MEMORY_KIB),
            idle: Default::default(),
        }
    }
}

/// KiB of chunk bodies read into memory at once (256 chunks of 256 KiB: many residents
/// sending at once, while a flood of chunk bodies takes at most this).
pub const CHUNKS_IN_MEMORY_KIB: usize = 64 * 1024;

/// Longest a photo waits for its turn to be cleaned before its form is turned away.
pub const CLEANING_WAIT: Duration = Duration::from_secs(30);

/// MiB of forms' files held in memory at once, unless the operator says otherwise (eight
/// full forms).
pub const FORMS_IN_MEMORY_MIB: usize = 8 * 34;

/// A file from a form sent without JavaScript, in memory (wiped when dropped) until it is
/// cleaned and sealed.
pub struct PlainFile {
    /// Its bytes.
    pub bytes: Zeroizing<Vec<u8>>,
    /// The type the resident's browser gave it.
    pub mime: String,
    /// Its name, only when the resident chose to keep names.
    pub name: Option<Zeroizing<String>>,
}

/// Why the files of a form sent without JavaScript were not taken.
#[derive(Debug, Error)]
pub enum FileError {
    /// More than [`MAX_ATTACHMENTS`] files.
    #[error("One report or message may carry at most 10 files. Nothing was saved.")]
    TooMany,
    /// A file over [`MAX_FILE_BYTES`], or too much in all.
    #[error("The files are too large: one report or message may carry at most 24 MiB in one file and 32 MiB in all. Nothing was saved.")]
    TooLarge,
    /// A photo that cannot be cleaned.
    #[error("A photo could not be cleaned of its hidden details (such as where it was taken), so nothing was sent. Photos in HEIC format cannot be cleaned here: set the camera to 'most compatible' (JPEG), or send a screenshot of the photo. Nothing was saved.")]
    Photo(PhotoError),
    /// Storing them failed or was refused.
    #[error(transparent)]
    Upload(#[from] UploadError),
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
    /// A chunk sent without its length.
    #[error(
        "Send a piece of a file with its length (the header Content-Length). Nothing was saved."
    )]
    NoLength,
    /// The body of a chunk did not arrive whole.
    #[error(
        "This piece of the file did not arrive whole. Nothing was saved. The page sends it again."
    )]
    BodyCut,
    /// Internal failure.
    #[error("internal failure")]
    Internal,
}

/// Files of a form, cleaned, sealed and stored as complete uploads.
struct StoredFiles {
    refs: Vec<AttachmentRef>,
    uploads: Vec<UploadId>,
}

/// Why a form with files was not filed.
#[derive(Debug, Error)]
pub enum PlainError<E> {
    /// The files were refused.
    #[error(transparent)]
    Files(#[from] FileError),
    /// The tip or follow-up was refused (its files were discarded).
    #[error(transparent)]
    Filing(E),
}

impl Intake {
    /// The no-JavaScript report with its files: photos cleaned, every file sealed and
    /// stored, then the words sealed with the files' keys and filed like
    /// [`Intake::accept_plain_tip`]. If the tip is refused, its files are deleted again.
    pub async fn accept_plain_tip_with_files(
        &self,
        mut tip: TipPlaintext,
        towns: Vec<OfficeId>,
        files: Vec<PlainFile>,
    ) -> Result<(Zeroizing<String>, Day), PlainError<SubmitError>> {
        let stored = self.store_plain_files(files).await?;
        tip.attachments = stored.refs;
        let uploads = stored.uploads.clone();
        match self.accept_plain_tip(tip, towns, stored.uploads).await {
            Ok(done) => Ok(done),
            Err(e) => {
                self.discard(uploads).await;
                Err(PlainError::Filing(e))
            }
        }
    }

    /// The no-JavaScript follow-up with its files, like [`Intake::accept_plain_tip_with_files`];
    /// the receipt is checked first, so a wrong one costs no cleaning and stores nothing.
    pub async fn add_plain_followup_with_files(
        &self,
        receipt: Receipt,
        mut words: TipPlaintext,
        files: Vec<PlainFile>,
    ) -> Result<Day, PlainError<StatusError>> {
        if files.is_empty() {
            let content = FollowupContent::Plain(words);
            return self
                .add_followup(receipt, content, Vec::new())
                .await
                .map_err(PlainError::Filing);
        }
        if self.disk_is_low() {
            return Err(PlainError::Filing(StatusError::DiskFull));
        }
        let (view, unlocked) = self
            .find_status(receipt)
            .await
            .map_err(PlainError::Filing)?;
        let stored = self.store_plain_files(files).await?;
        words.attachments = stored.refs;
        let uploads = stored.uploads.clone();
        let content = FollowupContent::Plain(words);
        match self
            .add_followup_unlocked(&view, &unlocked, content, stored.uploads)
            .await
        {
            Ok(day) => Ok(day),
            Err(e) => {
                self.discard(uploads).await;
                Err(PlainError::Filing(e))
            }
        }
    }

    async fn discard(&self, uploads: Vec<UploadId>) {
        if uploads.is_empty() {
            return;
        }
        let store = self.store.clone();
        if !matches!(
            blocking(move || store.discard_uploads(&uploads)).await,
            Ok(Ok(()))
        ) {
            // They expire with the other unfinished uploads.
            tracing::error!("deleting the files of a refused form failed");
        }
    }

    /// Cleans, seals and stores the files of a form, all or nothing.
    async fn store_plain_files(&self, files: Vec<PlainFile>) -> Result<StoredFiles, FileError> {
        if files.len() > MAX_ATTACHMENTS {
            return Err(FileError::TooMany);
        }
        if files.iter().any(|f| f.bytes.len() as u64 > MAX_FILE_BYTES) {
            return Err(FileError::TooLarge);
        }
        let mut sealed = Vec::with_capacity(files.len());
        let mut pieces = 0usize;
        for file in files {
            let one = self.seal_plain_file(file).await?;
            pieces += attachment::pieces_in_blob(one.1.len() as u64).unwrap_or(usize::MAX);
            if pieces > MAX_PIECES_PER_REPORT {
                return Err(FileError::TooLarge);
            }
            sealed.push(one);
        }
        let mut stored = StoredFiles {
            refs: Vec::new(),
            uploads: Vec::new(),
        };
        for (reference, blob) in sealed {
            match self.store_blob(blob).await {
                Ok(id) => {
                    stored.refs.push(reference);
                    stored.uploads.push(id);
                }
                Err(e) => {
                    self.discard(stored.uploads).await;
                    return Err(e.into());
                }
            }
        }
        Ok(stored)
    }

    /// One file: a photo cleaned (at most one at a time), then sealed under a fresh key.
    async fn seal_plain_file(
        &self,
        file: PlainFile,
    ) -> Result<(AttachmentRef, Vec<u8>), FileError> {
        let format = photos::sniff(&file.bytes, &file.mime);
        // One photo is cleaned at a time; a form does not wait for ever behind a queue of
        // them (its connection would be cut meanwhile, and its receipt never shown).
        let _permit = match format {
            Some(_) => Some(
                tokio::time::timeout(CLEANING_WAIT, self.uploads.cleaning.acquire())
                    .await
                    .map_err(|_| UploadError::Busy)?
                    .map_err(|_| UploadError::Internal)?,
            ),
            None => None,
        };
        blocking(move || {
            let (kind, mime, bytes, removed, cleaned) = match format {
                Some(PhotoFormat::Other) => return Err(FileError::Photo(PhotoError::Unsupported)),
                Some(_) => {
                    let done = photos::clean(&file.bytes).map_err(FileError::Photo)?;
                    let removed = done.removed.iter().map(|r| (*r).to_owned()).collect();
                    (
                        Kind::Photo,
                        "image/jpeg".to_owned(),
                        done.jpeg,
                        removed,
                        None,
                    )
                }
                None => {
                    let mime = plain_mime(&file.mime);
                    (Kind::File, mime, file.bytes, Vec::new(), Some(false))
                }
            };
            let len = bytes.len() as u64;
            let sealed = attachment::seal_file(&bytes).map_err(|_| FileError::TooLarge)?;
            drop(bytes);
            let mut reference = AttachmentRef::for_sealed(kind, &mime, len, &sealed);
            reference.removed = removed;
            reference.cleaned = cleaned;
            reference.name = file.name.as_ref().map(|n| n.chars().take(200).collect());
            Ok((reference, sealed.blob))
        })
        .await
        .map_err(|()| FileError::Upload(UploadError::Internal))?
    }

    /// Stores a whole blob as a complete upload, under the same limits as one from a page.
    async fn store_blob(&self, blob: Vec<u8>) -> Result<UploadId, UploadError> {
        let (id, chunks) = self.start_upload(blob.len() as u64).await?;
        let blob = Arc::new(blob);
        for i in 0..chunks {
            let start = i as usize * UPLOAD_CHUNK_BYTES;
            let end = (start + UPLOAD_CHUNK_BYTES).min(blob.len());
            if let Err(e) = self.put_chunk(id, i, blob[start..end].to_vec()).await {
                self.discard(vec![id]).await;
                return Err(e);
            }
        }
        Ok(id)
    }

    /// Whether `more` bytes fit beside the uploads waiting now. Each waiting upload counts
    /// a piece beside the bytes it received, so that starting uploads and sending nothing
    /// fills the limit too (and a bounded number of records), while filling it with data
    /// costs whoever does it the bandwidth of the data.
    async fn pending_room_for(&self, more: u64) -> Result<(), UploadError> {
        let store = self.store.clone();
        let pending = blocking(move || store.pending_uploads())
            .await
            .map_err(|()| UploadError::Internal)??;
        let charged = pending.bytes.saturating_add(
            pending
                .uploads
                .saturating_mul(attachment::PIECE_BYTES as u64),
        );
        if charged.saturating_add(more) > self.uploads.max_pending_bytes {
            return Err(UploadError::Busy);
        }
        Ok(())
    }

    /// Starts an upload of a blob of `bytes`; its id and the number of chunks to send.
    /// Nothing of the quotas is taken until chunks arrive.
    pub async fn start_upload(&self, bytes: u64) -> Result<(UploadId, u32), UploadError> {
        if self.disk_is_low() {
            return Err(UploadError::DiskFull);
        }
        self.pending_room_for(attachment::PIECE_BYTES as u64)
            .await?;
        let store = self.store.clone();
        let id = blocking(move || store.create_upload(bytes, Day::today()))
            .await
            .map_err(|()| UploadError::Internal)??;
        self.uploads
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, std::time::Instant::now());
        Ok((id, attachment::chunks_in_upload(bytes)))
    }

    /// Stores one chunk, durably, and says what is still missing. A new chunk takes its
    /// bytes from today's quota and must fit beside the uploads waiting; the same chunk
    /// again (a retry after a lost answer) takes nothing.
    pub async fn put_chunk(
        &self,
        id: UploadId,
        index: u32,
        data: Vec<u8>,
    ) -> Result<UploadState, UploadError> {
        if self.disk_is_low() {
            return Err(UploadError::DiskFull);
        }
        let before = self.upload_state(id).await?;
        let fresh = before.missing.contains(&index) && !before.used;
        let len = data.len() as u64;
        if fresh {
            self.pending_room_for(len).await?;
            if !self.uploads.daily_quota.take(len) {
                return Err(UploadError::QuotaFull);
            }
        }
        let store = self.store.clone();
        let stored = blocking(move || store.put_upload_chunk(&id, index, &data))
            .await
            .map_err(|()| UploadError::Internal)
            .and_then(|r| r.map_err(UploadError::from));
        if stored.is_err() && fresh {
            self.uploads.daily_quota.give_back(len);
        }
        if stored.is_ok() {
            self.uploads
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
        stored
    }

    /// Deletes an upload that is not part of a report; one that is, or an unknown one, is
    /// left as it is (the answer is the same either way, so it tells nothing).
    pub async fn drop_upload(&self, id: UploadId) -> Result<(), UploadError> {
        let store = self.store.clone();
        let found = blocking(move || {
            let found = store.upload_state(&id)?;
            store.discard_uploads(&[id])?;
            Ok::<_, StoreError>(found)
        })
        .await
        .map_err(|()| UploadError::Internal)??;
        // What it took from today's quota comes back: taking a file off the list and
        // sending it again must not use the day's room up.
        if let Some(state) = found.filter(|s| !s.used && s.day == Day::today()) {
            self.uploads.daily_quota.give_back(state.received);
        }
        self.uploads
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        Ok(())
    }

    /// Deletes, every `every`, the uploads that received nothing within [`IDLE_UPLOAD`] of
    /// starting.
    pub async fn forget_idle_uploads(state: Arc<Intake>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let idle: Vec<UploadId> = {
                let mut idle = state.uploads.idle.lock().unwrap_or_else(|p| p.into_inner());
                let old: Vec<UploadId> = idle
                    .iter()
                    .filter(|(_, at)| at.elapsed() >= IDLE_UPLOAD)
                    .map(|(id, _)| *id)
                    .collect();
                for id in &old {
                    idle.remove(id);
                }
                old
            };
            if idle.is_empty() {
                continue;
            }
            let store = state.store.clone();
            if !matches!(
                blocking(move || store.discard_uploads(&idle)).await,
                Ok(Ok(()))
            ) {
                tracing::error!("deleting uploads that received nothing failed");
            }
        }
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

/// The type of a file as its browser declared it, when it is a plain MIME type; otherwise
/// the generic one (the inspectors' tools take the extension from a fixed list anyway).
fn plain_mime(declared: &str) -> String {
    let t = declared
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let plain = t.len() <= 100
        && t.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && t.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"/.+-_".contains(&c))
        });
    if plain {
        t
    } else {
        "application/octet-stream".into()
    }
}
