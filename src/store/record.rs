//! The encoding of one stored tip record (the value under its id), and of the pieces large
//! sealed boxes are cut into.
//!
//! Version 3, big-endian:
//! `[3][day: u32][status: u8][history count: u32][reply count: u32][follow-up count: u32]
//!  [sealed reply key length: u16][sealed reply key][sealed tip length: u32, 0 once acked]`
//! The sealed tip itself is kept in the `chunks` tree, cut into [`CHUNK_BYTES`] pieces under
//! [`chunk_key`]. sled 0.34 writes any log message over a quarter of its 512 KiB segment as a
//! file of its own, named by log position and dated to the nanosecond; a leaf node holds up
//! to about 20 entries, so every stored value is kept at or under 4 KiB and no such file is
//! ever made.
//!
//! Version 2 (`...[sealed reply key][sealed tip, empty once acked]`) and version 1
//! (`[1][day: u32][status: u8][sealed tip]`) are still read; they are rewritten as version 3
//! when the store is compacted (at every start).

use super::StoreError;
use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status};

/// Version byte written at the start of every record.
pub const RECORD_VERSION: u8 = 3;
/// Ceiling for records read back; the intake limit is far lower.
const MAX_STORED_SEALED: usize = 64 * 1024 * 1024;
/// Size of the pieces sealed boxes are stored in.
pub const CHUNK_BYTES: usize = 4096;

/// Where a record's sealed tip is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Acked: the ciphertext is gone.
    Nothing,
    /// Inside the record (versions 1 and 2).
    Inline(SealedTip),
    /// In the `chunks` tree, this many bytes (version 3).
    Chunked(u32),
}

/// One tip's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Day of arrival.
    pub day: Day,
    /// Current status.
    pub status: Status,
    /// Status changes so far (numbers the history entries).
    pub history_count: u32,
    /// Replies so far.
    pub reply_count: u32,
    /// Follow-ups so far.
    pub followup_count: u32,
    /// The reply key sealed to the inspectors, until acked.
    pub sealed_reply_key: Option<Vec<u8>>,
    /// The sealed tip, until acked.
    pub sealed: Held,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a tip record {what}"))
}

impl Record {
    /// Encodes the record: version 3, or version 2 while its sealed tip is still inline
    /// (a record read from an older folder and not yet compacted).
    pub fn encode(&self) -> Vec<u8> {
        let key = self.sealed_reply_key.as_deref().unwrap_or(&[]);
        let version = match self.sealed {
            Held::Inline(_) => 2,
            _ => RECORD_VERSION,
        };
        let mut out = Vec::with_capacity(24 + key.len());
        out.push(version);
        out.extend_from_slice(&self.day.0.to_be_bytes());
        out.push(self.status.code());
        out.extend_from_slice(&self.history_count.to_be_bytes());
        out.extend_from_slice(&self.reply_count.to_be_bytes());
        out.extend_from_slice(&self.followup_count.to_be_bytes());
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.extend_from_slice(key);
        match &self.sealed {
            Held::Inline(tip) => out.extend_from_slice(tip.as_bytes()),
            Held::Chunked(len) => out.extend_from_slice(&len.to_be_bytes()),
            Held::Nothing => out.extend_from_slice(&0u32.to_be_bytes()),
        }
        out
    }

    /// The day of a record, read without copying the rest.
    pub fn day_of(bytes: &[u8]) -> Result<Day, StoreError> {
        match bytes {
            [1..=3, a, b, c, d, ..] => Ok(Day(u32::from_be_bytes([*a, *b, *c, *d]))),
            _ => Err(corrupt("is truncated or of an unknown version")),
        }
    }

    /// True when the record still holds a sealed tip.
    pub fn holds_tip(&self) -> bool {
        !matches!(self.sealed, Held::Nothing)
    }

