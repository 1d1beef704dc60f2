// Evidence files in the browser: the blob format (js/blob.js) against real libsodium, the
// Padmé buckets against the formula of docs/attachments.md (and the Rust values, which
// tests/cross_impl.rs checks too), the upload client (js/upload.js) against a fake server
// that drops connections, the metadata inspection (js/metadata.js) on files built byte by
// byte, the voice note's WAV and disguise (js/voice-dsp.js), and the sealed tip with and
// without attachments.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';
import {
  BLOB_HEAD,
  PIECE_BYTES,
  SEALED_PIECE_BYTES,
  blobLen,
  bucket,
  openBlob,
  sealFile,
} from '../js/blob.js';
import { discardUpload, uploadBlob, missingOf, UploadError, CHUNK_BYTES } from '../js/upload.js';
import { inspectImage, imageFormat } from '../js/metadata.js';
import { disguise, encodeWav, resample, toPcm16, Vocoder, WAV_RATE } from '../js/voice-dsp.js';
import { attachmentRef, base64ToBytes, bytesToBase64, sealTip } from '../js/sodium-compat.js';
import { followupRequest, followupRequestV2, sealFollowup } from '../js/followup.js';
import * as fx from './exif-fixture.mjs';
import { postNamingFiles } from '../js/evidence.js';

before(async () => {
  await sodium.ready;
});

const fromUtf8 = (b) => new TextDecoder('utf-8', { fatal: true }).decode(b);
const pattern = (n, seed = 7) => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * seed + (i >> 9)) % 251;
  return out;
};

// ---- Buckets -------------------------------------------------------------------------------

// The formula of docs/attachments.md, written again here with BigInt and bit lengths, not
// shared with js/blob.js.
function bucketByTheBook(len) {
  const P = 65536n;
  const x = BigInt(len) + 1n;
  if (x <= P) return Number(P);
  const E = BigInt(x.toString(2).length - 1); // floor(log2 x)
  const S = BigInt(E.toString(2).length); // floor(log2 E) + 1
  const step = 1n << (E - S);
  const padme = ((x + step - 1n) / step) * step;
  return Number(((padme + P - 1n) / P) * P);
}

// What src/domain/attachment.rs `bucket` answers (printed by Rust; tests/cross_impl.rs
// asserts the same table on the Rust side).
const RUST_BUCKETS = [
  [0, 65536],
  [1, 65536],
  [65535, 65536],
  [65536, 131072],
  [100000, 131072],
  [1482213, 1507328],
  [3000000, 3014656],
  [9600044, 9699328],
  [25165824, 25690112],
];

test('bucket() is the Padmé formula of docs/attachments.md and equals the Rust bucket()', () => {
  for (const [len, rust] of RUST_BUCKETS) {
    assert.equal(bucket(len), bucketByTheBook(len), `formula, len ${len}`);
    assert.equal(bucket(len), rust, `Rust, len ${len}`);
    assert.equal(blobLen(len), BLOB_HEAD + (rust / PIECE_BYTES) * SEALED_PIECE_BYTES);
  }
  // And everywhere between, around every power of two and piece boundary up to 24 MiB.
  for (let e = 10; e <= 24; e++) {
    for (const d of [-2, -1, 0, 1, 2, 4097]) {
      const len = 2 ** e + d;
      assert.equal(bucket(len), bucketByTheBook(len), `len ${len}`);
      assert.ok(bucket(len) > len && bucket(len) % PIECE_BYTES === 0);
    }
  }
  for (let i = 0; i < 2000; i++) {
    const len = Math.floor(Math.random() * 24 * 1024 * 1024);
    assert.equal(bucket(len), bucketByTheBook(len), `len ${len}`);
  }
  assert.throws(() => bucket(-1));
  assert.throws(() => bucket(1.5));
});

// ---- The blob, against libsodium -----------------------------------------------------------

