//! Wire formats checked against an independent implementation: RustCrypto's `crypto_box`
//! (pure Rust, no libsodium) for `crypto_box_seal`, and ISO/IEC 7816-4 padding written
//! here from the standard. If sodiumoxide is ever replaced, these keep the format honest.

mod common;

use common::*;
use crypto_box::aead::OsRng;
use proptest::prelude::*;
use whistlebox::crypto::{self, BoxSecretKey, Opener, Sealer};

/// ISO/IEC 7816-4 padding as the standard describes it: 0x80, then zeros up to the next
/// multiple of the block; always at least one byte added.
fn reference_pad(data: &[u8], block: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    out.push(0x80);
    while out.len() % block != 0 {
        out.push(0);
    }
    out
}

proptest! {
    #[test]
    fn padding_matches_the_standard(len in 0usize..3000, block in prop_oneof![Just(1usize), Just(16), Just(1024)]) {
        crypto::init().unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let ours = crypto::pad(&data, block).unwrap();
        prop_assert_eq!(&ours[..], &reference_pad(&data, block)[..]);
        prop_assert_eq!(crypto::unpad(&ours, block).unwrap(), len);
    }
}

#[test]
fn a_box_sealed_by_crypto_box_opens_with_ours() {
    crypto::init().unwrap();
    let ours = BoxSecretKey::generate();
    let theirs = crypto_box::PublicKey::from(*ours.public_key().as_bytes());
    let message = reference_pad("举报内容 report text".as_bytes(), 1024);
    let sealed = theirs.seal(&mut OsRng, &message).unwrap();
    assert_eq!(&ours.open(&sealed).unwrap()[..], &message[..]);
}

#[test]
fn a_box_sealed_by_ours_opens_with_crypto_box() {
    crypto::init().unwrap();
    let theirs = crypto_box::SecretKey::generate(&mut OsRng);
    let ours =
        whistlebox::crypto::BoxPublicKey::from_bytes(theirs.public_key().as_bytes()).unwrap();
    let sealed = ours.seal(b"sealed by libsodium");
    assert_eq!(theirs.unseal(&sealed).unwrap(), b"sealed by libsodium");
}

/// A tip made entirely without whistlebox's crypto (crypto_box + the reference padding +
/// hand-written JSON), sent to the real server, exported and decrypted by the real binary.
#[test]
fn a_foreign_tip_goes_through_the_whole_pipeline() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    let pk = crypto_box::PublicKey::from(server.box_key());
    let body = "镇卫生院院长收回扣，病人要多付药费。Kickbacks at the clinic.";
    let json = serde_json::json!({"v": 1, "body": body, "where": "西河镇"}).to_string();
    let padded = reference_pad(json.as_bytes(), 1024);
    assert_eq!(padded.len(), 1024);
    let sealed = pk.seal(&mut OsRng, &padded).unwrap();
    let r = server.submit(&sealed);
    assert_eq!(r.status, 201, "{}", r.body);

    let out = tempfile::tempdir().unwrap();
    let d = inspectors.decrypt(&server.export(), out.path());
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    let opened = read_decrypted(out.path());
    assert_eq!(
        opened.into_values().collect::<Vec<_>>(),
        vec![body.to_string()]
    );
}

