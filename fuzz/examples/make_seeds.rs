//! Writes the seed corpora in `fuzz/seeds/<target>/`: small valid (and nearly valid) inputs
//! made with the crate's own writers, so the fuzzers start from the real formats. The output
//! is deterministic (fixed keys, fixed ids); rerun after a format change and commit it:
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example make_seeds
use std::fs;
use std::path::{Path, PathBuf};

use whistlebox::bundle::{sign_bundle, write_export, SignedContent, SignedPayload};
use whistlebox::crypto::{self, BoxSecretKey, SignSecretKey, SEAL_OVERHEAD};
use whistlebox::domain::keys::PublicKeys;
use whistlebox::domain::receipt::{damm, RANDOM_DIGITS};
use whistlebox::domain::reply::{Ack, Update};
use whistlebox::domain::tip::{SealedTip, TipPlaintext, PAD_BLOCK};
use whistlebox::domain::{Day, Status, TipId};
use whistlebox::store::{Followup, Held, Record, StoredTip};

/// Same seed as `fuzz_targets/signed_bundle.rs`.
const SIGN_SEED: [u8; 32] = [0x5a; 32];

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    fs::write(dir.join(name), bytes).expect("write seed");
}

fn sealed(fill: u8, blocks: usize) -> SealedTip {
    SealedTip::from_bytes(vec![fill; SEAL_OVERHEAD + blocks * PAD_BLOCK], usize::MAX)
        .expect("plausible size")
}

fn receipt(random: &str) -> String {
    let mut d: Vec<u8> = random.bytes().map(|b| b - b'0').collect();
    assert_eq!(d.len(), RANDOM_DIGITS);
    d.push(damm(&d));
    let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    [&s[0..4], &s[4..8], &s[8..12], &s[12..16], &s[16..20]].join(" ")
}

