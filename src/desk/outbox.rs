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
    let updates = update_groups(ledger)?;
    let moves = move_requests(ledger, keys, directory)?;
    // A tip or follow-up whose evidence files did not all come is left out (`Case::ack`):
    // the server keeps its copy for a later export.
    let acks: Vec<Group<Ack>> = ledger
        .unacked()
        .filter_map(|c| c.ack())
        .map(|ack| Group {
            tip: ack.tip,
            bytes: 200 + 140 * ack.followups.len(),
            items: vec![ack],
        })
        .collect();
    if updates.is_empty() && acks.is_empty() && moves.is_empty() {
        return Err(OutboxError::Nothing);
    }
    create_private_dir(signed.out_dir)?;
    let mut out = Outgoing {
        written: Vec::new(),
        changed: Vec::new(),
    };
    let mut floor = signed.floor;
    let mut write = |kind: &str, content: SignedContent, ids: &[TipId]| {
        let sequence = next_sequence_after(signed.key_path, BUNDLE_COUNTER, floor)?;
        floor = sequence;
        let file = format!("{kind}-{sequence}.json");
        write_file(
            &signed.out_dir.join(&file),
            &signed_bundle(keys, sequence, content),
        )?;
        Ok::<_, OutboxError>(Written {
            sequence,
            kind: kind.into(),
            file,
            day: today,
            count: ids.len(),
        })
    };
    // Updates first, then moves, then acks: the order the operator imports them in.
    for chunk in chunks(updates) {
        let (ids, items) = unzip(chunk);
        let w = write("update", SignedContent::Updates(items), &ids)?;
        mark(ledger, &ids, |c| c.mark_written(w.sequence, today));
        out.record(w, ids);
    }
    for chunk in chunks(moves) {
        let (ids, items) = unzip(chunk);
        let w = write("move", SignedContent::Moves(items), &ids)?;
        mark(ledger, &ids, |c| c.mark_moved(w.sequence, today));
        out.record(w, ids);
    }
    for chunk in chunks(acks) {
        let (ids, items) = unzip(chunk);
        let w = write("ack", SignedContent::Ack(items), &ids)?;
        mark(ledger, &ids, |c| c.mark_acked(w.sequence, today));
        out.record(w, ids);
    }
    out.changed.sort_unstable();
    out.changed.dedup();
    Ok(out)
}

/// Largest bundle the desk writes (half of what the server's import takes, 16 MiB).
const MAX_BUNDLE_BYTES: usize = 8 * 1024 * 1024;
/// Most entries in one bundle (half of what the server takes, 100,000).
const MAX_BUNDLE_ENTRIES: usize = 50_000;

/// What one case puts in a bundle, with an estimate of its size once written.
struct Group<T> {
    tip: TipId,
    bytes: usize,
    items: Vec<T>,
}

impl Outgoing {
    fn record(&mut self, written: Written, ids: Vec<TipId>) {
        self.written.push(written);
        self.changed.extend(ids);
    }
}

/// Splits the groups into bundles the server takes: a case's entries stay together.
fn chunks<T>(groups: Vec<Group<T>>) -> Vec<Vec<Group<T>>> {
    let mut out: Vec<Vec<Group<T>>> = Vec::new();
    let (mut bytes, mut entries) = (0usize, 0usize);
    for g in groups {
        let full =
            bytes + g.bytes > MAX_BUNDLE_BYTES || entries + g.items.len() > MAX_BUNDLE_ENTRIES;
        if out.is_empty() || (full && entries > 0) {
            out.push(Vec::new());
            (bytes, entries) = (0, 0);
        }
        bytes += g.bytes;
        entries += g.items.len();
        out.last_mut().expect("pushed above").push(g);
    }
    out
}

fn unzip<T>(chunk: Vec<Group<T>>) -> (Vec<TipId>, Vec<T>) {
    let ids = chunk.iter().map(|g| g.tip).collect();
    (ids, chunk.into_iter().flat_map(|g| g.items).collect())
}

fn mark(ledger: &mut Ledger, ids: &[TipId], f: impl Fn(&mut super::ledger::Case)) {
    for id in ids {
        if let Some(case) = ledger.cases.get_mut(id) {
            f(case);
        }
    }
}

/// The queued answers of each case, with messages sealed to the residents.
fn update_groups(ledger: &Ledger) -> Result<Vec<Group<Update>>, OutboxError> {
    let mut groups = Vec::new();
    for case in ledger.queued() {
        let mut items = Vec::new();
        let mut bytes = 200;
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
            bytes += 120 + reply.as_ref().map_or(0, |r| r.len() * 4 / 3);
            items.push(Update {
                tip: case.id,
                status: a.status,
                reply,
            });
        }
        groups.push(Group {
            tip: case.id,
            bytes,
            items,
        });
    }
    Ok(groups)
}

/// The signed hand-overs of every queued move, grouped by case.
fn move_requests(
    ledger: &Ledger,
    keys: &SecretKeys,
    directory: Option<&Directory>,
) -> Result<Vec<Group<MoveRequest>>, OutboxError> {
    let mut groups = Vec::new();
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
        let mut items = Vec::new();
        let mut bytes = 200;
        for m in case.moves.iter().filter(|m| m.state == AnswerState::Queued) {
            let to: OfficeId =
                m.to.parse()
                    .map_err(|_| fail(MoveError::NoSuchOffice(directory.root.id.clone())))?;
            let kept = sealed.as_ref().map(|sealed| Kept {
                sealed,
                grant: grant.as_deref(),
                resident: resident.as_ref(),
            });
            let request = move_request(case.id, &to, directory, keys, kept).map_err(fail)?;
            bytes += 600
                + request
                    .sealed
                    .as_ref()
                    .map_or(0, |s| s.as_bytes().len() * 4 / 3);
            items.push(request);
        }
        groups.push(Group {
            tip: case.id,
            bytes,
            items,
        });
    }
    Ok(groups)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), OutboxError> {
    let io = |source| OutboxError::Io {
        path: path.to_owned(),
        source,
    };
    // Never over a bundle already written: its number would then name two bundles.
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn group(i: u8, bytes: usize, items: usize) -> Group<u8> {
        Group {
            tip: TipId([i; 8]),
            bytes,
            items: vec![i; items],
        }
    }

    #[test]
    fn bundles_are_split_to_fit_the_server_and_a_case_stays_whole() {
        let mb = 1024 * 1024;
        let sizes: Vec<usize> = chunks(vec![
            group(1, 5 * mb, 1),
            group(2, 2 * mb, 1),
            group(3, 2 * mb, 1),
            group(4, 20 * mb, 1),
            group(5, 1, 1),
        ])
        .iter()
        .map(Vec::len)
        .collect();
        assert_eq!(
            sizes,
            [2, 1, 1, 1],
            "5+2, 2, the large one alone, then the rest"
        );
        let many: Vec<_> = (0..3).map(|i| group(i, 10, 30_000)).collect();
        let split = chunks(many);
        assert_eq!(split.len(), 3, "at most 50,000 entries a bundle");
        assert!(split
            .iter()
            .all(|c| c.len() == 1 && c[0].items.len() == 30_000));
        assert!(chunks(Vec::<Group<u8>>::new()).is_empty());
    }
}
