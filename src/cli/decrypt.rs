//! `whistlebox decrypt`: on the offline machine, turns an export bundle into one readable
//! folder per tip.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use super::{io_err, load_secret_keys, read_bounded, CliError};
use crate::bundle::{digest_to_hex, parse_export_in_place, BlobSpan, BundleLimits, RejectedEntry};
use crate::domain::reply::sealed_digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use zeroize::Zeroizing;

use crate::crypto::{self, BoxPublicKey};
use crate::domain::attachment::{open_blob, AttachmentRef, Kind};
use crate::domain::exported::{
    kind_words, named_digests, open_exported_tip, pair_files, size_words, FileState, Found,
};
use crate::domain::followup::{open_followup, OpenedFollowup, Trust};
use crate::domain::keys::PublicKeys;
use crate::domain::office::{Directory, MAX_DIRECTORY_BYTES};
use crate::domain::tip::TipPlaintext;
use crate::store::StoredTip;

/// Flags of `decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The inspectors' secret key file (inspectors.key).
    #[arg(long)]
    pub key: PathBuf,
    /// File whose first line is the key's passphrase.
    #[arg(long)]
    pub passphrase_file: PathBuf,
    /// The export bundle from the server.
    #[arg(long)]
    pub bundle: PathBuf,
    /// Folder to write one folder per tip into.
    #[arg(long)]
    pub out: PathBuf,
    /// The signed directory of offices (offices.json): needed to open cases moved to this
    /// office, whose mover's signature is checked against it.
    #[arg(long)]
    pub directory: Option<PathBuf>,
    /// The county office's inspectors.pub, to check the directory (not needed when this is
    /// the county's own key).
    #[arg(long)]
    pub root: Option<PathBuf>,
}

#[derive(Serialize)]
struct TipJson<'a> {
    id: String,
    received_on: String,
    status: &'a str,
    version: u32,
    fields: &'a std::collections::BTreeMap<String, serde_json::Value>,
    /// The resident's reply key (X25519, base64) as bound inside the sealed tip:
    /// `whistlebox update` seals replies to it, and follow-ups are checked against it. Null
    /// for a tip that binds none (it gets no replies).
    bound_reply_key: Option<String>,
    /// BLAKE2b-256 (hex) of the sealed tip as first opened here. A later bundle that brings
    /// other contents under this id is refused: the folder keeps what it first opened.
    sealed_digest: String,
    /// The evidence files the sealed tip names, in its order (left out when it names none).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    files: &'a [FileJson],
}

/// One evidence file as `tip.json` (or `followup-NNNN.files.json`) lists it: what the sealed
/// tip says of it, the name it was written under, and whether it was. Never its key.
#[derive(Serialize)]
pub(crate) struct FileJson {
    /// Its place in the sealed list, from 1.
    pub n: usize,
    /// photo, voice or file.
    pub kind: Kind,
    /// Its MIME type, as the resident's device said.
    #[serde(rename = "type")]
    pub mime: String,
    /// Its length.
    pub bytes: u64,
    /// What cleaning removed.
    pub removed: Vec<String>,
    /// Whether it was cleaned at all (`false`: sealed as it was).
    pub cleaned: Option<bool>,
    /// A voice note's length.
    pub seconds: Option<f64>,
    /// Whether a voice note's voice was disguised.
    pub disguised: Option<bool>,
    /// Where it is (or would be) in the tip's folder, a name made by `safe_file_name`.
    pub file: String,
    /// opened, missing, changed or damaged.
    pub state: FileState,
}

/// The folder of a tip's evidence files, inside the tip's folder.
pub const TIP_FILES_DIR: &str = "files";

/// The folder of follow-up `n`'s evidence files; one not verified says so in its name.
pub fn followup_files_dir(n: u32, verified: bool) -> String {
    if verified {
        format!("followup-{n:04}-files")
    } else {
        format!("followup-{n:04}.NOT-VERIFIED-files")
    }
}

