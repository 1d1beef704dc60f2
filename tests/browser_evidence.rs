//! Evidence files in a real browser (headless Chromium through chromedriver, as
//! tests/browser.rs): a phone photo carrying GPS, a camera serial, maker, model and a time is
//! attached on the report page, cleaned in the page, encrypted, uploaded and sent; offline,
//! the opened file has none of those (read by `exiftool`, an independent reader) and is
//! upright; the server received only ciphertext. A voice note recorded from Chromium's fake
//! microphone arrives as a disguised 16 kHz WAV of the length recorded. Screenshots of the
//! evidence part at phone widths land in target/screenshots/.
//!
//! Needs /usr/bin/chromium, /usr/bin/chromedriver and /usr/bin/exiftool (Debian's
//! `libimage-exiftool-perl`): `bash .ci/test` installs them.

mod common;
#[path = "browser/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use common::{Inspectors, Server, Site, PASSPHRASE};
use harness::{Browser, Js};
use whistlebox::domain::attachment::{open_blob, Kind};
use whistlebox::domain::keys::SecretKeys;
use whistlebox::domain::tip::{SealedTip, TipPlaintext};
use whistlebox::web::i18n::{t, Lang};

const WAIT: Duration = Duration::from_secs(30);
const EXIFTOOL: &str = "/usr/bin/exiftool";
const SERIAL: &str = "SN0123456789WB";

fn accept_language(lang: &str) -> &'static str {
    match lang {
        "zh" => "zh-CN,zh;q=0.9",
        _ => "en-US,en;q=0.9",
    }
}

fn lang_of(code: &str) -> Lang {
    Lang::from_code(code).expect("zh or en")
}

struct Keyed {
    inspectors: Inspectors,
    _site: Site,
    server: Server,
}

fn keyed() -> Arc<Keyed> {
    assert!(
        Path::new(EXIFTOOL).exists(),
        "this test reads photos with exiftool: apt-get install libimage-exiftool-perl \
         (bash .ci/test does)"
    );
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    Arc::new(Keyed {
        inspectors,
        _site: site,
        server,
    })
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

impl Keyed {
    /// Every tip of the export, opened with the inspectors' key, with its blobs opened by
    /// the references inside it (the way the offline tools open them).
    fn opened(&self) -> Vec<(TipPlaintext, Vec<Vec<u8>>)> {
        let bundle: Value = serde_json::from_slice(&self.server.export()).unwrap();
        let text = std::fs::read_to_string(self.inspectors.key_file()).unwrap();
        let keys = SecretKeys::from_file_text(&text, PASSPHRASE.as_bytes()).unwrap();
        bundle["tips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tip| {
                let sealed =
                    SealedTip::from_base64(tip["sealed"].as_str().unwrap(), usize::MAX).unwrap();
                let plain = sealed.open(&keys.box_key).unwrap();
                let blobs: Vec<Vec<u8>> = tip["attachments"]
                    .as_array()
                    .map(|a| a.to_vec())
                    .unwrap_or_default()
                    .iter()
                    .map(|b| STANDARD.decode(b.as_str().unwrap()).unwrap())
                    .collect();
                assert_eq!(
                    blobs.len(),
                    plain.attachments.len(),
                    "one blob per reference, in order"
                );
                let files = plain
                    .attachments
                    .iter()
                    .zip(&blobs)
                    .map(|(r, blob)| open_blob(blob, r).expect("the blob opens").to_vec())
                    .collect();
                (plain, files)
            })
            .collect()
    }
}

