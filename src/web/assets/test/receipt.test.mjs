// The browser's receipt code (js/receipt.js, js/receipt-derive.js): receipts drawn without
// bias and with a valid check digit, the derivation against vectors computed by libsodium
// (through the server's Rust code; tests/cross_impl.rs checks the full parameters live), and
// follow-up envelopes that libsodium opens.
import test from 'node:test';
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';

import { checkKdf, deriveReceiptKeys } from '../js/receipt-derive.js';
import { followupEnvelope, generateReceipt, replyPublicKey } from '../js/receipt.js';
import { parseReceipt } from '../js/status.js';
import { base64ToBytes, bytesToBase64, sealTip } from '../js/sodium-compat.js';

const hex = (b) => Buffer.from(b).toString('hex');

test('generated receipts are 20 digits with a valid check digit', () => {
  for (let i = 0; i < 300; i++) {
    const r = generateReceipt();
    assert.match(r, /^\d{20}$/);
    assert.equal(parseReceipt(r).digits, r);
  }
});

test('bytes of 250 and above are drawn again, never folded into a digit', () => {
  // 250..255 would make 0..5 more likely than 6..9 if taken modulo 10.
  let calls = 0;
  const random = (a) => {
    calls++;
    a.fill(calls === 1 ? 255 : 7);
    if (calls === 1) a[3] = 13; // the one usable byte of the first draw
  };
  const r = generateReceipt(random);
  assert.equal(r.slice(0, 19), '3' + '7'.repeat(18));
  assert.equal(calls, 2);
});

test('every digit value turns up in every place', () => {
  const seen = Array.from({ length: 19 }, () => new Set());
  for (let i = 0; i < 400; i++) {
    const r = generateReceipt();
    for (let p = 0; p < 19; p++) seen[p].add(r[p]);
  }
  for (const s of seen) assert.equal(s.size, 10);
});

// Computed by src/domain/receipt.rs (libsodium crypto_pwhash) in its fixed-output test
// v2_derivation_fixed_output: receipt 12345678901234567891, salt 16 x 0x01, 1 pass, 8 KiB.
test('the derivation matches libsodium (fixed vector, small parameters)', async () => {
  const keys = await deriveReceiptKeys('12345678901234567891', null, {
    salt: new Uint8Array(16).fill(1),
    ops: 1,
    memKiB: 8,
  });
  assert.equal(hex(keys.lookup), 'f968fadc3b785170da15541d36ad563da8b159dce4432a835a475b62d57d03cf');
  assert.equal(hex(keys.seed), '5d1dfaf611cf059199ecf18017a10b94897528e353792eb60533f51bd2950c43');
});

test('parameters weaker than the server\'s, or malformed, are refused', () => {
  const salt = bytesToBase64(new Uint8Array(16).fill(2));
  assert.ok(checkKdf({ salt, ops: 3, mem_bytes: 64 * 1024 * 1024 }));
  for (const bad of [
    { salt, ops: 2, mem_bytes: 64 * 1024 * 1024 },
    { salt, ops: 3, mem_bytes: 32 * 1024 * 1024 },
    { salt: bytesToBase64(new Uint8Array(8)), ops: 3, mem_bytes: 64 * 1024 * 1024 },
    { salt: 'not base64!', ops: 3, mem_bytes: 64 * 1024 * 1024 },
    { salt, ops: 'x', mem_bytes: 64 * 1024 * 1024 },
    null,
  ]) {
    assert.throws(() => checkKdf(bad));
  }
});

test('a receipt that is not 20 digits is never derived', async () => {
  await assert.rejects(deriveReceiptKeys('1234', null, { salt: new Uint8Array(16), ops: 1, memKiB: 8 }));
});

