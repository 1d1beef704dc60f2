//! Typed receipt codes: arbitrary text into `Receipt::parse`.
//!
//! Properties: never panics; the verdict matches an independent count of the digits; an
//! accepted code shows as five groups of four and re-parses to the same digits; and, as the
//! README promises, every single wrong digit and every swap of two different neighbours in an
//! accepted code is refused with `CheckDigit`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whistlebox::domain::receipt::{Receipt, ReceiptError, RECEIPT_DIGITS};

/// The digit value of `c` as the parser should read it: ASCII or full-width digits.
fn digit(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '０'..='９' => Some((c as u32 - '０' as u32) as u8),
        _ => None,
    }
}

fn text_of(digits: &[u8]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

fn check(input: &str) {
    let result = Receipt::parse(input);
    let digits: Vec<u8> = input.chars().filter_map(digit).collect();
    match &result {
        Ok(receipt) => {
            assert_eq!(
                digits.len(),
                RECEIPT_DIGITS,
                "accepted a code without 20 digits"
            );
            let shown = receipt.display();
            assert_eq!(
                shown.len(),
                RECEIPT_DIGITS + 4,
                "display is not 5 groups of 4"
            );
            let groups: Vec<&str> = shown.split(' ').collect();
            assert_eq!(groups.len(), 5);
            assert!(groups
                .iter()
                .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit())));
            assert_eq!(
                shown.replace(' ', ""),
                text_of(&digits),
                "display lost or changed digits"
            );
            let again = Receipt::parse(&shown).expect("display() of a receipt re-parses");
            assert_eq!(*again.display(), *shown, "display() did not round-trip");
            // Damm: every single substitution and every swap of unequal neighbours is caught.
            let mut d = digits.clone();
            for i in 0..RECEIPT_DIGITS {
                let orig = d[i];
                for wrong in (0..10).filter(|&w| w != orig) {
                    d[i] = wrong;
                    assert_eq!(
                        Receipt::parse(&text_of(&d)).err(),
                        Some(ReceiptError::CheckDigit),
                        "a wrong digit at {i} was not caught"
                    );
                }
                d[i] = orig;
            }
            for i in 0..RECEIPT_DIGITS - 1 {
                if d[i] != d[i + 1] {
                    d.swap(i, i + 1);
                    assert_eq!(
                        Receipt::parse(&text_of(&d)).err(),
                        Some(ReceiptError::CheckDigit),
                        "a swap at {i} was not caught"
                    );
                    d.swap(i, i + 1);
                }
            }
        }
        Err(ReceiptError::CheckDigit) => assert_eq!(digits.len(), RECEIPT_DIGITS),
        Err(ReceiptError::Empty) => assert!(digits.is_empty()),
        Err(ReceiptError::WrongLength) | Err(ReceiptError::BadCharacter) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(text) => check(text),
        // Not UTF-8: still give the parser text, with U+FFFD where the bytes were bad.
        Err(_) => check(&String::from_utf8_lossy(data)),
    }
});
