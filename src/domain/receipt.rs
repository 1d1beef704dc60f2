//! Receipt codes: what a resident writes down to come back to a report.
//!
//! Twenty decimal digits: nineteen from the OS random source (10^19 > 2^63, so just over
//! 63 random bits) and one Damm check digit, which catches every single wrong digit and
//! every swap of two neighbours. Shown in five groups of four. Digits only, because they
//! are easy to write on paper and to read over the phone, in Chinese or English.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::distr::{Distribution, Uniform};
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use thiserror::Error;
use zeroize::Zeroizing;

use super::intake::StubKey;
use crate::crypto::{self, Argon2Params, CryptoError, SALT_BYTES};

/// Random digits in a receipt.
pub const RANDOM_DIGITS: usize = 19;
/// All digits in a receipt, check digit included.
pub const RECEIPT_DIGITS: usize = RANDOM_DIGITS + 1;
/// Longest input we even look at; anything longer is not a receipt.
const MAX_INPUT_CHARS: usize = 128;

/// Damm's quasigroup of order 10 (weakly totally anti-symmetric).
const DAMM: [[u8; 10]; 10] = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

/// The Damm interim digit of a run of digit values (0 to 9). A string with its check
/// digit appended gives 0.
pub fn damm(digits: &[u8]) -> u8 {
    digits
        .iter()
        .fold(0u8, |acc, &d| DAMM[acc as usize][d as usize])
}

/// Why a typed receipt was refused. None of these says anything about stored receipts.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum ReceiptError {
    /// Nothing typed.
    #[error("Please type your receipt code.")]
    Empty,
    /// A letter or sign that is not a digit, space or dash.
    #[error("A receipt code has only digits. Please check what you typed.")]
    BadCharacter,
    /// Too few or too many digits.
    #[error("A receipt code has 20 digits, in five groups of four. Please check that none is missing or extra.")]
    WrongLength,
    /// The check digit does not match: a digit was mistyped or two were swapped.
    #[error("A digit seems wrong. Please check the code against your paper, digit by digit.")]
    CheckDigit,
}

/// A receipt code. Not `Clone`, not `Debug`-printable, wiped on drop: it unlocks a report.
pub struct Receipt {
    digits: Zeroizing<[u8; RECEIPT_DIGITS]>,
}

impl Receipt {
    /// A fresh receipt from the OS random source: one number below 10^19 drawn with `rand`'s
    /// `Uniform` (Lemire's method, unbiased), written as nineteen digits.
    pub fn generate() -> Self {
        let mut digits = Zeroizing::new([0u8; RECEIPT_DIGITS]);
        let space = Uniform::new(0, 10u64.pow(RANDOM_DIGITS as u32)).expect("a non-empty range");
        let mut value = Zeroizing::new(space.sample(&mut UnwrapErr(SysRng)));
        for slot in digits[..RANDOM_DIGITS].iter_mut().rev() {
            *slot = (*value % 10) as u8;
            *value /= 10;
        }
        digits[RANDOM_DIGITS] = damm(&digits[..RANDOM_DIGITS]);
        Self { digits }
    }

    /// Reads a receipt as a person types it: spaces, dashes and full-width digits (from
    /// Chinese input methods) are accepted; the check digit must match.
    pub fn parse(input: &str) -> Result<Self, ReceiptError> {
        if input.chars().count() > MAX_INPUT_CHARS {
            return Err(ReceiptError::WrongLength);
        }
        let mut digits = Zeroizing::new([0u8; RECEIPT_DIGITS]);
        let mut n = 0usize;
        for c in input.chars() {
            let d = match c {
                '0'..='9' => c as u32 - '0' as u32,
                '０'..='９' => c as u32 - '０' as u32,
                c if is_separator(c) => continue,
                _ => return Err(ReceiptError::BadCharacter),
            };
            if n == RECEIPT_DIGITS {
                return Err(ReceiptError::WrongLength);
            }
            digits[n] = d as u8;
            n += 1;
        }
        match n {
            0 => Err(ReceiptError::Empty),
            RECEIPT_DIGITS if damm(&digits[..]) == 0 => Ok(Self { digits }),
            RECEIPT_DIGITS => Err(ReceiptError::CheckDigit),
            _ => Err(ReceiptError::WrongLength),
        }
    }

