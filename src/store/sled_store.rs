//! The sled 0.34 store: trees in one database folder.
//!
//! - `meta`: format marker, installation salt, pepper check, last applied bundle of the
//!   county (`last_sequence`, `last_digest`) and of each town office
//!   (`last_sequence:<office id>`, `last_digest:<office id>`);
//! - `tips`: tip id (8 bytes) -> [`Record`];
//! - `receipts`: receipt lookup (32 bytes) -> tip id;
//! - `history`, `replies`, `followups`: tip id + number (12 bytes) -> `[day][payload]`;
//! - `addressing`: tip id + piece number (12 bytes) -> a 4 KiB piece of the tip's
//!   [`Addressing`] (almost always one piece); only for tips that name town offices or were
//!   moved, a tip without one is read by the county alone;
//! - `moves`: tip id + move index (12 bytes) -> [`encode_move_entry`], while the store keeps
//!   that move's key stanza and carried copy;
//! - `chunks`: the sealed tips, follow-ups, replies, and moves' stanzas and copies, cut into
//!   4 KiB pieces ([`chunk_key`]);
//! - `uploads`: upload id (16 bytes) -> [`Upload`] (length, day started, chunks received,
//!   whose file it became);
//! - `upload_chunks`: upload id + chunk + piece (22 bytes) -> a 4 KiB piece of the blob;
//! - `files`: tip id + 0 or a follow-up's number (12 bytes) -> the upload ids of its files;
//! - `held`: tip id (8 bytes) -> [`Holding`]: bytes of files and follow-ups the tip holds until
//!   acked, bounded per tip (rebuilt from the trees above at every start);
//! - `stubs`: stub key of a printed form (32 bytes) -> its batch number (4 bytes);
//! - `batches`: batch number (4 bytes) -> [`Batch`] record;
//! - `intake_counts`: `"YYYY-MM"` + channel byte (8 bytes) -> how many tips clerks entered
//!   that month by that channel (u64); never a tip's own channel.
//!
//! sled's background flush alone would lose acknowledged writes on a crash, so every write
//! is followed by an explicit flush before it returns (and the background flusher is off).
//! That is still not enough for a power cut: sled 0.34 flushes its log with
//! `sync_file_range` (which neither syncs metadata nor the drive's cache). So after the flush
//! the log file is fsynced too. Writes run one at a time. Multi-tree changes run in one sled
//! transaction, so a crash leaves all of a change or none of it.
//!
//! What the folder says about time and order: no stored value is over 4 KiB, so sled never
//! writes a value as a file of its own (a "blob", named by log position and dated to the
//! nanosecond); after every write the access and modification times of every file and
//! folder of the store, and of the data folder holding it, are set back to midnight (UTC)
//! of the day, and again every five minutes (a file's change time, ctime, cannot be set: it
//! shows the last write or reset, so at most that a write happened in the last few
//! minutes). And since sled keeps old values in its log until it reuses a segment, the
//! store is rewritten into a fresh folder after every ack that deletes anything, after every
//! move a resident declines, and at every start ([`SledStore::compact`]): only live data is
//! copied, then the fresh folder replaces the old one by two renames, so the acked or
//! declined ciphertext is gone from the folder's files.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use sled::transaction::{
    abort, ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};

use super::record::{
    chunk_count, chunk_key, decode_box_entry, decode_entry, decode_move_entry,
    encode_chunked_entry, encode_entry, encode_move_entry, entry_key, ChunkOf, EntryBody, Held,
    Record, CHUNK_BYTES,
};
use super::uploads::{check_uploads, decode_files, encode_files, files_key, piece_key};
use super::{check_batch, stub_refusal, Batch, Channel, StubKey};
use super::{
    check_sequence, month_of, move_refused, Followup, MonthCounts, MoveDecision, MoveOrder,
    MoveState, NewTip, OfficeId, Purged, Reader, Signed, StoreCounts, StoreError, StoreSummary,
    StoredTip, TipStore, TipView, STORE_FORMAT_VERSION,
};
use super::{Holding, Owner, Pending, Upload, UploadState};
use crate::crypto::{self, SALT_BYTES};
use crate::domain::addressing::Addressing;
use crate::domain::attachment::UploadId;
use crate::domain::intake::{count_key, split_count_key};
use crate::domain::receipt::ReceiptLookup;
use crate::domain::reply::{Ack, Update};
use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status, TipId};

const FORMAT_KEY: &[u8] = b"format";
const SALT_KEY: &[u8] = b"receipt_salt";
const PEPPER_CHECK_KEY: &[u8] = b"pepper_check";
const LAST_SEQUENCE_KEY: &[u8] = b"last_sequence";
const LAST_DIGEST_KEY: &[u8] = b"last_digest";
/// Whether receipts of version 1 are held (one byte, 0 or 1; see `TipStore::legacy_receipts`).
const LEGACY_RECEIPTS_KEY: &[u8] = b"legacy_receipts";
/// Most follow-ups or replies read back for one tip (bounds a status answer).
const MAX_ENTRIES: usize = 1000;
/// sled's page cache (its default is 1 GiB): a county's store fits, and memory stays bounded.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// A store rewrite flushes the fresh copy after this many bytes.
const COPY_FLUSH_BYTES: usize = 4 * 1024 * 1024;
/// Store format 1 (sealed boxes inside the records) is read, and rewritten at start.
const OLDEST_READ_FORMAT: u32 = 1;