function openWithLibsodium(blob, key, len) {
  assert.deepEqual([...blob.subarray(0, 4)], [0x57, 0x42, 0x41, 0x01], 'magic "WBA" 1');
  const prefix = blob.subarray(4, 20);
  const n = (blob.length - BLOB_HEAD) / SEALED_PIECE_BYTES;
  assert.ok(Number.isInteger(n) && n >= 1);
  const padded = new Uint8Array(n * PIECE_BYTES);
  for (let i = 0; i < n; i++) {
    const nonce = new Uint8Array(24);
    nonce.set(prefix);
    new DataView(nonce.buffer).setBigUint64(16, BigInt(i), true);
    const at = BLOB_HEAD + i * SEALED_PIECE_BYTES;
    const piece = sodium.crypto_secretbox_open_easy(blob.subarray(at, at + SEALED_PIECE_BYTES), nonce, key);
    assert.equal(piece.length, PIECE_BYTES);
    padded.set(piece, i * PIECE_BYTES);
  }
  assert.equal(padded.length, bucket(len));
  return sodium.unpad(padded, padded.length);
}

test('a blob opens piece by piece with libsodium crypto_secretbox_open_easy, digest and padding as libsodium makes them', async () => {
  for (const len of [0, 1, 65535, 65536, 65537, 200000, 1482213]) {
    const file = pattern(len);
    const sealed = await sealFile(file);
    assert.equal(sealed.blob.length, blobLen(len), `length of the blob of ${len}`);
    assert.equal(sealed.key.length, 32);
    assert.deepEqual(
      [...sealed.digest],
      [...sodium.crypto_generichash(32, sealed.blob)],
      'digest = crypto_generichash(32, blob)',
    );
    assert.deepEqual(openWithLibsodium(sealed.blob, sealed.key, len), file, `libsodium opens ${len}`);
    assert.deepEqual(openBlob(sealed.blob, sealed.key, sealed.digest, len), file);
    // The padding is exactly sodium_pad's to the bucket.
    const pad = sodium.pad(file.slice(), bucket(len));
    assert.equal(pad.length, bucket(len));
  }
});

test('every file gets a fresh key and nonce prefix', async () => {
  const file = pattern(1000);
  const a = await sealFile(file);
  const b = await sealFile(file);
  assert.notDeepEqual(a.key, b.key);
  assert.notDeepEqual(a.blob.subarray(4, 20), b.blob.subarray(4, 20));
  assert.notDeepEqual(a.digest, b.digest);
});

test('a blob sealed by libsodium (the Rust side is libsodium) opens with openBlob', () => {
  const len = 70000;
  const file = pattern(len, 13);
  const key = sodium.randombytes_buf(32);
  const prefix = sodium.randombytes_buf(16);
  const padded = sodium.pad(file.slice(), bucket(len));
  const parts = [new Uint8Array([0x57, 0x42, 0x41, 0x01]), prefix];
  for (let i = 0; i < padded.length / PIECE_BYTES; i++) {
    const nonce = new Uint8Array(24);
    nonce.set(prefix);
    new DataView(nonce.buffer).setBigUint64(16, BigInt(i), true);
    parts.push(sodium.crypto_secretbox_easy(padded.subarray(i * PIECE_BYTES, (i + 1) * PIECE_BYTES), nonce, key));
  }
  const blob = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    blob.set(p, at);
    at += p.length;
  }
  assert.deepEqual(openBlob(blob, key, sodium.crypto_generichash(32, blob), len), file);
});

test('flip one byte anywhere and the blob does not open (digest, then each piece on its own)', async () => {
  const len = 140000; // three pieces
  const file = pattern(len);
  const { blob, key, digest } = await sealFile(file);
  const places = [0, 3, 4, 19, 20, 20 + 15, 20 + 16, 20 + SEALED_PIECE_BYTES + 100, blob.length - 1];
  for (const at of places) {
    const changed = blob.slice();
    changed[at] ^= 0x01;
    assert.throws(() => openBlob(changed, key, digest, len), /digest/, `flip at ${at}`);
    // Even with a digest that matches the changed blob, the piece's tag refuses it.
    assert.throws(() => openBlob(changed, key, sodium.crypto_generichash(32, changed), len), `flip at ${at}, new digest`);
  }
  // Two pieces swapped, a piece cut, a wrong length or key: refused.
  const swapped = blob.slice();
  swapped.set(blob.subarray(20, 20 + SEALED_PIECE_BYTES), 20 + SEALED_PIECE_BYTES);
  swapped.set(blob.subarray(20 + SEALED_PIECE_BYTES, 20 + 2 * SEALED_PIECE_BYTES), 20);
  assert.throws(() => openBlob(swapped, key, sodium.crypto_generichash(32, swapped), len));
  const cut = blob.slice(0, blob.length - SEALED_PIECE_BYTES);
  assert.throws(() => openBlob(cut, key, sodium.crypto_generichash(32, cut), len));
  assert.throws(() => openBlob(blob, key, digest, len - 1));
  const wrongKey = key.slice();
  wrongKey[0] ^= 1;
  assert.throws(() => openBlob(blob, wrongKey, digest, len));
  assert.deepEqual(openBlob(blob, key, digest, len), file, 'and the untouched blob opens');
});

