//! `whistlebox move`: on an office's offline machine, hands a case to another office (移送)
//! with a signed bundle. A move to the county is always taken; a move to a town office waits
//! on the server until the resident agrees on the status page, and until then the town gets
//! nothing.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Args;

use super::decrypt::{GRANT_FILE, SEALED_FILE};
use super::reply::{sign_and_write_with, SigningArgs};
use super::{load_secret_keys, read_bounded, CliError};
use crate::bundle::{digest_to_hex, SignedContent};
use crate::crypto::{self, BoxPublicKey};
use crate::domain::keys::PublicKeys;
use crate::domain::office::{Directory, Grant, GrantKey, OfficeId, MAX_DIRECTORY_BYTES};
use crate::domain::reply::sealed_digest;
use crate::domain::tip::SealedTip;
use crate::domain::TipId;
use crate::signing::{move_request, Kept};

/// Flags of `move`.
#[derive(Debug, Args)]
pub struct MoveArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// The folder `whistlebox decrypt` wrote, holding the tip.
    #[arg(long)]
    pub tips: PathBuf,
    /// The tip to hand over (its 16-digit id, as in the decrypted folder's name).
    #[arg(long)]
    pub tip: String,
    /// The office it goes to: the county's id, or a town office's, as in the directory.
    #[arg(long)]
    pub to: String,
    /// The signed directory of offices (offices.json), for the receiving office's key.
    #[arg(long)]
    pub directory: PathBuf,
    /// The county office's inspectors.pub, to check the directory's signature (not needed
    /// when the county itself moves the case: its own key is then the check).
    #[arg(long)]
    pub root: Option<PathBuf>,
}

/// Runs `move`.
pub fn run(args: &MoveArgs) -> Result<(), CliError> {
    crypto::init()?;
    let tip: TipId = args
        .tip
        .parse()
        .map_err(|e| CliError::Usage(format!("--tip: {e}")))?;
    let to: OfficeId = args
        .to
        .parse()
        .map_err(|e| CliError::Usage(format!("--to: {e}")))?;
    let keys = load_secret_keys(&args.signing.key, &args.signing.passphrase_file)?;
    let root = match &args.root {
        Some(path) => {
            let raw = read_bounded(path, 64 * 1024)?;
            let text = std::str::from_utf8(&raw)
                .map_err(|_| CliError::Usage(format!("{}: not a key file", path.display())))?;
            PublicKeys::from_file_text(text).map_err(|source| CliError::KeyFile {
                path: path.clone(),
                source,
            })?
        }
        None => keys.public_keys(),
    };
    let bytes = read_bounded(&args.directory, MAX_DIRECTORY_BYTES as u64)?;
    let directory = Directory::verify(&bytes, &root).map_err(|e| {
        CliError::Usage(format!(
            "{}: {e}{}",
            args.directory.display(),
            if args.root.is_none() {
                " (a town office gives the county's inspectors.pub with --root)"
            } else {
                ""
            }
        ))
    })?;
    let stored = if to == directory.root.id {
        None
    } else {
        Some(kept(args, tip)?)
    };
    let kept = stored.as_ref().map(|(sealed, grant, resident)| Kept {
        sealed,
        grant: grant.as_deref(),
        resident: resident.as_ref(),
    });
    let request = move_request(tip, &to, &directory, &keys, kept)
        .map_err(|e| CliError::Usage(format!("tip {tip}: {e}")))?;
    let needs_consent = request.sealed.is_some();
    let sequence = sign_and_write_with(&keys, &args.signing, SignedContent::Moves(vec![request]))?;
    println!(
        "signed the move of tip {tip} to {} as bundle number {sequence} into {}",
        args.to,
        args.signing.out.display()
    );
    if needs_consent {
        println!(
            "the server will ask the resident first; the town office gets the case only once the resident agrees"
        );
    }
    Ok(())
}

/// The sealed tip, the granted stanza and the bound reply key, as read from a tip's folder.
type KeptFiles = (SealedTip, Option<Vec<u8>>, Option<BoxPublicKey>);

/// What `decrypt` kept in the tip's folder (checked against the digest it pinned there):
/// the sealed tip, the stanza this office was granted (for a case moved to it), and the
/// reply key bound in the tip.
fn kept(args: &MoveArgs, tip: TipId) -> Result<KeptFiles, CliError> {
    let dir = args.tips.join(tip.to_string());
    let read_b64 = |name: &str| -> Result<Option<Vec<u8>>, CliError> {
        let path = dir.join(name);
        if !path.exists() {
            return Ok(None);
        }
        let raw = read_bounded(&path, 64 * 1024 * 1024)?;
        STANDARD
            .decode(raw.trim_ascii())
            .map(Some)
            .map_err(|_| CliError::Usage(format!("{}: damaged", path.display())))
    };
    let sealed = read_b64(SEALED_FILE)?.ok_or_else(|| {
        CliError::Usage(format!(
            "{}: no {SEALED_FILE}; open the tip with this version's `whistlebox decrypt` first",
            dir.display()
        ))
    })?;
    let pinned = read_bounded(&dir.join("tip.json"), 1024 * 1024)?;
    let pinned: serde_json::Value = serde_json::from_slice(&pinned)
        .map_err(|_| CliError::Usage(format!("{}: tip.json is damaged", dir.display())))?;
    if pinned.get("sealed_digest").and_then(|d| d.as_str())
        != Some(digest_to_hex(&sealed_digest(&sealed)).as_str())
    {
        return Err(CliError::Usage(format!(
            "{}: {SEALED_FILE} is not the tip opened here; nothing was signed",
            dir.display()
        )));
    }
    // A town gets a case only with the resident's consent, given with the reply key bound
    // in the tip; a tip that binds none can go to the county only.
    let resident = pinned
        .get("bound_reply_key")
        .and_then(|k| k.as_str())
        .and_then(|k| STANDARD.decode(k).ok())
        .and_then(|k| BoxPublicKey::from_bytes(&k).ok());
    let sealed = SealedTip::from_bytes(sealed, usize::MAX)
        .map_err(|_| CliError::Usage(format!("{}: {SEALED_FILE} is damaged", dir.display())))?;
    let grant = read_b64(GRANT_FILE)?;
    let grant = match grant {
        Some(blob) => match Grant::decode(&blob).map(|g| g.key) {
            Some(GrantKey::Open(stanza)) => Some(stanza),
            _ => {
                return Err(CliError::Usage(format!(
                    "{}: {GRANT_FILE} is damaged",
                    dir.display()
                )))
            }
        },
        None => None,
    };
    Ok((sealed, grant, resident))
}
