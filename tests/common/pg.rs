//! PostgreSQL for the integration tests: a fresh database on the server named by
//! `WHISTLEBOX_TEST_POSTGRES` (dropped afterwards), and throwaway clusters of our own for
//! the failover test. Without a server the tests say they were skipped; under `CI=true`
//! they fail instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The variable naming the test server.
pub const ENV: &str = "WHISTLEBOX_TEST_POSTGRES";
/// The variable naming PostgreSQL's binaries (initdb, pg_ctl, pg_basebackup).
pub const BIN_ENV: &str = "WHISTLEBOX_PG_BIN";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says a test was skipped, past libtest's capture; under `CI=true` fails it instead.
pub fn skip(test: &str, why: &str) {
    assert!(
        !in_ci(),
        "{test}: CI=true, so this must not be skipped: {why}"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// `url` with its database replaced by `db` (URL or key=value form).
pub fn with_dbname(url: &str, db: &str) -> String {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"));
    match rest {
        Some(rest) => {
            let (base, query) = match rest.split_once('?') {
                Some((b, q)) => (b, format!("?{q}")),
                None => (rest, String::new()),
            };
            let host = base.split_once('/').map_or(base, |(h, _)| h);
            format!("postgresql://{host}/{db}{query}")
        }
        None => format!("{url} dbname={db}"),
    }
}

/// A database of its own, dropped when this is dropped.
pub struct Database {
    server: String,
    name: String,
    /// The connection string for `--store`.
    pub url: String,
}

impl Database {
    /// A fresh database, or `None` (test skipped) without `WHISTLEBOX_TEST_POSTGRES`.
    pub fn new(test: &str) -> Option<Self> {
        let server = match std::env::var(ENV) {
            Ok(s) if !s.is_empty() => s,
            _ => {
                skip(
                    test,
                    &format!("no PostgreSQL to test against; set {ENV}=postgres://... (bash .ci/test starts one)"),
                );
                return None;
            }
        };
        let mut b = [0u8; 6];
        whistlebox::crypto::init().unwrap();
        whistlebox::crypto::random_fill(&mut b);
        let name = format!(
            "wb_test_{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        );
        let mut admin =
            postgres::Client::connect(&server, postgres::NoTls).expect("the test PostgreSQL");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
        let url = with_dbname(&server, &name);
        Some(Self { server, name, url })
    }

    /// A client on it.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.server, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// PostgreSQL's binaries: `WHISTLEBOX_PG_BIN`, or the newest `/usr/lib/postgresql/*/bin`.
pub fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var(BIN_ENV) {
        return Some(PathBuf::from(dir)).filter(|d| d.join("initdb").exists());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").exists())
        .collect();
    found.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn is_root() -> bool {
    // The data folders must belong to an ordinary user: initdb refuses root.
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// One cluster of our own on a loopback port.
pub struct Cluster {
    bin: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
}

impl Cluster {
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).output().expect(tool);
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A folder PostgreSQL's user may write, under `root`.
    pub fn folder(root: &Path, name: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(root)
                .status()
                .unwrap();
            assert!(ok.success());
        }
        dir
    }

    /// A new primary (initdb) with `conf` appended to its postgresql.conf.
    pub fn init(bin: &Path, dir: PathBuf, port: u16, conf: &str) -> Self {
        let c = Self {
            bin: bin.to_owned(),
            dir,
            port,
        };
        let data = c.data();
        c.run(
            "initdb",
            // --no-sync: a throwaway cluster; its own commits are still fsynced.
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        c.configure(conf);
        c
    }

    /// A standby of `primary` (pg_basebackup -R) with `conf` appended.
    pub fn standby_of(primary: &Cluster, dir: PathBuf, port: u16, conf: &str) -> Self {
        let c = Self {
            bin: primary.bin.clone(),
            dir,
            port,
        };
        let data = c.data();
        c.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
                "--no-sync",
                "--checkpoint=fast",
            ],
        );
        c.configure(conf);
        c
    }

    fn configure(&self, conf: &str) {
        let path = Path::new(&self.data()).join("postgresql.conf");
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        writeln!(
            f,
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n{conf}",
            self.port,
            self.dir.display()
        )
        .unwrap();
    }

    pub fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    pub fn start(&self) {
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "start"],
        );
    }

    pub fn promote(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-w", "-t", "60", "promote"]);
    }

    /// Stops it, if it runs (fast shutdown).
    pub fn stop(&self) {
        if Path::new(&self.data()).join("postmaster.pid").exists() {
            let _ = self
                .command("pg_ctl")
                .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
                .output();
        }
    }

    /// SIGKILL to the postmaster and every process it started, as when the machine dies.
    pub fn kill9(&self) {
        let pid_file = Path::new(&self.data()).join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file).unwrap();
        let pid: i32 = text.lines().next().unwrap().trim().parse().unwrap();
        let mut victims = vec![pid];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
            let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
            let ppid: i32 = after
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            if ppid == pid {
                if let Ok(child) = entry.file_name().to_string_lossy().parse() {
                    victims.push(child);
                }
            }
        }
        sigkill(&victims);
        // Its postmaster.pid stays behind, as after a real crash.
        let _ = std::fs::remove_file(pid_file);
    }

    pub fn url(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={db}",
            self.port
        )
    }

    pub fn client(&self, db: &str) -> postgres::Client {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match postgres::Client::connect(&self.url(db), postgres::NoTls) {
                Ok(c) => return c,
                Err(e) if Instant::now() > deadline => panic!("connect to port {}: {e}", self.port),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGKILL to all of `pids` at once, through kill(1) (the tests have no `unsafe`).
fn sigkill(pids: &[i32]) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(pids.iter().map(|p| p.to_string()))
        .status();
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
