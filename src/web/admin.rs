//! `/admin/v1`, on the admin listener only.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};

use super::errors::AdminError;
use super::AdminState;
use crate::bundle::{export_entry_size, export_head, write_export_entry, EXPORT_TAIL};
use crate::crypto;
use crate::domain::addressing::MoveState;
use crate::domain::office::Reader;
use crate::domain::office::{OfficeId, MAX_DIRECTORY_BYTES};
use crate::domain::Day;
use crate::domain::TipId;
use crate::service::offices::InstallError;
use crate::service::signed::{apply_signed_bundle, Applied, ImportError};
use crate::store::{StoreError, TipStore};

/// Checks `Authorization: Bearer <token>` in constant time (both sides hashed first, so
/// neither the length nor the content of the token leaks through timing).
fn authorize(req: &HttpRequest, state: &AdminState) -> Result<(), AdminError> {
    authorize_with(req, &state.token_hash)
}

/// The metrics take the admin token, or the metrics token (which opens nothing else), so a
/// monitoring system need not hold the token that exports every tip.
fn authorize_metrics(req: &HttpRequest, state: &AdminState) -> Result<(), AdminError> {
    authorize(req, state).or_else(|e| match &state.metrics_token_hash {
        Some(hash) => authorize_with(req, hash),
        None => Err(e),
    })
}

fn authorize_with(req: &HttpRequest, token_hash: &[u8; 32]) -> Result<(), AdminError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(AdminError::Unauthorized)?;
    let hash: [u8; 32] = crypto::blake2b(None, &[presented.trim().as_bytes()]);
    if crypto::ct_eq(&hash, token_hash) {
        Ok(())
    } else {
        Err(AdminError::Unauthorized)
    }
}

/// `GET /admin/v1/export`: every tip the server holds, as an export bundle, streamed tip
/// by tip through a small channel, so the memory it takes does not grow with the store.
/// The work is done on the one export thread ([`ExportThread`]). The count at the top is
/// taken first; a tip acked meanwhile is left out (readers do not rely on the count).
pub async fn export(
    req: HttpRequest,
    state: web::Data<AdminState>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state)?;
    let directory = state.offices.directory();
    let office = match query.office.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<OfficeId>()
                .map_err(|_| AdminError::UnknownOffice)?,
        ),
    };
    let (reader, office) = directory
        .reader_of(office.as_ref())
        .ok_or(AdminError::UnknownOffice)?;
    let office = office.id.clone();
    let store = state.store.clone();
    let max_bytes = query.max_mib.unwrap_or(DEFAULT_EXPORT_MIB).max(1) * 1024 * 1024;
    let today = Day::today();
    let (sized_tx, sized_rx) = tokio::sync::oneshot::channel();
    let (tx, rx) = tokio::sync::mpsc::channel(EXPORT_CHUNKS_IN_FLIGHT);
    let whole = Arc::new(AtomicBool::new(false));
    let finished = whole.clone();
    let queued = state.exports.run(Box::new(move || {
        // The client may have given up while an earlier export ran.
        if sized_tx.is_closed() {
            return;
        }
        let until = Instant::now() + EXPORT_LONGEST;
        let (ids, left) = match export_fit(&*store, &reader, max_bytes) {
            Ok(fit) => fit,
            Err(e) => {
                let _ = sized_tx.send(Err(e));
                return;
            }
        };
        if sized_tx.send(Ok(left)).is_err() {
            return;
        }
        let send = |chunk| send_piece(&tx, chunk, until);
        if !send(Ok(Bytes::from(export_head(today, &office, ids.len())))) {
            return;
        }
        let mut first = true;
        for id in ids {
            let tip = match store.export_tip_for(&reader, id) {
                Ok(None) => continue,
                Ok(Some(tip)) => tip,
                Err(e) => {
                    // An error ends the body early: the client sees a cut-off file, never
                    // a well-formed bundle missing tips.
                    send(Err(e));
                    return;
                }
            };
            // In pieces of about a MiB: a tip with many files is never whole in memory
            // as base64.
            if !write_export_entry(first, &tip, &mut |piece| send(Ok(Bytes::from(piece)))) {
                return;
            }
            first = false;
        }
        finished.store(true, Ordering::SeqCst);
        send(Ok(Bytes::from_static(EXPORT_TAIL)));
    }));
    if !queued {
        return Err(AdminError::Internal);
    }
    let left = sized_rx.await.map_err(|_| AdminError::Internal)??;
    // No count in the log: its lines carry the journal's timestamps, and a count moving
    // between two exports would date a tip.
    tracing::info!("export bundle written");
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-store"))
        // Tips too large for this bundle: they come with the next export (after the ack of
        // this one, or at once with a new export that leaves them out again).
        .insert_header(("X-Whistlebox-Tips-Left", left.to_string()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"whistlebox-export-{today}.json\""),
        ))
        .body(ExportBody { pieces: rx, whole }))
}

