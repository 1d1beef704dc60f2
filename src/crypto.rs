//! Every cryptographic primitive whistlebox uses, and the only module that touches
//! sodiumoxide (libsodium).
//!
//! sodiumoxide is deprecated upstream (RUSTSEC-2021-0137). Keeping it behind this one module,
//! and checking its wire formats against an independent implementation in
//! `tests/cross_impl.rs`, means it can be swapped without touching anything else.
//!
//! Key types come in two roles, after rage: what seals ([`Sealer`]) and what opens
//! ([`Opener`]). Secret material never derives `Debug`, `Clone` or `Serialize`, prints as
//! `[redacted]`, and is wiped on drop (sodiumoxide's own key types zero themselves; our
//! buffers use [`zeroize`]).

use std::fmt;

use sodiumoxide::crypto::{box_, generichash, pwhash::argon2id13, sealedbox, secretbox, sign};
use thiserror::Error;
use zeroize::Zeroizing;

/// Bytes a sealed box adds to its plaintext (ephemeral public key + Poly1305 tag).
pub const SEAL_OVERHEAD: usize = sealedbox::SEALBYTES;
/// Length of an X25519 or Ed25519 public key.
pub const PUBLIC_KEY_BYTES: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_BYTES: usize = sign::SIGNATUREBYTES;
/// Length of an Argon2id salt.
pub const SALT_BYTES: usize = argon2id13::SALTBYTES;

/// Errors of this module. Opening anything that fails says only that it failed, never why,
/// so that no caller can turn the reason into an oracle.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    /// libsodium could not be initialised (no usable random source).
    #[error("the cryptography library could not start")]
    Init,
    /// A sealed box, secret box or signature did not verify.
    #[error("decryption failed")]
    DecryptionFailed,
    /// A key had the wrong length or form.
    #[error("the key is not valid")]
    BadKey,
    /// Argon2id refused its parameters or could not get its memory.
    #[error("the key derivation could not run (out of memory?)")]
    Kdf,
    /// Padding was malformed or the block size impossible.
    #[error("the padding is not valid")]
    BadPadding,
}

/// Starts libsodium. Safe to call more than once; every entry point calls it.
pub fn init() -> Result<(), CryptoError> {
    sodiumoxide::init().map_err(|()| CryptoError::Init)
}

/// Overwrites the part of this thread's stack below the caller with zeros. Keys, receipts
/// and words moved by value leave copies in stack frames that have returned; the next deep
/// call would overwrite them, but on a quiet server that may take a long time. Call it after
/// work on secrets, from a frame no deeper than the one the work was done under.
#[inline(never)]
pub fn wipe_stack() {
    let mut area = [0u8; STACK_WIPE_BYTES];
    zeroize::Zeroize::zeroize(&mut area[..]);
    std::hint::black_box(&area);
}

/// How much of the stack [`wipe_stack`] overwrites: deeper than any call chain that handles a
/// request or derives a receipt here, and well within a thread's 2 MiB.
const STACK_WIPE_BYTES: usize = 256 * 1024;

/// Fills `buf` from the operating system's random source (through libsodium).
pub fn random_fill(buf: &mut [u8]) {
    sodiumoxide::randombytes::randombytes_into(buf);
}

/// Compares two byte strings in constant time (for their common length; differing lengths
/// are refused without looking at the contents).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && sodiumoxide::utils::memcmp(a, b)
}

/// BLAKE2b, keyed when `key` is given, with an output of `N` bytes (16 to 64).
pub fn blake2b<const N: usize>(key: Option<&[u8]>, parts: &[&[u8]]) -> [u8; N] {
    let mut state = generichash::State::new(Some(N), key).expect("BLAKE2b sizes are fixed");
    for part in parts {
        state.update(part).expect("BLAKE2b update cannot fail");
    }
    let digest = state.finalize().expect("BLAKE2b finalize cannot fail");
    let mut out = [0u8; N];
    out.copy_from_slice(digest.as_ref());
    out
}

