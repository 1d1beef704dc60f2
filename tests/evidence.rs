//! Evidence files through the real server (`docs/attachments.md`): uploads that survive a cut
//! connection and a SIGKILL, tips that exist only with all their files, and every refusal
//! with a plain sentence and nothing stored. The files are sealed here with the library,
//! as the page's script seals them, and opened from the export with the inspectors' key.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use common::*;
use whistlebox::bundle::{parse_export, BundleLimits};
use whistlebox::crypto::BoxPublicKey;
use whistlebox::domain::attachment::{
    blob_len, open_blob, seal_file, AttachmentRef, Kind, UPLOAD_CHUNK_BYTES,
};
use whistlebox::domain::keys::SecretKeys;
use whistlebox::domain::tip::TipPlaintext;

/// A file sealed as the page seals it: the blob to upload and its reference.
struct Evidence {
    file: Vec<u8>,
    blob: Vec<u8>,
    reference: AttachmentRef,
}

fn evidence(len: usize, seed: u8, kind: Kind, mime: &str) -> Evidence {
    whistlebox::crypto::init().unwrap();
    let mut file = vec![0u8; len];
    whistlebox::crypto::random_fill(&mut file);
    if let Some(first) = file.first_mut() {
        *first = seed;
    }
    let sealed = seal_file(&file).unwrap();
    let reference = AttachmentRef::for_sealed(kind, mime, len as u64, &sealed);
    Evidence {
        file,
        blob: sealed.blob.clone(),
        reference,
    }
}

fn put(server: &Server, path: &str, content_type: &str, body: &[u8]) -> Reply {
    reply(
        agent()
            .put(&format!("{}{path}", server.public))
            .set("Content-Type", content_type)
            .send_bytes(body),
    )
}

/// Starts an upload of `len` bytes; its id.
fn start(server: &Server, len: usize) -> String {
    let r = server.post_json("/api/v1/uploads", &json!({ "bytes": len }));
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["chunk_bytes"], UPLOAD_CHUNK_BYTES);
    assert_eq!(v["chunks"], len.div_ceil(UPLOAD_CHUNK_BYTES));
    v["upload"].as_str().unwrap().to_owned()
}

fn chunk_of(blob: &[u8], i: usize) -> &[u8] {
    let end = ((i + 1) * UPLOAD_CHUNK_BYTES).min(blob.len());
    &blob[i * UPLOAD_CHUNK_BYTES..end]
}

fn send_chunk(server: &Server, id: &str, blob: &[u8], i: usize) -> Reply {
    put(
        server,
        &format!("/api/v1/uploads/{id}/{i}"),
        "application/octet-stream",
        chunk_of(blob, i),
    )
}

