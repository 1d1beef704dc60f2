// Receipts made and hashed in the resident's browser (receipt version 2). The receipt is drawn
// here from the platform's random source, stretched here with Argon2id under the installation's
// public salt and parameters (the same libsodium crypto_pwhash the server runs for residents
// without JavaScript), and only a lookup value made from the result is sent. The reply key
// seed, made from the same result under another label, never leaves this page:
//
//   stretched    = Argon2id(20 ASCII digits, salt, ops, mem)      (crypto_pwhash, 32 bytes)
//   lookup value = BLAKE2b-256("whistlebox lookup v2"   || stretched)   sent to /api/v2
//   reply seed   = BLAKE2b-256("whistlebox reply key v2" || stretched)   stays here
//
// Argon2id takes 64 MiB and a second or more, so the page runs it in a Web Worker
// (js/receipt-worker.js, same origin) and says how long it has waited. The derivation itself is
// in js/receipt-derive.js, which the worker and the node tests share.

import { checkKdf, kdfOfElement } from './receipt-derive.js';
import {
  TIP_PAD_BLOCK,
  base64ToBytes,
  bytesToBase64,
  cryptoBoxBeforenm,
  cryptoBoxSeal,
  cryptoBoxSealOpen,
  cryptoBoxSeedKeypair,
  sealForOffices,
  sodiumPad,
} from './sodium-compat.js';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { blake2b } from '@noble/hashes/blake2.js';

export const RANDOM_DIGITS = 19;

// Damm's quasigroup of order 10, the same table as src/domain/receipt.rs.
const DAMM = [
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

function damm(digits) {
  let interim = 0;
  for (const d of digits) interim = DAMM[interim][d];
  return interim;
}

/**
 * A fresh receipt: 19 digits from crypto.getRandomValues, each from a byte below 250 (bytes of
 * 250 and above are drawn again, so every digit is equally likely), and the Damm check digit.
 * Returns the 20 ASCII digits. `random` is for tests only.
 */
export function generateReceipt(random) {
  const fill = random || ((a) => crypto.getRandomValues(a));
  const digits = [];
  const pool = new Uint8Array(32);
  while (digits.length < RANDOM_DIGITS) {
    fill(pool);
    for (const b of pool) {
      if (b < 250 && digits.length < RANDOM_DIGITS) digits.push(b % 10);
    }
  }
  pool.fill(0);
  digits.push(damm(digits));
  return digits.join('');
}

/**
 * A follow-up envelope (stored follow-up version 2, src/domain/followup.rs), made here with
 * the reply key so the server never holds it:
 * crypto_box_seal(inspectors, sodium_pad("WBF" 0x02 || reply pk || nonce ||
 *   crypto_box_easy(inner sealed follow-up, nonce, inspectors, reply sk), 1024)).
 * `innerBase64` is the follow-up sealed like a tip; returns standard base64. The seed is not
 * wiped here (the page keeps it for further follow-ups); the secret key is.
 */
export function followupEnvelope(innerBase64, seed, inspectorsBase64) {
  const inner = base64ToBytes(innerBase64);
  const inspectors = base64ToBytes(inspectorsBase64);
  const keys = cryptoBoxSeedKeypair(seed);
  let shared;
  let envelope;
  let padded;
  try {
    const nonce = crypto.getRandomValues(new Uint8Array(24));
    shared = cryptoBoxBeforenm(inspectors, keys.secretKey);
    const boxed = xsalsa20poly1305(shared, nonce).encrypt(inner);
    envelope = new Uint8Array(4 + 32 + 24 + boxed.length);
    envelope.set([0x57, 0x42, 0x46, 0x02], 0);
    envelope.set(keys.publicKey, 4);
    envelope.set(nonce, 36);
    envelope.set(boxed, 60);
    padded = sodiumPad(envelope, TIP_PAD_BLOCK);
    return bytesToBase64(cryptoBoxSeal(padded, inspectors));
  } finally {
    keys.secretKey.fill(0);
    if (shared) shared.fill(0);
    if (envelope) envelope.fill(0);
    if (padded) padded.fill(0);
  }
}

/**
 * A follow-up envelope for the offices that read the report (stored follow-up version 3,
 * src/domain/followup.rs): a format 2 box for those offices of
 * sodium_pad("WBF" 0x03 || reply pk || n || n x (office pk || nonce ||
 *   crypto_box_easy(sealed_digest(inner), nonce, office, reply sk)) || inner, 1024),
 * where sealed_digest is BLAKE2b-256 of "whistlebox sealed v1" || inner. Each office checks
 * its own box against the reply key bound in the tip. The seed is not wiped here.
 */
export function followupEnvelopeForOffices(innerBase64, seed, officesBase64) {
  const inner = base64ToBytes(innerBase64);
  const offices = officesBase64.map((k) => base64ToBytes(k));
  const keys = cryptoBoxSeedKeypair(seed);
  const label = new TextEncoder().encode('whistlebox sealed v1');
  const labelled = new Uint8Array(label.length + inner.length);
  labelled.set(label, 0);
  labelled.set(inner, label.length);
  const digest = blake2b(labelled, { dkLen: 32 });
  const parts = [new Uint8Array([0x57, 0x42, 0x46, 0x03]), keys.publicKey, new Uint8Array([offices.length])];
  const shared = [];
  let envelope;
  let padded;
  try {
    for (const office of offices) {
      const nonce = crypto.getRandomValues(new Uint8Array(24));
      const key = cryptoBoxBeforenm(office, keys.secretKey);
      shared.push(key);
      parts.push(office, nonce, xsalsa20poly1305(key, nonce).encrypt(digest));
    }
    parts.push(inner);
    envelope = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      envelope.set(p, at);
      at += p.length;
    }
    padded = sodiumPad(envelope, TIP_PAD_BLOCK);
    return bytesToBase64(sealForOffices(padded, offices));
  } finally {
    keys.secretKey.fill(0);
    for (const k of shared) k.fill(0);
    if (envelope) envelope.fill(0);
    if (padded) padded.fill(0);
  }
}

