// Photos re-drawn without what they carry: the original is decoded by the browser, turned
// upright by its own orientation tag, drawn on a canvas at most 3,000 pixels on its long
// side, and encoded again as JPEG. A canvas has pixels and nothing else, so the new file has
// no EXIF, GPS, maker notes, XMP, IPTC, ICC texts or thumbnails: nothing is "stripped" that
// could be missed, the file is made new. What the original carried is read first
// (js/metadata.js) so the page can say what was removed.

import { inspectImage, imageFormat } from './metadata.js';

export const MAX_SIDE = 3000;
const JPEG_QUALITY = 0.88;

// Types a browser may decode; HEIC only where it can (Safari), which decode() finds out.
const PHOTO_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/heic', 'image/heif'];

/** Whether a file is a photo this page tries to clean, by its declared type and name. */
export function isPhoto(file) {
  const type = String(file.type || '').toLowerCase();
  if (PHOTO_TYPES.indexOf(type) >= 0 || type.indexOf('image/') === 0) return true;
  // Some phones give no type: go by the name's ending, never kept.
  return /\.(jpe?g|png|webp|hei[cfs]|avif|gif|bmp|tiff?|dng|jxl|jp2|psd|cr[23w]|nef|arw|orf|rw2|raf)$/i.test(
    String(file.name || ''),
  );
}

// Still-picture brands of ISO base media files (HEIF/HEIC and its sequences, AVIF, Canon
// CR3), as the server knows them (src/service/photos.rs); video brands are not among them.
const IMAGE_BRANDS = [
  'heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs', 'heif', 'mif1', 'msf1',
  'miaf', 'MiHE', 'avif', 'avis', 'crx ',
];

function startsWith(b, at, magic) {
  if (b.length < at + magic.length) return false;
  for (let i = 0; i < magic.length; i++) {
    const m = typeof magic === 'string' ? magic.charCodeAt(i) : magic[i];
    if (b[at + i] !== m) return false;
  }
  return true;
}

/**
 * Whether the first bytes of a file are those of a picture, of any format (the same table
 * as the server's): such a file is cleaned, or refused if it cannot be, and never sent as
 * it is, whatever its name or type say.
 */
export function looksLikePicture(b, size) {
  if (startsWith(b, 0, [0xff, 0xd8, 0xff])) return true;
  if (startsWith(b, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return true;
  if (startsWith(b, 0, 'RIFF') && startsWith(b, 8, 'WEBP')) return true;
  if (startsWith(b, 4, 'ftyp')) {
    const box = Math.min(Math.max(((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0, 16), 256, b.length);
    const at = [8];
    for (let i = 16; i + 4 <= box; i += 4) at.push(i);
    for (const i of at) {
      const brand = String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);
      if (IMAGE_BRANDS.indexOf(brand) >= 0) return true;
    }
  }
  const bmpLen = b.length >= 6 ? (b[2] | (b[3] << 8) | (b[4] << 16) | (b[5] << 24)) >>> 0 : -1;
  return (
    startsWith(b, 0, 'II*\0') ||
    startsWith(b, 0, 'MM\0*') ||
    startsWith(b, 0, 'IIRO') ||
    startsWith(b, 0, 'IIU\0') ||
    startsWith(b, 0, 'FUJIFILMCCD-RAW') ||
    startsWith(b, 0, 'GIF87a') ||
    startsWith(b, 0, 'GIF89a') ||
    (startsWith(b, 0, 'BM') && bmpLen === size) ||
    startsWith(b, 0, [0xff, 0x0a]) ||
    startsWith(b, 0, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a]) ||
    startsWith(b, 0, [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a]) ||
    startsWith(b, 0, '8BPS')
  );
}

/** Whether a file is a picture, by what it says of itself or by its first bytes. */
export async function isPicture(file) {
  if (isPhoto(file)) return true;
  const head = new Uint8Array(await file.slice(0, 256).arrayBuffer());
  return looksLikePicture(head, file.size);
}

async function decodeWithBitmap(file) {
  try {
    return await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch (e) {
    // Browsers from before the option took the orientation from the image anyway, and some
    // refuse the option's value as unknown.
    if (e && e.name === 'TypeError') return createImageBitmap(file);
    throw e;
  }
}

function decodeWithImg(file) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => {
      URL.revokeObjectURL(url);
      resolve(img);
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error('cannot decode'));
    };
    img.src = url; // img-src blob: in the page's policy; image-orientation follows the tag
  });
}

async function decode(file) {
  if (typeof createImageBitmap === 'function') {
    try {
      return await decodeWithBitmap(file);
    } catch (e) {
      // Fall through to <img>, which some browsers decode more formats with.
    }
  }
  return decodeWithImg(file);
}

/** The size to draw at: the long side at most MAX_SIDE, the proportions kept. */
export function fitted(width, height, max = MAX_SIDE) {
  const scale = Math.min(1, max / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Cleans a photo: resolves `{ bytes, type: 'image/jpeg', removed, width, height }` or
 * rejects when this browser cannot decode it (then the page offers to send it as a file).
 */
export async function cleanPhoto(file) {
  const original = new Uint8Array(await file.arrayBuffer());
  let removed;
  try {
    removed = await inspectImage(original);
  } finally {
    // The original's bytes (GPS and all) are not kept past this point.
    original.fill(0);
  }
  const image = await decode(file);
  const w = image.naturalWidth || image.width;
  const h = image.naturalHeight || image.height;
  if (!w || !h) throw new Error('cannot decode');
  const size = fitted(w, h);
  const canvas = document.createElement('canvas');
  canvas.width = size.width;
  canvas.height = size.height;
  const ctx = canvas.getContext('2d');
  // JPEG has no transparency: a transparent PNG gets white behind it, not black.
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, size.width, size.height);
  ctx.drawImage(image, 0, 0, size.width, size.height);
  if (typeof image.close === 'function') image.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', JPEG_QUALITY));
  canvas.width = 0;
  canvas.height = 0;
  if (!blob) throw new Error('cannot encode');
  const bytes = new Uint8Array(await blob.arrayBuffer());
  // A browser that wrote something else than a bare JPEG is not trusted with the job.
  if (imageFormat(bytes) !== 'jpeg' || (await inspectImage(bytes)).some((w) => w !== 'other')) {
    bytes.fill(0);
    throw new Error('the browser kept metadata');
  }
  return { bytes, type: 'image/jpeg', removed, width: size.width, height: size.height };
}
