//! An in-memory store: for tests, and a second implementation that keeps the trait honest.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::uploads::check_uploads;
use super::{check_batch, stub_refusal, Batch, Channel, StubKey};
use super::{
    check_sequence, month_of, move_refused, Followup, MonthCounts, MoveDecision, MoveOrder,
    MoveState, NewTip, OfficeId, Purged, Reader, Signed, StoreCounts, StoreError, StoreSummary,
    StoredTip, TipStore, TipView,
};
use super::{Holding, Owner, Pending, Upload, UploadState};
use crate::crypto::{self, SALT_BYTES};
use crate::domain::addressing::Addressing;
use crate::domain::attachment::UploadId;
use crate::domain::receipt::ReceiptLookup;
use crate::domain::reply::{Ack, Update};
use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status, TipId};

#[derive(Clone)]
struct Tip {
    day: Day,
    status: Status,
    sealed: Option<SealedTip>,
    sealed_reply_key: Option<Vec<u8>>,
    history: Vec<(Day, Status)>,
    replies: Vec<(Day, Vec<u8>)>,
    followups: BTreeMap<u32, (Day, SealedTip)>,
    followup_count: u32,
    /// `None`: the county alone reads the tip.
    addressing: Option<Addressing>,
    /// Stanza and carried copy of each move that keeps them, by move index.
    moves: BTreeMap<usize, (Vec<u8>, SealedTip)>,
    /// Evidence files of the tip (0) and of its follow-ups (their number): each upload's
    /// id and blob.
    files: BTreeMap<u32, Vec<(UploadId, Vec<u8>)>>,
}

impl Tip {
    /// The addressing to apply the rules to (the county alone for a tip without one).
    fn rules(&self) -> Addressing {
        self.addressing.clone().unwrap_or_default()
    }

    /// Whether `reader` may read the tip.
    fn readable_by(&self, reader: &Reader) -> bool {
        match &self.addressing {
            Some(a) => a.may_read(reader),
            None => reader == &Reader::Root,
        }
    }

    /// What `reader` gets of the tip in its export.
    fn export_for(&self, id: TipId, reader: &Reader) -> Option<StoredTip> {
        if !self.readable_by(reader) {
            return None;
        }
        let rules = self.rules();
        let copy = rules.wants_copy(reader).and_then(|i| self.moves.get(&i));
        let original = rules.wants_original(reader) && self.sealed.is_some();
        let followups: Vec<Followup> = self
            .followups
            .iter()
            .filter(|(n, _)| rules.wants_followup(reader, **n))
            .map(|(n, (day, sealed))| Followup {
                n: *n,
                day: *day,
                sealed: sealed.clone(),
                attachments: self.blobs(*n),
            })
            .collect();
        if !original && copy.is_none() && followups.is_empty() {
            return None;
        }
        let (sealed, sealed_reply_key, grant) = match copy {
            Some((stanza, copy)) => (Some(copy.clone()), None, Some(stanza.clone())),
            None if original => (self.sealed.clone(), self.sealed_reply_key.clone(), None),
            None => (None, None, None),
        };
        Some(StoredTip {
            id,
            day: self.day,
            status: self.status,
            sealed_reply_key,
            attachments: match sealed {
                Some(_) => self.blobs(0),
                None => Vec::new(),
            },
            grant,
            followups,
            sealed,
        })
    }

    /// What the tip holds until it is acked.
    fn holding(&self) -> Holding {
        Holding {
            file_bytes: self
                .files
                .values()
                .flatten()
                .map(|(_, b)| b.len() as u64)
                .sum(),
            followups: self.followups.len() as u32,
        }
    }

    /// The blobs of the tip's (0) or a follow-up's files, in order.
    fn blobs(&self, n: u32) -> Vec<Vec<u8>> {
        self.files
            .get(&n)
            .map(|f| f.iter().map(|(_, b)| b.clone()).collect())
            .unwrap_or_default()
    }

    /// Drops the files of the tip (0) or a follow-up; adds their upload ids to `dropped`.
    fn drop_files(&mut self, n: u32, dropped: &mut Vec<UploadId>) {
        if let Some(files) = self.files.remove(&n) {
            dropped.extend(files.into_iter().map(|(id, _)| id));
        }
    }

    /// Drops the tip's own files once no office may still be handed a sealed copy of it.
    fn drop_unheld_files(&mut self, dropped: &mut Vec<UploadId>) {
        if self.sealed.is_none() && self.moves.is_empty() {
            self.drop_files(0, dropped);
        }
    }
}