fn main() {
    crypto::init().expect("libsodium");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds");

    // receipt_parse
    let dir = root.join("receipt_parse");
    fs::create_dir_all(&dir).unwrap();
    let good = receipt("1234567890123456789");
    write(&dir, "valid_spaces", &good);
    write(&dir, "valid_dashes", good.replace(' ', "-"));
    write(&dir, "valid_plain", good.replace(' ', ""));
    let full: String = good
        .chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap(),
            ' ' => '\u{3000}',
            c => c,
        })
        .collect();
    write(&dir, "valid_fullwidth", full);
    write(&dir, "valid_zeros", receipt("0000000000000000000"));
    let mut typo = good.clone().into_bytes();
    typo[0] = if typo[0] == b'9' { b'1' } else { typo[0] + 1 };
    write(&dir, "check_digit_wrong", typo);
    write(&dir, "too_short", "1234 5678 9012 3456 789");
    write(&dir, "letters", "1234 5678 90ab 3456 7890");

    // sealed_plaintext
    let dir = root.join("sealed_plaintext");
    fs::create_dir_all(&dir).unwrap();
    write(
        &dir,
        "minimal",
        br#"{"v":1,"body":"The mayor took a bribe."}"#,
    );
    write(
        &dir,
        "fields",
        "{\"v\":1,\"body\":\"Le maire a reçu 5000 € — 市长受贿\",\"where\":\"Town hall\",\
         \"amount\":5000,\"when\":\"2026-11-02\",\"proof\":true,\"topic\":\"bribery\"}",
    );
    write(&dir, "bad_version", br#"{"v":2,"body":"x"}"#);
    let mut tip = TipPlaintext::new("Short tip.");
    tip.fields.insert("who".into(), "the clerk".into());
    write(&dir, "padded", &tip.to_padded().unwrap()[..]);
    let mut small = b"\x10hello".to_vec(); // block 16, then a padded message
    small.push(0x80);
    small.resize(1 + 16, 0);
    write(&dir, "padded_block16", small);
    let record = Record {
        day: Day(20_400),
        status: Status::Investigating,
        history_count: 2,
        reply_count: 1,
        followup_count: 1,
        sealed_reply_key: Some(vec![7; SEAL_OVERHEAD + 32]),
        sealed: Held::Inline(sealed(1, 1)),
    };
    write(&dir, "record_v2", record.encode());
    let chunked = Record {
        sealed: Held::Chunked(sealed(1, 1).as_bytes().len() as u32),
        ..record.clone()
    };
    write(&dir, "record_v3", chunked.encode());
    let acked = Record {
        sealed_reply_key: None,
        sealed: Held::Nothing,
        ..record
    };
    write(&dir, "record_v3_acked", acked.encode());
    // Version 2 wrote an acked record as the header alone.
    let mut acked_v2 = acked.encode();
    acked_v2[0] = 2;
    acked_v2.truncate(acked_v2.len() - 4);
    write(&dir, "record_v2_acked", acked_v2);
    let mut v1 = vec![1u8];
    v1.extend_from_slice(&20_400u32.to_be_bytes());
    v1.push(Status::Received.code());
    v1.extend_from_slice(sealed(2, 1).as_bytes());
    write(&dir, "record_v1", v1);

    // export_bundle
    let dir = root.join("export_bundle");
    fs::create_dir_all(&dir).unwrap();
    let tips = vec![
        StoredTip {
            id: TipId(*b"\x01\x23\x45\x67\x89\xab\xcd\xef"),
            day: Day(20_400),
            status: Status::NeedInfo,
            sealed: Some(sealed(3, 1)),
            sealed_reply_key: Some(vec![4; SEAL_OVERHEAD + 32]),
            followups: vec![Followup {
                n: 1,
                day: Day(20_401),
                sealed: sealed(5, 1),
            }],
        },
        StoredTip {
            id: TipId([0xfe; 8]),
            day: Day(20_402),
            status: Status::Received,
            sealed: None,
            sealed_reply_key: None,
            followups: vec![Followup {
                n: 2,
                day: Day(20_403),
                sealed: sealed(6, 1),
            }],
        },
    ];
    write(&dir, "v2_two_tips", write_export(Day(20_404), &tips));
    write(&dir, "v2_empty", write_export(Day(20_404), &[]));
    write(
        &dir,
        "v1_one_tip",
        format!(
            "{{\"format\":\"whistlebox-export\",\"version\":1,\"exported_on\":\"2025-11-05\",\
             \"tip_count\":1,\"tips\":[{{\"id\":\"0101010101010101\",\"day\":\"2025-11-04\",\
             \"status\":\"received\",\"sealed\":\"{}\"}}]}}",
            sealed(1, 1).to_base64()
        ),
    );
    write(
        &dir,
        "v2_hostile_entries",
        "{\"format\":\"whistlebox-export\",\"version\":2,\"tips\":[{\"id\":\"../../etc/passwd\"},\
         {\"id\":\"0202020202020202\",\"day\":\"2024-02-30\",\"status\":\"received\",\"sealed\":\"AA==\"},\
         42,null,{\"id\":\"0303030303030303\",\"day\":\"2024-01-01\",\"status\":\"closed_substantiated\",\
         \"sealed\":null,\"followups\":[{\"n\":0,\"day\":\"2024-01-02\",\"sealed\":\"!\"}]}]}",
    );
    write(
        &dir,
        "v2_junk_array",
        "{\"format\":\"whistlebox-export\",\"version\":2,\"tips\":[0,0,0,[],{},\"x\",0]}",
    );
    write(
        &dir,
        "v2_tips_before_version",
        "{\"tips\":[],\"format\":\"whistlebox-export\",\"version\":2}",
    );
    write(&dir, "sealed_base64", sealed(9, 1).to_base64());

    // signed_bundle
    let dir = root.join("signed_bundle");
    fs::create_dir_all(&dir).unwrap();
    let sk = SignSecretKey::from_seed_bytes(&SIGN_SEED).unwrap();
    let updates = SignedPayload {
        office: None,
        sequence: 3,
        made_on: Day(20_405),
        content: SignedContent::Updates(vec![
            Update {
                tip: TipId([1; 8]),
                status: Status::NeedInfo,
                reply: Some(vec![8; SEAL_OVERHEAD + PAD_BLOCK]),
            },
            Update {
                tip: TipId([2; 8]),
                status: Status::ClosedUnsubstantiated,
                reply: None,
            },
        ]),
    };
    let bundle = sign_bundle(&updates, &sk);
    write(&dir, "updates_signed", &bundle);
    let ack = SignedPayload {
        office: None,
        sequence: 4,
        made_on: Day(20_406),
        content: SignedContent::Ack(vec![Ack {
            tip: TipId([1; 8]),
            tip_sealed: true,
            followups: vec![1, 2, 3],
            tip_digest: None,
            followup_digests: vec![],
        }]),
    };
    write(&dir, "ack_signed", sign_bundle(&ack, &sk));
    // Bare payloads: the target also signs its input with the fixed key.
    write(
        &dir,
        "ack_payload",
        br#"{"kind":"ack","sequence":9,"made_on":"2026-01-02","acks":[{"tip":"0a0b0c0d0e0f1011","tip_sealed":false,"followups":[4]}]}"#,
    );
    write(
        &dir,
        "updates_payload",
        br#"{"kind":"updates","sequence":10,"made_on":"2026-01-03","updates":[{"tip":"0a0b0c0d0e0f1011","status":"referred"}]}"#,
    );
    let keys = PublicKeys {
        box_key: BoxSecretKey::from_seed(&[0x33; 32]).public_key(),
        sign_key: sk.public_key(),
    };
    write(&dir, "inspectors_pub", keys.to_file_text());
}
