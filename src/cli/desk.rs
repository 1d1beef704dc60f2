//! `whistlebox desk`: the inspectors' desk on the offline machine (see `crate::desk`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use super::{read_bounded, read_passphrase, CliError};
use crate::crypto;
use crate::desk::{Desk, DeskConfig};
use crate::domain::exported::{kind_words, size_words};
use crate::domain::keys::PublicKeys;
use crate::domain::office::MAX_DIRECTORY_BYTES;
use crate::domain::Day;

/// Flags of `desk`.
#[derive(Debug, Args)]
pub struct DeskArgs {
    /// The office's secret key file (inspectors.key). Its folder also keeps
    /// `inspectors.sequence`, the number of the last bundle signed.
    #[arg(long)]
    pub key: PathBuf,
    /// The workspace folder: every case, encrypted under a key that only the office key
    /// and its passphrase give. Made on first use.
    #[arg(long)]
    pub workspace: PathBuf,
    /// File whose first line is the passphrase. Without it, the desk starts locked and the
    /// passphrase is typed in the browser.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Loopback address for the browser (127.0.0.1 or ::1 only; port 0 takes a free one,
    /// named in the link the desk prints).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub bind: SocketAddr,
    /// Export bundles to import before the desk opens (needs --passphrase-file).
    #[arg(long)]
    pub import: Vec<PathBuf>,
    /// Where the signed bundles for the USB stick are written (default: WORKSPACE/outbox).
    #[arg(long)]
    pub outbox: Option<PathBuf>,
    /// The signed directory of offices (offices.json), to open cases moved to this office.
    #[arg(long)]
    pub directory: Option<PathBuf>,
    /// The county office's inspectors.pub, to check the directory (not needed when this is
    /// the county's own key).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Take this day (YYYY-MM-DD) as today, for the clocks: for rehearsals and tests.
    #[arg(long)]
    pub today: Option<String>,
}

/// Runs `desk`.
pub fn run(args: &DeskArgs) -> Result<(), CliError> {
    crypto::init()?;
    if !args.bind.ip().is_loopback() {
        return Err(CliError::Usage(
            "the desk listens on this machine only: give --bind 127.0.0.1:PORT".into(),
        ));
    }
    if !args.import.is_empty() && args.passphrase_file.is_none() {
        return Err(CliError::Usage(
            "--import needs --passphrase-file (or import on the desk's Import page)".into(),
        ));
    }
    // Listen first: a port already taken is said at once, before the slow passphrase and
    // any import, and the link printed names the port really listened on (`--bind
    // 127.0.0.1:0` takes a free one). Connections wait in the backlog until the desk runs.
    let listener = std::net::TcpListener::bind(args.bind)
        .map_err(|e| CliError::Usage(format!("the desk cannot listen on {}: {e}", args.bind)))?;
    let bound = listener
        .local_addr()
        .map_err(|e| CliError::Usage(format!("the desk cannot listen on {}: {e}", args.bind)))?;
    let raw = read_bounded(&args.key, 64 * 1024)?;
    let key_text = Zeroizing::new(
        String::from_utf8(raw.to_vec())
            .map_err(|_| CliError::Usage(format!("{}: not a key file", args.key.display())))?,
    );
    let root = match &args.root {
        None => None,
        Some(path) => {
            let raw = read_bounded(path, 64 * 1024)?;
            let text = std::str::from_utf8(&raw)
                .map_err(|_| CliError::Usage(format!("{}: not a key file", path.display())))?;
            Some(
                PublicKeys::from_file_text(text).map_err(|source| CliError::KeyFile {
                    path: path.clone(),
                    source,
                })?,
            )
        }
    };
    let directory = match &args.directory {
        None => None,
        Some(path) => Some(read_bounded(path, MAX_DIRECTORY_BYTES as u64)?.to_vec()),
    };
    let today = match &args.today {
        None => None,
        Some(d) => Some(
            d.parse::<Day>()
                .map_err(|e| CliError::Usage(format!("--today: {e}")))?,
        ),
    };
    let desk = Desk::new(DeskConfig {
        key_path: args.key.clone(),
        key_text,
        outbox: args
            .outbox
            .clone()
            .unwrap_or_else(|| args.workspace.join("outbox")),
        workspace: args.workspace.clone(),
        bind: bound,
        directory,
        root,
        today,
    });
    let mut signin = None;
    if let Some(file) = &args.passphrase_file {
        let passphrase = read_passphrase(file)?;
        desk.unlock(&passphrase)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        for path in &args.import {
            let bytes = read_bounded(path, crate::desk::MAX_UPLOAD_BYTES as u64)?;
            let report = desk
                .import(&bytes)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
            println!(
                "{}: {} new case(s), {} new follow-up(s), {} unchanged, {} refused",
                path.display(),
                report.new_cases,
                report.new_followups,
                report.unchanged,
                report.refused.len()
            );
            for r in &report.refused {
                match r.id {
                    Some(id) => println!("- tip {id}: {}", r.reason),
                    None => println!("- entry #{}: {}", r.position, r.reason),
                }
            }
            if report.files_kept > 0 || !report.files_not_kept.is_empty() {
                println!(
                    "{}: {} evidence file(s) kept, {} not kept",
                    path.display(),
                    report.files_kept,
                    report.files_not_kept.len()
                );
            }
            for f in &report.files_not_kept {
                let whose = f
                    .followup
                    .map_or(String::new(), |m| format!("follow-up {m}, "));
                println!(
                    "- tip {}: {whose}file {} ({}, {}): {}",
                    f.tip,
                    f.n,
                    kind_words(f.kind),
                    size_words(f.bytes),
                    f.state.reason()
                );
            }
        }
        signin = Some(desk.sessions.new_signin());
    }
    match &signin {
        Some(token) => println!("the desk is open: sign in once at http://{bound}/signin/{token}"),
        None => println!("the desk is locked: open http://{bound}/ and type the office passphrase"),
    }
    crate::desk::serve(desk, listener)
        .map_err(|e| CliError::Usage(format!("the desk stopped: {e}")))
}
