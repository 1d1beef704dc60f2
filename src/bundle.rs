//! The export bundle: the file that carries sealed tips from the online server to the
//! inspectors' offline machine on a USB stick.
//!
//! Version 2 is JSON (version 1 had no `reply_key` and no `followups`, and is still read):
//! ```json
//! {"format":"whistlebox-export","version":2,"exported_on":"2026-11-28","tip_count":1,
//!  "tips":[{"id":"0123456789abcdef","day":"2026-11-28","status":"received","sealed":"<base64>",
//!           "reply_key":"<base64>","followups":[{"n":1,"day":"2026-11-29","sealed":"<base64>"}]}]}
//! ```
//! `sealed` and `reply_key` are null once the inspectors have acked the tip. Version 3 added
//! `office` and `grant`; version 4 adds `"attachments": ["<base64 blob>", ...]` to a tip and
//! to a follow-up that has evidence files (`docs/attachments.md`), left out when empty.
//!
//! It also holds the signed bundles that come back (updates and acks); see [`sign_bundle`].
//! The bundle arrives from a machine the inspectors do not trust, so [`parse_export`] bounds
//! every size, never panics, and judges each tip on its own: one bad entry is reported and
//! the others still come through.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::crypto::{self, SignPublicKey, SignSecretKey};
use crate::domain::attachment;
use crate::domain::held::{Followup, StoredTip};
use crate::domain::office::OfficeId;
use crate::domain::reply::{plausible_sealed_reply, Ack, Signed, Update};
use crate::domain::tip::SealedTip;
use crate::domain::{Day, Status, TipId};

/// Format name of an export bundle.
pub const EXPORT_FORMAT: &str = "whistlebox-export";
/// Version of the export bundle format.
pub const EXPORT_VERSION: u32 = 4;

/// Limits applied when reading a bundle.
#[derive(Debug, Clone, Copy)]
pub struct BundleLimits {
    /// Largest bundle file accepted, in bytes.
    pub max_bundle_bytes: u64,
    /// Largest sealed tip accepted, in bytes.
    pub max_sealed_bytes: usize,
    /// Most tips in one bundle.
    pub max_tips: usize,
}

impl Default for BundleLimits {
    fn default() -> Self {
        Self {
            max_bundle_bytes: 2 * 1024 * 1024 * 1024,
            max_sealed_bytes: 64 * 1024 * 1024,
            max_tips: 10_000_000,
        }
    }
}

/// Why a whole bundle was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BundleError {
    /// Larger than the limit.
    #[error("the bundle is larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// Not JSON, or not the expected shape.
    #[error("this is not a whistlebox export bundle, or it is damaged ({0})")]
    Malformed(String),
    /// Another version.
    #[error("this export bundle has version {0}, which this build of whistlebox does not read")]
    UnknownVersion(u32),
    /// Too many entries.
    #[error("the bundle holds more than {0} tips")]
    TooManyTips(usize),
    /// Too many damaged entries: the file is not a bundle worth reading entry by entry.
    #[error("the bundle holds more than {0} damaged entries; it is not a usable export bundle")]
    TooManyRejected(usize),
}

#[derive(Serialize)]
struct TipOut<'a> {
    id: String,
    day: String,
    status: &'a str,
    sealed: Option<String>,
    reply_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<String>,
    followups: Vec<FollowupOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<String>,
}

#[derive(Serialize)]
struct FollowupOut {
    n: u32,
    day: String,
    sealed: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<String>,
}

fn blobs_out(blobs: &[Vec<u8>]) -> Vec<String> {
    blobs.iter().map(|b| STANDARD.encode(b)).collect()
}

/// The start of an export bundle, up to the opening of the `tips` list. A bundle is
/// `export_head`, then [`export_entry`] for each tip, then [`EXPORT_TAIL`]: the server
/// streams it tip by tip, so its memory does not grow with the store.
pub fn export_head(exported_on: Day, office: &OfficeId, tip_count: usize) -> Vec<u8> {
    format!(
        "{{\"format\":\"{EXPORT_FORMAT}\",\"version\":{EXPORT_VERSION},\"exported_on\":\"{exported_on}\",\"office\":\"{office}\",\"tip_count\":{tip_count},\"tips\":["
    )
    .into_bytes()
}

/// About how many bytes a tip takes in an export bundle (its ciphertexts in base64; the
/// few hundred bytes of JSON around them aside), without writing it.
pub fn export_entry_size(t: &StoredTip) -> u64 {
    let b64 = |n: usize| n.div_ceil(3) as u64 * 4;
    let blobs = |b: &[Vec<u8>]| b.iter().map(|x| 4 + b64(x.len())).sum::<u64>();
    256 + t.sealed.as_ref().map_or(0, |s| b64(s.as_bytes().len()))
        + t.sealed_reply_key.as_ref().map_or(0, |k| b64(k.len()))
        + t.grant.as_ref().map_or(0, |g| b64(g.len()))
        + blobs(&t.attachments)
        + t.followups
            .iter()
            .map(|f| 64 + b64(f.sealed.as_bytes().len()) + blobs(&f.attachments))
            .sum::<u64>()
}

/// One tip of an export bundle; `first` is true for the first tip (no comma before it).
pub fn export_entry(first: bool, t: &StoredTip) -> Vec<u8> {
    let entry = TipOut {
        id: t.id.to_string(),
        day: t.day.to_string(),
        status: t.status.as_str(),
        sealed: t.sealed.as_ref().map(SealedTip::to_base64),
        reply_key: t.sealed_reply_key.as_ref().map(|k| STANDARD.encode(k)),
        grant: t.grant.as_ref().map(|g| STANDARD.encode(g)),
        followups: t
            .followups
            .iter()
            .map(|f| FollowupOut {
                n: f.n,
                day: f.day.to_string(),
                sealed: f.sealed.to_base64(),
                attachments: blobs_out(&f.attachments),
            })
            .collect(),
        attachments: blobs_out(&t.attachments),
    };
    // Sized up front: a 1 MiB tip would otherwise grow the buffer by doubling, which the
    // streamed export pays for every tip.
    let b64 = |n: usize| n.div_ceil(3) * 4;
    let blobs_b64 = |blobs: &[Vec<u8>]| blobs.iter().map(|b| 4 + b64(b.len())).sum::<usize>();
    let size = 256
        + t.sealed.as_ref().map_or(0, |s| b64(s.as_bytes().len()))
        + t.sealed_reply_key.as_ref().map_or(0, |k| b64(k.len()))
        + t.followups
            .iter()
            .map(|f| 64 + b64(f.sealed.as_bytes().len()) + blobs_b64(&f.attachments))
            .sum::<usize>()
        + blobs_b64(&t.attachments);
    let mut out = Vec::with_capacity(size);
    if !first {
        out.push(b',');
    }
    serde_json::to_writer(&mut out, &entry).expect("plain data serializes");
    out
}

/// The end of an export bundle.
pub const EXPORT_TAIL: &[u8] = b"]}";

/// Writes an export bundle of `tips` in one piece.
pub fn write_export(exported_on: Day, tips: &[StoredTip]) -> Vec<u8> {
    let county: OfficeId = crate::domain::office::DEFAULT_ROOT_ID
        .parse()
        .expect("a valid id");
    let mut out = export_head(exported_on, &county, tips.len());
    for (i, t) in tips.iter().enumerate() {
        out.extend_from_slice(&export_entry(i == 0, t));
    }
    out.extend_from_slice(EXPORT_TAIL);
    out
}

