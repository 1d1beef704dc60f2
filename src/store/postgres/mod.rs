//! The PostgreSQL store: the same trait on a database that several `whistlebox serve`
//! processes share, for a service larger than one machine or one disk.
//!
//! - Schema: versioned SQL files in `migrations/`, applied at startup in one transaction
//!   each and recorded in `whistlebox_schema`; a database whose schema is newer than this
//!   build is refused. Plain SQL only (no extensions, procedures, triggers, LISTEN/NOTIFY).
//! - Every write runs in a SERIALIZABLE transaction and takes row locks on what it changes
//!   (`SELECT ... FOR UPDATE` of the tip, the upload, the office's last bundle), so two
//!   frontends inserting under one receipt lookup, two imports racing on one office's next
//!   bundle number, a chunk and the completion check of its upload, or a tip taking
//!   uploads while expiry deletes them, come out as if one ran after the other.
//!   Serialization failures and deadlocks are retried. Reads run in REPEATABLE READ, READ
//!   ONLY transactions, so each answer is one snapshot.
//! - Durable when a method returns: the commit has returned, and every session runs with
//!   `synchronous_commit` at least `on` (a server or role default of `off` or `local` is
//!   raised to `on` for whistlebox's sessions, so with a synchronous standby a commit has
//!   reached the standby's disk too). A server with `fsync = off` is refused.
//! - A lost connection is retried on a fresh one for a while (a failover), but never a
//!   write whose COMMIT was sent and not answered: that one fails (the resident is shown no
//!   receipt), since it may or may not have been saved.
//! - Nothing finer than the day in any column; a server with `track_commit_timestamp = on`
//!   (a commit time for every row) is refused. Ciphertext that an ack deletes lives only in
//!   tables that hold what still waits (`sealed_tips`, `followups`, `moves`, `uploads`,
//!   `upload_chunks`); after a delete they are rewritten with `VACUUM FULL`, so the deleted
//!   bytes leave the table files (the old files are unlinked; what the WAL and the
//!   filesystem keep is in the README).
//! - State that frontends must agree on lives here too: the receipt salt, the pepper check,
//!   the last applied bundle of each office, and the newest directory of offices.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{IsolationLevel, NoTls, Row, Statement};

use super::uploads::check_uploads;
use super::{check_batch, stub_refusal, Batch, Channel, StubKey};
use super::{
    check_sequence, month_of, move_refused, Followup, MonthCounts, MoveDecision, MoveOrder,
    MoveState, NewTip, OfficeId, Purged, Reader, Signed, StoreCounts, StoreError, StoreSummary,
    StoredTip, TipStore, TipView,
};
use super::{Holding, Owner, Pending, Upload, UploadState};
use crate::crypto::{self, SALT_BYTES};
use crate::domain::addressing::Addressing;
use crate::domain::attachment::UploadId;
use crate::domain::receipt::ReceiptLookup;
use crate::domain::reply::{Ack, Update};
use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status, TipId};

pub use postgres::Config as PgConfig;

/// The schema version this build writes and reads: 1, the records of sled's format 4;
/// 2 adds office intake (sled's format 5).
pub const SCHEMA_VERSION: i32 = 2;

/// Every migration, in order: version, SQL. Applied files are never edited; a change is a
/// new file.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/0001_initial.sql")),
    (2, include_str!("migrations/0002_intake.sql")),
];

/// Most follow-ups, replies or history entries read back for one tip (as the sled store).
const MAX_ENTRIES: i64 = 1000;
/// How often a transaction that lost a serialization race is tried again.
const MAX_CONFLICT_TRIES: u32 = 30;
/// Tables holding only ciphertext still to be handed over, rewritten after deletes.
const SCRUBBED_TABLES: &str = "sealed_tips, followups, moves, upload_chunks, uploads";

/// How a PostgreSQL store connects.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections per frontend.
    pub pool_size: u32,
    /// How long to wait for a connection, and how long an operation keeps trying while the
    /// database is unreachable (a failover) before it fails.
    pub reconnect_for: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            reconnect_for: Duration::from_secs(30),
        }
    }
}

/// One pooled connection and the statements prepared on it.
pub struct Conn {
    client: postgres::Client,
    statements: HashMap<&'static str, Statement>,
    /// Set when the server behind it cannot take the store's work (read-only after a
    /// failover, shutting down): the pool then drops it rather than hand it out again.
    unusable: bool,
}

/// Opens connections for the pool, each set up for durability.
struct Manager {
    config: PgConfig,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        let level: String = client
            .query_one("SELECT current_setting('synchronous_commit')", &[])?
            .get(0);
        // A receipt is shown only once its tip is on disk (and on a synchronous standby's):
        // a server or role default that commits without waiting is overridden here.
        if level == "off" || level == "local" {
            client.batch_execute("SET synchronous_commit TO on")?;
        }
        Ok(Conn {
            client,
            statements: HashMap::new(),
            unusable: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.unusable || conn.client.is_closed()
    }
}

/// Why one try of a transaction failed.
enum Fail {
    /// The store's own refusal: final.
    Store(StoreError),
    /// The database said no or the connection failed; [`classify`] decides.
    Pg(postgres::Error),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

type Tr<T> = Result<T, Fail>;

/// What a failed try means for the next.
enum Attempt {
    /// Final.
    Store(StoreError),
    /// Lost a race with another transaction: try again at once.
    Conflict(String),
    /// No database to talk to (down, failing over, read-only): try again for a while.
    Unreachable(String),
    /// The connection was lost while the COMMIT of a write was under way: it may have been
    /// saved, so it is not tried again.
    InDoubt(String),
}

/// A database error's words without its detail line (which may quote a key: a lookup).
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

fn classify(e: postgres::Error) -> Attempt {
    let said = describe(&e);
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::UNIQUE_VIOLATION =>
        {
            Attempt::Conflict(said)
        }
        Some(c)
            if *c == SqlState::READ_ONLY_SQL_TRANSACTION
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || c.code().starts_with("08") =>
        {
            Attempt::Unreachable(said)
        }
        Some(_) => Attempt::Store(StoreError::Backend(format!("PostgreSQL: {said}"))),
        None => Attempt::Unreachable(said),
    }
}

/// A transaction on a pooled connection, preparing each statement once per connection.
struct Tx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<&'static str, Statement>,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl Tx<'_> {
    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }
    fn query(&mut self, sql: &'static str, params: Params<'_>) -> Tr<Vec<Row>> {
        let s = self.statement(sql)?;
        Ok(self.tx.query(&s, params)?)
    }
    fn opt(&mut self, sql: &'static str, params: Params<'_>) -> Tr<Option<Row>> {
        let s = self.statement(sql)?;
        Ok(self.tx.query_opt(&s, params)?)
    }
    fn one(&mut self, sql: &'static str, params: Params<'_>) -> Tr<Row> {
        let s = self.statement(sql)?;
        Ok(self.tx.query_one(&s, params)?)
    }
    fn exec(&mut self, sql: &'static str, params: Params<'_>) -> Tr<u64> {
        let s = self.statement(sql)?;
        Ok(self.tx.execute(&s, params)?)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Write,
    Read,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("the database {what}"))
}

fn day_of(v: i32) -> Day {
    Day(v as u32)
}

fn sql_day(day: Day) -> i32 {
    day.0 as i32
}

fn tip_id(bytes: &[u8]) -> Result<TipId, StoreError> {
    bytes
        .try_into()
        .map(TipId)
        .map_err(|_| corrupt("holds a tip id of the wrong length"))
}

fn upload_id(bytes: &[u8]) -> Result<UploadId, StoreError> {
    bytes
        .try_into()
        .map(UploadId)
        .map_err(|_| corrupt("holds an upload id of the wrong length"))
}

fn status_of(code: i16) -> Result<Status, StoreError> {
    u8::try_from(code)
        .ok()
        .and_then(Status::from_code)
        .ok_or_else(|| corrupt("holds an unknown status"))
}

fn sealed_of(bytes: Vec<u8>) -> Result<SealedTip, StoreError> {
    SealedTip::from_bytes(bytes, usize::MAX).map_err(|_| corrupt("holds a damaged sealed box"))
}