fn format_marker(version: u32) -> Vec<u8> {
    format!("whistlebox-store:{version}").into_bytes()
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

fn io_err(what: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |e| StoreError::Backend(format!("{what}: {e}"))
}

fn get_record(tips: &TransactionalTree, id: TipId) -> TxResult<Record> {
    match tips.get(id.0)? {
        Some(bytes) => Record::decode(&bytes).map_err(ConflictableTransactionError::Abort),
        None => abort(StoreError::UnknownTip(id)),
    }
}

/// The `meta` keys of the last bundle applied for `reader`: the county keeps the keys of
/// store format 2, so existing folders go on from their last bundle.
fn sequence_keys(reader: &Reader) -> (Vec<u8>, Vec<u8>) {
    match reader {
        Reader::Root => (LAST_SEQUENCE_KEY.to_vec(), LAST_DIGEST_KEY.to_vec()),
        Reader::Town(id) => (
            format!("last_sequence:{id}").into_bytes(),
            format!("last_digest:{id}").into_bytes(),
        ),
    }
}

fn decode_sequence(value: Option<sled::IVec>) -> u64 {
    value
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

fn check_tx_sequence(meta: &TransactionalTree, reader: &Reader, signed: Signed) -> TxResult<()> {
    let (sequence_key, digest_key) = sequence_keys(reader);
    let last = decode_sequence(meta.get(&sequence_key)?);
    let digest = meta
        .get(&digest_key)?
        .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok());
    check_sequence(signed, last, digest).map_err(ConflictableTransactionError::Abort)?;
    meta.insert(sequence_key, &signed.sequence.to_be_bytes()[..])?;
    meta.insert(digest_key, &signed.digest[..])?;
    Ok(())
}

fn corrupt_addressing(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A tip's addressing inside a transaction, and how many pieces it takes (0: none, the
/// county alone reads the tip).
fn tx_addressing(tree: &TransactionalTree, id: &[u8; 8]) -> TxResult<(Option<Addressing>, u32)> {
    let mut bytes = Vec::new();
    let mut pieces = 0u32;
    while let Some(piece) = tree.get(entry_key(id, pieces))? {
        bytes.extend_from_slice(&piece);
        pieces += 1;
    }
    if pieces == 0 {
        return Ok((None, 0));
    }
    let addressing = Addressing::decode(&bytes)
        .map_err(|e| ConflictableTransactionError::Abort(corrupt_addressing(e)))?;
    Ok((Some(addressing), pieces))
}

/// Writes a tip's addressing in pieces of at most 4 KiB, dropping pieces it no longer needs.
fn put_addressing(
    tree: &TransactionalTree,
    id: &[u8; 8],
    addressing: &Addressing,
    old_pieces: u32,
) -> TxResult<()> {
    let bytes = addressing.encode();
    let pieces = chunk_count(bytes.len());
    for (i, piece) in bytes.chunks(CHUNK_BYTES).enumerate() {
        tree.insert(&entry_key(id, i as u32)[..], piece)?;
    }
    for i in pieces..old_pieces {
        tree.remove(&entry_key(id, i)[..])?;
    }
    Ok(())
}

/// A tip named in a signed bundle of some reader.
struct Named {
    record: Record,
    /// `None`: the county alone reads the tip.
    addressing: Option<Addressing>,
    pieces: u32,
}

impl Named {
    /// The addressing to apply the rules to (the county alone for a tip without one).
    fn rules(&self) -> Addressing {
        self.addressing.clone().unwrap_or_default()
    }
}

/// The tip `id` as `reader` may name it in a signed bundle. A town office is told the same
/// about a tip it may not read and a tip that does not exist.
fn tx_named(
    tips: &TransactionalTree,
    addressing: &TransactionalTree,
    reader: &Reader,
    id: TipId,
) -> TxResult<Named> {
    let record = match (tips.get(id.0)?, reader) {
        (Some(bytes), _) => Record::decode(&bytes).map_err(ConflictableTransactionError::Abort)?,
        (None, Reader::Root) => return abort(StoreError::UnknownTip(id)),
        (None, Reader::Town(_)) => return abort(StoreError::NotAddressed(id)),
    };
    let (found, pieces) = tx_addressing(addressing, &id.0)?;
    let may_read = match &found {
        Some(a) => a.may_read(reader),
        None => reader == &Reader::Root,
    };
    if !may_read {
        return abort(StoreError::NotAddressed(id));
    }
    Ok(Named {
        record,
        addressing: found,
        pieces,
    })
}

/// Deletes the stanza and carried copy of move `index`, if kept; true if they were.
fn delete_move(
    moves: &TransactionalTree,
    chunks: &TransactionalTree,
    id: &[u8; 8],
    index: u32,
) -> TxResult<bool> {
    let Some(entry) = moves.remove(&entry_key(id, index)[..])? else {
        return Ok(false);
    };
    let (stanza_len, copy_len) =
        decode_move_entry(&entry).map_err(ConflictableTransactionError::Abort)?;
    delete_chunks(chunks, id, ChunkOf::MoveStanza(index), stanza_len)?;
    delete_chunks(chunks, id, ChunkOf::MoveCopy(index), copy_len)?;
    Ok(true)
}

/// Writes a sealed box as pieces inside a transaction; returns its length.
fn put_chunks(chunks: &TransactionalTree, id: &[u8; 8], of: ChunkOf, data: &[u8]) -> TxResult<u32> {
    for (i, piece) in data.chunks(CHUNK_BYTES).enumerate() {
        chunks.insert(&chunk_key(id, of, i as u32)[..], piece)?;
    }
    Ok(data.len() as u32)
}

/// Deletes the pieces of a box of `len` bytes inside a transaction.
fn delete_chunks(chunks: &TransactionalTree, id: &[u8; 8], of: ChunkOf, len: u32) -> TxResult<()> {
    for i in 0..chunk_count(len as usize) {
        chunks.remove(&chunk_key(id, of, i)[..])?;
    }
    Ok(())
}

/// The upload records of `ids`, read inside a transaction (for [`check_uploads`]).
fn tx_uploads(
    uploads: &TransactionalTree,
    ids: &[UploadId],
) -> TxResult<BTreeMap<UploadId, Upload>> {
    let mut out = BTreeMap::new();
    for id in ids {
        if let Some(raw) = uploads.get(id.0)? {
            out.insert(
                *id,
                Upload::decode(&raw).map_err(ConflictableTransactionError::Abort)?,
            );
        }
    }
    Ok(out)
}

/// What a tip holds on the server until it is acked: bytes of evidence files (of the tip
/// and its follow-ups) and follow-ups, from the `held` tree.
fn tx_held(held: &TransactionalTree, tip: &TipId) -> TxResult<Holding> {
    match held.get(tip.0)? {
        None => Ok(Holding::default()),
        Some(raw) => Holding::decode(&raw).map_err(ConflictableTransactionError::Abort),
    }
}

fn tx_set_held(held: &TransactionalTree, tip: &TipId, h: Holding) -> TxResult<()> {
    if h == Holding::default() {
        held.remove(&tip.0[..])?;
    } else {
        held.insert(&tip.0[..], &h.encode()[..])?;
    }
    Ok(())
}

/// Makes complete, unused uploads the files of `owner`, all or nothing, and counts what the
/// tip then holds (a follow-up, and the files' bytes) against what one tip may hold.
fn tx_attach(
    uploads: &TransactionalTree,
    files: &TransactionalTree,
    held: &TransactionalTree,
    ids: &[UploadId],
    owner: Owner,
) -> TxResult<()> {
    let mut holding = tx_held(held, &owner.tip)?;
    if owner.n > 0 {
        holding = holding
            .with_followup()
            .map_err(ConflictableTransactionError::Abort)?;
    }
    if !ids.is_empty() {
        let found = tx_uploads(uploads, ids)?;
        let checked = check_uploads(ids, |id| Ok(found.get(id).cloned()))
            .map_err(ConflictableTransactionError::Abort)?;
        let bytes: u64 = checked.iter().map(|u| u.bytes).sum();
        holding = holding
            .with_file_bytes(bytes)
            .map_err(ConflictableTransactionError::Abort)?;
        for (id, mut upload) in ids.iter().zip(checked) {
            upload.owner = Some(owner);
            uploads.insert(&id.0[..], upload.encode())?;
        }
        files.insert(&files_key(&owner.tip, owner.n)[..], encode_files(ids))?;
    }
    tx_set_held(held, &owner.tip, holding)
}

/// The pieces of 4 KiB chunk `i` of `upload` is stored in.
fn pieces_of_chunk(upload: &Upload, i: u32) -> u16 {
    upload
        .chunk_len(i)
        .map_or(0, |len| len.div_ceil(CHUNK_BYTES) as u16)
}

/// Deletes one upload and its pieces inside a transaction.
fn tx_delete_upload(
    uploads: &TransactionalTree,
    pieces: &TransactionalTree,
    id: &UploadId,
) -> TxResult<u64> {
    let Some(raw) = uploads.remove(&id.0[..])? else {
        return Ok(0);
    };
    let upload = Upload::decode(&raw).map_err(ConflictableTransactionError::Abort)?;
    for i in 0..upload.chunks() {
        if upload.has(i) {
            for p in 0..pieces_of_chunk(&upload, i) {
                pieces.remove(&piece_key(id, i, p)[..])?;
            }
        }
    }
    Ok(upload.bytes)
}

/// Deletes the files of a tip (`n == 0`) or of its follow-up `n`; true if it had any.
fn tx_drop_files(trees: FileTrees<'_>, tip: &TipId, n: u32) -> TxResult<bool> {
    let Some(list) = trees.files.remove(&files_key(tip, n)[..])? else {
        return Ok(false);
    };
    let mut dropped = 0u64;
    for id in decode_files(&list).map_err(ConflictableTransactionError::Abort)? {
        dropped += tx_delete_upload(trees.uploads, trees.pieces, &id)?;
    }
    let holding = tx_held(trees.held, tip)?.without_file_bytes(dropped);
    tx_set_held(trees.held, tip, holding)?;
    Ok(true)
}

/// The trees that hold evidence files, inside a transaction.
#[derive(Clone, Copy)]
struct FileTrees<'a> {
    files: &'a TransactionalTree,
    uploads: &'a TransactionalTree,
    pieces: &'a TransactionalTree,
    held: &'a TransactionalTree,
}

/// Deletes a tip's own files once no office may still be handed a sealed copy of it: the
/// original is gone and no move keeps a carried copy.
fn tx_drop_unheld_files(
    trees: FileTrees<'_>,
    moves: &TransactionalTree,
    record: &Record,
    rules: &Addressing,
    id: &TipId,
) -> TxResult<()> {
    if record.holds_tip() {
        return Ok(());
    }
    for i in 0..rules.moves().len() {
        if moves.get(&entry_key(&id.0, i as u32)[..])?.is_some() {
            return Ok(());
        }
    }
    tx_drop_files(trees, id, 0)?;
    Ok(())
}

/// Midnight (UTC) at the start of today: the only time the folder's files may show.
fn start_of_today() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(Day::today().0) * 86_400)
}

/// Sets the access and modification times of `path` (and, for a folder, of everything in
/// it) to `when`.
fn set_times_under(path: &Path, when: SystemTime, recurse: bool) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if meta.is_dir() && recurse {
        for entry in std::fs::read_dir(path)? {
            set_times_under(&entry?.path(), when, true)?;
        }
    }
    let times = std::fs::FileTimes::new()
        .set_accessed(when)
        .set_modified(when);
    std::fs::File::open(path)?.set_times(times)
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing a folder failed"))
}

/// One open sled database and its trees.
pub(super) struct Inner {
    pub(super) db: sled::Db,
    /// What makes writes durable beyond sled's own flush; held for the whole of each write.
    sync: Mutex<Syncer>,
    pub(super) meta: sled::Tree,
    tips: sled::Tree,
    pub(super) receipts: sled::Tree,
    history: sled::Tree,
    replies: sled::Tree,
    followups: sled::Tree,
    chunks: sled::Tree,
    pub(super) addressing: sled::Tree,
    pub(super) moves: sled::Tree,
    uploads: sled::Tree,
    upload_chunks: sled::Tree,
    files: sled::Tree,
    /// Tip id -> [`Holding`]: what the tip holds until it is acked.
    held: sled::Tree,
    pub(super) stubs: sled::Tree,
    batches: sled::Tree,
    intake_counts: sled::Tree,
}

/// What one reader is to get of one tip, found before any ciphertext is read.
struct Share {
    /// The original sealed tip (and its sealed reply key).
    original: bool,
    /// The move whose stanza and carried copy.
    copy: Option<u32>,
    /// These follow-ups.
    followups: Vec<u32>,
}

impl Share {
    fn is_empty(&self) -> bool {
        !self.original && self.copy.is_none() && self.followups.is_empty()
    }
}

