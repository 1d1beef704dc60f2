//! Evidence files (photos, documents, voice notes): the encrypted file ("blob") the server
//! stores, the reference to it that travels inside the sealed tip, and the upload ids that
//! name a blob while it arrives. The format is `docs/attachments.md`.
//!
//! ```text
//! blob = "WBA" 0x01 || prefix (16) || c_0 || ... || c_(n-1)
//! c_i  = crypto_secretbox_easy(p_i, prefix || u64_le(i), file_key)   (65,552 bytes each)
//! ```
//! where the `p_i` are the 64 KiB pieces of the file padded (ISO/IEC 7816-4) to its bucket.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::crypto::{self, FileKey, FILE_KEY_BYTES, PIECE_MAC_BYTES, PIECE_PREFIX_BYTES};

/// Marks a blob, format 1.
pub const BLOB_MAGIC: &[u8; 4] = b"WBA\x01";
/// Bytes before the first piece: the magic and the nonce prefix.
pub const BLOB_HEAD: usize = BLOB_MAGIC.len() + PIECE_PREFIX_BYTES;
/// A piece of padded file, before encryption.
pub const PIECE_BYTES: usize = 64 * 1024;
/// A piece once encrypted.
pub const SEALED_PIECE_BYTES: usize = PIECE_BYTES + PIECE_MAC_BYTES;
/// Most files under one report or follow-up (a voice note counts as one).
pub const MAX_ATTACHMENTS: usize = 10;
/// Largest file, before padding and encryption.
pub const MAX_FILE_BYTES: u64 = 24 * 1024 * 1024;
/// Most pieces one report's or follow-up's files may take in all (32 MiB padded).
pub const MAX_PIECES_PER_REPORT: usize = 512;
/// Most bytes of encrypted files (blobs) one tip and its follow-ups may hold on the server
/// until the offices collect them: four full reports' worth (about 134 MB), so that an
/// export entry stays well under what the offline tools read.
pub const MAX_HELD_FILE_BYTES: u64 = 4
    * (MAX_PIECES_PER_REPORT as u64 * SEALED_PIECE_BYTES as u64
        + (MAX_ATTACHMENTS * BLOB_HEAD) as u64);
/// Longest voice note, in seconds.
pub const MAX_VOICE_SECONDS: f64 = 300.0;
/// Size of one upload chunk (the last chunk of an upload may be shorter).
pub const UPLOAD_CHUNK_BYTES: usize = 256 * 1024;
/// Length of a digest of a blob.
pub const DIGEST_BYTES: usize = 32;

/// The padded length of a file of `len` bytes: one piece for small files, otherwise Padmé
/// of `len + 1` rounded up to whole pieces.
pub fn bucket(len: u64) -> u64 {
    let x = len + 1;
    let piece = PIECE_BYTES as u64;
    if x <= piece {
        return piece;
    }
    let e = 63 - u64::from(x.leading_zeros());
    let s = 64 - u64::from(e.leading_zeros());
    let z = e - s;
    let mask = (1u64 << z) - 1;
    let padme = (x + mask) & !mask;
    padme.div_ceil(piece) * piece
}

/// The pieces of a blob of `len` bytes, when `len` is the length of a blob at all.
pub fn pieces_in_blob(len: u64) -> Option<usize> {
    let body = len.checked_sub(BLOB_HEAD as u64)?;
    let sealed = SEALED_PIECE_BYTES as u64;
    (body > 0 && body % sealed == 0).then(|| usize::try_from(body / sealed).ok())?
}

/// The length of the blob a file of `len` bytes becomes.
pub fn blob_len(len: u64) -> u64 {
    BLOB_HEAD as u64 + bucket(len) / PIECE_BYTES as u64 * SEALED_PIECE_BYTES as u64
}

/// The chunks an upload of a blob of `len` bytes comes in.
pub fn chunks_in_upload(len: u64) -> u32 {
    len.div_ceil(UPLOAD_CHUNK_BYTES as u64) as u32
}

/// BLAKE2b-256 of a blob, as bound in the sealed tip.
pub fn blob_digest(blob: &[u8]) -> [u8; DIGEST_BYTES] {
    crypto::blake2b::<DIGEST_BYTES>(None, &[blob])
}

/// A file encrypted: the blob to upload, with its key and digest for the sealed tip.
pub struct SealedFile {
    /// The blob.
    pub blob: Vec<u8>,
    /// Its key.
    pub key: FileKey,
    /// BLAKE2b-256 of the blob.
    pub digest: [u8; DIGEST_BYTES],
}

