//! Who reads a report, and what each reader has acked: the rules of the offices as pure
//! functions over one small record per tip, and that record's stored encoding.
//!
//! A resident addresses a report to the county (the root) alone, or to the county and town
//! offices; the sealed tip then holds one key stanza per chosen office. Any office that reads
//! a report may move it to another office: to the county at once (an event on the resident's
//! timeline, nothing more), to a town office only once the resident agrees. A move carries
//! the sealed tip itself and a key stanza for the new office, because the server may have
//! deleted its own copy by then; the new office sees the follow-ups filed after the resident
//! agreed, not those before.
//!
//! The server deletes a thing once every office entitled to it has acked it: the original
//! sealed tip (and its sealed reply key) once the county and every chosen town acked it; a
//! move's carried copy and stanza once the office it went to acked it; follow-up n once
//! every reader that sees n acked it.
//!
//! A tip without this record is read by the county alone, as every tip was before offices:
//! the store writes a record only for tips that name towns or were moved.
//!
//! Encoding, version 1, big-endian:
//! ```text
//! [1]
//! [town count: u8]   { [id length: u8][id] }                       sorted, distinct
//! [reader count: u8] { [reader][tip acked: 0|1][range count: u16]
//!                      { [first: u32][last: u32] } }               follow-ups acked
//! [move count: u8]   { [to: reader][by: reader][proposed on: u32]
//!                      [state: u8][state day: u32, not for waiting][from follow-up: u32] }
//! reader = [0] (the county) | [1][id length: u8][id]
//! state  = 0 waiting | 1 agreed | 2 declined | 3 done
//! ```

use std::collections::BTreeMap;

use thiserror::Error;

use super::office::{OfficeId, Reader, MAX_OFFICE_ID};
use super::Day;

/// Version byte at the start of an encoded [`Addressing`].
pub const ADDRESSING_VERSION: u8 = 1;
/// Most town offices one report may name.
pub const MAX_TOWNS: usize = 16;
/// Most moves of one report (moves to the county included): bounds the record, whatever a
/// reader's office keeps sending.
pub const MAX_MOVES: usize = 32;

/// Why the rules refuse an addressing or a move.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum AddressingError {
    /// More towns than [`MAX_TOWNS`].
    #[error("a report may name at most {MAX_TOWNS} town offices")]
    TooManyTowns,
    /// The office acting may not read the report.
    #[error("the office may not act on this report")]
    NotAddressed,
    /// A move to an office that reads the report already.
    #[error("the office it would move to reads the report already")]
    AlreadyReads,
    /// A second move to the county by the same office (it would say nothing new, and only
    /// use up the report's moves).
    #[error("the office moved the report to the county already")]
    AlreadyMoved,
    /// A second move to an office while one waits for the resident.
    #[error("a move to that office already waits for the resident's answer")]
    AlreadyWaiting,
    /// A move to an office the resident already refused: the resident is not asked again
    /// (they can ask for it in a follow-up).
    #[error(
        "the resident already said no to passing the report to that office, and is not asked again"
    )]
    Declined,
    /// More moves than [`MAX_MOVES`].
    #[error("the report was moved {MAX_MOVES} times already")]
    TooManyMoves,
    /// A resident's answer, but no move to that office waits for one.
    #[error("no move to that office waits for an answer")]
    NoMoveWaiting,
}

/// A stored addressing record that does not decode.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("an addressing record {0}")]
pub struct BadAddressing(&'static str);

/// Where a move stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveState {
    /// A move to a town office, waiting for the resident's consent: the town gets nothing.
    Waiting,
    /// The resident agreed on this day: the town reads the carried copy.
    Agreed(Day),
    /// The resident declined on this day: nothing changed.
    Declined(Day),
    /// A move to the county, which needs no consent, made on this day.
    Done(Day),
}

/// One move of a report from an office that reads it to another office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The office it goes to.
    pub to: Reader,
    /// The office that moved it.
    pub by: Reader,
    /// Day of the proposal.
    pub proposed_on: Day,
    /// Where it stands.
    pub state: MoveState,
    /// Follow-ups numbered from this one on are visible to `to` (0 until agreed).
    pub from_followup: u32,
}

/// A move as the resident's status page shows it: no stanzas, no copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveView {
    /// The office that proposed it.
    pub by: Reader,
    /// The office it goes to.
    pub to: Reader,
    /// Day of the proposal.
    pub proposed_on: Day,
    /// Where it stands.
    pub state: MoveState,
}

