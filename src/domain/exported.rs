//! Opening what an export bundle brings, on the offline machine. `whistlebox decrypt` and
//! the inspectors' desk both open tips here, so a moved case is checked the same way in both.

use super::held::StoredTip;
use super::keys::{OfficeLabel, SecretKeys};
use super::office::{move_message, Directory, Grant, GrantKey};
use super::reply::sealed_digest;
use super::tip::TipPlaintext;

/// Opens the sealed tip of a bundle entry with this office's keys. A case moved to this
/// office opens only when the mover's signature over (tip, this office, exactly this sealed
/// tip) checks out against the mover's key in `directory`. The error is a plain sentence
/// for the inspector; it never holds any of the tip's words.
pub fn open_exported_tip(
    tip: &StoredTip,
    keys: &SecretKeys,
    directory: Option<&Directory>,
) -> Result<TipPlaintext, String> {
    let sealed = tip
        .sealed
        .as_ref()
        .ok_or("the bundle holds no tip under this id")?;
    let stanza = moved_stanza(tip, directory, keys.office.as_ref())?;
    sealed
        .open_granted(&keys.box_key, stanza.as_deref())
        .map_err(|e| e.to_string())
}

/// For a case moved to this office: the stanza it was granted, once the mover's signature
/// checks out. Nothing for a tip that was not moved here.
fn moved_stanza(
    tip: &StoredTip,
    directory: Option<&Directory>,
    me: Option<&OfficeLabel>,
) -> Result<Option<Vec<u8>>, String> {
    let Some(blob) = &tip.grant else {
        return Ok(None);
    };
    let grant = Grant::decode(blob).ok_or("the key of this moved case is damaged")?;
    let GrantKey::Open(stanza) = grant.key else {
        return Err("this moved case still waits for the resident's consent".into());
    };
    let directory = directory.ok_or(
        "this case was moved to this office: give the directory of offices with --directory \
         (and the county's inspectors.pub with --root) to check who moved it",
    )?;
    let me = me.ok_or("this key names no office, so a moved case cannot be checked")?;
    let by = directory
        .town(&grant.by)
        .or((directory.root.id == grant.by).then_some(&directory.root))
        .ok_or("the office that moved this case is not in the directory")?;
    let sealed = tip.sealed.as_ref().ok_or("the moved case holds no tip")?;
    let message = move_message(tip.id, &me.id, &sealed_digest(sealed.as_bytes()));
    by.keys
        .sign_key
        .verify(&message, &grant.signature)
        .map_err(|_| {
            "the moved case is not signed by the office said to have moved it, for this office: \
             it was changed on the way; nothing of it was written"
                .to_string()
        })?;
    Ok(Some(stanza))
}
