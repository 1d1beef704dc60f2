//! Evidence files as the store keeps them (`docs/attachments.md`): an upload arrives in
//! chunks, then becomes a file of one tip or follow-up in the same transaction as the tip or
//! follow-up itself. Shared by every store: the record of an upload, its encoding, and the
//! rules for a chunk.

use super::StoreError;
use crate::domain::attachment::{
    self, UploadId, MAX_ATTACHMENTS, MAX_PIECES_PER_REPORT, UPLOAD_CHUNK_BYTES,
};
use crate::domain::{Day, TipId};

/// Version of an upload record.
const UPLOAD_RECORD_VERSION: u8 = 1;

/// Whose file an upload became: a tip (`n == 0`) or its follow-up `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The tip.
    pub tip: TipId,
    /// 0 for the tip itself, otherwise the follow-up's number.
    pub n: u32,
}

/// One upload: its length, the day it started, the chunks received, and whose file it
/// became once used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Length of the blob.
    pub bytes: u64,
    /// Day it started (for expiry).
    pub day: Day,
    /// One bit per chunk, set once the chunk is stored.
    pub received: Vec<u8>,
    /// Whose file it became; `None` while it waits.
    pub owner: Option<Owner>,
}

/// What one tip holds on the server until it is acked (sled's `held` tree): the bytes of
/// the evidence files of the tip and its follow-ups, and its follow-ups. Bounded, so that
/// one receipt holder cannot make an export entry no offline tool opens, nor keep every
/// other tip out of the bundles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holding {
    /// Bytes of blobs.
    pub file_bytes: u64,
    /// Follow-ups not yet acked.
    pub followups: u32,
}

/// Version of a holding record.
const HOLDING_VERSION: u8 = 1;

impl Holding {
    /// With one more follow-up, or the refusal past [`MAX_HELD_FOLLOWUPS`].
    pub fn with_followup(self) -> Result<Self, StoreError> {
        if self.followups >= MAX_HELD_FOLLOWUPS {
            return Err(StoreError::TooManyFollowupsHeld);
        }
        Ok(Self {
            followups: self.followups + 1,
            ..self
        })
    }

    /// With `bytes` more of files, or the refusal past [`attachment::MAX_HELD_FILE_BYTES`].
    pub fn with_file_bytes(self, bytes: u64) -> Result<Self, StoreError> {
        let file_bytes = self.file_bytes.saturating_add(bytes);
        if file_bytes > attachment::MAX_HELD_FILE_BYTES {
            return Err(StoreError::TipFilesFull);
        }
        Ok(Self { file_bytes, ..self })
    }

    /// With `bytes` of files fewer.
    pub fn without_file_bytes(self, bytes: u64) -> Self {
        Self {
            file_bytes: self.file_bytes.saturating_sub(bytes),
            ..self
        }
    }

    /// With one follow-up fewer.
    pub fn without_followup(self) -> Self {
        Self {
            followups: self.followups.saturating_sub(1),
            ..self
        }
    }

    /// The record: version, file bytes (u64 LE), follow-ups (u32 LE).
    pub fn encode(&self) -> [u8; 13] {
        let mut out = [0u8; 13];
        out[0] = HOLDING_VERSION;
        out[1..9].copy_from_slice(&self.file_bytes.to_le_bytes());
        out[9..].copy_from_slice(&self.followups.to_le_bytes());
        out
    }

    /// Reads what [`Holding::encode`] wrote.
    pub fn decode(raw: &[u8]) -> Result<Self, StoreError> {
        let bad = || StoreError::Corrupt("a holding record does not decode".into());
        if raw.len() != 13 || raw[0] != HOLDING_VERSION {
            return Err(bad());
        }
        Ok(Self {
            file_bytes: u64::from_le_bytes(raw[1..9].try_into().map_err(|_| bad())?),
            followups: u32::from_le_bytes(raw[9..].try_into().map_err(|_| bad())?),
        })
    }
}

/// Follow-ups one tip may have waiting on the server for the offices to collect (each up
/// to a sealed tip's size, so at most about 50 MiB of them).
pub const MAX_HELD_FOLLOWUPS: u32 = 50;

/// Uploads not (yet) part of any report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    /// How many.
    pub uploads: u64,
    /// Bytes of them received (stored).
    pub bytes: u64,
}

/// What a page needs to resume an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadState {
    /// Length of the blob.
    pub bytes: u64,
    /// Chunks in all.
    pub chunks: u32,
    /// Chunks not yet stored, in order.
    pub missing: Vec<u32>,
    /// Whether it already became part of a report.
    pub used: bool,
}

