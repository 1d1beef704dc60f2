// Checks our browser sealing code against real libsodium (libsodium-wrappers): the server and
// the inspectors' tool use libsodium, so "compatible" is the only thing that matters here.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';
import {
  sodiumPad,
  sodiumUnpad,
  cryptoBoxBeforenm,
  cryptoBoxSeal,
  cryptoBoxSealOpen,
  sealTip,
  sealForOffices,
  MULTI_MAGIC,
  base64ToBytes,
  bytesToBase64,
  SEAL_OVERHEAD,
} from '../js/sodium-compat.js';

before(async () => {
  await sodium.ready;
});

const utf8 = new TextEncoder();
const fromUtf8 = (b) => new TextDecoder('utf-8', { fatal: true }).decode(b);
const randomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));
const CHINESE_BODY = '村主任把低保金发给了亲戚，金额约三万元。';

// libsodium pads in place into a buffer it allocates; compare plain byte arrays.
const bytes = (u8) => Uint8Array.from(u8);

test('(a) sodiumPad/sodiumUnpad match libsodium for lengths 0..3000 and block sizes 1, 16, 1024', () => {
  const source = randomBytes(3001);
  let checked = 0;
  for (const blockSize of [1, 16, 1024]) {
    for (let len = 0; len <= 3000; len++) {
      const msg = source.subarray(0, len);
      const ours = sodiumPad(msg, blockSize);
      const theirs = sodium.pad(msg.slice(), blockSize);
      assert.deepEqual(bytes(ours), bytes(theirs), `pad len=${len} block=${blockSize}`);
      assert.equal(ours.length % blockSize, 0);
      assert.ok(ours.length > len, 'padding always adds at least one byte');
      assert.deepEqual(bytes(sodiumUnpad(ours, blockSize)), bytes(msg), `unpad len=${len}`);
      assert.deepEqual(bytes(sodium.unpad(ours, blockSize)), bytes(msg));
      checked++;
    }
  }
  assert.equal(checked, 3 * 3001);
});

test('(a) a length already a multiple of the block gets a whole extra block', () => {
  const padded = sodiumPad(new Uint8Array(1024).fill(7), 1024);
  assert.equal(padded.length, 2048);
  assert.equal(padded[1024], 0x80);
  assert.ok(padded.subarray(1025).every((b) => b === 0));
});

test('(a) sodiumUnpad accepts and rejects exactly what libsodium does', () => {
  const agree = (buf, blockSize, label) => {
    let ours;
    let theirs;
    try {
      ours = bytes(sodiumUnpad(buf, blockSize));
    } catch {
      ours = 'invalid';
    }
    try {
      theirs = bytes(sodium.unpad(buf.slice(), blockSize));
    } catch {
      theirs = 'invalid';
    }
    assert.deepEqual(ours, theirs, label);
    return ours;
  };
  // Hand-picked bad paddings must be refused.
  for (const [buf, bs] of [
    [new Uint8Array(16), 16], // all zeros: no 0x80 marker
    [Uint8Array.from([1, 2, 3, 4]), 4], // no padding at all
    [Uint8Array.from([1, 0x80, 0, 0, 0x01]), 4], // junk after the marker
    [Uint8Array.from([0x80, 0, 0]), 4], // shorter than a block
    [new Uint8Array(0), 1],
  ]) {
    assert.equal(agree(buf, bs, `bad ${buf}`), 'invalid');
  }
  // Random tails built from 0x00 / 0x80 / other, so both answers are frequently exercised.
  const choices = [0x00, 0x00, 0x80, 0x41];
  let valid = 0;
  for (let i = 0; i < 4000; i++) {
    const bs = [1, 4, 16][i % 3];
    const len = bs + (i % 9);
    const buf = new Uint8Array(len);
    const r = randomBytes(len);
    for (let j = 0; j < len; j++) buf[j] = choices[r[j] & 3];
    if (agree(buf, bs, `random #${i}`) !== 'invalid') valid++;
  }
  assert.ok(valid > 100 && valid < 3900, `both outcomes exercised (valid=${valid})`);
  assert.throws(() => sodiumPad(new Uint8Array(3), 0), RangeError);
  assert.throws(() => sodiumUnpad(new Uint8Array(3), 0), RangeError);
});

test('crypto_box_beforenm (X25519 + HSalsa20) matches libsodium', () => {
  for (let i = 0; i < 20; i++) {
    const a = sodium.crypto_box_keypair();
    const b = sodium.crypto_box_keypair();
    const ours = cryptoBoxBeforenm(b.publicKey, a.privateKey);
    assert.deepEqual(bytes(ours), bytes(sodium.crypto_box_beforenm(b.publicKey, a.privateKey)));
    // Not the raw X25519 output: the HSalsa20 step must have happened.
    assert.notDeepEqual(bytes(ours), bytes(sodium.crypto_scalarmult(a.privateKey, b.publicKey)));
  }
});