impl Inner {
    /// Opens the database in `path` as it is, without looking at its content. A database
    /// that was just closed may stay locked a moment, so opening is retried for a while.
    fn open(path: &Path) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .flush_every_ms(None)
            .cache_capacity(CACHE_BYTES);
        let mut tries = 0;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(_) if tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(StoreError::Backend(format!(
                        "cannot open the data folder {} ({e}); is another whistlebox using it?",
                        path.display()
                    )))
                }
            }
        };
        Ok(Self {
            sync: Mutex::new(Syncer::new(path)?),
            meta: db.open_tree("meta")?,
            tips: db.open_tree("tips")?,
            receipts: db.open_tree("receipts")?,
            history: db.open_tree("history")?,
            replies: db.open_tree("replies")?,
            followups: db.open_tree("followups")?,
            chunks: db.open_tree("chunks")?,
            addressing: db.open_tree("addressing")?,
            moves: db.open_tree("moves")?,
            uploads: db.open_tree("uploads")?,
            upload_chunks: db.open_tree("upload_chunks")?,
            files: db.open_tree("files")?,
            held: db.open_tree("held")?,
            stubs: db.open_tree("stubs")?,
            batches: db.open_tree("batches")?,
            intake_counts: db.open_tree("intake_counts")?,
            db,
        })
    }

    /// Starts a write: writes run one at a time.
    fn begin_write(&self) -> MutexGuard<'_, Syncer> {
        self.sync.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes everything written so far durable, power cuts included.
    fn durable(&self, sync: &mut Syncer) -> Result<(), StoreError> {
        self.db.flush()?;
        sync.sync()
    }

    fn tip_id_for(&self, lookup: &ReceiptLookup) -> Result<Option<TipId>, StoreError> {
        match self.receipts.get(lookup.0)? {
            None => Ok(None),
            Some(id) => <[u8; 8]>::try_from(id.as_ref())
                .map(|id| Some(TipId(id)))
                .map_err(|_| StoreError::Corrupt("a receipt entry is damaged".into())),
        }
    }

    /// Reads back a sealed box of `len` bytes from its pieces.
    fn read_chunks(&self, id: &[u8; 8], of: ChunkOf, len: u32) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..chunk_count(len as usize) {
            let piece = self
                .chunks
                .get(chunk_key(id, of, i))?
                .ok_or_else(|| StoreError::Corrupt("a piece of a sealed box is missing".into()))?;
            out.extend_from_slice(&piece);
        }
        if out.len() != len as usize {
            return Err(StoreError::Corrupt(
                "a sealed box has the wrong length".into(),
            ));
        }
        Ok(out)
    }

    fn sealed_tip(&self, id: &[u8; 8], held: Held) -> Result<Option<SealedTip>, StoreError> {
        match held {
            Held::Nothing => Ok(None),
            Held::Inline(tip) => Ok(Some(tip)),
            Held::Chunked(len) => {
                SealedTip::from_bytes(self.read_chunks(id, ChunkOf::Tip, len)?, usize::MAX)
                    .map(Some)
                    .map_err(|_| StoreError::Corrupt("a sealed tip is damaged".into()))
            }
        }
    }

    /// The payload of a follow-up or reply entry, from its pieces if it was cut.
    fn entry_box(
        &self,
        id: &[u8; 8],
        of: ChunkOf,
        value: &[u8],
    ) -> Result<(Day, Vec<u8>), StoreError> {
        match decode_box_entry(value)? {
            (day, EntryBody::Inline(payload)) => Ok((day, payload.to_vec())),
            (day, EntryBody::Chunked(len)) => Ok((day, self.read_chunks(id, of, len)?)),
        }
    }

    /// Entries of a tip in one tree: (number, day, payload).
    fn entries(
        &self,
        tree: &sled::Tree,
        id: &[u8; 8],
        kind: fn(u32) -> ChunkOf,
    ) -> Result<Vec<(u32, Day, Vec<u8>)>, StoreError> {
        tree.scan_prefix(id)
            .take(MAX_ENTRIES)
            .map(|item| {
                let (key, value) = item?;
                let (_, n) = split_entry_key(&key)?;
                let (day, payload) = self.entry_box(id, kind(n), &value)?;
                Ok((n, day, payload))
            })
            .collect()
    }

    /// What each tip holds, counted from its follow-ups and its lists of files.
    fn holdings(&self) -> Result<BTreeMap<[u8; 8], Holding>, StoreError> {
        let mut out: BTreeMap<[u8; 8], Holding> = BTreeMap::new();
        for key in self.followups.iter().keys() {
            let (id, _) = split_entry_key(&key?)?;
            out.entry(id).or_default().followups += 1;
        }
        for item in self.files.iter() {
            let (key, list) = item?;
            let (id, _) = split_entry_key(&key)?;
            for upload in decode_files(&list)? {
                let bytes = match self.uploads.get(upload.0)? {
                    Some(raw) => Upload::decode(&raw)?.bytes,
                    None => 0,
                };
                out.entry(id).or_default().file_bytes += bytes;
            }
        }
        Ok(out)
    }

    /// Makes the `held` tree say what the tips hold (folders of format 4 and older have
    /// none; a crash cannot leave it wrong, but this costs one pass at start).
    fn rebuild_held(&self) -> Result<(), StoreError> {
        let expected = self.holdings()?;
        let mut batch = sled::Batch::default();
        for key in self.held.iter().keys() {
            batch.remove(key?);
        }
        for (id, h) in &expected {
            batch.insert(&id[..], &h.encode()[..]);
        }
        self.held.apply_batch(batch)?;
        self.durable(&mut self.begin_write())
    }

    /// The blobs of a tip's (`n == 0`) or follow-up's files, in order.
    fn files_of(&self, tip: &TipId, n: u32) -> Result<Vec<Vec<u8>>, StoreError> {
        let Some(list) = self.files.get(files_key(tip, n))? else {
            return Ok(Vec::new());
        };
        decode_files(&list)?
            .iter()
            .map(|id| {
                let upload = self
                    .uploads
                    .get(id.0)?
                    .ok_or_else(|| StoreError::Corrupt("a file's upload went missing".into()))
                    .and_then(|raw| Upload::decode(&raw))?;
                let mut blob = Vec::with_capacity(upload.bytes as usize);
                for item in self.upload_chunks.scan_prefix(id.0) {
                    blob.extend_from_slice(&item?.1);
                }
                if blob.len() as u64 != upload.bytes {
                    return Err(StoreError::Corrupt("a file is missing pieces".into()));
                }
                Ok(blob)
            })
            .collect()
    }

    /// A tip's addressing; `None` for a tip the county alone reads.
    fn addressing_of(&self, id: &[u8; 8]) -> Result<Option<Addressing>, StoreError> {
        let mut bytes = Vec::new();
        let mut pieces = 0u32;
        for item in self.addressing.scan_prefix(id) {
            let (key, piece) = item?;
            if split_entry_key(&key)?.1 != pieces {
                return Err(StoreError::Corrupt(
                    "a piece of an addressing record is missing".into(),
                ));
            }
            bytes.extend_from_slice(&piece);
            pieces += 1;
        }
        if pieces == 0 {
            return Ok(None);
        }
        Addressing::decode(&bytes)
            .map(Some)
            .map_err(corrupt_addressing)
    }

    /// The key stanza and carried copy of move `index` of a tip, if kept.
    fn move_extras(
        &self,
        id: &[u8; 8],
        index: u32,
    ) -> Result<Option<(Vec<u8>, SealedTip)>, StoreError> {
        let Some(entry) = self.moves.get(entry_key(id, index))? else {
            return Ok(None);
        };
        let (stanza_len, copy_len) = decode_move_entry(&entry)?;
        let stanza = self.read_chunks(id, ChunkOf::MoveStanza(index), stanza_len)?;
        let copy = SealedTip::from_bytes(
            self.read_chunks(id, ChunkOf::MoveCopy(index), copy_len)?,
            usize::MAX,
        )
        .map_err(|_| StoreError::Corrupt("a moved copy of a tip is damaged".into()))?;
        Ok(Some((stanza, copy)))
    }

    /// What `reader` is to get of a tip; `None` if it may not read it.
    fn share(
        &self,
        reader: &Reader,
        id: &[u8; 8],
        record: &Record,
        addressing: Option<&Addressing>,
    ) -> Result<Option<Share>, StoreError> {
        let county_alone = Addressing::default();
        let rules = match addressing {
            Some(a) => a,
            None if reader == &Reader::Root => &county_alone,
            None => return Ok(None),
        };
        if !rules.may_read(reader) {
            return Ok(None);
        }
        let copy = match rules.wants_copy(reader) {
            Some(i) if self.moves.contains_key(entry_key(id, i as u32))? => Some(i as u32),
            _ => None,
        };
        let mut followups = Vec::new();
        for item in self.followups.scan_prefix(id) {
            let (key, _) = item?;
            let (_, n) = split_entry_key(&key)?;
            if rules.wants_followup(reader, n) {
                followups.push(n);
                if followups.len() == MAX_ENTRIES {
                    break;
                }
            }
        }
        Ok(Some(Share {
            original: rules.wants_original(reader) && record.holds_tip(),
            copy,
            followups,
        }))
    }

    fn history_of(&self, id: &[u8; 8]) -> Result<Vec<(Day, Status)>, StoreError> {
        self.history
            .scan_prefix(id)
            .take(MAX_ENTRIES)
            .map(|item| {
                let (_, value) = item?;
                let (day, payload) = decode_entry(&value)?;
                let status = payload
                    .first()
                    .and_then(|c| Status::from_code(*c))
                    .ok_or_else(|| StoreError::Corrupt("a history entry is damaged".into()))?;
                Ok((day, status))
            })
            .collect()
    }

    /// Stores a tip in one transaction (see `TipStore::insert`).
    fn insert(&self, tip: &NewTip) -> Result<TipId, StoreError> {
        let addressing = match tip.towns.is_empty() {
            true => None,
            false => Some(Addressing::new(tip.towns.clone()).map_err(StoreError::TooManyTowns)?),
        };
        (
            &self.tips,
            &self.receipts,
            &self.chunks,
            &self.addressing,
            &self.uploads,
            &self.files,
            &self.held,
        )
            .transaction(
                |(tips, receipts, chunks, addressing_tree, uploads, files, held)| {
                    if receipts.get(tip.lookup.0)?.is_some() {
                        return abort(StoreError::LookupTaken);
                    }
                    let mut id = TipId::random();
                    while tips.get(id.0)?.is_some() {
                        id = TipId::random();
                    }
                    let len = put_chunks(chunks, &id.0, ChunkOf::Tip, tip.sealed.as_bytes())?;
                    let record = Record {
                        day: tip.day,
                        status: Status::Received,
                        history_count: 0,
                        reply_count: 0,
                        followup_count: 0,
                        sealed_reply_key: Some(tip.sealed_reply_key.clone()),
                        sealed: Held::Chunked(len),
                    };
                    tips.insert(&id.0[..], record.encode())?;
                    receipts.insert(&tip.lookup.0[..], &id.0[..])?;
                    if let Some(a) = &addressing {
                        put_addressing(addressing_tree, &id.0, a, 0)?;
                    }
                    tx_attach(uploads, files, held, &tip.uploads, Owner { tip: id, n: 0 })?;
                    Ok(id)
                },
            )
            .map_err(tx_err)
    }

    /// The batch a stub key belongs to.
    fn stub_batch(&self, stub: &StubKey) -> Result<Option<Batch>, StoreError> {
        let Some(number) = self.stubs.get(stub.0)? else {
            return Ok(None);
        };
        let number = <[u8; 4]>::try_from(number.as_ref())
            .map(u32::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("a printed form's entry is damaged".into()))?;
        self.batch(number)?
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt("a printed form belongs to no batch".into()))
    }

    fn batch(&self, number: u32) -> Result<Option<Batch>, StoreError> {
        self.batches
            .get(number.to_be_bytes())?
            .map(|v| Batch::decode(number, &v).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    /// Copies the live content into `fresh`, an empty database, in the current format:
    /// records of version 3, every sealed box in pieces.
    fn copy_into(&self, fresh: &Inner) -> Result<(), StoreError> {
        // sled holds unflushed writes in memory: flush as the copy goes, so a rewrite takes
        // a few MiB of memory whatever the size of the store.
        let pending = std::cell::Cell::new(0usize);
        let copied = |n: usize| -> Result<(), StoreError> {
            pending.set(pending.get() + n);
            if pending.get() >= COPY_FLUSH_BYTES {
                fresh.db.flush()?;
                pending.set(0);
            }
            Ok(())
        };
        for item in self.meta.iter() {
            let (k, v) = item?;
            fresh.meta.insert(k, v)?;
        }
        fresh
            .meta
            .insert(FORMAT_KEY, format_marker(STORE_FORMAT_VERSION))?;
        for (from, to) in [
            (&self.receipts, &fresh.receipts),
            (&self.history, &fresh.history),
            (&self.chunks, &fresh.chunks),
            (&self.addressing, &fresh.addressing),
            (&self.moves, &fresh.moves),
            (&self.uploads, &fresh.uploads),
            (&self.upload_chunks, &fresh.upload_chunks),
            (&self.files, &fresh.files),
            (&self.held, &fresh.held),
            (&self.stubs, &fresh.stubs),
            (&self.batches, &fresh.batches),
            (&self.intake_counts, &fresh.intake_counts),
        ] {
            for item in from.iter() {
                let (k, v) = item?;
                copied(v.len())?;
                to.insert(k, v)?;
            }
        }
        let put = |id: &[u8; 8], of: ChunkOf, data: &[u8]| -> Result<u32, StoreError> {
            for (i, piece) in data.chunks(CHUNK_BYTES).enumerate() {
                fresh.chunks.insert(chunk_key(id, of, i as u32), piece)?;
                copied(piece.len())?;
            }
            Ok(data.len() as u32)
        };
        for item in self.tips.iter() {
            let (key, value) = item?;
            let id: [u8; 8] = key
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("a tip id has the wrong length".into()))?;
            let mut record = Record::decode(&value)?;
            if let Held::Inline(tip) = &record.sealed {
                record.sealed = Held::Chunked(put(&id, ChunkOf::Tip, tip.as_bytes())?);
            }
            fresh.tips.insert(key, record.encode())?;
        }
        for (from, to, kind) in [
            (
                &self.followups,
                &fresh.followups,
                ChunkOf::Followup as fn(u32) -> ChunkOf,
            ),
            (
                &self.replies,
                &fresh.replies,
                ChunkOf::Reply as fn(u32) -> ChunkOf,
            ),
        ] {
            for item in from.iter() {
                let (key, value) = item?;
                let (id, n) = split_entry_key(&key)?;
                match decode_box_entry(&value)? {
                    (_, EntryBody::Chunked(_)) => {
                        to.insert(key, value)?;
                    }
                    (day, EntryBody::Inline(payload)) => {
                        let len = put(&id, kind(n), payload)?;
                        to.insert(key, &encode_chunked_entry(day, len)[..])?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A month's count of one channel as stored: a big-endian u64 (none yet: 0).
fn decode_count(value: Option<&[u8]>) -> Result<u64, StoreError> {
    match value {
        None => Ok(0),
        Some(v) => <[u8; 8]>::try_from(v)
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("a count of entered tips is damaged".into())),
    }
}

fn tip_id_of(key: &[u8]) -> Result<TipId, StoreError> {
    key.try_into()
        .map(TipId)
        .map_err(|_| StoreError::Corrupt("a tip id has the wrong length".into()))
}

fn split_entry_key(key: &[u8]) -> Result<([u8; 8], u32), StoreError> {
    let bad = || StoreError::Corrupt("an entry key is damaged".into());
    let id: [u8; 8] = key
        .get(..8)
        .and_then(|k| k.try_into().ok())
        .ok_or_else(bad)?;
    let n = key
        .get(8..12)
        .and_then(|k| <[u8; 4]>::try_from(k).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(bad)?;
    Ok((id, n))
}

/// A sled database in a data folder.
pub struct SledStore {
    path: PathBuf,
    /// `None` only if a compaction failed half-way (every call then fails until a restart,
    /// which finishes or undoes it).
    inner: RwLock<Option<Inner>>,
    salt: [u8; SALT_BYTES],
    /// Dropped with the store, which stops the thread that resets file times.
    _ticker: std::sync::mpsc::Sender<()>,
    /// Uploads were deleted since the last rewrite: the next expiry pass rewrites the store
    /// so that their ciphertext leaves the disk too.
    compact_due: std::sync::atomic::AtomicBool,
}

/// How often file times are set back to the day even without a write: a file's change
/// time (ctime) cannot be set and shows the last write or reset, so this bounds what it
/// tells to "something happened in the last few minutes" (and undoes access times that
/// reads moved).
const TIMES_RESET_EVERY: Duration = Duration::from_secs(5 * 60);

/// Resets the file times under `path` every [`TIMES_RESET_EVERY`] until `stop` is dropped.
fn spawn_times_ticker(path: PathBuf) -> std::sync::mpsc::Sender<()> {
    let (stop, ticks) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            ticks.recv_timeout(TIMES_RESET_EVERY)
        {
            // Best effort: a compaction may be renaming the folder at this very moment,
            // and the next write resets the times anyway.
            let _ = reset_times_of(&path);
        }
    });
    stop
}

/// Sets the times of every file and folder of the store in `path`, and of the folder
/// holding it, to midnight (UTC) of today.
fn reset_times_of(path: &Path) -> Result<(), StoreError> {
    let when = start_of_today();
    set_times_under(path, when, true).map_err(io_err("resetting the store's file times failed"))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        set_times_under(parent, when, false)
            .map_err(io_err("resetting the data folder's times failed"))?;
    }
    Ok(())
}

/// The sibling folders a compaction uses: the fresh copy, and the old folder being retired.
fn siblings(path: &Path) -> (PathBuf, PathBuf) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store".into());
    (
        path.with_file_name(format!("{name}.new")),
        path.with_file_name(format!("{name}.old")),
    )
}

impl SledStore {
    /// Opens (or creates) the store in `path`, checks its format version, and rewrites it
    /// (see [`SledStore::compact`]), finishing or undoing a rewrite a crash interrupted.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::recover(path)?;
        let inner = Inner::open(path)?;
        match inner.meta.get(FORMAT_KEY)? {
            Some(found)
                if (OLDEST_READ_FORMAT..=STORE_FORMAT_VERSION)
                    .any(|v| found.as_ref() == format_marker(v).as_slice()) => {}
            Some(found) => {
                let shown: String = String::from_utf8_lossy(&found).chars().take(40).collect();
                return Err(StoreError::WrongFormat {
                    found: shown,
                    expected: STORE_FORMAT_VERSION,
                });
            }
            None => {
                if !inner.tips.is_empty() || !inner.receipts.is_empty() {
                    return Err(StoreError::Corrupt(
                        "tips are present but the format marker is missing".into(),
                    ));
                }
                let mut salt = [0u8; SALT_BYTES];
                crypto::random_fill(&mut salt);
                inner.meta.insert(SALT_KEY, &salt[..])?;
                // The marker goes last: a crash before it leaves a folder that starts afresh.
                inner
                    .meta
                    .insert(FORMAT_KEY, format_marker(STORE_FORMAT_VERSION))?;
                inner.durable(&mut inner.begin_write())?;
            }
        }
        if inner.meta.get(LEGACY_RECEIPTS_KEY)?.is_none() {
            // Opened for the first time by a server that files receipts under version 2:
            // every receipt already here is a version 1 one.
            let legacy = u8::from(!inner.receipts.is_empty());
            inner.meta.insert(LEGACY_RECEIPTS_KEY, &[legacy][..])?;
            inner.durable(&mut inner.begin_write())?;
        }
        let salt = inner
            .meta
            .get(SALT_KEY)?
            .and_then(|v| <[u8; SALT_BYTES]>::try_from(v.as_ref()).ok())
            .ok_or_else(|| StoreError::Corrupt("the installation salt is missing".into()))?;
        let store = Self {
            path: path.to_owned(),
            inner: RwLock::new(Some(inner)),
            salt,
            _ticker: spawn_times_ticker(path.to_owned()),
            compact_due: std::sync::atomic::AtomicBool::new(false),
        };
        store.with(|inner| inner.rebuild_held())?;
        store.compact()?;
        Ok(store)
    }

    /// Finishes or undoes a compaction a crash interrupted. The fresh copy is complete and
    /// synced before the old folder is renamed away, so: old folder gone and fresh copy
    /// present means the copy is the store; both present means the copy is unfinished.
    fn recover(path: &Path) -> Result<(), StoreError> {
        let (fresh, old) = siblings(path);
        if fresh.exists() {
            if path.exists() {
                std::fs::remove_dir_all(&fresh).map_err(io_err("removing an unfinished copy"))?;
            } else {
                std::fs::rename(&fresh, path).map_err(io_err("finishing a compaction"))?;
            }
        }
        if old.exists() && path.exists() {
            std::fs::remove_dir_all(&old).map_err(io_err("removing the old store"))?;
        }
        Ok(())
    }

    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(inner) => f(inner),
            None => Err(StoreError::Backend(
                "the store was left closed by a failed rewrite; restart whistlebox".into(),
            )),
        }
    }

    /// Runs a write: one at a time, durable when it returns, file times reset to the day.
    fn write<T>(&self, f: impl FnOnce(&Inner) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.with(|inner| {
            let mut sync = inner.begin_write();
            let out = f(inner)?;
            inner.durable(&mut sync)?;
            self.reset_times()?;
            Ok(out)
        })
    }

    /// Sets the times of every file and folder of the store, and of the folder holding it,
    /// to midnight (UTC) of today, so they say nothing finer than the day. (A file's change
    /// time, ctime, cannot be set by a process; it shows the last write or reset.)
    fn reset_times(&self) -> Result<(), StoreError> {
        reset_times_of(&self.path)
    }

    /// Rewrites the store into a fresh folder holding only live data in the current format,
    /// then puts it in place of the old one, so that nothing deleted (acked ciphertext)
    /// stays in sled's old log segments or blob files. Every reader and writer waits
    /// meanwhile. Crash-safe: see [`SledStore::recover`].
    pub fn compact(&self) -> Result<(), StoreError> {
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let (fresh_path, old_path) = siblings(&self.path);
        if fresh_path.exists() {
            std::fs::remove_dir_all(&fresh_path).map_err(io_err("removing an old copy"))?;
        }
        {
            let old = guard.as_ref().ok_or_else(|| {
                StoreError::Backend("the store is closed; restart whistlebox".into())
            })?;
            let fresh = Inner::open(&fresh_path)?;
            old.copy_into(&fresh)?;
            fresh.durable(&mut fresh.begin_write())?;
            sync_dir(&fresh_path)?;
        }
        // Closed: both databases are dropped before their folders are renamed.
        *guard = None;
        let parent = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::rename(&self.path, &old_path).map_err(io_err("retiring the old store"))?;
        sync_dir(parent)?;
        std::fs::rename(&fresh_path, &self.path)
            .map_err(io_err("putting the new store in place"))?;
        sync_dir(parent)?;
        *guard = Some(Inner::open(&self.path)?);
        std::fs::remove_dir_all(&old_path).map_err(io_err("removing the old store"))?;
        sync_dir(parent)?;
        drop(guard);
        self.reset_times()
    }

    /// Checks that every addressing record decodes and belongs to a tip, and that the store
    /// keeps a stanza and carried copy for exactly the moves that need them.
    fn verify_offices(&self, inner: &Inner, ids: &HashSet<[u8; 8]>) -> Result<(), StoreError> {
        let mut addressed = HashSet::new();
        for key in inner.addressing.iter().keys() {
            let (id, _) = split_entry_key(&key?)?;
            if !ids.contains(&id) {
                return Err(StoreError::Corrupt(
                    "an addressing record belongs to no tip".into(),
                ));
            }
            if addressed.insert(id) {
                let rules = inner.addressing_of(&id)?.expect("a piece was found");
                for index in 0..rules.moves().len() as u32 {
                    let kept = inner.move_extras(&id, index)?.is_some();
                    if kept != rules.holds_copy(index as usize) {
                        return Err(StoreError::Corrupt(format!(
                            "tip {} keeps the wrong carried copies of its moves",
                            TipId(id)
                        )));
                    }
                }
            }
        }
        for key in inner.moves.iter().keys() {
            let (id, index) = split_entry_key(&key?)?;
            let holds = match inner.addressing_of(&id)? {
                Some(rules) => rules.holds_copy(index as usize),
                None => false,
            };
            if !holds {
                return Err(StoreError::Corrupt(
                    "a moved copy belongs to no move".into(),
                ));
            }
        }
        Ok(())
    }

    /// Checks that every tip's holding record says what its follow-ups and files are.
    fn verify_held(&self, inner: &Inner) -> Result<(), StoreError> {
        let expected = inner.holdings()?;
        let mut found = BTreeMap::new();
        for item in inner.held.iter() {
            let (key, raw) = item?;
            let id: [u8; 8] = key
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("a holding record has a damaged key".into()))?;
            found.insert(id, Holding::decode(&raw)?);
        }
        if found != expected {
            return Err(StoreError::Corrupt(
                "a tip's count of held files or follow-ups is wrong".into(),
            ));
        }
        Ok(())
    }

    /// Evidence files: every list of files belongs to a tip and names uploads that say they
    /// belong to it, every used upload is in its owner's list, and every stored piece
    /// belongs to a chunk its upload marks as received.
    fn verify_files(&self, inner: &Inner, ids: &HashSet<[u8; 8]>) -> Result<(), StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(what.into());
        let mut listed = HashSet::new();
        for item in inner.files.iter() {
            let (key, list) = item?;
            let (tip, n) = split_entry_key(&key)?;
            if !ids.contains(&tip) {
                return Err(corrupt("a list of files belongs to no tip"));
            }
            for id in decode_files(&list)? {
                let upload = inner
                    .uploads
                    .get(id.0)?
                    .ok_or_else(|| corrupt("a file's upload went missing"))
                    .and_then(|raw| Upload::decode(&raw))?;
                if upload.owner != Some(Owner { tip: TipId(tip), n }) || !upload.complete() {
                    return Err(corrupt(
                        "a file's upload belongs elsewhere or is incomplete",
                    ));
                }
                listed.insert(id.0);
            }
        }
        let mut uploads = std::collections::HashMap::new();
        for item in inner.uploads.iter() {
            let (key, raw) = item?;
            let id: [u8; 16] = key
                .as_ref()
                .try_into()
                .map_err(|_| corrupt("an upload id has the wrong length"))?;
            let upload = Upload::decode(&raw)?;
            if upload.owner.is_some() && !listed.contains(&id) {
                return Err(corrupt("a used upload is in no list of files"));
            }
            uploads.insert(id, upload);
        }
        for key in inner.upload_chunks.iter().keys() {
            let key = key?;
            let (id, chunk) = match (key.get(..16), key.get(16..20)) {
                (Some(id), Some(chunk)) if key.len() == 22 => (id, chunk),
                _ => return Err(corrupt("a piece of a file has a damaged key")),
            };
            let id: [u8; 16] = id.try_into().expect("16 bytes");
            let chunk = u32::from_be_bytes(chunk.try_into().expect("4 bytes"));
            if !uploads.get(&id).is_some_and(|u| u.has(chunk)) {
                return Err(corrupt("a piece of a file belongs to no upload"));
            }
        }
        Ok(())
    }

    /// What `reader` gets of a tip in its export; `None` if it may not read it or nothing
    /// is left for it.
    fn stored_tip_for(
        &self,
        inner: &Inner,
        reader: &Reader,
        id: TipId,
        record: Record,
    ) -> Result<Option<StoredTip>, StoreError> {
        let addressing = inner.addressing_of(&id.0)?;
        let Some(share) = inner.share(reader, &id.0, &record, addressing.as_ref())? else {
            return Ok(None);
        };
        if share.is_empty() {
            return Ok(None);
        }
        let followups = share
            .followups
            .iter()
            .map(|&n| {
                let entry = inner
                    .followups
                    .get(entry_key(&id.0, n))?
                    .ok_or_else(|| StoreError::Corrupt("a follow-up went missing".into()))?;
                let (day, payload) = inner.entry_box(&id.0, ChunkOf::Followup(n), &entry)?;
                let sealed = SealedTip::from_bytes(payload, usize::MAX)
                    .map_err(|_| StoreError::Corrupt("a follow-up is damaged".into()))?;
                Ok(Followup {
                    n,
                    day,
                    sealed,
                    attachments: inner.files_of(&id, n)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let (sealed, sealed_reply_key, grant) = match share.copy {
            Some(index) => {
                let (stanza, copy) = inner.move_extras(&id.0, index)?.ok_or_else(|| {
                    StoreError::Corrupt("a moved copy of a tip went missing".into())
                })?;
                (Some(copy), None, Some(stanza))
            }
            None if share.original => (
                inner.sealed_tip(&id.0, record.sealed)?,
                record.sealed_reply_key,
                None,
            ),
            None => (None, None, None),
        };
        let attachments = match sealed {
            Some(_) => inner.files_of(&id, 0)?,
            None => Vec::new(),
        };
        Ok(Some(StoredTip {
            id,
            day: record.day,
            status: record.status,
            sealed,
            sealed_reply_key,
            grant,
            followups,
            attachments,
        }))
    }
}

impl SledStore {
    /// Deletes those of `ids` that are still waiting (not part of a report); how many.
    fn delete_waiting_uploads(&self, stale: &[UploadId]) -> Result<u64, StoreError> {
        self.write(|inner| {
            (&inner.uploads, &inner.upload_chunks)
                .transaction(|(uploads, pieces)| {
                    let mut removed = 0u64;
                    for id in stale {
                        // Used meanwhile: it is a report's file now, and stays.
                        let still_waiting = match uploads.get(id.0)? {
                            Some(raw) => Upload::decode(&raw)
                                .map_err(ConflictableTransactionError::Abort)?
                                .owner
                                .is_none(),
                            None => false,
                        };
                        if still_waiting {
                            tx_delete_upload(uploads, pieces, id)?;
                            removed += 1;
                        }
                    }
                    Ok(removed)
                })
                .map_err(tx_err)
        })
    }
}

impl TipStore for SledStore {
    fn receipt_salt(&self) -> [u8; SALT_BYTES] {
        self.salt
    }

    fn check_pepper(&self, check: &[u8; 32]) -> Result<(), StoreError> {
        let stored = self.with(|inner| Ok(inner.meta.get(PEPPER_CHECK_KEY)?))?;
        match stored {
            Some(stored) if crypto::ct_eq(&stored, check) => Ok(()),
            Some(_) => Err(StoreError::PepperMismatch),
            None => self.write(|inner| {
                inner.meta.insert(PEPPER_CHECK_KEY, &check[..])?;
                Ok(())
            }),
        }
    }

    fn insert(&self, tip: NewTip) -> Result<TipId, StoreError> {
        self.write(|inner| inner.insert(&tip))
    }

    fn legacy_receipts(&self) -> Result<bool, StoreError> {
        self.with(|inner| {
            Ok(inner
                .meta
                .get(LEGACY_RECEIPTS_KEY)?
                .is_some_and(|v| v.as_ref() != [0]))
        })
    }

    fn view(&self, lookup: &ReceiptLookup) -> Result<Option<TipView>, StoreError> {
        self.with(|inner| {
            let Some(id) = inner.tip_id_for(lookup)? else {
                return Ok(None);
            };
            let record = inner
                .tips
                .get(id.0)?
                .ok_or_else(|| StoreError::Corrupt("a receipt points at a missing tip".into()))?;
            let record = Record::decode(&record)?;
            let replies = inner
                .entries(&inner.replies, &id.0, ChunkOf::Reply)?
                .into_iter()
                .map(|(_, day, payload)| (day, payload))
                .collect();
            let addressing = inner.addressing_of(&id.0)?.unwrap_or_default();
            Ok(Some(TipView {
                day: record.day,
                status: record.status,
                history: inner.history_of(&id.0)?,
                replies,
                towns: addressing.town_readers(),
                moves: addressing.move_views(),
            }))
        })
    }

    fn add_followup_with_files(
        &self,
        lookup: &ReceiptLookup,
        day: Day,
        sealed: SealedTip,
        uploads: &[UploadId],
    ) -> Result<Option<u32>, StoreError> {
        self.write(|inner| {
            let Some(id) = inner.tip_id_for(lookup)? else {
                return Ok(None);
            };
            let n = (
                &inner.tips,
                &inner.followups,
                &inner.chunks,
                &inner.uploads,
                &inner.files,
                &inner.held,
            )
                .transaction(|(tips, followups, chunks, upload_tree, files, held)| {
                    let mut record = get_record(tips, id)?;
                    record.followup_count += 1;
                    let n = record.followup_count;
                    let len = put_chunks(chunks, &id.0, ChunkOf::Followup(n), sealed.as_bytes())?;
                    followups.insert(
                        &entry_key(&id.0, n)[..],
                        &encode_chunked_entry(day, len)[..],
                    )?;
                    tips.insert(&id.0[..], record.encode())?;
                    tx_attach(upload_tree, files, held, uploads, Owner { tip: id, n })?;
                    Ok(n)
                })
                .map_err(tx_err)?;
            Ok(Some(n))
        })
    }

    fn create_upload(&self, bytes: u64, day: Day) -> Result<UploadId, StoreError> {
        let upload = Upload::new(bytes, day)?;
        self.write(|inner| {
            let mut id = UploadId::random();
            while inner.uploads.contains_key(id.0)? {
                id = UploadId::random();
            }
            inner.uploads.insert(id.0, upload.encode())?;
            Ok(id)
        })
    }

    fn put_upload_chunk(
        &self,
        id: &UploadId,
        index: u32,
        data: &[u8],
    ) -> Result<UploadState, StoreError> {
        self.write(|inner| {
            (&inner.uploads, &inner.upload_chunks)
                .transaction(|(uploads, pieces)| {
                    let Some(raw) = uploads.get(id.0)? else {
                        return abort(StoreError::UnknownUpload);
                    };
                    let mut upload =
                        Upload::decode(&raw).map_err(ConflictableTransactionError::Abort)?;
                    upload
                        .check_chunk(index, data.len())
                        .map_err(ConflictableTransactionError::Abort)?;
                    let parts = data.chunks(CHUNK_BYTES).enumerate();
                    if upload.has(index) {
                        for (p, part) in parts {
                            let stored = pieces.get(&piece_key(id, index, p as u16)[..])?;
                            if stored.as_deref() != Some(part) {
                                return abort(StoreError::ChunkConflict);
                            }
                        }
                        return Ok(upload.state());
                    }
                    for (p, part) in parts {
                        pieces.insert(&piece_key(id, index, p as u16)[..], part)?;
                    }
                    upload.mark(index);
                    uploads.insert(&id.0[..], upload.encode())?;
                    Ok(upload.state())
                })
                .map_err(tx_err)
        })
    }

    fn upload_state(&self, id: &UploadId) -> Result<Option<UploadState>, StoreError> {
        self.with(|inner| {
            inner
                .uploads
                .get(id.0)?
                .map(|raw| Upload::decode(&raw).map(|u| u.state()))
                .transpose()
        })
    }

    fn pending_uploads(&self) -> Result<Pending, StoreError> {
        self.with(|inner| {
            let mut pending = Pending::default();
            for item in inner.uploads.iter() {
                let upload = Upload::decode(&item?.1)?;
                if upload.owner.is_none() {
                    pending.uploads += 1;
                    pending.bytes = pending.bytes.saturating_add(upload.received_bytes());
                }
            }
            Ok(pending)
        })
    }

    fn discard_uploads(&self, ids: &[UploadId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        if self.delete_waiting_uploads(ids)? > 0 {
            self.compact_due
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    fn expire_uploads(&self, before: Day) -> Result<u64, StoreError> {
        let stale = self.with(|inner| {
            let mut stale = Vec::new();
            for item in inner.uploads.iter() {
                let (key, raw) = item?;
                let upload = Upload::decode(&raw)?;
                if upload.owner.is_none() && upload.day < before {
                    let id: [u8; 16] = key.as_ref().try_into().map_err(|_| {
                        StoreError::Corrupt("an upload id has the wrong length".into())
                    })?;
                    stale.push(UploadId(id));
                }
            }
            Ok(stale)
        })?;
        let removed = match stale.is_empty() {
            true => 0,
            false => self.delete_waiting_uploads(&stale)?,
        };
        // What expired or was taken off a list must leave the disk too.
        let due = self
            .compact_due
            .swap(false, std::sync::atomic::Ordering::Relaxed);
        if removed > 0 || due {
            self.compact()?;
        }
        Ok(removed)
    }
    fn export_ids_for(&self, reader: &Reader) -> Result<Vec<TipId>, StoreError> {
        self.with(|inner| {
            // The county may read every tip; a town only tips with an addressing record.
            let candidates: Vec<TipId> = match reader {
                Reader::Root => inner
                    .tips
                    .iter()
                    .keys()
                    .map(|key| tip_id_of(&key?))
                    .collect::<Result<_, _>>()?,
                Reader::Town(_) => {
                    let mut ids = Vec::new();
                    for key in inner.addressing.iter().keys() {
                        let (id, piece) = split_entry_key(&key?)?;
                        if piece == 0 {
                            ids.push(TipId(id));
                        }
                    }
                    ids
                }
            };
            let mut ids = Vec::new();
            for id in candidates {
                let record = inner.tips.get(id.0)?.ok_or_else(|| {
                    StoreError::Corrupt("an addressing record belongs to no tip".into())
                })?;
                let record = Record::decode(&record)?;
                let addressing = inner.addressing_of(&id.0)?;
                if inner
                    .share(reader, &id.0, &record, addressing.as_ref())?
                    .is_some_and(|s| !s.is_empty())
                {
                    ids.push(id);
                }
            }
            Ok(ids)
        })
    }

    fn export_tip_for(&self, reader: &Reader, id: TipId) -> Result<Option<StoredTip>, StoreError> {
        self.with(|inner| match inner.tips.get(id.0)? {
            None => Ok(None),
            Some(value) => self.stored_tip_for(inner, reader, id, Record::decode(&value)?),
        })
    }

    fn last_sequence_for(&self, reader: &Reader) -> Result<u64, StoreError> {
        let (key, _) = sequence_keys(reader);
        self.with(|inner| Ok(decode_sequence(inner.meta.get(key)?)))
    }

    fn apply_updates(
        &self,
        signed: Signed,
        reader: &Reader,
        day: Day,
        updates: &[Update],
    ) -> Result<(), StoreError> {
        self.write(|inner| {
            (
                &inner.meta,
                &inner.tips,
                &inner.history,
                &inner.replies,
                &inner.chunks,
                &inner.addressing,
            )
                .transaction(|(meta, tips, history, replies, chunks, addressing)| {
                    check_tx_sequence(meta, reader, signed)?;
                    for update in updates {
                        let mut record = tx_named(tips, addressing, reader, update.tip)?.record;
                        record.status = update.status;
                        record.history_count += 1;
                        let key = entry_key(&update.tip.0, record.history_count);
                        history.insert(&key[..], encode_entry(day, &[update.status.code()]))?;
                        if let Some(reply) = &update.reply {
                            record.reply_count += 1;
                            let n = record.reply_count;
                            let len = put_chunks(chunks, &update.tip.0, ChunkOf::Reply(n), reply)?;
                            let key = entry_key(&update.tip.0, n);
                            replies.insert(&key[..], &encode_chunked_entry(day, len)[..])?;
                        }
                        tips.insert(&update.tip.0[..], record.encode())?;
                    }
                    Ok(())
                })
                .map_err(tx_err)
        })
    }

    fn apply_ack(
        &self,
        signed: Signed,
        reader: &Reader,
        acks: &[Ack],
    ) -> Result<Purged, StoreError> {
        let purged = self.write(|inner| {
            (
                &inner.meta,
                &inner.tips,
                &inner.followups,
                &inner.chunks,
                &inner.addressing,
                &inner.moves,
                &inner.files,
                &inner.uploads,
                &inner.upload_chunks,
                &inner.held,
            )
                .transaction(
                    |(
                        meta,
                        tips,
                        followups,
                        chunks,
                        addressing,
                        moves,
                        files,
                        uploads,
                        pieces,
                        held,
                    )| {
                        let trees = FileTrees {
                            files,
                            uploads,
                            pieces,
                            held,
                        };
                        check_tx_sequence(meta, reader, signed)?;
                        let mut purged = Purged::default();
                        for ack in acks {
                            let id = ack.tip;
                            let named = tx_named(tips, addressing, reader, id)?;
                            let mut rules = named.rules();
                            let mut record = named.record;
                            let effect = rules
                                .ack(
                                    reader,
                                    ack.tip_sealed,
                                    &ack.followups,
                                    record.followup_count,
                                )
                                .or_else(|_| abort(StoreError::NotAddressed(id)))?;
                            if effect.original && record.holds_tip() {
                                if let Held::Chunked(len) = record.sealed {
                                    delete_chunks(chunks, &id.0, ChunkOf::Tip, len)?;
                                }
                                record.sealed = Held::Nothing;
                                record.sealed_reply_key = None;
                                tips.insert(&id.0[..], record.encode())?;
                                purged.tips += 1;
                            }
                            if let Some(index) = effect.copy {
                                if delete_move(moves, chunks, &id.0, index as u32)? {
                                    purged.copies += 1;
                                }
                            }
                            for n in effect.followups {
                                let key = entry_key(&id.0, n);
                                if let Some(old) = followups.remove(&key[..])? {
                                    if let Ok((_, EntryBody::Chunked(len))) = decode_box_entry(&old)
                                    {
                                        delete_chunks(chunks, &id.0, ChunkOf::Followup(n), len)?;
                                    }
                                    tx_drop_files(trees, &id, n)?;
                                    let holding = tx_held(held, &id)?.without_followup();
                                    tx_set_held(held, &id, holding)?;
                                    purged.followups += 1;
                                }
                            }
                            tx_drop_unheld_files(trees, moves, &record, &rules, &id)?;
                            // A tip the county alone reads needs no record: each of its acks
                            // deletes at once.
                            if named.addressing.is_some() {
                                put_addressing(addressing, &id.0, &rules, named.pieces)?;
                            }
                        }
                        Ok(purged)
                    },
                )
                .map_err(tx_err)
        })?;
        // The ack is durable; now make the deleted ciphertext leave the disk too.
        if purged != Purged::default() {
            self.compact()?;
        }
        Ok(purged)
    }

    fn propose_moves(
        &self,
        signed: Signed,
        reader: &Reader,
        day: Day,
        orders: &[MoveOrder],
    ) -> Result<Vec<MoveState>, StoreError> {
        self.write(|inner| {
            (
                &inner.meta,
                &inner.tips,
                &inner.addressing,
                &inner.moves,
                &inner.chunks,
            )
                .transaction(|(meta, tips, addressing, moves, chunks)| {
                    check_tx_sequence(meta, reader, signed)?;
                    let mut states = Vec::with_capacity(orders.len());
                    for order in orders {
                        let id = order.tip;
                        let named = tx_named(tips, addressing, reader, id)?;
                        let mut rules = named.rules();
                        let kept = rules
                            .propose(reader, order.to.clone(), day, named.record.followup_count)
                            .or_else(|reason| abort(move_refused(id, reason)))?;
                        if let Some(index) = kept {
                            let Some(carried) = &order.carried else {
                                return abort(StoreError::NothingCarried(id));
                            };
                            let index = index as u32;
                            let stanza_len = put_chunks(
                                chunks,
                                &id.0,
                                ChunkOf::MoveStanza(index),
                                &carried.stanza,
                            )?;
                            let copy_len = put_chunks(
                                chunks,
                                &id.0,
                                ChunkOf::MoveCopy(index),
                                carried.sealed.as_bytes(),
                            )?;
                            moves.insert(
                                &entry_key(&id.0, index)[..],
                                &encode_move_entry(stanza_len, copy_len)[..],
                            )?;
                        }
                        put_addressing(addressing, &id.0, &rules, named.pieces)?;
                        states.push(rules.moves().last().expect("just added").state);
                    }
                    Ok(states)
                })
                .map_err(tx_err)
        })
    }

    fn decide_move(
        &self,
        lookup: &ReceiptLookup,
        to: &OfficeId,
        agree: bool,
        day: Day,
        grant: Option<Vec<u8>>,
    ) -> Result<Option<MoveDecision>, StoreError> {
        let decision = self.write(|inner| {
            let Some(id) = inner.tip_id_for(lookup)? else {
                return Ok(None);
            };
            (
                &inner.tips,
                &inner.addressing,
                &inner.moves,
                &inner.chunks,
                &inner.files,
                &inner.uploads,
                &inner.upload_chunks,
                &inner.held,
            )
                .transaction(
                    |(tips, addressing, moves, chunks, files, uploads, blob_pieces, held)| {
                        let record = get_record(tips, id)?;
                        let (found, pieces) = tx_addressing(addressing, &id.0)?;
                        let Some(mut rules) = found else {
                            return abort(StoreError::NoMoveWaiting);
                        };
                        let (index, decision) = rules
                            .decide(to, agree, day, record.followup_count)
                            .or_else(|_| abort(StoreError::NoMoveWaiting))?;
                        let index = index as u32;
                        if !agree {
                            delete_move(moves, chunks, &id.0, index)?;
                            let trees = FileTrees {
                                files,
                                uploads,
                                pieces: blob_pieces,
                                held,
                            };
                            tx_drop_unheld_files(trees, moves, &record, &rules, &id)?;
                        } else if let Some(grant) = &grant {
                            let Some(entry) = moves.get(&entry_key(&id.0, index)[..])? else {
                                return abort(StoreError::NoMoveWaiting);
                            };
                            let (stanza_len, copy_len) = decode_move_entry(&entry)
                                .map_err(ConflictableTransactionError::Abort)?;
                            delete_chunks(chunks, &id.0, ChunkOf::MoveStanza(index), stanza_len)?;
                            let len = put_chunks(chunks, &id.0, ChunkOf::MoveStanza(index), grant)?;
                            moves.insert(
                                &entry_key(&id.0, index)[..],
                                &encode_move_entry(len, copy_len)[..],
                            )?;
                        }
                        put_addressing(addressing, &id.0, &rules, pieces)?;
                        Ok(Some(decision))
                    },
                )
                .map_err(tx_err)
        })?;
        // Declined: the carried copy and stanza must leave the disk too.
        if decision.is_some() && !agree {
            self.compact()?;
        }
        Ok(decision)
    }

    fn waiting_grant(
        &self,
        lookup: &ReceiptLookup,
        to: &OfficeId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|inner| {
            let Some(id) = inner.tip_id_for(lookup)? else {
                return Ok(None);
            };
            let Some(rules) = inner.addressing_of(&id.0)? else {
                return Ok(None);
            };
            let Some(index) = rules
                .moves()
                .iter()
                .position(|m| m.to.town() == Some(to) && m.state == MoveState::Waiting)
            else {
                return Ok(None);
            };
            Ok(inner
                .move_extras(&id.0, index as u32)?
                .map(|(stanza, _)| stanza))
        })
    }

    fn register_batch(&self, day: Day, stubs: &[StubKey]) -> Result<Batch, StoreError> {
        check_batch(stubs)?;
        self.write(|inner| {
            // Writes run one at a time, so the next number cannot be taken meanwhile.
            let number = match inner.batches.last()? {
                Some((key, _)) => <[u8; 4]>::try_from(key.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("a batch number is damaged".into()))?
                    .checked_add(1)
                    .ok_or_else(|| StoreError::Corrupt("too many batches".into()))?,
                None => 1,
            };
            let batch = Batch {
                number,
                made_on: day,
                forms: stubs.len() as u32,
                voided_on: None,
            };
            (&inner.stubs, &inner.batches)
                .transaction(|(stub_tree, batch_tree)| {
                    for stub in stubs {
                        if stub_tree
                            .insert(&stub.0[..], &number.to_be_bytes()[..])?
                            .is_some()
                        {
                            return abort(StoreError::StubTaken);
                        }
                    }
                    batch_tree.insert(&number.to_be_bytes()[..], batch.encode())?;
                    Ok(())
                })
                .map_err(tx_err)?;
            Ok(batch)
        })
    }

    fn stub_batch(&self, stub: &StubKey) -> Result<Option<Batch>, StoreError> {
        self.with(|inner| inner.stub_batch(stub))
    }

    fn batches(&self) -> Result<Vec<Batch>, StoreError> {
        self.with(|inner| {
            inner
                .batches
                .iter()
                .map(|item| {
                    let (key, value) = item?;
                    let number = <[u8; 4]>::try_from(key.as_ref())
                        .map(u32::from_be_bytes)
                        .map_err(|_| StoreError::Corrupt("a batch number is damaged".into()))?;
                    Batch::decode(number, &value).map_err(|e| StoreError::Corrupt(e.to_string()))
                })
                .collect()
        })
    }

    fn void_batch(&self, number: u32, day: Day) -> Result<Option<Batch>, StoreError> {
        self.write(|inner| {
            let Some(mut batch) = inner.batch(number)? else {
                return Ok(None);
            };
            if batch.voided_on.is_none() {
                batch.voided_on = Some(day);
                inner.batches.insert(number.to_be_bytes(), batch.encode())?;
            }
            Ok(Some(batch))
        })
    }

    fn insert_entered(&self, tip: NewTip, stub: Option<&StubKey>) -> Result<TipId, StoreError> {
        self.write(|inner| {
            // Writes run one at a time: the batch cannot be withdrawn between this look and
            // the insert.
            if let Some(stub) = stub {
                stub_refusal(inner.stub_batch(stub)?)?;
            }
            inner.insert(&tip)
        })
    }

    fn add_intake_counts(&self, counts: &[(String, Channel, u64)]) -> Result<(), StoreError> {
        self.write(|inner| {
            inner
                .intake_counts
                .transaction(|tree| {
                    for (month, channel, n) in counts {
                        let key = count_key(month, *channel);
                        let before = decode_count(tree.get(&key)?.as_deref())
                            .map_err(ConflictableTransactionError::Abort)?;
                        tree.insert(&key[..], &(before + n).to_be_bytes()[..])?;
                    }
                    Ok(())
                })
                .map_err(tx_err)
        })
    }

    fn monthly_counts(&self) -> Result<BTreeMap<String, MonthCounts>, StoreError> {
        self.with(|inner| {
            let mut months: BTreeMap<String, MonthCounts> = BTreeMap::new();
            for item in inner.tips.iter() {
                let (_, value) = item?;
                months
                    .entry(month_of(Record::day_of(&value)?))
                    .or_default()
                    .received += 1;
            }
            for item in inner.history.iter() {
                let (_, value) = item?;
                let (day, payload) = decode_entry(&value)?;
                if let Some(status) = payload.first().and_then(|c| Status::from_code(*c)) {
                    *months
                        .entry(month_of(day))
                        .or_default()
                        .reached
                        .entry(status.as_str())
                        .or_default() += 1;
                }
            }
            for item in inner.intake_counts.iter() {
                let (key, value) = item?;
                let (month, channel) = split_count_key(&key)
                    .ok_or_else(|| StoreError::Corrupt("a count key is damaged".into()))?;
                let n = decode_count(Some(&value))?;
                months.entry(month).or_default().entered.insert(channel, n);
            }
            Ok(months)
        })
    }

    fn verify(&self) -> Result<StoreSummary, StoreError> {
        self.with(|inner| {
            let mut ids = HashSet::new();
            for item in inner.tips.iter() {
                let (key, value) = item?;
                let id: [u8; 8] = key
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("a tip id has the wrong length".into()))?;
                Record::decode(&value)?;
                ids.insert(id);
            }
            let mut receipts = 0u64;
            for item in inner.receipts.iter() {
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
            for tree in [&inner.history, &inner.replies, &inner.followups] {
                for item in tree.iter() {
                    let (key, value) = item?;
                    let id: Option<[u8; 8]> = key.get(..8).and_then(|k| k.try_into().ok());
                    if key.len() != 12 || !id.is_some_and(|id| ids.contains(&id)) {
                        return Err(StoreError::Corrupt("an entry belongs to no tip".into()));
                    }
                    if std::ptr::eq(tree, &inner.history) {
                        decode_entry(&value)?;
                        continue;
                    }
                    let (id, n) = split_entry_key(&key)?;
                    let of = if std::ptr::eq(tree, &inner.followups) {
                        ChunkOf::Followup(n)
                    } else {
                        ChunkOf::Reply(n)
                    };
                    let (_, payload) = inner.entry_box(&id, of, &value)?;
                    if matches!(of, ChunkOf::Followup(_))
                        && SealedTip::from_bytes(payload, usize::MAX).is_err()
                    {
                        return Err(StoreError::Corrupt("a follow-up is damaged".into()));
                    }
                }
            }
            self.verify_offices(inner, &ids)?;
            self.verify_files(inner, &ids)?;
            self.verify_held(inner)?;
            verify_intake(inner)?;
            Ok(StoreSummary {
                tips: ids.len() as u64,
                receipts,
            })
        })
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.with(|inner| {
            let mut counts = StoreCounts::default();
            let mut with_copy = HashSet::new();
            for key in inner.moves.iter().keys() {
                with_copy.insert(split_entry_key(&key?)?.0);
            }
            for item in inner.tips.iter() {
                let (key, value) = item?;
                counts.tips += 1;
                if Record::decode(&value)?.holds_tip() || with_copy.contains(key.as_ref()) {
                    counts.sealed_held += 1;
                }
            }
            counts.followups_held = inner.followups.len() as u64;
            for item in inner.files.iter() {
                counts.files_held += decode_files(&item?.1)?.len() as u64;
            }
            for item in inner.uploads.iter() {
                if Upload::decode(&item?.1)?.owner.is_none() {
                    counts.uploads_pending += 1;
                }
            }
            Ok(counts)
        })
    }

    fn bytes_on_disk(&self) -> Result<u64, StoreError> {
        self.with(|inner| Ok(inner.db.size_on_disk()?))
    }
}

/// Checks that every batch record decodes, every printed form belongs to a batch that counts
/// it, and every count of entered tips decodes.
fn verify_intake(inner: &Inner) -> Result<(), StoreError> {
    let mut forms: BTreeMap<u32, u32> = BTreeMap::new();
    for item in inner.stubs.iter() {
        let (key, _) = item?;
        let stub = <[u8; 32]>::try_from(key.as_ref())
            .map(StubKey)
            .map_err(|_| StoreError::Corrupt("a printed form's key is damaged".into()))?;
        let batch = inner.stub_batch(&stub)?.expect("the key was just read");
        *forms.entry(batch.number).or_default() += 1;
    }
    for item in inner.batches.iter() {
        let (key, value) = item?;
        let number = <[u8; 4]>::try_from(key.as_ref())
            .map(u32::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("a batch number is damaged".into()))?;
        let batch =
            Batch::decode(number, &value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if forms.get(&number).copied().unwrap_or(0) != batch.forms {
            return Err(StoreError::Corrupt(format!(
                "batch {} does not hold the forms it counts",
                batch.label()
            )));
        }
    }
    for item in inner.intake_counts.iter() {
        let (key, value) = item?;
        if split_count_key(&key).is_none() {
            return Err(StoreError::Corrupt("a count key is damaged".into()));
        }
        decode_count(Some(&value))?;
    }
    Ok(())
}

/// fsyncs what sled's flush leaves unsynced: its log file (sled uses `sync_file_range`, which
/// skips metadata and the drive's cache) and the blob files it writes for large values
/// (written without any fsync), with their folder.
struct Syncer {
    log: std::fs::File,
    blobs: std::path::PathBuf,
    synced: HashSet<std::ffi::OsString>,
}

impl Syncer {
    fn new(path: &Path) -> Result<Self, StoreError> {
        let log = std::fs::File::open(path.join("db"))
            .map_err(|e| StoreError::Backend(format!("cannot open the store's log: {e}")))?;
        let mut syncer = Self {
            log,
            blobs: path.join("blobs"),
            synced: HashSet::new(),
        };
        syncer.sync()?;
        Ok(syncer)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        let io = |e: std::io::Error| {
            StoreError::Backend(format!("syncing the store to disk failed: {e}"))
        };
        self.log.sync_all().map_err(io)?;
        let mut present = HashSet::new();
        let mut new_blobs = false;
        if let Ok(entries) = std::fs::read_dir(&self.blobs) {
            for entry in entries {
                let entry = entry.map_err(io)?;
                let name = entry.file_name();
                if !self.synced.contains(&name) {
                    std::fs::File::open(entry.path())
                        .and_then(|f| f.sync_all())
                        .map_err(io)?;
                    new_blobs = true;
                }
                present.insert(name);
            }
        }
        if new_blobs {
            std::fs::File::open(&self.blobs)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        self.synced = present;
        Ok(())
    }
}
