// Status page enhancement. Without this script the status form posts the receipt to the
// server, which opens the inspectors' messages in memory for that one answer and forgets the
// key. With it, the page runs Argon2id on the receipt here (js/receipt.js, receipt version 2),
// sends only the lookup value to /api/v2/status, which answers with the sealed messages, and
// opens them with the reply key derived here: the server sees neither the receipt nor the key.
// A receipt from before version 2 is not found that way; when the server says it still holds
// such receipts (data-legacy-receipts), the page says so and asks /api/v1/status with the
// receipt, as before. Any failure before an answer is shown falls back to the plain form post.
//
// The script carries no words of its own: the page gives them in <template id="status-words">,
// built by the server from the same Fluent messages as its own answer page.

import {
  base64ToBytes,
  bytesToBase64,
  cryptoBoxSealOpen,
  cryptoBoxSeedKeypair,
  sodiumUnpad,
} from './sodium-compat.js';
import {
  canDeriveHere,
  deriveInWorker,
  kdfOfElement,
  releaseMoveKey,
  waitIndicator,
} from './receipt.js';
import { checkKdf } from './receipt-derive.js';
import { useReceiptKeys } from './followup.js';

// The keys of the receipt checked on this page, when derived here: { lookup, seed }.
let currentKeys = null;

/** Replies are padded like tips: `sodium_pad` to a multiple of 1024 bytes. */
export const REPLY_PAD_BLOCK = 1024;
const RECEIPT_DIGITS = 20;
/** Tries of a lookup-value check answered 429 before the page says the service is busy. */
const BUSY_RETRIES = 5;
/** Longer input is refused before it is looked at, as the server does. */
const MAX_RECEIPT_CHARS = 128;