    /// The receipt as a person should see it: five groups of four digits.
    pub fn display(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(RECEIPT_DIGITS + 4));
        for (i, d) in self.digits.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push(' ');
            }
            s.push(char::from(b'0' + d));
        }
        s
    }

    /// The canonical form hashed for lookups: 20 ASCII digits.
    fn canonical(&self) -> Zeroizing<[u8; RECEIPT_DIGITS]> {
        let mut out = Zeroizing::new([0u8; RECEIPT_DIGITS]);
        for (o, d) in out.iter_mut().zip(self.digits.iter()) {
            *o = b'0' + d;
        }
        out
    }
}

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receipt([redacted])")
    }
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '‐' | '‑' | '–' | '—' | '－' | '_' | '.' | '·')
}

/// What the store keeps instead of a receipt: a hash keyed with the pepper (of the lookup
/// value for version 2, of the Argon2id output for version 1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiptLookup(pub [u8; 32]);

impl fmt::Debug for ReceiptLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiptLookup(..)")
    }
}

/// Bytes of a lookup value.
pub const LOOKUP_VALUE_BYTES: usize = 32;
/// Longest lookup value text looked at (44 characters of base64, and room for spaces).
const MAX_LOOKUP_CHARS: usize = 64;

/// What a browser sends instead of its receipt (version 2): BLAKE2b-256 of
/// `"whistlebox lookup v2"` and the receipt's Argon2id output, unkeyed so that the browser
/// can make it. It unlocks the status, so it is treated like a receipt: not `Clone`, not
/// printable, wiped on drop. It does not give the reply key: that comes from the Argon2id
/// output by another label, and BLAKE2b cannot be run backwards.
pub struct LookupValue(Zeroizing<[u8; LOOKUP_VALUE_BYTES]>);

/// Why a lookup value was refused.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum LookupValueError {
    /// Not 32 bytes of standard base64.
    #[error("The lookup value must be 32 bytes in standard base64. Please reload the page and try again.")]
    Malformed,
}

impl LookupValue {
    /// Reads the standard base64 a browser sends.
    pub fn from_base64(text: &str) -> Result<Self, LookupValueError> {
        if text.len() > MAX_LOOKUP_CHARS {
            return Err(LookupValueError::Malformed);
        }
        let raw = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| LookupValueError::Malformed)?,
        );
        let bytes = <[u8; LOOKUP_VALUE_BYTES]>::try_from(&raw[..])
            .map_err(|_| LookupValueError::Malformed)?;
        Ok(Self(Zeroizing::new(bytes)))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; LOOKUP_VALUE_BYTES] {
        &self.0
    }

    /// Standard base64, as a browser sends it.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(&self.0[..]))
    }
}

impl fmt::Debug for LookupValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LookupValue([redacted])")
    }
}

/// Labels of the derivation (BLAKE2b inputs start with them). Version 2 is what browsers
/// compute; version 1 (both keyed with the pepper) is still tried for older receipts.
const LOOKUP_V2_LABEL: &[u8] = b"whistlebox lookup v2";
const REPLY_V2_LABEL: &[u8] = b"whistlebox reply key v2";
const INDEX_V2_LABEL: &[u8] = b"whistlebox receipt v2";
const INDEX_V1_LABEL: &[u8] = b"whistlebox receipt v1";
const REPLY_V1_LABEL: &[u8] = b"whistlebox reply key v1";
/// Label of the stub key of a printed form's receipt (`domain::intake`).
const STUB_V1_LABEL: &[u8] = b"whistlebox stub v1";

