//! Storage of sealed tips behind one trait, so that a larger deployment can move to a
//! replicated store without touching the handlers. The store only ever sees sealed tips,
//! receipt lookups (never receipts) and coarse days.

mod memory;
pub mod postgres;
mod record;
mod sled_store;
mod uploads;

pub use self::postgres::{PgConfig, PgOptions, PgStore};
pub use memory::MemoryStore;
pub use record::{Held, Record, RECORD_VERSION};
pub use sled_store::SledStore;
pub use uploads::{Holding, Owner, Pending, Upload, UploadState, MAX_HELD_FOLLOWUPS};

use thiserror::Error;

use crate::crypto::SALT_BYTES;
pub use crate::domain::addressing::{AddressingError, MoveDecision, MoveState, MoveView};
use crate::domain::attachment::UploadId;
pub use crate::domain::held::{Followup, StoredTip};
pub use crate::domain::intake::{Batch, Channel, StubKey, StubState, MAX_BATCH_FORMS};
pub use crate::domain::office::{OfficeId, Reader};
use crate::domain::receipt::ReceiptLookup;
pub use crate::domain::reply::Signed;
use crate::domain::reply::{Ack, Update};
use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status, TipId};

/// Version of the on-disk layout (trees, keys, record encoding). Version 2 keeps sealed
/// boxes in 4 KiB pieces; version 3 adds who reads each tip (town offices, moves) and a last
/// applied bundle per town office. Folders of versions 1 and 2 are read (every tip in them
/// is read by the county alone) and rewritten as version 3 at start. The version was bumped
/// because an older build would misread a version 3 folder: it would hand town tips to the
/// county alone and delete them on the county's ack. Version 4 adds evidence files (the
/// trees `uploads`, `upload_chunks` and `files`): an older build would drop them at its
/// first rewrite, so it must refuse the folder. Version 5 adds office intake (the trees
/// `stubs`, `batches` and `intake_counts`: printed forms and the monthly counts by channel),
/// which an older build would drop the same way.
pub const STORE_FORMAT_VERSION: u32 = 5;

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
    /// A signed bundle names a tip that the office which signed it may not read. Also the
    /// answer for a tip the server does not hold, so an office learns nothing of tips not
    /// addressed to it, not even that they exist.
    #[error("the bundle names tip {0}, on which the office that signed it may not act; nothing was applied")]
    NotAddressed(TipId),
    /// A signed bundle moves a tip where the rules refuse.
    #[error("the bundle's move of tip {tip} was refused: {reason}; nothing was applied")]
    MoveRefused {
        /// The tip.
        tip: TipId,
        /// Why.
        reason: AddressingError,
    },
    /// A move to a town office that carries no sealed tip or key stanza for it.
    #[error("the bundle's move of tip {0} to a town office carries nothing for that office to open; nothing was applied")]
    NothingCarried(TipId),
    /// A resident answered a move that is not waiting for an answer.
    #[error("no move of this report to that office waits for an answer; nothing was changed")]
    NoMoveWaiting,
    /// A new tip names more town offices than a report may.
    #[error("{0}; nothing was saved")]
    TooManyTowns(AddressingError),
    /// An upload length that no blob has.
    #[error("The file did not arrive in the expected form (its length is not that of an encrypted file). Nothing was saved. Please reload the page and try again.")]
    NotABlobLength,
    /// Files over the size limit.
    #[error("The files are too large: one report or message may carry at most 24 MiB in one file and 32 MiB in all. Nothing was saved.")]
    FilesTooLarge,
    /// More files than a report may carry.
    #[error("One report or message may carry at most 10 files. Nothing was saved.")]
    TooManyFiles,
    /// No such upload (never started, expired, or deleted).
    #[error("This upload is not known here (it may have expired after two days). Nothing was saved. Please add the file again.")]
    UnknownUpload,
    /// The upload already became part of a report.
    #[error("This file was already sent with a report. Nothing was saved.")]
    UploadUsed,
    /// An upload named for a report still misses chunks.
    #[error("File number {0} has not finished uploading. Nothing was saved yet: the page sends what is missing and tries again.")]
    UploadIncomplete(usize),
    /// A chunk that does not fit its upload.
    #[error("This piece of the file was refused: {0}. Nothing was saved.")]
    BadChunk(&'static str),
    /// The tip already holds as many files as one tip may until the offices collect them.
    #[error("This report already carries as many files as the service keeps for one report before the office collects them (about 128 MiB). Nothing was saved. Please send the rest after the office has answered, or bring it to the office.")]
    TipFilesFull,
    /// The tip already has as many follow-ups waiting as one tip may.
    #[error("Many messages under this receipt code are already waiting for the office to collect them (at most 50). Nothing was saved. Please wait until the office has answered, then write again.")]
    TooManyFollowupsHeld,
    /// A chunk already stored with other bytes.
    #[error("This piece of the file was already received with different content. Nothing was changed. Please add the file again.")]
    ChunkConflict,
    /// The database's schema is newer than this build knows.
    #[error("the PostgreSQL database has whistlebox schema version {found}, newer than this build knows ({known}); run the whistlebox version that upgraded it")]
    SchemaTooNew {
        /// Found in the database.
        found: i32,
        /// The newest this build knows.
        known: i32,
    },
    /// A directory of offices older than (or other than, under the same number) the newest
    /// one recorded in a shared store.
    #[error("this service has used directory of offices number {recorded}; the one offered (number {offered}) is older or another one, so it was not used (install the newest directory the county signed)")]
    OlderDirectory {
        /// The newest recorded.
        recorded: u64,
        /// The one offered.
        offered: u64,
    },
    /// A batch of printed forms with no form, or more than a batch may hold.
    #[error("A batch holds 1 to {MAX_BATCH_FORMS} forms. Nothing was saved.")]
    BatchSize,
    /// A printed form's code is already registered (a receipt drawn twice).
    #[error("One of the codes is already on a printed form. Nothing was saved. Please make the forms again.")]
    StubTaken,
    /// No printed form has this code.
    #[error("This code is not on any form this office printed. Nothing was saved. Check it against the letter digit by digit, or enter the letter without a code.")]
    UnknownStub,
    /// The code's batch of forms was withdrawn.
    #[error("This code is on a form of batch {0}, which the office withdrew. Nothing was saved. Enter the letter without a code: it gets a new one.")]
    BatchVoided(String),
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
    /// The town offices the resident chose besides the county (empty: the county alone).
    pub towns: Vec<OfficeId>,
    /// Complete uploads that become the tip's files, in order (`docs/attachments.md`).
    pub uploads: Vec<UploadId>,
}

