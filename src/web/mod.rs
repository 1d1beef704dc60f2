//! The HTTP service: the public listener (pages and `/api/v1`) and the admin listener
//! (`/admin/v1`), each with its own route table, so admin routes cannot be reached from
//! the public address at all.
//!
//! No request logger is installed: nothing about a request (address, agent, time) is
//! recorded anywhere.

mod admin;
mod api;
mod assets;
pub mod errors;
pub mod i18n;
pub mod limits;
mod pages;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use tokio::sync::Semaphore;

use zeroize::Zeroizing;

use self::errors::{StatusError, SubmitError};
use crate::crypto::Sealer;
use crate::domain::keys::PublicKeys;
use crate::domain::receipt::{Receipt, ReceiptHasher, ReceiptKeys};
use crate::domain::tip::SealedTip;
use crate::domain::Day;
use crate::store::{NewTip, StoreError, TipStore, TipView};

/// How often a freshly drawn receipt may collide before we give up (it never should).
const RECEIPT_ATTEMPTS: usize = 3;

/// Everything the public handlers share.
pub struct AppState {
    /// Where sealed tips go.
    pub store: Arc<dyn TipStore>,
    /// Turns receipts into lookups.
    pub hasher: Arc<ReceiptHasher>,
    /// The inspectors' public keys.
    pub keys: PublicKeys,
    /// True when running on a throwaway demo key.
    pub demo: bool,
    /// Caps concurrent Argon2id runs, and so the memory they take.
    pub argon_gate: Arc<Semaphore>,
    /// Largest sealed tip accepted, in bytes.
    pub max_sealed_bytes: usize,
    /// The address residents use (poster, receipt card), ending in `/`. Set from
    /// `--public-url`, or once the public listener is bound.
    pub public_url: Arc<std::sync::OnceLock<String>>,
    /// The data folder, watched for free space.
    pub data_dir: PathBuf,
    /// New tips are refused (503) when the data folder's disk has less free space than this.
    pub min_free_bytes: u64,
    /// Bytes of new tips and follow-ups taken per day, all clients together.
    pub daily_quota: DailyQuota,
    /// Counters for the operators' metrics.
    pub metrics: Arc<Metrics>,
    /// The public numbers, computed at most once an hour.
    pub numbers_cache: NumbersCache,
}

/// When the public numbers were computed, and what they were.
pub type NumbersCache = std::sync::Mutex<
    Option<(
        std::time::Instant,
        Arc<std::collections::BTreeMap<String, crate::store::MonthCounts>>,
    )>,
>;

/// A cap on the sealed bytes stored per day (UTC), all clients together, so a flood cannot
/// fill the disk faster than the operator can react. The count lives in memory only (a
/// restart starts the day afresh) and is per day, so it says nothing finer than the day.
pub struct DailyQuota {
    limit: u64,
    used: std::sync::Mutex<(Day, u64)>,
}

impl DailyQuota {
    /// A quota of `limit` bytes a day.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            used: std::sync::Mutex::new((Day::today(), 0)),
        }
    }

    /// Takes `bytes` from today's quota; false (and nothing taken) if they do not fit.
    fn take(&self, bytes: u64) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let today = Day::today();
        if used.0 != today {
            *used = (today, 0);
        }
        if used.1.saturating_add(bytes) > self.limit {
            return false;
        }
        used.1 += bytes;
        true
    }

    /// Gives back what [`DailyQuota::take`] took for something that was not stored.
    fn give_back(&self, bytes: u64) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.1 = used.1.saturating_sub(bytes);
    }
}

/// Counts only: nothing per request, nothing about anyone.
#[derive(Default)]
pub struct Metrics {
    /// Tips stored since start.
    pub tips_accepted: AtomicU64,
    /// Follow-ups stored since start.
    pub followups_accepted: AtomicU64,
    /// Submissions refused because the disk was nearly full.
    pub disk_full_refusals: AtomicU64,
}

impl Metrics {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl AppState {
    /// The address residents use, ending in `/`.
    pub fn public_url(&self) -> &str {
        self.public_url.get().map(String::as_str).unwrap_or("/")
    }

