//! Signing on the offline machine, shared by the command line and the desk: the counter
//! that numbers each office's signed bundles, the signed bundle itself, and what a move
//! hands over.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::bundle::{sign_bundle, MoveRequest, SignedContent, SignedPayload};
use crate::crypto::{BoxPublicKey, Sealer};
use crate::domain::keys::SecretKeys;
use crate::domain::office::{move_message, Directory, OfficeId};
use crate::domain::reply::sealed_digest;
use crate::domain::tip::SealedTip;
use crate::domain::{Day, TipId};

/// The counter file of update, ack and move bundles, beside the key file.
pub const BUNDLE_COUNTER: &str = "inspectors.sequence";

/// Why a counter could not be advanced.
#[derive(Debug, Error)]
pub enum SigningError {
    /// The counter file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The counter file does not hold a number.
    #[error("{0}: not a number")]
    NotANumber(PathBuf),
}

/// The next number in the counter file `name` beside the key file, recorded (and synced)
/// before it is used: a crash in between can only skip a number, never reuse one (the
/// server refuses a reused number as a replay).
pub fn next_sequence(key: &Path, name: &str) -> Result<u64, SigningError> {
    next_sequence_after(key, name, 0)
}

/// [`next_sequence`], but above `floor` too: the desk passes the highest number it recorded,
/// so that a counter file set back (an old backup of the keys folder, or a hand on the
/// laptop) never makes it sign a number twice.
pub fn next_sequence_after(key: &Path, name: &str, floor: u64) -> Result<u64, SigningError> {
    let path = key.parent().unwrap_or(Path::new(".")).join(name);
    let io = |source| SigningError::Io {
        path: path.clone(),
        source,
    };
    let last: u64 = match fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse()
            .map_err(|_| SigningError::NotANumber(path.clone()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        // Any other failure must stop us: starting again from 0 would make every later
        // bundle look old to the server.
        Err(e) => return Err(io(e)),
    };
    let sequence = last.max(floor) + 1;
    let tmp = path.with_extension("sequence.tmp");
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(io)?;
    f.write_all(format!("{sequence}\n").as_bytes())
        .map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, &path).map_err(io)?;
    Ok(sequence)
}

/// A bundle of `content` signed by this office under `sequence`, made today.
pub fn signed_bundle(keys: &SecretKeys, sequence: u64, content: SignedContent) -> Vec<u8> {
    let payload = SignedPayload {
        office: keys.office.as_ref().map(|o| o.id.clone()),
        sequence,
        made_on: Day::today(),
        content,
    };
    sign_bundle(&payload, &keys.sign_key)
}

/// Why a case cannot be handed to an office.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MoveError {
    /// The office is not in the directory.
    #[error("there is no office {0} in the directory")]
    NoSuchOffice(OfficeId),
    /// A town gets a case only with the resident's consent, asked with the reply key.
    #[error(
        "this report binds no reply key, so its resident cannot be asked; it can be moved to the \
         county office only"
    )]
    NoReplyKey,
    /// A town needs the sealed tip, and this office does not hold it.
    #[error("the sealed tip is not kept here, so it cannot be handed to a town office")]
    NotKept,
    /// The office's own tip did not open (damaged, or not this office's).
    #[error("the tip could not be opened again to hand it over: {0}")]
    Open(String),
}

/// What an office keeps of a case, to hand it over to a town.
pub struct Kept<'a> {
    /// The sealed tip as it arrived.
    pub sealed: &'a SealedTip,
    /// The stanza this office was given, when the case was moved to it.
    pub grant: Option<&'a [u8]>,
    /// The reply key bound inside the tip.
    pub resident: Option<&'a BoxPublicKey>,
}

/// What an office hands over to `to` (移送). To the county: the tip's id alone (the county
/// holds every tip). To a town: the sealed tip the town will open, its content key sealed to
/// the town and once more to the resident's reply key (only the resident's "agree" releases
/// it), and this office's signature over (tip, town, digest of the box), which the town
/// checks before it trusts what it was handed.
pub fn move_request(
    tip: TipId,
    to: &OfficeId,
    directory: &Directory,
    keys: &SecretKeys,
    kept: Option<Kept<'_>>,
) -> Result<MoveRequest, MoveError> {
    if *to == directory.root.id {
        return Ok(MoveRequest {
            tip,
            to: to.clone(),
            sealed: None,
            stanza: None,
            signature: None,
        });
    }
    let town = directory
        .town(to)
        .ok_or_else(|| MoveError::NoSuchOffice(to.clone()))?;
    let kept = kept.ok_or(MoveError::NotKept)?;
    let resident = kept.resident.ok_or(MoveError::NoReplyKey)?;
    let (carried, stanza) = kept
        .sealed
        .for_move(
            &keys.box_key,
            kept.grant,
            &keys.box_key.public_key(),
            &town.keys.box_key,
        )
        .map_err(|e| MoveError::Open(e.to_string()))?;
    let signature = keys
        .sign_key
        .sign(&move_message(tip, to, &sealed_digest(carried.as_bytes())))
        .to_vec();
    Ok(MoveRequest {
        tip,
        to: to.clone(),
        sealed: Some(carried),
        stanza: Some(resident.seal(&stanza)),
        signature: Some(signature),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_goes_up_and_never_below_the_floor() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("inspectors.key");
        assert_eq!(next_sequence(&key, BUNDLE_COUNTER).unwrap(), 1);
        assert_eq!(next_sequence(&key, BUNDLE_COUNTER).unwrap(), 2);
        // The counter file set back (an old backup): the floor the desk recorded holds.
        fs::write(dir.path().join(BUNDLE_COUNTER), "0\n").unwrap();
        assert_eq!(next_sequence_after(&key, BUNDLE_COUNTER, 2).unwrap(), 3);
        assert_eq!(next_sequence(&key, BUNDLE_COUNTER).unwrap(), 4);
        fs::write(dir.path().join(BUNDLE_COUNTER), "many\n").unwrap();
        assert!(matches!(
            next_sequence(&key, BUNDLE_COUNTER),
            Err(SigningError::NotANumber(_))
        ));
    }
}
