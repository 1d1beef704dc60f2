//! The sled 0.34 store: three trees in one database folder.
//!
//! - `meta`: format marker, installation salt, pepper check;
//! - `tips`: tip id (8 bytes) -> record (see `record.rs`);
//! - `receipts`: receipt lookup (32 bytes) -> tip id.
//!
//! sled's background flush alone would lose acknowledged writes on a crash, so every
//! insert is followed by an explicit flush before it returns.

use std::collections::HashSet;
use std::path::Path;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::record::{decode_record, encode_record};
use super::{
    NewTip, StoreError, StoreSummary, StoredTip, TipStatus, TipStore, STORE_FORMAT_VERSION,
};
use crate::crypto::{self, SALT_BYTES};
use crate::domain::receipt::ReceiptLookup;
use crate::domain::{Status, TipId};

const FORMAT_KEY: &[u8] = b"format";
const SALT_KEY: &[u8] = b"receipt_salt";
const PEPPER_CHECK_KEY: &[u8] = b"pepper_check";

fn format_marker() -> Vec<u8> {
    format!("whistlebox-store:{STORE_FORMAT_VERSION}").into_bytes()
}

/// A sled database in a data folder.
pub struct SledStore {
    pub(super) db: sled::Db,
    meta: sled::Tree,
    tips: sled::Tree,
    pub(super) receipts: sled::Tree,
    salt: [u8; SALT_BYTES],
}

impl SledStore {
    /// Opens (or creates) the store in `path` and checks its format version.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(path).open().map_err(|e| {
            StoreError::Backend(format!(
                "cannot open the data folder {} ({e}); is another whistlebox using it?",
                path.display()
            ))
        })?;
        let meta = db.open_tree("meta")?;
        let tips = db.open_tree("tips")?;
        let receipts = db.open_tree("receipts")?;
        match meta.get(FORMAT_KEY)? {
            Some(found) if found.as_ref() == format_marker().as_slice() => {}
            Some(found) => {
                let shown: String = String::from_utf8_lossy(&found).chars().take(40).collect();
                return Err(StoreError::WrongFormat {
                    found: shown,
                    expected: STORE_FORMAT_VERSION,
                });
            }
            None => {
                if !tips.is_empty() || !receipts.is_empty() {
                    return Err(StoreError::Corrupt(
                        "tips are present but the format marker is missing".into(),
                    ));
                }
                let mut salt = [0u8; SALT_BYTES];
                crypto::random_fill(&mut salt);
                meta.insert(SALT_KEY, &salt[..])?;
                // The marker goes last: a crash before it leaves a folder that starts afresh.
                meta.insert(FORMAT_KEY, format_marker())?;
                db.flush()?;
            }
        }
        let salt = meta
            .get(SALT_KEY)?
            .and_then(|v| <[u8; SALT_BYTES]>::try_from(v.as_ref()).ok())
            .ok_or_else(|| StoreError::Corrupt("the installation salt is missing".into()))?;
        Ok(Self {
            db,
            meta,
            tips,
            receipts,
            salt,
        })
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }
}

impl TipStore for SledStore {
    fn receipt_salt(&self) -> [u8; SALT_BYTES] {
        self.salt
    }

    fn check_pepper(&self, check: &[u8; 32]) -> Result<(), StoreError> {
        match self.meta.get(PEPPER_CHECK_KEY)? {
            Some(stored) if crypto::ct_eq(&stored, check) => Ok(()),
            Some(_) => Err(StoreError::PepperMismatch),
            None => {
                self.meta.insert(PEPPER_CHECK_KEY, &check[..])?;
                self.db.flush()?;
                Ok(())
            }
        }
    }

    fn insert(&self, tip: NewTip) -> Result<TipId, StoreError> {
        let record = encode_record(tip.day, Status::Received, &tip.sealed);
        let result = (&self.tips, &self.receipts).transaction(|(tips, receipts)| {
            if receipts.get(tip.lookup.0)?.is_some() {
                return Err(ConflictableTransactionError::Abort(()));
            }
            let mut id = TipId::random();
            while tips.get(id.0)?.is_some() {
                id = TipId::random();
            }
            tips.insert(&id.0[..], record.as_slice())?;
            receipts.insert(&tip.lookup.0[..], &id.0[..])?;
            Ok(id)
        });
        let id = match result {
            Ok(id) => id,
            Err(TransactionError::Abort(())) => return Err(StoreError::LookupTaken),
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        };
        self.db.flush()?;
        Ok(id)
    }

    fn status(&self, lookup: &ReceiptLookup) -> Result<Option<TipStatus>, StoreError> {
        let Some(id) = self.receipts.get(lookup.0)? else {
            return Ok(None);
        };
        let record = self
            .tips
            .get(&id)?
            .ok_or_else(|| StoreError::Corrupt("a receipt points at a missing tip".into()))?;
        let (day, status, _) = decode_record(&record)?;
        Ok(Some(TipStatus { day, status }))
    }

    fn export(&self) -> Result<Vec<StoredTip>, StoreError> {
        self.tips
            .iter()
            .map(|item| {
                let (key, value) = item?;
                let id =
                    TipId(key.as_ref().try_into().map_err(|_| {
                        StoreError::Corrupt("a tip id has the wrong length".into())
                    })?);
                let (day, status, sealed) = decode_record(&value)?;
                Ok(StoredTip {
                    id,
                    day,
                    status,
                    sealed,
                })
            })
            .collect()
    }

    fn verify(&self) -> Result<StoreSummary, StoreError> {
        let mut ids = HashSet::new();
        for item in self.tips.iter() {
            let (key, value) = item?;
            let id: [u8; 8] = key
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("a tip id has the wrong length".into()))?;
            decode_record(&value)?;
            ids.insert(id);
        }
        let mut receipts = 0u64;
        for item in self.receipts.iter() {
            let (key, value) = item?;
            if key.len() != 32 {
                return Err(StoreError::Corrupt(
                    "a receipt lookup has the wrong length".into(),
                ));
            }
            let id: [u8; 8] = value
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("a receipt entry is damaged".into()))?;
            if !ids.contains(&id) {
                return Err(StoreError::Corrupt(format!(
                    "a receipt points at tip {} which is missing",
                    TipId(id)
                )));
            }
            receipts += 1;
        }
        Ok(StoreSummary {
            tips: ids.len() as u64,
            receipts,
        })
    }
}
