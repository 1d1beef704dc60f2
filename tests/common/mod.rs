//! Shared test harness: runs the real `whistlebox` binary on loopback ports chosen by the
//! OS, against a real sled folder in a temporary directory.
#![allow(dead_code)]

pub mod desk;
pub mod evidence;
pub mod load;
pub mod offices;
pub mod pg;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use tempfile::TempDir;

pub const PASSPHRASE: &str = "correct horse battery staple";
pub const TOKEN: &str = "test-admin-token-0123456789abcdef";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_whistlebox")
}

/// Runs the binary to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run whistlebox")
}

/// Inspectors' keys made with `whistlebox keygen`, as the offline machine would have them.
pub struct Inspectors {
    pub dir: TempDir,
}

impl Inspectors {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pass.txt"), format!("{PASSPHRASE}\n")).unwrap();
        let out = run(&[
            "keygen",
            "--out",
            dir.path().join("offline").to_str().unwrap(),
            "--passphrase-file",
            dir.path().join("pass.txt").to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("offline/inspectors.key")
    }
    pub fn pub_file(&self) -> PathBuf {
        self.dir.path().join("offline/inspectors.pub")
    }
    pub fn pass_file(&self) -> PathBuf {
        self.dir.path().join("pass.txt")
    }
    /// A server keys/ folder holding a copy of inspectors.pub.
    pub fn server_keys(&self, into: &Path) {
        std::fs::create_dir_all(into).unwrap();
        std::fs::copy(self.pub_file(), into.join("inspectors.pub")).unwrap();
    }
    /// Runs `whistlebox decrypt` on a bundle.
    pub fn decrypt(&self, bundle: &[u8], out: &Path) -> Output {
        let bundle_path = self
            .dir
            .path()
            .join(format!("bundle-{}.json", rand_suffix()));
        std::fs::write(&bundle_path, bundle).unwrap();
        run(&[
            "decrypt",
            "--key",
            self.key_file().to_str().unwrap(),
            "--passphrase-file",
            self.pass_file().to_str().unwrap(),
            "--bundle",
            bundle_path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    }
}

fn rand_suffix() -> u64 {
    use std::time::SystemTime;
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A running server.
pub struct Server {
    child: Option<Child>,
    pub public: String,
    pub admin: String,
    /// The clerk's listener, when started with `--clerk-bind`.
    pub clerk: Option<String>,
    pub output: Arc<Mutex<String>>,
}

/// Where a server keeps its things; survives restarts.
pub struct Site {
    pub root: TempDir,
}

impl Site {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("token.txt"), format!("{TOKEN}\n")).unwrap();
        Self { root }
    }
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }
    pub fn keys(&self) -> PathBuf {
        self.root.path().join("keys")
    }
    /// Starts the server without rate limits: most tests submit far more than one resident
    /// would. The limits have tests of their own (`start_limited`).
    pub fn start(&self, extra: &[&str]) -> Server {
        let mut args = vec!["--rate-limits", "off"];
        args.extend_from_slice(extra);
        self.try_start(&args).expect("server starts")
    }
    /// Starts the server with its rate limits on, as deployed.
    pub fn start_limited(&self, extra: &[&str]) -> Server {
        self.try_start(extra).expect("server starts")
    }
    /// Starts the server; `Err` holds what it printed if it exited instead.
    pub fn try_start(&self, extra: &[&str]) -> Result<Server, String> {
        let mut cmd = Command::new(bin());
        cmd.args([
            "serve",
            "--data",
            self.data().to_str().unwrap(),
            "--keys",
            self.keys().to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
            "--admin-bind",
            "127.0.0.1:0",
            "--admin-token-file",
            self.root.path().join("token.txt").to_str().unwrap(),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn server");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    output.lock().unwrap().push_str(&line);
                    output.lock().unwrap().push('\n');
                    let _ = tx.send(line);
                }
            });
        }
        {
            let output = output.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(stderr);
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let mut public = None;
        let mut admin = None;
        let mut clerk = None;
        let wants_clerk = extra.contains(&"--clerk-bind");
        while public.is_none() || admin.is_none() || (wants_clerk && clerk.is_none()) {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("whistlebox: public listener on ") {
                        public = Some(a.to_string());
                    }
                    if let Some(a) = line.strip_prefix("whistlebox: admin listener on ") {
                        admin = Some(a.to_string());
                    }
                    if let Some(a) = line.strip_prefix("whistlebox: clerk listener on ") {
                        clerk = Some(a.to_string());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    std::thread::sleep(Duration::from_millis(200));
                    return Err(output.lock().unwrap().clone());
                }
            }
        }
        Ok(Server {
            child: Some(child),
            public: public.unwrap(),
            admin: admin.unwrap(),
            clerk,
            output,
        })
    }
}

/// Status and body of a response, whatever the status.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// An error reply must be JSON with a plain sentence.
    pub fn assert_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "body: {}", self.body);
        let msg = self.json()["error"]
            .as_str()
            .expect("error field")
            .to_string();
        assert!(
            msg.len() > 10 && msg.ends_with('.'),
            "not a sentence: {msg}"
        );
        msg
    }
}

/// Any answer as a [`Reply`] (a transport error panics).
pub fn reply(result: Result<ureq::Response, ureq::Error>) -> Reply {
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or("").to_string();
            (n, v)
        })
        .collect();
    let mut body = String::new();
    resp.into_reader()
        .take(512 * 1024 * 1024)
        .read_to_string(&mut body)
        .unwrap();
    Reply {
        status,
        body,
        headers,
    }
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

