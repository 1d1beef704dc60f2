//! The desk's workspace on disk, encrypted at rest. A stolen offline laptop without the
//! office passphrase shows no tip, note, tag or name: only how many records there are and
//! their sizes (padded to 1 KiB).
//!
//! The folder holds:
//! - `desk.head` (format `whistlebox-desk`, version 1, JSON): a random salt and a check box.
//!   The workspace key is derived from the office's secret key and the salt
//!   ([`WorkspaceKey::derive`]); the check box tells a wrong key from a damaged file.
//! - `ledger.log`: the magic `WBDESK1\n`, then records, each `u32 LE length ‖ nonce ‖
//!   secretbox(padded JSON)`. Every record names the digest of the one before it, so a
//!   record taken out or moved is noticed. A change appends a record (one `fsync` for a whole
//!   import); replaying the log gives the ledger. A torn last record (a crash mid-write) is
//!   dropped; a damaged record elsewhere stops the desk with a plain error.
//! - `desk.lock`: held while a desk runs, so two desks never write one log.
//! - `files/` (version 2): the residents' evidence files, each exactly the encrypted blob
//!   the bundle carried (`WBA` 1, `docs/attachments.md`), named by the lowercase hex of its
//!   BLAKE2b-256 digest. A blob is ciphertext under a key that travels only inside the
//!   sealed tip, and the desk keeps that key only inside the case's sealed record, so the
//!   file needs no second layer; nor may it go into the record, which holds at most 16 MiB
//!   a case. Each is written beside (`.partial`), synced and renamed, before the record that
//!   names it is written; one no record names (a crash in between) is removed at opening.
//!
//! On opening, a log with many superseded records is rewritten as one record per case.
//!
//! Version 2 (evidence files) reads every version 1 workspace: its `desk.head` is rewritten
//! as version 2 at opening, so that an older desk, which would drop the files' keys when it
//! folds the log, refuses the workspace instead of opening it.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use super::ledger::{Case, Ledger, Settings};
use crate::crypto::{self, BoxSecretKey, WorkspaceKey, WORKSPACE_SALT_BYTES};
use crate::domain::attachment;

const HEAD_FILE: &str = "desk.head";
const LOG_FILE: &str = "ledger.log";
const LOCK_FILE: &str = "desk.lock";
/// The folder of evidence files.
pub const FILES_DIR: &str = "files";
const HEAD_FORMAT: &str = "whistlebox-desk";
/// Version of the workspace: `desk.head`, `ledger.log` and `files/`.
pub const WORKSPACE_VERSION: u32 = 2;
const LOG_MAGIC: &[u8; 8] = b"WBDESK1\n";
const CHECK_TEXT: &[u8] = b"whistlebox desk workspace check v1";
/// Records are padded to a multiple of this, so sizes say little about the words.
const RECORD_BLOCK: usize = 1024;
/// Largest record read back: well above the largest case the ledger keeps
/// (`ledger::MAX_CASE_BYTES`, with padding), so that the desk never refuses what it wrote,
/// while a damaged length cannot make it allocate without bound.
const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

/// Why the workspace could not be opened or written.
#[derive(Debug, Error)]
pub enum WorkspaceError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key opens the key file but not this workspace.
    #[error(
        "this workspace was made with another office key: open it with the key it was made with"
    )]
    WrongKey,
    /// A file was changed or damaged.
    #[error("the workspace is damaged or was changed ({0}); restore it from a backup")]
    Damaged(&'static str),
    /// Another desk has the workspace open.
    #[error("another desk has this workspace open; close it first")]
    Busy,
    /// A newer whistlebox wrote it.
    #[error("this workspace was written by a newer whistlebox (version {0})")]
    Newer(u32),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Io {
        path: path.to_owned(),
        source,
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    format: String,
    version: u32,
    salt: String,
    check: String,
}

/// A bundle the desk wrote for the USB stick.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Written {
    /// Its sequence number.
    pub sequence: u64,
    /// `update` or `ack`.
    pub kind: String,
    /// Its file name in the outbox folder.
    pub file: String,
    /// Day written.
    pub day: crate::domain::Day,
    /// How many tips it names.
    pub count: usize,
}

