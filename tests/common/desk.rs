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
