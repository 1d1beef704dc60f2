//! Follow-ups that the offline side can trust: each one is put in an envelope boxed with the
//! receipt's reply key, and the inspectors check it against the reply key bound inside the
//! sealed tip.
//!
//! A follow-up arrives as a sealed box of `{"v":1,"body":...}` (sealed in the browser, or by
//! the server for a form), together with the receipt. The server derives the receipt's reply
//! key pair, as it does for a status check, and stores the envelope, version 2:
//!
//! ```text
//! crypto_box_seal(inspectors, sodium_pad(
//!     "WBF" 0x02 || reply_public_key (32) || nonce (24) ||
//!     crypto_box_easy(inner sealed follow-up, nonce, inspectors, reply_secret_key), 1024))
//! ```
//!
//! So the stored follow-up is still a sealed box of a padded plaintext, of the same length
//! class as a tip: the store, the export bundle and their checks are unchanged. Offline, the
//! box opens only with the public key of whoever made it; [`open_followup`] uses the reply
//! key bound in the tip, never the one the envelope names, so a follow-up made without the
//! receipt (by whoever carries the export, or by a server without the receipt) fails the
//! check. So does a follow-up in the old form (a bare sealed box, version 1) under a tip that
//! binds a key, since this server stores every follow-up in an envelope; under a tip that
//! binds none, old-form follow-ups and envelopes are opened but marked as not verified.

use zeroize::Zeroizing;

use super::reply::sealed_digest;
use super::tip::{seal_padded_to, OpenError, SealedTip, SealedTipError, TipPlaintext, PAD_BLOCK};
use crate::crypto::{self, BoxPublicKey, BoxSecretKey, CryptoError, Sealer};

/// Marks a version 2 follow-up envelope. A version 1 follow-up's plaintext is JSON, so it
/// starts with `{` and never with this.
const ENVELOPE_MAGIC: &[u8; 4] = b"WBF\x02";
/// Marks a version 3 envelope: for several offices.
const ENVELOPE_MAGIC_V3: &[u8; 4] = b"WBF\x03";
const KEY_AT: usize = ENVELOPE_MAGIC.len();
const BOX_AT: usize = KEY_AT + crypto::PUBLIC_KEY_BYTES;
/// One office's check in a version 3 envelope: its public key, then `nonce || box`.
const CHECK_BYTES: usize = crypto::PUBLIC_KEY_BYTES + crypto::BOX_OVERHEAD + 32;

/// Puts a sealed follow-up in an envelope for the offices that read its tip (version 3):
///
/// ```text
/// format 2 box for the offices (tip::SealedTip), of sodium_pad(
///     "WBF" 0x03 || reply_public_key (32) || n (1) ||
///     n × ( office_public_key (32) || nonce (24) ||
///           crypto_box_easy(sealed_digest(inner), nonce, office, reply_secret_key) ) ||
///     inner sealed follow-up, 1024)
/// ```
///
/// Each office checks the box under its own key against the reply key bound in the tip:
/// only the holder of the receipt could have made it, for these very words.
pub fn authenticate_for(
    inner: &SealedTip,
    reply_key: &BoxSecretKey,
    offices: &[BoxPublicKey],
    max_bytes: usize,
) -> Result<SealedTip, FollowupError> {
    if offices.is_empty() || offices.len() > crate::domain::tip::MAX_STANZAS {
        return Err(FollowupError::Crypto(CryptoError::BadKey));
    }
    let digest = sealed_digest(inner.as_bytes());
    let mut envelope = Zeroizing::new(ENVELOPE_MAGIC_V3.to_vec());
    envelope.extend_from_slice(reply_key.public_key().as_bytes());
    envelope.push(offices.len() as u8);
    for office in offices {
        envelope.extend_from_slice(office.as_bytes());
        envelope.extend_from_slice(&reply_key.box_to(office, &digest));
    }
    envelope.extend_from_slice(inner.as_bytes());
    let padded = crypto::pad(&envelope, PAD_BLOCK)?;
    Ok(SealedTip::from_bytes(
        seal_padded_to(&padded, offices)?,
        max_bytes,
    )?)
}

