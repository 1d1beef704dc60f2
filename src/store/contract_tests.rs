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
        towns: vec![],
        uploads: Vec::new(),
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
            &Reader::Root,
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
            &Reader::Root,
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
    let replay = store.apply_updates(
        signed(1),
        &Reader::Root,
        Day(20_102),
        &[update(a, Status::Referred, None)],
    );
    assert!(matches!(replay, Err(StoreError::Replayed(1))));
    store
        .apply_updates(
            signed(5),
            &Reader::Root,
            Day(20_103),
            &[update(a, Status::Investigating, None)],
        )
        .unwrap();
    let stale = store.apply_updates(
        signed(3),
        &Reader::Root,
        Day(20_103),
        &[update(a, Status::Referred, None)],
    );
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
            &Reader::Root,
            &[Ack {
                tip: a,
                tip_sealed: true,
                followups: vec![1],
                tip_digest: None,
                followup_digests: vec![],
            }],
        )
        .unwrap();
    assert_eq!(
        purged,
        Purged {
            tips: 1,
            followups: 1,
            copies: 0
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
            &Reader::Root,
            Day(20_200),
            &[update(a, Status::ClosedSubstantiated, None)],
        )
        .unwrap();
    let m = store.monthly_counts().unwrap();
    assert_eq!(m[&month_of(Day(20_100))].received, 2);
    assert_eq!(m[&month_of(Day(20_200))].reached["closed_substantiated"], 1);
}

// Offices (issue 10): who reads what, acks per reader, moves.

fn town(id: &str) -> Reader {
    Reader::Town(id.parse().unwrap())
}

fn office(id: &str) -> OfficeId {
    id.parse().unwrap()
}

fn town_tip(lookup: u8, fill: u8, towns: &[&str]) -> NewTip {
    NewTip {
        towns: towns.iter().map(|t| office(t)).collect(),
        uploads: Vec::new(),
        ..new_tip(lookup, fill)
    }
}

fn ack(tip: TipId, tip_sealed: bool, followups: &[u32]) -> Ack {
    Ack {
        tip,
        tip_sealed,
        followups: followups.to_vec(),
        tip_digest: None,
        followup_digests: vec![],
    }
}

fn move_to(tip: TipId, to: Reader, fill: u8) -> MoveOrder {
    MoveOrder {
        tip,
        to,
        carried: Some(Carried {
            stanza: vec![fill; 90],
            sealed: sealed(fill),
        }),
    }
}

fn numbers(tip: &StoredTip) -> Vec<u32> {
    tip.followups.iter().map(|f| f.n).collect()
}

fn county_tip_is_nothing_to_a_town(store: &dyn TipStore) {
    let id = store.insert(new_tip(40, 1)).unwrap();
    assert_eq!(store.export_ids().unwrap(), vec![id]);
    assert!(store.export_ids_for(&town("a")).unwrap().is_empty());
    assert_eq!(store.export_tip_for(&town("a"), id).unwrap(), None);
    assert!(store.export_for(&town("a")).unwrap().is_empty());
    let v = store.view(&ReceiptLookup([40; 32])).unwrap().unwrap();
    assert!(v.towns.is_empty() && v.moves.is_empty());
    let root = store.export_tip(id).unwrap().unwrap();
    assert_eq!((root.sealed, root.grant), (Some(sealed(1)), None));
}

fn town_tip_goes_once_county_and_town_acked(store: &dyn TipStore) {
    let id = store
        .insert(town_tip(41, 2, &["a", "a"]))
        .expect("duplicates are dropped");
    let other = store.insert(town_tip(42, 3, &["b"])).unwrap();
    store
        .add_followup(&ReceiptLookup([41; 32]), Day(20_101), sealed(4))
        .unwrap();
    assert_eq!(
        store.view(&ReceiptLookup([41; 32])).unwrap().unwrap().towns,
        vec![office("a")]
    );
    for reader in [Reader::Root, town("a")] {
        let t = store.export_tip_for(&reader, id).unwrap().unwrap();
        assert_eq!((&t.sealed, &t.grant), (&Some(sealed(2)), &None));
        assert_eq!(numbers(&t), vec![1]);
    }
    assert_eq!(store.export_ids_for(&town("a")).unwrap(), vec![id]);
    assert_eq!(store.export_ids_for(&town("b")).unwrap(), vec![other]);
    assert_eq!(store.export_tip_for(&town("b"), id).unwrap(), None);

    // The county's ack takes the tip out of its own export only.
    let purged = store
        .apply_ack(signed(1), &Reader::Root, &[ack(id, true, &[1])])
        .unwrap();
    assert_eq!(purged, Purged::default());
    assert_eq!(store.export_tip(id).unwrap(), None);
    assert_eq!(store.counts().unwrap().sealed_held, 2);
    assert_eq!(store.counts().unwrap().followups_held, 1);
    let t = store.export_tip_for(&town("a"), id).unwrap().unwrap();
    assert_eq!((&t.sealed, numbers(&t)), (&Some(sealed(2)), vec![1]));

    // A follow-up after the county's ack goes to both again.
    store
        .add_followup(&ReceiptLookup([41; 32]), Day(20_102), sealed(5))
        .unwrap();
    assert_eq!(numbers(&store.export_tip(id).unwrap().unwrap()), vec![2]);

    // The town's ack: now everyone entitled to the tip and follow-up 1 has them.
    let purged = store
        .apply_ack(signed(1), &town("a"), &[ack(id, true, &[1, 2])])
        .unwrap();
    assert_eq!(
        purged,
        Purged {
            tips: 1,
            followups: 1,
            copies: 0
        }
    );
    assert_eq!(numbers(&store.export_tip(id).unwrap().unwrap()), vec![2]);
    assert_eq!(store.export_tip_for(&town("a"), id).unwrap(), None);
    let purged = store
        .apply_ack(signed(2), &Reader::Root, &[ack(id, false, &[2])])
        .unwrap();
    assert_eq!(purged.followups, 1);
    assert_eq!(store.export_ids().unwrap(), vec![other]);
    assert_eq!(
        store.counts().unwrap(),
        StoreCounts {
            tips: 2,
            sealed_held: 1,
            followups_held: 0,
            files_held: 0,
            uploads_pending: 0,
        }
    );
    store.verify().unwrap();

    let too_many: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
    let names: Vec<&str> = too_many.iter().map(String::as_str).collect();
    assert!(matches!(
        store.insert(town_tip(43, 1, &names)),
        Err(StoreError::TooManyTowns(_))
    ));
    assert!(store.view(&ReceiptLookup([43; 32])).unwrap().is_none());
}

