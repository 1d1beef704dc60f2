//! The domain types: receipts, tips, keys, days and statuses. Raw input becomes one of
//! these through a checking constructor before any other code sees it.

pub mod addressing;
pub mod attachment;
pub mod exported;
pub mod followup;
pub mod held;
pub mod intake;
pub mod keys;
pub mod office;
pub mod receipt;
pub mod reply;
pub mod ticket;
pub mod tip;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::crypto;

/// A tip's identifier: 8 random bytes, shown as 16 lowercase hex digits. Random rather than
/// sequential, so that ids say nothing about the order in which tips arrived.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TipId(pub [u8; 8]);

impl TipId {
    /// A fresh random id.
    pub fn random() -> Self {
        let mut b = [0u8; 8];
        crypto::random_fill(&mut b);
        Self(b)
    }
}

impl fmt::Display for TipId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A malformed tip id.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("a tip id is 16 lowercase hexadecimal digits")]
pub struct BadTipId;

impl FromStr for TipId {
    type Err = BadTipId;
    fn from_str(s: &str) -> Result<Self, BadTipId> {
        let bytes = s.as_bytes();
        if bytes.len() != 16 {
            return Err(BadTipId);
        }
        let mut out = [0u8; 8];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or(BadTipId)?;
            let lo = hex_val(pair[1]).ok_or(BadTipId)?;
            out[i] = hi << 4 | lo;
        }
        Ok(Self(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// A calendar day (UTC), the finest time whistlebox ever stores: days since 1970-01-01.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Day(pub u32);

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN: i32 = 2_440_588;

impl Day {
    /// Today, in UTC.
    pub fn today() -> Self {
        let date = time::OffsetDateTime::now_utc().date();
        Self((date.to_julian_day() - UNIX_EPOCH_JULIAN).max(0) as u32)
    }

    fn date(self) -> Option<time::Date> {
        let jd = i32::try_from(self.0).ok()?.checked_add(UNIX_EPOCH_JULIAN)?;
        time::Date::from_julian_day(jd).ok()
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.date() {
            Some(d) => write!(
                f,
                "{:04}-{:02}-{:02}",
                d.year(),
                u8::from(d.month()),
                d.day()
            ),
            None => write!(f, "day-{}", self.0),
        }
    }
}

/// A malformed day.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("a day is written YYYY-MM-DD")]
pub struct BadDay;

impl FromStr for Day {
    type Err = BadDay;
    fn from_str(s: &str) -> Result<Self, BadDay> {
        let mut parts = s.splitn(3, '-');
        let mut num = |len: usize| -> Result<u32, BadDay> {
            let p = parts.next().ok_or(BadDay)?;
            if p.len() != len || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BadDay);
            }
            p.parse().map_err(|_| BadDay)
        };
        let (y, m, d) = (num(4)?, num(2)?, num(2)?);
        let month = time::Month::try_from(m as u8).map_err(|_| BadDay)?;
        let date = time::Date::from_calendar_date(y as i32, month, d as u8).map_err(|_| BadDay)?;
        let days = date.to_julian_day() - UNIX_EPOCH_JULIAN;
        u32::try_from(days).map(Day).map_err(|_| BadDay)
    }
}

/// Where a report stands, as the inspectors set it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Stored; not yet read.
    Received,
    /// Read; being looked at.
    InReview,
    /// Under investigation.
    Investigating,
    /// Closed: the report was found true.
    ClosedSubstantiated,
    /// Closed: the report could not be confirmed.
    ClosedUnsubstantiated,
    /// Handed to another body.
    Referred,
    /// A question awaits the resident.
    NeedInfo,
}

impl Status {
    /// Every status, in the order of their codes.
    pub const ALL: [Status; 7] = [
        Status::Received,
        Status::InReview,
        Status::Investigating,
        Status::ClosedSubstantiated,
        Status::ClosedUnsubstantiated,
        Status::Referred,
        Status::NeedInfo,
    ];

    /// The stable one-byte code used in stored records.
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|s| *s == self).expect("listed") as u8
    }

    /// The status with this stored code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }

    /// The wire name (`received`, `in_review`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::InReview => "in_review",
            Status::Investigating => "investigating",
            Status::ClosedSubstantiated => "closed_substantiated",
            Status::ClosedUnsubstantiated => "closed_unsubstantiated",
            Status::Referred => "referred",
            Status::NeedInfo => "need_info",
        }
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown status; use one of: {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tip_id_round_trips_and_refuses_junk() {
        let id = TipId([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);
        assert_eq!(id.to_string(), "deadbeef00010203");
        assert_eq!("deadbeef00010203".parse::<TipId>().unwrap(), id);
        for bad in [
            "",
            "../../etc/passwd",
            "DEADBEEF00010203",
            "deadbeef0001020",
            "deadbeef000102034",
        ] {
            assert!(bad.parse::<TipId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn days_print_and_parse() {
        assert_eq!(Day(0).to_string(), "1970-01-01");
        assert_eq!(Day(20_000).to_string(), "2024-10-04");
        assert_eq!("2024-10-04".parse::<Day>().unwrap(), Day(20_000));
        for bad in ["2024-13-01", "2024-1-01", "x", "1969-12-31", "2024-02-30"] {
            assert!(bad.parse::<Day>().is_err(), "{bad}");
        }
        assert!(Day::today().0 > 20_000);
    }

    #[test]
    fn status_codes_are_stable() {
        // Stored records hold these codes: do not reorder.
        let names: Vec<_> = Status::ALL.iter().map(|s| (s.code(), s.as_str())).collect();
        assert_eq!(
            names,
            vec![
                (0, "received"),
                (1, "in_review"),
                (2, "investigating"),
                (3, "closed_substantiated"),
                (4, "closed_unsubstantiated"),
                (5, "referred"),
                (6, "need_info"),
            ]
        );
        assert_eq!("need_info".parse::<Status>().unwrap(), Status::NeedInfo);
        assert!("done".parse::<Status>().is_err());
    }
}