impl Upload {
    /// A fresh upload of a blob of `bytes`, or the refusal when `bytes` is not a blob length
    /// within the limits.
    pub fn new(bytes: u64, day: Day) -> Result<Self, StoreError> {
        let pieces = attachment::pieces_in_blob(bytes).ok_or(StoreError::NotABlobLength)?;
        if pieces > MAX_PIECES_PER_REPORT
            || bytes > attachment::blob_len(attachment::MAX_FILE_BYTES)
        {
            return Err(StoreError::FilesTooLarge);
        }
        let chunks = attachment::chunks_in_upload(bytes) as usize;
        Ok(Self {
            bytes,
            day,
            received: vec![0; chunks.div_ceil(8)],
            owner: None,
        })
    }

    /// Chunks in all.
    pub fn chunks(&self) -> u32 {
        attachment::chunks_in_upload(self.bytes)
    }

    /// Pieces of 64 KiB the blob holds.
    pub fn pieces(&self) -> usize {
        attachment::pieces_in_blob(self.bytes).unwrap_or(usize::MAX)
    }

    /// Whether chunk `i` is stored.
    pub fn has(&self, i: u32) -> bool {
        self.received
            .get(i as usize / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Marks chunk `i` stored.
    pub fn mark(&mut self, i: u32) {
        if let Some(b) = self.received.get_mut(i as usize / 8) {
            *b |= 1 << (i % 8);
        }
    }

    /// Bytes of the chunks stored.
    pub fn received_bytes(&self) -> u64 {
        (0..self.chunks())
            .filter(|&i| self.has(i))
            .map(|i| self.chunk_len(i).unwrap_or(0) as u64)
            .sum()
    }

    /// Whether every chunk is stored.
    pub fn complete(&self) -> bool {
        (0..self.chunks()).all(|i| self.has(i))
    }

    /// The length chunk `i` must have, or the refusal when there is no such chunk.
    pub fn chunk_len(&self, i: u32) -> Result<usize, StoreError> {
        if i >= self.chunks() {
            return Err(StoreError::BadChunk(
                "this upload has no chunk with that number",
            ));
        }
        let start = u64::from(i) * UPLOAD_CHUNK_BYTES as u64;
        Ok((self.bytes - start).min(UPLOAD_CHUNK_BYTES as u64) as usize)
    }

    /// Checks a chunk before it is stored: not for a used upload, and of the right length.
    pub fn check_chunk(&self, i: u32, len: usize) -> Result<(), StoreError> {
        if self.owner.is_some() {
            return Err(StoreError::UploadUsed);
        }
        if self.chunk_len(i)? != len {
            return Err(StoreError::BadChunk(
                "the chunk has the wrong length (each is 262,144 bytes, the last one what is left)",
            ));
        }
        Ok(())
    }

    /// What a page needs to resume.
    pub fn state(&self) -> UploadState {
        UploadState {
            bytes: self.bytes,
            chunks: self.chunks(),
            missing: (0..self.chunks()).filter(|&i| !self.has(i)).collect(),
            used: self.owner.is_some(),
        }
    }

    /// The record's bytes: version, length, day, owner (flag, tip, n), bitmap.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(26 + self.received.len());
        out.push(UPLOAD_RECORD_VERSION);
        out.extend_from_slice(&self.bytes.to_le_bytes());
        out.extend_from_slice(&self.day.0.to_le_bytes());
        match self.owner {
            Some(o) => {
                out.push(1);
                out.extend_from_slice(&o.tip.0);
                out.extend_from_slice(&o.n.to_le_bytes());
            }
            None => {
                out.push(0);
                out.extend_from_slice(&[0; 12]);
            }
        }
        out.extend_from_slice(&self.received);
        out
    }

    /// Reads what [`Upload::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let bad = || StoreError::Corrupt("an upload record does not decode".into());
        if bytes.len() < 26 || bytes[0] != UPLOAD_RECORD_VERSION {
            return Err(bad());
        }
        let len = u64::from_le_bytes(bytes[1..9].try_into().map_err(|_| bad())?);
        let day = Day(u32::from_le_bytes(
            bytes[9..13].try_into().map_err(|_| bad())?,
        ));
        let owner = match bytes[13] {
            0 => None,
            1 => Some(Owner {
                tip: TipId(bytes[14..22].try_into().map_err(|_| bad())?),
                n: u32::from_le_bytes(bytes[22..26].try_into().map_err(|_| bad())?),
            }),
            _ => return Err(bad()),
        };
        let upload = Self {
            bytes: len,
            day,
            received: bytes[26..].to_vec(),
            owner,
        };
        let chunks = attachment::pieces_in_blob(len)
            .map(|_| attachment::chunks_in_upload(len) as usize)
            .ok_or_else(bad)?;
        if upload.received.len() != chunks.div_ceil(8) {
            return Err(bad());
        }
        Ok(upload)
    }
}