/// One move in a signed bundle: the office that signed it hands a tip it reads to another
/// office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveOrder {
    /// The tip.
    pub tip: TipId,
    /// The office it goes to.
    pub to: Reader,
    /// For a move to a town: what the town will read. A move to the county carries
    /// nothing (the county reads every report already); a move to a town without it is
    /// refused.
    pub carried: Option<Carried>,
}

/// What a move to a town carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// The tip's key stanza for that office.
    pub stanza: Vec<u8>,
    /// The sealed tip itself, carried along because the server may have deleted its copy.
    pub sealed: SealedTip,
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
    /// The town offices that read the report now (chosen, or moved to with consent).
    pub towns: Vec<OfficeId>,
    /// Every move of the report, oldest first: the timeline, and the consent questions.
    pub moves: Vec<MoveView>,
}

/// What an ack removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    /// Tips whose ciphertext was deleted.
    pub tips: u64,
    /// Follow-ups deleted.
    pub followups: u64,
    /// Carried copies of moved tips deleted (with their key stanzas).
    pub copies: u64,
}

/// Counts for one month, for the public transparency page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonthCounts {
    /// Tips that arrived.
    pub received: u64,
    /// Status changes made that month, by status.
    pub reached: std::collections::BTreeMap<&'static str, u64>,
    /// Tips a clerk entered that month, by channel (letter, phone, visit; the rest of
    /// `received` came online). Kept as these counts only, never per tip.
    pub entered: std::collections::BTreeMap<Channel, u64>,
}

