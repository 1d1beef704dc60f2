//! Receipt tickets: how a browser gets its receipt before it seals the tip, so that the
//! receipt's reply key can go inside the seal.
//!
//! `POST /api/v1/receipts` draws a receipt, derives its lookup and reply key (one Argon2id
//! run), and answers the receipt, the reply public key and a ticket: the lookup in a secret
//! box under a random key that lives only in this process's memory. The browser seals the
//! tip with the reply key inside and posts it with the ticket; the server opens the ticket
//! to file the tip under its lookup, with no second Argon2id run and nothing kept in
//! between. The key is replaced every hour (the one before stays valid for another hour),
//! so a ticket lives one to two hours, and a restart voids every ticket: the page then
//! simply asks for a new receipt. A ticket used twice finds its lookup taken and is refused.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use thiserror::Error;

use super::receipt::ReceiptLookup;
use crate::crypto::EphemeralKey;

/// How long one ticket key is used before it is replaced.
const KEY_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Longest ticket text looked at.
const MAX_TICKET_CHARS: usize = 256;

/// Why a ticket was refused.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum TicketError {
    /// Not a ticket this server made, or one from before a restart or over two hours old.
    #[error("The page waited too long, or the service restarted. Nothing was saved. Please press send again.")]
    Expired,
}

struct Keys {
    current: EphemeralKey,
    previous: Option<EphemeralKey>,
    born: Instant,
}

/// Issues and redeems tickets. One per running server.
pub struct Tickets {
    keys: RwLock<Keys>,
}

impl Default for Tickets {
    fn default() -> Self {
        Self::new()
    }
}

impl Tickets {
    /// Fresh keys.
    pub fn new() -> Self {
        Self {
            keys: RwLock::new(Keys {
                current: EphemeralKey::generate(),
                previous: None,
                born: Instant::now(),
            }),
        }
    }

    fn rotate_if_old(&self, now: Instant) {
        let old = |keys: &Keys| now.saturating_duration_since(keys.born) >= KEY_LIFETIME;
        if old(&self.keys.read().unwrap_or_else(|p| p.into_inner())) {
            let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
            if old(&keys) {
                let fresh = EphemeralKey::generate();
                keys.previous = Some(std::mem::replace(&mut keys.current, fresh));
                keys.born = now;
            }
        }
    }

    /// A ticket for a lookup, in standard base64.
    pub fn issue(&self, lookup: &ReceiptLookup) -> String {
        self.issue_at(lookup, Instant::now())
    }

    fn issue_at(&self, lookup: &ReceiptLookup, now: Instant) -> String {
        self.rotate_if_old(now);
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        STANDARD.encode(keys.current.encrypt(&lookup.0))
    }

    /// The lookup a ticket stands for.
    pub fn redeem(&self, ticket: &str) -> Result<ReceiptLookup, TicketError> {
        self.redeem_at(ticket, Instant::now())
    }

    fn redeem_at(&self, ticket: &str, now: Instant) -> Result<ReceiptLookup, TicketError> {
        self.rotate_if_old(now);
        if ticket.len() > MAX_TICKET_CHARS {
            return Err(TicketError::Expired);
        }
        let raw = STANDARD
            .decode(ticket.trim())
            .map_err(|_| TicketError::Expired)?;
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let opened = keys
            .current
            .decrypt(&raw)
            .or_else(|e| keys.previous.as_ref().ok_or(e)?.decrypt(&raw))
            .map_err(|_| TicketError::Expired)?;
        <[u8; 32]>::try_from(&opened[..])
            .map(ReceiptLookup)
            .map_err(|_| TicketError::Expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto;

    #[test]
    fn a_ticket_gives_back_its_lookup_for_up_to_two_key_lifetimes() {
        crypto::init().unwrap();
        let tickets = Tickets::new();
        let lookup = ReceiptLookup([4; 32]);
        let start = Instant::now();
        let ticket = tickets.issue_at(&lookup, start);
        assert_eq!(tickets.redeem_at(&ticket, start).unwrap(), lookup);
        let later = start + KEY_LIFETIME;
        assert_eq!(
            tickets.redeem_at(&ticket, later).unwrap(),
            lookup,
            "previous key"
        );
        let much_later = later + KEY_LIFETIME;
        assert_eq!(
            tickets.redeem_at(&ticket, much_later),
            Err(TicketError::Expired)
        );
    }

    #[test]
    fn foreign_or_damaged_tickets_are_refused() {
        crypto::init().unwrap();
        let tickets = Tickets::new();
        let ticket = Tickets::new().issue(&ReceiptLookup([1; 32]));
        assert_eq!(tickets.redeem(&ticket), Err(TicketError::Expired));
        for bad in ["", "!!", "AAAA", &"A".repeat(1000)] {
            assert_eq!(tickets.redeem(bad), Err(TicketError::Expired));
        }
        let mut raw = STANDARD
            .decode(tickets.issue(&ReceiptLookup([1; 32])))
            .unwrap();
        raw[40] ^= 1;
        assert_eq!(
            tickets.redeem(&STANDARD.encode(raw)),
            Err(TicketError::Expired)
        );
    }
}
