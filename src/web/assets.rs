//! Static files, embedded in the binary and served from our own origin with Subresource
//! Integrity hashes. Nothing is fetched from anywhere else.

use std::sync::OnceLock;

use actix_web::HttpResponse;

use crate::crypto;

const SITE_CSS: &[u8] = include_bytes!("assets/site.css");
/// The clerk's pages' own rules (and the printed forms' layout).
const CLERK_CSS: &[u8] = include_bytes!("assets/clerk.css");
/// The esbuild bundle of `assets/js/clerk.js` (the clerk's pages only); empty when it was
/// not built.
const CLERK_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/clerk.js"));
/// The esbuild bundle of `assets/js/report.js`; empty when it was not built.
const REPORT_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/report.js"));

/// The esbuild bundle of `assets/js/receipt-worker.js` (Argon2id in WebAssembly, run in a
/// Web Worker); empty when it was not built.
const RECEIPT_WORKER_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/receipt-worker.js"));

/// The esbuild bundle of `assets/js/attach.js` (evidence files: cleaning photos, voice
/// notes, encrypting and uploading), loaded by the page script only when a resident opens
/// the evidence part of a form; empty when it was not built.
const ATTACH_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/attach.js"));

/// Integrity values, computed once.
pub struct Integrity {
    /// Of the stylesheet.
    pub css: String,
    /// Of the sealing script, when there is one.
    pub js: Option<String>,
    /// Of the clerk's stylesheet.
    pub clerk_css: String,
    /// Of the clerk's script, when there is one.
    pub clerk_js: Option<String>,
    /// Of the evidence bundle, when there is one (the page script loads it with this value).
    pub attach: Option<String>,
}

/// The integrity values of the embedded files.
pub fn integrity() -> &'static Integrity {
    static I: OnceLock<Integrity> = OnceLock::new();
    I.get_or_init(|| Integrity {
        css: crypto::sri_sha512(SITE_CSS),
        js: (!REPORT_JS.is_empty()).then(|| crypto::sri_sha512(REPORT_JS)),
        clerk_css: crypto::sri_sha512(CLERK_CSS),
        clerk_js: (!CLERK_JS.is_empty()).then(|| crypto::sri_sha512(CLERK_JS)),
        attach: (!ATTACH_JS.is_empty()).then(|| crypto::sri_sha512(ATTACH_JS)),
    })
}

fn asset(content_type: &str, bytes: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // Not personal; a day's caching saves residents' data plans.
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(bytes)
}

/// `GET /assets/site.css`
pub async fn site_css() -> HttpResponse {
    asset("text/css; charset=utf-8", SITE_CSS)
}

/// `GET /assets/report.js`
pub async fn report_js() -> HttpResponse {
    if REPORT_JS.is_empty() {
        return super::errors::json_error(
            actix_web::http::StatusCode::NOT_FOUND,
            "This server was built without the sealing script.",
        );
    }
    asset("text/javascript; charset=utf-8", REPORT_JS)
}

/// `GET /assets/receipt-worker.js`: loaded by `new Worker(...)`, which takes no integrity
/// value; it is served from our origin under the same Content-Security-Policy.
pub async fn receipt_worker_js() -> HttpResponse {
    if RECEIPT_WORKER_JS.is_empty() {
        return super::errors::json_error(
            actix_web::http::StatusCode::NOT_FOUND,
            "This server was built without the receipt script.",
        );
    }
    asset("text/javascript; charset=utf-8", RECEIPT_WORKER_JS)
}

/// `GET /assets/clerk.css` (clerk's listener only).
pub async fn clerk_css() -> HttpResponse {
    asset("text/css; charset=utf-8", CLERK_CSS)
}

/// `GET /assets/clerk.js` (clerk's listener only).
pub async fn clerk_js() -> HttpResponse {
    if CLERK_JS.is_empty() {
        return super::errors::json_error(
            actix_web::http::StatusCode::NOT_FOUND,
            "This server was built without the clerk's script.",
        );
    }
    asset("text/javascript; charset=utf-8", CLERK_JS)
}

/// `GET /assets/attach.js`: the evidence bundle, loaded with its integrity value.
pub async fn attach_js() -> HttpResponse {
    if ATTACH_JS.is_empty() {
        return super::errors::json_error(
            actix_web::http::StatusCode::NOT_FOUND,
            "This server was built without the evidence script.",
        );
    }
    asset("text/javascript; charset=utf-8", ATTACH_JS)
}
