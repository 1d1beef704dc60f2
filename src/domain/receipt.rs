//! Receipt codes: what a resident writes down to come back to a report.
//!
//! Twenty decimal digits: nineteen from the OS random source (10^19 > 2^63, so just over
//! 63 random bits) and one Damm check digit, which catches every single wrong digit and
//! every swap of two neighbours. Shown in five groups of four. Digits only, because they
//! are easy to write on paper and to read over the phone, in Chinese or English.

use std::fmt;

use thiserror::Error;
use zeroize::Zeroizing;

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
    /// A fresh receipt from the OS random source.
    pub fn generate() -> Self {
        let mut digits = Zeroizing::new([0u8; RECEIPT_DIGITS]);
        let mut value = Zeroizing::new(crypto::random_below(10u64.pow(RANDOM_DIGITS as u32)));
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

/// What the store keeps instead of a receipt: a keyed hash of its Argon2id derivation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiptLookup(pub [u8; 32]);

impl fmt::Debug for ReceiptLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiptLookup(..)")
    }
}

/// What one receipt derivation yields.
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

/// Turns receipts into lookups: Argon2id (memory-hard) with the installation's salt, then
/// BLAKE2b keyed with the pepper, a secret kept outside the data folder. A copy of the data
/// folder alone therefore cannot test a single guess.
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

    /// The lookup for a receipt. Slow on purpose (tens to hundreds of milliseconds and
    /// `params.mem_bytes` of memory): run it on a blocking thread.
    pub fn lookup(&self, receipt: &Receipt) -> Result<ReceiptLookup, CryptoError> {
        Ok(self.derive(receipt)?.lookup)
    }

    /// The lookup and the reply key of a receipt, from one Argon2id run. Both are keyed with
    /// the pepper, so nothing in the data folder alone lets anyone test a guess.
    pub fn derive(&self, receipt: &Receipt) -> Result<ReceiptKeys, CryptoError> {
        let stretched = crypto::argon2id::<32>(&receipt.canonical()[..], &self.salt, self.params)?;
        let lookup = ReceiptLookup(crypto::blake2b::<32>(
            Some(&self.pepper[..]),
            &[b"whistlebox receipt v1", &stretched[..]],
        ));
        let seed = Zeroizing::new(crypto::blake2b::<32>(
            Some(&self.pepper[..]),
            &[b"whistlebox reply key v1", &stretched[..]],
        ));
        Ok(ReceiptKeys {
            lookup,
            reply_seed: seed,
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
}
