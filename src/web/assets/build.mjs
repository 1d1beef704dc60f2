// Bundles the report page script into one self-contained file served from 'self' (the page's
// CSP is script-src 'self'): no source maps, so nothing about our build leaks to a visitor.
import { build } from 'esbuild';
import { statSync } from 'node:fs';

// cargo's build script passes its own output path; `npm run build` writes dist/.
const outfile = process.env.WHISTLEBOX_BUNDLE_OUT || 'dist/report.js';
await build({
  entryPoints: ['js/report.js'],
  outfile,
  bundle: true,
  format: 'iife',
  minify: true,
  sourcemap: false,
  // Keep the MIT notices of the bundled noble libraries, as their licence asks.
  legalComments: 'eof',
  target: ['es2017'],
  platform: 'browser',
  logLevel: 'warning',
});
console.log(`${outfile}: ${statSync(outfile).size} bytes`);
