//! The sled 0.34 store: trees in one database folder.
//!
//! - `meta`: format marker, installation salt, pepper check, last applied bundle;
//! - `tips`: tip id (8 bytes) -> [`Record`];
//! - `receipts`: receipt lookup (32 bytes) -> tip id;
//! - `history`, `replies`, `followups`: tip id + number (12 bytes) -> `[day][payload]`.
//!
//! sled's background flush alone would lose acknowledged writes on a crash, so every write
//! is followed by an explicit flush before it returns. That is still not enough for a power
//! cut: sled 0.34 flushes its log with `sync_file_range` (which neither syncs metadata nor
//! the drive's cache) and writes large values ("blobs", one file each) without any fsync.
//! So after the flush the log file is fsynced, and so is every blob file not yet synced, with
//! the blob folder. Writes run one at a time, so that no write can count on a blob another
//! write is still filling. Multi-tree changes run in one sled transaction, so a crash leaves
//! all of a change or none of it.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use sled::transaction::{
    abort, ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};

use super::record::{decode_entry, encode_entry, entry_key, Record};
use super::{
    check_sequence, month_of, Followup, MonthCounts, NewTip, Purged, Signed, StoreCounts,
    StoreError, StoreSummary, StoredTip, TipStore, TipView, STORE_FORMAT_VERSION,
};
use crate::crypto::{self, SALT_BYTES};
use crate::domain::receipt::ReceiptLookup;
use crate::domain::reply::{Ack, Update};
use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status, TipId};

const FORMAT_KEY: &[u8] = b"format";
const SALT_KEY: &[u8] = b"receipt_salt";
const PEPPER_CHECK_KEY: &[u8] = b"pepper_check";
const LAST_SEQUENCE_KEY: &[u8] = b"last_sequence";
const LAST_DIGEST_KEY: &[u8] = b"last_digest";
/// Most follow-ups or replies read back for one tip (bounds a status answer).
const MAX_ENTRIES: usize = 1000;

fn format_marker() -> Vec<u8> {
    format!("whistlebox-store:{STORE_FORMAT_VERSION}").into_bytes()
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

fn get_record(tips: &TransactionalTree, id: TipId) -> TxResult<Record> {
    match tips.get(id.0)? {
        Some(bytes) => Record::decode(&bytes).map_err(ConflictableTransactionError::Abort),
        None => abort(StoreError::UnknownTip(id)),
    }
}

fn check_tx_sequence(meta: &TransactionalTree, signed: Signed) -> TxResult<()> {
    let last = meta
        .get(LAST_SEQUENCE_KEY)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0);
    let digest = meta
        .get(LAST_DIGEST_KEY)?
        .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok());
    check_sequence(signed, last, digest).map_err(ConflictableTransactionError::Abort)?;
    meta.insert(LAST_SEQUENCE_KEY, &signed.sequence.to_be_bytes()[..])?;
    meta.insert(LAST_DIGEST_KEY, &signed.digest[..])?;
    Ok(())
}

