//! What the desk sends back by USB stick: the queued answers, signed as an update bundle,
//! and an ack of every tip and follow-up now safe in the workspace, so the server may
//! delete its ciphertext. The same bundles `whistlebox update` and `whistlebox ack` write,
//! numbered by the same counter beside the key file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::ledger::{AnswerState, Ledger};
use super::workspace::Written;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::bundle::{MoveRequest, SignedContent};
use crate::domain::keys::SecretKeys;
use crate::domain::office::{Directory, Grant, GrantKey, OfficeId};
use crate::domain::reply::{plausible_sealed_reply, Ack, ReplyPlaintext, Update};
use crate::domain::tip::SealedTip;
use crate::domain::{Day, TipId};
use crate::signing::{
    move_request, next_sequence_after, signed_bundle, Kept, MoveError, SigningError, BUNDLE_COUNTER,
};

/// Why the bundles could not be written.
#[derive(Debug, Error)]
pub enum OutboxError {
    /// The counter could not be advanced.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// A bundle file could not be written.
    #[error(
        "{path}: {source}; the desk has locked itself so that nothing is marked as written \
         that was not: unlock it and write again"
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A message could not be sealed to its resident.
    #[error("the message to case {0} could not be sealed to its resident; withdraw it and write it again")]
    Seal(TipId),
    /// A hand-over could not be made.
    #[error("case {0} cannot be handed over: {1}")]
    Move(TipId, MoveError),
    /// Hand-overs are queued but the desk was started without the directory of offices.
    #[error("hand-overs need the directory of offices: start the desk with --directory")]
    NoDirectory,
    /// Nothing is waiting.
    #[error(
        "nothing is waiting to be written: no answer is queued and every case is acknowledged"
    )]
    Nothing,
}

/// Where and above which number the bundles are signed.
pub struct Signing<'a> {
    /// The key file (its folder keeps the counter).
    pub key_path: &'a Path,
    /// The outbox folder.
    pub out_dir: &'a Path,
    /// The highest number the workspace recorded: numbers go above it whatever the counter
    /// file says.
    pub floor: u64,
}

/// The bundles written, and the cases they changed (to be saved).
pub struct Outgoing {
    /// Bundles written, update first.
    pub written: Vec<Written>,
    /// Cases whose answers or acks were marked.
    pub changed: Vec<TipId>,
}

