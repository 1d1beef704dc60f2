//! An in-memory store: for tests, and a second implementation that keeps the trait honest.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{
    check_sequence, month_of, Followup, MonthCounts, NewTip, Purged, Signed, StoreCounts,
    StoreError, StoreSummary, StoredTip, TipStore, TipView,
};
use crate::crypto::{self, SALT_BYTES};
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
}

#[derive(Default)]
struct Inner {
    tips: BTreeMap<TipId, Tip>,
    receipts: BTreeMap<ReceiptLookup, TipId>,
    pepper_check: Option<[u8; 32]>,
    last: u64,
    last_digest: Option<[u8; 32]>,
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
    fn begin_signed(
        &mut self,
        signed: Signed,
        tips: impl Iterator<Item = TipId>,
    ) -> Result<(), StoreError> {
        check_sequence(signed, self.last, self.last_digest)?;
        for id in tips {
            if !self.tips.contains_key(&id) {
                return Err(StoreError::UnknownTip(id));
            }
        }
        self.last = signed.sequence;
        self.last_digest = Some(signed.digest);
        Ok(())
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
        let mut inner = self.lock()?;
        if inner.receipts.contains_key(&tip.lookup) {
            return Err(StoreError::LookupTaken);
        }
        let mut id = TipId::random();
        while inner.tips.contains_key(&id) {
            id = TipId::random();
        }
        inner.receipts.insert(tip.lookup, id);
        inner.tips.insert(
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
            },
        );
        Ok(id)
    }

    fn view(&self, lookup: &ReceiptLookup) -> Result<Option<TipView>, StoreError> {
        let inner = self.lock()?;
        Ok(inner.receipts.get(lookup).and_then(|id| {
            inner.tips.get(id).map(|t| TipView {
                day: t.day,
                status: t.status,
                history: t.history.clone(),
                replies: t.replies.clone(),
            })
        }))
    }

    fn add_followup(
        &self,
        lookup: &ReceiptLookup,
        day: Day,
        sealed: SealedTip,
    ) -> Result<Option<u32>, StoreError> {
        let mut inner = self.lock()?;
        let Some(id) = inner.receipts.get(lookup).copied() else {
            return Ok(None);
        };
        let tip = inner
            .tips
            .get_mut(&id)
            .ok_or_else(|| StoreError::Corrupt("a receipt points at a missing tip".into()))?;
        tip.followup_count += 1;
        let n = tip.followup_count;
        tip.followups.insert(n, (day, sealed));
        Ok(Some(n))
    }

    fn export_ids(&self) -> Result<Vec<TipId>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .tips
            .iter()
            .filter(|(_, t)| t.sealed.is_some() || !t.followups.is_empty())
            .map(|(id, _)| *id)
            .collect())
    }

    fn export_tip(&self, id: TipId) -> Result<Option<StoredTip>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .tips
            .get(&id)
            .filter(|t| t.sealed.is_some() || !t.followups.is_empty())
            .map(|t| StoredTip {
                id,
                day: t.day,
                status: t.status,
                sealed: t.sealed.clone(),
                sealed_reply_key: t.sealed_reply_key.clone(),
                followups: t
                    .followups
                    .iter()
                    .map(|(n, (day, sealed))| Followup {
                        n: *n,
                        day: *day,
                        sealed: sealed.clone(),
                    })
                    .collect(),
            }))
    }

    fn last_sequence(&self) -> Result<u64, StoreError> {
        Ok(self.lock()?.last)
    }

    fn apply_updates(
        &self,
        signed: Signed,
        day: Day,
        updates: &[Update],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        inner.begin_signed(signed, updates.iter().map(|u| u.tip))?;
        for update in updates {
            let tip = inner.tips.get_mut(&update.tip).expect("checked above");
            tip.status = update.status;
            tip.history.push((day, update.status));
            if let Some(reply) = &update.reply {
                tip.replies.push((day, reply.clone()));
            }
        }
        Ok(())
    }

    fn apply_ack(&self, signed: Signed, acks: &[Ack]) -> Result<Purged, StoreError> {
        let mut inner = self.lock()?;
        inner.begin_signed(signed, acks.iter().map(|a| a.tip))?;
        let mut purged = Purged::default();
        for ack in acks {
            let tip = inner.tips.get_mut(&ack.tip).expect("checked above");
            if ack.tip_sealed && tip.sealed.is_some() {
                tip.sealed = None;
                tip.sealed_reply_key = None;
                purged.tips += 1;
            }
            for n in &ack.followups {
                if tip.followups.remove(n).is_some() {
                    purged.followups += 1;
                }
            }
        }
        Ok(purged)
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
        Ok(months)
    }

    fn verify(&self) -> Result<StoreSummary, StoreError> {
        let inner = self.lock()?;
        Ok(StoreSummary {
            tips: inner.tips.len() as u64,
            receipts: inner.receipts.len() as u64,
        })
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let inner = self.lock()?;
        Ok(StoreCounts {
            tips: inner.tips.len() as u64,
            sealed_held: inner.tips.values().filter(|t| t.sealed.is_some()).count() as u64,
            followups_held: inner.tips.values().map(|t| t.followups.len() as u64).sum(),
        })
    }

    fn bytes_on_disk(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}