fn offices_not_addressed_are_refused_and_nothing_changes(store: &dyn TipStore) {
    let county = store.insert(new_tip(44, 1)).unwrap();
    let for_a = store.insert(town_tip(45, 2, &["a"])).unwrap();
    let for_b = store.insert(town_tip(46, 3, &["b"])).unwrap();
    let before = (
        store.export().unwrap(),
        store.export_for(&town("a")).unwrap(),
        store.view(&ReceiptLookup([45; 32])).unwrap(),
    );
    let ghost = TipId([0xee; 8]);
    // One tip the town may not read spoils the bundle; a tip that does not exist gets the
    // same answer, so a town learns nothing of tips not addressed to it.
    for bad in [county, for_b, ghost] {
        let err = store
            .apply_updates(
                signed(1),
                &town("a"),
                Day(20_101),
                &[
                    update(for_a, Status::InReview, Some(1)),
                    update(bad, Status::InReview, None),
                ],
            )
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NotAddressed(id) if id == bad),
            "{err}"
        );
        assert!(err.to_string().contains("may not act"));
        let err = store
            .apply_ack(
                signed(1),
                &town("a"),
                &[ack(for_a, true, &[]), ack(bad, true, &[])],
            )
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NotAddressed(id) if id == bad),
            "{err}"
        );
        let err = store
            .propose_moves(
                signed(1),
                &town("a"),
                Day(20_101),
                &[move_to(bad, Reader::Root, 1)],
            )
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NotAddressed(id) if id == bad),
            "{err}"
        );
    }
    assert_eq!(store.last_sequence_for(&town("a")).unwrap(), 0);
    let after = (
        store.export().unwrap(),
        store.export_for(&town("a")).unwrap(),
        store.view(&ReceiptLookup([45; 32])).unwrap(),
    );
    assert_eq!(after, before);
    // The county may act on all; an unknown tip is still named as such to it.
    let err = store
        .apply_updates(
            signed(1),
            &Reader::Root,
            Day(20_101),
            &[update(ghost, Status::InReview, None)],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownTip(_)));
    // A town's own tip takes its updates.
    store
        .apply_updates(
            signed(1),
            &town("a"),
            Day(20_101),
            &[update(for_a, Status::InReview, Some(1))],
        )
        .unwrap();
    let v = store.view(&ReceiptLookup([45; 32])).unwrap().unwrap();
    assert_eq!((v.status, v.replies.len()), (Status::InReview, 1));
}

fn sequences_are_kept_per_office(store: &dyn TipStore) {
    let for_a = store.insert(town_tip(47, 1, &["a", "b"])).unwrap();
    let up = |n: u64, reader: &Reader| {
        store.apply_updates(
            signed(n),
            reader,
            Day(20_101),
            &[update(for_a, Status::InReview, None)],
        )
    };
    up(5, &Reader::Root).unwrap();
    up(1, &town("a")).unwrap();
    up(1, &town("b")).unwrap();
    assert!(matches!(up(1, &town("a")), Err(StoreError::Replayed(1))));
    up(3, &town("a")).unwrap();
    assert!(matches!(
        up(2, &town("a")),
        Err(StoreError::Stale {
            sequence: 2,
            last: 3
        })
    ));
    assert!(matches!(
        up(4, &Reader::Root),
        Err(StoreError::Stale { last: 5, .. })
    ));
    assert_eq!(store.last_sequence().unwrap(), 5);
    assert_eq!(store.last_sequence_for(&Reader::Root).unwrap(), 5);
    assert_eq!(store.last_sequence_for(&town("a")).unwrap(), 3);
    assert_eq!(store.last_sequence_for(&town("b")).unwrap(), 1);
    assert_eq!(store.last_sequence_for(&town("c")).unwrap(), 0);
    // Moves count as signed bundles of their office too.
    store
        .propose_moves(
            signed(4),
            &town("a"),
            Day(20_102),
            &[move_to(for_a, Reader::Root, 1)],
        )
        .unwrap();
    assert_eq!(store.last_sequence_for(&town("a")).unwrap(), 4);
}

fn move_to_the_county_is_done_at_once(store: &dyn TipStore) {
    let id = store.insert(town_tip(48, 1, &["a"])).unwrap();
    let before = (store.export().unwrap(), store.counts().unwrap());
    let states = store
        .propose_moves(
            signed(1),
            &town("a"),
            Day(20_103),
            &[move_to(id, Reader::Root, 9)],
        )
        .unwrap();
    assert_eq!(states, vec![MoveState::Done(Day(20_103))]);
    let v = store.view(&ReceiptLookup([48; 32])).unwrap().unwrap();
    assert_eq!(
        v.moves,
        vec![MoveView {
            by: town("a"),
            to: Reader::Root,
            proposed_on: Day(20_103),
            state: MoveState::Done(Day(20_103)),
        }]
    );
    assert_eq!(v.towns, vec![office("a")]);
    // Nothing was kept: the county reads the original anyway.
    assert_eq!((store.export().unwrap(), store.counts().unwrap()), before);
    store.verify().unwrap();
    // Once per office: a second move would say nothing new.
    let err = store
        .propose_moves(
            signed(2),
            &town("a"),
            Day(20_104),
            &[move_to(id, Reader::Root, 9)],
        )
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::MoveRefused {
            reason: AddressingError::AlreadyMoved,
            ..
        }
    ));
    // The county cannot move a tip to itself.
    let err = store
        .propose_moves(
            signed(1),
            &Reader::Root,
            Day(20_103),
            &[move_to(id, Reader::Root, 9)],
        )
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::MoveRefused {
            reason: AddressingError::AlreadyReads,
            ..
        }
    ));
}

