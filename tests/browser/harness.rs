//! The browser side of the browser tests: Debian's chromedriver on a free loopback port, one
//! headless Chromium per session (JavaScript on or off, a chosen Accept-Language, a fresh
//! profile), and the checks every page gets: same origin only, no cookies, screenshots, axe.

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tempfile::TempDir;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long one scenario may take before it is called stuck.
const SCENARIO_LIMIT: Duration = Duration::from_secs(150);

/// Two cores: one Chromium at a time keeps the timings honest and the machine usable.
static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs one browser scenario: starts chromedriver, hands its URL to `scenario`, and always
/// stops chromedriver and every browser it started afterwards, even when the scenario panics.
pub fn run<F, Fut>(scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let _one = ONE_BROWSER_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let driver = Driver::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let fut = scenario(driver.url.clone());
    let outcome =
        rt.block_on(async move { tokio::time::timeout(SCENARIO_LIMIT, tokio::spawn(fut)).await });
    rt.shutdown_timeout(Duration::from_secs(2));
    let log = driver.log_tail();
    drop(driver);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(e)) => panic!("browser scenario failed: {e}"),
        Err(_) => panic!(
            "browser scenario took longer than {SCENARIO_LIMIT:?}; chromedriver log tail:\n{log}"
        ),
    }
}

