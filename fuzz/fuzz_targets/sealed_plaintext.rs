//! What an inspector's machine reads once a box is open, and what the server reads back
//! from its own disk: bytes into `TipPlaintext::from_json`, `crypto::unpad` and
//! `Record::decode`.
//!
//! Properties: never panics; an accepted plaintext pads, unpads and re-parses to itself;
//! `unpad` only accepts `0x80` then zeros and agrees with `pad`; a decoded record
//! re-encodes and decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whistlebox::crypto;
use whistlebox::domain::tip::{TipPlaintext, PAD_BLOCK};
use whistlebox::store::Record;

fn check_plaintext(data: &[u8]) {
    let Ok(tip) = TipPlaintext::from_json(data) else {
        return;
    };
    let padded = tip.to_padded().expect("an accepted plaintext pads");
    assert_eq!(padded.len() % PAD_BLOCK, 0);
    let len = crypto::unpad(&padded, PAD_BLOCK).expect("padding we made unpads");
    let back = TipPlaintext::from_json(&padded[..len]).expect("re-serialized plaintext parses");
    assert!(back == tip, "plaintext did not round-trip");
}

fn check_unpad(padded: &[u8], block: usize) {
    let Ok(len) = crypto::unpad(padded, block) else {
        return;
    };
    assert!(block > 0 && padded.len() % block == 0);
    assert!(len < padded.len(), "unpad kept the 0x80 marker");
    assert!(
        padded.len() - len <= block,
        "more than one block of padding"
    );
    assert_eq!(padded[len], 0x80);
    assert!(padded[len + 1..].iter().all(|&b| b == 0));
    let again = crypto::pad(&padded[..len], block).expect("pad of what unpad gave");
    assert_eq!(&again[..], padded, "pad(unpad(x)) != x");
}

fn check_record(data: &[u8]) {
    let Ok(record) = Record::decode(data) else {
        return;
    };
    let bytes = record.encode();
    let back = Record::decode(&bytes).expect("an encoded record decodes");
    assert_eq!(back, record, "record did not round-trip");
}

fuzz_target!(init: { crypto::init().expect("libsodium starts") }, |data: &[u8]| {
    check_plaintext(data);
    check_unpad(data, PAD_BLOCK);
    // Small blocks too, so the fuzzer reaches a valid padding without 1 KiB of input.
    if let Some((&block, rest)) = data.split_first() {
        check_unpad(rest, usize::from(block));
    }
    check_record(data);
});