test('files over 24 MiB are refused before any work', async () => {
  await assert.rejects(sealFile(new Uint8Array(24 * 1024 * 1024 + 1)), RangeError);
});

// ---- The upload client against a fake server -------------------------------------------------

// A server after docs/attachments.md that keeps chunks in memory and, on a schedule, drops
// the connection before or after storing a chunk (the page then sees a network error), or
// answers 503.
function fakeServer({ dropBefore = [], dropAfter = [], fail503 = [], refuse = null } = {}) {
  const uploads = new Map();
  const log = [];
  let puts = 0;
  const json = (status, body) => ({ status, json: async () => body });
  async function fetch(path, init) {
    log.push([init.method, path]);
    assert.equal(init.credentials, 'omit');
    assert.equal(init.referrerPolicy, 'no-referrer');
    assert.equal(init.cache, 'no-store');
    if (init.method === 'POST' && path === '/api/v1/uploads') {
      const { bytes } = JSON.parse(init.body);
      if (refuse) return json(refuse.status, { error: refuse.error });
      const id = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
      const chunks = Math.ceil(bytes / CHUNK_BYTES);
      uploads.set(id, { bytes, chunks, got: new Map() });
      return json(201, { upload: id, chunk_bytes: CHUNK_BYTES, chunks });
    }
    const m = path.match(/^\/api\/v1\/uploads\/([0-9a-f]{32})(?:\/(\d+))?$/);
    const u = m && uploads.get(m[1]);
    if (!u) return json(404, { error: 'unknown upload' });
    if (init.method === 'GET') {
      const missing = [];
      for (let i = 0; i < u.chunks; i++) if (!u.got.has(i)) missing.push(i);
      return json(200, { bytes: u.bytes, chunk_bytes: CHUNK_BYTES, chunks: u.chunks, missing });
    }
    if (init.method === 'DELETE') {
      uploads.delete(m[1]);
      return { status: 204, json: async () => null };
    }
    if (init.method === 'PUT') {
      assert.equal(init.headers['Content-Type'], 'application/octet-stream');
      const n = puts++;
      if (dropBefore.includes(n)) throw new TypeError('Failed to fetch');
      if (fail503.includes(n)) return json(503, { error: 'busy' });
      const i = Number(m[2]);
      const want = Math.min(CHUNK_BYTES, u.bytes - i * CHUNK_BYTES);
      assert.equal(init.body.length, want, `chunk ${i} length`);
      const body = Uint8Array.from(init.body);
      if (u.got.has(i) && !u.got.get(i).every((b, k) => b === body[k])) return json(409, { error: 'different' });
      u.got.set(i, body);
      if (dropAfter.includes(n)) throw new TypeError('Failed to fetch'); // stored, answer lost
      return json(200, { received: u.got.size, chunks: u.chunks });
    }
    return json(405, { error: 'no' });
  }
  function assembled(id) {
    const u = uploads.get(id);
    const out = new Uint8Array(u.bytes);
    for (const [i, b] of u.got) out.set(b, i * CHUNK_BYTES);
    return out;
  }
  return { fetch, log, uploads, assembled };
}