fn move_to_a_town_waits_for_the_resident(store: &dyn TipStore) {
    let id = store.insert(new_tip(49, 1)).unwrap();
    let lookup = ReceiptLookup([49; 32]);
    store.add_followup(&lookup, Day(20_101), sealed(2)).unwrap();
    let states = store
        .propose_moves(
            signed(1),
            &Reader::Root,
            Day(20_102),
            &[move_to(id, town("t"), 7)],
        )
        .unwrap();
    assert_eq!(states, vec![MoveState::Waiting]);
    // Until the resident agrees, the town gets nothing, not even the tip's id.
    assert!(store.export_ids_for(&town("t")).unwrap().is_empty());
    assert_eq!(store.export_tip_for(&town("t"), id).unwrap(), None);
    let v = store.view(&lookup).unwrap().unwrap();
    assert!(v.towns.is_empty());
    assert_eq!(v.moves[0].state, MoveState::Waiting);
    // A second move to it, even beside a good one, spoils the bundle.
    let spare = store.insert(new_tip(50, 1)).unwrap();
    let err = store
        .propose_moves(
            signed(2),
            &Reader::Root,
            Day(20_102),
            &[move_to(spare, town("u"), 7), move_to(id, town("t"), 8)],
        )
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::MoveRefused { tip, reason: AddressingError::AlreadyWaiting } if tip == id
    ));
    assert!(store
        .view(&ReceiptLookup([50; 32]))
        .unwrap()
        .unwrap()
        .moves
        .is_empty());
    assert_eq!(store.last_sequence().unwrap(), 1);
    // The town cannot act on it while it waits.
    assert!(matches!(
        store.apply_updates(
            signed(1),
            &town("t"),
            Day(20_102),
            &[update(id, Status::InReview, None)]
        ),
        Err(StoreError::NotAddressed(_))
    ));

    store.add_followup(&lookup, Day(20_103), sealed(3)).unwrap();
    assert!(matches!(
        store.decide_move(&lookup, &office("u"), true, Day(20_104), None),
        Err(StoreError::NoMoveWaiting)
    ));
    let decision = store
        .decide_move(&lookup, &office("t"), true, Day(20_104), None)
        .unwrap()
        .unwrap();
    assert_eq!(
        decision,
        MoveDecision {
            to: office("t"),
            state: MoveState::Agreed(Day(20_104))
        }
    );
    assert!(matches!(
        store.decide_move(&lookup, &office("t"), false, Day(20_104), None),
        Err(StoreError::NoMoveWaiting)
    ));
    store.add_followup(&lookup, Day(20_105), sealed(4)).unwrap();
    // Agreed: the carried copy with its stanza, and only the follow-ups filed since.
    assert_eq!(store.export_ids_for(&town("t")).unwrap(), vec![id]);
    let t = store.export_tip_for(&town("t"), id).unwrap().unwrap();
    assert_eq!(t.sealed, Some(sealed(7)));
    assert_eq!(t.grant, Some(vec![7; 90]));
    assert_eq!(t.sealed_reply_key, None);
    assert_eq!(numbers(&t), vec![3]);
    let v = store.view(&lookup).unwrap().unwrap();
    assert_eq!(v.towns, vec![office("t")]);
    assert_eq!(v.moves[0].state, MoveState::Agreed(Day(20_104)));
    let root = store.export_tip(id).unwrap().unwrap();
    assert_eq!((&root.grant, numbers(&root)), (&None, vec![1, 2, 3]));
    // The town reads it now: no second move to it.
    let err = store
        .propose_moves(
            signed(3),
            &Reader::Root,
            Day(20_106),
            &[move_to(id, town("t"), 8)],
        )
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::MoveRefused {
            reason: AddressingError::AlreadyReads,
            ..
        }
    ));

    // The county's ack deletes the original (no chosen town) and follow-ups 1 and 2, which
    // the town never sees; 3 waits for the town.
    let purged = store
        .apply_ack(signed(3), &Reader::Root, &[ack(id, true, &[1, 2, 3])])
        .unwrap();
    assert_eq!((purged.tips, purged.followups, purged.copies), (1, 2, 0));
    assert_eq!(
        store.counts().unwrap().sealed_held,
        2,
        "the copy, and tip 50"
    );
    let purged = store
        .apply_ack(signed(1), &town("t"), &[ack(id, true, &[1, 3])])
        .unwrap();
    assert_eq!((purged.tips, purged.followups, purged.copies), (0, 1, 1));
    assert_eq!(store.export_tip_for(&town("t"), id).unwrap(), None);
    assert_eq!(store.export_tip(id).unwrap(), None);
    assert_eq!(
        store.counts().unwrap(),
        StoreCounts {
            tips: 2,
            sealed_held: 1,
            followups_held: 0,
            files_held: 0,
            uploads_pending: 0,
        }
    );
    store.verify().unwrap();
}

fn declined_move_changes_nothing(store: &dyn TipStore) {
    let id = store.insert(town_tip(51, 1, &["a"])).unwrap();
    let lookup = ReceiptLookup([51; 32]);
    let before = (
        store.export().unwrap(),
        store.export_for(&town("a")).unwrap(),
    );
    store
        .propose_moves(
            signed(1),
            &town("a"),
            Day(20_102),
            &[move_to(id, town("t"), 7)],
        )
        .unwrap();
    assert_eq!(store.counts().unwrap().sealed_held, 1);
    assert!(store
        .decide_move(
            &ReceiptLookup([99; 32]),
            &office("t"),
            false,
            Day(20_103),
            None
        )
        .unwrap()
        .is_none());
    let decision = store
        .decide_move(&lookup, &office("t"), false, Day(20_103), None)
        .unwrap()
        .unwrap();
    assert_eq!(decision.state, MoveState::Declined(Day(20_103)));
    assert!(store.export_ids_for(&town("t")).unwrap().is_empty());
    assert_eq!(
        (
            store.export().unwrap(),
            store.export_for(&town("a")).unwrap()
        ),
        before
    );
    let v = store.view(&lookup).unwrap().unwrap();
    assert_eq!(v.towns, vec![office("a")]);
    assert_eq!(
        v.moves,
        vec![MoveView {
            by: town("a"),
            to: town("t"),
            proposed_on: Day(20_102),
            state: MoveState::Declined(Day(20_103))
        }]
    );
    store.verify().unwrap();
    // A county tip with no move at all: nothing waits.
    store.insert(new_tip(52, 1)).unwrap();
    assert!(matches!(
        store.decide_move(
            &ReceiptLookup([52; 32]),
            &office("t"),
            true,
            Day(20_103),
            None
        ),
        Err(StoreError::NoMoveWaiting)
    ));
    // Declined, it is not proposed again (the resident is not nagged), and the refusal
    // changes nothing; another office may still be asked about.
    assert!(matches!(
        store.propose_moves(
            signed(2),
            &town("a"),
            Day(20_104),
            &[move_to(id, town("t"), 8)],
        ),
        Err(StoreError::MoveRefused {
            reason: AddressingError::Declined,
            ..
        })
    ));
    let states = store
        .propose_moves(
            signed(2),
            &town("a"),
            Day(20_104),
            &[move_to(id, town("u"), 8)],
        )
        .unwrap();
    assert_eq!(states, vec![MoveState::Waiting]);
}

/// A blob of a file of `file_len` bytes, filled with `fill` (the store never opens it).
fn blob(file_len: u64, fill: u8) -> Vec<u8> {
    let len = crate::domain::attachment::blob_len(file_len) as usize;
    let mut b = vec![fill; len];
    b[..4].copy_from_slice(crate::domain::attachment::BLOB_MAGIC);
    // Every piece differs, so a piece stored out of place would show.
    for (i, p) in b[20..].chunks_mut(4096).enumerate() {
        p[..4].copy_from_slice(&(i as u32).to_le_bytes());
    }
    b
}

/// Starts an upload of `blob` and sends every chunk (last first, as a resumed page might).
fn upload(store: &dyn TipStore, blob: &[u8]) -> UploadId {
    let id = store.create_upload(blob.len() as u64, Day(20_100)).unwrap();
    let chunks: Vec<&[u8]> = blob
        .chunks(crate::domain::attachment::UPLOAD_CHUNK_BYTES)
        .collect();
    for (i, c) in chunks.iter().enumerate().rev() {
        store.put_upload_chunk(&id, i as u32, c).unwrap();
    }
    id
}