/**
 * The town's key of a move waiting for the resident (`sealed_for_you` in /api/v2/status),
 * opened with the receipt's reply key: what "agree" sends, standard base64. Throws when it
 * is not sealed to this receipt's key.
 */
export function releaseMoveKey(sealedForYouBase64, seed) {
  const keys = cryptoBoxSeedKeypair(seed);
  try {
    return bytesToBase64(
      cryptoBoxSealOpen(base64ToBytes(sealedForYouBase64), keys.publicKey, keys.secretKey),
    );
  } finally {
    keys.secretKey.fill(0);
  }
}

/** The reply public key of a seed, standard base64 (to seal inside a tip). */
export function replyPublicKey(seed) {
  const keys = cryptoBoxSeedKeypair(seed);
  try {
    return bytesToBase64(keys.publicKey);
  } finally {
    keys.secretKey.fill(0);
  }
}

// ---- The page: Argon2id in a worker, with the wait shown ------------------------------------

const WORKER_URL = '/assets/receipt-worker.js';

/** Whether this browser can run the derivation in a worker. */
export function canDeriveHere() {
  return (
    typeof window.Worker === 'function' &&
    typeof WebAssembly === 'object' &&
    WebAssembly !== null &&
    typeof WebAssembly.instantiate === 'function'
  );
}

/**
 * Runs the derivation in a fresh worker (ended when done, so its 64 MiB go back at once).
 * `onTick(seconds)` is called every second while it runs. Resolves `{ lookup, seed }`.
 */
export function deriveInWorker(digits, kdf, onTick) {
  checkKdf(kdf);
  return new Promise((resolve, reject) => {
    let worker;
    try {
      worker = new Worker(WORKER_URL);
    } catch (e) {
      reject(e);
      return;
    }
    const started = Date.now();
    const timer = setInterval(() => {
      if (onTick) onTick(Math.round((Date.now() - started) / 1000));
    }, 1000);
    const finish = () => {
      clearInterval(timer);
      worker.terminate();
    };
    worker.onmessage = (event) => {
      finish();
      const d = event.data || {};
      if (d.lookup instanceof Uint8Array && d.seed instanceof Uint8Array) resolve(d);
      else reject(new Error(d.error || 'the receipt worker failed'));
    };
    worker.onerror = (event) => {
      finish();
      if (event && event.preventDefault) event.preventDefault();
      reject(new Error('the receipt worker failed'));
    };
    worker.postMessage({ digits: String(digits), kdf });
  });
}

/**
 * Shows the wait: unhides `box`, fills `timeEl` with "N seconds so far" (from `pattern`, with
 * {seconds}) and moves the <progress> along a curve that nears but never reaches the end, as
 * the time Argon2id takes on this device is not known in advance. Returns { tick, done }.
 */
export function waitIndicator(box, progress, timeEl, pattern) {
  if (box) box.hidden = false;
  if (progress) progress.removeAttribute('value');
  return {
    tick(seconds) {
      if (progress) progress.value = Math.round(100 * (1 - Math.exp(-seconds / 8)));
      if (timeEl && pattern) timeEl.textContent = String(pattern).replace('{seconds}', String(seconds));
    },
    done() {
      if (box) box.hidden = true;
      if (timeEl) timeEl.textContent = '';
    },
  };
}

export { bytesToBase64, kdfOfElement };