/// What a resident's browser derives from a receipt (version 2), and the server derives for
/// a resident without JavaScript: the lookup value, which is sent, and the reply key seed,
/// which stays where it was made.
pub struct ClientKeys {
    /// Sent instead of the receipt.
    pub lookup_value: LookupValue,
    /// Seed of the X25519 reply key pair (`crypto_box_seed_keypair`).
    pub reply_seed: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientKeys([redacted])")
    }
}

/// The version 2 derivation, with no secret of the server's in it, exactly as the page's
/// script runs it: `stretched = Argon2id(20 ASCII digits, salt, params)` (libsodium
/// `crypto_pwhash`, 32 bytes), `lookup value = BLAKE2b-256("whistlebox lookup v2" ||
/// stretched)`, `reply seed = BLAKE2b-256("whistlebox reply key v2" || stretched)`.
pub fn client_derivation(
    receipt: &Receipt,
    salt: &[u8; SALT_BYTES],
    params: Argon2Params,
) -> Result<ClientKeys, CryptoError> {
    let stretched = crypto::argon2id::<32>(&receipt.canonical()[..], salt, params)?;
    Ok(from_stretched(&stretched))
}

/// The version 2 lookup value and reply seed of one Argon2id output.
fn from_stretched(stretched: &[u8; 32]) -> ClientKeys {
    ClientKeys {
        lookup_value: LookupValue(Zeroizing::new(crypto::blake2b::<32>(
            None,
            &[LOOKUP_V2_LABEL, &stretched[..]],
        ))),
        reply_seed: Zeroizing::new(crypto::blake2b::<32>(
            None,
            &[REPLY_V2_LABEL, &stretched[..]],
        )),
    }
}

/// Where a receipt's tip is found, and the seed of the reply key bound inside it.
pub struct ReceiptKeys {
    /// Where the tip is found.
    pub lookup: ReceiptLookup,
    /// Seed of the X25519 key that replies to this receipt are sealed to.
    pub reply_seed: Zeroizing<[u8; 32]>,
}

impl ReceiptKeys {
    /// The reply key pair.
    pub fn reply_key(&self) -> crypto::BoxSecretKey {
        crypto::BoxSecretKey::from_seed(&self.reply_seed)
    }
}

impl fmt::Debug for ReceiptKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiptKeys([redacted])")
    }
}

/// What one Argon2id run over a receipt yields on the server: the version 2 keys, which
/// every new receipt uses, and the version 1 keys, under which receipts made before version
/// 2 are still filed (their tips bind the version 1 reply key).
pub struct DerivedReceipt {
    /// Version 2: the stored index of the lookup value, and the unkeyed reply seed.
    pub current: ReceiptKeys,
    /// Version 1: both keyed with the pepper.
    pub legacy: ReceiptKeys,
    /// Where a printed form's stub with this receipt is filed (`domain::intake`).
    pub stub: StubKey,
}

impl DerivedReceipt {
    /// The versions in the order they are tried: the current one first.
    pub fn in_order(&self) -> [&ReceiptKeys; 2] {
        [&self.current, &self.legacy]
    }
}

impl fmt::Debug for DerivedReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedReceipt([redacted])")
    }
}

/// Turns receipts and lookup values into stored indexes. A receipt costs one Argon2id run
/// (memory-hard) with the installation's salt; a lookup value (which a browser made with
/// that same Argon2id run) costs one BLAKE2b keyed with the pepper, a secret kept outside
/// the data folder. A copy of the data folder alone therefore cannot test a single guess,
/// and a copy with the pepper still costs one Argon2id run per guess.
pub struct ReceiptHasher {
    salt: [u8; SALT_BYTES],
    pepper: Zeroizing<[u8; 32]>,
    params: Argon2Params,
}

/// Domain-separation label for the pepper check stored with the data.
const PEPPER_CHECK_LABEL: &[u8] = b"whistlebox pepper check v1";

