//! Photos sent without JavaScript, cleaned in memory before they are sealed: decoded, turned
//! upright by their orientation tag, scaled to at most [`MAX_SIDE`] pixels on the long side
//! and encoded afresh as JPEG, so that nothing of the original file but its pixels remains
//! (EXIF with its GPS position and camera serial, maker notes, XMP, IPTC, comments, embedded
//! thumbnails and previews). What the original carried is read first, to tell the resident
//! what was taken away, with the vocabulary of `docs/attachments.md`.
//!
//! The browser does the same with a canvas (`js/attach.js`); this is the path for pages
//! without JavaScript.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use thiserror::Error;
use zeroize::Zeroizing;

/// Longest side of a cleaned photo, in pixels (a 12-megapixel phone photo is 4,000).
pub const MAX_SIDE: u32 = 3000;
/// Largest picture decoded, in pixels a side; a photo larger than any phone takes is a trap.
const MAX_DECODED_SIDE: u32 = 16_384;
/// Memory a decoder may take for one photo.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// JPEG quality of a cleaned photo.
const QUALITY: u8 = 88;

/// A photo once cleaned.
pub struct Cleaned {
    /// The new JPEG: pixels only.
    pub jpeg: Zeroizing<Vec<u8>>,
    /// What the original carried and the new file does not, in the order of
    /// `docs/attachments.md`.
    pub removed: Vec<&'static str>,
}

/// Why a photo could not be cleaned.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PhotoError {
    /// A photo format the server cannot open, so it cannot remove what it carries.
    #[error("a photo is in a format (such as HEIC) that the service cannot clean")]
    Unsupported,
    /// The picture does not decode, or is larger than any photo.
    #[error("a photo could not be read")]
    Unreadable,
}

/// The photo formats cleaned here, by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoFormat {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// WebP.
    Webp,
    /// A photo format not cleaned here (HEIC/HEIF, AVIF, TIFF, GIF, BMP): never sealed as
    /// it is, since it may carry a position.
    Other,
}

/// What kind of picture a file is, by its first bytes (never by its name or declared type);
/// `None` for a file that is not a picture.
pub fn sniff(bytes: &[u8]) -> Option<PhotoFormat> {
    let at = |i: usize, m: &[u8]| bytes.get(i..i + m.len()) == Some(m);
    if at(0, &[0xff, 0xd8, 0xff]) {
        Some(PhotoFormat::Jpeg)
    } else if at(0, b"\x89PNG\r\n\x1a\n") {
        Some(PhotoFormat::Png)
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Some(PhotoFormat::Webp)
    } else if at(4, b"ftyp")
        && bytes.get(8..12).is_some_and(|b| {
            [
                &b"heic"[..],
                b"heix",
                b"hevc",
                b"heif",
                b"mif1",
                b"msf1",
                b"avif",
            ]
            .contains(&b)
        })
        || at(0, b"II*\0")
        || at(0, b"MM\0*")
        || at(0, b"GIF8")
        || at(0, b"BM")
    {
        Some(PhotoFormat::Other)
    } else {
        None
    }
}

/// Cleans a photo (see the module's comment). CPU-bound: run it on a blocking thread.
pub fn clean(bytes: &[u8]) -> Result<Cleaned, PhotoError> {
    let format = match sniff(bytes) {
        Some(PhotoFormat::Jpeg) => image::ImageFormat::Jpeg,
        Some(PhotoFormat::Png) => image::ImageFormat::Png,
        Some(PhotoFormat::Webp) => image::ImageFormat::WebP,
        _ => return Err(PhotoError::Unsupported),
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|_| PhotoError::Unreadable)?;
    let mut removed = Vec::new();
    if let Ok(Some(exif)) = decoder.exif_metadata() {
        exif_findings(exif, &mut removed);
    }
    if matches!(decoder.xmp_metadata(), Ok(Some(x)) if !x.is_empty()) {
        removed.push("xmp");
    }
    if matches!(decoder.iptc_metadata(), Ok(Some(x)) if !x.is_empty()) {
        removed.push("other");
    }
    if format == image::ImageFormat::Jpeg {
        jpeg_segment_findings(bytes, &mut removed);
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut picture = DynamicImage::from_decoder(decoder).map_err(|_| PhotoError::Unreadable)?;
    picture.apply_orientation(orientation);
    if picture.width().max(picture.height()) > MAX_SIDE {
        picture = picture.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Triangle);
    }
    // JPEG has no transparency: flatten onto white, as a printed page would be.
    let rgb = if picture.color().has_alpha() {
        let rgba = picture.to_rgba8();
        let mut out = image::RgbImage::new(rgba.width(), rgba.height());
        for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
            let a = u16::from(p[3]);
            for c in 0..3 {
                o[c] = ((u16::from(p[c]) * a + 255 * (255 - a)) / 255) as u8;
            }
        }
        out
    } else {
        picture.to_rgb8()
    };
    drop(picture);
    let mut jpeg = Zeroizing::new(Vec::with_capacity(bytes.len().min(8 * 1024 * 1024)));
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut *jpeg, QUALITY)
        .encode_image(&rgb)
        .map_err(|_| PhotoError::Unreadable)?;
    // The decoded pixels are the photo too: wipe them (the allocator wipes freed blocks as
    // well; this does not depend on it).
    let mut raw = rgb.into_raw();
    zeroize::Zeroize::zeroize(&mut raw);
    removed.sort_by_key(|r| ORDER.iter().position(|o| o == r));
    removed.dedup();
    Ok(Cleaned { jpeg, removed })
}