/// A Subresource Integrity value (`sha512-<base64>`) for a served file.
pub fn sri_sha512(bytes: &[u8]) -> String {
    use base64::Engine;
    let digest = sodiumoxide::crypto::hash::sha512::hash(bytes);
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// Argon2id cost parameters (libsodium's `crypto_pwhash` with `ALG_ARGON2ID13`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Passes over memory.
    pub ops: u32,
    /// Memory in bytes.
    pub mem_bytes: u64,
}

impl Argon2Params {
    /// Receipts: at least 64 MiB so that guessing needs memory, three passes.
    pub const RECEIPT: Argon2Params = Argon2Params {
        ops: 3,
        mem_bytes: 64 * 1024 * 1024,
    };
    /// The inspectors' key file: libsodium's "moderate" level (256 MiB), run once per command.
    pub const KEY_FILE: Argon2Params = Argon2Params {
        ops: 3,
        mem_bytes: 256 * 1024 * 1024,
    };
}

/// Derives `N` bytes from a password with Argon2id.
pub fn argon2id<const N: usize>(
    password: &[u8],
    salt: &[u8; SALT_BYTES],
    params: Argon2Params,
) -> Result<Zeroizing<[u8; N]>, CryptoError> {
    let mut out = Zeroizing::new([0u8; N]);
    let mem = usize::try_from(params.mem_bytes).map_err(|_| CryptoError::Kdf)?;
    argon2id13::derive_key(
        &mut out[..],
        password,
        &argon2id13::Salt(*salt),
        argon2id13::OpsLimit(params.ops as usize),
        argon2id13::MemLimit(mem),
    )
    .map_err(|()| CryptoError::Kdf)?;
    Ok(out)
}

/// Adds ISO/IEC 7816-4 padding (libsodium `sodium_pad`) up to a multiple of `block`.
/// The result always grows by at least one byte.
pub fn pad(plaintext: &[u8], block: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if block == 0 {
        return Err(CryptoError::BadPadding);
    }
    let padded_len = (plaintext.len() / block + 1) * block;
    let mut buf = Zeroizing::new(vec![0u8; padded_len]);
    buf[..plaintext.len()].copy_from_slice(plaintext);
    let n = sodiumoxide::padding::pad(&mut buf, plaintext.len(), block)
        .map_err(|()| CryptoError::BadPadding)?;
    debug_assert_eq!(n, padded_len);
    Ok(buf)
}

/// Removes ISO/IEC 7816-4 padding; returns the unpadded length.
pub fn unpad(padded: &[u8], block: usize) -> Result<usize, CryptoError> {
    if block == 0 || padded.is_empty() || padded.len() % block != 0 {
        return Err(CryptoError::BadPadding);
    }
    sodiumoxide::padding::unpad(padded, padded.len(), block).map_err(|()| CryptoError::BadPadding)
}

/// What seals: an X25519 public key that anyone may hold.
pub trait Sealer {
    /// Seals `plaintext` anonymously (`crypto_box_seal`).
    fn seal(&self, plaintext: &[u8]) -> Vec<u8>;
}

/// What opens: a secret key, held only where reading is allowed.
pub trait Opener {
    /// Opens a sealed box (`crypto_box_seal_open`). The plaintext is wiped on drop.
    fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>;
}

/// The inspectors' X25519 public key: tips are sealed to it.
#[derive(Clone, PartialEq, Eq)]
pub struct BoxPublicKey(box_::PublicKey);

impl BoxPublicKey {
    /// Reads 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        box_::PublicKey::from_slice(bytes)
            .map(Self)
            .ok_or(CryptoError::BadKey)
    }
    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_BYTES] {
        &self.0 .0
    }
}

impl fmt::Debug for BoxPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BoxPublicKey({:02x?})", &self.0 .0[..4])
    }
}

impl Sealer for BoxPublicKey {
    fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        sealedbox::seal(plaintext, &self.0)
    }
}

/// The inspectors' X25519 secret key, with its public half (needed to open a sealed box).
pub struct BoxSecretKey {
    secret: box_::SecretKey,
    public: box_::PublicKey,
}

