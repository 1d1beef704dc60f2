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
mod forget;
pub mod guards;
pub mod i18n;
pub mod limits;
mod pages;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use tokio::sync::Semaphore;

use zeroize::Zeroizing;

use self::errors::{StatusError, SubmitError};
use crate::crypto::BoxPublicKey;
use crate::domain::followup;
use crate::domain::keys::PublicKeys;
use crate::domain::receipt::{Receipt, ReceiptHasher, ReceiptKeys, ReceiptLookup};
use crate::domain::ticket::Tickets;
use crate::domain::tip::{SealedTip, TipPlaintext};
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
    /// Counters for the operators' metrics.
    pub metrics: Arc<Metrics>,
    /// The public numbers, computed at most once an hour.
    pub numbers_cache: NumbersCache,
    /// Receipt tickets handed to browsers that seal the reply key into their tips.
    pub tickets: Tickets,
}

/// A receipt handed to a browser before it seals its tip. Shown to the resident only once
/// the tip is stored.
pub struct Reservation {
    /// The receipt, for display.
    pub receipt: Zeroizing<String>,
    /// The receipt's reply public key, to be sealed inside the tip.
    pub reply_key: BoxPublicKey,
    /// What the browser posts back with its sealed tip.
    pub ticket: String,
}

/// When the public numbers were computed, and what they were.
pub type NumbersCache = std::sync::Mutex<
    Option<(
        std::time::Instant,
        Arc<std::collections::BTreeMap<String, crate::store::MonthCounts>>,
    )>,
>;

/// Counts only: nothing per request, nothing about anyone. They are published only as a
/// daily snapshot (see `admin::metrics`), so no scraper sees one move when a tip arrives.
#[derive(Default)]
pub struct Metrics {
    /// Tips stored since start.
    pub tips_accepted: AtomicU64,
    /// Follow-ups stored since start.
    pub followups_accepted: AtomicU64,
    /// Submissions refused because the disk was nearly full.
    pub disk_full_refusals: AtomicU64,
    /// Whether the disk watcher last found the disk nearly full (its log lines say only
    /// when this changes, on the watcher's own clock, never on a request).
    pub disk_low: AtomicBool,
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

    /// Stores a sealed tip under a fresh receipt and returns the receipt (for display) and
    /// day, only once the tip is durable on disk. The tip was sealed without knowing the
    /// receipt, so it binds no reply key: the receipt shows the status, but no replies.
    pub async fn accept_tip(
        &self,
        sealed: SealedTip,
    ) -> Result<(Zeroizing<String>, Day), SubmitError> {
        self.file_under_new_receipt(|_| Ok(sealed.clone())).await
    }

    /// The no-JavaScript path: binds the receipt's reply key into the resident's words,
    /// seals them at once and stores the sealed tip. The words are wiped when `tip` drops,
    /// right after sealing; the receipt is returned only once the tip is durable.
    pub async fn accept_plain_tip(
        &self,
        mut tip: TipPlaintext,
    ) -> Result<(Zeroizing<String>, Day), SubmitError> {
        let max = self.max_sealed_bytes;
        let box_key = &self.keys.box_key;
        self.file_under_new_receipt(move |keys| {
            tip.bind_reply_key(&keys.reply_key().public_key());
            let sealed = tip.seal(box_key).map_err(|_| SubmitError::Internal)?;
            Ok(SealedTip::from_bytes(sealed.as_bytes().to_vec(), max)?)
        })
        .await
    }

