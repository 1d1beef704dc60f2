// Entering a letter, a call or a visit (the clerk's "enter" page). Like the report page in a
// resident's browser: the receipt (the printed form's code, or a new one drawn here) is run
// through Argon2id in a worker; its reply key and the channel go inside the seal with the
// words; only the sealed box and the lookup value are posted (POST /api/entries). After
// each entry, "next" wipes the form, the new code and the keys from the page.

import { OPTIONAL_FIELDS, sealTip } from './sodium-compat.js';
import { clip } from './fields.js';
import {
  bytesToBase64,
  deriveInWorker,
  generateReceipt,
  kdfOfElement,
  replyPublicKey,
  waitIndicator,
} from './receipt.js';
import { checkKdf } from './receipt-derive.js';
import { fill, formatReceipt, parseReceipt } from './status.js';

const CHANNELS = ['letter', 'phone', 'visit'];

/**
 * The words and answers of the entry form, as the report page reads its own, plus the
 * channel (which is sealed with them) and, when "my town" is chosen, the town.
 */
export function entryFields(data) {
  const fields = { body: String(data.get('body') || '').replace(/\r\n/g, '\n') };
  for (const name of OPTIONAL_FIELDS) {
    if (name === 'town' || name === 'channel') continue;
    const value = data.get(name);
    if (typeof value === 'string') fields[name] = clip(value.replace(/\r\n/g, '\n').trim());
  }
  const channel = String(data.get('channel') || '');
  if (!CHANNELS.includes(channel)) throw new Error('no channel');
  fields.channel = channel;
  if (data.get('readers') === 'town') fields.town = String(data.get('town') || '');
  return fields;
}

/**
 * Prepares an entry: `code` is what the clerk typed from a printed form (null: draw a new
 * receipt with `generate`). Resolves `{ request, receipt }` (the body of POST /api/entries,
 * and the new receipt's digits to read out, or null for a form's code), or `{ error }` with
 * the kind the page names ('typo', 'format', 'empty') when the typed code is wrong.
 * `keys` are the offices' public keys (county first), `towns` their ids after the county's.
 */
export async function prepareEntry({ fields, code, keys, towns, derive, generate }) {
  let digits;
  if (code !== null) {
    const parsed = parseReceipt(code);
    if (parsed.error) return { error: parsed.error };
    digits = parsed.digits;
  } else {
    digits = generate();
  }
  const derived = await derive(digits);
  let sealed;
  try {
    sealed = sealTip(fields, keys, replyPublicKey(derived.seed));
  } finally {
    derived.seed.fill(0); // replies are opened from the code again, on the status page
  }
  const lookup = bytesToBase64(derived.lookup);
  derived.lookup.fill(0);
  return {
    request: { sealed, lookup, channel: fields.channel, stub: code !== null, towns },
    receipt: code === null ? digits : null,
  };
}

async function postEntry(body) {
  const response = await fetch('/api/entries', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
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

// Whether a tip is filed under this lookup value (the clerk's own status check).
async function filed(lookup) {
  try {
    const response = await fetch('/api/status', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ lookup }),
      credentials: 'same-origin',
      referrerPolicy: 'no-referrer',
      cache: 'no-store',
    });
    await response.text().catch(() => '');
    return response.status === 200;
  } catch (e) {
    return false;
  }
}