fn addressing_of(bytes: Option<Vec<u8>>) -> Result<Option<Addressing>, StoreError> {
    bytes
        .map(|b| Addressing::decode(&b).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// The key of an office's last bundle: '' for the county.
fn office_key(reader: &Reader) -> &str {
    reader.town().map_or("", |t| t.as_str())
}

/// A tip's row.
struct TipRow {
    day: Day,
    status: Status,
    followup_count: u32,
    /// `None`: the county alone reads it.
    addressing: Option<Addressing>,
}

impl TipRow {
    fn rules(&self) -> Addressing {
        self.addressing.clone().unwrap_or_default()
    }
}

fn tip_row(row: &Row) -> Result<TipRow, StoreError> {
    Ok(TipRow {
        day: day_of(row.get(0)),
        status: status_of(row.get(1))?,
        followup_count: row.get::<_, i32>(2) as u32,
        addressing: addressing_of(row.get(3))?,
    })
}

/// The tip a receipt lookup names.
fn tip_of(tx: &mut Tx<'_>, lookup: &ReceiptLookup) -> Tr<Option<TipId>> {
    match tx.opt(
        "SELECT tip FROM receipts WHERE lookup = $1",
        &[&&lookup.0[..]],
    )? {
        Some(row) => Ok(Some(tip_id(row.get(0))?)),
        None => Ok(None),
    }
}

/// A tip's row, locked for the rest of the transaction.
fn lock_tip(tx: &mut Tx<'_>, id: TipId) -> Tr<Option<TipRow>> {
    tip_row_by(
        tx,
        id,
        "SELECT day, status, followup_count, addressing FROM tips WHERE id = $1 FOR UPDATE",
    )
}

/// A tip's row, read only.
fn read_tip(tx: &mut Tx<'_>, id: TipId) -> Tr<Option<TipRow>> {
    tip_row_by(
        tx,
        id,
        "SELECT day, status, followup_count, addressing FROM tips WHERE id = $1",
    )
}

fn tip_row_by(tx: &mut Tx<'_>, id: TipId, sql: &'static str) -> Tr<Option<TipRow>> {
    match tx.opt(sql, &[&&id.0[..]])? {
        Some(row) => Ok(Some(tip_row(&row)?)),
        None => Ok(None),
    }
}

/// The tip `id` as `reader` may name it in a signed bundle, locked. A town office is told
/// the same about a tip it may not read and a tip that does not exist.
fn named(tx: &mut Tx<'_>, reader: &Reader, id: TipId) -> Tr<TipRow> {
    let row = match (lock_tip(tx, id)?, reader) {
        (Some(row), _) => row,
        (None, Reader::Root) => return Err(StoreError::UnknownTip(id).into()),
        (None, Reader::Town(_)) => return Err(StoreError::NotAddressed(id).into()),
    };
    let may_read = match &row.addressing {
        Some(a) => a.may_read(reader),
        None => reader == &Reader::Root,
    };
    if !may_read {
        return Err(StoreError::NotAddressed(id).into());
    }
    Ok(row)
}

fn put_addressing(tx: &mut Tx<'_>, id: TipId, rules: &Addressing) -> Tr<()> {
    tx.exec(
        "UPDATE tips SET addressing = $2 WHERE id = $1",
        &[&&id.0[..], &rules.encode()],
    )?;
    Ok(())
}

/// Checks and records the bundle's number for `reader`, holding the office's row.
fn take_sequence(tx: &mut Tx<'_>, reader: &Reader, signed: Signed) -> Tr<()> {
    let office = office_key(reader);
    let (last, digest) = match tx.opt(
        "SELECT last_sequence, last_digest FROM bundle_sequences WHERE office = $1 FOR UPDATE",
        &[&office],
    )? {
        Some(row) => (
            row.get::<_, i64>(0) as u64,
            <[u8; 32]>::try_from(row.get::<_, &[u8]>(1)).ok(),
        ),
        None => (0, None),
    };
    check_sequence(signed, last, digest)?;
    tx.exec(
        "INSERT INTO bundle_sequences (office, last_sequence, last_digest) VALUES ($1, $2, $3) \
         ON CONFLICT (office) DO UPDATE SET last_sequence = excluded.last_sequence, \
         last_digest = excluded.last_digest",
        &[&office, &(signed.sequence as i64), &&signed.digest[..]],
    )?;
    Ok(())
}

fn upload_of(row: &Row) -> Result<(UploadId, Upload), StoreError> {
    let owner = match (row.get::<_, Option<&[u8]>>(4), row.get::<_, Option<i32>>(5)) {
        (Some(tip), Some(n)) => Some(Owner {
            tip: tip_id(tip)?,
            n: n as u32,
        }),
        _ => None,
    };
    let upload = Upload {
        bytes: row.get::<_, i64>(1) as u64,
        day: day_of(row.get(2)),
        received: row.get(3),
        owner,
    };
    Ok((upload_id(row.get(0))?, upload))
}

/// Makes complete, unused uploads the files of `owner`, all or nothing, holding their rows.
fn attach(tx: &mut Tx<'_>, ids: &[UploadId], owner: Owner) -> Tr<()> {
    attach_within(tx, ids, owner, None)
}

/// [`attach`], refusing uploads whose bytes do not fit beside what the tip holds.
fn attach_within(
    tx: &mut Tx<'_>,
    ids: &[UploadId],
    owner: Owner,
    holding: Option<Holding>,
) -> Tr<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let keys: Vec<&[u8]> = ids.iter().map(|id| &id.0[..]).collect();
    let mut found = BTreeMap::new();
    for row in tx.query(
        "SELECT id, bytes, day, received, owner_tip, owner_n FROM uploads \
         WHERE id = ANY($1) FOR UPDATE",
        &[&keys],
    )? {
        let (id, upload) = upload_of(&row)?;
        found.insert(id, upload);
    }
    let checked = check_uploads(ids, |id| Ok(found.get(id).cloned()))?;
    if let Some(holding) = holding {
        holding.with_file_bytes(checked.iter().map(|u| u.bytes).sum())?;
    }
    for (pos, id) in ids.iter().enumerate() {
        tx.exec(
            "UPDATE uploads SET owner_tip = $2, owner_n = $3, owner_pos = $4 WHERE id = $1",
            &[
                &&id.0[..],
                &&owner.tip.0[..],
                &(owner.n as i32),
                &(pos as i32),
            ],
        )?;
    }
    Ok(())
}

/// Deletes the files of a tip (`n == 0`) or of its follow-up `n` (their chunks go with
/// them).
fn drop_files(tx: &mut Tx<'_>, tip: TipId, n: u32) -> Tr<()> {
    tx.exec(
        "DELETE FROM uploads WHERE owner_tip = $1 AND owner_n = $2",
        &[&&tip.0[..], &(n as i32)],
    )?;
    Ok(())
}

/// Deletes a tip's own files once no office may still be handed a sealed copy of it.
fn drop_unheld_files(tx: &mut Tx<'_>, tip: TipId) -> Tr<()> {
    tx.exec(
        "DELETE FROM uploads WHERE owner_tip = $1 AND owner_n = 0 \
         AND NOT EXISTS (SELECT 1 FROM sealed_tips WHERE tip = $1) \
         AND NOT EXISTS (SELECT 1 FROM moves WHERE tip = $1)",
        &[&&tip.0[..]],
    )?;
    Ok(())
}

/// The blobs of a tip's (`n == 0`) or follow-up's files, in order.
fn files_of(tx: &mut Tx<'_>, tip: TipId, n: u32) -> Tr<Vec<Vec<u8>>> {
    let uploads = tx.query(
        "SELECT id, bytes FROM uploads WHERE owner_tip = $1 AND owner_n = $2 ORDER BY owner_pos",
        &[&&tip.0[..], &(n as i32)],
    )?;
    let mut out = Vec::with_capacity(uploads.len());
    for upload in uploads {
        let id: &[u8] = upload.get(0);
        let bytes = upload.get::<_, i64>(1) as usize;
        let mut blob = Vec::with_capacity(bytes);
        for chunk in tx.query(
            "SELECT data FROM upload_chunks WHERE upload = $1 ORDER BY idx",
            &[&id],
        )? {
            blob.extend_from_slice(chunk.get::<_, &[u8]>(0));
        }
        if blob.len() != bytes {
            return Err(corrupt("holds a file with pieces missing").into());
        }
        out.push(blob);
    }
    Ok(out)
}

/// What one reader is to get of one tip, found before any ciphertext is read.
struct Share {
    original: bool,
    copy: Option<usize>,
    followups: Vec<u32>,
}

impl Share {
    fn is_empty(&self) -> bool {
        !self.original && self.copy.is_none() && self.followups.is_empty()
    }
}

/// What `reader` is to get of a tip; `None` if it may not read it.
fn share(
    tx: &mut Tx<'_>,
    reader: &Reader,
    id: TipId,
    row: &TipRow,
    holds_tip: bool,
) -> Tr<Option<Share>> {
    let rules = match &row.addressing {
        Some(a) => a.clone(),
        None if reader == &Reader::Root => Addressing::default(),
        None => return Ok(None),
    };
    if !rules.may_read(reader) {
        return Ok(None);
    }
    let copy = match rules.wants_copy(reader) {
        Some(i) => tx
            .opt(
                "SELECT 1 FROM moves WHERE tip = $1 AND idx = $2",
                &[&&id.0[..], &(i as i32)],
            )?
            .map(|_| i),
        None => None,
    };
    let mut followups = Vec::new();
    for f in tx.query(
        "SELECT n FROM followups WHERE tip = $1 ORDER BY n",
        &[&&id.0[..]],
    )? {
        let n = f.get::<_, i32>(0) as u32;
        if rules.wants_followup(reader, n) {
            followups.push(n);
            if followups.len() as i64 == MAX_ENTRIES {
                break;
            }
        }
    }
    Ok(Some(Share {
        original: rules.wants_original(reader) && holds_tip,
        copy,
        followups,
    }))
}

fn holds_tip(tx: &mut Tx<'_>, id: TipId) -> Tr<bool> {
    Ok(tx
        .opt("SELECT 1 FROM sealed_tips WHERE tip = $1", &[&&id.0[..]])?
        .is_some())
}

/// What `reader` gets of a tip in its export.
fn stored_tip_for(tx: &mut Tx<'_>, reader: &Reader, id: TipId) -> Tr<Option<StoredTip>> {
    let Some(row) = read_tip(tx, id)? else {
        return Ok(None);
    };
    let held = holds_tip(tx, id)?;
    let Some(share) = share(tx, reader, id, &row, held)? else {
        return Ok(None);
    };
    if share.is_empty() {
        return Ok(None);
    }
    let mut followups = Vec::with_capacity(share.followups.len());
    for &n in &share.followups {
        let f = tx.one(
            "SELECT day, sealed FROM followups WHERE tip = $1 AND n = $2",
            &[&&id.0[..], &(n as i32)],
        )?;
        followups.push(Followup {
            n,
            day: day_of(f.get(0)),
            sealed: sealed_of(f.get(1))?,
            attachments: files_of(tx, id, n)?,
        });
    }
    let (sealed, sealed_reply_key, grant) = match share.copy {
        Some(index) => {
            let m = tx.one(
                "SELECT stanza, copy FROM moves WHERE tip = $1 AND idx = $2",
                &[&&id.0[..], &(index as i32)],
            )?;
            (Some(sealed_of(m.get(1))?), None, Some(m.get(0)))
        }
        None if share.original => {
            let s = tx.one(
                "SELECT sealed, sealed_reply_key FROM sealed_tips WHERE tip = $1",
                &[&&id.0[..]],
            )?;
            (Some(sealed_of(s.get(0))?), s.get(1), None)
        }
        None => (None, None, None),
    };
    let attachments = match sealed {
        Some(_) => files_of(tx, id, 0)?,
        None => Vec::new(),
    };
    Ok(Some(StoredTip {
        id,
        day: row.day,
        status: row.status,
        sealed,
        grant,
        sealed_reply_key,
        followups,
        attachments,
    }))
}

/// The addressing record of a new tip (`None`: the county alone).
fn addressing_of_new(tip: &NewTip) -> Result<Option<Vec<u8>>, StoreError> {
    match tip.towns.is_empty() {
        true => Ok(None),
        false => Ok(Some(
            Addressing::new(tip.towns.clone())
                .map_err(StoreError::TooManyTowns)?
                .encode(),
        )),
    }
}

/// Stores a tip under a fresh random id (see `TipStore::insert`).
fn insert_tip(tx: &mut Tx<'_>, tip: &NewTip, addressing: &Option<Vec<u8>>) -> Tr<TipId> {
    if tx
        .opt(
            "SELECT 1 FROM receipts WHERE lookup = $1",
            &[&&tip.lookup.0[..]],
        )?
        .is_some()
    {
        return Err(StoreError::LookupTaken.into());
    }
    let id = loop {
        let id = TipId::random();
        let made = tx.exec(
            "INSERT INTO tips (id, day, status, followup_count, addressing) \
             VALUES ($1, $2, $3, 0, $4) ON CONFLICT (id) DO NOTHING",
            &[
                &&id.0[..],
                &sql_day(tip.day),
                &i16::from(Status::Received.code()),
                addressing,
            ],
        )?;
        if made == 1 {
            break id;
        }
    };
    tx.exec(
        "INSERT INTO receipts (lookup, tip) VALUES ($1, $2)",
        &[&&tip.lookup.0[..], &&id.0[..]],
    )?;
    tx.exec(
        "INSERT INTO sealed_tips (tip, sealed, sealed_reply_key) VALUES ($1, $2, $3)",
        &[&&id.0[..], &tip.sealed.as_bytes(), &tip.sealed_reply_key],
    )?;
    attach(tx, &tip.uploads, Owner { tip: id, n: 0 })?;
    Ok(id)
}

fn batch_of(row: &Row) -> Batch {
    Batch {
        number: row.get::<_, i32>(0) as u32,
        made_on: day_of(row.get(1)),
        forms: row.get::<_, i32>(2) as u32,
        voided_on: row.get::<_, Option<i32>>(3).map(day_of),
    }
}

/// A store on a PostgreSQL database (or one that speaks its protocol and SQL).
pub struct PgStore {
    pool: r2d2::Pool<Manager>,
    salt: [u8; SALT_BYTES],
    reconnect_for: Duration,
}

fn unreachable_at_start(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!(
        "cannot reach the PostgreSQL database given with --store ({e}); check that it runs, \
         that the address, user and password are right, and that pg_hba.conf lets this \
         frontend in"
    ))
}