impl ReceiptHasher {
    /// A hasher for one installation.
    pub fn new(salt: [u8; SALT_BYTES], pepper: Zeroizing<[u8; 32]>, params: Argon2Params) -> Self {
        Self {
            salt,
            pepper,
            params,
        }
    }

    /// The installation's salt (public: browsers need it).
    pub fn salt(&self) -> &[u8; SALT_BYTES] {
        &self.salt
    }

    /// The Argon2id parameters (public: browsers need them).
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// Where the tip of a lookup value is filed (version 2). Cheap: one keyed BLAKE2b.
    pub fn index(&self, value: &LookupValue) -> ReceiptLookup {
        ReceiptLookup(crypto::blake2b::<32>(
            Some(&self.pepper[..]),
            &[INDEX_V2_LABEL, &value.0[..]],
        ))
    }

    /// Where a printed form with the receipt of this lookup value is filed before its
    /// letter is entered (`domain::intake`): another keyed hash of the same value, so the
    /// two cannot be linked without it.
    pub fn stub_key(&self, value: &LookupValue) -> StubKey {
        StubKey(crypto::blake2b::<32>(
            Some(&self.pepper[..]),
            &[STUB_V1_LABEL, &value.0[..]],
        ))
    }

    /// The version 2 index of a receipt. Slow on purpose: see [`ReceiptHasher::derive`].
    pub fn lookup(&self, receipt: &Receipt) -> Result<ReceiptLookup, CryptoError> {
        Ok(self.derive(receipt)?.current.lookup)
    }

    /// Both versions' indexes and reply seeds of a receipt, from one Argon2id run. Slow on
    /// purpose (tens to hundreds of milliseconds and `params.mem_bytes` of memory): run it
    /// on a blocking thread.
    pub fn derive(&self, receipt: &Receipt) -> Result<DerivedReceipt, CryptoError> {
        let stretched = crypto::argon2id::<32>(&receipt.canonical()[..], &self.salt, self.params)?;
        let client = from_stretched(&stretched);
        let legacy = ReceiptKeys {
            lookup: ReceiptLookup(crypto::blake2b::<32>(
                Some(&self.pepper[..]),
                &[INDEX_V1_LABEL, &stretched[..]],
            )),
            reply_seed: Zeroizing::new(crypto::blake2b::<32>(
                Some(&self.pepper[..]),
                &[REPLY_V1_LABEL, &stretched[..]],
            )),
        };
        Ok(DerivedReceipt {
            current: ReceiptKeys {
                lookup: self.index(&client.lookup_value),
                reply_seed: client.reply_seed,
            },
            legacy,
            stub: self.stub_key(&client.lookup_value),
        })
    }

    /// A value stored with the data so that starting with the wrong pepper file is caught
    /// at once rather than as "every receipt is unknown". Reveals nothing of the pepper.
    pub fn pepper_check(&self) -> [u8; 32] {
        crypto::blake2b::<32>(Some(&self.pepper[..]), &[PEPPER_CHECK_LABEL, &self.salt])
    }
}