/// Writes the update bundle (queued answers), the move bundle (queued hand-overs) and the
/// ack bundle (everything not yet acknowledged) into `out_dir`, and marks the cases. The
/// caller saves the changed cases and the record of the bundles in the workspace.
pub fn write_bundles(
    ledger: &mut Ledger,
    keys: &SecretKeys,
    directory: Option<&Directory>,
    signed: &Signing<'_>,
    today: Day,
) -> Result<Outgoing, OutboxError> {
    let (key_path, out_dir) = (signed.key_path, signed.out_dir);
    let mut floor = signed.floor;
    let mut next = || -> Result<u64, OutboxError> {
        let n = next_sequence_after(key_path, BUNDLE_COUNTER, floor)?;
        floor = n;
        Ok(n)
    };
    let mut updates = Vec::new();
    let mut answered = Vec::new();
    for case in ledger.queued() {
        for a in case
            .answers
            .iter()
            .filter(|a| a.state == AnswerState::Queued)
        {
            let reply = match (&a.message, case.reply_key()) {
                (Some(m), Some(key)) => {
                    let sealed = ReplyPlaintext::new(m.as_str())
                        .seal(&key)
                        .map_err(|_| OutboxError::Seal(case.id))?;
                    if !plausible_sealed_reply(&sealed) {
                        return Err(OutboxError::Seal(case.id));
                    }
                    Some(sealed)
                }
                (Some(_), None) => return Err(OutboxError::Seal(case.id)),
                (None, _) => None,
            };
            updates.push(Update {
                tip: case.id,
                status: a.status,
                reply,
            });
        }
        answered.push(case.id);
    }
    let acks: Vec<Ack> = ledger
        .unacked()
        .map(|c| Ack {
            tip: c.id,
            tip_sealed: true,
            followups: c.followups.iter().map(|f| f.n).collect(),
            tip_digest: Some(c.digest),
            followup_digests: c.followups.iter().map(|f| f.digest).collect(),
        })
        .collect();
    let (moves, moved) = move_requests(ledger, keys, directory)?;
    if updates.is_empty() && acks.is_empty() && moves.is_empty() {
        return Err(OutboxError::Nothing);
    }
    create_private_dir(out_dir)?;
    let mut written = Vec::new();
    let mut changed = Vec::new();
    if !updates.is_empty() {
        let sequence = next()?;
        let file = format!("update-{sequence}.json");
        write_file(
            &out_dir.join(&file),
            &signed_bundle(keys, sequence, SignedContent::Updates(updates)),
        )?;
        for id in &answered {
            if let Some(case) = ledger.cases.get_mut(id) {
                case.mark_written(sequence, today);
            }
        }
        written.push(Written {
            sequence,
            kind: "update".into(),
            file,
            day: today,
            count: answered.len(),
        });
        changed.extend(answered);
    }
    if !moves.is_empty() {
        let sequence = next()?;
        let file = format!("move-{sequence}.json");
        write_file(
            &out_dir.join(&file),
            &signed_bundle(keys, sequence, SignedContent::Moves(moves)),
        )?;
        for id in &moved {
            if let Some(case) = ledger.cases.get_mut(id) {
                case.mark_moved(sequence, today);
            }
        }
        written.push(Written {
            sequence,
            kind: "move".into(),
            file,
            day: today,
            count: moved.len(),
        });
        changed.extend(moved);
    }
    if !acks.is_empty() {
        let sequence = next()?;
        let file = format!("ack-{sequence}.json");
        let ids: Vec<TipId> = acks.iter().map(|a| a.tip).collect();
        write_file(
            &out_dir.join(&file),
            &signed_bundle(keys, sequence, SignedContent::Ack(acks)),
        )?;
        for id in &ids {
            if let Some(case) = ledger.cases.get_mut(id) {
                case.mark_acked(sequence, today);
            }
        }
        written.push(Written {
            sequence,
            kind: "ack".into(),
            file,
            day: today,
            count: ids.len(),
        });
        changed.extend(ids);
    }
    changed.sort_unstable();
    changed.dedup();
    Ok(Outgoing { written, changed })
}

/// The signed hand-overs of every queued move, and the cases they come from.
fn move_requests(
    ledger: &Ledger,
    keys: &SecretKeys,
    directory: Option<&Directory>,
) -> Result<(Vec<MoveRequest>, Vec<TipId>), OutboxError> {
    let mut requests = Vec::new();
    let mut cases = Vec::new();
    for case in ledger.moving() {
        let directory = directory.ok_or(OutboxError::NoDirectory)?;
        let fail = |e| OutboxError::Move(case.id, e);
        let sealed = case
            .sealed
            .as_deref()
            .and_then(|s| SealedTip::from_base64(s, usize::MAX).ok());
        let grant = case
            .grant
            .as_deref()
            .and_then(|g| STANDARD.decode(g).ok())
            .and_then(|g| Grant::decode(&g))
            .and_then(|g| match g.key {
                GrantKey::Open(stanza) => Some(stanza),
                GrantKey::ForResident(_) => None,
            });
        let resident = case.reply_key();
        for m in case.moves.iter().filter(|m| m.state == AnswerState::Queued) {
            let to: OfficeId =
                m.to.parse()
                    .map_err(|_| fail(MoveError::NoSuchOffice(directory.root.id.clone())))?;
            let kept = sealed.as_ref().map(|sealed| Kept {
                sealed,
                grant: grant.as_deref(),
                resident: resident.as_ref(),
            });
            requests.push(move_request(case.id, &to, directory, keys, kept).map_err(fail)?);
        }
        cases.push(case.id);
    }
    Ok((requests, cases))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), OutboxError> {
    let io = |source| OutboxError::Io {
        path: path.to_owned(),
        source,
    };
    // Never over a bundle already written: its number would then name two bundles.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn create_private_dir(dir: &Path) -> Result<(), OutboxError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| OutboxError::Io {
        path: dir.to_owned(),
        source,
    })
}
