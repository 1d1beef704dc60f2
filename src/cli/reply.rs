//! `whistlebox update` and `whistlebox ack`: on the offline machine, the inspectors' signed
//! answers to the server.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Args;
use serde::Deserialize;

use super::{io_err, load_secret_keys, read_bounded, CliError};
use crate::bundle::{digest_from_hex, SignedContent};
use crate::crypto::{self, BoxPublicKey};
use crate::domain::reply::{plausible_sealed_reply, Ack, ReplyPlaintext, Update, MAX_REPLY_BYTES};
use crate::domain::{Status, TipId};
use crate::signing::{next_sequence, signed_bundle, BUNDLE_COUNTER};

/// Flags shared by the signing commands.
#[derive(Debug, Args)]
pub struct SigningArgs {
    /// The office's secret key file (inspectors.key). Its folder also keeps
    /// `inspectors.sequence`, the number of the last bundle signed.
    #[arg(long)]
    pub key: PathBuf,
    /// File whose first line is the key's passphrase.
    #[arg(long)]
    pub passphrase_file: PathBuf,
    /// Where to write the signed bundle.
    #[arg(long)]
    pub out: PathBuf,
}

/// Flags of `update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// The tip to update (its 16-digit id, as in the decrypted folder's name).
    #[arg(long, requires = "status", conflicts_with = "list")]
    pub tip: Option<String>,
    /// Its new status: received, in_review, investigating, closed_substantiated,
    /// closed_unsubstantiated, referred or need_info.
    #[arg(long, requires = "tip")]
    pub status: Option<String>,
    /// A message to the resident, sealed so that only the holder of the receipt reads it.
    #[arg(long, requires = "tip")]
    pub message: Option<String>,
    /// Several updates at once: a JSON file `[{"tip": "...", "status": "...", "message": "..."}]`.
    #[arg(long)]
    pub list: Option<PathBuf>,
    /// The folder `whistlebox decrypt` wrote (needed for messages: it holds each
    /// resident's reply key).
    #[arg(long)]
    pub tips: Option<PathBuf>,
}

/// Flags of `ack`.
#[derive(Debug, Args)]
pub struct AckArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// The folder `whistlebox decrypt` wrote: everything opened in it is acked, so the
    /// server may delete those ciphertexts.
    #[arg(long)]
    pub tips: PathBuf,
    /// Ack tips and follow-ups even when some of their evidence files did not come or did
    /// not open. Without it their ack is held back, so that the server keeps its copy for a
    /// later export; once acked, the server deletes the files it holds.
    #[arg(long)]
    pub without_missing_files: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListEntry {
    tip: String,
    status: String,
    #[serde(default)]
    message: Option<String>,
}

/// Runs `update`.
pub fn run_update(args: &UpdateArgs) -> Result<(), CliError> {
    crypto::init()?;
    let entries = match (&args.list, &args.tip, &args.status) {
        (Some(list), _, _) => {
            let raw = read_bounded(list, 16 * 1024 * 1024)?;
            serde_json::from_slice::<Vec<ListEntry>>(&raw).map_err(|e| {
                CliError::Usage(format!("{}: not a list of updates ({e})", list.display()))
            })?
        }
        (None, Some(tip), Some(status)) => vec![ListEntry {
            tip: tip.clone(),
            status: status.clone(),
            message: args.message.clone(),
        }],
        _ => {
            return Err(CliError::Usage(
                "give --tip and --status, or --list FILE".into(),
            ))
        }
    };
    if entries.is_empty() {
        return Err(CliError::Usage("there are no updates to sign".into()));
    }
    let mut updates = Vec::with_capacity(entries.len());
    for e in &entries {
        let tip: TipId = e
            .tip
            .parse()
            .map_err(|_| CliError::Usage(format!("{:?} is not a tip id (16 hex digits)", e.tip)))?;
        let status: Status = e.status.parse().map_err(CliError::Usage)?;
        let reply = match e.message.as_deref().filter(|m| !m.trim().is_empty()) {
            None => None,
            Some(m) if m.len() > MAX_REPLY_BYTES => {
                return Err(CliError::Usage(format!(
                    "the message to tip {tip} is too long"
                )))
            }
            Some(m) => {
                let key = reply_key(args.tips.as_deref(), tip)?;
                let sealed = ReplyPlaintext::new(m).seal(&key)?;
                // The server checks the sealed size; refuse here, not at import.
                if !plausible_sealed_reply(&sealed) {
                    return Err(CliError::Usage(format!(
                        "the message to tip {tip} is too long"
                    )));
                }
                Some(sealed)
            }
        };
        updates.push(Update { tip, status, reply });
    }
    let n = updates.len();
    let sequence = sign_and_write(&args.signing, SignedContent::Updates(updates))?;
    println!(
        "signed {n} update(s) as bundle number {sequence} into {}",
        args.signing.out.display()
    );
    Ok(())
}