impl fmt::Debug for ReceiptHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiptHasher([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn damm_known_vector() {
        // The textbook example: 572 takes check digit 4.
        assert_eq!(damm(&[5, 7, 2]), 4);
        assert_eq!(damm(&[5, 7, 2, 4]), 0);
    }

    #[test]
    fn generated_receipts_parse_back() {
        crypto::init().unwrap();
        for _ in 0..200 {
            let r = Receipt::generate();
            let shown = r.display();
            assert_eq!(shown.len(), 24);
            assert_eq!(shown.split(' ').count(), 5);
            let back = Receipt::parse(&shown).unwrap();
            assert_eq!(back.canonical()[..], r.canonical()[..]);
        }
    }

    #[test]
    fn separators_and_full_width_digits_are_accepted() {
        crypto::init().unwrap();
        let r = Receipt::generate();
        let plain: String = r.display().chars().filter(|c| *c != ' ').collect();
        let dashed = r.display().replace(' ', "-");
        let wide: String = plain
            .chars()
            .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
            .collect();
        let ideographic = r.display().replace(' ', "\u{3000}");
        for typed in [
            plain,
            dashed,
            wide,
            ideographic,
            format!("  {}  ", r.display().as_str()),
        ] {
            let back = Receipt::parse(&typed).unwrap();
            assert_eq!(back.canonical()[..], r.canonical()[..], "{typed:?}");
        }
    }

    #[test]
    fn refusals_are_specific() {
        assert_eq!(Receipt::parse("").unwrap_err(), ReceiptError::Empty);
        assert_eq!(Receipt::parse(" - ").unwrap_err(), ReceiptError::Empty);
        assert_eq!(
            Receipt::parse("1234 abcd").unwrap_err(),
            ReceiptError::BadCharacter
        );
        assert_eq!(
            Receipt::parse("1234").unwrap_err(),
            ReceiptError::WrongLength
        );
        assert_eq!(
            Receipt::parse(&"1".repeat(21)).unwrap_err(),
            ReceiptError::WrongLength
        );
        assert_eq!(
            Receipt::parse(&"1".repeat(500)).unwrap_err(),
            ReceiptError::WrongLength
        );
    }

    #[test]
    fn debug_does_not_print_the_code() {
        crypto::init().unwrap();
        let r = Receipt::generate();
        assert_eq!(format!("{r:?}"), "Receipt([redacted])");
    }

    proptest! {
        #[test]
        fn one_wrong_digit_is_caught(pos in 0usize..RECEIPT_DIGITS, delta in 1u8..10) {
            crypto::init().unwrap();
            let r = Receipt::generate();
            let mut s: Vec<u8> = r.canonical().to_vec();
            s[pos] = b'0' + (s[pos] - b'0' + delta) % 10;
            let typed = String::from_utf8(s).unwrap();
            prop_assert_eq!(Receipt::parse(&typed).unwrap_err(), ReceiptError::CheckDigit);
        }

        #[test]
        fn one_swapped_pair_is_caught(pos in 0usize..RECEIPT_DIGITS - 1) {
            crypto::init().unwrap();
            let r = Receipt::generate();
            let mut s: Vec<u8> = r.canonical().to_vec();
            prop_assume!(s[pos] != s[pos + 1]);
            s.swap(pos, pos + 1);
            let typed = String::from_utf8(s).unwrap();
            prop_assert_eq!(Receipt::parse(&typed).unwrap_err(), ReceiptError::CheckDigit);
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,200}") {
            let _ = Receipt::parse(&input);
        }
    }

    #[test]
    fn lookup_depends_on_salt_and_pepper() {
        crypto::init().unwrap();
        // Small parameters keep the unit test quick; the real ones are checked by the
        // integration tests and the benchmark.
        let p = Argon2Params {
            ops: 1,
            mem_bytes: 8 * 1024,
        };
        let r = Receipt::parse(&Receipt::generate().display()).unwrap();
        let a = ReceiptHasher::new([1; 16], Zeroizing::new([7; 32]), p);
        let b = ReceiptHasher::new([2; 16], Zeroizing::new([7; 32]), p);
        let c = ReceiptHasher::new([1; 16], Zeroizing::new([8; 32]), p);
        let la = a.lookup(&r).unwrap();
        assert_eq!(la, a.lookup(&r).unwrap());
        assert_ne!(la, b.lookup(&r).unwrap());
        assert_ne!(la, c.lookup(&r).unwrap());
        assert_ne!(a.pepper_check(), c.pepper_check());
    }

    /// 1234567890123456789 and its Damm check digit.
    const FIXTURE_RECEIPT: &str = "1234 5678 9012 3456 7891";

    /// Fixed output: these values are what browsers compute and what stores hold. Do not
    /// change this test if it fails: the change would orphan every receipt.
    #[test]
    fn v2_derivation_fixed_output() {
        crypto::init().unwrap();
        let p = Argon2Params {
            ops: 1,
            mem_bytes: 8 * 1024,
        };
        let r = Receipt::parse(FIXTURE_RECEIPT).unwrap();
        let client = client_derivation(&r, &[1; 16], p).unwrap();
        let hasher = ReceiptHasher::new([1; 16], Zeroizing::new([7; 32]), p);
        let derived = hasher.derive(&r).unwrap();
        assert_eq!(derived.current.reply_seed[..], client.reply_seed[..]);
        assert_eq!(derived.current.lookup, hasher.index(&client.lookup_value));
        assert_ne!(derived.current.lookup, derived.legacy.lookup);
        assert_ne!(
            derived.current.reply_seed[..],
            derived.legacy.reply_seed[..]
        );
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            (
                hex(client.lookup_value.as_bytes()),
                hex(&client.reply_seed[..]),
                hex(&derived.current.lookup.0),
                hex(&derived.legacy.lookup.0),
            ),
            (
                String::from("f968fadc3b785170da15541d36ad563da8b159dce4432a835a475b62d57d03cf"),
                String::from("5d1dfaf611cf059199ecf18017a10b94897528e353792eb60533f51bd2950c43"),
                String::from("93eaff6244652dfe3e82c9f9679c0496f8f4f7d4f00ea73292267042ac7aa795"),
                String::from("bf9ddfb685591d8717404e857b6c6b9f4098643c4eb6cb6ef8b59ed94287ec2c"),
            )
        );
    }

    /// Fixed output: stub keys are what stores hold for printed forms. Do not change this
    /// test if it fails: the change would orphan every printed form not yet entered.
    #[test]
    fn stub_key_fixed_output() {
        crypto::init().unwrap();
        let p = Argon2Params {
            ops: 1,
            mem_bytes: 8 * 1024,
        };
        let r = Receipt::parse(FIXTURE_RECEIPT).unwrap();
        let client = client_derivation(&r, &[1; 16], p).unwrap();
        let hasher = ReceiptHasher::new([1; 16], Zeroizing::new([7; 32]), p);
        let stub = hasher.stub_key(&client.lookup_value);
        assert_eq!(hasher.derive(&r).unwrap().stub, stub);
        assert_ne!(stub.0, hasher.index(&client.lookup_value).0);
        let other = ReceiptHasher::new([1; 16], Zeroizing::new([8; 32]), p);
        assert_ne!(
            other.stub_key(&client.lookup_value),
            stub,
            "keyed with the pepper"
        );
        let hex: String = stub.0.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(
            hex,
            "f07c02ca7fb82f3c1c3823f492ffd06fe309a2f3f55e61b1a5ebec97e0263feb"
        );
    }

    #[test]
    fn lookup_values_parse_strictly() {
        let good = STANDARD.encode([5u8; 32]);
        assert_eq!(
            LookupValue::from_base64(&good).unwrap().as_bytes(),
            &[5u8; 32]
        );
        for bad in [
            String::new(),
            STANDARD.encode([5u8; 31]),
            STANDARD.encode([5u8; 33]),
            "!".repeat(44),
            "A".repeat(10_000),
        ] {
            assert_eq!(
                LookupValue::from_base64(&bad).unwrap_err(),
                LookupValueError::Malformed
            );
        }
    }

    #[test]
    fn generated_digits_cover_every_value_in_every_place() {
        let mut seen = [[false; 10]; RANDOM_DIGITS];
        for _ in 0..400 {
            let r = Receipt::generate();
            for (i, d) in r.digits[..RANDOM_DIGITS].iter().enumerate() {
                seen[i][*d as usize] = true;
            }
        }
        assert!(seen.iter().all(|place| place.iter().all(|s| *s)));
    }
}
