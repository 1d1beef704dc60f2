// The clerk's pages (served on the clerk's listener only): printing forms with their own
// codes (js/clerk-forms.js), entering letters, calls and visits (js/clerk-entry.js) and
// reading a caller's status (js/clerk-phone.js). Each does in the clerk's browser what the
// report and status pages do in a resident's: receipts and words never reach the server.

import { initEntry } from './clerk-entry.js';
import { initForms } from './clerk-forms.js';
import { initPhone } from './clerk-phone.js';

function init() {
  initForms();
  initEntry();
  initPhone();
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', init);
} else {
  init();
}