/// One record of the log.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Item {
    Case(Box<Case>),
    Settings(Settings),
    Written(Written),
}

#[derive(Serialize, Deserialize)]
struct Record {
    /// BLAKE2b-256 of the previous record's box (zeros for the first).
    prev: [u8; 32],
    item: Item,
}

/// An open workspace: the ledger as replayed, and the log to append to.
pub struct Workspace {
    dir: PathBuf,
    key: WorkspaceKey,
    last: [u8; 32],
    records: usize,
    _lock: fs::File,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace").field("dir", &self.dir).finish()
    }
}

/// What opening gives: the workspace, its ledger and the bundles written so far.
pub struct Opened {
    /// The workspace.
    pub workspace: Workspace,
    /// The ledger.
    pub ledger: Ledger,
    /// The bundles written, oldest first.
    pub written: Vec<Written>,
}

impl Workspace {
    /// Opens the workspace in `dir` with the office's secret key, making it when the folder
    /// is empty or missing.
    pub fn open(dir: &Path, office: &BoxSecretKey) -> Result<Opened, WorkspaceError> {
        create_private_dir(dir)?;
        let lock = lock(dir)?;
        let head_path = dir.join(HEAD_FILE);
        let key = match fs::read(&head_path) {
            Ok(raw) => {
                let (key, version) = key_from_head(&raw, office)?;
                if version < WORKSPACE_VERSION {
                    upgrade_head(&head_path, &raw)?;
                }
                key
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if dir.join(LOG_FILE).exists() {
                    return Err(WorkspaceError::Damaged("desk.head is missing"));
                }
                let key = make_head(&head_path, office)?;
                // The log exists from the start, so that a log taken away later is noticed.
                let log = dir.join(LOG_FILE);
                let mut f = private_options()
                    .write(true)
                    .create_new(true)
                    .open(&log)
                    .map_err(io(&log))?;
                f.write_all(LOG_MAGIC).map_err(io(&log))?;
                f.sync_all().map_err(io(&log))?;
                key
            }
            Err(e) => return Err(io(&head_path)(e)),
        };
        let files = dir.join(FILES_DIR);
        match fs::symlink_metadata(&files) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(_) => return Err(WorkspaceError::Damaged("files is not a folder")),
            Err(_) => create_private_dir(&files)?,
        }
        let mut workspace = Workspace {
            dir: dir.to_owned(),
            key,
            last: [0; 32],
            records: 0,
            _lock: lock,
        };
        let (ledger, written) = workspace.replay()?;
        workspace.sweep_files(&ledger)?;
        let live = ledger.cases.len() + written.len() + 1;
        if workspace.records > 2 * live + 64 {
            workspace.rewrite(&ledger, &written)?;
        }
        Ok(Opened {
            workspace,
            ledger,
            written,
        })
    }

    /// Saves the cases named (one record each) with one `fsync`.
    pub fn save_cases<'a>(
        &mut self,
        cases: impl IntoIterator<Item = &'a Case>,
    ) -> Result<(), WorkspaceError> {
        let items: Vec<Item> = cases
            .into_iter()
            .map(|c| Item::Case(Box::new(c.clone())))
            .collect();
        self.append(items)
    }

    /// Saves the settings.
    pub fn save_settings(&mut self, settings: &Settings) -> Result<(), WorkspaceError> {
        self.append(vec![Item::Settings(settings.clone())])
    }

    /// Records a bundle written, with the cases it changed, in one `fsync`.
    pub fn save_written<'a>(
        &mut self,
        written: &Written,
        cases: impl IntoIterator<Item = &'a Case>,
    ) -> Result<(), WorkspaceError> {
        let mut items: Vec<Item> = cases
            .into_iter()
            .map(|c| Item::Case(Box::new(c.clone())))
            .collect();
        items.push(Item::Written(written.clone()));
        self.append(items)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// Where the blob with `digest` is kept.
    pub fn blob_path(&self, digest: &[u8; 32]) -> PathBuf {
        self.dir.join(FILES_DIR).join(blob_file_name(digest))
    }

    /// Keeps a blob (checked against `digest` by the caller): written beside, synced,
    /// renamed into place and the folder synced, so that the record naming it, written
    /// after, never names a file the disk may lose. A blob kept already is left as it is.
    pub fn store_blob(&self, digest: &[u8; 32], blob: &[u8]) -> Result<(), WorkspaceError> {
        let path = self.blob_path(digest);
        if let Ok(have) = read_blob(&path) {
            if crypto::ct_eq(&attachment::blob_digest(&have), digest) {
                return Ok(());
            }
        }
        let tmp = path.with_extension("partial");
        let _ = fs::remove_file(&tmp);
        let mut f = private_options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        let written = f.write_all(blob).and_then(|()| f.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io(&tmp)(e));
        }
        // A rename over a planted symlink replaces the link; it never writes through it.
        fs::rename(&tmp, &path).map_err(io(&path))?;
        let files = self.dir.join(FILES_DIR);
        fs::File::open(&files)
            .and_then(|d| d.sync_all())
            .map_err(io(&files))
    }

    /// Removes the files no case names (left by a crash between a file and its record)
    /// and half-written ones.
    fn sweep_files(&self, ledger: &Ledger) -> Result<(), WorkspaceError> {
        let named: std::collections::HashSet<String> = ledger
            .cases
            .values()
            .flat_map(|c| c.all_files())
            .filter_map(|f| f.file.digest_bytes().ok())
            .map(|d| blob_file_name(&d))
            .collect();
        let files = self.dir.join(FILES_DIR);
        for entry in fs::read_dir(&files).map_err(io(&files))? {
            let entry = entry.map_err(io(&files))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = name.ends_with(".partial")
                || (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()));
            if ours && !named.contains(name.as_ref()) {
                let path = entry.path();
                fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }

    fn seal(&self, prev: [u8; 32], item: Item) -> Vec<u8> {
        let json = Zeroizing::new(
            serde_json::to_vec(&Record { prev, item }).expect("plain data serializes"),
        );
        let padded = crypto::pad(&json, RECORD_BLOCK).expect("the block is not zero");
        self.key.encrypt(&padded)
    }

    fn append(&mut self, items: Vec<Item>) -> Result<(), WorkspaceError> {
        if items.is_empty() {
            return Ok(());
        }
        let path = self.log_path();
        let file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        let old_len = file.metadata().map_err(io(&path))?.len();
        let mut bytes = Vec::new();
        if old_len < LOG_MAGIC.len() as u64 {
            // A new log, or one whose header a crash cut short.
            file.set_len(0).map_err(io(&path))?;
            bytes.extend_from_slice(LOG_MAGIC);
        }
        let mut last = self.last;
        let mut records = 0;
        for item in items {
            let boxed = self.seal(last, item);
            last = crypto::blake2b::<32>(None, &[&boxed]);
            bytes.extend_from_slice(&(boxed.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&boxed);
            records += 1;
        }
        let start = if old_len < LOG_MAGIC.len() as u64 {
            0
        } else {
            old_len
        };
        let written = (|| {
            use std::io::Seek;
            let mut f = &file;
            f.seek(std::io::SeekFrom::Start(start))?;
            f.write_all(&bytes)?;
            f.sync_data()
        })();
        if let Err(e) = written {
            // Nothing half-written may stay in the middle of the log, where the next
            // record would follow it and be lost at the next replay: cut it back.
            let _ = file.set_len(start);
            let _ = file.sync_data();
            return Err(io(&path)(e));
        }
        self.last = last;
        self.records += records;
        Ok(())
    }

    fn replay(&mut self) -> Result<(Ledger, Vec<Written>), WorkspaceError> {
        let path = self.log_path();
        let mut ledger = Ledger::default();
        let mut written = Vec::new();
        let raw = match fs::File::open(&path) {
            Ok(mut f) => {
                let mut buf = Zeroizing::new(Vec::new());
                f.read_to_end(&mut buf).map_err(io(&path))?;
                buf
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(WorkspaceError::Damaged("ledger.log is missing"))
            }
            Err(e) => return Err(io(&path)(e)),
        };
        if raw.len() < LOG_MAGIC.len() && LOG_MAGIC.starts_with(&raw) {
            // Made, then cut short by a crash before its header was whole: empty.
            return Ok((ledger, written));
        }
        let body = raw
            .strip_prefix(LOG_MAGIC.as_slice())
            .ok_or(WorkspaceError::Damaged(
                "ledger.log does not start as a desk log",
            ))?;
        let mut at = 0usize;
        let mut good_end = LOG_MAGIC.len();
        while at < body.len() {
            let Some(len) = body.get(at..at + 4) else {
                break; // a torn length: the crash came mid-write
            };
            let len = u32::from_le_bytes(len.try_into().expect("four bytes")) as usize;
            if len > MAX_RECORD_BYTES {
                return Err(WorkspaceError::Damaged(
                    "a record is larger than any desk writes",
                ));
            }
            let Some(boxed) = body.get(at + 4..at + 4 + len) else {
                break; // a torn record
            };
            let padded = self
                .key
                .decrypt(boxed)
                .map_err(|_| WorkspaceError::Damaged("a record does not open"))?;
            let n = crypto::unpad(&padded, RECORD_BLOCK)
                .map_err(|_| WorkspaceError::Damaged("a record is not padded"))?;
            let record: Record = serde_json::from_slice(&padded[..n])
                .map_err(|_| WorkspaceError::Damaged("a record cannot be read"))?;
            if !crypto::ct_eq(&record.prev, &self.last) {
                return Err(WorkspaceError::Damaged(
                    "records were taken out or moved in ledger.log",
                ));
            }
            self.last = crypto::blake2b::<32>(None, &[boxed]);
            self.records += 1;
            match record.item {
                Item::Case(case) => {
                    ledger.cases.insert(case.id, *case);
                }
                Item::Settings(s) => ledger.settings = s,
                Item::Written(w) => written.push(w),
            }
            at += 4 + len;
            good_end = LOG_MAGIC.len() + at;
        }
        if good_end < raw.len() {
            // Drop the torn tail so that the next record follows the last whole one.
            let f = private_options()
                .write(true)
                .open(&path)
                .map_err(io(&path))?;
            f.set_len(good_end as u64).map_err(io(&path))?;
            f.sync_all().map_err(io(&path))?;
        }
        Ok((ledger, written))
    }

    /// Writes the ledger as one record per case beside the log and renames it into place.
    fn rewrite(&mut self, ledger: &Ledger, written: &[Written]) -> Result<(), WorkspaceError> {
        let tmp = self.dir.join("ledger.log.new");
        let _ = fs::remove_file(&tmp);
        let mut bytes = LOG_MAGIC.to_vec();
        let mut last = [0u8; 32];
        let mut records = 0usize;
        let items = std::iter::once(Item::Settings(ledger.settings.clone()))
            .chain(
                ledger
                    .cases
                    .values()
                    .map(|c| Item::Case(Box::new(c.clone()))),
            )
            .chain(written.iter().cloned().map(Item::Written));
        for item in items {
            let boxed = self.seal(last, item);
            last = crypto::blake2b::<32>(None, &[&boxed]);
            bytes.extend_from_slice(&(boxed.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&boxed);
            records += 1;
        }
        let mut f = private_options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, self.log_path()).map_err(io(&tmp))?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        self.last = last;
        self.records = records;
        Ok(())
    }
}

/// The name a blob is kept under in `files/`: the lowercase hex of its digest.
pub fn blob_file_name(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a kept blob, no longer than the largest file makes.
pub fn read_blob(path: &Path) -> Result<Vec<u8>, WorkspaceError> {
    let f = fs::File::open(path).map_err(io(path))?;
    let max = attachment::blob_len(attachment::MAX_FILE_BYTES);
    let len = f.metadata().map_err(io(path))?.len();
    if len > max {
        return Err(WorkspaceError::Damaged(
            "a kept file is larger than any file makes",
        ));
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(max + 1).read_to_end(&mut buf).map_err(io(path))?;
    Ok(buf)
}

/// Rewrites a `desk.head` of an older version as the current one (same salt and check).
fn upgrade_head(path: &Path, raw: &[u8]) -> Result<(), WorkspaceError> {
    let mut head: Head =
        serde_json::from_slice(raw).map_err(|_| WorkspaceError::Damaged("desk.head"))?;
    head.version = WORKSPACE_VERSION;
    let json = serde_json::to_vec_pretty(&head).expect("plain data serializes");
    let tmp = path.with_extension("head.new");
    let _ = fs::remove_file(&tmp);
    let mut f = private_options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(&json).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn key_from_head(raw: &[u8], office: &BoxSecretKey) -> Result<(WorkspaceKey, u32), WorkspaceError> {
    let head: Head =
        serde_json::from_slice(raw).map_err(|_| WorkspaceError::Damaged("desk.head"))?;
    if head.format != HEAD_FORMAT {
        return Err(WorkspaceError::Damaged("desk.head is not a desk's"));
    }
    if head.version > WORKSPACE_VERSION {
        return Err(WorkspaceError::Newer(head.version));
    }
    let salt: [u8; WORKSPACE_SALT_BYTES] = STANDARD
        .decode(&head.salt)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(WorkspaceError::Damaged("desk.head salt"))?;
    let check = STANDARD
        .decode(&head.check)
        .map_err(|_| WorkspaceError::Damaged("desk.head check"))?;
    let key = WorkspaceKey::derive(office, &salt);
    match key.decrypt(&check) {
        Ok(text) if crypto::ct_eq(&text, CHECK_TEXT) => Ok((key, head.version)),
        _ => Err(WorkspaceError::WrongKey),
    }
}

fn make_head(path: &Path, office: &BoxSecretKey) -> Result<WorkspaceKey, WorkspaceError> {
    let mut salt = [0u8; WORKSPACE_SALT_BYTES];
    crypto::random_fill(&mut salt);
    let key = WorkspaceKey::derive(office, &salt);
    let head = Head {
        format: HEAD_FORMAT.into(),
        version: WORKSPACE_VERSION,
        salt: STANDARD.encode(salt),
        check: STANDARD.encode(key.encrypt(CHECK_TEXT)),
    };
    let json = serde_json::to_vec_pretty(&head).expect("plain data serializes");
    let mut f = private_options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io(path))?;
    f.write_all(&json).map_err(io(path))?;
    f.sync_all().map_err(io(path))?;
    Ok(key)
}

fn lock(dir: &Path) -> Result<fs::File, WorkspaceError> {
    let path = dir.join(LOCK_FILE);
    let f = private_options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(&path))?;
    match fs4::FileExt::try_lock(&f) {
        Ok(()) => Ok(f),
        Err(fs4::TryLockError::WouldBlock) => Err(WorkspaceError::Busy),
        Err(fs4::TryLockError::Error(e)) => Err(io(&path)(e)),
    }
}

fn private_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn create_private_dir(dir: &Path) -> Result<(), WorkspaceError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::ledger::Colour;
    use crate::domain::{Day, TipId};

    fn sample(i: u8) -> Case {
        let mut c = crate::desk::ledger::sample_case(i);
        c.colour = Some(Colour::Red);
        c
    }

    #[test]
    fn a_workspace_reopens_with_its_key_only_and_shows_no_words() {
        crypto::init().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = BoxSecretKey::generate();
        {
            let mut opened = Workspace::open(dir.path(), &key).unwrap();
            let mut case = sample(1);
            case.add_note("王科长", "暗访记录", Day(20_000)).unwrap();
            opened.workspace.save_cases([&case]).unwrap();
        }
        let all: Vec<u8> = fs::read_dir(dir.path())
            .unwrap()
            .flat_map(|e| fs::read(e.unwrap().path()).unwrap_or_default())
            .collect();
        for needle in ["暗访记录", "王科长", "低保"] {
            assert!(memchr::memmem::find(&all, needle.as_bytes()).is_none());
        }
        let opened = Workspace::open(dir.path(), &key).unwrap();
        let case = &opened.ledger.cases[&TipId([1; 8])];
        assert_eq!(case.notes[0].text, "暗访记录");
        drop(opened);
        assert!(matches!(
            Workspace::open(dir.path(), &BoxSecretKey::generate()),
            Err(WorkspaceError::WrongKey)
        ));
    }

    /// The file store, version 2: a kept file is exactly the blob, named by the hex of its
    /// BLAKE2b-256 digest, in `files/`, readable by the owner only (do not change this test
    /// if it fails: workspaces on the offline machines hold files in this format).
    #[test]
    fn file_store_is_fixed() {
        crypto::init().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = BoxSecretKey::generate();
        let opened = Workspace::open(dir.path(), &key).unwrap();
        assert_eq!(
            blob_file_name(&[0xab; 32]),
            "abababababababababababababababababababababababababababababababab"
        );
        let blob = b"WBA\x01 sixteen prefix and pieces".to_vec();
        let digest = attachment::blob_digest(&blob);
        opened.workspace.store_blob(&digest, &blob).unwrap();
        let path = dir.path().join("files").join(blob_file_name(&digest));
        assert_eq!(opened.workspace.blob_path(&digest), path);
        assert_eq!(fs::read(&path).unwrap(), blob);
        assert_eq!(read_blob(&path).unwrap(), blob);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.path().join("files")), 0o700);
        }
        // Kept once: storing it again changes nothing, and leaves nothing beside it.
        opened.workspace.store_blob(&digest, &blob).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("files")).unwrap().count(), 1);
        let head: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join(HEAD_FILE)).unwrap()).unwrap();
        assert_eq!(head["version"], 2);
    }

    #[test]
    fn files_no_case_names_are_removed_and_a_version_1_workspace_is_upgraded() {
        crypto::init().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = BoxSecretKey::generate();
        let named = attachment::seal_file(b"kept").unwrap();
        let orphan = attachment::seal_file(b"orphan").unwrap();
        {
            let mut opened = Workspace::open(dir.path(), &key).unwrap();
            let mut case = sample(4);
            case.files = vec![crate::desk::ledger::CaseFile {
                file: attachment::AttachmentRef::for_sealed(
                    attachment::Kind::File,
                    "application/pdf",
                    4,
                    &named,
                ),
                state: crate::domain::exported::FileState::Opened,
                waived: false,
            }];
            opened
                .workspace
                .store_blob(&named.digest, &named.blob)
                .unwrap();
            opened.workspace.save_cases([&case]).unwrap();
            // A crash between a file and its record, and one mid-write.
            opened
                .workspace
                .store_blob(&orphan.digest, &orphan.blob)
                .unwrap();
            fs::write(dir.path().join("files/torn.partial"), b"half").unwrap();
        }
        // As a version 1 desk left it.
        let head_path = dir.path().join(HEAD_FILE);
        let mut head: serde_json::Value =
            serde_json::from_slice(&fs::read(&head_path).unwrap()).unwrap();
        head["version"] = 1.into();
        fs::write(&head_path, serde_json::to_vec(&head).unwrap()).unwrap();
        let opened = Workspace::open(dir.path(), &key).unwrap();
        let left: Vec<String> = fs::read_dir(dir.path().join("files"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec![blob_file_name(&named.digest)]);
        assert_eq!(opened.ledger.cases[&TipId([4; 8])].files.len(), 1);
        let head: serde_json::Value =
            serde_json::from_slice(&fs::read(&head_path).unwrap()).unwrap();
        assert_eq!(head["version"], 2, "an older desk now refuses it");
        drop(opened);
        // A newer one than this is refused.
        let mut newer = head.clone();
        newer["version"] = 3.into();
        fs::write(&head_path, serde_json::to_vec(&newer).unwrap()).unwrap();
        assert!(matches!(
            Workspace::open(dir.path(), &key),
            Err(WorkspaceError::Newer(3))
        ));
    }

    #[test]
    fn two_desks_never_share_a_workspace() {
        crypto::init().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = BoxSecretKey::generate();
        let _first = Workspace::open(dir.path(), &key).unwrap();
        assert!(matches!(
            Workspace::open(dir.path(), &key),
            Err(WorkspaceError::Busy)
        ));
    }

    #[test]
    fn a_torn_tail_is_dropped_and_a_changed_or_removed_record_is_refused() {
        crypto::init().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = BoxSecretKey::generate();
        {
            let mut opened = Workspace::open(dir.path(), &key).unwrap();
            for i in 1..=3 {
                opened.workspace.save_cases([&sample(i)]).unwrap();
            }
        }
        let log = dir.path().join(LOG_FILE);
        let whole = fs::read(&log).unwrap();
        // A crash mid-append: the last record is cut short.
        fs::write(&log, &whole[..whole.len() - 100]).unwrap();
        let opened = Workspace::open(dir.path(), &key).unwrap();
        assert_eq!(opened.ledger.cases.len(), 2);
        drop(opened);
        // One flipped byte in a whole record.
        let mut changed = fs::read(&log).unwrap();
        changed[LOG_MAGIC.len() + 40] ^= 1;
        fs::write(&log, &changed).unwrap();
        assert!(matches!(
            Workspace::open(dir.path(), &key),
            Err(WorkspaceError::Damaged(_))
        ));
        // The first record taken out: the second no longer follows it.
        let len = u32::from_le_bytes(whole[8..12].try_into().unwrap()) as usize;
        let mut cut = LOG_MAGIC.to_vec();
        cut.extend_from_slice(&whole[8 + 4 + len..]);
        fs::write(&log, &cut).unwrap();
        assert!(matches!(
            Workspace::open(dir.path(), &key),
            Err(WorkspaceError::Damaged(_))
        ));
    }

    #[test]
    fn many_changes_are_folded_into_one_record_per_case() {
        crypto::init().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = BoxSecretKey::generate();
        {
            let mut opened = Workspace::open(dir.path(), &key).unwrap();
            let mut case = sample(9);
            for i in 0..100 {
                case.add_note("", &format!("note {i}"), Day(20_000))
                    .unwrap();
                opened.workspace.save_cases([&case]).unwrap();
            }
        }
        let before = fs::metadata(dir.path().join(LOG_FILE)).unwrap().len();
        let opened = Workspace::open(dir.path(), &key).unwrap();
        assert_eq!(opened.ledger.cases[&TipId([9; 8])].notes.len(), 100);
        assert_eq!(opened.workspace.records, 2);
        let after = fs::metadata(dir.path().join(LOG_FILE)).unwrap().len();
        assert!(after * 10 < before, "{after} vs {before}");
        drop(opened);
        let opened = Workspace::open(dir.path(), &key).unwrap();
        assert_eq!(opened.ledger.cases[&TipId([9; 8])].notes.len(), 100);
    }
}