#[derive(Default)]
struct Inner {
    tips: BTreeMap<TipId, Tip>,
    receipts: BTreeMap<ReceiptLookup, TipId>,
    pepper_check: Option<[u8; 32]>,
    /// Last applied bundle (number, digest) of each office.
    sequences: BTreeMap<Reader, (u64, [u8; 32])>,
    /// Every upload, with the chunks of those not yet part of a report (a used one's blob
    /// lives with its tip).
    uploads: BTreeMap<UploadId, (Upload, BTreeMap<u32, Vec<u8>>)>,
    /// The printed forms: each stub key's batch number.
    stubs: BTreeMap<StubKey, u32>,
    /// The batches of printed forms, by number.
    batches: BTreeMap<u32, Batch>,
    /// Tips entered by a clerk, by month and channel.
    entered: BTreeMap<(String, Channel), u64>,
}

impl Inner {
    /// Makes complete, unused uploads the files of `owner`, all or nothing: their blobs.
    fn take_uploads(
        &mut self,
        ids: &[UploadId],
        owner: Owner,
    ) -> Result<Vec<(UploadId, Vec<u8>)>, StoreError> {
        check_uploads(ids, |id| Ok(self.uploads.get(id).map(|(u, _)| u.clone())))?;
        Ok(ids
            .iter()
            .map(|id| {
                let (upload, chunks) = self.uploads.get_mut(id).expect("checked above");
                upload.owner = Some(owner);
                (
                    *id,
                    std::mem::take(chunks).into_values().flatten().collect(),
                )
            })
            .collect())
    }

    /// Stores a tip (see `TipStore::insert`).
    fn insert(&mut self, tip: NewTip) -> Result<TipId, StoreError> {
        let addressing = match tip.towns.is_empty() {
            true => None,
            false => Some(Addressing::new(tip.towns).map_err(StoreError::TooManyTowns)?),
        };
        if self.receipts.contains_key(&tip.lookup) {
            return Err(StoreError::LookupTaken);
        }
        let mut id = TipId::random();
        while self.tips.contains_key(&id) {
            id = TipId::random();
        }
        let files = self.take_uploads(&tip.uploads, Owner { tip: id, n: 0 })?;
        self.receipts.insert(tip.lookup, id);
        self.tips.insert(
            id,
            Tip {
                day: tip.day,
                status: Status::Received,
                sealed: Some(tip.sealed),
                sealed_reply_key: Some(tip.sealed_reply_key),
                history: vec![],
                replies: vec![],
                followups: BTreeMap::new(),
                followup_count: 0,
                addressing,
                moves: BTreeMap::new(),
                files: match files.is_empty() {
                    true => BTreeMap::new(),
                    false => BTreeMap::from([(0, files)]),
                },
            },
        );
        Ok(id)
    }

    /// Checks `ids` as [`check_uploads`] does, and that their bytes fit beside `holding`.
    fn check_room(&self, ids: &[UploadId], holding: Holding) -> Result<(), StoreError> {
        let checked = check_uploads(ids, |id| Ok(self.uploads.get(id).map(|(u, _)| u.clone())))?;
        holding.with_file_bytes(checked.iter().map(|u| u.bytes).sum())?;
        Ok(())
    }

    /// Forgets the uploads whose files were dropped.
    fn forget_uploads(&mut self, dropped: Vec<UploadId>) {
        for id in dropped {
            self.uploads.remove(&id);
        }
    }
}

/// A store that forgets everything when dropped.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    salt: [u8; SALT_BYTES],
}

impl Default for MemoryStore {
    fn default() -> Self {
        let mut salt = [0u8; SALT_BYTES];
        crypto::random_fill(&mut salt);
        Self {
            inner: Mutex::new(Inner::default()),
            salt,
        }
    }
}

impl MemoryStore {
    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Backend("the memory store lock is poisoned".into()))
    }
}

impl Inner {
    /// Applies a signed bundle of `reader` naming `tips`, all or nothing: `apply` works on
    /// copies of the named tips, which replace the stored ones only if it succeeds.
    fn signed<T>(
        &mut self,
        signed: Signed,
        reader: &Reader,
        tips: impl Iterator<Item = TipId>,
        apply: impl FnOnce(&mut BTreeMap<TipId, Tip>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (last, digest) = match self.sequences.get(reader) {
            Some((last, digest)) => (*last, Some(*digest)),
            None => (0, None),
        };
        check_sequence(signed, last, digest)?;
        let mut named = BTreeMap::new();
        for id in tips {
            match self.tips.get(&id) {
                Some(tip) if tip.readable_by(reader) => {
                    named.insert(id, tip.clone());
                }
                None if reader == &Reader::Root => return Err(StoreError::UnknownTip(id)),
                _ => return Err(StoreError::NotAddressed(id)),
            }
        }
        let out = apply(&mut named)?;
        self.tips.extend(named);
        self.sequences
            .insert(reader.clone(), (signed.sequence, signed.digest));
        Ok(out)
    }
}

impl TipStore for MemoryStore {
    fn receipt_salt(&self) -> [u8; SALT_BYTES] {
        self.salt
    }

