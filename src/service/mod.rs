//! The operations behind the residents' pages and API: accepting a tip (with or without a
//! receipt ticket, sealed in the browser or on arrival), finding what a receipt unlocks, and
//! filing a follow-up. The web layer parses requests into domain types and calls these; the
//! offices' desk and the clerk's intake will call the same ones. Below `web` and `cli`,
//! above `store` and `domain`; nothing here knows about HTTP.

pub mod acks;
pub mod clerk;
pub mod offices;
pub mod photos;
pub mod signed;
pub mod uploads;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::crypto::{BoxPublicKey, Opener};
use crate::domain::attachment::{BadUploadId, UploadId};
use crate::domain::followup;
use crate::domain::keys::PublicKeys;
use crate::domain::office::{Grant, GrantKey, OfficeId};
use crate::domain::receipt::{
    DerivedReceipt, LookupValue, LookupValueError, Receipt, ReceiptError, ReceiptHasher,
    ReceiptKeys, ReceiptLookup,
};
use crate::domain::ticket::{TicketError, Tickets};
use crate::domain::tip::{SealedTip, SealedTipError, TipPlaintext};
use crate::domain::Day;
use crate::store::{NewTip, StoreError, TipStore, TipView};

/// How often a freshly drawn receipt may collide before we give up (it never should).
const RECEIPT_ATTEMPTS: usize = 3;

