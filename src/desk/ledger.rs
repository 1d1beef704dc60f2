//! The case ledger of one office: every tip it opened, with the office's own work on it
//! (triage colour, topic, tags, the inspector in charge, notes, the supervision mark, clocks
//! and the answers sent). It lives only in the encrypted workspace (`workspace.rs`) and in
//! the memory of the running desk; nothing here ever reaches the online server except the
//! signed answers in `outbox.rs`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::bundle::{BlobSpan, EntryBlobs, RejectedEntry};
use crate::crypto::BoxPublicKey;
use crate::domain::attachment::{open_blob, AttachmentRef, Kind};
use crate::domain::exported::{named_digests, open_exported_tip, pair_files, FileState, Found};
use crate::domain::followup::{open_followup, Trust};
use crate::domain::held::StoredTip;
use crate::domain::keys::SecretKeys;
use crate::domain::office::Directory;
use crate::domain::reply::sealed_digest;
use crate::domain::{Day, Status, TipId};

/// Longest tag, topic, inspector name or colour meaning, in characters.
pub const MAX_LABEL_CHARS: usize = 40;
/// Most tags on one case.
pub const MAX_TAGS: usize = 20;
/// Longest internal note, in bytes.
pub const MAX_NOTE_BYTES: usize = 16 * 1024;
/// Most a case may hold, as stored (its words, sealed tip, follow-ups, notes...): a tip or
/// follow-ups larger than this are refused at import, so that no record grows beyond what
/// the workspace reads back, however much the public files under one receipt.
pub const MAX_CASE_BYTES: usize = 16 * 1024 * 1024;
/// Most topics in the office's list.
pub const MAX_TOPICS: usize = 40;
/// Version of a case's record: 2 adds the evidence files (`files`, on the case and on each
/// follow-up). A record of version 1 reads as a case without files.
pub const CASE_VERSION: u32 = 2;

fn case_version_1() -> u32 {
    1
}

/// An evidence file of a tip or follow-up, as the desk keeps it: the sealed reference
/// (with the file's key, so only inside the sealed record) and whether its blob is kept in
/// the workspace's `files/` folder (named by the digest in the reference).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseFile {
    /// What the sealed tip says of it: kind, type, length, key, digest, what cleaning
    /// removed, the name the resident kept, a voice note's length.
    pub file: AttachmentRef,
    /// Opened and kept, or why not.
    pub state: FileState,
    /// Set when the inspectors chose to acknowledge the tip without this file (it will not
    /// come): the server then deletes what it holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub waived: bool,
}

impl CaseFile {
    /// Whether its blob is in the workspace.
    pub fn kept(&self) -> bool {
        self.state == FileState::Opened
    }

    /// Whether the server may be told that this file is safe here (or that the inspectors
    /// chose to do without it).
    pub fn settled(&self) -> bool {
        self.kept() || self.waived
    }

    /// The digest of its blob.
    pub fn digest(&self) -> [u8; 32] {
        self.file.digest_bytes().unwrap_or([0; 32])
    }
}

/// The triage colour (红黄蓝): how urgent and serious a lead is. The office writes what each
/// colour means to it in the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    /// 红: the most serious.
    Red,
    /// 黄.
    Yellow,
    /// 蓝: the least.
    Blue,
}

impl Colour {
    /// Every colour, most serious first.
    pub const ALL: [Colour; 3] = [Colour::Red, Colour::Yellow, Colour::Blue];

