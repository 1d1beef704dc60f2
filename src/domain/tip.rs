//! Tips in their two states. A [`TipPlaintext`] exists only in a resident's browser, in the
//! server's memory for the instant a no-JavaScript form is sealed, and on the inspectors'
//! offline machine. Everything that is stored or sent is a [`SealedTip`].

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use super::attachment::{self, AttachmentRef};
use crate::crypto::{
    self, BoxPublicKey, ContentKey, CryptoError, Opener, Sealer, SEAL_OVERHEAD, SECRETBOX_OVERHEAD,
    STANZA_BYTES,
};

/// Plaintexts are padded to a multiple of this many bytes before sealing, so that a sealed
/// tip shows only which 1 KiB bucket its length falls in.
pub const PAD_BLOCK: usize = 1024;
/// Version of the sealed plaintext format.
pub const PLAINTEXT_VERSION: u32 = 1;
/// Default ceiling on one sealed tip (configurable on the server).
pub const DEFAULT_MAX_SEALED_BYTES: usize = 1024 * 1024;
/// Longest optional field value, in bytes. Generous on purpose: a field that is too long
/// must not cost the inspectors a tip that was already receipted (the pages cut fields to
/// 2,000 characters; the sealed box itself is bounded by the intake limit).
const MAX_FIELD_BYTES: usize = 1024 * 1024;
/// Most optional fields in one tip.
const MAX_FIELDS: usize = 32;

/// Why a sealed tip was refused at the door.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum SealedTipError {
    /// Nothing sent.
    #[error("The report is empty. Please write what happened and send it again.")]
    Empty,
    /// Not standard base64.
    #[error("The report did not arrive in the expected form (standard base64). Please reload the page and send it again.")]
    NotBase64,
    /// Over the size limit.
    #[error("The report is too large. Please shorten it (the limit is {max_bytes} bytes once sealed) or send it in parts.")]
    TooLarge {
        /// The limit in force.
        max_bytes: usize,
    },
    /// Wrong length for a sealed box of a padded plaintext.
    #[error("The report is not a sealed box of the expected size. Please reload the page and send it again.")]
    NotASealedBox,
}

/// Marks a box sealed to several offices (format 2). A format 1 box starts with an
/// ephemeral public key, random bytes that begin so only once in 2^32 boxes; the two
/// formats also differ in length, so one is never taken for the other.
pub const MULTI_MAGIC: &[u8; 4] = b"WBT\x02";
/// Most offices one box is sealed to.
pub const MAX_STANZAS: usize = 16;
/// Magic and the stanza count.
const MULTI_HEAD: usize = MULTI_MAGIC.len() + 1;

/// A tip sealed for the offices that may read it: the only form the server stores or
/// exports. Two formats, told apart by their first bytes and their length:
///
/// - format 1, one office: `crypto_box_seal(key, padded)`, `SEAL_OVERHEAD + k * PAD_BLOCK`
///   bytes with `k >= 1`;
/// - format 2, one to [`MAX_STANZAS`] offices: `"WBT" 0x02 || n (1 byte) || n key stanzas
///   (crypto_box_seal(content key, office key), 80 bytes each) || nonce (24) ||
///   crypto_secretbox(padded, nonce, content key)`, so `5 + 80 n + 40 + k * PAD_BLOCK` bytes.
///
/// `padded` is the plaintext padded with `sodium_pad` to a multiple of [`PAD_BLOCK`].
#[derive(Clone, PartialEq, Eq)]
pub struct SealedTip(Vec<u8>);

/// The stanza count of a format 2 box, when `bytes` has the shape of one.
fn multi_stanzas(bytes: &[u8]) -> Option<usize> {
    if !bytes.starts_with(MULTI_MAGIC) {
        return None;
    }
    let n = *bytes.get(MULTI_MAGIC.len())? as usize;
    if n == 0 || n > MAX_STANZAS {
        return None;
    }
    let body = bytes
        .len()
        .checked_sub(MULTI_HEAD + n * STANZA_BYTES + SECRETBOX_OVERHEAD)?;
    (body >= PAD_BLOCK && body % PAD_BLOCK == 0).then_some(n)
}