/// The list of follow-up `n`'s evidence files.
pub fn followup_files_list(n: u32) -> String {
    format!("followup-{n:04}.files.json")
}

/// Runs `decrypt`.
pub fn run(args: &DecryptArgs) -> Result<(), CliError> {
    crypto::init()?;
    // The bundle is read (as a stream, see `parse_export`) before the key is opened: a
    // hostile file is refused without the passphrase and without the key's Argon2id memory.
    let limits = BundleLimits::default();
    let bytes = read_bounded(&args.bundle, limits.max_bundle_bytes)?;
    // Evidence files stay in the bundle's bytes and are decoded one at a time, so a bundle
    // of files is held in memory once.
    let parsed = parse_export_in_place(&bytes, &limits)?;
    let keys = load_secret_keys(&args.key, &args.passphrase_file)?;
    let mine = keys.office.as_ref().map(|o| o.id.as_str());
    if let Some(office) = &parsed.office {
        if mine.is_some_and(|m| m != office.as_str())
            || (mine.is_none() && office.as_str() != "county")
        {
            println!(
                "note: this bundle was exported for office {office}, and this key is {}'s; \
                 tips not sealed to this key will not open",
                mine.unwrap_or("the county office")
            );
        }
    }
    let directory = load_directory(args, &keys)?;
    create_private_dir_all(&args.out)?;
    let mut failed: Vec<RejectedEntry> = parsed.rejected;
    let mut opened = 0usize;
    let fail = |id, reason: String| RejectedEntry {
        position: 0,
        id: Some(id),
        reason,
    };
    let mut not_verified = 0usize;
    let mut files_written = 0usize;
    let mut files_failed: Vec<RejectedEntry> = Vec::new();
    let no_blobs = crate::bundle::EntryBlobs::default();
    for (index, tip) in parsed.tips.iter().enumerate() {
        let blobs = parsed.blobs.get(index).unwrap_or(&no_blobs);
        // The reply key comes only from inside the sealed tip (now, or when an earlier
        // bundle's copy of it was opened here): the bundle's own `reply_key` field is
        // whatever the server or the carrier put there, and is never used.
        // A tip opened here before keeps what it was then: its words and its reply key.
        let pinned = Pinned::read(&args.out.join(tip.id.to_string()));
        let mut bound = pinned.as_ref().and_then(|p| p.bound.clone());
        if let Some(sealed) = &tip.sealed {
            let digest = digest_hex(sealed.as_bytes());
            // Opened here before, but some of its files did not come: this bundle may
            // bring them, so the tip is opened again (the same words, by its digest).
            let again = pinned
                .as_ref()
                .is_some_and(|p| p.digest.as_deref() == Some(digest.as_str()) && p.files_left);
            let fresh = pinned.is_none();
            match pinned {
                Some(_) if again => {}
                Some(p) if p.digest.as_deref() == Some(digest.as_str()) => {}
                Some(Pinned { digest: None, .. }) => failed.push(fail(
                    tip.id,
                    "this folder was written by an older whistlebox, which kept no digest to \
                     compare with; open this bundle into a new folder"
                        .into(),
                )),
                Some(_) => failed.push(fail(
                    tip.id,
                    "this tip was opened here before with other contents, so the bundle was \
                     changed on the way; nothing of it was written"
                        .into(),
                )),
                None => {}
            }
            if fresh || again {
                match open_exported_tip(tip, &keys, directory.as_ref()) {
                    Ok(plain) => {
                        bound = plain.bound_reply_key();
                        if bound.is_none() && plain.reply_key.is_some() {
                            println!(
                                "tip {}: it names a reply key that is not valid, so no message \
                                 can reach its resident",
                                tip.id
                            );
                        }
                        let dir = tip_dir(&args.out, tip)?;
                        let files = write_files(
                            &dir,
                            TIP_FILES_DIR,
                            &plain.attachments,
                            &blobs.tip,
                            &bytes,
                        )?;
                        for f in &files {
                            match f.state {
                                FileState::Opened => files_written += 1,
                                state => {
                                    files_failed.push(fail(tip.id, file_problem(None, f, state)))
                                }
                            }
                        }
                        write_tip(&dir, tip, &plain, digest, &files)?;
                        // Kept so that the office can hand the case on (`whistlebox move`).
                        write_replacing(&dir.join(SEALED_FILE), sealed.to_base64().as_bytes())?;
                        if let Some(grant) = &tip.grant {
                            write_replacing(
                                &dir.join(GRANT_FILE),
                                STANDARD.encode(grant).as_bytes(),
                            )?;
                        }
                        if !again {
                            opened += 1;
                        }
                    }
                    Err(e) => failed.push(fail(tip.id, e)),
                }
            }
        }
        for (place, f) in tip.followups.iter().enumerate() {
            match open_followup(&f.sealed, &keys.box_key, bound.as_ref()) {
                Ok(opened_followup) => {
                    let dir = tip_dir(&args.out, tip)?;
                    write_followup(&dir, f.n, &opened_followup)?;
                    let named = &opened_followup.plain.attachments;
                    if !named.is_empty() {
                        let verified = opened_followup.trust == Trust::Verified;
                        let carried = blobs.followups.get(place).map_or(&[][..], |b| &b[..]);
                        let folder = followup_files_dir(f.n, verified);
                        let files = write_files(&dir, &folder, named, carried, &bytes)?;
                        for file in &files {
                            match file.state {
                                FileState::Opened => files_written += 1,
                                state => files_failed
                                    .push(fail(tip.id, file_problem(Some(f.n), file, state))),
                            }
                        }
                        let json =
                            serde_json::to_vec_pretty(&files).expect("plain data serializes");
                        write_replacing(&dir.join(followup_files_list(f.n)), &json)?;
                    }
                    write_replacing(
                        &dir.join(followup_digest_file(f.n)),
                        digest_hex(f.sealed.as_bytes()).as_bytes(),
                    )?;
                    if opened_followup.trust != Trust::Verified {
                        not_verified += 1;
                    }
                    opened += 1;
                }
                Err(e) => failed.push(fail(tip.id, format!("follow-up {}: {e}", f.n))),
            }
        }
    }
    if not_verified > 0 {
        println!(
            "{not_verified} follow-up(s) could not be checked as coming from the receipt holder: \
             they are marked NOT-VERIFIED in their names and first lines"
        );
    }
    println!("opened {opened} message(s) into {}", args.out.display());
    if files_written > 0 {
        println!(
            "wrote {files_written} evidence file(s) (see each tip's files/ folder and tip.json)"
        );
    }
    if failed.is_empty() && files_failed.is_empty() {
        return Ok(());
    }
    let list = |entries: &[RejectedEntry]| {
        let mut text = String::new();
        for f in entries {
            let who = match (f.id, f.position) {
                (Some(id), _) => format!("tip {id}"),
                (None, p) => format!("entry #{p}"),
            };
            text.push_str(&format!("- {who}: {}\n", f.reason));
        }
        text
    };
    let mut report = String::new();
    if !failed.is_empty() {
        report.push_str(&list(&failed));
        println!(
            "could not open {} message(s):\n{}",
            failed.len(),
            list(&failed)
        );
    }
    if !files_failed.is_empty() {
        report.push_str(&list(&files_failed));
        println!(
            "{} evidence file(s) were not opened; `whistlebox ack` holds back the ack of their \
             tip or follow-up, so the server keeps its copy (decrypt a later export into this \
             folder to fetch them):\n{}",
            files_failed.len(),
            list(&files_failed)
        );
    }
    let report_path = args.out.join("not-opened.txt");
    write_replacing(&report_path, report.as_bytes())?;
    Err(CliError::Partial(failed.len() + files_failed.len()))
}