/// Most refused entries listed before the whole bundle is refused: a bundle of millions of
/// junk entries would otherwise cost memory for each reason.
pub const MAX_REJECTED_ENTRIES: usize = 10_000;
/// Most follow-ups read for one tip.
const MAX_FOLLOWUPS_PER_TIP: usize = 10_000;

/// One entry of a bundle that could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEntry {
    /// Position in the bundle, from 1.
    pub position: usize,
    /// The id, only when it is a well-formed one (safe to print and to use as a name).
    pub id: Option<TipId>,
    /// Why.
    pub reason: String,
}

/// Where one blob lies in the bundle, when read by [`parse_export_in_place`]: the range of
/// its base64 text in the bundle's bytes, checked as it was read (base64 of a blob of a
/// length a file makes), and the digest of the blob it decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSpan {
    /// The base64 text's place in the bundle.
    pub range: std::ops::Range<usize>,
    /// BLAKE2b-256 of the decoded blob (`attachment::blob_digest`).
    pub digest: [u8; attachment::DIGEST_BYTES],
    /// The decoded blob's length.
    pub len: u64,
}

impl BlobSpan {
    /// The blob, decoded from `bundle` (the bytes it was read from); `None` when `bundle` is
    /// not those bytes.
    pub fn decode(&self, bundle: &[u8]) -> Option<Vec<u8>> {
        let text = bundle.get(self.range.clone())?;
        let blob = STANDARD.decode(text).ok()?;
        crate::crypto::ct_eq(&attachment::blob_digest(&blob), &self.digest).then_some(blob)
    }
}

/// The blobs of one entry of a bundle read by [`parse_export_in_place`], in the bundle's
/// order (which is the carrier's word: the sealed tip names each file by its digest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryBlobs {
    /// The tip's.
    pub tip: Vec<BlobSpan>,
    /// Each follow-up's, by its place in the entry's `followups`.
    pub followups: Vec<Vec<BlobSpan>>,
}

/// A bundle as read: the tips that are well-formed, and the entries that are not.
#[derive(Debug)]
pub struct ParsedExport {
    /// The day the server wrote the bundle, if it says so validly.
    pub exported_on: Option<Day>,
    /// The office the server wrote it for (version 3), if it says so validly.
    pub office: Option<OfficeId>,
    /// Well-formed tips.
    pub tips: Vec<StoredTip>,
    /// Entries refused, with reasons.
    pub rejected: Vec<RejectedEntry>,
    /// With [`parse_export_in_place`], the blobs of `tips[i]` are `blobs[i]` (and the tips'
    /// own `attachments` lists are empty); empty with [`parse_export`].
    pub blobs: Vec<EntryBlobs>,
}

/// Reads an export bundle defensively, as a stream: each entry of `tips` is judged as it is
/// met and never held as a generic JSON tree, so the memory taken is bounded by what is
/// kept (well-formed tips and at most [`MAX_REJECTED_ENTRIES`] reasons), whatever the file
/// holds.
pub fn parse_export(bytes: &[u8], limits: &BundleLimits) -> Result<ParsedExport, BundleError> {
    parse(bytes, limits, false)
}

/// Like [`parse_export`], but the evidence files stay where they are in `bytes`: each is
/// checked and its digest taken as it is met, then dropped, and [`ParsedExport::blobs`] says
/// where it lies, to be decoded one at a time ([`BlobSpan::decode`]). A bundle of files is
/// then held in memory once (its bytes) instead of once more decoded; the offline tools read
/// bundles this way. The entries taken and refused are exactly those of [`parse_export`].
pub fn parse_export_in_place(
    bytes: &[u8],
    limits: &BundleLimits,
) -> Result<ParsedExport, BundleError> {
    parse(bytes, limits, true)
}

fn parse(bytes: &[u8], limits: &BundleLimits, in_place: bool) -> Result<ParsedExport, BundleError> {
    if bytes.len() as u64 > limits.max_bundle_bytes {
        return Err(BundleError::TooLarge(limits.max_bundle_bytes));
    }
    let mut state = ReadState {
        limits,
        refusal: None,
        seen: HashSet::new(),
        tips: Vec::new(),
        rejected: Vec::new(),
        exported_on: None,
        office: None,
        unsettled: Vec::new(),
        in_place: in_place.then(|| Bounds::of(bytes)),
        blobs: Vec::new(),
    };
    // serde_json bounds nesting depth (128) itself, so hostile nesting cannot overflow the stack.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let read =
        de::DeserializeSeed::deserialize(TopLevel(&mut state), &mut de).and_then(|()| de.end());
    if let Some(refusal) = state.refusal.take() {
        return Err(refusal);
    }
    read.map_err(|e| {
        BundleError::Malformed(format!("{} at line {}", e.classify_name(), e.line()))
    })?;
    Ok(ParsedExport {
        exported_on: state.exported_on,
        office: state.office,
        tips: state.tips,
        rejected: state.rejected,
        blobs: state.blobs,
    })
}

/// The address range of the bundle's bytes, to tell where a borrowed piece of it lies.
#[derive(Clone, Copy)]
struct Bounds {
    start: usize,
    len: usize,
}

impl Bounds {
    fn of(bytes: &[u8]) -> Self {
        Self {
            start: bytes.as_ptr() as usize,
            len: bytes.len(),
        }
    }

    /// Where `piece` lies in the bundle, when it was borrowed from it.
    fn range_of(&self, piece: &str) -> Option<std::ops::Range<usize>> {
        let at = (piece.as_ptr() as usize).checked_sub(self.start)?;
        let end = at.checked_add(piece.len())?;
        (end <= self.len).then_some(at..end)
    }
}

use serde::de::{self, IgnoredAny};
use serde_json::value::RawValue;

struct ReadState<'l> {
    limits: &'l BundleLimits,
    /// A whole-bundle refusal found while streaming (reported instead of serde's error).
    refusal: Option<BundleError>,
    seen: HashSet<TipId>,
    tips: Vec<StoredTip>,
    rejected: Vec<RejectedEntry>,
    exported_on: Option<Day>,
    office: Option<OfficeId>,
    /// Tips without a sealed tip read before the version was known: (index in `tips`,
    /// position in the bundle).
    unsettled: Vec<(usize, usize)>,
    /// Set when blobs are left in place (`parse_export_in_place`).
    in_place: Option<Bounds>,
    /// Their places, one for each of `tips`, when they are.
    blobs: Vec<EntryBlobs>,
}