/// Seals padded bytes for several offices (format 2), or fails if the count is out of range.
pub fn seal_padded_to(padded: &[u8], offices: &[BoxPublicKey]) -> Result<Vec<u8>, CryptoError> {
    seal_padded_with(padded, offices).map(|(sealed, _)| sealed)
}

/// Like [`seal_padded_to`], and gives back the content key (to seal it to another office).
pub fn seal_padded_with(
    padded: &[u8],
    offices: &[BoxPublicKey],
) -> Result<(Vec<u8>, ContentKey), CryptoError> {
    if offices.is_empty() || offices.len() > MAX_STANZAS {
        return Err(CryptoError::BadKey);
    }
    let key = ContentKey::generate();
    let mut out = MULTI_MAGIC.to_vec();
    out.push(offices.len() as u8);
    for office in offices {
        out.extend_from_slice(&key.stanza_for(office));
    }
    out.extend_from_slice(&key.encrypt(padded));
    Ok((out, key))
}

impl SealedTip {
    /// Checks raw bytes: plausible length for a sealed, padded tip, within `max_bytes`.
    pub fn from_bytes(bytes: Vec<u8>, max_bytes: usize) -> Result<Self, SealedTipError> {
        if bytes.is_empty() {
            return Err(SealedTipError::Empty);
        }
        if bytes.len() > max_bytes {
            return Err(SealedTipError::TooLarge { max_bytes });
        }
        let body = bytes.len().checked_sub(SEAL_OVERHEAD);
        match body {
            Some(n) if n >= PAD_BLOCK && n % PAD_BLOCK == 0 => Ok(Self(bytes)),
            _ if multi_stanzas(&bytes).is_some() => Ok(Self(bytes)),
            _ => Err(SealedTipError::NotASealedBox),
        }
    }

    /// Checks standard base64 text, refusing oversize input before decoding it.
    pub fn from_base64(text: &str, max_bytes: usize) -> Result<Self, SealedTipError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SealedTipError::Empty);
        }
        if text.len() / 4 * 3 > max_bytes.saturating_add(3) {
            return Err(SealedTipError::TooLarge { max_bytes });
        }
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| SealedTipError::NotBase64)?;
        Self::from_bytes(bytes, max_bytes)
    }

    /// Standard base64, as on the wire.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.0)
    }

    /// The raw sealed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// How many offices a format 2 box is sealed to; `None` for format 1.
    pub fn stanza_count(&self) -> Option<usize> {
        multi_stanzas(&self.0)
    }

    /// The content key of a format 2 box, from this office's stanza inside it or from
    /// `grant` (a stanza given to the office when the tip was moved to it).
    pub fn content_key(
        &self,
        key: &impl Opener,
        grant: Option<&[u8]>,
    ) -> Result<ContentKey, OpenError> {
        let n = multi_stanzas(&self.0).ok_or(OpenError::DecryptionFailed)?;
        let stanzas = self.0[MULTI_HEAD..MULTI_HEAD + n * STANZA_BYTES].chunks(STANZA_BYTES);
        grant
            .into_iter()
            .chain(stanzas)
            .find_map(|stanza| ContentKey::from_stanza(key, stanza).ok())
            .ok_or(OpenError::DecryptionFailed)
    }

    /// The padded plaintext, opened with an office's secret key (and, for a tip moved to
    /// the office, the stanza it was granted). Wiped on drop.
    pub fn open_padded(
        &self,
        key: &impl Opener,
        grant: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        match multi_stanzas(&self.0) {
            Some(n) => {
                let content = self.content_key(key, grant)?;
                content
                    .decrypt(&self.0[MULTI_HEAD + n * STANZA_BYTES..])
                    .map_err(|_| OpenError::DecryptionFailed)
            }
            None => key.open(&self.0).map_err(|_| OpenError::DecryptionFailed),
        }
    }

    /// What a move to another office carries: the box that office will open, and the
    /// content key sealed to it. A format 2 box travels as it is (its digest, which acks
    /// name, stays the same); a format 1 box, sealed to one key only, is opened and its
    /// words sealed again in format 2 for `keeper` (the office moving it).
    pub fn for_move(
        &self,
        key: &impl Opener,
        grant: Option<&[u8]>,
        keeper: &BoxPublicKey,
        to: &BoxPublicKey,
    ) -> Result<(SealedTip, Vec<u8>), OpenError> {
        if self.stanza_count().is_some() {
            let content = self.content_key(key, grant)?;
            return Ok((self.clone(), content.stanza_for(to)));
        }
        let padded = self.open_padded(key, grant)?;
        let (sealed, content) = seal_padded_with(&padded, std::slice::from_ref(keeper))
            .map_err(|_| OpenError::DecryptionFailed)?;
        Ok((SealedTip(sealed), content.stanza_for(to)))
    }

    /// Opens the tip with an office's secret key.
    pub fn open(&self, key: &impl Opener) -> Result<TipPlaintext, OpenError> {
        self.open_granted(key, None)
    }

    /// Opens the tip with an office's secret key and, for a moved tip, its granted stanza.
    pub fn open_granted(
        &self,
        key: &impl Opener,
        grant: Option<&[u8]>,
    ) -> Result<TipPlaintext, OpenError> {
        let padded = self.open_padded(key, grant)?;
        let len = crypto::unpad(&padded, PAD_BLOCK).map_err(|_| OpenError::BadPadding)?;
        TipPlaintext::from_json(&padded[..len])
    }
}