    /// Derives a receipt's lookup and reply key on a blocking thread, at most `argon_gate`
    /// at a time.
    pub async fn derive(&self, receipt: Receipt) -> Result<ReceiptKeys, ()> {
        let _permit = self.argon_gate.acquire().await.map_err(|_| ())?;
        let hasher = self.hasher.clone();
        match web::block(move || hasher.derive(&receipt)).await {
            Ok(Ok(keys)) => Ok(keys),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "receipt derivation failed");
                Err(())
            }
            Err(_) => Err(()),
        }
    }

    /// Stores a sealed tip and returns its receipt (for display) and day, only once the tip
    /// is durable on disk.
    pub async fn accept_tip(
        &self,
        sealed: SealedTip,
    ) -> Result<(Zeroizing<String>, Day), SubmitError> {
        self.check_disk()?;
        let size = sealed.as_bytes().len() as u64;
        if !self.daily_quota.take(size) {
            return Err(SubmitError::QuotaFull);
        }
        let stored = self.store_tip(sealed).await;
        if stored.is_err() {
            self.daily_quota.give_back(size);
        }
        stored
    }

    async fn store_tip(&self, sealed: SealedTip) -> Result<(Zeroizing<String>, Day), SubmitError> {
        let day = Day::today();
        for _ in 0..RECEIPT_ATTEMPTS {
            let receipt = Receipt::generate();
            let shown = receipt.display();
            let keys = self
                .derive(receipt)
                .await
                .map_err(|()| SubmitError::Internal)?;
            // Only the inspectors need the reply key (to seal replies), so it is kept sealed
            // to them; in the clear it would let a copy of the data test receipt guesses.
            let reply_public = keys.reply_key().public_key();
            let store = self.store.clone();
            let tip = NewTip {
                lookup: keys.lookup,
                day,
                sealed: sealed.clone(),
                sealed_reply_key: self.keys.box_key.seal(reply_public.as_bytes()),
            };
            match web::block(move || store.insert(tip)).await {
                Ok(Ok(_id)) => {
                    Metrics::bump(&self.metrics.tips_accepted);
                    return Ok((shown, day));
                }
                Ok(Err(StoreError::LookupTaken)) => continue,
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err(SubmitError::Internal),
            }
        }
        Err(SubmitError::Internal)
    }

    /// What a receipt unlocks, with the receipt's keys (to open the replies).
    pub async fn find_status(
        &self,
        receipt: Receipt,
    ) -> Result<(TipView, ReceiptKeys), StatusError> {
        let keys = self
            .derive(receipt)
            .await
            .map_err(|()| StatusError::Internal)?;
        let store = self.store.clone();
        let lookup = keys.lookup;
        let view = web::block(move || store.view(&lookup))
            .await
            .map_err(|_| StatusError::Internal)??
            .ok_or(StatusError::Unknown)?;
        Ok((view, keys))
    }

    /// Refuses new writes while the data folder's disk is nearly full, so the store never
    /// meets a full disk mid-write and the operator sees a clear count.
    fn check_disk(&self) -> Result<(), SubmitError> {
        match fs4::available_space(&self.data_dir) {
            Ok(free) if free < self.min_free_bytes => {
                Metrics::bump(&self.metrics.disk_full_refusals);
                tracing::warn!(
                    free,
                    min = self.min_free_bytes,
                    "disk nearly full: refusing new tips"
                );
                Err(SubmitError::DiskFull)
            }
            _ => Ok(()),
        }
    }

    /// Files a follow-up under the tip of a receipt.
    pub async fn add_followup(
        &self,
        receipt: Receipt,
        sealed: SealedTip,
    ) -> Result<Day, StatusError> {
        if self.check_disk().is_err() {
            return Err(StatusError::DiskFull);
        }
        let size = sealed.as_bytes().len() as u64;
        if !self.daily_quota.take(size) {
            return Err(StatusError::QuotaFull);
        }
        let stored = self.store_followup(receipt, sealed).await;
        if stored.is_err() {
            self.daily_quota.give_back(size);
        }
        stored
    }

    async fn store_followup(
        &self,
        receipt: Receipt,
        sealed: SealedTip,
    ) -> Result<Day, StatusError> {
        let keys = self
            .derive(receipt)
            .await
            .map_err(|()| StatusError::Internal)?;
        let store = self.store.clone();
        let day = Day::today();
        web::block(move || store.add_followup(&keys.lookup, day, sealed))
            .await
            .map_err(|_| StatusError::Internal)??
            .ok_or(StatusError::Unknown)?;
        Metrics::bump(&self.metrics.followups_accepted);
        Ok(day)
    }
}

/// Everything the admin handlers share.
pub struct AdminState {
    /// The store.
    pub store: Arc<dyn TipStore>,
    /// The inspectors' public keys (signed bundles are verified with them).
    pub keys: PublicKeys,
    /// BLAKE2b of the admin token; compared in constant time.
    pub token_hash: [u8; 32],
    /// The public listener's counters.
    pub metrics: Arc<Metrics>,
    /// The public listener's limits, for their refusal counts.
    pub limiter: Option<Arc<limits::Limiter>>,
}

/// How the listeners run.
pub struct ServerOptions {
    /// Public address.
    pub bind: String,
    /// Admin address.
    pub admin_bind: String,
    /// Public worker threads.
    pub workers: usize,
    /// Open connections per worker.
    pub max_connections: usize,
    /// Time a client has to send its request headers.
    pub request_timeout: Duration,
}

/// Headers on every response of both listeners.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), interest-cohort=()",
        ))
}