    /// Draws a receipt, seals with its keys, and stores; a receipt that is somehow taken
    /// already (it never should be) is drawn again.
    async fn file_under_new_receipt(
        &self,
        mut seal: impl FnMut(&ReceiptKeys) -> Result<SealedTip, SubmitError>,
    ) -> Result<(Zeroizing<String>, Day), SubmitError> {
        self.check_disk()?;
        for _ in 0..RECEIPT_ATTEMPTS {
            let receipt = Receipt::generate();
            let shown = receipt.display();
            let keys = self
                .derive(receipt)
                .await
                .map_err(|()| SubmitError::Internal)?;
            match self.insert_tip(keys.lookup, seal(&keys)?).await {
                Ok(day) => return Ok((shown, day)),
                Err(SubmitError::Store(StoreError::LookupTaken)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(SubmitError::Internal)
    }

    /// Draws a receipt for a browser that will seal its reply key into the tip.
    pub async fn reserve_receipt(&self) -> Result<Reservation, SubmitError> {
        self.check_disk()?;
        let receipt = Receipt::generate();
        let shown = receipt.display();
        let keys = self
            .derive(receipt)
            .await
            .map_err(|()| SubmitError::Internal)?;
        Ok(Reservation {
            receipt: shown,
            reply_key: keys.reply_key().public_key(),
            ticket: self.tickets.issue(&keys.lookup),
        })
    }

    /// Stores a tip sealed in the browser under the receipt its ticket stands for.
    pub async fn accept_reserved_tip(
        &self,
        sealed: SealedTip,
        ticket: &str,
    ) -> Result<Day, SubmitError> {
        self.check_disk()?;
        let lookup = self.tickets.redeem(ticket)?;
        match self.insert_tip(lookup, sealed).await {
            Err(SubmitError::Store(StoreError::LookupTaken)) => Err(SubmitError::TicketUsed),
            other => other,
        }
    }

    async fn insert_tip(
        &self,
        lookup: ReceiptLookup,
        sealed: SealedTip,
    ) -> Result<Day, SubmitError> {
        let store = self.store.clone();
        let day = Day::today();
        let tip = NewTip {
            lookup,
            day,
            sealed,
            // The reply key is bound inside the sealed tip, or the tip has none.
            sealed_reply_key: Vec::new(),
        };
        web::block(move || store.insert(tip))
            .await
            .map_err(|_| SubmitError::Internal)??;
        Metrics::bump(&self.metrics.tips_accepted);
        Ok(day)
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
    /// meets a full disk mid-write and the operator sees a clear count. It logs nothing: a
    /// line per refusal would mark the moment someone tried to report (`watch_disk` tells
    /// the operator instead).
    fn check_disk(&self) -> Result<(), SubmitError> {
        if self.disk_is_low() {
            Metrics::bump(&self.metrics.disk_full_refusals);
            return Err(SubmitError::DiskFull);
        }
        Ok(())
    }

    fn disk_is_low(&self) -> bool {
        matches!(fs4::available_space(&self.data_dir), Ok(free) if free < self.min_free_bytes)
    }

    /// Checks the disk every `every`, on its own clock, and logs only when it turns nearly
    /// full or has room again.
    pub async fn watch_disk(state: web::Data<AppState>, every: Duration) {
        let mut ticks = actix_web::rt::time::interval(every);
        loop {
            ticks.tick().await;
            let low = state.disk_is_low();
            if state.metrics.disk_low.swap(low, Ordering::Relaxed) != low {
                if low {
                    tracing::warn!(
                        min = state.min_free_bytes,
                        "disk nearly full: new tips and follow-ups are refused until space is freed"
                    );
                } else {
                    tracing::info!("the disk has room again: new tips are taken");
                }
            }
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
        let keys = self
            .derive(receipt)
            .await
            .map_err(|()| StatusError::Internal)?;
        // Boxed with the receipt's reply key, so the inspectors can check that it came from
        // the holder of the receipt (domain::followup).
        let sealed = followup::authenticate(
            &sealed,
            &keys.reply_key(),
            &self.keys.box_key,
            self.max_sealed_bytes + crate::domain::tip::PAD_BLOCK,
        )
        .map_err(|_| StatusError::Internal)?;
        let store = self.store.clone();
        let day = Day::today();
        let lookup = keys.lookup;
        web::block(move || store.add_followup(&lookup, day, sealed))
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
    /// The metrics as published today: the day they were taken, and the text.
    pub metrics_snapshot: std::sync::Mutex<Option<(Day, String)>>,
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
    /// Time from the end of the headers to the end of the body.
    pub request_deadline: Duration,
    /// Open connections one client may hold (0: no cap); not applied to shared peers
    /// unless `limits_on_shared_peers`, nor behind a proxy.
    pub max_connections_per_client: u32,
    /// The server sits behind a proxy or Tor: no per-client cap.
    pub proxied: bool,
    /// Apply per-client caps to loopback and other shared peers too (tests only).
    pub limits_on_shared_peers: bool,
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
                    web::resource("/receipts")
                        .route(web::post().to(api::reserve_receipt))
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

/// How often the disk watcher looks at free space.
const DISK_WATCH_EVERY: Duration = Duration::from_secs(60);

/// Binds both listeners. Await `public` and `admin` to run them. Slow clients are cut off
/// (request headers within `request_timeout`, the body within
/// `request_deadline`, idle keep-alive after 15 s), and connections are capped, in all and
/// per client. Must be called inside the actix system (it starts the disk watcher).
pub fn start(
    state: AppState,
    admin: AdminState,
    options: &ServerOptions,
) -> std::io::Result<Listeners> {
    let max_sealed_bytes = state.max_sealed_bytes;
    let limiter = admin.limiter.clone();
    let state = web::Data::new(state);
    actix_web::rt::spawn(AppState::watch_disk(state.clone(), DISK_WATCH_EVERY));
    let admin = web::Data::new(admin);
    let cap = Arc::new(guards::ConnectionCap::new(
        options.max_connections_per_client,
        !options.proxied,
        !options.limits_on_shared_peers,
    ));
    let guards = web::Data::new(guards::Guards {
        deadline: options.request_deadline,
    });
    let public = HttpServer::new(move || {
        let mut app = App::new().app_data(state.clone()).app_data(guards.clone());
        if let Some(limiter) = &limiter {
            app = app.app_data(web::Data::new(limiter.clone()));
        }
        app.wrap(from_fn(limits::middleware))
            .wrap(from_fn(guards::middleware))
            .wrap(security_headers())
            .wrap(from_fn(forget::middleware))
            .configure(|cfg| public_routes(cfg, max_sealed_bytes))
            .default_service(web::to(pages::not_found))
    })
    .workers(options.workers)
    .max_connections(options.max_connections)
    .client_request_timeout(options.request_timeout)
    // After an answer with `Connection: close` (a 408 past the deadline among them), the
    // time the connection lingers for the client to hang up: its slot is held meanwhile.
    .client_disconnect_timeout(Duration::from_secs(1))
    .keep_alive(Duration::from_secs(15))
    .on_connect(move |conn, ext| guards::on_connect(&cap, conn, ext))
    .bind(&options.bind)?;
    let public_addrs = public.addrs();
    let admin_server = HttpServer::new(move || {
        App::new()
            .wrap(security_headers())
            .wrap(from_fn(forget::middleware))
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
