//! Offices: the county office (the root, whose key signs the directory of offices) and the
//! town offices. A resident chooses who reads a report: the county alone, or the county and
//! one town office. The county reads every report; a town office reads only what is addressed
//! to it, or moved to it with the resident's consent.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::keys::PublicKeys;
use super::{Day, TipId};
use crate::crypto::{BoxPublicKey, SignPublicKey, SignSecretKey};

/// Longest office id.
pub const MAX_OFFICE_ID: usize = 32;

/// An office's short identifier, as it appears in key files, the signed directory, export
/// requests and bundles: 1 to 32 of `a-z`, `0-9` and `-`, starting with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct OfficeId(String);

/// A malformed office id.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "an office id is 1 to 32 lowercase letters, digits or dashes, starting with a letter or digit"
)]
pub struct BadOfficeId;

impl OfficeId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OfficeId {
    type Err = BadOfficeId;
    fn from_str(s: &str) -> Result<Self, BadOfficeId> {
        let ok = !s.is_empty()
            && s.len() <= MAX_OFFICE_ID
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BadOfficeId)
        }
    }
}

impl fmt::Display for OfficeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who reads: the root (county) office, which reads every report, or one town office.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Reader {
    /// The county office, whose key is the root of the directory (`inspectors.pub`).
    Root,
    /// A town office named in the signed directory.
    Town(OfficeId),
}

impl Reader {
    /// The town's id, if a town.
    pub fn town(&self) -> Option<&OfficeId> {
        match self {
            Reader::Root => None,
            Reader::Town(id) => Some(id),
        }
    }
}

/// The id the county office has when no directory names it.
pub const DEFAULT_ROOT_ID: &str = "county";
/// Format name of the signed directory of offices.
pub const DIRECTORY_FORMAT: &str = "whistlebox-offices";
/// Version of the directory format.
pub const DIRECTORY_VERSION: u32 = 1;
/// The root key signs this label, then the payload bytes.
const DIRECTORY_LABEL: &[u8] = b"whistlebox-offices-v1\n";
/// Most town offices in one directory (a county has a few dozen towns).
pub const MAX_TOWNS: usize = 200;
/// Longest office name, in characters.
pub const MAX_NAME_CHARS: usize = 60;
/// Largest directory file read.
pub const MAX_DIRECTORY_BYTES: usize = 256 * 1024;

/// One office: its id, its name as residents read it, and its public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Office {
    /// Short id.
    pub id: OfficeId,
    /// The name residents see (Chinese).
    pub name: String,
    /// Its keys: tips are sealed to the box key, its bundles verified with the sign key.
    pub keys: PublicKeys,
}

/// The offices the server may seal to: the county (the root, whose key is `inspectors.pub`)
/// and the town offices the county signed into the directory. Without a directory, the
/// county alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    /// The directory's number: a newer directory has a larger one.
    pub sequence: u64,
    /// The county office.
    pub root: Office,
    /// The town offices, in the order the county listed them.
    pub towns: Vec<Office>,
}