fn uploads_arrive_in_chunks_and_refuse_what_does_not_fit(store: &dyn TipStore) {
    use crate::domain::attachment::UPLOAD_CHUNK_BYTES;
    let b = blob(600_000, 7);
    assert!(b.len() > 2 * UPLOAD_CHUNK_BYTES, "three chunks");
    assert!(matches!(
        store.create_upload(12_345, Day(20_100)),
        Err(StoreError::NotABlobLength)
    ));
    assert!(matches!(
        store.create_upload(
            crate::domain::attachment::blob_len(30 * 1024 * 1024),
            Day(20_100)
        ),
        Err(StoreError::FilesTooLarge)
    ));
    let id = store.create_upload(b.len() as u64, Day(20_100)).unwrap();
    let state = store.upload_state(&id).unwrap().unwrap();
    assert_eq!((state.chunks, state.missing.clone()), (3, vec![0, 1, 2]));
    assert!(!state.used);
    let c0 = &b[..UPLOAD_CHUNK_BYTES];
    let c2 = &b[2 * UPLOAD_CHUNK_BYTES..];
    assert_eq!(
        store.put_upload_chunk(&id, 2, c2).unwrap().missing,
        vec![0, 1]
    );
    // The same bytes again (a retry after a lost answer) are fine; other bytes are not.
    assert_eq!(
        store.put_upload_chunk(&id, 2, c2).unwrap().missing,
        vec![0, 1]
    );
    let mut other = c2.to_vec();
    other[100] ^= 1;
    assert!(matches!(
        store.put_upload_chunk(&id, 2, &other),
        Err(StoreError::ChunkConflict)
    ));
    assert!(matches!(
        store.put_upload_chunk(&id, 0, &c0[..1000]),
        Err(StoreError::BadChunk(_))
    ));
    assert!(matches!(
        store.put_upload_chunk(&id, 3, c2),
        Err(StoreError::BadChunk(_))
    ));
    assert!(matches!(
        store.put_upload_chunk(&UploadId([9; 16]), 0, c0),
        Err(StoreError::UnknownUpload)
    ));
    assert_eq!(store.upload_state(&UploadId([9; 16])).unwrap(), None);
    store.put_upload_chunk(&id, 0, c0).unwrap();

    // Incomplete: the tip is refused and nothing of it is stored.
    let with = |lookup: u8, uploads: Vec<UploadId>| NewTip {
        uploads,
        ..new_tip(lookup, lookup)
    };
    assert!(matches!(
        store.insert(with(60, vec![id])),
        Err(StoreError::UploadIncomplete(1))
    ));
    assert!(matches!(
        store.insert(with(60, vec![UploadId([9; 16])])),
        Err(StoreError::UnknownUpload)
    ));
    assert!(store.view(&ReceiptLookup([60; 32])).unwrap().is_none());
    assert!(store.export().unwrap().is_empty());
    // Received bytes count, not what an upload announced.
    assert_eq!(
        store.pending_uploads().unwrap(),
        Pending {
            uploads: 1,
            bytes: (b.len() - UPLOAD_CHUNK_BYTES) as u64
        }
    );

    store
        .put_upload_chunk(&id, 1, &b[UPLOAD_CHUNK_BYTES..2 * UPLOAD_CHUNK_BYTES])
        .unwrap();
    let small = blob(10, 3);
    let id2 = upload(store, &small);
    // Named twice: refused.
    assert!(matches!(
        store.insert(with(60, vec![id, id])),
        Err(StoreError::UploadUsed)
    ));
    let tip = store.insert(with(60, vec![id2, id])).unwrap();
    let t = store.export_tip(tip).unwrap().unwrap();
    assert_eq!(
        t.attachments,
        vec![small.clone(), b.clone()],
        "in the order named"
    );
    assert!(store.upload_state(&id).unwrap().unwrap().used);
    assert_eq!(store.pending_uploads().unwrap(), Pending::default());
    // A used upload takes no more chunks and no second report.
    assert!(matches!(
        store.put_upload_chunk(&id, 0, c0),
        Err(StoreError::UploadUsed)
    ));
    assert!(matches!(
        store.insert(with(61, vec![id])),
        Err(StoreError::UploadUsed)
    ));
    assert!(store.view(&ReceiptLookup([61; 32])).unwrap().is_none());
    let counts = store.counts().unwrap();
    assert_eq!((counts.files_held, counts.uploads_pending), (2, 0));
    store.verify().unwrap();
}

fn files_follow_their_tip_and_followup_through_acks(store: &dyn TipStore) {
    let photo = blob(300_000, 1);
    let voice = blob(20_000, 2);
    let tip_file = upload(store, &photo);
    let id = store
        .insert(NewTip {
            uploads: vec![tip_file],
            ..new_tip(62, 1)
        })
        .unwrap();
    let lookup = ReceiptLookup([62; 32]);
    let f_file = upload(store, &voice);
    assert!(matches!(
        store.add_followup_with_files(&ReceiptLookup([99; 32]), Day(20_101), sealed(2), &[f_file]),
        Ok(None)
    ));
    let n = store
        .add_followup_with_files(&lookup, Day(20_101), sealed(2), &[f_file])
        .unwrap()
        .unwrap();
    let t = store.export_tip(id).unwrap().unwrap();
    assert_eq!(t.attachments, vec![photo.clone()]);
    assert_eq!(t.followups[0].attachments, vec![voice.clone()]);
    // A follow-up with an incomplete upload is refused whole.
    let half = store
        .create_upload(voice.len() as u64, Day(20_101))
        .unwrap();
    assert!(matches!(
        store.add_followup_with_files(&lookup, Day(20_101), sealed(3), &[half]),
        Err(StoreError::UploadIncomplete(1))
    ));
    assert_eq!(store.export_tip(id).unwrap().unwrap().followups.len(), 1);

    // Acking the follow-up deletes its file; the tip's stays with the tip.
    store
        .apply_ack(signed(1), &Reader::Root, &[ack(id, false, &[n])])
        .unwrap();
    let t = store.export_tip(id).unwrap().unwrap();
    assert!(t.followups.is_empty());
    assert_eq!(t.attachments, vec![photo]);
    assert_eq!(store.counts().unwrap().files_held, 1);
    assert_eq!(store.upload_state(&f_file).unwrap(), None);
    store
        .apply_ack(signed(2), &Reader::Root, &[ack(id, true, &[])])
        .unwrap();
    assert_eq!(store.export_tip(id).unwrap(), None);
    assert_eq!(store.counts().unwrap().files_held, 0);
    assert_eq!(store.upload_state(&tip_file).unwrap(), None);
    store.verify().unwrap();
}

fn a_town_tips_files_stay_until_every_reader_acked(store: &dyn TipStore) {
    let photo = blob(100_000, 5);
    let file = upload(store, &photo);
    let id = store
        .insert(NewTip {
            uploads: vec![file],
            ..town_tip(63, 1, &["a"])
        })
        .unwrap();
    let t = store.export_tip_for(&town("a"), id).unwrap().unwrap();
    assert_eq!(t.attachments, vec![photo.clone()]);
    store
        .apply_ack(signed(1), &Reader::Root, &[ack(id, true, &[])])
        .unwrap();
    let t = store.export_tip_for(&town("a"), id).unwrap().unwrap();
    assert_eq!(t.attachments, vec![photo], "the town has not acked it yet");
    store
        .apply_ack(signed(1), &town("a"), &[ack(id, true, &[])])
        .unwrap();
    assert_eq!(store.counts().unwrap().files_held, 0);
    assert_eq!(store.upload_state(&file).unwrap(), None);
}

