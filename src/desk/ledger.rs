//! The case ledger of one office: every tip it opened, with the office's own work on it
//! (triage colour, topic, tags, the inspector in charge, notes, the supervision mark, clocks
//! and the answers sent). It lives only in the encrypted workspace (`workspace.rs`) and in
//! the memory of the running desk; nothing here ever reaches the online server except the
//! signed answers in `outbox.rs`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::bundle::RejectedEntry;
use crate::crypto::BoxPublicKey;
use crate::domain::exported::open_exported_tip;
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
}

/// A case: one tip and the office's work on it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Case {
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
    /// for that entry, as `whistlebox decrypt` refuses it. Returns the changed cases (to be
    /// written to the workspace) and the report.
    pub fn import(
        &mut self,
        tips: &[StoredTip],
        keys: &SecretKeys,
        directory: Option<&Directory>,
        today: Day,
    ) -> (Vec<TipId>, ImportReport) {
        let mut report = ImportReport::default();
        let mut changed = Vec::new();
        for tip in tips {
            let refuse = |reason: String| RejectedEntry {
                position: 0,
                id: Some(tip.id),
                reason,
            };
            let mut touched = false;
            if let Some(sealed) = &tip.sealed {
                let digest = sealed_digest(sealed.as_bytes());
                match self.cases.get(&tip.id) {
                    Some(case) if crate::crypto::ct_eq(&case.digest, &digest) => {}
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
            for f in &tip.followups {
                let digest = sealed_digest(f.sealed.as_bytes());
                if let Some(have) = case.followups.iter().find(|h| h.n == f.n) {
                    if !crate::crypto::ct_eq(&have.digest, &digest) {
                        report.refused.push(refuse(format!(
                            "follow-up {} was opened here before with other contents; the \
                             bundle was changed on the way",
                            f.n
                        )));
                    }
                    continue;
                }
                let bound = case.reply_key();
                match open_followup(&f.sealed, &keys.box_key, bound.as_ref()) {
                    Ok(opened) => {
                        let grown = size.unwrap_or_else(|| stored_len(case))
                            + serde_json::to_string(&opened.plain.body).map_or(0, |j| j.len())
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
                        case.followups.push(CaseFollowup {
                            n: f.n,
                            day: f.day,
                            body: opened.plain.body.clone(),
                            verified,
                            digest,
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
            if touched {
                changed.push(tip.id);
            } else {
                report.unchanged += 1;
            }
        }
        (changed, report)
    }

    /// Cases the server has not been told this desk holds (tips or follow-ups).
    pub fn unacked(&self) -> impl Iterator<Item = &Case> {
        self.cases.values().filter(|c| {
            !c.tip_acked
                || c.followups
                    .iter()
                    .any(|f| !c.followups_acked.contains(&f.n))
        })
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

    /// Marks the tip and every follow-up here as acknowledged in ack bundle `sequence`.
    pub fn mark_acked(&mut self, sequence: u64, today: Day) {
        self.tip_acked = true;
        self.followups_acked = self.followups.iter().map(|f| f.n).collect();
        self.note_event(today, EventKind::Acked(sequence));
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
        let (changed, report) = ledger.import(&[tip], &keys, None, Day(20_001));
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
