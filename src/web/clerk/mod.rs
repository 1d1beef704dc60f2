//! The clerk's listener: the office's own pages for printing report forms, entering letters,
//! calls and visits, and reading a caller's status aloud. A third listener with its own
//! route table (nothing of it is on the public listener) and its own token (never the admin
//! token, which exports every tip), on loopback or the office network.
//!
//! The pages do in the clerk's browser what the report page does in a resident's: receipts
//! are made and run through Argon2id there, words are sealed there, and only lookup values
//! and sealed boxes are posted (`js/clerk.js`). The handlers parse and call `service::clerk`.

mod api;
mod pages;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpServer};

use super::OfficeContact;
use crate::service::Intake;

/// Everything the clerk's handlers share.
pub struct ClerkState {
    /// The operations behind the pages.
    pub intake: Arc<Intake>,
    /// BLAKE2b of the clerk token; compared in constant time.
    pub token_hash: [u8; 32],
    /// Signed-in browsers.
    pub sessions: session::Sessions,
    /// True when running on a throwaway demo key.
    pub demo: bool,
    /// The address residents use, ending in `/` (printed on the forms' stubs).
    pub public_url: Arc<std::sync::OnceLock<String>>,
    /// Where letters go and which number to call (printed on the forms).
    pub contact: Arc<OfficeContact>,
}

impl ClerkState {
    /// The address residents use, ending in `/`.
    pub fn public_url(&self) -> &str {
        self.public_url.get().map(String::as_str).unwrap_or("/")
    }
}

/// Headers on every answer: scripts only our own (the worker's WebAssembly included), no
/// framing, nothing cached, no referrer.
fn headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
             style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
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

/// The clerk's route table.
pub fn clerk_routes(cfg: &mut web::ServiceConfig, max_sealed_bytes: usize) {
    cfg.service(web::resource("/").route(web::get().to(pages::root)))
        .service(web::resource("/assets/site.css").route(web::get().to(super::assets::site_css)))
        .service(web::resource("/assets/clerk.css").route(web::get().to(super::assets::clerk_css)))
        .service(web::resource("/assets/clerk.js").route(web::get().to(super::assets::clerk_js)))
        .service(
            web::resource("/assets/receipt-worker.js")
                .route(web::get().to(super::assets::receipt_worker_js)),
        )
        .service(
            web::scope("/api")
                .service(
                    web::resource("/batches")
                        .app_data(api::batch_json_config())
                        .route(web::post().to(api::print_batch))
                        .default_service(web::to(super::errors::method_not_allowed)),
                )
                .service(
                    web::resource("/entries")
                        .app_data(super::api::tips_json_config(max_sealed_bytes))
                        .route(web::post().to(api::enter))
                        .default_service(web::to(super::errors::method_not_allowed)),
                )
                .service(
                    web::resource("/status")
                        .app_data(super::api::lookup_json_config())
                        .route(web::post().to(api::status))
                        .default_service(web::to(super::errors::method_not_allowed)),
                ),
        )
        .service(
            web::resource("/{lang}/signin")
                .app_data(super::pages::form_config(4096))
                .route(web::get().to(pages::signin::form))
                .route(web::post().to(pages::signin::submit)),
        )
        .service(web::resource("/{lang}/signout").route(web::post().to(pages::signin::signout)))
        .service(web::resource(["/{lang}", "/{lang}/"]).route(web::get().to(pages::home::home)))
        .service(web::resource("/{lang}/forms").route(web::get().to(pages::forms::forms)))
        .service(web::resource("/{lang}/batches").route(web::get().to(pages::batches::list)))
        .service(
            web::resource("/{lang}/batches/void")
                .app_data(super::pages::form_config(4096))
                .route(web::post().to(pages::batches::void)),
        )
        .service(web::resource("/{lang}/entry").route(web::get().to(pages::entry::entry)))
        .service(web::resource("/{lang}/phone").route(web::get().to(pages::phone::phone)));
}

/// The clerk's listener, bound and ready to run, and the addresses it bound.
pub struct Listener {
    /// The server.
    pub server: Server,
    /// Addresses it listens on.
    pub addrs: Vec<SocketAddr>,
}

/// How long a request's body may take on the clerk's listener, from the end of its head
/// (its first byte within 10 s): 30 s, plus the largest entry (a sealed tip in base64) at
/// 8 KiB/s, so an office on a slow line still gets its entry in (3.5 minutes for the
/// default 1 MiB), and a trickling client still loses its connection within minutes.
fn body_deadline(max_sealed_bytes: usize) -> std::time::Duration {
    let base64 = max_sealed_bytes.div_ceil(3) as u64 * 4;
    std::time::Duration::from_secs(30 + base64 / super::guards::MIN_FILE_BODY_RATE)
}

/// Connections the clerk's listener keeps open at once. Its clerks come through one SSH
/// tunnel or the office network, so a cap per address would not tell them apart; enough
/// slots, each cut when its head or body is slow, keep a trickling client from filling them.
const MAX_CONNECTIONS: usize = 512;

/// Binds the clerk's listener on `bind`: one worker, slow heads and bodies cut.
pub fn start(state: ClerkState, bind: &str) -> std::io::Result<Listener> {
    let max_sealed_bytes = state.intake.max_sealed_bytes;
    let state = web::Data::new(state);
    let guards = web::Data::new(super::guards::Guards {
        deadline: body_deadline(max_sealed_bytes),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(guards.clone())
            .wrap(from_fn(super::guards::middleware))
            .wrap(from_fn(session::guard))
            .wrap(headers())
            .wrap(from_fn(super::forget::middleware))
            .configure(|cfg| clerk_routes(cfg, max_sealed_bytes))
            .default_service(web::to(pages::not_found))
    })
    .workers(1)
    .max_connections(MAX_CONNECTIONS)
    .client_request_timeout(std::time::Duration::from_secs(10))
    .bind(bind)?;
    let addrs = server.addrs();
    Ok(Listener {
        server: server.run(),
        addrs,
    })
}