fn unfinished_uploads_expire_and_used_ones_stay(store: &dyn TipStore) {
    let b = blob(1000, 4);
    let old = store.create_upload(b.len() as u64, Day(20_100)).unwrap();
    let fresh = store.create_upload(b.len() as u64, Day(20_102)).unwrap();
    let used = upload(store, &b);
    store
        .insert(NewTip {
            uploads: vec![used],
            ..new_tip(64, 1)
        })
        .unwrap();
    assert_eq!(store.expire_uploads(Day(20_101)).unwrap(), 1);
    assert_eq!(store.upload_state(&old).unwrap(), None);
    assert!(store.upload_state(&fresh).unwrap().is_some());
    assert!(store.upload_state(&used).unwrap().unwrap().used);
    // Discarding leaves used and unknown uploads alone.
    store.discard_uploads(&[used, UploadId([7; 16])]).unwrap();
    assert!(store.upload_state(&used).unwrap().unwrap().used);
    let waiting = store.create_upload(b.len() as u64, Day(20_300)).unwrap();
    store.discard_uploads(&[waiting]).unwrap();
    assert_eq!(store.upload_state(&waiting).unwrap(), None);
    assert_eq!(store.expire_uploads(Day(20_200)).unwrap(), 1);
    assert!(store.upload_state(&used).unwrap().is_some());
    assert_eq!(store.counts().unwrap().uploads_pending, 0);
    store.verify().unwrap();
}

fn stub(n: u8) -> StubKey {
    StubKey([n; 32])
}

fn printed_forms_are_registered_all_or_nothing(store: &dyn TipStore) {
    let first = store
        .register_batch(Day(20_100), &[stub(1), stub(2), stub(3)])
        .unwrap();
    assert_eq!(
        first,
        Batch {
            number: 1,
            made_on: Day(20_100),
            forms: 3,
            voided_on: None
        }
    );
    for n in 1..=3 {
        assert_eq!(store.stub_batch(&stub(n)).unwrap(), Some(first));
    }
    assert_eq!(store.stub_batch(&stub(9)).unwrap(), None);
    // A code already on a form, within the batch or from an earlier one: nothing is kept.
    for bad in [vec![stub(7), stub(7)], vec![stub(8), stub(2)]] {
        assert!(matches!(
            store.register_batch(Day(20_101), &bad),
            Err(StoreError::StubTaken)
        ));
    }
    assert_eq!(store.stub_batch(&stub(8)).unwrap(), None);
    assert_eq!(store.stub_batch(&stub(7)).unwrap(), None);
    let too_many: Vec<StubKey> = (0..=MAX_BATCH_FORMS as u32)
        .map(|i| {
            let mut key = [0xee; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            StubKey(key)
        })
        .collect();
    for bad in [&[][..], &too_many[..]] {
        assert!(matches!(
            store.register_batch(Day(20_101), bad),
            Err(StoreError::BatchSize)
        ));
    }
    assert_eq!(store.batches().unwrap(), vec![first]);
    let second = store.register_batch(Day(20_102), &too_many[1..]).unwrap();
    assert_eq!((second.number, second.forms), (2, MAX_BATCH_FORMS as u32));
    assert_eq!(store.batches().unwrap(), vec![first, second]);
    // Registering forms files no tip.
    assert!(store.export().unwrap().is_empty());
    assert_eq!(store.verify().unwrap().tips, 0);
}

fn a_letter_is_entered_once_under_its_stub(store: &dyn TipStore) {
    store
        .register_batch(Day(20_100), &[stub(1), stub(2)])
        .unwrap();
    let id = store
        .insert_entered(new_tip(1, 0x11), Some(&stub(1)))
        .unwrap();
    let view = store.view(&ReceiptLookup([1; 32])).unwrap().unwrap();
    assert_eq!((view.day, view.status), (Day(20_100), Status::Received));
    let before = (store.export().unwrap(), store.monthly_counts().unwrap());
    assert_eq!(before.0.len(), 1);
    assert_eq!(before.0[0].id, id);
    // The same letter again (same code, so the same lookup), even with other words.
    assert!(matches!(
        store.insert_entered(new_tip(1, 0x22), Some(&stub(1))),
        Err(StoreError::LookupTaken)
    ));
    // A code no form carries.
    assert!(matches!(
        store.insert_entered(new_tip(5, 0x55), Some(&stub(9))),
        Err(StoreError::UnknownStub)
    ));
    assert_eq!(
        (store.export().unwrap(), store.monthly_counts().unwrap()),
        before,
        "a refused entry changes nothing"
    );
    assert!(store.view(&ReceiptLookup([5; 32])).unwrap().is_none());
    // A call and a visit, with new receipts.
    store.insert_entered(new_tip(2, 0x33), None).unwrap();
    let mut visit = new_tip(3, 0x44);
    visit.day = Day(20_140);
    store.insert_entered(visit, None).unwrap();
    store.insert(new_tip(4, 0x66)).unwrap();
    // Entering counts nothing by channel: the counts come later, in a write of their own.
    assert!(store.monthly_counts().unwrap()[&month_of(Day(20_100))]
        .entered
        .is_empty());
    store
        .add_intake_counts(&[
            (month_of(Day(20_100)), Channel::Letter, 1),
            (month_of(Day(20_100)), Channel::Phone, 1),
        ])
        .unwrap();
    store
        .add_intake_counts(&[(month_of(Day(20_140)), Channel::Visit, 1)])
        .unwrap();
    let months = store.monthly_counts().unwrap();
    let first = &months[&month_of(Day(20_100))];
    assert_eq!(first.received, 3);
    assert_eq!(
        first.entered,
        [(Channel::Letter, 1), (Channel::Phone, 1)]
            .into_iter()
            .collect()
    );
    assert_eq!(first.by_channel()[&Channel::Online], 1);
    let later = &months[&month_of(Day(20_140))];
    assert_eq!(later.by_channel()[&Channel::Visit], 1);
    assert_eq!(later.by_channel()[&Channel::Online], 0);
    assert_eq!(store.verify().unwrap().tips, 4);
}

fn a_withdrawn_batch_takes_no_letter(store: &dyn TipStore) {
    let batch = store
        .register_batch(Day(20_100), &[stub(1), stub(2)])
        .unwrap();
    store
        .insert_entered(new_tip(1, 0x11), Some(&stub(1)))
        .unwrap();
    let voided = store
        .void_batch(batch.number, Day(20_105))
        .unwrap()
        .unwrap();
    assert_eq!(voided.voided_on, Some(Day(20_105)));
    assert_eq!(
        store.void_batch(batch.number, Day(20_109)).unwrap(),
        Some(voided),
        "withdrawn once"
    );
    assert_eq!(store.void_batch(99, Day(20_105)).unwrap(), None);
    assert_eq!(store.stub_batch(&stub(2)).unwrap(), Some(voided));
    let before = (store.export().unwrap(), store.monthly_counts().unwrap());
    assert!(matches!(
        store.insert_entered(new_tip(2, 0x22), Some(&stub(2))),
        Err(StoreError::BatchVoided(label)) if label == "0001"
    ));
    assert_eq!(
        (store.export().unwrap(), store.monthly_counts().unwrap()),
        before
    );
    // The letter entered before the batch was withdrawn keeps its code.
    assert!(store.view(&ReceiptLookup([1; 32])).unwrap().is_some());
    assert_eq!(store.batches().unwrap(), vec![voided]);
    store.verify().unwrap();
}

fn a_tip_holds_a_bounded_number_of_followups_until_acked(store: &dyn TipStore) {
    let id = store.insert(new_tip(67, 1)).unwrap();
    let lookup = ReceiptLookup([67; 32]);
    for _ in 0..MAX_HELD_FOLLOWUPS {
        store.add_followup(&lookup, Day(20_101), sealed(2)).unwrap();
    }
    let file = upload(store, &blob(1000, 3));
    assert!(matches!(
        store.add_followup_with_files(&lookup, Day(20_101), sealed(3), &[file]),
        Err(StoreError::TooManyFollowupsHeld)
    ));
    assert!(
        !store.upload_state(&file).unwrap().unwrap().used,
        "nothing was taken"
    );
    assert_eq!(
        store.export_tip(id).unwrap().unwrap().followups.len(),
        MAX_HELD_FOLLOWUPS as usize
    );
    store.verify().unwrap();
    // Once the office has collected some, there is room again.
    store
        .apply_ack(signed(1), &Reader::Root, &[ack(id, false, &[1, 2])])
        .unwrap();
    store
        .add_followup_with_files(&lookup, Day(20_102), sealed(3), &[file])
        .unwrap()
        .unwrap();
    store.add_followup(&lookup, Day(20_102), sealed(4)).unwrap();
    assert!(matches!(
        store.add_followup(&lookup, Day(20_102), sealed(4)),
        Err(StoreError::TooManyFollowupsHeld)
    ));
    store.verify().unwrap();
}

macro_rules! store_suite {
    ($name:ident, |$test_name:ident| $make:expr, [$($test:ident),* $(,)?]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $test() {
                    let $test_name = concat!(module_path!(), "::", stringify!($test));
                    // `None`: the store is not available here (it said why).
                    let Some((store, _guard)) = ($make) else {
                        return;
                    };
                    super::$test(&store);
                }
            )*
        }
    };
}

