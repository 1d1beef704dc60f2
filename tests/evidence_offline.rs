//! Evidence files on the offline side, with the real binary: `whistlebox decrypt` writes
//! each file a sealed tip or follow-up names, byte for byte, under a safe name inside the
//! tip's folder, and refuses a blob swapped on the way; `whistlebox ack` holds back what
//! did not come; the desk imports the same bundle, keeps the blobs in its workspace, shows
//! images and sound on the case page and serves them (with the right headers, to its own
//! session only), still after a lock and after a restart, and fills in a file a later
//! bundle brings.
//!
//! The bundles are made with the library (`common::evidence`), as the server makes them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use common::desk::*;
use common::evidence::*;
use common::*;
use whistlebox::domain::attachment::{blob_digest, seal_file};
use whistlebox::domain::held::StoredTip;
use whistlebox::domain::tip::TipPlaintext;
use whistlebox::domain::TipId;

const WORDS: &str = "村主任把危房改造补助款转给了亲戚，照片和录音在附件里。";
const MORE: &str = "补充：这是领款名单。";
const PDF: &[u8] = b"%PDF-1.4\n% a list of names, with its author and dates still in it\n%%EOF\n";

/// The cases of the test bundle and what their files hold.
struct World {
    inspectors: Inspectors,
    root: tempfile::TempDir,
    photo: Vec<u8>,
    voice: Vec<u8>,
    /// A tip with a photo and a voice note, and a follow-up with a document.
    good: TipId,
    /// Its photo's blob swapped on the way for another blob.
    swapped: TipId,
    /// The carrier's list cut short: its photo's blob left out.
    short: TipId,
    /// Names that try to climb out of the folder, or hold control characters.
    hostile: TipId,
    /// A tip that binds no reply key, with a follow-up (not verified) with a file.
    unbound: TipId,
    /// The swapped tip as the server holds it, for a later export.
    swapped_whole: StoredTip,
    bundle: Vec<u8>,
}

fn world() -> World {
    let inspectors = Inspectors::new();
    let office = office_key(&inspectors);
    let resident = Resident::new(7);
    let photo = png(96, 64);
    let voice = Evidence::voice(1.5);
    let pdf = Evidence::document("application/pdf", PDF.to_vec(), Some("领款名单.pdf"));
    let id = |b: u8| TipId([b; 8]);

    let (sealed, blobs) = resident.tip(
        &office,
        WORDS,
        &[Evidence::photo(photo.clone()), voice.clone()],
    );
    let (f_sealed, f_blobs) = resident.followup(&office, MORE, &[pdf]);
    let good = entry(id(1), sealed, blobs, vec![(1, f_sealed, f_blobs)]);

    let (sealed, blobs) = resident.tip(
        &office,
        "乡卫生院收回扣",
        &[Evidence::photo(png(8, 8)), voice.clone()],
    );
    let swapped_whole = entry(id(2), sealed, blobs, vec![]);
    let mut swapped = swapped_whole.clone();
    swapped.attachments[0] = seal_file(&png(8, 8)).unwrap().blob;

    let (sealed, mut blobs) = resident.tip(
        &office,
        "粮站的秤不准",
        &[Evidence::photo(png(4, 4)), voice.clone()],
    );
    blobs.remove(0);
    let short = entry(id(3), sealed, blobs, vec![]);

    let mut climbing = Evidence::photo(png(2, 2));
    climbing.name = Some("../../x".into());
    let mut control = Evidence::document("text/plain", b"notes".to_vec(), None);
    control.name = Some("a\u{7}b\r\nc".into());
    let mut dots = Evidence::document("text/html", b"<script>alert(1)</script>".to_vec(), None);
    dots.name = Some("..".into());
    let (sealed, blobs) = resident.tip(&office, "车站卖油票", &[climbing, control, dots]);
    let hostile = entry(id(4), sealed, blobs, vec![]);

    let mut plain = TipPlaintext::new("没有回执钥匙的举报");
    plain.attachments = vec![];
    let sealed = plain.seal_to(std::slice::from_ref(&office)).unwrap();
    let (f_sealed, f_blobs) =
        Resident::new(9).followup(&office, "补充照片", &[Evidence::photo(png(16, 16))]);
    let unbound = entry(id(5), sealed, vec![], vec![(1, f_sealed, f_blobs)]);

    let bundle = bundle(&[
        good.clone(),
        swapped.clone(),
        short.clone(),
        hostile.clone(),
        unbound.clone(),
    ]);
    World {
        inspectors,
        root: tempfile::tempdir().unwrap(),
        photo,
        voice: voice.bytes,
        good: good.id,
        swapped: swapped.id,
        short: short.id,
        hostile: hostile.id,
        unbound: unbound.id,
        swapped_whole,
        bundle,
    }
}