test('an upload that loses its connection again and again resumes and the server holds exactly the blob', async () => {
  const { blob } = await sealFile(pattern(1500000)); // 1,507,716 bytes: 6 chunks
  const server = fakeServer({ dropBefore: [1, 2], dropAfter: [4], fail503: [6] });
  const waits = [];
  const progress = [];
  const id = await uploadBlob(blob, {
    fetch: server.fetch,
    sleep: async (ms) => waits.push(ms),
    onProgress: (sent, all) => progress.push([sent, all]),
  });
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.deepEqual(server.assembled(id), blob, 'byte for byte the blob');
  assert.equal(waits.length, 4, 'one wait per failure');
  assert.ok(waits[1] >= waits[0] / 2 && waits.every((w) => w <= 15000), `${waits}`);
  assert.ok(server.log.some(([m, p]) => m === 'GET' && p === '/api/v1/uploads/' + id), 'asked what was missing');
  assert.deepEqual(progress[progress.length - 1], [blob.length, blob.length]);
  assert.ok(progress.every(([s, a]) => s <= a));
  // Resuming an existing upload sends only what is missing.
  const before = server.log.length;
  assert.equal(await uploadBlob(blob, { fetch: server.fetch, upload: id, sleep: async () => {} }), id);
  assert.deepEqual(server.log.slice(before), [['GET', '/api/v1/uploads/' + id]]);
  assert.deepEqual(await missingOf(id, { fetch: server.fetch }), []);
  assert.equal(await missingOf('0'.repeat(32), { fetch: server.fetch }), null);
  // A file taken off the list: its upload is deleted, and then unknown.
  assert.equal(await discardUpload(id, { fetch: server.fetch }), true);
  assert.equal(await missingOf(id, { fetch: server.fetch }), null);
  assert.equal(await discardUpload(id, { fetch: async () => { throw new TypeError('offline'); } }), false);
});

test('an upload gives up after enough failures in a row, and a refusal carries the server sentence', async () => {
  const { blob } = await sealFile(pattern(300000));
  const dead = async () => {
    throw new TypeError('Failed to fetch');
  };
  await assert.rejects(uploadBlob(blob, { fetch: dead, sleep: async () => {}, tries: 5 }), (e) => e instanceof UploadError && e.kind === 'network');
  const full = fakeServer({ refuse: { status: 413, error: '文件太大了。' } });
  await assert.rejects(uploadBlob(blob, { fetch: full.fetch, sleep: async () => {} }), (e) => e.kind === 'refused' && e.message === '文件太大了。' && e.status === 413);
});

// ---- Metadata --------------------------------------------------------------------------------

test('what a phone photo carries is found: JPEG, PNG and WebP built byte by byte', async () => {
  assert.equal(imageFormat(fx.jpeg()), 'jpeg');
  assert.deepEqual(await inspectImage(fx.jpeg()), ['location', 'camera', 'time', 'thumbnail', 'software', 'xmp', 'comment', 'other']);
  assert.deepEqual(await inspectImage(fx.jpeg({ exif: false, xmp: false, comment: false })), [], 'a bare JPEG carries nothing');
  assert.deepEqual(
    await inspectImage(fx.jpeg({ xmp: false, comment: false, options: { gps: false, camera: false, time: false, software: false, thumbnail: false } })),
    ['other'],
    'only the exposure: "other details"',
  );
  const gpsOnly = await inspectImage(fx.jpeg({ xmp: false, comment: false, options: { camera: false, time: false, software: false, thumbnail: false } }));
  assert.ok(gpsOnly.includes('location') && !gpsOnly.includes('camera'), `${gpsOnly}`);
  assert.deepEqual(await inspectImage(fx.png()), ['location', 'camera', 'time', 'software', 'comment', 'other']);
  assert.deepEqual(await inspectImage(fx.webp()), ['location', 'camera', 'time', 'xmp', 'other']);
  // Not an image we know: never "nothing was there".
  assert.deepEqual(await inspectImage(new Uint8Array([1, 2, 3, 4])), ['other']);
});

// ---- Voice notes ------------------------------------------------------------------------------

function speechLike(seconds, rate = WAV_RATE) {
  const n = Math.round(seconds * rate);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const f0 = 170 + 30 * Math.sin(2 * Math.PI * 0.7 * t); // an intonation
    let s = 0;
    for (let h = 1; h <= 15; h++) s += Math.sin(2 * Math.PI * f0 * h * t) / h;
    x[i] = 0.2 * s * (0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t));
  }
  return x;
}