/// The sealed tip as it arrived (base64), kept so that the office can hand the case on.
pub const SEALED_FILE: &str = "sealed.b64";
/// The key stanza an office was given with a moved tip (base64).
pub const GRANT_FILE: &str = "grant.b64";

/// The directory of offices given with `--directory`, checked against `--root` (or this
/// key, when it is the county's).
fn load_directory(
    args: &DecryptArgs,
    keys: &crate::domain::keys::SecretKeys,
) -> Result<Option<Directory>, CliError> {
    let Some(path) = &args.directory else {
        return Ok(None);
    };
    let root = match &args.root {
        Some(root) => {
            let raw = read_bounded(root, 64 * 1024)?;
            let text = std::str::from_utf8(&raw)
                .map_err(|_| CliError::Usage(format!("{}: not a key file", root.display())))?;
            PublicKeys::from_file_text(text).map_err(|source| CliError::KeyFile {
                path: root.clone(),
                source,
            })?
        }
        None => keys.public_keys(),
    };
    let bytes = read_bounded(path, MAX_DIRECTORY_BYTES as u64)?;
    Directory::verify(&bytes, &root)
        .map(Some)
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
}

/// The name of follow-up `n` in a tip's folder, when it was verified.
pub fn followup_file(n: u32) -> String {
    format!("followup-{n:04}.txt")
}

