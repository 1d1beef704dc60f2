//! The monthly meeting sheet and the quarterly report (月调度、季通报): counts of the
//! office's cases for a period. Nothing in them names or quotes a resident: no words,
//! follow-ups, notes, tags, inspectors' names or case numbers, only how many cases fall
//! under each topic, colour, status, supervision mark, way of reaching the office and
//! channel (online, or a letter, call or visit a clerk entered: read from inside the seal). (Tags
//! and the inspector in charge are left out on purpose: a tag can be a name or a village,
//! and a count per inspector is a count of people, not of work.)
//!
//! # What is counted
//!
//! A period is a calendar month (`2026-11`) or quarter (`2026-Q4`). A report counts up to
//! its *as-of day*: the period's last day, or today while the period is still running.
//! - **new**: received by the server within the period (`received_on`; the day the desk
//!   imported it does not matter, so a sheet printed before the last import of the month is
//!   short by what that import brings);
//! - **closed**: closed within the period (`closed_on`: the day the case was last set to a
//!   closed or referred status; a case closed and then reopened counts by its latest closing
//!   only, or not at all while it is open again);
//! - **open**: received by the as-of day and not closed by then (a case that reached the
//!   office already closed is never open here);
//! - **overdue**: the open cases whose clock had run out on the as-of day (see below).
//!
//! Every case is counted under its topic, colour, status, supervision mark and way in as
//! they are *now*: the desk keeps no earlier values (its history says a case was triaged,
//! not from what). So the status table of a past period says where the cases of that period
//! stand today ("of the 12 received in November, 5 are closed now").
//!
//! # Overdue at the end of a past period
//!
//! What the desk keeps is each case's acknowledge-by and answer-by days as they are set now
//! (its own, or the office default from the settings now), the days its answers were
//! written, and the day it was last closed. So a case counts as overdue on the as-of day D
//! when it was open on D (as above) and either no answer was dated D or earlier and D is
//! past its acknowledge-by day, or D is past its answer-by day. For the running period D is
//! today and this is exactly the inbox's overdue mark. For a past period it is a recount
//! with today's deadlines: a deadline moved since, a default changed in the settings, or a
//! case closed and reopened since makes it differ from a sheet printed back then.
//!
//! # The CSV
//!
//! UTF-8 with a byte-order mark (so that Excel reads the Chinese), CRLF line ends, one
//! header line and then one line per count, every line complete in itself so that the files
//! of several offices and periods can be pasted one under the other:
//!
//! ```text
//! office,period,from,to,counted_to,section,key,label,new,closed,open,overdue
//! 城关镇纪委,2026-11,2026-11-01,2026-11-30,2026-11-30,total,all,合计,12,5,30,4
//! 城关镇纪委,2026-11,2026-11-01,2026-11-30,2026-11-30,topic,教育 / education,教育 / education,3,1,6,0
//! ...,topic,none,未分主题,...
//! ...,colour,red,红,...        (red, yellow, blue, none)
//! ...,status,received,已收到,... (every status, open ones first)
//! ...,supervised,yes,挂牌督办,... (yes, no)
//! ...,route,chosen,群众选择本单位,... (chosen, moved_in)
//! ...,channel,letter,来信,...   (online, letter, phone, visit)
//! ```
//!
//! `section` and `key` are stable codes (a topic's key is its name in the office's list);
//! `label` is in the language asked for. Text that a spreadsheet would take for a formula
//! (starting with `=`, `+`, `-` or `@`) is written with a leading `'`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;
use time::{Date, Month};

use super::ledger::{Case, Colour, Ledger, Settings};
pub use crate::domain::intake::Channel;
use crate::domain::{Day, Status};

/// The first year a period may be in (days are counted from 1970).
const FIRST_YEAR: u16 = 1970;
/// The last year a period may be in (the calendar maths stops at 9999).
const LAST_YEAR: u16 = 9999;

/// Why a period was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PeriodError {
    /// Not `YYYY-MM` or `YYYY-Qn`.
    #[error(
        "a period is written YYYY-MM for a month or YYYY-Qn for a quarter, for example 2026-11 \
         or 2026-Q4"
    )]
    Malformed,
    /// Begins after today.
    #[error("this period has not begun yet; choose one up to this month")]
    NotBegun,
}

/// A month or a quarter of one year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    year: u16,
    span: Span,
}

/// Which part of the year a period is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// A month, 1 to 12.
    Month(u8),
    /// A quarter, 1 to 4.
    Quarter(u8),
}