/// The key of a 4 KiB piece of a chunk: upload id, the chunk's number, the piece's number
/// (big-endian, so an upload's pieces sort in order).
pub fn piece_key(id: &UploadId, chunk: u32, piece: u16) -> [u8; 22] {
    let mut k = [0u8; 22];
    k[..16].copy_from_slice(&id.0);
    k[16..20].copy_from_slice(&chunk.to_be_bytes());
    k[20..].copy_from_slice(&piece.to_be_bytes());
    k
}

/// The key of an owner's list of files: tip id, then 0 or the follow-up's number.
pub fn files_key(tip: &TipId, n: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&tip.0);
    k[8..].copy_from_slice(&n.to_be_bytes());
    k
}

/// The list of an owner's files: upload ids, 16 bytes each, in order.
pub fn encode_files(ids: &[UploadId]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.0).collect()
}

/// Reads what [`encode_files`] wrote.
pub fn decode_files(bytes: &[u8]) -> Result<Vec<UploadId>, StoreError> {
    if bytes.len() % 16 != 0 || bytes.len() / 16 > MAX_ATTACHMENTS {
        return Err(StoreError::Corrupt(
            "a list of files does not decode".into(),
        ));
    }
    Ok(bytes
        .chunks(16)
        .map(|c| UploadId(c.try_into().expect("16 bytes")))
        .collect())
}

/// Checks the uploads named for a new tip or follow-up before they are used: at most
/// [`MAX_ATTACHMENTS`], each named once, known, unused and complete, and no more than
/// [`MAX_PIECES_PER_REPORT`] pieces in all. `get` reads an upload record.
pub fn check_uploads(
    ids: &[UploadId],
    mut get: impl FnMut(&UploadId) -> Result<Option<Upload>, StoreError>,
) -> Result<Vec<Upload>, StoreError> {
    if ids.len() > MAX_ATTACHMENTS {
        return Err(StoreError::TooManyFiles);
    }
    let mut out = Vec::with_capacity(ids.len());
    let mut pieces = 0usize;
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(StoreError::UploadUsed);
        }
        let upload = get(id)?.ok_or(StoreError::UnknownUpload)?;
        if upload.owner.is_some() {
            return Err(StoreError::UploadUsed);
        }
        if !upload.complete() {
            return Err(StoreError::UploadIncomplete(i + 1));
        }
        pieces = pieces.saturating_add(upload.pieces());
        if pieces > MAX_PIECES_PER_REPORT {
            return Err(StoreError::FilesTooLarge);
        }
        out.push(upload);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_refuse_damage() {
        let bytes = attachment::blob_len(600_000);
        let mut u = Upload::new(bytes, Day(20_000)).unwrap();
        assert_eq!(u.chunks(), attachment::chunks_in_upload(bytes));
        assert!(!u.complete());
        for i in 0..u.chunks() {
            u.mark(i);
        }
        assert!(u.complete());
        u.owner = Some(Owner {
            tip: TipId([3; 8]),
            n: 2,
        });
        assert_eq!(Upload::decode(&u.encode()).unwrap(), u);
        let mut cut = u.encode();
        cut.pop();
        assert!(Upload::decode(&cut).is_err());
        assert!(Upload::new(12345, Day(1)).is_err());
        assert!(Upload::new(attachment::blob_len(30 * 1024 * 1024), Day(1)).is_err());
    }

    /// Do not change this test if it fails: sled folders hold these records.
    #[test]
    fn holding_records_are_fixed() {
        let h = Holding {
            file_bytes: 0x0102_0304,
            followups: 7,
        };
        assert_eq!(h.encode(), [1, 4, 3, 2, 1, 0, 0, 0, 0, 7, 0, 0, 0]);
        assert_eq!(Holding::decode(&h.encode()).unwrap(), h);
        assert!(Holding::decode(&h.encode()[..12]).is_err());
        let full = Holding {
            file_bytes: attachment::MAX_HELD_FILE_BYTES,
            followups: MAX_HELD_FOLLOWUPS,
        };
        assert!(matches!(
            full.with_file_bytes(1),
            Err(StoreError::TipFilesFull)
        ));
        assert!(matches!(
            full.with_followup(),
            Err(StoreError::TooManyFollowupsHeld)
        ));
        assert_eq!(full.without_followup().with_followup().unwrap(), full);
    }

    #[test]
    fn chunk_lengths_follow_the_protocol() {
        let bytes = attachment::blob_len(300_000);
        let u = Upload::new(bytes, Day(1)).unwrap();
        let last = u.chunks() - 1;
        assert_eq!(u.chunk_len(0).unwrap(), UPLOAD_CHUNK_BYTES);
        assert_eq!(
            u.chunk_len(last).unwrap() as u64,
            bytes - u64::from(last) * UPLOAD_CHUNK_BYTES as u64
        );
        assert!(u.chunk_len(last + 1).is_err());
        assert!(u.check_chunk(0, 10).is_err());
    }
}