/// The name of follow-up `n` when nothing shows who wrote it.
pub fn unverified_followup_file(n: u32) -> String {
    format!("followup-{n:04}.NOT-VERIFIED.txt")
}

/// The number of a follow-up file written by `decrypt`, verified or not.
pub fn followup_number(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("followup-")?;
    let digits = rest
        .strip_suffix(".NOT-VERIFIED.txt")
        .or_else(|| rest.strip_suffix(".txt"))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Writes a follow-up; one that cannot be checked says so in its name and first line.
fn write_followup(dir: &Path, n: u32, followup: &OpenedFollowup) -> Result<(), CliError> {
    match followup.trust {
        Trust::Verified => {
            write_replacing(&dir.join(followup_file(n)), followup.plain.body.as_bytes())
        }
        Trust::NotVerified(why) => {
            let text = Zeroizing::new(format!(
                "NOT VERIFIED: this follow-up may not come from the resident ({why}). \
                 Anyone could have written it.\n\n{}",
                followup.plain.body
            ));
            write_replacing(&dir.join(unverified_followup_file(n)), text.as_bytes())
        }
    }
}

/// What an earlier `decrypt` wrote for a tip in this folder: the digest of the sealed tip it
/// opened (none if an older whistlebox wrote it) and the reply key read from inside it.
struct Pinned {
    digest: Option<String>,
    bound: Option<BoxPublicKey>,
    /// Whether some of its files did not come yet.
    files_left: bool,
}

impl Pinned {
    /// `None` when no tip was opened in this folder yet.
    fn read(dir: &Path) -> Option<Self> {
        let raw = read_bounded(&dir.join("tip.json"), 1024 * 1024).ok()?;
        let json: serde_json::Value = serde_json::from_slice(&raw).ok()?;
        let text = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let files_left = json
            .get("files")
            .and_then(|f| f.as_array())
            .is_some_and(|files| {
                files
                    .iter()
                    .any(|f| f.get("state").and_then(|s| s.as_str()) != Some("opened"))
            });
        Some(Self {
            files_left,
            digest: text("sealed_digest"),
            bound: text("bound_reply_key")
                .and_then(|k| STANDARD.decode(k).ok())
                .and_then(|k| BoxPublicKey::from_bytes(&k).ok()),
        })
    }
}

fn digest_hex(bytes: &[u8]) -> String {
    digest_to_hex(&sealed_digest(bytes))
}

/// Where the digest of follow-up `n` is kept, for `ack` to send.
pub fn followup_digest_file(n: u32) -> String {
    format!("followup-{n:04}.digest")
}

/// `OUT/<id>`, created if needed. The name is a validated hex id, so it cannot climb out of
/// OUT, and an existing non-folder (a planted symlink) is refused rather than followed.
fn tip_dir(out: &Path, tip: &StoredTip) -> Result<PathBuf, CliError> {
    private_subdir(out, &tip.id.to_string())
}

/// `parent/name`, created if needed; an existing non-folder (a planted symlink) is refused
/// rather than followed.
fn private_subdir(parent: &Path, name: &str) -> Result<PathBuf, CliError> {
    let dir = parent.join(name);
    match fs::symlink_metadata(&dir) {
        Ok(meta) if meta.file_type().is_dir() => {}
        Ok(_) => {
            return Err(CliError::Usage(format!(
                "{} exists and is not a folder; refusing to write through it",
                dir.display()
            )))
        }
        Err(_) => create_private_dir(&dir)?,
    }
    Ok(dir)
}

/// Writes `message.txt` and `tip.json` into a tip's folder; files are written beside and
/// renamed into place, so a planted symlink is replaced rather than followed.
fn write_tip(
    dir: &Path,
    tip: &StoredTip,
    plain: &TipPlaintext,
    sealed_digest: String,
    files: &[FileJson],
) -> Result<(), CliError> {
    write_replacing(&dir.join("message.txt"), plain.body.as_bytes())?;
    let meta = TipJson {
        id: tip.id.to_string(),
        received_on: tip.day.to_string(),
        status: tip.status.as_str(),
        version: plain.v,
        fields: &plain.fields,
        bound_reply_key: plain
            .bound_reply_key()
            .map(|k| STANDARD.encode(k.as_bytes())),
        sealed_digest,
        files,
    };
    let json = serde_json::to_vec_pretty(&meta).expect("plain data serializes");
    write_replacing(&dir.join("tip.json"), &json)
}

/// Writes the files a sealed tip (or follow-up) names into `dir/folder`, under names made by
/// `safe_file_name` only, each opened from the blob the bundle carried with its digest
/// (`carried`, decoded one at a time from `bundle`). Returns what became of each.
fn write_files(
    dir: &Path,
    folder: &str,
    named: &[AttachmentRef],
    carried: &[BlobSpan],
    bundle: &[u8],
) -> Result<Vec<FileJson>, CliError> {
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let digests: Vec<[u8; 32]> = carried.iter().map(|c| c.digest).collect();
    let found = pair_files(&named_digests(named), &digests);
    let mut out = Vec::with_capacity(named.len());
    let mut target: Option<PathBuf> = None;
    for (i, (reference, found)) in named.iter().zip(found).enumerate() {
        let name = reference.safe_file_name(i + 1);
        let mut state = FileState::of(found);
        if let Found::At(at) = found {
            match carried[at]
                .decode(bundle)
                .map(|blob| open_blob(&blob, reference))
            {
                Some(Ok(file)) => {
                    let folder = match &target {
                        Some(t) => t.clone(),
                        None => target.insert(private_subdir(dir, folder)?).clone(),
                    };
                    write_replacing(&folder.join(&name), &file)?;
                }
                _ => state = FileState::Damaged,
            }
        }
        out.push(FileJson {
            n: i + 1,
            kind: reference.kind,
            mime: reference.mime.clone(),
            bytes: reference.bytes,
            removed: reference.removed.clone(),
            cleaned: reference.cleaned,
            seconds: reference.seconds,
            disguised: reference.disguised,
            file: format!("{folder}/{name}"),
            state,
        });
    }
    Ok(out)
}

/// A file that was not opened, for the summary and `not-opened.txt`: by kind and size.
fn file_problem(followup: Option<u32>, f: &FileJson, state: FileState) -> String {
    let whose = followup.map_or(String::new(), |n| format!("follow-up {n}, "));
    format!(
        "{whose}file {} ({}, {}, {}): {}",
        f.n,
        kind_words(f.kind),
        size_words(f.bytes),
        f.file,
        state.reason()
    )
}

fn create_private_dir(dir: &Path) -> Result<(), CliError> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err(dir))
}

fn create_private_dir_all(dir: &Path) -> Result<(), CliError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err(dir))
}

pub(crate) fn write_replacing(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    let tmp = path.with_extension("partial");
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        // Decrypted words are readable by the inspectors' account only.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(contents).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}