/// What a resident's answer to a waiting move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveDecision {
    /// The town office the move goes to.
    pub to: OfficeId,
    /// [`MoveState::Agreed`] or [`MoveState::Declined`].
    pub state: MoveState,
}

/// A set of follow-up numbers, kept as sorted, disjoint, non-adjacent runs: offices ack
/// follow-ups in runs, so the set stays a few bytes however many it covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Numbers(Vec<(u32, u32)>);

impl Numbers {
    /// Whether `n` is in the set.
    pub fn contains(&self, n: u32) -> bool {
        let i = self.0.partition_point(|&(first, _)| first <= n);
        i > 0 && self.0[i - 1].1 >= n
    }

    /// Adds `n`.
    pub fn insert(&mut self, n: u32) {
        if self.contains(n) {
            return;
        }
        // Runs before `i` start at or below n (and end below it); runs from `i` start above.
        let i = self.0.partition_point(|&(first, _)| first <= n);
        let joins_prev = i > 0 && self.0[i - 1].1.checked_add(1) == Some(n);
        let joins_next = i < self.0.len() && n.checked_add(1) == Some(self.0[i].0);
        match (joins_prev, joins_next) {
            (true, true) => {
                self.0[i - 1].1 = self.0[i].1;
                self.0.remove(i);
            }
            (true, false) => self.0[i - 1].1 = n,
            (false, true) => self.0[i].0 = n,
            (false, false) => self.0.insert(i, (n, n)),
        }
    }

    /// The runs, as inclusive (first, last) pairs.
    pub fn runs(&self) -> &[(u32, u32)] {
        &self.0
    }
}

/// What one reader has acked of a tip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Acked {
    /// The tip itself: the original for the county and chosen towns, the carried copy for a
    /// town it was moved to.
    pub tip: bool,
    /// Follow-ups.
    pub followups: Numbers,
}

/// What the server may delete after an ack: only what it still holds of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AckEffect {
    /// The original sealed tip and its sealed reply key.
    pub original: bool,
    /// The carried copy and stanza of the move with this index.
    pub copy: Option<usize>,
    /// These follow-ups.
    pub followups: Vec<u32>,
}

/// Who reads one tip and what each has acked. `Default` is a tip for the county alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Addressing {
    towns: Vec<OfficeId>,
    acked: BTreeMap<Reader, Acked>,
    moves: Vec<Move>,
}

impl Addressing {
    /// A new tip addressed to the county and these towns (sorted, duplicates dropped).
    pub fn new(mut towns: Vec<OfficeId>) -> Result<Self, AddressingError> {
        towns.sort();
        towns.dedup();
        if towns.len() > MAX_TOWNS {
            return Err(AddressingError::TooManyTowns);
        }
        Ok(Self {
            towns,
            ..Self::default()
        })
    }

    /// The town offices chosen at submission.
    pub fn towns(&self) -> &[OfficeId] {
        &self.towns
    }

    /// Every move, oldest first.
    pub fn moves(&self) -> &[Move] {
        &self.moves
    }

    /// The moves as the resident sees them, oldest first.
    pub fn move_views(&self) -> Vec<MoveView> {
        self.moves
            .iter()
            .map(|m| MoveView {
                by: m.by.clone(),
                to: m.to.clone(),
                proposed_on: m.proposed_on,
                state: m.state,
            })
            .collect()
    }

    /// What `reader` has acked.
    pub fn acked(&self, reader: &Reader) -> Option<&Acked> {
        self.acked.get(reader)
    }

    /// Every office that reads the tip: the county, the chosen towns, and the offices of
    /// agreed or done moves.
    pub fn readers(&self) -> Vec<Reader> {
        let mut out = vec![Reader::Root];
        out.extend(self.towns.iter().cloned().map(Reader::Town));
        for m in &self.moves {
            if matches!(m.state, MoveState::Agreed(_) | MoveState::Done(_)) && !out.contains(&m.to)
            {
                out.push(m.to.clone());
            }
        }
        out
    }

    /// The town offices that read the tip now, sorted.
    pub fn town_readers(&self) -> Vec<OfficeId> {
        let mut out: Vec<_> = self
            .readers()
            .into_iter()
            .filter_map(|r| r.town().cloned())
            .collect();
        out.sort();
        out
    }

