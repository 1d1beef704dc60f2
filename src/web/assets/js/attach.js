// The evidence bundle (/assets/attach.js): loaded by the page script only when a resident
// opens the evidence part of the form or picks a file, so nobody else downloads it. It takes
// over the form's own file input (which, without JavaScript, posts the files for the server
// to clean), cleans photos here (js/clean.js), records voice notes (js/voice.js), encrypts
// every file as a blob (js/blob.js) and uploads it in resumable chunks (js/upload.js). The
// page script then seals the files' keys and digests inside the tip.
//
// It carries no words of its own: they come from the server, in <template id="evidence-words">.
// Nothing goes to localStorage, sessionStorage or IndexedDB; keys and files live in memory
// and are wiped (best effort) when sent or removed.

import { bytesToBase64 } from './sodium-compat.js';
import { MAX_FILES, MAX_FILE_BYTES, MAX_PIECES, piecesOf, sealFile } from './blob.js';
import { discardUpload, uploadBlob, missingOf, UploadError } from './upload.js';
import { cleanPhoto, isPicture } from './clean.js';
import { canRecord, startRecording } from './voice.js';

function wordsOf(fieldset) {
  const words = {};
  const t = fieldset.querySelector('template#evidence-words');
  const root = t ? t.content || t : null;
  if (root) {
    for (const span of root.querySelectorAll('[data-key]')) {
      words[span.getAttribute('data-key')] = span.textContent;
    }
  }
  return (key, args) => {
    let text = words[key] || '';
    for (const name of Object.keys(args || {})) text = text.split('{' + name + '}').join(String(args[name]));
    return text;
  };
}

function el(tag, attrs, children) {
  const e = document.createElement(tag);
  for (const name of Object.keys(attrs || {})) {
    if (name === 'text') e.textContent = attrs[name];
    else if (name === 'hidden') e.hidden = !!attrs[name];
    else e.setAttribute(name, attrs[name]);
  }
  for (const c of children || []) if (c) e.appendChild(c);
  return e;
}

/** Sizes as residents read them: "850 KB", "1.4 MB". */
export function sizeText(bytes) {
  if (bytes < 1000 * 1000) return Math.max(1, Math.round(bytes / 1000)) + ' KB';
  return (bytes / 1000 / 1000).toFixed(1) + ' MB';
}

function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
}

let nextId = 1;

