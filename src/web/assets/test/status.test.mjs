// The status page's pure functions: the reply key pair and opening replies, checked against
// real libsodium (libsodium-wrappers), as the inspectors' tool seals replies with libsodium;
// and reading receipts and days exactly as the server does.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import sodium from 'libsodium-wrappers';
import { cryptoBoxSeedKeypair, bytesToBase64 } from '../js/sodium-compat.js';
import {
  damm,
  parseReceipt,
  formatReceipt,
  fill,
  formatDay,
  openReply,
  openReplies,
  openRepliesWithSeed,
  describeAnswer,
  stubError,
  REPLY_PAD_BLOCK,
} from '../js/status.js';

before(async () => {
  await sodium.ready;
});

const utf8 = new TextEncoder();
const bytes = (u8) => Uint8Array.from(u8);
const b64 = (u8) => sodium.to_base64(u8, sodium.base64_variants.ORIGINAL);
const QUESTION = '请问这笔钱是哪一年发的？有没有人能作证？\nWhich year was it?';

/** A reply as the inspectors' tool makes it: seal(pad(JSON, 1024)) with libsodium. */
function sealReply(plaintext, publicKey) {
  const json = typeof plaintext === 'string' ? plaintext : JSON.stringify(plaintext);
  return b64(sodium.crypto_box_seal(sodium.pad(utf8.encode(json), 1024), publicKey));
}

// The words the zh page gives (a subset of the Fluent messages, placeholders in braces).
const ZH = Object.assign(Object.create(null), {
  date: '{year}年{month}月{day}日',
  'status-step-received': '{day}：收到您的举报',
  'status-step': '{day}：{status}',
  'status-now': '现在的状态：{status}',
  'status-received': '已收到，等待工作人员阅读',
  'status-in_review': '工作人员正在阅读',
  'status-need_info': '工作人员有问题想问您',
  'move-step-waiting': '{day}：{by}提出把您的举报转给{office}，在等您同意。',
  'move-step-agreed': '{day}：您同意了，{office}现在也能读您的举报。',
  'move-step-declined': '{day}：您没有同意，举报没有转给{office}。',
  'move-step-done': '{day}：{by}把举报转到了{office}。',
  'consent-title': '要把您的举报转给{office}吗？',
  'consent-explain': '{day}，正在办理您举报的{by}提出，把举报转给{office}一起办理。',
  'consent-if-yes': '如果您同意，{office}的工作人员就能读您的举报。',
  'consent-if-no': '如果您不同意，什么都不会改变。',
});
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
  'September', 'October', 'November', 'December'];
MONTHS.forEach((name, i) => {
  ZH['month-' + (i + 1)] = name;
});
const EN = Object.assign(Object.create(null), ZH, { date: '{day} {monthname} {year}' });

test('cryptoBoxSeedKeypair matches libsodium crypto_box_seed_keypair', () => {
  for (let i = 0; i < 50; i++) {
    const seed = sodium.randombytes_buf(32);
    const theirs = sodium.crypto_box_seed_keypair(seed);
    const ours = cryptoBoxSeedKeypair(seed.slice());
    assert.deepEqual(bytes(ours.publicKey), bytes(theirs.publicKey), `public key #${i}`);
    assert.deepEqual(bytes(ours.secretKey), bytes(theirs.privateKey), `secret key #${i}`);
  }
  // Edge seeds too: all zeros, all ones.
  for (const fillByte of [0x00, 0xff]) {
    const seed = new Uint8Array(32).fill(fillByte);
    const theirs = sodium.crypto_box_seed_keypair(seed);
    assert.deepEqual(bytes(cryptoBoxSeedKeypair(seed).publicKey), bytes(theirs.publicKey));
  }
  assert.throws(() => cryptoBoxSeedKeypair(new Uint8Array(31)), RangeError);
  assert.throws(() => cryptoBoxSeedKeypair('x'.repeat(32)), TypeError);
});

test('a reply sealed with libsodium opens to its exact words', () => {
  const seed = sodium.randombytes_buf(32);
  const kp = sodium.crypto_box_seed_keypair(seed);
  const keys = cryptoBoxSeedKeypair(seed.slice());
  assert.equal(openReply(sealReply({ v: 1, message: QUESTION }, kp.publicKey), keys), QUESTION);
  assert.equal(openReply(sealReply({ v: 1, message: '' }, kp.publicKey), keys), '');
  // Longer than one pad block, and extra fields are tolerated (serde ignores them too).
  const long = '长'.repeat(900);
  assert.equal(openReply(sealReply({ v: 1, message: long, from: 'x' }, kp.publicKey), keys), long);
});