/// Why a directory was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DirectoryError {
    /// Not our format, or damaged.
    #[error("this is not a whistlebox directory of offices, or it is damaged: {0}")]
    Malformed(String),
    /// Another version.
    #[error("this directory of offices has version {0}, which this build does not read")]
    UnknownVersion(u32),
    /// Not signed by the county's key.
    #[error("the directory of offices is not signed by the county office's key (inspectors.pub): it was altered or made by someone else, and it was not used")]
    BadSignature,
    /// Signed, but for another county key than the one this server has.
    #[error("the directory of offices names another county key than this server's inspectors.pub; it was not used")]
    OtherRoot,
    /// Older than the one in use.
    #[error("this directory of offices has number {found}, not newer than number {current} in use; nothing was changed")]
    NotNewer {
        /// The offered one's number.
        found: u64,
        /// The one in use.
        current: u64,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    format: String,
    version: u32,
    payload: String,
    signature: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryPayload {
    sequence: u64,
    made_on: String,
    county: OfficeJson,
    towns: Vec<OfficeJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OfficeJson {
    id: String,
    name: String,
    box_public_key: String,
    sign_public_key: String,
}

impl OfficeJson {
    fn of(office: &Office) -> Self {
        Self {
            id: office.id.to_string(),
            name: office.name.clone(),
            box_public_key: STANDARD.encode(office.keys.box_key.as_bytes()),
            sign_public_key: STANDARD.encode(office.keys.sign_key.as_bytes()),
        }
    }

    fn read(self) -> Result<Office, DirectoryError> {
        let bad = |what: &str| DirectoryError::Malformed(format!("{what} of office {:?}", self.id));
        let id = self.id.parse::<OfficeId>().map_err(|_| bad("the id"))?;
        let name = self.name.trim().to_owned();
        if !valid_name(&name) {
            return Err(bad("the name"));
        }
        let key = |text: &str| STANDARD.decode(text).ok().filter(|k| k.len() == 32);
        let box_key = key(&self.box_public_key)
            .and_then(|k| BoxPublicKey::from_bytes(&k).ok())
            .ok_or_else(|| bad("the box key"))?;
        let sign_key = key(&self.sign_public_key)
            .and_then(|k| SignPublicKey::from_bytes(&k).ok())
            .ok_or_else(|| bad("the signing key"))?;
        Ok(Office {
            id,
            name,
            keys: PublicKeys { box_key, sign_key },
        })
    }
}

/// A name residents can read: 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=MAX_NAME_CHARS).contains(&n) && !name.chars().any(char::is_control)
}

impl Directory {
    /// The county alone, as a server without a directory file runs.
    pub fn root_only(root: PublicKeys) -> Self {
        Self {
            sequence: 0,
            root: Office {
                id: DEFAULT_ROOT_ID.parse().expect("a valid id"),
                name: String::new(),
                keys: root,
            },
            towns: Vec::new(),
        }
    }

    /// A town office by id.
    pub fn town(&self, id: &OfficeId) -> Option<&Office> {
        self.towns.iter().find(|t| &t.id == id)
    }

    /// Which office a bundle's signing key belongs to, if any.
    pub fn reader_of(&self, office: Option<&OfficeId>) -> Option<(Reader, &Office)> {
        match office {
            None => Some((Reader::Root, &self.root)),
            Some(id) if *id == self.root.id => Some((Reader::Root, &self.root)),
            Some(id) => self.town(id).map(|t| (Reader::Town(id.clone()), t)),
        }
    }

    /// The office of a reader.
    pub fn office(&self, reader: &Reader) -> Option<&Office> {
        match reader {
            Reader::Root => Some(&self.root),
            Reader::Town(id) => self.town(id),
        }
    }

    /// Signs a directory with the county's key (on the county's offline machine).
    pub fn sign(&self, made_on: Day, key: &SignSecretKey) -> Result<Vec<u8>, DirectoryError> {
        self.check()?;
        if key.public_key() != self.root.keys.sign_key {
            return Err(DirectoryError::OtherRoot);
        }
        let payload = serde_json::to_vec(&DirectoryPayload {
            sequence: self.sequence,
            made_on: made_on.to_string(),
            county: OfficeJson::of(&self.root),
            towns: self.towns.iter().map(OfficeJson::of).collect(),
        })
        .expect("plain data serializes");
        let mut message = DIRECTORY_LABEL.to_vec();
        message.extend_from_slice(&payload);
        let file = DirectoryFile {
            format: DIRECTORY_FORMAT.into(),
            version: DIRECTORY_VERSION,
            payload: STANDARD.encode(&payload),
            signature: STANDARD.encode(key.sign(&message)),
        };
        Ok(serde_json::to_vec_pretty(&file).expect("plain data serializes"))
    }

    /// Reads a directory file and checks that the county key `root` signed it and that it
    /// names `root` as the county. Nothing in the payload is read before the signature.
    pub fn verify(bytes: &[u8], root: &PublicKeys) -> Result<Self, DirectoryError> {
        let malformed = |what: &str| DirectoryError::Malformed(what.to_owned());
        if bytes.len() > MAX_DIRECTORY_BYTES {
            return Err(malformed("the file is far too long"));
        }
        let file: DirectoryFile =
            serde_json::from_slice(bytes).map_err(|_| malformed("not the expected JSON"))?;
        if file.format != DIRECTORY_FORMAT {
            return Err(malformed("wrong format name"));
        }
        if file.version != DIRECTORY_VERSION {
            return Err(DirectoryError::UnknownVersion(file.version));
        }
        let payload = STANDARD
            .decode(&file.payload)
            .map_err(|_| malformed("the payload is not base64"))?;
        let signature = STANDARD
            .decode(&file.signature)
            .map_err(|_| malformed("the signature is not base64"))?;
        let mut message = DIRECTORY_LABEL.to_vec();
        message.extend_from_slice(&payload);
        root.sign_key
            .verify(&message, &signature)
            .map_err(|_| DirectoryError::BadSignature)?;
        let p: DirectoryPayload = serde_json::from_slice(&payload)
            .map_err(|_| malformed("the payload is not the expected JSON"))?;
        p.made_on
            .parse::<Day>()
            .map_err(|_| malformed("the day is not valid"))?;
        if p.towns.len() > MAX_TOWNS {
            return Err(malformed("too many offices"));
        }
        let directory = Self {
            sequence: p.sequence,
            root: p.county.read()?,
            towns: p
                .towns
                .into_iter()
                .map(OfficeJson::read)
                .collect::<Result<_, _>>()?,
        };
        if directory.root.keys != *root {
            return Err(DirectoryError::OtherRoot);
        }
        directory.check()?;
        Ok(directory)
    }

    /// Ids and keys are unique; the county is not also a town.
    fn check(&self) -> Result<(), DirectoryError> {
        if self.towns.len() > MAX_TOWNS {
            return Err(DirectoryError::Malformed("too many offices".into()));
        }
        let mut ids = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for office in std::iter::once(&self.root).chain(&self.towns) {
            if !ids.insert(office.id.clone())
                || !keys.insert(*office.keys.box_key.as_bytes())
                || !keys.insert(*office.keys.sign_key.as_bytes())
            {
                return Err(DirectoryError::Malformed(format!(
                    "office {} appears twice (same id or same key)",
                    office.id
                )));
            }
            if !valid_name(&office.name) {
                return Err(DirectoryError::Malformed(format!(
                    "the name of office {} is empty or too long",
                    office.id
                )));
            }
        }
        Ok(())
    }

    /// Replaces this directory with `newer` if it is newer.
    pub fn check_newer(&self, newer: &Directory) -> Result<(), DirectoryError> {
        if newer.sequence <= self.sequence {
            return Err(DirectoryError::NotNewer {
                found: newer.sequence,
                current: self.sequence,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto;
    use crate::domain::keys::SecretKeys;

    fn office(id: &str, name: &str, keys: &SecretKeys) -> Office {
        Office {
            id: id.parse().unwrap(),
            name: name.into(),
            keys: keys.public_keys(),
        }
    }

    #[test]
    fn a_directory_signed_by_the_county_is_read_back() {
        crypto::init().unwrap();
        let county = SecretKeys::generate();
        let town = SecretKeys::generate();
        let dir = Directory {
            sequence: 3,
            root: office("county", "东山县纪委监委", &county),
            towns: vec![office("dongshan-town", "东山镇纪委", &town)],
        };
        let bytes = dir.sign(Day(20_000), &county.sign_key).unwrap();
        let back = Directory::verify(&bytes, &county.public_keys()).unwrap();
        assert_eq!(back, dir);
        assert_eq!(
            back.reader_of(Some(&"dongshan-town".parse().unwrap()))
                .unwrap()
                .0,
            Reader::Town("dongshan-town".parse().unwrap())
        );
        assert_eq!(back.reader_of(None).unwrap().0, Reader::Root);
        assert!(back.reader_of(Some(&"nowhere".parse().unwrap())).is_none());
    }

    #[test]
    fn a_directory_not_signed_by_the_county_is_refused() {
        crypto::init().unwrap();
        let county = SecretKeys::generate();
        let operator = SecretKeys::generate();
        let dir = Directory {
            sequence: 1,
            root: office("county", "县纪委", &county),
            towns: vec![office("mine", "我的办公室", &operator)],
        };
        // Signed by someone else but naming the county: the signature fails.
        let mut forged = dir.clone();
        forged.root.keys = operator.public_keys();
        forged.towns[0].keys = SecretKeys::generate().public_keys();
        let bytes = forged.sign(Day(1), &operator.sign_key).unwrap();
        assert_eq!(
            Directory::verify(&bytes, &county.public_keys()).unwrap_err(),
            DirectoryError::BadSignature
        );
        // Signed by the county, then a town's key swapped inside the payload.
        let good = dir.sign(Day(1), &county.sign_key).unwrap();
        let file: DirectoryFile = serde_json::from_slice(&good).unwrap();
        let payload = String::from_utf8(STANDARD.decode(&file.payload).unwrap()).unwrap();
        let swapped = payload.replace(
            &STANDARD.encode(operator.public_keys().box_key.as_bytes()),
            &STANDARD.encode(SecretKeys::generate().public_keys().box_key.as_bytes()),
        );
        let tampered = serde_json::to_vec(&DirectoryFile {
            payload: STANDARD.encode(swapped),
            ..file
        })
        .unwrap();
        assert_eq!(
            Directory::verify(&tampered, &county.public_keys()).unwrap_err(),
            DirectoryError::BadSignature
        );
        // The county cannot sign a directory for another root.
        assert_eq!(
            forged.sign(Day(1), &county.sign_key).unwrap_err(),
            DirectoryError::OtherRoot
        );
    }

    #[test]
    fn duplicates_and_rollbacks_are_refused() {
        crypto::init().unwrap();
        let county = SecretKeys::generate();
        let town = SecretKeys::generate();
        let twice = Directory {
            sequence: 1,
            root: office("county", "县纪委", &county),
            towns: vec![office("a", "甲镇", &town), office("a", "乙镇", &town)],
        };
        assert!(matches!(
            twice.sign(Day(1), &county.sign_key).unwrap_err(),
            DirectoryError::Malformed(_)
        ));
        let one = Directory {
            towns: vec![office("a", "甲镇", &town)],
            ..twice.clone()
        };
        assert_eq!(
            one.check_newer(&one).unwrap_err(),
            DirectoryError::NotNewer {
                found: 1,
                current: 1
            }
        );
    }

    #[test]
    fn office_ids_are_checked() {
        for good in ["county", "town-a", "3", "xiangzhen-12"] {
            assert_eq!(good.parse::<OfficeId>().unwrap().as_str(), good);
        }
        for bad in ["", "-a", "Town", "a b", "镇", &"a".repeat(33), "a/b", "a_b"] {
            assert_eq!(bad.parse::<OfficeId>(), Err(BadOfficeId), "{bad:?}");
        }
    }
}

/// The signature an office puts on each case it moves: over the tip, the office it goes to
/// and the digest of the sealed tip it hands over. The receiving office checks it against
/// the mover's key in the directory, so nobody who carries the export can hand it other
/// words under that tip's id.
pub fn move_message(tip: TipId, to: &OfficeId, copy_digest: &[u8; 32]) -> Vec<u8> {
    let mut m = b"whistlebox-move-v1\n".to_vec();
    m.extend_from_slice(tip.to_string().as_bytes());
    m.push(b'\n');
    m.extend_from_slice(to.as_str().as_bytes());
    m.push(b'\n');
    m.extend_from_slice(copy_digest);
    m
}

/// What the server keeps for a town with a moved case, and exports to it: who moved it and
/// their signature ([`move_message`]), and the tip's content key for the town. While the
/// resident has not answered, that key is sealed once more, to the resident's reply key
/// bound in the tip: no one but the holder of the receipt can release it, so neither the
/// server, its operator, a backup nor whoever carries the move bundle can give the town
/// the case without the resident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The office that moved the case.
    pub by: OfficeId,
    /// Its signature over [`move_message`].
    pub signature: Vec<u8>,
    /// The content key.
    pub key: GrantKey,
}

/// The content key of a moved case, as far as the resident has released it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantKey {
    /// The town's stanza sealed to the resident's reply key (`crypto_box_seal`): waiting.
    ForResident(Vec<u8>),
    /// The town's stanza (the content key sealed to the town): the resident agreed.
    Open(Vec<u8>),
}

/// Version of the encoded [`Grant`].
const GRANT_VERSION: u8 = 1;
/// Bytes of the town's stanza sealed again to the resident.
pub const WRAPPED_STANZA_BYTES: usize = crate::crypto::STANZA_BYTES + crate::crypto::SEAL_OVERHEAD;

impl Grant {
    /// `[1][kind: 0 for the resident, 1 open][id length][id][signature: 64][key]`.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, key) = match &self.key {
            GrantKey::ForResident(k) => (0u8, k),
            GrantKey::Open(k) => (1u8, k),
        };
        let mut out = vec![GRANT_VERSION, kind, self.by.as_str().len() as u8];
        out.extend_from_slice(self.by.as_str().as_bytes());
        out.extend_from_slice(&self.signature);
        out.extend_from_slice(key);
        out
    }

    /// Reads what [`Grant::encode`] wrote; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&[version, kind, id_len], rest) = bytes.split_first_chunk::<3>()?;
        if version != GRANT_VERSION {
            return None;
        }
        let id_len = id_len as usize;
        let by = std::str::from_utf8(rest.get(..id_len)?)
            .ok()?
            .parse()
            .ok()?;
        let rest = &rest[id_len..];
        let signature = rest.get(..crate::crypto::SIGNATURE_BYTES)?.to_vec();
        let key = rest[crate::crypto::SIGNATURE_BYTES..].to_vec();
        let key = match kind {
            0 if key.len() == WRAPPED_STANZA_BYTES => GrantKey::ForResident(key),
            1 if key.len() == crate::crypto::STANZA_BYTES => GrantKey::Open(key),
            _ => return None,
        };
        Some(Self { by, signature, key })
    }
}

#[cfg(test)]
mod grant_tests {
    use super::*;

    #[test]
    fn grants_round_trip_and_refuse_anything_else() {
        for key in [
            GrantKey::ForResident(vec![1; WRAPPED_STANZA_BYTES]),
            GrantKey::Open(vec![2; crate::crypto::STANZA_BYTES]),
        ] {
            let g = Grant {
                by: "county".parse().unwrap(),
                signature: vec![3; 64],
                key,
            };
            let bytes = g.encode();
            assert_eq!(Grant::decode(&bytes), Some(g));
            assert_eq!(Grant::decode(&bytes[..bytes.len() - 1]), None);
            let mut wrong = bytes.clone();
            wrong[0] = 9;
            assert_eq!(Grant::decode(&wrong), None);
        }
        assert_eq!(Grant::decode(&[]), None);
        // Fixed: the offices' tools read what the server wrote.
        let g = Grant {
            by: "a".parse().unwrap(),
            signature: vec![0; 64],
            key: GrantKey::Open(vec![7; 80]),
        };
        assert_eq!(&g.encode()[..4], &[1, 1, 1, b'a']);
    }
}
