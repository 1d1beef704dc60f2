// Follow-up form enhancement (status page). Without this script the follow-up form posts the
// receipt and the words to the server, which seals them the moment they arrive. With it they
// are sealed here, like a tip, and only the sealed box goes to POST /api/v1/followups: the
// server never sees the words. Anything that goes wrong before an answer (no key, sealing
// fails, the network is down) falls back to that plain form post.
//
// The script carries no words of its own: the confirmation is rendered, hidden, by the server
// (#followup-done, the same Fluent messages as its own answer page), and error sentences come
// from the API's answer.

import { sealTip } from './sodium-compat.js';
import { canSealHere } from './fields.js';
import { followupEnvelope, followupEnvelopeForOffices } from './receipt.js';
import { evidenceOf, postNamingFiles } from './evidence.js';

// The keys of the receipt checked on this page, when they were derived here (receipt
// version 2): { lookup: base64, seed: Uint8Array }. Follow-ups then go to /api/v2/followups
// with the lookup value, boxed here with the reply key; the receipt is never sent.
let receiptKeys = null;

/** Set by the status script once it has derived a receipt's keys here; null forgets them. */
export function useReceiptKeys(keys) {
  if (receiptKeys && receiptKeys.seed && (!keys || keys.seed !== receiptKeys.seed)) {
    receiptKeys.seed.fill(0);
  }
  receiptKeys = keys;
}

/**
 * The JSON body of POST /api/v2/followups; `uploads`, the ids of the files uploaded for it,
 * only when there are any (without, the body is what it always was).
 */
export function followupRequestV2(lookup, envelope, uploads) {
  const body = { lookup: String(lookup), sealed: String(envelope) };
  if (uploads && uploads.length > 0) body.uploads = uploads.map(String);
  return JSON.stringify(body);
}

/**
 * Seals follow-up words exactly as a tip without optional fields: `{"v":1,"body":text}`,
 * `sodium_pad` to 1024, sealed to the inspectors' key (or, given the keys of the offices that
 * read the report, once for all of them: format 2), with the files' references when there
 * are `attachments`. Returns standard base64.
 * Throws when the words are blank or the key is unusable.
 */
export function sealFollowup(text, boxPublicKeyBase64, attachments) {
  const fields = { body: String(text) };
  if (attachments && attachments.length > 0) fields.attachments = attachments;
  return sealTip(fields, boxPublicKeyBase64);
}

/** The JSON body of POST /api/v1/followups (with `uploads` as for v2). */
export function followupRequest(receipt, sealed, uploads) {
  const body = { receipt: String(receipt), sealed: String(sealed) };
  if (uploads && uploads.length > 0) body.uploads = uploads.map(String);
  return JSON.stringify(body);
}

/**
 * What to do with the answer to POST /api/v1/followups (`status`, and its JSON or null):
 * `{ done: day }` on 201, `{ error: sentence }` when the server says what went wrong, and
 * `{ unsure: true }` otherwise (a proxy's page, an unexpected shape): the words may have
 * arrived, so the page says so and never posts them a second time through the form.
 */
export function followupOutcome(status, answer) {
  if (status === 201 && answer && typeof answer.received_on === 'string') {
    return { done: answer.received_on };
  }
  if (status >= 400 && answer && typeof answer.error === 'string' && answer.error.trim() !== '') {
    return { error: answer.error };
  }
  return { unsure: true };
}

/** The inspectors' box key from GET /api/v1/key, or throws. */
export function boxKeyOf(answer) {
  const key = answer && answer.version === 1 ? answer.box_public_key : null;
  if (typeof key !== 'string' || key === '') throw new Error('no box key in the answer');
  return key;
}

// ---- The page ---------------------------------------------------------------------------

