//! Offices: the county office (the root, whose key signs the directory of offices) and the
//! town offices. A resident chooses who reads a report: the county alone, or the county and
//! one town office. The county reads every report; a town office reads only what is addressed
//! to it, or moved to it with the resident's consent.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Longest office id.
pub const MAX_OFFICE_ID: usize = 32;

/// An office's short identifier, as it appears in key files, the signed directory, export
/// requests and bundles: 1 to 32 of `a-z`, `0-9` and `-`, starting with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct OfficeId(String);

/// A malformed office id.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "an office id is 1 to 32 lowercase letters, digits or dashes, starting with a letter or digit"
)]
pub struct BadOfficeId;

impl OfficeId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OfficeId {
    type Err = BadOfficeId;
    fn from_str(s: &str) -> Result<Self, BadOfficeId> {
        let ok = !s.is_empty()
            && s.len() <= MAX_OFFICE_ID
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BadOfficeId)
        }
    }
}

impl fmt::Display for OfficeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who reads: the root (county) office, which reads every report, or one town office.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Reader {
    /// The county office, whose key is the root of the directory (`inspectors.pub`).
    Root,
    /// A town office named in the signed directory.
    Town(OfficeId),
}

impl Reader {
    /// The town's id, if a town.
    pub fn town(&self) -> Option<&OfficeId> {
        match self {
            Reader::Root => None,
            Reader::Town(id) => Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_ids_are_checked() {
        for good in ["county", "town-a", "3", "xiangzhen-12"] {
            assert_eq!(good.parse::<OfficeId>().unwrap().as_str(), good);
        }
        for bad in ["", "-a", "Town", "a b", "镇", &"a".repeat(33), "a/b", "a_b"] {
            assert_eq!(bad.parse::<OfficeId>(), Err(BadOfficeId), "{bad:?}");
        }
    }
}
