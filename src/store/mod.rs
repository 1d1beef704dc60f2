//! Storage of sealed tips behind one trait, so that a larger deployment can move to a
//! replicated store without touching the handlers. The store only ever sees sealed tips,
//! receipt lookups (never receipts) and coarse days.

mod memory;
mod record;
mod sled_store;

pub use memory::MemoryStore;
pub use record::{Held, Record, RECORD_VERSION};
pub use sled_store::SledStore;

use thiserror::Error;

use crate::crypto::SALT_BYTES;
pub use crate::domain::held::{Followup, StoredTip};
use crate::domain::receipt::ReceiptLookup;
pub use crate::domain::reply::Signed;
use crate::domain::reply::{Ack, Update};
use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status, TipId};

/// Version of the on-disk layout (trees, keys, record encoding). Version 2 keeps sealed
/// boxes in 4 KiB pieces; a version 1 folder is read and rewritten as version 2 at start.
pub const STORE_FORMAT_VERSION: u32 = 2;

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
    /// A signed bundle names a tip the server does not have.
    #[error("the bundle names tip {0}, which this server does not hold; nothing was applied")]
    UnknownTip(TipId),
    /// The same signed bundle again.
    #[error("bundle number {0} was already applied; nothing was changed")]
    Replayed(u64),
    /// An older signed bundle than one already applied.
    #[error("bundle number {sequence} is older than number {last}, which was already applied; nothing was changed")]
    Stale {
        /// The bundle's number.
        sequence: u64,
        /// The last applied.
        last: u64,
    },
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
    /// The receipt's reply public key, sealed to the inspectors (only they need it, to seal
    /// replies; stored in the clear it would let a copy of the data test receipt guesses).
    pub sealed_reply_key: Vec<u8>,
}

/// What a receipt unlocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipView {
    /// Day of arrival.
    pub day: Day,
    /// Current status.
    pub status: Status,
    /// Every status change, oldest first.
    pub history: Vec<(Day, Status)>,
    /// Sealed replies, oldest first.
    pub replies: Vec<(Day, Vec<u8>)>,
}

/// What an ack removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    /// Tips whose ciphertext was deleted.
    pub tips: u64,
    /// Follow-ups deleted.
    pub followups: u64,
}

/// Counts for one month, for the public transparency page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonthCounts {
    /// Tips that arrived.
    pub received: u64,
    /// Status changes made that month, by status.
    pub reached: std::collections::BTreeMap<&'static str, u64>,
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
/// blocking thread. Every write is durable on disk when the method returns.
pub trait TipStore: Send + Sync + 'static {
    /// The installation's random salt for receipt hashing, created with the store.
    fn receipt_salt(&self) -> [u8; SALT_BYTES];

    /// Records the pepper check on first use; afterwards refuses a different one.
    fn check_pepper(&self, check: &[u8; 32]) -> Result<(), StoreError>;

    /// Stores a tip. Refuses with [`StoreError::LookupTaken`] if the receipt lookup exists,
    /// storing nothing.
    fn insert(&self, tip: NewTip) -> Result<TipId, StoreError>;

    /// Whether the store holds receipts filed before receipt version 2 (under version 1
    /// lookups, which only the server can compute): a coarse fact about the installation,
    /// set once when a store from before version 2 is first opened, never cleared.
    fn legacy_receipts(&self) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// What a receipt lookup unlocks, if anything.
    fn view(&self, lookup: &ReceiptLookup) -> Result<Option<TipView>, StoreError>;

    /// Adds a follow-up under the tip of a receipt; `None` if no tip has it.
    fn add_followup(
        &self,
        lookup: &ReceiptLookup,
        day: Day,
        sealed: SealedTip,
    ) -> Result<Option<u32>, StoreError>;

    /// Everything the inspectors have not acked yet, in id order (random, so no arrival
    /// order shows). Tips with nothing left to hand over are left out. Holds it all in
    /// memory: the export handler streams [`TipStore::export_ids`] and
    /// [`TipStore::export_tip`] instead.
    fn export(&self) -> Result<Vec<StoredTip>, StoreError> {
        let mut out = Vec::new();
        for id in self.export_ids()? {
            out.extend(self.export_tip(id)?);
        }
        Ok(out)
    }

    /// The ids of the tips [`TipStore::export`] would hand over, in id order.
    fn export_ids(&self) -> Result<Vec<TipId>, StoreError>;

    /// One tip as [`TipStore::export`] hands it over; `None` if it is unknown or has nothing
    /// left to hand over.
    fn export_tip(&self, id: TipId) -> Result<Option<StoredTip>, StoreError>;

    /// The sequence number of the last signed bundle applied (0 before any).
    fn last_sequence(&self) -> Result<u64, StoreError>;

    /// Applies signed status updates, all or nothing.
    fn apply_updates(&self, signed: Signed, day: Day, updates: &[Update])
        -> Result<(), StoreError>;

    /// Deletes what the inspectors acked, all or nothing.
    fn apply_ack(&self, signed: Signed, acks: &[Ack]) -> Result<Purged, StoreError>;

    /// Monthly counts ("YYYY-MM" -> counts), from days and status changes only.
    fn monthly_counts(&self)
        -> Result<std::collections::BTreeMap<String, MonthCounts>, StoreError>;

    /// Counts, after checking that every record decodes and every receipt points at a tip.
    fn verify(&self) -> Result<StoreSummary, StoreError>;

    /// Counts for the operators' metrics.
    fn counts(&self) -> Result<StoreCounts, StoreError>;

    /// Bytes the store occupies on disk (0 for a store in memory).
    fn bytes_on_disk(&self) -> Result<u64, StoreError>;
}

/// Counts for the operators' metrics: nothing about any single tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCounts {
    /// Tips known (their status is kept after an ack).
    pub tips: u64,
    /// Tips whose ciphertext the server still holds.
    pub sealed_held: u64,
    /// Follow-ups the server still holds.
    pub followups_held: u64,
}

/// The month of a day, as "YYYY-MM".
pub fn month_of(day: Day) -> String {
    day.to_string().get(..7).unwrap_or("").to_owned()
}

/// Checks the sequence rule shared by every store: a bundle must be newer than the last one
/// applied; the very same bundle again is a replay.
pub fn check_sequence(
    signed: Signed,
    last: u64,
    applied_digest: Option<[u8; 32]>,
) -> Result<(), StoreError> {
    if signed.sequence > last {
        return Ok(());
    }
    match applied_digest {
        Some(d) if d == signed.digest => Err(StoreError::Replayed(signed.sequence)),
        _ => Err(StoreError::Stale {
            sequence: signed.sequence,
            last,
        }),
    }
}

#[cfg(test)]
mod contract_tests;
