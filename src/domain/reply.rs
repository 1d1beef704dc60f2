//! What the inspectors say back: status updates, replies sealed to a receipt's reply key, and
//! acks of what they hold. Made and signed offline; the server only verifies and stores.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::tip::{OpenError, PAD_BLOCK};
use super::{Status, TipId};
use crate::crypto::{self, CryptoError, Opener, Sealer, SEAL_OVERHEAD};

/// Version of the reply plaintext.
pub const REPLY_VERSION: u32 = 1;
/// Longest reply text, in bytes.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// A reply to a resident: `{"v":1,"message":"..."}`, padded like a tip, sealed to the
/// receipt's reply key.
#[derive(Serialize, Deserialize)]
pub struct ReplyPlaintext {
    /// Format version.
    pub v: u32,
    /// The inspectors' words.
    pub message: String,
}

impl fmt::Debug for ReplyPlaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplyPlaintext({} bytes)", self.message.len())
    }
}

impl Drop for ReplyPlaintext {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.message.zeroize();
    }
}

impl ReplyPlaintext {
    /// A reply.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            v: REPLY_VERSION,
            message: message.into(),
        }
    }

    /// Seals the reply to a resident's reply key.
    pub fn seal(&self, key: &impl Sealer) -> Result<Vec<u8>, CryptoError> {
        let json = Zeroizing::new(serde_json::to_vec(self).expect("a string serializes"));
        let padded = crypto::pad(&json, PAD_BLOCK)?;
        Ok(key.seal(&padded))
    }

    /// Opens a sealed reply with the reply key derived from the receipt.
    pub fn open(sealed: &[u8], key: &impl Opener) -> Result<Self, OpenError> {
        let padded = key.open(sealed).map_err(|_| OpenError::DecryptionFailed)?;
        let len = crypto::unpad(&padded, PAD_BLOCK).map_err(|_| OpenError::BadPadding)?;
        let reply: Self = serde_json::from_slice(&padded[..len])
            .map_err(|_| OpenError::BadContent("not the expected JSON".into()))?;
        if reply.v != REPLY_VERSION {
            return Err(OpenError::BadContent(format!(
                "unknown version {}",
                reply.v
            )));
        }
        Ok(reply)
    }
}

/// Checks that bytes could be a sealed reply (a sealed, padded plaintext of bounded size).
pub fn plausible_sealed_reply(bytes: &[u8]) -> bool {
    bytes
        .len()
        .checked_sub(SEAL_OVERHEAD)
        .is_some_and(|n| n >= PAD_BLOCK && n % PAD_BLOCK == 0 && n <= MAX_REPLY_BYTES + PAD_BLOCK)
}

/// Identity of a signed bundle: its sequence number and a digest of its signed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed {
    /// Strictly increasing across the inspectors' bundles.
    pub sequence: u64,
    /// BLAKE2b of the payload.
    pub digest: [u8; 32],
}

/// One status change, with an optional sealed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The tip.
    pub tip: TipId,
    /// Its new status.
    pub status: Status,
    /// A reply sealed to the resident's reply key.
    pub reply: Option<Vec<u8>>,
}

/// What the inspectors hold of one tip, so the server may delete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The tip.
    pub tip: TipId,
    /// Whether the tip itself was decrypted.
    pub tip_sealed: bool,
    /// Numbers of the follow-ups decrypted.
    pub followups: Vec<u32>,
    /// [`sealed_digest`] of the sealed tip that was opened, when known: the server deletes
    /// its own copy only if it is that one, so a tip swapped on the way to the inspectors
    /// cannot get the resident's unread one deleted.
    pub tip_digest: Option<[u8; 32]>,
    /// [`sealed_digest`] of each follow-up in `followups`, in the same order; empty when
    /// not known (acks made by older tools), and then numbers alone decide.
    pub followup_digests: Vec<[u8; 32]>,
}

/// The digest that names one sealed box (a tip or a follow-up) between the inspectors'
/// folder, their acks and the server: BLAKE2b-256 under a label of its own.
pub fn sealed_digest(sealed: &[u8]) -> [u8; 32] {
    crypto::blake2b::<32>(None, &[b"whistlebox sealed v1", sealed])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::BoxSecretKey;

    #[test]
    fn replies_round_trip_and_only_open_with_their_key() {
        crypto::init().unwrap();
        let key = BoxSecretKey::from_seed(&[9; 32]);
        let sealed = ReplyPlaintext::new("请问是哪一年的事？")
            .seal(&key.public_key())
            .unwrap();
        assert!(plausible_sealed_reply(&sealed));
        assert_eq!(
            ReplyPlaintext::open(&sealed, &key).unwrap().message,
            "请问是哪一年的事？"
        );
        let other = BoxSecretKey::from_seed(&[8; 32]);
        assert!(ReplyPlaintext::open(&sealed, &other).is_err());
        assert!(!plausible_sealed_reply(&sealed[..100]));
    }
}
