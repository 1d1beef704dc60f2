// What a photo carries besides the picture, found by reading the original before it is
// re-encoded (js/clean.js), so the page can tell the resident, truthfully, what was removed.
// The EXIF/TIFF, GPS, XMP, IPTC and ICC reading is exifr's (MIT, a well-kept reader), built
// here from its modules without its tag dictionaries: tags are looked at by number, which
// keeps the attachment bundle small. The few lines of our own only walk the container
// (JPEG segments, PNG chunks, RIFF chunks of WebP) to find comments and blocks that exifr
// does not report, and hand exifr the EXIF block of PNG and WebP as a TIFF.
//
// The answer uses the vocabulary of docs/attachments.md: location, camera, time, thumbnail,
// software, xmp, comment, other.

/*! exifr - MIT License (c) 2020 Mike Kovařík, Mutiny.cz: its TIFF/EXIF, XMP, IPTC and ICC
 * readers are bundled here */
import { Exifr } from 'exifr/src/core.mjs';
import 'exifr/src/file-parsers/jpeg.mjs';
import 'exifr/src/file-parsers/heif.mjs';
import 'exifr/src/file-parsers/tiff.mjs';
import 'exifr/src/segment-parsers/tiff-exif.mjs';
import 'exifr/src/segment-parsers/xmp.mjs';
import 'exifr/src/segment-parsers/iptc.mjs';
import 'exifr/src/segment-parsers/icc.mjs';

export const REMOVED_ORDER = ['location', 'camera', 'time', 'thumbnail', 'software', 'xmp', 'comment', 'other'];

const EXIFR_OPTIONS = {
  tiff: true,
  ifd0: true,
  ifd1: true,
  exif: true,
  gps: true,
  interop: false,
  xmp: { parse: false },
  iptc: true,
  icc: true,
  jfif: false,
  ihdr: false,
  makerNote: true,
  userComment: true,
  multiSegment: true,
  translateKeys: false,
  translateValues: false,
  reviveValues: false,
  sanitize: true,
  mergeOutput: false,
  silentErrors: true,
  chunked: false,
};

// TIFF/EXIF tags by number (the EXIF 2.32 and TIFF 6 tables; exiftool's names in comments).
const IFD0_TAGS = {
  camera: [0x010f, 0x0110, 0xc62f, 0xc614], // Make, Model, CameraSerialNumber, UniqueCameraModel
  time: [0x0132], // ModifyDate
  software: [0x0131, 0x000b, 0x013c], // Software, ProcessingSoftware, HostComputer
  comment: [0x010e, 0x9c9b, 0x9c9c, 0x9c9e, 0x9c9f], // ImageDescription, XPTitle/Comment/Keywords/Subject
};
const EXIF_TAGS = {
  camera: [0xa431, 0xa432, 0xa433, 0xa434, 0xa435, 0x927c], // BodySerialNumber, Lens*, MakerNote
  time: [0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9290, 0x9291, 0x9292], // DateTimeOriginal, ...
  comment: [0x9286], // UserComment
};
// Tags that only describe the picture's shape; they say nothing of who or where.
const LAYOUT_TAGS = [0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0112, 0x0115, 0x011a, 0x011b, 0x0128, 0x0213,
  0x8769, 0x8825, 0xa005, 0xa001, 0xa002, 0xa003, 0x9000, 0xa000, 0x0201, 0x0202];
// IPTC datasets (record 2).
const IPTC_TAGS = {
  location: [26, 27, 90, 92, 95, 100, 101],
  time: [30, 35, 55, 60, 62, 63],
  software: [65, 70],
  comment: [120, 121, 105, 5, 25],
};

function keysOf(block) {
  if (!block || typeof block !== 'object') return [];
  return Object.keys(block).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
}

function classifyTiff(out, parsed) {
  const found = new Set();
  const ifd0 = keysOf(parsed.ifd0);
  const exif = keysOf(parsed.exif);
  const gps = keysOf(parsed.gps).filter((t) => t !== 0x0000); // GPSVersionID alone says nothing
  if (gps.length > 0) found.add('location');
  const sort = (tags, table) => {
    for (const tag of tags) {
      let known = LAYOUT_TAGS.indexOf(tag) >= 0;
      for (const what of Object.keys(table)) {
        if (table[what].indexOf(tag) >= 0) {
          found.add(what);
          known = true;
        }
      }
      // Artist, Copyright, CameraOwnerName, ImageUniqueID, exposure and the rest: removed
      // too, and said as "other details".
      if (!known) found.add('other');
    }
  };
  sort(ifd0, IFD0_TAGS);
  sort(exif, EXIF_TAGS);
  if (parsed.ifd1 && keysOf(parsed.ifd1).length > 0) found.add('thumbnail');
  for (const w of found) out.add(w);
}

function classifyXmp(out, text) {
  if (typeof text !== 'string' || text.trim() === '') return;
  out.add('xmp');
  if (/GPS|photoshop:City|Iptc4xmpCore:Location|LocationCreated/i.test(text)) out.add('location');
  if (/DateTime|CreateDate|DateCreated|ModifyDate/i.test(text)) out.add('time');
  if (/tiff:Make|tiff:Model|SerialNumber|aux:Lens/i.test(text)) out.add('camera');
  if (/CreatorTool|xmp:Software|HistorySoftwareAgent|softwareAgent/i.test(text)) out.add('software');
}

