//! The poster for village notice boards: the address, and how to report by letter, phone
//! or visit (the office's address and phone when the operator set them).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, PreEscaped};

use super::{html_response, layout, Page};
use crate::web::i18n::{t, Lang};
use crate::web::AppState;

/// `GET /poster`: an A4 poster for village notice boards, in Chinese, with a QR code of the
/// address (an SVG drawn by the `qrcode` crate, inline, so nothing is fetched).
pub async fn poster(state: web::Data<AppState>) -> HttpResponse {
    let l = Lang::Zh;
    let url = format!("{}{}/", state.public_url(), l.code());
    let qr = match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    };
    // The renderer emits an XML prolog, which has no place inside HTML.
    let svg = qr.find("<svg").map(|i| &qr[i..]).unwrap_or("");
    let content = html! {
        div.poster {
            h1 { (t(l, "poster-title")) }
            p.lead { (t(l, "poster-lead")) }
            div.qr role="img" aria-label=(url) { (PreEscaped(svg)) }
            p.url { (url) }
            ol {
                li { (t(l, "poster-step-1")) }
                li { (t(l, "poster-step-2")) }
                li { (t(l, "poster-step-3")) }
            }
            p { strong { (t(l, "poster-safe")) } }
            section #poster-offline {
                h2 { (t(l, "poster-offline-title")) }
                p { (t(l, "poster-offline-how")) }
                @if let Some(address) = &state.contact.postal_address {
                    p #poster-address { (t(l, "poster-letters-to")) " " strong { (address) } }
                }
                @if let Some(phone) = &state.contact.phone {
                    p #poster-phone { (t(l, "poster-phone")) " " strong { (phone) } }
                }
                p { (t(l, "poster-offline-receipt")) }
            }
            (super::offices_list(l, &state))
        }
    };
    let page = Page {
        lang: l,
        demo: state.demo,
        title: t(l, "poster-title"),
        path: "/",
        body_class: "poster-page",
        script: false,
    };
    html_response(StatusCode::OK, layout(page, content))
}