/// Runs every contract test against every store. The PostgreSQL store runs each test in a
/// schema of its own on the server named by `WHISTLEBOX_TEST_POSTGRES`; without it the
/// tests say they were skipped (and fail under `CI=true`).
macro_rules! store_suites {
    ($($test:ident),* $(,)?) => {
        store_suite!(memory, |_name| Some((MemoryStore::default(), ())), [$($test),*]);
        store_suite!(sled, |_name| {
            crate::crypto::init().unwrap();
            let dir = tempfile::tempdir().unwrap();
            Some((SledStore::open(&dir.path().join("store")).unwrap(), dir))
        }, [$($test),*]);
        store_suite!(postgres, |name| {
            crate::crypto::init().unwrap();
            crate::store::postgres::testing::store(name)
        }, [$($test),*]);
    };
}

store_suites!(
    insert_then_view,
    taken_lookup_is_refused_and_changes_nothing,
    pepper_check_is_sticky,
    many_tips_keep_distinct_ids,
    updates_apply_all_or_nothing,
    followups_and_acks,
    monthly_counts,
    county_tip_is_nothing_to_a_town,
    town_tip_goes_once_county_and_town_acked,
    offices_not_addressed_are_refused_and_nothing_changes,
    sequences_are_kept_per_office,
    move_to_the_county_is_done_at_once,
    move_to_a_town_waits_for_the_resident,
    declined_move_changes_nothing,
    uploads_arrive_in_chunks_and_refuse_what_does_not_fit,
    files_follow_their_tip_and_followup_through_acks,
    a_town_tips_files_stay_until_every_reader_acked,
    unfinished_uploads_expire_and_used_ones_stay,
    a_tip_holds_a_bounded_number_of_followups_until_acked,
    printed_forms_are_registered_all_or_nothing,
    a_letter_is_entered_once_under_its_stub,
    a_withdrawn_batch_takes_no_letter,
);

#[test]
fn sled_keeps_batches_and_counts_across_a_reopen_and_verify_checks_them() {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let s = SledStore::open(&path).unwrap();
        let b = s.register_batch(Day(20_100), &[stub(1), stub(2)]).unwrap();
        s.insert_entered(new_tip(1, 0x11), Some(&stub(1))).unwrap();
        s.add_intake_counts(&[(month_of(Day(20_100)), Channel::Letter, 1)])
            .unwrap();
        s.void_batch(b.number, Day(20_101)).unwrap();
    }
    let s = reopen(&path);
    s.verify().unwrap();
    assert_eq!(s.batches().unwrap()[0].voided_on, Some(Day(20_101)));
    assert_eq!(
        s.monthly_counts().unwrap()[&month_of(Day(20_100))].entered[&Channel::Letter],
        1
    );
    assert_eq!(s.register_batch(Day(20_102), &[stub(3)]).unwrap().number, 2);
    // A form whose batch is gone is damage, and so is a batch that counts other forms.
    s.with(|inner| {
        inner.stubs.insert([9u8; 32], &7u32.to_be_bytes()[..])?;
        Ok(())
    })
    .unwrap();
    assert!(matches!(s.verify(), Err(StoreError::Corrupt(_))));
    s.with(|inner| {
        inner.stubs.remove([9u8; 32])?;
        inner.stubs.remove([3u8; 32])?;
        Ok(())
    })
    .unwrap();
    assert!(matches!(s.verify(), Err(StoreError::Corrupt(_))));
}

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
            &Reader::Root,
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
        s.with(|inner| {
            inner.receipts.insert([8u8; 32], &[0u8; 8][..])?;
            inner.db.flush()?;
            Ok(())
        })
        .unwrap();
    }
    let s = reopen(dir.path());
    assert!(matches!(s.verify(), Err(StoreError::Corrupt(_))));
}

/// Every file under `root` holding `needle`.
fn files_holding(root: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if std::fs::read(&p)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            hits.push(p);
        }
    }
    hits
}

/// A sealed box of random bytes (ciphertext looks random; no slice of it repeats elsewhere).
fn big_sealed(len_blocks: usize) -> SealedTip {
    let mut bytes = vec![0u8; SEAL_OVERHEAD + len_blocks * PAD_BLOCK];
    crate::crypto::random_fill(&mut bytes);
    SealedTip::from_bytes(bytes, usize::MAX).unwrap()
}

