//! The inspectors' desk: a case ledger for the air-gapped machine, served to the browser on
//! that machine only (127.0.0.1), in the same binary. It opens export bundles from the USB
//! stick into an encrypted workspace, and gives inspectors an inbox with triage colours,
//! topics, tags, clocks and search, a page per case with notes and answers, the bundles to
//! carry back, and the monthly and quarterly reports.
//!
//! Layers: `ledger` (cases and the office's work on them), `workspace` (the encrypted files),
//! `outbox` (signed bundles), `report` (period counts) are plain logic; `session` guards the
//! local listener; `pages` renders, one file per page.

pub mod ledger;
pub mod outbox;
pub mod pages;
pub mod report;
pub mod session;
pub mod workspace;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use actix_web::{web, App, HttpServer};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::bundle::{parse_export_in_place, BundleError, BundleLimits};
use crate::domain::keys::{KeyFileError, PublicKeys, SecretKeys};
use crate::domain::office::Directory;
use crate::domain::Day;
use ledger::{ImportReport, Ledger};
use workspace::{Workspace, WorkspaceError, Written};

/// Largest bundle the desk takes in one upload (or `--import`): 2 GiB, what `decrypt` reads.
/// A bundle is held in memory once while it is imported (its evidence files are decoded
/// one at a time), so importing one takes about its size in memory, plus the ledger.
pub const MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024 * 1024;

/// How the desk was started (see `whistlebox desk --help`).
pub struct DeskConfig {
    /// The office key file, whose folder also keeps the bundle counter.
    pub key_path: PathBuf,
    /// Its text (the secret part is encrypted under the passphrase).
    pub key_text: Zeroizing<String>,
    /// The workspace folder.
    pub workspace: PathBuf,
    /// Where signed bundles are written for the USB stick.
    pub outbox: PathBuf,
    /// The loopback address it listens on (the port chosen when 0 was asked).
    pub bind: SocketAddr,
    /// The signed directory of offices, to open cases moved here.
    pub directory: Option<Vec<u8>>,
    /// The key the directory is checked against (the county's); this office's own when
    /// `None`.
    pub root: Option<PublicKeys>,
    /// The day the desk takes as today (for rehearsals and tests); the real day otherwise.
    pub today: Option<Day>,
}

/// Why the desk refused something; every message is a plain sentence without tip words.
#[derive(Debug, Error)]
pub enum DeskError {
    /// The passphrase does not open the key file.
    #[error("the passphrase does not open this office's key; type it again")]
    WrongPassphrase,
    /// The key file is not usable.
    #[error("the office key file cannot be used: {0}")]
    KeyFile(KeyFileError),
    /// The workspace refused.
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// The bundle was refused whole.
    #[error("this file was refused whole: {0}")]
    Bundle(#[from] BundleError),
    /// The directory of offices was refused.
    #[error("the directory of offices was refused: {0}")]
    Directory(String),
    /// A change could not be saved; the desk locked itself.
    #[error(
        "the workspace could not be written ({0}); the desk has locked itself so that nothing \
         unsaved is used: free the disk or fix the folder, then unlock it again"
    )]
    Unsaved(WorkspaceError),
    /// The desk is locked.
    #[error("the desk is locked; unlock it with the office passphrase")]
    Locked,
    /// No such case.
    #[error("there is no case with this number here")]
    NoCase,
    /// No such file kept under the case.
    #[error("this case has no such file kept here")]
    NoFile,
    /// A form was filled in wrongly.
    #[error("{0}")]
    Form(String),
    /// Writing the bundles failed.
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
}

/// The unlocked desk: the office's keys, its workspace and ledger.
pub struct Open {
    /// The office's keys.
    pub keys: SecretKeys,
    /// The encrypted workspace.
    pub workspace: Workspace,
    /// Every case.
    pub ledger: Ledger,
    /// Bundles written so far.
    pub written: Vec<Written>,
    /// The checked directory of offices, when given.
    pub directory: Option<Directory>,
    /// The office's display name.
    pub office_name: String,
}

/// The desk's shared state.
pub struct Desk {
    /// How it was started.
    pub config: DeskConfig,
    open: Mutex<Option<Open>>,
    /// Browser sessions and the one-time sign-in link.
    pub sessions: session::Sessions,
}

impl Desk {
    /// A locked desk.
    pub fn new(config: DeskConfig) -> Self {
        Self {
            config,
            open: Mutex::new(None),
            sessions: session::Sessions::default(),
        }
    }

    /// Today, as the desk counts clocks.
    pub fn today(&self) -> Day {
        self.config.today.unwrap_or_else(Day::today)
    }

    /// Opens the key with `passphrase`, then the workspace. Slow (Argon2id): call it off the
    /// async workers.
    pub fn unlock(&self, passphrase: &[u8]) -> Result<(), DeskError> {
        let keys =
            SecretKeys::from_file_text(&self.config.key_text, passphrase).map_err(|e| match e {
                KeyFileError::WrongPassphrase => DeskError::WrongPassphrase,
                other => DeskError::KeyFile(other),
            })?;
        self.unlock_with(keys)
    }

    /// Opens the workspace with keys already opened.
    pub fn unlock_with(&self, keys: SecretKeys) -> Result<(), DeskError> {
        let mut slot = self.lock_slot();
        if slot.is_some() {
            return Ok(());
        }
        let directory = match &self.config.directory {
            None => None,
            Some(bytes) => {
                let root = self
                    .config
                    .root
                    .clone()
                    .unwrap_or_else(|| keys.public_keys());
                Some(
                    Directory::verify(bytes, &root)
                        .map_err(|e| DeskError::Directory(e.to_string()))?,
                )
            }
        };
        let opened = Workspace::open(&self.config.workspace, &keys.box_key)?;
        let office_name = keys
            .office
            .as_ref()
            .map(|o| o.name.clone())
            .unwrap_or_else(|| "县纪委监委 / county office".into());
        *slot = Some(Open {
            keys,
            workspace: opened.workspace,
            ledger: opened.ledger,
            written: opened.written,
            directory,
            office_name,
        });
        Ok(())
    }