// Damm's quasigroup of order 10, the same table as src/domain/receipt.rs.
const DAMM = [
  [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
  [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
  [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
  [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
  [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
  [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
  [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
  [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
  [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
  [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

// What the server skips in a typed receipt: Rust's char::is_whitespace (Unicode White_Space,
// which is not quite JavaScript's \s) and the dashes and dots people type between groups.
const SEPARATOR =
  /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\-\u2010\u2011\u2013\u2014\uff0d_.\u00b7]$/;

/** Damm check digit of a list of digits; a whole receipt gives 0. */
export function damm(digits) {
  let interim = 0;
  for (const d of digits) interim = DAMM[interim][d];
  return interim;
}

/**
 * Reads a typed receipt as the server does (`Receipt::parse`): ASCII and full-width digits,
 * separators skipped. Returns `{ digits }` (20 ASCII digits) or `{ error }`, one of the kinds
 * the status page names: 'empty', 'format' or 'typo' (the check digit caught a mistake).
 */
export function parseReceipt(text) {
  const chars = Array.from(String(text));
  if (chars.length > MAX_RECEIPT_CHARS) return { error: 'format' };
  const digits = [];
  for (const c of chars) {
    const code = c.charCodeAt(0);
    let d;
    if (code >= 0x30 && code <= 0x39) d = code - 0x30;
    else if (code >= 0xff10 && code <= 0xff19) d = code - 0xff10;
    else if (SEPARATOR.test(c)) continue;
    else return { error: 'format' };
    if (digits.length === RECEIPT_DIGITS) return { error: 'format' };
    digits.push(d);
  }
  if (digits.length === 0) return { error: 'empty' };
  if (digits.length !== RECEIPT_DIGITS) return { error: 'format' };
  if (damm(digits) !== 0) return { error: 'typo' };
  return { digits: digits.join('') };
}

/**
 * The kind of error the page names for a 404 whose JSON says the code is on a printed form
 * (`"stub"`): 'not-entered' while its letter is not entered, 'withdrawn' for a withdrawn
 * batch; null for any other answer.
 */
export function stubError(text) {
  let answer;
  try {
    answer = JSON.parse(text);
  } catch (e) {
    return null;
  }
  if (answer && answer.stub === 'waiting') return 'not-entered';
  if (answer && answer.stub === 'withdrawn') return 'withdrawn';
  return null;
}

/** "12345678901234567890" -> "1234 5678 9012 3456 7890", as receipts are shown. */
export function formatReceipt(digits) {
  return String(digits).replace(/(\d{4})(?=\d)/g, '$1 ');
}

/** Puts values into a Fluent-made pattern such as "{day}：{status}", in one pass. */
export function fill(pattern, values) {
  return String(pattern).replace(/\{([a-z]+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole,
  );
}

function word(words, key) {
  const text = words[key];
  if (typeof text !== 'string') throw new Error('the page gives no words for ' + key);
  return text;
}

/** The words for a status code from the API, e.g. 'need_info'. */
export function statusWords(status, words) {
  if (typeof status !== 'string' || !/^[a-z_]+$/.test(status)) throw new Error('bad status');
  return word(words, 'status-' + status);
}

/** A day from the API ("2026-05-03") as the page writes it: "2026年5月3日", "3 May 2026". */
export function formatDay(iso, words) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(iso));
  if (!m) throw new Error('bad day');
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > 31) throw new Error('bad day');
  return fill(word(words, 'date'), {
    year: m[1],
    month: String(month),
    day: String(day),
    monthname: word(words, 'month-' + month),
  });
}

/**
 * Opens one sealed reply (standard base64) with the receipt's reply key pair: the words of
 * `{"v":1,"message":...}`, or null when it cannot be opened or read, as the server judges it.
 */
export function openReply(sealedBase64, keys) {
  let padded;
  try {
    padded = cryptoBoxSealOpen(base64ToBytes(sealedBase64), keys.publicKey, keys.secretKey);
    // ignoreBOM: a byte-order mark stays and makes JSON.parse fail, as serde refuses it too.
    const json = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(
      sodiumUnpad(padded, REPLY_PAD_BLOCK),
    );
    const reply = JSON.parse(json);
    if (reply && reply.v === 1 && typeof reply.message === 'string') return reply.message;
    return null;
  } catch (e) {
    return null;
  } finally {
    if (padded) padded.fill(0);
  }
}

/**
 * Opens every reply of a status answer with the key pair made from `replyKeyBase64` (the
 * 32-byte seed, libsodium crypto_box_seed_keypair). The seed and the secret key are wiped
 * before this returns. Throws when the seed itself is unusable (then the server path, which
 * derives the key itself, is the better one).
 */
export function openReplies(replies, replyKeyBase64) {
  if (replies.length === 0) return [];
  return openRepliesWithSeed(replies, base64ToBytes(replyKeyBase64));
}

/** openReplies with the seed as bytes, which are zeroed before this returns. */
export function openRepliesWithSeed(replies, seed) {
  let keys;
  try {
    keys = cryptoBoxSeedKeypair(seed);
    return replies.map((r) => ({
      day: r && r.day,
      message: r && typeof r.sealed === 'string' ? openReply(r.sealed, keys) : null,
    }));
  } finally {
    seed.fill(0);
    if (keys) keys.secretKey.fill(0);
  }
}

/**
 * Turns the JSON of `POST /api/v1/status` into what the page shows, in the page's words:
 * `{ steps: [text], now: text, question: bool, replies: [{ day: text, message: text|null }] }`.
 * Throws on an answer of an unexpected shape.
 */
export function describeAnswer(answer, words, seed) {
  if (
    !answer ||
    typeof answer.status !== 'string' ||
    typeof answer.received_on !== 'string' ||
    !Array.isArray(answer.history) ||
    !Array.isArray(answer.replies)
  ) {
    throw new Error('unexpected status answer');
  }
  const steps = [fill(word(words, 'status-step-received'), { day: formatDay(answer.received_on, words) })];
  for (const step of answer.history) {
    if (!step) throw new Error('unexpected status answer');
    steps.push(
      fill(word(words, 'status-step'), {
        day: formatDay(step.day, words),
        status: statusWords(step.status, words),
      }),
    );
  }
  // Moves between offices join the status changes, in the order of their days.
  const dated = answer.history.map((step, i) => ({ day: step.day, order: i, text: steps[i + 1] }));
  const moves = Array.isArray(answer.moves) ? answer.moves : [];
  const questions = [];
  moves.forEach((m, i) => {
    if (!m || typeof m.state !== 'string') throw new Error('unexpected status answer');
    const office = String(m.to_name || m.to || '');
    const by = String(m.by_name || m.by || '');
    const on = m.state === 'waiting' ? m.proposed_on : m.on;
    if (!['waiting', 'agreed', 'declined', 'done'].includes(m.state)) {
      throw new Error('unexpected status answer');
    }
    dated.push({
      day: on,
      order: answer.history.length + i,
      text: fill(word(words, 'move-step-' + m.state), { day: formatDay(on, words), office, by }),
    });
    if (m.state === 'waiting') {
      questions.push({
        to: String(m.to),
        sealedForYou: typeof m.sealed_for_you === 'string' ? m.sealed_for_you : null,
        title: fill(word(words, 'consent-title'), { office }),
        explain: fill(word(words, 'consent-explain'), {
          office,
          by,
          day: formatDay(m.proposed_on, words),
        }),
        ifYes: fill(word(words, 'consent-if-yes'), { office }),
        ifNo: word(words, 'consent-if-no'),
      });
    }
  });
  // ISO days sort as text; ties keep the server's order.
  dated.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.order - b.order));
  steps.length = 1;
  for (const d of dated) steps.push(d.text);
  const offices = Array.isArray(answer.offices)
    ? answer.offices.map((o) => o && o.box_public_key).filter((k) => typeof k === 'string')
    : [];
  const now = fill(word(words, 'status-now'), { status: statusWords(answer.status, words) });
  // Check the reply days before anything is opened, so a bad answer opens nothing.
  const days = answer.replies.map((r) => formatDay(r && r.day, words));
  // A seed derived here (version 2) is copied, as opening wipes what it is given.
  const opened = seed
    ? openRepliesWithSeed(answer.replies, seed.slice())
    : openReplies(answer.replies, answer.reply_key);
  return {
    steps,
    now,
    questions,
    offices,
    question: answer.status === 'need_info',
    replies: opened.map((r, i) => ({ day: days[i], message: r.message })),
  };
}

// ---- The page ---------------------------------------------------------------------------

/** Every word the script needs; without all of them it leaves the page to the server. */
const NEEDED = [
  'date',
  'status-result-title',
  'status-step-received',
  'status-step',
  'status-now',
  'status-question',
  'status-replies-title',
  'status-reply-unreadable',
  'status-opened-browser',
  'status-error-typo',
  'status-error-unknown',
  'status-error-format',
  'status-error-empty',
  'status-error-busy',
  'status-error-not-entered',
  'status-error-withdrawn',
  'move-step-waiting',
  'move-step-agreed',
  'move-step-declined',
  'move-step-done',
  'consent-title',
  'consent-explain',
  'consent-if-yes',
  'consent-if-no',
  'consent-agree',
  'consent-decline',
  'status-legacy',
  'receipt-deriving-seconds',
];

function readWords(template) {
  if (!template || !template.content) return null;
  const words = Object.create(null);
  for (const el of template.content.querySelectorAll('[data-key]')) {
    words[el.getAttribute('data-key')] = el.textContent;
  }
  for (const key of NEEDED) if (typeof words[key] !== 'string') return null;
  for (let m = 1; m <= 12; m++) if (typeof words['month-' + m] !== 'string') return null;
  return words;
}

function canOpenHere() {
  return (
    typeof window.fetch === 'function' &&
    typeof window.TextDecoder === 'function' &&
    typeof window.Promise === 'function' &&
    typeof BigInt === 'function'
  );
}

function element(tag, attrs, text) {
  const el = document.createElement(tag);
  for (const name of Object.keys(attrs || {})) el.setAttribute(name, attrs[name]);
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * "Pass your report to this office?", as the server builds it: a plain form that posts the
 * answer with the receipt (in the body, never a URL) to /{lang}/consent.
 */
function consentSection(q, words, receipt, action) {
  const box = element('section', { class: 'consent', 'data-office': q.to });
  box.appendChild(element('h2', {}, q.title));
  box.appendChild(element('p', {}, q.explain));
  box.appendChild(element('p', {}, q.ifYes));
  box.appendChild(element('p', {}, q.ifNo));
  const form = element('form', { class: 'consent-form', method: 'post', action, autocomplete: 'off' });
  form.appendChild(element('input', { type: 'hidden', name: 'receipt', value: receipt }));
  form.appendChild(element('input', { type: 'hidden', name: 'to', value: q.to }));
  form.appendChild(
    element('button', { type: 'submit', name: 'answer', value: 'agree', class: 'consent-agree' }, words['consent-agree']),
  );
  form.appendChild(
    element(
      'button',
      { type: 'submit', name: 'answer', value: 'decline', class: 'secondary consent-decline' },
      words['consent-decline'],
    ),
  );
  box.appendChild(form);
  return box;
}

/** The answer section, built the way pages.rs builds it (same ids, classes and order). */
function resultSection(model, words, receipt, action) {
  const section = element('section', {
    id: 'status-result',
    'data-opened': 'browser',
    tabindex: '-1',
  });
  section.appendChild(element('h2', {}, words['status-result-title']));
  const timeline = element('ol', { id: 'status-timeline', class: 'timeline' });
  for (const step of model.steps) timeline.appendChild(element('li', {}, step));
  section.appendChild(timeline);
  const now = element('p', { id: 'status-now' });
  now.appendChild(element('strong', {}, model.now));
  section.appendChild(now);
  for (const q of model.questions || []) section.appendChild(consentSection(q, words, receipt, action));
  if (model.question) {
    section.appendChild(element('p', { id: 'status-question', class: 'note' }, words['status-question']));
  }
  if (model.replies.length > 0) {
    section.appendChild(element('h2', {}, words['status-replies-title']));
    section.appendChild(
      element('p', { id: 'status-opened', class: 'hint' }, words['status-opened-browser']),
    );
    for (const reply of model.replies) {
      const box = element('div', { class: 'reply' });
      box.appendChild(element('p', { class: 'hint' }, reply.day));
      if (reply.message === null) {
        box.appendChild(element('p', {}, words['status-reply-unreadable']));
      } else {
        box.appendChild(element('p', { class: 'message' }, reply.message));
      }
      section.appendChild(box);
    }
  }
  return section;
}

function enhance(form, words) {
  const input = form.querySelector('input[name="receipt"]');
  const followup = document.getElementById('followup');
  const followupReceipt = followup && followup.querySelector('input[name="receipt"]');
  const again = document.getElementById('status-again');
  const checking = document.getElementById('status-checking');
  // Without the places to show the answer, the server-rendered page is the better one.
  if (!input || !followupReceipt || !form.parentNode) return;

  let busy = false;
  const kdf = kdfOfElement(form);
  const legacy = form.getAttribute('data-legacy-receipts') === 'true';
  let hereOk = false;
  try {
    checkKdf(kdf);
    hereOk = canDeriveHere();
  } catch (e) {
    hereOk = false;
  }
  const deriving = document.getElementById('status-deriving');
  const wait = waitIndicator(
    null,
    document.getElementById('status-progress'),
    document.getElementById('status-deriving-time'),
    words['receipt-deriving-seconds'],
  );

  function clearError() {
    const old = document.getElementById('status-error');
    if (old) old.parentNode.removeChild(old);
  }

  function showError(kind) {
    clearError();
    const box = element('div', { id: 'status-error', class: 'error', role: 'alert', 'data-kind': kind });
    box.appendChild(element('p', {}, words['status-error-' + kind]));
    form.parentNode.insertBefore(box, form);
  }

  function showResult(model, receipt, note) {
    const action = String(form.getAttribute('action') || '').replace(/status$/, 'consent');
    const old = document.getElementById('status-result');
    if (old) old.parentNode.removeChild(old);
    const section = resultSection(model, words, receipt, action);
    if (note) section.insertBefore(element('p', { class: 'note', id: 'status-legacy' }, note), section.firstChild.nextSibling);
    for (const box of section.querySelectorAll('section.consent')) answerHere(box, model, receipt);
    clearError();
    form.parentNode.insertBefore(section, form);
    form.hidden = true;
    input.value = '';
    if (again) again.hidden = false;
    // The follow-up form posts the receipt in its body, as on the server's answer page; with
    // keys derived here the script sends the lookup value instead (js/followup.js).
    followupReceipt.value = receipt;
    // Follow-ups are sealed for the offices that read the report now.
    const followupForm = document.getElementById('followup-form');
    if (followupForm && model.offices.length > 0) {
      followupForm.setAttribute('data-box-keys', model.offices.join(' '));
    }
    followup.hidden = false;
    section.focus();
  }

  // Version 2: Argon2id here, only the lookup value sent. Resolves true when an answer or
  // an error is shown, false when the server path should be asked instead.
  // The consent buttons, when this page derived the receipt's keys (version 2): "agree"
  // opens the town's key here with the reply key and sends it with the lookup value, so the
  // receipt is never sent; without those keys the form posts the receipt as without
  // JavaScript.
  function answerHere(box, model, receipt) {
    const q = (model.questions || []).find((x) => x.to === box.getAttribute('data-office'));
    for (const button of box.querySelectorAll('button')) {
      button.addEventListener('click', (event) => {
        const keys = currentKeys;
        if (!keys || !q || (button.value === 'agree' && !q.sealedForYou)) return; // form posts
        event.preventDefault();
        const agree = button.value === 'agree';
        let body;
        try {
          body = { lookup: keys.lookup, to: q.to, agree };
          if (agree) body.stanza = releaseMoveKey(q.sealedForYou, keys.seed);
        } catch (e) {
          showError('consent');
          return;
        }
        box.querySelectorAll('button').forEach((b) => (b.disabled = true));
        fetch('/api/v2/consent', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
          credentials: 'omit',
          referrerPolicy: 'no-referrer',
          cache: 'no-store',
        })
          .then(async (response) => {
            if (response.status !== 200) {
              await response.text().catch(() => '');
              showError(response.status === 409 ? 'consent' : 'busy');
              box.querySelectorAll('button').forEach((b) => (b.disabled = false));
              return;
            }
            showResult(describeAnswer(await response.json(), words, keys.seed), receipt);
          })
          .catch(() => {
            showError('busy');
            box.querySelectorAll('button').forEach((b) => (b.disabled = false));
          });
      });
    }
  }

  async function checkHere(parsed) {
    let keys;
    if (deriving) deriving.hidden = false;
    try {
      keys = await deriveInWorker(parsed.digits, kdf, (s) => wait.tick(s));
    } catch (e) {
      hereOk = false;
      return false;
    } finally {
      if (deriving) deriving.hidden = true;
      wait.done();
    }
    const lookup = bytesToBase64(keys.lookup);
    keys.lookup.fill(0);
    // A 429 is a shared quota that a flood may be spending (behind Tor everyone is one
    // address): try again after the time the server names, a few times, before saying busy.
    let response;
    for (let attempt = 1; ; attempt++) {
      response = await fetch('/api/v2/status', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ lookup }),
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
        cache: 'no-store',
      });
      if (response.status !== 429 || attempt >= BUSY_RETRIES) break;
      await response.text().catch(() => '');
      const wait = Math.min(Math.max(Number(response.headers.get('Retry-After')) || 1, 1), 10);
      await new Promise((ok) => setTimeout(ok, wait * 1000));
    }
    if (response.status === 200) {
      const model = describeAnswer(await response.json(), words, keys.seed);
      useReceiptKeys({ lookup, seed: keys.seed });
      currentKeys = { lookup, seed: keys.seed };
      // The receipt goes into the follow-up form only for its fallback (a form post when
      // nothing could be sent from here); the script sends the lookup value instead.
      showResult(model, formatReceipt(parsed.digits));
      return true;
    }
    keys.seed.fill(0);
    const text = await response.text().catch(() => '');
    if (response.status === 404) {
      // A printed form's code whose letter is not entered yet (or whose batch was
      // withdrawn) is no older receipt: the server path would say the same.
      const stub = stubError(text);
      if (stub) {
        showError(stub);
        return true;
      }
      if (legacy) return false;
      showError('unknown');
    } else if (response.status === 429 || response.status >= 500) {
      showError('busy');
    } else {
      throw new Error('unexpected status answer ' + response.status);
    }
    return true;
  }

  async function check(typed) {
    const parsed = parseReceipt(typed);
    if (parsed.error && hereOk) {
      // Judged here as the server would judge it: a mistyped code is not sent anywhere.
      showError(parsed.error);
      return;
    }
    let note = null;
    if (parsed.digits && hereOk) {
      if (await checkHere(parsed)) return;
      // Not found here, and the server still holds receipts from before version 2.
      if (legacy) note = words['status-legacy'];
    }
    useReceiptKeys(null);
    currentKeys = null;
    const response = await fetch('/api/v1/status', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ receipt: typed }),
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      cache: 'no-store',
    });
    if (response.status === 200) {
      const answer = await response.json();
      let model;
      try {
        model = describeAnswer(answer, words);
      } finally {
        // Best effort: a string cannot be wiped, but it need not stay reachable.
        if (answer && typeof answer === 'object') answer.reply_key = '';
      }
      showResult(model, parsed.digits ? formatReceipt(parsed.digits) : typed, note);
      return;
    }
    // Read the JSON error to its end (the words come from the page, not from it), so the
    // request completes and the connection can be reused.
    const text = await response.text().catch(() => '');
    if (response.status === 404) {
      showError(stubError(text) || 'unknown');
    } else if (response.status === 400) {
      showError(parsed.error || 'format');
    } else if (response.status === 429 || response.status >= 500) {
      showError('busy');
    } else {
      throw new Error('unexpected status answer ' + response.status);
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (busy) return; // a double tap asks once
    busy = true;
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    if (checking) checking.hidden = false;
    let fallBack = false;
    check(input.value)
      .catch(() => {
        fallBack = true;
      })
      .then(() => {
        busy = false;
        if (button) button.disabled = false;
        if (checking) checking.hidden = true;
        // form.submit() does not fire 'submit' again, so this cannot loop.
        if (fallBack) form.submit();
      });
  });
}

/** Takes over the status form when the page has one and this browser can open replies. */
export function initStatusPage() {
  const form = document.getElementById('status-form');
  if (!form || !canOpenHere()) return;
  const words = readWords(document.getElementById('status-words'));
  if (words) enhance(form, words);
}
