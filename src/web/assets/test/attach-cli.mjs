#!/usr/bin/env node
// Encrypts or opens a file exactly as a resident's browser does (js/blob.js), for the Rust
// tests to check the browser's blobs against src/domain/attachment.rs in both directions.
//   node test/attach-cli.mjs seal IN OUT   writes the blob of IN to OUT; prints
//                                          {"bytes","key","digest"} (standard base64)
//   node test/attach-cli.mjs open IN OUT   stdin {"bytes","key","digest"}; writes the file
// Exit status 1 with a message on stderr when the blob does not open.
import { readFileSync, writeFileSync } from 'node:fs';
import { openBlob, sealFile } from '../js/blob.js';
import { base64ToBytes, bytesToBase64 } from '../js/sodium-compat.js';

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const [mode, input, output] = process.argv.slice(2);
try {
  const bytes = new Uint8Array(readFileSync(input));
  if (mode === 'seal') {
    const sealed = await sealFile(bytes);
    writeFileSync(output, sealed.blob);
    process.stdout.write(
      JSON.stringify({ bytes: bytes.length, key: bytesToBase64(sealed.key), digest: bytesToBase64(sealed.digest) }) + '\n',
    );
  } else if (mode === 'open') {
    const ref = JSON.parse(await readStdin());
    writeFileSync(output, openBlob(bytes, base64ToBytes(ref.key), base64ToBytes(ref.digest), ref.bytes));
  } else {
    throw new Error('usage: attach-cli.mjs seal|open IN OUT');
  }
} catch (e) {
  process.stderr.write('attach-cli: ' + (e && e.message ? e.message : String(e)) + '\n');
  process.exit(1);
}
