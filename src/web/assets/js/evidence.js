// The evidence part of a form (fieldset#evidence), as the page script sees it. The code that
// cleans, encrypts and uploads files is a separate bundle (/assets/attach.js, js/attach.js),
// loaded only when the resident opens this part of the form (a tap or focus inside it) or
// picks a file: most reports carry no file, and their senders never download it. It is
// loaded from our own origin with the integrity value the server put on the fieldset.
//
// Without this script, or if the bundle cannot load before anything was sent, the form's own
// file input posts the files and the server cleans photos in memory before sealing them.

/**
 * The evidence of `form`, or null when the form has none. `wanted()` says whether the
 * resident has files in play; `controller()` loads the bundle (once) and resolves its
 * controller (js/attach.js), or rejects when it cannot load.
 */
export function evidenceOf(form) {
  const fieldset = form.querySelector('fieldset#evidence');
  if (!fieldset) return null;
  const src = fieldset.getAttribute('data-attach-src');
  const integrity = fieldset.getAttribute('data-attach-integrity');
  const input = fieldset.querySelector('input#files');
  let loading = null;
  const picked = () => !!(input && input.files && input.files.length > 0);
  if (!src) {
    // A server built without the bundle: files picked go with the plain form post.
    return { wanted: picked, picked, controller: () => Promise.reject(new Error('no bundle')) };
  }

  function load() {
    if (!loading) {
      loading = new Promise((resolve, reject) => {
        if (window.WhistleboxAttach) return resolve(window.WhistleboxAttach);
        const script = document.createElement('script');
        script.src = src;
        if (integrity) script.integrity = integrity;
        script.onload = () =>
          window.WhistleboxAttach ? resolve(window.WhistleboxAttach) : reject(new Error('no bundle'));
        script.onerror = () => reject(new Error('no bundle'));
        document.head.appendChild(script);
      }).then((api) => api.init(fieldset));
      // A failed load may be tried again later (a dropped connection).
      loading.catch(() => {
        loading = null;
      });
    }
    return loading;
  }
  // The note for the no-JavaScript path does not apply here: say what happens instead.
  const noJs = fieldset.querySelector('#evidence-nojs');
  const words = fieldset.querySelector('template#evidence-words');
  const jsWord = words && (words.content || words).querySelector('[data-key="evidence-js-note"]');
  if (noJs && jsWord) {
    const note = document.createElement('p');
    note.className = 'note';
    note.id = 'evidence-js-note';
    note.textContent = jsWord.textContent;
    noJs.parentNode.insertBefore(note, noJs);
    noJs.hidden = true;
  }
  const soon = () => {
    load().catch(() => {});
  };
  fieldset.addEventListener('focusin', soon);
  fieldset.addEventListener('pointerdown', soon);
  if (input) input.addEventListener('change', soon);

  // The voice recorder exists only with script: its button is made here, from the words the
  // server put on the fieldset; the bundle builds the rest when it is pressed.
  const voiceText = fieldset.getAttribute('data-msg-voice');
  if (voiceText && navigator.mediaDevices && typeof window.AudioContext !== 'undefined') {
    const open = document.createElement('button');
    open.type = 'button';
    open.id = 'voice-open';
    open.className = 'secondary';
    open.textContent = voiceText;
    const place = fieldset.querySelector('#evidence-controls') || fieldset;
    place.appendChild(open);
    // The bundle listens on this button once loaded; the first press loads it.
    open.addEventListener('click', function first() {
      open.removeEventListener('click', first);
      load().then(
        () => open.click(),
        () => {
          open.addEventListener('click', first);
        },
      );
    });
  }

  return {
    /** Whether files are, or may be, part of what is sent. */
    wanted: () => loading !== null || picked(),
    /** Whether the form's own input holds files the bundle has not taken. */
    picked,
    controller: load,
  };
}

/**
 * Posts a report or follow-up that names uploads (`post()` resolves an answer with a
 * `status`). A 409 may mean a file's last pieces never arrived (a lost answer to a PUT):
 * then every upload is asked what it misses, that is sent, and the same body is posted again,
 * at most `rounds` times. Any other answer, or a 409 with nothing missing (the tip was
 * already filed, say), is handed back as it is for the caller's own checks.
 */
export async function postNamingFiles(post, files, rounds = 3) {
  let sent = await post();
  for (let round = 0; sent.status === 409 && files && round < rounds; round++) {
    if ((await files.completeMissing()) !== 'resent') break;
    sent = await post();
  }
  return sent;
}
