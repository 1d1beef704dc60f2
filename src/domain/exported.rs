//! Opening what an export bundle brings, on the offline machine. `whistlebox decrypt` and
//! the inspectors' desk both open tips here, so a moved case is checked the same way in both.

use serde::{Deserialize, Serialize};

use super::attachment::{AttachmentRef, Kind};
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

/// Where the file a sealed tip (or follow-up) names was found among the blobs a bundle
/// carried beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// The blob at this place in the carrier's list has the digest the sealed tip names.
    At(usize),
    /// No blob has that digest, and none the tip does not name came either: the file did
    /// not come (the server no longer held it, or it was left out on the way).
    Missing,
    /// No blob has that digest, but the carrier put blobs the tip does not name in the
    /// list: it was changed or swapped on the way.
    Changed,
}

/// Pairs each file the sealed tip names (`digests`, in the tip's order) with a blob the
/// bundle carried (`carried`, their digests in the carrier's order). Only the sealed
/// references are trusted: a blob is taken for a file only when its digest is the one the
/// tip binds, wherever the carrier put it, so a list cut short, padded, reordered or with
/// a file swapped never puts a wrong file under a name. Each blob serves one file.
pub fn pair_files(digests: &[[u8; 32]], carried: &[[u8; 32]]) -> Vec<Found> {
    let mut used = vec![false; carried.len()];
    let mut found: Vec<Option<usize>> = Vec::with_capacity(digests.len());
    for d in digests {
        let at = carried
            .iter()
            .enumerate()
            .position(|(i, c)| !used[i] && crate::crypto::ct_eq(c, d));
        if let Some(i) = at {
            used[i] = true;
        }
        found.push(at);
    }
    let strays = used.iter().any(|u| !u);
    found
        .into_iter()
        .map(|f| match f {
            Some(i) => Found::At(i),
            None if strays => Found::Changed,
            None => Found::Missing,
        })
        .collect()
}

/// The digests a tip's (or follow-up's) sealed references name, in their order (a
/// reference whose digest does not decode, which `TipPlaintext` refuses, names none).
pub fn named_digests(files: &[AttachmentRef]) -> Vec<[u8; 32]> {
    files
        .iter()
        .map(|f| f.digest_bytes().unwrap_or([0; 32]))
        .collect()
}

/// What became of one file a sealed tip names, on the offline machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Opened (and written out, or kept in the desk's workspace).
    Opened,
    /// It did not come with any bundle yet.
    Missing,
    /// A different blob came in its place: changed or swapped on the way.
    Changed,
    /// Its blob came, but does not open (damaged, or its reference is wrong).
    Damaged,
}

impl FileState {
    /// The state a pairing gives, before the blob is opened.
    pub fn of(found: Found) -> Self {
        match found {
            Found::At(_) => FileState::Opened,
            Found::Missing => FileState::Missing,
            Found::Changed => FileState::Changed,
        }
    }

    /// Why it was not opened, in a plain sentence (English; the desk has its own words).
    pub fn reason(self) -> &'static str {
        match self {
            FileState::Opened => "opened",
            FileState::Missing => {
                "it did not come with the bundle (the server may no longer hold it: a case \
                 moved after the first office acknowledged it, or a file left out on the way)"
            }
            FileState::Changed => {
                "the bundle carries a different encrypted file in its place (its digest is not \
                 the one the report names): it was changed or swapped on the way and was not \
                 opened"
            }
            FileState::Damaged => "the encrypted file is damaged and does not open",
        }
    }
}

/// A file's kind in plain English.
pub fn kind_words(kind: Kind) -> &'static str {
    match kind {
        Kind::Photo => "photo",
        Kind::Voice => "voice note",
        Kind::File => "file",
    }
}

/// A size as people read it: `812 bytes`, `88 KB`, `1.4 MB` (powers of 1000).
pub fn size_words(bytes: u64) -> String {
    match bytes {
        0..=999 => format!("{bytes} bytes"),
        1_000..=999_999 => format!("{} KB", bytes.div_ceil(1000)),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_paired_by_the_sealed_digest_only() {
        let (a, b, c, x) = ([1u8; 32], [2u8; 32], [3u8; 32], [9u8; 32]);
        use Found::*;
        assert_eq!(pair_files(&[a, b, c], &[a, b, c]), [At(0), At(1), At(2)]);
        // Reordered: each file still under its own place in the tip.
        assert_eq!(pair_files(&[a, b, c], &[c, a, b]), [At(1), At(2), At(0)]);
        // Cut short: the one not carried is missing, the others open.
        assert_eq!(pair_files(&[a, b, c], &[a, c]), [At(0), Missing, At(1)]);
        assert_eq!(pair_files(&[a, b], &[]), [Missing, Missing]);
        // Swapped for another blob: that one is changed, never opened as the file.
        assert_eq!(pair_files(&[a, b, c], &[a, x, c]), [At(0), Changed, At(2)]);
        // Extra blobs the tip does not name are never taken.
        assert_eq!(pair_files(&[a], &[x, a, x]), [At(1)]);
        assert_eq!(pair_files(&[], &[x]), Vec::<Found>::new());
        // A blob serves one file, even when the tip names one digest twice.
        assert_eq!(pair_files(&[a, a], &[a]), [At(0), Missing]);
    }

    #[test]
    fn sizes_read_plainly() {
        assert_eq!(size_words(812), "812 bytes");
        assert_eq!(size_words(88_211), "89 KB");
        assert_eq!(size_words(1_482_213), "1.5 MB");
    }
}
