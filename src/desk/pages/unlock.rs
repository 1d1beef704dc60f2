//! Unlocking and locking the desk. The passphrase is typed here (or read from a file when
//! the desk starts); a right one opens the key and the workspace and starts a session.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use maud::{html, DOCTYPE};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::desk::session::cookie;
use crate::desk::{DeskData, DeskError};
use crate::lang::Lang;

/// `GET /{lang}/unlock`.
pub async fn form(lang: web::Path<String>) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    Ok(render(l, None, StatusCode::OK))
}

fn render(l: Lang, error: Option<&str>, status: StatusCode) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang=(l.html_lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (l.pick("解锁办案台", "Unlock the desk")) }
                link rel="stylesheet" href="/desk.css";
            }
            body {
                main #main.narrow {
                    h1 { (l.pick("解锁办案台", "Unlock the desk")) }
                    p { (l.pick("输入办公室密钥的口令。口令不会保存；锁定或关闭后，本机上的工作区只剩密文。", "Type the passphrase of the office key. It is not kept; once locked or closed, the workspace on this machine is ciphertext only.")) }
                    @if let Some(e) = error { p.error role="alert" { (e) } }
                    form autocomplete="off" method="post" action={ "/" (l.code()) "/unlock" } {
                        label for="passphrase" { (l.pick("口令", "Passphrase")) }
                        input #passphrase type="password" name="passphrase" autocomplete="off" autofocus required;
                        button type="submit" { (l.pick("解锁", "Unlock")) }
                    }
                    p { a lang=(l.other().html_lang()) href={ "/" (l.other().code()) "/unlock" } { (l.other().pick("中文", "English")) } }
                }
            }
        }
    };
    super::html(status, markup)
}

/// The unlock form.
#[derive(Deserialize)]
pub struct UnlockForm {
    passphrase: Zeroizing<String>,
}

/// `POST /{lang}/unlock`.
pub async fn submit(
    desk: DeskData,
    lang: web::Path<String>,
    form: web::Form<UnlockForm>,
) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    let form = form.into_inner();
    let worker = desk.clone();
    // Argon2id takes about a second and 256 MiB: off the async workers, one at a time.
    let result = web::block(move || {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        // Each wrong passphrase makes the next try wait longer (up to 10 s), so that a
        // program on this machine cannot try passphrases as fast as Argon2id allows.
        static FAILURES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let failures = FAILURES.load(std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_secs(u64::from(failures.min(10))));
        let result = if worker.is_open() {
            // Already open: the passphrase must still be the right one for a session.
            crate::domain::keys::SecretKeys::from_file_text(
                &worker.config.key_text,
                form.passphrase.as_bytes(),
            )
            .map(|_| ())
            .map_err(|_| DeskError::WrongPassphrase)
        } else {
            worker.unlock(form.passphrase.as_bytes())
        };
        match &result {
            Err(DeskError::WrongPassphrase) => {
                FAILURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            _ => FAILURES.store(0, std::sync::atomic::Ordering::Relaxed),
        }
        result
    })
    .await
    .map_err(|_| DeskError::Form("unlocking stopped unexpectedly; try again".into()))?;
    match result {
        Ok(()) => Ok(HttpResponse::SeeOther()
            .insert_header((header::SET_COOKIE, cookie(&desk.sessions.start())))
            .insert_header((header::LOCATION, format!("/{}/", l.code())))
            .finish()),
        Err(DeskError::WrongPassphrase) => Ok(render(
            l,
            Some(l.pick(
                "口令不对，没有打开任何内容。请再输入一次。",
                "Wrong passphrase: nothing was opened. Type it again.",
            )),
            StatusCode::UNAUTHORIZED,
        )),
        Err(e) => Ok(render(
            l,
            Some(&e.to_string()),
            StatusCode::INTERNAL_SERVER_ERROR,
        )),
    }
}

/// `GET /signin/{token}`: the one-time link printed at start; works once.
pub async fn signin(desk: DeskData, token: web::Path<String>) -> HttpResponse {
    if desk.is_open() && desk.sessions.spend_signin(&token) {
        HttpResponse::SeeOther()
            .insert_header((header::SET_COOKIE, cookie(&desk.sessions.start())))
            .insert_header((header::LOCATION, "/zh/"))
            .finish()
    } else {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/zh/unlock"))
            .finish()
    }
}

/// `POST /{lang}/lock`: forgets the keys, the ledger and every session.
pub async fn lock(desk: DeskData, lang: web::Path<String>) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    desk.lock();
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::SET_COOKIE,
            format!(
                "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
                crate::desk::session::COOKIE
            ),
        ))
        .insert_header((header::LOCATION, format!("/{}/unlock", l.code())))
        .finish())
}
