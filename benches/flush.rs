//! Is the per-tip `db.flush()` in `SledStore::insert` significant next to Argon2id when many
//! submissions arrive at once? An ad-hoc measurement (no criterion: it needs several threads
//! and a shared clock), printing Markdown table rows for `benches/run.sh`:
//!
//! 1. `SledStore::insert` (transaction + flush) from 1, 2, 4 and 8 threads at once;
//! 2. the same sled transaction without the flush, and with a group commit (one flusher
//!    thread; each writer waits until a flush that began after its insert has finished);
//! 3. two threads of receipt derivations alone, then beside two threads of inserts.
//!
//! Bounded in time: about 30 seconds. A benchmark, not a test: nothing asserts a time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use whistlebox::crypto::{self, Argon2Params, BoxSecretKey, Sealer};
use whistlebox::domain::receipt::{Receipt, ReceiptHasher, ReceiptLookup};
use whistlebox::domain::tip::{SealedTip, TipPlaintext};
use whistlebox::domain::{Day, Status, TipId};
use whistlebox::store::{Held, NewTip, Record, SledStore, TipStore};

/// How long each store configuration runs.
const RUN: Duration = Duration::from_secs(2);
/// How long each Argon2id configuration runs (a derivation takes a tenth of a second or more).
const ARGON_RUN: Duration = Duration::from_secs(4);

/// Process CPU time (user + system, all threads) from /proc, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat; here 0-based after the name: 11 and 12.
    // Linux reports them in USER_HZ, which is 100 on every mainstream build.
    (ticks(11) + ticks(12)) / 100.0
}

fn random_lookup() -> ReceiptLookup {
    let mut bytes = [0u8; 32];
    crypto::random_fill(&mut bytes);
    ReceiptLookup(bytes)
}

struct Fixture {
    sealed: SealedTip,
    reply_key: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let key = BoxSecretKey::generate();
        Self {
            sealed: TipPlaintext::new("x".repeat(900))
                .seal(&key.public_key())
                .expect("seals"),
            reply_key: key.public_key().seal(&[7u8; 32]),
        }
    }
    fn new_tip(&self) -> NewTip {
        NewTip {
            lookup: random_lookup(),
            day: Day::today(),
            sealed: self.sealed.clone(),
            sealed_reply_key: self.reply_key.clone(),
            towns: vec![],
            uploads: Vec::new(),
        }
    }
    fn record(&self) -> Vec<u8> {
        Record {
            day: Day::today(),
            status: Status::Received,
            history_count: 0,
            reply_count: 0,
            followup_count: 0,
            sealed_reply_key: Some(self.reply_key.clone()),
            sealed: Held::Inline(self.sealed.clone()),
        }
        .encode()
    }
}

/// What one configuration achieved.
struct Outcome {
    ops: u64,
    wall: Duration,
    cpu: f64,
}

impl Outcome {
    fn per_second(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }
    fn cpu_ms_per_op(&self) -> f64 {
        self.cpu * 1000.0 / self.ops.max(1) as f64
    }
}

/// Runs `op` on `threads` threads for `run`; each thread keeps its own per-thread state.
fn run_threads<S, F>(run: Duration, threads: usize, make: impl Fn() -> S + Sync, op: F) -> Outcome
where
    F: Fn(&mut S) + Sync,
{
    let stop = AtomicBool::new(false);
    let ops = AtomicU64::new(0);
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut state = make();
                while !stop.load(Ordering::Relaxed) {
                    op(&mut state);
                    ops.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        thread::sleep(run);
        stop.store(true, Ordering::Relaxed);
    });
    Outcome {
        ops: ops.load(Ordering::Relaxed),
        wall: start.elapsed(),
        cpu: cpu_seconds() - cpu0,
    }
}

/// The transaction `SledStore::insert` runs, on a bare sled database.
struct RawSled {
    db: sled::Db,
    tips: sled::Tree,
    receipts: sled::Tree,
}

