//! The export bundle, read on the inspectors' offline machine from a USB stick that came
//! from an untrusted server: bytes into `parse_export` with the default limits, and text
//! into `SealedTip::from_base64`.
//!
//! Properties: never panics; every entry is either taken or listed as refused, and a refused
//! entry names an id only when it is well formed; what was taken writes back out with
//! `write_export` and reads in again to the same tips, with nothing refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whistlebox::bundle::{parse_export, write_export, BundleLimits};
use whistlebox::domain::tip::{SealedTip, DEFAULT_MAX_SEALED_BYTES};
use whistlebox::domain::Day;

fn check_bundle(data: &[u8]) {
    let Ok(parsed) = parse_export(data, &BundleLimits::default()) else {
        return;
    };
    // Ids are unique among the tips taken.
    let mut ids: Vec<_> = parsed.tips.iter().map(|t| t.id).collect();
    ids.sort_by_key(|id| id.0);
    ids.dedup();
    assert_eq!(
        ids.len(),
        parsed.tips.len(),
        "two tips with one id were taken"
    );
    for r in &parsed.rejected {
        assert!(r.position >= 1);
        assert!(!r.reason.is_empty());
    }
    let out = write_export(parsed.exported_on.unwrap_or(Day(0)), &parsed.tips);
    let again = parse_export(&out, &BundleLimits::default()).expect("our own bundle parses");
    assert!(
        again.rejected.is_empty(),
        "our own bundle had refused entries"
    );
    assert_eq!(again.tips, parsed.tips, "tips did not round-trip");
}

fn check_sealed_base64(text: &str) {
    for max in [4096, DEFAULT_MAX_SEALED_BYTES] {
        let Ok(sealed) = SealedTip::from_base64(text, max) else {
            continue;
        };
        assert!(sealed.as_bytes().len() <= max);
        let back = SealedTip::from_base64(&sealed.to_base64(), max).expect("re-encoded parses");
        assert_eq!(back, sealed);
    }
}

fuzz_target!(|data: &[u8]| {
    check_bundle(data);
    check_sealed_base64(&String::from_utf8_lossy(data));
});