impl ReadState<'_> {
    fn refuse<E: de::Error>(&mut self, refusal: BundleError) -> E {
        let e = E::custom(refusal.to_string());
        self.refusal = Some(refusal);
        e
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum TopField {
    Format,
    Version,
    ExportedOn,
    Office,
    Tips,
    #[serde(other)]
    Other,
}

struct TopLevel<'s, 'l>(&'s mut ReadState<'l>);

impl<'de> de::DeserializeSeed<'de> for TopLevel<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> de::Visitor<'de> for TopLevel<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an export bundle object")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        let (mut format, mut version, mut tips_read) = (None::<String>, None::<u32>, false);
        while let Some(field) = map.next_key::<TopField>()? {
            match field {
                TopField::Format if format.is_none() => format = Some(map.next_value()?),
                TopField::Version if version.is_none() => version = Some(map.next_value()?),
                TopField::ExportedOn => {
                    let day: Option<String> = map.next_value()?;
                    state.exported_on = day.and_then(|d| d.parse().ok());
                }
                TopField::Office => {
                    let office: Option<String> = map.next_value()?;
                    state.office = office.and_then(|o| o.parse().ok());
                }
                TopField::Tips if !tips_read => {
                    // Usually known by now; if not (a JSON tool may sort the keys), entries
                    // are read by the version 2 rules and settled once the version is known.
                    let wrong_format = format.as_deref().is_some_and(|f| f != EXPORT_FORMAT);
                    let known = if (format.is_some() && version.is_some()) || wrong_format {
                        Some(check_head(state, format.as_deref(), version)?)
                    } else {
                        None
                    };
                    map.next_value_seed(TipList {
                        state: &mut *state,
                        version: known,
                    })?;
                    tips_read = true;
                }
                TopField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => return Err(de::Error::custom("a field appears twice")),
            }
        }
        let version = check_head(state, format.as_deref(), version)?;
        if !tips_read {
            return Err(de::Error::missing_field("tips"));
        }
        // Version 1 had no acked entries: a tip without its sealed tip, read before the
        // version was known, is refused after all.
        if version == 1 && !state.unsettled.is_empty() {
            for (index, position) in std::mem::take(&mut state.unsettled).into_iter().rev() {
                let tip = state.tips.remove(index);
                if state.in_place.is_some() {
                    state.blobs.remove(index);
                }
                state.rejected.push(RejectedEntry {
                    position,
                    id: Some(tip.id),
                    reason: "the sealed tip is missing".into(),
                });
            }
            state.rejected.sort_by_key(|r| r.position);
        }
        Ok(())
    }
}

/// The format name and version, checked before any entry is read.
fn check_head<E: de::Error>(
    state: &mut ReadState,
    format: Option<&str>,
    version: Option<u32>,
) -> Result<u32, E> {
    match (format, version) {
        (Some(EXPORT_FORMAT), Some(v)) if (1..=EXPORT_VERSION).contains(&v) => Ok(v),
        (Some(EXPORT_FORMAT), Some(v)) => Err(state.refuse(BundleError::UnknownVersion(v))),
        (Some(EXPORT_FORMAT), None) => Err(E::missing_field("version")),
        (Some(_), _) => {
            Err(state.refuse(BundleError::Malformed("the format name is wrong".into())))
        }
        (None, _) => Err(E::missing_field("format")),
    }
}

struct TipList<'s, 'l> {
    state: &'s mut ReadState<'l>,
    /// `None` while the version is not yet known.
    version: Option<u32>,
}

impl<'de> de::DeserializeSeed<'de> for TipList<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> de::Visitor<'de> for TipList<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of tips")
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.state;
        let mut position = 0usize;
        // Each entry is borrowed from the input as raw text: nothing is built for it but
        // what is kept.
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            position += 1;
            if position > state.limits.max_tips {
                let max = state.limits.max_tips;
                return Err(state.refuse(BundleError::TooManyTips(max)));
            }
            let version = self.version.unwrap_or(EXPORT_VERSION);
            match parse_entry(raw, version, state.limits, state.in_place) {
                Ok((tip, _)) if !state.seen.insert(tip.id) => state.rejected.push(RejectedEntry {
                    position,
                    id: Some(tip.id),
                    reason: "the same id appears twice; only the first was taken".into(),
                }),
                Ok((tip, blobs)) => {
                    if self.version.is_none() && tip.sealed.is_none() {
                        state.unsettled.push((state.tips.len(), position));
                    }
                    state.tips.push(tip);
                    if state.in_place.is_some() {
                        state.blobs.push(blobs);
                    }
                }
                Err((id, reason)) => state.rejected.push(RejectedEntry {
                    position,
                    id,
                    reason,
                }),
            }
            if state.rejected.len() > MAX_REJECTED_ENTRIES {
                return Err(state.refuse(BundleError::TooManyRejected(MAX_REJECTED_ENTRIES)));
            }
        }
        Ok(())
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "unexpected content",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

/// A field as raw JSON text, `None` when absent (a JSON `null` is `Some("null")`).
#[derive(Default)]
struct Raw<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(d).map(|r| Raw(Some(r)))
    }
}

impl Raw<'_> {
    fn text(&self) -> Option<String> {
        self.0
            .and_then(|r| serde_json::from_str::<String>(r.get()).ok())
    }
    fn is_null(&self) -> bool {
        self.0.is_some_and(|r| r.get() == "null")
    }
}

#[derive(Deserialize)]
struct EntryIn<'a> {
    #[serde(borrow, default)]
    id: Raw<'a>,
    #[serde(borrow, default)]
    day: Raw<'a>,
    #[serde(borrow, default)]
    status: Raw<'a>,
    #[serde(borrow, default)]
    sealed: Raw<'a>,
    #[serde(borrow, default)]
    reply_key: Raw<'a>,
    #[serde(borrow, default)]
    grant: Raw<'a>,
    #[serde(borrow, default)]
    followups: Raw<'a>,
    #[serde(borrow, default)]
    attachments: Raw<'a>,
}

#[derive(Deserialize)]
struct FollowupIn<'a> {
    #[serde(borrow, default)]
    n: Raw<'a>,
    #[serde(borrow, default)]
    day: Raw<'a>,
    #[serde(borrow, default)]
    sealed: Raw<'a>,
    #[serde(borrow, default)]
    attachments: Raw<'a>,
}

/// The blobs of an entry's `attachments` list: at most [`attachment::MAX_ATTACHMENTS`],
/// each standard base64 of a blob no longer than the largest file makes. Decoded and kept,
/// or, `in_place`, decoded to be checked and dropped, with where each lies.
fn parse_blobs(
    raw: &Raw,
    in_place: Option<Bounds>,
) -> Result<(Vec<Vec<u8>>, Vec<BlobSpan>), &'static str> {
    let Some(raw) = raw.0 else {
        return Ok((Vec::new(), Vec::new()));
    };
    let max = attachment::blob_len(attachment::MAX_FILE_BYTES);
    let list: Vec<&RawValue> =
        serde_json::from_str(raw.get()).map_err(|_| "the list of files is not a list")?;
    if list.len() > attachment::MAX_ATTACHMENTS {
        return Err("it holds more than 10 files");
    }
    let (mut kept, mut spans) = (Vec::new(), Vec::new());
    for r in list {
        let text: &str = serde_json::from_str(r.get()).map_err(|_| "a file is not text")?;
        if text.len() as u64 / 4 * 3 > max + 3 {
            return Err("a file is larger than any resident can send");
        }
        let blob = STANDARD.decode(text).map_err(|_| "a file is not base64")?;
        attachment::pieces_in_blob(blob.len() as u64)
            .ok_or("a file is not an encrypted file of the expected size")?;
        match in_place {
            None => kept.push(blob),
            Some(bounds) => spans.push(BlobSpan {
                // A string without escapes is borrowed from the bundle (one with them is
                // refused above as "not text"), so it always has a place in it.
                range: bounds.range_of(text).ok_or("a file is not text")?,
                digest: attachment::blob_digest(&blob),
                len: blob.len() as u64,
            }),
        }
    }
    Ok((kept, spans))
}

