//! Signed bundles from the offices' offline machines (updates, acks, moves): which office
//! signed one, whether its key is the one the county's directory names, and what the store
//! is then asked to do. A bundle is applied whole or not at all.

use thiserror::Error;

use super::acks::matching_acks_for;
use crate::bundle::{bundle_office, verify_bundle, MoveRequest, SignedContent};
use crate::domain::addressing::MoveState;
use crate::domain::office::{move_message, Directory, Grant, GrantKey, Office, Reader};
use crate::domain::reply::sealed_digest;
use crate::domain::Day;
use crate::store::{Carried, MoveOrder, Purged, StoreError, TipStore};

/// What a bundle did.
#[derive(Debug)]
pub enum Applied {
    /// Status updates (and replies), this many.
    Updates(usize),
    /// An ack: what was deleted, and how many items were held back because the server's
    /// copy is not what the office opened.
    Ack(Purged, u64),
    /// Moves, with where each stands.
    Moves(Vec<MoveState>),
}

/// A bundle taken, with who signed it.
#[derive(Debug)]
pub struct Outcome {
    /// The office that signed it.
    pub office: String,
    /// Its number.
    pub sequence: u64,
    /// What it did.
    pub applied: Applied,
}

/// Why a bundle was not applied (nothing of it was).
#[derive(Debug, Error)]
pub enum ImportError {
    /// Not a bundle, not signed by the office it names, or naming an office the directory
    /// does not hold.
    #[error("{0}")]
    Refused(String),
    /// The store refused it (out of order, a tip the office may not act on...) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a signed bundle against the key of the office it names (the county's when it
/// names none) and applies it for that office.
pub fn apply_signed_bundle(
    store: &dyn TipStore,
    directory: &Directory,
    bytes: &[u8],
    day: Day,
    max_sealed_bytes: usize,
) -> Result<Outcome, ImportError> {
    let refused = |e: &dyn std::fmt::Display| ImportError::Refused(e.to_string());
    let named = bundle_office(bytes).map_err(|e| refused(&e))?;
    let (reader, office) = directory.reader_of(named.as_ref()).ok_or_else(|| {
        ImportError::Refused(
            "the bundle names an office that is not in the county's directory of offices".into(),
        )
    })?;
    let (signed, payload) = verify_bundle(bytes, &office.keys.sign_key).map_err(|e| refused(&e))?;
    let applied = match &payload.content {
        SignedContent::Updates(updates) => {
            store.apply_updates(signed, &reader, day, updates)?;
            Applied::Updates(updates.len())
        }
        SignedContent::Ack(acks) => {
            let (acks, withheld) = matching_acks_for(store, &reader, acks)?;
            Applied::Ack(store.apply_ack(signed, &reader, &acks)?, withheld)
        }
        SignedContent::Moves(moves) => {
            let orders = moves
                .iter()
                .map(|m| move_order(directory, office, m, max_sealed_bytes))
                .collect::<Result<Vec<_>, _>>()?;
            Applied::Moves(store.propose_moves(signed, &reader, day, &orders)?)
        }
    };
    Ok(Outcome {
        office: office.id.to_string(),
        sequence: signed.sequence,
        applied,
    })
}

/// A move as the store takes it: the office it goes to must be in the directory, and a
/// town must be carried what it will open.
fn move_order(
    directory: &Directory,
    by: &Office,
    m: &MoveRequest,
    max_sealed_bytes: usize,
) -> Result<MoveOrder, ImportError> {
    let (to, _) = directory.reader_of(Some(&m.to)).ok_or_else(|| {
        ImportError::Refused(format!(
            "a move goes to office {}, which is not in the county's directory of offices",
            m.to
        ))
    })?;
    let carried = match (&to, &m.sealed, &m.stanza, &m.signature) {
        (Reader::Root, _, _, _) => None,
        (Reader::Town(town), Some(sealed), Some(stanza), Some(signature)) => {
            if sealed.as_bytes().len() > max_sealed_bytes {
                return Err(ImportError::Refused(format!(
                    "the tip moved to {town} is larger than this server takes ({max_sealed_bytes} bytes)"
                )));
            }
            // Checked here too, so a bad one is refused now rather than by the town.
            let message = move_message(m.tip, town, &sealed_digest(sealed.as_bytes()));
            by.keys.sign_key.verify(&message, signature).map_err(|_| {
                ImportError::Refused(format!(
                    "the move of tip {} is not signed by the office that sends it",
                    m.tip
                ))
            })?;
            let grant = Grant {
                by: by.id.clone(),
                signature: signature.clone(),
                key: GrantKey::ForResident(stanza.clone()),
            };
            Some(Carried {
                stanza: grant.encode(),
                sealed: sealed.clone(),
            })
        }
        (Reader::Town(_), _, _, _) => return Err(StoreError::NothingCarried(m.tip).into()),
    };
    Ok(MoveOrder {
        tip: m.tip,
        to,
        carried,
    })
}
