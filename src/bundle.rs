//! The export bundle: the file that carries sealed tips from the online server to the
//! inspectors' offline machine on a USB stick.
//!
//! Version 1 is JSON:
//! ```json
//! {"format":"whistlebox-export","version":1,"exported_on":"2026-11-28","tip_count":1,
//!  "tips":[{"id":"0123456789abcdef","day":"2026-11-28","status":"received","sealed":"<base64>"}]}
//! ```
//! The bundle arrives from a machine the inspectors do not trust, so [`parse_export`] bounds
//! every size, never panics, and judges each tip on its own: one bad entry is reported and
//! the others still come through.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status, TipId};
use crate::store::StoredTip;

/// Format name of an export bundle.
pub const EXPORT_FORMAT: &str = "whistlebox-export";
/// Version of the export bundle format.
pub const EXPORT_VERSION: u32 = 1;

/// Limits applied when reading a bundle.
#[derive(Debug, Clone, Copy)]
pub struct BundleLimits {
    /// Largest bundle file accepted, in bytes.
    pub max_bundle_bytes: u64,
    /// Largest sealed tip accepted, in bytes.
    pub max_sealed_bytes: usize,
    /// Most tips in one bundle.
    pub max_tips: usize,
}

impl Default for BundleLimits {
    fn default() -> Self {
        Self {
            max_bundle_bytes: 2 * 1024 * 1024 * 1024,
            max_sealed_bytes: 64 * 1024 * 1024,
            max_tips: 10_000_000,
        }
    }
}

/// Why a whole bundle was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BundleError {
    /// Larger than the limit.
    #[error("the bundle is larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// Not JSON, or not the expected shape.
    #[error("this is not a whistlebox export bundle, or it is damaged ({0})")]
    Malformed(String),
    /// Another version.
    #[error("this export bundle has version {0}, which this build of whistlebox does not read")]
    UnknownVersion(u32),
    /// Too many entries.
    #[error("the bundle holds more than {0} tips")]
    TooManyTips(usize),
}

#[derive(Serialize)]
struct ExportOut<'a> {
    format: &'static str,
    version: u32,
    exported_on: String,
    tip_count: usize,
    tips: Vec<TipOut<'a>>,
}

#[derive(Serialize)]
struct TipOut<'a> {
    id: String,
    day: String,
    status: &'a str,
    sealed: String,
}

/// Writes an export bundle of `tips`.
pub fn write_export(exported_on: Day, tips: &[StoredTip]) -> Vec<u8> {
    let out = ExportOut {
        format: EXPORT_FORMAT,
        version: EXPORT_VERSION,
        exported_on: exported_on.to_string(),
        tip_count: tips.len(),
        tips: tips
            .iter()
            .map(|t| TipOut {
                id: t.id.to_string(),
                day: t.day.to_string(),
                status: t.status.as_str(),
                sealed: t.sealed.to_base64(),
            })
            .collect(),
    };
    serde_json::to_vec(&out).expect("plain data serializes")
}

#[derive(Deserialize)]
struct ExportIn {
    format: String,
    version: u32,
    #[serde(default)]
    exported_on: Option<String>,
    tips: Vec<serde_json::Value>,
}

/// One entry of a bundle that could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEntry {
    /// Position in the bundle, from 1.
    pub position: usize,
    /// The id, only when it is a well-formed one (safe to print and to use as a name).
    pub id: Option<TipId>,
    /// Why.
    pub reason: String,
}

/// A bundle as read: the tips that are well-formed, and the entries that are not.
#[derive(Debug)]
pub struct ParsedExport {
    /// The day the server wrote the bundle, if it says so validly.
    pub exported_on: Option<Day>,
    /// Well-formed tips.
    pub tips: Vec<StoredTip>,
    /// Entries refused, with reasons.
    pub rejected: Vec<RejectedEntry>,
}