/// The first [`MAX_FOLLOWUPS_PER_TIP`] elements of a JSON array, as raw text; the rest are
/// skipped without being kept.
struct FirstElements<'a>(Vec<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstElements<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = FirstElements<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while out.len() < MAX_FOLLOWUPS_PER_TIP {
                    match seq.next_element::<&'de RawValue>()? {
                        Some(r) => out.push(r),
                        None => return Ok(FirstElements(out)),
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstElements(out))
            }
        }
        d.deserialize_seq(V)
    }
}

fn parse_entry(
    raw: &RawValue,
    version: u32,
    limits: &BundleLimits,
    in_place: Option<Bounds>,
) -> Result<(StoredTip, EntryBlobs), (Option<TipId>, String)> {
    let entry: EntryIn = serde_json::from_str(raw.get())
        .map_err(|_| (None, "the id is missing or malformed".to_string()))?;
    let id = entry
        .id
        .text()
        .and_then(|s| s.parse::<TipId>().ok())
        .ok_or((None, "the id is missing or malformed".to_string()))?;
    let fail = |reason: &str| (Some(id), reason.to_string());
    let day = entry
        .day
        .text()
        .and_then(|s| s.parse::<Day>().ok())
        .ok_or_else(|| fail("the day is missing or malformed"))?;
    let status = entry
        .status
        .text()
        .and_then(|s| s.parse::<Status>().ok())
        .ok_or_else(|| fail("the status is missing or unknown"))?;
    let sealed = match entry.sealed.text() {
        Some(text) => Some(
            SealedTip::from_base64(&text, limits.max_sealed_bytes)
                .map_err(|e| fail(&format!("the sealed tip is not valid: {e}")))?,
        ),
        None if version >= 2 && entry.sealed.is_null() => None,
        None => return Err(fail("the sealed tip is missing")),
    };
    let sealed_reply_key = match entry.reply_key.text() {
        Some(text) => Some(
            STANDARD
                .decode(text)
                .ok()
                .filter(|k| k.len() <= 4096)
                .ok_or_else(|| fail("the reply key is not valid"))?,
        ),
        None => None,
    };
    let grant = match entry.grant.text() {
        Some(text) => Some(
            STANDARD
                .decode(text)
                .ok()
                .filter(|g| crate::domain::office::Grant::decode(g).is_some())
                .ok_or_else(|| fail("the key stanza is not valid"))?,
        ),
        None => None,
    };
    let mut followups = Vec::new();
    let mut blobs = EntryBlobs::default();
    let list = entry
        .followups
        .0
        .and_then(|r| serde_json::from_str::<FirstElements>(r.get()).ok())
        .map(|l| l.0)
        .unwrap_or_default();
    for f in list {
        let f: FollowupIn =
            serde_json::from_str(f.get()).map_err(|_| fail("a follow-up number is not valid"))?;
        let n =
            f.n.0
                .and_then(|n| serde_json::from_str::<u32>(n.get()).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| fail("a follow-up number is not valid"))?;
        let fday = f
            .day
            .text()
            .and_then(|d| d.parse::<Day>().ok())
            .ok_or_else(|| fail("a follow-up day is not valid"))?;
        let fsealed = f
            .sealed
            .text()
            .and_then(|s| SealedTip::from_base64(&s, limits.max_sealed_bytes).ok())
            .ok_or_else(|| fail("a follow-up is not a valid sealed box"))?;
        let (fattachments, fspans) = parse_blobs(&f.attachments, in_place)
            .map_err(|e| fail(&format!("a follow-up's files are not valid: {e}")))?;
        blobs.followups.push(fspans);
        followups.push(Followup {
            n,
            day: fday,
            sealed: fsealed,
            attachments: fattachments,
        });
    }
    let (attachments, spans) = parse_blobs(&entry.attachments, in_place)
        .map_err(|e| fail(&format!("the files are not valid: {e}")))?;
    blobs.tip = spans;
    if sealed.is_none() && followups.is_empty() {
        return Err(fail("the entry holds nothing to open"));
    }
    Ok((
        StoredTip {
            id,
            day,
            status,
            sealed,
            sealed_reply_key,
            grant,
            followups,
            attachments,
        },
        blobs,
    ))
}

/// Format name of a signed bundle (updates or ack), from the inspectors to the server.
pub const SIGNED_FORMAT: &str = "whistlebox-signed";
/// Version of the signed bundle format.
pub const SIGNED_VERSION: u32 = 1;
/// Signatures cover this label, then the payload bytes.
const SIGNATURE_LABEL: &[u8] = b"whistlebox-signed-v1\n";
/// Most entries in one signed bundle.
const MAX_SIGNED_ENTRIES: usize = 100_000;

/// What a signed bundle carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedContent {
    /// Status updates and replies.
    Updates(Vec<Update>),
    /// What the inspectors hold, so the server can delete it.
    Ack(Vec<Ack>),
    /// Cases handed to other offices (移送).
    Moves(Vec<MoveRequest>),
}

/// One case handed from the signing office to another office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveRequest {
    /// The tip.
    pub tip: TipId,
    /// The office it goes to (the county's id, or a town's).
    pub to: OfficeId,
    /// For a town office: the sealed tip it will open (the same box the server received,
    /// or, for a tip in format 1, the same words sealed again in format 2) ...
    pub sealed: Option<SealedTip>,
    /// ... the tip's content key sealed to the town office's key, sealed once more to the
    /// resident's reply key (only the resident's consent releases it) ...
    pub stanza: Option<Vec<u8>>,
    /// ... and the moving office's signature over `office::move_message`, which the town
    /// checks before it trusts what it was handed.
    pub signature: Option<Vec<u8>>,
}

