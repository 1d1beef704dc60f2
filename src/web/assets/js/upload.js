// The upload protocol of docs/attachments.md, as the page speaks it:
//   POST /api/v1/uploads {"bytes": N}       -> {"upload", "chunk_bytes", "chunks"}
//   PUT  /api/v1/uploads/{id}/{i}           bytes [i*chunk, (i+1)*chunk) of the blob
//   GET  /api/v1/uploads/{id}               -> {"missing": [i, ...]}
// A dropped connection or a 5xx is tried again after a growing wait; after any failure the
// page asks which chunks are missing and sends those, so a resident on a weak signal gets
// there in the end, and what the server holds is exactly the blob. Only ciphertext travels.

const FETCH_OPTIONS = { credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store' };

/** Bytes of one chunk, as the protocol fixes it (the server says so too). */
export const CHUNK_BYTES = 256 * 1024;

/** An upload that cannot go on: `kind` is 'network' (gave up retrying) or 'refused'. */
export class UploadError extends Error {
  constructor(kind, message, status) {
    super(message || kind);
    this.kind = kind;
    this.status = status || 0;
  }
}

async function answerOf(response) {
  try {
    return await response.json();
  } catch (e) {
    return null;
  }
}

function refused(response, answer) {
  const text = answer && typeof answer.error === 'string' && answer.error ? answer.error : '';
  return new UploadError('refused', text, response.status);
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Uploads one blob; resolves its upload id once every chunk is on the server. Options:
 * `fetch` (for tests), `sleep(ms)` (for tests), `onProgress(sentBytes, totalBytes)`,
 * `upload` (an id from an earlier, unfinished try: only its missing chunks are sent),
 * `tries` (consecutive failures without progress before giving up; default 8).
 */
export async function uploadBlob(blob, options = {}) {
  const doFetch = options.fetch || ((...a) => fetch(...a));
  const sleep = options.sleep || wait;
  const onProgress = options.onProgress || (() => {});
  const tries = options.tries || 8;
  let failures = 0;
  // One helper for every request: network errors and 5xx count as a failure and wait;
  // a 4xx is final (the server said no, with a reason).
  async function request(path, init) {
    let response;
    try {
      response = await doFetch(path, Object.assign({}, init, FETCH_OPTIONS));
    } catch (e) {
      response = null;
    }
    if (response && response.status < 500) return response;
    failures += 1;
    if (failures >= tries) throw new UploadError('network');
    // 0.5 s, 1 s, 2 s, ... at most 15 s, with some jitter so a village's phones on one mast
    // do not all come back at the same instant.
    const base = Math.min(15000, 500 * 2 ** (failures - 1));
    await sleep(base / 2 + Math.random() * (base / 2));
    // A 5xx or a dropped answer: the caller asks again what is missing rather than trusting
    // what it thinks it sent.
    return null;
  }

  let id = options.upload || null;
  let chunkBytes = CHUNK_BYTES;
  let chunks = Math.ceil(blob.length / CHUNK_BYTES);
  while (!id) {
    const r = await request('/api/v1/uploads', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ bytes: blob.length }),
    });
    if (!r) continue;
    const a = await answerOf(r);
    if (r.status !== 201 && r.status !== 200) throw refused(r, a);
    if (!a || typeof a.upload !== 'string' || !/^[0-9a-f]{32}$/.test(a.upload)) {
      throw new UploadError('refused', '', r.status);
    }
    id = a.upload;
    if (Number.isInteger(a.chunk_bytes) && a.chunk_bytes > 0) chunkBytes = a.chunk_bytes;
    chunks = Number.isInteger(a.chunks) ? a.chunks : Math.ceil(blob.length / chunkBytes);
  }
  let missing = options.upload ? null : Array.from({ length: chunks }, (_, i) => i);
  for (;;) {
    if (missing === null) {
      const r = await request('/api/v1/uploads/' + id, { method: 'GET' });
      if (!r) continue;
      const a = await answerOf(r);
      if (r.status !== 200 || !a || !Array.isArray(a.missing)) throw refused(r, a);
      if (Number.isInteger(a.chunk_bytes) && a.chunk_bytes > 0) chunkBytes = a.chunk_bytes;
      if (Number.isInteger(a.chunks)) chunks = a.chunks;
      missing = a.missing.filter((i) => Number.isInteger(i) && i >= 0 && i < chunks);
    }
    if (missing.length === 0) {
      onProgress(blob.length, blob.length);
      return id;
    }
    let done = (chunks - missing.length) * chunkBytes;
    onProgress(Math.min(done, blob.length), blob.length);
    let broken = false;
    for (const i of missing) {
      const start = i * chunkBytes;
      const part = blob.subarray(start, Math.min(start + chunkBytes, blob.length));
      const r = await request('/api/v1/uploads/' + id + '/' + i, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/octet-stream' },
        body: part,
      });
      if (!r) {
        broken = true;
        break;
      }
      if (r.status !== 200 && r.status !== 201) throw refused(r, await answerOf(r));
      failures = 0; // progress: the patience starts again
      done += part.length;
      onProgress(Math.min(done, blob.length), blob.length);
    }
    // After a break, and also after a clean pass: ask the server, which alone knows what
    // arrived (an answer lost on the way means a chunk may be there or not).
    missing = null;
    if (broken) continue;
  }
}

/**
 * What is missing of an upload: an array of chunk numbers, or null when the server no longer
 * knows the upload (404: expired or never made).
 */
export async function missingOf(id, options = {}) {
  const doFetch = options.fetch || ((...a) => fetch(...a));
  const r = await doFetch('/api/v1/uploads/' + id, Object.assign({ method: 'GET' }, FETCH_OPTIONS));
  if (r.status === 404) return null;
  const a = await answerOf(r);
  if (r.status !== 200 || !a || !Array.isArray(a.missing)) throw refused(r, a);
  return a.missing;
}

/**
 * Tells the server a file was taken off the list before sending (DELETE): its upload, not
 * yet part of any report, is deleted then rather than two days later. Best effort: a failure
 * leaves it to expire.
 */
export async function discardUpload(id, options = {}) {
  const doFetch = options.fetch || ((...a) => fetch(...a));
  try {
    const r = await doFetch('/api/v1/uploads/' + id, Object.assign({ method: 'DELETE' }, FETCH_OPTIONS));
    return r.status === 204 || r.status === 200;
  } catch (e) {
    return false;
  }
}
