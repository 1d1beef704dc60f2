// Report page enhancement. Without this script the form posts to the server, which seals the
// tip on arrival; with it the tip is sealed here, so the plaintext never leaves the browser.
// Every failure before the tip is sent falls back to that plain post: a resident must never be
// stuck with a report they cannot send.

import { OPTIONAL_FIELDS, sealTip } from './sodium-compat.js';
import { canSealHere, clip } from './fields.js';
import {
  bytesToBase64,
  canDeriveHere,
  deriveInWorker,
  generateReceipt,
  kdfOfElement,
  replyPublicKey,
  waitIndicator,
} from './receipt.js';
import { checkKdf } from './receipt-derive.js';
import { formatReceipt } from './status.js';
import { initFollowup } from './followup.js';
import { evidenceOf, postNamingFiles } from './evidence.js';
import { initStatusPage } from './status.js';

// Used only when the server's answer carries no sentence of its own (network down, proxy
// error page). A page may override them with data-msg-network / data-msg-failed on the form.
const FALLBACK_MESSAGES = {
  zh: {
    network: '无法连接服务器。您写的内容还在，请稍后再试。',
    failed: '发送没有成功。您写的内容还在，请稍后再试。',
  },
  en: {
    network: 'Could not reach the server. What you wrote is still here; please try again.',
    failed: 'Sending did not succeed. What you wrote is still here; please try again.',
  },
};


function message(form, kind) {
  const own = form.getAttribute(kind === 'network' ? 'data-msg-network' : 'data-msg-failed');
  if (own) return own;
  const lang = (document.documentElement.getAttribute('lang') || '').toLowerCase();
  return FALLBACK_MESSAGES[lang.indexOf('zh') === 0 ? 'zh' : 'en'][kind];
}

// Residents may type with a Chinese IME, which gives full-width digits (０-９).
function digitsOnly(text) {
  return String(text)
    .replace(/[\uFF10-\uFF19]/g, (d) => String.fromCharCode(d.charCodeAt(0) - 0xfee0))
    .replace(/\D/g, '');
}

function readFields(form) {
  const data = new FormData(form);
  const fields = { body: String(data.get('body') || '') };
  for (const name of OPTIONAL_FIELDS) {
    if (name === 'town') continue; // set below, from the "who reads this" answer
    const value = data.get(name);
    // Cut as the server cuts the no-JavaScript form (MAX_FIELD_CHARS in pages.rs).
    if (typeof value === 'string') fields[name] = clip(value);
  }
  // "Who should read this": the town office goes inside the seal too, so the offices read
  // the resident's own choice.
  if (data.get('readers') === 'town') fields.town = String(data.get('town') || '');
  return fields;
}

/**
 * The offices to seal for: the county's key first, then the chosen town's (the key is on its
 * option in the list). Returns null when "my town" is chosen but no town is picked.
 */
export function recipients(form, countyKey, fields) {
  if (fields.town === undefined) return { keys: [countyKey], towns: [] };
  const option = Array.prototype.find.call(
    form.querySelectorAll('#town option'),
    (o) => o.value === fields.town && o.value !== '',
  );
  const townKey = option && option.getAttribute('data-box-key');
  if (!townKey) return null;
  return { keys: [countyKey, townKey], towns: [fields.town] };
}

function setupReceiptCheck(receipt) {
  const input = document.getElementById('receipt-confirm');
  const result = document.getElementById('receipt-confirm-result');
  const done = document.getElementById('receipt-done');
  if (!input || !result) return;
  const expected = digitsOnly(receipt).slice(-4);
  input.value = '';
  const check = () => {
    const typed = digitsOnly(input.value);
    // Judge only once enough digits are in, so the first keystroke is not called a mistake.
    if (typed.length < expected.length) {
      result.removeAttribute('data-ok');
      return;
    }
    const ok = typed === expected;
    result.setAttribute('data-ok', ok ? '1' : '0');
    const text = result.getAttribute(ok ? 'data-text-ok' : 'data-text-bad');
    if (text) result.textContent = text;
    if (ok && done) done.hidden = false;
  };
  input.addEventListener('input', check);
  input.addEventListener('change', check);
}

