//! `whistlebox decrypt`: on the offline machine, turns an export bundle into one readable
//! folder per tip.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use super::{io_err, load_secret_keys, read_bounded, CliError};
use crate::bundle::{digest_to_hex, parse_export, BundleLimits, RejectedEntry};
use crate::domain::reply::sealed_digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use zeroize::Zeroizing;

use crate::crypto::{self, BoxPublicKey};
use crate::domain::exported::open_exported_tip;
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
}

/// Runs `decrypt`.
pub fn run(args: &DecryptArgs) -> Result<(), CliError> {
    crypto::init()?;
    // The bundle is read (as a stream, see `parse_export`) before the key is opened: a
    // hostile file is refused without the passphrase and without the key's Argon2id memory.
    let limits = BundleLimits::default();
    let bytes = read_bounded(&args.bundle, limits.max_bundle_bytes)?;
    let parsed = parse_export(&bytes, &limits)?;
    drop(bytes);
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
    for tip in &parsed.tips {
        // The reply key comes only from inside the sealed tip (now, or when an earlier
        // bundle's copy of it was opened here): the bundle's own `reply_key` field is
        // whatever the server or the carrier put there, and is never used.
        // A tip opened here before keeps what it was then: its words and its reply key.
        let pinned = Pinned::read(&args.out.join(tip.id.to_string()));
        let mut bound = pinned.as_ref().and_then(|p| p.bound.clone());
        if let Some(sealed) = &tip.sealed {
            let digest = digest_hex(sealed.as_bytes());
            match pinned {
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
                None => match open_exported_tip(tip, &keys, directory.as_ref()) {
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
                        write_tip(&dir, tip, &plain, digest)?;
                        // Kept so that the office can hand the case on (`whistlebox move`).
                        write_replacing(&dir.join(SEALED_FILE), sealed.to_base64().as_bytes())?;
                        if let Some(grant) = &tip.grant {
                            write_replacing(
                                &dir.join(GRANT_FILE),
                                STANDARD.encode(grant).as_bytes(),
                            )?;
                        }
                        opened += 1;
                    }
                    Err(e) => failed.push(fail(tip.id, e)),
                },
            }
        }
        for f in &tip.followups {
            match open_followup(&f.sealed, &keys.box_key, bound.as_ref()) {
                Ok(opened_followup) => {
                    let dir = tip_dir(&args.out, tip)?;
                    write_followup(&dir, f.n, &opened_followup)?;
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
    if failed.is_empty() {
        return Ok(());
    }
    let mut report = String::new();
    for f in &failed {
        let who = match (f.id, f.position) {
            (Some(id), _) => format!("tip {id}"),
            (None, p) => format!("entry #{p}"),
        };
        report.push_str(&format!("- {who}: {}\n", f.reason));
    }
    println!("could not open {} message(s):\n{report}", failed.len());
    let report_path = args.out.join("not-opened.txt");
    write_replacing(&report_path, report.as_bytes())?;
    Err(CliError::Partial(failed.len()))
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
}

impl Pinned {
    /// `None` when no tip was opened in this folder yet.
    fn read(dir: &Path) -> Option<Self> {
        let raw = read_bounded(&dir.join("tip.json"), 1024 * 1024).ok()?;
        let json: serde_json::Value = serde_json::from_slice(&raw).ok()?;
        let text = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        Some(Self {
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
    let dir = out.join(tip.id.to_string());
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
    };
    let json = serde_json::to_vec_pretty(&meta).expect("plain data serializes");
    write_replacing(&dir.join("tip.json"), &json)
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