const FETCH_OPTIONS = { credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store' };


/**
 * The keys to seal for: those of the offices that read the report now (data-box-keys, put
 * there from the status answer), else the key rendered on the form (data-box-key), else the
 * one the server publishes.
 */
async function boxKey(form) {
  const offices = (form.getAttribute('data-box-keys') || '').split(' ').filter((k) => k !== '');
  if (offices.length > 0) return offices;
  const own = form.getAttribute('data-box-key');
  if (own) return own;
  const response = await fetch('/api/v1/key', Object.assign({ method: 'GET' }, FETCH_OPTIONS));
  if (!response.ok) throw new Error('no key');
  return boxKeyOf(await response.json());
}

function enhance(form) {
  const section = document.getElementById('followup');
  const textarea = form.querySelector('textarea[name="body"]');
  const receipt = form.querySelector('input[name="receipt"]');
  const done = document.getElementById('followup-done');
  const errorBox = document.getElementById('followup-error');
  const errorText = errorBox && errorBox.querySelector('.msg');
  // Said when the words may or may not have arrived (rendered by the server, both languages).
  const unsure = form.getAttribute('data-msg-unsure');
  // Without the places to show the outcome, the server-rendered path is the better one.
  if (!section || !textarea || !receipt || !done || !errorText || !unsure) return;

  let busy = false;
  const evidence = evidenceOf(form);
  const progressText = document.getElementById('followup-files-progress');
  // Files uploaded for words not yet taken: kept with the words, so pressing send again
  // sends the same sealed follow-up rather than a second copy of the files.
  let prepared = null;

  function showError(text) {
    errorText.textContent = text;
    errorBox.hidden = false;
  }

  function showDone(files) {
    if (files) files.clear();
    prepared = null;
    textarea.value = '';
    form.hidden = true;
    errorBox.hidden = true;
    done.setAttribute('data-sealed', 'browser');
    done.hidden = false;
    done.setAttribute('tabindex', '-1');
    done.focus();
  }

  // Resolves true when the page has shown the outcome, false when nothing was sent and the
  // form should post instead. Once the sealed words may have left, the form never posts: the
  // server could then file the same words twice.
  async function send() {
    const keys = receiptKeys;
    let files = null;
    if (evidence && evidence.wanted()) {
      try {
        files = await evidence.controller();
      } catch (e) {
        // The bundle did not load: with files in the form's input, the form posts them, as
        // without script; without, the words are sealed here as ever.
        if (evidence.picked()) return false;
      }
      if (files && (await files.ready()) === 0) files = null;
    }
    let body;
    let key;
    try {
      key = await boxKey(form);
    } catch (e) {
      if (files) {
        showError(unsure);
        return true;
      }
      return false;
    }
    // The same words with the same files go as the same sealed follow-up.
    const words = textarea.value + (files ? '\n' + files.signature() : '');
    if (prepared && prepared.words === words && prepared.keys === keys) {
      body = prepared.body;
    } else {
      let uploads = null;
      let attachments = null;
      if (files) {
        try {
          const up = await files.upload((text) => {
            if (progressText) {
              progressText.textContent = text;
              progressText.hidden = false;
            }
          });
          attachments = up.attachments;
          uploads = up.uploads;
        } catch (e) {
          showError((e && e.message) || unsure);
          return true;
        } finally {
          if (progressText) progressText.hidden = true;
        }
      }
      try {
        const sealed = sealFollowup(textarea.value, key, attachments);
        // For the offices that read the report now (the status answer named them), else
        // for the county's key alone.
        const envelope = (inner) =>
          Array.isArray(key)
            ? followupEnvelopeForOffices(inner, keys.seed, key)
            : followupEnvelope(inner, keys.seed, key);
        body = keys
          ? followupRequestV2(keys.lookup, envelope(sealed), uploads)
          : followupRequest(receipt.value, sealed, uploads);
      } catch (e) {
        if (files) {
          showError(unsure);
          return true;
        }
        // Nothing left: the form posts the receipt to the server path, as without JavaScript.
        return false;
      }
      if (files) prepared = { words, keys, body };
    }
    const post = () =>
      fetch(
        keys ? '/api/v2/followups' : '/api/v1/followups',
        Object.assign(
          {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body,
          },
          FETCH_OPTIONS,
        ),
      );
    let response;
    try {
      // A 409 for a file not complete sends what is missing and the same words again.
      response = await postNamingFiles(post, files);
    } catch (e) {
      showError(unsure);
      return true;
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch (e) {
      answer = null;
    }
    const outcome = followupOutcome(response.status, answer);
    if (outcome.done) {
      showDone(files);
    } else {
      // A refusal (4xx) stored nothing: the next press seals afresh.
      if (response.status >= 400 && response.status < 500) prepared = null;
      // The words stay in the field; the resident decides whether to send them again.
      showError(outcome.error || unsure);
    }
    return true;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (busy) return; // a double tap must not send it twice
    busy = true;
    const buttons = form.querySelectorAll('button, input[type="submit"]');
    buttons.forEach((b) => (b.disabled = true));
    send()
      .catch(() => {
        showError(unsure);
        return true;
      })
      .then((shown) => {
        busy = false;
        buttons.forEach((b) => (b.disabled = false));
        // form.submit() does not fire 'submit' again, so this cannot loop.
        if (!shown) form.submit();
      });
  });
}

/** Takes over the follow-up form when the page has one and this browser can seal. */
export function initFollowup() {
  const form = document.getElementById('followup-form');
  if (form && canSealHere()) enhance(form);
}