/// The follow-up envelope (domain::followup) opened with RustCrypto alone: the outer sealed
/// box, the reference padding, "WBF" 2, the reply key, then a standard `crypto_box_easy`
/// (XSalsa20-Poly1305 over X25519, nonce in front) from the reply key to the inspectors.
#[test]
fn a_follow_up_envelope_opens_with_crypto_box() {
    use crypto_box::aead::{generic_array::GenericArray, Aead};
    crypto::init().unwrap();
    let inspectors = crypto_box::SecretKey::generate(&mut OsRng);
    let inspectors_pub =
        whistlebox::crypto::BoxPublicKey::from_bytes(inspectors.public_key().as_bytes()).unwrap();
    let reply = BoxSecretKey::from_seed(&[21; 32]);
    let inner = whistlebox::domain::tip::TipPlaintext::new("补充")
        .seal(&inspectors_pub)
        .unwrap();
    let stored =
        whistlebox::domain::followup::authenticate(&inner, &reply, &inspectors_pub, usize::MAX)
            .unwrap();

    let padded = inspectors.unseal(stored.as_bytes()).unwrap();
    assert_eq!(padded.len() % 1024, 0);
    let end = padded.iter().rposition(|&b| b != 0).unwrap();
    assert_eq!(padded[end], 0x80, "ISO/IEC 7816-4 padding");
    let envelope = &padded[..end];
    assert_eq!(&envelope[..4], b"WBF\x02");
    assert_eq!(&envelope[4..36], reply.public_key().as_bytes());
    let (nonce, boxed) = envelope[36..].split_at(24);
    let salsa = crypto_box::SalsaBox::new(
        &crypto_box::PublicKey::from(*reply.public_key().as_bytes()),
        &inspectors,
    );
    let opened = salsa
        .decrypt(GenericArray::from_slice(nonce), boxed)
        .expect("a standard crypto_box from the reply key");
    assert_eq!(opened, inner.as_bytes());
    let json = inspectors.unseal(&opened).unwrap();
    assert!(String::from_utf8_lossy(&json).starts_with(r#"{"v":1,"body":"补充"}"#));
}

/// Tip format 2 (one box for several offices) made entirely with RustCrypto: the content key
/// in a `crypto_box_seal` stanza per office, the padded words in XSalsa20-Poly1305 under it.
/// The real server takes it, each office's real `decrypt` opens it, and an office not
/// addressed cannot.
#[test]
fn a_foreign_tip_for_two_offices_opens_with_either_key_in_the_real_binary() {
    use crypto_secretbox::aead::{Aead, AeadCore, KeyInit};
    use crypto_secretbox::XSalsa20Poly1305;

    let county = Inspectors::new();
    let town = Inspectors::new();
    let outsider = Inspectors::new();
    let site = Site::new();
    county.server_keys(&site.keys());
    let server = site.start(&[]);
    let key_of = |i: &Inspectors| -> crypto_box::PublicKey {
        let text = std::fs::read_to_string(i.pub_file()).unwrap();
        let b64 = text
            .lines()
            .find_map(|l| l.strip_prefix("box_public_key: "))
            .unwrap();
        let raw: [u8; 32] = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
            .unwrap()
            .try_into()
            .unwrap();
        crypto_box::PublicKey::from(raw)
    };
    let content_key = XSalsa20Poly1305::generate_key(&mut OsRng);
    let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
    let words = "两个办公室都能读 both offices read this";
    let json = format!("{{\"v\":1,\"body\":\"{words}\"}}");
    let padded = reference_pad(json.as_bytes(), 1024);
    let body = XSalsa20Poly1305::new(&content_key)
        .encrypt(&nonce, &padded[..])
        .unwrap();
    let mut sealed = b"WBT\x02".to_vec();
    sealed.push(2);
    for office in [&county, &town] {
        let stanza = key_of(office).seal(&mut OsRng, &content_key).unwrap();
        assert_eq!(stanza.len(), 80);
        sealed.extend_from_slice(&stanza);
    }
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&body);
    assert_eq!(sealed.len(), 5 + 2 * 80 + 24 + 16 + 1024);
    // As a v1 client posts it, the server takes it (a county-only installation: no towns
    // named, so the server stores it for the county, which opens it).
    let r = server.post_json(
        "/api/v1/tips",
        &serde_json::json!({ "sealed": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &sealed) }),
    );
    assert_eq!(
        r.status, 400,
        "a box for two offices naming none is refused: {}",
        r.body
    );
    let one = {
        let mut s = b"WBT\x02".to_vec();
        s.push(1);
        s.extend_from_slice(&key_of(&county).seal(&mut OsRng, &content_key).unwrap());
        s.extend_from_slice(&nonce);
        s.extend_from_slice(&body);
        s
    };
    let r = server.submit(&one);
    assert_eq!(r.status, 201, "{}", r.body);
    let bundle = server.export();
    let out = site.root.path().join("county");
    let d = county.decrypt(&bundle, &out);
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
    assert_eq!(
        read_decrypted(&out).into_values().collect::<Vec<_>>(),
        [words]
    );

    // The two-office box, opened by each office's `decrypt` from a bundle carrying it.
    let two = serde_json::json!({
        "format": "whistlebox-export", "version": 3, "exported_on": "2026-11-29",
        "office": "county", "tip_count": 1,
        "tips": [{"id": "0123456789abcdef", "day": "2026-11-29", "status": "received",
                  "sealed": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &sealed),
                  "followups": []}]
    })
    .to_string();
    for (office, name) in [(&county, "c2"), (&town, "t2")] {
        let out = site.root.path().join(name);
        let d = office.decrypt(two.as_bytes(), &out);
        assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
        assert_eq!(
            read_decrypted(&out).into_values().collect::<Vec<_>>(),
            [words]
        );
    }
    let out = site.root.path().join("o2");
    let d = outsider.decrypt(two.as_bytes(), &out);
    assert_eq!(d.status.code(), Some(2));
    assert!(read_decrypted(&out).is_empty());
}

