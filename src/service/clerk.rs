//! The office's intake: batches of printed report forms, and letters, calls and visits a
//! clerk enters so that each is tracked like a report made online.
//!
//! The clerk's browser does everything a resident's browser does: it makes each receipt,
//! runs its Argon2id and seals the words (with the channel inside the seal). What reaches
//! these operations is what reaches [`Intake::accept_tip_by_lookup`]: lookup values and
//! sealed boxes. The server files a printed form's receipt as a stub key of its batch
//! (`domain::intake`) and a letter entered under it as a tip under the usual index, and
//! counts entered tips by month and channel only.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;

use super::{blocking, Intake, Metrics, StatusError, SubmitError};
use crate::domain::attachment::UploadId;
use crate::domain::intake::{Batch, Channel, StubState};
use crate::domain::office::OfficeId;
use crate::domain::receipt::LookupValue;
use crate::domain::tip::SealedTip;
use crate::domain::Day;
use crate::store::{month_of, NewTip, StoreError};

/// Tips clerks entered, counted by day and channel in memory until the day is over, then
/// written to the store together ([`Intake::write_entered_counts`]).
///
/// A count written with its tip would tie the tip to its channel: sled's log holds the two
/// writes side by side, and in PostgreSQL the count's row carries the tip's transaction id.
/// Written the next day, a count says how many letters, calls and visits came that day,
/// no more than the day the tips themselves carry. The price: the counts of a day are lost
/// if the server is killed before they are written (a clean stop writes them); those tips
/// then count as online in the public numbers, and so do those of a write that failed.
#[derive(Default)]
pub struct EnteredCounts(Mutex<BTreeMap<(Day, Channel), u64>>);

impl EnteredCounts {
    fn add(&self, day: Day, channel: Channel) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry((day, channel)).or_default() += 1;
        }
    }

    /// Takes the counts of the days before `today` (every count with `None`).
    fn take(&self, today: Option<Day>) -> BTreeMap<(Day, Channel), u64> {
        let Ok(mut counts) = self.0.lock() else {
            return BTreeMap::new();
        };
        match today {
            None => std::mem::take(&mut *counts),
            Some(today) => {
                let kept = counts.split_off(&(today, Channel::Online));
                std::mem::replace(&mut *counts, kept)
            }
        }
    }

    /// Entered tips counted and not yet written.
    pub fn pending(&self) -> u64 {
        self.0.lock().map(|c| c.values().sum()).unwrap_or(0)
    }
}

/// Why the office's intake refused something. None of these says anything about a receipt.
#[derive(Debug, Error)]
pub enum ClerkError {
    /// What a tip would be refused for (sealed box, lookup value, offices, disk, quota).
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// Only letters, calls and visits are entered at the office.
    #[error("The channel must be letter, phone or visit.")]
    Channel,
    /// A letter was already entered under this code.
    #[error("A letter was already entered under this code. Nothing was changed: the first entry stands.")]
    AlreadyEntered,
    /// The new receipt's lookup value is taken (a receipt drawn twice, or a repeat).
    #[error("This new code is already used. Nothing was saved. Please press the button again: a new code is made.")]
    CodeTaken,
    /// No such batch of forms.
    #[error("There is no batch of forms with this number.")]
    NoSuchBatch,
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Internal failure.
    #[error("internal failure")]
    Internal,
}

/// A letter, call or visit as the clerk's browser sends it.
pub struct Entry {
    /// The words, sealed in the clerk's browser for the offices chosen.
    pub sealed: SealedTip,
    /// The lookup value of the receipt: the stub's, or a new one made in the browser.
    pub lookup: LookupValue,
    /// How it came (letter, phone or visit); sealed inside the tip too.
    pub channel: Channel,
    /// Whether the receipt is a printed form's (it must then be on a batch not withdrawn).
    pub from_stub: bool,
    /// The town offices besides the county, as on the report form.
    pub towns: Vec<OfficeId>,
}

impl Intake {
    /// Registers a batch of printed forms, one lookup value per form (made in the clerk's
    /// browser; the receipts never reach the server). Costs one keyed BLAKE2b per form.
    pub async fn print_batch(&self, values: &[LookupValue]) -> Result<Batch, ClerkError> {
        self.check_disk()?;
        let stubs: Vec<_> = values.iter().map(|v| self.hasher.stub_key(v)).collect();
        let store = self.store.clone();
        let batch = blocking(move || store.register_batch(Day::today(), &stubs))
            .await
            .map_err(|()| ClerkError::Internal)??;
        Ok(batch)
    }

    /// Every batch of printed forms, oldest first.
    pub async fn batches(&self) -> Result<Vec<Batch>, ClerkError> {
        let store = self.store.clone();
        Ok(blocking(move || store.batches())
            .await
            .map_err(|()| ClerkError::Internal)??)
    }