fn epoch() -> Date {
    Date::from_calendar_date(1970, Month::January, 1).expect("a valid date")
}

/// The calendar date of a day; `None` past the year 9999.
fn date_of(day: Day) -> Option<Date> {
    epoch().checked_add(time::Duration::days(i64::from(day.0)))
}

/// The day of a calendar date (every date of a valid period is after 1970).
fn day_of(date: Date) -> Day {
    Day(u32::try_from((date - epoch()).whole_days()).unwrap_or(0))
}

fn month(n: u8) -> Month {
    Month::try_from(n).expect("a month of a valid period")
}

impl Period {
    /// The month `month` (1 to 12) of `year`, if both are in range.
    pub fn month(year: u16, month: u8) -> Option<Self> {
        ((FIRST_YEAR..=LAST_YEAR).contains(&year) && (1..=12).contains(&month)).then_some(Self {
            year,
            span: Span::Month(month),
        })
    }

    /// The quarter `quarter` (1 to 4) of `year`, if both are in range.
    pub fn quarter(year: u16, quarter: u8) -> Option<Self> {
        ((FIRST_YEAR..=LAST_YEAR).contains(&year) && (1..=4).contains(&quarter)).then_some(Self {
            year,
            span: Span::Quarter(quarter),
        })
    }

    /// The month that holds `day` (the default period: the current month of the desk).
    pub fn containing(day: Day) -> Self {
        let date = date_of(day).unwrap_or(Date::MAX);
        let year = u16::try_from(date.year()).unwrap_or(LAST_YEAR);
        Self::month(year.clamp(FIRST_YEAR, LAST_YEAR), u8::from(date.month()))
            .expect("a month in range")
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month or quarter.
    pub fn span(self) -> Span {
        self.span
    }

    /// The first and last month (1 to 12) of the period.
    fn months(self) -> (u8, u8) {
        match self.span {
            Span::Month(m) => (m, m),
            Span::Quarter(q) => (q * 3 - 2, q * 3),
        }
    }

    /// The first day.
    pub fn first(self) -> Day {
        let (m, _) = self.months();
        day_of(Date::from_calendar_date(i32::from(self.year), month(m), 1).expect("valid"))
    }

    /// The last day.
    pub fn last(self) -> Day {
        let (_, m) = self.months();
        let year = i32::from(self.year);
        let last = time::util::days_in_month(month(m), year);
        day_of(Date::from_calendar_date(year, month(m), last).expect("valid"))
    }

    /// Whether `day` falls within the period.
    pub fn contains(self, day: Day) -> bool {
        (self.first()..=self.last()).contains(&day)
    }

    /// The period before, of the same kind; `None` before 1970.
    pub fn previous(self) -> Option<Self> {
        match self.span {
            Span::Month(1) => Self::month(self.year.checked_sub(1)?, 12),
            Span::Month(m) => Self::month(self.year, m - 1),
            Span::Quarter(1) => Self::quarter(self.year.checked_sub(1)?, 4),
            Span::Quarter(q) => Self::quarter(self.year, q - 1),
        }
    }

    /// The period after, of the same kind; `None` after 9999.
    pub fn next(self) -> Option<Self> {
        match self.span {
            Span::Month(12) => Self::month(self.year + 1, 1),
            Span::Month(m) => Self::month(self.year, m + 1),
            Span::Quarter(4) => Self::quarter(self.year + 1, 1),
            Span::Quarter(q) => Self::quarter(self.year, q + 1),
        }
    }

    /// The quarter a month falls in (a quarter is its own).
    pub fn quarter_of(self) -> Self {
        match self.span {
            Span::Month(m) => Self {
                year: self.year,
                span: Span::Quarter(m.div_ceil(3)),
            },
            Span::Quarter(_) => self,
        }
    }

    /// The months of the period, in order.
    pub fn month_list(self) -> Vec<Self> {
        let (a, b) = self.months();
        (a..=b)
            .map(|m| Self {
                year: self.year,
                span: Span::Month(m),
            })
            .collect()
    }

    /// The day a report of this period counts up to: its last day, or `today` while it
    /// runs.
    pub fn as_of(self, today: Day) -> Day {
        self.last().min(today)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            Span::Month(m) => write!(f, "{:04}-{m:02}", self.year),
            Span::Quarter(q) => write!(f, "{:04}-Q{q}", self.year),
        }
    }
}

impl FromStr for Period {
    type Err = PeriodError;