impl RawSled {
    fn open(path: &std::path::Path) -> Self {
        let db = sled::Config::new().path(path).open().expect("sled opens");
        Self {
            tips: db.open_tree("tips").expect("tree"),
            receipts: db.open_tree("receipts").expect("tree"),
            db,
        }
    }
    fn insert(&self, record: &[u8]) {
        use sled::transaction::{ConflictableTransactionError, Transactional};
        let lookup = random_lookup();
        (&self.tips, &self.receipts)
            .transaction(|(tips, receipts)| {
                let id = TipId::random();
                tips.insert(&id.0[..], record)?;
                receipts.insert(&lookup.0[..], &id.0[..])?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .expect("transaction");
    }
}

/// Group commit: writers wait for a flush that started after their insert.
struct GroupCommit {
    inserted: AtomicU64,
    flushed: Mutex<u64>,
    done: Condvar,
}

fn row(label: &str, o: &Outcome, threads: usize) {
    let latency_ms = threads as f64 * 1000.0 / o.per_second().max(f64::MIN_POSITIVE);
    println!(
        "| {label} | {:.0} /s, {:.2} ms each (wall, {threads} at once), {:.2} ms CPU each |",
        o.per_second(),
        latency_ms,
        o.cpu_ms_per_op()
    );
}

/// `cargo bench` passes `--bench` and gets the full run; under `cargo test` (as in CI) the
/// same code runs briefly, as a check that it still works, and its figures mean nothing.
fn run_time(full: Duration) -> Duration {
    if std::env::args().any(|a| a == "--bench") {
        full
    } else {
        Duration::from_millis(150)
    }
}

fn main() {
    crypto::init().expect("libsodium starts");
    let fixture = Fixture::new();
    let record = fixture.record();

    // 1. The real store, flushing every insert.
    for threads in [1usize, 2, 4, 8] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(dir.path()).expect("store opens");
        let o = run_threads(
            run_time(RUN),
            threads,
            || (),
            |_| {
                store.insert(fixture.new_tip()).expect("insert");
            },
        );
        row(
            &format!("flush: SledStore::insert + flush, {threads} threads"),
            &o,
            threads,
        );
    }

    // 2. The same transaction without a flush per insert, and with group commit.
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let raw = RawSled::open(dir.path());
        let o = run_threads(run_time(RUN), 4, || (), |_| raw.insert(&record));
        row("flush: sled transaction, no flush, 4 threads", &o, 4);
    }
    for threads in [4usize, 8] {
        let dir = tempfile::tempdir().expect("temp dir");
        let raw = Arc::new(RawSled::open(dir.path()));
        let group = Arc::new(GroupCommit {
            inserted: AtomicU64::new(0),
            flushed: Mutex::new(0),
            done: Condvar::new(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let flusher = {
            let (raw, group, stop) = (raw.clone(), group.clone(), stop.clone());
            thread::spawn(move || {
                let mut flushes = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let covered = group.inserted.load(Ordering::SeqCst);
                    if covered == *group.flushed.lock().expect("lock") {
                        thread::sleep(Duration::from_micros(50));
                        continue;
                    }
                    raw.db.flush().expect("flush");
                    flushes += 1;
                    *group.flushed.lock().expect("lock") = covered;
                    group.done.notify_all();
                }
                flushes
            })
        };
        let o = run_threads(
            run_time(RUN),
            threads,
            || (),
            |_| {
                raw.insert(&record);
                let mine = group.inserted.fetch_add(1, Ordering::SeqCst) + 1;
                let mut flushed = group.flushed.lock().expect("lock");
                while *flushed < mine {
                    flushed = group.done.wait(flushed).expect("wait");
                }
            },
        );
        stop.store(true, Ordering::Relaxed);
        let flushes = flusher.join().expect("flusher");
        row(
            &format!(
                "flush: group commit, {threads} threads ({:.1} tips per flush)",
                o.ops as f64 / flushes.max(1) as f64
            ),
            &o,
            threads,
        );
    }

    // 3. Argon2id on both cores, alone and beside inserts that flush.
    let hasher = ReceiptHasher::new([3u8; 16], Zeroizing::new([9u8; 32]), Argon2Params::RECEIPT);
    let derive = |_: &mut ()| {
        hasher.derive(&Receipt::generate()).expect("derives");
    };
    let alone = run_threads(run_time(ARGON_RUN), 2, || (), derive);
    row("flush: Argon2id derive alone, 2 threads", &alone, 2);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path()).expect("store opens");
    let inserts = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (beside, insert_wall) = thread::scope(|s| {
        let writers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        store.insert(fixture.new_tip()).expect("insert");
                        inserts.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let start = Instant::now();
        let o = run_threads(run_time(ARGON_RUN), 2, || (), derive);
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().expect("writer");
        }
        (o, start.elapsed())
    });
    row(
        "flush: Argon2id derive, 2 threads, beside 2 threads of insert+flush",
        &beside,
        2,
    );
    println!(
        "| flush: insert+flush beside Argon2id, 2 threads | {:.0} /s |",
        inserts.load(Ordering::Relaxed) as f64 / insert_wall.as_secs_f64()
    );
}
