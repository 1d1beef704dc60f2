//! The HTTP service: the public listener (pages and `/api/v1`) and the admin listener
//! (`/admin/v1`), each with its own route table, so admin routes cannot be reached from
//! the public address at all.
//!
//! No request logger is installed: nothing about a request (address, agent, time) is
//! recorded anywhere.

mod admin;
pub use admin::ExportThread;
pub(crate) mod api;
mod assets;
pub mod clerk;
pub mod errors;
mod forget;
pub mod guards;
pub mod i18n;
pub mod limits;
pub(crate) mod pages;
mod uploads;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpServer};

use crate::domain::keys::PublicKeys;
use crate::domain::Day;
use crate::service::{Intake, Metrics};
use crate::store::TipStore;

/// Everything the public handlers share.
pub struct AppState {
    /// The operations behind the pages and the API.
    pub intake: Arc<Intake>,
    /// True when running on a throwaway demo key.
    pub demo: bool,
    /// The address residents use (poster, receipt card), ending in `/`. Set from
    /// `--public-url`, or once the public listener is bound.
    pub public_url: Arc<std::sync::OnceLock<String>>,
    /// The public numbers, computed at most once an hour.
    pub numbers_cache: NumbersCache,
    /// Where residents may post a letter or call (on the poster and the printed forms).
    pub contact: Arc<OfficeContact>,
}

/// How to reach the office without the web: shown on the poster and the printed forms only
/// when the operator set them (`--office-postal-address`, `--office-phone`).
#[derive(Debug, Clone, Default)]
pub struct OfficeContact {
    /// Where letters are posted.
    pub postal_address: Option<String>,
    /// The number residents call to report or to hear their status.
    pub phone: Option<String>,
}

/// When the public numbers were computed, and what they were.
pub type NumbersCache = std::sync::Mutex<
    Option<(
        std::time::Instant,
        Arc<std::collections::BTreeMap<String, crate::store::MonthCounts>>,
    )>,
>;

impl AppState {
    /// The address residents use, ending in `/`.
    pub fn public_url(&self) -> &str {
        self.public_url.get().map(String::as_str).unwrap_or("/")
    }
}

/// Everything the admin handlers share.
pub struct AdminState {
    /// The store.
    pub store: Arc<dyn TipStore>,
    /// The inspectors' public keys (signed bundles are verified with them).
    pub keys: PublicKeys,
    /// The directory of offices, shared with the intake; replaced by an import.
    pub offices: Arc<crate::service::offices::OfficeBook>,
    /// Largest sealed tip the server takes (also for the copies moves carry).
    pub max_sealed_bytes: usize,
    /// BLAKE2b of the admin token; compared in constant time.
    pub token_hash: [u8; 32],
    /// BLAKE2b of the metrics token, when one is set: it opens the metrics and nothing else.
    pub metrics_token_hash: Option<[u8; 32]>,
    /// The public listener's counters.
    pub metrics: Arc<Metrics>,
    /// The public listener's limits, for their refusal counts.
    pub limiter: Option<Arc<limits::Limiter>>,
    /// The metrics as published today: the day they were taken, and the text.
    pub metrics_snapshot: std::sync::Mutex<Option<(Day, String)>>,
    /// The thread exports are read on.
    pub exports: ExportThread,
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
    /// Longest a public connection may stay open, whatever it does.
    pub connection_lifetime: Duration,
    /// Open connections one client may hold (0: no cap); not applied to shared peers
    /// unless `limits_on_shared_peers`, nor behind a proxy.
    pub max_connections_per_client: u32,
    /// The server sits behind a proxy or Tor: no per-client cap.
    pub proxied: bool,
    /// Apply per-client caps to loopback and other shared peers too (tests only).
    pub limits_on_shared_peers: bool,
}

/// Headers on every response of a listener. The public one differs in two things only: a
/// page may show what the resident picked or recorded before it is sent (`img-src blob:`,
/// `media-src blob:`; object URLs the page itself made, never another origin), and may ask
/// for the microphone for a voice note (`microphone=(self)`). The admin listener keeps both
/// shut.
fn security_headers(public: bool) -> DefaultHeaders {
    let csp = if public {
        // 'wasm-unsafe-eval' lets the receipt worker compile its Argon2id WebAssembly;
        // it allows no eval of JavaScript and no inline script.
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
         style-src 'self'; img-src 'self' blob:; media-src blob:; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    } else {
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
         style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    };
    let permissions = if public {
        "camera=(), microphone=(self), geolocation=(), interest-cohort=()"
    } else {
        "camera=(), microphone=(), geolocation=(), interest-cohort=()"
    };
    DefaultHeaders::new()
        .add(("Content-Security-Policy", csp))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
        .add(("Permissions-Policy", permissions))
}