#[test]
fn sled_ack_removes_the_ciphertext_from_every_file_and_keeps_the_rest() {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let s = SledStore::open(&path).unwrap();
    const SMALL: u8 = 200;
    for i in 0..SMALL {
        s.insert(new_tip(i, i)).unwrap();
    }
    let big = big_sealed(1023);
    let kept = big_sealed(512);
    let acked_id = s
        .insert(NewTip {
            sealed: big.clone(),
            ..new_tip(250, 1)
        })
        .unwrap();
    s.insert(NewTip {
        sealed: kept.clone(),
        ..new_tip(251, 2)
    })
    .unwrap();
    let followup = big_sealed(300);
    s.add_followup(&ReceiptLookup([251; 32]), Day(20_101), followup.clone())
        .unwrap();
    let needle = &big.as_bytes()[500_000..500_064];
    assert!(!files_holding(&path, needle).is_empty());
    let started = std::time::Instant::now();
    let purged = s
        .apply_ack(
            signed(1),
            &Reader::Root,
            &[Ack {
                tip: acked_id,
                tip_sealed: true,
                followups: vec![],
                tip_digest: None,
                followup_digests: vec![],
            }],
        )
        .unwrap();
    let took = started.elapsed();
    let bytes = s.bytes_on_disk().unwrap();
    println!(
        "ack with compaction of {} tips ({} of 1 KiB, two of 0.5 and 1 MiB, a 300 KiB follow-up): {took:?}; {bytes} bytes on disk",
        SMALL as usize + 2,
        SMALL
    );
    assert_eq!(purged.tips, 1);
    assert!(files_holding(&path, needle).is_empty());
    assert!(!files_holding(&path, &kept.as_bytes()[100_000..100_064]).is_empty());
    let blobs = path.join("blobs");
    assert!(!blobs.exists() || std::fs::read_dir(&blobs).unwrap().next().is_none());
    // Everything else is still there, and still there after a reopen.
    let check = |s: &SledStore| {
        assert_eq!(s.verify().unwrap().tips, SMALL as u64 + 2);
        let all = s.export().unwrap();
        assert_eq!(all.len(), SMALL as usize + 1);
        let k = all
            .iter()
            .find(|t| t.sealed.as_ref() == Some(&kept))
            .unwrap();
        assert_eq!(k.followups[0].sealed, followup);
        assert_eq!(s.last_sequence().unwrap(), 1);
    };
    check(&s);
    drop(s);
    check(&reopen(&path));
}

#[test]
fn sled_reads_a_format_1_folder_and_rewrites_it() {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let big = big_sealed(400);
    {
        // A folder as format 1 wrote it: the sealed tip inside a version 2 record, a
        // follow-up inline in its entry.
        let db = ::sled::open(&path).unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert(b"format", &b"whistlebox-store:1"[..]).unwrap();
        meta.insert(b"receipt_salt", &[3u8; SALT_BYTES][..])
            .unwrap();
        let record = Record {
            day: Day(20_100),
            status: Status::Received,
            history_count: 0,
            reply_count: 0,
            followup_count: 1,
            sealed_reply_key: Some(vec![1; 80]),
            sealed: Held::Inline(big.clone()),
        };
        db.open_tree("tips")
            .unwrap()
            .insert([7u8; 8], record.encode())
            .unwrap();
        db.open_tree("receipts")
            .unwrap()
            .insert([7u8; 32], &[7u8; 8][..])
            .unwrap();
        db.open_tree("followups")
            .unwrap()
            .insert(
                super::record::entry_key(&[7; 8], 1),
                super::record::encode_entry(Day(20_101), sealed(5).as_bytes()),
            )
            .unwrap();
        db.flush().unwrap();
    }
    let s = reopen(&path);
    assert_eq!(s.receipt_salt(), [3u8; SALT_BYTES]);
    let all = s.export().unwrap();
    assert_eq!(all[0].sealed.as_ref(), Some(&big));
    assert_eq!(all[0].followups[0].sealed, sealed(5));
    let blobs = path.join("blobs");
    assert!(!blobs.exists() || std::fs::read_dir(&blobs).unwrap().next().is_none());
}

#[test]
fn sled_keeps_offices_across_a_reopen() {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let id;
    let snapshot = {
        let s = SledStore::open(&path).unwrap();
        id = s.insert(town_tip(60, 1, &["a"])).unwrap();
        s.insert(new_tip(61, 2)).unwrap();
        let lookup = ReceiptLookup([60; 32]);
        s.add_followup(&lookup, Day(20_101), sealed(3)).unwrap();
        s.apply_ack(signed(2), &Reader::Root, &[ack(id, true, &[1])])
            .unwrap();
        s.propose_moves(
            signed(7),
            &town("a"),
            Day(20_102),
            &[move_to(id, town("t"), 4), move_to(id, town("u"), 5)],
        )
        .unwrap();
        s.decide_move(&lookup, &office("t"), true, Day(20_103), None)
            .unwrap();
        s.add_followup(&lookup, Day(20_104), sealed(6)).unwrap();
        let exports: Vec<_> = [Reader::Root, town("a"), town("t"), town("u")]
            .iter()
            .map(|r| s.export_for(r).unwrap())
            .collect();
        (exports, s.view(&lookup).unwrap(), s.counts().unwrap())
    };
    let s = reopen(&path);
    s.verify().unwrap();
    let exports: Vec<_> = [Reader::Root, town("a"), town("t"), town("u")]
        .iter()
        .map(|r| s.export_for(r).unwrap())
        .collect();
    let lookup = ReceiptLookup([60; 32]);
    assert_eq!(
        (exports, s.view(&lookup).unwrap(), s.counts().unwrap()),
        snapshot
    );
    assert_eq!(s.last_sequence().unwrap(), 2);
    assert_eq!(s.last_sequence_for(&town("a")).unwrap(), 7);
    // The waiting move still waits, and can still be answered.
    let d = s
        .decide_move(&lookup, &office("u"), true, Day(20_105), None)
        .unwrap()
        .unwrap();
    assert_eq!(d.state, MoveState::Agreed(Day(20_105)));
    assert!(s.export_for(&town("u")).unwrap()[0].followups.is_empty());
}