    /// Whether `reader` may read the tip (and act on it).
    pub fn may_read(&self, reader: &Reader) -> bool {
        self.reads_original(reader) || self.moved_in(reader).is_some()
    }

    /// Whether `reader` reads the original sealed tip: the county, or a chosen town.
    pub fn reads_original(&self, reader: &Reader) -> bool {
        match reader {
            Reader::Root => true,
            Reader::Town(t) => self.towns.binary_search(t).is_ok(),
        }
    }

    /// The agreed move that brought the tip to `reader`, a town that was not chosen.
    fn moved_in(&self, reader: &Reader) -> Option<(usize, &Move)> {
        if reader == &Reader::Root {
            return None;
        }
        self.moves
            .iter()
            .enumerate()
            .find(|(_, m)| &m.to == reader && matches!(m.state, MoveState::Agreed(_)))
    }

    /// Whether `reader` sees follow-up `n`: every follow-up for the county and the chosen
    /// towns, those filed after the resident agreed for a town the tip was moved to.
    pub fn sees_followup(&self, reader: &Reader, n: u32) -> bool {
        n >= 1
            && (self.reads_original(reader)
                || self
                    .moved_in(reader)
                    .is_some_and(|(_, m)| n >= m.from_followup))
    }

    fn has_acked_tip(&self, reader: &Reader) -> bool {
        self.acked.get(reader).is_some_and(|a| a.tip)
    }

    fn has_acked_followup(&self, reader: &Reader, n: u32) -> bool {
        self.acked
            .get(reader)
            .is_some_and(|a| a.followups.contains(n))
    }

    /// Whether `reader` is to get the original sealed tip (if the server still holds it).
    pub fn wants_original(&self, reader: &Reader) -> bool {
        self.reads_original(reader) && !self.has_acked_tip(reader)
    }

    /// The index of the move whose carried copy and stanza `reader` is to get.
    pub fn wants_copy(&self, reader: &Reader) -> Option<usize> {
        self.moved_in(reader)
            .filter(|_| !self.has_acked_tip(reader))
            .map(|(i, _)| i)
    }

    /// Whether `reader` is to get follow-up `n` (if the server still holds it).
    pub fn wants_followup(&self, reader: &Reader, n: u32) -> bool {
        self.sees_followup(reader, n) && !self.has_acked_followup(reader, n)
    }

    /// Whether every reader of the original (the county and each chosen town) acked it.
    pub fn original_done(&self) -> bool {
        self.has_acked_tip(&Reader::Root)
            && self
                .towns
                .iter()
                .all(|t| self.has_acked_tip(&Reader::Town(t.clone())))
    }

    /// Whether every reader that sees follow-up `n` acked it.
    pub fn followup_done(&self, n: u32) -> bool {
        self.readers()
            .iter()
            .all(|r| !self.sees_followup(r, n) || self.has_acked_followup(r, n))
    }

    /// Whether the server is to keep the stanza and carried copy of move `index`: while it
    /// waits, and once agreed until its office acks the tip.
    pub fn holds_copy(&self, index: usize) -> bool {
        match self.moves.get(index) {
            Some(Move {
                state: MoveState::Waiting,
                ..
            }) => true,
            Some(Move {
                state: MoveState::Agreed(_),
                to,
                ..
            }) => !self.has_acked_tip(to),
            _ => false,
        }
    }

    /// Records an ack from `reader` (the tip, follow-ups numbered up to `followup_count`
    /// that it sees) and says what may be deleted now.
    pub fn ack(
        &mut self,
        reader: &Reader,
        tip: bool,
        followups: &[u32],
        followup_count: u32,
    ) -> Result<AckEffect, AddressingError> {
        if !self.may_read(reader) {
            return Err(AddressingError::NotAddressed);
        }
        let mut effect = AckEffect::default();
        let seen: Vec<u32> = followups
            .iter()
            .copied()
            .filter(|&n| n <= followup_count && self.sees_followup(reader, n))
            .collect();
        let copy = self.moved_in(reader).map(|(i, _)| i);
        let entry = self.acked.entry(reader.clone()).or_default();
        entry.tip |= tip;
        for &n in &seen {
            entry.followups.insert(n);
        }
        if tip {
            effect.copy = copy;
            effect.original = self.reads_original(reader) && self.original_done();
        }
        effect.followups = seen
            .into_iter()
            .filter(|&n| self.followup_done(n))
            .collect();
        effect.followups.dedup();
        Ok(effect)
    }

