// Builds, byte by byte, JPEG/PNG/WebP files carrying the metadata a phone writes (GPS, maker,
// model, serial, times, software, a thumbnail, XMP, a comment), so the inspection in
// js/metadata.js is tested on known input without shipping anyone's photo.

const enc = new TextEncoder();

// A little-endian TIFF with IFD0 -> Exif IFD, GPS IFD, and IFD1 (a thumbnail).
export function tiff({ gps = true, camera = true, time = true, software = true, thumbnail = true } = {}) {
  const entries = []; // [ifd, tag, type, count, valueBytes]
  const ascii = (s) => enc.encode(s + '\0');
  const rational = (pairs) => {
    const b = new Uint8Array(pairs.length * 8);
    const v = new DataView(b.buffer);
    pairs.forEach(([n, d], i) => {
      v.setUint32(i * 8, n, true);
      v.setUint32(i * 8 + 4, d, true);
    });
    return b;
  };
  const ifd0 = [];
  const exif = [];
  const gpsIfd = [];
  const ifd1 = [];
  if (camera) {
    ifd0.push([0x010f, 2, ascii('HUAWEI')], [0x0110, 2, ascii('ELE-L29')]);
    exif.push([0xa431, 2, ascii('SN-0123456789')], [0xa434, 2, ascii('Rear Camera 27mm')]);
  }
  if (software) ifd0.push([0x0131, 2, ascii('ELE-L29 10.1.0.150')]);
  if (time) {
    ifd0.push([0x0132, 2, ascii('2026:11:30 08:15:00')]);
    exif.push([0x9003, 2, ascii('2026:11:30 08:15:00')]);
  }
  exif.push([0x829a, 5, rational([[1, 100]])]); // ExposureTime: not identifying, but removed
  if (gps) {
    gpsIfd.push(
      [0x0001, 2, ascii('N')],
      [0x0002, 5, rational([[31, 1], [14, 1], [1234, 100]])],
      [0x0003, 2, ascii('E')],
      [0x0004, 5, rational([[121, 1], [28, 1], [5678, 100]])],
    );
  }
  if (thumbnail) ifd1.push([0x0103, 3, u16(6)]);
  // Layout: header (8), IFD0, Exif IFD, GPS IFD, IFD1, then the values that do not fit.
  const ifds = [ifd0, exif, gpsIfd, ifd1];
  if (exif.length) ifd0.push([0x8769, 4, u32(0)]);
  if (gpsIfd.length) ifd0.push([0x8825, 4, u32(0)]);
  for (const ifd of ifds) ifd.sort((a, b) => a[0] - b[0]);
  const sizeOf = (ifd) => (ifd.length ? 2 + ifd.length * 12 + 4 : 0);
  const offsets = [];
  let at = 8;
  for (const ifd of ifds) {
    offsets.push(at);
    at += sizeOf(ifd);
  }
  let dataAt = at;
  const out = new Uint8Array(4096);
  const v = new DataView(out.buffer);
  out.set([0x49, 0x49, 0x2a, 0x00]);
  v.setUint32(4, 8, true);
  const fix = (ifd, tag, value) => {
    const e = ifd.find((x) => x[0] === tag);
    if (e) e[2] = u32(value);
  };
  fix(ifd0, 0x8769, offsets[1]);
  fix(ifd0, 0x8825, offsets[2]);
  ifds.forEach((ifd, n) => {
    if (!ifd.length) return;
    let p = offsets[n];
    v.setUint16(p, ifd.length, true);
    p += 2;
    for (const [tag, type, value] of ifd) {
      const unit = { 2: 1, 3: 2, 4: 4, 5: 8 }[type];
      v.setUint16(p, tag, true);
      v.setUint16(p + 2, type, true);
      v.setUint32(p + 4, value.length / unit, true);
      if (value.length <= 4) {
        out.set(value, p + 8);
      } else {
        v.setUint32(p + 8, dataAt, true);
        out.set(value, dataAt);
        dataAt += value.length + (value.length % 2);
      }
      p += 12;
    }
    // IFD0 links to IFD1 (the thumbnail); the others end the chain.
    v.setUint32(p, n === 0 && ifd1.length ? offsets[3] : 0, true);
  });
  return out.slice(0, dataAt);
}

function u16(n) {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n, true);
  return b;
}

function u32(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function segment(marker, body) {
  const len = body.length + 2;
  return concat([new Uint8Array([0xff, marker, len >> 8, len & 0xff]), body]);
}

export const XMP = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
  '<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="31,14.2N"/></rdf:RDF></x:xmpmeta>';

/** A JPEG-shaped file: SOI, JFIF, Exif (APP1), XMP (APP1), a comment, then SOS and EOI. */
export function jpeg({ exif = true, xmp = true, comment = true, options = {} } = {}) {
  const parts = [new Uint8Array([0xff, 0xd8])];
  parts.push(segment(0xe0, enc.encode('JFIF\0\x01\x01\0\0\x01\0\x01\0\0')));
  if (exif) parts.push(segment(0xe1, concat([enc.encode('Exif\0\0'), tiff(options)])));
  if (xmp) parts.push(segment(0xe1, concat([enc.encode('http://ns.adobe.com/xap/1.0/\0'), enc.encode(XMP)])));
  if (comment) parts.push(segment(0xfe, enc.encode('taken at the village office')));
  parts.push(segment(0xda, new Uint8Array([1, 1, 0, 0, 63, 0])));
  parts.push(new Uint8Array([0x12, 0x34, 0xff, 0xd9]));
  return concat(parts);
}

function pngChunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  out.set(enc.encode(type), 4);
  out.set(data, 8);
  // The CRC is not checked by the inspection; a reader that checks it is not ours.
  return out;
}

/** A PNG-shaped file with a text chunk, an eXIf chunk and a tIME chunk. */
export function png() {
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, 1);
  new DataView(ihdr.buffer).setUint32(4, 1);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return concat([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('tEXt', enc.encode('Comment\0from the phone')),
    pngChunk('tIME', new Uint8Array([7, 234, 11, 30, 8, 15, 0])),
    pngChunk('eXIf', tiff({ thumbnail: false })),
    pngChunk('IDAT', new Uint8Array([0])),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** A WebP-shaped file (RIFF) with EXIF and XMP chunks. */
export function webp() {
  const chunk = (type, data) => {
    const pad = data.length % 2;
    const out = new Uint8Array(8 + data.length + pad);
    out.set(enc.encode(type), 0);
    new DataView(out.buffer).setUint32(4, data.length, true);
    out.set(data, 8);
    return out;
  };
  const body = concat([
    enc.encode('WEBP'),
    chunk('VP8X', new Uint8Array(10)),
    chunk('VP8 ', new Uint8Array(10)),
    chunk('EXIF', tiff({ thumbnail: false, software: false })),
    chunk('XMP ', enc.encode(XMP)),
  ]);
  const head = new Uint8Array(8);
  head.set(enc.encode('RIFF'));
  new DataView(head.buffer).setUint32(4, body.length, true);
  return concat([head, body]);
}