/// Which tips fit in a bundle of `max_bytes`, each read once to be measured and dropped
/// (memory stays one tip), and how many are left for the next one.
fn export_fit(
    store: &dyn TipStore,
    reader: &Reader,
    max_bytes: u64,
) -> Result<(Vec<TipId>, usize), StoreError> {
    let mut sized = Vec::new();
    for id in store.export_ids_for(reader)? {
        if let Some(tip) = store.export_tip_for(reader, id)? {
            sized.push((id, export_entry_size(&tip)));
        }
    }
    // A tip larger than the limit by itself goes alone, and first, so that it is never
    // left behind for ever by smaller ones.
    if let Some((id, _)) = sized.iter().find(|(_, size)| *size > max_bytes) {
        return Ok((vec![*id], sized.len() - 1));
    }
    let mut fit = Vec::new();
    let mut total = 0u64;
    for (id, size) in &sized {
        if total + size <= max_bytes {
            total += size;
            fit.push(*id);
        }
    }
    let left = sized.len() - fit.len();
    Ok((fit, left))
}

/// Hands a piece of the bundle to the connection, waiting while the channel is full; false
/// when the connection is gone, has taken nothing for [`EXPORT_PATIENCE`], or the export
/// has run past `until` (the bundle is then cut off, and the export thread free for the
/// next one).
fn send_piece(
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, StoreError>>,
    mut piece: Result<Bytes, StoreError>,
    until: Instant,
) -> bool {
    use tokio::sync::mpsc::error::TrySendError;
    let deadline = (Instant::now() + EXPORT_PATIENCE).min(until);
    loop {
        match tx.try_send(piece) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if Instant::now() >= deadline {
                    return false;
                }
                piece = back;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// How long the export thread waits for a connection that takes no piece of its bundle.
const EXPORT_PATIENCE: Duration = Duration::from_secs(120);

/// Longest an export may take in all (a 256 MiB bundle over a line of 100 KiB/s takes 45
/// minutes), so a client that takes a piece now and then cannot hold the thread for ever.
const EXPORT_LONGEST: Duration = Duration::from_secs(2 * 3600);

/// Work for the export thread.
pub type ExportJob = Box<dyn FnOnce() + Send>;

/// The one thread that reads the store for exports, one export after another.
///
/// Not the shared pool of blocking threads: the C library's allocator gives a thread an
/// arena of its own and keeps there what the thread freed, so an export on a fresh pool
/// thread left the server about 50 MiB larger each time it landed on another thread (up to
/// one arena per thread). On one thread, every export reuses the same memory
/// (tests/storage.rs exports twice and prints both figures). Exports are rare and made by
/// the operator; a second one waits for the first.
pub struct ExportThread {
    jobs: std::sync::mpsc::Sender<ExportJob>,
}

impl ExportThread {
    /// Starts the thread; it ends when this is dropped.
    pub fn start() -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<ExportJob>();
        std::thread::Builder::new()
            .name("export".into())
            .spawn(move || {
                for job in queue {
                    // A job that panics ends its export (the client sees a cut-off file),
                    // not the thread: the next export still runs.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })?;
        Ok(Self { jobs })
    }

    /// Queues `job`; false when the thread is gone.
    fn run(&self, job: ExportJob) -> bool {
        self.jobs.send(job).is_ok()
    }
}

/// `?office=ID`: whose export (the county's when absent).
#[derive(serde::Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    office: Option<String>,
    /// Largest bundle, in MiB: tips that would make it larger wait for the next export
    /// (at least one tip always goes). Evidence files make bundles large, and the offline
    /// side reads a bundle whole (the desk and `decrypt` take at most 2 GiB).
    #[serde(default)]
    max_mib: Option<u64>,
}

/// Largest export bundle unless the operator asks otherwise, in MiB.
const DEFAULT_EXPORT_MIB: u64 = 256;

/// Bundle pieces (one tip each) queued between the store and the connection.
const EXPORT_CHUNKS_IN_FLIGHT: usize = 2;

/// The export body: pieces from the export thread, as they come. A body that ends before
/// the bundle's tail (the thread gave up, or failed) ends in an error, so the connection is
/// cut and the client sees a failed download, never a clean end.
struct ExportBody {
    pieces: tokio::sync::mpsc::Receiver<Result<Bytes, StoreError>>,
    /// Set by the export thread just before it sends the tail.
    whole: Arc<AtomicBool>,
}

impl MessageBody for ExportBody {
    type Error = StoreError;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, StoreError>>> {
        match self.pieces.poll_recv(cx) {
            Poll::Ready(None) if !self.whole.swap(true, Ordering::SeqCst) => {
                Poll::Ready(Some(Err(StoreError::Backend(
                    "the export was cut off before its end".into(),
                ))))
            }
            other => other,
        }
    }
}

/// Largest signed bundle accepted.
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

/// `POST /admin/v1/import`: a signed bundle of updates or an ack from the inspectors. The
/// token is checked before a byte of the body is read (so a stranger cannot make the
/// server take in 16 MiB), then the signature against `inspectors.pub`; then the bundle is
/// applied all or nothing.
pub async fn import(
    req: HttpRequest,
    state: web::Data<AdminState>,
    payload: web::Payload,
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state)?;
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_IMPORT_BYTES as u64) {
        return Err(AdminError::TooLarge);
    }
    let body = payload
        .to_bytes_limited(MAX_IMPORT_BYTES)
        .await
        .map_err(|_| AdminError::TooLarge)?
        .map_err(|_| AdminError::BadBody)?;
    let store = state.store.clone();
    let offices = state.offices.clone();
    let max_sealed_bytes = state.max_sealed_bytes;
    let outcome = web::block(move || {
        // Servers sharing a store: a directory installed on another one counts at once.
        if let Err(e) = offices.refresh() {
            tracing::warn!(error = %e, "the shared directory of offices could not be read");
        }
        let directory = offices.directory();
        apply_signed_bundle(
            store.as_ref(),
            &directory,
            &body,
            Day::today(),
            max_sealed_bytes,
        )
    })
    .await
    .map_err(|_| AdminError::Internal)?;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(ImportError::Refused(why)) => return Err(AdminError::Refused(why)),
        Err(ImportError::Store(e)) => return Err(store_refusal(e)),
    };
    tracing::info!(sequence = outcome.sequence, office = %outcome.office, "signed bundle applied");
    let summary = match &outcome.applied {
        Applied::Updates(n) => serde_json::json!({"applied": "updates", "updates": n}),
        Applied::Ack(p, withheld) => serde_json::json!({"applied": "ack",
            "tips_purged": p.tips, "followups_purged": p.followups, "copies_purged": p.copies,
            "not_purged_differs_from_opened": withheld}),
        Applied::Moves(states) => serde_json::json!({"applied": "moves",
            "waiting_for_resident": states.iter().filter(|s| matches!(s, MoveState::Waiting)).count(),
            "done": states.iter().filter(|s| matches!(s, MoveState::Done(_))).count()}),
    };
    let mut summary = summary;
    summary["sequence"] = outcome.sequence.into();
    summary["office"] = outcome.office.into();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(summary))
}