#[test]
fn sled_deleted_copies_and_tips_leave_every_file() {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let s = SledStore::open(&path).unwrap();
    let original = big_sealed(300);
    let copy = big_sealed(200);
    let declined = big_sealed(100);
    let mut stanza = vec![0u8; 200];
    crate::crypto::random_fill(&mut stanza);
    let id = s
        .insert(NewTip {
            sealed: original.clone(),
            ..town_tip(70, 1, &["a"])
        })
        .unwrap();
    let lookup = ReceiptLookup([70; 32]);
    let orders = [
        MoveOrder {
            carried: Some(Carried {
                stanza: stanza.clone(),
                sealed: copy.clone(),
            }),
            ..move_to(id, town("t"), 1)
        },
        MoveOrder {
            carried: Some(Carried {
                stanza: vec![2; 90],
                sealed: declined.clone(),
            }),
            ..move_to(id, town("u"), 2)
        },
    ];
    s.propose_moves(signed(1), &town("a"), Day(20_101), &orders)
        .unwrap();
    s.decide_move(&lookup, &office("t"), true, Day(20_102), None)
        .unwrap();
    let on_disk = |b: &[u8]| !files_holding(&path, &b[b.len() / 2..b.len() / 2 + 64]).is_empty();
    assert!(on_disk(original.as_bytes()) && on_disk(copy.as_bytes()));
    assert!(on_disk(declined.as_bytes()) && on_disk(&stanza));

    s.decide_move(&lookup, &office("u"), false, Day(20_103), None)
        .unwrap();
    assert!(
        !on_disk(declined.as_bytes()),
        "a declined copy leaves the disk"
    );
    // The county's ack alone keeps the original: the town has not acked it.
    s.apply_ack(signed(1), &Reader::Root, &[ack(id, true, &[])])
        .unwrap();
    assert!(on_disk(original.as_bytes()));
    let purged = s
        .apply_ack(signed(2), &town("a"), &[ack(id, true, &[])])
        .unwrap();
    assert_eq!(purged.tips, 1);
    assert!(!on_disk(original.as_bytes()));
    assert!(on_disk(copy.as_bytes()) && on_disk(&stanza));
    let purged = s
        .apply_ack(signed(1), &town("t"), &[ack(id, true, &[])])
        .unwrap();
    assert_eq!(purged.copies, 1);
    assert!(!on_disk(copy.as_bytes()) && !on_disk(&stanza));
    let blobs = path.join("blobs");
    assert!(!blobs.exists() || std::fs::read_dir(&blobs).unwrap().next().is_none());
    s.verify().unwrap();
    assert_eq!(s.counts().unwrap().sealed_held, 0);
    // The timeline stays.
    assert_eq!(s.view(&lookup).unwrap().unwrap().moves.len(), 2);
}

#[test]
fn sled_opens_a_format_2_folder_as_county_only() {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let id = {
        let s = SledStore::open(&path).unwrap();
        let id = s.insert(new_tip(80, 8)).unwrap();
        s.apply_updates(
            signed(3),
            &Reader::Root,
            Day(20_101),
            &[update(id, Status::InReview, None)],
        )
        .unwrap();
        id
    };
    {
        // As format 2 left it: no trees for offices, the marker at 2.
        let db = (0..100)
            .find_map(|_| {
                ::sled::open(&path).ok().or_else(|| {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    None
                })
            })
            .unwrap();
        assert!(db.drop_tree("addressing").unwrap() && db.drop_tree("moves").unwrap());
        db.open_tree("meta")
            .unwrap()
            .insert(b"format", &b"whistlebox-store:2"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let s = reopen(&path);
    s.verify().unwrap();
    assert_eq!(s.last_sequence().unwrap(), 3);
    assert_eq!(s.export_ids().unwrap(), vec![id]);
    assert!(s.export_ids_for(&town("a")).unwrap().is_empty());
    let v = s.view(&ReceiptLookup([80; 32])).unwrap().unwrap();
    assert!(v.towns.is_empty() && v.moves.is_empty());
    s.with(|inner| {
        assert_eq!(
            inner.meta.get(b"format")?.as_deref(),
            Some(format!("whistlebox-store:{STORE_FORMAT_VERSION}").as_bytes())
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn sled_reads_addressing_in_pieces_and_verify_checks_it() {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let id = {
        let s = SledStore::open(&path).unwrap();
        let id = s.insert(town_tip(90, 1, &["a", "b"])).unwrap();
        // A record over 4 KiB is kept in pieces: cut this one in two by hand.
        s.with(|inner| {
            let key = super::record::entry_key(&id.0, 0);
            let whole = inner.addressing.get(key)?.unwrap();
            inner.addressing.insert(key, &whole[..5])?;
            inner
                .addressing
                .insert(super::record::entry_key(&id.0, 1), &whole[5..])?;
            inner.db.flush()?;
            Ok(())
        })
        .unwrap();
        id
    };
    let s = reopen(&path);
    s.verify().unwrap();
    assert_eq!(s.export_ids_for(&town("b")).unwrap(), vec![id]);
    // Rewritten in one piece by the next change; the second piece goes.
    s.apply_ack(signed(1), &town("b"), &[ack(id, true, &[])])
        .unwrap();
    s.with(|inner| {
        assert_eq!(inner.addressing.scan_prefix(id.0).count(), 1);
        Ok(())
    })
    .unwrap();
    assert!(s.export_ids_for(&town("b")).unwrap().is_empty());
    assert_eq!(s.export_ids_for(&town("a")).unwrap(), vec![id]);
    s.verify().unwrap();
    // Damage: an addressing record of no tip, and a moved copy of no move.
    let damage = |key: [u8; 12], tree: &str| {
        s.with(|inner| {
            let tree = if tree == "moves" {
                &inner.moves
            } else {
                &inner.addressing
            };
            tree.insert(key, &[1u8, 0, 0, 0, 0, 0, 0, 0][..])?;
            Ok(())
        })
        .unwrap();
        let err = s.verify().unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        s.with(|inner| {
            inner.moves.remove(key)?;
            inner.addressing.remove(key)?;
            Ok(())
        })
        .unwrap();
        s.verify().unwrap();
    };
    damage(super::record::entry_key(&[0xee; 8], 0), "addressing");
    damage(super::record::entry_key(&id.0, 0), "moves");
}

#[test]
fn sled_acked_and_expired_files_leave_every_file() {
    crate::crypto::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let s = SledStore::open(&path).unwrap();
    let mut kept = blob(200_000, 0);
    let mut gone = blob(200_000, 0);
    let mut stale = blob(200_000, 0);
    for (b, seed) in [(&mut kept, 1u8), (&mut gone, 2), (&mut stale, 3)] {
        crate::crypto::random_fill(&mut b[20..]);
        b[20] = seed;
    }
    let kept_id = upload(&s, &kept);
    let gone_id = upload(&s, &gone);
    let stale_id = s.create_upload(stale.len() as u64, Day(20_000)).unwrap();
    s.put_upload_chunk(
        &stale_id,
        0,
        &stale[..crate::domain::attachment::UPLOAD_CHUNK_BYTES],
    )
    .unwrap();
    let a = s
        .insert(NewTip {
            uploads: vec![gone_id],
            ..new_tip(65, 1)
        })
        .unwrap();
    s.insert(NewTip {
        uploads: vec![kept_id],
        ..new_tip(66, 2)
    })
    .unwrap();
    let on_disk = |b: &[u8]| !files_holding(&path, &b[100_000..100_064]).is_empty();
    assert!(on_disk(&kept) && on_disk(&gone) && on_disk(&stale));
    s.apply_ack(signed(1), &Reader::Root, &[ack(a, true, &[])])
        .unwrap();
    assert!(!on_disk(&gone), "an acked tip's file leaves the disk");
    assert_eq!(s.expire_uploads(Day(20_001)).unwrap(), 1);
    assert!(!on_disk(&stale), "an expired upload leaves the disk");
    assert!(on_disk(&kept));
    drop(s);
    let s = reopen(&path);
    s.verify().unwrap();
    let left = s.export().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].attachments, vec![kept]);
}