impl MonthCounts {
    /// Tips of the month by every channel, online included (what was not entered came
    /// online).
    pub fn by_channel(&self) -> std::collections::BTreeMap<Channel, u64> {
        let entered: u64 = self.entered.values().sum();
        Channel::ALL
            .into_iter()
            .map(|c| match c {
                Channel::Online => (c, self.received.saturating_sub(entered)),
                c => (c, self.entered.get(&c).copied().unwrap_or(0)),
            })
            .collect()
    }
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

    /// Adds a follow-up under the tip of a receipt, with `uploads` (complete, unused) as its
    /// files, all or nothing; `None` if no tip has the lookup.
    fn add_followup_with_files(
        &self,
        lookup: &ReceiptLookup,
        day: Day,
        sealed: SealedTip,
        uploads: &[UploadId],
    ) -> Result<Option<u32>, StoreError>;

    /// Adds a follow-up without files under the tip of a receipt; `None` if no tip has it.
    fn add_followup(
        &self,
        lookup: &ReceiptLookup,
        day: Day,
        sealed: SealedTip,
    ) -> Result<Option<u32>, StoreError> {
        self.add_followup_with_files(lookup, day, sealed, &[])
    }

    /// Starts an upload of a blob of `bytes` (a blob length within the limits).
    fn create_upload(&self, bytes: u64, day: Day) -> Result<UploadId, StoreError>;

    /// Stores chunk `index` of an upload, durably. The same bytes again are accepted;
    /// other bytes for a stored chunk are refused ([`StoreError::ChunkConflict`]), and so
    /// is any chunk of an upload already used.
    fn put_upload_chunk(
        &self,
        id: &UploadId,
        index: u32,
        data: &[u8],
    ) -> Result<UploadState, StoreError>;

    /// Where an upload stands; `None` if it is unknown.
    fn upload_state(&self, id: &UploadId) -> Result<Option<UploadState>, StoreError>;

    /// The uploads not (yet) part of any report: how many, and the bytes of them received.
    fn pending_uploads(&self) -> Result<Pending, StoreError>;

    /// Deletes the uploads that never became part of a report and started before `day`;
    /// returns how many.
    fn expire_uploads(&self, before: Day) -> Result<u64, StoreError>;

    /// Deletes the named uploads that are not part of a report (the files of a form the
    /// server sealed, when its tip was then refused); used or unknown ones are left alone.
    fn discard_uploads(&self, ids: &[UploadId]) -> Result<(), StoreError>;

    /// Everything the county has not acked yet, in id order (random, so no arrival order
    /// shows). Tips with nothing left to hand over are left out. Holds it all in memory:
    /// the export handler streams [`TipStore::export_ids`] and [`TipStore::export_tip`]
    /// instead.
    fn export(&self) -> Result<Vec<StoredTip>, StoreError> {
        self.export_for(&Reader::Root)
    }

    /// Everything `reader` may read and has not acked yet, in id order, all in memory.
    fn export_for(&self, reader: &Reader) -> Result<Vec<StoredTip>, StoreError> {
        let mut out = Vec::new();
        for id in self.export_ids_for(reader)? {
            out.extend(self.export_tip_for(reader, id)?);
        }
        Ok(out)
    }

    /// The ids of the tips [`TipStore::export`] would hand over, in id order.
    fn export_ids(&self) -> Result<Vec<TipId>, StoreError> {
        self.export_ids_for(&Reader::Root)
    }

    /// One tip as [`TipStore::export`] hands it over; `None` if it is unknown or has nothing
    /// left to hand over.
    fn export_tip(&self, id: TipId) -> Result<Option<StoredTip>, StoreError> {
        self.export_tip_for(&Reader::Root, id)
    }

    /// The ids of the tips that hold something `reader` may read and has not acked, in id
    /// order: a town office never sees a tip addressed to the county alone.
    fn export_ids_for(&self, reader: &Reader) -> Result<Vec<TipId>, StoreError>;