/// The vocabulary of what cleaning removes, in the order it is shown.
const ORDER: [&str; 8] = [
    "location",
    "camera",
    "time",
    "thumbnail",
    "software",
    "xmp",
    "comment",
    "other",
];

/// What an EXIF block (a TIFF structure) says about the photo.
fn exif_findings(raw: Vec<u8>, removed: &mut Vec<&'static str>) {
    use exif::{Context, In, Tag};
    let Ok(exif) = exif::Reader::new().read_raw(raw) else {
        // EXIF that does not parse still goes: say that something was removed.
        removed.push("other");
        return;
    };
    for field in exif.fields() {
        let found = match field.tag {
            t if t.context() == Context::Gps => "location",
            _ if field.ifd_num == In::THUMBNAIL => "thumbnail",
            Tag::Make
            | Tag::Model
            | Tag::BodySerialNumber
            | Tag::LensMake
            | Tag::LensModel
            | Tag::LensSerialNumber
            | Tag::CameraOwnerName
            | Tag::MakerNote => "camera",
            Tag::DateTime
            | Tag::DateTimeOriginal
            | Tag::DateTimeDigitized
            | Tag::OffsetTime
            | Tag::OffsetTimeOriginal
            | Tag::OffsetTimeDigitized
            | Tag::SubSecTime
            | Tag::SubSecTimeOriginal
            | Tag::SubSecTimeDigitized => "time",
            Tag::Software => "software",
            Tag::UserComment | Tag::ImageDescription => "comment",
            Tag::Artist | Tag::Copyright | Tag::ImageUniqueID => "other",
            _ => continue,
        };
        removed.push(found);
    }
}

