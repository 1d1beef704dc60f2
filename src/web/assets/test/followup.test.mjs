// The follow-up form's pure functions (js/followup.js), with the sealing checked against real
// libsodium as the inspectors' tool opens it; and the report fields' bound (js/fields.js).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';
import { bytesToBase64, base64ToBytes, SEAL_OVERHEAD } from '../js/sodium-compat.js';
import { sealFollowup, followupRequest, followupOutcome, boxKeyOf } from '../js/followup.js';
import { clip, MAX_FIELD_CHARS } from '../js/fields.js';

before(async () => {
  await sodium.ready;
});

const fromUtf8 = (b) => new TextDecoder('utf-8', { fatal: true }).decode(b);
const FOLLOWUP = '是2024年发的，会计也知道。\n第二行 😀 <b>x</b>';

function open(sealedB64, kp) {
  const padded = sodium.crypto_box_seal_open(base64ToBytes(sealedB64), kp.publicKey, kp.privateKey);
  return fromUtf8(sodium.unpad(padded, 1024));
}

test('sealFollowup: libsodium opens exactly {"v":1,"body":text}, padded to 1024', () => {
  const kp = sodium.crypto_box_keypair();
  const key = bytesToBase64(kp.publicKey);
  const sealed = sealFollowup(FOLLOWUP, key);
  assert.equal(base64ToBytes(sealed).length, SEAL_OVERHEAD + 1024);
  assert.equal(open(sealed, kp), JSON.stringify({ v: 1, body: FOLLOWUP }));
  assert.deepEqual(JSON.parse(open(sealed, kp)), { v: 1, body: FOLLOWUP });
  // Longer words take more blocks, never a length between them.
  const long = '长'.repeat(1000); // 3000 bytes of UTF-8, 3020 with the JSON: three blocks
  const sealedLong = sealFollowup(long, key);
  assert.equal(base64ToBytes(sealedLong).length, SEAL_OVERHEAD + 3 * 1024);
  assert.equal(JSON.parse(open(sealedLong, kp)).body, long);
  // Fresh ephemeral key each time.
  assert.notEqual(sealFollowup(FOLLOWUP, key), sealed);
});

test('sealFollowup: refuses blank words and a bad key (the form then posts)', () => {
  const key = bytesToBase64(sodium.crypto_box_keypair().publicKey);
  for (const blank of ['', '   ', '\n\t']) {
    assert.throws(() => sealFollowup(blank, key), /no body/);
  }
  assert.throws(() => sealFollowup(FOLLOWUP, ''));
  assert.throws(() => sealFollowup(FOLLOWUP, 'not base64!'));
  assert.throws(() => sealFollowup(FOLLOWUP, bytesToBase64(new Uint8Array(31))));
});

test('followupRequest: the JSON of POST /api/v1/followups', () => {
  assert.equal(
    followupRequest('1234 5678 9012 3456 7890', 'AAAA'),
    '{"receipt":"1234 5678 9012 3456 7890","sealed":"AAAA"}',
  );
});

test('followupOutcome: done on 201, the server sentence on an error, else unsure (never a second post)', () => {
  assert.deepEqual(followupOutcome(201, { received_on: '2026-11-28' }), { done: '2026-11-28' });
  for (const status of [400, 404, 413, 429, 503]) {
    assert.deepEqual(followupOutcome(status, { error: 'No report has this code.' }), {
      error: 'No report has this code.',
    });
  }
  assert.deepEqual(followupOutcome(201, null), { unsure: true });
  assert.deepEqual(followupOutcome(201, { error: 'x' }), { unsure: true });
  assert.deepEqual(followupOutcome(200, { received_on: '2026-11-28' }), { unsure: true });
  assert.deepEqual(followupOutcome(502, null), { unsure: true });
  assert.deepEqual(followupOutcome(400, { error: '  ' }), { unsure: true });
  assert.deepEqual(followupOutcome(400, { error: 7 }), { unsure: true });
});

test('boxKeyOf: the key of GET /api/v1/key version 1, or throws', () => {
  assert.equal(boxKeyOf({ version: 1, box_public_key: 'AAAA', demo: false }), 'AAAA');
  assert.throws(() => boxKeyOf({ version: 2, box_public_key: 'AAAA' }));
  assert.throws(() => boxKeyOf({ version: 1 }));
  assert.throws(() => boxKeyOf({ version: 1, box_public_key: '' }));
  assert.throws(() => boxKeyOf(null));
});

test('clip: at most 2000 characters, counted by code point like Rust chars()', () => {
  assert.equal(MAX_FIELD_CHARS, 2000);
  assert.equal(clip('幸福村'), '幸福村');
  assert.equal(clip('a'.repeat(2000)), 'a'.repeat(2000));
  assert.equal(clip('a'.repeat(2001)), 'a'.repeat(2000));
  assert.equal(clip('村'.repeat(5000)), '村'.repeat(2000));
  // Astral characters count once and are never split into a lone surrogate.
  const astral = '😀'.repeat(2500);
  assert.equal(clip(astral), '😀'.repeat(2000));
  const mixed = 'a' + '😀'.repeat(2500);
  const cut = clip(mixed);
  assert.equal(Array.from(cut).length, 2000);
  assert.equal(cut, Array.from(mixed).slice(0, 2000).join(''));
  assert.ok(!/[\ud800-\udbff]$/.test(cut), 'ends in a lone high surrogate');
  // A lone surrogate already in the text counts as one character, as in the input.
  assert.equal(clip('\ud800'.repeat(3), 2), '\ud800\ud800');
  assert.equal(clip('abc', 2), 'ab');
  assert.equal(clip('', 2), '');
});
