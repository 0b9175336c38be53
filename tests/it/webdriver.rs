//! A small W3C WebDriver client over reqwest: Debian's chromedriver on a free port, driving a
//! headless Chromium with a fresh profile. Waits poll a condition until a deadline; nothing
//! sleeps to synchronise.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for a page or element may take.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`
    session: String,
    driver: Child,
    /// The session has been ended.
    quit: bool,
    _profile: tempfile::TempDir,
    /// Where screenshots go.
    pub shots: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed before `quit`: end the WebDriver session first (Chromium exits
        // with it; killing chromedriver alone would leave it running), then chromedriver.
        if !self.quit {
            end_session(&self.session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE <session>` without a runtime (from `Drop`), waiting for the answer.
fn end_session(session: &str) {
    use std::io::{Read, Write};
    let Some(rest) = session.strip_prefix("http://") else {
        return;
    };
    let Some((host, path)) = rest.split_once('/') else {
        return;
    };
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = write!(
        s,
        "DELETE /{path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    );
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
}

impl Browser {
    /// chromedriver and a headless Chromium; screenshots under `$CARGO_TARGET_TMPDIR/web/<test>`.
    pub async fn start(test: &str) -> Browser {
        for (what, path, package) in [
            ("Chromium", CHROMIUM, "chromium"),
            ("chromedriver", CHROMEDRIVER, "chromium-driver"),
        ] {
            assert!(
                Path::new(path).exists(),
                "{what} is missing at {path}: install Debian's `{package}` (apt-get install -y chromium chromium-driver; .ci/run does)"
            );
        }
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("web")
            .join(test);
        std::fs::create_dir_all(&shots).expect("screenshot directory");
        let port = crate::ports::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .is_some_and(|v| v["value"]["ready"] == json!(true)),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver on port {port} not ready after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let created = post(&http, &format!("{base}/session"), &caps).await;
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_string();
        Browser {
            http,
            session: format!("{base}/session/{id}"),
            driver,
            quit: false,
            _profile: profile,
            shots,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = &body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        } else if method == reqwest::Method::POST {
            req = req.header("content-type", "application/json").body("{}");
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        let bytes = r.bytes().await.expect("WebDriver answer");
        serde_json::from_slice(&bytes).expect("WebDriver answers JSON")
    }

    async fn get(&self, path: &str) -> Value {
        self.cmd(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn goto(&self, url: &str) {
        let v = self.post("/url", json!({ "url": url })).await;
        assert!(v["value"].is_null(), "navigate to {url}: {v}");
    }

    pub async fn url(&self) -> String {
        self.get("/url").await["value"]
            .as_str()
            .expect("url")
            .to_string()
    }

    pub async fn source(&self) -> String {
        self.get("/source").await["value"]
            .as_str()
            .expect("page source")
            .to_string()
    }

    /// The element matching `css` now, if any.
    pub async fn try_find(&self, css: &str) -> Option<String> {
        let v = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await;
        v["value"][ELEMENT].as_str().map(str::to_string)
    }

    /// Waits until an element matches `css`.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css:?} within {WAIT:?} on {}:\n{}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Elements matching `css` inside element `parent`.
    pub async fn find_in(&self, parent: &str, css: &str) -> Vec<String> {
        let v = self
            .post(
                &format!("/element/{parent}/elements"),
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn text(&self, element: &str) -> String {
        self.get(&format!("/element/{element}/text")).await["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn click(&self, element: &str) {
        let v = self
            .post(&format!("/element/{element}/click"), json!({}))
            .await;
        assert!(v["value"].is_null(), "click: {v}");
    }

    pub async fn type_into(&self, element: &str, text: &str) {
        let v = self
            .post(
                &format!("/element/{element}/value"),
                json!({ "text": text }),
            )
            .await;
        assert!(v["value"].is_null(), "send keys: {v}");
    }

    /// Waits until the page's URL satisfies `cond`.
    pub async fn wait_url(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let u = self.url().await;
            if cond(&u) {
                return u;
            }
            assert!(Instant::now() < deadline, "URL never became {what}: at {u}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The browser's cookies, as WebDriver reports them (with httpOnly, sameSite, secure).
    pub async fn cookies(&self) -> Vec<Value> {
        self.get("/cookie").await["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Saves a PNG of the viewport as `<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().expect("screenshot data"))
            .expect("screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }

    /// Ends the WebDriver session (Chromium exits).
    pub async fn quit(mut self) {
        let r = self.http.delete(&self.session).send().await;
        assert!(
            r.is_ok_and(|r| r.status().is_success()),
            "WebDriver session ended"
        );
        self.quit = true;
    }
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let b = r.bytes().await.expect("answer");
    serde_json::from_slice(&b).expect("JSON answer")
}