/// Runs `ack`.
pub fn run_ack(args: &AckArgs) -> Result<(), CliError> {
    crypto::init()?;
    let mut acks = Vec::new();
    let mut held_back = 0usize;
    for entry in fs::read_dir(&args.tips).map_err(io_err(&args.tips))? {
        let entry = entry.map_err(io_err(&args.tips))?;
        let Some(tip) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<TipId>().ok())
        else {
            continue;
        };
        if !entry.file_type().map_err(io_err(&entry.path()))?.is_dir() {
            continue;
        }
        let mut followups = Vec::new();
        let mut tip_sealed = false;
        for file in fs::read_dir(entry.path()).map_err(io_err(&entry.path()))? {
            let name = file.map_err(io_err(&entry.path()))?.file_name();
            let name = name.to_string_lossy();
            if name == "message.txt" {
                tip_sealed = true;
            } else if let Some(n) = super::decrypt::followup_number(&name) {
                followups.push(n);
            }
        }
        followups.sort_unstable();
        followups.dedup();
        // An ack lets the server delete the files it holds: one whose files did not all
        // come waits, unless the inspectors say otherwise.
        let dir = entry.path();
        if !args.without_missing_files {
            if tip_sealed && files_left(&dir.join("tip.json"), Some("files")) > 0 {
                tip_sealed = false;
                held_back += 1;
            }
            let before = followups.len();
            followups.retain(|n| {
                files_left(&dir.join(super::decrypt::followup_files_list(*n)), None) == 0
            });
            held_back += before - followups.len();
        }
        if !tip_sealed && followups.is_empty() {
            continue;
        }
        // What exactly was opened, so that the server deletes only that: the tip's digest
        // from tip.json, each follow-up's from its .digest file (all or none).
        let tip_digest = tip_sealed.then(|| opened_digest(&dir)).flatten();
        let followup_digests: Vec<[u8; 32]> = followups
            .iter()
            .map_while(|n| {
                fs::read_to_string(dir.join(super::decrypt::followup_digest_file(*n)))
                    .ok()
                    .and_then(|t| digest_from_hex(t.trim()))
            })
            .collect();
        let followup_digests = if followup_digests.len() == followups.len() {
            followup_digests
        } else {
            Vec::new()
        };
        acks.push(Ack {
            tip,
            tip_sealed,
            followups,
            tip_digest,
            followup_digests,
        });
    }
    if held_back > 0 {
        println!(
            "held back the ack of {held_back} tip(s) or follow-up(s) whose evidence files did not \
             all come (see not-opened.txt): the server keeps them for a later export; \
             --without-missing-files acks them anyway"
        );
    }
    if acks.is_empty() {
        return Err(CliError::Usage(format!(
            "{} holds no decrypted tips to ack; run whistlebox decrypt first",
            args.tips.display()
        )));
    }
    acks.sort_by_key(|a| a.tip);
    let n = acks.len();
    let sequence = sign_and_write(&args.signing, SignedContent::Ack(acks))?;
    println!(
        "signed an ack of {n} tip(s) as bundle number {sequence} into {}",
        args.signing.out.display()
    );
    Ok(())
}

/// How many of the files a list written by `decrypt` names were not opened: `tip.json`'s
/// `files` (`field`), or a follow-up's list (the whole file). None when there is no list.
fn files_left(path: &Path, field: Option<&str>) -> usize {
    let Ok(raw) = read_bounded(path, 1024 * 1024) else {
        return 0;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&raw) else {
        // A list that does not read cannot show that the files came.
        return 1;
    };
    let list = match field {
        Some(name) => json.get(name),
        None => Some(&json),
    };
    list.and_then(|l| l.as_array()).map_or(0, |files| {
        files
            .iter()
            .filter(|f| f.get("state").and_then(|s| s.as_str()) != Some("opened"))
            .count()
    })
}

/// The digest of the sealed tip `decrypt` opened into this folder, from its tip.json.
fn opened_digest(dir: &Path) -> Option<[u8; 32]> {
    let raw = read_bounded(&dir.join("tip.json"), 1024 * 1024).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    digest_from_hex(json.get("sealed_digest")?.as_str()?)
}

/// The resident's reply key, from the `tip.json` that `decrypt` wrote.
fn reply_key(tips: Option<&Path>, tip: TipId) -> Result<BoxPublicKey, CliError> {
    let dir = tips.ok_or_else(|| {
        CliError::Usage("a message needs --tips DIR, the folder whistlebox decrypt wrote".into())
    })?;
    let path = dir.join(tip.to_string()).join("tip.json");
    let raw = read_bounded(&path, 1024 * 1024)?;
    let json: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|_| CliError::Usage(format!("{}: not valid JSON", path.display())))?;
    // Only the key that was bound inside the sealed tip: a key from anywhere else could
    // have been put there by whoever carried the export.
    json.get("bound_reply_key")
        .and_then(|k| k.as_str())
        .and_then(|k| STANDARD.decode(k).ok())
        .and_then(|k| BoxPublicKey::from_bytes(&k).ok())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{} has no reply key bound inside the tip (it was sent without one, or opened by an \
                 older whistlebox), so no message can reach the resident safely; a status without \
                 --message still can",
                path.display()
            ))
        })
}

/// Signs with the inspectors' key under the next sequence number. The number is recorded
/// before the bundle is written, so a crash in between can only skip a number, never reuse
/// one (a reused number would make the server refuse the bundle as a replay).
fn sign_and_write(args: &SigningArgs, content: SignedContent) -> Result<u64, CliError> {
    let keys = load_secret_keys(&args.key, &args.passphrase_file)?;
    sign_and_write_with(&keys, args, content)
}

/// [`sign_and_write`] with keys already opened.
pub(crate) fn sign_and_write_with(
    keys: &crate::domain::keys::SecretKeys,
    args: &SigningArgs,
    content: SignedContent,
) -> Result<u64, CliError> {
    let sequence = next_sequence(&args.key, BUNDLE_COUNTER)?;
    let bytes = signed_bundle(keys, sequence, content);
    fs::write(&args.out, bytes).map_err(io_err(&args.out))?;
    Ok(sequence)
}
