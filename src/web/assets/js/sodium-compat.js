// Byte-for-byte compatible re-implementations of the few libsodium functions the resident's
// browser needs, built on the audited, dependency-free @noble libraries. The server and the
// inspectors' offline tool use real libsodium (through Rust), so every function here must
// produce exactly what libsodium produces; the tests in ../test check that against
// libsodium-wrappers, which is only a test dependency and is never shipped to browsers.

import { x25519 } from '@noble/curves/ed25519.js';
import { hsalsa, xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { u32 } from '@noble/ciphers/utils.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { sha512 } from '@noble/hashes/sha2.js';

const PUBLIC_KEY_BYTES = 32;
const NONCE_BYTES = 24;
const MAC_BYTES = 16;
/** Bytes a sealed box adds to its message: ephemeral public key + Poly1305 tag. */
export const SEAL_OVERHEAD = PUBLIC_KEY_BYTES + MAC_BYTES;
/** Plaintexts are padded to a multiple of this, so a sealed tip shows only its 1 KiB bucket. */
export const TIP_PAD_BLOCK = 1024;
/**
 * Optional tip fields, in the order they are written into the JSON. `channel` (letter, phone,
 * visit) is set only by the office's intake page: a report made online carries none.
 */
export const OPTIONAL_FIELDS = ['where', 'who', 'when', 'amount', 'proof', 'topic', 'town', 'channel'];

// "expand 32-byte k": the Salsa20 constant that crypto_box's HSalsa20 step keys with.
const SIGMA = new Uint8Array([
  0x65, 0x78, 0x70, 0x61, 0x6e, 0x64, 0x20, 0x33, 0x32, 0x2d, 0x62, 0x79, 0x74, 0x65, 0x20, 0x6b,
]);

function wipe(...arrays) {
  for (const a of arrays) if (a) a.fill(0);
}

function checkBytes(value, name, length) {
  if (!(value instanceof Uint8Array)) throw new TypeError(name + ' must be a Uint8Array');
  if (length !== undefined && value.length !== length) {
    throw new RangeError(name + ' must be ' + length + ' bytes, not ' + value.length);
  }
}

function checkBlockSize(blockSize) {
  if (!Number.isInteger(blockSize) || blockSize <= 0) throw new RangeError('bad block size');
}

/**
 * libsodium `sodium_pad`: ISO/IEC 7816-4 padding. Always adds at least one byte (0x80), so a
 * message already a multiple of blockSize gains a whole block; otherwise the padding would be
 * ambiguous to remove.
 */
export function sodiumPad(bytes, blockSize) {
  checkBytes(bytes, 'bytes');
  checkBlockSize(blockSize);
  const out = new Uint8Array(bytes.length + (blockSize - (bytes.length % blockSize)));
  out.set(bytes);
  out[bytes.length] = 0x80; // the rest is already zero
  return out;
}

/**
 * libsodium `sodium_unpad`. Returns a view (no copy) of the unpadded part. Like libsodium it
 * looks only at the last blockSize bytes: the first non-zero byte from the end must be 0x80.
 */
export function sodiumUnpad(bytes, blockSize) {
  checkBytes(bytes, 'bytes');
  checkBlockSize(blockSize);
  if (bytes.length < blockSize) throw new Error('invalid padding');
  const stop = bytes.length - blockSize;
  for (let i = bytes.length - 1; i >= stop; i--) {
    if (bytes[i] === 0x80) return bytes.subarray(0, i);
    if (bytes[i] !== 0) break;
  }
  throw new Error('invalid padding');
}

// crypto_core_hsalsa20 with the Salsa20 constant. noble exports hsalsa only as a word-level
// primitive (it is the XSalsa20 nonce extension), so we hand it fresh, 4-byte aligned copies.
function hsalsa20(key32, input16) {
  const sigma = SIGMA.slice();
  const key = key32.slice();
  const input = input16.slice();
  const out = new Uint8Array(32);
  hsalsa(u32(sigma), u32(key), u32(input), u32(out));
  wipe(key);
  return out;
}

/**
 * libsodium `crypto_box_beforenm`: X25519, then HSalsa20 with an all-zero input to turn the
 * raw shared point into a uniform key. noble's xsalsa20poly1305 does NOT do this step (its
 * own HSalsa20 is only the 24-byte-nonce extension), so without it nothing would interoperate.
 * Throws on low-order public keys, as libsodium refuses them too.
 */
export function cryptoBoxBeforenm(publicKey, secretKey) {
  checkBytes(publicKey, 'publicKey', PUBLIC_KEY_BYTES);
  checkBytes(secretKey, 'secretKey', 32);
  const shared = x25519.getSharedSecret(secretKey, publicKey);
  try {
    return hsalsa20(shared, new Uint8Array(16));
  } finally {
    wipe(shared);
  }
}

// The sealed box nonce is derived, not sent: BLAKE2b with a 24-byte digest length set in its
// parameter block (not a truncated 64-byte digest) over ephemeral_pk || recipient_pk.
function sealNonce(ephemeralPublicKey, recipientPublicKey) {
  const input = new Uint8Array(2 * PUBLIC_KEY_BYTES);
  input.set(ephemeralPublicKey, 0);
  input.set(recipientPublicKey, PUBLIC_KEY_BYTES);
  return blake2b(input, { dkLen: NONCE_BYTES });
}

/**
 * libsodium `crypto_box_seal`: anonymous public-key encryption. Output is
 * ephemeral_pk (32) || Poly1305 tag (16) || ciphertext — noble's encrypt() already puts the
 * tag first, like crypto_secretbox_easy, so no reordering is needed.
 */
export function cryptoBoxSeal(message, recipientPublicKey) {
  checkBytes(message, 'message');
  checkBytes(recipientPublicKey, 'recipientPublicKey', PUBLIC_KEY_BYTES);
  // The ephemeral secret is the only thing that could link the box back to this browser
  // session, so it comes straight from the platform CSPRNG and is wiped after one use.
  const ephemeralSecret = crypto.getRandomValues(new Uint8Array(32));
  let key;
  try {
    const ephemeralPublic = x25519.getPublicKey(ephemeralSecret);
    const nonce = sealNonce(ephemeralPublic, recipientPublicKey);
    key = cryptoBoxBeforenm(recipientPublicKey, ephemeralSecret);
    const boxed = xsalsa20poly1305(key, nonce).encrypt(message);
    const out = new Uint8Array(PUBLIC_KEY_BYTES + boxed.length);
    out.set(ephemeralPublic, 0);
    out.set(boxed, PUBLIC_KEY_BYTES);
    return out;
  } finally {
    wipe(ephemeralSecret, key);
  }
}

/**
 * libsodium `crypto_box_seed_keypair`: the secret key is the first 32 bytes of SHA-512(seed),
 * kept unclamped as libsodium keeps it (X25519 clamps when it uses it); the public key is its
 * base-point multiple. The caller wipes the seed and the returned secret key after use.
 */
export function cryptoBoxSeedKeypair(seed) {
  checkBytes(seed, 'seed', 32);
  const hash = sha512(seed);
  try {
    const secretKey = hash.slice(0, 32);
    return { publicKey: x25519.getPublicKey(secretKey), secretKey };
  } finally {
    wipe(hash);
  }
}

/** libsodium `crypto_box_seal_open`. Throws if the box was altered or is not for this key. */
export function cryptoBoxSealOpen(sealed, recipientPublicKey, recipientSecretKey) {
  checkBytes(sealed, 'sealed');
  checkBytes(recipientPublicKey, 'recipientPublicKey', PUBLIC_KEY_BYTES);
  checkBytes(recipientSecretKey, 'recipientSecretKey', 32);
  if (sealed.length < SEAL_OVERHEAD) throw new Error('sealed box too short');
  const ephemeralPublic = sealed.subarray(0, PUBLIC_KEY_BYTES);
  const nonce = sealNonce(ephemeralPublic, recipientPublicKey);
  const key = cryptoBoxBeforenm(ephemeralPublic, recipientSecretKey);
  try {
    return xsalsa20poly1305(key, nonce).decrypt(sealed.subarray(PUBLIC_KEY_BYTES));
  } finally {
    wipe(key);
  }
}

/** Marks a box sealed once for several offices (format 2). */
export const MULTI_MAGIC = new Uint8Array([0x57, 0x42, 0x54, 0x02]); // "WBT" 0x02
/** Most offices one box is sealed to. */
export const MAX_STANZAS = 16;
const CONTENT_KEY_BYTES = 32;

/**
 * Format 2: `"WBT" 0x02 || n || n key stanzas || nonce (24) || crypto_secretbox_easy`. The
 * message is encrypted once (XSalsa20-Poly1305) under a fresh random content key, and that
 * key is sealed (`crypto_box_seal`, 80 bytes) to each office's key, in the order given.
 */
export function sealForOffices(message, recipientPublicKeys) {
  checkBytes(message, 'message');
  if (!Array.isArray(recipientPublicKeys) || recipientPublicKeys.length < 1 ||
      recipientPublicKeys.length > MAX_STANZAS) {
    throw new RangeError('a box is sealed for 1 to ' + MAX_STANZAS + ' offices');
  }
  for (const k of recipientPublicKeys) checkBytes(k, 'office public key', PUBLIC_KEY_BYTES);
  const contentKey = crypto.getRandomValues(new Uint8Array(CONTENT_KEY_BYTES));
  try {
    const stanzas = recipientPublicKeys.map((k) => cryptoBoxSeal(contentKey, k));
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    const boxed = xsalsa20poly1305(contentKey, nonce).encrypt(message);
    const stanzaBytes = CONTENT_KEY_BYTES + SEAL_OVERHEAD;
    const out = new Uint8Array(
      MULTI_MAGIC.length + 1 + stanzas.length * stanzaBytes + NONCE_BYTES + boxed.length,
    );
    let at = 0;
    out.set(MULTI_MAGIC, at);
    at += MULTI_MAGIC.length;
    out[at++] = stanzas.length;
    for (const s of stanzas) {
      out.set(s, at);
      at += stanzaBytes;
    }
    out.set(nonce, at);
    out.set(boxed, at + NONCE_BYTES);
    return out;
  } finally {
    wipe(contentKey);
  }
}

/** Standard base64 with padding; chunked so long inputs do not overflow the argument limit. */
export function bytesToBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Strict standard base64 (what the server's /api/v1/key hands out); throws otherwise. */
export function base64ToBytes(text) {
  const clean = String(text).trim();
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(clean)) {
    throw new Error('not standard base64');
  }
  const binary = atob(clean);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

const isBlank = (s) => s.trim() === '';

/** Most files under one report or follow-up (a voice note counts as one). */
export const MAX_ATTACHMENTS = 10;
const ATTACHMENT_KINDS = ['photo', 'voice', 'file'];
const REMOVED_WORDS = ['location', 'camera', 'time', 'thumbnail', 'software', 'xmp', 'comment', 'other'];

/**
 * One file as the sealed tip names it (src/domain/attachment.rs `AttachmentRef`), checked and
 * written in a fixed key order: kind, type, bytes, key, digest, then what applies of
 * removed, cleaned, name, seconds, disguised.
 */
export function attachmentRef(a) {
  if (!a || ATTACHMENT_KINDS.indexOf(a.kind) < 0) throw new TypeError('unknown kind of file');
  if (typeof a.type !== 'string' || a.type === '' || a.type.length > 100) {
    throw new TypeError('a file needs a type');
  }
  if (!Number.isSafeInteger(a.bytes) || a.bytes < 0 || a.bytes > 24 * 1024 * 1024) {
    throw new RangeError('bad file length');
  }
  checkBytes(base64ToBytes(a.key), 'file key', 32);
  checkBytes(base64ToBytes(a.digest), 'file digest', 32);
  const out = { kind: a.kind, type: a.type, bytes: a.bytes, key: a.key, digest: a.digest };
  if (a.removed !== undefined && a.removed.length > 0) {
    if (!a.removed.every((w) => REMOVED_WORDS.indexOf(w) >= 0)) throw new TypeError('bad removed');
    out.removed = a.removed.slice();
  }
  if (a.cleaned !== undefined) out.cleaned = !!a.cleaned;
  // By code point, so a name is never cut inside a character (200 of them fit the 1000 bytes
  // the offline tools allow).
  if (typeof a.name === 'string' && a.name !== '') out.name = Array.from(a.name).slice(0, 200).join('');
  if (a.seconds !== undefined) {
    if (typeof a.seconds !== 'number' || !isFinite(a.seconds) || a.seconds < 0 || a.seconds > 600) {
      throw new RangeError('bad seconds');
    }
    out.seconds = a.seconds;
  }
  if (a.disguised !== undefined) out.disguised = !!a.disguised;
  return out;
}

/**
 * Seals a tip into the wire format of `POST /api/v1/tips` ({"sealed": <this>}): the UTF-8
 * JSON {"v":1,"body":...,"reply_key":...,optional fields} padded with sodium_pad to a multiple
 * of 1024 bytes, sealed to the inspectors' key (or, given a list of keys, once for all those
 * offices: format 2), as standard base64. `replyKeyBase64`, the
 * receipt's reply public key from POST /api/v1/receipts, goes inside the seal so that nobody
 * can swap it on the way; without it the tip gets a status but no replies. Empty optional
 * fields are left out so that an unanswered question looks the same as an absent one.
 * `fields.attachments`, when a non-empty array, becomes the tip's "attachments" (the
 * references of the files uploaded for it, see attachmentRef).
 */
export function sealTip(fields, boxPublicKeyBase64, replyKeyBase64) {
  // One key: format 1, a plain sealed box (as v1 clients make). A list of keys, the county's
  // first: format 2, one box for those offices.
  const many = Array.isArray(boxPublicKeyBase64);
  const recipients = (many ? boxPublicKeyBase64 : [boxPublicKeyBase64]).map((k) => {
    const key = base64ToBytes(k);
    checkBytes(key, 'box public key', PUBLIC_KEY_BYTES);
    return key;
  });
  const body = fields && fields.body;
  if (typeof body !== 'string' || isBlank(body)) throw new Error('the tip has no body');
  const tip = { v: 1, body };
  if (replyKeyBase64 !== undefined && replyKeyBase64 !== null) {
    checkBytes(base64ToBytes(replyKeyBase64), 'reply key', PUBLIC_KEY_BYTES);
    tip.reply_key = String(replyKeyBase64).trim();
  }
  for (const name of OPTIONAL_FIELDS) {
    const value = fields[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw new TypeError(name + ' must be a string');
    if (!isBlank(value)) tip[name] = value;
  }
  // Evidence files (docs/attachments.md), in upload order. Absent when there are none, so
  // a tip without files is byte for byte what it was before attachments existed.
  const files = fields.attachments;
  if (files !== undefined && files !== null) {
    if (!Array.isArray(files) || files.length > MAX_ATTACHMENTS) {
      throw new RangeError('at most ' + MAX_ATTACHMENTS + ' files');
    }
    if (files.length > 0) tip.attachments = files.map(attachmentRef);
  }
  const json = new TextEncoder().encode(JSON.stringify(tip));
  const padded = sodiumPad(json, TIP_PAD_BLOCK);
  try {
    return bytesToBase64(
      many ? sealForOffices(padded, recipients) : cryptoBoxSeal(padded, recipients[0]),
    );
  } finally {
    // Best effort only: JS strings cannot be wiped, but these buffers can.
    wipe(json, padded);
  }
}
