//! Acks from the inspectors name what they opened by digest: the server deletes its copy of a
//! tip or follow-up only if it is the one they opened. Whoever carries the export could
//! otherwise swap a tip before it is ever opened, and the inspectors' ack would delete the
//! resident's unread ciphertext.

use crate::domain::reply::{sealed_digest, Ack};
use crate::store::{Reader, StoreError, TipStore};

/// The acks with every item the server holds in another form than the one the inspectors
/// opened taken out, and how many were taken out. Acks without digests (made by older
/// tools) are kept as they are. A stored tip or follow-up never changes once written (it is
/// only ever deleted), so what is checked here is what the ack then deletes.
pub fn matching_acks(store: &dyn TipStore, acks: &[Ack]) -> Result<(Vec<Ack>, u64), StoreError> {
    matching_acks_for(store, &Reader::Root, acks)
}

/// [`matching_acks`] for the acks of any office: each is checked against what that office
/// was handed (the original, or the carried copy of a move to it).
pub fn matching_acks_for(
    store: &dyn TipStore,
    reader: &Reader,
    acks: &[Ack],
) -> Result<(Vec<Ack>, u64), StoreError> {
    let mut kept = Vec::with_capacity(acks.len());
    let mut withheld = 0u64;
    for ack in acks {
        let mut ack = ack.clone();
        let digests_known = ack.tip_digest.is_some() || !ack.followup_digests.is_empty();
        let held = if digests_known {
            store.export_tip_for(reader, ack.tip)?
        } else {
            None
        };
        if let Some(held) = held {
            if let (true, Some(opened), Some(sealed)) =
                (ack.tip_sealed, ack.tip_digest, held.sealed.as_ref())
            {
                if sealed_digest(sealed.as_bytes()) != opened {
                    ack.tip_sealed = false;
                    withheld += 1;
                }
            }
            if !ack.followup_digests.is_empty() {
                let mut numbers = Vec::new();
                let mut digests = Vec::new();
                for (n, opened) in ack.followups.iter().zip(&ack.followup_digests) {
                    let stored = held.followups.iter().find(|f| f.n == *n);
                    match stored {
                        Some(f) if sealed_digest(f.sealed.as_bytes()) != *opened => withheld += 1,
                        _ => {
                            numbers.push(*n);
                            digests.push(*opened);
                        }
                    }
                }
                ack.followups = numbers;
                ack.followup_digests = digests;
            }
        }
        kept.push(ack);
    }
    Ok((kept, withheld))
}