/// What exiftool (not our code) reads in a file: every tag, with group names.
fn exiftool(path: &Path) -> Value {
    let out = std::process::Command::new(EXIFTOOL)
        .args(["-json", "-a", "-G1", "-n"])
        .arg(path)
        .output()
        .expect("exiftool runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone()
}

/// A phone photo: a 400 × 200 JPEG drawn by Chromium, then, with exiftool, the GPS position,
/// maker, model, body serial, the time it was taken, a software name, and orientation 6
/// (the phone was held upright: shown turned 90°, so 200 × 400).
async fn phone_photo(b: &Browser, dir: &Path) -> PathBuf {
    let data = b
        .c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               const c = document.createElement('canvas'); c.width = 400; c.height = 200;
               const x = c.getContext('2d');
               x.fillStyle = '#e8e0c8'; x.fillRect(0, 0, 400, 200);
               x.fillStyle = '#7a1010'; x.fillRect(0, 0, 40, 200);
               x.fillStyle = '#102a7a'; x.font = '28px sans-serif'; x.fillText('名单 list 2026', 60, 110);
               c.toBlob((blob) => { const r = new FileReader();
                 r.onload = () => done(r.result.split(',')[1]); r.readAsDataURL(blob); }, 'image/jpeg', 0.9);"#,
            vec![],
        )
        .await
        .expect("draw a JPEG");
    let path = dir.join("IMG_20261130_081500.jpg");
    std::fs::write(&path, STANDARD.decode(data.as_str().unwrap()).unwrap()).unwrap();
    let out = std::process::Command::new(EXIFTOOL)
        .args([
            "-overwrite_original",
            "-GPSLatitude=31.2304",
            "-GPSLatitudeRef=N",
            "-GPSLongitude=121.4737",
            "-GPSLongitudeRef=E",
            "-GPSAltitude=12",
            "-Make=HUAWEI",
            "-Model=ELE-L29",
            &format!("-SerialNumber={SERIAL}"),
            "-LensModel=Rear 27mm",
            "-DateTimeOriginal=2026:11:30 08:15:00",
            "-Software=ELE-L29 10.1.0.150",
            "-Orientation#=6",
        ])
        .arg(&path)
        .output()
        .expect("exiftool runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tags = exiftool(&path);
    assert_eq!(tags["ExifIFD:SerialNumber"], json!(SERIAL), "{tags}");
    assert!(tags.get("GPS:GPSLatitude").is_some(), "{tags}");
    path
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A TCP relay between the browser and the server that keeps every byte the browser sent
/// (as tests/browser.rs has it): what a network observer or the server would see.
struct Recorder {
    origin: String,
    sent: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Recorder {
    fn start(server: &str) -> Self {
        Self::start_cutting(server, 0)
    }

    /// As `start`, and the connection that carries the `cut`-th chunk upload (counting
    /// from 1; 0: none) is cut halfway through that chunk, both ways, as a phone losing its
    /// signal would.
    fn start_cutting(server: &str, cut: usize) -> Self {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        let upstream = server.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = sent.clone();
        let puts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { break };
                let Ok(mut server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut client_r, mut server_w) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let log = log.clone();
                let puts = puts.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    // Bytes left before this connection is cut, once its chunk is the one.
                    let mut cut_in: Option<usize> = None;
                    while let Ok(n) = client_r.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let mut take = n;
                        if cut > 0 && cut_in.is_none() {
                            let starts = buf[..n]
                                .windows(20)
                                .filter(|w| w == b"PUT /api/v1/uploads/")
                                .count();
                            let before =
                                puts.fetch_add(starts, std::sync::atomic::Ordering::SeqCst);
                            if before < cut && before + starts >= cut {
                                cut_in = Some(128 * 1024);
                            }
                        }
                        if let Some(left) = cut_in {
                            take = n.min(left);
                            cut_in = Some(left - take);
                        }
                        if server_w.write_all(&buf[..take]).is_err() {
                            break;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..take]);
                        if cut_in == Some(0) {
                            let _ = server_w.shutdown(std::net::Shutdown::Both);
                            let _ = client_r.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                    }
                    let _ = server_w.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Self { origin, sent }
    }

    fn sent(&self) -> Vec<u8> {
        self.sent.lock().unwrap().clone()
    }
}

async fn wait_receipt(b: &Browser, label: &str) -> String {
    b.wait_for(
        "(() => { const v = document.getElementById('receipt-view'); \
           return v && !v.hidden && v.getAttribute('data-mode') === 'browser' \
             && /\\d/.test((document.getElementById('receipt-digits') || {}).textContent || ''); })()",
        &format!("{label}: the receipt"),
        Duration::from_secs(60),
    )
    .await;
    b.text("#receipt-digits").await.trim().to_string()
}

/// Picks `path` in the form's file input, as a resident choosing a photo would.
async fn pick_file(b: &Browser, path: &Path) {
    b.find("input#files")
        .await
        .send_keys(path.to_str().unwrap())
        .await
        .expect("choose a file");
}

async fn shoot_evidence(b: &Browser, name: &str, width: u32) {
    let path = b.screenshot(name, width, 720).await;
    // And what the phone's screen shows of the evidence part itself.
    b.js("const e = document.getElementById('evidence'); if (e) e.scrollIntoView(); return true;")
        .await;
    let png = b.c.screenshot().await.expect("screenshot");
    std::fs::write(
        harness::screenshot_dir().join(format!("{name}-screen.png")),
        png,
    )
    .unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 2000, "{name}.png");
    let v = b
        .js("return [document.documentElement.scrollWidth, window.innerWidth];")
        .await;
    assert!(
        v[0].as_u64().unwrap() <= v[1].as_u64().unwrap(),
        "{name}: the page scrolls sideways at {width} px: {v}"
    );
}

/// The photo: cleaned in the page (the page says what was removed, from what it found in
/// the original), sent, and opened offline without GPS, serial, maker, model or time; the
/// server never saw the photo's bytes or its GPS block.
#[test]
fn a_phone_photo_loses_its_location_and_camera_in_the_browser() {
    let k = keyed();
    let recorder = Arc::new(Recorder::start(&k.server.public));
    let origin = recorder.origin.clone();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let (kk, rec, d) = (k.clone(), recorder.clone(), dir.clone());
    harness::run(move |wd| async move {
        let (k, recorder, dir) = (kk, rec, d);
        let b = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        b.goto("/zh/report").await;
        let photo = phone_photo(&b, dir.path()).await;
        let original = std::fs::read(&photo).unwrap();
        // Reload: the test's own drawing must not count as the page's doing.
        b.goto("/zh/report").await;
        let before = b
            .js("return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname);")
            .await;
        assert!(
            !before.to_string().contains("/assets/attach.js"),
            "the evidence bundle loads only when wanted: {before}"
        );
        assert!(
            !b.displayed("#evidence-nojs").await && b.displayed("#evidence-js-note").await,
            "with JavaScript the page says photos are cleaned on the phone"
        );
        b.type_into("textarea#body", "村会计把低保名单改了，照片是名单。")
            .await;
        pick_file(&b, &photo).await;
        b.wait_for(
            "document.querySelector('li.evidence-item[data-kind=photo] [data-removed=location]')",
            "the photo cleaned, with its location removed",
            WAIT,
        )
        .await;
        for what in ["location", "camera", "time", "software"] {
            let shown = b
                .text(&format!(
                    "li.evidence-item[data-kind=photo] [data-removed={what}]"
                ))
                .await;
            assert_eq!(
                shown,
                t(Lang::Zh, &format!("evidence-removed-{what}")),
                "the page says {what} was removed"
            );
        }
        assert_eq!(
            b.text("li.evidence-item [data-removed=location]").await,
            "位置信息已删除（照片是在哪里拍的）"
        );
        // The preview is the cleaned picture, turned upright.
        let size = b
            .js("const i = document.querySelector('img.evidence-preview'); return [i.naturalWidth, i.naturalHeight];")
            .await;
        assert_eq!(size, json!([200, 400]), "upright, as the phone was held");
        shoot_evidence(&b, "evidence-photo-zh-320", 320).await;
        shoot_evidence(&b, "evidence-photo-zh-360", 360).await;
        // The page with the evidence bundle and a preview: still nothing from elsewhere, no
        // cookie, no serious accessibility fault.
        assert_eq!(b.document_status().await, 200);
        assert!(b.displayed("img.evidence-preview").await);
        b.assert_same_origin_no_cookies("report page with a photo")
            .await;
        let fetched = b.fetched().await;
        assert!(
            fetched.iter().any(|u| u.ends_with("/assets/attach.js")),
            "{fetched:?}"
        );
        let axe = b.axe("report page with a photo (zh)").await;
        assert!(axe.severe().is_empty(), "{}", axe.describe());

        let started = Instant::now();
        b.click("button#report-submit").await;
        let receipt = wait_receipt(&b, "report with a photo").await;
        println!(
            "browser: a photo cleaned, sealed, uploaded and the tip sent in {} ms (receipt {})",
            started.elapsed().as_millis(),
            receipt.len()
        );
        assert_eq!(
            b.count("li.evidence-item").await,
            0,
            "the files are forgotten once sent"
        );
        // Nothing was kept on the phone: no storage of any kind holds keys or files.
        let stored =
            b.c.execute_async(
                r#"const done = arguments[arguments.length - 1];
                   const dbs = indexedDB.databases ? indexedDB.databases() : Promise.resolve([]);
                   dbs.then((d) => done([localStorage.length, sessionStorage.length, d.length]));"#,
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(stored, json!([0, 0, 0]), "local, session, IndexedDB");

        // Offline: the photo, opened, carries none of it (exiftool reads it).
        let tips = blocking(|| k.opened());
        assert_eq!(tips.len(), 1);
        let (tip, files) = &tips[0];
        assert_eq!(tip.attachments.len(), 1);
        let r = &tip.attachments[0];
        assert_eq!(r.kind, Kind::Photo);
        assert_eq!(r.mime, "image/jpeg");
        assert_eq!(r.name, None, "the file name is not kept unless asked");
        for what in ["location", "camera", "time", "software"] {
            assert!(r.removed.iter().any(|w| w == what), "{:?}", r.removed);
        }
        let cleaned = dir.path().join("opened.jpg");
        std::fs::write(&cleaned, &files[0]).unwrap();
        let tags = exiftool(&cleaned);
        assert_eq!(tags["File:FileType"], json!("JPEG"), "{tags}");
        for (name, value) in tags.as_object().unwrap() {
            let tag = name.rsplit(':').next().unwrap_or(name);
            assert!(
                !name.contains("GPS")
                    && ![
                        "Make",
                        "Model",
                        "SerialNumber",
                        "LensModel",
                        "DateTimeOriginal",
                        "CreateDate",
                        "ModifyDate",
                        "Software",
                        "Orientation",
                        "ThumbnailImage",
                        "ThumbnailOffset",
                    ]
                    .contains(&tag),
                "the opened photo still has {name} = {value}"
            );
            let value = value.to_string();
            for gone in [SERIAL, "HUAWEI", "ELE-L29", "2026:11:30", "Rear 27mm"] {
                assert!(!value.contains(gone), "{name} = {value} carries {gone}");
            }
        }
        // Chromium's encoder adds its own generic sRGB profile (the same for everyone: it says
        // nothing of the phone); nothing else but the picture's layout is there.
        if let Some(profile) = tags.get("ICC_Profile:ProfileDescription") {
            assert_eq!(profile, &json!("sRGB"), "{tags}");
        }
        assert_eq!(tags["File:ImageWidth"], json!(200), "{tags}");
        assert_eq!(tags["File:ImageHeight"], json!(400), "{tags}");

        // The server received ciphertext only: no piece of the photo, of its EXIF/GPS block,
        // or of the cleaned picture.
        let sent = recorder.sent();
        assert!(
            contains(&sent, b"/api/v1/uploads"),
            "the recorder saw the uploads"
        );
        let exif_at = original
            .windows(6)
            .position(|w| w == b"Exif\0\0")
            .expect("the original has EXIF");
        let gps_at = original
            .windows(SERIAL.len())
            .position(|w| w == SERIAL.as_bytes())
            .unwrap();
        let mid = original.len() / 2;
        let cleaned_mid = files[0].len() / 2;
        for (what, needle) in [
            ("the EXIF block", &original[exif_at..exif_at + 64]),
            ("the serial", &original[gps_at..gps_at + SERIAL.len()]),
            ("the photo's middle", &original[mid..mid + 48]),
            ("the photo's start", &original[..48]),
            (
                "the cleaned photo",
                &files[0][cleaned_mid..cleaned_mid + 48],
            ),
            ("the maker", b"HUAWEI".as_slice()),
        ] {
            assert!(!contains(&sent, needle), "the server received {what}");
        }
        // The GPS IFD itself: its latitude rationals as exiftool wrote them.
        let lat = exiftool(&photo)["GPS:GPSLatitude"].as_f64().unwrap();
        assert!((lat - 31.2304).abs() < 1e-3);
        assert!(
            !contains(&sent, &original[exif_at..]),
            "the whole EXIF tail"
        );

        // English, at 320 px: the words and the layout.
        b.goto("/en/report").await;
        pick_file(&b, &photo).await;
        b.wait_for(
            "document.querySelector('li.evidence-item [data-removed=location]')",
            "the photo cleaned (en)",
            WAIT,
        )
        .await;
        assert_eq!(
            b.text("li.evidence-item [data-removed=location]").await,
            t(lang_of("en"), "evidence-removed-location")
        );
        assert!(b
            .text("li.evidence-item [data-removed=location]")
            .await
            .contains("location removed"));
        shoot_evidence(&b, "evidence-photo-en-320", 320).await;
        // A photo this browser cannot open (HEIC in Chromium) is not added: sent as it is, it
        // would carry its location.
        let heic = dir.path().join("IMG_0001.HEIC");
        let mut fake = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
        fake.extend_from_slice(&[7u8; 4000]);
        std::fs::write(&heic, &fake).unwrap();
        pick_file(&b, &heic).await;
        b.wait_for(
            "(() => { const m = document.getElementById('evidence-message'); return m && !m.hidden; })()",
            "the refusal of a photo that cannot be cleaned",
            WAIT,
        )
        .await;
        assert_eq!(
            b.text("#evidence-message").await,
            t(lang_of("en"), "evidence-photo-failed")
        );
        assert_eq!(
            b.count("li.evidence-item").await,
            1,
            "only the cleaned photo"
        );
        b.close().await;
    });
}

/// The voice note: recorded from Chromium's fake microphone with the disguise on (the
/// default), played back on the page, sent, and opened offline as a 16 kHz mono 16-bit WAV
/// as long as what was recorded.
#[test]
fn a_voice_note_is_recorded_disguised_and_arrives_as_a_wav() {
    let k = keyed();
    let origin = k.server.public.clone();
    let kk = k.clone();
    harness::run(move |wd| async move {
        let k = kk;
        let b = Browser::open_with(
            &wd,
            &origin,
            Js::On,
            accept_language("en"),
            &[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        .await;
        b.goto("/en/report").await;
        b.type_into("textarea#body", "The accountant told me on the phone.")
            .await;
        b.click("button#voice-open").await;
        b.wait_for(
            "(() => { const s = document.getElementById('voice-start'); return s && s.getClientRects().length > 0; })()",
            "the recorder",
            WAIT,
        )
        .await;
        assert_eq!(
            b.js("return document.getElementById('voice-disguise').checked;")
                .await,
            json!(true),
            "the disguise is on by default"
        );
        shoot_evidence(&b, "evidence-voice-en-360", 360).await;
        b.click("button#voice-start").await;
        b.wait_for(
            "document.getElementById('evidence').getAttribute('data-recording') === '1'",
            "recording",
            WAIT,
        )
        .await;
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(3200)).await;
        let countdown = b.text("#voice-countdown").await;
        assert!(
            countdown.contains("4:5"),
            "the countdown shows the time left: {countdown:?}"
        );
        b.click("button#voice-stop").await;
        let wall = started.elapsed().as_secs_f64();
        b.wait_for(
            "document.querySelector('li.evidence-item[data-kind=voice] audio')",
            "the recorded note, ready to play",
            WAIT,
        )
        .await;
        let audio_src = b
            .attr("li.evidence-item[data-kind=voice] audio", "src")
            .await
            .unwrap();
        assert!(audio_src.starts_with("blob:"), "{audio_src}");
        // The page may play it back (media-src blob:): the browser reads its length.
        b.wait_for(
            "(() => { const a = document.querySelector('li.evidence-item[data-kind=voice] audio'); \
               return a && a.readyState >= 1 && a.duration > 2; })()",
            "the recorded note loaded for playback",
            WAIT,
        )
        .await;
        shoot_evidence(&b, "evidence-voice-recorded-en-320", 320).await;
        b.click("button#report-submit").await;
        wait_receipt(&b, "report with a voice note").await;

        let tips = blocking(|| k.opened());
        let (tip, files) = &tips[0];
        let r = &tip.attachments[0];
        assert_eq!(r.kind, Kind::Voice);
        assert_eq!(r.mime, "audio/wav");
        assert_eq!(r.disguised, Some(true));
        let seconds = r.seconds.expect("seconds");
        assert!(
            (seconds - wall).abs() < 1.0,
            "recorded {wall:.2} s by the clock, the note says {seconds}"
        );
        let wav = &files[0];
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(&wav[8..16], b"WAVEfmt ");
        let u16_at = |i: usize| u16::from_le_bytes([wav[i], wav[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(wav[i..i + 4].try_into().unwrap());
        assert_eq!(u16_at(20), 1, "PCM");
        assert_eq!(u16_at(22), 1, "mono");
        assert_eq!(u32_at(24), 16000);
        assert_eq!(u16_at(34), 16);
        assert_eq!(&wav[36..40], b"data");
        assert_eq!(u32_at(40) as usize, wav.len() - 44);
        let duration = (wav.len() - 44) as f64 / 32000.0;
        assert!(
            (duration - seconds).abs() < 0.05,
            "{duration} s of samples, {seconds} s said"
        );
        // And Python's wave module, an independent reader, agrees.
        let path = std::env::temp_dir().join(format!("wb-voice-{}.wav", std::process::id()));
        std::fs::write(&path, wav).unwrap();
        let py = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, wave; w = wave.open(sys.argv[1]); \
                 print(w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())",
            ])
            .arg(&path)
            .output()
            .expect("python3 runs");
        let _ = std::fs::remove_file(&path);
        let said = String::from_utf8_lossy(&py.stdout).trim().to_string();
        assert_eq!(
            said,
            format!("1 2 16000 {}", (wav.len() - 44) / 2),
            "python wave: {}",
            String::from_utf8_lossy(&py.stderr)
        );
        // Not silence: the fake microphone's beeps came through the vocoder.
        let loud = wav[44..]
            .chunks(2)
            .map(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs())
            .filter(|&a| a > 1000)
            .count();
        assert!(loud > 1000, "the note is silent ({loud} loud samples)");
        b.close().await;
    });
}

/// A follow-up with a document: the status page's follow-up form takes a file too. A PDF is
/// not cleaned (the page says so plainly), its name is kept only because the resident ticked
/// the box, and offline it opens to exactly the bytes chosen.
#[test]
fn a_follow_up_carries_a_document_sealed_as_it_is() {
    use whistlebox::domain::followup::open_followup;
    let k = keyed();
    let origin = k.server.public.clone();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let (kk, d) = (k.clone(), dir.clone());
    harness::run(move |wd| async move {
        let (k, dir) = (kk, d);
        let b = Browser::open(&wd, &origin, Js::On, accept_language("zh")).await;
        b.goto("/zh/report").await;
        b.type_into("textarea#body", "镇卫生院收回扣。").await;
        b.click("button#report-submit").await;
        let receipt = wait_receipt(&b, "the report").await;

        b.goto("/zh/status").await;
        b.type_into("input#status-receipt", &receipt).await;
        b.click("button#status-submit").await;
        b.wait_for(
            "(() => { const r = document.querySelector('#status-result[data-opened=browser]'); \
               const f = document.getElementById('followup'); return r && f && !f.hidden; })()",
            "the status answer with its follow-up form",
            WAIT,
        )
        .await;
        let pdf = dir.path().join("药费名单.pdf");
        let bytes = b"%PDF-1.4\n1 0 obj << /Author (Wang Jun) /CreationDate (D:20261130) >> endobj\n%%EOF\n";
        std::fs::write(&pdf, bytes).unwrap();
        pick_file(&b, &pdf).await;
        b.wait_for(
            "document.querySelector('#followup li.evidence-item[data-kind=file] .warning')",
            "the document, with its warning",
            WAIT,
        )
        .await;
        assert_eq!(
            b.text("#followup li.evidence-item .warning").await,
            t(Lang::Zh, "evidence-file-warning")
        );
        b.click("#followup input[name=keep_names]").await;
        shoot_evidence(&b, "evidence-followup-zh-320", 320).await;
        b.type_into("textarea#followup-body", "名单在附件里。")
            .await;
        b.click("button#followup-submit").await;
        b.wait_for(
            "(() => { const d = document.getElementById('followup-done'); return d && !d.hidden; })()",
            "the follow-up taken",
            Duration::from_secs(60),
        )
        .await;

        let bundle: Value = serde_json::from_slice(&blocking(|| k.server.export())).unwrap();
        let text = std::fs::read_to_string(k.inspectors.key_file()).unwrap();
        let keys = SecretKeys::from_file_text(&text, PASSPHRASE.as_bytes()).unwrap();
        let tip = &bundle["tips"][0];
        let plain = SealedTip::from_base64(tip["sealed"].as_str().unwrap(), usize::MAX)
            .unwrap()
            .open(&keys.box_key)
            .unwrap();
        assert!(plain.attachments.is_empty(), "the report itself had none");
        let f = &tip["followups"][0];
        let sealed = SealedTip::from_base64(f["sealed"].as_str().unwrap(), usize::MAX).unwrap();
        let opened = open_followup(&sealed, &keys.box_key, plain.bound_reply_key().as_ref())
            .expect("the follow-up opens");
        assert_eq!(opened.plain.body, "名单在附件里。");
        let r = &opened.plain.attachments[0];
        assert_eq!(r.kind, Kind::File);
        assert_eq!(r.cleaned, Some(false));
        assert_eq!(r.mime, "application/pdf");
        assert_eq!(
            r.name.as_deref(),
            Some("药费名单.pdf"),
            "kept: the box was ticked"
        );
        let blob = STANDARD
            .decode(f["attachments"][0].as_str().expect("the follow-up's blob"))
            .unwrap();
        assert_eq!(&open_blob(&blob, r).unwrap()[..], &bytes[..]);
        b.close().await;
    });
}

/// A dropped connection in the middle of a chunk: the page waits, asks what is missing,
/// sends it, and the report goes with the file exactly as chosen. (The upload client's
/// retries are tested in node too, test/attach.test.mjs; this is the real browser and the
/// real server.)
#[test]
fn an_upload_cut_off_mid_chunk_resumes_in_the_browser() {
    let k = keyed();
    let recorder = Arc::new(Recorder::start_cutting(&k.server.public, 2));
    let origin = recorder.origin.clone();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let (kk, rec, d) = (k.clone(), recorder.clone(), dir.clone());
    harness::run(move |wd| async move {
        let (k, recorder, dir) = (kk, rec, d);
        let b = Browser::open(&wd, &origin, Js::On, accept_language("en")).await;
        b.goto("/en/report").await;
        b.type_into("textarea#body", "The list is in the spreadsheet.")
            .await;
        // 700 kB of noise as a spreadsheet: three chunks, the second cut halfway.
        let mut bytes = vec![0u8; 700_000];
        whistlebox::crypto::random_fill(&mut bytes);
        let sheet = dir.path().join("list.xlsx");
        std::fs::write(&sheet, &bytes).unwrap();
        pick_file(&b, &sheet).await;
        b.wait_for(
            "document.querySelector('li.evidence-item[data-kind=file]')",
            "the spreadsheet in the list",
            WAIT,
        )
        .await;
        b.click("button#report-submit").await;
        wait_receipt(&b, "report after a dropped connection").await;
        let sent = recorder.sent();
        let puts = sent
            .windows(20)
            .filter(|w| w == b"PUT /api/v1/uploads/")
            .count();
        assert!(
            puts >= 4,
            "three chunks and the one cut sent again: {puts} PUTs"
        );
        assert!(
            contains(&sent, b"GET /api/v1/uploads/"),
            "the page asked what was missing"
        );
        let tips = blocking(|| k.opened());
        let (tip, files) = &tips[0];
        assert_eq!(tip.attachments[0].kind, Kind::File);
        assert_eq!(
            tip.attachments[0].mime,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        assert_eq!(files[0], bytes, "byte for byte what was chosen");
        b.close().await;
    });
}