/// A signed bundle's payload: its content and its number. Numbers strictly increase, so an
/// old bundle cannot be replayed to turn a status back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPayload {
    /// The office that signed it; `None` for the county office's key made before offices
    /// (it is the county's).
    pub office: Option<OfficeId>,
    /// Strictly increasing number (per office).
    pub sequence: u64,
    /// The day it was made on the offline machine.
    pub made_on: Day,
    /// Updates or acks.
    pub content: SignedContent,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    version: u32,
    /// Which office's key to check the signature with; repeated inside the signed payload,
    /// where it must be the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    office: Option<String>,
    payload: String,
    signature: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PayloadJson {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    office: Option<String>,
    sequence: u64,
    made_on: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updates: Option<Vec<UpdateJson>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acks: Option<Vec<AckJson>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    moves: Option<Vec<MoveJson>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveJson {
    tip: String,
    to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stanza: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateJson {
    tip: String,
    status: String,
    #[serde(default)]
    reply: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckJson {
    tip: String,
    tip_sealed: bool,
    #[serde(default)]
    followups: Vec<u32>,
    /// Hex digest of the opened sealed tip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tip_digest: Option<String>,
    /// Hex digests of the opened follow-ups, in the order of `followups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    followup_digests: Vec<String>,
}

/// A digest as written in tip.json and in acks: 64 lowercase hex digits.
pub fn digest_to_hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a digest written by [`digest_to_hex`].
pub fn digest_from_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks(2)) {
        let hex = |c: u8| (c as char).to_digit(16).filter(|_| !c.is_ascii_uppercase());
        *o = (hex(pair[0])? << 4 | hex(pair[1])?) as u8;
    }
    Some(out)
}

/// Writes a signed bundle.
pub fn sign_bundle(payload: &SignedPayload, key: &SignSecretKey) -> Vec<u8> {
    let (kind, updates, acks, moves) = match &payload.content {
        SignedContent::Updates(list) => (
            "updates",
            Some(
                list.iter()
                    .map(|u| UpdateJson {
                        tip: u.tip.to_string(),
                        status: u.status.as_str().to_owned(),
                        reply: u.reply.as_ref().map(|r| STANDARD.encode(r)),
                    })
                    .collect(),
            ),
            None,
            None,
        ),
        SignedContent::Moves(list) => (
            "moves",
            None,
            None,
            Some(
                list.iter()
                    .map(|m| MoveJson {
                        tip: m.tip.to_string(),
                        to: m.to.to_string(),
                        sealed: m.sealed.as_ref().map(SealedTip::to_base64),
                        stanza: m.stanza.as_ref().map(|s| STANDARD.encode(s)),
                        signature: m.signature.as_ref().map(|s| STANDARD.encode(s)),
                    })
                    .collect(),
            ),
        ),
        SignedContent::Ack(list) => (
            "ack",
            None,
            Some(
                list.iter()
                    .map(|a| AckJson {
                        tip: a.tip.to_string(),
                        tip_sealed: a.tip_sealed,
                        followups: a.followups.clone(),
                        tip_digest: a.tip_digest.as_ref().map(digest_to_hex),
                        followup_digests: a.followup_digests.iter().map(digest_to_hex).collect(),
                    })
                    .collect(),
            ),
            None,
        ),
    };
    let office = payload.office.as_ref().map(OfficeId::to_string);
    let json = serde_json::to_vec(&PayloadJson {
        kind: kind.into(),
        office: office.clone(),
        sequence: payload.sequence,
        made_on: payload.made_on.to_string(),
        updates,
        acks,
        moves,
    })
    .expect("plain data serializes");
    let mut message = SIGNATURE_LABEL.to_vec();
    message.extend_from_slice(&json);
    let envelope = Envelope {
        format: SIGNED_FORMAT.into(),
        version: SIGNED_VERSION,
        office,
        payload: STANDARD.encode(&json),
        signature: STANDARD.encode(key.sign(&message)),
    };
    serde_json::to_vec_pretty(&envelope).expect("plain data serializes")
}

/// Why a signed bundle was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignedBundleError {
    /// Not our format.
    #[error("this is not a whistlebox signed bundle ({0})")]
    Malformed(String),
    /// Another version.
    #[error("this signed bundle has version {0}, which this server does not read")]
    UnknownVersion(u32),
    /// The signature does not verify with the inspectors' key.
    #[error("the signature does not match the key of the office it names: the bundle was altered or made with another key")]
    BadSignature,
}

/// The office a signed bundle says it comes from (`None`: the county's key made before
/// offices), read from its envelope to pick the key [`verify_bundle`] checks it with. Not
/// to be trusted before that check, which also requires the signed payload to say the same.
pub fn bundle_office(bytes: &[u8]) -> Result<Option<OfficeId>, SignedBundleError> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        office: Option<String>,
    }
    let head: Head = serde_json::from_slice(bytes)
        .map_err(|_| SignedBundleError::Malformed("not the expected JSON".into()))?;
    head.office
        .map(|o| o.parse::<OfficeId>())
        .transpose()
        .map_err(|_| SignedBundleError::Malformed("the office id is not valid".into()))
}

/// Verifies a signed bundle against the inspectors' key and reads it. Nothing in the
/// payload is looked at before the signature checks out.
pub fn verify_bundle(
    bytes: &[u8],
    key: &SignPublicKey,
) -> Result<(Signed, SignedPayload), SignedBundleError> {
    let malformed = |what: &str| SignedBundleError::Malformed(what.to_owned());
    let env: Envelope =
        serde_json::from_slice(bytes).map_err(|_| malformed("not the expected JSON"))?;
    if env.format != SIGNED_FORMAT {
        return Err(malformed("wrong format name"));
    }
    if env.version != SIGNED_VERSION {
        return Err(SignedBundleError::UnknownVersion(env.version));
    }
    let payload = STANDARD
        .decode(&env.payload)
        .map_err(|_| malformed("the payload is not base64"))?;
    let signature = STANDARD
        .decode(&env.signature)
        .map_err(|_| malformed("the signature is not base64"))?;
    let mut message = SIGNATURE_LABEL.to_vec();
    message.extend_from_slice(&payload);
    key.verify(&message, &signature)
        .map_err(|_| SignedBundleError::BadSignature)?;
    let signed = Signed {
        sequence: 0,
        digest: crypto::blake2b(None, &[&payload]),
    };
    let p: PayloadJson = serde_json::from_slice(&payload)
        .map_err(|_| malformed("the payload is not the expected JSON"))?;
    let made_on = p
        .made_on
        .parse::<Day>()
        .map_err(|_| malformed("the day is not valid"))?;
    if p.kind != "moves" && p.moves.is_some() {
        return Err(malformed("the payload mixes moves with other entries"));
    }
    let content = match (p.kind.as_str(), p.updates, p.acks) {
        ("updates", Some(list), None) if list.len() <= MAX_SIGNED_ENTRIES => {
            SignedContent::Updates(
                list.into_iter()
                    .map(|u| {
                        let reply = match u.reply {
                            Some(r) => Some(
                                STANDARD
                                    .decode(r)
                                    .ok()
                                    .filter(|r| plausible_sealed_reply(r))
                                    .ok_or_else(|| malformed("a reply is not a sealed message"))?,
                            ),
                            None => None,
                        };
                        Ok(Update {
                            tip: u
                                .tip
                                .parse()
                                .map_err(|_| malformed("a tip id is not valid"))?,
                            status: u
                                .status
                                .parse()
                                .map_err(|_| malformed("a status is not valid"))?,
                            reply,
                        })
                    })
                    .collect::<Result<_, SignedBundleError>>()?,
            )
        }
        ("ack", None, Some(list)) if list.len() <= MAX_SIGNED_ENTRIES => SignedContent::Ack(
            list.into_iter()
                .map(|a| {
                    let bad_digest = || malformed("a digest is not valid");
                    let tip_digest = match &a.tip_digest {
                        Some(d) => Some(digest_from_hex(d).ok_or_else(bad_digest)?),
                        None => None,
                    };
                    let followup_digests = a
                        .followup_digests
                        .iter()
                        .map(|d| digest_from_hex(d).ok_or_else(bad_digest))
                        .collect::<Result<Vec<_>, _>>()?;
                    if !followup_digests.is_empty() && followup_digests.len() != a.followups.len() {
                        return Err(malformed(
                            "the follow-up digests do not match the follow-ups",
                        ));
                    }
                    Ok(Ack {
                        tip: a
                            .tip
                            .parse()
                            .map_err(|_| malformed("a tip id is not valid"))?,
                        tip_sealed: a.tip_sealed,
                        followups: a.followups,
                        tip_digest,
                        followup_digests,
                    })
                })
                .collect::<Result<_, SignedBundleError>>()?,
        ),
        ("moves", None, None)
            if p.moves
                .as_ref()
                .is_some_and(|l| l.len() <= MAX_SIGNED_ENTRIES) =>
        {
            SignedContent::Moves(
                p.moves
                    .into_iter()
                    .flatten()
                    .map(read_move)
                    .collect::<Result<_, SignedBundleError>>()?,
            )
        }
        _ => {
            return Err(malformed(
                "the payload is neither updates, an ack nor moves",
            ))
        }
    };
    let office = p
        .office
        .map(|o| o.parse::<OfficeId>())
        .transpose()
        .map_err(|_| malformed("the office id is not valid"))?;
    if office != env.office.as_deref().and_then(|o| o.parse().ok()) {
        return Err(malformed(
            "the office named outside the signature is not the one signed",
        ));
    }
    Ok((
        Signed {
            sequence: p.sequence,
            ..signed
        },
        SignedPayload {
            office,
            sequence: p.sequence,
            made_on,
            content,
        },
    ))
}