/// The public route table.
pub fn public_routes(cfg: &mut web::ServiceConfig, max_sealed_bytes: usize) {
    cfg.service(web::resource("/").route(web::get().to(pages::home_negotiated)))
        .service(web::resource("/poster").route(web::get().to(pages::poster)))
        .service(web::resource("/assets/site.css").route(web::get().to(assets::site_css)))
        .service(web::resource("/assets/report.js").route(web::get().to(assets::report_js)))
        .service(
            web::resource("/assets/receipt-worker.js")
                .route(web::get().to(assets::receipt_worker_js)),
        )
        .service(web::resource("/assets/attach.js").route(web::get().to(assets::attach_js)))
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
            web::resource("/{lang}/consent")
                .app_data(pages::form_config(4096))
                .route(web::post().to(pages::consent_submit)),
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
                    web::resource("/consent")
                        .app_data(api::status_json_config())
                        .route(web::post().to(api::consent))
                        .default_service(web::to(errors::method_not_allowed)),
                )
                .service(
                    web::resource("/followups")
                        .app_data(api::tips_json_config(max_sealed_bytes))
                        .route(web::post().to(api::followup))
                        .default_service(web::to(errors::method_not_allowed)),
                )
                .service(
                    web::resource("/uploads")
                        .app_data(uploads::start_json_config())
                        .route(web::post().to(uploads::start))
                        .default_service(web::to(errors::method_not_allowed)),
                )
                .service(
                    web::resource("/uploads/{upload}")
                        .route(web::get().to(uploads::status))
                        .route(web::delete().to(uploads::delete))
                        .default_service(web::to(errors::method_not_allowed)),
                )
                .service(
                    web::resource("/uploads/{upload}/{chunk}")
                        .route(web::put().to(uploads::put_chunk))
                        .default_service(web::to(errors::method_not_allowed)),
                ),
        )
        .service(
            web::scope("/api/v2")
                .service(
                    web::resource("/tips")
                        .app_data(api::tips_json_config(max_sealed_bytes))
                        .route(web::post().to(api::submit_tip_v2))
                        .default_service(web::to(errors::method_not_allowed)),
                )
                .service(
                    web::resource("/status")
                        .app_data(api::lookup_json_config())
                        .route(web::post().to(api::status_v2))
                        .default_service(web::to(errors::method_not_allowed)),
                )
                .service(
                    web::resource("/consent")
                        .app_data(api::status_json_config())
                        .route(web::post().to(api::consent_v2))
                        .default_service(web::to(errors::method_not_allowed)),
                )
                .service(
                    web::resource("/followups")
                        .app_data(api::tips_json_config(
                            max_sealed_bytes + crate::domain::tip::PAD_BLOCK,
                        ))
                        .route(web::post().to(api::followup_v2))
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
            )
            .service(
                web::resource("/offices")
                    .route(web::post().to(admin::install_offices))
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
/// How often unfinished uploads past their time are looked for (on this clock, never on a
/// request's, so a deletion says nothing about when anyone sent anything).
const UPLOAD_EXPIRY_EVERY: Duration = Duration::from_secs(3600);
/// How often the counts of entered tips of the days that are over are written.
const ENTERED_COUNTS_EVERY: Duration = Duration::from_secs(3600);

/// Binds both listeners. Await `public` and `admin` to run them. Slow clients are cut off
/// (request headers within `request_timeout`, the body within
/// `request_deadline`, idle keep-alive after 15 s), and connections are capped, in all and
/// per client. Must be called inside the actix system (it starts the disk watcher).
pub fn start(
    state: AppState,
    admin: AdminState,
    options: &ServerOptions,
) -> std::io::Result<Listeners> {
    let lifetime = options.connection_lifetime;
    let max_sealed_bytes = state.intake.max_sealed_bytes;
    let limiter = admin.limiter.clone();
    let state = web::Data::new(state);
    actix_web::rt::spawn(Intake::watch_disk(state.intake.clone(), DISK_WATCH_EVERY));
    actix_web::rt::spawn(Intake::expire_uploads(
        state.intake.clone(),
        UPLOAD_EXPIRY_EVERY,
    ));
    actix_web::rt::spawn(Intake::write_entered_counts_daily(
        state.intake.clone(),
        ENTERED_COUNTS_EVERY,
    ));
    actix_web::rt::spawn(Intake::forget_idle_uploads(
        state.intake.clone(),
        Duration::from_secs(60),
    ));
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
            .wrap(security_headers(true))
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
    .on_connect(move |conn, ext| {
        guards::on_connect(&cap, conn, ext);
        guards::limit_lifetime(conn, ext, lifetime);
    })
    .bind(&options.bind)?;
    let public_addrs = public.addrs();
    let admin_server = HttpServer::new(move || {
        App::new()
            .wrap(security_headers(false))
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
