//! Signed bundles (updates, acks and moves) that come back from the offices, the county's
//! signed directory of offices, and the server's copy of `inspectors.pub`: bytes into
//! `verify_bundle` and `Directory::verify` against a fixed public key, and text into
//! `PublicKeys::from_file_text`.
//!
//! A fuzzer cannot forge an Ed25519 signature, so each input is used twice: as a whole
//! bundle (envelope parsing, then the signature check), and as a payload that this target
//! signs with the fixed key's secret half, so the payload parser behind the signature is
//! fuzzed too (what a holder of the key, or a bug on the offline machine, could send).
//!
//! Properties: never panics; a payload that verifies signs back with `sign_bundle` and
//! verifies to the same content; an accepted `inspectors.pub` writes out and reads back to
//! the same keys.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use whistlebox::bundle::{sign_bundle, verify_bundle};
use whistlebox::crypto::{self, SignPublicKey, SignSecretKey};
use whistlebox::crypto::BoxPublicKey;
use whistlebox::domain::keys::PublicKeys;
use whistlebox::domain::office::Directory;
use whistlebox::domain::Day;

/// The fixed key: the seed is public on purpose, it only exists for fuzzing.
pub const SEED: [u8; 32] = [0x5a; 32];
/// What signatures cover before the payload bytes (`SIGNATURE_LABEL` in src/bundle.rs).
const LABEL: &[u8] = b"whistlebox-signed-v1\n";

fn keys() -> &'static (SignSecretKey, SignPublicKey) {
    static KEYS: std::sync::OnceLock<(SignSecretKey, SignPublicKey)> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        crypto::init().expect("libsodium starts");
        let sk = SignSecretKey::from_seed_bytes(&SEED).expect("32-byte seed");
        let pk = sk.public_key();
        (sk, pk)
    })
}

fn check_verified(bytes: &[u8]) {
    let (sk, pk) = keys();
    let Ok((signed, payload)) = verify_bundle(bytes, pk) else {
        return;
    };
    assert_eq!(signed.sequence, payload.sequence);
    let again = sign_bundle(&payload, sk);
    let (_, back) = verify_bundle(&again, pk).expect("a bundle we signed verifies");
    assert_eq!(back, payload, "signed payload did not round-trip");
}

fn signed_envelope(payload: &[u8]) -> Vec<u8> {
    let (sk, _) = keys();
    let mut message = LABEL.to_vec();
    message.extend_from_slice(payload);
    serde_json::to_vec(&serde_json::json!({
        "format": "whistlebox-signed",
        "version": 1,
        "payload": STANDARD.encode(payload),
        "signature": STANDARD.encode(sk.sign(&message)),
    }))
    .expect("plain JSON")
}

/// The directory signed with the fixed key, as the county signs it: reaches the payload
/// parser. One that verifies signs back to the same directory.
fn check_directory(payload: &[u8]) {
    let (sk, pk) = keys();
    let root = PublicKeys {
        box_key: BoxPublicKey::from_bytes(&[9; 32]).expect("32 bytes"),
        sign_key: pk.clone(),
    };
    let mut message = b"whistlebox-offices-v1\n".to_vec();
    message.extend_from_slice(payload);
    let file = serde_json::to_vec(&serde_json::json!({
        "format": "whistlebox-offices",
        "version": 1,
        "payload": STANDARD.encode(payload),
        "signature": STANDARD.encode(sk.sign(&message)),
    }))
    .expect("plain JSON");
    let _ = Directory::verify(payload, &root);
    let Ok(directory) = Directory::verify(&file, &root) else {
        return;
    };
    let again = directory.sign(Day(20_000), sk).expect("a verified directory signs");
    assert_eq!(Directory::verify(&again, &root).expect("ours verifies"), directory);
}

fn check_pub_file(text: &str) {
    let Ok(keys) = PublicKeys::from_file_text(text) else {
        return;
    };
    let back = PublicKeys::from_file_text(&keys.to_file_text()).expect("our own file parses");
    assert_eq!(back, keys);
}

fuzz_target!(init: { keys(); }, |data: &[u8]| {
    // As a whole bundle: almost always refused at the signature, which is the point.
    check_verified(data);
    // As a payload signed with the fixed key: reaches the payload parser.
    check_verified(&signed_envelope(data));
    check_directory(data);
    check_pub_file(&String::from_utf8_lossy(data));
});
