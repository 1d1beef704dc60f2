//! The command-line entry points: `keygen`, `serve`, `decrypt`. `main.rs` parses flags with
//! the argument structs here and calls `run` of the matching module.

pub mod decrypt;
pub mod desk;
pub mod keygen;
pub mod moves;
pub mod offices;
pub mod reply;
pub mod serve;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;
use zeroize::Zeroizing;

use crate::bundle::BundleError;
use crate::crypto::CryptoError;
use crate::domain::keys::KeyFileError;
use crate::store::StoreError;

/// What a command can fail with; each says what to do about it.
#[derive(Debug, Error)]
pub enum CliError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key file problem.
    #[error("{path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: KeyFileError,
    },
    /// The store refused to open or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bundle was refused whole.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// libsodium failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The signing counter could not be advanced.
    #[error(transparent)]
    Signing(#[from] crate::signing::SigningError),
    /// Anything else the user must fix.
    #[error("{0}")]
    Usage(String),
    /// Some tips of a bundle could not be opened (the others were written).
    #[error("{0} tip(s) could not be opened; see the list above")]
    Partial(usize),
}

impl CliError {
    /// The process exit code: 2 when a decrypt only partly succeeded, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Partial(_) => 2,
            _ => 1,
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads a small file, refusing one larger than `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let file = fs::File::open(path).map_err(io_err(path))?;
    // Sized from the file's length up front: grown by doubling, reading a bundle of files
    // would pass through copies of up to twice its size.
    let len = file.metadata().map_or(0, |m| m.len()).min(max) as usize;
    let mut buf = Zeroizing::new(Vec::with_capacity(len.saturating_add(1)));
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    if buf.len() as u64 > max {
        return Err(CliError::Usage(format!(
            "{}: the file is larger than {max} bytes",
            path.display()
        )));
    }
    Ok(buf)
}

/// Reads a passphrase file: its first line, without the line ending.
pub(crate) fn read_passphrase(path: &Path) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let raw = read_bounded(path, 4096)?;
    let end = raw
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .unwrap_or(raw.len());
    let pass = Zeroizing::new(raw[..end].to_vec());
    if pass.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: the passphrase file is empty",
            path.display()
        )));
    }
    Ok(pass)
}

/// Reads the inspectors' secret keys from `inspectors.key` with the passphrase in a file.
pub(crate) fn load_secret_keys(
    key: &Path,
    passphrase_file: &Path,
) -> Result<crate::domain::keys::SecretKeys, CliError> {
    let passphrase = read_passphrase(passphrase_file)?;
    let text = read_bounded(key, 64 * 1024)?;
    let text = std::str::from_utf8(&text)
        .map_err(|_| CliError::Usage(format!("{}: not a key file", key.display())))?;
    crate::domain::keys::SecretKeys::from_file_text(text, &passphrase).map_err(|source| {
        CliError::KeyFile {
            path: key.to_owned(),
            source,
        }
    })
}

/// Writes a file only its owner may read, replacing it atomically.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(contents).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    Ok(())
}