    /// What `reader` may read of one tip and has not acked: the original sealed tip for the
    /// county and the chosen towns, the carried copy with its key stanza (`grant`) for a
    /// town it was moved to, and the follow-ups that reader sees. `None` if the tip is
    /// unknown, not for `reader`, or has nothing left for it.
    fn export_tip_for(&self, reader: &Reader, id: TipId) -> Result<Option<StoredTip>, StoreError>;

    /// The sequence number of the last signed bundle of the county applied (0 before any).
    fn last_sequence(&self) -> Result<u64, StoreError> {
        self.last_sequence_for(&Reader::Root)
    }

    /// The sequence number of the last signed bundle of `reader` applied (0 before any).
    /// Each office numbers its own bundles.
    fn last_sequence_for(&self, reader: &Reader) -> Result<u64, StoreError>;

    /// Applies status updates signed by `reader`, all or nothing. Refuses the whole bundle
    /// with [`StoreError::NotAddressed`] if it names a tip `reader` may not read.
    fn apply_updates(
        &self,
        signed: Signed,
        reader: &Reader,
        day: Day,
        updates: &[Update],
    ) -> Result<(), StoreError>;

    /// Records what `reader` acked and deletes what every office entitled to it has now
    /// acked, all or nothing. Refuses the whole bundle with [`StoreError::NotAddressed`] if
    /// it names a tip `reader` may not read.
    fn apply_ack(
        &self,
        signed: Signed,
        reader: &Reader,
        acks: &[Ack],
    ) -> Result<Purged, StoreError>;

    /// Records moves signed by `reader`, all or nothing: a move to the county is done at
    /// once (nothing is kept); a move to a town waits for the resident, its stanza and
    /// carried copy kept until then. Refuses the whole bundle if a tip is not `reader`'s to
    /// move ([`StoreError::NotAddressed`]) or a move breaks a rule
    /// ([`StoreError::MoveRefused`]). Returns each move's state, in order.
    fn propose_moves(
        &self,
        signed: Signed,
        reader: &Reader,
        day: Day,
        moves: &[MoveOrder],
    ) -> Result<Vec<MoveState>, StoreError>;

    /// The resident's answer to the move of their report to town `to` (with `grant`, on
    /// "agree", the key stanza that replaces the one kept while it waited): agreed, the town
    /// gets the carried copy and the follow-ups filed from now on; declined, the stanza and
    /// carried copy are deleted. `None` if no tip has the lookup;
    /// [`StoreError::NoMoveWaiting`] if no move to `to` waits for an answer.
    fn decide_move(
        &self,
        lookup: &ReceiptLookup,
        to: &OfficeId,
        agree: bool,
        day: Day,
        grant: Option<Vec<u8>>,
    ) -> Result<Option<MoveDecision>, StoreError>;