/// Comments and vendor segments of a JPEG (everything up to the image data).
fn jpeg_segment_findings(bytes: &[u8], removed: &mut Vec<&'static str>) {
    let mut i = 2;
    while i + 4 <= bytes.len() && bytes[i] == 0xff {
        let marker = bytes[i + 1];
        if marker == 0xda || marker == 0xd9 {
            break; // start of scan: the metadata segments come before it
        }
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        let body = bytes.get(i + 4..i + 2 + len).unwrap_or(&[]);
        match marker {
            0xfe => removed.push("comment"),
            // APP0 (JFIF), APP1 (EXIF, XMP: read above), APP2 (ICC colours, or MPF
            // previews), APP14 (Adobe colour transform)
            0xe2 if body.starts_with(b"MPF\0") => removed.push("thumbnail"),
            0xe0 | 0xe1 | 0xe2 | 0xee => {}
            0xe3..=0xef => removed.push("other"),
            _ => {}
        }
        if len < 2 {
            break;
        }
        i += 2 + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF block with GPS, a camera serial, a model and a time.
    fn exif_block() -> Vec<u8> {
        // IFD0: Model (0x0110, ASCII), DateTime (0x0132), ExifIFD pointer (0x8769),
        // GPS pointer (0x8825). Exif IFD: BodySerialNumber (0xa431). GPS IFD: latitude ref.
        let mut t = b"II*\0\x08\0\0\0".to_vec();
        let entry = |tag: u16, typ: u16, count: u32, value: u32| {
            let mut e = tag.to_le_bytes().to_vec();
            e.extend_from_slice(&typ.to_le_bytes());
            e.extend_from_slice(&count.to_le_bytes());
            e.extend_from_slice(&value.to_le_bytes());
            e
        };
        // Offsets: IFD0 at 8 with 4 entries = 2 + 48 + 4 = 54 bytes -> 62.
        let strings_at = 62u32;
        let model = b"PhoneX\0\0";
        let time = b"2026:11:30 09:15:00\0";
        let exif_at = strings_at + model.len() as u32 + time.len() as u32;
        let serial = b"SN-4455667788\0\0";
        t.extend_from_slice(&4u16.to_le_bytes());
        t.extend(entry(0x0110, 2, 7, strings_at));
        t.extend(entry(0x0132, 2, 20, strings_at + model.len() as u32));
        t.extend(entry(0x8769, 4, 1, exif_at));
        t.extend(entry(0x8825, 4, 1, exif_at + 18 + serial.len() as u32));
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(model);
        t.extend_from_slice(time);
        // Exif IFD: one entry, serial stored after it.
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend(entry(0xa431, 2, 14, exif_at + 18));
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(serial);
        // GPS IFD: GPSLatitudeRef "N".
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend(entry(0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0")));
        t.extend_from_slice(&0u32.to_le_bytes());
        t
    }

    fn jpeg_with(exif: Option<&[u8]>, comment: Option<&[u8]>) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 90)
            .encode_image(&img)
            .unwrap();
        // Splice the segments in after SOI.
        let mut out = plain[..2].to_vec();
        if let Some(e) = exif {
            let mut seg = b"Exif\0\0".to_vec();
            seg.extend_from_slice(e);
            out.extend_from_slice(&[0xff, 0xe1]);
            out.extend_from_slice(&((seg.len() + 2) as u16).to_be_bytes());
            out.extend_from_slice(&seg);
        }
        if let Some(c) = comment {
            out.extend_from_slice(&[0xff, 0xfe]);
            out.extend_from_slice(&((c.len() + 2) as u16).to_be_bytes());
            out.extend_from_slice(c);
        }
        out.extend_from_slice(&plain[2..]);
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_photo_loses_its_position_serial_time_and_comment() {
        let original = jpeg_with(Some(&exif_block()), Some(b"taken at the village office"));
        assert!(contains(&original, b"SN-4455667788"));
        let cleaned = clean(&original).unwrap();
        assert_eq!(
            cleaned.removed,
            vec!["location", "camera", "time", "comment"]
        );
        for gone in [
            &b"SN-4455667788"[..],
            b"PhoneX",
            b"2026:11:30",
            b"Exif\0\0",
            b"village office",
        ] {
            assert!(
                !contains(&cleaned.jpeg, gone),
                "{:?} is still there",
                String::from_utf8_lossy(gone)
            );
        }
        let back = image::load_from_memory(&cleaned.jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (64, 48));
    }

    #[test]
    fn a_clean_photo_reports_nothing_and_large_ones_shrink() {
        let cleaned = clean(&jpeg_with(None, None)).unwrap();
        assert!(cleaned.removed.is_empty());
        let big = image::RgbImage::from_pixel(4000, 1000, image::Rgb([1, 2, 3]));
        let mut png = Vec::new();
        big.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let back = image::load_from_memory(&clean(&png).unwrap().jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (3000, 750));
    }

    #[test]
    fn formats_that_cannot_be_cleaned_are_refused_not_passed_on() {
        let mut heic = vec![0, 0, 0, 24];
        heic.extend_from_slice(b"ftypheic");
        heic.extend_from_slice(&[0; 40]);
        assert_eq!(sniff(&heic), Some(PhotoFormat::Other));
        assert_eq!(clean(&heic).err(), Some(PhotoError::Unsupported));
        assert_eq!(sniff(b"%PDF-1.7 ..."), None);
        let mut cut = jpeg_with(Some(&exif_block()), None);
        cut.truncate(cut.len() / 2);
        assert!(clean(&cut).is_err());
        // A picture that claims to be larger than any photo is refused before it is decoded.
        let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bomb.extend_from_slice(&100_000u32.to_be_bytes());
        bomb.extend_from_slice(&100_000u32.to_be_bytes());
        bomb.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(clean(&bomb).err(), Some(PhotoError::Unreadable));
    }
}