test('unreadable replies give null, never a throw', () => {
  const seed = sodium.randombytes_buf(32);
  const kp = sodium.crypto_box_seed_keypair(seed);
  const keys = cryptoBoxSeedKeypair(seed);
  const other = sodium.crypto_box_keypair();
  const cases = {
    'for another key': sealReply({ v: 1, message: 'hi' }, other.publicKey),
    'version 2': sealReply({ v: 2, message: 'hi' }, kp.publicKey),
    'message not a string': sealReply({ v: 1, message: 5 }, kp.publicKey),
    'no message': sealReply({ v: 1 }, kp.publicKey),
    'not JSON': sealReply('hello', kp.publicKey),
    'JSON null': sealReply('null', kp.publicKey),
    'byte-order mark': sealReply('\uFEFF{"v":1,"message":"hi"}', kp.publicKey),
    'not padded': b64(sodium.crypto_box_seal(utf8.encode('{"v":1,"message":"hi"}'), kp.publicKey)),
    'bad UTF-8': b64(
      sodium.crypto_box_seal(
        sodium.pad(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), REPLY_PAD_BLOCK),
        kp.publicKey,
      ),
    ),
    'not base64': '!!!',
    'too short': b64(new Uint8Array(20)),
  };
  for (const [label, sealed] of Object.entries(cases)) {
    assert.equal(openReply(sealed, keys), null, label);
  }
  // One flipped byte anywhere.
  const good = sodium.from_base64(sealReply({ v: 1, message: 'hi' }, kp.publicKey), sodium.base64_variants.ORIGINAL);
  for (const i of [0, 31, 32, 47, 48, 500, good.length - 1]) {
    const bad = good.slice();
    bad[i] ^= 1;
    assert.equal(openReply(b64(bad), keys), null, `byte ${i}`);
  }
});

test('openReplies opens each reply and wipes the seed', () => {
  const seed = sodium.randombytes_buf(32);
  const kp = sodium.crypto_box_seed_keypair(seed);
  const other = sodium.crypto_box_keypair();
  const replies = [
    { day: '2026-05-03', sealed: sealReply({ v: 1, message: QUESTION }, kp.publicKey) },
    { day: '2026-05-04', sealed: sealReply({ v: 1, message: 'x' }, other.publicKey) },
    { day: '2026-05-05', sealed: 7 },
  ];
  assert.deepEqual(openReplies(replies, b64(seed)), [
    { day: '2026-05-03', message: QUESTION },
    { day: '2026-05-04', message: null },
    { day: '2026-05-05', message: null },
  ]);
  // The seed is zeroed once the replies are open, and also when opening fails.
  const copy = seed.slice();
  assert.equal(openRepliesWithSeed(replies.slice(0, 1), copy)[0].message, QUESTION);
  assert.ok(copy.every((b) => b === 0), 'the seed was not wiped');
  const short = seed.slice(0, 31);
  assert.throws(() => openRepliesWithSeed(replies, short), RangeError);
  assert.ok(short.every((b) => b === 0), 'a refused seed was not wiped');
  assert.deepEqual(openReplies([], 'not even base64'), []);
  assert.throws(() => openReplies(replies, 'not base64!'));
  assert.throws(() => openReplies(replies, bytesToBase64(new Uint8Array(16))));
});

/** A receipt: 19 digits and their Damm check digit. */
function receiptOf(nineteen) {
  const digits = Array.from(nineteen, Number);
  return nineteen + String(damm(digits));
}

test('receipts are read as the server reads them', () => {
  // The known vector of src/domain/receipt.rs (and of Damm's paper): 572 -> 4.
  assert.equal(damm([5, 7, 2]), 4);
  assert.equal(damm([5, 7, 2, 4]), 0);
  const r = receiptOf('1234567890123456789');
  const shown = formatReceipt(r);
  assert.match(shown, /^\d{4} \d{4} \d{4} \d{4} \d{4}$/);
  for (const typed of [
    r,
    shown,
    shown.replace(/ /g, '-'),
    ' ' + shown.replace(/ /g, '\u3000') + '\n',
    shown.replace(/ /g, '\u2014'),
    Array.from(r, (d) => String.fromCharCode(0xff10 + Number(d))).join(''),
  ]) {
    assert.deepEqual(parseReceipt(typed), { digits: r }, JSON.stringify(typed));
  }
  // Every single wrong digit and every swap of unequal neighbours is a typo.
  for (let i = 0; i < 20; i++) {
    for (let d = 0; d < 10; d++) {
      if (String(d) === r[i]) continue;
      const wrong = r.slice(0, i) + d + r.slice(i + 1);
      assert.deepEqual(parseReceipt(wrong), { error: 'typo' }, wrong);
    }
    if (i < 19 && r[i] !== r[i + 1]) {
      const swapped = r.slice(0, i) + r[i + 1] + r[i] + r.slice(i + 2);
      assert.deepEqual(parseReceipt(swapped), { error: 'typo' }, swapped);
    }
  }
  assert.deepEqual(parseReceipt(''), { error: 'empty' });
  assert.deepEqual(parseReceipt(' - \t'), { error: 'empty' });
  assert.deepEqual(parseReceipt('1234 abcd 5678'), { error: 'format' });
  assert.deepEqual(parseReceipt('1234 5678'), { error: 'format' });
  assert.deepEqual(parseReceipt(r + '1'), { error: 'format' });
  assert.deepEqual(parseReceipt(r + ' '.repeat(120)), { error: 'format' }, 'over 128 characters');
  // U+FEFF is JavaScript whitespace but not Rust's: the server calls it a bad character.
  assert.deepEqual(parseReceipt('\uFEFF' + r), { error: 'format' });
  assert.deepEqual(parseReceipt('\u0085' + r), { digits: r });
});

