//! The inspectors' key files.
//!
//! `inspectors.pub` is small, versioned text that a person can read, with a fingerprint to
//! read aloud when checking a copy. `inspectors.key` is JSON holding the two secret keys
//! encrypted under a passphrase (Argon2id + XSalsa20-Poly1305 secret box).

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use super::office::{valid_name, OfficeId};
use crate::crypto::{
    self, Argon2Params, BoxPublicKey, BoxSecretKey, PassphraseKey, SignPublicKey, SignSecretKey,
    SALT_BYTES, SECRETBOX_NONCE_BYTES,
};

/// Format name on the first data line of `inspectors.pub`.
pub const PUB_FORMAT: &str = "whistlebox-inspectors-pub";
/// Format name inside `inspectors.key`.
pub const KEY_FORMAT: &str = "whistlebox-inspectors-key";
/// Version of both key files.
pub const KEY_FILES_VERSION: u32 = 1;

/// Problems with key files. A wrong passphrase and a damaged key file are one error.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyFileError {
    /// Not one of our key files, or damaged.
    #[error("this is not a whistlebox key file, or it is damaged: {0}")]
    Malformed(String),
    /// A version this build does not know.
    #[error("this key file has version {0}, which this build of whistlebox does not know")]
    UnknownVersion(u32),
    /// The fingerprint written in the file does not match its keys.
    #[error("the fingerprint written in the file does not match its keys: the copy is damaged or was altered")]
    FingerprintMismatch,
    /// Wrong passphrase (or a damaged file).
    #[error("wrong passphrase, or the key file is damaged")]
    WrongPassphrase,
    /// Argon2id could not run.
    #[error("the passphrase could not be stretched (not enough memory?)")]
    Kdf,
}

/// The inspectors' public keys, as the server holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeys {
    /// X25519: tips and follow-ups are sealed to it.
    pub box_key: BoxPublicKey,
    /// Ed25519: updates are verified with it.
    pub sign_key: SignPublicKey,
}

impl PublicKeys {
    /// A 24-digit fingerprint in groups of four, easy to read aloud.
    pub fn fingerprint(&self) -> String {
        let h: [u8; 16] = crypto::blake2b(
            None,
            &[
                b"whistlebox fingerprint v1",
                self.box_key.as_bytes(),
                self.sign_key.as_bytes(),
            ],
        );
        let mut v = u128::from_le_bytes(h) % 10u128.pow(24);
        let mut digits = [0u8; 24];
        for d in digits.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        let groups: Vec<&str> = digits
            .chunks(4)
            .map(|c| std::str::from_utf8(c).expect("ascii digits"))
            .collect();
        groups.join(" ")
    }

    /// The text of `inspectors.pub`.
    pub fn to_file_text(&self) -> String {
        self.to_file_text_of(None)
    }

    /// The text of `inspectors.pub` of an office: with its id and name, which the county
    /// reads when it signs the office into the directory.
    pub fn to_file_text_of(&self, office: Option<&OfficeLabel>) -> String {
        let mut s = String::new();
        s.push_str("# whistlebox: the inspectors' public keys. Copy this file to the server's keys/ folder.\n");
        s.push_str("# Before trusting a copy, read its fingerprint aloud and compare it with the inspectors'.\n");
        let _ = writeln!(s, "format: {PUB_FORMAT}");
        let _ = writeln!(s, "version: {KEY_FILES_VERSION}");
        let _ = writeln!(
            s,
            "box_public_key: {}",
            STANDARD.encode(self.box_key.as_bytes())
        );
        let _ = writeln!(
            s,
            "sign_public_key: {}",
            STANDARD.encode(self.sign_key.as_bytes())
        );
        let _ = writeln!(s, "fingerprint: {}", self.fingerprint());
        if let Some(office) = office {
            let _ = writeln!(s, "office: {}", office.id);
            let _ = writeln!(s, "name: {}", office.name);
        }
        s
    }

    /// The office id and name an `inspectors.pub` names, if it names one (they are not
    /// covered by the fingerprint: the county checks them when it signs the directory).
    pub fn office_in_file_text(text: &str) -> Result<Option<OfficeLabel>, KeyFileError> {
        let value = |name: &str| {
            text.lines()
                .filter_map(|l| l.trim().split_once(':'))
                .find(|(n, _)| n.trim() == name)
                .map(|(_, v)| v.trim().to_owned())
        };
        match (value("office"), value("name")) {
            (None, None) => Ok(None),
            (Some(id), Some(name)) => OfficeLabel::new(&id, &name).map(Some),
            _ => Err(KeyFileError::Malformed(
                "an office needs both its `office:` and `name:` lines".into(),
            )),
        }
    }