    /// `YYYY-MM` or `YYYY-Qn` (a lower-case `q` too).
    fn from_str(s: &str) -> Result<Self, PeriodError> {
        let (year, rest) = s.split_once('-').ok_or(PeriodError::Malformed)?;
        let digits = |t: &str, len: usize| {
            (t.len() == len && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u16>().ok())
                .flatten()
        };
        let year = digits(year, 4).ok_or(PeriodError::Malformed)?;
        let period = match rest.strip_prefix(['Q', 'q']) {
            Some(q) => Self::quarter(year, digits(q, 1).ok_or(PeriodError::Malformed)? as u8),
            None => Self::month(year, digits(rest, 2).ok_or(PeriodError::Malformed)? as u8),
        };
        period.ok_or(PeriodError::Malformed)
    }
}

/// The period a report page asks for: `raw` as typed in the URL, or the current month when
/// it is empty. A period that has not begun is refused: it would only repeat today's counts.
pub fn choose_period(raw: &str, today: Day) -> Result<Period, PeriodError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Period::containing(today));
    }
    let period: Period = raw.parse()?;
    if period.first() > today {
        return Err(PeriodError::NotBegun);
    }
    Ok(period)
}

/// The counts of one line of a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Received within the period.
    pub new: u32,
    /// Closed within the period.
    pub closed: u32,
    /// Open on the as-of day.
    pub open: u32,
    /// Of those open, overdue on the as-of day.
    pub overdue: u32,
}

impl Counts {
    fn add(&mut self, t: Tally) {
        self.new += u32::from(t.new);
        self.closed += u32::from(t.closed);
        self.open += u32::from(t.open);
        self.overdue += u32::from(t.overdue);
    }
}

/// Where one case counts in a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    new: bool,
    closed: bool,
    open: bool,
    overdue: bool,
}

impl Tally {
    fn of(case: &Case, settings: &Settings, period: Period, as_of: Day) -> Self {
        let open = open_on(case, as_of);
        Self {
            new: period.contains(case.received_on),
            closed: case.closed_on.is_some_and(|d| period.contains(d)),
            open,
            overdue: open && clock_out_on(case, settings, as_of),
        }
    }

    fn any(self) -> bool {
        self.new || self.closed || self.open
    }
}

/// How the resident reported: the `channel` sealed inside the tip by the office's intake, or
/// online when there is none (a report made online, or before channels existed). A name the
/// desk does not know counts as online too: every case is counted once.
pub fn channel_of(case: &Case) -> Channel {
    Channel::of_field(case.fields.get("channel").and_then(|v| v.as_str()))
        .unwrap_or(Channel::Online)
}

/// Whether `case` had been received and was not closed on `day` (see the module doc).
pub fn open_on(case: &Case, day: Day) -> bool {
    let closed = match case.closed_on {
        Some(d) => d <= day,
        // Closed without a closing day: it reached this office closed.
        None => case.is_closed(),
    };
    case.received_on <= day && !closed
}

/// Whether an open case's clock had run out on `day`, with the deadlines as set now.
fn clock_out_on(case: &Case, settings: &Settings, day: Day) -> bool {
    let answered = case.answers.iter().any(|a| a.day <= day);
    (!answered && day > case.ack_by(settings)) || day > case.answer_by(settings)
}

/// Whether `case` was overdue on `day`, as the reports count it (see the module doc); on
/// today it agrees with [`Case::overdue`].
pub fn overdue_on(case: &Case, settings: &Settings, day: Day) -> bool {
    open_on(case, day) && clock_out_on(case, settings, day)
}

/// What a report is broken down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    /// The topic from the office's list.
    Topic,
    /// The triage colour.
    Colour,
    /// The status as the office set it.
    Status,
    /// The supervision mark (挂牌督办).
    Supervised,
    /// How the case reached this office.
    Route,
    /// How the resident reported: online, by letter, by phone or in person.
    Channel,
}

impl Dimension {
    /// Every dimension, in the order of the sheet.
    pub const ALL: [Dimension; 6] = [
        Dimension::Topic,
        Dimension::Colour,
        Dimension::Status,
        Dimension::Supervised,
        Dimension::Route,
        Dimension::Channel,
    ];

    /// The stable code (CSV `section`).
    pub fn code(self) -> &'static str {
        match self {
            Dimension::Topic => "topic",
            Dimension::Colour => "colour",
            Dimension::Status => "status",
            Dimension::Supervised => "supervised",
            Dimension::Route => "route",
            Dimension::Channel => "channel",
        }
    }
}

