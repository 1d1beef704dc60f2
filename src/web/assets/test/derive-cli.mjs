#!/usr/bin/env node
// Runs the browser's receipt derivation (js/receipt-derive.js: hash-wasm's Argon2id, noble's
// BLAKE2b) for the Rust tests (tests/cross_impl.rs), which compare it with libsodium's.
//   stdin:  {"digits": "<20 digits>", "receipt_kdf": {"salt","ops","mem_bytes"}}
//           or, with "unchecked": true, parameters below the floor (for quick vectors)
//   stdout: {"lookup": "<base64>", "seed": "<base64>", "reply_key": "<base64 public key>"}
import { deriveReceiptKeys, checkKdf } from '../js/receipt-derive.js';
import { bytesToBase64, base64ToBytes } from '../js/sodium-compat.js';
import { replyPublicKey } from '../js/receipt.js';

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

try {
  const input = JSON.parse(await readStdin());
  const kdf = input.receipt_kdf;
  const unchecked = input.unchecked
    ? { salt: base64ToBytes(kdf.salt), ops: kdf.ops, memKiB: kdf.mem_bytes / 1024 }
    : checkKdf(kdf);
  const keys = await deriveReceiptKeys(input.digits, null, unchecked);
  process.stdout.write(
    JSON.stringify({
      lookup: bytesToBase64(keys.lookup),
      seed: bytesToBase64(keys.seed),
      reply_key: replyPublicKey(keys.seed),
    }) + '\n',
  );
} catch (e) {
  process.stderr.write('derive-cli: ' + (e && e.message ? e.message : String(e)) + '\n');
  process.exit(1);
}