/// A sled database in a data folder.
pub struct SledStore {
    pub(super) db: sled::Db,
    /// What makes writes durable beyond sled's own flush; held for the whole of each write.
    sync: std::sync::Mutex<Syncer>,
    meta: sled::Tree,
    tips: sled::Tree,
    pub(super) receipts: sled::Tree,
    history: sled::Tree,
    replies: sled::Tree,
    followups: sled::Tree,
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
        let sync = std::sync::Mutex::new(Syncer::new(path)?);
        Ok(Self {
            sync,
            history: db.open_tree("history")?,
            replies: db.open_tree("replies")?,
            followups: db.open_tree("followups")?,
            db,
            meta,
            tips,
            receipts,
            salt,
        })
    }

    fn entries(
        &self,
        tree: &sled::Tree,
        id: &[u8],
    ) -> Result<Vec<(u32, Day, Vec<u8>)>, StoreError> {
        tree.scan_prefix(id)
            .take(MAX_ENTRIES)
            .map(|item| {
                let (key, value) = item?;
                let n = key
                    .get(8..12)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes)
                    .ok_or_else(|| StoreError::Corrupt("an entry key is damaged".into()))?;
                let (day, payload) = decode_entry(&value)?;
                Ok((n, day, payload.to_vec()))
            })
            .collect()
    }

    /// Starts a write: writes run one at a time.
    fn begin_write(&self) -> std::sync::MutexGuard<'_, Syncer> {
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
                let mut sync = self.begin_write();
                self.meta.insert(PEPPER_CHECK_KEY, &check[..])?;
                self.durable(&mut sync)?;
                Ok(())
            }
        }
    }

    fn insert(&self, tip: NewTip) -> Result<TipId, StoreError> {
        let mut sync = self.begin_write();
        let record = Record {
            day: tip.day,
            status: Status::Received,
            history_count: 0,
            reply_count: 0,
            followup_count: 0,
            sealed_reply_key: Some(tip.sealed_reply_key.clone()),
            sealed: Some(tip.sealed.clone()),
        }
        .encode();
        let id = (&self.tips, &self.receipts)
            .transaction(|(tips, receipts)| {
                if receipts.get(tip.lookup.0)?.is_some() {
                    return abort(StoreError::LookupTaken);
                }
                let mut id = TipId::random();
                while tips.get(id.0)?.is_some() {
                    id = TipId::random();
                }
                tips.insert(&id.0[..], record.as_slice())?;
                receipts.insert(&tip.lookup.0[..], &id.0[..])?;
                Ok(id)
            })
            .map_err(tx_err)?;
        self.durable(&mut sync)?;
        Ok(id)
    }

    fn view(&self, lookup: &ReceiptLookup) -> Result<Option<TipView>, StoreError> {
        let Some(id) = self.tip_id_for(lookup)? else {
            return Ok(None);
        };
        let record = self
            .tips
            .get(id.0)?
            .ok_or_else(|| StoreError::Corrupt("a receipt points at a missing tip".into()))?;
        let record = Record::decode(&record)?;
        let history = self
            .entries(&self.history, &id.0)?
            .into_iter()
            .map(|(_, day, payload)| {
                let status = payload
                    .first()
                    .and_then(|c| Status::from_code(*c))
                    .ok_or_else(|| StoreError::Corrupt("a history entry is damaged".into()))?;
                Ok((day, status))
            })
            .collect::<Result<_, StoreError>>()?;
        let replies = self
            .entries(&self.replies, &id.0)?
            .into_iter()
            .map(|(_, day, payload)| (day, payload))
            .collect();
        Ok(Some(TipView {
            day: record.day,
            status: record.status,
            history,
            replies,
        }))
    }

    fn add_followup(
        &self,
        lookup: &ReceiptLookup,
        day: Day,
        sealed: SealedTip,
    ) -> Result<Option<u32>, StoreError> {
        let mut sync = self.begin_write();
        let Some(id) = self.tip_id_for(lookup)? else {
            return Ok(None);
        };
        let n = (&self.tips, &self.followups)
            .transaction(|(tips, followups)| {
                let mut record = get_record(tips, id)?;
                record.followup_count += 1;
                let n = record.followup_count;
                followups.insert(
                    &entry_key(&id.0, n)[..],
                    encode_entry(day, sealed.as_bytes()),
                )?;
                tips.insert(&id.0[..], record.encode())?;
                Ok(n)
            })
            .map_err(tx_err)?;
        self.durable(&mut sync)?;
        Ok(Some(n))
    }

    fn export(&self) -> Result<Vec<StoredTip>, StoreError> {
        let mut out = Vec::new();
        for item in self.tips.iter() {
            let (key, value) = item?;
            let id = TipId(
                key.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("a tip id has the wrong length".into()))?,
            );
            let record = Record::decode(&value)?;
            let followups = self
                .entries(&self.followups, &id.0)?
                .into_iter()
                .map(|(n, day, payload)| {
                    let sealed = SealedTip::from_bytes(payload, usize::MAX)
                        .map_err(|_| StoreError::Corrupt("a follow-up is damaged".into()))?;
                    Ok(Followup { n, day, sealed })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            if record.sealed.is_none() && followups.is_empty() {
                continue;
            }
            out.push(StoredTip {
                id,
                day: record.day,
                status: record.status,
                sealed: record.sealed,
                sealed_reply_key: record.sealed_reply_key,
                followups,
            });
        }
        Ok(out)
    }

    fn last_sequence(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(LAST_SEQUENCE_KEY)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    fn apply_updates(
        &self,
        signed: Signed,
        day: Day,
        updates: &[Update],
    ) -> Result<(), StoreError> {
        let mut sync = self.begin_write();
        (&self.meta, &self.tips, &self.history, &self.replies)
            .transaction(|(meta, tips, history, replies)| {
                check_tx_sequence(meta, signed)?;
                for update in updates {
                    let mut record = get_record(tips, update.tip)?;
                    record.status = update.status;
                    record.history_count += 1;
                    let key = entry_key(&update.tip.0, record.history_count);
                    history.insert(&key[..], encode_entry(day, &[update.status.code()]))?;
                    if let Some(reply) = &update.reply {
                        record.reply_count += 1;
                        let key = entry_key(&update.tip.0, record.reply_count);
                        replies.insert(&key[..], encode_entry(day, reply))?;
                    }
                    tips.insert(&update.tip.0[..], record.encode())?;
                }
                Ok(())
            })
            .map_err(tx_err)?;
        self.durable(&mut sync)?;
        Ok(())
    }

    fn apply_ack(&self, signed: Signed, acks: &[Ack]) -> Result<Purged, StoreError> {
        let mut sync = self.begin_write();
        let purged = (&self.meta, &self.tips, &self.followups)
            .transaction(|(meta, tips, followups)| {
                check_tx_sequence(meta, signed)?;
                let mut purged = Purged::default();
                for ack in acks {
                    let mut record = get_record(tips, ack.tip)?;
                    if ack.tip_sealed && record.sealed.is_some() {
                        record.sealed = None;
                        record.sealed_reply_key = None;
                        tips.insert(&ack.tip.0[..], record.encode())?;
                        purged.tips += 1;
                    }
                    for n in &ack.followups {
                        if followups.remove(&entry_key(&ack.tip.0, *n)[..])?.is_some() {
                            purged.followups += 1;
                        }
                    }
                }
                Ok(purged)
            })
            .map_err(tx_err)?;
        self.durable(&mut sync)?;
        Ok(purged)
    }

    fn monthly_counts(&self) -> Result<BTreeMap<String, MonthCounts>, StoreError> {
        let mut months: BTreeMap<String, MonthCounts> = BTreeMap::new();
        for item in self.tips.iter() {
            let (_, value) = item?;
            months
                .entry(month_of(Record::day_of(&value)?))
                .or_default()
                .received += 1;
        }
        for item in self.history.iter() {
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
        Ok(months)
    }

    fn verify(&self) -> Result<StoreSummary, StoreError> {
        let mut ids = HashSet::new();
        for item in self.tips.iter() {
            let (key, value) = item?;
            let id: [u8; 8] = key
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("a tip id has the wrong length".into()))?;
            Record::decode(&value)?;
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
        for tree in [&self.history, &self.replies, &self.followups] {
            for item in tree.iter() {
                let (key, value) = item?;
                let id: Option<[u8; 8]> = key.get(..8).and_then(|k| k.try_into().ok());
                if key.len() != 12 || !id.is_some_and(|id| ids.contains(&id)) {
                    return Err(StoreError::Corrupt("an entry belongs to no tip".into()));
                }
                let (_, payload) = decode_entry(&value)?;
                if std::ptr::eq(tree, &self.followups)
                    && SealedTip::from_bytes(payload.to_vec(), usize::MAX).is_err()
                {
                    return Err(StoreError::Corrupt("a follow-up is damaged".into()));
                }
            }
        }
        Ok(StoreSummary {
            tips: ids.len() as u64,
            receipts,
        })
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let mut counts = StoreCounts::default();
        for item in self.tips.iter() {
            let (_, value) = item?;
            counts.tips += 1;
            if Record::decode(&value)?.sealed.is_some() {
                counts.sealed_held += 1;
            }
        }
        counts.followups_held = self.followups.len() as u64;
        Ok(counts)
    }

    fn bytes_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }
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