/// How a case reached the office: the "office" dimension of the reports while one desk is
/// one office.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The resident chose this office.
    Chosen,
    /// Another office moved it here.
    MovedIn,
}

/// One line of a breakdown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// A topic; `None`: no topic set.
    Topic(Option<String>),
    /// A colour; `None`: not triaged.
    Colour(Option<Colour>),
    /// A status.
    Status(Status),
    /// Under supervision or not.
    Supervised(bool),
    /// The way in.
    Route(Route),
    /// The channel.
    Channel(Channel),
}

impl Key {
    /// The stable code (CSV `key`): a topic's own name, `none`, a colour or status name,
    /// `yes`/`no`, `chosen`/`moved_in`.
    pub fn code(&self) -> &str {
        match self {
            Key::Topic(Some(t)) => t,
            Key::Topic(None) | Key::Colour(None) => "none",
            Key::Colour(Some(c)) => c.as_str(),
            Key::Status(s) => s.as_str(),
            Key::Supervised(true) => "yes",
            Key::Supervised(false) => "no",
            Key::Route(Route::Chosen) => "chosen",
            Key::Route(Route::MovedIn) => "moved_in",
            Key::Channel(c) => c.as_str(),
        }
    }
}

/// One line of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// What the line counts.
    pub key: Key,
    /// The counts.
    pub counts: Counts,
}

/// One breakdown: every case counted once, so its lines add up to the totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// By what.
    pub dimension: Dimension,
    /// The lines, in the order of the sheet (every line, also those at zero).
    pub rows: Vec<Row>,
}

impl Section {
    fn seeded(dimension: Dimension, keys: impl IntoIterator<Item = Key>) -> Self {
        Self {
            dimension,
            rows: keys
                .into_iter()
                .map(|key| Row {
                    key,
                    counts: Counts::default(),
                })
                .collect(),
        }
    }

    fn add(&mut self, key: &Key, t: Tally) {
        // Every key a counted case can have was seeded (topics off the list included).
        if let Some(row) = self.rows.iter_mut().find(|r| r.key == *key) {
            row.counts.add(t);
        }
    }
}

/// The statuses in the order of the sheet: open ones first.
const STATUS_ORDER: [Status; 7] = [
    Status::Received,
    Status::InReview,
    Status::Investigating,
    Status::NeedInfo,
    Status::ClosedSubstantiated,
    Status::ClosedUnsubstantiated,
    Status::Referred,
];

/// A report: the counts of one period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The period.
    pub period: Period,
    /// The day it counts up to.
    pub as_of: Day,
    /// All cases.
    pub totals: Counts,
    /// The breakdowns, in the order of [`Dimension::ALL`].
    pub sections: Vec<Section>,
}

impl Report {
    /// Counts the ledger's cases for `period`, on `today`.
    pub fn compute(ledger: &Ledger, period: Period, today: Day) -> Self {
        let as_of = period.as_of(today);
        let settings = &ledger.settings;
        let counted: Vec<(&Case, Tally)> = ledger
            .cases
            .values()
            .map(|c| (c, Tally::of(c, settings, period, as_of)))
            .filter(|(_, t)| t.any())
            .collect();

        // Topics: the office's list in its order, then topics taken off the list since
        // (still on counted cases), then "none".
        let mut extra: Vec<String> = counted
            .iter()
            .filter_map(|(c, _)| c.topic.clone())
            .filter(|t| !settings.topics.contains(t))
            .collect();
        extra.sort();
        extra.dedup();
        let topic_keys = settings
            .topics
            .iter()
            .cloned()
            .chain(extra)
            .map(Some)
            .chain([None])
            .map(Key::Topic);
        let colour_keys = Colour::ALL.map(Some).into_iter().chain([None]);
        let mut sections = vec![
            Section::seeded(Dimension::Topic, topic_keys),
            Section::seeded(Dimension::Colour, colour_keys.map(Key::Colour)),
            Section::seeded(Dimension::Status, STATUS_ORDER.map(Key::Status)),
            Section::seeded(Dimension::Supervised, [true, false].map(Key::Supervised)),
            Section::seeded(
                Dimension::Route,
                [Route::Chosen, Route::MovedIn].map(Key::Route),
            ),
            Section::seeded(Dimension::Channel, Channel::ALL.map(Key::Channel)),
        ];

        let mut totals = Counts::default();
        for (case, t) in counted {
            totals.add(t);
            let keys = [
                Key::Topic(case.topic.clone()),
                Key::Colour(case.colour),
                Key::Status(case.status),
                Key::Supervised(case.supervised),
                Key::Route(if case.moved_in {
                    Route::MovedIn
                } else {
                    Route::Chosen
                }),
                Key::Channel(channel_of(case)),
            ];
            for (section, key) in sections.iter_mut().zip(&keys) {
                section.add(key, t);
            }
        }
        Self {
            period,
            as_of,
            totals,
            sections,
        }
    }