    fn check_pepper(&self, check: &[u8; 32]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        match inner.pepper_check {
            Some(stored) if crypto::ct_eq(&stored, check) => Ok(()),
            Some(_) => Err(StoreError::PepperMismatch),
            None => {
                inner.pepper_check = Some(*check);
                Ok(())
            }
        }
    }

    fn insert(&self, tip: NewTip) -> Result<TipId, StoreError> {
        self.lock()?.insert(tip)
    }

    fn view(&self, lookup: &ReceiptLookup) -> Result<Option<TipView>, StoreError> {
        let inner = self.lock()?;
        Ok(inner.receipts.get(lookup).and_then(|id| {
            inner.tips.get(id).map(|t| TipView {
                day: t.day,
                status: t.status,
                history: t.history.clone(),
                replies: t.replies.clone(),
                towns: t.rules().town_readers(),
                moves: t.rules().move_views(),
            })
        }))
    }

    fn add_followup_with_files(
        &self,
        lookup: &ReceiptLookup,
        day: Day,
        sealed: SealedTip,
        uploads: &[UploadId],
    ) -> Result<Option<u32>, StoreError> {
        let mut inner = self.lock()?;
        let Some(id) = inner.receipts.get(lookup).copied() else {
            return Ok(None);
        };
        let tip = inner
            .tips
            .get(&id)
            .ok_or_else(|| StoreError::Corrupt("a receipt points at a missing tip".into()))?;
        let n = tip.followup_count + 1;
        let holding = tip.holding().with_followup()?;
        inner.check_room(uploads, holding)?;
        let files = inner.take_uploads(uploads, Owner { tip: id, n })?;
        let tip = inner.tips.get_mut(&id).expect("found above");
        tip.followup_count = n;
        tip.followups.insert(n, (day, sealed));
        if !files.is_empty() {
            tip.files.insert(n, files);
        }
        Ok(Some(n))
    }

    fn create_upload(&self, bytes: u64, day: Day) -> Result<UploadId, StoreError> {
        let upload = Upload::new(bytes, day)?;
        let mut inner = self.lock()?;
        let id = UploadId::random();
        inner.uploads.insert(id, (upload, BTreeMap::new()));
        Ok(id)
    }

    fn put_upload_chunk(
        &self,
        id: &UploadId,
        index: u32,
        data: &[u8],
    ) -> Result<UploadState, StoreError> {
        let mut inner = self.lock()?;
        let (upload, chunks) = inner.uploads.get_mut(id).ok_or(StoreError::UnknownUpload)?;
        upload.check_chunk(index, data.len())?;
        match chunks.get(&index) {
            Some(stored) if stored[..] == data[..] => {}
            Some(_) => return Err(StoreError::ChunkConflict),
            None => {
                chunks.insert(index, data.to_vec());
                upload.mark(index);
            }
        }
        Ok(upload.state())
    }

    fn upload_state(&self, id: &UploadId) -> Result<Option<UploadState>, StoreError> {
        Ok(self.lock()?.uploads.get(id).map(|(u, _)| u.state()))
    }

    fn pending_uploads(&self) -> Result<Pending, StoreError> {
        let inner = self.lock()?;
        let mut pending = Pending::default();
        for (u, _) in inner.uploads.values().filter(|(u, _)| u.owner.is_none()) {
            pending.uploads += 1;
            pending.bytes += u.received_bytes();
        }
        Ok(pending)
    }

    fn expire_uploads(&self, before: Day) -> Result<u64, StoreError> {
        let mut inner = self.lock()?;
        let n = inner.uploads.len();
        inner
            .uploads
            .retain(|_, (u, _)| u.owner.is_some() || u.day >= before);
        Ok((n - inner.uploads.len()) as u64)
    }

    fn discard_uploads(&self, ids: &[UploadId]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        for id in ids {
            if inner
                .uploads
                .get(id)
                .is_some_and(|(u, _)| u.owner.is_none())
            {
                inner.uploads.remove(id);
            }
        }
        Ok(())
    }