impl fmt::Debug for SealedTip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedTip({} bytes)", self.0.len())
    }
}

/// Why a sealed tip could not be turned back into a readable one.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum OpenError {
    /// Not sealed to this key, or damaged.
    #[error("decryption failed (not sealed to this key, or damaged)")]
    DecryptionFailed,
    /// Opened, but the padding is wrong.
    #[error("the padding inside is not valid")]
    BadPadding,
    /// Opened, but not the expected JSON.
    #[error("the content is not a valid tip: {0}")]
    BadContent(String),
    /// A follow-up whose envelope was not made with the reply key bound in its tip: it did
    /// not come from the holder of the receipt, or it was changed on the way.
    #[error("this follow-up failed its check: it was not made with this tip's receipt, or it was changed on the way; it was not opened")]
    NotFromReceiptHolder,
}

/// What a resident wrote: `{"v":1,"body":"...","reply_key":"<base64>", ...optional fields}`.
#[derive(Serialize, Deserialize, PartialEq)]
pub struct TipPlaintext {
    /// Format version, always [`PLAINTEXT_VERSION`].
    pub v: u32,
    /// The text of the tip.
    pub body: String,
    /// The resident's reply public key (X25519, standard base64), derived from the receipt.
    /// It travels inside the seal, so nobody who carries or stores the sealed tip can swap
    /// it: replies are sealed to this key and to no other, and follow-ups are checked
    /// against it. Absent from tips made before it was bound (and from clients that send
    /// none): such a tip gets a receipt and a status, but no replies. Kept as sent: a value
    /// that is not a key (a v1 client may have used the name for a field of its own) leaves
    /// the tip readable, with no key bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_key: Option<serde_json::Value>,
    /// Evidence files, in upload order (`docs/attachments.md`): each names its blob's digest
    /// and carries its key. Absent when there are none, so a tip without files is exactly
    /// what it was before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
    /// Optional answers (where, who, when, amount, proof, topic, ...), kept as sent.
    #[serde(flatten)]
    pub fields: BTreeMap<String, serde_json::Value>,
}

impl fmt::Debug for TipPlaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TipPlaintext(v{}, {} bytes, {} fields, {} files)",
            self.v,
            self.body.len(),
            self.fields.len(),
            self.attachments.len()
        )
    }
}