    /// Parses `inspectors.pub`, checking its fingerprint line when present.
    pub fn from_file_text(text: &str) -> Result<Self, KeyFileError> {
        if text.len() > 64 * 1024 {
            return Err(KeyFileError::Malformed("the file is far too long".into()));
        }
        let mut format = None;
        let mut version = None;
        let mut box_key = None;
        let mut sign_key = None;
        let mut fingerprint = None;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| KeyFileError::Malformed("a line has no `name: value`".into()))?;
            let value = value.trim();
            match name.trim() {
                "format" => format = Some(value.to_owned()),
                "version" => {
                    version = Some(value.parse::<u32>().map_err(|_| {
                        KeyFileError::Malformed("the version is not a number".into())
                    })?)
                }
                "box_public_key" => box_key = Some(decode_key(value, "box_public_key")?),
                "sign_public_key" => sign_key = Some(decode_key(value, "sign_public_key")?),
                "fingerprint" => fingerprint = Some(value.to_owned()),
                _ => {} // Later versions may add lines; unknown ones are ignored.
            }
        }
        if format.as_deref() != Some(PUB_FORMAT) {
            return Err(KeyFileError::Malformed(format!(
                "the first line must be `format: {PUB_FORMAT}`"
            )));
        }
        match version {
            Some(KEY_FILES_VERSION) => {}
            Some(v) => return Err(KeyFileError::UnknownVersion(v)),
            None => {
                return Err(KeyFileError::Malformed(
                    "the version line is missing".into(),
                ))
            }
        }
        let box_key =
            box_key.ok_or_else(|| KeyFileError::Malformed("box_public_key is missing".into()))?;
        let sign_key =
            sign_key.ok_or_else(|| KeyFileError::Malformed("sign_public_key is missing".into()))?;
        let keys = Self {
            box_key: BoxPublicKey::from_bytes(&box_key)
                .map_err(|_| KeyFileError::Malformed("box_public_key is not a key".into()))?,
            sign_key: SignPublicKey::from_bytes(&sign_key)
                .map_err(|_| KeyFileError::Malformed("sign_public_key is not a key".into()))?,
        };
        // The fingerprint line is required: it is what catches a damaged or altered copy.
        match fingerprint {
            Some(fp) if fp == keys.fingerprint() => Ok(keys),
            Some(_) => Err(KeyFileError::FingerprintMismatch),
            None => Err(KeyFileError::Malformed(
                "the fingerprint line is missing".into(),
            )),
        }
    }
}

fn decode_key(value: &str, what: &str) -> Result<Vec<u8>, KeyFileError> {
    let bytes = STANDARD
        .decode(value)
        .map_err(|_| KeyFileError::Malformed(format!("{what} is not base64")))?;
    if bytes.len() != crypto::PUBLIC_KEY_BYTES {
        return Err(KeyFileError::Malformed(format!(
            "{what} has the wrong length"
        )));
    }
    Ok(bytes)
}

/// Which office a key belongs to: its id and the name residents read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeLabel {
    /// Short id.
    pub id: OfficeId,
    /// Name in Chinese, as residents read it.
    pub name: String,
}

impl OfficeLabel {
    /// Checks an id and a name.
    pub fn new(id: &str, name: &str) -> Result<Self, KeyFileError> {
        let id = id
            .parse::<OfficeId>()
            .map_err(|e| KeyFileError::Malformed(e.to_string()))?;
        let name = name.trim();
        if !valid_name(name) {
            return Err(KeyFileError::Malformed(
                "an office name is 1 to 60 characters on one line".into(),
            ));
        }
        Ok(Self {
            id,
            name: name.to_owned(),
        })
    }
}

