// The receipt derivation of receipt version 2, shared by the receipt worker (browsers) and the
// node tests, so that what the tests check is what browsers run:
//
//   stretched    = Argon2id(20 ASCII digits, salt, ops, mem)      (crypto_pwhash, 32 bytes)
//   lookup value = BLAKE2b-256("whistlebox lookup v2"   || stretched)   sent to /api/v2
//   reply seed   = BLAKE2b-256("whistlebox reply key v2" || stretched)   stays in the browser
//
// src/domain/receipt.rs (`client_derivation`) is the server's side of it, run with libsodium.

import { argon2id } from 'hash-wasm';
import { blake2b } from '@noble/hashes/blake2.js';
import { base64ToBytes } from './sodium-compat.js';

const SALT_BYTES = 16;
/** Never weaker than the server's own receipts (crypto::Argon2Params::RECEIPT). */
export const MIN_OPS = 3;
export const MIN_MEM_BYTES = 64 * 1024 * 1024;

const LOOKUP_LABEL = new TextEncoder().encode('whistlebox lookup v2');
const REPLY_LABEL = new TextEncoder().encode('whistlebox reply key v2');

/**
 * The installation's receipt parameters, checked: from GET /api/v1/key (`receipt_kdf`) or the
 * form's data-kdf-* attributes. Throws when they are missing, or weaker than the server's own.
 */
export function checkKdf(kdf) {
  const salt = base64ToBytes(kdf && kdf.salt);
  const ops = Number(kdf.ops);
  const mem = Number(kdf.mem_bytes);
  if (salt.length !== SALT_BYTES) throw new Error('bad salt');
  if (!Number.isInteger(ops) || ops < MIN_OPS || ops > 64) throw new Error('bad ops');
  if (!Number.isInteger(mem) || mem < MIN_MEM_BYTES || mem > 1024 * 1024 * 1024 || mem % 1024) {
    throw new Error('bad memory');
  }
  return { salt, ops, memKiB: mem / 1024 };
}

/** The form's data-kdf-* attributes as a `receipt_kdf` object. */
export function kdfOfElement(el) {
  return {
    salt: el.getAttribute('data-kdf-salt'),
    ops: el.getAttribute('data-kdf-ops'),
    mem_bytes: el.getAttribute('data-kdf-mem'),
  };
}

/** Lookup value and reply seed from Argon2id's output; `stretched` is wiped. */
export function keysFromStretched(stretched) {
  const input = new Uint8Array(REPLY_LABEL.length + stretched.length);
  try {
    input.set(LOOKUP_LABEL, 0);
    input.set(stretched, LOOKUP_LABEL.length);
    const lookup = blake2b(input.subarray(0, LOOKUP_LABEL.length + stretched.length), {
      dkLen: 32,
    });
    input.set(REPLY_LABEL, 0);
    input.set(stretched, REPLY_LABEL.length);
    const seed = blake2b(input, { dkLen: 32 });
    return { lookup, seed };
  } finally {
    input.fill(0);
    stretched.fill(0);
  }
}

/**
 * The whole derivation (see the top of this file) for 20 ASCII digits and checked parameters:
 * `{ lookup, seed }`, 32 bytes each. `unchecked` lets tests use small parameters.
 */
export async function deriveReceiptKeys(digits, kdf, unchecked) {
  if (!/^\d{20}$/.test(String(digits))) throw new Error('a receipt is 20 digits');
  const k = unchecked ? unchecked : checkKdf(kdf);
  const password = new TextEncoder().encode(String(digits));
  try {
    const stretched = await argon2id({
      password,
      salt: k.salt,
      parallelism: 1,
      iterations: k.ops,
      memorySize: k.memKiB,
      hashLength: 32,
      outputType: 'binary',
    });
    return keysFromStretched(stretched);
  } finally {
    password.fill(0);
  }
}