test('a follow-up envelope made here opens with libsodium, boxed with the reply key', async () => {
  await sodium.ready;
  const inspectors = sodium.crypto_box_keypair();
  const seed = new Uint8Array(32).fill(9);
  const reply = sodium.crypto_box_seed_keypair(seed);
  assert.equal(replyPublicKey(seed), bytesToBase64(reply.publicKey));
  const inner = sealTip({ body: '补充一句' }, bytesToBase64(inspectors.publicKey));
  const envelope = followupEnvelope(inner, seed, bytesToBase64(inspectors.publicKey));
  const raw = base64ToBytes(envelope);
  assert.equal((raw.length - 48) % 1024, 0);
  const padded = sodium.crypto_box_seal_open(raw, inspectors.publicKey, inspectors.privateKey);
  const plain = sodium.unpad(padded, 1024);
  assert.deepEqual(Array.from(plain.subarray(0, 4)), [0x57, 0x42, 0x46, 0x02]);
  assert.deepEqual(plain.subarray(4, 36), reply.publicKey);
  const nonce = plain.subarray(36, 60);
  const opened = sodium.crypto_box_open_easy(plain.subarray(60), nonce, reply.publicKey, inspectors.privateKey);
  assert.deepEqual(opened, base64ToBytes(inner));
  // Boxed by anyone else, it does not open as the reply key's.
  const other = sodium.crypto_box_keypair();
  assert.throws(() =>
    sodium.crypto_box_open_easy(plain.subarray(60), nonce, other.publicKey, inspectors.privateKey),
  );
  assert.equal(seed[0], 9, 'the seed stays for further follow-ups');
});

test('a follow-up envelope for several offices (version 3) opens with libsodium for each office, and its check verifies', async () => {
  const { followupEnvelopeForOffices, releaseMoveKey } = await import('../js/receipt.js');
  const { sealTip, bytesToBase64: b64, base64ToBytes: unb64 } = await import('../js/sodium-compat.js');
  await sodium.ready;
  const county = sodium.crypto_box_keypair();
  const town = sodium.crypto_box_keypair();
  const offices = [b64(county.publicKey), b64(town.publicKey)];
  const seed = sodium.randombytes_buf(32);
  const reply = sodium.crypto_box_seed_keypair(seed);
  const inner = sealTip({ body: '补充' }, offices);
  const box = unb64(followupEnvelopeForOffices(inner, seed, offices));
  for (const kp of [county, town]) {
    // Format 2: find this office's stanza, then the secret box.
    const n = box[4];
    let key = null;
    for (let i = 0; i < n && !key; i++) {
      try {
        key = sodium.crypto_box_seal_open(box.subarray(5 + i * 80, 5 + (i + 1) * 80), kp.publicKey, kp.privateKey);
      } catch {
        key = null;
      }
    }
    const at = 5 + n * 80;
    const padded = sodium.crypto_secretbox_open_easy(box.subarray(at + 24), box.subarray(at, at + 24), key);
    const env = sodium.unpad(padded, 1024);
    assert.deepEqual(Array.from(env.subarray(0, 4)), [0x57, 0x42, 0x46, 0x03]);
    assert.deepEqual(Array.from(env.subarray(4, 36)), Array.from(reply.publicKey));
    assert.equal(env[36], 2);
    // This office's check: its key, then nonce || crypto_box_easy(digest) from the reply key.
    const checks = env.subarray(37, 37 + 2 * (32 + 24 + 16 + 32));
    let digest = null;
    for (let i = 0; i < 2; i++) {
      const c = checks.subarray(i * 104, (i + 1) * 104);
      if (sodium.memcmp(c.subarray(0, 32), kp.publicKey)) {
        digest = sodium.crypto_box_open_easy(c.subarray(56), c.subarray(32, 56), reply.publicKey, kp.privateKey);
      }
    }
    const innerBytes = env.subarray(37 + 2 * 104);
    const label = new TextEncoder().encode('whistlebox sealed v1');
    const expected = sodium.crypto_generichash(32, new Uint8Array([...label, ...innerBytes]));
    assert.deepEqual(Array.from(digest), Array.from(expected));
    assert.deepEqual(Array.from(innerBytes), Array.from(unb64(inner)));
  }
  // A move's key sealed to the resident opens with the same seed, and only with it.
  const stanza = sodium.randombytes_buf(80);
  const wrapped = sodium.crypto_box_seal(stanza, reply.publicKey);
  assert.deepEqual(Array.from(unb64(releaseMoveKey(b64(wrapped), seed))), Array.from(stanza));
  assert.throws(() => releaseMoveKey(b64(wrapped), sodium.randombytes_buf(32)));
});