    /// Decodes a record of version 1, 2 or 3, refusing anything malformed.
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let (&version, rest) = bytes.split_first().ok_or_else(|| corrupt("is empty"))?;
        let mut r = Reader(rest);
        let day = Day(r.u32()?);
        let status =
            Status::from_code(r.take(1)?[0]).ok_or_else(|| corrupt("has an unknown status"))?;
        let (history_count, reply_count, followup_count, key) = match version {
            1 => (0, 0, 0, &[][..]),
            2 | 3 => {
                let (h, rc, f) = (r.u32()?, r.u32()?, r.u32()?);
                let len = u16::from_be_bytes(r.take(2)?.try_into().expect("2 bytes")) as usize;
                (h, rc, f, r.take(len)?)
            }
            v => return Err(corrupt(&format!("has unknown version {v}"))),
        };
        let sealed = match (version, r.0) {
            (3, _) => match r.u32()? {
                _ if !r.0.is_empty() => return Err(corrupt("is too long")),
                0 => Held::Nothing,
                len if len as usize > MAX_STORED_SEALED => {
                    return Err(corrupt("holds no valid sealed box"))
                }
                len => Held::Chunked(len),
            },
            (2, []) => Held::Nothing,
            (_, tip) => Held::Inline(
                SealedTip::from_bytes(tip.to_vec(), MAX_STORED_SEALED)
                    .map_err(|_| corrupt("holds no valid sealed box"))?,
            ),
        };
        Ok(Self {
            day,
            status,
            history_count,
            reply_count,
            followup_count,
            sealed_reply_key: (!key.is_empty()).then(|| key.to_vec()),
            sealed,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.0.len() < n {
            return Err(corrupt("is truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
}

/// Encodes a small `[day][payload]` entry (history; follow-ups and replies before version 3
/// of the record).
pub fn encode_entry(day: Day, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&day.0.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Decodes a `[day][payload]` entry.
pub fn decode_entry(bytes: &[u8]) -> Result<(Day, &[u8]), StoreError> {
    if bytes.len() < 4 {
        return Err(StoreError::Corrupt("an entry is truncated".into()));
    }
    let (day, rest) = bytes.split_at(4);
    Ok((
        Day(u32::from_be_bytes(day.try_into().expect("4 bytes"))),
        rest,
    ))
}

/// A follow-up or reply entry: `[day][length: u32]` when its sealed box is in the `chunks`
/// tree (8 bytes: a sealed box kept inline is never as short as 4 bytes), else
/// `[day][sealed box]` as written before.
pub enum EntryBody<'a> {
    /// The box is in the `chunks` tree, this long.
    Chunked(u32),
    /// The box is inline (older entries, and history).
    Inline(&'a [u8]),
}

/// Encodes a follow-up or reply entry whose box is in the `chunks` tree.
pub fn encode_chunked_entry(day: Day, len: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&day.0.to_be_bytes());
    out[4..].copy_from_slice(&len.to_be_bytes());
    out
}

/// Decodes a follow-up or reply entry.
pub fn decode_box_entry(bytes: &[u8]) -> Result<(Day, EntryBody<'_>), StoreError> {
    let (day, rest) = decode_entry(bytes)?;
    Ok(match rest {
        [a, b, c, d] => (
            day,
            EntryBody::Chunked(u32::from_be_bytes([*a, *b, *c, *d])),
        ),
        inline => (day, EntryBody::Inline(inline)),
    })
}

/// Key of the n-th entry of a tip in the history, replies or follow-ups tree.
pub fn entry_key(id: &[u8; 8], n: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(id);
    k[8..].copy_from_slice(&n.to_be_bytes());
    k
}

/// What a chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOf {
    /// The sealed tip (n = 0).
    Tip,
    /// Follow-up n.
    Followup(u32),
    /// Reply n.
    Reply(u32),
    /// The key stanza carried by move n of the tip (store format 3).
    MoveStanza(u32),
    /// The copy of the sealed tip carried by move n (store format 3).
    MoveCopy(u32),
}

/// Key of piece `i` of a sealed box in the `chunks` tree:
/// `[tip id: 8][kind: u8, 0 tip, 1 follow-up, 2 reply, 3 move stanza, 4 move copy][n: u32]
/// [i: u32]`.
pub fn chunk_key(id: &[u8; 8], of: ChunkOf, i: u32) -> [u8; 17] {
    let (kind, n) = match of {
        ChunkOf::Tip => (0u8, 0u32),
        ChunkOf::Followup(n) => (1, n),
        ChunkOf::Reply(n) => (2, n),
        ChunkOf::MoveStanza(n) => (3, n),
        ChunkOf::MoveCopy(n) => (4, n),
    };
    let mut k = [0u8; 17];
    k[..8].copy_from_slice(id);
    k[8] = kind;
    k[9..13].copy_from_slice(&n.to_be_bytes());
    k[13..].copy_from_slice(&i.to_be_bytes());
    k
}

/// Encodes the entry of a move whose stanza and carried copy the store keeps (tree `moves`,
/// under [`entry_key`] of the tip and the move's index): `[stanza length: u32][copy length:
/// u32]`, both kept in the `chunks` tree.
pub fn encode_move_entry(stanza_len: u32, copy_len: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&stanza_len.to_be_bytes());
    out[4..].copy_from_slice(&copy_len.to_be_bytes());
    out
}

/// Decodes a move entry into (stanza length, copy length).
pub fn decode_move_entry(bytes: &[u8]) -> Result<(u32, u32), StoreError> {
    match bytes {
        [a, b, c, d, e, f, g, h] => Ok((
            u32::from_be_bytes([*a, *b, *c, *d]),
            u32::from_be_bytes([*e, *f, *g, *h]),
        )),
        _ => Err(StoreError::Corrupt("a move entry is damaged".into())),
    }
}

/// How many pieces a box of `len` bytes is cut into.
pub fn chunk_count(len: usize) -> u32 {
    len.div_ceil(CHUNK_BYTES) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SEAL_OVERHEAD;
    use crate::domain::tip::PAD_BLOCK;

    fn sealed() -> SealedTip {
        SealedTip::from_bytes(vec![0xab; SEAL_OVERHEAD + PAD_BLOCK], usize::MAX).unwrap()
    }

    /// Fixed-output test of the stored record format. Do not change this test if it fails:
    /// every data folder in the field holds records in this form.
    #[test]
    fn record_format_is_fixed() {
        let rec = Record {
            day: Day(20_000),
            status: Status::InReview,
            history_count: 1,
            reply_count: 2,
            followup_count: 3,
            sealed_reply_key: Some(vec![7, 7]),
            sealed: Held::Inline(sealed()),
        };
        let bytes = rec.encode();
        assert_eq!(
            &bytes[..22],
            &[2, 0, 0, 0x4e, 0x20, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 2, 7, 7]
        );
        assert_eq!(bytes.len(), 22 + SEAL_OVERHEAD + PAD_BLOCK);
        assert_eq!(Record::decode(&bytes).unwrap(), rec);
        assert_eq!(Record::day_of(&bytes).unwrap(), Day(20_000));
    }

    /// Fixed-output test of the stored record format, version 3. Do not change this test if
    /// it fails: every data folder in the field holds records in this form.
    #[test]
    fn record_format_v3_is_fixed() {
        let rec = Record {
            day: Day(20_000),
            status: Status::InReview,
            history_count: 1,
            reply_count: 2,
            followup_count: 3,
            sealed_reply_key: Some(vec![7, 7]),
            sealed: Held::Chunked(1072),
        };
        let bytes = rec.encode();
        assert_eq!(
            bytes,
            [
                3, 0, 0, 0x4e, 0x20, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 2, 7, 7, 0, 0, 4,
                0x30
            ]
        );
        assert_eq!(Record::decode(&bytes).unwrap(), rec);
        assert_eq!(Record::day_of(&bytes).unwrap(), Day(20_000));
        let purged = Record {
            sealed: Held::Nothing,
            sealed_reply_key: None,
            ..rec
        };
        assert_eq!(
            purged.encode(),
            [3, 0, 0, 0x4e, 0x20, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(Record::decode(&purged.encode()).unwrap(), purged);
        assert_eq!(
            chunk_key(&[9; 8], ChunkOf::Followup(2), 1),
            [9, 9, 9, 9, 9, 9, 9, 9, 1, 0, 0, 0, 2, 0, 0, 0, 1]
        );
        assert_eq!(
            encode_chunked_entry(Day(20_000), 1072),
            [0, 0, 0x4e, 0x20, 0, 0, 4, 0x30]
        );
        assert_eq!((chunk_count(4096), chunk_count(4097)), (1, 2));
    }

    /// Fixed-output test of what store format 3 adds. Do not change this test if it fails:
    /// every data folder in the field holds these keys and entries.
    #[test]
    fn move_keys_and_entries_are_fixed() {
        assert_eq!(
            chunk_key(&[9; 8], ChunkOf::MoveStanza(2), 1),
            [9, 9, 9, 9, 9, 9, 9, 9, 3, 0, 0, 0, 2, 0, 0, 0, 1]
        );
        assert_eq!(
            chunk_key(&[9; 8], ChunkOf::MoveCopy(2), 1),
            [9, 9, 9, 9, 9, 9, 9, 9, 4, 0, 0, 0, 2, 0, 0, 0, 1]
        );
        assert_eq!(encode_move_entry(90, 1072), [0, 0, 0, 90, 0, 0, 4, 0x30]);
        assert_eq!(
            decode_move_entry(&encode_move_entry(90, 1072)).unwrap(),
            (90, 1072)
        );
        assert!(decode_move_entry(&[0; 7]).is_err());
    }

    /// A purged version 2 record (no tip) still reads.
    #[test]
    fn version_2_purged_records_still_read() {
        let v2 = [
            2, 0, 0, 0x4e, 0x20, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0,
        ];
        assert_eq!(Record::decode(&v2).unwrap().sealed, Held::Nothing);
    }

    /// Version 1 records, written before replies existed, still read.
    #[test]
    fn version_1_records_still_read() {
        let mut v1 = vec![1, 0, 0, 0x4e, 0x20, 0];
        v1.extend_from_slice(sealed().as_bytes());
        let rec = Record::decode(&v1).unwrap();
        assert_eq!((rec.day, rec.status), (Day(20_000), Status::Received));
        assert_eq!(rec.sealed, Held::Inline(sealed()));
        assert_eq!(rec.sealed_reply_key, None);
    }

    #[test]
    fn damaged_records_are_refused() {
        let bytes = Record {
            day: Day(1),
            status: Status::Received,
            history_count: 0,
            reply_count: 0,
            followup_count: 0,
            sealed_reply_key: Some(vec![1; 80]),
            sealed: Held::Chunked(1072),
        }
        .encode();
        for bad in [
            &bytes[..3],
            &bytes[..30],
            &bytes[..bytes.len() - 1],
            &[][..],
        ] {
            assert!(Record::decode(bad).is_err());
        }
        let mut v = bytes.clone();
        v[0] = 9;
        assert!(Record::decode(&v).is_err());
        let mut s = bytes;
        s[5] = 200;
        assert!(Record::decode(&s).is_err());
    }
}