/// The inspectors' secret keys. Lives only on the offline machine.
pub struct SecretKeys {
    /// Opens tips and follow-ups.
    pub box_key: BoxSecretKey,
    /// Signs updates and acks.
    pub sign_key: SignSecretKey,
    /// The office these keys belong to; `None` for the county office's keys made before
    /// offices existed (they are the county's).
    pub office: Option<OfficeLabel>,
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKeys([redacted])")
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileJson {
    format: String,
    version: u32,
    kdf: String,
    ops: u32,
    mem_bytes: u64,
    salt: String,
    nonce: String,
    ciphertext: String,
    /// The office's id (absent in key files made before offices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    office: Option<String>,
    /// The office's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    office_name: Option<String>,
}

/// Bounds on Argon2id parameters read from a key file, so that a hostile file cannot make
/// the machine hang or run out of memory.
const MAX_FILE_OPS: u32 = 20;
const MAX_FILE_MEM: u64 = 4 * 1024 * 1024 * 1024;
const MIN_FILE_MEM: u64 = 8 * 1024;

impl SecretKeys {
    /// Fresh random keys.
    pub fn generate() -> Self {
        Self {
            box_key: BoxSecretKey::generate(),
            sign_key: SignSecretKey::generate(),
            office: None,
        }
    }

    /// The public halves.
    pub fn public_keys(&self) -> PublicKeys {
        PublicKeys {
            box_key: self.box_key.public_key(),
            sign_key: self.sign_key.public_key(),
        }
    }

    /// The text of `inspectors.key`, encrypted under `passphrase`.
    pub fn to_file_text(
        &self,
        passphrase: &[u8],
        params: Argon2Params,
    ) -> Result<String, KeyFileError> {
        let mut salt = [0u8; SALT_BYTES];
        crypto::random_fill(&mut salt);
        let key =
            PassphraseKey::derive(passphrase, &salt, params).map_err(|_| KeyFileError::Kdf)?;
        let mut plain = Zeroizing::new(Vec::with_capacity(64));
        plain.extend_from_slice(self.box_key.expose_bytes());
        plain.extend_from_slice(self.sign_key.expose_seed());
        let (nonce, ciphertext) = key.encrypt(&plain);
        let file = KeyFileJson {
            format: KEY_FORMAT.into(),
            version: KEY_FILES_VERSION,
            kdf: "argon2id13".into(),
            ops: params.ops,
            mem_bytes: params.mem_bytes,
            salt: STANDARD.encode(salt),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
            office: self.office.as_ref().map(|o| o.id.to_string()),
            office_name: self.office.as_ref().map(|o| o.name.clone()),
        };
        Ok(serde_json::to_string_pretty(&file).expect("plain struct serializes") + "\n")
    }