/// Encrypts a file as a blob under a fresh key (the server does this for a form sent
/// without JavaScript; the browser does the same in `attach.js`).
pub fn seal_file(file: &[u8]) -> Result<SealedFile, AttachmentError> {
    if file.len() as u64 > MAX_FILE_BYTES {
        return Err(AttachmentError::TooLarge);
    }
    let key = FileKey::generate();
    let mut prefix = [0u8; PIECE_PREFIX_BYTES];
    crypto::random_fill(&mut prefix);
    let padded_len = bucket(file.len() as u64) as usize;
    let mut blob = Vec::with_capacity(blob_len(file.len() as u64) as usize);
    blob.extend_from_slice(BLOB_MAGIC);
    blob.extend_from_slice(&prefix);
    let mut piece = Zeroizing::new(vec![0u8; PIECE_BYTES]);
    for (i, start) in (0..padded_len).step_by(PIECE_BYTES).enumerate() {
        piece.fill(0);
        let end = (start + PIECE_BYTES).min(file.len());
        if start < file.len() {
            piece[..end - start].copy_from_slice(&file[start..end]);
        }
        if (start..start + PIECE_BYTES).contains(&file.len()) {
            piece[file.len() - start] = 0x80;
        }
        blob.extend_from_slice(&key.seal_piece(&prefix, i as u64, &piece));
    }
    let digest = blob_digest(&blob);
    Ok(SealedFile { blob, key, digest })
}

/// Opens a blob with the key and digest bound in the sealed tip; the file, wiped on drop.
pub fn open_blob(
    blob: &[u8],
    reference: &AttachmentRef,
) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
    let digest = reference.digest_bytes()?;
    if !crypto::ct_eq(&blob_digest(blob), &digest) {
        return Err(AttachmentError::WrongDigest);
    }
    let pieces = pieces_in_blob(blob.len() as u64).ok_or(AttachmentError::Damaged)?;
    if !blob.starts_with(BLOB_MAGIC) {
        return Err(AttachmentError::Damaged);
    }
    if bucket(reference.bytes) != (pieces * PIECE_BYTES) as u64 {
        return Err(AttachmentError::Damaged);
    }
    let key = reference.file_key()?;
    let mut prefix = [0u8; PIECE_PREFIX_BYTES];
    prefix.copy_from_slice(&blob[BLOB_MAGIC.len()..BLOB_HEAD]);
    let mut out = Zeroizing::new(Vec::with_capacity(pieces * PIECE_BYTES));
    for (i, boxed) in blob[BLOB_HEAD..].chunks(SEALED_PIECE_BYTES).enumerate() {
        let piece = key
            .open_piece(&prefix, i as u64, boxed)
            .map_err(|_| AttachmentError::Damaged)?;
        out.extend_from_slice(&piece);
    }
    let len = usize::try_from(reference.bytes).map_err(|_| AttachmentError::Damaged)?;
    if out.get(len) != Some(&0x80) || out[len + 1..].iter().any(|&b| b != 0) {
        return Err(AttachmentError::Damaged);
    }
    out.truncate(len);
    Ok(out)
}

/// What went wrong with a file.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum AttachmentError {
    /// Over [`MAX_FILE_BYTES`].
    #[error("the file is larger than the limit of 24 MiB")]
    TooLarge,
    /// The blob is not the one the sealed tip names.
    #[error("the encrypted file is not the one the report names (its digest differs): it was changed or swapped, and it was not opened")]
    WrongDigest,
    /// The blob does not open, or its padding is wrong.
    #[error("the encrypted file is damaged and does not open")]
    Damaged,
    /// The reference inside the tip is malformed.
    #[error("the report's description of a file is not valid: {0}")]
    BadReference(&'static str),
}

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A photo, re-encoded with its metadata removed.
    Photo,
    /// A voice note recorded on the page.
    Voice,
    /// Any other file, sealed as it was.
    File,
}

/// A file as the sealed tip names it: everything needed to find, check and open its blob.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// What it is.
    pub kind: Kind,
    /// Its MIME type, as the resident's device said (the extension comes from a fixed list).
    #[serde(rename = "type")]
    pub mime: String,
    /// Its length before padding.
    pub bytes: u64,
    /// The file key, standard base64 of 32 bytes.
    pub key: String,
    /// BLAKE2b-256 of the blob, standard base64.
    pub digest: String,
    /// What cleaning removed ("location", "camera", "time", ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// Whether the file was cleaned at all (false: sealed as it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleaned: Option<bool>,
    /// The file's name, only if the resident chose to keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A voice note's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Whether a voice note's voice was disguised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disguised: Option<bool>,
}