impl PgStore {
    /// Connects, refuses a server that would lose or date commits, applies the migrations
    /// this build has (refusing a newer schema), creates the installation's salt on first
    /// use, and opens a pool of `options.pool_size` connections.
    pub fn open(config: PgConfig, options: PgOptions) -> Result<Self, StoreError> {
        let mut config = config;
        if config.get_application_name().is_none() {
            config.application_name("whistlebox");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let mut client = config.connect(NoTls).map_err(unreachable_at_start)?;
        check_server(&mut client)?;
        migrate(&mut client)?;
        let salt = installation_salt(&mut client)?;
        drop(client);
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(
                options
                    .reconnect_for
                    .clamp(Duration::from_millis(100), Duration::from_secs(5)),
            )
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(Manager { config });
        Ok(Self {
            pool,
            salt,
            reconnect_for: options.reconnect_for,
        })
    }

    /// Runs `body` in a transaction, trying again after a lost serialization race, and on
    /// a fresh connection while the database is unreachable (never after a write's COMMIT
    /// went unanswered).
    fn run<T>(
        &self,
        mode: Mode,
        mut body: impl FnMut(&mut Tx<'_>) -> Tr<T>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let mut tries = 0u32;
        loop {
            tries += 1;
            let failed = match self.attempt(mode, &mut body) {
                Ok(out) => return Ok(out),
                Err(failed) => failed,
            };
            let pause = match failed {
                Attempt::Store(e) => return Err(e),
                Attempt::InDoubt(said) => {
                    return Err(StoreError::Backend(format!(
                        "the connection to PostgreSQL was lost while a change was being \
                         committed, so it may or may not have been saved ({said})"
                    )))
                }
                Attempt::Conflict(said) if tries >= MAX_CONFLICT_TRIES => {
                    return Err(StoreError::Backend(format!(
                        "PostgreSQL: still conflicting after {tries} tries ({said})"
                    )))
                }
                Attempt::Conflict(_) => Duration::from_millis(u64::from(tries.min(10))),
                Attempt::Unreachable(said) if started.elapsed() >= self.reconnect_for => {
                    return Err(StoreError::Backend(format!(
                        "PostgreSQL is unreachable ({said})"
                    )))
                }
                Attempt::Unreachable(_) => Duration::from_millis(200),
            };
            let mut jitter = [0u8; 1];
            crypto::random_fill(&mut jitter);
            std::thread::sleep(pause + Duration::from_micros(u64::from(jitter[0]) * 20));
        }
    }

    fn attempt<T>(
        &self,
        mode: Mode,
        body: &mut impl FnMut(&mut Tx<'_>) -> Tr<T>,
    ) -> Result<T, Attempt> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| Attempt::Unreachable(e.to_string()))?;
        let result = Self::attempt_on(&mut conn, mode, body);
        if matches!(result, Err(Attempt::Unreachable(_) | Attempt::InDoubt(_))) {
            conn.unusable = true;
        }
        result
    }

    fn attempt_on<T>(
        conn: &mut Conn,
        mode: Mode,
        body: &mut impl FnMut(&mut Tx<'_>) -> Tr<T>,
    ) -> Result<T, Attempt> {
        let Conn {
            client, statements, ..
        } = conn;
        let tx = match mode {
            Mode::Write => client
                .build_transaction()
                .isolation_level(IsolationLevel::Serializable),
            Mode::Read => client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true),
        }
        .start()
        .map_err(classify)?;
        let mut tx = Tx { tx, statements };
        let out = body(&mut tx).map_err(|f| match f {
            Fail::Store(e) => Attempt::Store(e),
            Fail::Pg(e) => classify(e),
        })?;
        tx.tx.commit().map_err(|e| match classify(e) {
            Attempt::Unreachable(said) if mode == Mode::Write => Attempt::InDoubt(said),
            other => other,
        })?;
        Ok(out)
    }

    fn write<T>(&self, body: impl FnMut(&mut Tx<'_>) -> Tr<T>) -> Result<T, StoreError> {
        self.run(Mode::Write, body)
    }

    fn read<T>(&self, body: impl FnMut(&mut Tx<'_>) -> Tr<T>) -> Result<T, StoreError> {
        self.run(Mode::Read, body)
    }

    /// Rewrites the tables that hold ciphertext still to be handed over, so rows just
    /// deleted leave the table files (plain VACUUM only marks their space free; the bytes
    /// stay in the pages until reused). Each table is locked while it is rewritten.
    fn scrub(&self) {
        let done = self
            .pool
            .get()
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                c.client
                    .batch_execute(&format!("VACUUM FULL {SCRUBBED_TABLES}"))
                    .map_err(|e| describe(&e))
            });
        if let Err(e) = done {
            tracing::warn!(
                error = %e,
                "VACUUM FULL after a delete failed: the deleted ciphertext stays in the \
                 table files until it succeeds (it runs again after the next delete)"
            );
        }
    }
}

/// Refuses a server that would lose acknowledged commits or record when each happened.
fn check_server(client: &mut postgres::Client) -> Result<(), StoreError> {
    let setting = |client: &mut postgres::Client, name: &str| -> Option<String> {
        client
            .query_one("SELECT current_setting($1, true)", &[&name])
            .ok()
            .and_then(|r| r.get::<_, Option<String>>(0))
    };
    if setting(client, "fsync").as_deref() == Some("off") {
        return Err(StoreError::Backend(
            "the PostgreSQL server runs with fsync = off, so a crash could lose tips whose \
             receipt was shown; turn fsync on"
                .into(),
        ));
    }
    if setting(client, "track_commit_timestamp").as_deref() == Some("on") {
        return Err(StoreError::Backend(
            "the PostgreSQL server runs with track_commit_timestamp = on, which records the \
             time of every commit, so of every tip; turn it off"
                .into(),
        ));
    }
    for (name, quiet) in [
        ("log_statement", "none"),
        ("log_min_duration_statement", "-1"),
        ("log_connections", "off"),
        ("log_disconnections", "off"),
    ] {
        if let Some(value) = setting(client, name).filter(|v| v != quiet) {
            tracing::warn!(
                setting = name,
                value = %value,
                "the PostgreSQL server logs statements or connections with their times; \
                 set {name} = {quiet} (README, PostgreSQL)"
            );
        }
    }
    Ok(())
}

/// Applies the migrations the database lacks, each in one transaction. Frontends starting
/// together race; the loser's DDL fails or its version row collides, and it looks again.
fn migrate(client: &mut postgres::Client) -> Result<(), StoreError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match try_migrate(client) {
            Ok(()) => return Ok(()),
            Err(Fail::Store(e)) => return Err(e),
            Err(Fail::Pg(e)) => {
                let racing = e.code().is_some_and(|c| {
                    *c == SqlState::DUPLICATE_TABLE
                        || *c == SqlState::DUPLICATE_OBJECT
                        || *c == SqlState::UNIQUE_VIOLATION
                        || *c == SqlState::T_R_SERIALIZATION_FAILURE
                });
                if !racing || tries >= 5 {
                    return Err(StoreError::Backend(format!(
                        "the PostgreSQL schema could not be set up: {}",
                        describe(&e)
                    )));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn try_migrate(client: &mut postgres::Client) -> Tr<()> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS whistlebox_schema (version integer PRIMARY KEY)",
    )?;
    let mut tx = client.transaction()?;
    let current: i32 = tx
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM whistlebox_schema",
            &[],
        )?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: SCHEMA_VERSION,
        }
        .into());
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO whistlebox_schema (version) VALUES ($1)",
            &[version],
        )?;
        tracing::info!(version, "PostgreSQL schema migrated");
    }
    tx.commit()?;
    Ok(())
}

