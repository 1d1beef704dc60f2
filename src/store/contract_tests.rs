//! One set of tests, run against every store implementation.

use super::*;
use crate::crypto::SEAL_OVERHEAD;
use crate::domain::tip::PAD_BLOCK;

fn sealed(fill: u8) -> SealedTip {
    SealedTip::from_bytes(vec![fill; SEAL_OVERHEAD + PAD_BLOCK], usize::MAX).unwrap()
}

fn new_tip(lookup: u8, fill: u8) -> NewTip {
    NewTip {
        lookup: ReceiptLookup([lookup; 32]),
        day: Day(20_100),
        sealed: sealed(fill),
    }
}

fn insert_then_status(store: &dyn TipStore) {
    let id = store.insert(new_tip(1, 0xaa)).unwrap();
    let st = store.status(&ReceiptLookup([1; 32])).unwrap().unwrap();
    assert_eq!(
        st,
        TipStatus {
            day: Day(20_100),
            status: Status::Received
        }
    );
    assert!(store.status(&ReceiptLookup([2; 32])).unwrap().is_none());
    let all = store.export().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, id);
    assert_eq!(all[0].sealed, sealed(0xaa));
    assert_eq!(
        store.verify().unwrap(),
        StoreSummary {
            tips: 1,
            receipts: 1
        }
    );
}

fn taken_lookup_is_refused_and_changes_nothing(store: &dyn TipStore) {
    store.insert(new_tip(3, 0x01)).unwrap();
    let before = store.export().unwrap();
    assert!(matches!(
        store.insert(new_tip(3, 0x02)),
        Err(StoreError::LookupTaken)
    ));
    assert_eq!(store.export().unwrap(), before);
}

fn pepper_check_is_sticky(store: &dyn TipStore) {
    store.check_pepper(&[5; 32]).unwrap();
    store.check_pepper(&[5; 32]).unwrap();
    assert!(matches!(
        store.check_pepper(&[6; 32]),
        Err(StoreError::PepperMismatch)
    ));
}

fn many_tips_keep_distinct_ids(store: &dyn TipStore) {
    for i in 0..50u8 {
        store.insert(new_tip(100 + i, i)).unwrap();
    }
    let all = store.export().unwrap();
    assert_eq!(all.len(), 50);
    let mut ids: Vec<_> = all.iter().map(|t| t.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 50);
}

macro_rules! store_suite {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn insert_then_status() {
                let (store, _guard) = $make;
                super::insert_then_status(&store);
            }
            #[test]
            fn taken_lookup_is_refused_and_changes_nothing() {
                let (store, _guard) = $make;
                super::taken_lookup_is_refused_and_changes_nothing(&store);
            }
            #[test]
            fn pepper_check_is_sticky() {
                let (store, _guard) = $make;
                super::pepper_check_is_sticky(&store);
            }
            #[test]
            fn many_tips_keep_distinct_ids() {
                let (store, _guard) = $make;
                super::many_tips_keep_distinct_ids(&store);
            }
        }
    };
}

store_suite!(memory, (MemoryStore::default(), ()));
store_suite!(sled, {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    (SledStore::open(dir.path()).unwrap(), dir)
});

/// sled's flusher thread lets go of the folder lock a moment after the last handle drops.
fn reopen(path: &std::path::Path) -> SledStore {
    for _ in 0..100 {
        if let Ok(s) = SledStore::open(path) {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    SledStore::open(path).unwrap()
}

#[test]
fn sled_survives_reopen_and_keeps_salt() {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let salt = {
        let s = SledStore::open(dir.path()).unwrap();
        s.insert(new_tip(9, 0x09)).unwrap();
        s.receipt_salt()
    };
    let s = reopen(dir.path());
    assert_eq!(s.receipt_salt(), salt);
    assert_eq!(s.verify().unwrap().tips, 1);
    assert!(s.status(&ReceiptLookup([9; 32])).unwrap().is_some());
}

#[test]
fn sled_refuses_another_format() {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    {
        let db = ::sled::open(dir.path()).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert(b"format", &b"whistlebox-store:99"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let mut err = SledStore::open(dir.path()).err().expect("must refuse");
    for _ in 0..100 {
        if !matches!(err, StoreError::Backend(_)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        err = SledStore::open(dir.path()).err().expect("must refuse");
    }
    assert!(matches!(err, StoreError::WrongFormat { .. }), "{err}");
    assert!(err.to_string().contains("whistlebox-store:99"));
}

#[test]
fn sled_verify_catches_a_dangling_receipt() {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SledStore::open(dir.path()).unwrap();
        s.insert(new_tip(4, 0x04)).unwrap();
        s.receipts.insert([8u8; 32], &[0u8; 8][..]).unwrap();
        s.db.flush().unwrap();
    }
    let s = reopen(dir.path());
    assert!(matches!(s.verify(), Err(StoreError::Corrupt(_))));
}