    /// The key stanza kept with the move of a receipt's tip to town `to` that waits for the
    /// resident's answer; `None` when the lookup is unknown or no such move waits.
    fn waiting_grant(
        &self,
        lookup: &ReceiptLookup,
        to: &OfficeId,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Registers a batch of printed forms made on `day`, one stub key per form, under the
    /// next batch number, all or nothing. Refuses an empty batch or one over
    /// [`MAX_BATCH_FORMS`] ([`StoreError::BatchSize`]) and a stub key already registered
    /// ([`StoreError::StubTaken`]), storing nothing.
    fn register_batch(&self, day: Day, stubs: &[StubKey]) -> Result<Batch, StoreError>;

    /// The batch a printed form's stub key belongs to, as it stands now; `None` if no form
    /// has it.
    fn stub_batch(&self, stub: &StubKey) -> Result<Option<Batch>, StoreError>;

    /// Every batch of printed forms, in the order they were made.
    fn batches(&self) -> Result<Vec<Batch>, StoreError>;

    /// Withdraws a batch of printed forms on `day` (it was lost): its codes take no letter
    /// from now on; letters already entered keep theirs. A batch withdrawn already keeps its
    /// first day. `None` if there is no such batch.
    fn void_batch(&self, number: u32, day: Day) -> Result<Option<Batch>, StoreError>;

    /// Stores a tip a clerk entered. With `stub`, the code of a printed form: refused
    /// unless a batch holds it ([`StoreError::UnknownStub`]) and that batch is not withdrawn
    /// ([`StoreError::BatchVoided`]). A lookup already filed (the same letter entered twice)
    /// is refused with [`StoreError::LookupTaken`]. A refusal stores nothing. The tip is not
    /// counted by channel here: a count written with the tip would tie the tip to its
    /// channel (in sled's log, and in PostgreSQL's row headers, where the count's row would
    /// carry the tip's transaction id); the service adds a day's counts later, together,
    /// with [`TipStore::add_intake_counts`]. Nothing of the stub's row or its batch's is
    /// written either.
    fn insert_entered(&self, tip: NewTip, stub: Option<&StubKey>) -> Result<TipId, StoreError>;

    /// Adds `n` to the count of tips clerks entered in `month` ("YYYY-MM") under `channel`,
    /// for each entry, in one write of its own (never in a tip's).
    fn add_intake_counts(&self, counts: &[(String, Channel, u64)]) -> Result<(), StoreError>;

    /// Monthly counts ("YYYY-MM" -> counts), from days, status changes and the counts of
    /// entered tips by channel only.
    fn monthly_counts(&self)
        -> Result<std::collections::BTreeMap<String, MonthCounts>, StoreError>;

    /// Counts, after checking that every record decodes and every receipt, addressing and
    /// move points at a tip.
    fn verify(&self) -> Result<StoreSummary, StoreError>;

    /// Counts for the operators' metrics.
    fn counts(&self) -> Result<StoreCounts, StoreError>;

    /// Bytes the store occupies on disk (0 for a store in memory).
    fn bytes_on_disk(&self) -> Result<u64, StoreError>;

    /// Whether several servers share this store, so that the newest directory of offices
    /// must be kept in it ([`TipStore::record_directory`]) rather than beside one server's
    /// data folder (`offices.seen`, as the sled store does).
    fn shares_directory(&self) -> bool {
        false
    }

    /// The newest signed directory of offices recorded (the file's bytes), if any.
    fn shared_directory(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }

    /// Records `bytes`, the signed directory numbered `sequence` (checked by the caller),
    /// as the newest; refuses ([`StoreError::OlderDirectory`]) an older one or another one
    /// under the number recorded; the same one again changes nothing.
    fn record_directory(&self, sequence: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let _ = (sequence, bytes);
        Ok(())
    }
}

/// Counts for the operators' metrics: nothing about any single tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCounts {
    /// Tips known (their status is kept after an ack).
    pub tips: u64,
    /// Tips whose ciphertext the server still holds (the original, or a carried copy).
    pub sealed_held: u64,
    /// Follow-ups the server still holds.
    pub followups_held: u64,
    /// Evidence files the server still holds (part of a tip or follow-up).
    pub files_held: u64,
    /// Uploads that are not (yet) part of any report.
    pub uploads_pending: u64,
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

/// Checks the size of a batch of printed forms and that its stub keys are distinct.
fn check_batch(stubs: &[StubKey]) -> Result<(), StoreError> {
    if stubs.is_empty() || stubs.len() > MAX_BATCH_FORMS {
        return Err(StoreError::BatchSize);
    }
    let distinct: std::collections::BTreeSet<&StubKey> = stubs.iter().collect();
    if distinct.len() != stubs.len() {
        return Err(StoreError::StubTaken);
    }
    Ok(())
}

/// The refusal of a stub whose batch cannot take a letter (withdrawn), or none.
fn stub_refusal(batch: Option<Batch>) -> Result<(), StoreError> {
    match batch.map(StubState::of) {
        None => Err(StoreError::UnknownStub),
        Some(StubState::Voided(b)) => Err(StoreError::BatchVoided(b.label())),
        Some(StubState::Waiting(_)) => Ok(()),
    }
}

/// The store's error for a move the rules refuse: a town is told the same about a tip it
/// may not read as about a tip that does not exist.
fn move_refused(tip: TipId, reason: AddressingError) -> StoreError {
    match reason {
        AddressingError::NotAddressed => StoreError::NotAddressed(tip),
        reason => StoreError::MoveRefused { tip, reason },
    }
}

#[cfg(test)]
mod contract_tests;
