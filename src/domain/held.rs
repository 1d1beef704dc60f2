//! What the server holds of a tip until the inspectors ack it: the form in which tips leave
//! the store and travel in the export bundle. Only sealed data.

use super::tip::SealedTip;
use super::{Day, Status, TipId};

/// A follow-up: more words from the resident, sealed to the inspectors like a tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followup {
    /// Its number under the tip, from 1.
    pub n: u32,
    /// Day of arrival.
    pub day: Day,
    /// The sealed message.
    pub sealed: SealedTip,
    /// Its evidence files (encrypted blobs, `domain::attachment`), in upload order.
    pub attachments: Vec<Vec<u8>>,
}

/// A tip as the store exports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTip {
    /// Its random id.
    pub id: TipId,
    /// Day of arrival.
    pub day: Day,
    /// Current status.
    pub status: Status,
    /// The sealed tip, until the inspectors ack it: the carried copy when the reader got
    /// the tip by a move (see `grant`).
    pub sealed: Option<SealedTip>,
    /// The tip's key stanza for the reader, when it got the tip by a move (the stanzas of
    /// the offices the resident chose are inside `sealed`).
    pub grant: Option<Vec<u8>>,
    /// The sealed reply key, until the inspectors ack the tip.
    pub sealed_reply_key: Option<Vec<u8>>,
    /// Follow-ups not yet acked.
    pub followups: Vec<Followup>,
    /// The tip's evidence files (encrypted blobs, `domain::attachment`), in upload order,
    /// while the server holds them.
    pub attachments: Vec<Vec<u8>>,
}