    /// Withdraws a lost batch: its codes take no letter from now on.
    pub async fn void_batch(&self, number: u32) -> Result<Batch, ClerkError> {
        let store = self.store.clone();
        blocking(move || store.void_batch(number, Day::today()))
            .await
            .map_err(|()| ClerkError::Internal)??
            .ok_or(ClerkError::NoSuchBatch)
    }

    /// Files a letter, call or visit the clerk's browser sealed, under its receipt's lookup
    /// value, and counts it for today and its channel in memory ([`EnteredCounts`]: the
    /// count reaches the store once the day is over). A letter under a printed form's code
    /// is taken only once, and only if the form's batch was not withdrawn; every refusal
    /// stores and counts nothing.
    pub async fn enter(&self, entry: Entry) -> Result<Day, ClerkError> {
        if entry.channel == Channel::Online {
            return Err(ClerkError::Channel);
        }
        self.check_disk()?;
        self.check_addressing(&entry.sealed, &entry.towns)?;
        let size = entry.sealed.as_bytes().len() as u64;
        if !self.daily_quota.take(size) {
            return Err(SubmitError::QuotaFull.into());
        }
        let stub = entry.from_stub.then(|| self.hasher.stub_key(&entry.lookup));
        let day = Day::today();
        let tip = NewTip {
            lookup: self.hasher.index(&entry.lookup),
            day,
            sealed: entry.sealed,
            sealed_reply_key: Vec::new(),
            towns: entry.towns,
            uploads: Vec::<UploadId>::new(),
        };
        let store = self.store.clone();
        let channel = entry.channel;
        let entered = self.entered.clone();
        // Counted on the blocking thread as soon as the store has the tip: if the request
        // is dropped meanwhile (a server stopping), the tip is stored and still counted.
        let stored = blocking(move || {
            let id = store.insert_entered(tip, stub.as_ref())?;
            entered.add(day, channel);
            Ok::<_, StoreError>(id)
        })
        .await
        .map_err(|()| ClerkError::Internal)
        .and_then(|r| match r {
            Ok(_) => Ok(()),
            Err(StoreError::LookupTaken) if entry.from_stub => Err(ClerkError::AlreadyEntered),
            Err(StoreError::LookupTaken) => Err(ClerkError::CodeTaken),
            Err(e) => Err(e.into()),
        });
        if let Err(e) = stored {
            self.daily_quota.give_back(size);
            return Err(e);
        }
        Metrics::bump(&self.metrics.tips_accepted);
        Ok(day)
    }

    /// Writes the counts of entered tips to the store: those of the days that are over, or
    /// with `all` (when the server stops) every one. On failure they are not tried again:
    /// a write that failed may have been saved all the same (a connection lost while
    /// PostgreSQL committed, a flush failing after sled's transaction), and a count added
    /// twice would invent letters, where one lost only counts them as online.
    pub fn write_entered_counts(&self, all: bool) -> Result<(), StoreError> {
        let taken = self
            .entered
            .take(if all { None } else { Some(Day::today()) });
        if taken.is_empty() {
            return Ok(());
        }
        let mut by_month: BTreeMap<(String, Channel), u64> = BTreeMap::new();
        for ((day, channel), n) in &taken {
            *by_month.entry((month_of(*day), *channel)).or_default() += n;
        }
        let counts: Vec<_> = by_month.into_iter().map(|((m, c), n)| (m, c, n)).collect();
        let entries: u64 = taken.values().sum();
        self.store.add_intake_counts(&counts).inspect_err(|e| {
            tracing::error!(
                error = %e,
                entries,
                "the counts by channel of entered tips could not be written; they are lost \
                 (those tips count as online)"
            )
        })
    }

    /// Every `every`, writes the counts of entered tips of the days that are over.
    pub async fn write_entered_counts_daily(state: Arc<Intake>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let intake = state.clone();
            // A failure is logged where it happens.
            let _ = blocking(move || intake.write_entered_counts(false)).await;
        }
    }

    /// Why a lookup value that finds no tip finds none: a printed form whose letter is not
    /// entered yet, one of a withdrawn batch, or nothing at all.
    pub(super) async fn no_tip_under(
        &self,
        stub: crate::domain::intake::StubKey,
    ) -> Result<StatusError, StatusError> {
        let store = self.store.clone();
        let batch = blocking(move || store.stub_batch(&stub))
            .await
            .map_err(|()| StatusError::Internal)??;
        Ok(match batch.map(StubState::of) {
            None => StatusError::Unknown,
            Some(StubState::Waiting(_)) => StatusError::NotEntered,
            Some(StubState::Voided(_)) => StatusError::Withdrawn,
        })
    }
}
