//! The encoding of one stored tip record (the value under its id).
//!
//! Version 1, big-endian:
//! `[version = 1][day: u32][status code: u8][sealed box bytes...]`

use super::StoreError;
use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status};

/// Version byte written at the start of every record.
pub const RECORD_VERSION: u8 = 1;
const HEADER: usize = 6;
/// Ceiling for records read back; the intake limit is far lower.
const MAX_STORED_SEALED: usize = 64 * 1024 * 1024;

/// Encodes a record.
pub fn encode_record(day: Day, status: Status, sealed: &SealedTip) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + sealed.as_bytes().len());
    out.push(RECORD_VERSION);
    out.extend_from_slice(&day.0.to_be_bytes());
    out.push(status.code());
    out.extend_from_slice(sealed.as_bytes());
    out
}

/// Decodes a record, refusing anything malformed.
pub fn decode_record(bytes: &[u8]) -> Result<(Day, Status, SealedTip), StoreError> {
    if bytes.len() < HEADER {
        return Err(StoreError::Corrupt("a tip record is truncated".into()));
    }
    if bytes[0] != RECORD_VERSION {
        return Err(StoreError::Corrupt(format!(
            "a tip record has unknown version {}",
            bytes[0]
        )));
    }
    let day = Day(u32::from_be_bytes(bytes[1..5].try_into().expect("4 bytes")));
    let status = Status::from_code(bytes[5])
        .ok_or_else(|| StoreError::Corrupt("a tip record has an unknown status".into()))?;
    let sealed = SealedTip::from_bytes(bytes[HEADER..].to_vec(), MAX_STORED_SEALED)
        .map_err(|_| StoreError::Corrupt("a tip record holds no valid sealed box".into()))?;
    Ok((day, status, sealed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SEAL_OVERHEAD;
    use crate::domain::tip::PAD_BLOCK;

    /// Fixed-output test of the stored record format. Do not change this test if it fails:
    /// every data folder in the field holds records in this form.
    #[test]
    fn record_format_is_fixed() {
        let sealed =
            SealedTip::from_bytes(vec![0xab; SEAL_OVERHEAD + PAD_BLOCK], usize::MAX).unwrap();
        let rec = encode_record(Day(20_000), Status::InReview, &sealed);
        assert_eq!(&rec[..6], &[1, 0x00, 0x00, 0x4e, 0x20, 1]);
        assert_eq!(rec.len(), 6 + SEAL_OVERHEAD + PAD_BLOCK);
        let (day, status, back) = decode_record(&rec).unwrap();
        assert_eq!((day, status), (Day(20_000), Status::InReview));
        assert_eq!(back, sealed);
    }

    #[test]
    fn damaged_records_are_refused() {
        let sealed =
            SealedTip::from_bytes(vec![0xab; SEAL_OVERHEAD + PAD_BLOCK], usize::MAX).unwrap();
        let rec = encode_record(Day(1), Status::Received, &sealed);
        for bad in [&rec[..3], &rec[..rec.len() - 1]] {
            assert!(decode_record(bad).is_err());
        }
        let mut v = rec.clone();
        v[0] = 9;
        assert!(decode_record(&v).is_err());
        let mut s = rec;
        s[5] = 200;
        assert!(decode_record(&s).is_err());
    }
}