/// Decodes a reply key as written in a tip: standard base64 of 32 bytes.
fn decode_reply_key(text: &str) -> Option<BoxPublicKey> {
    STANDARD
        .decode(text)
        .ok()
        .and_then(|raw| BoxPublicKey::from_bytes(&raw).ok())
}

impl TipPlaintext {
    /// A tip with only a body.
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            v: PLAINTEXT_VERSION,
            body: body.into(),
            reply_key: None,
            attachments: Vec::new(),
            fields: BTreeMap::new(),
        }
    }

    /// Binds the resident's reply key into the tip (before it is sealed).
    pub fn bind_reply_key(&mut self, key: &BoxPublicKey) {
        self.reply_key = Some(STANDARD.encode(key.as_bytes()).into());
    }

    /// The reply key bound inside the tip, if it has one (checked when the tip was read).
    pub fn bound_reply_key(&self) -> Option<BoxPublicKey> {
        self.reply_key
            .as_ref()
            .and_then(|k| k.as_str())
            .and_then(decode_reply_key)
    }

    /// Parses and validates the JSON inside a sealed tip.
    pub fn from_json(bytes: &[u8]) -> Result<Self, OpenError> {
        let tip: Self = serde_json::from_slice(bytes)
            .map_err(|_| OpenError::BadContent("not the expected JSON".into()))?;
        tip.validate()?;
        Ok(tip)
    }

    fn validate(&self) -> Result<(), OpenError> {
        if self.v != PLAINTEXT_VERSION {
            return Err(OpenError::BadContent(format!("unknown version {}", self.v)));
        }
        if self.body.trim().is_empty() {
            return Err(OpenError::BadContent("the body is empty".into()));
        }
        if self.reply_key.as_ref().is_some_and(
            |k| !matches!(k, serde_json::Value::String(s) if s.len() <= MAX_FIELD_BYTES),
        ) {
            return Err(OpenError::BadContent(
                "the reply key is not a short text".into(),
            ));
        }
        attachment::validate_list(&self.attachments)
            .map_err(|e| OpenError::BadContent(e.to_string()))?;
        if self.fields.len() > MAX_FIELDS {
            return Err(OpenError::BadContent("too many fields".into()));
        }
        for (name, value) in &self.fields {
            let ok_name = !name.is_empty()
                && name.len() <= 64
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok_name {
                return Err(OpenError::BadContent("a field name is not valid".into()));
            }
            let ok_value = match value {
                serde_json::Value::String(s) => s.len() <= MAX_FIELD_BYTES,
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => true,
                _ => false,
            };
            if !ok_value {
                return Err(OpenError::BadContent(format!(
                    "the field {name:?} is not a short text, number or yes/no"
                )));
            }
        }
        Ok(())
    }

    /// The JSON, padded for sealing. Wiped on drop.
    pub fn to_padded(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let json = Zeroizing::new(serde_json::to_vec(self).expect("a map of strings serializes"));
        crypto::pad(&json, PAD_BLOCK)
    }

    /// Seals the tip to one key (format 1, as v1 clients do).
    pub fn seal(&self, key: &impl Sealer) -> Result<SealedTip, CryptoError> {
        let padded = self.to_padded()?;
        Ok(SealedTip(key.seal(&padded)))
    }

    /// Seals the tip once for several offices (format 2).
    pub fn seal_to(&self, offices: &[BoxPublicKey]) -> Result<SealedTip, CryptoError> {
        let padded = self.to_padded()?;
        Ok(SealedTip(seal_padded_to(&padded, offices)?))
    }
}