    /// Forgets the keys and the ledger (the workspace stays on disk, encrypted) and every
    /// session.
    pub fn lock(&self) {
        *self.lock_slot() = None;
        self.sessions.clear();
    }

    fn lock_slot(&self) -> MutexGuard<'_, Option<Open>> {
        // A panic while holding the lock leaves the ledger as it was in memory; the
        // workspace on disk is only ever appended whole records.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the unlocked desk. When the workspace could not be written, the ledger
    /// in memory may hold what the disk does not (new cases, acks marked): the desk then
    /// locks itself, so that nothing unsaved is shown, acked or signed, and unlocking again
    /// reads the workspace as it is on disk.
    pub fn with_open<T>(
        &self,
        f: impl FnOnce(&mut Open) -> Result<T, DeskError>,
    ) -> Result<T, DeskError> {
        let mut slot = self.lock_slot();
        let open = slot.as_mut().ok_or(DeskError::Locked)?;
        match f(open) {
            Err(DeskError::Workspace(e)) => {
                *slot = None;
                self.sessions.clear();
                Err(DeskError::Unsaved(e))
            }
            // A bundle file or the counter failed part way: some cases may be marked in
            // memory for a bundle that was never recorded. Locking drops those marks.
            Err(e @ DeskError::Outbox(outbox::OutboxError::Io { .. }))
            | Err(e @ DeskError::Outbox(outbox::OutboxError::Signing(_))) => {
                *slot = None;
                self.sessions.clear();
                Err(e)
            }
            other => other,
        }
    }

    /// Whether the desk is unlocked.
    pub fn is_open(&self) -> bool {
        self.lock_slot().is_some()
    }

    /// Imports an export bundle: parsed defensively, opened, saved in one write. Evidence
    /// files are left in `bytes` by the parser and decoded one at a time, each kept in the
    /// workspace (synced) before the records that name them are written.
    pub fn import(&self, bytes: &[u8]) -> Result<ImportReport, DeskError> {
        let limits = BundleLimits {
            max_bundle_bytes: MAX_UPLOAD_BYTES as u64,
            ..BundleLimits::default()
        };
        let parsed = parse_export_in_place(bytes, &limits)?;
        let carried = ledger::Carried {
            bundle: bytes,
            entries: &parsed.blobs,
        };
        let today = self.today();
        self.with_open(|open| {
            let Open {
                ledger,
                workspace,
                keys,
                directory,
                ..
            } = open;
            let (changed, mut report) = ledger.import(
                &parsed.tips,
                Some(&carried),
                keys,
                directory.as_ref(),
                today,
                &mut |digest, blob| workspace.store_blob(digest, blob),
            )?;
            report.refused.extend(parsed.rejected.iter().cloned());
            let cases = changed.iter().filter_map(|id| ledger.cases.get(id));
            workspace.save_cases(cases)?;
            Ok(report)
        })
    }

    /// Writes the update and ack bundles into the outbox folder and records them.
    pub fn write_outbox(&self) -> Result<Vec<Written>, DeskError> {
        let today = self.today();
        self.with_open(|open| {
            let signing = outbox::Signing {
                key_path: &self.config.key_path,
                out_dir: &self.config.outbox,
                floor: open.written.iter().map(|w| w.sequence).max().unwrap_or(0),
            };
            let out = outbox::write_bundles(
                &mut open.ledger,
                &open.keys,
                open.directory.as_ref(),
                &signing,
                today,
            )?;
            for (i, w) in out.written.iter().enumerate() {
                // The changed cases go with the first record, in the same write.
                let ids = if i == 0 { &out.changed[..] } else { &[] };
                let cases = ids.iter().filter_map(|id| open.ledger.cases.get(id));
                open.workspace.save_written(w, cases)?;
            }
            open.written.extend(out.written.iter().cloned());
            Ok(out.written)
        })
    }
}

impl Desk {
    /// Queues again everything bundle `sequence` held (the server refused it); returns how
    /// many cases it touched. The bundle stays listed; signing again gives new numbers.
    pub fn requeue(&self, sequence: u64) -> Result<usize, DeskError> {
        let today = self.today();
        self.with_open(|open| {
            if !open.written.iter().any(|w| w.sequence == sequence) {
                return Err(DeskError::NoCase);
            }
            let ids: Vec<_> = open
                .ledger
                .cases
                .values_mut()
                .filter_map(|c| c.requeue(sequence, today).then_some(c.id))
                .collect();
            let cases = ids.iter().filter_map(|id| open.ledger.cases.get(id));
            open.workspace.save_cases(cases)?;
            Ok(ids.len())
        })
    }
}

/// Runs the desk on `listener` (already bound to `desk.config.bind`) until it is stopped.
pub fn serve(desk: Desk, listener: std::net::TcpListener) -> std::io::Result<()> {
    let desk = web::Data::new(desk);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(desk.clone())
                .app_data(web::PayloadConfig::new(MAX_UPLOAD_BYTES))
                .app_data(pages::form_config())
                .wrap(actix_web::middleware::from_fn(session::guard))
                .wrap(session::headers())
                .configure(pages::routes)
        })
        .workers(2)
        .listen(listener)?;
        server.run().await
    })
}

/// The shared state as handlers see it.
pub type DeskData = web::Data<Desk>;