test('the WAV file: 44-byte PCM header, 16 kHz mono 16-bit, bytes = 44 + 2 × samples', () => {
  const pcm = toPcm16(Float32Array.from([0, 0.5, -0.5, 1, -1, 2, -2]));
  assert.deepEqual([...pcm], [0, 16384, -16384, 32767, -32768, 32767, -32768]);
  const wav = encodeWav([pcm, toPcm16(new Float32Array(3))]);
  assert.equal(wav.length, 44 + 2 * 10);
  const v = new DataView(wav.buffer);
  const text = (at, n) => String.fromCharCode(...wav.subarray(at, at + n));
  assert.equal(text(0, 4), 'RIFF');
  assert.equal(v.getUint32(4, true), wav.length - 8);
  assert.equal(text(8, 8), 'WAVEfmt ');
  assert.equal(v.getUint32(16, true), 16);
  assert.equal(v.getUint16(20, true), 1, 'PCM');
  assert.equal(v.getUint16(22, true), 1, 'mono');
  assert.equal(v.getUint32(24, true), 16000);
  assert.equal(v.getUint32(28, true), 32000);
  assert.equal(v.getUint16(32, true), 2);
  assert.equal(v.getUint16(34, true), 16);
  assert.equal(text(36, 4), 'data');
  assert.equal(v.getUint32(40, true), 20);
  assert.equal(v.getInt16(44 + 2, true), 16384);
  // Five minutes is the 9,600,044 bytes of docs/attachments.md.
  assert.equal(encodeWav(new Int16Array(300 * 16000)).length, 9600044);
});

test('resampling to 16 kHz keeps the length in seconds', () => {
  for (const rate of [48000, 44100, 16000]) {
    const out = resample(new Float32Array(rate * 3), rate);
    assert.ok(Math.abs(out.length - 48000) <= 1, `${rate}: ${out.length}`);
  }
});

test('the disguise: as long as its input, sample for sample, and not the input', () => {
  const voice = speechLike(2);
  const out = disguise(voice);
  assert.equal(out.length, voice.length);
  assert.ok(out.every((s) => Number.isFinite(s) && Math.abs(s) <= 1));
  const rms = (a) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
  assert.ok(rms(out) > 0.02, `audible: rms ${rms(out)}`);
  let dot = 0;
  for (let i = 0; i < voice.length; i++) dot += voice[i] * out[i];
  const corr = dot / Math.sqrt(voice.reduce((s, v) => s + v * v, 0) * out.reduce((s, v) => s + v * v, 0));
  assert.ok(Math.abs(corr) < 0.2, `the waveform is new, not the voice filtered: correlation ${corr}`);
  // In pieces as the recorder feeds it: the same length, the same sound.
  const v = new Vocoder();
  const parts = [voice.subarray(0, 1000), voice.subarray(1000, 5000), voice.subarray(5000)].map((p) => v.process(p));
  assert.equal(parts.reduce((n, p) => n + p.length, 0), voice.length);
  assert.deepEqual(Float32Array.from(parts.flatMap((p) => [...p])), out);
  // Silence stays (near) silent: no hum is invented.
  assert.ok(rms(disguise(new Float32Array(16000))) < 1e-6);
});

test('the disguise does not keep the speaker\'s pitch: two voices an octave apart sound the same pitch', () => {
  // The carrier's pitch is its own: the spectrum's strongest low peak does not move with
  // the speaker's pitch.
  const peak = (x) => {
    let best = 0;
    let bestF = 0;
    for (let f = 60; f <= 400; f += 5) {
      let re = 0;
      let im = 0;
      for (let i = 0; i < x.length; i++) {
        re += x[i] * Math.cos((2 * Math.PI * f * i) / WAV_RATE);
        im += x[i] * Math.sin((2 * Math.PI * f * i) / WAV_RATE);
      }
      const p = re * re + im * im;
      if (p > best) [best, bestF] = [p, f];
    }
    return bestF;
  };
  const tone = (f0) => {
    const x = new Float32Array(8000);
    for (let i = 0; i < x.length; i++) for (let h = 1; h <= 10; h++) x[i] += (0.1 / h) * Math.sin((2 * Math.PI * f0 * h * i) / WAV_RATE);
    return x;
  };
  const low = peak(disguise(tone(110)).subarray(2000));
  const high = peak(disguise(tone(220)).subarray(2000));
  assert.ok(Math.abs(low - high) <= 15, `carrier pitch ${low} Hz vs ${high} Hz`);
});

