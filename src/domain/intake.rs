//! Office intake: how a report reached the tip line (online, a letter, a phone call, a visit
//! to the office), and the batches of printed report forms whose tear-off stubs carry a
//! receipt of their own.
//!
//! A printed form's receipt is made in the clerk's browser like a resident's (receipt
//! version 2), and the server is sent only its lookup value `L`. It files two things under
//! it: nothing yet in the receipts tree (no letter has been entered), and a **stub key**
//! `BLAKE2b-256(key = pepper, "whistlebox stub v1" ‖ L)` naming the form's [`Batch`]. When
//! the letter is entered, its tip is filed under the usual index of `L`; the stub key stays.
//! The index and the stub key are two keyed hashes of `L`, which is never stored, so
//! nothing in the data folder (not even with the pepper, short of guessing receipts at one
//! Argon2id run each) tells which stub a tip came from, or which stubs were used.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::Day;

/// How a report reached the tip line. Sealed inside the tip (`"channel"`); the server keeps
/// only a count per month and channel, never a tip's channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// The resident's own browser.
    Online,
    /// A letter (a printed form or any other), entered by a clerk.
    Letter,
    /// A phone call, entered by a clerk.
    Phone,
    /// A visit to the office, entered by a clerk.
    Visit,
}

impl Channel {
    /// Every channel, in the order reports and pages list them.
    pub const ALL: [Channel; 4] = [
        Channel::Online,
        Channel::Letter,
        Channel::Phone,
        Channel::Visit,
    ];
    /// The channels a clerk enters.
    pub const OFFICE: [Channel; 3] = [Channel::Letter, Channel::Phone, Channel::Visit];

    /// The stable name (inside the seal, in CSV files and JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::Letter => "letter",
            Channel::Phone => "phone",
            Channel::Visit => "visit",
        }
    }

    /// The byte the store counts it under (fixed: see the store's format tests).
    pub fn code(self) -> u8 {
        match self {
            Channel::Online => 0,
            Channel::Letter => 1,
            Channel::Phone => 2,
            Channel::Visit => 3,
        }
    }

    /// The channel of a stored byte.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The channel a sealed tip names in its `"channel"` field: none (a resident's own
    /// report, or one made before channels existed) is online; an unknown name is `None`.
    pub fn of_field(value: Option<&str>) -> Option<Self> {
        match value {
            None => Some(Channel::Online),
            Some(v) => v.parse().ok(),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel name that is not one.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
#[error("The channel must be letter, phone or visit.")]
pub struct BadChannel;

impl FromStr for Channel {
    type Err = BadChannel;
    fn from_str(s: &str) -> Result<Self, BadChannel> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(BadChannel)
    }
}

/// Where a printed form's receipt is filed before its letter is entered: a keyed hash of
/// the receipt's lookup value (see the module notes). Reveals nothing of the receipt.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StubKey(pub [u8; 32]);

impl fmt::Debug for StubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StubKey(..)")
    }
}

/// Most forms in one batch: each costs the clerk's browser one Argon2id run (about a second
/// on an office computer), and a village rarely needs more.
pub const MAX_BATCH_FORMS: usize = 200;

/// Version of the stored batch record.
pub const BATCH_RECORD_VERSION: u8 = 1;
const BATCH_RECORD_BYTES: usize = 1 + 4 + 4 + 1 + 4;

/// A batch of printed forms, as the server keeps it: a number (printed on every sheet as its
/// label, so the office's own book says which village got which batch), the day it was
/// printed, how many forms, and whether it was withdrawn (voided) because it was lost.
/// Nothing about the village or the sheets: the server never learns where a batch went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The batch's number, from 1 in the order batches were printed.
    pub number: u32,
    /// The day it was printed.
    pub made_on: Day,
    /// How many forms (receipts) it holds.
    pub forms: u32,
    /// The day it was withdrawn; its codes then take no letter.
    pub voided_on: Option<Day>,
}

/// A stored batch record that does not decode.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
#[error("a batch record is damaged")]
pub struct BadBatchRecord;

impl Batch {
    /// The label printed on each sheet: "0007".
    pub fn label(&self) -> String {
        format!("{:04}", self.number)
    }

