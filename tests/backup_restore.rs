//! Backup and restore with the scripts in `deploy/`: a backup taken with the server stopped,
//! restored into empty folders, brings back exactly the tips and receipts it held, and
//! nothing newer; the data archive holds no copy of the receipt pepper, no owner and no
//! precise time.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

fn run_script(name: &str, args: &[&Path]) -> Output {
    Command::new("bash")
        .arg(script(name))
        .args(args)
        .output()
        .expect("run bash")
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Stops the server the way systemd does (SIGTERM) and waits until it has exited.
/// The harness's `Child` is private, so the exit is seen in /proc (a zombie or gone);
/// dropping the `Server` afterwards reaps it.
fn stop_gracefully(server: Server) {
    let pid = server.pid();
    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let exited = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                state.starts_with('Z') || state.starts_with('X')
            }
        };
        if exited {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM:\n{}",
            server.printed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server);
}

/// The one file in `dir`, which must be named `<prefix>YYYY-MM-DD.tar`.
fn only_archive(dir: &Path, prefix: &str) -> PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    let day = name
        .strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(".tar"))
        .unwrap_or_else(|| panic!("unexpected archive name {name}"));
    let b = day.as_bytes();
    assert!(
        b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit()),
        "not a day-named archive: {name}"
    );
    files[0].clone()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn backup_then_restore_brings_back_exactly_the_backed_up_tips() {
    let inspectors = Inspectors::new();
    let site = Site::new();
    inspectors.server_keys(&site.keys());

    // Three tips, then a graceful stop.
    let texts = [
        "村卫生室的药品回扣，每月结算时给院长。",
        "The pension fund of the village collective was moved to a private account.",
        "学校食堂的补贴被挪用了，饭菜越来越差。",
    ];
    let server = site.start(&[]);
    let key = server.box_key();
    let mut receipts = Vec::new();
    for text in texts {
        let r = server.submit(&seal_tip(&key, text, &[]));
        assert_eq!(r.status, 201, "{}", r.body);
        receipts.push(r.json()["receipt"].as_str().unwrap().to_string());
    }
    stop_gracefully(server);

    let pepper_file = site.keys().join("receipt-pepper.secret");
    let pepper = std::fs::read_to_string(&pepper_file).expect("the server made a pepper");
    let pepper = pepper.trim();
    assert!(pepper.len() >= 40, "pepper: {} chars", pepper.len());

    // The data and the secrets must go to different places.
    let same = tempfile::tempdir().unwrap();
    let out = run_script(
        "backup.sh",
        &[
            Path::new("--no-service"),
            &site.data(),
            &site.keys(),
            same.path(),
            same.path(),
        ],
    );
    assert!(!out.status.success(), "{}", show(&out));
    assert_eq!(std::fs::read_dir(same.path()).unwrap().count(), 0);

    // The backup, with the server stopped.
    let data_dest = tempfile::tempdir().unwrap();
    let secrets_dest = tempfile::tempdir().unwrap();
    let out = run_script(
        "backup.sh",
        &[
            Path::new("--no-service"),
            &site.data(),
            &site.keys(),
            data_dest.path(),
            secrets_dest.path(),
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    let data_archive = only_archive(data_dest.path(), "whistlebox-data-");
    let secrets_archive = only_archive(secrets_dest.path(), "whistlebox-secrets-");

    // The data archive holds no copy of the pepper, in its text or its raw bytes.
    let tar_bytes = std::fs::read(&data_archive).unwrap();
    assert!(
        !contains(&tar_bytes, pepper.as_bytes()),
        "the data archive holds the pepper"
    );
    let raw_pepper = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, pepper)
        .expect("pepper is base64");
    assert_eq!(raw_pepper.len(), 32);
    assert!(
        !contains(&tar_bytes, &raw_pepper),
        "the data archive holds the raw pepper"
    );
    assert!(!contains(&tar_bytes, b"receipt-pepper"));
    // ...while the secrets archive does.
    let secrets_bytes = std::fs::read(&secrets_archive).unwrap();
    assert!(contains(&secrets_bytes, pepper.as_bytes()));

    // Every entry: owner 0/0, and midnight (no precise time).
    let listing = Command::new("tar")
        .args(["--full-time", "-tvf"])
        .arg(&data_archive)
        .output()
        .unwrap();
    assert!(listing.status.success(), "{}", show(&listing));
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.contains("store/db"), "{listing}");
    for line in listing.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], "0/0", "{line}");
        assert_eq!(cols[4], "00:00:00", "{line}");
    }

    // The server runs again and takes a fourth tip, which the backup does not hold.
    let server = site.start(&[]);
    let r = server.submit(&seal_tip(&key, "备份之后的举报。", &[]));
    assert_eq!(r.status, 201, "{}", r.body);
    let late_receipt = r.json()["receipt"].as_str().unwrap().to_string();

    // A backup while the server holds the store is refused, and writes nothing.
    let busy_data = tempfile::tempdir().unwrap();
    let busy_secrets = tempfile::tempdir().unwrap();
    let out = run_script(
        "backup.sh",
        &[
            Path::new("--no-service"),
            &site.data(),
            &site.keys(),
            busy_data.path(),
            busy_secrets.path(),
        ],
    );
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use"),
        "{}",
        show(&out)
    );
    assert_eq!(std::fs::read_dir(busy_data.path()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(busy_secrets.path()).unwrap().count(), 0);
    stop_gracefully(server);

    // Restore into a fresh site.
    let restored = Site::new();
    let out = run_script(
        "restore.sh",
        &[
            &data_archive,
            &secrets_archive,
            &restored.data(),
            &restored.keys(),
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        std::fs::read_to_string(restored.keys().join("receipt-pepper.secret"))
            .unwrap()
            .trim(),
        pepper
    );
    // A second restore onto the now existing data folder is refused.
    let out = run_script(
        "restore.sh",
        &[
            &data_archive,
            &secrets_archive,
            &restored.data(),
            &restored.keys(),
        ],
    );
    assert!(!out.status.success(), "{}", show(&out));

    let server = restored.start(&[]);
    assert_eq!(server.box_key(), key, "the restored site uses the real key");
    for receipt in &receipts {
        let r = server.status(receipt);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["status"], "received");
    }
    let r = server.status(&late_receipt);
    assert_eq!(r.status, 404, "the tip made after the backup: {}", r.body);

    let bundle = server.export();
    let out_dir = tempfile::tempdir().unwrap();
    let d = inspectors.decrypt(&bundle, &out_dir.path().join("tips"));
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    let mut opened: Vec<String> = read_decrypted(&out_dir.path().join("tips"))
        .into_values()
        .collect();
    opened.sort();
    let mut expected: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(opened, expected);
    stop_gracefully(server);
}