fn missing(server: &Server, id: &str) -> Vec<usize> {
    let r = server.get(&format!("/api/v1/uploads/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

/// Uploads a blob whole; its id.
fn upload(server: &Server, blob: &[u8]) -> String {
    let id = start(server, blob.len());
    for i in 0..blob.len().div_ceil(UPLOAD_CHUNK_BYTES) {
        let r = send_chunk(server, &id, blob, i);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert!(missing(server, &id).is_empty());
    id
}

/// A tip naming its files, sealed to the inspectors' key.
fn seal_with_files(server: &Server, body: &str, files: &[&Evidence]) -> String {
    let mut tip = TipPlaintext::new(body);
    tip.attachments = files.iter().map(|e| e.reference.clone()).collect();
    let key = BoxPublicKey::from_bytes(&server.box_key()).unwrap();
    STANDARD.encode(tip.seal(&key).unwrap().as_bytes())
}

fn submit(server: &Server, sealed: &str, uploads: &[&str]) -> Reply {
    server.post_json(
        "/api/v1/tips",
        &json!({ "sealed": sealed, "uploads": uploads }),
    )
}

/// Every tip of the export, opened with the inspectors' key: its words, its files as the
/// sealed tip names them (each checked against its blob), and its follow-ups' blob counts.
fn opened(inspectors: &Inspectors, bundle: &[u8]) -> Vec<(String, Vec<Vec<u8>>)> {
    let text = std::fs::read_to_string(inspectors.key_file()).unwrap();
    let keys = SecretKeys::from_file_text(&text, PASSPHRASE.as_bytes()).unwrap();
    let parsed = parse_export(bundle, &BundleLimits::default()).unwrap();
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    parsed
        .tips
        .iter()
        .filter_map(|t| {
            let sealed = t.sealed.as_ref()?;
            let plain = sealed.open(&keys.box_key).unwrap();
            assert_eq!(plain.attachments.len(), t.attachments.len());
            let files = plain
                .attachments
                .iter()
                .zip(&t.attachments)
                .map(|(r, blob)| open_blob(blob, r).unwrap().to_vec())
                .collect();
            Some((plain.body.clone(), files))
        })
        .collect()
}

/// The address of a listener, for a raw socket.
fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Sends a chunk's head and only part of its body, then drops the connection, as a phone
/// that loses its signal does.
fn send_cut_chunk(server: &Server, id: &str, i: usize, blob: &[u8]) {
    let chunk = chunk_of(blob, i);
    let mut s = TcpStream::connect(host_of(&server.public)).unwrap();
    write!(
        s,
        "PUT /api/v1/uploads/{id}/{i} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        host_of(&server.public),
        chunk.len()
    )
    .unwrap();
    s.write_all(&chunk[..chunk.len() / 3]).unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
}

#[test]
fn a_15_mib_upload_cut_off_and_resumed_gives_the_exact_file() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    let video = evidence(15 * 1024 * 1024, 1, Kind::File, "video/mp4");
    let photo = evidence(900_000, 2, Kind::Photo, "image/jpeg");
    assert_eq!(video.blob.len() as u64, blob_len(video.file.len() as u64));
    let chunks = video.blob.len().div_ceil(UPLOAD_CHUNK_BYTES);
    assert!(chunks > 60, "{chunks} chunks");

    let id = start(&server, video.blob.len());
    // The first half goes through; then the signal drops in the middle of a chunk.
    for i in 0..chunks / 2 {
        assert_eq!(send_chunk(&server, &id, &video.blob, i).status, 200);
    }
    send_cut_chunk(&server, &id, chunks / 2, &video.blob);
    let left = missing(&server, &id);
    assert_eq!(
        left,
        (chunks / 2..chunks).collect::<Vec<_>>(),
        "the cut chunk is not kept"
    );

    // A report sent now is refused whole, and nothing of it is stored.
    let photo_id = upload(&server, &photo.blob);
    let sealed = seal_with_files(
        &server,
        "补贴名单是伪造的，照片和视频在附件里。",
        &[&photo, &video],
    );
    let r = submit(&server, &sealed, &[&photo_id, &id]);
    let msg = r.assert_error(409);
    assert!(msg.contains("not finished uploading"), "{msg}");
    assert_eq!(server.tip_count(), 0);

    // The page asks what is missing and sends only that (one chunk twice: a lost answer).
    for i in left {
        assert_eq!(send_chunk(&server, &id, &video.blob, i).status, 200);
    }
    assert_eq!(
        send_chunk(&server, &id, &video.blob, chunks - 1).status,
        200
    );
    assert!(missing(&server, &id).is_empty());
    let r = submit(&server, &sealed, &[&photo_id, &id]);
    assert_eq!(r.status, 201, "{}", r.body);
    let receipt = r.json()["receipt"].as_str().unwrap().to_owned();
    assert_eq!(server.status(&receipt).status, 200);

    let tips = opened(&inspectors, &server.export());
    assert_eq!(tips.len(), 1);
    assert_eq!(tips[0].1.len(), 2);
    assert!(tips[0].1[0] == photo.file, "the photo opens byte for byte");
    assert!(
        tips[0].1[1] == video.file,
        "the 15 MiB file opens byte for byte"
    );
    // Used uploads take nothing more.
    let r = send_chunk(&server, &id, &video.blob, 0);
    r.assert_error(409);
}

#[test]
fn sigkill_mid_upload_loses_no_acknowledged_tip_and_shows_no_half_tip() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let files: Vec<Evidence> = (0..3)
        .map(|i| evidence(2_500_000 + i * 100_000, i as u8, Kind::Photo, "image/jpeg"))
        .collect();
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    for round in 0..3 {
        let mut server = site.start(&[]);
        let ids: Vec<String> = files.iter().map(|f| start(&server, f.blob.len())).collect();
        // Chunks go up from a second thread; the server dies under it at a random moment.
        let url = server.public.clone();
        let work: Vec<(String, Vec<u8>)> = ids
            .iter()
            .zip(&files)
            .map(|(id, f)| (id.clone(), f.blob.clone()))
            .collect();
        let sender = std::thread::spawn(move || {
            let mut answered = Vec::new();
            for (id, blob) in &work {
                for i in 0..blob.len().div_ceil(UPLOAD_CHUNK_BYTES) {
                    let sent = agent()
                        .put(&format!("{url}/api/v1/uploads/{id}/{i}"))
                        .set("Content-Type", "application/octet-stream")
                        .send_bytes(chunk_of(blob, i));
                    match sent {
                        Ok(r) if r.status() == 200 => answered.push((id.clone(), i)),
                        Ok(r) => panic!("unexpected {}", r.status()),
                        Err(_) => return answered,
                    }
                }
            }
            answered
        });
        let mut b = [0u8; 2];
        whistlebox::crypto::random_fill(&mut b);
        std::thread::sleep(Duration::from_millis(
            150 + u64::from(u16::from_le_bytes(b)) % 600,
        ));
        server.kill9();
        let answered = sender.join().unwrap();

        let server = site.start(&[]);
        // Every chunk that was answered is on disk; no report is half there.
        for (id, i) in &answered {
            assert!(
                !missing(&server, id).contains(i),
                "round {round}: chunk {i} was answered but lost"
            );
        }
        let before = opened(&inspectors, &server.export());
        assert_eq!(
            before.len(),
            acknowledged.len(),
            "round {round}: no half report"
        );
        for (receipt, _) in &acknowledged {
            assert_eq!(server.status(receipt).status, 200);
        }
        // The page resumes: what is missing, then the report.
        for (id, f) in ids.iter().zip(&files) {
            for i in missing(&server, id) {
                assert_eq!(send_chunk(&server, id, &f.blob, i).status, 200);
            }
        }
        let body = format!("第{round}次：村委会的账本照片。");
        let sealed = seal_with_files(&server, &body, &files.iter().collect::<Vec<_>>());
        let names: Vec<&str> = ids.iter().map(String::as_str).collect();
        let r = submit(&server, &sealed, &names);
        assert_eq!(r.status, 201, "{}", r.body);
        acknowledged.push((r.json()["receipt"].as_str().unwrap().to_owned(), body));
        let mut server = server;
        // Killed right after the answer: the report and all its files are there after.
        server.kill9();
    }
    let server = site.start(&[]);
    let tips = opened(&inspectors, &server.export());
    assert_eq!(tips.len(), acknowledged.len());
    for (receipt, body) in &acknowledged {
        assert_eq!(server.status(receipt).status, 200);
        let (_, got) = tips.iter().find(|(b, _)| b == body).expect("its tip");
        assert_eq!(got.len(), files.len());
        for (g, f) in got.iter().zip(&files) {
            assert!(*g == f.file, "a file opens byte for byte");
        }
    }
}

#[test]
fn refusals_are_plain_and_store_nothing() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&["--max-pending-upload-bytes", "40000000"]);
    let small = evidence(1000, 1, Kind::Photo, "image/jpeg");
    let blob = &small.blob;

    // Starting: a length no encrypted file has, one over the limit, not JSON.
    server
        .post_json("/api/v1/uploads", &json!({ "bytes": 12345 }))
        .assert_error(400);
    let huge = blob_len(25 * 1024 * 1024);
    server
        .post_json("/api/v1/uploads", &json!({ "bytes": huge }))
        .assert_error(413);
    server
        .post_raw(
            "/api/v1/uploads",
            "application/json",
            "{\"bytes\":\"many\"}",
        )
        .assert_error(400);

    // Chunks: unknown upload, bad id, wrong type, wrong length, beyond the end, too long,
    // not a number, and other bytes for a chunk already stored.
    let id = start(&server, blob.len());
    let unknown = "0123456789abcdef0123456789abcdef";
    put(
        &server,
        &format!("/api/v1/uploads/{unknown}/0"),
        "application/octet-stream",
        blob,
    )
    .assert_error(404);
    server
        .get(&format!("/api/v1/uploads/{unknown}"))
        .assert_error(404);
    put(
        &server,
        "/api/v1/uploads/nothex/0",
        "application/octet-stream",
        blob,
    )
    .assert_error(400);
    put(
        &server,
        &format!("/api/v1/uploads/{id}/0"),
        "text/plain",
        blob,
    )
    .assert_error(415);
    put(
        &server,
        &format!("/api/v1/uploads/{id}/0"),
        "application/octet-stream",
        &blob[..100],
    )
    .assert_error(400);
    put(
        &server,
        &format!("/api/v1/uploads/{id}/1"),
        "application/octet-stream",
        blob,
    )
    .assert_error(400);
    put(
        &server,
        &format!("/api/v1/uploads/{id}/0"),
        "application/octet-stream",
        &vec![0u8; UPLOAD_CHUNK_BYTES + 1],
    )
    .assert_error(413);
    put(
        &server,
        &format!("/api/v1/uploads/{id}/x"),
        "application/octet-stream",
        blob,
    )
    .assert_error(400);
    assert_eq!(missing(&server, &id), vec![0], "nothing of those was kept");
    assert_eq!(send_chunk(&server, &id, blob, 0).status, 200);
    let mut other = blob.clone();
    other[50] ^= 1;
    put(
        &server,
        &format!("/api/v1/uploads/{id}/0"),
        "application/octet-stream",
        &other,
    )
    .assert_error(409);

    // Reports: an unknown upload, a bad id, too many files, one named twice, too much in
    // all. Each refused whole: no tip, and the uploads still waiting.
    let sealed = seal_with_files(&server, "账目不对。", &[&small]);
    submit(&server, &sealed, &[unknown]).assert_error(404);
    submit(&server, &sealed, &["zz"]).assert_error(400);
    let eleven: Vec<String> = (0..11).map(|_| upload(&server, blob)).collect();
    let names: Vec<&str> = eleven.iter().map(String::as_str).collect();
    let msg = submit(&server, &sealed, &names).assert_error(400);
    assert!(msg.contains("10 files"), "{msg}");
    submit(&server, &sealed, &[&id, &id]).assert_error(409);
    let big_a = evidence(20 * 1024 * 1024, 3, Kind::File, "video/mp4");
    let big_b = evidence(14 * 1024 * 1024, 4, Kind::File, "video/mp4");
    let a = upload(&server, &big_a.blob);
    // The pending limit (40 MB here) counts what arrived: a second 20 MiB file fills it,
    // and the chunk that would go past it is refused and not kept.
    let again = start(&server, big_a.blob.len());
    let refused = (0..big_a.blob.len().div_ceil(UPLOAD_CHUNK_BYTES))
        .find(|&i| {
            let r = send_chunk(&server, &again, &big_a.blob, i);
            assert!(r.status == 200 || r.status == 503, "{}", r.body);
            r.status == 503
        })
        .expect("the limit is reached");
    assert!(missing(&server, &again).contains(&refused));
    // The resident takes it off the list: its room comes back.
    let r = reply(
        agent()
            .delete(&format!("{}/api/v1/uploads/{again}", server.public))
            .call(),
    );
    assert_eq!(r.status, 204);
    server
        .get(&format!("/api/v1/uploads/{again}"))
        .assert_error(404);
    // Ten small ones become reports of their own.
    for name in &eleven[1..] {
        let r = submit(
            &server,
            &seal_with_files(&server, "又一张。", &[&small]),
            &[name],
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let b = upload(&server, &big_b.blob);
    let two = seal_with_files(&server, "两段视频。", &[&big_a, &big_b]);
    let msg = submit(&server, &two, &[&a, &b]).assert_error(413);
    assert!(msg.contains("32 MiB"), "{msg}");
    let tips_before = server.tip_count();
    assert_eq!(tips_before, 10);
    for used in [&a, &b, &id, &eleven[0]] {
        let v = server.get(&format!("/api/v1/uploads/{used}")).json();
        assert_eq!(v["used"], false, "still waiting after a refusal");
    }
    // A follow-up under an unknown receipt names files: refused, and they stay waiting.
    let r = server.post_json(
        "/api/v1/followups",
        &json!({ "receipt": "1234 5678 9012 3456 7", "sealed": sealed, "uploads": [&id] }),
    );
    assert!(r.status == 400 || r.status == 404, "{}", r.body);
    let v = server.get(&format!("/api/v1/uploads/{id}")).json();
    assert_eq!(v["used"], false);
    // A report with one upload that is used: refused.
    let r = submit(&server, &sealed, &[&id]);
    assert_eq!(r.status, 201, "{}", r.body);
    submit(&server, &sealed, &[&id]).assert_error(409);
    assert_eq!(server.tip_count(), tips_before + 1);
}

#[test]
fn follow_ups_carry_files_and_acks_delete_them() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    let receipt = server.submit_bound("卫生院收红包。", &[]);
    let voice = evidence(480_044, 5, Kind::Voice, "audio/wav");
    let id = upload(&server, &voice.blob);
    let mut note = TipPlaintext::new("这是录音。");
    note.attachments = vec![voice.reference.clone()];
    let key = BoxPublicKey::from_bytes(&server.box_key()).unwrap();
    let sealed = STANDARD.encode(note.seal(&key).unwrap().as_bytes());
    let r = server.post_json(
        "/api/v1/followups",
        &json!({ "receipt": receipt, "sealed": sealed, "uploads": [&id] }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let bundle: Value = serde_json::from_slice(&server.export()).unwrap();
    let f = &bundle["tips"][0]["followups"][0];
    let blobs = f["attachments"].as_array().expect("the follow-up's files");
    assert_eq!(blobs.len(), 1);
    assert_eq!(
        STANDARD.decode(blobs[0].as_str().unwrap()).unwrap(),
        voice.blob
    );
    let data = site.data();
    let needle = &voice.blob[300_000..300_064];
    assert!(holds(&data, needle), "the blob is on disk");

    // The inspectors open the bundle and ack it: the server deletes the file with its
    // follow-up, from every file of the data folder.
    let out = site.root.path().join("opened");
    let o = inspectors.decrypt(&server.export(), &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ack_path = site.root.path().join("ack.json");
    let o = run(&[
        "ack",
        "--key",
        inspectors.key_file().to_str().unwrap(),
        "--passphrase-file",
        inspectors.pass_file().to_str().unwrap(),
        "--out",
        ack_path.to_str().unwrap(),
        "--tips",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = server.import(&std::fs::read(&ack_path).unwrap());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(server.tip_count(), 0);
    assert!(!holds(&data, needle), "the acked file left the disk");
    let v = server.get(&format!("/api/v1/uploads/{id}"));
    v.assert_error(404);
}

/// Whether any file under `root` holds `needle`.
fn holds(root: &std::path::Path, needle: &[u8]) -> bool {
    walk(root).iter().any(|p| {
        std::fs::read(p)
            .map(|b| b.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
    })
}

fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Writes a request of `head` and `body` at about `rate` bytes a second (in 4 KiB steps),
/// stopping after `stop_after` bytes when given, then reads the answer's status line.
fn trickle(
    server: &Server,
    head: &str,
    body: &[u8],
    rate: usize,
    stop_after: Option<usize>,
) -> (String, Duration) {
    let started = std::time::Instant::now();
    let mut s = TcpStream::connect(host_of(&server.public)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let step = 4096;
    let pause = Duration::from_secs_f64(step as f64 / rate as f64);
    let end = stop_after.unwrap_or(body.len());
    for part in body[..end].chunks(step) {
        if s.write_all(part).is_err() {
            break;
        }
        std::thread::sleep(pause);
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = std::io::Read::read(&mut s, &mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    (
        text.lines().next().unwrap_or("").to_owned(),
        started.elapsed(),
    )
}

#[test]
fn a_slow_line_may_send_files_while_it_keeps_up_and_a_stalled_one_is_cut() {
    let site = Site::new();
    let server = site.start(&["--request-deadline-secs", "2"]);
    let file = evidence(300_000, 9, Kind::Photo, "image/jpeg");
    let id = start(&server, file.blob.len());
    let chunk = chunk_of(&file.blob, 0);
    let head = |i: usize, len: usize| {
        format!(
            "PUT /api/v1/uploads/{id}/{i} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    // 256 KiB at 40 KiB/s: six seconds, three times the deadline, and taken.
    let (status, took) = trickle(&server, &head(0, chunk.len()), chunk, 40 * 1024, None);
    assert!(status.contains(" 200 "), "{status}");
    assert!(took > Duration::from_secs(4), "{took:?}");
    assert_eq!(missing(&server, &id), vec![1]);
    // A chunk that stops coming is cut about when any other body would be.
    let last = chunk_of(&file.blob, 1);
    let (status, took) = trickle(&server, &head(1, last.len()), last, 40 * 1024, Some(8192));
    assert!(status.contains(" 408 "), "{status}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    // One that falls far behind 8 KiB/s is cut too.
    let (status, _) = trickle(&server, &head(1, last.len()), last, 2 * 1024, None);
    assert!(status.contains(" 408 "), "{status}");
    assert_eq!(missing(&server, &id), vec![1], "nothing of those was kept");
    // A JSON tip at the same slow pace keeps the usual deadline.
    let tip = json!({ "sealed": STANDARD.encode(vec![1u8; 200_000]) }).to_string();
    let head = format!(
        "POST /api/v1/tips HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        tip.len()
    );
    let (status, _) = trickle(&server, &head, tip.as_bytes(), 40 * 1024, None);
    assert!(status.contains(" 408 "), "{status}");
}

/// A `multipart/form-data` body: text fields, then files (name, type, bytes).
fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----whistlebox-test-7f3a9c";
    let mut body = Vec::new();
    for (name, value) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    for (filename, mime, bytes) in files {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{filename}\"\r\nContent-Type: {mime}\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn post_form(server: &Server, path: &str, content_type: &str, body: &[u8]) -> Reply {
    reply(
        agent()
            .post(&format!("{}{path}", server.public))
            .set("Content-Type", content_type)
            .send_bytes(body),
    )
}

/// A JPEG from a phone: a real picture, with GPS, the camera's make, model and serial and
/// the time written into it by exiftool (an independent writer).
fn phone_photo(dir: &std::path::Path) -> Vec<u8> {
    let img = image::RgbImage::from_fn(1200, 900, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let path = dir.join("IMG_20261130_091500.jpg");
    img.save(&path).unwrap();
    let out = std::process::Command::new("exiftool")
        .args([
            "-q",
            "-overwrite_original",
            "-GPSLatitude=24.4798",
            "-GPSLatitudeRef=N",
            "-GPSLongitude=118.0894",
            "-GPSLongitudeRef=E",
            "-Make=Huawei",
            "-Model=P40 Pro",
            "-SerialNumber=HW-SN-0042-7788",
            "-DateTimeOriginal=2026:11:30 09:15:00",
            "-Comment=taken at the village office",
        ])
        .arg(&path)
        .output()
        .expect("exiftool (Debian: libimage-exiftool-perl) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tags = exiftool(&std::fs::read(&path).unwrap(), dir);
    assert!(
        tags.get("GPSLatitude").is_some(),
        "the fixture carries GPS: {tags}"
    );
    assert_eq!(tags["SerialNumber"], "HW-SN-0042-7788");
    std::fs::read(&path).unwrap()
}

/// What exiftool reads in a file: every tag, as JSON.
fn exiftool(bytes: &[u8], dir: &std::path::Path) -> Value {
    let path = dir.join(format!("read-{}.bin", bytes.len()));
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("exiftool")
        .args(["-json", "-a", "-G0:1", "-n"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Keyed by tag name without its group, for easy checks; the full list stays in the
    // assertion messages.
    let mut flat = serde_json::Map::new();
    for (k, v) in all[0].as_object().unwrap() {
        flat.insert(k.rsplit(':').next().unwrap().to_owned(), v.clone());
    }
    Value::Object(flat)
}

#[test]
fn without_javascript_the_server_cleans_photos_in_memory_and_seals_every_file() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    let work = tempfile::tempdir().unwrap();
    let photo = phone_photo(work.path());
    let pdf = b"%PDF-1.4\n% a list of names: Wang Jianguo, Li Xiulan\n%%EOF\n".to_vec();
    let (ct, body) = multipart(
        &[
            ("body", "低保名单上有已经去世的人，照片是公示栏。"),
            ("where", "东山村"),
            ("keep_names", "1"),
        ],
        &[
            ("公示栏.jpg", "image/jpeg", &photo),
            ("名单.pdf", "application/pdf", &pdf),
        ],
    );
    let r = post_form(&server, "/zh/report", &ct, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("files-cleaned"),
        "the page says photos were cleaned"
    );
    assert!(r.body.contains("receipt-digits"));

    // Nothing readable reached the disk: neither the photo nor the PDF's words.
    let data = site.data();
    assert!(!holds(&data, &photo[photo.len() / 2..photo.len() / 2 + 64]));
    assert!(!holds(&data, b"Wang Jianguo"));
    assert!(!holds(&data, b"HW-SN-0042-7788"));

    let text = std::fs::read_to_string(inspectors.key_file()).unwrap();
    let keys = SecretKeys::from_file_text(&text, PASSPHRASE.as_bytes()).unwrap();
    let parsed = parse_export(&server.export(), &BundleLimits::default()).unwrap();
    let tip = &parsed.tips[0];
    let plain = tip.sealed.as_ref().unwrap().open(&keys.box_key).unwrap();
    assert_eq!(plain.body, "低保名单上有已经去世的人，照片是公示栏。");
    assert_eq!(plain.attachments.len(), 2);
    let (p, d) = (&plain.attachments[0], &plain.attachments[1]);
    assert_eq!((p.kind, p.mime.as_str()), (Kind::Photo, "image/jpeg"));
    for what in ["location", "camera", "time", "comment"] {
        assert!(
            p.removed.iter().any(|r| r == what),
            "{what} in {:?}",
            p.removed
        );
    }
    assert_eq!(
        p.name.as_deref(),
        Some("公示栏.jpg"),
        "kept: the resident ticked the box"
    );
    let cleaned = open_blob(&tip.attachments[0], p).unwrap();
    let tags = exiftool(&cleaned, work.path());
    for tag in [
        "GPSLatitude",
        "GPSLongitude",
        "GPSPosition",
        "SerialNumber",
        "Make",
        "Model",
        "DateTimeOriginal",
        "Comment",
    ] {
        assert!(tags.get(tag).is_none(), "{tag} survived: {tags}");
    }
    assert_eq!(
        (tags["ImageWidth"].as_u64(), tags["ImageHeight"].as_u64()),
        (Some(1200), Some(900))
    );
    assert_eq!((d.kind, d.cleaned), (Kind::File, Some(false)));
    assert_eq!(&open_blob(&tip.attachments[1], d).unwrap()[..], &pdf[..]);

    // Without the box ticked, names are not kept.
    let (ct, body) = multipart(
        &[("body", "再补一张。")],
        &[("IMG_1.jpg", "image/jpeg", &photo)],
    );
    assert_eq!(post_form(&server, "/en/report", &ct, &body).status, 200);
    let parsed = parse_export(&server.export(), &BundleLimits::default()).unwrap();
    let names: Vec<Option<String>> = parsed
        .tips
        .iter()
        .map(|t| t.sealed.as_ref().unwrap().open(&keys.box_key).unwrap())
        .flat_map(|p| {
            p.attachments
                .iter()
                .map(|a| a.name.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.is_none()).count(), 1, "{names:?}");
}

#[test]
fn without_javascript_photos_that_cannot_be_cleaned_and_too_many_files_store_nothing() {
    let site = Site::new();
    let server = site.start(&[]);
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    heic.extend_from_slice(&[7u8; 5000]);
    let (ct, body) = multipart(
        &[("body", "照片是HEIC的。")],
        &[("a.heic", "image/heic", &heic)],
    );
    let r = post_form(&server, "/zh/report", &ct, &body);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("HEIC"), "the page says why");
    assert!(
        r.body.contains("照片是HEIC的。"),
        "the words are kept in the form"
    );
    let eleven: Vec<(&str, &str, &[u8])> = (0..11)
        .map(|_| ("x.txt", "text/plain", &b"note"[..]))
        .collect();
    let (ct, body) = multipart(&[("body", "很多文件。")], &eleven);
    assert_eq!(post_form(&server, "/zh/report", &ct, &body).status, 400);
    let big = vec![1u8; 25 * 1024 * 1024];
    let (ct, body) = multipart(&[("body", "大文件。")], &[("v.mp4", "video/mp4", &big)]);
    assert_eq!(post_form(&server, "/zh/report", &ct, &body).status, 413);
    assert_eq!(server.tip_count(), 0);
    // Nothing waits in the store either: the refused files were never stored or were
    // deleted again (the daily metrics snapshot counts uploads still waiting).
    assert!(!holds(&site.data(), &heic[40..104]));
    // A follow-up of files alone, without JavaScript.
    let receipt = server.submit_bound("村主任收钱。", &[]);
    let (ct, body) = multipart(
        &[("receipt", &receipt), ("body", "")],
        &[("scan.pdf", "application/pdf", b"%PDF-1.4 receipt book")],
    );
    let r = post_form(&server, "/zh/followup", &ct, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("followup-done"));
    let bundle: Value = serde_json::from_slice(&server.export()).unwrap();
    assert_eq!(
        bundle["tips"][0]["followups"][0]["attachments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn exports_stay_within_their_size_and_the_rest_comes_next() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());
    let server = site.start(&[]);
    for i in 0..3 {
        let f = evidence(1_000_000, i, Kind::Photo, "image/jpeg");
        let id = upload(&server, &f.blob);
        let r = submit(&server, &seal_with_files(&server, "账本。", &[&f]), &[&id]);
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let export = |mib: u64| {
        reply(
            agent()
                .get(&format!("{}/admin/v1/export?max_mib={mib}", server.admin))
                .set("Authorization", &format!("Bearer {TOKEN}"))
                .call(),
        )
    };
    // Each tip is about 1.4 MB in base64: three MiB hold two, one MiB holds one (a tip
    // larger than the limit still goes, alone).
    for (mib, fit) in [(3u64, 2usize), (1, 1), (10, 3)] {
        let r = export(mib);
        assert_eq!(r.status, 200);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["tips"].as_array().unwrap().len(), fit, "max {mib} MiB");
        assert_eq!(v["tip_count"], fit);
        assert_eq!(
            r.header("X-Whistlebox-Tips-Left"),
            Some((3 - fit).to_string().as_str())
        );
        assert!(r.body.len() as u64 <= (mib * 1024 * 1024).max(1_500_000));
    }
    assert_eq!(opened(&inspectors, export(10).body.as_bytes()).len(), 3);
}

#[test]
fn forms_with_files_held_in_memory_are_bounded_in_all() {
    let site = Site::new();
    let server = site.start(&["--forms-in-memory-mib", "8"]);
    let boundary = "----b";
    let len = 33 * 1024 * 1024;
    let open = |file_bytes: usize| {
        let mut s = TcpStream::connect(host_of(&server.public)).unwrap();
        write!(
            s,
            "POST /zh/report HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len}\r\n\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nx\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .unwrap();
        s.write_all(&vec![7u8; file_bytes]).unwrap();
        s.flush().unwrap();
        s
    };
    // Forms that only announce a large body hold nothing: many of them at once...
    let announced: Vec<TcpStream> = (0..12).map(|_| open(0)).collect();
    // ...while two that have sent 3.5 MiB of files each hold 8 MiB between them,
    let full: Vec<TcpStream> = (0..2).map(|_| open(3_500_000 + 300_000)).collect();
    std::thread::sleep(Duration::from_secs(3));
    // so a third whose file goes past what is left is turned away, before the rest of its
    // body is read (its 4.5 MiB do not fit beside even one of the two).
    let mut third = open(4_700_000);
    third
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = [0u8; 64];
    let n = std::io::Read::read(&mut third, &mut answer).unwrap();
    let head = String::from_utf8_lossy(&answer[..n]);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    // Once they are gone, forms are read again.
    drop((announced, full, third));
    std::thread::sleep(Duration::from_millis(500));
    let (ct, body) = multipart(
        &[("body", "又能发了。")],
        &[("a.txt", "text/plain", b"note")],
    );
    let r = post_form(&server, "/zh/report", &ct, &body);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_body_that_never_begins_gives_its_connection_back_early() {
    let site = Site::new();
    let server = site.start(&[]);
    let file = evidence(1000, 1, Kind::Photo, "image/jpeg");
    let id = start(&server, file.blob.len());
    let head = format!(
        "PUT /api/v1/uploads/{id}/0 HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        file.blob.len()
    );
    // The head, and not one byte of the body: cut after ten seconds, not the thirty a body
    // that has begun gets.
    let (status, took) = trickle(&server, &head, &file.blob, 1024, Some(0));
    assert!(status.contains(" 408 "), "{status}");
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(20),
        "{took:?}"
    );
    assert_eq!(missing(&server, &id), vec![0]);
}