    /// Reads `inspectors.key` with its passphrase.
    pub fn from_file_text(text: &str, passphrase: &[u8]) -> Result<Self, KeyFileError> {
        if text.len() > 64 * 1024 {
            return Err(KeyFileError::Malformed("the file is far too long".into()));
        }
        let file: KeyFileJson = serde_json::from_str(text)
            .map_err(|_| KeyFileError::Malformed("not the expected JSON".into()))?;
        if file.format != KEY_FORMAT {
            return Err(KeyFileError::Malformed(format!(
                "format must be {KEY_FORMAT}"
            )));
        }
        if file.version != KEY_FILES_VERSION {
            return Err(KeyFileError::UnknownVersion(file.version));
        }
        if file.kdf != "argon2id13"
            || file.ops == 0
            || file.ops > MAX_FILE_OPS
            || !(MIN_FILE_MEM..=MAX_FILE_MEM).contains(&file.mem_bytes)
        {
            return Err(KeyFileError::Malformed(
                "unsupported key derivation settings".into(),
            ));
        }
        let salt: [u8; SALT_BYTES] = STANDARD
            .decode(&file.salt)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| KeyFileError::Malformed("bad salt".into()))?;
        let nonce = STANDARD
            .decode(&file.nonce)
            .ok()
            .filter(|n| n.len() == SECRETBOX_NONCE_BYTES)
            .ok_or_else(|| KeyFileError::Malformed("bad nonce".into()))?;
        let ciphertext = STANDARD
            .decode(&file.ciphertext)
            .map_err(|_| KeyFileError::Malformed("bad ciphertext".into()))?;
        let office = match (&file.office, &file.office_name) {
            (None, None) => None,
            (Some(id), Some(name)) => Some(OfficeLabel::new(id, name)?),
            _ => {
                return Err(KeyFileError::Malformed(
                    "the office id or its name is missing".into(),
                ))
            }
        };
        let params = Argon2Params {
            ops: file.ops,
            mem_bytes: file.mem_bytes,
        };
        let key =
            PassphraseKey::derive(passphrase, &salt, params).map_err(|_| KeyFileError::Kdf)?;
        let plain = key
            .decrypt(&nonce, &ciphertext)
            .map_err(|_| KeyFileError::WrongPassphrase)?;
        if plain.len() != 64 {
            return Err(KeyFileError::Malformed(
                "the secret has the wrong length".into(),
            ));
        }
        Ok(Self {
            box_key: BoxSecretKey::from_bytes(&plain[..32])
                .map_err(|_| KeyFileError::Malformed("bad box key".into()))?,
            sign_key: SignSecretKey::from_seed_bytes(&plain[32..])
                .map_err(|_| KeyFileError::Malformed("bad signing key".into()))?,
            office,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Argon2Params = Argon2Params {
        ops: 1,
        mem_bytes: 8 * 1024,
    };

    #[test]
    fn key_file_round_trip_and_wrong_passphrase() {
        crypto::init().unwrap();
        let keys = SecretKeys::generate();
        let text = keys.to_file_text(b"correct horse", FAST).unwrap();
        let back = SecretKeys::from_file_text(&text, b"correct horse").unwrap();
        assert_eq!(back.public_keys(), keys.public_keys());
        assert_eq!(
            SecretKeys::from_file_text(&text, b"wrong").unwrap_err(),
            KeyFileError::WrongPassphrase
        );
        assert!(matches!(
            SecretKeys::from_file_text("{}", b"x").unwrap_err(),
            KeyFileError::Malformed(_)
        ));
        let greedy = text.replace("\"ops\": 1", "\"ops\": 4000000");
        assert!(matches!(
            SecretKeys::from_file_text(&greedy, b"correct horse").unwrap_err(),
            KeyFileError::Malformed(_)
        ));
    }

    #[test]
    fn office_keys_carry_their_id_and_name() {
        crypto::init().unwrap();
        let mut keys = SecretKeys::generate();
        keys.office = Some(OfficeLabel::new("dongshan", "东山镇纪委").unwrap());
        let text = keys.to_file_text(b"correct horse", FAST).unwrap();
        let back = SecretKeys::from_file_text(&text, b"correct horse").unwrap();
        assert_eq!(back.office, keys.office);
        let public = keys.public_keys().to_file_text_of(keys.office.as_ref());
        assert_eq!(
            PublicKeys::from_file_text(&public).unwrap(),
            keys.public_keys()
        );
        assert_eq!(
            PublicKeys::office_in_file_text(&public).unwrap(),
            keys.office
        );
        assert_eq!(
            PublicKeys::office_in_file_text(&keys.public_keys().to_file_text()).unwrap(),
            None
        );
        assert!(OfficeLabel::new("Bad Id", "x").is_err());
        assert!(OfficeLabel::new("ok", "").is_err());
    }

    #[test]
    fn pub_file_round_trip_and_tamper() {
        crypto::init().unwrap();
        let keys = SecretKeys::generate().public_keys();
        let text = keys.to_file_text();
        assert_eq!(PublicKeys::from_file_text(&text).unwrap(), keys);
        let other = SecretKeys::generate().public_keys();
        let swapped = text.replace(
            &STANDARD.encode(keys.box_key.as_bytes()),
            &STANDARD.encode(other.box_key.as_bytes()),
        );
        assert_eq!(
            PublicKeys::from_file_text(&swapped).unwrap_err(),
            KeyFileError::FingerprintMismatch
        );
        assert_eq!(
            PublicKeys::from_file_text(&text.replace("version: 1", "version: 9")).unwrap_err(),
            KeyFileError::UnknownVersion(9)
        );
    }

    /// Fixed-output test of the `inspectors.pub` format. Do not change this test if it
    /// fails: a changed format strands every server's copy of the key.
    #[test]
    fn pub_file_format_is_fixed() {
        let keys = PublicKeys {
            box_key: BoxPublicKey::from_bytes(&[1u8; 32]).unwrap(),
            sign_key: SignPublicKey::from_bytes(&[2u8; 32]).unwrap(),
        };
        let text = keys.to_file_text();
        let data: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            data[..4],
            [
                "format: whistlebox-inspectors-pub",
                "version: 1",
                "box_public_key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
                "sign_public_key: AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
            ]
        );
        assert!(data[4].starts_with("fingerprint: "));
        assert_eq!(data[4].len(), "fingerprint: ".len() + 29);
        assert_eq!(PublicKeys::from_file_text(&text).unwrap(), keys);
    }
}