impl Drop for TipPlaintext {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.body.zeroize();
        for value in self.fields.values_mut() {
            if let serde_json::Value::String(s) = value {
                s.zeroize();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::BoxSecretKey;

    #[test]
    fn seal_and_open_round_trip_with_fields() {
        crypto::init().unwrap();
        let sk = BoxSecretKey::generate();
        let mut tip = TipPlaintext::new("村主任把低保金发给了亲戚。");
        tip.fields.insert("where".into(), "东山村".into());
        let sealed = tip.seal(&sk.public_key()).unwrap();
        assert_eq!(sealed.as_bytes().len(), SEAL_OVERHEAD + PAD_BLOCK);
        let back = sealed.open(&sk).unwrap();
        assert!(back == tip);
    }

    #[test]
    fn sealed_length_checks() {
        let ok = vec![0u8; SEAL_OVERHEAD + 2 * PAD_BLOCK];
        assert!(SealedTip::from_bytes(ok.clone(), DEFAULT_MAX_SEALED_BYTES).is_ok());
        assert_eq!(
            SealedTip::from_bytes(vec![], 100).unwrap_err(),
            SealedTipError::Empty
        );
        assert_eq!(
            SealedTip::from_bytes(vec![0; SEAL_OVERHEAD + 100], DEFAULT_MAX_SEALED_BYTES)
                .unwrap_err(),
            SealedTipError::NotASealedBox
        );
        assert_eq!(
            SealedTip::from_bytes(vec![0; SEAL_OVERHEAD], DEFAULT_MAX_SEALED_BYTES).unwrap_err(),
            SealedTipError::NotASealedBox
        );
        assert_eq!(
            SealedTip::from_bytes(ok, PAD_BLOCK).unwrap_err(),
            SealedTipError::TooLarge {
                max_bytes: PAD_BLOCK
            }
        );
        assert_eq!(
            SealedTip::from_base64("not base64!!", DEFAULT_MAX_SEALED_BYTES).unwrap_err(),
            SealedTipError::NotBase64
        );
    }

    #[test]
    fn bad_contents_are_refused() {
        for bad in [
            &br#"{"v":2,"body":"x"}"#[..],
            br#"{"v":1,"body":"  "}"#,
            br#"{"v":1}"#,
            br#"{"v":1,"body":"x","where":{"deep":1}}"#,
            br#"{"v":1,"body":"x","../etc":"y"}"#,
            b"\xff\xfe",
        ] {
            assert!(
                TipPlaintext::from_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// Found by fuzzing: numbers must come back exactly as sent (serde_json's
    /// `float_roundtrip`), or an inspector could read a slightly different amount.
    #[test]
    fn numbers_survive_a_round_trip() {
        crypto::init().unwrap();
        let tip = TipPlaintext::from_json(br#"{"v":1,"body":"x","a":40e-99,"b":0.1}"#).unwrap();
        let padded = tip.to_padded().unwrap();
        let len = crypto::unpad(&padded, PAD_BLOCK).unwrap();
        assert!(TipPlaintext::from_json(&padded[..len]).unwrap() == tip);
    }

    #[test]
    fn the_reply_key_travels_inside_the_seal() {
        crypto::init().unwrap();
        let inspectors = BoxSecretKey::generate();
        let reply = BoxSecretKey::from_seed(&[3; 32]).public_key();
        let mut tip = TipPlaintext::new("x");
        tip.bind_reply_key(&reply);
        let back = tip
            .seal(&inspectors.public_key())
            .unwrap()
            .open(&inspectors)
            .unwrap();
        assert_eq!(back.bound_reply_key(), Some(reply));
        assert!(!back.fields.contains_key("reply_key"));
        // A v1 tip without one still opens, with no key bound.
        let plain = TipPlaintext::from_json(br#"{"v":1,"body":"x"}"#).unwrap();
        assert_eq!(plain.bound_reply_key(), None);
        // A v1 client's own field of that name: the tip stays readable, with no key bound.
        for odd in [
            &br#"{"v":1,"body":"x","reply_key":"AAAA"}"#[..],
            br#"{"v":1,"body":"x","reply_key":""}"#,
            br#"{"v":1,"body":"x","reply_key":"13800138000"}"#,
        ] {
            let tip = TipPlaintext::from_json(odd).unwrap();
            assert_eq!(tip.bound_reply_key(), None);
        }
        assert!(TipPlaintext::from_json(br#"{"v":1,"body":"x","reply_key":{"a":1}}"#).is_err());
    }

    /// The sealed plaintext with a bound reply key, byte for byte (do not change this test
    /// if it fails: browsers and the inspectors' tools depend on this format).
    #[test]
    fn plaintext_format_is_fixed() {
        let mut tip = TipPlaintext::new("body");
        tip.reply_key = Some(STANDARD.encode([1u8; 32]).into());
        tip.fields.insert("where".into(), "here".into());
        assert_eq!(
            serde_json::to_string(&tip).unwrap(),
            r#"{"v":1,"body":"body","reply_key":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","where":"here"}"#
        );
    }

    #[test]
    fn one_box_for_several_offices() {
        crypto::init().unwrap();
        let county = BoxSecretKey::generate();
        let town = BoxSecretKey::generate();
        let other = BoxSecretKey::generate();
        let tip = TipPlaintext::new("镇长的侄子拿了补贴");
        let sealed = tip
            .seal_to(&[county.public_key(), town.public_key()])
            .unwrap();
        assert_eq!(
            sealed.as_bytes().len(),
            MULTI_HEAD + 2 * STANZA_BYTES + SECRETBOX_OVERHEAD + PAD_BLOCK
        );
        assert_eq!(sealed.stanza_count(), Some(2));
        let again = SealedTip::from_bytes(sealed.as_bytes().to_vec(), DEFAULT_MAX_SEALED_BYTES);
        assert_eq!(again.unwrap(), sealed);
        assert!(sealed.open(&county).unwrap() == tip);
        assert!(sealed.open(&town).unwrap() == tip);
        assert_eq!(
            sealed.open(&other).unwrap_err(),
            OpenError::DecryptionFailed
        );
        // A moved tip: the content key, sealed to another office, lets it open the box.
        let grant = sealed
            .content_key(&county, None)
            .unwrap()
            .stanza_for(&other.public_key());
        assert!(sealed.open_granted(&other, Some(&grant)).unwrap() == tip);
        assert_eq!(
            sealed
                .open_granted(&other, Some(&[0u8; STANZA_BYTES]))
                .unwrap_err(),
            OpenError::DecryptionFailed
        );
        // One flipped byte in the body fails the whole box.
        let mut bytes = sealed.as_bytes().to_vec();
        *bytes.last_mut().unwrap() ^= 1;
        let bad = SealedTip::from_bytes(bytes, DEFAULT_MAX_SEALED_BYTES).unwrap();
        assert_eq!(bad.open(&county).unwrap_err(), OpenError::DecryptionFailed);
        assert!(tip.seal_to(&[]).is_err());
    }

    #[test]
    fn format_2_shapes_are_checked() {
        let shaped = |n: u8, blocks: usize| {
            let mut b = MULTI_MAGIC.to_vec();
            b.push(n);
            b.resize(
                MULTI_HEAD + n as usize * STANZA_BYTES + SECRETBOX_OVERHEAD + blocks * PAD_BLOCK,
                0,
            );
            b
        };
        assert!(SealedTip::from_bytes(shaped(1, 1), DEFAULT_MAX_SEALED_BYTES).is_ok());
        assert!(SealedTip::from_bytes(shaped(16, 3), DEFAULT_MAX_SEALED_BYTES).is_ok());
        for bad in [shaped(0, 1), shaped(17, 1), shaped(2, 0)] {
            assert_eq!(
                SealedTip::from_bytes(bad, DEFAULT_MAX_SEALED_BYTES).unwrap_err(),
                SealedTipError::NotASealedBox
            );
        }
        let mut short = shaped(2, 1);
        short.pop();
        assert!(SealedTip::from_bytes(short, DEFAULT_MAX_SEALED_BYTES).is_err());
    }

    #[test]
    fn wrong_key_cannot_open() {
        crypto::init().unwrap();
        let sealed = TipPlaintext::new("x")
            .seal(&BoxSecretKey::generate().public_key())
            .unwrap();
        assert_eq!(
            sealed.open(&BoxSecretKey::generate()).unwrap_err(),
            OpenError::DecryptionFailed
        );
    }
}