fn read_move(m: MoveJson) -> Result<MoveRequest, SignedBundleError> {
    let malformed = |what: &str| SignedBundleError::Malformed(what.to_owned());
    let sealed = match m.sealed {
        Some(text) => Some(
            SealedTip::from_base64(&text, usize::MAX)
                .map_err(|_| malformed("a moved tip is not a sealed box"))?,
        ),
        None => None,
    };
    let stanza = match m.stanza {
        Some(text) => Some(
            STANDARD
                .decode(text)
                .ok()
                .filter(|s| s.len() == crate::domain::office::WRAPPED_STANZA_BYTES)
                .ok_or_else(|| malformed("a key stanza is not valid"))?,
        ),
        None => None,
    };
    let signature = match m.signature {
        Some(text) => Some(
            STANDARD
                .decode(text)
                .ok()
                .filter(|s| s.len() == crypto::SIGNATURE_BYTES)
                .ok_or_else(|| malformed("a move's signature is not valid"))?,
        ),
        None => None,
    };
    Ok(MoveRequest {
        tip: m
            .tip
            .parse()
            .map_err(|_| malformed("a tip id is not valid"))?,
        to: m
            .to
            .parse()
            .map_err(|_| malformed("an office id is not valid"))?,
        sealed,
        stanza,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SEAL_OVERHEAD;
    use crate::domain::tip::PAD_BLOCK;

    fn tip(id: u8) -> StoredTip {
        StoredTip {
            id: TipId([id; 8]),
            day: Day(20_000),
            status: Status::Received,
            sealed: Some(
                SealedTip::from_bytes(vec![id; SEAL_OVERHEAD + PAD_BLOCK], usize::MAX).unwrap(),
            ),
            sealed_reply_key: None,
            grant: None,
            followups: vec![],
            attachments: vec![],
        }
    }

    fn sealed_b64(fill: u8) -> String {
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            vec![fill; SEAL_OVERHEAD + PAD_BLOCK],
        )
    }

    /// Version 4: evidence files travel with their tip and follow-up, and a file that is
    /// not a blob refuses its entry alone.
    #[test]
    fn attachments_travel_with_tips_and_followups() {
        crypto::init().unwrap();
        let blob = |b: &[u8]| attachment::seal_file(b).unwrap().blob;
        let mut t = tip(1);
        t.attachments = vec![blob(b"photo"), blob(&[9; 70_000])];
        t.followups = vec![Followup {
            n: 1,
            day: Day(20_001),
            sealed: SealedTip::from_bytes(vec![2; SEAL_OVERHEAD + PAD_BLOCK], usize::MAX).unwrap(),
            attachments: vec![blob(b"voice")],
        }];
        let bundle = write_export(Day(20_002), &[t.clone(), tip(2)]);
        let back = parse_export(&bundle, &BundleLimits::default()).unwrap();
        assert_eq!(back.tips, vec![t.clone(), tip(2)]);
        assert!(back.rejected.is_empty());
        let text = String::from_utf8(bundle).unwrap();
        let cut = STANDARD.encode(&t.attachments[0][..100]);
        let bad = text.replacen(&STANDARD.encode(&t.attachments[0]), &cut, 1);
        let back = parse_export(bad.as_bytes(), &BundleLimits::default()).unwrap();
        assert_eq!(back.tips, vec![tip(2)]);
        assert!(
            back.rejected[0].reason.contains("not an encrypted file"),
            "{:?}",
            back.rejected
        );
    }

    /// Read in place, a bundle gives the same entries, and each file is where it says,
    /// with its digest; the tips hold no decoded copy.
    #[test]
    fn files_read_in_place_are_the_same_files() {
        crypto::init().unwrap();
        let blob = |b: &[u8]| attachment::seal_file(b).unwrap().blob;
        let mut t = tip(1);
        t.attachments = vec![blob(b"photo"), blob(&[9; 70_000])];
        t.followups = vec![Followup {
            n: 4,
            day: Day(20_001),
            sealed: SealedTip::from_bytes(vec![2; SEAL_OVERHEAD + PAD_BLOCK], usize::MAX).unwrap(),
            attachments: vec![blob(b"voice")],
        }];
        let bundle = write_export(Day(20_002), &[tip(2), t.clone()]);
        let whole = parse_export(&bundle, &BundleLimits::default()).unwrap();
        let placed = parse_export_in_place(&bundle, &BundleLimits::default()).unwrap();
        assert!(whole.blobs.is_empty());
        assert_eq!(placed.tips.len(), 2);
        assert_eq!(placed.blobs.len(), 2);
        assert!(placed
            .tips
            .iter()
            .all(|t| t.attachments.is_empty()
                && t.followups.iter().all(|f| f.attachments.is_empty())));
        assert_eq!(placed.blobs[0], EntryBlobs::default());
        let spans = &placed.blobs[1];
        let decoded: Vec<Vec<u8>> = spans
            .tip
            .iter()
            .map(|s| s.decode(&bundle).unwrap())
            .collect();
        assert_eq!(decoded, t.attachments);
        assert_eq!(
            spans.tip[1].digest,
            attachment::blob_digest(&t.attachments[1])
        );
        assert_eq!(spans.tip[1].len, t.attachments[1].len() as u64);
        assert_eq!(spans.followups.len(), 1);
        assert_eq!(
            spans.followups[0][0].decode(&bundle).unwrap(),
            t.followups[0].attachments[0]
        );
        // Other bytes than the bundle's give nothing.
        assert_eq!(spans.tip[0].decode(b"short"), None);
        let mut other = bundle.clone();
        other[spans.tip[0].range.start + 10] ^= 1;
        assert_eq!(spans.tip[0].decode(&other), None);
        // A refused entry is refused in both readings, and the blobs stay beside their tips.
        let text = String::from_utf8(bundle).unwrap();
        let cut = STANDARD.encode(&t.attachments[0][..100]);
        let bad = write_export(Day(20_002), &[t.clone(), tip(2), tip(3)]);
        let bad =
            String::from_utf8(bad)
                .unwrap()
                .replacen(&STANDARD.encode(&t.attachments[0]), &cut, 1);
        for parsed in [
            parse_export(bad.as_bytes(), &BundleLimits::default()).unwrap(),
            parse_export_in_place(bad.as_bytes(), &BundleLimits::default()).unwrap(),
        ] {
            assert_eq!(parsed.tips.len(), 2);
            assert_eq!(parsed.rejected.len(), 1);
        }
        // JSON may escape a slash; such a file is refused as not text in both readings.
        let escaped = text.replacen('/', "\\/", 1);
        if escaped != text {
            let a = parse_export(escaped.as_bytes(), &BundleLimits::default()).unwrap();
            let b = parse_export_in_place(escaped.as_bytes(), &BundleLimits::default()).unwrap();
            assert_eq!(a.rejected, b.rejected);
            assert_eq!(a.tips.len(), b.tips.len());
        }
    }

    /// Version 2 bundles, from servers before offices, are still read.
    #[test]
    fn export_format_v2_still_reads() {
        let mut t = tip(1);
        t.sealed_reply_key = Some(vec![5, 5, 5]);
        t.followups = vec![Followup {
            n: 1,
            day: Day(20_002),
            sealed: SealedTip::from_bytes(vec![2; SEAL_OVERHEAD + PAD_BLOCK], usize::MAX).unwrap(),
            attachments: vec![],
        }];
        let old = format!(
            "{{\"format\":\"whistlebox-export\",\"version\":2,\"exported_on\":\"2024-10-07\",\"tip_count\":1,\
             \"tips\":[{{\"id\":\"0101010101010101\",\"day\":\"2024-10-04\",\"status\":\"received\",\"sealed\":\"{}\",\
             \"reply_key\":\"BQUF\",\"followups\":[{{\"n\":1,\"day\":\"2024-10-06\",\"sealed\":\"{}\"}}]}}]}}",
            sealed_b64(1),
            sealed_b64(2)
        );
        let back = parse_export(old.as_bytes(), &BundleLimits::default()).unwrap();
        assert_eq!(back.tips, vec![t]);
        assert_eq!(back.office, None);
    }

    /// Fixed-output test of the export bundle, version 3 (the office it is for, and the key
    /// stanza of a moved tip). Do not change this test if it fails: the offline machine may
    /// run an older whistlebox than the server.
    #[test]
    fn export_format_v4_is_fixed() {
        let mut t = tip(1);
        t.sealed_reply_key = Some(vec![5, 5, 5]);
        let grant = crate::domain::office::Grant {
            by: "county".parse().unwrap(),
            signature: vec![6; 64],
            key: crate::domain::office::GrantKey::Open(vec![6; crypto::STANZA_BYTES]),
        }
        .encode();
        t.grant = Some(grant.clone());
        t.followups = vec![Followup {
            n: 1,
            day: Day(20_002),
            sealed: SealedTip::from_bytes(vec![2; SEAL_OVERHEAD + PAD_BLOCK], usize::MAX).unwrap(),
            attachments: vec![],
        }];
        let town: OfficeId = "dongshan".parse().unwrap();
        let mut out = export_head(Day(20_003), &town, 1);
        out.extend(export_entry(true, &t));
        out.extend_from_slice(EXPORT_TAIL);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            format!(
                "{{\"format\":\"whistlebox-export\",\"version\":4,\"exported_on\":\"2024-10-07\",\"office\":\"dongshan\",\"tip_count\":1,\
                 \"tips\":[{{\"id\":\"0101010101010101\",\"day\":\"2024-10-04\",\"status\":\"received\",\"sealed\":\"{}\",\
                 \"reply_key\":\"BQUF\",\"grant\":\"{}\",\"followups\":[{{\"n\":1,\"day\":\"2024-10-06\",\"sealed\":\"{}\"}}]}}]}}",
                sealed_b64(1),
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &grant),
                sealed_b64(2)
            )
        );
        let back = parse_export(out.as_bytes(), &BundleLimits::default()).unwrap();
        assert_eq!(back.tips, vec![t]);
        assert_eq!(back.office, Some(town));
    }

    /// Signed bundles name their office inside the signature; an envelope naming another
    /// office than the payload is refused, and moves travel intact.
    #[test]
    fn signed_bundles_carry_their_office_and_moves() {
        crypto::init().unwrap();
        let key = SignSecretKey::generate();
        let town: OfficeId = "dongshan".parse().unwrap();
        let payload = SignedPayload {
            office: Some(town.clone()),
            sequence: 4,
            made_on: Day(20_000),
            content: SignedContent::Moves(vec![
                MoveRequest {
                    tip: TipId([1; 8]),
                    to: "county".parse().unwrap(),
                    sealed: None,
                    stanza: None,
                    signature: None,
                },
                MoveRequest {
                    tip: TipId([2; 8]),
                    to: "xishan".parse().unwrap(),
                    sealed: Some(tip(2).sealed.unwrap()),
                    stanza: Some(vec![7; crate::domain::office::WRAPPED_STANZA_BYTES]),
                    signature: Some(vec![8; crypto::SIGNATURE_BYTES]),
                },
            ]),
        };
        let bytes = sign_bundle(&payload, &key);
        assert_eq!(bundle_office(&bytes).unwrap(), Some(town));
        let (_, back) = verify_bundle(&bytes, &key.public_key()).unwrap();
        assert_eq!(back, payload);
        let mut env: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        env["office"] = "xishan".into();
        let relabelled = serde_json::to_vec(&env).unwrap();
        assert!(matches!(
            verify_bundle(&relabelled, &key.public_key()).unwrap_err(),
            SignedBundleError::Malformed(_)
        ));
        env.as_object_mut().unwrap().remove("office");
        let unlabelled = serde_json::to_vec(&env).unwrap();
        assert_eq!(bundle_office(&unlabelled).unwrap(), None);
        assert!(verify_bundle(&unlabelled, &key.public_key()).is_err());
    }

    /// Version 1 bundles, from servers before replies existed, are still read.
    #[test]
    fn export_format_v1_still_reads() {
        let sealed = sealed_b64(1);
        let out = format!(
                "{{\"format\":\"whistlebox-export\",\"version\":1,\"exported_on\":\"2024-10-05\",\"tip_count\":1,\
                 \"tips\":[{{\"id\":\"0101010101010101\",\"day\":\"2024-10-04\",\"status\":\"received\",\"sealed\":\"{sealed}\"}}]}}"
            );
        let back = parse_export(out.as_bytes(), &BundleLimits::default()).unwrap();
        assert_eq!(back.tips, vec![tip(1)]);
        assert_eq!(back.exported_on, Some(Day(20_001)));
    }

    #[test]
    fn bad_entries_are_listed_and_good_ones_kept() {
        let good = String::from_utf8(write_export(Day(1), &[tip(2)])).unwrap();
        let hostile = good.replace(
            "\"tips\":[",
            "\"tips\":[{\"id\":\"../../../etc\",\"day\":\"2024-01-01\",\"status\":\"received\",\"sealed\":\"AA==\"},\
             {\"id\":\"0303030303030303\",\"day\":\"nope\",\"status\":\"received\",\"sealed\":\"AA==\"},\
             {\"id\":\"0202020202020202\",\"day\":\"2024-01-01\",\"status\":\"received\",\"sealed\":\"!!\"},\
             42,",
        );
        let parsed = parse_export(hostile.as_bytes(), &BundleLimits::default()).unwrap();
        assert_eq!(parsed.tips, vec![tip(2)]);
        assert_eq!(parsed.rejected.len(), 4);
        assert_eq!(parsed.rejected[0].id, None);
        assert_eq!(parsed.rejected[1].id, Some(TipId([3; 8])));
    }

    #[test]
    fn whole_bundle_refusals() {
        let l = BundleLimits::default();
        assert!(matches!(
            parse_export(b"", &l),
            Err(BundleError::Malformed(_))
        ));
        assert!(matches!(
            parse_export(b"[[[[", &l),
            Err(BundleError::Malformed(_))
        ));
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse_export(deep.as_bytes(), &l),
            Err(BundleError::Malformed(_))
        ));
        let other = br#"{"format":"whistlebox-export","version":7,"tips":[]}"#;
        let v1_null = br#"{"format":"whistlebox-export","version":1,"tips":[{"id":"0101010101010101","day":"2024-10-04","status":"received","sealed":null}]}"#;
        assert_eq!(parse_export(v1_null, &l).unwrap().rejected.len(), 1);
        assert_eq!(
            parse_export(other, &l).unwrap_err(),
            BundleError::UnknownVersion(7)
        );
        let small = BundleLimits {
            max_bundle_bytes: 10,
            ..l
        };
        assert_eq!(
            parse_export(other, &small).unwrap_err(),
            BundleError::TooLarge(10)
        );
        let dup = String::from_utf8(write_export(Day(1), &[tip(5), tip(5)])).unwrap();
        let parsed = parse_export(dup.as_bytes(), &l).unwrap();
        assert_eq!((parsed.tips.len(), parsed.rejected.len()), (1, 1));
    }

    /// A JSON tool may sort the keys ("format", "tips", "version"): still read, and the
    /// version's rules still apply to the entries read before it.
    #[test]
    fn tips_before_the_version_still_read() {
        let sealed = sealed_b64(1);
        let followups = format!(
            r#"[{{"day":"2024-10-05","n":1,"sealed":"{}"}}]"#,
            sealed_b64(2)
        );
        let entry = |id: &str, s: &str| {
            format!(
                r#"{{"day":"2024-10-04","followups":{followups},"id":"{id}","sealed":{s},"status":"received"}}"#
            )
        };
        for version in [1, 2] {
            let out = format!(
                r#"{{"format":"whistlebox-export","tips":[{},{}],"version":{version}}}"#,
                entry("0101010101010101", &format!("\"{sealed}\"")),
                entry("0202020202020202", "null"),
            );
            let back = parse_export(out.as_bytes(), &BundleLimits::default()).unwrap();
            assert_eq!(back.tips[0].id, TipId([1; 8]));
            // An acked tip with a follow-up: kept in version 2, refused in version 1.
            let (taken, refused) = if version == 1 { (1, 1) } else { (2, 0) };
            assert_eq!(
                (back.tips.len(), back.rejected.len()),
                (taken, refused),
                "v{version}"
            );
        }
        let wrong = br#"{"tips":[1,2,3],"format":"other","version":2}"#;
        assert!(matches!(
            parse_export(wrong, &BundleLimits::default()),
            Err(BundleError::Malformed(_))
        ));
        let no_version = br#"{"format":"whistlebox-export","tips":[]}"#;
        assert!(matches!(
            parse_export(no_version, &BundleLimits::default()),
            Err(BundleError::Malformed(_))
        ));
    }

    /// A huge array of junk is refused as a whole, without holding an entry for each.
    #[test]
    fn a_huge_junk_array_is_refused() {
        let mut out = br#"{"format":"whistlebox-export","version":2,"tips":["#.to_vec();
        for _ in 0..MAX_REJECTED_ENTRIES + 1 {
            out.extend_from_slice(b"0,");
        }
        out.extend_from_slice(b"0]}");
        assert_eq!(
            parse_export(&out, &BundleLimits::default()).unwrap_err(),
            BundleError::TooManyRejected(MAX_REJECTED_ENTRIES)
        );
        let few = BundleLimits {
            max_tips: 3,
            ..BundleLimits::default()
        };
        assert_eq!(
            parse_export(&out, &few).unwrap_err(),
            BundleError::TooManyTips(3)
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let whole = parse_export(&bytes, &BundleLimits::default());
            // Read in place, the same bytes give the same entries, or the same refusal.
            let placed = parse_export_in_place(&bytes, &BundleLimits::default());
            match (whole, placed) {
                (Ok(a), Ok(b)) => {
                    proptest::prop_assert_eq!(a.rejected, b.rejected);
                    proptest::prop_assert_eq!(a.tips.len(), b.tips.len());
                    proptest::prop_assert_eq!(b.blobs.len(), b.tips.len());
                }
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a, b),
                (a, b) => proptest::prop_assert!(false, "{:?} but {:?}", a.is_ok(), b.is_ok()),
            }
        }
    }

    fn keys() -> crypto::SignSecretKey {
        crypto::init().unwrap();
        crypto::SignSecretKey::generate()
    }

    fn payload() -> SignedPayload {
        SignedPayload {
            office: None,
            sequence: 7,
            made_on: Day(20_010),
            content: SignedContent::Updates(vec![Update {
                tip: TipId([1; 8]),
                status: Status::NeedInfo,
                reply: Some(vec![3; SEAL_OVERHEAD + PAD_BLOCK]),
            }]),
        }
    }

    #[test]
    fn signed_bundles_round_trip() {
        let key = keys();
        let bytes = sign_bundle(&payload(), &key);
        let (signed, back) = verify_bundle(&bytes, &key.public_key()).unwrap();
        assert_eq!(back, payload());
        assert_eq!(signed.sequence, 7);
        let ack = SignedPayload {
            office: None,
            sequence: 8,
            made_on: Day(20_011),
            content: SignedContent::Ack(vec![Ack {
                tip: TipId([1; 8]),
                tip_sealed: true,
                followups: vec![1, 2],
                tip_digest: None,
                followup_digests: vec![],
            }]),
        };
        let (_, back) = verify_bundle(&sign_bundle(&ack, &key), &key.public_key()).unwrap();
        assert_eq!(back, ack);
        // With the digests of what was opened.
        let digested = SignedPayload {
            office: None,
            sequence: 9,
            made_on: Day(20_011),
            content: SignedContent::Ack(vec![Ack {
                tip: TipId([1; 8]),
                tip_sealed: true,
                followups: vec![1, 2],
                tip_digest: Some([0xab; 32]),
                followup_digests: vec![[1; 32], [2; 32]],
            }]),
        };
        let bytes = sign_bundle(&digested, &key);
        let (_, back) = verify_bundle(&bytes, &key.public_key()).unwrap();
        assert_eq!(back, digested);
        assert_eq!(
            digest_from_hex(&digest_to_hex(&[0xab; 32])),
            Some([0xab; 32])
        );
        assert_eq!(digest_from_hex(&"AB".repeat(32)), None);
        assert_eq!(digest_from_hex("ab"), None);
    }

    #[test]
    fn tampered_or_foreign_bundles_are_refused() {
        let key = keys();
        let bytes = sign_bundle(&payload(), &key);
        let other = crypto::SignSecretKey::generate();
        assert_eq!(
            verify_bundle(&bytes, &other.public_key()).unwrap_err(),
            SignedBundleError::BadSignature
        );
        // Change the status inside the signed payload: the signature no longer matches.
        let env: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
        let forged = String::from_utf8(payload)
            .unwrap()
            .replace("need_info", "referred");
        let mut env2 = env.clone();
        env2["payload"] = STANDARD.encode(forged).into();
        assert_eq!(
            verify_bundle(env2.to_string().as_bytes(), &key.public_key()).unwrap_err(),
            SignedBundleError::BadSignature
        );
        for junk in [&b""[..], b"{}", b"[1,2]"] {
            assert!(matches!(
                verify_bundle(junk, &key.public_key()).unwrap_err(),
                SignedBundleError::Malformed(_)
            ));
        }
    }

    proptest::proptest! {
        #[test]
        fn flipping_any_byte_of_a_signed_payload_fails(pos in 0usize..200) {
            let key = keys();
            let bytes = sign_bundle(&payload(), &key);
            let env: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let mut p = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
            let i = pos % p.len();
            p[i] ^= 0x01;
            let mut env2 = env.clone();
            env2["payload"] = STANDARD.encode(&p).into();
            proptest::prop_assert!(verify_bundle(env2.to_string().as_bytes(), &key.public_key()).is_err());
        }
    }
}
