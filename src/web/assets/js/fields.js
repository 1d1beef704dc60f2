// Bounds on the report form's optional answers, as the server's no-JavaScript path applies
// them (pages.rs, MAX_FIELD_CHARS): the offline decryptor refuses absurd fields, so a tip
// sealed here must not carry one either.

/** Longest answer to one optional question, in characters (Unicode code points). */
export const MAX_FIELD_CHARS = 2000;

/**
 * Cuts a string to at most `max` characters, counted as Rust counts `chars()`: by code point,
 * so a character outside the BMP is never split into a lone surrogate (which JSON.stringify
 * would write as an escape the decryptor refuses).
 */
export function clip(text, max = MAX_FIELD_CHARS) {
  const s = String(text);
  // Fast path: fewer UTF-16 units than the limit means fewer code points too.
  if (s.length <= max) return s;
  let units = 0;
  let count = 0;
  while (units < s.length && count < max) {
    const code = s.charCodeAt(units);
    const pair =
      code >= 0xd800 && code <= 0xdbff && units + 1 < s.length &&
      s.charCodeAt(units + 1) >= 0xdc00 && s.charCodeAt(units + 1) <= 0xdfff;
    units += pair ? 2 : 1;
    count += 1;
  }
  return s.slice(0, units);
}

// Whether this browser can seal here: BigInt for X25519, getRandomValues for the ephemeral
// key. Browsers without any of these post the form and the server seals on arrival.
export function canSealHere() {
  return (
    typeof window.crypto === 'object' &&
    window.crypto !== null &&
    typeof window.crypto.getRandomValues === 'function' &&
    typeof window.fetch === 'function' &&
    typeof window.TextEncoder === 'function' &&
    typeof window.Promise === 'function' &&
    typeof BigInt === 'function'
  );
}