/// The store's refusals of a signed bundle, as the operator should read them.
fn store_refusal(e: StoreError) -> AdminError {
    match e {
        e @ (StoreError::Replayed(_) | StoreError::Stale { .. }) => {
            AdminError::OutOfOrder(e.to_string())
        }
        e @ StoreError::UnknownTip(_) => AdminError::UnknownTip(e.to_string()),
        e @ (StoreError::NotAddressed(_)
        | StoreError::MoveRefused { .. }
        | StoreError::NothingCarried(_)) => AdminError::NotAllowed(e.to_string()),
        e => AdminError::Store(e),
    }
}

/// `POST /admin/v1/offices`: installs a newer directory of offices, signed by the county's
/// key (the server refuses any other), into the keys folder, and uses it at once.
pub async fn install_offices(
    req: HttpRequest,
    state: web::Data<AdminState>,
    payload: web::Payload,
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state)?;
    let body = payload
        .to_bytes_limited(MAX_DIRECTORY_BYTES)
        .await
        .map_err(|_| {
            AdminError::Directory(format!("it is larger than {MAX_DIRECTORY_BYTES} bytes"))
        })?
        .map_err(|_| AdminError::BadBody)?;
    let offices = state.offices.clone();
    let installed = web::block(move || offices.install(&body))
        .await
        .map_err(|_| AdminError::Internal)?;
    match installed {
        Ok(directory) => {
            tracing::info!(
                sequence = directory.sequence,
                towns = directory.towns.len(),
                "directory of offices installed"
            );
            Ok(HttpResponse::Ok().json(serde_json::json!({
                "installed": directory.sequence,
                "offices": std::iter::once(&directory.root).chain(&directory.towns)
                    .map(|o| serde_json::json!({"id": o.id.as_str(), "name": o.name, "fingerprint": o.keys.fingerprint()}))
                    .collect::<Vec<_>>(),
            })))
        }
        Err(InstallError::Refused(e)) => Err(AdminError::Directory(e.to_string())),
        Err(
            e @ (InstallError::Write(_) | InstallError::Store(StoreError::OlderDirectory { .. })),
        ) => Err(AdminError::Directory(e.to_string())),
        Err(InstallError::Store(e)) => Err(AdminError::Store(e)),
    }
}