impl BoxSecretKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let (public, secret) = box_::gen_keypair();
        Self { secret, public }
    }
    /// The key pair derived from a 32-byte seed (`crypto_box_seed_keypair`).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let (public, secret) = box_::keypair_from_seed(&box_::Seed(*seed));
        Self { secret, public }
    }
    /// Reads 32 raw secret bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let secret = box_::SecretKey::from_slice(bytes).ok_or(CryptoError::BadKey)?;
        let public = secret.public_key();
        Ok(Self { secret, public })
    }
    /// The public half.
    pub fn public_key(&self) -> BoxPublicKey {
        BoxPublicKey(self.public)
    }
    /// The raw secret bytes, for writing into the encrypted key file only.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.secret.0
    }
}

impl fmt::Debug for BoxSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxSecretKey([redacted])")
    }
}

impl Opener for BoxSecretKey {
    fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        sealedbox::open(sealed, &self.public, &self.secret)
            .map(Zeroizing::new)
            .map_err(|()| CryptoError::DecryptionFailed)
    }
}

/// Nonce length of an authenticated box (`crypto_box_easy`) and of a secret box.
pub const BOX_NONCE_BYTES: usize = box_::NONCEBYTES;
/// Bytes an authenticated box adds to its message when its nonce travels in front of it.
pub const BOX_OVERHEAD: usize = box_::NONCEBYTES + box_::MACBYTES;

impl BoxSecretKey {
    /// Authenticated public-key encryption (`crypto_box_easy`) from this key to `to`, with a
    /// fresh random nonce: `nonce || box`. Only `to` opens it, and opening it proves it was
    /// made by the holder of this key (or by `to` itself).
    pub fn box_to(&self, to: &BoxPublicKey, plaintext: &[u8]) -> Vec<u8> {
        let nonce = box_::gen_nonce();
        let mut out = nonce.0.to_vec();
        out.extend_from_slice(&box_::seal(plaintext, &nonce, &to.0, &self.secret));
        out
    }

    /// Opens `nonce || box` made by `from`'s key to this key. Fails, without saying why,
    /// when the box was altered or was not made by `from`.
    pub fn open_box_from(
        &self,
        from: &BoxPublicKey,
        boxed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if boxed.len() < BOX_OVERHEAD {
            return Err(CryptoError::DecryptionFailed);
        }
        let (nonce, body) = boxed.split_at(box_::NONCEBYTES);
        let nonce = box_::Nonce::from_slice(nonce).ok_or(CryptoError::DecryptionFailed)?;
        box_::open(body, &nonce, &from.0, &self.secret)
            .map(Zeroizing::new)
            .map_err(|()| CryptoError::DecryptionFailed)
    }
}

/// A random symmetric key that lives only in this process's memory (XSalsa20-Poly1305
/// `crypto_secretbox`), for short-lived tokens the server hands out and takes back.
pub struct EphemeralKey(secretbox::Key);

impl EphemeralKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(secretbox::gen_key())
    }
    /// `nonce || secret box` of `plaintext` under a fresh random nonce.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = secretbox::gen_nonce();
        let mut out = nonce.0.to_vec();
        out.extend_from_slice(&secretbox::seal(plaintext, &nonce, &self.0));
        out
    }
    /// Opens what [`EphemeralKey::encrypt`] made with this key.
    pub fn decrypt(&self, token: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if token.len() < secretbox::NONCEBYTES + secretbox::MACBYTES {
            return Err(CryptoError::DecryptionFailed);
        }
        let (nonce, body) = token.split_at(secretbox::NONCEBYTES);
        let nonce = secretbox::Nonce::from_slice(nonce).ok_or(CryptoError::DecryptionFailed)?;
        secretbox::open(body, &nonce, &self.0)
            .map(Zeroizing::new)
            .map_err(|()| CryptoError::DecryptionFailed)
    }
}

impl fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EphemeralKey([redacted])")
    }
}

/// Length of a content key.
pub const CONTENT_KEY_BYTES: usize = secretbox::KEYBYTES;
/// Length of a key stanza: a content key sealed to one office (`crypto_box_seal`).
pub const STANZA_BYTES: usize = CONTENT_KEY_BYTES + SEAL_OVERHEAD;
/// Bytes a content-key secret box adds to its message when its nonce travels in front.
pub const SECRETBOX_OVERHEAD: usize = secretbox::NONCEBYTES + secretbox::MACBYTES;

