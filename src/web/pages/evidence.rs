//! The evidence part of the report form and of the follow-up form: photos, files and, with
//! JavaScript, a voice note. Without JavaScript the form posts the files
//! (`multipart/form-data`, fields `files` and `keep_names`) and the server cleans photos in
//! memory before sealing; with it, the page script loads `/assets/attach.js` (only when the
//! resident opens this part) and cleans, encrypts and uploads them in the browser
//! (`docs/attachments.md`).

use maud::{html, Markup};

use crate::web::assets;
use crate::web::i18n::{t, t_args, Lang};

/// What the file input offers: photos, sound, video, PDF, Word, Excel and plain text.
const ACCEPT: &str = "image/*,audio/*,video/*,application/pdf,.pdf,text/plain,.txt,\
application/msword,.doc,application/vnd.openxmlformats-officedocument.wordprocessingml.document,.docx,\
application/vnd.ms-excel,.xls,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,.xlsx";

/// Words the evidence script shows, handed over in an inert `<template>`.
const SCRIPT_WORDS: [&str; 33] = [
    "evidence-js-note",
    "evidence-cleaning",
    "evidence-photo-cleaned",
    "evidence-removed-location",
    "evidence-removed-camera",
    "evidence-removed-time",
    "evidence-removed-thumbnail",
    "evidence-removed-software",
    "evidence-removed-xmp",
    "evidence-removed-comment",
    "evidence-removed-other",
    "evidence-removed-none",
    "evidence-file-warning",
    "evidence-photo-failed",
    "evidence-remove",
    "evidence-preview-alt",
    "evidence-too-many",
    "evidence-too-large",
    "evidence-total-too-large",
    "evidence-kind-photo",
    "evidence-kind-file",
    "evidence-kind-voice",
    "evidence-sending",
    "evidence-failed",
    "voice-disguise",
    "voice-disguise-hint",
    "voice-start",
    "voice-stop",
    "voice-remaining",
    "voice-rerecord",
    "voice-ready",
    "voice-disguised-note",
    "voice-plain-note",
];
/// Words that only appear when something goes wrong with the microphone.
const SCRIPT_WORDS_MIC: [&str; 1] = ["voice-no-mic"];
/// The placeholders of those words that take values; the script fills in `{name}`.
const PLACEHOLDERS: [&str; 5] = ["n", "total", "percent", "time", "seconds"];

/// A word for the script, with each value it takes left as `{name}`.
fn script_word(l: Lang, key: &str) -> String {
    let args: Vec<(&str, String)> = PLACEHOLDERS
        .iter()
        .map(|name| (*name, format!("{{{name}}}")))
        .collect();
    t_args(l, key, &args)
}

/// `fieldset#evidence`, for a form with `enctype="multipart/form-data"`.
pub(super) fn evidence_fieldset(l: Lang) -> Markup {
    let integrity = assets::integrity();
    html! {
        fieldset #evidence
            data-attach-src=[integrity.attach.as_ref().map(|_| "/assets/attach.js")]
            data-attach-integrity=[integrity.attach.as_deref()]
            data-msg-voice=(t(l, "voice-open")) {
            legend { (t(l, "evidence-legend")) span.optional { (t(l, "optional")) } }
            p.hint { (t(l, "evidence-hint")) }
            p.note #evidence-nojs { (t(l, "evidence-nojs")) }
            div #evidence-controls {
                label for="files" { (t(l, "evidence-files-label")) }
                input #files type="file" name="files" multiple accept=(ACCEPT);
                label.choice {
                    input type="checkbox" name="keep_names" value="1";
                    (t(l, "evidence-keep-names"))
                }
            }
            template #evidence-words {
                @for key in SCRIPT_WORDS.iter().chain(SCRIPT_WORDS_MIC.iter()) {
                    span data-key=(key) { (script_word(l, key)) }
                }
            }
        }
    }
}