    /// Records a move of the tip by `by` to `to`. A move to the county is done at once (once
    /// per office); a move to a town waits for the resident. Returns the move's index when the store is to
    /// keep its stanza and carried copy (moves to a town).
    pub fn propose(
        &mut self,
        by: &Reader,
        to: Reader,
        day: Day,
        followup_count: u32,
    ) -> Result<Option<usize>, AddressingError> {
        if !self.may_read(by) {
            return Err(AddressingError::NotAddressed);
        }
        let state = match &to {
            Reader::Root if by == &Reader::Root => return Err(AddressingError::AlreadyReads),
            Reader::Root
                if self
                    .moves
                    .iter()
                    .any(|m| m.to == Reader::Root && &m.by == by) =>
            {
                return Err(AddressingError::AlreadyMoved)
            }
            Reader::Root => MoveState::Done(day),
            town if self.may_read(town) => return Err(AddressingError::AlreadyReads),
            town if self
                .moves
                .iter()
                .any(|m| &m.to == town && m.state == MoveState::Waiting) =>
            {
                return Err(AddressingError::AlreadyWaiting)
            }
            town if self
                .moves
                .iter()
                .any(|m| &m.to == town && matches!(m.state, MoveState::Declined(_))) =>
            {
                return Err(AddressingError::Declined)
            }
            _ => MoveState::Waiting,
        };
        if self.moves.len() >= MAX_MOVES {
            return Err(AddressingError::TooManyMoves);
        }
        let from_followup = match state {
            MoveState::Waiting => 0,
            _ => followup_count.saturating_add(1),
        };
        self.moves.push(Move {
            to,
            by: by.clone(),
            proposed_on: day,
            state,
            from_followup,
        });
        Ok((state == MoveState::Waiting).then(|| self.moves.len() - 1))
    }

    /// Records the resident's answer to the move to `to` that waits. Agreeing shows the
    /// town the tip and the follow-ups filed from now on; declining changes nothing else
    /// (the store deletes the move's stanza and carried copy). Returns the move's index.
    pub fn decide(
        &mut self,
        to: &OfficeId,
        agree: bool,
        day: Day,
        followup_count: u32,
    ) -> Result<(usize, MoveDecision), AddressingError> {
        let (index, m) = self
            .moves
            .iter_mut()
            .enumerate()
            .find(|(_, m)| m.to.town() == Some(to) && m.state == MoveState::Waiting)
            .ok_or(AddressingError::NoMoveWaiting)?;
        if agree {
            m.state = MoveState::Agreed(day);
            m.from_followup = followup_count.saturating_add(1);
        } else {
            m.state = MoveState::Declined(day);
        }
        Ok((
            index,
            MoveDecision {
                to: to.clone(),
                state: m.state,
            },
        ))
    }

