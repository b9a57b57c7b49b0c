//! A real headless Chromium (Debian's `chromium` and `chromium-driver`) driven over the W3C
//! WebDriver protocol: chromedriver on a free port, one session per [`Browser`], closed on drop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::PATIENCE;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// WebDriver's key codes.
pub mod keys {
    /// Enter.
    pub const ENTER: &str = "\u{E007}";
    /// Tab.
    pub const TAB: &str = "\u{E004}";
    /// Arrow up.
    pub const UP: &str = "\u{E013}";
    /// Arrow down.
    pub const DOWN: &str = "\u{E015}";
    /// Escape.
    pub const ESCAPE: &str = "\u{E00C}";
}

/// One browser session; the driver and the browser go away when it is dropped.
pub struct Browser {
    driver: Child,
    session: String,
    client: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a window of `width` × `height`.
    pub fn start(width: u32, height: u32) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
            "the UI tests need Debian's chromium and chromium-driver (.ci/run installs them)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let client = reqwest::blocking::Client::builder().timeout(PATIENCE).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        super::eventually("chromedriver to answer", || {
            let status: Value = client.get(format!("{base}/status")).send().ok()?.json().ok()?;
            status["value"]["ready"].as_bool().filter(|ready| *ready)
        });
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            &format!("--window-size={width},{height}"),
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let created: Value = client.post(format!("{base}/session")).json(&capabilities).send().unwrap().json().unwrap();
        let session =
            created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_owned();
        let browser = Browser { driver, session: format!("{base}/session/{session}"), client, _profile: profile };
        browser.resize(width, height);
        browser
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().unwrap().json().unwrap();
        if let Some(error) = reply["value"]["error"].as_str() {
            panic!("webdriver {path}: {error}: {}", reply["value"]["message"]);
        }
        reply["value"].clone()
    }

    /// Opens a URL and waits for the app to draw its shell.
    pub fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
        self.wait_for("the app to start", "return document.querySelector('main') !== null");
    }

    /// Runs a script in the page (`return …` gives a value; `arguments[i]` are the args).
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// Polls `script` until it returns something other than null, false, 0 or "" and returns it;
    /// on timeout, saves a screenshot and fails with the console's errors.
    pub fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.execute(script, json!([]));
            let done = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if done {
                return value;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("timeout-{}", what.replace(|c: char| !c.is_alphanumeric(), "-")));
                panic!(
                    "timed out waiting for {what} (screenshot {}); console: {:?}",
                    shot.display(),
                    self.console_errors()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn element(&self, css: &str) -> String {
        let found =
            self.call(reqwest::Method::POST, "/element", Some(json!({ "using": "css selector", "value": css })));
        found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).unwrap().to_owned()
    }

    /// Clicks the first element matching `css`.
    pub fn click(&self, css: &str) {
        self.wait_for(&format!("{css} to appear"), &format!("return document.querySelector({css:?}) !== null"));
        let id = self.element(css);
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Clicks the first button whose text is `label`.
    pub fn click_button(&self, label: &str) {
        let xpath = format!("//button[normalize-space()='{label}']");
        self.wait_for(
            &format!("the button {label}"),
            &format!("return document.evaluate({xpath:?}, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue !== null"),
        );
        let found = self.call(reqwest::Method::POST, "/element", Some(json!({ "using": "xpath", "value": xpath })));
        let id = found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).unwrap().to_owned();
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Types `text` (which may hold [`keys`]) into the first element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        self.wait_for(&format!("{css} to appear"), &format!("return document.querySelector({css:?}) !== null"));
        let id = self.element(css);
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text })));
    }

    /// Picks `value` in the `<select>` matching `css`, as a user choosing it would.
    pub fn select(&self, css: &str, value: &str) {
        self.wait_for(&format!("{css} to appear"), &format!("return document.querySelector({css:?}) !== null"));
        self.execute(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change', {bubbles: true}))",
            json!([css, value]),
        );
    }

    /// Clears the field matching `css`.
    pub fn clear(&self, css: &str) {
        let id = self.element(css);
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({})));
    }

    /// Presses keys in whatever has the focus.
    pub fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                [
                    json!({ "type": "keyDown", "value": c.to_string() }),
                    json!({ "type": "keyUp", "value": c.to_string() }),
                ]
            })
            .collect();
        self.call(
            reqwest::Method::POST,
            "/actions",
            Some(json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] })),
        );
    }

    /// Sets the window's size.
    pub fn resize(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", Some(json!({ "width": width, "height": height })));
    }

    /// The text of the first element matching `css`, waiting for it to exist.
    pub fn text(&self, css: &str) -> String {
        self.wait_for(
            &format!("text of {css}"),
            &format!(
                "const e = document.querySelector({css:?}); return e ? (e.innerText ?? e.textContent) || ' ' : null"
            ),
        )
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned()
    }

    /// How many elements match `css` now.
    pub fn count(&self, css: &str) -> u64 {
        self.execute(&format!("return document.querySelectorAll({css:?}).length"), json!([])).as_u64().unwrap()
    }

    /// The browser console's errors since the last call (page errors, failed requests, console.error).
    pub fn console_errors(&self) -> Vec<String> {
        let entries = self.call(reqwest::Method::POST, "/se/log", Some(json!({ "type": "browser" })));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Saves a PNG of the window under `target/tmp/ui-screenshots/` (and, with
    /// `UPDATE_SCREENSHOTS=1`, under `docs/screenshots/` for the README) and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let data = self.call(reqwest::Method::GET, "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap()).unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap();
        if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("{name}.png")), &png).unwrap();
        }
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.client.delete(&self.session).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
