//! Criterion benchmarks of the parts a tip passes through: sealing and opening, the receipt
//! derivation and its lookup, a durable sled insert, and the export bundle both ways.
//! `bash benches/run.sh` runs these with short measurement times and prints one table.
//! A benchmark, not a test: nothing here asserts a time.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use zeroize::Zeroizing;

use whistlebox::bundle::{self, BundleLimits};
use whistlebox::crypto::{self, Argon2Params, BoxSecretKey, Sealer};
use whistlebox::domain::receipt::{Receipt, ReceiptHasher, ReceiptLookup};
use whistlebox::domain::tip::{SealedTip, TipPlaintext, DEFAULT_MAX_SEALED_BYTES};
use whistlebox::domain::{Day, Status, TipId};
use whistlebox::store::{NewTip, SledStore, StoredTip, TipStore};

/// Tips in the export bundle benchmarks.
const BUNDLE_TIPS: usize = 1000;

/// A tip whose padded plaintext is exactly `kib` KiB (the JSON frame is 17 bytes, and
/// padding always adds at least one byte).
fn tip_of_kib(kib: usize) -> TipPlaintext {
    TipPlaintext::new("x".repeat(kib * 1024 - 17 - 8))
}

fn random_lookup() -> ReceiptLookup {
    let mut bytes = [0u8; 32];
    crypto::random_fill(&mut bytes);
    ReceiptLookup(bytes)
}

fn new_tip(sealed: &SealedTip, key: &BoxSecretKey) -> NewTip {
    NewTip {
        lookup: random_lookup(),
        day: Day::today(),
        sealed: sealed.clone(),
        sealed_reply_key: key.public_key().seal(&[7u8; 32]),
        towns: vec![],
        uploads: Vec::new(),
    }
}

fn seal_and_open(c: &mut Criterion) {
    crypto::init().expect("libsodium starts");
    let key = BoxSecretKey::generate();
    let public = key.public_key();
    let mut group = c.benchmark_group("tip");
    for kib in [1usize, 64] {
        let tip = tip_of_kib(kib);
        let sealed = tip.seal(&public).expect("seals");
        assert_eq!(sealed.as_bytes().len(), crypto::SEAL_OVERHEAD + kib * 1024);
        group.throughput(Throughput::Bytes((kib * 1024) as u64));
        group.bench_function(format!("seal_{kib}KiB"), |b| {
            b.iter(|| black_box(&tip).seal(&public).expect("seals"))
        });
        group.bench_function(format!("open_{kib}KiB"), |b| {
            b.iter(|| black_box(&sealed).open(&key).expect("opens"))
        });
    }
    group.finish();
}

fn receipt(c: &mut Criterion) {
    crypto::init().expect("libsodium starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path()).expect("store opens");
    let hasher = ReceiptHasher::new(
        store.receipt_salt(),
        Zeroizing::new([9u8; 32]),
        Argon2Params::RECEIPT,
    );
    let key = BoxSecretKey::generate();
    let sealed = tip_of_kib(1).seal(&key.public_key()).expect("seals");
    // One real receipt among a thousand tips, so the lookup walks a realistic tree.
    for _ in 0..BUNDLE_TIPS - 1 {
        store.insert(new_tip(&sealed, &key)).expect("insert");
    }
    let receipt = Receipt::generate();
    let keys = hasher.derive(&receipt).expect("derives");
    let mut tip = new_tip(&sealed, &key);
    tip.lookup = keys.current.lookup;
    store.insert(tip).expect("insert");

    let mut group = c.benchmark_group("receipt");
    // One derivation takes about a tenth of a second: few, flat samples keep this short.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("argon2id_derive", |b| {
        b.iter(|| hasher.derive(black_box(&receipt)).expect("derives"))
    });
    group.finish();

    let mut group = c.benchmark_group("receipt");
    group.bench_function("store_view_1000", |b| {
        b.iter(|| store.view(black_box(&keys.current.lookup)).expect("reads"))
    });
    // What a browser's request costs instead of Argon2id: parse the lookup value, index it.
    let value = whistlebox::domain::receipt::client_derivation(
        &receipt,
        &store.receipt_salt(),
        Argon2Params::RECEIPT,
    )
    .expect("derives")
    .lookup_value
    .to_base64();
    group.bench_function("lookup_value_parse_and_index", |b| {
        b.iter(|| {
            let v = whistlebox::domain::receipt::LookupValue::from_base64(black_box(&value))
                .expect("parses");
            hasher.index(&v)
        })
    });
    group.bench_function("parse", |b| {
        let shown = receipt.display();
        b.iter(|| Receipt::parse(black_box(&shown)).expect("parses"))
    });
    group.finish();
}

fn sled_insert(c: &mut Criterion) {
    crypto::init().expect("libsodium starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path()).expect("store opens");
    let key = BoxSecretKey::generate();
    let sealed = tip_of_kib(1).seal(&key.public_key()).expect("seals");
    let mut group = c.benchmark_group("store");
    group.bench_function("sled_insert_flush_1KiB", |b| {
        b.iter_batched(
            || new_tip(&sealed, &key),
            |tip| store.insert(tip).expect("insert"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn export_bundle(c: &mut Criterion) {
    crypto::init().expect("libsodium starts");
    let key = BoxSecretKey::generate();
    let public = key.public_key();
    let tips: Vec<StoredTip> = (0..BUNDLE_TIPS)
        .map(|i| StoredTip {
            id: TipId::random(),
            day: Day::today(),
            status: Status::Received,
            sealed: Some(
                TipPlaintext::new(format!("tip {i}: {}", "x".repeat(900)))
                    .seal(&public)
                    .expect("seals"),
            ),
            sealed_reply_key: Some(public.seal(&[7u8; 32])),
            grant: None,
            followups: Vec::new(),
            attachments: Vec::new(),
        })
        .collect();
    let bytes = bundle::write_export(Day::today(), &tips);
    let limits = BundleLimits {
        max_sealed_bytes: DEFAULT_MAX_SEALED_BYTES,
        ..BundleLimits::default()
    };

    let mut group = c.benchmark_group("bundle");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(BUNDLE_TIPS as u64));
    group.bench_function("write_export_1000", |b| {
        b.iter(|| bundle::write_export(Day::today(), black_box(&tips)))
    });
    group.bench_function("parse_and_open_1000", |b| {
        b.iter(|| {
            let parsed = bundle::parse_export(black_box(&bytes), &limits).expect("parses");
            assert_eq!(parsed.tips.len(), BUNDLE_TIPS);
            for tip in &parsed.tips {
                let sealed = tip.sealed.as_ref().expect("sealed");
                black_box(sealed.open(&key).expect("opens"));
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = parts;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = seal_and_open, receipt, sled_insert, export_bundle
}
criterion_main!(parts);
