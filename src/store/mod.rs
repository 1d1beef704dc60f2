//! Storage of sealed tips behind one trait, so that a larger deployment can move to a
//! replicated store without touching the handlers. The store only ever sees sealed tips,
//! receipt lookups (never receipts) and coarse days.

mod memory;
mod record;
mod sled_store;

pub use memory::MemoryStore;
pub use record::{decode_record, encode_record, RECORD_VERSION};
pub use sled_store::SledStore;

use thiserror::Error;

use crate::crypto::SALT_BYTES;
use crate::domain::receipt::ReceiptLookup;
use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status, TipId};

/// Version of the on-disk layout (trees, keys, record encoding).
pub const STORE_FORMAT_VERSION: u32 = 1;

/// What the store can go wrong with. Messages never hold tip text or receipts.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database failed (disk, permissions...).
    #[error("the data store failed: {0}")]
    Backend(String),
    /// The data folder was written by another version of whistlebox.
    #[error("the data folder has store format {found}, but this build reads format {expected}; use the matching whistlebox version or migrate")]
    WrongFormat {
        /// Found on disk.
        found: String,
        /// What this build writes.
        expected: u32,
    },
    /// Records that do not decode or refer to nothing.
    #[error("the data folder is damaged: {0}")]
    Corrupt(String),
    /// The pepper file does not belong to this data folder.
    #[error("the receipt pepper file does not belong to this data folder (receipts would all be unknown); restore the right pepper file")]
    PepperMismatch,
    /// The receipt lookup is already taken (a fresh receipt collided; try another).
    #[error("receipt collision")]
    LookupTaken,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// A tip as it arrives: sealed, with the lookup of its receipt and its day.
#[derive(Debug)]
pub struct NewTip {
    /// Keyed Argon2id hash of the receipt.
    pub lookup: ReceiptLookup,
    /// Day of arrival.
    pub day: Day,
    /// The sealed tip.
    pub sealed: SealedTip,
}

/// A tip as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTip {
    /// Its random id.
    pub id: TipId,
    /// Day of arrival.
    pub day: Day,
    /// Current status.
    pub status: Status,
    /// The sealed tip.
    pub sealed: SealedTip,
}

/// What a receipt unlocks today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipStatus {
    /// Day of arrival.
    pub day: Day,
    /// Current status.
    pub status: Status,
}

/// Facts about the store, read at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSummary {
    /// Tips held.
    pub tips: u64,
    /// Receipt lookups held.
    pub receipts: u64,
}

/// The storage trait. Every method is synchronous and may block on disk: call it from a
/// blocking thread.
pub trait TipStore: Send + Sync + 'static {
    /// The installation's random salt for receipt hashing, created with the store.
    fn receipt_salt(&self) -> [u8; SALT_BYTES];

    /// Records the pepper check on first use; afterwards refuses a different one.
    fn check_pepper(&self, check: &[u8; 32]) -> Result<(), StoreError>;

    /// Stores a tip and returns only once it is durable on disk. Refuses with
    /// [`StoreError::LookupTaken`] if the receipt lookup exists, storing nothing.
    fn insert(&self, tip: NewTip) -> Result<TipId, StoreError>;

    /// The status unlocked by a receipt lookup, if any.
    fn status(&self, lookup: &ReceiptLookup) -> Result<Option<TipStatus>, StoreError>;

    /// Every tip held, in id order (random, so no arrival order shows).
    fn export(&self) -> Result<Vec<StoredTip>, StoreError>;

    /// Counts, after checking that every record decodes and every receipt points at a tip.
    fn verify(&self) -> Result<StoreSummary, StoreError>;
}

#[cfg(test)]
mod contract_tests;