/// A chromedriver process in its own process group, so that dropping it also ends the
/// Chromium processes it started.
pub struct Driver {
    child: Child,
    pub url: String,
    log: PathBuf,
    _dir: TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Driver {
    fn start() -> Self {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "the browser tests need Debian's `{package}` ({path} is missing): \
                 run `bash .ci/test`, which installs chromium and chromium-driver first"
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("chromedriver.log");
        let port = free_port();
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "chromedriver exited at start ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(3000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].to_string()
    }

    fn signal_group(&self, signal: i32) {
        // The group was made for chromedriver at spawn (process_group(0)), so its id is
        // chromedriver's pid; it holds only chromedriver and the browsers it started.
        let pgid = self.child.id() as i32;
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever is left of the group (a Chromium helper slow to exit) goes now.
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Whether pages may run their own JavaScript.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Js {
    On,
    Off,
}

/// One headless Chromium session, pointed at one server.
pub struct Browser {
    pub c: Client,
    /// `http://127.0.0.1:PORT` of the server under test, without a trailing slash.
    pub origin: String,
    pub js: Js,
    _profile: TempDir,
}

/// Where screenshots go: `target/screenshots/` of the repository.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

impl Browser {
    /// Opens a browser with a fresh profile; `accept_language` becomes its Accept-Language.
    pub async fn open(driver: &str, origin: &str, js: Js, accept_language: &str) -> Self {
        Self::open_with(driver, origin, js, accept_language, &[]).await
    }

    /// As `open`, with more Chromium flags (a fake microphone, for instance).
    pub async fn open_with(
        driver: &str,
        origin: &str,
        js: Js,
        accept_language: &str,
        extra_args: &[&str],
    ) -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut prefs = json!({ "intl.accept_languages": accept_language });
        if js == Js::Off {
            // Content setting 2 = block, as a managed policy: pages run no script at all.
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let mut options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                format!("--accept-lang={accept_language}"),
                format!("--user-data-dir={}", profile.path().display()),
                "--window-size=1280,900",
            ],
            "prefs": prefs,
        });
        if let Some(args) = options["args"].as_array_mut() {
            args.extend(extra_args.iter().map(|a| json!(a)));
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let c = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(driver)
            .await
            .unwrap_or_else(|e| panic!("new Chromium session through chromedriver: {e}"));
        c.update_timeouts(TimeoutConfiguration::new(
            Some(Duration::from_secs(60)),
            Some(Duration::from_secs(30)),
            Some(Duration::from_secs(0)),
        ))
        .await
        .expect("set WebDriver timeouts");
        Self {
            c,
            origin: origin.trim_end_matches('/').to_string(),
            js,
            _profile: profile,
        }
    }

    pub async fn close(self) {
        let _ = self.c.close().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    pub async fn goto(&self, path: &str) {
        self.c
            .goto(&self.url(path))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// Path (and query) of the page now shown.
    pub async fn path(&self) -> String {
        let url = self.c.current_url().await.expect("current url");
        let mut p = url.path().to_string();
        if let Some(q) = url.query() {
            p.push('?');
            p.push_str(q);
        }
        p
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.c
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `condition` (a JS expression) until it is true; panics with `what` after `limit`.
    pub async fn wait_for(&self, condition: &str, what: &str, limit: Duration) {
        let script = format!("return !!({condition});");
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Value::Bool(true)) = self.c.execute(&script, vec![]).await {
                return;
            }
            if Instant::now() > deadline {
                let path = self.path().await;
                let main = self
                    .js("const m = document.querySelector('main') || document.body; return m ? m.innerText.slice(0, 600) : '';")
                    .await;
                panic!(
                    "waited {limit:?} for {what} on {path}, condition `{condition}` never held; \
                     page text: {main}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element matched by `css`, which must exist.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.c.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => {
                let path = self.path().await;
                panic!("no element `{css}` on {path}: {e}")
            }
        }
    }

    pub async fn count(&self, css: &str) -> usize {
        self.c
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.expect("attribute")
    }

    pub async fn displayed(&self, css: &str) -> bool {
        match self.c.find(Locator::Css(css)).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Clears the field `css` and types `text` into it key by key, as a person would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.expect("clear field");
        e.send_keys(text).await.expect("type into field");
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// HTTP status of the document now shown (Navigation Timing `responseStatus`).
    pub async fn document_status(&self) -> u64 {
        self.js("const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0;")
            .await
            .as_u64()
            .unwrap_or(0)
    }

    /// Every URL this page fetched (Resource Timing), the page itself first.
    pub async fn fetched(&self) -> Vec<String> {
        let v = self
            .js("return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name));")
            .await;
        v.as_array()
            .expect("array")
            .iter()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Nothing the page loaded or points at leaves the server's origin, and it set no cookie.
    pub async fn assert_same_origin_no_cookies(&self, label: &str) {
        let prefix = format!("{}/", self.origin);
        for url in self.fetched().await {
            assert!(
                url.starts_with(&prefix),
                "{label}: the page fetched {url}, outside {}",
                self.origin
            );
        }
        // Everything the document refers to: scripts, styles, images, forms, links, frames.
        let refs = self
            .js(r#"
                const out = [];
                const attrs = ['src', 'href', 'action', 'formaction', 'poster', 'data', 'xlink:href'];
                for (const el of document.querySelectorAll('*')) {
                    for (const a of attrs) {
                        const v = el.getAttribute(a);
                        if (v !== null) out.push([el.tagName.toLowerCase(), a, v, new URL(v, document.baseURI).href]);
                    }
                    const ss = el.getAttribute('srcset');
                    if (ss) for (const part of ss.split(',')) {
                        const v = part.trim().split(/\s+/)[0];
                        if (v) out.push([el.tagName.toLowerCase(), 'srcset', v, new URL(v, document.baseURI).href]);
                    }
                }
                return out;
            "#)
            .await;
        for r in refs.as_array().expect("array") {
            let abs = r[3].as_str().unwrap_or_default();
            // tel: and mailto: open the phone or mail program; they fetch nothing. A blob: URL
            // of this origin is something the page itself made (a photo's preview).
            let harmless = abs.starts_with("tel:")
                || abs.starts_with("mailto:")
                || abs.starts_with(&format!("blob:{prefix}"));
            assert!(
                harmless || abs.starts_with(&prefix),
                "{label}: <{} {}=\"{}\"> points outside {}",
                r[0].as_str().unwrap_or_default(),
                r[1].as_str().unwrap_or_default(),
                r[2].as_str().unwrap_or_default(),
                self.origin
            );
        }
        let cookie = self.js("return document.cookie;").await;
        assert_eq!(cookie, json!(""), "{label}: document.cookie is not empty");
        let jar = self.c.get_all_cookies().await.expect("cookies");
        assert!(
            jar.is_empty(),
            "{label}: the browser holds cookies: {jar:?}"
        );
    }

    /// Makes the page's viewport (not the window) `width` × `height` CSS pixels.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        self.c
            .set_window_size(width, height)
            .await
            .expect("set window size");
        let inner = self
            .js("return [window.innerWidth, window.innerHeight];")
            .await;
        let (iw, ih) = (
            inner[0].as_u64().unwrap_or(0) as i64,
            inner[1].as_u64().unwrap_or(0) as i64,
        );
        let (dw, dh) = (width as i64 - iw, height as i64 - ih);
        if dw != 0 || dh != 0 {
            self.c
                .set_window_size((width as i64 + dw) as u32, (height as i64 + dh) as u32)
                .await
                .expect("set window size");
        }
    }

    /// Saves a screenshot of the whole page at `width` CSS pixels as
    /// `target/screenshots/NAME.png`; returns its path.
    pub async fn screenshot(&self, name: &str, width: u32, height: u32) -> PathBuf {
        self.set_viewport(width, height).await;
        let full = self
            .js("return Math.ceil(Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0));")
            .await
            .as_u64()
            .unwrap_or(height as u64) as u32;
        if full > height {
            self.set_viewport(width, full.min(8000)).await;
        }
        let png = self.c.screenshot().await.expect("screenshot");
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "screenshot {name} is not a PNG"
        );
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create target/screenshots");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        // Back to a normal window, so what follows does not run in a 6000 px tall one.
        self.set_viewport(width, height).await;
        path
    }

    /// Runs axe-core's WCAG 2 A and AA rules on the page now shown.
    pub async fn axe(&self, label: &str) -> AxeReport {
        // Pages without JavaScript run no timers, so axe.run would never finish there.
        if self.js == Js::Off {
            panic!("{label}: axe needs a page that runs scripts (timers); use a Js::On browser");
        }
        let has_axe = self.js("return typeof window.axe === 'object';").await;
        if has_axe != json!(true) {
            // A WebDriver script runs outside the page's Content-Security-Policy, so axe can
            // be put in a page whose policy refuses every script but its own.
            let source = std::fs::read_to_string(axe_path()).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run `npm ci` in src/web/assets (bash .ci/test does)",
                    axe_path().display()
                )
            });
            self.js(&format!("{source}\n;return typeof window.axe;"))
                .await;
            let has_axe = self.js("return typeof window.axe === 'object';").await;
            assert_eq!(has_axe, json!(true), "{label}: axe-core did not load");
        }
        let v = self
            .c
            .execute_async(
                r#"
                const done = arguments[arguments.length - 1];
                axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'], resultTypes: ['violations'] })
                  .then(r => done({
                      passes: r.passes.length,
                      incomplete: r.incomplete.length,
                      violations: r.violations.map(v => ({
                          id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.map(n => ({ target: n.target.join(' '), summary: n.failureSummary || '' })),
                      })),
                  }))
                  .catch(e => done({ error: String(e) }));
                "#,
                vec![],
            )
            .await
            .unwrap_or_else(|e| panic!("{label}: axe.run: {e}"));
        if let Some(err) = v.get("error") {
            panic!("{label}: axe.run failed: {err}");
        }
        let report = AxeReport {
            label: label.to_string(),
            passes: v["passes"].as_u64().unwrap_or(0) as usize,
            incomplete: v["incomplete"].as_u64().unwrap_or(0) as usize,
            violations: v["violations"].as_array().cloned().unwrap_or_default(),
        };
        print!("{}", report.describe());
        report
    }
}

pub fn axe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/assets/node_modules/axe-core/axe.min.js")
}

/// What axe found on one page.
pub struct AxeReport {
    pub label: String,
    pub passes: usize,
    pub incomplete: usize,
    pub violations: Vec<Value>,
}

impl AxeReport {
    /// Violations of impact serious or critical.
    pub fn severe(&self) -> Vec<&Value> {
        self.violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious") | Some("critical")))
            .collect()
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "axe {}: {} rules passed, {} violated, {} to check by hand\n",
            self.label,
            self.passes,
            self.violations.len(),
            self.incomplete
        );
        for v in &self.violations {
            s.push_str(&format!(
                "  [{}] {}: {}\n",
                v["impact"].as_str().unwrap_or("?"),
                v["id"].as_str().unwrap_or("?"),
                v["help"].as_str().unwrap_or("")
            ));
            for n in v["nodes"].as_array().into_iter().flatten().take(5) {
                s.push_str(&format!(
                    "      at {}: {}\n",
                    n["target"].as_str().unwrap_or(""),
                    n["summary"].as_str().unwrap_or("").replace('\n', " / ")
                ));
            }
        }
        s
    }
}