/// The installation's receipt salt, made by whichever frontend opens the database first.
fn installation_salt(client: &mut postgres::Client) -> Result<[u8; SALT_BYTES], StoreError> {
    let mut salt = [0u8; SALT_BYTES];
    crypto::random_fill(&mut salt);
    let pg = |e: postgres::Error| StoreError::Backend(format!("PostgreSQL: {}", describe(&e)));
    client
        .execute(
            "INSERT INTO installation (id, receipt_salt, legacy_receipts) VALUES (1, $1, false) \
             ON CONFLICT (id) DO NOTHING",
            &[&&salt[..]],
        )
        .map_err(pg)?;
    let row = client
        .query_one("SELECT receipt_salt FROM installation WHERE id = 1", &[])
        .map_err(pg)?;
    <[u8; SALT_BYTES]>::try_from(row.get::<_, &[u8]>(0))
        .map_err(|_| corrupt("holds an installation salt of the wrong length"))
}

impl TipStore for PgStore {
    fn receipt_salt(&self) -> [u8; SALT_BYTES] {
        self.salt
    }

    fn check_pepper(&self, check: &[u8; 32]) -> Result<(), StoreError> {
        self.write(|tx| {
            let row = tx.one(
                "SELECT pepper_check FROM installation WHERE id = 1 FOR UPDATE",
                &[],
            )?;
            match row.get::<_, Option<&[u8]>>(0) {
                Some(stored) if crypto::ct_eq(stored, check) => Ok(()),
                Some(_) => Err(StoreError::PepperMismatch.into()),
                None => {
                    tx.exec(
                        "UPDATE installation SET pepper_check = $1 WHERE id = 1",
                        &[&&check[..]],
                    )?;
                    Ok(())
                }
            }
        })
    }

    fn insert(&self, tip: NewTip) -> Result<TipId, StoreError> {
        let addressing = addressing_of_new(&tip)?;
        self.write(|tx| insert_tip(tx, &tip, &addressing))
    }

    fn register_batch(&self, day: Day, stubs: &[StubKey]) -> Result<Batch, StoreError> {
        check_batch(stubs)?;
        let keys: Vec<&[u8]> = stubs.iter().map(|s| &s.0[..]).collect();
        self.write(|tx| {
            if tx
                .opt("SELECT 1 FROM stubs WHERE stub = ANY($1) LIMIT 1", &[&keys])?
                .is_some()
            {
                return Err(StoreError::StubTaken.into());
            }
            // Two frontends numbering at once collide on the key and one tries again.
            let number: i32 = tx
                .one("SELECT COALESCE(max(number), 0) + 1 FROM batches", &[])?
                .get(0);
            tx.exec(
                "INSERT INTO batches (number, made_on, forms) VALUES ($1, $2, $3)",
                &[&number, &sql_day(day), &(stubs.len() as i32)],
            )?;
            for key in &keys {
                tx.exec(
                    "INSERT INTO stubs (stub, batch) VALUES ($1, $2)",
                    &[key, &number],
                )?;
            }
            Ok(Batch {
                number: number as u32,
                made_on: day,
                forms: stubs.len() as u32,
                voided_on: None,
            })
        })
    }

    fn stub_batch(&self, stub: &StubKey) -> Result<Option<Batch>, StoreError> {
        self.read(|tx| {
            tx.opt(
                "SELECT b.number, b.made_on, b.forms, b.voided_on FROM stubs s \
                 JOIN batches b ON b.number = s.batch WHERE s.stub = $1",
                &[&&stub.0[..]],
            )?
            .map(|r| Ok(batch_of(&r)))
            .transpose()
        })
    }