/// The random key a message for several offices is encrypted under once (XSalsa20-Poly1305
/// `crypto_secretbox`); each office gets it in a stanza sealed to its own key. Wiped on drop.
pub struct ContentKey(secretbox::Key);

impl ContentKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(secretbox::gen_key())
    }
    /// The key sealed to one office: a stanza of [`STANZA_BYTES`].
    pub fn stanza_for(&self, office: &BoxPublicKey) -> Vec<u8> {
        office.seal(&self.0 .0)
    }
    /// The key from a stanza sealed to `key`. Fails, without saying why, when the stanza is
    /// for another key or damaged.
    pub fn from_stanza(key: &impl Opener, stanza: &[u8]) -> Result<Self, CryptoError> {
        if stanza.len() != STANZA_BYTES {
            return Err(CryptoError::DecryptionFailed);
        }
        let raw = key.open(stanza)?;
        secretbox::Key::from_slice(&raw)
            .map(Self)
            .ok_or(CryptoError::DecryptionFailed)
    }
    /// `nonce || secret box` of `plaintext` under a fresh random nonce.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = secretbox::gen_nonce();
        let mut out = nonce.0.to_vec();
        out.extend_from_slice(&secretbox::seal(plaintext, &nonce, &self.0));
        out
    }
    /// Opens what [`ContentKey::encrypt`] made under this key.
    pub fn decrypt(&self, boxed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if boxed.len() < SECRETBOX_OVERHEAD {
            return Err(CryptoError::DecryptionFailed);
        }
        let (nonce, body) = boxed.split_at(secretbox::NONCEBYTES);
        let nonce = secretbox::Nonce::from_slice(nonce).ok_or(CryptoError::DecryptionFailed)?;
        secretbox::open(body, &nonce, &self.0)
            .map(Zeroizing::new)
            .map_err(|()| CryptoError::DecryptionFailed)
    }
}

/// The random key of one evidence file (`domain::attachment`): XSalsa20-Poly1305 pieces
/// under nonces `prefix || u64_le(i)`. Wiped on drop.
pub struct FileKey(secretbox::Key);

/// Bytes of a file key.
pub const FILE_KEY_BYTES: usize = secretbox::KEYBYTES;
/// Bytes a file piece's secret box adds (the Poly1305 tag; the nonce is not stored per piece).
pub const PIECE_MAC_BYTES: usize = secretbox::MACBYTES;
/// Bytes of a file's nonce prefix.
pub const PIECE_PREFIX_BYTES: usize = secretbox::NONCEBYTES - 8;

impl FileKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(secretbox::gen_key())
    }
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        secretbox::Key::from_slice(bytes)
            .map(Self)
            .ok_or(CryptoError::BadKey)
    }
    /// The key's bytes (to bind it inside a sealed tip).
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0 .0
    }
    fn nonce(prefix: &[u8; PIECE_PREFIX_BYTES], index: u64) -> secretbox::Nonce {
        let mut n = [0u8; secretbox::NONCEBYTES];
        n[..PIECE_PREFIX_BYTES].copy_from_slice(prefix);
        n[PIECE_PREFIX_BYTES..].copy_from_slice(&index.to_le_bytes());
        secretbox::Nonce(n)
    }
    /// `crypto_secretbox_easy(piece, prefix || u64_le(index))`: tag, then ciphertext.
    pub fn seal_piece(
        &self,
        prefix: &[u8; PIECE_PREFIX_BYTES],
        index: u64,
        piece: &[u8],
    ) -> Vec<u8> {
        secretbox::seal(piece, &Self::nonce(prefix, index), &self.0)
    }
    /// Opens what [`FileKey::seal_piece`] made for the same prefix and index.
    pub fn open_piece(
        &self,
        prefix: &[u8; PIECE_PREFIX_BYTES],
        index: u64,
        boxed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        secretbox::open(boxed, &Self::nonce(prefix, index), &self.0)
            .map(Zeroizing::new)
            .map_err(|()| CryptoError::DecryptionFailed)
    }
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileKey([redacted])")
    }
}

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentKey([redacted])")
    }
}

/// Length of the random salt that makes each desk workspace's key its own.
pub const WORKSPACE_SALT_BYTES: usize = 32;