test('(b) our cryptoBoxSeal opens with libsodium crypto_box_seal_open', () => {
  const kp = sodium.crypto_box_keypair();
  for (const len of [0, 1, 15, 16, 17, 63, 64, 65, 1024, 5000]) {
    const msg = randomBytes(len);
    const sealed = cryptoBoxSeal(msg, kp.publicKey);
    assert.equal(sealed.length, len + SEAL_OVERHEAD);
    assert.equal(SEAL_OVERHEAD, sodium.crypto_box_SEALBYTES);
    const opened = sodium.crypto_box_seal_open(sealed, kp.publicKey, kp.privateKey);
    assert.deepEqual(bytes(opened), bytes(msg), `len=${len}`);
  }
  // Fresh ephemeral key each time: two seals of one message differ.
  const m = utf8.encode(CHINESE_BODY);
  const s1 = cryptoBoxSeal(m, kp.publicKey);
  const s2 = cryptoBoxSeal(m, kp.publicKey);
  assert.notDeepEqual(bytes(s1.subarray(0, 32)), bytes(s2.subarray(0, 32)));
  // And it is for this key only.
  const other = sodium.crypto_box_keypair();
  assert.throws(() => sodium.crypto_box_seal_open(s1, other.publicKey, other.privateKey));
});

test('(c) libsodium crypto_box_seal opens with our cryptoBoxSealOpen', () => {
  const kp = sodium.crypto_box_keypair();
  for (const len of [0, 1, 31, 32, 33, 1024, 5000]) {
    const msg = randomBytes(len);
    const sealed = sodium.crypto_box_seal(msg, kp.publicKey);
    const opened = cryptoBoxSealOpen(sealed, kp.publicKey, kp.privateKey);
    assert.deepEqual(bytes(opened), bytes(msg), `len=${len}`);
  }
  const sealed = sodium.crypto_box_seal(utf8.encode(CHINESE_BODY), kp.publicKey);
  assert.equal(fromUtf8(cryptoBoxSealOpen(sealed, kp.publicKey, kp.privateKey)), CHINESE_BODY);
  const other = sodium.crypto_box_keypair();
  assert.throws(() => cryptoBoxSealOpen(sealed, other.publicKey, other.privateKey));
  assert.throws(() => cryptoBoxSealOpen(sealed.subarray(0, 47), kp.publicKey, kp.privateKey));
});

test('(d) flipping any one byte of a sealed box makes opening fail', () => {
  const kp = sodium.crypto_box_keypair();
  const msg = utf8.encode(CHINESE_BODY);
  for (const sealed of [cryptoBoxSeal(msg, kp.publicKey), sodium.crypto_box_seal(msg, kp.publicKey)]) {
    assert.deepEqual(bytes(cryptoBoxSealOpen(sealed, kp.publicKey, kp.privateKey)), bytes(msg));
    for (let i = 0; i < sealed.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const bad = sealed.slice();
        bad[i] ^= mask;
        assert.throws(
          () => cryptoBoxSealOpen(bad, kp.publicKey, kp.privateKey),
          `byte ${i} ^ ${mask} was accepted`,
        );
      }
    }
  }
});