    fn export_ids_for(&self, reader: &Reader) -> Result<Vec<TipId>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .tips
            .iter()
            .filter(|(id, t)| t.export_for(**id, reader).is_some())
            .map(|(id, _)| *id)
            .collect())
    }

    fn export_tip_for(&self, reader: &Reader, id: TipId) -> Result<Option<StoredTip>, StoreError> {
        let inner = self.lock()?;
        Ok(inner.tips.get(&id).and_then(|t| t.export_for(id, reader)))
    }

    fn last_sequence_for(&self, reader: &Reader) -> Result<u64, StoreError> {
        Ok(self.lock()?.sequences.get(reader).map_or(0, |(n, _)| *n))
    }

    fn apply_updates(
        &self,
        signed: Signed,
        reader: &Reader,
        day: Day,
        updates: &[Update],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        inner.signed(signed, reader, updates.iter().map(|u| u.tip), |tips| {
            for update in updates {
                let tip = tips.get_mut(&update.tip).expect("checked above");
                tip.status = update.status;
                tip.history.push((day, update.status));
                if let Some(reply) = &update.reply {
                    tip.replies.push((day, reply.clone()));
                }
            }
            Ok(())
        })
    }

    fn apply_ack(
        &self,
        signed: Signed,
        reader: &Reader,
        acks: &[Ack],
    ) -> Result<Purged, StoreError> {
        let mut inner = self.lock()?;
        let mut dropped = Vec::new();
        let purged = inner.signed(signed, reader, acks.iter().map(|a| a.tip), |tips| {
            let mut purged = Purged::default();
            for ack in acks {
                let tip = tips.get_mut(&ack.tip).expect("checked above");
                let mut rules = tip.rules();
                let effect = rules
                    .ack(reader, ack.tip_sealed, &ack.followups, tip.followup_count)
                    .map_err(|_| StoreError::NotAddressed(ack.tip))?;
                if effect.original && tip.sealed.is_some() {
                    tip.sealed = None;
                    tip.sealed_reply_key = None;
                    purged.tips += 1;
                }
                if let Some(index) = effect.copy {
                    if tip.moves.remove(&index).is_some() {
                        purged.copies += 1;
                    }
                }
                for n in effect.followups {
                    if tip.followups.remove(&n).is_some() {
                        tip.drop_files(n, &mut dropped);
                        purged.followups += 1;
                    }
                }
                tip.drop_unheld_files(&mut dropped);
                if tip.addressing.is_some() {
                    tip.addressing = Some(rules);
                }
            }
            Ok(purged)
        })?;
        inner.forget_uploads(dropped);
        Ok(purged)
    }

    fn propose_moves(
        &self,
        signed: Signed,
        reader: &Reader,
        day: Day,
        orders: &[MoveOrder],
    ) -> Result<Vec<MoveState>, StoreError> {
        let mut inner = self.lock()?;
        inner.signed(signed, reader, orders.iter().map(|o| o.tip), |tips| {
            let mut states = Vec::with_capacity(orders.len());
            for order in orders {
                let tip = tips.get_mut(&order.tip).expect("checked above");
                let mut rules = tip.rules();
                let kept = rules
                    .propose(reader, order.to.clone(), day, tip.followup_count)
                    .map_err(|reason| move_refused(order.tip, reason))?;
                if let Some(index) = kept {
                    let carried = order
                        .carried
                        .as_ref()
                        .ok_or(StoreError::NothingCarried(order.tip))?;
                    tip.moves
                        .insert(index, (carried.stanza.clone(), carried.sealed.clone()));
                }
                states.push(rules.moves().last().expect("just added").state);
                tip.addressing = Some(rules);
            }
            Ok(states)
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
        let mut inner = self.lock()?;
        let Some(id) = inner.receipts.get(lookup).copied() else {
            return Ok(None);
        };
        let tip = inner
            .tips
            .get_mut(&id)
            .ok_or_else(|| StoreError::Corrupt("a receipt points at a missing tip".into()))?;
        let Some(rules) = tip.addressing.as_mut() else {
            return Err(StoreError::NoMoveWaiting);
        };
        let (index, decision) = rules
            .decide(to, agree, day, tip.followup_count)
            .map_err(|_| StoreError::NoMoveWaiting)?;
        if !agree {
            tip.moves.remove(&index);
            let mut dropped = Vec::new();
            tip.drop_unheld_files(&mut dropped);
            inner.forget_uploads(dropped);
        } else if let (Some(grant), Some(kept)) = (grant, tip.moves.get_mut(&index)) {
            kept.0 = grant;
        }
        Ok(Some(decision))
    }

    fn waiting_grant(
        &self,
        lookup: &ReceiptLookup,
        to: &OfficeId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = self.lock()?;
        let Some(tip) = inner.receipts.get(lookup).and_then(|id| inner.tips.get(id)) else {
            return Ok(None);
        };
        let Some(rules) = tip.addressing.as_ref() else {
            return Ok(None);
        };
        let index = rules
            .moves()
            .iter()
            .position(|m| m.to.town() == Some(to) && m.state == MoveState::Waiting);
        Ok(index
            .and_then(|i| tip.moves.get(&i))
            .map(|(stanza, _)| stanza.clone()))
    }

    fn register_batch(&self, day: Day, stubs: &[StubKey]) -> Result<Batch, StoreError> {
        check_batch(stubs)?;
        let mut inner = self.lock()?;
        if stubs.iter().any(|s| inner.stubs.contains_key(s)) {
            return Err(StoreError::StubTaken);
        }
        let number = inner.batches.keys().next_back().map_or(1, |n| n + 1);
        let batch = Batch {
            number,
            made_on: day,
            forms: stubs.len() as u32,
            voided_on: None,
        };
        inner.batches.insert(number, batch);
        inner.stubs.extend(stubs.iter().map(|s| (*s, number)));
        Ok(batch)
    }

    fn stub_batch(&self, stub: &StubKey) -> Result<Option<Batch>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .stubs
            .get(stub)
            .and_then(|n| inner.batches.get(n))
            .copied())
    }

    fn batches(&self) -> Result<Vec<Batch>, StoreError> {
        Ok(self.lock()?.batches.values().copied().collect())
    }

    fn void_batch(&self, number: u32, day: Day) -> Result<Option<Batch>, StoreError> {
        let mut inner = self.lock()?;
        Ok(inner.batches.get_mut(&number).map(|b| {
            b.voided_on.get_or_insert(day);
            *b
        }))
    }

    fn insert_entered(&self, tip: NewTip, stub: Option<&StubKey>) -> Result<TipId, StoreError> {
        let mut inner = self.lock()?;
        if let Some(stub) = stub {
            let batch = inner
                .stubs
                .get(stub)
                .and_then(|n| inner.batches.get(n))
                .copied();
            stub_refusal(batch)?;
        }
        inner.insert(tip)
    }

    fn add_intake_counts(&self, counts: &[(String, Channel, u64)]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        for (month, channel, n) in counts {
            *inner.entered.entry((month.clone(), *channel)).or_default() += n;
        }
        Ok(())
    }

    fn monthly_counts(&self) -> Result<BTreeMap<String, MonthCounts>, StoreError> {
        let inner = self.lock()?;
        let mut months: BTreeMap<String, MonthCounts> = BTreeMap::new();
        for tip in inner.tips.values() {
            months.entry(month_of(tip.day)).or_default().received += 1;
            for (day, status) in &tip.history {
                *months
                    .entry(month_of(*day))
                    .or_default()
                    .reached
                    .entry(status.as_str())
                    .or_default() += 1;
            }
        }
        for ((month, channel), n) in &inner.entered {
            months
                .entry(month.clone())
                .or_default()
                .entered
                .insert(*channel, *n);
        }
        Ok(months)
    }

    fn verify(&self) -> Result<StoreSummary, StoreError> {
        let inner = self.lock()?;
        for (id, tip) in &inner.tips {
            let rules = tip.rules();
            let kept = (0..rules.moves().len()).filter(|i| rules.holds_copy(*i));
            if !kept.eq(tip.moves.keys().copied()) {
                return Err(StoreError::Corrupt(format!(
                    "tip {id} keeps the wrong carried copies of its moves"
                )));
            }
        }
        Ok(StoreSummary {
            tips: inner.tips.len() as u64,
            receipts: inner.receipts.len() as u64,
        })
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let inner = self.lock()?;
        Ok(StoreCounts {
            tips: inner.tips.len() as u64,
            sealed_held: inner
                .tips
                .values()
                .filter(|t| t.sealed.is_some() || !t.moves.is_empty())
                .count() as u64,
            followups_held: inner.tips.values().map(|t| t.followups.len() as u64).sum(),
            files_held: inner
                .tips
                .values()
                .flat_map(|t| t.files.values())
                .map(|f| f.len() as u64)
                .sum(),
            uploads_pending: inner
                .uploads
                .values()
                .filter(|(u, _)| u.owner.is_none())
                .count() as u64,
        })
    }

    fn bytes_on_disk(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}