export function initEntry() {
  const form = document.getElementById('entry-form');
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const msg = (name) => form.getAttribute('data-msg-' + name) || '';
  const kdf = kdfOfElement(form);
  const errorBox = $('entry-error');
  const working = $('entry-working');
  const done = $('entry-done');
  const cleared = $('entry-cleared');
  const codeInput = $('entry-code');
  const wait = waitIndicator(null, $('entry-progress'), $('entry-working-text'), msg('deriving'));
  let busy = false;
  // A sent entry whose answer was lost: the same request goes again, never a second one.
  let pending = null;

  // The page's own words for a refusal it knows, else the server's sentence.
  function refusal(answer) {
    const kind = answer && typeof answer.refused === 'string' ? answer.refused : '';
    if (/^[a-z-]+$/.test(kind) && msg(kind)) return msg(kind);
    return answer && typeof answer.error === 'string' ? answer.error : '';
  }

  function showError(text) {
    errorBox.querySelector('.msg').textContent = text;
    errorBox.hidden = false;
    errorBox.scrollIntoView({ block: 'center' });
  }

  // "Letter" suggests the form's code, a call or a visit a new one; the clerk may change it.
  form.querySelectorAll('input[name="channel"]').forEach((radio) =>
    radio.addEventListener('change', () => {
      if (!radio.checked) return;
      $(radio.value === 'letter' ? 'entry-has-stub' : 'entry-no-stub').checked = true;
    }),
  );
  codeInput.addEventListener('input', () => {
    if (codeInput.value) $('entry-has-stub').checked = true;
  });

  function recipients(fields) {
    const county = form.getAttribute('data-box-key');
    if (fields.town === undefined) return { keys: [county], towns: [] };
    const option = Array.prototype.find.call(
      form.querySelectorAll('#entry-town option'),
      (o) => o.value === fields.town && o.value !== '',
    );
    const key = option && option.getAttribute('data-box-key');
    return key ? { keys: [county, key], towns: [fields.town] } : null;
  }

  async function submit() {
    const data = new FormData(form);
    const fields = entryFields(data);
    if (fields.body.trim() === '') return showError(msg('empty'));
    const to = recipients(fields);
    if (!to) return showError(msg('town'));
    const fromStub = data.get('code') === 'stub';
    const key = JSON.stringify([fields, fromStub, fromStub ? codeInput.value : '']);
    const again = pending !== null && pending.key === key;
    let prepared = again ? pending.prepared : null;
    if (!prepared) {
      working.hidden = false;
      wait.tick(0);
      let derive;
      try {
        checkKdf(kdf);
        derive = (digits) => deriveInWorker(digits, kdf, (s) => wait.tick(s));
        prepared = await prepareEntry({
          fields,
          code: fromStub ? codeInput.value : null,
          keys: to.keys,
          towns: to.towns,
          derive,
          generate: () => generateReceipt(),
        });
      } finally {
        working.hidden = true;
        wait.done();
      }
      if (prepared.error) return showError(msg(prepared.error));
    }
    pending = { key, prepared };
    const sent = await postEntry(prepared.request);
    if (sent.status >= 500 || sent.status === 0) {
      return showError((sent.answer && sent.answer.error) || msg('failed'));
    }
    pending = null;
    // A repeat of an entry whose answer was lost: "already taken" may mean the first one
    // arrived. Checked, not assumed, so it is never entered twice nor reported as lost.
    const arrived = again && sent.status === 409 && (await filed(prepared.request.lookup));
    if (sent.status !== 201 && !arrived) {
      return showError(refusal(sent.answer) || msg('failed'));
    }
    if (arrived) sent.answer = { received_on: new Date().toISOString().slice(0, 10) };
    form.hidden = true;
    errorBox.hidden = true;
    $('entry-done-text').textContent = fill(msg('entered'), { day: sent.answer.received_on });
    if (prepared.receipt) {
      const shown = formatReceipt(prepared.receipt);
      $('entry-receipt').textContent = shown;
      $('entry-card-receipt').textContent = shown;
      $('entry-new-receipt').hidden = false;
    }
    prepared = null;
    done.hidden = false;
    done.focus();
  }

  function next() {
    form.reset();
    codeInput.value = '';
    $('entry-receipt').textContent = '';
    $('entry-card-receipt').textContent = '';
    $('entry-new-receipt').hidden = true;
    $('entry-done-text').textContent = '';
    done.hidden = true;
    errorBox.hidden = true;
    pending = null;
    form.hidden = false;
    cleared.textContent = msg('cleared');
    cleared.hidden = false;
    $('entry-body').focus();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (busy) return; // a double click enters once
    busy = true;
    cleared.hidden = true;
    errorBox.hidden = true;
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => (b.disabled = true));
    submit()
      .catch(() => showError(msg('failed')))
      .then(() => {
        busy = false;
        buttons.forEach((b) => (b.disabled = false));
      });
  });
  $('entry-next').addEventListener('click', next);
  $('entry-print-receipt').addEventListener('click', () => {
    document.body.classList.add('print-card');
    window.print();
    document.body.classList.remove('print-card');
  });
  // Leaving the page wipes it, so the back button does not bring a code or words back.
  window.addEventListener('pagehide', () => {
    form.reset();
    $('entry-receipt').textContent = '';
    $('entry-card-receipt').textContent = '';
  });
}
