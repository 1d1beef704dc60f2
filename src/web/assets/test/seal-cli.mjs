#!/usr/bin/env node
// Seals a tip exactly as a resident's browser does, for the Rust tests to check that a
// browser-sealed tip opens on the Rust side.
//   stdin:  {"boxPublicKey": "<standard base64>" or "boxPublicKeys": [...], "replyKey": "<standard base64>" (optional),
//            "body": "...", ...optional tip fields}
//   stdout: the standard base64 sealed tip (one line), as sent in {"sealed": ...}
// Exit status 1 with a message on stderr on bad input.
import { OPTIONAL_FIELDS, sealTip } from '../js/sodium-compat.js';

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

try {
  const input = JSON.parse(await readStdin());
  if (!input || typeof input !== 'object') throw new Error('stdin must hold a JSON object');
  const fields = { body: input.body };
  for (const name of OPTIONAL_FIELDS) if (name in input) fields[name] = input[name];
  process.stdout.write(sealTip(fields, input.boxPublicKeys || input.boxPublicKey, input.replyKey) + '\n');
} catch (e) {
  process.stderr.write('seal-cli: ' + (e && e.message ? e.message : String(e)) + '\n');
  process.exit(1);
}
