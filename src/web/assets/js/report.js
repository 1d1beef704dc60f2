// Report page enhancement. Without this script the form posts to the server, which seals the
// tip on arrival; with it the tip is sealed here, so the plaintext never leaves the browser.
// Every failure before the tip is sent falls back to that plain post: a resident must never be
// stuck with a report they cannot send.

import { OPTIONAL_FIELDS, sealTip } from './sodium-compat.js';
import { canSealHere, clip } from './fields.js';
import { initFollowup } from './followup.js';
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
    const value = data.get(name);
    // Cut as the server cuts the no-JavaScript form (MAX_FIELD_CHARS in pages.rs).
    if (typeof value === 'string') fields[name] = clip(value);
  }
  return fields;
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

  function showError(text) {
    errorText.textContent = text;
    errorBox.hidden = false;
  }

  function showReceipt(receipt) {
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

  async function send(sealed) {
    let response;
    try {
      response = await fetch('/api/v1/tips', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ sealed }),
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
        cache: 'no-store',
      });
    } catch (e) {
      // Not re-posted through the form: the tip may have arrived, and the resident decides.
      showError(message(form, 'network'));
      return;
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch (e) {
      answer = null;
    }
    if (response.ok && answer && typeof answer.receipt === 'string' && answer.receipt) {
      showReceipt(answer.receipt);
    } else if (answer && typeof answer.error === 'string' && answer.error) {
      showError(answer.error);
    } else {
      showError(message(form, 'failed'));
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (busy) return; // a double tap must not send the tip twice
    let sealed;
    try {
      sealed = sealTip(readFields(form), boxKey);
    } catch (e) {
      // form.submit() does not fire 'submit' again, so this cannot loop.
      form.submit();
      return;
    }
    busy = true;
    errorBox.hidden = true;
    sending.hidden = false;
    const buttons = form.querySelectorAll('button, input[type="submit"]');
    buttons.forEach((b) => (b.disabled = true));
    send(sealed).finally(() => {
      busy = false;
      sending.hidden = true;
      buttons.forEach((b) => (b.disabled = false));
    });
  });
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