    /// The name in forms and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Yellow => "yellow",
            Colour::Blue => "blue",
        }
    }

    /// From a form or URL value.
    pub fn parse(s: &str) -> Option<Colour> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Its place in [`Colour::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A follow-up the resident sent, as opened here.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseFollowup {
    /// Its number under the tip.
    pub n: u32,
    /// Day it reached the server.
    pub day: Day,
    /// The words.
    pub body: String,
    /// Whether it provably came from the receipt holder.
    pub verified: bool,
    /// Digest of the sealed follow-up (what the ack names).
    pub digest: [u8; 32],
    /// Its evidence files, in the order it names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<CaseFile>,
}

/// Where an answer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerState {
    /// Written on the case page, not yet in a bundle (it can still be withdrawn).
    Queued,
    /// Signed into the update bundle with this number.
    Written(u64),
}

/// A status, and perhaps a message to the resident, from the office.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Answer {
    /// Day it was written.
    pub day: Day,
    /// The status it sets.
    pub status: Status,
    /// The message to the resident, if any (sealed to the resident's key when written out).
    pub message: Option<String>,
    /// Queued or written.
    pub state: AnswerState,
}

/// A hand-over of the case to another office.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MoveOut {
    /// Day it was asked for.
    pub day: Day,
    /// The office it goes to.
    pub to: String,
    /// Queued, or written into the move bundle with this number.
    pub state: AnswerState,
}

/// An internal note: stays in this workspace, never leaves the machine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Note {
    /// Day written.
    pub day: Day,
    /// Who wrote it (as typed; there are no accounts).
    pub by: String,
    /// The note.
    pub text: String,
}

/// One line of a case's history (day-precise, like everything whistlebox keeps).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    /// The day.
    pub day: Day,
    /// What happened, in the desk's own words (English keys, shown translated).
    pub what: EventKind,
}

/// What happened to a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Imported from an export bundle.
    Imported,
    /// More follow-ups imported.
    FollowupsImported(u32),
    /// Triage changed.
    Triaged,
    /// A note was added.
    Noted,
    /// An answer was queued.
    AnswerQueued(Status),
    /// An answer was withdrawn before it was written.
    AnswerWithdrawn,
    /// Answers were signed into update bundle `n`.
    AnswersWritten(u64),
    /// The case was acknowledged to the server in ack bundle `n`.
    Acked(u64),
    /// A hand-over to this office was queued.
    MoveQueued(String),
    /// Hand-overs were signed into move bundle `n`.
    MovesWritten(u64),
    /// Bundle `n` was refused by the server: what it held is queued again.
    Requeued(u64),
    /// Evidence files that had not come, received with a later bundle.
    FilesReceived(u32),
    /// The inspectors chose to acknowledge the case without files that did not come.
    FilesWaived(u32),
}

/// A case: one tip and the office's work on it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Case {
    /// The record's version ([`CASE_VERSION`]; 1 when absent).
    #[serde(default = "case_version_1")]
    pub v: u32,
    /// The tip's id.
    pub id: TipId,
    /// Day the server received it.
    pub received_on: Day,
    /// Day this desk imported it (the clocks run from `received_on`).
    pub imported_on: Day,
    /// Whether another office moved it here (rather than the resident choosing this one).
    #[serde(default)]
    pub moved_in: bool,
    /// The resident's words.
    pub body: String,
    /// The optional answers of the report form, as sent.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// The tip's evidence files, in the order it names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<CaseFile>,
    /// The reply key bound inside the sealed tip; replies are sealed to it.
    pub reply_key: Option<[u8; 32]>,
    /// Digest of the sealed tip as first opened here: a later bundle with other contents
    /// under this id is refused.
    pub digest: [u8; 32],
    /// The sealed tip as it arrived (standard base64), kept to hand the case on.
    #[serde(default)]
    pub sealed: Option<String>,
    /// The grant this office was given with a moved case (standard base64).
    #[serde(default)]
    pub grant: Option<String>,
    /// Hand-overs to other offices (移送).
    #[serde(default)]
    pub moves: Vec<MoveOut>,
    /// Follow-ups, by number.
    pub followups: Vec<CaseFollowup>,
    /// The status the server last reported in an export.
    pub server_status: Status,
    /// The status as this office last set it (queued or written).
    pub status: Status,
    /// Answers, oldest first.
    pub answers: Vec<Answer>,
    /// Triage colour; `None` until triaged.
    pub colour: Option<Colour>,
    /// Topic, from the office's list.
    pub topic: Option<String>,
    /// Tags.
    pub tags: BTreeSet<String>,
    /// The inspector in charge, as typed.
    pub assignee: Option<String>,
    /// Under supervision (挂牌督办).
    pub supervised: bool,
    /// Acknowledge-by day, when set on the case (otherwise the office default applies).
    pub ack_by: Option<Day>,
    /// Answer-by day, when set on the case (otherwise the office default applies).
    pub answer_by: Option<Day>,
    /// Internal notes.
    pub notes: Vec<Note>,
    /// Whether the tip itself was acknowledged to the server (in an ack bundle).
    pub tip_acked: bool,
    /// Follow-up numbers acknowledged to the server.
    pub followups_acked: BTreeSet<u32>,
    /// Day the case was closed (its status set to a closed or referred one), for reports.
    pub closed_on: Option<Day>,
    /// What happened, oldest first.
    pub history: Vec<Event>,
}

impl Case {
    /// Whether the current status ends the case.
    pub fn is_closed(&self) -> bool {
        is_closing(self.status)
    }

    /// The acknowledge-by day: the case's own, or `received_on` + the office default.
    pub fn ack_by(&self, settings: &Settings) -> Day {
        self.ack_by
            .unwrap_or(Day(self.received_on.0 + settings.ack_days))
    }

    /// The answer-by day: the case's own, or `received_on` + the office default.
    pub fn answer_by(&self, settings: &Settings) -> Day {
        self.answer_by
            .unwrap_or(Day(self.received_on.0 + settings.answer_days))
    }

    /// Whether the resident has been told anything (any answer queued or written).
    pub fn acknowledged(&self) -> bool {
        !self.answers.is_empty()
    }

    /// Whether a clock has run out on `today`: not acknowledged by its acknowledge-by day,
    /// or not closed by its answer-by day.
    pub fn overdue(&self, settings: &Settings, today: Day) -> bool {
        if self.is_closed() {
            return false;
        }
        (!self.acknowledged() && today > self.ack_by(settings)) || today > self.answer_by(settings)
    }

    /// Whether the resident wrote a follow-up on or after the day of the office's last
    /// answer (or before any answer): something waits to be read and answered.
    pub fn has_unanswered_followup(&self) -> bool {
        match self.answers.last() {
            None => !self.followups.is_empty(),
            Some(a) => self.followups.iter().any(|f| f.day >= a.day),
        }
    }

    /// Days since the server received it.
    pub fn age(&self, today: Day) -> u32 {
        today.0.saturating_sub(self.received_on.0)
    }

    /// The reply key, if the tip bound a valid one.
    pub fn reply_key(&self) -> Option<BoxPublicKey> {
        self.reply_key
            .and_then(|k| BoxPublicKey::from_bytes(&k).ok())
    }

    /// Whether the search `needle` occurs in the words, follow-ups, notes, tags, topic,
    /// assignee or id, whatever the case of its letters.
    pub fn contains(&self, needle: &Needle) -> bool {
        let hit = |s: &str| needle.found_in(s);
        hit(&self.body)
            || hit(&self.id.to_string())
            || self.fields.values().any(|v| match v {
                serde_json::Value::String(s) => hit(s),
                other => hit(&other.to_string()),
            })
            || self.followups.iter().any(|f| hit(&f.body))
            || self.notes.iter().any(|n| hit(&n.text) || hit(&n.by))
            || self.tags.iter().any(|t| hit(t))
            || self.topic.as_deref().is_some_and(hit)
            || self.assignee.as_deref().is_some_and(hit)
            || self
                .answers
                .iter()
                .any(|a| a.message.as_deref().is_some_and(hit))
    }

    fn note_event(&mut self, day: Day, what: EventKind) {
        self.history.push(Event { day, what });
    }

    /// Every evidence file of the case, the tip's then each follow-up's.
    pub fn all_files(&self) -> impl Iterator<Item = &CaseFile> {
        self.files
            .iter()
            .chain(self.followups.iter().flat_map(|f| f.files.iter()))
    }

    /// Whether the tip may be acknowledged: every file it names is kept (or done without).
    pub fn tip_settled(&self) -> bool {
        self.files.iter().all(CaseFile::settled)
    }

    /// Whether the server has something to be told about this case: the tip or a follow-up
    /// not yet acknowledged, whose files are all here (or done without).
    pub fn ackable(&self) -> bool {
        (!self.tip_acked && self.tip_settled())
            || self.followups.iter().any(|f| {
                !self.followups_acked.contains(&f.n) && f.files.iter().all(CaseFile::settled)
            })
    }

    /// Marks every file that did not come as done without, so the case can be acknowledged
    /// (the server then deletes what it holds); how many.
    pub fn waive_missing_files(&mut self, today: Day) -> usize {
        let mut n = 0;
        let files = self
            .files
            .iter_mut()
            .chain(self.followups.iter_mut().flat_map(|f| f.files.iter_mut()));
        for f in files.filter(|f| !f.settled()) {
            f.waived = true;
            n += 1;
        }
        if n > 0 {
            self.note_event(today, EventKind::FilesWaived(n as u32));
        }
        n
    }
}

/// Words to search every case for, prepared once per search: case-insensitive as
/// `str::to_lowercase` makes it, without lower-casing every case's words on every search
/// (at 10,000 cases that was most of the inbox's time).
///
/// A Chinese word, like digits and punctuation, has no case: such a needle is looked for
/// as it is. A needle whose only letters with a case are ASCII ones is compared byte by
/// byte with ASCII letters folded. Only a needle with other letters that have a case (a
/// full-width `Ｗ`, a `É`) lower-cases each text it is looked for in.
#[derive(Clone, Debug)]
pub struct Needle {
    lower: String,
    fold: Fold,
    /// For an ASCII-folded needle: one of its letters (not `i` or `k`, which other
    /// characters lower-case into). A text holding it in neither case cannot match, and
    /// telling so is a fast scan of bytes; most of a Chinese tip has no Latin letter.
    probe: Option<u8>,
}

/// How a needle is compared (see [`Needle`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fold {
    /// No character of the needle has a case.
    Exact,
    /// The characters with a case are ASCII.
    Ascii,
    /// Others have a case too.
    Full,
}

/// Whether lower-casing can neither change `c` nor give it from another character: it has
/// no case, and it is not the combining dot that lower-casing `İ` gives (the test
/// `no_other_character_lower_cases_into_a_caseless_one` checks the claim for every
/// character).
fn caseless(c: char) -> bool {
    c != '\u{307}' && c.to_lowercase().eq([c]) && c.to_uppercase().eq([c])
}

/// The only characters beyond ASCII whose lower case holds an ASCII or caseless character:
/// the capital I with a dot (`i` and a combining dot) and the Kelvin sign (`k`).
const FOLDS_INTO_ASCII: [char; 2] = ['\u{130}', '\u{212a}'];

impl Needle {
    /// The needle for `raw` (lower-cased here).
    pub fn new(raw: &str) -> Self {
        let lower = raw.to_lowercase();
        let fold = if lower.chars().all(caseless) {
            Fold::Exact
        } else if lower.chars().all(|c| c.is_ascii() || caseless(c)) {
            Fold::Ascii
        } else {
            Fold::Full
        };
        let probe = lower
            .bytes()
            .find(|b| b.is_ascii_lowercase() && !matches!(b, b'i' | b'k'));
        Self { lower, fold, probe }
    }

    /// Whether there is nothing to search for.
    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    /// Whether the needle occurs in `text`, as `text.to_lowercase().contains(needle)`.
    pub fn found_in(&self, text: &str) -> bool {
        match self.fold {
            Fold::Exact => text.contains(self.lower.as_str()),
            Fold::Ascii
                if self.probe.is_some_and(|p| {
                    let bytes = text.as_bytes();
                    !bytes.contains(&p) && !bytes.contains(&p.to_ascii_uppercase())
                }) =>
            {
                false
            }
            Fold::Ascii if !text.contains(FOLDS_INTO_ASCII) => {
                // A match starts on a character boundary (the needle starts with one), and
                // folding only changes ASCII capitals, which are whole characters in UTF-8.
                let n = self.lower.as_bytes();
                text.as_bytes()
                    .windows(n.len())
                    .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
            }
            Fold::Ascii | Fold::Full => text.to_lowercase().contains(self.lower.as_str()),
        }
    }
}

/// Whether a status ends a case, for the clocks and the reports.
pub fn is_closing(status: Status) -> bool {
    matches!(
        status,
        Status::ClosedSubstantiated | Status::ClosedUnsubstantiated | Status::Referred
    )
}

/// The office's settings for its desk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// What red, yellow and blue mean to this office.
    pub colour_meanings: [String; 3],
    /// The topics cases are filed under.
    pub topics: Vec<String>,
    /// Days from receipt to the acknowledge-by day.
    pub ack_days: u32,
    /// Days from receipt to the answer-by day.
    pub answer_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            colour_meanings: [
                "重大线索，立即处置 / serious: act at once".into(),
                "一般线索，限期核查 / ordinary: check within the deadline".into(),
                "轻微或待补充 / minor or needs more information".into(),
            ],
            topics: [
                "教育 / education",
                "医疗 / health care",
                "养老社保 / pensions and social security",
                "生态环保 / environment",
                "执法司法 / law enforcement and courts",
                "乡村振兴和村集体\"三资\" / rural revitalisation and village collective assets",
                "惠农补贴 / farm subsidies",
                "其他 / other",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            ack_days: 3,
            answer_days: 30,
        }
    }
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// New cases.
    pub new_cases: usize,
    /// New follow-ups on cases already here.
    pub new_followups: usize,
    /// Entries already here, unchanged.
    pub unchanged: usize,
    /// Follow-ups that opened but cannot be shown to come from the receipt holder.
    pub not_verified: usize,
    /// Entries refused, with reasons (never any of a tip's words).
    pub refused: Vec<RejectedEntry>,
    /// Evidence files opened and kept in the workspace.
    pub files_kept: usize,
    /// Evidence files that did not come or did not open, by kind and size.
    pub files_not_kept: Vec<FileNote>,
}

/// An evidence file the import could not keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNote {
    /// The case.
    pub tip: TipId,
    /// The follow-up it belongs to, if not the tip.
    pub followup: Option<u32>,
    /// Its place in the list, from 1.
    pub n: usize,
    /// What it is.
    pub kind: Kind,
    /// Its length.
    pub bytes: u64,
    /// Why it was not kept.
    pub state: FileState,
}

/// The blobs an export bundle carried, where `parse_export_in_place` left them: `entries[i]`
/// holds those of the bundle's `tips[i]`.
pub struct Carried<'a> {
    /// The bundle's bytes.
    pub bundle: &'a [u8],
    /// Where each entry's blobs lie.
    pub entries: &'a [EntryBlobs],
}

/// Keeps a blob (checked already) under its digest in the workspace.
pub type KeepBlob<'a, E> = dyn FnMut(&[u8; 32], &[u8]) -> Result<(), E> + 'a;

/// One blob the bundle carried for a tip or follow-up: decoded already, or in the bundle.
enum Blob<'a> {
    Owned(&'a [u8]),
    InPlace(&'a BlobSpan, &'a [u8]),
}

impl Blob<'_> {
    fn digest(&self) -> [u8; 32] {
        match self {
            Blob::Owned(b) => crate::domain::attachment::blob_digest(b),
            Blob::InPlace(span, _) => span.digest,
        }
    }

    fn bytes(&self) -> Option<std::borrow::Cow<'_, [u8]>> {
        match self {
            Blob::Owned(b) => Some(std::borrow::Cow::Borrowed(b)),
            Blob::InPlace(span, bundle) => span.decode(bundle).map(std::borrow::Cow::Owned),
        }
    }
}

/// The blobs carried beside tip `index` (its own with `followup` None, or those of the
/// follow-up at that place).
fn carried_blobs<'a>(
    tip: &'a StoredTip,
    index: usize,
    followup: Option<usize>,
    carried: Option<&Carried<'a>>,
) -> Vec<Blob<'a>> {
    match carried {
        Some(c) => {
            let Some(entry) = c.entries.get(index) else {
                return Vec::new();
            };
            let spans = match followup {
                None => Some(&entry.tip),
                Some(p) => entry.followups.get(p),
            };
            spans
                .map(|s| s.iter().map(|b| Blob::InPlace(b, c.bundle)).collect())
                .unwrap_or_default()
        }
        None => {
            let owned = match followup {
                None => Some(&tip.attachments),
                Some(p) => tip.followups.get(p).map(|f| &f.attachments),
            };
            owned
                .map(|l| l.iter().map(|b| Blob::Owned(b)).collect())
                .unwrap_or_default()
        }
    }
}

/// Keeps the files `wanted` (those not kept yet) from the blobs carried: each blob is the
/// one whose digest the sealed reference names, opened once to check it (and dropped), then
/// handed to `store`. Returns how many were kept.
fn take_files<E>(
    files: &mut [CaseFile],
    carried: &[Blob<'_>],
    store: &mut KeepBlob<'_, E>,
) -> Result<usize, E> {
    let digests: Vec<[u8; 32]> = carried.iter().map(Blob::digest).collect();
    let refs: Vec<[u8; 32]> = files.iter().map(CaseFile::digest).collect();
    let found = pair_files(&refs, &digests);
    let mut kept = 0;
    for (f, found) in files.iter_mut().zip(found) {
        if f.kept() {
            continue;
        }
        let Found::At(at) = found else {
            // A file that was damaged stays so; one not found in this bundle is missing or
            // changed as this bundle shows it.
            if f.state != FileState::Damaged {
                f.state = FileState::of(found);
            }
            continue;
        };
        let Some(blob) = carried[at].bytes() else {
            f.state = FileState::Damaged;
            continue;
        };
        if open_blob(&blob, &f.file).is_err() {
            f.state = FileState::Damaged;
            continue;
        }
        store(&f.digest(), &blob)?;
        f.state = FileState::Opened;
        kept += 1;
    }
    Ok(kept)
}

/// The files a sealed tip or follow-up names, none kept yet.
fn named_files(refs: &[AttachmentRef]) -> Vec<CaseFile> {
    debug_assert_eq!(named_digests(refs).len(), refs.len());
    refs.iter()
        .map(|r| CaseFile {
            file: r.clone(),
            state: FileState::Missing,
            waived: false,
        })
        .collect()
}

fn note_files(report: &mut ImportReport, tip: TipId, followup: Option<u32>, files: &[CaseFile]) {
    for (i, f) in files.iter().enumerate() {
        if !f.kept() {
            report.files_not_kept.push(FileNote {
                tip,
                followup,
                n: i + 1,
                kind: f.file.kind,
                bytes: f.file.bytes,
                state: f.state,
            });
        }
    }
}

/// Every case of the office, and its settings.
#[derive(Debug, Default)]
pub struct Ledger {
    /// The cases, by id.
    pub cases: BTreeMap<TipId, Case>,
    /// The office's settings.
    pub settings: Settings,
}

impl Ledger {
    /// Opens the tips and follow-ups of a parsed export bundle into cases. A tip already
    /// here is never replaced: a bundle that brings other contents under its id is refused
    /// for that entry, as `whistlebox decrypt` refuses it. Evidence files come from
    /// `carried` (a bundle read in place) or, without it, the tips' own lists; each kept
    /// blob goes to `store` before anything names it, and a file that did not come before
    /// is taken when a later bundle brings it. Returns the changed cases (to be written to
    /// the workspace) and the report; an error of `store` stops the import.
    pub fn import<E>(
        &mut self,
        tips: &[StoredTip],
        carried: Option<&Carried<'_>>,
        keys: &SecretKeys,
        directory: Option<&Directory>,
        today: Day,
        store: &mut KeepBlob<'_, E>,
    ) -> Result<(Vec<TipId>, ImportReport), E> {
        let mut report = ImportReport::default();
        let mut changed = Vec::new();
        for (index, tip) in tips.iter().enumerate() {
            let refuse = |reason: String| RejectedEntry {
                position: 0,
                id: Some(tip.id),
                reason,
            };
            let mut touched = false;
            let mut received = 0usize;
            if let Some(sealed) = &tip.sealed {
                let digest = sealed_digest(sealed.as_bytes());
                match self.cases.get_mut(&tip.id) {
                    Some(case) if crate::crypto::ct_eq(&case.digest, &digest) => {
                        if !case.files.iter().all(CaseFile::kept) {
                            let blobs = carried_blobs(tip, index, None, carried);
                            received += take_files(&mut case.files, &blobs, store)?;
                            note_files(&mut report, tip.id, None, &case.files);
                        }
                    }
                    Some(_) => {
                        report.refused.push(refuse(
                            "this tip was opened here before with other contents, so the bundle \
                             was changed on the way; nothing of it was taken"
                                .into(),
                        ));
                        continue;
                    }
                    None => match open_exported_tip(tip, keys, directory) {
                        Ok(plain) => {
                            let mut case = new_case(tip, &plain, digest, today);
                            if stored_len(&case) > MAX_CASE_BYTES {
                                report.refused.push(refuse(
                                    "this tip is larger than the desk keeps for one case \
                                     (16 MiB); nothing of it was taken"
                                        .into(),
                                ));
                                continue;
                            }
                            let blobs = carried_blobs(tip, index, None, carried);
                            report.files_kept += take_files(&mut case.files, &blobs, store)?;
                            note_files(&mut report, tip.id, None, &case.files);
                            case.note_event(today, EventKind::Imported);
                            self.cases.insert(tip.id, case);
                            report.new_cases += 1;
                            touched = true;
                        }
                        Err(e) => {
                            report.refused.push(refuse(e));
                            continue;
                        }
                    },
                }
            }
            let Some(case) = self.cases.get_mut(&tip.id) else {
                if !tip.followups.is_empty() {
                    report.refused.push(refuse(
                        "follow-ups of a tip this desk never opened: import the bundle that \
                         holds the tip first"
                            .into(),
                    ));
                }
                continue;
            };
            if case.server_status != tip.status {
                case.server_status = tip.status;
                touched = true;
            }
            let mut added = 0u32;
            let mut size: Option<usize> = None;
            for (place, f) in tip.followups.iter().enumerate() {
                let digest = sealed_digest(f.sealed.as_bytes());
                if let Some(have) = case.followups.iter_mut().find(|h| h.n == f.n) {
                    if !crate::crypto::ct_eq(&have.digest, &digest) {
                        report.refused.push(refuse(format!(
                            "follow-up {} was opened here before with other contents; the \
                             bundle was changed on the way",
                            f.n
                        )));
                    } else if !have.files.iter().all(CaseFile::kept) {
                        let blobs = carried_blobs(tip, index, Some(place), carried);
                        received += take_files(&mut have.files, &blobs, store)?;
                        note_files(&mut report, tip.id, Some(f.n), &have.files);
                    }
                    continue;
                }
                let bound = case.reply_key();
                match open_followup(&f.sealed, &keys.box_key, bound.as_ref()) {
                    Ok(opened) => {
                        let mut files = named_files(&opened.plain.attachments);
                        let grown = size.unwrap_or_else(|| stored_len(case))
                            + serde_json::to_string(&opened.plain.body).map_or(0, |j| j.len())
                            + serde_json::to_string(&files).map_or(0, |j| j.len())
                            + 256;
                        if grown > MAX_CASE_BYTES {
                            report.refused.push(refuse(format!(
                                "follow-up {}: the case already holds as much as the desk keeps \
                                 for one case (16 MiB); it was not taken",
                                f.n
                            )));
                            continue;
                        }
                        size = Some(grown);
                        let verified = opened.trust == Trust::Verified;
                        if !verified {
                            report.not_verified += 1;
                        }
                        let blobs = carried_blobs(tip, index, Some(place), carried);
                        report.files_kept += take_files(&mut files, &blobs, store)?;
                        note_files(&mut report, tip.id, Some(f.n), &files);
                        case.followups.push(CaseFollowup {
                            n: f.n,
                            day: f.day,
                            body: opened.plain.body.clone(),
                            verified,
                            digest,
                            files,
                        });
                        added += 1;
                    }
                    Err(e) => report
                        .refused
                        .push(refuse(format!("follow-up {}: {e}", f.n))),
                }
            }
            if added > 0 {
                case.followups.sort_by_key(|f| f.n);
                if !touched {
                    case.note_event(today, EventKind::FollowupsImported(added));
                }
                report.new_followups += added as usize;
                touched = true;
            }
            if received > 0 {
                report.files_kept += received;
                case.note_event(today, EventKind::FilesReceived(received as u32));
                touched = true;
            }
            if touched {
                changed.push(tip.id);
            } else {
                report.unchanged += 1;
            }
        }
        Ok((changed, report))
    }

    /// Cases the server may be told this desk holds (tips or follow-ups not yet
    /// acknowledged whose evidence files are all here, or done without).
    pub fn unacked(&self) -> impl Iterator<Item = &Case> {
        self.cases.values().filter(|c| c.ackable())
    }

    /// Cases whose acknowledgement waits for evidence files that did not come.
    pub fn waiting_for_files(&self) -> impl Iterator<Item = &Case> {
        self.cases
            .values()
            .filter(|c| c.all_files().any(|f| !f.settled()))
    }

    /// Cases with a hand-over waiting to be written.
    pub fn moving(&self) -> impl Iterator<Item = &Case> {
        self.cases
            .values()
            .filter(|c| c.moves.iter().any(|m| m.state == AnswerState::Queued))
    }

    /// Cases with an answer waiting to be written.
    pub fn queued(&self) -> impl Iterator<Item = &Case> {
        self.cases
            .values()
            .filter(|c| c.answers.iter().any(|a| a.state == AnswerState::Queued))
    }
}

/// The bytes a case takes as stored (before padding).
fn stored_len(case: &Case) -> usize {
    serde_json::to_vec(case).map_or(usize::MAX, |v| v.len())
}

fn new_case(
    tip: &StoredTip,
    plain: &crate::domain::tip::TipPlaintext,
    digest: [u8; 32],
    today: Day,
) -> Case {
    Case {
        v: CASE_VERSION,
        id: tip.id,
        // The day and status in an export are the server's word, under no signature: a day
        // to come is taken as today, and a new case starts as received whatever the export
        // says (its `server_status` keeps what the server said), so that an operator cannot
        // bury a tip by calling it closed.
        received_on: tip.day.min(today),
        imported_on: today,
        moved_in: tip.grant.is_some(),
        body: plain.body.clone(),
        fields: plain.fields.clone(),
        files: named_files(&plain.attachments),
        reply_key: plain.bound_reply_key().map(|k| *k.as_bytes()),
        digest,
        sealed: tip.sealed.as_ref().map(|s| s.to_base64()),
        grant: tip.grant.as_ref().map(|g| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(g)
        }),
        moves: Vec::new(),
        followups: Vec::new(),
        server_status: tip.status,
        status: Status::Received,
        answers: Vec::new(),
        colour: None,
        topic: None,
        tags: BTreeSet::new(),
        assignee: None,
        supervised: false,
        ack_by: None,
        answer_by: None,
        notes: Vec::new(),
        tip_acked: false,
        followups_acked: BTreeSet::new(),
        closed_on: None,
        history: Vec::new(),
    }
}

/// A label typed by an inspector (tag, topic, name): trimmed, one line, bounded.
pub fn clean_label(raw: &str) -> Result<Option<String>, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > MAX_LABEL_CHARS {
        return Err("a label is at most 40 characters");
    }
    if s.chars().any(char::is_control) {
        return Err("a label is one line of plain text");
    }
    Ok(Some(s.to_owned()))
}

/// The case page's triage form, as posted.
#[derive(Debug, Default, Deserialize)]
pub struct TriageForm {
    /// `red`, `yellow`, `blue` or empty.
    #[serde(default)]
    pub colour: String,
    /// A topic of the office's list, or empty.
    #[serde(default)]
    pub topic: String,
    /// Tags, separated by commas.
    #[serde(default)]
    pub tags: String,
    /// The inspector in charge.
    #[serde(default)]
    pub assignee: String,
    /// Present when the box is ticked.
    #[serde(default)]
    pub supervised: Option<String>,
    /// YYYY-MM-DD or empty.
    #[serde(default)]
    pub ack_by: String,
    /// YYYY-MM-DD or empty.
    #[serde(default)]
    pub answer_by: String,
}

/// The triage an inspector sets on the case page.
#[derive(Debug, Default)]
pub struct Triage {
    /// Colour.
    pub colour: Option<Colour>,
    /// Topic (must be in the office's list).
    pub topic: Option<String>,
    /// Tags.
    pub tags: BTreeSet<String>,
    /// Inspector in charge.
    pub assignee: Option<String>,
    /// Under supervision.
    pub supervised: bool,
    /// Acknowledge-by day (`None`: the office default).
    pub ack_by: Option<Day>,
    /// Answer-by day (`None`: the office default).
    pub answer_by: Option<Day>,
}

impl Triage {
    /// Parses the case page's form. Tags are separated by commas (either width) or
    /// semicolons.
    pub fn parse(form: &TriageForm, settings: &Settings) -> Result<Self, &'static str> {
        let colour = match form.colour.trim() {
            "" => None,
            c => Some(Colour::parse(c).ok_or("choose red, yellow, blue or none")?),
        };
        let topic = match clean_label(&form.topic)? {
            Some(t) if !settings.topics.contains(&t) => {
                return Err("choose a topic from the office's list (the settings page edits it)")
            }
            t => t,
        };
        let mut set = BTreeSet::new();
        for t in form.tags.split([',', '，', ';', '；']) {
            if let Some(t) = clean_label(t)? {
                set.insert(t);
            }
        }
        if set.len() > MAX_TAGS {
            return Err("a case has at most 20 tags");
        }
        let day = |s: &str| -> Result<Option<Day>, &'static str> {
            match s.trim() {
                "" => Ok(None),
                d => d
                    .parse()
                    .map(Some)
                    .map_err(|_| "a date is written YYYY-MM-DD"),
            }
        };
        Ok(Self {
            colour,
            topic,
            tags: set,
            assignee: clean_label(&form.assignee)?,
            supervised: form.supervised.is_some(),
            ack_by: day(&form.ack_by)?,
            answer_by: day(&form.answer_by)?,
        })
    }

    /// Sets this triage on `case`; true when anything changed.
    pub fn apply(self, case: &mut Case, today: Day) -> bool {
        let changed = case.colour != self.colour
            || case.topic != self.topic
            || case.tags != self.tags
            || case.assignee != self.assignee
            || case.supervised != self.supervised
            || case.ack_by != self.ack_by
            || case.answer_by != self.answer_by;
        if changed {
            case.colour = self.colour;
            case.topic = self.topic;
            case.tags = self.tags;
            case.assignee = self.assignee;
            case.supervised = self.supervised;
            case.ack_by = self.ack_by;
            case.answer_by = self.answer_by;
            case.note_event(today, EventKind::Triaged);
        }
        changed
    }
}

/// Why an answer or a note was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaseEditError {
    /// The note or message is empty or too long.
    #[error("{0}")]
    Text(&'static str),
    /// A message needs the resident's reply key.
    #[error(
        "this report came without a reply key, so no message can reach its resident; a status \
         alone can still be sent"
    )]
    NoReplyKey,
}

impl Case {
    /// Adds an internal note.
    pub fn add_note(&mut self, by: &str, text: &str, today: Day) -> Result<(), CaseEditError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CaseEditError::Text("the note is empty"));
        }
        if text.len() > MAX_NOTE_BYTES {
            return Err(CaseEditError::Text("a note is at most 16 KiB"));
        }
        let by = clean_label(by)
            .map_err(CaseEditError::Text)?
            .unwrap_or_default();
        self.notes.push(Note {
            day: today,
            by,
            text: text.to_owned(),
        });
        self.note_event(today, EventKind::Noted);
        Ok(())
    }

    /// Queues a status, and perhaps a message, for the next update bundle.
    pub fn queue_answer(
        &mut self,
        status: Status,
        message: &str,
        today: Day,
    ) -> Result<(), CaseEditError> {
        let message = message.trim();
        let message = if message.is_empty() {
            None
        } else if message.len() > crate::domain::reply::MAX_REPLY_BYTES {
            return Err(CaseEditError::Text("a message is at most 64 KiB"));
        } else if self.reply_key().is_none() {
            return Err(CaseEditError::NoReplyKey);
        } else {
            Some(message.to_owned())
        };
        self.answers.push(Answer {
            day: today,
            status,
            message,
            state: AnswerState::Queued,
        });
        self.set_status(status, today);
        self.note_event(today, EventKind::AnswerQueued(status));
        Ok(())
    }

    /// Withdraws the queued answers and hand-overs (those not yet written into a bundle).
    pub fn withdraw_queued(&mut self, today: Day) -> bool {
        let before = self.answers.len() + self.moves.len();
        self.answers.retain(|a| a.state != AnswerState::Queued);
        self.moves.retain(|m| m.state != AnswerState::Queued);
        if self.answers.len() + self.moves.len() == before {
            return false;
        }
        let status = self
            .answers
            .last()
            .map(|a| a.status)
            .unwrap_or(Status::Received);
        self.set_status(status, today);
        self.note_event(today, EventKind::AnswerWithdrawn);
        true
    }

    fn set_status(&mut self, status: Status, today: Day) {
        self.status = status;
        self.closed_on = if is_closing(status) {
            self.closed_on.or(Some(today))
        } else {
            None
        };
    }

    /// Marks the queued answers as written into update bundle `sequence`.
    pub fn mark_written(&mut self, sequence: u64, today: Day) {
        for a in &mut self.answers {
            if a.state == AnswerState::Queued {
                a.state = AnswerState::Written(sequence);
            }
        }
        self.note_event(today, EventKind::AnswersWritten(sequence));
    }

    /// Queues a hand-over to office `to` (checked against the directory by the caller).
    /// The same office is asked once: the server would refuse it again anyway.
    pub fn queue_move(&mut self, to: &str, today: Day) -> Result<(), CaseEditError> {
        if self.moves.iter().any(|m| m.to == to) {
            return Err(CaseEditError::Text(
                "this case was already handed to that office (the resident is asked once)",
            ));
        }
        self.moves.push(MoveOut {
            day: today,
            to: to.to_owned(),
            state: AnswerState::Queued,
        });
        self.note_event(today, EventKind::MoveQueued(to.to_owned()));
        Ok(())
    }

    /// Marks the queued hand-overs as written into move bundle `sequence`.
    pub fn mark_moved(&mut self, sequence: u64, today: Day) {
        for m in &mut self.moves {
            if m.state == AnswerState::Queued {
                m.state = AnswerState::Written(sequence);
            }
        }
        self.note_event(today, EventKind::MovesWritten(sequence));
    }

    /// Queues again what bundle `sequence` held for this case (the server refused it, for
    /// example because a later number was imported first); true when anything was.
    pub fn requeue(&mut self, sequence: u64, today: Day) -> bool {
        let mut again = false;
        for a in &mut self.answers {
            if a.state == AnswerState::Written(sequence) {
                a.state = AnswerState::Queued;
                again = true;
            }
        }
        for m in &mut self.moves {
            if m.state == AnswerState::Written(sequence) {
                m.state = AnswerState::Queued;
                again = true;
            }
        }
        if self
            .history
            .iter()
            .any(|e| e.what == EventKind::Acked(sequence))
            && self.tip_acked
        {
            self.tip_acked = false;
            self.followups_acked.clear();
            again = true;
        }
        if again {
            self.note_event(today, EventKind::Requeued(sequence));
        }
        again
    }

    /// Marks as acknowledged in ack bundle `sequence` what [`Case::ack`] named: the tip
    /// and the follow-ups whose files are all here (or done without).
    pub fn mark_acked(&mut self, sequence: u64, today: Day) {
        if let Some(ack) = self.ack() {
            self.tip_acked |= ack.tip_sealed;
            self.followups_acked.extend(ack.followups);
        }
        self.note_event(today, EventKind::Acked(sequence));
    }

    /// What an ack bundle tells the server of this case, if anything: the tip, unless some
    /// of its files did not come (the server keeps them for a later export until they come
    /// or the inspectors do without them), and the follow-ups whose files all came. Each is
    /// named by the digest of what was opened.
    pub fn ack(&self) -> Option<crate::domain::reply::Ack> {
        if !self.ackable() {
            return None;
        }
        let followups: Vec<&CaseFollowup> = self
            .followups
            .iter()
            .filter(|f| f.files.iter().all(CaseFile::settled))
            .collect();
        Some(crate::domain::reply::Ack {
            tip: self.id,
            tip_sealed: self.tip_settled(),
            followups: followups.iter().map(|f| f.n).collect(),
            tip_digest: Some(self.digest),
            followup_digests: followups.iter().map(|f| f.digest).collect(),
        })
    }
}

/// A case with a few words, for tests.
#[cfg(test)]
pub(crate) fn sample_case(i: u8) -> Case {
    let tip = StoredTip {
        id: TipId([i; 8]),
        day: Day(20_000),
        status: Status::Received,
        sealed: None,
        grant: None,
        sealed_reply_key: None,
        followups: Vec::new(),
        attachments: Vec::new(),
    };
    new_case(
        &tip,
        &crate::domain::tip::TipPlaintext::new("村里低保名单有问题"),
        [0; 32],
        Day(20_001),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> Case {
        sample_case(1)
    }

    fn no_store(_: &[u8; 32], _: &[u8]) -> Result<(), ()> {
        panic!("nothing to keep")
    }

    #[test]
    fn clocks_run_from_the_day_received_and_stop_when_closed() {
        let s = Settings::default();
        let mut c = case();
        assert_eq!(c.ack_by(&s), Day(20_003));
        assert_eq!(c.answer_by(&s), Day(20_030));
        assert!(!c.overdue(&s, Day(20_003)));
        assert!(c.overdue(&s, Day(20_004)), "not acknowledged in time");
        c.answers.push(Answer {
            day: Day(20_002),
            status: Status::InReview,
            message: None,
            state: AnswerState::Queued,
        });
        assert!(!c.overdue(&s, Day(20_004)));
        assert!(c.overdue(&s, Day(20_031)), "not answered in time");
        c.set_status(Status::ClosedSubstantiated, Day(20_031));
        assert!(!c.overdue(&s, Day(20_100)));
        assert_eq!(c.closed_on, Some(Day(20_031)));
        c.ack_by = Some(Day(20_010));
        assert_eq!(c.ack_by(&s), Day(20_010));
    }

    #[test]
    fn triage_parses_and_refuses_plainly() {
        let s = Settings::default();
        let form =
            |colour: &str, topic: &str, tags: &str, assignee: &str, ack_by: &str| TriageForm {
                colour: colour.into(),
                topic: topic.into(),
                tags: tags.into(),
                assignee: assignee.into(),
                supervised: Some("on".into()),
                ack_by: ack_by.into(),
                answer_by: String::new(),
            };
        let t = Triage::parse(
            &form(
                "red",
                &s.topics[6],
                "低保， 村委会;  duplicate ,duplicate",
                " 王科长 ",
                "2026-12-01",
            ),
            &s,
        )
        .unwrap();
        assert!(t.supervised);
        assert_eq!(t.colour, Some(Colour::Red));
        assert_eq!(t.tags.len(), 3);
        assert_eq!(t.assignee.as_deref(), Some("王科长"));
        assert_eq!(t.ack_by, Some("2026-12-01".parse().unwrap()));
        assert!(Triage::parse(&form("pink", "", "", "", ""), &s).is_err());
        assert!(Triage::parse(&form("", "not a topic", "", "", ""), &s).is_err());
        assert!(Triage::parse(&form("", "", "", "", "tomorrow"), &s).is_err());
        assert!(Triage::parse(&form("", "", &"x".repeat(41), "", ""), &s).is_err());
        assert!(Triage::parse(&form("", "", "", "a\nb", ""), &s).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(Triage::parse(&form("", "", &many.join(","), "", ""), &s).is_err());
    }

    #[test]
    fn a_message_needs_the_reply_key_and_withdrawing_restores_the_status() {
        let mut c = case();
        assert_eq!(
            c.queue_answer(Status::NeedInfo, "请补充村名", Day(20_002)),
            Err(CaseEditError::NoReplyKey)
        );
        assert!(c.answers.is_empty());
        c.queue_answer(Status::Investigating, "", Day(20_002))
            .unwrap();
        assert_eq!(c.status, Status::Investigating);
        c.mark_written(7, Day(20_002));
        c.queue_answer(Status::ClosedSubstantiated, "", Day(20_003))
            .unwrap();
        assert_eq!(c.closed_on, Some(Day(20_003)));
        assert!(c.withdraw_queued(Day(20_003)));
        assert_eq!(c.status, Status::Investigating);
        assert_eq!(c.closed_on, None);
        assert_eq!(c.answers.len(), 1);
    }

    #[test]
    fn the_export_cannot_close_a_new_case_nor_grow_one_past_the_budget() {
        crate::crypto::init().unwrap();
        let keys = SecretKeys::generate();
        let pk = keys.box_key.public_key();
        let seal = |words: &str| {
            crate::domain::tip::TipPlaintext::new(words)
                .seal_to(std::slice::from_ref(&pk))
                .unwrap()
        };
        // Three follow-ups of 9 MiB each: one fits in a case, two more would not.
        let big = "字".repeat(3 * 1024 * 1024);
        let followups = (1..=3)
            .map(|n| crate::domain::held::Followup {
                n,
                day: Day(20_000),
                sealed: seal(&big),
                attachments: Vec::new(),
            })
            .collect();
        let id = TipId([7; 8]);
        let tip = StoredTip {
            id,
            day: Day(30_000),
            status: Status::ClosedUnsubstantiated,
            sealed: Some(seal("县里的干部和镇长是亲戚")),
            grant: None,
            sealed_reply_key: None,
            followups,
            attachments: Vec::new(),
        };
        let mut ledger = Ledger::default();
        let (changed, report) = ledger
            .import(&[tip], None, &keys, None, Day(20_001), &mut no_store)
            .unwrap();
        assert_eq!(changed, vec![id]);
        let c = &ledger.cases[&id];
        assert_eq!(
            c.status,
            Status::Received,
            "the export's status is not taken"
        );
        assert_eq!(c.server_status, Status::ClosedUnsubstantiated);
        assert_eq!(
            c.received_on,
            Day(20_001),
            "a day to come is taken as today"
        );
        assert_eq!(c.followups.len(), 1);
        assert_eq!(report.refused.len(), 2, "{:?}", report.refused);
        assert!(report.refused[0].reason.contains("16 MiB"));
        assert!(stored_len(c) <= MAX_CASE_BYTES);
    }

    /// A tip with two files and a follow-up with one: the files are kept through `store`
    /// (never a blob the tip does not name), one swapped on the way is not, and the ack
    /// waits for it; a later bundle that brings it fills it in.
    #[test]
    fn files_are_kept_by_their_sealed_digest_and_the_ack_waits_for_them() {
        use crate::domain::attachment::{seal_file, AttachmentRef, Kind};
        crate::crypto::init().unwrap();
        let keys = SecretKeys::generate();
        let pk = keys.box_key.public_key();
        let photo = seal_file(b"jpeg bytes").unwrap();
        let voice = seal_file(&[7u8; 70_000]).unwrap();
        let extra = seal_file(b"pdf").unwrap();
        let stranger = seal_file(b"not named").unwrap();
        let mut tip_words = crate::domain::tip::TipPlaintext::new("村会计把补助款转走了");
        tip_words.attachments = vec![
            AttachmentRef::for_sealed(Kind::Photo, "image/jpeg", 10, &photo),
            AttachmentRef::for_sealed(Kind::Voice, "audio/wav", 70_000, &voice),
        ];
        let mut more = crate::domain::tip::TipPlaintext::new("补充一份名单");
        more.attachments = vec![AttachmentRef::for_sealed(
            Kind::File,
            "application/pdf",
            3,
            &extra,
        )];
        let followup = |blobs: Vec<Vec<u8>>| crate::domain::held::Followup {
            n: 1,
            day: Day(20_000),
            sealed: more.seal_to(std::slice::from_ref(&pk)).unwrap(),
            attachments: blobs,
        };
        let sealed = tip_words.seal_to(std::slice::from_ref(&pk)).unwrap();
        let id = TipId([8; 8]);
        let entry = |tip_blobs: Vec<Vec<u8>>, f_blobs: Vec<Vec<u8>>| StoredTip {
            id,
            day: Day(20_000),
            status: Status::Received,
            sealed: Some(sealed.clone()),
            grant: None,
            sealed_reply_key: None,
            followups: vec![followup(f_blobs)],
            attachments: tip_blobs,
        };
        let kept: std::cell::RefCell<BTreeMap<[u8; 32], Vec<u8>>> = Default::default();
        let mut store = |d: &[u8; 32], b: &[u8]| -> Result<(), ()> {
            kept.borrow_mut().insert(*d, b.to_vec());
            Ok(())
        };
        // The voice note swapped for a blob the tip does not name.
        let first = entry(
            vec![stranger.blob.clone(), photo.blob.clone()],
            vec![extra.blob.clone()],
        );
        let mut ledger = Ledger::default();
        let (_, report) = ledger
            .import(&[first], None, &keys, None, Day(20_001), &mut store)
            .unwrap();
        assert_eq!(report.files_kept, 2);
        assert_eq!(report.files_not_kept.len(), 1);
        assert_eq!(report.files_not_kept[0].n, 2);
        assert_eq!(report.files_not_kept[0].state, FileState::Changed);
        assert_eq!(kept.borrow().len(), 2);
        assert!(
            !kept.borrow().contains_key(&stranger.digest),
            "never a blob it does not name"
        );
        assert_eq!(kept.borrow()[&photo.digest], photo.blob);
        let case = &ledger.cases[&id];
        assert_eq!(case.v, CASE_VERSION);
        assert!(case.files[0].kept() && !case.files[1].kept());
        assert!(case.followups[0].files[0].kept());
        // The tip's ack waits for its voice note; the follow-up, whole, is acked.
        let ack = case.ack().unwrap();
        assert!(!ack.tip_sealed);
        assert_eq!(ack.followups, vec![1]);
        ledger
            .cases
            .get_mut(&id)
            .unwrap()
            .mark_acked(3, Day(20_001));
        let case = &ledger.cases[&id];
        assert!(!case.tip_acked && case.followups_acked.contains(&1));
        assert!(case.ack().is_none() && ledger.unacked().count() == 0);
        assert_eq!(ledger.waiting_for_files().count(), 1);
        // A later bundle brings it (in another order): taken, and the tip can be acked.
        let later = entry(vec![voice.blob.clone(), photo.blob.clone()], vec![]);
        let (changed, report) = ledger
            .import(&[later], None, &keys, None, Day(20_002), &mut store)
            .unwrap();
        assert_eq!(changed, vec![id]);
        assert_eq!(report.files_kept, 1);
        assert!(report.files_not_kept.is_empty());
        assert_eq!(kept.borrow()[&voice.digest], voice.blob);
        let case = &ledger.cases[&id];
        assert!(case.files.iter().all(CaseFile::kept));
        assert!(case
            .history
            .iter()
            .any(|e| e.what == EventKind::FilesReceived(1)));
        assert!(case.ack().unwrap().tip_sealed);
    }

    #[test]
    fn a_case_can_go_on_without_files_that_will_not_come() {
        use crate::domain::attachment::{seal_file, AttachmentRef, Kind};
        crate::crypto::init().unwrap();
        let mut c = case();
        let photo = seal_file(b"x").unwrap();
        c.files = named_files(&[AttachmentRef::for_sealed(
            Kind::Photo,
            "image/png",
            1,
            &photo,
        )]);
        assert!(!c.tip_settled());
        assert!(c.ack().is_none());
        assert_eq!(c.waive_missing_files(Day(20_003)), 1);
        assert_eq!(c.waive_missing_files(Day(20_003)), 0, "once");
        let ack = c.ack().unwrap();
        assert!(ack.tip_sealed);
        assert!(!c.files[0].kept(), "waived is not kept");
    }

    /// A case record with evidence files, byte for byte (do not change this test if it
    /// fails: workspaces on the offline machines hold records in this format). A record of
    /// version 1 (no `v`, no `files`) still reads.
    #[test]
    fn case_record_with_files_is_fixed() {
        use crate::domain::attachment::{AttachmentRef, Kind};
        let reference = AttachmentRef {
            kind: Kind::Voice,
            mime: "audio/wav".into(),
            bytes: 480_044,
            key: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [1u8; 32]),
            digest: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [2u8; 32]),
            removed: vec![],
            cleaned: None,
            name: None,
            seconds: Some(15.0),
            disguised: Some(true),
        };
        let file = CaseFile {
            file: reference,
            state: FileState::Opened,
            waived: false,
        };
        assert_eq!(
            serde_json::to_string(&file).unwrap(),
            r#"{"file":{"kind":"voice","type":"audio/wav","bytes":480044,"key":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","digest":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=","seconds":15.0,"disguised":true},"state":"opened"}"#
        );
        let mut c = case();
        c.files = vec![file];
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["v"], 2);
        assert_eq!(json["files"][0]["state"], "opened");
        assert!(json["followups"].as_array().unwrap().is_empty());
        // Version 1: the same record without `v` and `files`.
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("v");
        old.as_object_mut().unwrap().remove("files");
        let back: Case = serde_json::from_value(old).unwrap();
        assert_eq!(back.v, 1);
        assert!(back.files.is_empty());
        let back: Case = serde_json::from_value(json).unwrap();
        assert_eq!(back.files[0].file.bytes, 480_044);
    }

    #[test]
    fn a_follow_up_after_the_last_answer_is_new() {
        let mut c = case();
        assert!(!c.has_unanswered_followup());
        c.followups.push(CaseFollowup {
            n: 1,
            day: Day(20_002),
            body: "补充".into(),
            verified: true,
            digest: [1; 32],
            files: Vec::new(),
        });
        assert!(c.has_unanswered_followup(), "no answer yet");
        c.queue_answer(Status::InReview, "", Day(20_003)).unwrap();
        assert!(!c.has_unanswered_followup(), "answered after it");
        c.followups.push(CaseFollowup {
            n: 2,
            day: Day(20_003),
            body: "又补充".into(),
            verified: true,
            digest: [2; 32],
            files: Vec::new(),
        });
        assert!(c.has_unanswered_followup(), "the same day as the answer");
    }

    #[test]
    fn search_finds_chinese_substrings_in_words_notes_and_tags() {
        let n = Needle::new;
        let mut c = case();
        assert!(c.contains(&n("低保")));
        assert!(!c.contains(&n("医保")));
        c.add_note("李", "已电话核实医保问题", Day(20_002)).unwrap();
        assert!(c.contains(&n("医保")));
        c.tags.insert("Kickback".into());
        assert!(c.contains(&n("kickback")));
        assert!(c.contains(&n("KICKBACK")));
        assert!(c.contains(&n("0101")), "the id");
        assert!(c.add_note("", "   ", Day(20_002)).is_err());
    }

    #[test]
    fn a_needle_matches_as_lower_casing_both_would() {
        let texts = [
            "村里低保名单有问题",
            "WeChat 转账 3000 元",
            "Ｗｅｃｈａｔ 全角",
            "ÉCOLE école",
            "\u{212a}elvin and İstanbul",
            "",
        ];
        let needles = [
            "低保",
            "wechat",
            "WECHAT",
            "微信wechat",
            "ｗｅｃｈａｔ",
            "Ｗｅｃｈａｔ",
            "école",
            "kelvin",
            "i̇stanbul",
            "istanbul",
            "\u{307}",
            "3000 元",
            "",
            "保名单有问题题",
            "ki",
            "\u{212a}",
        ];
        for t in texts {
            for raw in needles {
                let needle = Needle::new(raw);
                assert_eq!(
                    needle.found_in(t),
                    t.to_lowercase().contains(&raw.to_lowercase()),
                    "{raw:?} in {t:?}"
                );
            }
        }
        assert_eq!(Needle::new("危房改造").fold, Fold::Exact);
        assert_eq!(Needle::new("2026年8月").fold, Fold::Exact);
        assert_eq!(Needle::new("WeChat 微信").fold, Fold::Ascii);
        assert_eq!(Needle::new("Ｗ").fold, Fold::Full);
    }

    #[test]
    fn no_other_character_lower_cases_into_a_caseless_one() {
        // What `Needle` rests on: lower-casing a character never gives a character without
        // a case (so an exact needle needs no folding), and gives an ASCII one only from
        // ASCII or the two characters in `FOLDS_INTO_ASCII`.
        for d in (0..=0x10ffff).filter_map(char::from_u32) {
            for c in d.to_lowercase().filter(|&c| c != d) {
                assert!(!caseless(c), "{d:?} lower-cases into {c:?}");
                assert!(
                    !c.is_ascii() || d.is_ascii() || FOLDS_INTO_ASCII.contains(&d),
                    "{d:?} lower-cases into ASCII {c:?}"
                );
            }
        }
    }
}
