//! An in-memory store: for tests, and a second implementation that keeps the trait honest.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{NewTip, StoreError, StoreSummary, StoredTip, TipStatus, TipStore};
use crate::crypto::{self, SALT_BYTES};
use crate::domain::receipt::ReceiptLookup;
use crate::domain::{Status, TipId};

#[derive(Default)]
struct Inner {
    tips: BTreeMap<TipId, StoredTip>,
    receipts: BTreeMap<ReceiptLookup, TipId>,
    pepper_check: Option<[u8; 32]>,
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
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Backend("the memory store lock is poisoned".into()))
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
            StoredTip {
                id,
                day: tip.day,
                status: Status::Received,
                sealed: tip.sealed,
            },
        );
        Ok(id)
    }

    fn status(&self, lookup: &ReceiptLookup) -> Result<Option<TipStatus>, StoreError> {
        let inner = self.lock()?;
        Ok(inner.receipts.get(lookup).and_then(|id| {
            inner.tips.get(id).map(|t| TipStatus {
                day: t.day,
                status: t.status,
            })
        }))
    }

    fn export(&self) -> Result<Vec<StoredTip>, StoreError> {
        Ok(self.lock()?.tips.values().cloned().collect())
    }

    fn verify(&self) -> Result<StoreSummary, StoreError> {
        let inner = self.lock()?;
        Ok(StoreSummary {
            tips: inner.tips.len() as u64,
            receipts: inner.receipts.len() as u64,
        })
    }
}