/** Takes over one form's evidence fieldset; returns the controller the page script uses. */
export function init(fieldset) {
  if (fieldset.__attach) return fieldset.__attach;
  const w = wordsOf(fieldset);
  const input = fieldset.querySelector('input#files');
  const keepNames = fieldset.querySelector('input[name="keep_names"]');
  const items = [];
  let working = Promise.resolve();

  fieldset.setAttribute('data-attach', 'on');
  const message = el('p', { class: 'error', id: 'evidence-message', role: 'alert', hidden: true });
  const list = el('ul', { class: 'evidence-list', id: 'evidence-list', 'aria-live': 'polite' });
  const noJs = fieldset.querySelector('#evidence-nojs');
  if (noJs) noJs.hidden = true;
  if (!fieldset.querySelector('#evidence-js-note')) {
    const jsNote = el('p', { class: 'note', id: 'evidence-js-note', text: w('evidence-js-note') });
    const anchor = fieldset.querySelector('#evidence-controls') || input;
    anchor.parentNode.insertBefore(jsNote, anchor);
  }
  fieldset.appendChild(message);
  fieldset.appendChild(list);

  function say(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function piecesInAll(extra) {
    return items.reduce((n, it) => n + piecesOf(it.bytes.length), 0) + (extra ? piecesOf(extra) : 0);
  }

  function room(bytes) {
    if (items.length >= MAX_FILES) return w('evidence-too-many');
    if (bytes > MAX_FILE_BYTES) return w('evidence-too-large');
    if (piecesInAll(bytes) > MAX_PIECES) return w('evidence-total-too-large');
    return '';
  }

  // `sent`: the file went with a report (its upload is the report's now); otherwise an
  // upload already made is deleted on the server at once.
  function forget(item, sent) {
    if (item.upload && !sent) discardUpload(item.upload);
    const at = items.indexOf(item);
    if (at >= 0) items.splice(at, 1);
    if (item.url) URL.revokeObjectURL(item.url);
    item.bytes.fill(0);
    if (item.sealed) {
      item.sealed.key.fill(0);
      item.sealed.blob.fill(0);
    }
    item.sealed = null;
    item.upload = null;
    if (item.li && item.li.parentNode) item.li.parentNode.removeChild(item.li);
    renumber();
  }

  function renumber() {
    items.forEach((it, i) => {
      const title = it.li && it.li.querySelector('.evidence-title');
      if (title) title.textContent = w('evidence-kind-' + it.kind, { n: i + 1 }) + ' · ' + sizeText(it.bytes.length);
    });
  }

  function show(item, details) {
    const title = el('p', { class: 'evidence-title' });
    let preview = null;
    if (item.kind === 'photo' || item.kind === 'voice') {
      item.url = URL.createObjectURL(new Blob([item.bytes], { type: item.type }));
      preview =
        item.kind === 'photo'
          ? el('img', { class: 'evidence-preview', src: item.url, alt: w('evidence-preview-alt') })
          : el('audio', { class: 'evidence-audio', controls: '', src: item.url, preload: 'metadata' });
    }
    const remove = el('button', { type: 'button', class: 'secondary evidence-remove', text: w('evidence-remove') });
    remove.addEventListener('click', () => {
      forget(item);
      if (item.kind === 'voice') recorder.reset();
    });
    item.li = el('li', { class: 'evidence-item', 'data-kind': item.kind }, [title, preview, details, remove]);
    list.appendChild(item.li);
    renumber();
  }

  function add(item, details) {
    item.id = nextId++;
    item.sealed = null;
    item.upload = null;
    items.push(item);
    show(item, details);
  }

  function removedList(removed) {
    if (removed.length === 0) return el('p', { class: 'evidence-removed-none', text: w('evidence-removed-none') });
    return el(
      'ul',
      { class: 'evidence-removed' },
      removed.map((r) => el('li', { 'data-removed': r, text: w('evidence-removed-' + r) })),
    );
  }

  async function addFile(file) {
    const name = String(file.name || '');
    // Any picture, known by its type, its name or its first bytes, is cleaned or refused:
    // sent as it is, it could carry the very place cleaning is for.
    if (await isPicture(file)) {
      // A photo is made smaller by cleaning, so it may start above the limit; not far above
      // (the whole original is read into memory).
      if (file.size > 2 * MAX_FILE_BYTES) {
        say(w('evidence-too-large'));
        return;
      }
      const busy = el('li', { class: 'evidence-item', text: w('evidence-cleaning') });
      list.appendChild(busy);
      try {
        const photo = await cleanPhoto(file);
        const full = room(photo.bytes.length);
        if (full) {
          photo.bytes.fill(0);
          say(full);
          return;
        }
        add(
          { kind: 'photo', type: photo.type, bytes: photo.bytes, removed: photo.removed, name: name.replace(/\.[^.]*$/, '') + '.jpg' },
          el('div', {}, [el('p', { class: 'ok', text: w('evidence-photo-cleaned') }), removedList(photo.removed)]),
        );
        return;
      } catch (e) {
        // Not decodable here (HEIC outside Safari, a damaged file): not added at all, as the
        // server refuses such a photo without JavaScript. Sent as it is, it would carry the
        // very location cleaning is for.
        say(w('evidence-photo-failed'));
        return;
      } finally {
        if (busy.parentNode) busy.parentNode.removeChild(busy);
      }
    }
    await addRaw(file, name, w('evidence-file-warning'));
  }

  async function addRaw(file, name, warning) {
    const full = room(file.size);
    if (full) {
      say(full);
      return;
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    const type = /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/i.test(file.type || '') ? file.type.toLowerCase() : 'application/octet-stream';
    add({ kind: 'file', type, bytes, cleaned: false, name }, el('p', { class: 'warning', text: warning }));
  }

  function takeFiles() {
    const files = input && input.files ? Array.prototype.slice.call(input.files) : [];
    if (files.length === 0) return;
    say('');
    // The files are now the script's; the input is emptied so the same one can add more,
    // and so nothing goes twice.
    try {
      input.value = '';
    } catch (e) {
      // some old browsers keep it
    }
    working = working.then(async () => {
      for (const f of files) await addFile(f);
    });
  }

  if (input) {
    input.addEventListener('change', takeFiles);
    takeFiles(); // a file picked before this bundle arrived
  }

  // ---- The voice recorder -----------------------------------------------------------------
  const recorder = (function voicePanel() {
    const open = fieldset.querySelector('#voice-open');
    if (!open) return { reset() {} };
    if (!canRecord()) {
      open.hidden = true;
      return { reset() {} };
    }
    const disguise = el('input', { type: 'checkbox', id: 'voice-disguise', checked: '' });
    disguise.checked = true;
    const disguiseLabel = el('label', { class: 'choice', for: 'voice-disguise' }, [disguise, document.createTextNode(w('voice-disguise'))]);
    const disguiseHint = el('p', { class: 'hint', text: w('voice-disguise-hint') });
    const start = el('button', { type: 'button', id: 'voice-start', text: w('voice-start') });
    const stop = el('button', { type: 'button', id: 'voice-stop', class: 'stop', text: w('voice-stop'), hidden: true });
    const countdown = el('p', { id: 'voice-countdown', class: 'countdown', role: 'timer', 'aria-live': 'off', hidden: true });
    const panel = el('div', { id: 'voice-panel', class: 'voice-panel', hidden: true }, [
      disguiseLabel,
      disguiseHint,
      start,
      stop,
      countdown,
    ]);
    open.parentNode.insertBefore(panel, open.nextSibling);
    let active = null;
    let voiceItem = null;

    open.addEventListener('click', () => {
      panel.hidden = false;
      open.hidden = true;
      start.focus();
    });

    start.addEventListener('click', async () => {
      say('');
      if (!voiceItem && items.length >= MAX_FILES) {
        say(w('evidence-too-many'));
        return;
      }
      start.disabled = true;
      try {
        active = await startRecording({
          disguised: disguise.checked,
          onTick: (s) => {
            countdown.textContent = w('voice-remaining', { time: clock(300 - s) });
          },
          onLimit: () => finish(),
        });
      } catch (e) {
        start.disabled = false;
        say(w('voice-no-mic'));
        return;
      }
      disguise.disabled = true;
      start.hidden = true;
      stop.hidden = false;
      countdown.hidden = false;
      countdown.textContent = w('voice-remaining', { time: clock(300) });
      fieldset.setAttribute('data-recording', '1');
      stop.focus();
    });

    async function finish() {
      if (!active) return;
      const r = active;
      active = null;
      const note = await r.stop();
      fieldset.removeAttribute('data-recording');
      stop.hidden = true;
      countdown.hidden = true;
      if (voiceItem) forget(voiceItem);
      const full = room(note.wav.length);
      if (full) {
        note.wav.fill(0);
        say(full);
        reset();
        return;
      }
      voiceItem = { kind: 'voice', type: 'audio/wav', bytes: note.wav, seconds: note.seconds, disguised: note.disguised };
      const again = el('button', { type: 'button', class: 'secondary', id: 'voice-again', text: w('voice-rerecord') });
      again.addEventListener('click', () => {
        if (voiceItem) forget(voiceItem);
        reset();
        start.click();
      });
      add(
        voiceItem,
        el('div', {}, [
          el('p', { class: 'ok', text: w('voice-ready', { seconds: Math.round(note.seconds) }) }),
          el('p', { class: 'hint', text: w(note.disguised ? 'voice-disguised-note' : 'voice-plain-note') }),
          again,
        ]),
      );
      panel.hidden = true;
    }

    function reset() {
      if (active) {
        active.cancel();
        active = null;
      }
      voiceItem = null;
      fieldset.removeAttribute('data-recording');
      disguise.disabled = false;
      start.disabled = false;
      start.hidden = false;
      stop.hidden = true;
      countdown.hidden = true;
      panel.hidden = false;
    }

    stop.addEventListener('click', () => finish());
    return { reset, isRecording: () => !!active, finish };
  })();

  // ---- What the page script asks --------------------------------------------------------
  function refOf(item) {
    const ref = {
      kind: item.kind,
      type: item.type,
      bytes: item.bytes.length,
      key: bytesToBase64(item.sealed.key),
      digest: bytesToBase64(item.sealed.digest),
    };
    if (item.kind === 'photo') ref.removed = item.removed;
    if (item.kind === 'file') ref.cleaned = false;
    if (item.kind === 'voice') {
      ref.seconds = item.seconds;
      ref.disguised = item.disguised;
    }
    if (keepNames && keepNames.checked && item.name) ref.name = item.name;
    return ref;
  }

  const controller = {
    /** Files ready or being made ready. */
    async ready() {
      if (recorder.isRecording && recorder.isRecording()) await recorder.finish();
      await working;
      return items.length;
    },
    count: () => items.length,
    /** Changes whenever the set of files or the name choice changes. */
    signature: () => items.map((i) => i.id).join(',') + (keepNames && keepNames.checked ? '+names' : ''),
    /**
     * Seals and uploads every file not yet uploaded; resolves `{ attachments, uploads }` in
     * file order. `progress(text)` is told what is happening, in plain words. Rejects with
     * an Error whose message is a sentence for the resident.
     */
    async upload(progress) {
      const total = items.length;
      for (let n = 0; n < total; n++) {
        const item = items[n];
        if (item.upload) continue;
        const tell = (percent) => progress(w('evidence-sending', { n: n + 1, total, percent }));
        tell(0);
        if (!item.sealed) item.sealed = await sealFile(item.bytes);
        try {
          item.upload = await uploadBlob(item.sealed.blob, {
            onProgress: (sent, all) => tell(Math.floor((100 * sent) / all)),
          });
        } catch (e) {
          if (e instanceof UploadError && e.kind === 'refused' && e.message && e.message !== 'refused') {
            throw new Error(e.message);
          }
          throw new Error(w('evidence-failed'));
        }
      }
      return { attachments: items.map(refOf), uploads: items.map((i) => i.upload) };
    },
    /**
     * After a 409: sends what the server says is missing. 'resent' when something was sent,
     * 'none' when nothing was missing, 'gone' when an upload is no longer known (it will be
     * made again on the next try, under the same file key).
     */
    async completeMissing() {
      let outcome = 'none';
      for (const item of items) {
        if (!item.upload) continue;
        const missing = await missingOf(item.upload);
        if (missing === null) {
          item.upload = null;
          outcome = 'gone';
        } else if (missing.length > 0) {
          await uploadBlob(item.sealed.blob, { upload: item.upload });
          if (outcome === 'none') outcome = 'resent';
        }
      }
      return outcome;
    },
    /** Wipes every file and key (after the report or follow-up was taken). */
    clear() {
      while (items.length) forget(items[0], true);
      recorder.reset();
      say('');
    },
  };
  fieldset.__attach = controller;
  return controller;
}

window.WhistleboxAttach = { init };