/// Opens a version 3 envelope's content (after the magic) with an office's key.
fn open_v3(
    content: &[u8],
    office: &BoxSecretKey,
    bound: Option<&BoxPublicKey>,
) -> Result<OpenedFollowup, OpenError> {
    let damaged = || OpenError::BadContent("the follow-up envelope is damaged".into());
    let named = content
        .get(KEY_AT..BOX_AT)
        .and_then(|k| BoxPublicKey::from_bytes(k).ok())
        .ok_or_else(damaged)?;
    let n = *content.get(BOX_AT).ok_or_else(damaged)? as usize;
    let checks_at = BOX_AT + 1;
    let inner_at = checks_at + n * CHECK_BYTES;
    let checks = content.get(checks_at..inner_at).ok_or_else(damaged)?;
    let inner = SealedTip::from_bytes(content[inner_at..].to_vec(), usize::MAX)
        .map_err(|_| OpenError::BadContent("the follow-up inside is not a sealed box".into()))?;
    let mine = office.public_key();
    let check = checks
        .chunks(CHECK_BYTES)
        .find(|c| &c[..crypto::PUBLIC_KEY_BYTES] == mine.as_bytes())
        .ok_or(OpenError::NotFromReceiptHolder)?;
    let (key, trust) = match bound {
        Some(bound) => (bound, Trust::Verified),
        None => (
            &named,
            Trust::NotVerified("its tip carries no reply key to check it against"),
        ),
    };
    let digest = office
        .open_box_from(key, &check[crypto::PUBLIC_KEY_BYTES..])
        .map_err(|_| OpenError::NotFromReceiptHolder)?;
    if !crypto::ct_eq(&digest, &sealed_digest(inner.as_bytes())) {
        return Err(OpenError::NotFromReceiptHolder);
    }
    Ok(OpenedFollowup {
        plain: inner.open(office)?,
        trust,
    })
}

/// Puts a sealed follow-up in an envelope boxed with the receipt's reply key. `max_bytes`
/// bounds the result, like any stored sealed box.
pub fn authenticate(
    inner: &SealedTip,
    reply_key: &BoxSecretKey,
    inspectors: &BoxPublicKey,
    max_bytes: usize,
) -> Result<SealedTip, FollowupError> {
    let mut envelope = Zeroizing::new(ENVELOPE_MAGIC.to_vec());
    envelope.extend_from_slice(reply_key.public_key().as_bytes());
    envelope.extend_from_slice(&reply_key.box_to(inspectors, inner.as_bytes()));
    let padded = crypto::pad(&envelope, PAD_BLOCK)?;
    Ok(SealedTip::from_bytes(inspectors.seal(&padded), max_bytes)?)
}