impl fmt::Debug for AttachmentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttachmentRef({:?}, {} bytes)", self.kind, self.bytes)
    }
}

impl Drop for AttachmentRef {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.key.zeroize();
        if let Some(name) = &mut self.name {
            name.zeroize();
        }
    }
}

fn decode_32(text: &str, what: &'static str) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
    let raw = Zeroizing::new(
        STANDARD
            .decode(text)
            .map_err(|_| AttachmentError::BadReference(what))?,
    );
    if raw.len() != 32 {
        return Err(AttachmentError::BadReference(what));
    }
    Ok(raw)
}

impl AttachmentRef {
    /// The reference to a file just sealed.
    pub fn for_sealed(kind: Kind, mime: &str, bytes: u64, sealed: &SealedFile) -> Self {
        Self {
            kind,
            mime: mime.to_owned(),
            bytes,
            key: STANDARD.encode(sealed.key.expose_bytes()),
            digest: STANDARD.encode(sealed.digest),
            removed: Vec::new(),
            cleaned: None,
            name: None,
            seconds: None,
            disguised: None,
        }
    }

    /// The file key.
    pub fn file_key(&self) -> Result<FileKey, AttachmentError> {
        let raw = decode_32(&self.key, "its key is not 32 bytes of base64")?;
        debug_assert_eq!(raw.len(), FILE_KEY_BYTES);
        FileKey::from_bytes(&raw).map_err(|_| AttachmentError::BadReference("bad key"))
    }

    /// The digest of the blob.
    pub fn digest_bytes(&self) -> Result<[u8; DIGEST_BYTES], AttachmentError> {
        let raw = decode_32(&self.digest, "its digest is not 32 bytes of base64")?;
        let mut out = [0u8; DIGEST_BYTES];
        out.copy_from_slice(&raw);
        Ok(out)
    }

    /// Checks what can be checked without the blob.
    pub fn validate(&self) -> Result<(), AttachmentError> {
        self.digest_bytes()?;
        self.file_key()?;
        if self.bytes > MAX_FILE_BYTES {
            return Err(AttachmentError::BadReference("it is larger than the limit"));
        }
        if self.mime.len() > 100 || self.name.as_ref().is_some_and(|n| n.len() > 1000) {
            return Err(AttachmentError::BadReference("a text in it is too long"));
        }
        if self.removed.len() > 16 || self.removed.iter().any(|r| r.len() > 32) {
            return Err(AttachmentError::BadReference(
                "its list of what was removed is too long",
            ));
        }
        if self
            .seconds
            .is_some_and(|s| !s.is_finite() || !(0.0..=MAX_VOICE_SECONDS * 2.0).contains(&s))
        {
            return Err(AttachmentError::BadReference(
                "its length in seconds is not valid",
            ));
        }
        Ok(())
    }

    /// The file extension for its type, from a fixed list ("bin" for anything else).
    pub fn extension(&self) -> &'static str {
        extension_for(&self.mime)
    }

    /// A name to write the file under: `NN-kind.ext`, or `NN-name.ext` when the resident
    /// kept the name, made safe (no path, no control or reserved characters, no leading dot,
    /// at most 60 characters, the extension always from the type).
    pub fn safe_file_name(&self, n: usize) -> String {
        let kind = match self.kind {
            Kind::Photo => "photo",
            Kind::Voice => "voice",
            Kind::File => "file",
        };
        let stem = self
            .name
            .as_deref()
            .map(|name| {
                let base = name.rsplit(['/', '\\']).next().unwrap_or("");
                let base = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
                let cleaned: String = base
                    .chars()
                    .map(|c| {
                        if c.is_alphanumeric() || c == '-' || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .take(60)
                    .collect();
                cleaned.trim_matches('_').to_owned()
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| kind.to_owned());
        format!("{n:02}-{stem}.{}", self.extension())
    }
}

/// The extension for a MIME type, from a fixed list.
pub fn extension_for(mime: &str) -> &'static str {
    match mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/heic" => "heic",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/webm" => "weba",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" | "audio/aac" => "m4a",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/zip" => "zip",
        _ => "bin",
    }
}

/// Checks the attachment list of a sealed tip or follow-up once opened.
pub fn validate_list(list: &[AttachmentRef]) -> Result<(), AttachmentError> {
    if list.len() > MAX_ATTACHMENTS {
        return Err(AttachmentError::BadReference(
            "there are more than 10 files",
        ));
    }
    list.iter().try_for_each(AttachmentRef::validate)
}