function enhance(form) {
  const boxKey = form.getAttribute('data-box-key');
  const sending = document.getElementById('report-sending');
  const errorBox = document.getElementById('report-error');
  const errorText = errorBox && errorBox.querySelector('.msg');
  const receiptView = document.getElementById('receipt-view');
  const receiptDigits = document.getElementById('receipt-digits');
  // Without the places to show the outcome, the server-rendered path is the better one.
  if (!boxKey || !sending || !errorText || !receiptView || !receiptDigits) return;

  let busy = false;
  // Photos, files and a voice note (js/evidence.js; the bundle that handles them is loaded
  // only when the resident opens that part of the form).
  const evidence = evidenceOf(form);
  const progressText = document.getElementById('report-files-progress');

  // Receipt version 2: the receipt is made and hashed here (js/receipt.js). The derivation is
  // started as soon as the resident starts writing, so on an old phone the Argon2id wait
  // overlaps the typing; it sends nothing, so closing the page meanwhile loses nothing.
  const kdf = kdfOfElement(form);
  let hereOk = false;
  try {
    checkKdf(kdf);
    hereOk = canDeriveHere();
  } catch (e) {
    hereOk = false;
  }
  const deriving = document.getElementById('report-deriving');
  const wait = waitIndicator(
    null,
    document.getElementById('report-progress'),
    document.getElementById('report-deriving-time'),
    form.getAttribute('data-msg-deriving-seconds'),
  );
  let prepared = null; // { digits, keys: Promise<{lookup, seed}> }

  function prepare() {
    if (!hereOk || prepared) return prepared;
    const digits = generateReceipt();
    const keys = deriveInWorker(digits, kdf, (s) => wait.tick(s));
    prepared = { digits, keys };
    // A failure is handled when the receipt is needed; this only keeps it from being unhandled.
    keys.catch(() => {});
    return prepared;
  }
  form.addEventListener('input', () => prepare(), { once: true });

  // The receipt's keys, waited for with the wait shown. null: use the server's receipt.
  async function preparedKeys() {
    const p = prepare();
    if (!p) return null;
    if (deriving) deriving.hidden = false;
    try {
      const keys = await p.keys;
      return { digits: p.digits, lookup: keys.lookup, seed: keys.seed };
    } catch (e) {
      hereOk = false; // this browser cannot: the server's receipt from now on
      return null;
    } finally {
      prepared = null; // one receipt, one attempt
      if (deriving) deriving.hidden = true;
      wait.done();
    }
  }

  function showError(text) {
    errorText.textContent = text;
    errorBox.hidden = false;
  }

  function showReceipt(receipt, files) {
    if (files) files.clear(); // the keys are inside the sealed tip now; wipe our copies
    receiptDigits.textContent = receipt;
    receiptView.setAttribute('data-mode', 'browser');
    form.reset();
    form.hidden = true;
    receiptView.hidden = false;
    setupReceiptCheck(receipt);
    // Move screen readers to the receipt: it is the one thing the resident must not miss.
    receiptView.setAttribute('tabindex', '-1');
    receiptView.focus();
  }

  // A tip that was sent but whose answer never came: if the resident presses send again
  // with the same words, the same sealed tip and lookup value (or ticket) go again, so it
  // cannot be filed twice, and "already used" then means it did arrive.
  let pending = null;

  async function postJson(path, body) {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      cache: 'no-store',
    });
    let answer = null;
    try {
      answer = await response.json();
    } catch (e) {
      answer = null;
    }
    return { status: response.status, answer };
  }

  // Whether a tip is filed under this receipt (a lost answer, then a refused repeat).
  async function arrivedByReceipt(receipt) {
    try {
      return (await postJson('/api/v1/status', { receipt })).status === 200;
    } catch (e) {
      return false;
    }
  }

  function showAnswerError(answer) {
    if (answer && typeof answer.error === 'string' && answer.error) showError(answer.error);
    else showError(message(form, 'failed'));
  }

  // Whether a tip is filed under this lookup value (a lost answer, then a refused repeat).
  async function arrivedByLookup(lookup) {
    try {
      return (await postJson('/api/v2/status', { lookup })).status === 200;
    } catch (e) {
      return false;
    }
  }

  // A new attempt with a receipt made here: only the lookup value and the sealed tip (which
  // binds the reply public key) go to the server. null when this browser cannot derive.
  async function attemptHere(key, fields, to, uploads) {
    const made = await preparedKeys();
    if (!made) return null;
    let sealed;
    try {
      // Format 2 (one box, a key stanza per office), even for the county alone: the
      // county can then hand the case to a town with the resident's consent.
      sealed = sealTip(fields, to.keys, replyPublicKey(made.seed));
    } catch (e) {
      return false;
    } finally {
      made.seed.fill(0); // replies are opened on the status page, from the receipt again
    }
    const lookup = bytesToBase64(made.lookup);
    made.lookup.fill(0);
    return {
      key,
      receipt: formatReceipt(made.digits),
      path: '/api/v2/tips',
      lookup,
      body: withUploads({ sealed, lookup, towns: to.towns }, uploads),
    };
  }

  // A new attempt with a receipt from the server (POST /api/v1/receipts), for browsers that
  // cannot run the derivation here (no WebAssembly or no workers).
  async function attemptFromServer(key, fields, to, uploads) {
    const reserved = await postJson('/api/v1/receipts', {});
    const r = reserved.answer;
    if (reserved.status !== 200 || !r || typeof r.receipt !== 'string' || !r.ticket) {
      if (r && typeof r.error === 'string' && r.error) return { error: r.error };
      return false; // nothing was stored: the plain form is safe
    }
    let sealed;
    try {
      sealed = sealTip(fields, to.keys, r.reply_key);
    } catch (e) {
      return false;
    }
    return {
      key,
      receipt: r.receipt,
      path: '/api/v1/tips',
      body: withUploads({ sealed, ticket: r.ticket, towns: to.towns }, uploads),
    };
  }

  // The files to send with the tip: null when there are none. Throws when the evidence
  // bundle could not load while the form's input holds files (the plain form then posts
  // them, and the server cleans them); without files the tip is sealed here as ever.
  async function filesToSend() {
    if (!evidence || !evidence.wanted()) return null;
    let files;
    try {
      files = await evidence.controller();
    } catch (e) {
      if (evidence.picked()) throw e;
      return null;
    }
    return (await files.ready()) > 0 ? files : null;
  }

  // Resolves false when nothing was sent and the plain form should post instead.
  async function send(fields) {
    let files;
    try {
      files = await filesToSend();
    } catch (e) {
      return false; // nothing has left the page; the files are still in the form's input
    }
    // The same words with the same files is the same tip (see `pending`).
    const key = JSON.stringify(fields) + (files ? '\n' + files.signature() : '');
    const again = pending !== null && pending.key === key;
    let attempt = again ? pending : null;
    const to = recipients(form, boxKey, fields);
    if (!to) {
      showError(form.getAttribute('data-msg-town') || message(form, 'failed'));
      return true;
    }
    if (!attempt) {
      // 1. Every file encrypted here and uploaded, before the tip that names them is sealed.
      // An upload alone is not a report: if this fails, nothing was filed (the pieces
      // expire), and the resident can press send again; what did arrive is not sent again.
      let uploads = null;
      if (files) {
        try {
          const up = await files.upload((text) => {
            if (progressText) {
              progressText.textContent = text;
              progressText.hidden = false;
            }
          });
          fields = Object.assign({}, fields, { attachments: up.attachments });
          uploads = up.uploads;
        } catch (e) {
          showError((e && e.message) || message(form, 'network'));
          return true;
        } finally {
          if (progressText) progressText.hidden = true;
        }
      }
      try {
        attempt = await attemptHere(key, fields, to, uploads);
        if (attempt === null) attempt = await attemptFromServer(key, fields, to, uploads);
      } catch (e) {
        showError(message(form, 'network'));
        return true;
      }
      // With files the script has taken them from the form's input: the plain form would
      // post none, so it is not a way out here.
      if (attempt === false && files) {
        showError(message(form, 'failed'));
        return true;
      }
      if (attempt === false) return false;
      if (attempt.error) {
        showError(attempt.error);
        return true;
      }
    }
    // 2. The sealed tip with its lookup value or ticket. From here on the tip may have
    // arrived, so the plain form is never posted: that could file it twice.
    pending = attempt;
    let sent;
    try {
      // A 409 for a file not complete sends what is missing and the same tip again.
      sent = await postNamingFiles(() => postJson(attempt.path, attempt.body), files);
    } catch (e) {
      showError(message(form, 'network'));
      return true;
    }
    const arrived = async () =>
      attempt.lookup ? arrivedByLookup(attempt.lookup) : arrivedByReceipt(attempt.receipt);
    if (sent.status === 201) {
      pending = null;
      showReceipt(attempt.receipt, files);
    } else if (again && (sent.status === 409 || sent.status === 400) && (await arrived())) {
      // "Already used": the first try did arrive (checked, not assumed). For a ticket, a 400
      // means it died with a restart, which may also have come after the first try arrived.
      pending = null;
      showReceipt(attempt.receipt, files);
    } else {
      if (sent.status < 500) pending = null; // refused: nothing stored, start afresh
      showAnswerError(sent.answer);
    }
    return true;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (busy) return; // a double tap must not send the tip twice
    busy = true;
    errorBox.hidden = true;
    sending.hidden = false;
    const buttons = form.querySelectorAll('button, input[type="submit"]');
    buttons.forEach((b) => (b.disabled = true));
    send(readFields(form))
      .catch(() => {
        // Something unexpected: the tip may have gone, so never post the form as well.
        showError(message(form, 'failed'));
        return true;
      })
      .then((shown) => {
        busy = false;
        sending.hidden = true;
        buttons.forEach((b) => (b.disabled = false));
        // form.submit() does not fire 'submit' again, so this cannot loop.
        if (!shown) form.submit();
      });
  });
}

// The request body, with the files' upload ids when there are any (and exactly as before
// when there are none).
function withUploads(body, uploads) {
  if (uploads && uploads.length > 0) body.uploads = uploads;
  return body;
}

function init() {
  const form = document.getElementById('report-form');
  if (form && canSealHere()) enhance(form);
  // The status page: replies are opened here (js/status.js), when the page has the form.
  initStatusPage();
  // Its follow-up form: the words are sealed here too (js/followup.js).
  initFollowup();
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', init);
} else {
  init();
}