    /// Encodes the record (version 1, see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![ADDRESSING_VERSION];
        out.push(self.towns.len() as u8);
        for t in &self.towns {
            put_id(&mut out, t);
        }
        out.push(self.acked.len() as u8);
        for (reader, acked) in &self.acked {
            put_reader(&mut out, reader);
            out.push(u8::from(acked.tip));
            out.extend_from_slice(&(acked.followups.0.len() as u16).to_be_bytes());
            for (first, last) in &acked.followups.0 {
                out.extend_from_slice(&first.to_be_bytes());
                out.extend_from_slice(&last.to_be_bytes());
            }
        }
        out.push(self.moves.len() as u8);
        for m in &self.moves {
            put_reader(&mut out, &m.to);
            put_reader(&mut out, &m.by);
            out.extend_from_slice(&m.proposed_on.0.to_be_bytes());
            let (code, day) = match m.state {
                MoveState::Waiting => (0u8, None),
                MoveState::Agreed(d) => (1, Some(d)),
                MoveState::Declined(d) => (2, Some(d)),
                MoveState::Done(d) => (3, Some(d)),
            };
            out.push(code);
            if let Some(d) = day {
                out.extend_from_slice(&d.0.to_be_bytes());
            }
            out.extend_from_slice(&m.from_followup.to_be_bytes());
        }
        out
    }

    /// Decodes a record, refusing anything malformed or not in the one form `encode` writes.
    pub fn decode(bytes: &[u8]) -> Result<Self, BadAddressing> {
        let mut r = Bytes(bytes);
        if r.u8()? != ADDRESSING_VERSION {
            return Err(BadAddressing("has an unknown version"));
        }
        let town_count = r.u8()? as usize;
        if town_count > MAX_TOWNS {
            return Err(BadAddressing("names too many towns"));
        }
        let mut towns = Vec::with_capacity(town_count);
        for _ in 0..town_count {
            towns.push(r.id()?);
        }
        if !towns.windows(2).all(|w| w[0] < w[1]) {
            return Err(BadAddressing("lists towns out of order"));
        }
        let mut acked = BTreeMap::new();
        let mut last_reader: Option<Reader> = None;
        for _ in 0..r.u8()? {
            let reader = r.reader()?;
            if last_reader.as_ref().is_some_and(|l| *l >= reader) {
                return Err(BadAddressing("lists readers out of order"));
            }
            let tip = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(BadAddressing("has a bad ack flag")),
            };
            let mut runs = Vec::new();
            for _ in 0..r.u16()? {
                let (first, last) = (r.u32()?, r.u32()?);
                let after_prev = runs
                    .last()
                    .is_none_or(|&(_, prev): &(u32, u32)| prev.checked_add(1) < Some(first));
                if first > last || !after_prev {
                    return Err(BadAddressing("has bad follow-up runs"));
                }
                runs.push((first, last));
            }
            last_reader = Some(reader.clone());
            acked.insert(
                reader,
                Acked {
                    tip,
                    followups: Numbers(runs),
                },
            );
        }
        let move_count = r.u8()? as usize;
        if move_count > MAX_MOVES {
            return Err(BadAddressing("holds too many moves"));
        }
        let mut moves = Vec::with_capacity(move_count);
        for _ in 0..move_count {
            let (to, by, proposed_on) = (r.reader()?, r.reader()?, Day(r.u32()?));
            let state = match r.u8()? {
                0 => MoveState::Waiting,
                1 => MoveState::Agreed(Day(r.u32()?)),
                2 => MoveState::Declined(Day(r.u32()?)),
                3 => MoveState::Done(Day(r.u32()?)),
                _ => return Err(BadAddressing("has an unknown move state")),
            };
            let from_followup = r.u32()?;
            moves.push(Move {
                to,
                by,
                proposed_on,
                state,
                from_followup,
            });
        }
        if !r.0.is_empty() {
            return Err(BadAddressing("is too long"));
        }
        Ok(Self {
            towns,
            acked,
            moves,
        })
    }
}

fn put_id(out: &mut Vec<u8>, id: &OfficeId) {
    out.push(id.as_str().len() as u8);
    out.extend_from_slice(id.as_str().as_bytes());
}

fn put_reader(out: &mut Vec<u8>, reader: &Reader) {
    match reader {
        Reader::Root => out.push(0),
        Reader::Town(id) => {
            out.push(1);
            put_id(out, id);
        }
    }
}

struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BadAddressing> {
        if self.0.len() < n {
            return Err(BadAddressing("is truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, BadAddressing> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, BadAddressing> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, BadAddressing> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn id(&mut self) -> Result<OfficeId, BadAddressing> {
        let len = self.u8()? as usize;
        if len > MAX_OFFICE_ID {
            return Err(BadAddressing("has an office id too long"));
        }
        std::str::from_utf8(self.take(len)?)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(BadAddressing("has a bad office id"))
    }
    fn reader(&mut self) -> Result<Reader, BadAddressing> {
        match self.u8()? {
            0 => Ok(Reader::Root),
            1 => Ok(Reader::Town(self.id()?)),
            _ => Err(BadAddressing("has an unknown reader")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn town(s: &str) -> Reader {
        Reader::Town(s.parse().unwrap())
    }

    fn id(s: &str) -> OfficeId {
        s.parse().unwrap()
    }

    #[test]
    fn numbers_keep_runs() {
        let mut n = Numbers::default();
        for x in [5, 3, 4, 9, 1, 7, 8, 2, 8] {
            n.insert(x);
        }
        assert_eq!(n.runs(), &[(1, 5), (7, 9)]);
        n.insert(6);
        assert_eq!(n.runs(), &[(1, 9)]);
        n.insert(u32::MAX);
        n.insert(0);
        assert_eq!(n.runs(), &[(0, 9), (u32::MAX, u32::MAX)]);
        assert!(n.contains(0) && n.contains(9) && !n.contains(10) && n.contains(u32::MAX));
    }

    #[test]
    fn a_county_tip_is_read_by_the_county_alone() {
        let a = Addressing::default();
        assert_eq!(a.readers(), vec![Reader::Root]);
        assert!(a.may_read(&Reader::Root) && !a.may_read(&town("a")));
        assert!(a.town_readers().is_empty());
        let mut a = Addressing::default();
        let effect = a.ack(&Reader::Root, true, &[1, 2, 3], 2).unwrap();
        assert_eq!(
            effect,
            AckEffect {
                original: true,
                copy: None,
                followups: vec![1, 2]
            }
        );
        assert_eq!(
            a.clone().ack(&town("a"), true, &[], 2),
            Err(AddressingError::NotAddressed)
        );
    }

    #[test]
    fn a_town_tip_goes_once_both_acked() {
        let mut a = Addressing::new(vec![id("b"), id("a"), id("a")]).unwrap();
        assert_eq!(a.towns(), &[id("a"), id("b")]);
        assert_eq!(a.readers(), vec![Reader::Root, town("a"), town("b")]);
        assert!(!a.may_read(&town("c")));
        let e = a.ack(&Reader::Root, true, &[1], 1).unwrap();
        assert_eq!(e, AckEffect::default());
        assert!(!a.wants_original(&Reader::Root) && a.wants_original(&town("a")));
        assert!(!a.wants_followup(&Reader::Root, 1) && a.wants_followup(&town("b"), 1));
        assert_eq!(
            a.ack(&town("a"), true, &[1], 1).unwrap(),
            AckEffect::default()
        );
        let e = a.ack(&town("b"), true, &[1], 1).unwrap();
        assert_eq!(
            e,
            AckEffect {
                original: true,
                copy: None,
                followups: vec![1]
            }
        );
        assert!(
            Addressing::new((0..17).map(|i| id(&format!("t{i}"))).collect())
                == Err(AddressingError::TooManyTowns)
        );
    }

    #[test]
    fn acks_of_follow_ups_not_yet_filed_are_not_kept() {
        let mut a = Addressing::new(vec![id("a")]).unwrap();
        a.ack(&town("a"), false, &[2], 1).unwrap();
        let e = a.ack(&Reader::Root, false, &[2], 2).unwrap();
        assert!(
            e.followups.is_empty(),
            "the town never acked the real no. 2"
        );
    }

    #[test]
    fn moves_follow_the_rules() {
        let mut a = Addressing::default();
        // The county cannot move to itself; a town that does not read cannot move at all.
        assert_eq!(
            a.propose(&Reader::Root, Reader::Root, Day(1), 0),
            Err(AddressingError::AlreadyReads)
        );
        assert_eq!(
            a.propose(&town("x"), Reader::Root, Day(1), 0),
            Err(AddressingError::NotAddressed)
        );
        assert_eq!(a.propose(&Reader::Root, town("t"), Day(2), 3), Ok(Some(0)));
        assert_eq!(
            a.propose(&Reader::Root, town("t"), Day(2), 3),
            Err(AddressingError::AlreadyWaiting)
        );
        assert!(!a.may_read(&town("t")) && a.holds_copy(0));
        assert_eq!(
            a.decide(&id("u"), true, Day(3), 3),
            Err(AddressingError::NoMoveWaiting)
        );
        let (i, d) = a.decide(&id("t"), true, Day(4), 5).unwrap();
        assert_eq!((i, d.state), (0, MoveState::Agreed(Day(4))));
        assert_eq!(a.moves()[0].from_followup, 6);
        assert!(a.may_read(&town("t")) && !a.reads_original(&town("t")));
        assert_eq!(a.wants_copy(&town("t")), Some(0));
        assert!(!a.sees_followup(&town("t"), 5) && a.sees_followup(&town("t"), 6));
        assert_eq!(
            a.propose(&Reader::Root, town("t"), Day(5), 5),
            Err(AddressingError::AlreadyReads)
        );
        assert_eq!(
            a.decide(&id("t"), false, Day(5), 5).map(|_| ()),
            Err(AddressingError::NoMoveWaiting)
        );
        // The moved-to town moves it on to the county: done at once, nothing kept.
        assert_eq!(a.propose(&town("t"), Reader::Root, Day(6), 6), Ok(None));
        assert_eq!(a.moves()[1].state, MoveState::Done(Day(6)));
        assert_eq!(
            a.propose(&town("t"), Reader::Root, Day(6), 6),
            Err(AddressingError::AlreadyMoved)
        );
        // Follow-up 6 goes once the county and the town acked it; 5 once the county did.
        let e = a.ack(&town("t"), true, &[5, 6], 6).unwrap();
        assert_eq!((e.original, e.copy), (false, Some(0)));
        assert!(e.followups.is_empty() && !a.holds_copy(0));
        let e = a.ack(&Reader::Root, false, &[5, 6], 6).unwrap();
        assert_eq!(e.followups, vec![5, 6]);
        // Declined: the town never reads.
        a.propose(&Reader::Root, town("v"), Day(7), 6).unwrap();
        a.decide(&id("v"), false, Day(8), 6).unwrap();
        assert!(!a.may_read(&town("v")) && !a.holds_copy(2));
        assert_eq!(a.town_readers(), vec![id("t")]);
        for i in a.moves().len()..MAX_MOVES {
            a.propose(&town("t"), town(&format!("w{i}")), Day(9), 6)
                .unwrap();
        }
        assert_eq!(
            a.propose(&town("t"), town("x"), Day(9), 6),
            Err(AddressingError::TooManyMoves)
        );
        assert_eq!(Addressing::decode(&a.encode()).unwrap(), a);
    }

    #[test]
    fn chosen_towns_cannot_be_moved_to() {
        let mut a = Addressing::new(vec![id("a")]).unwrap();
        assert_eq!(
            a.propose(&town("a"), town("a"), Day(1), 0),
            Err(AddressingError::AlreadyReads)
        );
        assert_eq!(a.propose(&town("a"), town("b"), Day(1), 0), Ok(Some(0)));
    }

    /// Fixed-output test of the stored addressing record. Do not change this test if it
    /// fails: every data folder in the field holds records in this form.
    #[test]
    fn addressing_format_is_fixed() {
        let mut a = Addressing::new(vec![id("tb"), id("ta")]).unwrap();
        a.ack(&town("ta"), true, &[1, 2], 2).unwrap();
        a.propose(&Reader::Root, town("c"), Day(0x0102), 2).unwrap();
        a.decide(&id("c"), true, Day(0x0103), 2).unwrap();
        a.propose(&town("c"), Reader::Root, Day(0x0104), 2).unwrap();
        let bytes = a.encode();
        #[rustfmt::skip]
        let expected = [
            1,                                  // version
            2, 2, b't', b'a', 2, b't', b'b',    // towns
            1,                                  // one reader with acks
            1, 2, b't', b'a', 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2,
            2,                                  // moves
            1, 1, b'c', 0, 0, 0, 1, 2, 1, 0, 0, 1, 3, 0, 0, 0, 3,
            0, 1, 1, b'c', 0, 0, 1, 4, 3, 0, 0, 1, 4, 0, 0, 0, 3,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(Addressing::decode(&bytes).unwrap(), a);
        let mut waiting = Addressing::default();
        waiting
            .propose(&Reader::Root, town("c"), Day(7), 0)
            .unwrap();
        assert_eq!(
            waiting.encode(),
            [1, 0, 0, 1, 1, 1, b'c', 0, 0, 0, 0, 7, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn damaged_records_are_refused() {
        let mut a = Addressing::new(vec![id("ta")]).unwrap();
        a.ack(&Reader::Root, true, &[1, 3], 3).unwrap();
        a.propose(&Reader::Root, town("c"), Day(9), 3).unwrap();
        let bytes = a.encode();
        for n in 0..bytes.len() {
            assert!(Addressing::decode(&bytes[..n]).is_err(), "{n}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Addressing::decode(&long).is_err());
        for (at, value) in [(0, 2), (2, 3), (3, b'A'), (5, 7), (6, 9)] {
            let mut bad = bytes.clone();
            bad[at] = value;
            assert!(Addressing::decode(&bad).is_err(), "{at}");
        }
        // Out-of-order towns and overlapping runs are not the one form written.
        let towns = [1, 2, 1, b'b', 1, b'a', 0, 0];
        assert!(Addressing::decode(&towns).is_err());
        let runs = [
            1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0,
        ];
        assert!(Addressing::decode(&runs).is_err());
    }
}