/// Every file under `dir`, by path relative to it.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(base).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn has(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The acks inside a signed ack bundle, by tip id.
fn acks(signed: &[u8]) -> BTreeMap<String, Value> {
    let env: Value = serde_json::from_slice(signed).unwrap();
    let payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    let payload: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(payload["kind"], "ack");
    payload["acks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["tip"].as_str().unwrap().to_string(), a.clone()))
        .collect()
}

#[test]
fn decrypt_writes_the_files_exactly_and_refuses_what_was_changed() {
    let w = world();
    let out = w.root.path().join("tips");
    let first = w.inspectors.decrypt(&w.bundle, &out);
    let printed = String::from_utf8_lossy(&first.stdout).into_owned();
    assert_eq!(first.status.code(), Some(2), "{printed}");

    // The tip's photo and voice note, byte for byte, under safe names, owner-only.
    let good = out.join(w.good.to_string());
    let photo = good.join("files/01-photo.png");
    assert_eq!(std::fs::read(&photo).unwrap(), w.photo);
    assert_eq!(
        std::fs::read(good.join("files/02-voice.wav")).unwrap(),
        w.voice
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&photo), 0o600);
        assert_eq!(mode(&good.join("files")), 0o700);
    }
    // The follow-up's document, under the name the resident kept, made safe.
    assert_eq!(
        std::fs::read(good.join("followup-0001-files/01-领款名单.pdf")).unwrap(),
        PDF
    );
    // tip.json lists them, with what cleaning removed, and never a key.
    let meta: Value =
        serde_json::from_slice(&std::fs::read(good.join("tip.json")).unwrap()).unwrap();
    let files = meta["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["kind"], "photo");
    assert_eq!(files[0]["type"], "image/png");
    assert_eq!(files[0]["bytes"], w.photo.len());
    assert_eq!(
        files[0]["removed"],
        serde_json::json!(["location", "camera", "time"])
    );
    assert_eq!(files[0]["file"], "files/01-photo.png");
    assert_eq!(files[0]["state"], "opened");
    assert_eq!(files[1]["seconds"], 1.5);
    assert_eq!(files[1]["disguised"], true);
    let list: Value =
        serde_json::from_slice(&std::fs::read(good.join("followup-0001.files.json")).unwrap())
            .unwrap();
    assert_eq!(list[0]["cleaned"], false);
    assert_eq!(list[0]["file"], "followup-0001-files/01-领款名单.pdf");
    for text in [
        std::fs::read_to_string(good.join("tip.json")).unwrap(),
        std::fs::read_to_string(good.join("followup-0001.files.json")).unwrap(),
    ] {
        assert!(!text.contains("\"key\""), "{text}");
    }

    // The swapped photo is refused and named; the voice note of the same tip opens.
    let swapped = out.join(w.swapped.to_string());
    assert!(!swapped.join("files/01-photo.png").exists());
    assert_eq!(
        std::fs::read(swapped.join("files/02-voice.wav")).unwrap(),
        w.voice
    );
    let report = std::fs::read_to_string(out.join("not-opened.txt")).unwrap();
    let line = |id: TipId| {
        report
            .lines()
            .find(|l| l.starts_with(&format!("- tip {id}: file 1 (photo")))
            .unwrap_or_else(|| panic!("{id} not reported: {report}"))
            .to_string()
    };
    assert!(
        line(w.swapped).contains("changed or swapped on the way"),
        "{report}"
    );
    assert!(printed.contains(&line(w.swapped)[2..]), "{printed}");
    // The list cut short: the missing photo is reported by kind and size.
    let short = line(w.short);
    assert!(short.contains("did not come with the bundle"), "{short}");
    assert!(
        short.contains(" bytes,") || short.contains(" KB,"),
        "{short}"
    );
    assert!(!out
        .join(w.short.to_string())
        .join("files/01-photo.png")
        .exists());
    let meta: Value = serde_json::from_slice(
        &std::fs::read(out.join(w.short.to_string()).join("tip.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["files"][0]["state"], "missing");
    assert_eq!(meta["files"][1]["state"], "opened");
    assert!(
        printed.contains("2 evidence file(s) were not opened"),
        "{printed}"
    );
    assert!(
        !printed.contains("could not open"),
        "every message opened: {printed}"
    );

    // Hostile names stay inside the tip's folder, with the extension of their type.
    let hostile = out.join(w.hostile.to_string());
    let mut names: Vec<String> = std::fs::read_dir(hostile.join("files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["01-x.png", "02-a_b__c.txt", "03-file.bin"]);
    let everything = tree(w.root.path());
    assert!(
        everything.keys().all(|p| p.starts_with("tips")),
        "{:?}",
        everything.keys().collect::<Vec<_>>()
    );

    // A follow-up that cannot be checked keeps its mark on its files' folder.
    let unbound = out.join(w.unbound.to_string());
    assert!(unbound.join("followup-0001.NOT-VERIFIED.txt").exists());
    assert!(unbound
        .join("followup-0001.NOT-VERIFIED-files/01-photo.png")
        .exists());
    assert!(!unbound.join("followup-0001-files").exists());

    // The ack holds back the tips whose files did not all come: the server keeps them.
    let ack_path = w.root.path().join("ack.json");
    let ack = |extra: &[&str]| {
        let key = w.inspectors.key_file();
        let pass = w.inspectors.pass_file();
        let mut args = vec![
            "ack",
            "--key",
            key.to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
            "--tips",
            out.to_str().unwrap(),
            "--out",
            ack_path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let r = run(&args);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        (
            String::from_utf8_lossy(&r.stdout).into_owned(),
            acks(&std::fs::read(&ack_path).unwrap()),
        )
    };
    let (said, acked) = ack(&[]);
    assert!(said.contains("held back the ack of 2"), "{said}");
    assert_eq!(acked[&w.good.to_string()]["tip_sealed"], true);
    assert_eq!(
        acked[&w.good.to_string()]["followups"],
        serde_json::json!([1])
    );
    assert!(!acked.contains_key(&w.swapped.to_string()));
    assert!(!acked.contains_key(&w.short.to_string()));
    let (_, acked) = ack(&["--without-missing-files"]);
    assert_eq!(acked[&w.short.to_string()]["tip_sealed"], true);

    // A later export with the right blob fills in the file; the folder keeps its words.
    let again = w
        .inspectors
        .decrypt(&bundle(std::slice::from_ref(&w.swapped_whole)), &out);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert!(swapped.join("files/01-photo.png").exists());
    let meta: Value =
        serde_json::from_slice(&std::fs::read(swapped.join("tip.json")).unwrap()).unwrap();
    assert_eq!(meta["files"][0]["state"], "opened");
}

/// `GET` with the session, from the desk's own page.
fn fetch(desk: &DeskProc, path: &str, cookie: &str) -> BytesReply {
    desk.get_bytes(
        path,
        &[("Cookie", cookie), ("Sec-Fetch-Site", "same-origin")],
    )
}

#[test]
fn the_desk_keeps_shows_and_serves_the_files() {
    let w = world();
    let bundle_path = w.root.path().join("export.json");
    std::fs::write(&bundle_path, &w.bundle).unwrap();
    let ws = w.root.path().join("workspace");
    let start = |extra: &[&str]| {
        start_desk(
            &w.inspectors.key_file(),
            &ws,
            Some(&w.inspectors.pass_file()),
            extra,
        )
        .unwrap_or_else(|e| panic!("the desk did not open: {e:?}"))
    };
    let desk = start(&["--import", bundle_path.to_str().unwrap()]);
    let printed = desk.printed();
    assert!(
        printed.contains("5 new case(s), 2 new follow-up(s), 0 unchanged, 0 refused"),
        "{printed}"
    );
    assert!(
        printed.contains("9 evidence file(s) kept, 2 not kept"),
        "{printed}"
    );
    let cookie = desk.sign_in();

    // The case page: the photo inline, the voice note playable, the document a download
    // with the warning that it was not cleaned, and what cleaning removed.
    let page = desk.page(&format!("/zh/case/{}", w.good), &cookie);
    let tip = format!("/case/{}", w.good);
    assert!(
        page.contains(&format!("<img src=\"{tip}/file/1\"")),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<audio controls preload=\"metadata\" src=\"{tip}/file/2\""
        )),
        "{page}"
    );
    assert!(page.contains(&format!(
        "href=\"{tip}/followup/1/file/1\" download=\"01-领款名单.pdf\""
    )));
    assert!(
        page.contains("已去除：位置、相机信息（型号、序列号、镜头）、拍摄时间"),
        "{page}"
    );
    assert!(page.contains("这个文件没有经过清理"), "{page}");
    assert!(page.contains("声音已变声处理"), "{page}");
    assert!(page.contains("id=\"files-only-copy\""), "{page}");
    assert!(!page.contains("files-missing"), "{page}");
    let en = desk.page(&format!("/en/case/{}", w.good), &cookie);
    assert!(en.contains("Removed: location, camera (maker, model, serial, lens), time taken"));
    assert!(en.contains("This file was not cleaned"), "{en}");

    // The routes answer the exact bytes, with a type from the fixed list.
    let check = |desk: &DeskProc, cookie: &str| {
        let r = fetch(desk, &format!("{tip}/file/1"), cookie);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, w.photo);
        assert_eq!(r.header("Content-Type"), Some("image/png"));
        assert_eq!(
            r.header("Content-Disposition"),
            Some("inline; filename=\"01-photo.png\"; filename*=UTF-8''01-photo.png")
        );
        assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
        let csp = r.header("Content-Security-Policy").unwrap();
        assert!(
            csp.contains("img-src 'self'") && csp.contains("media-src 'self'"),
            "{csp}"
        );
        assert!(
            !csp.contains("blob:") && !csp.contains("script-src"),
            "{csp}"
        );
        let r = fetch(desk, &format!("{tip}/file/2"), cookie);
        assert_eq!(
            (r.status, r.header("Content-Type")),
            (200, Some("audio/wav"))
        );
        assert_eq!(r.body, w.voice);
        let r = fetch(desk, &format!("{tip}/followup/1/file/1"), cookie);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, PDF);
        assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
        assert!(r
            .header("Content-Disposition")
            .unwrap()
            .starts_with("attachment; filename=\"01-____.pdf\"; filename*=UTF-8''01-%E9%A2%86"));
    };
    check(&desk, &cookie);

    // HTML and text a resident sent are never served as such.
    let hostile = format!("/case/{}", w.hostile);
    for n in [2, 3] {
        let r = fetch(&desk, &format!("{hostile}/file/{n}"), &cookie);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
        assert!(r
            .header("Content-Disposition")
            .unwrap()
            .starts_with("attachment;"));
    }
    let r = fetch(&desk, &format!("{hostile}/file/3"), &cookie);
    assert_eq!(r.body, b"<script>alert(1)</script>");
    assert!(r
        .header("Content-Disposition")
        .unwrap()
        .contains("\"03-file.bin\""));

    // The guards: no session, another site, another host, no such file.
    let r = desk.get_bytes(&format!("{tip}/file/1"), &[]);
    assert_eq!((r.status, r.header("Location")), (303, Some("/zh/unlock")));
    assert!(r.body.is_empty());
    let r = desk.get_bytes(
        &format!("{tip}/file/1"),
        &[
            ("Cookie", cookie.as_str()),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    );
    assert_eq!(r.status, 403);
    assert!(!has(&r.body, &w.photo[..16]));
    let r = desk.get_bytes(
        &format!("{tip}/file/1"),
        &[("Cookie", cookie.as_str()), ("Host", "evil.example")],
    );
    assert_eq!(r.status, 421);
    for missing in [
        format!("{tip}/file/0"),
        format!("{tip}/file/3"),
        format!("{tip}/followup/2/file/1"),
        format!("/case/{}/file/1", w.short),
        "/case/ffffffffffffffff/file/1".to_string(),
    ] {
        assert_eq!(fetch(&desk, &missing, &cookie).status, 404, "{missing}");
    }

    // Files that did not come: named by kind and size; the case's ack waits for them.
    let page = desk.page(&format!("/zh/case/{}", w.swapped), &cookie);
    assert!(page.contains("id=\"files-missing\""), "{page}");
    assert!(page.contains("路上被改动或调换过"), "{page}");
    let page = desk.page(&format!("/zh/case/{}", w.short), &cookie);
    assert!(page.contains("没有随导出包送到"), "{page}");
    assert!(page.contains("照片 1 · "), "{page}");
    let page = desk.page(&format!("/zh/case/{}", w.unbound), &cookie);
    assert!(page.contains("以下文件也未能核实来自回执持有人"), "{page}");
    let r = desk.post_form("/zh/outbox", &cookie, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let ack = ws.join("outbox").join(
        r.body
            .split("href=\"/outbox/")
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].to_string())
            .find(|n| n.starts_with("ack-"))
            .unwrap(),
    );
    let acked = acks(&std::fs::read(&ack).unwrap());
    assert_eq!(acked[&w.good.to_string()]["tip_sealed"], true);
    assert_eq!(
        acked[&w.good.to_string()]["followups"],
        serde_json::json!([1])
    );
    assert!(!acked.contains_key(&w.swapped.to_string()), "{acked:?}");
    assert!(!acked.contains_key(&w.short.to_string()), "{acked:?}");
    let outbox = desk.page("/zh/outbox", &cookie);
    let waiting = outbox.split("id=\"waiting-files\"").nth(1).unwrap();
    let waiting = &waiting[..waiting.find("</p>").unwrap()];
    assert!(waiting.contains(&w.swapped.to_string()) && waiting.contains(&w.short.to_string()));
    assert!(!waiting.contains(&w.good.to_string()), "{waiting}");
    // Going on without the short case's photo lets it be acknowledged.
    desk.submit(&format!("/zh/case/{}/files/waive", w.short), &cookie, &[]);
    let outbox = desk.page("/zh/outbox", &cookie);
    assert!(outbox.contains("id=\"unacked-count\">1<"), "{outbox}");

    // Locked and unlocked again, the desk still serves them.
    desk.submit("/zh/lock", &cookie, &[]);
    assert_eq!(fetch(&desk, &format!("{tip}/file/1"), &cookie).status, 303);
    let r = desk.post_form("/zh/unlock", "", &[("passphrase", PASSPHRASE)]);
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = r
        .header("Set-Cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    check(&desk, &cookie);

    // At rest: one file per blob kept, named by its digest, holding exactly the blob; no
    // file's plaintext anywhere in the workspace.
    let files = tree(&ws.join("files"));
    assert_eq!(files.len(), 9, "{:?}", files.keys().collect::<Vec<_>>());
    for (name, blob) in &files {
        let hex: String = blob_digest(blob)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(name.to_string_lossy(), hex);
        assert!(blob.starts_with(b"WBA\x01"));
        #[cfg(unix)]
        assert_eq!(mode(&ws.join("files").join(name)), 0o600);
    }
    for (name, bytes) in tree(&ws) {
        for plain in [
            &w.photo[..],
            &w.voice[44..600],
            PDF,
            WORDS.as_bytes(),
            b"\x89PNG",
        ] {
            assert!(!has(&bytes, plain), "{name:?} holds a file's plaintext");
        }
    }
    drop(desk);

    // Restarted, with the later export that brings the swapped photo: filled in.
    let later = w.root.path().join("later.json");
    std::fs::write(&later, bundle(std::slice::from_ref(&w.swapped_whole))).unwrap();
    let desk = start(&["--import", later.to_str().unwrap()]);
    assert!(
        desk.printed()
            .contains("0 new case(s), 0 new follow-up(s), 0 unchanged, 0 refused"),
        "{}",
        desk.printed()
    );
    let cookie = desk.sign_in();
    check(&desk, &cookie);
    let page = desk.page(&format!("/zh/case/{}", w.swapped), &cookie);
    assert!(!page.contains("id=\"files-missing\""), "{page}");
    assert!(page.contains("补收到的文件： 1"), "{page}");
    let r = fetch(&desk, &format!("/case/{}/file/1", w.swapped), &cookie);
    assert_eq!(
        (r.status, r.header("Content-Type")),
        (200, Some("image/png"))
    );
    assert_eq!(tree(&ws.join("files")).len(), 10);
}

/// Peak memory of `decrypt` and of the desk's import (both ways: `--import` and the
/// browser's upload) for a bundle of a county's month with files: `EVIDENCE_TIPS` reports
/// (40), each with three photos of 2.5 MB and a voice note of 5 MB (random bytes, sealed as
/// blobs), about 690 MB once in the bundle. Prints one table; with `OLD_WHISTLEBOX` set to
/// another build, measures it too. Asserts that each peak stays under the bundle's size
/// plus the fixed costs (the key's Argon2id 256 MiB for `decrypt`), as reading it in place
/// promises; a reader that decodes every blob beside the bundle fails it. Slow and large:
/// `cargo test --test evidence_offline -- --ignored --nocapture`.
#[test]
#[ignore]
fn a_county_bundle_with_files_fits_in_memory() {
    let n: usize = std::env::var("EVIDENCE_TIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let inspectors = Inspectors::new();
    let office = office_key(&inspectors);
    let root = tempfile::tempdir().unwrap();
    let mut tips = Vec::new();
    let mut seed = 1u64;
    let mut random = |len: usize| {
        (0..len)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) as u8
            })
            .collect::<Vec<u8>>()
    };
    for i in 0..n {
        let files = [
            Evidence::photo(random(2_500_000)),
            Evidence::photo(random(2_500_000)),
            Evidence::photo(random(2_500_000)),
            Evidence::document("audio/wav", random(5_000_000), None),
        ];
        let (sealed, blobs) = Resident::new(i as u8).tip(&office, "村里的账", &files);
        let mut id = [0u8; 8];
        id[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
        tips.push(entry(TipId(id), sealed, blobs, vec![]));
    }
    let bytes = bundle(&tips);
    drop(tips);
    let path = root.path().join("export.json");
    std::fs::write(&path, &bytes).unwrap();
    let size = bytes.len() as f64 / (1 << 20) as f64;
    drop(bytes);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut rows = vec![format!("| bundle | {n} reports, {size:.0} MiB |")];
    let builds: Vec<(String, String)> =
        std::iter::once(("this build".to_string(), bin().to_string()))
            .chain(
                std::env::var("OLD_WHISTLEBOX")
                    .ok()
                    .map(|b| ("OLD_WHISTLEBOX".to_string(), b)),
            )
            .collect();
    for (label, exe) in &builds {
        // decrypt, under /usr/bin/time.
        let out = root.path().join(format!("tips-{}", label.len()));
        let r = std::process::Command::new("/usr/bin/time")
            .args(["-v", exe, "decrypt", "--key"])
            .arg(inspectors.key_file())
            .arg("--passphrase-file")
            .arg(inspectors.pass_file())
            .arg("--bundle")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(r.status.success(), "{err}");
        let peak: u64 = err
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Maximum resident set size (kbytes): ")
            })
            .unwrap()
            .parse()
            .unwrap();
        rows.push(format!("| decrypt, {label} | peak {:.0} MiB |", mib(peak)));
        if label == "this build" {
            assert!(mib(peak) < size + 256.0 + 160.0, "{}", rows.join("\n"));
        }
        // The desk: --import, then an upload as the browser sends it.
        for how in ["--import", "upload"] {
            let ws = root.path().join(format!("ws-{}-{how}", label.len()));
            let mut args = vec!["desk", "--bind", "127.0.0.1:0", "--key"];
            let key = inspectors.key_file();
            let pass = inspectors.pass_file();
            args.push(key.to_str().unwrap());
            args.extend(["--workspace", ws.to_str().unwrap()]);
            args.extend(["--passphrase-file", pass.to_str().unwrap()]);
            if how == "--import" {
                args.extend(["--import", path.to_str().unwrap()]);
            }
            let mut child = std::process::Command::new(exe)
                .args(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let pid = child.id();
            let mut lines =
                std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
            let link = loop {
                match lines.next() {
                    Some(line) => {
                        let line = line.unwrap();
                        let open = "the desk is open: sign in once at http://";
                        if let Some(url) = line.strip_prefix(open) {
                            break Some(url.to_string());
                        }
                    }
                    None => break None,
                }
            };
            let Some(link) = link else {
                let out = child.wait_with_output().unwrap();
                let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
                assert_ne!(label, "this build", "{why}");
                rows.push(format!("| desk {how}, {label} | did not open: {why} |"));
                continue;
            };
            let hwm = || -> u64 {
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .unwrap()
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .unwrap()
                    .trim()
                    .trim_end_matches(" kB")
                    .parse()
                    .unwrap()
            };
            let before = hwm();
            if how == "upload" {
                let (host, signin) = link.split_once('/').unwrap();
                let agent = ureq::AgentBuilder::new().redirects(0).build();
                let r = agent
                    .get(&format!("http://{host}/{signin}"))
                    .call()
                    .unwrap();
                let cookie = r
                    .header("Set-Cookie")
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .to_string();
                let boundary = "----measure";
                let mut body = format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"bundle\"; \
                     filename=\"export.json\"\r\nContent-Type: application/json\r\n\r\n"
                )
                .into_bytes();
                body.extend_from_slice(&std::fs::read(&path).unwrap());
                body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
                let r = agent
                    .post(&format!("http://{host}/zh/import"))
                    .set("Cookie", &cookie)
                    .set("Origin", &format!("http://{host}"))
                    .set(
                        "Content-Type",
                        &format!("multipart/form-data; boundary={boundary}"),
                    )
                    .send_bytes(&body);
                drop(body);
                match r {
                    Ok(r) => {
                        let page = r.into_string().unwrap();
                        assert!(page.contains(&format!("id=\"new-cases\">{n}<")), "{page}");
                    }
                    Err(ureq::Error::Status(code, r)) => {
                        assert_ne!(label, "this build", "{code}");
                        let page = r.into_string().unwrap_or_default();
                        let why = page
                            .split("role=\"alert\">")
                            .nth(1)
                            .and_then(|s| s.split('<').next())
                            .unwrap_or("")
                            .to_string();
                        rows.push(format!("| desk {how}, {label} | refused ({code}): {why} |"));
                        let _ = child.kill();
                        let _ = child.wait();
                        continue;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            let peak = hwm();
            let _ = child.kill();
            let _ = child.wait();
            rows.push(format!(
                "| desk {how}, {label} | peak {:.0} MiB (after unlock, before the import: {:.0} MiB) |",
                mib(peak),
                mib(before)
            ));
            if label == "this build" {
                assert!(mib(peak) < size + 256.0 + 160.0, "{}", rows.join("\n"));
            }
        }
    }
    println!("{}", rows.join("\n"));
}