test('(e) sealTip gives 48 + k*1024 bytes that libsodium opens to the padded JSON', () => {
  const kp = sodium.crypto_box_keypair();
  const keyB64 = sodium.to_base64(kp.publicKey, sodium.base64_variants.ORIGINAL);
  const open = (b64) => {
    const raw = base64ToBytes(b64);
    // Standard base64 with padding, as the server decodes it.
    assert.match(b64, /^[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(b64.length % 4, 0);
    assert.equal((raw.length - 48) % 1024, 0, `length ${raw.length}`);
    assert.ok(raw.length >= 48 + 1024);
    const padded = sodium.crypto_box_seal_open(raw, kp.publicKey, kp.privateKey);
    assert.equal(padded.length, raw.length - 48);
    return { size: raw.length, json: JSON.parse(fromUtf8(sodium.unpad(padded, 1024))) };
  };

  const small = open(sealTip({ body: CHINESE_BODY }, keyB64));
  assert.equal(small.size, 48 + 1024);
  assert.deepEqual(small.json, { v: 1, body: CHINESE_BODY });

  const full = open(
    sealTip(
      {
        body: CHINESE_BODY,
        where: '东河村',
        who: '',
        when: '   ',
        amount: '约3万元',
        proof: '存折复印件',
        topic: 'welfare',
        unknown: 'dropped',
      },
      keyB64,
    ),
  );
  // Empty and whitespace-only optional fields are left out; unknown keys are never sent.
  assert.deepEqual(full.json, {
    v: 1,
    body: CHINESE_BODY,
    where: '东河村',
    amount: '约3万元',
    proof: '存折复印件',
    topic: 'welfare',
  });

  // A body longer than one bucket goes whole into a larger bucket, never cut.
  const long = '长'.repeat(700); // 2100 bytes of UTF-8
  const big = open(sealTip({ body: long }, keyB64));
  assert.equal(big.json.body, long);
  assert.equal(big.size, 48 + 3 * 1024);

  assert.throws(() => sealTip({ body: '  ' }, keyB64));
  assert.throws(() => sealTip({}, keyB64));
  assert.throws(() => sealTip({ body: 'x' }, 'not base64!'));
  assert.throws(() => sealTip({ body: 'x' }, bytesToBase64(new Uint8Array(31))));
  assert.throws(() => sealTip({ body: 'x', where: 5 }, keyB64), TypeError);

  // The receipt's reply key goes inside the seal, right after the body.
  const reply = sodium.crypto_box_seed_keypair(new Uint8Array(32).fill(7));
  const replyB64 = sodium.to_base64(reply.publicKey, sodium.base64_variants.ORIGINAL);
  const bound = open(sealTip({ body: CHINESE_BODY, where: '东河村' }, keyB64, replyB64));
  assert.deepEqual(bound.json, { v: 1, body: CHINESE_BODY, reply_key: replyB64, where: '东河村' });
  assert.deepEqual(Object.keys(bound.json), ['v', 'body', 'reply_key', 'where']);
  assert.throws(() => sealTip({ body: 'x' }, keyB64, 'AAAA'));
  assert.throws(() => sealTip({ body: 'x' }, keyB64, 'not base64!'));
});

test('base64 helpers round-trip and agree with libsodium', () => {
  for (let len = 0; len < 70; len++) {
    const b = randomBytes(len);
    const ours = bytesToBase64(b);
    assert.equal(ours, sodium.to_base64(b, sodium.base64_variants.ORIGINAL));
    assert.deepEqual(bytes(base64ToBytes(ours)), bytes(b));
  }
  assert.throws(() => base64ToBytes('abc'));
  assert.throws(() => base64ToBytes('ab-_'));
});

// Opens a format 2 box with libsodium alone: find the stanza that opens with this key, then
// crypto_secretbox_open_easy with the content key inside it.
function openFormat2WithLibsodium(box, keyPair) {
  assert.deepEqual(bytes(box.subarray(0, 4)), bytes(MULTI_MAGIC));
  const n = box[4];
  const stanzaBytes = 32 + sodium.crypto_box_SEALBYTES;
  let contentKey = null;
  for (let i = 0; i < n && !contentKey; i++) {
    const stanza = box.subarray(5 + i * stanzaBytes, 5 + (i + 1) * stanzaBytes);
    try {
      contentKey = sodium.crypto_box_seal_open(stanza, keyPair.publicKey, keyPair.privateKey);
    } catch {
      contentKey = null;
    }
  }
  if (!contentKey) throw new Error('no stanza for this key');
  const at = 5 + n * stanzaBytes;
  const nonce = box.subarray(at, at + sodium.crypto_secretbox_NONCEBYTES);
  return sodium.crypto_secretbox_open_easy(
    box.subarray(at + sodium.crypto_secretbox_NONCEBYTES),
    nonce,
    contentKey,
  );
}

test('(offices) a tip sealed for the county and a town opens with libsodium under either key, not a third', () => {
  const county = sodium.crypto_box_keypair();
  const town = sodium.crypto_box_keypair();
  const other = sodium.crypto_box_keypair();
  const sealed = sealTip(
    { body: CHINESE_BODY, where: '东山村' },
    [bytesToBase64(county.publicKey), bytesToBase64(town.publicKey)],
  );
  const box = base64ToBytes(sealed);
  assert.equal(box.length, 5 + 2 * 80 + 24 + 16 + 1024);
  for (const kp of [county, town]) {
    const padded = openFormat2WithLibsodium(box, kp);
    const tip = JSON.parse(fromUtf8(sodium.unpad(padded, 1024)));
    assert.deepEqual(tip, { v: 1, body: CHINESE_BODY, where: '东山村' });
  }
  assert.throws(() => openFormat2WithLibsodium(box, other), /no stanza/);
});

test('(offices) a flipped byte in the body fails, and the office count is checked', () => {
  const county = sodium.crypto_box_keypair();
  const box = sealForOffices(utf8.encode('x'.repeat(10)), [county.publicKey]);
  box[box.length - 1] ^= 1;
  assert.throws(() => openFormat2WithLibsodium(box, county));
  assert.throws(() => sealForOffices(new Uint8Array(1), []), RangeError);
  assert.throws(
    () => sealForOffices(new Uint8Array(1), new Array(17).fill(county.publicKey)),
    RangeError,
  );
});
