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
        sealed_reply_key: vec![fill; 80],
    }
}

fn signed(sequence: u64) -> Signed {
    Signed {
        sequence,
        digest: [sequence as u8; 32],
    }
}

fn update(tip: TipId, status: Status, reply: Option<u8>) -> Update {
    Update {
        tip,
        status,
        reply: reply.map(|b| vec![b; 100]),
    }
}

fn insert_then_view(store: &dyn TipStore) {
    let id = store.insert(new_tip(1, 0xaa)).unwrap();
    let st = store.view(&ReceiptLookup([1; 32])).unwrap().unwrap();
    assert_eq!((st.day, st.status), (Day(20_100), Status::Received));
    assert!(st.history.is_empty() && st.replies.is_empty());
    assert!(store.view(&ReceiptLookup([2; 32])).unwrap().is_none());
    let all = store.export().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, id);
    assert_eq!(all[0].sealed, Some(sealed(0xaa)));
    assert_eq!(all[0].sealed_reply_key, Some(vec![0xaa; 80]));
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

fn updates_apply_all_or_nothing(store: &dyn TipStore) {
    let a = store.insert(new_tip(10, 1)).unwrap();
    let b = store.insert(new_tip(11, 2)).unwrap();
    store
        .apply_updates(
            signed(1),
            Day(20_101),
            &[
                update(a, Status::InReview, None),
                update(b, Status::NeedInfo, Some(9)),
            ],
        )
        .unwrap();
    let va = store.view(&ReceiptLookup([10; 32])).unwrap().unwrap();
    assert_eq!(va.status, Status::InReview);
    assert_eq!(va.history, vec![(Day(20_101), Status::InReview)]);
    let vb = store.view(&ReceiptLookup([11; 32])).unwrap().unwrap();
    assert_eq!(vb.replies, vec![(Day(20_101), vec![9; 100])]);
    assert_eq!(store.last_sequence().unwrap(), 1);

    // One unknown tip spoils the whole bundle; nothing is applied.
    let ghost = TipId([0xee; 8]);
    let err = store
        .apply_updates(
            signed(2),
            Day(20_102),
            &[
                update(a, Status::Investigating, None),
                update(ghost, Status::Referred, None),
            ],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownTip(id) if id == ghost));
    assert_eq!(store.view(&ReceiptLookup([10; 32])).unwrap().unwrap(), va);
    assert_eq!(store.last_sequence().unwrap(), 1);

    // The same bundle again is a replay; an older one is stale; neither changes anything.
    let replay = store.apply_updates(signed(1), Day(20_102), &[update(a, Status::Referred, None)]);
    assert!(matches!(replay, Err(StoreError::Replayed(1))));
    store
        .apply_updates(
            signed(5),
            Day(20_103),
            &[update(a, Status::Investigating, None)],
        )
        .unwrap();
    let stale = store.apply_updates(signed(3), Day(20_103), &[update(a, Status::Referred, None)]);
    assert!(matches!(
        stale,
        Err(StoreError::Stale {
            sequence: 3,
            last: 5
        })
    ));
    let va = store.view(&ReceiptLookup([10; 32])).unwrap().unwrap();
    assert_eq!(va.status, Status::Investigating);
    assert_eq!(va.history.len(), 2);
}

fn followups_and_acks(store: &dyn TipStore) {
    let a = store.insert(new_tip(20, 1)).unwrap();
    let b = store.insert(new_tip(21, 2)).unwrap();
    assert_eq!(
        store
            .add_followup(&ReceiptLookup([20; 32]), Day(20_105), sealed(7))
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store
            .add_followup(&ReceiptLookup([99; 32]), Day(20_105), sealed(7))
            .unwrap(),
        None
    );
    // Ack tip a and its follow-up 1: exactly those ciphertexts go, b stays whole.
    let purged = store
        .apply_ack(
            signed(1),
            &[Ack {
                tip: a,
                tip_sealed: true,
                followups: vec![1],
            }],
        )
        .unwrap();
    assert_eq!(
        purged,
        Purged {
            tips: 1,
            followups: 1
        }
    );
    let left = store.export().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, b);
    assert!(left[0].sealed.is_some());
    // The status survives the purge.
    assert!(store.view(&ReceiptLookup([20; 32])).unwrap().is_some());
    // A follow-up after the ack shows up alone in the next export.
    assert_eq!(
        store
            .add_followup(&ReceiptLookup([20; 32]), Day(20_106), sealed(8))
            .unwrap(),
        Some(2)
    );
    let next = store.export().unwrap();
    let ta = next.iter().find(|t| t.id == a).unwrap();
    assert_eq!(ta.sealed, None);
    assert_eq!(
        ta.followups.iter().map(|f| f.n).collect::<Vec<_>>(),
        vec![2]
    );
}

fn monthly_counts(store: &dyn TipStore) {
    let a = store.insert(new_tip(30, 1)).unwrap();
    store.insert(new_tip(31, 1)).unwrap();
    store
        .apply_updates(
            signed(1),
            Day(20_200),
            &[update(a, Status::ClosedSubstantiated, None)],
        )
        .unwrap();
    let m = store.monthly_counts().unwrap();
    assert_eq!(m[&month_of(Day(20_100))].received, 2);
    assert_eq!(m[&month_of(Day(20_200))].reached["closed_substantiated"], 1);
}

macro_rules! store_suite {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn insert_then_view() {
                let (store, _guard) = $make;
                super::insert_then_view(&store);
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
            #[test]
            fn updates_apply_all_or_nothing() {
                let (store, _guard) = $make;
                super::updates_apply_all_or_nothing(&store);
            }
            #[test]
            fn followups_and_acks() {
                let (store, _guard) = $make;
                super::followups_and_acks(&store);
            }
            #[test]
            fn monthly_counts() {
                let (store, _guard) = $make;
                super::monthly_counts(&store);
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
        let id = s.insert(new_tip(9, 0x09)).unwrap();
        s.apply_updates(
            signed(4),
            Day(20_101),
            &[update(id, Status::InReview, Some(1))],
        )
        .unwrap();
        s.receipt_salt()
    };
    let s = reopen(dir.path());
    assert_eq!(s.receipt_salt(), salt);
    assert_eq!(s.verify().unwrap().tips, 1);
    assert_eq!(s.last_sequence().unwrap(), 4);
    let v = s.view(&ReceiptLookup([9; 32])).unwrap().unwrap();
    assert_eq!((v.status, v.replies.len()), (Status::InReview, 1));
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
