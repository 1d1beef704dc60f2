//! Signing on the offline machine, shared by the command line and the desk: the counter
//! that numbers each office's signed bundles, and the signed bundle itself.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::bundle::{sign_bundle, SignedContent, SignedPayload};
use crate::domain::keys::SecretKeys;
use crate::domain::Day;

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
    let sequence = last + 1;
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
