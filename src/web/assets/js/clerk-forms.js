// Printing report forms (the clerk's "print forms" page). For each form of a batch this page
// draws a fresh receipt (js/receipt.js, the same 20 digits and check digit as the report
// page's), runs its Argon2id in a worker, and keeps only the lookup value; it posts the
// batch's lookup values (POST /api/batches) and gets the batch label back. Then it fills the
// codes and the label into copies of the sheet template for printing. The codes never leave
// this page, which forgets them when the clerk clears it or leaves.

import { bytesToBase64, deriveInWorker, generateReceipt, kdfOfElement } from './receipt.js';
import { checkKdf } from './receipt-derive.js';
import { fill, formatReceipt } from './status.js';

/** Most forms in one batch, as the server takes them (domain::intake::MAX_BATCH_FORMS). */
export const MAX_FORMS = 200;

/**
 * Runs `work(i)` for i in 0..count, at most `limit` at a time (Argon2id takes 64 MiB each);
 * resolves when all are done, rejects on the first failure.
 */
export async function pool(count, limit, work) {
  let next = 0;
  const lanes = [];
  for (let lane = 0; lane < Math.max(1, Math.min(limit, count)); lane++) {
    lanes.push(
      (async () => {
        while (next < count) {
          const i = next++;
          await work(i);
        }
      })(),
    );
  }
  await Promise.all(lanes);
}

/**
 * Makes a batch: `count` receipts from `generate()`, their lookup values from `derive(digits)`
 * ({ lookup, seed }, both wiped here), posted with `post({ lookups })`, which resolves the
 * server's batch. Resolves `{ codes, batch }`: the receipts (20 digits each) are only in the
 * result, never in what is posted.
 */
export async function makeBatch(count, { generate, derive, post, onProgress, limit }) {
  if (!Number.isInteger(count) || count < 1 || count > MAX_FORMS) throw new RangeError('count');
  const codes = [];
  const seen = new Set();
  while (codes.length < count) {
    const code = generate();
    if (!seen.has(code)) {
      seen.add(code);
      codes.push(code);
    }
  }
  const lookups = new Array(count);
  let done = 0;
  await pool(count, limit || 1, async (i) => {
    const keys = await derive(codes[i]);
    try {
      lookups[i] = bytesToBase64(keys.lookup);
    } finally {
      keys.lookup.fill(0);
      keys.seed.fill(0); // a form's replies are opened on the status page, from the code
    }
    done += 1;
    if (onProgress) onProgress(done, count);
  });
  const batch = await post({ lookups });
  return { codes, batch };
}

async function postBatch(body, failed) {
  const response = await fetch('/api/batches', {
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
  if (response.status !== 201 || !answer || typeof answer.label !== 'string') {
    throw new Error((answer && answer.error) || failed);
  }
  return answer;
}

/** Copies of the sheet template, one per code, with the code and batch label filled in. */
export function renderSheets(doc, template, codes, label) {
  const out = doc.createDocumentFragment();
  for (const code of codes) {
    const sheet = template.content.cloneNode(true);
    for (const el of sheet.querySelectorAll('.sheet-code')) el.textContent = formatReceipt(code);
    for (const el of sheet.querySelectorAll('.sheet-batch')) el.textContent = label;
    out.appendChild(sheet);
  }
  return out;
}

export function initForms() {
  const form = document.getElementById('forms-make');
  const template = document.getElementById('sheet-template');
  const sheets = document.getElementById('sheets');
  if (!form || !template || !sheets) return;
  const count = document.getElementById('forms-count');
  const progress = document.getElementById('forms-progress');
  const progressText = document.getElementById('forms-progress-text');
  const bar = document.getElementById('forms-progress-bar');
  const errorBox = document.getElementById('forms-error');
  const ready = document.getElementById('forms-ready');
  const readyText = document.getElementById('forms-ready-text');
  const cleared = document.getElementById('forms-cleared');
  const kdf = kdfOfElement(form);
  const msg = (name) => form.getAttribute('data-msg-' + name) || '';
  let busy = false;

  function clear(say) {
    sheets.textContent = '';
    ready.hidden = true;
    if (say) {
      cleared.textContent = msg('cleared');
      cleared.hidden = false;
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (busy) return;
    const n = Number(count.value);
    if (!Number.isInteger(n) || n < 1 || n > MAX_FORMS) {
      count.focus();
      return;
    }
    busy = true;
    clear(false);
    cleared.hidden = true;
    errorBox.hidden = true;
    form.querySelectorAll('button').forEach((b) => (b.disabled = true));
    progress.hidden = false;
    const started = Date.now();
    let doneNow = 0;
    const show = (done) => {
      doneNow = done;
      bar.value = Math.round((100 * done) / n);
      progressText.textContent = fill(msg('progress'), {
        done: String(done),
        total: String(n),
        seconds: String(Math.round((Date.now() - started) / 1000)),
      });
    };
    show(0);
    const timer = setInterval(() => show(doneNow), 1000);
    const lanes = Math.min(2, navigator.hardwareConcurrency || 1);
    let made;
    Promise.resolve()
      .then(() => {
        checkKdf(kdf);
        return makeBatch(n, {
          generate: () => generateReceipt(),
          derive: (digits) => deriveInWorker(digits, kdf),
          post: (body) => postBatch(body, msg('failed')),
          onProgress: (done) => show(done),
          limit: lanes,
        });
      })
      .then((result) => {
        made = result;
        sheets.appendChild(renderSheets(document, template, made.codes, made.batch.label));
        made.codes.length = 0; // the sheets hold them now, until cleared
        readyText.textContent = fill(msg('ready'), { label: made.batch.label, total: String(n) });
        ready.hidden = false;
        document.getElementById('forms-print').focus();
      })
      .catch((e) => {
        errorBox.querySelector('.msg').textContent = (e && e.message) || msg('failed');
        errorBox.hidden = false;
      })
      .then(() => {
        clearInterval(timer);
        progress.hidden = true;
        busy = false;
        form.querySelectorAll('button').forEach((b) => (b.disabled = false));
      });
  });
  document.getElementById('forms-print').addEventListener('click', () => window.print());
  document.getElementById('forms-clear').addEventListener('click', () => clear(true));
  // Leaving the page forgets the codes (a page restored from the back-forward cache would
  // show them again otherwise).
  window.addEventListener('pagehide', () => clear(false));
}
