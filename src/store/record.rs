//! The encoding of one stored tip record (the value under its id).
//!
//! Version 2, big-endian:
//! `[2][day: u32][status: u8][history count: u32][reply count: u32][follow-up count: u32]
//!  [sealed reply key length: u16][sealed reply key][sealed tip, empty once acked]`
//!
//! Version 1 (`[1][day: u32][status: u8][sealed tip]`) is still read.

use super::StoreError;
use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status};

/// Version byte written at the start of every record.
pub const RECORD_VERSION: u8 = 2;
/// Ceiling for records read back; the intake limit is far lower.
const MAX_STORED_SEALED: usize = 64 * 1024 * 1024;

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
    pub sealed: Option<SealedTip>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a tip record {what}"))
}

impl Record {
    /// Encodes the record (always the current version).
    pub fn encode(&self) -> Vec<u8> {
        let key = self.sealed_reply_key.as_deref().unwrap_or(&[]);
        let tip = self.sealed.as_ref().map(|s| s.as_bytes()).unwrap_or(&[]);
        let mut out = Vec::with_capacity(20 + key.len() + tip.len());
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.day.0.to_be_bytes());
        out.push(self.status.code());
        out.extend_from_slice(&self.history_count.to_be_bytes());
        out.extend_from_slice(&self.reply_count.to_be_bytes());
        out.extend_from_slice(&self.followup_count.to_be_bytes());
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(tip);
        out
    }

    /// The day of a record, read without copying the rest.
    pub fn day_of(bytes: &[u8]) -> Result<Day, StoreError> {
        match bytes {
            [1 | 2, a, b, c, d, ..] => Ok(Day(u32::from_be_bytes([*a, *b, *c, *d]))),
            _ => Err(corrupt("is truncated or of an unknown version")),
        }
    }

    /// Decodes a record of version 1 or 2, refusing anything malformed.
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let (&version, rest) = bytes.split_first().ok_or_else(|| corrupt("is empty"))?;
        let mut r = Reader(rest);
        let day = Day(r.u32()?);
        let status =
            Status::from_code(r.take(1)?[0]).ok_or_else(|| corrupt("has an unknown status"))?;
        let (history_count, reply_count, followup_count, key) = match version {
            1 => (0, 0, 0, &[][..]),
            2 => {
                let (h, rc, f) = (r.u32()?, r.u32()?, r.u32()?);
                let len = u16::from_be_bytes(r.take(2)?.try_into().expect("2 bytes")) as usize;
                (h, rc, f, r.take(len)?)
            }
            v => return Err(corrupt(&format!("has unknown version {v}"))),
        };
        let sealed = match r.0 {
            [] if version == 2 => None,
            tip => Some(
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

/// Encodes a small `[day][payload]` entry (history, replies, follow-ups).
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

/// Key of the n-th entry of a tip in the history, replies or follow-ups tree.
pub fn entry_key(id: &[u8; 8], n: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(id);
    k[8..].copy_from_slice(&n.to_be_bytes());
    k
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
            sealed: Some(sealed()),
        };
        let bytes = rec.encode();
        assert_eq!(
            &bytes[..22],
            &[2, 0, 0, 0x4e, 0x20, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 2, 7, 7]
        );
        assert_eq!(bytes.len(), 22 + SEAL_OVERHEAD + PAD_BLOCK);
        assert_eq!(Record::decode(&bytes).unwrap(), rec);
        assert_eq!(Record::day_of(&bytes).unwrap(), Day(20_000));
        let purged = Record {
            sealed: None,
            sealed_reply_key: None,
            ..rec
        };
        assert_eq!(purged.encode().len(), 20);
        assert_eq!(Record::decode(&purged.encode()).unwrap(), purged);
    }

    /// Version 1 records, written before replies existed, still read.
    #[test]
    fn version_1_records_still_read() {
        let mut v1 = vec![1, 0, 0, 0x4e, 0x20, 0];
        v1.extend_from_slice(sealed().as_bytes());
        let rec = Record::decode(&v1).unwrap();
        assert_eq!((rec.day, rec.status), (Day(20_000), Status::Received));
        assert_eq!(rec.sealed, Some(sealed()));
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
            sealed: Some(sealed()),
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
