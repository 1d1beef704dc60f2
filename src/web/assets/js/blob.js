// The encrypted file ("blob", format WBA 1) of docs/attachments.md, made in the resident's
// browser exactly as src/domain/attachment.rs makes it on the server:
//
//   blob   = "WBA" 0x01 || prefix (16 random bytes) || c_0 || ... || c_(n-1)
//   c_i    = crypto_secretbox_easy(p_i, prefix || u64_le(i), file_key)     (65,552 bytes)
//   p_i    = the i-th 64 KiB piece of the file padded (ISO/IEC 7816-4) to bucket(len)
//   digest = BLAKE2b-256 (crypto_generichash, unkeyed) of the whole blob
//
// XSalsa20-Poly1305 and BLAKE2b come from @noble (as in sodium-compat.js); noble's encrypt()
// already writes the tag before the ciphertext, which is crypto_secretbox_easy's layout.

import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { blake2b } from '@noble/hashes/blake2.js';

export const BLOB_MAGIC = new Uint8Array([0x57, 0x42, 0x41, 0x01]); // "WBA" 0x01
export const PREFIX_BYTES = 16;
export const BLOB_HEAD = BLOB_MAGIC.length + PREFIX_BYTES;
export const PIECE_BYTES = 64 * 1024;
export const SEALED_PIECE_BYTES = PIECE_BYTES + 16;
export const FILE_KEY_BYTES = 32;
export const DIGEST_BYTES = 32;
/** Limits of docs/attachments.md. */
export const MAX_FILES = 10;
export const MAX_FILE_BYTES = 24 * 1024 * 1024;
export const MAX_PIECES = 512;
export const MAX_VOICE_SECONDS = 300;

// Lengths stay below 2^53, so plain numbers are exact; Math.floor(Math.log2(x)) is not
// trusted near powers of two, hence the bit loop.
function floorLog2(x) {
  let e = 0;
  while (2 ** (e + 1) <= x) e++;
  return e;
}

/**
 * The padded length of a file of `len` bytes: one piece below 64 KiB, otherwise Padmé of
 * `len + 1` rounded up to whole 64 KiB pieces (src/domain/attachment.rs `bucket`).
 */
export function bucket(len) {
  if (!Number.isSafeInteger(len) || len < 0) throw new RangeError('bad length');
  const x = len + 1;
  if (x <= PIECE_BYTES) return PIECE_BYTES;
  const e = floorLog2(x);
  const s = floorLog2(e) + 1;
  const step = 2 ** (e - s);
  const padme = Math.ceil(x / step) * step;
  return Math.ceil(padme / PIECE_BYTES) * PIECE_BYTES;
}

/** The length of the blob a file of `len` bytes becomes. */
export function blobLen(len) {
  return BLOB_HEAD + (bucket(len) / PIECE_BYTES) * SEALED_PIECE_BYTES;
}

/** The 64 KiB pieces a file of `len` bytes takes once padded. */
export function piecesOf(len) {
  return bucket(len) / PIECE_BYTES;
}

function pieceNonce(prefix, i) {
  const nonce = new Uint8Array(24);
  nonce.set(prefix, 0);
  // u64 little-endian; i stays far below 2^32 (at most 512 pieces a report).
  new DataView(nonce.buffer).setUint32(PREFIX_BYTES, i, true);
  return nonce;
}

const nextTick = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Encrypts `file` (a Uint8Array) as a blob under a fresh random key. Resolves
 * `{ blob, key, digest }`; the caller wipes `key` once the sealed tip is made. `onPiece(i, n)`
 * is told after each piece; every few pieces the work yields so the page stays responsive.
 * `random` is for tests only.
 */
export async function sealFile(file, { onPiece, random } = {}) {
  if (!(file instanceof Uint8Array)) throw new TypeError('file must be a Uint8Array');
  if (file.length > MAX_FILE_BYTES) throw new RangeError('the file is larger than 24 MiB');
  const fill = random || ((a) => crypto.getRandomValues(a));
  const key = fill(new Uint8Array(FILE_KEY_BYTES));
  const prefix = fill(new Uint8Array(PREFIX_BYTES));
  const n = piecesOf(file.length);
  const blob = new Uint8Array(BLOB_HEAD + n * SEALED_PIECE_BYTES);
  blob.set(BLOB_MAGIC, 0);
  blob.set(prefix, BLOB_MAGIC.length);
  const piece = new Uint8Array(PIECE_BYTES);
  const hash = blake2b.create({ dkLen: DIGEST_BYTES });
  hash.update(blob.subarray(0, BLOB_HEAD));
  try {
    for (let i = 0; i < n; i++) {
      const start = i * PIECE_BYTES;
      piece.fill(0);
      if (start < file.length) piece.set(file.subarray(start, Math.min(start + PIECE_BYTES, file.length)));
      if (file.length >= start && file.length < start + PIECE_BYTES) piece[file.length - start] = 0x80;
      const sealed = xsalsa20poly1305(key, pieceNonce(prefix, i)).encrypt(piece);
      const at = BLOB_HEAD + i * SEALED_PIECE_BYTES;
      blob.set(sealed, at);
      hash.update(blob.subarray(at, at + SEALED_PIECE_BYTES));
      if (onPiece) onPiece(i + 1, n);
      if (i % 16 === 15) await nextTick();
    }
  } catch (e) {
    key.fill(0);
    throw e;
  } finally {
    piece.fill(0);
  }
  return { blob, key, digest: hash.digest() };
}

/** BLAKE2b-256 of a blob. */
export function blobDigest(blob) {
  return blake2b(blob, { dkLen: DIGEST_BYTES });
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Opens a blob with its file key, digest and the file's length (as the sealed tip names
 * them); throws on any change. The inspectors' tools do this in Rust; this copy is for the
 * tests, which check both directions.
 */
export function openBlob(blob, key, digest, bytes) {
  if (!sameBytes(blobDigest(blob), digest)) throw new Error('the digest differs');
  const body = blob.length - BLOB_HEAD;
  if (body <= 0 || body % SEALED_PIECE_BYTES !== 0) throw new Error('damaged');
  for (let i = 0; i < BLOB_MAGIC.length; i++) if (blob[i] !== BLOB_MAGIC[i]) throw new Error('damaged');
  const n = body / SEALED_PIECE_BYTES;
  if (bucket(bytes) !== n * PIECE_BYTES) throw new Error('damaged');
  const prefix = blob.subarray(BLOB_MAGIC.length, BLOB_HEAD);
  const out = new Uint8Array(n * PIECE_BYTES);
  for (let i = 0; i < n; i++) {
    const at = BLOB_HEAD + i * SEALED_PIECE_BYTES;
    const piece = xsalsa20poly1305(key, pieceNonce(prefix, i)).decrypt(
      blob.subarray(at, at + SEALED_PIECE_BYTES),
    );
    out.set(piece, i * PIECE_BYTES);
  }
  if (out[bytes] !== 0x80 || out.subarray(bytes + 1).some((b) => b !== 0)) throw new Error('damaged');
  return out.slice(0, bytes);
}
