//! Export bundles with evidence files, made with the library as the server will make them
//! (the upload endpoints are not needed for the offline side): each file sealed as a blob
//! with `seal_file`, its reference sealed inside the tip or the follow-up envelope, and the
//! blobs beside them in the bundle, version 4.

use whistlebox::crypto::{BoxPublicKey, BoxSecretKey};
use whistlebox::domain::attachment::{seal_file, AttachmentRef, Kind};
use whistlebox::domain::held::{Followup, StoredTip};
use whistlebox::domain::tip::{SealedTip, TipPlaintext};
use whistlebox::domain::{Day, Status, TipId};

use super::Inspectors;

/// The office's box key, from the inspectors.pub `keygen` wrote.
pub fn office_key(inspectors: &Inspectors) -> BoxPublicKey {
    let text = std::fs::read_to_string(inspectors.pub_file()).unwrap();
    whistlebox::domain::keys::PublicKeys::from_file_text(&text)
        .unwrap()
        .box_key
}

/// A small real PNG (a colour gradient, stored without compression): what a cleaned,
/// re-encoded photo would be, and something a browser shows.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // no filter
        for x in 0..width {
            raw.extend_from_slice(&[
                (x * 255 / width.max(1)) as u8,
                (y * 255 / height.max(1)) as u8,
                160,
            ]);
        }
    }
    // zlib, stored blocks of at most 65,535 bytes, then Adler-32.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A voice note as the page records it: 16 kHz mono 16-bit PCM WAV, a tone.
pub fn wav(seconds: f64) -> Vec<u8> {
    let rate = 16_000u32;
    let samples = (f64::from(rate) * seconds) as u32;
    let mut pcm = Vec::with_capacity(samples as usize * 2);
    for i in 0..samples {
        let t = f64::from(i) / f64::from(rate);
        let v = (t * 440.0 * std::f64::consts::TAU).sin() * 8_000.0;
        pcm.extend_from_slice(&(v as i16).to_le_bytes());
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + pcm.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
    out.extend_from_slice(&pcm);
    out
}

/// A file the resident attaches.
#[derive(Clone)]
pub struct Evidence {
    pub kind: Kind,
    pub mime: &'static str,
    pub bytes: Vec<u8>,
    pub removed: Vec<&'static str>,
    pub cleaned: Option<bool>,
    pub name: Option<String>,
    pub seconds: Option<f64>,
    pub disguised: Option<bool>,
}

impl Evidence {
    /// A photo, re-encoded with its location, camera and time removed.
    pub fn photo(bytes: Vec<u8>) -> Self {
        Self {
            kind: Kind::Photo,
            mime: "image/png",
            bytes,
            removed: vec!["location", "camera", "time"],
            cleaned: Some(true),
            name: None,
            seconds: None,
            disguised: None,
        }
    }

    /// A voice note recorded on the page, disguised.
    pub fn voice(seconds: f64) -> Self {
        Self {
            kind: Kind::Voice,
            mime: "audio/wav",
            bytes: wav(seconds),
            removed: vec![],
            cleaned: None,
            name: None,
            seconds: Some(seconds),
            disguised: Some(true),
        }
    }

    /// Any other file, sealed as it was (not cleaned).
    pub fn document(mime: &'static str, bytes: Vec<u8>, name: Option<&str>) -> Self {
        Self {
            kind: Kind::File,
            mime,
            bytes,
            removed: vec![],
            cleaned: Some(false),
            name: name.map(str::to_owned),
            seconds: None,
            disguised: None,
        }
    }
}

/// Seals each file as a blob; the references for the sealed plaintext and the blobs.
pub fn seal_files(files: &[Evidence]) -> (Vec<AttachmentRef>, Vec<Vec<u8>>) {
    whistlebox::crypto::init().unwrap();
    files
        .iter()
        .map(|f| {
            let sealed = seal_file(&f.bytes).unwrap();
            let mut r = AttachmentRef::for_sealed(f.kind, f.mime, f.bytes.len() as u64, &sealed);
            r.removed = f.removed.iter().map(|s| s.to_string()).collect();
            r.cleaned = f.cleaned;
            r.name = f.name.clone();
            r.seconds = f.seconds;
            r.disguised = f.disguised;
            (r, sealed.blob)
        })
        .unzip()
}

/// A resident: her reply key pair (the receipt's), bound in her tip.
pub struct Resident {
    pub reply: BoxSecretKey,
}

impl Resident {
    pub fn new(seed: u8) -> Self {
        whistlebox::crypto::init().unwrap();
        Self {
            reply: BoxSecretKey::from_seed(&[seed; 32]),
        }
    }

    /// Her tip with `files`, sealed to `office`: the sealed tip and the blobs in order.
    pub fn tip(
        &self,
        office: &BoxPublicKey,
        body: &str,
        files: &[Evidence],
    ) -> (SealedTip, Vec<Vec<u8>>) {
        let (refs, blobs) = seal_files(files);
        let mut tip = TipPlaintext::new(body);
        tip.bind_reply_key(&self.reply.public_key());
        tip.attachments = refs;
        (tip.seal_to(std::slice::from_ref(office)).unwrap(), blobs)
    }

    /// Her follow-up with `files`, in the envelope the server makes with her reply key.
    pub fn followup(
        &self,
        office: &BoxPublicKey,
        body: &str,
        files: &[Evidence],
    ) -> (SealedTip, Vec<Vec<u8>>) {
        let (refs, blobs) = seal_files(files);
        let mut words = TipPlaintext::new(body);
        words.attachments = refs;
        let inner = words.seal_to(std::slice::from_ref(office)).unwrap();
        let envelope = whistlebox::domain::followup::authenticate_for(
            &inner,
            &self.reply,
            std::slice::from_ref(office),
            usize::MAX,
        )
        .unwrap();
        (envelope, blobs)
    }
}

/// A bundle entry.
pub fn entry(
    id: TipId,
    sealed: SealedTip,
    blobs: Vec<Vec<u8>>,
    followups: Vec<(u32, SealedTip, Vec<Vec<u8>>)>,
) -> StoredTip {
    StoredTip {
        id,
        day: Day(20_400),
        status: Status::Received,
        sealed: Some(sealed),
        grant: None,
        sealed_reply_key: None,
        followups: followups
            .into_iter()
            .map(|(n, sealed, attachments)| Followup {
                n,
                day: Day(20_401),
                sealed,
                attachments,
            })
            .collect(),
        attachments: blobs,
    }
}

/// The export bundle (version 4) of `tips`.
pub fn bundle(tips: &[StoredTip]) -> Vec<u8> {
    whistlebox::bundle::write_export(Day(20_402), tips)
}