// ---- The sealed tip ----------------------------------------------------------------------------

function openTip(sealedB64, kp) {
  const padded = sodium.crypto_box_seal_open(base64ToBytes(sealedB64), kp.publicKey, kp.privateKey);
  return fromUtf8(sodium.unpad(padded, 1024));
}

const REF = {
  kind: 'photo',
  type: 'image/jpeg',
  bytes: 1482213,
  key: bytesToBase64(new Uint8Array(32).fill(1)),
  digest: bytesToBase64(new Uint8Array(32).fill(2)),
  removed: ['location', 'camera', 'time'],
};

test('sealTip without files is byte for byte what it was; with files it carries them in order', () => {
  const kp = sodium.crypto_box_keypair();
  const key = bytesToBase64(kp.publicKey);
  const reply = bytesToBase64(sodium.crypto_box_keypair().publicKey);
  const fields = { body: '村会计改了名单。', where: '东河村', topic: 'pensions' };
  // The exact JSON of a tip without files, as it was before attachments existed.
  const before = `{"v":1,"body":"村会计改了名单。","reply_key":"${reply}","where":"东河村","topic":"pensions"}`;
  assert.equal(openTip(sealTip(fields, key, reply), kp), before);
  assert.equal(openTip(sealTip(Object.assign({ attachments: [] }, fields), key, reply), kp), before, 'an empty list is no list');
  assert.equal(openTip(sealTip(Object.assign({ attachments: null }, fields), key, reply), kp), before);

  const voice = { kind: 'voice', type: 'audio/wav', bytes: 480044, key: REF.key, digest: REF.digest, seconds: 15, disguised: true };
  const file = { kind: 'file', type: 'application/pdf', bytes: 88211, key: REF.key, digest: REF.digest, cleaned: false, name: '名单.pdf' };
  const json = openTip(sealTip(Object.assign({ attachments: [REF, voice, file] }, fields), key, reply), kp);
  assert.equal(
    json,
    before.slice(0, -1) +
      ',"attachments":[' +
      `{"kind":"photo","type":"image/jpeg","bytes":1482213,"key":"${REF.key}","digest":"${REF.digest}","removed":["location","camera","time"]},` +
      `{"kind":"voice","type":"audio/wav","bytes":480044,"key":"${REF.key}","digest":"${REF.digest}","seconds":15,"disguised":true},` +
      `{"kind":"file","type":"application/pdf","bytes":88211,"key":"${REF.key}","digest":"${REF.digest}","cleaned":false,"name":"名单.pdf"}` +
      ']}',
  );
  // Bad references are refused before anything is sealed.
  const bad = (change) => () => sealTip(Object.assign({ attachments: [Object.assign({}, REF, change)] }, fields), key);
  assert.throws(bad({ kind: 'exe' }));
  assert.throws(bad({ key: bytesToBase64(new Uint8Array(31)) }));
  assert.throws(bad({ digest: 'nope' }));
  assert.throws(bad({ bytes: 24 * 1024 * 1024 + 1 }));
  assert.throws(bad({ removed: ['gps'] }));
  assert.throws(() => sealTip(Object.assign({ attachments: new Array(11).fill(REF) }, fields), key));
  // A kept name is cut by character, never inside one.
  assert.equal(attachmentRef(Object.assign({}, REF, { name: '😀'.repeat(300) })).name, '😀'.repeat(200));
});

test('follow-ups: with files the sealed words carry them and the request names the uploads; without, both are as before', () => {
  const kp = sodium.crypto_box_keypair();
  const key = bytesToBase64(kp.publicKey);
  assert.equal(openTip(sealFollowup('补充', key), kp), '{"v":1,"body":"补充"}');
  assert.equal(openTip(sealFollowup('补充', key, []), kp), '{"v":1,"body":"补充"}');
  const withFile = JSON.parse(openTip(sealFollowup('补充', key, [REF]), kp));
  assert.equal(withFile.attachments[0].digest, REF.digest);
  const id = 'ab'.repeat(16);
  assert.equal(followupRequest('1234', 'S'), '{"receipt":"1234","sealed":"S"}');
  assert.equal(followupRequest('1234', 'S', []), '{"receipt":"1234","sealed":"S"}');
  assert.equal(followupRequest('1234', 'S', [id]), `{"receipt":"1234","sealed":"S","uploads":["${id}"]}`);
  assert.equal(followupRequestV2('L', 'E'), '{"lookup":"L","sealed":"E"}');
  assert.equal(followupRequestV2('L', 'E', [id, id]), `{"lookup":"L","sealed":"E","uploads":["${id}","${id}"]}`);
});