/// Reads an export bundle defensively.
pub fn parse_export(bytes: &[u8], limits: &BundleLimits) -> Result<ParsedExport, BundleError> {
    if bytes.len() as u64 > limits.max_bundle_bytes {
        return Err(BundleError::TooLarge(limits.max_bundle_bytes));
    }
    // serde_json bounds nesting depth (128) itself, so hostile nesting cannot overflow the stack.
    let raw: ExportIn = serde_json::from_slice(bytes).map_err(|e| {
        BundleError::Malformed(format!("{} at line {}", e.classify_name(), e.line()))
    })?;
    if raw.format != EXPORT_FORMAT {
        return Err(BundleError::Malformed("the format name is wrong".into()));
    }
    if raw.version != EXPORT_VERSION {
        return Err(BundleError::UnknownVersion(raw.version));
    }
    if raw.tips.len() > limits.max_tips {
        return Err(BundleError::TooManyTips(limits.max_tips));
    }
    let mut seen = HashSet::new();
    let mut tips = Vec::new();
    let mut rejected = Vec::new();
    for (i, entry) in raw.tips.into_iter().enumerate() {
        match parse_entry(&entry, limits) {
            Ok(tip) if !seen.insert(tip.id) => rejected.push(RejectedEntry {
                position: i + 1,
                id: Some(tip.id),
                reason: "the same id appears twice; only the first was taken".into(),
            }),
            Ok(tip) => tips.push(tip),
            Err((id, reason)) => rejected.push(RejectedEntry {
                position: i + 1,
                id,
                reason,
            }),
        }
    }
    Ok(ParsedExport {
        exported_on: raw.exported_on.and_then(|d| d.parse().ok()),
        tips,
        rejected,
    })
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "unexpected content",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

fn parse_entry(
    entry: &serde_json::Value,
    limits: &BundleLimits,
) -> Result<StoredTip, (Option<TipId>, String)> {
    let field = |name: &str| entry.get(name).and_then(|v| v.as_str());
    let id = field("id")
        .and_then(|s| s.parse::<TipId>().ok())
        .ok_or((None, "the id is missing or malformed".to_string()))?;
    let fail = |reason: &str| (Some(id), reason.to_string());
    let day = field("day")
        .and_then(|s| s.parse::<Day>().ok())
        .ok_or_else(|| fail("the day is missing or malformed"))?;
    let status = field("status")
        .and_then(|s| s.parse::<Status>().ok())
        .ok_or_else(|| fail("the status is missing or unknown"))?;
    let sealed = field("sealed").ok_or_else(|| fail("the sealed tip is missing"))?;
    let sealed = SealedTip::from_base64(sealed, limits.max_sealed_bytes)
        .map_err(|e| fail(&format!("the sealed tip is not valid: {e}")))?;
    Ok(StoredTip {
        id,
        day,
        status,
        sealed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SEAL_OVERHEAD;
    use crate::domain::tip::PAD_BLOCK;

    fn tip(id: u8) -> StoredTip {
        StoredTip {
            id: TipId([id; 8]),
            day: Day(20_000),
            status: Status::Received,
            sealed: SealedTip::from_bytes(vec![id; SEAL_OVERHEAD + PAD_BLOCK], usize::MAX).unwrap(),
        }
    }

    /// Fixed-output test of the export bundle. Do not change this test if it fails: the
    /// offline machine may run an older whistlebox than the server.
    #[test]
    fn export_format_is_fixed() {
        let out = String::from_utf8(write_export(Day(20_001), &[tip(1)])).unwrap();
        let sealed = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            vec![1u8; SEAL_OVERHEAD + PAD_BLOCK],
        );
        assert_eq!(
            out,
            format!(
                "{{\"format\":\"whistlebox-export\",\"version\":1,\"exported_on\":\"2024-10-05\",\"tip_count\":1,\
                 \"tips\":[{{\"id\":\"0101010101010101\",\"day\":\"2024-10-04\",\"status\":\"received\",\"sealed\":\"{sealed}\"}}]}}"
            )
        );
        let back = parse_export(out.as_bytes(), &BundleLimits::default()).unwrap();
        assert_eq!(back.tips, vec![tip(1)]);
        assert_eq!(back.exported_on, Some(Day(20_001)));
    }

    #[test]
    fn bad_entries_are_listed_and_good_ones_kept() {
        let good = String::from_utf8(write_export(Day(1), &[tip(2)])).unwrap();
        let hostile = good.replace(
            "\"tips\":[",
            "\"tips\":[{\"id\":\"../../../etc\",\"day\":\"2024-01-01\",\"status\":\"received\",\"sealed\":\"AA==\"},\
             {\"id\":\"0303030303030303\",\"day\":\"nope\",\"status\":\"received\",\"sealed\":\"AA==\"},\
             {\"id\":\"0202020202020202\",\"day\":\"2024-01-01\",\"status\":\"received\",\"sealed\":\"!!\"},\
             42,",
        );
        let parsed = parse_export(hostile.as_bytes(), &BundleLimits::default()).unwrap();
        assert_eq!(parsed.tips, vec![tip(2)]);
        assert_eq!(parsed.rejected.len(), 4);
        assert_eq!(parsed.rejected[0].id, None);
        assert_eq!(parsed.rejected[1].id, Some(TipId([3; 8])));
    }

    #[test]
    fn whole_bundle_refusals() {
        let l = BundleLimits::default();
        assert!(matches!(
            parse_export(b"", &l),
            Err(BundleError::Malformed(_))
        ));
        assert!(matches!(
            parse_export(b"[[[[", &l),
            Err(BundleError::Malformed(_))
        ));
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse_export(deep.as_bytes(), &l),
            Err(BundleError::Malformed(_))
        ));
        let other = br#"{"format":"whistlebox-export","version":7,"tips":[]}"#;
        assert_eq!(
            parse_export(other, &l).unwrap_err(),
            BundleError::UnknownVersion(7)
        );
        let small = BundleLimits {
            max_bundle_bytes: 10,
            ..l
        };
        assert_eq!(
            parse_export(other, &small).unwrap_err(),
            BundleError::TooLarge(10)
        );
        let dup = String::from_utf8(write_export(Day(1), &[tip(5), tip(5)])).unwrap();
        let parsed = parse_export(dup.as_bytes(), &l).unwrap();
        assert_eq!((parsed.tips.len(), parsed.rejected.len()), (1, 1));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse_export(&bytes, &BundleLimits::default());
        }
    }
}
