//! The inspectors' desk as a child process on a free loopback port, for the desk tests.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `whistlebox desk`; killed when dropped.
pub struct DeskProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The one-time sign-in path it printed, when it was started with a passphrase file.
    pub signin: Option<String>,
    /// Everything it printed on stdout before it was ready.
    pub printed: String,
}

/// A loopback port no one listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl DeskProcess {
    /// Starts `whistlebox desk --key KEY --workspace WS` with `extra` flags and waits until
    /// it says it is open or locked. `Err` holds what it printed if it exited instead.
    pub fn start(key: &Path, workspace: &Path, extra: &[&str]) -> Result<Self, String> {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut child = Command::new(super::bin())
            .args(["desk", "--key", key.to_str().unwrap()])
            .args(["--workspace", workspace.to_str().unwrap(), "--bind", &bind])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the desk");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut printed = String::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    printed.push_str(&line);
                    printed.push('\n');
                    let signin = line
                        .split_once(&format!("http://{bind}"))
                        .map(|(_, path)| path.to_string())
                        .filter(|p| p.starts_with("/signin/"));
                    if line.starts_with("the desk is open")
                        || line.starts_with("the desk is locked")
                    {
                        wait_listening(port);
                        return Ok(Self {
                            child,
                            origin: format!("http://{bind}"),
                            signin,
                            printed,
                        });
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let out = child.wait_with_output().expect("desk output");
                    return Err(format!("{printed}{}", String::from_utf8_lossy(&out.stderr)));
                }
            }
        }
    }
}

fn wait_listening(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the desk never listened on {port}");
}

impl Drop for DeskProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client of a desk with its session cookie (from the one-time sign-in link).
pub struct DeskClient {
    agent: ureq::Agent,
    pub origin: String,
    cookie: String,
}

/// Status and body of a desk answer.
pub struct DeskReply {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

impl DeskClient {
    /// Signs in through the link `desk` printed.
    pub fn sign_in(desk: &DeskProcess) -> Self {
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout(Duration::from_secs(120))
            .build();
        let link = desk
            .signin
            .as_deref()
            .expect("a desk started with a passphrase file");
        let r = agent
            .get(&format!("{}{link}", desk.origin))
            .call()
            .expect("sign in");
        assert_eq!(r.status(), 303);
        let cookie = r
            .header("Set-Cookie")
            .expect("the session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        Self {
            agent,
            origin: desk.origin.clone(),
            cookie,
        }
    }

    fn answer(result: Result<ureq::Response, ureq::Error>) -> DeskReply {
        let r = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("desk request: {e}"),
        };
        DeskReply {
            status: r.status(),
            location: r.header("Location").map(str::to_string),
            body: r.into_string().unwrap_or_default(),
        }
    }

    pub fn get(&self, path: &str) -> DeskReply {
        Self::answer(
            self.agent
                .get(&format!("{}{path}", self.origin))
                .set("Cookie", &self.cookie)
                .call(),
        )
    }

    /// Posts a form (`pairs` url-encoded).
    pub fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> DeskReply {
        Self::answer(
            self.agent
                .post(&format!("{}{path}", self.origin))
                .set("Cookie", &self.cookie)
                .send_form(pairs),
        )
    }

    /// The ids of the cases the inbox lists (every state), in its order.
    pub fn case_ids(&self) -> Vec<String> {
        let page = self.get("/en/?state=all");
        assert_eq!(page.status, 200, "{}", page.body);
        page.body
            .split("data-case=\"")
            .skip(1)
            .map(|rest| rest[..16].to_string())
            .collect()
    }
}
