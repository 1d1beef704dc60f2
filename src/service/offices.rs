//! The offices the server may seal reports to, as the county signed them: the directory in
//! use, the resident's choice of who reads a report, and installing a newer directory.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use thiserror::Error;

use crate::crypto::BoxPublicKey;
use crate::domain::office::{Directory, DirectoryError, OfficeId};
use crate::store::{StoreError, TipStore};

/// File name of the signed directory in the server's keys folder.
pub const DIRECTORY_FILE: &str = "offices.json";

/// Why a resident's choice of offices was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChoiceError {
    /// A town office that is not in the directory.
    #[error("The office you chose is not in this service's list of offices. Nothing was saved. Please reload the page and choose again.")]
    UnknownOffice,
    /// More than one town office.
    #[error("Please choose at most one town office. Nothing was saved.")]
    TooMany,
}

/// The directory in use, replaced whole when the operator installs a newer one.
pub struct OfficeBook {
    current: RwLock<Arc<Directory>>,
    file: Option<PathBuf>,
    seen: Option<PathBuf>,
    /// A store several servers share, which keeps the newest directory for all of them.
    shared: Option<Arc<dyn TipStore>>,
}

/// File in the data folder that keeps the number and digest of the newest directory this
/// server has used, so an older one (or none) put back in the keys folder is refused.
pub const SEEN_FILE: &str = "offices.seen";

/// The newest directory a server has used: its number and the BLAKE2b of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its number.
    pub sequence: u64,
    /// BLAKE2b-256 of the file, hex.
    pub digest: String,
}

impl Seen {
    /// What `bytes`, a directory numbered `sequence`, leaves behind.
    pub fn of(sequence: u64, bytes: &[u8]) -> Self {
        Self {
            sequence,
            digest: crate::bundle::digest_to_hex(&crate::crypto::blake2b(None, &[bytes])),
        }
    }

    /// Reads the file; `None` when there is none yet.
    pub fn read(path: &std::path::Path) -> Result<Option<Self>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let (seq, digest) = text
                    .trim()
                    .split_once(' ')
                    .ok_or_else(|| format!("{} is damaged", path.display()))?;
                Ok(Some(Self {
                    sequence: seq
                        .parse()
                        .map_err(|_| format!("{} is damaged", path.display()))?,
                    digest: digest.to_owned(),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Refuses a directory older than this one, or another one under the same number.
    pub fn check(&self, offered: &Seen) -> Result<(), String> {
        if offered.sequence < self.sequence
            || (offered.sequence == self.sequence && offered.digest != self.digest)
        {
            return Err(format!(
                "this server has used directory of offices number {}; the one in the keys folder \
                 (number {}) is older or another one, so it was not used (install the newest \
                 directory the county signed)",
                self.sequence, offered.sequence
            ));
        }
        Ok(())
    }

    /// Writes the file (replacing it atomically).
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        write_atomically(
            path,
            format!("{} {}\n", self.sequence, self.digest).as_bytes(),
        )
    }
}

impl OfficeBook {
    /// A book holding `directory`; `file` is where a newer one is installed.
    pub fn new(directory: Directory, file: Option<PathBuf>, seen: Option<PathBuf>) -> Self {
        Self {
            current: RwLock::new(Arc::new(directory)),
            file,
            seen,
            shared: None,
        }
    }

    /// The same book, keeping the newest directory in `store`, which other servers share:
    /// one installed on any of them reaches the others at their next [`OfficeBook::refresh`].
    pub fn shared_through(mut self, store: Arc<dyn TipStore>) -> Self {
        self.shared = Some(store);
        self
    }

    /// Takes up a newer directory that another server recorded in the shared store, checked
    /// against the county key in use; true if it did. Blocks on the store.
    pub fn refresh(&self) -> Result<bool, InstallError> {
        let Some(store) = &self.shared else {
            return Ok(false);
        };
        let Some(bytes) = store.shared_directory()? else {
            return Ok(false);
        };
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        let recorded = Directory::verify(&bytes, &current.root.keys)?;
        if recorded.sequence <= current.sequence {
            return Ok(false);
        }
        if let Some(path) = &self.file {
            // Best effort: the store is the record; the file is a copy for the operator.
            let _ = write_atomically(path, &bytes);
        }
        *current = Arc::new(recorded);
        Ok(true)
    }

    /// The directory in use.
    pub fn directory(&self) -> Arc<Directory> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Who reads a report whose resident chose `towns` (empty: the county only): the keys
    /// to seal it to, the county's first, and the town ids to store with it.
    pub fn recipients(
        &self,
        towns: &[OfficeId],
    ) -> Result<(Vec<BoxPublicKey>, Vec<OfficeId>), ChoiceError> {
        if towns.len() > 1 {
            return Err(ChoiceError::TooMany);
        }
        let directory = self.directory();
        let mut keys = vec![directory.root.keys.box_key.clone()];
        for id in towns {
            let town = directory.town(id).ok_or(ChoiceError::UnknownOffice)?;
            keys.push(town.keys.box_key.clone());
        }
        Ok((keys, towns.to_vec()))
    }

    /// The keys of the offices that read a tip now: the county's first, then those of its
    /// towns that the directory in use still names.
    pub fn keys_for(&self, towns: &[OfficeId]) -> Vec<BoxPublicKey> {
        let directory = self.directory();
        std::iter::once(directory.root.keys.box_key.clone())
            .chain(
                towns
                    .iter()
                    .filter_map(|id| directory.town(id).map(|t| t.keys.box_key.clone())),
            )
            .collect()
    }

    /// Checks that `towns` are offices of the directory in use (for a tip sealed in the
    /// browser, which did its own sealing).
    pub fn check_choice(&self, towns: &[OfficeId]) -> Result<(), ChoiceError> {
        self.recipients(towns).map(|_| ())
    }

    /// Installs a newer directory signed by the county: checked against the county key in
    /// use, written to the keys folder (replacing the file atomically), then used.
    pub fn install(&self, bytes: &[u8]) -> Result<Arc<Directory>, InstallError> {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        let newer = Directory::verify(bytes, &current.root.keys)?;
        current.check_newer(&newer)?;
        if let Some(store) = &self.shared {
            // The shared store is the record every server reads; the keys folder's copy is
            // for the operator, and may be read-only (the shipped unit makes it so).
            store.record_directory(newer.sequence, bytes)?;
            if let Some(path) = &self.file {
                if let Err(e) = write_atomically(path, bytes) {
                    tracing::warn!(error = %e, "the directory of offices is recorded in the database but could not be copied into the keys folder");
                }
            }
        } else if let Some(path) = &self.file {
            write_atomically(path, bytes).map_err(|e| InstallError::Write(e.to_string()))?;
        }
        if let Some(path) = &self.seen {
            Seen::of(newer.sequence, bytes)
                .write(path)
                .map_err(|e| InstallError::Write(e.to_string()))?;
        }
        *current = Arc::new(newer);
        Ok(current.clone())
    }
}

/// Why a directory was not installed.
#[derive(Debug, Error)]
pub enum InstallError {
    /// Refused: not signed, older, malformed.
    #[error(transparent)]
    Refused(#[from] DirectoryError),
    /// Could not be written to the keys folder.
    #[error("the directory could not be saved in the keys folder ({0}); nothing was changed")]
    Write(String),
    /// The shared store refused it (another server used a newer one) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