impl Server {
    pub fn get(&self, path: &str) -> Reply {
        reply(agent().get(&format!("{}{path}", self.public)).call())
    }
    pub fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Reply {
        reply(
            agent()
                .post(&format!("{}{path}", self.public))
                .set("Content-Type", content_type)
                .send_string(body),
        )
    }
    pub fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, "application/json", &body.to_string())
    }
    pub fn submit(&self, sealed: &[u8]) -> Reply {
        self.post_json(
            "/api/v1/tips",
            &serde_json::json!({ "sealed": STANDARD.encode(sealed) }),
        )
    }
    /// Submits a tip as the report page's script does: a receipt first, then the tip sealed
    /// with that receipt's reply key inside, posted with the ticket. Returns the receipt.
    pub fn submit_bound(&self, body: &str, fields: &[(&str, &str)]) -> String {
        let r = self.post_json("/api/v1/receipts", &serde_json::json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        let reserved = r.json();
        let reply_key: [u8; 32] = STANDARD
            .decode(reserved["reply_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let sealed = seal_tip_bound(&self.box_key(), Some(&reply_key), body, fields);
        let r = self.post_json(
            "/api/v1/tips",
            &serde_json::json!({
                "sealed": STANDARD.encode(sealed),
                "ticket": reserved["ticket"],
            }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert!(r.json().get("receipt").is_none(), "the browser holds it");
        reserved["receipt"].as_str().unwrap().to_string()
    }
    pub fn status(&self, receipt: &str) -> Reply {
        self.post_json("/api/v1/status", &serde_json::json!({ "receipt": receipt }))
    }
    /// Imports a signed bundle (update, ack, move) as the operator does, whatever the answer.
    pub fn import(&self, bundle: &[u8]) -> Reply {
        reply(
            agent()
                .post(&format!("{}/admin/v1/import", self.admin))
                .set("Authorization", &format!("Bearer {TOKEN}"))
                .send_bytes(bundle),
        )
    }
    pub fn export_with(&self, auth: Option<&str>) -> Reply {
        let mut req = agent().get(&format!("{}/admin/v1/export", self.admin));
        if let Some(a) = auth {
            req = req.set("Authorization", a);
        }
        reply(req.call())
    }
    /// The export bundle, which must succeed.
    pub fn export(&self) -> Vec<u8> {
        let r = self.export_with(Some(&format!("Bearer {TOKEN}")));
        assert_eq!(r.status, 200, "{}", r.body);
        r.body.into_bytes()
    }
    /// Number of tips the server holds, from its export.
    pub fn tip_count(&self) -> usize {
        let v: Value = serde_json::from_slice(&self.export()).unwrap();
        v["tips"].as_array().unwrap().len()
    }
    /// The box public key the server hands out.
    pub fn box_key(&self) -> [u8; 32] {
        let k = self.get("/api/v1/key").json();
        STANDARD
            .decode(k["box_public_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    }
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
    /// SIGTERM, as systemd stops the service, and waits for the process to end.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM");
        child.wait().unwrap()
    }
    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap(); // Child::kill sends SIGKILL on Unix.
        child.wait().unwrap()
    }
    pub fn printed(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Seals a tip the way a v1 client does (no reply key), with whistlebox's own crypto.
pub fn seal_tip(box_key: &[u8; 32], body: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    seal_tip_bound(box_key, None, body, fields)
}

/// Seals a tip with a reply key bound inside, as the report page does.
pub fn seal_tip_bound(
    box_key: &[u8; 32],
    reply_key: Option<&[u8; 32]>,
    body: &str,
    fields: &[(&str, &str)],
) -> Vec<u8> {
    use whistlebox::crypto::BoxPublicKey;
    use whistlebox::domain::tip::TipPlaintext;
    whistlebox::crypto::init().unwrap();
    let mut tip = TipPlaintext::new(body);
    if let Some(k) = reply_key {
        tip.bind_reply_key(&BoxPublicKey::from_bytes(k).unwrap());
    }
    for (k, v) in fields {
        tip.fields.insert((*k).into(), (*v).into());
    }
    tip.seal(&BoxPublicKey::from_bytes(box_key).unwrap())
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// Reads what `decrypt` wrote for each tip: id -> message text.
pub fn read_decrypted(out: &Path) -> std::collections::BTreeMap<String, String> {
    let mut m = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            let text = std::fs::read_to_string(entry.path().join("message.txt")).unwrap();
            m.insert(entry.file_name().to_string_lossy().into_owned(), text);
        }
    }
    m
}

/// The messages of the replies in a status answer, each opened with the reply key the
/// answer gives back to the receipt holder (`None`: it does not open).
pub fn open_replies(status: &Value) -> Vec<Option<String>> {
    let seed: [u8; 32] = STANDARD
        .decode(status["reply_key"].as_str().expect("a reply key"))
        .unwrap()
        .try_into()
        .unwrap();
    let key = whistlebox::crypto::BoxSecretKey::from_seed(&seed);
    status["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let sealed = STANDARD.decode(r["sealed"].as_str().unwrap()).unwrap();
            whistlebox::domain::reply::ReplyPlaintext::open(&sealed, &key)
                .ok()
                .map(|p| p.message.clone())
        })
        .collect()
}