/// `GET /admin/v1/healthz`: the service answers and its store can be read.
pub async fn healthz(state: web::Data<AdminState>) -> HttpResponse {
    let store = state.store.clone();
    match web::block(move || store.last_sequence()).await {
        Ok(Ok(_)) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        _ => super::errors::json_error(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "The store cannot be read.",
        ),
    }
}

/// `GET /admin/v1/metrics` (admin token): counts only, in Prometheus' text format, as they
/// stood at the first scrape of the day (UTC). A live value would move the moment a tip
/// arrives (and by its size), so a scraper would time every tip; a daily snapshot says only
/// what the stored days already say.
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    authorize_metrics(&req, &state)?;
    let today = Day::today();
    let cached = state
        .metrics_snapshot
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .filter(|(day, _)| *day == today)
        .map(|(_, text)| text.clone());
    let text = match cached {
        Some(text) => text,
        None => {
            let text = metrics_text(&state, today).await?;
            let mut snapshot = state
                .metrics_snapshot
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            // Two first scrapes at once: the first one kept wins, so both days agree.
            match snapshot.as_ref().filter(|(day, _)| *day == today) {
                Some((_, kept)) => kept.clone(),
                None => {
                    *snapshot = Some((today, text.clone()));
                    text
                }
            }
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .insert_header(("Cache-Control", "no-store"))
        .body(text))
}

/// The metrics as they stand now (published only as the day's snapshot).
async fn metrics_text(state: &AdminState, today: Day) -> Result<String, AdminError> {
    let store = state.store.clone();
    let (counts, bytes) =
        web::block(move || Ok::<_, StoreError>((store.counts()?, store.bytes_on_disk()?)))
            .await
            .map_err(|_| AdminError::Internal)??;
    let m = &state.metrics;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let mut out = format!(
        "# whistlebox metrics as of the first scrape of {today} (UTC); they change once a day.\n"
    );
    let mut line = |name: &str, help: &str, value: u64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    };
    line("whistlebox_tips", "Tips known to the server.", counts.tips);
    line(
        "whistlebox_tips_sealed_held",
        "Tips whose ciphertext the server still holds.",
        counts.sealed_held,
    );
    line(
        "whistlebox_followups_held",
        "Follow-ups the server still holds.",
        counts.followups_held,
    );
    line(
        "whistlebox_files_held",
        "Evidence files of tips and follow-ups the server still holds.",
        counts.files_held,
    );
    line(
        "whistlebox_uploads_waiting",
        "Uploads not (yet) part of any report; deleted two days after they started.",
        counts.uploads_pending,
    );
    line(
        "whistlebox_store_bytes",
        "Bytes the store occupies on disk.",
        bytes,
    );
    line(
        "whistlebox_tips_accepted",
        "Tips stored since start.",
        load(&m.tips_accepted),
    );
    line(
        "whistlebox_followups_accepted",
        "Follow-ups stored since start.",
        load(&m.followups_accepted),
    );
    line(
        "whistlebox_disk_full_refusals",
        "Submissions refused since start because the disk was nearly full.",
        load(&m.disk_full_refusals),
    );
    if let Some(limiter) = &state.limiter {
        for (class, n) in limiter.refusals() {
            out.push_str(&format!(
                "whistlebox_rate_limited{{class=\"{class}\"}} {n}\n"
            ));
        }
    }
    Ok(out)
}