/// The key of the inspectors' desk workspace on the offline machine
/// (XSalsa20-Poly1305 `crypto_secretbox`). It is derived from the office's secret box key,
/// which only the office passphrase opens, and the workspace's own random salt; so the
/// workspace needs the key file and its passphrase, like the tips it holds. Wiped on drop.
pub struct WorkspaceKey(ContentKey);

impl WorkspaceKey {
    /// BLAKE2b keyed with the office's secret key, over a fixed label and the salt.
    pub fn derive(office: &BoxSecretKey, salt: &[u8; WORKSPACE_SALT_BYTES]) -> Self {
        let raw = Zeroizing::new(blake2b::<{ secretbox::KEYBYTES }>(
            Some(office.expose_bytes()),
            &[b"whistlebox desk workspace v1", salt],
        ));
        Self(ContentKey(
            secretbox::Key::from_slice(&raw[..]).expect("the length is the key length"),
        ))
    }
    /// `nonce || secret box` of `plaintext` under a fresh random nonce.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        self.0.encrypt(plaintext)
    }
    /// Opens what [`WorkspaceKey::encrypt`] made under this key; fails, without saying why,
    /// for another key or a changed byte.
    pub fn decrypt(&self, boxed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.0.decrypt(boxed)
    }
}

impl fmt::Debug for WorkspaceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkspaceKey([redacted])")
    }
}

/// The inspectors' Ed25519 verification key: the server checks updates with it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignPublicKey(sign::PublicKey);

impl SignPublicKey {
    /// Reads 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        sign::PublicKey::from_slice(bytes)
            .map(Self)
            .ok_or(CryptoError::BadKey)
    }
    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_BYTES] {
        &self.0 .0
    }
    /// Checks a detached signature.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        let sig = sign::Signature::from_bytes(signature).map_err(|_| CryptoError::BadKey)?;
        if sign::verify_detached(&sig, message, &self.0) {
            Ok(())
        } else {
            Err(CryptoError::DecryptionFailed)
        }
    }
}

impl fmt::Debug for SignPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignPublicKey({:02x?})", &self.0 .0[..4])
    }
}

/// The inspectors' Ed25519 signing key, kept as its 32-byte seed.
pub struct SignSecretKey {
    seed: sign::Seed,
    secret: sign::SecretKey,
}

impl SignSecretKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut seed = sign::Seed([0u8; sign::SEEDBYTES]);
        random_fill(&mut seed.0);
        Self::from_seed(seed)
    }
    fn from_seed(seed: sign::Seed) -> Self {
        let (_, secret) = sign::keypair_from_seed(&seed);
        Self { seed, secret }
    }
    /// Reads a 32-byte seed.
    pub fn from_seed_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let seed = sign::Seed::from_slice(bytes).ok_or(CryptoError::BadKey)?;
        Ok(Self::from_seed(seed))
    }
    /// The seed, for writing into the encrypted key file only.
    pub fn expose_seed(&self) -> &[u8] {
        &self.seed.0
    }
    /// The public half.
    pub fn public_key(&self) -> SignPublicKey {
        SignPublicKey(self.secret.public_key())
    }
    /// A detached signature over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_BYTES] {
        sign::sign_detached(message, &self.secret).to_bytes()
    }
}

impl fmt::Debug for SignSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignSecretKey([redacted])")
    }
}

/// A 32-byte symmetric key derived from a passphrase, for the key file's secret box.
pub struct PassphraseKey(secretbox::Key);

/// Nonce length of the key file's secret box.
pub const SECRETBOX_NONCE_BYTES: usize = secretbox::NONCEBYTES;