/// The public route table.
pub fn public_routes(cfg: &mut web::ServiceConfig, max_sealed_bytes: usize) {
    cfg.service(web::resource("/").route(web::get().to(pages::home_negotiated)))
        .service(web::resource("/poster").route(web::get().to(pages::poster)))
        .service(web::resource("/assets/site.css").route(web::get().to(assets::site_css)))
        .service(web::resource("/assets/report.js").route(web::get().to(assets::report_js)))
        .service(web::resource(["/{lang}", "/{lang}/"]).route(web::get().to(pages::home)))
        .service(
            web::resource("/{lang}/report")
                .app_data(pages::form_config(max_sealed_bytes))
                .route(web::get().to(pages::report_form))
                .route(web::post().to(pages::report_submit)),
        )
        .service(web::resource("/{lang}/numbers").route(web::get().to(pages::numbers)))
        .service(
            web::resource("/{lang}/followup")
                .app_data(pages::form_config(max_sealed_bytes))
                .route(web::post().to(pages::followup_submit)),
        )
        .service(
            web::resource("/{lang}/status")
                .app_data(pages::form_config(4096))
                .route(web::get().to(pages::status_form))
                .route(web::post().to(pages::status_submit)),
        )
        .service(
            web::scope("/api/v1")
                .service(
                    web::resource("/key")
                        .route(web::get().to(api::key))
                        .default_service(web::to(errors::method_not_allowed)),
                )
                .service(
                    web::resource("/tips")
                        .app_data(api::tips_json_config(max_sealed_bytes))
                        .route(web::post().to(api::submit_tip))
                        .default_service(web::to(errors::method_not_allowed)),
                )
                .service(
                    web::resource("/status")
                        .app_data(api::status_json_config())
                        .route(web::post().to(api::status))
                        .default_service(web::to(errors::method_not_allowed)),
                )
                .service(
                    web::resource("/followups")
                        .app_data(api::tips_json_config(max_sealed_bytes))
                        .route(web::post().to(api::followup))
                        .default_service(web::to(errors::method_not_allowed)),
                ),
        );
}

/// The admin route table.
pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/v1")
            .service(web::resource("/healthz").route(web::get().to(admin::healthz)))
            .service(web::resource("/metrics").route(web::get().to(admin::metrics)))
            .service(
                web::resource("/export")
                    .route(web::get().to(admin::export))
                    .default_service(web::to(errors::method_not_allowed)),
            )
            .service(
                web::resource("/import")
                    .app_data(web::PayloadConfig::new(admin::MAX_IMPORT_BYTES))
                    .route(web::post().to(admin::import))
                    .default_service(web::to(errors::method_not_allowed)),
            ),
    );
}

/// Running listeners and the addresses they bound.
pub struct Listeners {
    /// The public server.
    pub public: Server,
    /// The admin server.
    pub admin: Server,
    /// Addresses the public server listens on.
    pub public_addrs: Vec<SocketAddr>,
    /// Addresses the admin server listens on.
    pub admin_addrs: Vec<SocketAddr>,
}

/// Binds both listeners. Await `public` and `admin` to run them. Slow clients are cut off
/// (request headers within `request_timeout`, idle keep-alive after 15 s), and connections
/// are capped.
pub fn start(
    state: AppState,
    admin: AdminState,
    options: &ServerOptions,
) -> std::io::Result<Listeners> {
    let max_sealed_bytes = state.max_sealed_bytes;
    let limiter = admin.limiter.clone();
    let state = web::Data::new(state);
    let admin = web::Data::new(admin);
    let public = HttpServer::new(move || {
        let mut app = App::new().app_data(state.clone());
        if let Some(limiter) = &limiter {
            app = app.app_data(web::Data::new(limiter.clone()));
        }
        app.wrap(from_fn(limits::middleware))
            .wrap(security_headers())
            .configure(|cfg| public_routes(cfg, max_sealed_bytes))
            .default_service(web::to(pages::not_found))
    })
    .workers(options.workers)
    .max_connections(options.max_connections)
    .client_request_timeout(options.request_timeout)
    .client_disconnect_timeout(Duration::from_secs(2))
    .keep_alive(Duration::from_secs(15))
    .bind(&options.bind)?;
    let public_addrs = public.addrs();
    let admin_server = HttpServer::new(move || {
        App::new()
            .wrap(security_headers())
            .app_data(admin.clone())
            .configure(admin_routes)
            .default_service(web::to(errors::not_found))
    })
    .workers(1)
    .max_connections(64)
    .client_request_timeout(Duration::from_secs(10))
    .bind(&options.admin_bind)?;
    let admin_addrs = admin_server.addrs();
    Ok(Listeners {
        public: public.run(),
        admin: admin_server.run(),
        public_addrs,
        admin_addrs,
    })
}
