// The clerk's pages' code (js/clerk-forms.js, js/clerk-entry.js, js/clerk-phone.js): a batch of
// forms posts lookup values only, derived exactly as the report page derives its receipt's; an
// entry seals the words with the channel and the code's reply key inside, for libsodium to
// open; a caller's code is checked and looked up by its lookup value only.
import test from 'node:test';
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';

import { makeBatch, pool, MAX_FORMS } from '../js/clerk-forms.js';
import { entryFields, prepareEntry } from '../js/clerk-entry.js';
import { lookUp } from '../js/clerk-phone.js';
import { deriveReceiptKeys } from '../js/receipt-derive.js';
import { generateReceipt, replyPublicKey } from '../js/receipt.js';
import { parseReceipt, formatReceipt } from '../js/status.js';
import { base64ToBytes, bytesToBase64 } from '../js/sodium-compat.js';

const SMALL = { salt: new Uint8Array(16).fill(3), ops: 1, memKiB: 8 };
const derive = (digits) => deriveReceiptKeys(digits, null, SMALL);

test('the pool runs every job, never more than its limit at once', async () => {
  let running = 0;
  let most = 0;
  const done = [];
  await pool(9, 2, async (i) => {
    running++;
    most = Math.max(most, running);
    await new Promise((ok) => setTimeout(ok, 5));
    done.push(i);
    running--;
  });
  assert.equal(most, 2);
  assert.deepEqual(done.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
});

test('a batch posts one lookup value per form, and no code', async () => {
  let posted = null;
  const progress = [];
  const { codes, batch } = await makeBatch(4, {
    generate: generateReceipt,
    derive,
    post: async (body) => {
      posted = body;
      return { batch: 1, label: '0001' };
    },
    onProgress: (n) => progress.push(n),
    limit: 2,
  });
  assert.equal(batch.label, '0001');
  assert.equal(codes.length, 4);
  assert.equal(new Set(codes).size, 4);
  assert.deepEqual(Object.keys(posted), ['lookups']);
  assert.equal(posted.lookups.length, 4);
  const text = JSON.stringify(posted);
  for (const [i, code] of codes.entries()) {
    assert.equal(parseReceipt(code).digits, code);
    assert.ok(!text.includes(code) && !text.includes(code.slice(0, 8)), 'no digits are posted');
    const keys = await derive(code);
    assert.equal(posted.lookups[i], bytesToBase64(keys.lookup));
    assert.ok(!text.includes(bytesToBase64(keys.seed)), 'no reply seed is posted');
  }
  assert.deepEqual(progress.sort(), [1, 2, 3, 4]);
  for (const bad of [0, MAX_FORMS + 1, 2.5]) {
    await assert.rejects(makeBatch(bad, { generate: generateReceipt, derive, post: async () => ({}) }));
  }
});

test('a receipt drawn twice in a batch is drawn again', async () => {
  const draws = ['12345678901234567891', '12345678901234567891', generateReceipt()];
  const { codes } = await makeBatch(2, {
    generate: () => draws.shift(),
    derive,
    post: async () => ({ label: '0002' }),
  });
  assert.equal(new Set(codes).size, 2);
});

function openFormat2(box, keyPair) {
  const stanzaBytes = 32 + sodium.crypto_box_SEALBYTES;
  assert.equal(box[4], 1);
  const contentKey = sodium.crypto_box_seal_open(box.subarray(5, 5 + stanzaBytes), keyPair.publicKey, keyPair.privateKey);
  const at = 5 + stanzaBytes;
  const padded = sodium.crypto_secretbox_open_easy(box.subarray(at + 24), box.subarray(at, at + 24), contentKey);
  return JSON.parse(new TextDecoder().decode(sodium.unpad(padded, 1024)));
}

function formData(values) {
  return { get: (name) => (Object.prototype.hasOwnProperty.call(values, name) ? values[name] : null) };
}

test('an entry seals the words, the answers and the channel with the code\'s reply key', async () => {
  await sodium.ready;
  const county = sodium.crypto_box_keypair();
  const fields = entryFields(
    formData({ body: '村主任\r\n领走了低保', where: ' 东山村 ', channel: 'letter', topic: 'pensions', code: 'stub' }),
  );
  assert.deepEqual(fields, { body: '村主任\n领走了低保', where: '东山村', topic: 'pensions', channel: 'letter' });
  const code = generateReceipt();
  const prepared = await prepareEntry({
    fields,
    code: formatReceipt(code).replace(/ /g, '-'),
    keys: [bytesToBase64(county.publicKey)],
    towns: [],
    derive,
    generate: () => assert.fail('a form\'s code is not drawn'),
  });
  assert.equal(prepared.receipt, null);
  const keys = await derive(code);
  assert.deepEqual(
    { ...prepared.request, sealed: undefined },
    { sealed: undefined, lookup: bytesToBase64(keys.lookup), channel: 'letter', stub: true, towns: [] },
  );
  const tip = openFormat2(base64ToBytes(prepared.request.sealed), county);
  assert.deepEqual(tip, {
    v: 1,
    body: '村主任\n领走了低保',
    reply_key: replyPublicKey(keys.seed),
    where: '东山村',
    topic: 'pensions',
    channel: 'letter',
  });
  // A call: a new code is drawn and handed back to read out.
  const fresh = generateReceipt();
  const call = await prepareEntry({
    fields: entryFields(formData({ body: '电话', channel: 'phone' })),
    code: null,
    keys: [bytesToBase64(county.publicKey)],
    towns: [],
    derive,
    generate: () => fresh,
  });
  assert.equal(call.receipt, fresh);
  assert.equal(call.request.stub, false);
  assert.equal(openFormat2(base64ToBytes(call.request.sealed), county).channel, 'phone');
  // A mistyped code is caught here, before any work or request.
  const typo = code.slice(0, 19) + String((Number(code[19]) + 1) % 10);
  assert.deepEqual(
    await prepareEntry({ fields, code: typo, keys: [], towns: [], derive: () => assert.fail('derived') }),
    { error: 'typo' },
  );
  assert.throws(() => entryFields(formData({ body: 'x', channel: 'online' })));
});

test('a caller\'s code is looked up by its lookup value and read in the page\'s words', async () => {
  await sodium.ready;
  const code = generateReceipt();
  const keys = await derive(code);
  const words = {
    'status-step-received': '{day}：收到',
    'status-step': '{day}：{status}',
    'status-now': '现在：{status}',
    'status-received': '已收到',
    date: '{year}年{month}月{day}日',
    'month-11': 'November',
  };
  let sent = null;
  const answer = { status: 'received', received_on: '2026-11-28', history: [], replies: [] };
  const found = await lookUp(formatReceipt(code), words, {
    derive,
    post: async (body) => {
      sent = body;
      return { status: 200, text: JSON.stringify(answer) };
    },
  });
  assert.deepEqual(Object.keys(sent), ['lookup']);
  assert.equal(sent.lookup, bytesToBase64(keys.lookup));
  assert.equal(found.shown, formatReceipt(code));
  assert.equal(found.model.now, '现在：已收到');
  assert.deepEqual(found.model.steps, ['2026年11月28日：收到']);
  for (const [status, text, kind] of [
    [404, '{"error":"x","stub":"waiting"}', 'not-entered'],
    [404, '{"error":"x","stub":"withdrawn"}', 'withdrawn'],
    [404, '{"error":"x"}', 'unknown'],
    [503, '{"error":"x"}', 'busy'],
  ]) {
    const r = await lookUp(code, words, { derive, post: async () => ({ status, text }) });
    assert.deepEqual(r, { error: kind });
  }
  assert.deepEqual(await lookUp('1234', words, { derive, post: () => assert.fail('sent') }), { error: 'format' });
  // The seed handed to the derivation is wiped once the answer is read.
  const held = { lookup: new Uint8Array(32).fill(1), seed: new Uint8Array(32).fill(2) };
  await lookUp(code, words, { derive: async () => held, post: async () => ({ status: 404, text: '' }) });
  assert.deepEqual([...held.seed], new Array(32).fill(0));
});
