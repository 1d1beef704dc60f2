//! The offices the server may seal reports to, as the county signed them: the directory in
//! use, the resident's choice of who reads a report, and installing a newer directory.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use thiserror::Error;

use crate::crypto::BoxPublicKey;
use crate::domain::office::{Directory, DirectoryError, OfficeId};

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
}

impl OfficeBook {
    /// A book holding `directory`; `file` is where a newer one is installed.
    pub fn new(directory: Directory, file: Option<PathBuf>) -> Self {
        Self {
            current: RwLock::new(Arc::new(directory)),
            file,
        }
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
        if let Some(path) = &self.file {
            write_atomically(path, bytes).map_err(|e| InstallError::Write(e.to_string()))?;
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
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