    /// The stored value (the number is the key): `[1][made_on: u32][forms: u32]
    /// [voided: u8][voided_on: u32]`, big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BATCH_RECORD_BYTES);
        out.push(BATCH_RECORD_VERSION);
        out.extend_from_slice(&self.made_on.0.to_be_bytes());
        out.extend_from_slice(&self.forms.to_be_bytes());
        out.push(u8::from(self.voided_on.is_some()));
        out.extend_from_slice(&self.voided_on.map(|d| d.0).unwrap_or(0).to_be_bytes());
        out
    }

    /// Reads a stored value under its number.
    pub fn decode(number: u32, bytes: &[u8]) -> Result<Self, BadBatchRecord> {
        if bytes.len() != BATCH_RECORD_BYTES || bytes[0] != BATCH_RECORD_VERSION {
            return Err(BadBatchRecord);
        }
        let u32_at = |i: usize| {
            <[u8; 4]>::try_from(&bytes[i..i + 4])
                .map(u32::from_be_bytes)
                .map_err(|_| BadBatchRecord)
        };
        let voided_on = match bytes[9] {
            0 if u32_at(10)? == 0 => None,
            1 => Some(Day(u32_at(10)?)),
            _ => return Err(BadBatchRecord),
        };
        Ok(Self {
            number,
            made_on: Day(u32_at(1)?),
            forms: u32_at(5)?,
            voided_on,
        })
    }
}

/// Where a code typed at the office or on the status page stands, when no tip is filed
/// under it yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StubState {
    /// A printed form whose letter has not been entered.
    Waiting(Batch),
    /// A printed form of a batch the office withdrew.
    Voided(Batch),
}

impl StubState {
    /// The state of a stub of `batch`.
    pub fn of(batch: Batch) -> Self {
        match batch.voided_on {
            None => StubState::Waiting(batch),
            Some(_) => StubState::Voided(batch),
        }
    }
}

/// The store key of a month's count of one channel: `"YYYY-MM"` and the channel's byte.
pub fn count_key(month: &str, channel: Channel) -> Vec<u8> {
    let mut key = month.as_bytes().to_vec();
    key.push(channel.code());
    key
}

/// The month and channel of a count key.
pub fn split_count_key(key: &[u8]) -> Option<(String, Channel)> {
    let (&code, month) = key.split_last()?;
    let month = std::str::from_utf8(month).ok()?;
    let shape = month.len() == 7 && month.as_bytes()[4] == b'-';
    (shape && month.bytes().filter(|b| b.is_ascii_digit()).count() == 6)
        .then(|| Some((month.to_owned(), Channel::from_code(code)?)))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_read_and_print_back() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
            assert_eq!(Channel::from_code(c.code()), Some(c));
        }
        assert_eq!("Letter".parse::<Channel>(), Err(BadChannel));
        assert_eq!(Channel::of_field(None), Some(Channel::Online));
        assert_eq!(Channel::of_field(Some("visit")), Some(Channel::Visit));
        assert_eq!(Channel::of_field(Some("fax")), None);
        assert_eq!(Channel::from_code(9), None);
    }

    /// Fixed output: batch records and count keys are what stores hold. Do not change this
    /// test if it fails: the change would misread every stored batch and count.
    #[test]
    fn batch_records_and_count_keys_fixed_output() {
        let open = Batch {
            number: 7,
            made_on: Day(20_500),
            forms: 50,
            voided_on: None,
        };
        assert_eq!(
            open.encode(),
            [1, 0, 0, 0x50, 0x14, 0, 0, 0, 50, 0, 0, 0, 0, 0]
        );
        let voided = Batch {
            voided_on: Some(Day(20_510)),
            ..open
        };
        assert_eq!(
            voided.encode(),
            [1, 0, 0, 0x50, 0x14, 0, 0, 0, 50, 1, 0, 0, 0x50, 0x1e]
        );
        for b in [open, voided] {
            assert_eq!(Batch::decode(7, &b.encode()), Ok(b));
        }
        assert_eq!(open.label(), "0007");
        assert_eq!(
            count_key("2026-11", Channel::Phone),
            b"2026-11\x02".to_vec()
        );
        assert_eq!(
            split_count_key(b"2026-11\x02"),
            Some(("2026-11".to_string(), Channel::Phone))
        );
    }

    #[test]
    fn damaged_batch_records_and_keys_are_refused() {
        let good = Batch {
            number: 1,
            made_on: Day(1),
            forms: 1,
            voided_on: None,
        }
        .encode();
        let mut wrong_version = good.clone();
        wrong_version[0] = 2;
        let mut bad_flag = good.clone();
        bad_flag[9] = 2;
        let mut stray_day = good.clone();
        stray_day[13] = 1;
        for bad in [
            &good[..13],
            &wrong_version[..],
            &bad_flag[..],
            &stray_day[..],
            &[][..],
        ] {
            assert_eq!(Batch::decode(1, bad), Err(BadBatchRecord));
        }
        for bad in [
            &b"2026-11"[..],
            b"2026-1x\x01",
            b"2026-11\x09",
            b"",
            b"20261101\x01",
        ] {
            assert_eq!(split_count_key(bad), None, "{bad:?}");
        }
    }
}
