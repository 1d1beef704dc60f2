//! The inspectors' desk as a child process on a free loopback port, and talking to it as a
//! browser would, for the desk tests.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{bin, reply, Reply};

/// A desk that exited instead of opening.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A running `whistlebox desk`, killed when dropped.
pub struct DeskProc {
    child: Option<Child>,
    pub port: u16,
    /// `/signin/<hex>` when it was started with a passphrase file.
    pub signin: Option<String>,
    stdout: Arc<Mutex<String>>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Starts a desk with `key` on `workspace`; `extra` may hold `--bind` (otherwise a free
/// loopback port is taken), `--import`, `--today`. Returns once it printed that it is
/// ready, or what it printed when it exited instead.
pub fn start_desk(
    key: &Path,
    workspace: &Path,
    pass: Option<&Path>,
    extra: &[&str],
) -> Result<DeskProc, Box<Exited>> {
    let mut args: Vec<String> = vec![
        "desk".into(),
        "--key".into(),
        key.to_str().unwrap().into(),
        "--workspace".into(),
        workspace.to_str().unwrap().into(),
    ];
    if let Some(p) = pass {
        args.extend(["--passphrase-file".into(), p.to_str().unwrap().into()]);
    }
    if !extra.contains(&"--bind") {
        // The desk listens before it prints its link, on the port the OS picked.
        args.extend(["--bind".into(), "127.0.0.1:0".into()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut child = Command::new(bin())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the desk");
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel::<String>();
    {
        let out = child.stdout.take().unwrap();
        let stdout = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                stdout.lock().unwrap().push_str(&line);
                stdout.lock().unwrap().push('\n');
                let _ = tx.send(line);
            }
        });
    }
    let err_reader: JoinHandle<()> = {
        let err = child.stderr.take().unwrap();
        let stderr = stderr.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(err).read_to_string(&mut text);
            stderr.lock().unwrap().push_str(&text);
        })
    };
    let exited = |mut child: Child, err_reader: JoinHandle<()>| {
        let status = child.wait().unwrap();
        let _ = err_reader.join();
        // The stdout reader may still be pushing its last line.
        std::thread::sleep(Duration::from_millis(50));
        Err(Box::new(Exited {
            status,
            stdout: stdout.lock().unwrap().clone(),
            stderr: stderr.lock().unwrap().clone(),
        }))
    };
    // The address in the line it prints when it is ready.
    let address = |rest: &str| -> u16 {
        let host = rest.split('/').next().unwrap();
        let addr: std::net::SocketAddr = host.parse().unwrap_or_else(|_| panic!("{rest}"));
        assert!(
            addr.ip().is_loopback() && addr.port() != 0,
            "printed {addr}"
        );
        addr.port()
    };
    let mut signin = None;
    let port;
    loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                if let Some(url) = line.strip_prefix("the desk is open: sign in once at http://") {
                    let (_, path) = url.split_once('/').expect("a path in the link");
                    signin = Some(format!("/{path}"));
                    port = address(url);
                    break;
                }
                if let Some(url) = line.strip_prefix("the desk is locked: open http://") {
                    port = address(url);
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return exited(child, err_reader),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the desk printed nothing for two minutes");
            }
        }
    }
    assert!(
        listening(port),
        "the printed address answers at once: {}",
        stdout.lock().unwrap()
    );
    Ok(DeskProc {
        child: Some(child),
        port,
        signin,
        stdout,
    })
}

impl Drop for DeskProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An answer whose body is bytes.
pub struct BytesReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl BytesReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request's extra headers.
pub type Headers<'a> = &'a [(&'a str, &'a str)];

impl DeskProc {
    /// SIGKILL, and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The desk's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn printed(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn request(&self, method: &str, path: &str, headers: Headers<'_>) -> ureq::Request {
        // Redirects are looked at, not followed.
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(120))
            .redirects(0)
            .build();
        let mut req = agent.request(method, &format!("{}{path}", self.origin()));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        req
    }

    pub fn get_with(&self, path: &str, headers: Headers<'_>) -> Reply {
        reply(self.request("GET", path, headers).call())
    }

    /// A GET with the session cookie `cookie` (empty: none).
    pub fn get(&self, path: &str, cookie: &str) -> Reply {
        if cookie.is_empty() {
            self.get_with(path, &[])
        } else {
            self.get_with(path, &[("Cookie", cookie)])
        }
    }

    /// A GET whose body is bytes (an evidence file), whatever the status.
    pub fn get_bytes(&self, path: &str, headers: Headers<'_>) -> BytesReply {
        let resp = match self.request("GET", path, headers).call() {
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
        let mut body = Vec::new();
        resp.into_reader()
            .take(64 * 1024 * 1024)
            .read_to_end(&mut body)
            .unwrap();
        BytesReply {
            status,
            headers,
            body,
        }
    }

    /// A page that must answer 200.
    pub fn page(&self, path: &str, cookie: &str) -> String {
        let r = self.get(path, cookie);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.body
    }

    pub fn post_with(
        &self,
        path: &str,
        headers: Headers<'_>,
        content_type: &str,
        body: &[u8],
    ) -> Reply {
        reply(
            self.request("POST", path, headers)
                .set("Content-Type", content_type)
                .send_bytes(body),
        )
    }

    /// A form posted from the desk's own page (its Origin), with the cookie.
    pub fn post_form(&self, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Reply {
        let origin = self.origin();
        let mut headers = vec![("Origin", origin.as_str())];
        if !cookie.is_empty() {
            headers.push(("Cookie", cookie));
        }
        self.post_with(
            path,
            &headers,
            "application/x-www-form-urlencoded",
            serde_urlencoded::to_string(fields).unwrap().as_bytes(),
        )
    }

    /// A form that must be taken (303 back to a page).
    pub fn submit(&self, path: &str, cookie: &str, fields: &[(&str, &str)]) {
        let r = self.post_form(path, cookie, fields);
        assert_eq!(r.status, 303, "POST {path}: {}", r.body);
    }

    /// The import page's upload, as the browser sends it.
    pub fn upload(&self, cookie: &str, bundle: &[u8]) -> Reply {
        let boundary = "----deskTestBoundary7MA4YWxkTrZu0gW";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"bundle\"; \
             filename=\"export.json\"\r\nContent-Type: application/json\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bundle);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let origin = self.origin();
        self.post_with(
            "/zh/import",
            &[("Origin", &origin), ("Cookie", cookie)],
            &format!("multipart/form-data; boundary={boundary}"),
            &body,
        )
    }

    /// Follows the printed one-time link; returns the `Cookie` header it gives.
    pub fn sign_in(&self) -> String {
        let link = self
            .signin
            .as_ref()
            .expect("started with a passphrase file");
        let r = self.get(link, "");
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.header("Location"), Some("/zh/"));
        let set = r.header("Set-Cookie").expect("the link sets the session");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap().to_string();
        assert!(
            cookie.starts_with("desk_session=") && cookie.len() == 13 + 64,
            "{cookie}"
        );
        cookie
    }
}