impl PassphraseKey {
    /// Argon2id of the passphrase.
    pub fn derive(
        passphrase: &[u8],
        salt: &[u8; SALT_BYTES],
        params: Argon2Params,
    ) -> Result<Self, CryptoError> {
        let raw = argon2id::<{ secretbox::KEYBYTES }>(passphrase, salt, params)?;
        Ok(Self(secretbox::Key(*raw)))
    }
    /// Encrypts with a fresh random nonce; returns (nonce, ciphertext).
    pub fn encrypt(&self, plaintext: &[u8]) -> ([u8; SECRETBOX_NONCE_BYTES], Vec<u8>) {
        let nonce = secretbox::gen_nonce();
        (nonce.0, secretbox::seal(plaintext, &nonce, &self.0))
    }
    /// Decrypts; a wrong passphrase and a damaged file look the same.
    pub fn decrypt(
        &self,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let nonce = secretbox::Nonce::from_slice(nonce).ok_or(CryptoError::DecryptionFailed)?;
        secretbox::open(ciphertext, &nonce, &self.0)
            .map(Zeroizing::new)
            .map_err(|()| CryptoError::DecryptionFailed)
    }
}

impl fmt::Debug for PassphraseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PassphraseKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips() {
        init().unwrap();
        let sk = BoxSecretKey::generate();
        let sealed = sk.public_key().seal(b"hello");
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(&sk.open(&sealed).unwrap()[..], b"hello");
    }

    #[test]
    fn flipping_any_byte_of_a_sealed_box_fails() {
        init().unwrap();
        let sk = BoxSecretKey::generate();
        let sealed = sk.public_key().seal(b"a short tip");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(sk.open(&bad).unwrap_err(), CryptoError::DecryptionFailed);
        }
    }

    #[test]
    fn padding_matches_iso_7816_4() {
        init().unwrap();
        let padded = pad(b"abc", 8).unwrap();
        assert_eq!(&padded[..], &[b'a', b'b', b'c', 0x80, 0, 0, 0, 0]);
        // A full block still gains a whole block, so unpadding is never ambiguous.
        assert_eq!(pad(&[1u8; 8], 8).unwrap().len(), 16);
        assert_eq!(unpad(&padded, 8).unwrap(), 3);
        assert!(unpad(&[0u8; 8], 8).is_err());
        assert!(unpad(&padded[..7], 8).is_err());
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }

    #[test]
    fn secrets_do_not_print() {
        init().unwrap();
        let s = format!(
            "{:?} {:?}",
            BoxSecretKey::generate(),
            SignSecretKey::generate()
        );
        assert!(s.contains("redacted"));
        assert_eq!(s.matches("redacted").count(), 2);
    }

    #[test]
    fn authenticated_boxes_open_only_from_their_sender() {
        init().unwrap();
        let resident = BoxSecretKey::generate();
        let inspectors = BoxSecretKey::generate();
        let outsider = BoxSecretKey::generate();
        let boxed = resident.box_to(&inspectors.public_key(), b"more words");
        assert_eq!(boxed.len(), 10 + BOX_OVERHEAD);
        let opened = inspectors
            .open_box_from(&resident.public_key(), &boxed)
            .unwrap();
        assert_eq!(&opened[..], b"more words");
        assert!(inspectors
            .open_box_from(&outsider.public_key(), &boxed)
            .is_err());
        for i in 0..boxed.len() {
            let mut bad = boxed.clone();
            bad[i] ^= 0x01;
            assert!(inspectors
                .open_box_from(&resident.public_key(), &bad)
                .is_err());
        }
        assert!(inspectors
            .open_box_from(&resident.public_key(), &boxed[..10])
            .is_err());
    }

    #[test]
    fn ephemeral_tokens_open_only_with_their_key() {
        init().unwrap();
        let key = EphemeralKey::generate();
        let token = key.encrypt(b"lookup");
        assert_eq!(&key.decrypt(&token).unwrap()[..], b"lookup");
        assert!(EphemeralKey::generate().decrypt(&token).is_err());
        let mut bad = token.clone();
        bad[30] ^= 1;
        assert!(key.decrypt(&bad).is_err());
        assert!(key.decrypt(&token[..20]).is_err());
    }

    #[test]
    fn signatures_verify_and_forgeries_fail() {
        init().unwrap();
        let sk = SignSecretKey::generate();
        let sig = sk.sign(b"status: closed");
        sk.public_key().verify(b"status: closed", &sig).unwrap();
        assert!(sk.public_key().verify(b"status: open", &sig).is_err());
        let restored = SignSecretKey::from_seed_bytes(sk.expose_seed()).unwrap();
        assert_eq!(restored.public_key(), sk.public_key());
    }
}