/// An upload's id: 16 random bytes, 32 lowercase hex digits. Knowing it lets one add the
/// missing chunks of that upload and see which are missing, nothing more.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UploadId(pub [u8; 16]);

impl UploadId {
    /// A fresh random id.
    pub fn random() -> Self {
        let mut b = [0u8; 16];
        crypto::random_fill(&mut b);
        Self(b)
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UploadId(..)")
    }
}

/// A malformed upload id.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("an upload id is 32 lowercase hexadecimal digits")]
pub struct BadUploadId;

impl FromStr for UploadId {
    type Err = BadUploadId;
    fn from_str(s: &str) -> Result<Self, BadUploadId> {
        let bytes = s.as_bytes();
        if bytes.len() != 32 {
            return Err(BadUploadId);
        }
        let mut out = [0u8; 16];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hex = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            out[i] = hex(pair[0]).ok_or(BadUploadId)? << 4 | hex(pair[1]).ok_or(BadUploadId)?;
        }
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_padme_in_whole_pieces() {
        assert_eq!(bucket(0), 65_536);
        assert_eq!(bucket(65_535), 65_536);
        assert_eq!(bucket(65_536), 131_072);
        // Padmé keeps the overhead under 12% and the bucket a whole number of pieces.
        for len in [
            100_000u64,
            1_482_213,
            3_000_000,
            3_100_000,
            9_600_044,
            24 * 1024 * 1024,
        ] {
            let b = bucket(len);
            assert!(b > len && b % 65_536 == 0, "{len} -> {b}");
            assert!(
                (b - len) as f64 / len as f64 <= 0.12 || b - len <= 65_536,
                "{len} -> {b}"
            );
        }
        // Two nearby photo sizes share a bucket.
        assert_eq!(bucket(3_000_000), bucket(3_010_000));
        assert_eq!(
            pieces_in_blob(blob_len(3_000_000)),
            Some((bucket(3_000_000) / 65_536) as usize)
        );
        assert_eq!(pieces_in_blob(20), None);
        assert_eq!(pieces_in_blob(21 + 65_552), None);
    }

    #[test]
    fn a_file_round_trips_and_a_changed_blob_is_refused() {
        crypto::init().unwrap();
        for len in [0usize, 1, 65_535, 65_536, 200_000] {
            let file: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let sealed = seal_file(&file).unwrap();
            assert_eq!(sealed.blob.len() as u64, blob_len(len as u64));
            let r = AttachmentRef::for_sealed(Kind::File, "application/pdf", len as u64, &sealed);
            assert_eq!(&open_blob(&sealed.blob, &r).unwrap()[..], &file[..]);
            let mut changed = sealed.blob.clone();
            let last = changed.len() - 1;
            changed[last] ^= 1;
            assert_eq!(
                open_blob(&changed, &r).unwrap_err(),
                AttachmentError::WrongDigest
            );
        }
    }

    #[test]
    fn a_blob_with_the_right_digest_but_a_wrong_length_is_refused() {
        crypto::init().unwrap();
        let sealed = seal_file(b"evidence").unwrap();
        let mut r = AttachmentRef::for_sealed(Kind::File, "text/plain", 8, &sealed);
        r.bytes = 7;
        assert_eq!(
            open_blob(&sealed.blob, &r).unwrap_err(),
            AttachmentError::Damaged
        );
    }

    #[test]
    fn safe_names_keep_no_path_and_take_the_extension_from_the_type() {
        crypto::init().unwrap();
        let sealed = seal_file(b"x").unwrap();
        let mut r = AttachmentRef::for_sealed(Kind::Photo, "image/jpeg", 1, &sealed);
        assert_eq!(r.safe_file_name(1), "01-photo.jpg");
        r.name = Some("../../etc/低保名单.exe".into());
        assert_eq!(r.safe_file_name(2), "02-低保名单.jpg");
        r.name = Some(".bashrc".into());
        assert_eq!(r.safe_file_name(3), "03-photo.jpg");
        r.name = Some("a\u{0}b\r\n.txt".into());
        assert_eq!(r.safe_file_name(4), "04-a_b.jpg");
        r.mime = "application/x-msdownload".into();
        assert_eq!(r.safe_file_name(5), "05-a_b.bin");
    }

    #[test]
    fn upload_ids_parse_strictly() {
        let id = UploadId::random();
        assert_eq!(id.to_string().parse::<UploadId>().unwrap(), id);
        assert!("ABCDEF0123456789abcdef0123456789"
            .parse::<UploadId>()
            .is_err());
        assert!("abc".parse::<UploadId>().is_err());
    }
}
