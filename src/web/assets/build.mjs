// Bundles the page script, the receipt worker and the evidence bundle into self-contained files served from 'self'
// (the pages' CSP is script-src 'self' 'wasm-unsafe-eval', worker-src 'self'): no source maps,
// so nothing about our build leaks to a visitor.
import { build } from 'esbuild';
import { statSync } from 'node:fs';

// cargo's build script passes its own output paths; `npm run build` writes dist/.
const bundles = [
  ['js/report.js', process.env.WHISTLEBOX_BUNDLE_OUT || 'dist/report.js'],
  // Argon2id (hash-wasm's WebAssembly) runs in a worker, so the page stays responsive and
  // can say how long the wait is.
  ['js/receipt-worker.js', process.env.WHISTLEBOX_WORKER_OUT || 'dist/receipt-worker.js'],
  // The clerk's pages (printing forms, entering letters, status by phone): served only on
  // the clerk's listener, so residents' pages never carry it.
  ['js/clerk.js', process.env.WHISTLEBOX_CLERK_OUT || 'dist/clerk.js'],
  // Evidence files (cleaning photos, voice notes, encrypting and uploading files): loaded by
  // the page only when a resident opens that part of the form, so most never download it.
  ['js/attach.js', process.env.WHISTLEBOX_ATTACH_OUT || 'dist/attach.js'],
];
for (const [entry, outfile] of bundles) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'iife',
    minify: true,
    sourcemap: false,
    // Keep the MIT notices of the bundled noble, hash-wasm and exifr libraries, as their
    // licences ask.
    legalComments: 'eof',
    target: ['es2017'],
    platform: 'browser',
    logLevel: 'warning',
  });
  console.log(`${outfile}: ${statSync(outfile).size} bytes`);
}