    /// The report as CSV (see the module doc): `office` names the office, `total` is the
    /// word for the totals line and `label` gives each line's words in the chosen language.
    pub fn to_csv(&self, office: &str, total: &str, label: impl Fn(&Key) -> String) -> String {
        let mut out = String::from("\u{feff}");
        out.push_str(
            "office,period,from,to,counted_to,section,key,label,new,closed,open,overdue\r\n",
        );
        let head = [
            csv_text(office),
            self.period.to_string(),
            self.period.first().to_string(),
            self.period.last().to_string(),
            self.as_of.to_string(),
        ]
        .join(",");
        let mut line = |section: &str, key: &str, label: &str, c: &Counts| {
            out.push_str(&format!(
                "{head},{section},{},{},{},{},{},{}\r\n",
                csv_text(key),
                csv_text(label),
                c.new,
                c.closed,
                c.open,
                c.overdue
            ));
        };
        line("total", "all", total, &self.totals);
        for section in &self.sections {
            for row in &section.rows {
                line(
                    section.dimension.code(),
                    row.key.code(),
                    &label(&row.key),
                    &row.counts,
                );
            }
        }
        out
    }
}

/// One text field of the CSV: quoted when it must be, and kept from being read as a formula.
fn csv_text(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if guarded.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The sum of a section's lines (the sheet's footer row): the totals, since each section
/// counts every case once.
pub fn section_sum(section: &Section) -> Counts {
    section.rows.iter().fold(Counts::default(), |mut sum, r| {
        sum.new += r.counts.new;
        sum.closed += r.counts.closed;
        sum.open += r.counts.open;
        sum.overdue += r.counts.overdue;
        sum
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::desk::ledger::sample_case;

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    fn period(s: &str) -> Period {
        s.parse().unwrap()
    }

    fn case(i: u8, received: &str) -> Case {
        let mut c = sample_case(i);
        c.received_on = day(received);
        c
    }

    fn answer(c: &mut Case, on: &str, status: Status) {
        c.queue_answer(status, "", day(on)).unwrap();
    }

    /// The lines of a section by key code.
    fn by_key(r: &Report, d: Dimension) -> BTreeMap<String, Counts> {
        let section = r.sections.iter().find(|s| s.dimension == d).unwrap();
        section
            .rows
            .iter()
            .map(|r| (r.key.code().to_owned(), r.counts))
            .collect()
    }

    fn counts(new: u32, closed: u32, open: u32, overdue: u32) -> Counts {
        Counts {
            new,
            closed,
            open,
            overdue,
        }
    }

    /// Seven cases around the turn of October, November and December 2026. The clocks are
    /// the default ones: acknowledge within 3 days, answer within 30.
    fn ledger() -> Ledger {
        let mut l = Ledger::default();
        let topics = l.settings.topics.clone();
        // A: received on the last day of October, answered 2 Nov, closed on the last day
        // of November.
        let mut a = case(1, "2026-10-31");
        answer(&mut a, "2026-11-02", Status::InReview);
        answer(&mut a, "2026-11-30", Status::ClosedSubstantiated);
        a.topic = Some(topics[0].clone());
        a.colour = Some(Colour::Red);
        // B: received on the first day of November, never answered, no triage; a letter.
        let mut b = case(2, "2026-11-01");
        b.fields.insert("channel".into(), "letter".into());
        // C: received mid-November, answered the next day, closed on 1 December (a later
        // period), under supervision.
        let mut c = case(3, "2026-11-15");
        answer(&mut c, "2026-11-16", Status::Investigating);
        answer(&mut c, "2026-12-01", Status::ClosedUnsubstantiated);
        c.topic = Some(topics[1].clone());
        c.colour = Some(Colour::Yellow);
        c.supervised = true;
        // D: moved here from another office, received on the first day of December.
        let mut d = case(4, "2026-12-01");
        d.moved_in = true;
        d.colour = Some(Colour::Blue);
        // E: received on the last day of September, answered 1 October, answer-by day
        // 30 October; under a topic since taken off the list.
        let mut e = case(5, "2026-09-30");
        answer(&mut e, "2026-10-01", Status::Investigating);
        e.topic = Some("旧主题".into());
        e.colour = Some(Colour::Red);
        // F: reached the office already referred (no closing day here).
        let mut f = case(6, "2026-11-20");
        f.status = Status::Referred;
        f.server_status = Status::Referred;
        // G: received 29 November, asked for more the same day; answer-by day 29 December.
        let mut g = case(7, "2026-11-29");
        answer(&mut g, "2026-11-29", Status::NeedInfo);
        g.fields.insert("channel".into(), "phone".into());
        g.colour = Some(Colour::Blue);
        for x in [a, b, c, d, e, f, g] {
            l.cases.insert(x.id, x);
        }
        l
    }

    fn today() -> Day {
        day("2026-12-10")
    }

    #[test]
    fn periods_parse_print_and_refuse_plainly() {
        for ok in ["2026-11", "2026-01", "2026-Q4", "1970-01", "9999-12"] {
            assert_eq!(period(ok).to_string(), ok);
        }
        assert_eq!(period("2026-q2").to_string(), "2026-Q2");
        for bad in [
            "",
            "2026",
            "2026-13",
            "2026-00",
            "2026-Q5",
            "2026-Q0",
            "2026-Q",
            "26-11",
            "2026-1",
            "2026/11",
            "2026-11-01",
            "1969-12",
            "２０２６-11",
            "+026-11",
            "2026-Q44",
            "2026- 1",
        ] {
            assert_eq!(
                bad.parse::<Period>(),
                Err(PeriodError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn periods_know_their_days_and_neighbours() {
        let nov = period("2026-11");
        assert_eq!(
            (nov.first(), nov.last()),
            (day("2026-11-01"), day("2026-11-30"))
        );
        assert_eq!(period("2024-02").last(), day("2024-02-29"));
        assert_eq!(period("2026-02").last(), day("2026-02-28"));
        let q4 = period("2026-Q4");
        assert_eq!(
            (q4.first(), q4.last()),
            (day("2026-10-01"), day("2026-12-31"))
        );
        assert_eq!(period("2026-Q1").last(), day("2026-03-31"));
        assert!(q4.contains(day("2026-10-01")) && q4.contains(day("2026-12-31")));
        assert!(!q4.contains(day("2026-09-30")) && !q4.contains(day("2027-01-01")));

        assert_eq!(period("2026-01").previous(), Some(period("2025-12")));
        assert_eq!(period("2026-12").next(), Some(period("2027-01")));
        assert_eq!(period("2026-Q1").previous(), Some(period("2025-Q4")));
        assert_eq!(period("2026-Q4").next(), Some(period("2027-Q1")));
        assert_eq!(period("1970-01").previous(), None);
        assert_eq!(period("9999-Q4").next(), None);

        assert_eq!(nov.quarter_of(), q4);
        assert_eq!(q4.quarter_of(), q4);
        assert_eq!(
            q4.month_list(),
            vec![period("2026-10"), nov, period("2026-12")]
        );
        assert_eq!(Period::containing(day("2026-11-30")), nov);
        assert_eq!(Period::containing(day("2026-12-01")), period("2026-12"));
        assert_eq!(Period::containing(Day(u32::MAX)), period("9999-12"));
        assert_eq!(nov.as_of(today()), day("2026-11-30"));
        assert_eq!(period("2026-12").as_of(today()), today());
    }

    #[test]
    fn the_default_is_this_month_and_a_period_to_come_is_refused() {
        assert_eq!(choose_period("", today()), Ok(period("2026-12")));
        assert_eq!(choose_period(" 2026-11 ", today()), Ok(period("2026-11")));
        assert_eq!(choose_period("2026-Q4", today()), Ok(period("2026-Q4")));
        assert_eq!(
            choose_period("2027-01", today()),
            Err(PeriodError::NotBegun)
        );
        assert_eq!(
            choose_period("2027-Q1", today()),
            Err(PeriodError::NotBegun)
        );
        assert_eq!(choose_period("junk", today()), Err(PeriodError::Malformed));
    }

    #[test]
    fn a_month_counts_new_closed_open_and_overdue_at_its_end() {
        let r = Report::compute(&ledger(), period("2026-11"), today());
        assert_eq!(r.as_of, day("2026-11-30"));
        // New: B, C, F, G (A came on the last day of October, D in December). Closed: A on
        // the last day (C closed in December). Open on 30 November: B, C, E, G (A closed
        // that day, F arrived closed). Overdue then: B (never answered, acknowledge-by day
        // 4 November) and E (answer-by day 30 October); C's answer-by day is 15 December.
        assert_eq!(r.totals, counts(4, 1, 4, 2));

        let colour = by_key(&r, Dimension::Colour);
        assert_eq!(
            colour["red"],
            counts(0, 1, 1, 1),
            "A closed, E open and overdue"
        );
        assert_eq!(colour["yellow"], counts(1, 0, 1, 0), "C");
        assert_eq!(colour["blue"], counts(1, 0, 1, 0), "G (D is not counted)");
        assert_eq!(colour["none"], counts(2, 0, 1, 1), "B and F");

        let topics = ledger().settings.topics;
        let topic = by_key(&r, Dimension::Topic);
        assert_eq!(topic[&topics[0]], counts(0, 1, 0, 0), "A");
        assert_eq!(topic[&topics[1]], counts(1, 0, 1, 0), "C");
        assert_eq!(topic["旧主题"], counts(0, 0, 1, 1), "E, off the list");
        assert_eq!(topic["none"], counts(3, 0, 2, 1), "B, F, G");
        assert_eq!(
            topic[&topics[7]],
            Counts::default(),
            "every topic has a line"
        );
        let section = &r.sections[0];
        let codes: Vec<&str> = section.rows.iter().map(|r| r.key.code()).collect();
        assert_eq!(codes.len(), topics.len() + 2);
        assert_eq!(&codes[topics.len()..], ["旧主题", "none"], "after the list");

        // Status as it is now: C is counted as open at the end of November, and is closed
        // (not substantiated) now.
        let status = by_key(&r, Dimension::Status);
        assert_eq!(status["closed_substantiated"], counts(0, 1, 0, 0));
        assert_eq!(status["received"], counts(1, 0, 1, 1));
        assert_eq!(status["closed_unsubstantiated"], counts(1, 0, 1, 0));
        assert_eq!(status["investigating"], counts(0, 0, 1, 1));
        assert_eq!(status["referred"], counts(1, 0, 0, 0));
        assert_eq!(status["need_info"], counts(1, 0, 1, 0));
        assert_eq!(status["in_review"], Counts::default());

        let supervised = by_key(&r, Dimension::Supervised);
        assert_eq!(supervised["yes"], counts(1, 0, 1, 0));
        assert_eq!(supervised["no"], counts(3, 1, 3, 2));
        let route = by_key(&r, Dimension::Route);
        assert_eq!(route["chosen"], r.totals);
        assert_eq!(route["moved_in"], Counts::default());
        // B came by letter and G by phone (entered at the office); the rest online.
        let channel = by_key(&r, Dimension::Channel);
        assert_eq!(channel["letter"], counts(1, 0, 1, 1), "B");
        assert_eq!(channel["phone"], counts(1, 0, 1, 0), "G");
        assert_eq!(channel["visit"], Counts::default());
        assert_eq!(
            channel["online"],
            counts(2, 1, 2, 1),
            "C and F new, A closed, C and E open"
        );
    }

    #[test]
    fn the_running_month_counts_to_today_and_takes_the_later_closing() {
        let r = Report::compute(&ledger(), period("2026-12"), today());
        assert_eq!(r.as_of, today());
        // New: D. Closed: C (received in November). Open on 10 December: B, D, E, G.
        // Overdue: B, D (not acknowledged by 4 December), E.
        assert_eq!(r.totals, counts(1, 1, 4, 3));
        let route = by_key(&r, Dimension::Route);
        assert_eq!(route["moved_in"], counts(1, 0, 1, 1));
        assert_eq!(route["chosen"], counts(0, 1, 3, 2));
    }

    #[test]
    fn quarters_span_three_months_and_the_edges_hold() {
        let l = ledger();
        // Q4 to 10 December: new A, B, C, D, F, G (E came on 30 September); closed A and C.
        let q4 = Report::compute(&l, period("2026-Q4"), today());
        assert_eq!(q4.totals, counts(6, 2, 4, 3));
        // Q3 ends on 30 September, E's day of receipt; its acknowledge-by day is 3 October.
        let q3 = Report::compute(&l, period("2026-Q3"), today());
        assert_eq!(q3.as_of, day("2026-09-30"));
        assert_eq!(q3.totals, counts(1, 0, 1, 0));
        // October: A new on its last day and not yet due; E past its answer-by day.
        let oct = Report::compute(&l, period("2026-10"), today());
        assert_eq!(oct.totals, counts(1, 0, 2, 1));
        // A month before any case: nothing, on every line.
        let empty = Report::compute(&l, period("2026-08"), today());
        assert_eq!(empty.totals, Counts::default());
        assert!(empty
            .sections
            .iter()
            .all(|s| section_sum(s) == Counts::default()));
    }

    #[test]
    fn every_section_adds_up_to_the_totals() {
        let l = ledger();
        for p in [
            "2026-09", "2026-10", "2026-11", "2026-12", "2026-Q3", "2026-Q4",
        ] {
            let r = Report::compute(&l, period(p), today());
            assert_eq!(r.sections.len(), Dimension::ALL.len());
            for s in &r.sections {
                assert_eq!(section_sum(s), r.totals, "{p} {:?}", s.dimension);
            }
        }
    }

    #[test]
    fn on_today_overdue_agrees_with_the_inbox_and_a_later_closing_keeps_the_past() {
        let mut l = ledger();
        // Today is any day on or after everything the ledger records.
        for d in ["2026-12-10", "2027-02-01"] {
            for c in l.cases.values() {
                let on = day(d);
                assert_eq!(
                    overdue_on(c, &l.settings, on),
                    c.overdue(&l.settings, on),
                    "{d}"
                );
            }
        }
        // B, overdue at the end of November, is closed on 5 December: the inbox no longer
        // marks it, the November sheet still counts it overdue then.
        let b = l.cases.values_mut().find(|c| c.id.0[0] == 2).unwrap();
        answer(b, "2026-12-05", Status::ClosedSubstantiated);
        assert!(!b.overdue(&l.settings, day("2026-11-30")));
        assert!(overdue_on(b, &l.settings, day("2026-11-30")));
        let nov = Report::compute(&l, period("2026-11"), today());
        assert_eq!(nov.totals, counts(4, 1, 4, 2));
        let dec = Report::compute(&l, period("2026-12"), today());
        assert_eq!(dec.totals, counts(1, 2, 3, 2));
    }

    #[test]
    fn the_csv_has_counts_and_labels_only() {
        let mut l = ledger();
        l.settings.topics[2] = "=HYPERLINK(\"x\"), 养老".into();
        for c in l.cases.values_mut() {
            c.tags.insert("张三家".into());
            c.assignee = Some("李科长".into());
            c.add_note("王", "已电话联系举报人赵六", today()).unwrap();
        }
        let r = Report::compute(&l, period("2026-11"), today());
        let csv = r.to_csv("城关镇, 纪委", "合计", |k| format!("L:{}", k.code()));
        assert!(csv.starts_with("\u{feff}office,period,from,to,counted_to,section,key,"));
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines.last(), Some(&""), "ends with CRLF");
        assert_eq!(
            lines[1],
            "\"城关镇, 纪委\",2026-11,2026-11-01,2026-11-30,2026-11-30,total,all,合计,4,1,4,2"
        );
        assert!(csv.contains(",colour,red,L:red,0,1,1,1\r\n"));
        assert!(csv.contains(",topic,none,L:none,3,0,2,1\r\n"));
        assert!(csv.contains(",route,moved_in,L:moved_in,0,0,0,0\r\n"));
        assert!(csv.contains(",channel,letter,L:letter,1,0,1,1\r\n"));
        assert!(csv.contains(
            ",topic,\"'=HYPERLINK(\"\"x\"\"), 养老\",\"L:=HYPERLINK(\"\"x\"\"), 养老\",0,0,0,0"
        ));
        // One header, one total, and every line of every section.
        let rows: usize = r.sections.iter().map(|s| s.rows.len()).sum();
        assert_eq!(lines.len(), 1 + 1 + rows + 1);
        for c in l.cases.values() {
            assert!(!csv.contains(&c.id.to_string()));
        }
        for secret in ["低保", "张三", "李科长", "赵六", "王"] {
            assert!(!csv.contains(secret), "{secret}");
        }
    }

    #[test]
    fn formulas_and_separators_are_kept_as_text() {
        assert_eq!(csv_text("plain 文字"), "plain 文字");
        assert_eq!(csv_text("-1+1"), "'-1+1");
        assert_eq!(csv_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_text("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv_text("a\nb"), "\"a\nb\"");
    }
}