/// Why a follow-up could not be wrapped.
#[derive(Debug, thiserror::Error)]
pub enum FollowupError {
    /// libsodium failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The envelope would be larger than a stored box may be.
    #[error(transparent)]
    Sealed(#[from] SealedTipError),
}

/// How far an opened follow-up can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Boxed with the reply key bound inside the tip: made by someone who held the receipt.
    Verified,
    /// Opened, but nothing shows who wrote it; the reason says why.
    NotVerified(&'static str),
}

/// An opened follow-up.
#[derive(Debug)]
pub struct OpenedFollowup {
    /// The resident's words.
    pub plain: TipPlaintext,
    /// Whether it provably came from the receipt holder.
    pub trust: Trust,
}

/// Opens a stored follow-up with the inspectors' key. `bound` is the reply key bound inside
/// the tip (from the tip itself, or from what `decrypt` wrote when it opened the tip).
/// An envelope that fails its check is an error, and its words are never returned.
pub fn open_followup(
    sealed: &SealedTip,
    inspectors: &BoxSecretKey,
    bound: Option<&BoxPublicKey>,
) -> Result<OpenedFollowup, OpenError> {
    let padded = sealed.open_padded(inspectors, None)?;
    let len = crypto::unpad(&padded, PAD_BLOCK).map_err(|_| OpenError::BadPadding)?;
    let content = &padded[..len];
    if content.starts_with(ENVELOPE_MAGIC_V3) {
        return open_v3(content, inspectors, bound);
    }
    if !content.starts_with(ENVELOPE_MAGIC) {
        // Servers of this version store every follow-up in an envelope, so a bare one
        // under a tip that binds a key was put there by someone else.
        if bound.is_some() {
            return Err(OpenError::NotFromReceiptHolder);
        }
        return Ok(OpenedFollowup {
            plain: TipPlaintext::from_json(content)?,
            trust: Trust::NotVerified("it is in the old form, which does not show who wrote it"),
        });
    }
    if content.len() < BOX_AT + crypto::BOX_OVERHEAD {
        return Err(OpenError::BadContent(
            "the follow-up envelope is cut short".into(),
        ));
    }
    let named = BoxPublicKey::from_bytes(&content[KEY_AT..BOX_AT])
        .map_err(|_| OpenError::BadContent("the follow-up envelope is damaged".into()))?;
    let (key, trust) = match bound {
        Some(bound) => (bound, Trust::Verified),
        None => (
            &named,
            Trust::NotVerified("its tip carries no reply key to check it against"),
        ),
    };
    let inner = inspectors
        .open_box_from(key, &content[BOX_AT..])
        .map_err(|_| OpenError::NotFromReceiptHolder)?;
    let inner = SealedTip::from_bytes(inner.to_vec(), usize::MAX)
        .map_err(|_| OpenError::BadContent("the follow-up inside is not a sealed box".into()))?;
    Ok(OpenedFollowup {
        plain: inner.open(inspectors)?,
        trust,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tip::DEFAULT_MAX_SEALED_BYTES;

    fn setup() -> (BoxSecretKey, BoxSecretKey, SealedTip) {
        crypto::init().unwrap();
        let inspectors = BoxSecretKey::generate();
        let reply = BoxSecretKey::from_seed(&[5; 32]);
        let inner = TipPlaintext::new("又想起一件事")
            .seal(&inspectors.public_key())
            .unwrap();
        (inspectors, reply, inner)
    }

    #[test]
    fn an_envelope_from_the_bound_key_is_verified() {
        let (inspectors, reply, inner) = setup();
        let stored = authenticate(
            &inner,
            &reply,
            &inspectors.public_key(),
            DEFAULT_MAX_SEALED_BYTES,
        )
        .unwrap();
        assert_eq!(
            stored.as_bytes().len(),
            inner.as_bytes().len() + PAD_BLOCK,
            "the envelope costs one more 1 KiB block"
        );
        let opened = open_followup(&stored, &inspectors, Some(&reply.public_key())).unwrap();
        assert_eq!(opened.plain.body, "又想起一件事");
        assert_eq!(opened.trust, Trust::Verified);
    }

    #[test]
    fn an_envelope_from_another_key_fails_the_check() {
        let (inspectors, reply, inner) = setup();
        let forger = BoxSecretKey::from_seed(&[6; 32]);
        let forged = authenticate(
            &inner,
            &forger,
            &inspectors.public_key(),
            DEFAULT_MAX_SEALED_BYTES,
        )
        .unwrap();
        assert_eq!(
            open_followup(&forged, &inspectors, Some(&reply.public_key())).unwrap_err(),
            OpenError::NotFromReceiptHolder
        );
        // Without a bound key it opens, but says it cannot be checked.
        let opened = open_followup(&forged, &inspectors, None).unwrap();
        assert!(matches!(opened.trust, Trust::NotVerified(_)));
    }

    #[test]
    fn a_bare_sealed_follow_up_is_refused_under_a_bound_tip_and_marked_otherwise() {
        let (inspectors, reply, inner) = setup();
        assert_eq!(
            open_followup(&inner, &inspectors, Some(&reply.public_key())).unwrap_err(),
            OpenError::NotFromReceiptHolder
        );
        let opened = open_followup(&inner, &inspectors, None).unwrap();
        assert_eq!(opened.plain.body, "又想起一件事");
        assert!(matches!(opened.trust, Trust::NotVerified(_)));
    }

    #[test]
    fn an_envelope_for_several_offices_is_checked_by_each() {
        let (county, reply, _) = setup();
        let town = BoxSecretKey::generate();
        let outsider = BoxSecretKey::generate();
        let offices = [county.public_key(), town.public_key()];
        let inner = TipPlaintext::new("村会计又改了账")
            .seal_to(&offices)
            .unwrap();
        let stored = authenticate_for(&inner, &reply, &offices, DEFAULT_MAX_SEALED_BYTES).unwrap();
        for office in [&county, &town] {
            let opened = open_followup(&stored, office, Some(&reply.public_key())).unwrap();
            assert_eq!(opened.plain.body, "村会计又改了账");
            assert_eq!(opened.trust, Trust::Verified);
        }
        assert_eq!(
            open_followup(&stored, &outsider, Some(&reply.public_key())).unwrap_err(),
            OpenError::DecryptionFailed
        );
        // Made with another reply key: every office refuses it.
        let forger = BoxSecretKey::from_seed(&[6; 32]);
        let forged = authenticate_for(&inner, &forger, &offices, DEFAULT_MAX_SEALED_BYTES).unwrap();
        for office in [&county, &town] {
            assert_eq!(
                open_followup(&forged, office, Some(&reply.public_key())).unwrap_err(),
                OpenError::NotFromReceiptHolder
            );
        }
    }

    #[test]
    fn a_damaged_envelope_is_refused() {
        let (inspectors, reply, inner) = setup();
        // Re-seal a truncated envelope: the outer box is fine, the content is not.
        let mut envelope = ENVELOPE_MAGIC.to_vec();
        envelope.extend_from_slice(reply.public_key().as_bytes());
        envelope.extend_from_slice(&[0u8; 10]);
        let padded = crypto::pad(&envelope, PAD_BLOCK).unwrap();
        let bad = SealedTip::from_bytes(
            inspectors.public_key().seal(&padded),
            DEFAULT_MAX_SEALED_BYTES,
        )
        .unwrap();
        assert!(open_followup(&bad, &inspectors, Some(&reply.public_key())).is_err());
        let _ = inner;
    }
}
