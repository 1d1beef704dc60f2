//! Pages for residents. Markup is built with maud, which escapes every interpolated value.

use actix_web::{web, HttpResponse};
use maud::{html, Markup, DOCTYPE};

use super::AppState;

fn demo_banner(demo: bool) -> Markup {
    html! {
        @if demo {
            p.demo role="alert" {
                strong { "演示模式 DEMO MODE：举报没有受到保护，请勿提交真实举报。Tips are not protected: do not send a real report." }
            }
        }
    }
}

/// `GET /`
pub async fn home(state: web::Data<AppState>) -> HttpResponse {
    let page = html! {
        (DOCTYPE)
        html lang="zh-Hans" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "举报箱 whistlebox" }
            }
            body {
                (demo_banner(state.demo))
                h1 { "匿名举报 Anonymous reports" }
                p { "您的举报在您的设备上加密，只有县纪检监察的工作人员在一台从不联网的电脑上才能读到。" }
                p { "Your report is sealed on your device; only the county inspectors can read it, on a computer that is never online." }
            }
        }
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(page.into_string())
}