test('a 409 for a file not complete: the missing pieces go, then the same body again; other answers pass through', async () => {
  const answers = (list) => {
    const calls = [];
    return { calls, post: async () => (calls.push('post'), { status: list.shift() }) };
  };
  const filesSaying = (...outcomes) => ({
    asked: 0,
    async completeMissing() {
      this.asked++;
      return outcomes.shift();
    },
  });
  // Missing once, then taken.
  let a = answers([409, 201]);
  let f = filesSaying('resent');
  assert.equal((await postNamingFiles(a.post, f)).status, 201);
  assert.equal(a.calls.length, 2);
  assert.equal(f.asked, 1);
  // A 409 with nothing missing (say, the tip was filed): handed back for the caller's check.
  a = answers([409]);
  f = filesSaying('none');
  assert.equal((await postNamingFiles(a.post, f)).status, 409);
  assert.equal(a.calls.length, 1);
  // An upload the server forgot: handed back, the next press makes it again.
  a = answers([409]);
  assert.equal((await postNamingFiles(a.post, filesSaying('gone'))).status, 409);
  // Never more than three rounds.
  a = answers([409, 409, 409, 409, 409]);
  f = filesSaying('resent', 'resent', 'resent', 'resent');
  assert.equal((await postNamingFiles(a.post, f)).status, 409);
  assert.equal(a.calls.length, 4);
  // Without files, or for any other answer, one post and nothing asked.
  a = answers([409]);
  assert.equal((await postNamingFiles(a.post, null)).status, 409);
  a = answers([503]);
  f = filesSaying('resent');
  assert.equal((await postNamingFiles(a.post, f)).status, 503);
  assert.equal(f.asked, 0);
});

test('every picture is known, by type, name or first bytes, and other files are not', async () => {
  const { looksLikePicture, isPicture } = await import('../js/clean.js');
  const bytes = (...parts) =>
    new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));
  const ftyp = (major, ...compatible) => bytes([0, 0, 0, 16 + 4 * compatible.length], 'ftyp', major, [0, 0, 0, 0], ...compatible);
  for (const [what, b] of [
    ['HEIF sequence', ftyp('mp42', 'isom', 'heis')],
    ['HEIC', ftyp('heic', 'mif1')],
    ['AVIF sequence', ftyp('avis')],
    ['Xiaomi HEIF', ftyp('MiHE')],
    ['JPEG XL', bytes([0xff, 0x0a, 1, 2])],
    ['JPEG XL box', bytes([0, 0, 0, 0x0c], 'JXL ', [0x0d, 0x0a, 0x87, 0x0a])],
    ['DNG', bytes('II*', [0], [8, 0, 0, 0])],
    ['GIF', bytes('GIF89a')],
    ['Photoshop', bytes('8BPS')],
  ]) {
    assert.equal(looksLikePicture(b, b.length), true, what);
  }
  assert.equal(looksLikePicture(ftyp('isom', 'avc1', 'mp41'), 24), false, 'an MP4 video is not');
  assert.equal(looksLikePicture(bytes('%PDF-1.7'), 8), false);
  assert.equal(looksLikePicture(bytes('BMW report'), 10), false, 'BM not followed by its length');
  // By name when the type says nothing, by bytes when neither does.
  assert.equal(await isPicture(new File([bytes('data')], 'IMG_0001.JPG', { type: 'application/octet-stream' })), true);
  assert.equal(await isPicture(new File([bytes([0xff, 0xd8, 0xff, 0xe0])], 'x.bin', { type: '' })), true);
  assert.equal(await isPicture(new File([bytes('data')], 'x.tif', { type: '' })), true);
  assert.equal(await isPicture(new File([bytes('%PDF-1.7')], 'list.pdf', { type: 'application/pdf' })), false);
  assert.equal(await isPicture(new File([bytes('<svg/>')], 'a.svg', { type: 'image/svg+xml' })), true);
});