test('days and patterns are written as the server writes them', () => {
  assert.equal(formatDay('2026-05-03', ZH), '2026年5月3日');
  assert.equal(formatDay('2026-05-03', EN), '3 May 2026');
  assert.equal(formatDay('2026-11-28', EN), '28 November 2026');
  for (const bad of ['2026-5-3', '2026-13-01', '2026-00-10', '', undefined, '2026-05-03T00']) {
    assert.throws(() => formatDay(bad, ZH), String(bad));
  }
  assert.equal(fill('{day}：{status}', { day: '{status}', status: 'x' }), '{status}：x');
  assert.equal(fill('{day} {other}', { day: 'a' }), 'a {other}');
});

test('describeAnswer gives the timeline, the question and the opened replies', () => {
  const seed = sodium.randombytes_buf(32);
  const kp = sodium.crypto_box_seed_keypair(seed);
  const answer = {
    status: 'need_info',
    received_on: '2026-05-03',
    history: [
      { day: '2026-05-04', status: 'in_review' },
      { day: '2026-05-06', status: 'need_info' },
    ],
    replies: [{ day: '2026-05-06', sealed: sealReply({ v: 1, message: QUESTION }, kp.publicKey) }],
    reply_key: b64(seed),
  };
  assert.deepEqual(describeAnswer(answer, ZH), {
    steps: ['2026年5月3日：收到您的举报', '2026年5月4日：工作人员正在阅读', '2026年5月6日：工作人员有问题想问您'],
    now: '现在的状态：工作人员有问题想问您',
    questions: [],
    offices: [],
    question: true,
    replies: [{ day: '2026年5月6日', message: QUESTION }],
  });
  const plain = { status: 'received', received_on: '2026-05-03', history: [], replies: [] };
  assert.deepEqual(describeAnswer(plain, EN), {
    steps: ['3 May 2026：收到您的举报'],
    now: '现在的状态：已收到，等待工作人员阅读',
    questions: [],
    offices: [],
    question: false,
    replies: [],
  });
  // Moves join the timeline in the order of their days; a waiting one is a question.
  const moved = describeAnswer(
    {
      ...plain,
      history: [{ day: '2026-05-09', status: 'in_review' }],
      offices: [{ id: 'county', name: '县纪委', box_public_key: 'AAAA' }],
      moves: [
        { by: 'dongshan', by_name: '东山镇纪委', to: 'county', to_name: '县纪委', proposed_on: '2026-05-04', state: 'done', on: '2026-05-04' },
        { by: 'county', by_name: '县纪委', to: 'xishan', to_name: '西山镇纪委', proposed_on: '2026-05-10', state: 'waiting', on: null },
      ],
    },
    ZH,
  );
  assert.deepEqual(moved.steps, [
    '2026年5月3日：收到您的举报',
    '2026年5月4日：东山镇纪委把举报转到了县纪委。',
    '2026年5月9日：工作人员正在阅读',
    '2026年5月10日：县纪委提出把您的举报转给西山镇纪委，在等您同意。',
  ]);
  assert.deepEqual(moved.questions, [
    {
      to: 'xishan',
      sealedForYou: null,
      title: '要把您的举报转给西山镇纪委吗？',
      explain: '2026年5月10日，正在办理您举报的县纪委提出，把举报转给西山镇纪委一起办理。',
      ifYes: '如果您同意，西山镇纪委的工作人员就能读您的举报。',
      ifNo: '如果您不同意，什么都不会改变。',
    },
  ]);
  assert.deepEqual(moved.offices, ['AAAA']);
  assert.throws(() => describeAnswer({ ...plain, moves: [{ state: 'stolen', proposed_on: '2026-05-03' }] }, ZH));
  // Unexpected answers throw, so the page falls back to the server.
  for (const bad of [
    null,
    {},
    { ...plain, status: 'no_such_status' },
    { ...plain, status: 'constructor' },
    { ...plain, history: [{ day: '2026-05-03', status: '__proto__' }] },
    { ...plain, received_on: 'yesterday' },
    { ...plain, replies: [{ day: 'x', sealed: '' }], reply_key: b64(seed) },
    { ...answer, reply_key: undefined },
  ]) {
    assert.throws(() => describeAnswer(bad, ZH), JSON.stringify(bad));
  }
});

test('a 404 naming a printed form is told apart from an unknown code', () => {
  assert.equal(stubError('{"error":"No letter ...","stub":"waiting"}'), 'not-entered');
  assert.equal(stubError('{"error":"This code ...","stub":"withdrawn"}'), 'withdrawn');
  for (const other of ['{"error":"No report has this receipt code."}', '', 'not json', 'null', '{"stub":"other"}']) {
    assert.equal(stubError(other), null, other);
  }
});