/// Why a tip was not taken.
#[derive(Debug, Error)]
pub enum SubmitError {
    /// The sealed tip was refused.
    #[error(transparent)]
    Sealed(#[from] SealedTipError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The disk is nearly full.
    #[error("The service cannot take new reports right now because its storage is full. Nothing was saved. Please try again later.")]
    DiskFull,
    /// Today's storage quota is used up.
    #[error("The service has taken all the reports it can store today. Nothing was saved. Please try again tomorrow.")]
    QuotaFull,
    /// The receipt ticket is not valid any more.
    #[error(transparent)]
    Ticket(#[from] TicketError),
    /// The lookup value is malformed.
    #[error(transparent)]
    Lookup(#[from] LookupValueError),
    /// The offices chosen are not in the directory.
    #[error(transparent)]
    Choice(#[from] offices::ChoiceError),
    /// The sealed tip is not for the offices it names.
    #[error("The report is not sealed for the offices it names. Nothing was saved. Please reload the page and send it again.")]
    Addressing,
    /// The receipt ticket was already used for a report.
    #[error("This receipt code was already used for a report. Nothing was saved. Please reload the page and send again.")]
    TicketUsed,
    /// A report is already filed under this lookup value (a repeat of a report that did
    /// arrive, or a receipt drawn twice).
    #[error("A report is already filed under this receipt code. Nothing new was saved.")]
    LookupUsed,
    /// An upload id that is not one.
    #[error("The report names a file that is not known here (its upload id is not valid). Nothing was saved.")]
    BadUpload(#[from] BadUploadId),
    /// Internal failure.
    #[error("internal failure")]
    Internal,
}

/// Why a receipt's status (or a follow-up under it) could not be had.
#[derive(Debug, Error)]
pub enum StatusError {
    /// The receipt was mistyped (or is not a receipt).
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// The lookup value is malformed.
    #[error(transparent)]
    Lookup(#[from] LookupValueError),
    /// No tip has this receipt.
    #[error("No report has this receipt code. Please check it against your paper. If it is right, the report may not have been sent: you can report again.")]
    Unknown,
    /// The code is on a printed form whose letter has not been entered yet.
    #[error("No letter with this code has been entered yet. A letter takes some days to arrive and be entered; please look again in a few days.")]
    NotEntered,
    /// The code is on a printed form of a batch the office withdrew.
    #[error("This code is on a form the office withdrew because the forms were lost. If you wrote a letter on this form, please call or visit the office.")]
    Withdrawn,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The disk is nearly full (follow-ups only).
    #[error("The service cannot take new messages right now because its storage is full. Nothing was saved. Please try again later.")]
    DiskFull,
    /// Today's storage quota is used up (follow-ups only).
    #[error("The service has taken all the messages it can store today. Nothing was saved. Please try again tomorrow.")]
    QuotaFull,
    /// The follow-up is too long to seal within the limit.
    #[error("The message is too long. Please shorten it, or send it in parts.")]
    TooLong,
    /// The waiting move's key is not sealed to this receipt's reply key (a broken proposal):
    /// the resident cannot release it.
    #[error("This question cannot be answered with your receipt code; nothing was changed. Please write to the office in a follow-up instead.")]
    CannotRelease,
    /// No move of the report to that office waits for the resident's answer.
    #[error("There is no question about passing your report on waiting for your answer. Nothing was changed.")]
    NoQuestion,
    /// An upload id that is not one (follow-ups only).
    #[error("The message names a file that is not known here (its upload id is not valid). Nothing was saved.")]
    BadUpload(#[from] BadUploadId),
    /// Internal failure.
    #[error("internal failure")]
    Internal,
}

/// A follow-up as it arrives on the server path.
pub enum FollowupContent {
    /// Sealed in the browser, for the offices the status answer named.
    Sealed(SealedTip),
    /// Words from the no-JavaScript form; wiped when dropped, right after sealing.
    Plain(TipPlaintext),
}

/// What a receipt unlocked on the server path: its keys of both versions, and which version
/// its tip is filed under.
pub struct Unlocked {
    derived: Box<DerivedReceipt>,
    legacy: bool,
}

impl Unlocked {
    /// The keys of the version the tip is filed under (its reply key is the one bound
    /// inside the tip).
    pub fn keys(&self) -> &ReceiptKeys {
        if self.legacy {
            &self.derived.legacy
        } else {
            &self.derived.current
        }
    }

    /// Whether the tip was filed under a receipt of version 1.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }
}

/// A receipt handed to a browser before it seals its tip. Shown to the resident only once
/// the tip is stored.
pub struct Reservation {
    /// The receipt, for display.
    pub receipt: Zeroizing<String>,
    /// The receipt's reply public key, to be sealed inside the tip.
    pub reply_key: BoxPublicKey,
    /// What the browser posts back with its sealed tip.
    pub ticket: String,
}

/// Counts only: nothing per request, nothing about anyone. They are published only as a
/// daily snapshot (see the admin metrics), so no scraper sees one move when a tip arrives.
#[derive(Default)]
pub struct Metrics {
    /// Tips stored since start.
    pub tips_accepted: AtomicU64,
    /// Follow-ups stored since start.
    pub followups_accepted: AtomicU64,
    /// Submissions refused because the disk was nearly full.
    pub disk_full_refusals: AtomicU64,
    /// Whether the disk watcher last found the disk nearly full (its log lines say only
    /// when this changes, on the watcher's own clock, never on a request).
    pub disk_low: AtomicBool,
}

impl Metrics {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A cap on the sealed bytes stored per day (UTC), all clients together, so a flood cannot
/// fill the disk faster than the operator can react. The count lives in memory only (a
/// restart starts the day afresh) and is per day, so it says nothing finer than the day.
pub struct DailyQuota {
    limit: u64,
    used: std::sync::Mutex<(Day, u64)>,
}

impl DailyQuota {
    /// A quota of `limit` bytes a day.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            used: std::sync::Mutex::new((Day::today(), 0)),
        }
    }

    /// Takes `bytes` from today's quota; false (and nothing taken) if they do not fit.
    fn take(&self, bytes: u64) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let today = Day::today();
        if used.0 != today {
            *used = (today, 0);
        }
        if used.1.saturating_add(bytes) > self.limit {
            return false;
        }
        used.1 += bytes;
        true
    }

    /// Gives back what [`DailyQuota::take`] took for something that was not stored.
    fn give_back(&self, bytes: u64) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.1 = used.1.saturating_sub(bytes);
    }
}

/// What the intake operations need: the store, the receipt hasher and its gate, the
/// inspectors' public keys, the limits on what is stored.
pub struct Intake {
    /// Where sealed tips go.
    pub store: Arc<dyn TipStore>,
    /// Turns receipts into lookups.
    pub hasher: Arc<ReceiptHasher>,
    /// The inspectors' public keys.
    pub keys: PublicKeys,
    /// The offices reports may be sealed to.
    pub offices: Arc<offices::OfficeBook>,
    /// Caps concurrent Argon2id runs, and so the memory they take.
    pub argon_gate: Arc<Semaphore>,
    /// Largest sealed tip accepted, in bytes.
    pub max_sealed_bytes: usize,
    /// The data folder, watched for free space.
    pub data_dir: PathBuf,
    /// New tips are refused when the data folder's disk has less free space than this.
    pub min_free_bytes: u64,
    /// Bytes of new tips and follow-ups taken per day, all clients together.
    pub daily_quota: DailyQuota,
    /// Counters for the operators' metrics.
    pub metrics: Arc<Metrics>,
    /// Receipt tickets handed to browsers that seal the reply key into their tips (pages
    /// from before receipt version 2 still use them).
    pub tickets: Tickets,
    /// Whether the store holds receipts of version 1 (pages then fall back to the server
    /// path when a lookup value finds nothing).
    pub legacy_receipts: bool,
    /// Limits on evidence files still on their way in.
    pub uploads: uploads::UploadLimits,
    /// Tips clerks entered, counted by day and channel until the day is over.
    pub entered: Arc<clerk::EnteredCounts>,
}

/// Derives a receipt's keys straight into a box, in a frame of its own, so that every copy
/// made on the way lies below the caller's frame, where `wipe_stack` reaches.
#[inline(never)]
fn derive_on_heap(
    hasher: &ReceiptHasher,
    receipt: &Receipt,
) -> Result<Box<DerivedReceipt>, crate::crypto::CryptoError> {
    hasher.derive(receipt).map(Box::new)
}

/// Runs blocking work (Argon2id, the store) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ()> {
    tokio::task::spawn_blocking(f).await.map_err(|_| ())
}

impl Intake {
    /// Derives a receipt's lookup and reply key on a blocking thread, at most `argon_gate`
    /// at a time.
    ///
    /// The receipt goes to the blocking thread, and its keys come back, in boxes: a value
    /// moved across threads passes through frames of the pool's own code, shallower than
    /// anything this code can wipe, and a box moves only its address. Everything the
    /// derivation itself left on that thread's stack is wiped before the thread goes back
    /// to the pool.
    pub async fn derive(&self, receipt: Receipt) -> Result<Box<DerivedReceipt>, ()> {
        let _permit = self.argon_gate.acquire().await.map_err(|_| ())?;
        let hasher = self.hasher.clone();
        let receipt = Box::new(receipt);
        let derived = blocking(move || {
            let keys = derive_on_heap(&hasher, &receipt);
            drop(receipt);
            crate::crypto::wipe_stack();
            keys
        });
        match derived.await {
            Ok(Ok(keys)) => Ok(keys),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "receipt derivation failed");
                Err(())
            }
            Err(_) => Err(()),
        }
    }

    /// Stores a sealed tip under a fresh receipt and returns the receipt (for display) and
    /// day, only once the tip is durable on disk. The tip was sealed without knowing the
    /// receipt, so it binds no reply key: the receipt shows the status, but no replies.
    pub async fn accept_tip(
        &self,
        sealed: SealedTip,
        towns: Vec<OfficeId>,
        uploads: Vec<UploadId>,
    ) -> Result<(Zeroizing<String>, Day), SubmitError> {
        self.check_addressing(&sealed, &towns)?;
        self.file_under_new_receipt(|_| Ok(sealed.clone()), towns, uploads)
            .await
    }

    /// A tip sealed in the browser must be for the offices it names: the town offices of
    /// the directory in use, and as many key stanzas as the county and those towns.
    fn check_addressing(&self, sealed: &SealedTip, towns: &[OfficeId]) -> Result<(), SubmitError> {
        self.offices.check_choice(towns)?;
        match sealed.stanza_count() {
            None if towns.is_empty() => Ok(()),
            Some(n) if n == 1 + towns.len() => Ok(()),
            _ => Err(SubmitError::Addressing),
        }
    }

    /// The no-JavaScript path: binds the receipt's reply key into the resident's words,
    /// seals them at once and stores the sealed tip. The words are wiped when `tip` drops,
    /// right after sealing; the receipt is returned only once the tip is durable.
    pub async fn accept_plain_tip(
        &self,
        mut tip: TipPlaintext,
        towns: Vec<OfficeId>,
        uploads: Vec<UploadId>,
    ) -> Result<(Zeroizing<String>, Day), SubmitError> {
        let max = self.max_sealed_bytes;
        let (recipients, towns) = self.offices.recipients(&towns)?;
        self.file_under_new_receipt(
            move |keys| {
                tip.bind_reply_key(&keys.reply_key().public_key());
                let sealed = tip
                    .seal_to(&recipients)
                    .map_err(|_| SubmitError::Internal)?;
                Ok(SealedTip::from_bytes(sealed.as_bytes().to_vec(), max)?)
            },
            towns,
            uploads,
        )
        .await
    }

    /// Draws a receipt, seals with its keys, and stores; a receipt that is somehow taken
    /// already (it never should be) is drawn again.
    async fn file_under_new_receipt(
        &self,
        mut seal: impl FnMut(&ReceiptKeys) -> Result<SealedTip, SubmitError>,
        towns: Vec<OfficeId>,
        uploads: Vec<UploadId>,
    ) -> Result<(Zeroizing<String>, Day), SubmitError> {
        self.check_disk()?;
        for _ in 0..RECEIPT_ATTEMPTS {
            let (shown, keys) = self.draw_receipt().await?;
            match self
                .insert_tip(
                    keys.current.lookup,
                    seal(&keys.current)?,
                    towns.clone(),
                    uploads.clone(),
                )
                .await
            {
                Ok(day) => return Ok((shown, day)),
                Err(SubmitError::Store(StoreError::LookupTaken)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(SubmitError::Internal)
    }

    /// A fresh receipt, as shown to a resident, and its keys.
    async fn draw_receipt(&self) -> Result<(Zeroizing<String>, Box<DerivedReceipt>), SubmitError> {
        let receipt = Receipt::generate();
        let shown = receipt.display();
        let keys = self
            .derive(receipt)
            .await
            .map_err(|()| SubmitError::Internal)?;
        Ok((shown, keys))
    }

    /// Draws a receipt for a browser that will seal its reply key into the tip.
    pub async fn reserve_receipt(&self) -> Result<Reservation, SubmitError> {
        self.check_disk()?;
        let (shown, keys) = self.draw_receipt().await?;
        Ok(Reservation {
            receipt: shown,
            reply_key: keys.current.reply_key().public_key(),
            ticket: self.tickets.issue(&keys.current.lookup),
        })
    }

    /// Stores a tip sealed in the browser under the lookup value the browser derived from
    /// the receipt it made (receipt version 2). Costs one keyed BLAKE2b: the Argon2id run
    /// was the browser's. A lookup value already used is refused, storing nothing.
    pub async fn accept_tip_by_lookup(
        &self,
        sealed: SealedTip,
        value: &LookupValue,
        towns: Vec<OfficeId>,
        uploads: Vec<UploadId>,
    ) -> Result<Day, SubmitError> {
        self.check_disk()?;
        self.check_addressing(&sealed, &towns)?;
        match self
            .insert_tip(self.hasher.index(value), sealed, towns, uploads)
            .await
        {
            Err(SubmitError::Store(StoreError::LookupTaken)) => Err(SubmitError::LookupUsed),
            other => other,
        }
    }

    /// Stores a tip sealed in the browser under the receipt its ticket stands for.
    pub async fn accept_reserved_tip(
        &self,
        sealed: SealedTip,
        ticket: &str,
        towns: Vec<OfficeId>,
        uploads: Vec<UploadId>,
    ) -> Result<Day, SubmitError> {
        self.check_disk()?;
        self.check_addressing(&sealed, &towns)?;
        let lookup = self.tickets.redeem(ticket)?;
        match self.insert_tip(lookup, sealed, towns, uploads).await {
            Err(SubmitError::Store(StoreError::LookupTaken)) => Err(SubmitError::TicketUsed),
            other => other,
        }
    }

    async fn insert_tip(
        &self,
        lookup: ReceiptLookup,
        sealed: SealedTip,
        towns: Vec<OfficeId>,
        uploads: Vec<UploadId>,
    ) -> Result<Day, SubmitError> {
        let size = sealed.as_bytes().len() as u64;
        if !self.daily_quota.take(size) {
            return Err(SubmitError::QuotaFull);
        }
        let stored = self.insert_tip_now(lookup, sealed, towns, uploads).await;
        if stored.is_err() {
            self.daily_quota.give_back(size);
        }
        stored
    }

    async fn insert_tip_now(
        &self,
        lookup: ReceiptLookup,
        sealed: SealedTip,
        towns: Vec<OfficeId>,
        uploads: Vec<UploadId>,
    ) -> Result<Day, SubmitError> {
        let store = self.store.clone();
        let day = Day::today();
        let tip = NewTip {
            lookup,
            day,
            sealed,
            // The reply key is bound inside the sealed tip, or the tip has none.
            sealed_reply_key: Vec::new(),
            towns,
            uploads,
        };
        blocking(move || store.insert(tip))
            .await
            .map_err(|_| SubmitError::Internal)??;
        Metrics::bump(&self.metrics.tips_accepted);
        Ok(day)
    }

    /// What a receipt unlocks, with the receipt's keys (to open the replies). One Argon2id
    /// run; the version 2 index is tried first, then the version 1 one.
    pub async fn find_status(&self, receipt: Receipt) -> Result<(TipView, Unlocked), StatusError> {
        let mut derived = self
            .derive(receipt)
            .await
            .map_err(|()| StatusError::Internal)?;
        for legacy in [false, true] {
            let unlocked = Unlocked { derived, legacy };
            if let Some(view) = self.view(unlocked.keys().lookup).await? {
                return Ok((view, unlocked));
            }
            derived = unlocked.derived;
        }
        Err(self.no_tip_under(derived.stub).await?)
    }

    /// What a lookup value unlocks (receipt version 2). One keyed BLAKE2b and a store read
    /// (two for a code no tip has: it may be on a printed form not entered yet).
    pub async fn find_status_by_lookup(&self, value: &LookupValue) -> Result<TipView, StatusError> {
        match self.view(self.hasher.index(value)).await? {
            Some(view) => Ok(view),
            None => Err(self.no_tip_under(self.hasher.stub_key(value)).await?),
        }
    }

    async fn view(&self, lookup: ReceiptLookup) -> Result<Option<TipView>, StatusError> {
        let store = self.store.clone();
        Ok(blocking(move || store.view(&lookup))
            .await
            .map_err(|_| StatusError::Internal)??)
    }

    /// The resident's answer, on the server path, to the proposed move of their report to
    /// town office `to`: agreed, that office reads it from now on; declined, nothing
    /// changes. Returns the report as it now stands.
    pub async fn decide_move(
        &self,
        receipt: Receipt,
        to: OfficeId,
        agree: bool,
    ) -> Result<(TipView, Unlocked), StatusError> {
        let (_, unlocked) = self.find_status(receipt).await?;
        // "Agree" releases the town's key: it waits sealed to the resident's reply key, and
        // only the receipt's key opens it.
        let grant = match agree {
            true => Some(self.release_grant(unlocked.keys(), &to).await?),
            false => None,
        };
        let view = self
            .record_decision(unlocked.keys().lookup, to, agree, grant)
            .await?;
        Ok((view, unlocked))
    }

    /// The resident's answer under a lookup value (receipt version 2): the browser opened
    /// the town's key with the reply key it derived and sends it with "agree" (`stanza`);
    /// the server never holds the reply key.
    pub async fn decide_move_by_lookup(
        &self,
        value: &LookupValue,
        to: OfficeId,
        agree: bool,
        stanza: Option<Vec<u8>>,
    ) -> Result<TipView, StatusError> {
        let lookup = self.hasher.index(value);
        let grant = match (agree, stanza) {
            (false, _) => None,
            (true, stanza) => {
                let grant = self
                    .waiting_grant(lookup, &to)
                    .await?
                    .ok_or(StatusError::NoQuestion)?;
                let stanza = stanza
                    .filter(|s| s.len() == crate::crypto::STANZA_BYTES)
                    .ok_or(StatusError::CannotRelease)?;
                Some(
                    Grant {
                        key: GrantKey::Open(stanza),
                        ..grant
                    }
                    .encode(),
                )
            }
        };
        self.record_decision(lookup, to, agree, grant).await
    }

    async fn record_decision(
        &self,
        lookup: ReceiptLookup,
        to: OfficeId,
        agree: bool,
        grant: Option<Vec<u8>>,
    ) -> Result<TipView, StatusError> {
        let store = self.store.clone();
        let view =
            blocking(
                move || match store.decide_move(&lookup, &to, agree, Day::today(), grant) {
                    Ok(Some(_)) => store.view(&lookup),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                },
            )
            .await
            .map_err(|_| StatusError::Internal)?;
        match view {
            Ok(Some(view)) => Ok(view),
            Ok(None) => Err(StatusError::Unknown),
            Err(StoreError::NoMoveWaiting) => Err(StatusError::NoQuestion),
            Err(e) => Err(e.into()),
        }
    }

    /// The town's key of a move that waits for the resident, as kept: sealed to the
    /// resident's reply key, for the browser to open (receipt version 2).
    pub async fn waiting_key(
        &self,
        value: &LookupValue,
        to: &OfficeId,
    ) -> Result<Option<Vec<u8>>, StatusError> {
        let waiting = self.waiting_grant(self.hasher.index(value), to).await?;
        Ok(waiting.and_then(|g| match g.key {
            GrantKey::ForResident(wrapped) => Some(wrapped),
            GrantKey::Open(_) => None,
        }))
    }

    /// The grant kept with the move of a tip to town `to` that waits for the resident.
    async fn waiting_grant(
        &self,
        lookup: ReceiptLookup,
        to: &OfficeId,
    ) -> Result<Option<Grant>, StatusError> {
        let store = self.store.clone();
        let town = to.clone();
        let blob = blocking(move || store.waiting_grant(&lookup, &town))
            .await
            .map_err(|_| StatusError::Internal)??;
        blob.map(|b| Grant::decode(&b).ok_or(StatusError::Internal))
            .transpose()
    }

    /// The key of a waiting move, opened with the receipt's reply key: what the town office
    /// gets once the resident agrees.
    async fn release_grant(
        &self,
        keys: &ReceiptKeys,
        to: &OfficeId,
    ) -> Result<Vec<u8>, StatusError> {
        let grant = self
            .waiting_grant(keys.lookup, to)
            .await?
            .ok_or(StatusError::NoQuestion)?;
        let stanza = match &grant.key {
            GrantKey::Open(stanza) => stanza.clone(),
            GrantKey::ForResident(wrapped) => keys
                .reply_key()
                .open(wrapped)
                .map_err(|_| StatusError::CannotRelease)?
                .to_vec(),
        };
        Ok(Grant {
            key: GrantKey::Open(stanza),
            ..grant
        }
        .encode())
    }

    /// Refuses new writes while the data folder's disk is nearly full, so the store never
    /// meets a full disk mid-write and the operator sees a clear count. It logs nothing: a
    /// line per refusal would mark the moment someone tried to report (`watch_disk` tells
    /// the operator instead).
    fn check_disk(&self) -> Result<(), SubmitError> {
        if self.disk_is_low() {
            Metrics::bump(&self.metrics.disk_full_refusals);
            return Err(SubmitError::DiskFull);
        }
        Ok(())
    }

    fn disk_is_low(&self) -> bool {
        matches!(fs4::available_space(&self.data_dir), Ok(free) if free < self.min_free_bytes)
    }

    /// Checks the disk every `every`, on its own clock, and logs only when it turns nearly
    /// full or has room again.
    pub async fn watch_disk(state: Arc<Intake>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let low = state.disk_is_low();
            if state.metrics.disk_low.swap(low, Ordering::Relaxed) != low {
                if low {
                    tracing::warn!(
                        min = state.min_free_bytes,
                        "disk nearly full: new tips and follow-ups are refused until space is freed"
                    );
                } else {
                    tracing::info!("the disk has room again: new tips are taken");
                }
            }
        }
    }

    /// Files a follow-up under the tip of a receipt, on the server path: sealed in the
    /// browser, or words from a form sealed here at once for the offices that read the tip
    /// now; the envelope (`domain::followup`) is made with the reply key of the version the
    /// tip is filed under.
    pub async fn add_followup(
        &self,
        receipt: Receipt,
        content: FollowupContent,
        uploads: Vec<UploadId>,
    ) -> Result<Day, StatusError> {
        if self.check_disk().is_err() {
            return Err(StatusError::DiskFull);
        }
        let (view, unlocked) = self.find_status(receipt).await?;
        self.add_followup_unlocked(&view, &unlocked, content, uploads)
            .await
    }

    /// Files a follow-up under a tip whose receipt was already checked ([`Intake::find_status`]).
    pub(crate) async fn add_followup_unlocked(
        &self,
        view: &TipView,
        unlocked: &Unlocked,
        content: FollowupContent,
        uploads: Vec<UploadId>,
    ) -> Result<Day, StatusError> {
        let keys = unlocked.keys();
        let readers = self.offices.keys_for(&view.towns);
        let inner = match content {
            FollowupContent::Sealed(sealed) => sealed,
            FollowupContent::Plain(plain) => plain
                .seal_to(&readers)
                .ok()
                .and_then(|s| {
                    SealedTip::from_bytes(s.as_bytes().to_vec(), self.max_sealed_bytes).ok()
                })
                .ok_or(StatusError::TooLong)?,
        };
        // Boxed with the receipt's reply key for each office that reads the tip, so each can
        // check that it came from the holder of the receipt (domain::followup).
        let envelope = followup::authenticate_for(
            &inner,
            &keys.reply_key(),
            &readers,
            self.max_sealed_bytes + crate::domain::tip::PAD_BLOCK,
        )
        .map_err(|_| StatusError::Internal)?;
        self.store_followup(keys.lookup, envelope, uploads).await
    }

    /// Files a follow-up envelope made in the browser (with the reply key it derived) under
    /// the tip of a lookup value. The server cannot open or check it; the inspectors check
    /// it against the reply key bound inside the tip.
    pub async fn add_sealed_followup(
        &self,
        value: &LookupValue,
        envelope: SealedTip,
        uploads: Vec<UploadId>,
    ) -> Result<Day, StatusError> {
        if self.check_disk().is_err() {
            return Err(StatusError::DiskFull);
        }
        self.store_followup(self.hasher.index(value), envelope, uploads)
            .await
    }

    async fn store_followup(
        &self,
        lookup: ReceiptLookup,
        sealed: SealedTip,
        uploads: Vec<UploadId>,
    ) -> Result<Day, StatusError> {
        let size = sealed.as_bytes().len() as u64;
        if !self.daily_quota.take(size) {
            return Err(StatusError::QuotaFull);
        }
        let store = self.store.clone();
        let day = Day::today();
        let stored =
            blocking(move || store.add_followup_with_files(&lookup, day, sealed, &uploads))
                .await
                .map_err(|_| StatusError::Internal)
                .and_then(|r| r?.ok_or(StatusError::Unknown));
        if let Err(e) = stored {
            self.daily_quota.give_back(size);
            return Err(e);
        }
        Metrics::bump(&self.metrics.followups_accepted);
        Ok(day)
    }
}
