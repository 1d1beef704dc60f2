// A caller's status, read aloud (the clerk's "status by phone" page). The code the caller
// reads out is checked here (its check digit), run through Argon2id in a worker, and only its
// lookup value is sent (POST /api/status); the replies are opened here with the reply key
// derived from it, as the status page does in a resident's browser. Nothing is kept: the
// field is emptied at once, and "done" (or ten idle minutes, or leaving) wipes the answer.

import { deriveInWorker, kdfOfElement, waitIndicator, bytesToBase64 } from './receipt.js';
import { checkKdf } from './receipt-derive.js';
import { describeAnswer, formatReceipt, parseReceipt, stubError } from './status.js';

/** An answer on screen is wiped after this long without a new look-up. */
export const IDLE_WIPE_MS = 10 * 60 * 1000;

/**
 * Looks a code up: resolves `{ model, shown }` (what describeAnswer makes of the answer, and
 * the code as shown) or `{ error }`, one of the kinds the status page names ('typo',
 * 'format', 'empty', 'unknown', 'not-entered', 'withdrawn', 'busy'). `derive(digits)`
 * resolves `{ lookup, seed }` (both wiped here); `post(body)` resolves `{ status, text }`.
 */
export async function lookUp(typed, words, { derive, post }) {
  const parsed = parseReceipt(typed);
  if (parsed.error) return { error: parsed.error };
  const keys = await derive(parsed.digits);
  try {
    const lookup = bytesToBase64(keys.lookup);
    keys.lookup.fill(0);
    const answer = await post({ lookup });
    if (answer.status === 200) {
      return { model: describeAnswer(JSON.parse(answer.text), words, keys.seed), shown: formatReceipt(parsed.digits) };
    }
    if (answer.status === 404) return { error: stubError(answer.text) || 'unknown' };
    return { error: 'busy' };
  } finally {
    keys.seed.fill(0);
  }
}

function readWords(template) {
  if (!template || !template.content) return null;
  const words = Object.create(null);
  for (const el of template.content.querySelectorAll('[data-key]')) {
    words[el.getAttribute('data-key')] = el.textContent;
  }
  return words;
}

function element(tag, attrs, text) {
  const el = document.createElement(tag);
  for (const name of Object.keys(attrs || {})) el.setAttribute(name, attrs[name]);
  if (text !== undefined) el.textContent = text;
  return el;
}

/** The answer as the status page shows it: the timeline, the status now, the replies. */
function answerSection(model, words) {
  const box = document.createDocumentFragment();
  box.appendChild(element('h2', {}, words['status-result-title']));
  const timeline = element('ol', { id: 'phone-timeline', class: 'timeline' });
  for (const step of model.steps) timeline.appendChild(element('li', {}, step));
  box.appendChild(timeline);
  const now = element('p', { id: 'phone-now' });
  now.appendChild(element('strong', {}, model.now));
  box.appendChild(now);
  if (model.question) box.appendChild(element('p', { class: 'note' }, words['status-question']));
  if (model.replies.length > 0) {
    box.appendChild(element('h2', {}, words['status-replies-title']));
    for (const reply of model.replies) {
      const r = element('div', { class: 'reply' });
      r.appendChild(element('p', { class: 'hint' }, reply.day));
      r.appendChild(
        reply.message === null
          ? element('p', {}, words['status-reply-unreadable'])
          : element('p', { class: 'message' }, reply.message),
      );
      box.appendChild(r);
    }
  }
  return box;
}

export function initPhone() {
  const form = document.getElementById('phone-form');
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const words = readWords($('status-words'));
  if (!words) return;
  const kdf = kdfOfElement(form);
  const input = $('phone-code');
  const result = $('phone-result');
  const answer = $('phone-answer');
  const errorBox = $('phone-error');
  const clearButton = $('phone-clear');
  const working = $('phone-working');
  const wait = waitIndicator(null, $('phone-progress'), $('phone-working-text'), form.getAttribute('data-msg-deriving'));
  let busy = false;
  let idle = null;

  function clear(say) {
    answer.textContent = '';
    $('phone-code-shown').textContent = '';
    result.hidden = true;
    errorBox.hidden = true;
    clearButton.hidden = true;
    input.value = '';
    if (idle) clearTimeout(idle);
    idle = null;
    $('phone-cleared').hidden = !say;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    const typed = input.value;
    clear(false);
    working.hidden = false;
    wait.tick(0);
    Promise.resolve()
      .then(() => {
        checkKdf(kdf);
        return lookUp(typed, words, {
          derive: (digits) => deriveInWorker(digits, kdf, (s) => wait.tick(s)),
          post: async (body) => {
            const r = await fetch('/api/status', {
              method: 'POST',
              headers: { 'Content-Type': 'application/json' },
              body: JSON.stringify(body),
              credentials: 'same-origin',
              referrerPolicy: 'no-referrer',
              cache: 'no-store',
            });
            return { status: r.status, text: await r.text() };
          },
        });
      })
      .catch(() => ({ error: 'busy' }))
      .then((outcome) => {
        working.hidden = true;
        wait.done();
        busy = false;
        clearButton.hidden = false;
        if (outcome.error) {
          errorBox.querySelector('.msg').textContent = words['status-error-' + outcome.error] || words['status-error-busy'];
          errorBox.hidden = false;
          return;
        }
        $('phone-code-shown').textContent = outcome.shown;
        answer.appendChild(answerSection(outcome.model, words));
        result.hidden = false;
        result.focus();
        idle = setTimeout(() => clear(true), IDLE_WIPE_MS);
      });
  });
  clearButton.addEventListener('click', () => {
    clear(true);
    input.focus();
  });
  window.addEventListener('pagehide', () => clear(false));
}