    fn batches(&self) -> Result<Vec<Batch>, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query(
                    "SELECT number, made_on, forms, voided_on FROM batches ORDER BY number",
                    &[],
                )?
                .iter()
                .map(batch_of)
                .collect())
        })
    }

    fn void_batch(&self, number: u32, day: Day) -> Result<Option<Batch>, StoreError> {
        self.write(|tx| {
            tx.opt(
                "UPDATE batches SET voided_on = COALESCE(voided_on, $2) WHERE number = $1 \
                 RETURNING number, made_on, forms, voided_on",
                &[&(number as i32), &sql_day(day)],
            )?
            .map(|r| Ok(batch_of(&r)))
            .transpose()
        })
    }

    fn insert_entered(&self, tip: NewTip, stub: Option<&StubKey>) -> Result<TipId, StoreError> {
        let addressing = addressing_of_new(&tip)?;
        self.write(|tx| {
            if let Some(stub) = stub {
                // A plain read, never `FOR UPDATE`: a row lock writes the locking
                // transaction's id into the stub's and the batch's rows (xmax), the same id
                // as the new tip's xmin, which would tie the tip to its batch, and so to a
                // village. A withdrawal at the same moment is still ordered: SERIALIZABLE
                // makes the two run as if one after the other (here the entry first, as
                // it read the batch before the withdrawal's write was visible to it).
                let batch = tx
                    .opt(
                        "SELECT b.number, b.made_on, b.forms, b.voided_on FROM stubs s \
                         JOIN batches b ON b.number = s.batch WHERE s.stub = $1",
                        &[&&stub.0[..]],
                    )?
                    .map(|r| batch_of(&r));
                stub_refusal(batch)?;
            }
            insert_tip(tx, &tip, &addressing)
        })
    }

    fn add_intake_counts(&self, counts: &[(String, Channel, u64)]) -> Result<(), StoreError> {
        self.write(|tx| {
            for (month, channel, n) in counts {
                let n = i64::try_from(*n).map_err(|_| corrupt("a count is too large"))?;
                tx.exec(
                    "INSERT INTO intake_counts (month, channel, n) VALUES ($1, $2, $3) \
                     ON CONFLICT (month, channel) DO UPDATE SET n = intake_counts.n + $3",
                    &[month, &i16::from(channel.code()), &n],
                )?;
            }
            Ok(())
        })
    }

    fn legacy_receipts(&self) -> Result<bool, StoreError> {
        self.read(|tx| {
            Ok(tx
                .one("SELECT legacy_receipts FROM installation WHERE id = 1", &[])?
                .get(0))
        })
    }

    fn view(&self, lookup: &ReceiptLookup) -> Result<Option<TipView>, StoreError> {
        self.read(|tx| {
            let Some(row) = tx.opt(
                "SELECT t.id, t.day, t.status, t.addressing FROM receipts r \
                 JOIN tips t ON t.id = r.tip WHERE r.lookup = $1",
                &[&&lookup.0[..]],
            )?
            else {
                return Ok(None);
            };
            let id: Vec<u8> = row.get(0);
            let mut history = Vec::new();
            for h in tx.query(
                "SELECT day, status FROM history WHERE tip = $1 ORDER BY n LIMIT $2",
                &[&id, &MAX_ENTRIES],
            )? {
                history.push((day_of(h.get(0)), status_of(h.get(1))?));
            }
            let replies = tx
                .query(
                    "SELECT day, sealed FROM replies WHERE tip = $1 ORDER BY n LIMIT $2",
                    &[&id, &MAX_ENTRIES],
                )?
                .iter()
                .map(|r| (day_of(r.get(0)), r.get(1)))
                .collect();
            let addressing = addressing_of(row.get(3))?.unwrap_or_default();
            Ok(Some(TipView {
                day: day_of(row.get(1)),
                status: status_of(row.get(2))?,
                history,
                replies,
                towns: addressing.town_readers(),
                moves: addressing.move_views(),
            }))
        })
    }

    fn add_followup_with_files(
        &self,
        lookup: &ReceiptLookup,
        day: Day,
        sealed: SealedTip,
        uploads: &[UploadId],
    ) -> Result<Option<u32>, StoreError> {
        self.write(|tx| {
            let Some(id) = tip_of(tx, lookup)? else {
                return Ok(None);
            };
            let row = lock_tip(tx, id)?.ok_or_else(|| corrupt("has a receipt of no tip"))?;
            let n = row.followup_count + 1;
            // What the tip holds until acked is bounded; counted here under the tip's lock.
            let held = tx.one(
                "SELECT (SELECT count(*) FROM followups WHERE tip = $1), \
                 (SELECT CAST(COALESCE(sum(bytes), 0) AS bigint) FROM uploads \
                  WHERE owner_tip = $1)",
                &[&&id.0[..]],
            )?;
            let holding = Holding {
                followups: held.get::<_, i64>(0) as u32,
                file_bytes: held.get::<_, i64>(1) as u64,
            }
            .with_followup()?;
            tx.exec(
                "UPDATE tips SET followup_count = $2 WHERE id = $1",
                &[&&id.0[..], &(n as i32)],
            )?;
            tx.exec(
                "INSERT INTO followups (tip, n, day, sealed) VALUES ($1, $2, $3, $4)",
                &[&&id.0[..], &(n as i32), &sql_day(day), &sealed.as_bytes()],
            )?;
            attach_within(tx, uploads, Owner { tip: id, n }, Some(holding))?;
            Ok(Some(n))
        })
    }

    fn create_upload(&self, bytes: u64, day: Day) -> Result<UploadId, StoreError> {
        let upload = Upload::new(bytes, day)?;
        self.write(|tx| loop {
            let id = UploadId::random();
            let made = tx.exec(
                "INSERT INTO uploads (id, bytes, day, received) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &&id.0[..],
                    &(upload.bytes as i64),
                    &sql_day(upload.day),
                    &upload.received,
                ],
            )?;
            if made == 1 {
                return Ok(id);
            }
        })
    }

    fn put_upload_chunk(
        &self,
        id: &UploadId,
        index: u32,
        data: &[u8],
    ) -> Result<UploadState, StoreError> {
        self.write(|tx| {
            let Some(row) = tx.opt(
                "SELECT id, bytes, day, received, owner_tip, owner_n FROM uploads \
                 WHERE id = $1 FOR UPDATE",
                &[&&id.0[..]],
            )?
            else {
                return Err(StoreError::UnknownUpload.into());
            };
            let (_, mut upload) = upload_of(&row)?;
            upload.check_chunk(index, data.len())?;
            if upload.has(index) {
                let stored = tx.opt(
                    "SELECT data FROM upload_chunks WHERE upload = $1 AND idx = $2",
                    &[&&id.0[..], &(index as i32)],
                )?;
                return match stored {
                    Some(r) if r.get::<_, &[u8]>(0) == data => Ok(upload.state()),
                    _ => Err(StoreError::ChunkConflict.into()),
                };
            }
            tx.exec(
                "INSERT INTO upload_chunks (upload, idx, data) VALUES ($1, $2, $3)",
                &[&&id.0[..], &(index as i32), &data],
            )?;
            upload.mark(index);
            tx.exec(
                "UPDATE uploads SET received = $2 WHERE id = $1",
                &[&&id.0[..], &upload.received],
            )?;
            Ok(upload.state())
        })
    }

    fn upload_state(&self, id: &UploadId) -> Result<Option<UploadState>, StoreError> {
        self.read(|tx| {
            match tx.opt(
                "SELECT id, bytes, day, received, owner_tip, owner_n FROM uploads WHERE id = $1",
                &[&&id.0[..]],
            )? {
                Some(row) => Ok(Some(upload_of(&row)?.1.state())),
                None => Ok(None),
            }
        })
    }

    fn pending_uploads(&self) -> Result<Pending, StoreError> {
        self.read(|tx| {
            // The chunks' lengths come from their TOAST headers: no ciphertext is read.
            let row = tx.one(
                "SELECT (SELECT count(*) FROM uploads WHERE owner_tip IS NULL), \
                 (SELECT CAST(COALESCE(sum(octet_length(c.data)), 0) AS bigint) \
                  FROM upload_chunks c JOIN uploads u ON u.id = c.upload \
                  WHERE u.owner_tip IS NULL)",
                &[],
            )?;
            Ok(Pending {
                uploads: row.get::<_, i64>(0) as u64,
                bytes: row.get::<_, i64>(1) as u64,
            })
        })
    }

    fn expire_uploads(&self, before: Day) -> Result<u64, StoreError> {
        let removed = self.write(|tx| {
            tx.exec(
                "DELETE FROM uploads WHERE owner_tip IS NULL AND day < $1",
                &[&sql_day(before)],
            )
        })?;
        if removed > 0 {
            self.scrub();
        }
        Ok(removed)
    }

    fn discard_uploads(&self, ids: &[UploadId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<&[u8]> = ids.iter().map(|id| &id.0[..]).collect();
        self.write(|tx| {
            tx.exec(
                "DELETE FROM uploads WHERE id = ANY($1) AND owner_tip IS NULL",
                &[&keys],
            )?;
            Ok(())
        })
    }

    fn export_ids_for(&self, reader: &Reader) -> Result<Vec<TipId>, StoreError> {
        self.read(|tx| {
            // Only tips that hold something to hand over; the county may read every tip,
            // a town only tips with an addressing record.
            let rows = tx.query(
                "SELECT t.id, t.day, t.status, t.followup_count, t.addressing, \
                 EXISTS (SELECT 1 FROM sealed_tips s WHERE s.tip = t.id) FROM tips t \
                 WHERE ($1 OR t.addressing IS NOT NULL) AND ( \
                 EXISTS (SELECT 1 FROM sealed_tips s WHERE s.tip = t.id) \
                 OR EXISTS (SELECT 1 FROM followups f WHERE f.tip = t.id) \
                 OR EXISTS (SELECT 1 FROM moves m WHERE m.tip = t.id)) ORDER BY t.id",
                &[&(reader == &Reader::Root)],
            )?;
            let mut ids = Vec::new();
            for row in rows {
                let id = tip_id(row.get(0))?;
                let tip = TipRow {
                    day: day_of(row.get(1)),
                    status: status_of(row.get(2))?,
                    followup_count: row.get::<_, i32>(3) as u32,
                    addressing: addressing_of(row.get(4))?,
                };
                if share(tx, reader, id, &tip, row.get(5))?.is_some_and(|s| !s.is_empty()) {
                    ids.push(id);
                }
            }
            Ok(ids)
        })
    }

    fn export_tip_for(&self, reader: &Reader, id: TipId) -> Result<Option<StoredTip>, StoreError> {
        self.read(|tx| stored_tip_for(tx, reader, id))
    }

    fn last_sequence_for(&self, reader: &Reader) -> Result<u64, StoreError> {
        self.read(|tx| {
            Ok(tx
                .opt(
                    "SELECT last_sequence FROM bundle_sequences WHERE office = $1",
                    &[&office_key(reader)],
                )?
                .map_or(0, |r| r.get::<_, i64>(0) as u64))
        })
    }

    fn apply_updates(
        &self,
        signed: Signed,
        reader: &Reader,
        day: Day,
        updates: &[Update],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            take_sequence(tx, reader, signed)?;
            for update in updates {
                let id = &update.tip.0[..];
                named(tx, reader, update.tip)?;
                let code = i16::from(update.status.code());
                tx.exec("UPDATE tips SET status = $2 WHERE id = $1", &[&id, &code])?;
                tx.exec(
                    "INSERT INTO history (tip, n, day, status) SELECT $1, \
                     COALESCE(max(n), 0) + 1, $2, $3 FROM history WHERE tip = $1",
                    &[&id, &sql_day(day), &code],
                )?;
                if let Some(reply) = &update.reply {
                    tx.exec(
                        "INSERT INTO replies (tip, n, day, sealed) SELECT $1, \
                         COALESCE(max(n), 0) + 1, $2, $3 FROM replies WHERE tip = $1",
                        &[&id, &sql_day(day), reply],
                    )?;
                }
            }
            Ok(())
        })
    }

    fn apply_ack(
        &self,
        signed: Signed,
        reader: &Reader,
        acks: &[Ack],
    ) -> Result<Purged, StoreError> {
        let purged = self.write(|tx| {
            take_sequence(tx, reader, signed)?;
            let mut purged = Purged::default();
            for ack in acks {
                let id = ack.tip;
                let key = &id.0[..];
                let row = named(tx, reader, id)?;
                let mut rules = row.rules();
                let effect = rules
                    .ack(reader, ack.tip_sealed, &ack.followups, row.followup_count)
                    .map_err(|_| StoreError::NotAddressed(id))?;
                if effect.original
                    && tx.exec("DELETE FROM sealed_tips WHERE tip = $1", &[&key])? > 0
                {
                    purged.tips += 1;
                }
                if let Some(index) = effect.copy {
                    if tx.exec(
                        "DELETE FROM moves WHERE tip = $1 AND idx = $2",
                        &[&key, &(index as i32)],
                    )? > 0
                    {
                        purged.copies += 1;
                    }
                }
                for n in effect.followups {
                    if tx.exec(
                        "DELETE FROM followups WHERE tip = $1 AND n = $2",
                        &[&key, &(n as i32)],
                    )? > 0
                    {
                        drop_files(tx, id, n)?;
                        purged.followups += 1;
                    }
                }
                drop_unheld_files(tx, id)?;
                // A tip the county alone reads needs no record: each of its acks deletes.
                if row.addressing.is_some() {
                    put_addressing(tx, id, &rules)?;
                }
            }
            Ok(purged)
        })?;
        if purged != Purged::default() {
            self.scrub();
        }
        Ok(purged)
    }

    fn propose_moves(
        &self,
        signed: Signed,
        reader: &Reader,
        day: Day,
        orders: &[MoveOrder],
    ) -> Result<Vec<MoveState>, StoreError> {
        self.write(|tx| {
            take_sequence(tx, reader, signed)?;
            let mut states = Vec::with_capacity(orders.len());
            for order in orders {
                let id = order.tip;
                let row = named(tx, reader, id)?;
                let mut rules = row.rules();
                let kept = rules
                    .propose(reader, order.to.clone(), day, row.followup_count)
                    .map_err(|reason| move_refused(id, reason))?;
                if let Some(index) = kept {
                    let carried = order
                        .carried
                        .as_ref()
                        .ok_or(StoreError::NothingCarried(id))?;
                    tx.exec(
                        "INSERT INTO moves (tip, idx, stanza, copy) VALUES ($1, $2, $3, $4)",
                        &[
                            &&id.0[..],
                            &(index as i32),
                            &carried.stanza,
                            &carried.sealed.as_bytes(),
                        ],
                    )?;
                }
                put_addressing(tx, id, &rules)?;
                states.push(rules.moves().last().expect("just added").state);
            }
            Ok(states)
        })
    }

    fn decide_move(
        &self,
        lookup: &ReceiptLookup,
        to: &OfficeId,
        agree: bool,
        day: Day,
        grant: Option<Vec<u8>>,
    ) -> Result<Option<MoveDecision>, StoreError> {
        let decision = self.write(|tx| {
            let Some(id) = tip_of(tx, lookup)? else {
                return Ok(None);
            };
            let row = lock_tip(tx, id)?.ok_or_else(|| corrupt("has a receipt of no tip"))?;
            let Some(mut rules) = row.addressing.clone() else {
                return Err(StoreError::NoMoveWaiting.into());
            };
            let (index, decision) = rules
                .decide(to, agree, day, row.followup_count)
                .map_err(|_| StoreError::NoMoveWaiting)?;
            let key = &id.0[..];
            if !agree {
                tx.exec(
                    "DELETE FROM moves WHERE tip = $1 AND idx = $2",
                    &[&key, &(index as i32)],
                )?;
                drop_unheld_files(tx, id)?;
            } else if let Some(grant) = &grant {
                let replaced = tx.exec(
                    "UPDATE moves SET stanza = $3 WHERE tip = $1 AND idx = $2",
                    &[&key, &(index as i32), grant],
                )?;
                if replaced == 0 {
                    return Err(StoreError::NoMoveWaiting.into());
                }
            }
            put_addressing(tx, id, &rules)?;
            Ok(Some(decision))
        })?;
        // Declined (or agreed with the stanza replaced): the old bytes leave the tables.
        if decision.is_some() && (!agree || grant.is_some()) {
            self.scrub();
        }
        Ok(decision)
    }

    fn waiting_grant(
        &self,
        lookup: &ReceiptLookup,
        to: &OfficeId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|tx| {
            let Some(id) = tip_of(tx, lookup)? else {
                return Ok(None);
            };
            let Some(rules) = read_tip(tx, id)?.and_then(|r| r.addressing) else {
                return Ok(None);
            };
            let Some(index) = rules
                .moves()
                .iter()
                .position(|m| m.to.town() == Some(to) && m.state == MoveState::Waiting)
            else {
                return Ok(None);
            };
            Ok(tx
                .opt(
                    "SELECT stanza FROM moves WHERE tip = $1 AND idx = $2",
                    &[&&id.0[..], &(index as i32)],
                )?
                .map(|r| r.get(0)))
        })
    }

    fn monthly_counts(&self) -> Result<BTreeMap<String, MonthCounts>, StoreError> {
        self.read(|tx| {
            let mut months: BTreeMap<String, MonthCounts> = BTreeMap::new();
            for row in tx.query("SELECT day, count(*) FROM tips GROUP BY day", &[])? {
                months
                    .entry(month_of(day_of(row.get(0))))
                    .or_default()
                    .received += row.get::<_, i64>(1) as u64;
            }
            for row in tx.query(
                "SELECT day, status, count(*) FROM history GROUP BY day, status",
                &[],
            )? {
                let status = status_of(row.get(1))?;
                *months
                    .entry(month_of(day_of(row.get(0))))
                    .or_default()
                    .reached
                    .entry(status.as_str())
                    .or_default() += row.get::<_, i64>(2) as u64;
            }
            for row in tx.query("SELECT month, channel, n FROM intake_counts", &[])? {
                let channel = u8::try_from(row.get::<_, i16>(1))
                    .ok()
                    .and_then(Channel::from_code)
                    .ok_or_else(|| corrupt("holds a count of an unknown channel"))?;
                months
                    .entry(row.get(0))
                    .or_default()
                    .entered
                    .insert(channel, row.get::<_, i64>(2) as u64);
            }
            Ok(months)
        })
    }

    fn verify(&self) -> Result<StoreSummary, StoreError> {
        // The foreign keys already hold every receipt, entry, move and file to its tip.
        self.read(|tx| {
            let counts = tx.one(
                "SELECT (SELECT count(*) FROM tips), (SELECT count(*) FROM receipts)",
                &[],
            )?;
            for row in tx.query(
                "SELECT DISTINCT status FROM tips UNION SELECT DISTINCT status FROM history",
                &[],
            )? {
                status_of(row.get(0))?;
            }
            let mut kept: BTreeMap<Vec<u8>, BTreeSet<usize>> = BTreeMap::new();
            for row in tx.query("SELECT tip, idx FROM moves", &[])? {
                kept.entry(row.get(0))
                    .or_default()
                    .insert(row.get::<_, i32>(1) as usize);
            }
            for row in tx.query(
                "SELECT id, addressing FROM tips WHERE addressing IS NOT NULL",
                &[],
            )? {
                let id: Vec<u8> = row.get(0);
                let rules = addressing_of(row.get(1))?.expect("not null");
                let want: BTreeSet<usize> = (0..rules.moves().len())
                    .filter(|i| rules.holds_copy(*i))
                    .collect();
                if kept.remove(&id).unwrap_or_default() != want {
                    return Err(StoreError::Corrupt(format!(
                        "tip {} keeps the wrong carried copies of its moves",
                        tip_id(&id)?
                    ))
                    .into());
                }
            }
            if !kept.is_empty() {
                return Err(corrupt("holds a moved copy that belongs to no move").into());
            }
            let mut uploads = HashMap::new();
            for row in tx.query(
                "SELECT id, bytes, day, received, owner_tip, owner_n FROM uploads",
                &[],
            )? {
                let (id, upload) = upload_of(&row)?;
                if upload.owner.is_some() && !upload.complete() {
                    return Err(corrupt("holds a file whose upload is incomplete").into());
                }
                uploads.insert(id, upload);
            }
            for row in tx.query("SELECT upload, idx FROM upload_chunks", &[])? {
                let id = upload_id(row.get(0))?;
                let idx = row.get::<_, i32>(1) as u32;
                if !uploads.get(&id).is_some_and(|u| u.has(idx)) {
                    return Err(corrupt("holds a piece of a file that belongs to no upload").into());
                }
            }
            Ok(StoreSummary {
                tips: counts.get::<_, i64>(0) as u64,
                receipts: counts.get::<_, i64>(1) as u64,
            })
        })
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.read(|tx| {
            let row = tx.one(
                "SELECT (SELECT count(*) FROM tips), \
                 (SELECT count(*) FROM tips t WHERE EXISTS (SELECT 1 FROM sealed_tips s \
                  WHERE s.tip = t.id) OR EXISTS (SELECT 1 FROM moves m WHERE m.tip = t.id)), \
                 (SELECT count(*) FROM followups), \
                 (SELECT count(*) FROM uploads WHERE owner_tip IS NOT NULL), \
                 (SELECT count(*) FROM uploads WHERE owner_tip IS NULL)",
                &[],
            )?;
            let n = |i: usize| row.get::<_, i64>(i) as u64;
            Ok(StoreCounts {
                tips: n(0),
                sealed_held: n(1),
                followups_held: n(2),
                files_held: n(3),
                uploads_pending: n(4),
            })
        })
    }

    /// The size of whistlebox's tables with their indexes and TOAST data (0 where the
    /// database has no `pg_total_relation_size`).
    fn bytes_on_disk(&self) -> Result<u64, StoreError> {
        let size = self.read(|tx| {
            Ok(tx
                .one(
                    "SELECT CAST(COALESCE(sum(pg_total_relation_size(c.oid)), 0) AS bigint) \
                     FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace \
                     WHERE s.nspname = current_schema() AND c.relkind = 'r'",
                    &[],
                )?
                .get::<_, i64>(0))
        });
        Ok(size.map_or(0, |s| s as u64))
    }

    fn shares_directory(&self) -> bool {
        true
    }

    fn shared_directory(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|tx| {
            Ok(tx
                .one("SELECT directory FROM installation WHERE id = 1", &[])?
                .get(0))
        })
    }

    fn record_directory(&self, sequence: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let digest: [u8; 32] = crypto::blake2b(None, &[bytes]);
        self.write(|tx| {
            let row = tx.one(
                "SELECT directory_sequence, directory_digest FROM installation \
                 WHERE id = 1 FOR UPDATE",
                &[],
            )?;
            if let (Some(recorded), Some(seen)) =
                (row.get::<_, Option<i64>>(0), row.get::<_, Option<&[u8]>>(1))
            {
                let recorded = recorded as u64;
                if sequence < recorded || (sequence == recorded && seen != digest) {
                    return Err(StoreError::OlderDirectory {
                        recorded,
                        offered: sequence,
                    }
                    .into());
                }
                if sequence == recorded {
                    return Ok(());
                }
            }
            tx.exec(
                "UPDATE installation SET directory_sequence = $1, directory_digest = $2, \
                 directory = $3 WHERE id = 1",
                &[&(sequence as i64), &&digest[..], &bytes],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
pub(super) mod testing {
    //! A fresh schema per test on the server named by `WHISTLEBOX_TEST_POSTGRES`, so tests
    //! run in parallel; dropped when the test ends.

    use super::*;

    /// The variable naming the test server (any connection string the store takes).
    pub const ENV: &str = "WHISTLEBOX_TEST_POSTGRES";

    /// The connection string, or `None` (with a line saying the test was skipped) when it
    /// is not set; under `CI=true` its absence fails the test instead.
    pub fn url(test: &str) -> Option<String> {
        match std::env::var(ENV) {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                skip(
                    test,
                    &format!(
                        "no PostgreSQL to test against; set {ENV}=postgres://... \
                         (bash .ci/test starts one)"
                    ),
                );
                None
            }
        }
    }

    /// Says a test was skipped, past libtest's capture (a skip must be seen); under
    /// `CI=true` fails it instead.
    pub fn skip(test: &str, why: &str) {
        use std::io::Write;
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "{test}: CI=true, so this must not be skipped: {why}"
        );
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    }

    /// Drops its schema when dropped.
    pub struct Schema {
        /// The server (without the schema's search path).
        pub url: String,
        name: String,
    }

    impl Schema {
        /// A plain client on the schema, to look at rows as whoever holds the database.
        pub fn client(&self) -> postgres::Client {
            let mut config: PgConfig = self.url.parse().expect("a connection string");
            config.options(&format!("-c search_path={}", self.name));
            config.connect(NoTls).expect("the test PostgreSQL")
        }
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            if let Ok(mut c) = postgres::Client::connect(&self.url, NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
            }
        }
    }

    /// A store in a schema of its own.
    pub fn store(test: &str) -> Option<(PgStore, Schema)> {
        let url = url(test)?;
        let mut b = [0u8; 8];
        crypto::random_fill(&mut b);
        let name = format!(
            "t_{}",
            crate::bundle::digest_to_hex(&{
                let mut d = [0u8; 32];
                d[..8].copy_from_slice(&b);
                d
            })[..16]
                .to_owned()
        );
        let mut admin = postgres::Client::connect(&url, NoTls).expect("the test PostgreSQL");
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("create a test schema");
        let mut config: PgConfig = url.parse().expect("a connection string");
        config.options(&format!("-c search_path={name}"));
        let store = PgStore::open(
            config,
            PgOptions {
                pool_size: 2,
                ..PgOptions::default()
            },
        )
        .expect("open the PostgreSQL store");
        Some((store, Schema { url, name }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SEAL_OVERHEAD;
    use crate::domain::tip::PAD_BLOCK;

    fn random_sealed(blocks: usize) -> SealedTip {
        let mut bytes = vec![0u8; SEAL_OVERHEAD + blocks * PAD_BLOCK];
        crypto::random_fill(&mut bytes);
        SealedTip::from_bytes(bytes, usize::MAX).unwrap()
    }

    /// Every file under `dir` whose bytes hold `needle`.
    fn holding(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return out;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(holding(&path, needle));
            } else if std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                out.push(path);
            }
        }
        out
    }

    /// A letter entered under a printed form's code leaves the tip's transaction id on no
    /// other row: not on its stub or batch (a row lock would write it there as xmax, which
    /// ties the tip to its batch and so to a village), nor on the counts by channel (whose
    /// xmin would tell the tip's channel). Found by a hostile review, which joined exactly
    /// these columns.
    #[test]
    fn an_entered_letter_leaves_its_transaction_id_on_no_stub_batch_or_count() {
        crypto::init().unwrap();
        let test = "an_entered_letter_leaves_its_transaction_id_on_no_stub_batch_or_count";
        let Some((store, schema)) = testing::store(test) else {
            return;
        };
        let stubs: Vec<StubKey> = (1..=3).map(|i| StubKey([i; 32])).collect();
        store.register_batch(Day(20_100), &stubs[..2]).unwrap();
        store.register_batch(Day(20_100), &stubs[2..]).unwrap();
        let tip = |lookup: u8| NewTip {
            lookup: ReceiptLookup([lookup; 32]),
            day: Day(20_100),
            sealed: random_sealed(1),
            sealed_reply_key: Vec::new(),
            towns: vec![],
            uploads: vec![],
        };
        store.insert_entered(tip(1), Some(&stubs[1])).unwrap();
        store.insert_entered(tip(2), None).unwrap();
        store
            .add_intake_counts(&[
                (month_of(Day(20_100)), Channel::Letter, 1),
                (month_of(Day(20_100)), Channel::Phone, 1),
            ])
            .unwrap();
        let mut c = schema.client();
        for (what, sql) in [
            ("stubs", "SELECT count(*) FROM tips t JOIN stubs s ON s.xmax = t.xmin OR s.xmin = t.xmin"),
            ("batches", "SELECT count(*) FROM tips t JOIN batches b ON b.xmax = t.xmin OR b.xmin = t.xmin"),
            ("intake_counts", "SELECT count(*) FROM tips t JOIN intake_counts c ON c.xmax = t.xmin OR c.xmin = t.xmin"),
        ] {
            let linked: i64 = c.query_one(sql, &[]).unwrap().get(0);
            assert_eq!(linked, 0, "a tip's transaction id is on a row of {what}");
        }
        let tips: i64 = c
            .query_one("SELECT count(*) FROM tips", &[])
            .unwrap()
            .get(0);
        assert_eq!(tips, 2);
    }

    /// Races that two frontends on one database run into, run for real on two pooled
    /// connections at once: two tips under one receipt lookup (one is filed, the other
    /// told the lookup is taken), and one signed bundle imported twice at the same moment
    /// (applied once, the other a replay), twenty times each.
    #[test]
    fn concurrent_frontends_come_out_one_after_the_other() {
        crypto::init().unwrap();
        let Some((store, _schema)) =
            testing::store("concurrent_frontends_come_out_one_after_the_other")
        else {
            return;
        };
        let tip = |lookup: u8| NewTip {
            lookup: ReceiptLookup([lookup; 32]),
            day: Day(20_100),
            sealed: random_sealed(1),
            sealed_reply_key: vec![lookup; 80],
            towns: vec![],
            uploads: vec![],
        };
        let target = store.insert(tip(0)).unwrap();
        for round in 1..=20u8 {
            let barrier = std::sync::Barrier::new(2);
            let results: Vec<_> = std::thread::scope(|s| {
                let racers: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            store.insert(tip(round))
                        })
                    })
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            let filed = results.iter().filter(|r| r.is_ok()).count();
            let taken = results
                .iter()
                .filter(|r| matches!(r, Err(StoreError::LookupTaken)))
                .count();
            assert_eq!((filed, taken), (1, 1), "round {round}: {results:?}");

            let signed = Signed {
                sequence: u64::from(round),
                digest: [round; 32],
            };
            let update = [Update {
                tip: target,
                status: Status::InReview,
                reply: None,
            }];
            let barrier = std::sync::Barrier::new(2);
            let results: Vec<_> = std::thread::scope(|s| {
                let racers: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            store.apply_updates(signed, &Reader::Root, Day(20_101), &update)
                        })
                    })
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            let applied = results.iter().filter(|r| r.is_ok()).count();
            let replayed = results
                .iter()
                .filter(|r| matches!(r, Err(StoreError::Replayed(n)) if *n == u64::from(round)))
                .count();
            assert_eq!((applied, replayed), (1, 1), "round {round}: {results:?}");
        }
        let view = store.view(&ReceiptLookup([0; 32])).unwrap().unwrap();
        assert_eq!(view.history.len(), 20, "each bundle applied once");
        assert_eq!(store.verify().unwrap().tips, 21);
    }

    /// An acked tip's ciphertext leaves every table file of the database (VACUUM FULL of
    /// the ciphertext tables, then a checkpoint), while the other tip's stays; the WAL still
    /// holds it, as the README says.
    #[test]
    fn acked_ciphertext_leaves_the_table_files() {
        crypto::init().unwrap();
        let Some((store, schema)) = testing::store("acked_ciphertext_leaves_the_table_files")
        else {
            return;
        };
        let mut admin = postgres::Client::connect(&schema.url, NoTls).unwrap();
        let row = admin
            .query_one(
                "SELECT current_setting('data_directory'), \
                 (SELECT oid FROM pg_database WHERE datname = current_database())::text",
                &[],
            )
            .unwrap();
        let base = std::path::Path::new(&row.get::<_, String>(0)).join("base");
        let (data, db): (String, String) = (row.get(0), row.get(1));
        let files = base.join(&db);
        if std::fs::read_dir(&files).is_err() {
            testing::skip(
                "acked_ciphertext_leaves_the_table_files",
                &format!(
                    "{} is not readable here (run as root, as CI does)",
                    files.display()
                ),
            );
            return;
        }
        let (gone, kept) = (random_sealed(3), random_sealed(1));
        let new_tip = |lookup: u8, sealed: &SealedTip| NewTip {
            lookup: ReceiptLookup([lookup; 32]),
            day: Day(20_100),
            sealed: sealed.clone(),
            sealed_reply_key: vec![lookup; 80],
            towns: vec![],
            uploads: vec![],
        };
        let id = store.insert(new_tip(1, &gone)).unwrap();
        store.insert(new_tip(2, &kept)).unwrap();
        let needle = |s: &SealedTip| s.as_bytes()[1000..1064].to_vec();
        admin.batch_execute("CHECKPOINT").unwrap();
        assert!(
            !holding(&files, &needle(&gone)).is_empty(),
            "stored at first"
        );
        store
            .apply_ack(
                Signed {
                    sequence: 1,
                    digest: [1; 32],
                },
                &Reader::Root,
                &[Ack {
                    tip: id,
                    tip_sealed: true,
                    followups: vec![],
                    tip_digest: None,
                    followup_digests: vec![],
                }],
            )
            .unwrap();
        admin.batch_execute("CHECKPOINT").unwrap();
        assert_eq!(
            holding(&files, &needle(&gone)),
            Vec::<std::path::PathBuf>::new(),
            "the acked tip left every table file"
        );
        assert!(
            !holding(&files, &needle(&kept)).is_empty(),
            "the other tip stays"
        );
        let wal = std::path::Path::new(&data).join("pg_wal");
        assert!(
            !holding(&wal, &needle(&gone)).is_empty(),
            "the WAL still holds it until its segment is reused (README)"
        );
    }
}
