// The receipt worker: runs Argon2id (hash-wasm's WebAssembly) and the two BLAKE2b steps off the
// page's thread, so the page stays responsive and can show the wait. It gets the receipt's
// digits and the installation's parameters from the page and answers the lookup value and the
// reply seed; it makes no request of its own. See js/receipt.js for the derivation.

import { deriveReceiptKeys } from './receipt-derive.js';

self.onmessage = (event) => {
  const d = event.data || {};
  deriveReceiptKeys(d.digits, d.kdf).then(
    (keys) => self.postMessage(keys, [keys.lookup.buffer, keys.seed.buffer]),
    (e) => self.postMessage({ error: String((e && e.message) || e) }),
  );
};