function classifyIptc(out, iptc) {
  const tags = keysOf(iptc);
  if (tags.length === 0) return;
  for (const tag of tags) {
    let known = tag === 0; // ApplicationRecordVersion
    for (const what of Object.keys(IPTC_TAGS)) {
      if (IPTC_TAGS[what].indexOf(tag) >= 0) {
        out.add(what);
        known = true;
      }
    }
    if (!known) out.add('other'); // by-line (a name), credit, ...
  }
}

async function exifrParse(bytes) {
  const e = new Exifr(EXIFR_OPTIONS);
  await e.read(bytes);
  return (await e.parse()) || {};
}

function classifyParsed(out, parsed) {
  classifyTiff(out, parsed);
  if (parsed.xmp) classifyXmp(out, typeof parsed.xmp === 'string' ? parsed.xmp : JSON.stringify(parsed.xmp));
  if (parsed.iptc) classifyIptc(out, parsed.iptc);
  if (parsed.icc && keysOf(parsed.icc).length > 0) out.add('other'); // a colour profile, its texts
}

const ascii = (b, at, n) => String.fromCharCode.apply(null, b.subarray(at, at + n));

// JPEG: comments (COM) and application blocks exifr does not report (APP3..APP12, APP14
// with more than Adobe's colour flag, APP15, MPF previews in APP2).
function walkJpeg(out, b) {
  let at = 2;
  while (at + 4 <= b.length && b[at] === 0xff) {
    const marker = b[at + 1];
    if (marker === 0xda || marker === 0xd9) break; // image data from here on
    const len = (b[at + 2] << 8) | b[at + 3];
    if (len < 2) break;
    const body = at + 4;
    if (marker === 0xfe) out.add('comment');
    else if (marker === 0xe2 && ascii(b, body, 4) === 'MPF\0') out.add('thumbnail');
    else if ((marker >= 0xe3 && marker <= 0xec) || marker === 0xef) out.add('other');
    at += 2 + len;
  }
}

// PNG: text chunks (comments, XMP in iTXt), tIME, eXIf, iCCP.
async function walkPng(out, b) {
  let at = 8;
  while (at + 12 <= b.length) {
    const len = new DataView(b.buffer, b.byteOffset + at, 4).getUint32(0);
    const type = ascii(b, at + 4, 4);
    const data = b.subarray(at + 8, Math.min(at + 8 + len, b.length));
    if (type === 'IEND') break;
    if (type === 'tEXt' || type === 'zTXt' || type === 'iTXt') {
      const keyword = ascii(data, 0, Math.max(0, data.indexOf(0)));
      if (keyword === 'XML:com.adobe.xmp') classifyXmp(out, new TextDecoder().decode(data));
      else if (/^(Creation Time|Date)/i.test(keyword)) out.add('time');
      else if (keyword === 'Software') out.add('software');
      else out.add('comment');
    } else if (type === 'tIME') {
      out.add('time');
    } else if (type === 'eXIf') {
      classifyParsed(out, await exifrParse(data.slice()));
    } else if (type === 'iCCP') {
      out.add('other');
    }
    at += 12 + len;
  }
}

// WebP (RIFF): EXIF, XMP and ICCP chunks.
async function walkWebp(out, b) {
  let at = 12;
  while (at + 8 <= b.length) {
    const type = ascii(b, at, 4);
    const len = new DataView(b.buffer, b.byteOffset + at + 4, 4).getUint32(0, true);
    const data = b.subarray(at + 8, Math.min(at + 8 + len, b.length));
    if (type === 'EXIF') {
      const tiffAt = ascii(data, 0, 6) === 'Exif\0\0' ? 6 : 0;
      classifyParsed(out, await exifrParse(data.slice(tiffAt)));
    } else if (type === 'XMP ') {
      classifyXmp(out, new TextDecoder().decode(data));
    } else if (type === 'ICCP') {
      out.add('other');
    }
    at += 8 + len + (len % 2);
  }
}

/** The container of an image, from its first bytes: 'jpeg', 'png', 'webp', 'heic' or null. */
export function imageFormat(b) {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && ascii(b, 1, 3) === 'PNG') return 'png';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return 'webp';
  if (b.length >= 12 && ascii(b, 4, 4) === 'ftyp' && /^(heic|heix|hevc|heim|heis|mif1|msf1|avif)$/.test(ascii(b, 8, 4))) {
    return 'heic';
  }
  return null;
}

/**
 * What the original image `bytes` carries besides the picture, as a sorted list of the
 * vocabulary words. A file it cannot read at all gives ['other'] rather than a claim that
 * nothing was there.
 */
export async function inspectImage(bytes) {
  const out = new Set();
  const format = imageFormat(bytes);
  try {
    if (format === 'jpeg') {
      walkJpeg(out, bytes);
      classifyParsed(out, await exifrParse(bytes));
    } else if (format === 'heic') {
      classifyParsed(out, await exifrParse(bytes));
    } else if (format === 'png') {
      await walkPng(out, bytes);
    } else if (format === 'webp') {
      await walkWebp(out, bytes);
    } else {
      out.add('other');
    }
  } catch (e) {
    out.add('other');
  }
  return REMOVED_ORDER.filter((w) => out.has(w));
}