/// A format 2 box made by whistlebox opens with RustCrypto alone.
#[test]
fn a_tip_for_several_offices_sealed_by_ours_opens_with_rustcrypto() {
    use crypto_secretbox::aead::{Aead, KeyInit};
    use crypto_secretbox::{Nonce, XSalsa20Poly1305};
    crypto::init().unwrap();
    let a = crypto_box::SecretKey::generate(&mut OsRng);
    let b = crypto_box::SecretKey::generate(&mut OsRng);
    let keys = [a.public_key(), b.public_key()]
        .map(|k| whistlebox::crypto::BoxPublicKey::from_bytes(k.as_bytes()).unwrap());
    let sealed = whistlebox::domain::tip::TipPlaintext::new("原样")
        .seal_to(&keys)
        .unwrap();
    let bytes = sealed.as_bytes();
    assert_eq!(&bytes[..5], b"WBT\x02\x02");
    for (i, secret) in [a, b].iter().enumerate() {
        let stanza = &bytes[5 + i * 80..5 + (i + 1) * 80];
        let content = secret.unseal(stanza).unwrap();
        let at = 5 + 2 * 80;
        let padded = XSalsa20Poly1305::new_from_slice(&content)
            .unwrap()
            .decrypt(Nonce::from_slice(&bytes[at..at + 24]), &bytes[at + 24..])
            .unwrap();
        let end = padded.iter().rposition(|&x| x == 0x80).unwrap();
        assert_eq!(&padded[..end], r#"{"v":1,"body":"原样"}"#.as_bytes());
    }
}

/// The browser's receipt derivation (src/web/assets/js/receipt-derive.js: hash-wasm's
/// Argon2id in WebAssembly, noble's BLAKE2b), run by node, against the server's (libsodium's
/// `crypto_pwhash` through `client_derivation`, and the `ReceiptHasher` every store uses), at
/// the installation's real parameters and a random receipt and salt.
#[test]
fn the_browser_derivation_equals_libsodiums() {
    use base64::Engine;
    use whistlebox::crypto::Argon2Params;
    use whistlebox::domain::receipt::{client_derivation, Receipt, ReceiptHasher};
    use zeroize::Zeroizing;
    crypto::init().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/assets");
    assert!(
        assets.join("node_modules/hash-wasm").exists(),
        "run `npm ci` in src/web/assets first: this test runs the browser's code in node"
    );
    for _ in 0..2 {
        let receipt = Receipt::generate();
        let digits: String = receipt.display().chars().filter(|c| *c != ' ').collect();
        let mut salt = [0u8; 16];
        crypto::random_fill(&mut salt);
        let params = Argon2Params::RECEIPT;
        let input = format!(
            r#"{{"digits":"{digits}","receipt_kdf":{{"salt":"{}","ops":{},"mem_bytes":{}}}}}"#,
            b64.encode(salt),
            params.ops,
            params.mem_bytes
        );
        let mut child = std::process::Command::new("node")
            .arg("test/derive-cli.mjs")
            .current_dir(&assets)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node runs");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "derive-cli failed");
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let theirs = |k: &str| b64.decode(answer[k].as_str().unwrap()).unwrap();

        let ours = client_derivation(&receipt, &salt, params).unwrap();
        assert_eq!(theirs("lookup"), ours.lookup_value.as_bytes().to_vec());
        assert_eq!(theirs("seed"), ours.reply_seed.to_vec());
        let reply = BoxSecretKey::from_seed(&ours.reply_seed);
        assert_eq!(theirs("reply_key"), reply.public_key().as_bytes().to_vec());

        // And what the server files a browser's tip under is what it finds for the receipt.
        let hasher = ReceiptHasher::new(salt, Zeroizing::new([3u8; 32]), params);
        let derived = hasher.derive(&receipt).unwrap();
        assert_eq!(derived.current.lookup, hasher.index(&ours.lookup_value));
        assert_eq!(derived.current.reply_seed[..], ours.reply_seed[..]);
        // A different salt gives different values (the salt is really used).
        let mut other = salt;
        other[0] ^= 1;
        let elsewhere = client_derivation(&receipt, &other, params).unwrap();
        assert_ne!(
            elsewhere.lookup_value.as_bytes(),
            ours.lookup_value.as_bytes()
        );
    }
}

/// The browser's evidence files (src/web/assets/js/blob.js, run by node through
/// test/attach-cli.mjs) against the Rust reference (`domain::attachment`): a blob the browser
/// seals opens in Rust to the exact bytes, a blob Rust seals opens in the browser's code, and
/// both agree on the Padmé buckets of docs/attachments.md.
#[test]
fn evidence_blobs_sealed_in_the_browser_open_in_rust_and_back() {
    use base64::Engine;
    use whistlebox::domain::attachment::{
        blob_len, bucket, open_blob, seal_file, AttachmentRef, Kind,
    };
    crypto::init().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/assets");
    assert!(
        assets.join("node_modules/@noble/ciphers").exists(),
        "run `npm ci` in src/web/assets first: this test runs the browser's code in node"
    );
    // The table the node tests (test/attach.test.mjs, RUST_BUCKETS) hold too.
    for (len, expected) in [
        (0u64, 65_536u64),
        (1, 65_536),
        (65_535, 65_536),
        (65_536, 131_072),
        (100_000, 131_072),
        (1_482_213, 1_507_328),
        (3_000_000, 3_014_656),
        (9_600_044, 9_699_328),
        (25_165_824, 25_690_112),
    ] {
        assert_eq!(bucket(len), expected, "bucket({len})");
    }
    let dir = tempfile::tempdir().unwrap();
    let node = |args: &[&str], stdin: &str| {
        let mut child = std::process::Command::new("node")
            .arg("test/attach-cli.mjs")
            .args(args)
            .current_dir(&assets)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("node runs");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    for len in [0usize, 1, 65_535, 65_536, 300_001] {
        let file: Vec<u8> = (0..len).map(|i| (i * 31 % 253) as u8).collect();
        let input = dir.path().join(format!("in-{len}"));
        let blob_path = dir.path().join(format!("blob-{len}"));
        std::fs::write(&input, &file).unwrap();

        // Browser seals, Rust opens.
        let out = node(
            &["seal", input.to_str().unwrap(), blob_path.to_str().unwrap()],
            "",
        );
        assert!(
            out.status.success(),
            "attach-cli seal: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let blob = std::fs::read(&blob_path).unwrap();
        assert_eq!(blob.len() as u64, blob_len(len as u64));
        let reference: AttachmentRef = serde_json::from_value(serde_json::json!({
            "kind": "file", "type": "application/pdf", "bytes": answer["bytes"],
            "key": answer["key"], "digest": answer["digest"], "cleaned": false,
        }))
        .unwrap();
        assert_eq!(&open_blob(&blob, &reference).unwrap()[..], &file[..]);
        let mut changed = blob.clone();
        changed[25] ^= 1;
        assert!(open_blob(&changed, &reference).is_err());

        // Rust seals, the browser's code opens.
        let sealed = seal_file(&file).unwrap();
        std::fs::write(&blob_path, &sealed.blob).unwrap();
        let ours = AttachmentRef::for_sealed(Kind::File, "application/pdf", len as u64, &sealed);
        let opened = dir.path().join(format!("out-{len}"));
        let reference = serde_json::json!({
            "bytes": len, "key": ours.key, "digest": b64.encode(sealed.digest),
        })
        .to_string();
        let out = node(
            &[
                "open",
                blob_path.to_str().unwrap(),
                opened.to_str().unwrap(),
            ],
            &reference,
        );
        assert!(
            out.status.success(),
            "attach-cli open: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(&opened).unwrap(), file);
        // And refuses a changed one.
        let mut changed = sealed.blob.clone();
        changed[30] ^= 1;
        std::fs::write(&blob_path, &changed).unwrap();
        assert!(!node(
            &[
                "open",
                blob_path.to_str().unwrap(),
                opened.to_str().unwrap()
            ],
            &reference
        )
        .status
        .success());
    }
}
