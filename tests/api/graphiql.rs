//! `/graphiql` works with no network but the server's: a headless Chromium, driven through
//! chromedriver (WebDriver is plain HTTP and JSON, so reqwest is the whole client), opens the
//! page with `?token=` and `?query=`, presses the run button and reads the answer. The browser
//! can resolve no name and sends everything past loopback to a proxy of the test's that answers
//! nothing; the page's own network log (every request it started, `data:` URLs included) must
//! name the server's origin only. Chromium's own background calls (updates, sign-in) also hit
//! the dead proxy; they are the browser's, not the page's, and are not in the page's log.
//!
//! Chromium and chromedriver must be installed (`apt-get install -y chromium chromium-driver`;
//! `.ci/test` does it): without them the test fails, it does not skip.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::helpers::TestApp;

/// The W3C WebDriver key under which an element reference comes back.
pub(crate) const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The first full path of `name` in `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// A free loopback port (released at once, for chromedriver to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// A proxy that closes every connection unanswered: what the browser sends past loopback
/// goes nowhere.
pub(crate) async fn dead_end_proxy() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move { while listener.accept().await.is_ok() {} });
    port
}

/// One chromedriver process (killed if dropped, say by a panic) and one browser session in it.
pub(crate) struct Browser {
    driver: tokio::process::Child,
    client: reqwest::Client,
    session: String,
}

impl Browser {
    /// A browser whose traffic past loopback goes to `proxy_port`, with `extra_args` for Chromium.
    pub(crate) async fn start(proxy_port: u16, extra_args: &[&str]) -> Self {
        const INSTALL: &str = "install them: apt-get install -y chromium chromium-driver";
        let chromium = on_path("chromium")
            .or_else(|| on_path("chromium-browser"))
            .unwrap_or_else(|| panic!("chromium is not on PATH; {INSTALL}"));
        let chromedriver = on_path("chromedriver").unwrap_or_else(|| panic!("chromedriver is not on PATH; {INSTALL}"));
        let port = free_port();
        let driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = client.get(format!("{base}/status")).send().await.ok().map(|r| r.status().is_success());
            if ready == Some(true) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not answer on port {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless",
            // Tests run as root in containers, where Chromium's sandbox cannot start.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-domain-reliability",
            "--no-first-run",
            // Chromium sends loopback directly and everything else to the dead-end proxy...
            &format!("--proxy-server=http://127.0.0.1:{proxy_port}"),
            // ...and could resolve no other name anyway.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--window-size=1280,900",
        ];
        let args: Vec<&str> = args.iter().chain(extra_args).copied().collect();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
            // The page's DevTools events, among them every request it starts.
            "goog:loggingPrefs": { "performance": "ALL" },
        } } });
        let res = client.post(format!("{base}/session")).json(&capabilities).send().await.expect("new session");
        let body: Value = res.json().await.expect("session json");
        let session = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver started no browser: {body}"))
            .to_owned();
        Browser { driver, client, session: format!("{base}/session/{session}") }
    }

    /// A WebDriver command; its `value`, or the WebDriver error as text.
    pub(crate) async fn command(&self, path: &str, body: Value) -> Result<Value, String> {
        let res = self.client.post(format!("{}{path}", self.session)).json(&body).send().await;
        let res = res.map_err(|e| format!("chromedriver: {e}"))?;
        let ok = res.status().is_success();
        let body: Value = res.json().await.map_err(|e| format!("chromedriver answer: {e}"))?;
        if ok { Ok(body["value"].clone()) } else { Err(body["value"].to_string()) }
    }

    pub(crate) async fn script(&self, source: &str) -> Result<Value, String> {
        self.command("/execute/sync", json!({ "script": source, "args": [] })).await
    }

    /// Polls `source` until it returns a string containing `needle` (or 30 s have passed).
    pub(crate) async fn wait_for(&self, source: &str, needle: &str) -> Result<String, String> {
        let started = Instant::now();
        let mut last = Value::Null;
        while started.elapsed() < Duration::from_secs(30) {
            last = self.script(source).await?;
            if let Some(text) = last.as_str().filter(|t| t.contains(needle)) {
                return Ok(text.to_owned());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("no {needle:?} within 30 s; last seen: {last}"))
    }

    /// The URL of every request the page has started since the last call.
    async fn requests(&self) -> Result<Vec<String>, String> {
        let entries = self.command("/se/log", json!({ "type": "performance" })).await?;
        let mut urls = Vec::new();
        for entry in entries.as_array().map(Vec::as_slice).unwrap_or_default() {
            let message: Value = serde_json::from_str(entry["message"].as_str().unwrap_or("{}")).unwrap_or_default();
            if message["message"]["method"] == "Network.requestWillBeSent" {
                urls.push(message["message"]["params"]["request"]["url"].as_str().unwrap_or_default().to_owned());
            }
        }
        Ok(urls)
    }

    /// A PNG of the window, as the page looks now.
    pub(crate) async fn screenshot(&self) -> Result<Vec<u8>, String> {
        let res = self.client.get(format!("{}/screenshot", self.session)).send().await;
        let body: Value = res.map_err(|e| format!("chromedriver: {e}"))?.json().await.map_err(|e| e.to_string())?;
        let png = body["value"].as_str().ok_or_else(|| format!("no screenshot: {body}"))?;
        base64::engine::general_purpose::STANDARD.decode(png).map_err(|e| format!("screenshot is not base64: {e}"))
    }

    /// Ends the session (Chromium with it), then chromedriver, and waits for it to go.
    pub(crate) async fn quit(mut self) {
        let _ = self.client.delete(&self.session).send().await;
        let _ = self.driver.kill().await;
    }
}

/// What the browser saw: the response pane, the address after loading, the token field, and
/// every request the page started.
struct Seen {
    response: String,
    location: String,
    field: String,
    requests: Vec<String>,
}

async fn run_query_in_graphiql(browser: &Browser, url: &str, needle: &str) -> Result<Seen, String> {
    browser.command("/url", json!({ "url": url })).await?;
    // The run button appears once React has rendered GraphiQL from the served scripts.
    let started = Instant::now();
    let button = loop {
        let found =
            browser.command("/element", json!({ "using": "css selector", "value": ".graphiql-execute-button" })).await;
        match found {
            Ok(element) => break element[ELEMENT].as_str().unwrap_or_default().to_owned(),
            Err(e) if started.elapsed() > Duration::from_secs(30) => return Err(format!("no run button: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    browser.command(&format!("/element/{button}/click"), json!({})).await?;
    let response = browser
        .wait_for(
            "const cm = document.querySelector('.result-window .CodeMirror'); \
             return cm ? cm.CodeMirror.getValue() : null;",
            needle,
        )
        .await?;
    let location = browser.script("return window.location.href;").await?.as_str().unwrap_or_default().to_owned();
    let field = browser
        .script("return document.getElementById('guanxi-token').value;")
        .await?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let requests = browser.requests().await?;
    Ok(Seen { response, location, field, requests })
}

#[tokio::test]
async fn graphiql_runs_a_query_with_no_network_beyond_loopback() {
    let app = TestApp::shared().await;
    let token = app.token("acme", "ADMIN", "a");
    app.create_customer(&token, json!({ "kind": "ORGANIZATION", "name": "离线贸易有限公司" })).await;

    let browser = Browser::start(dead_end_proxy().await, &[]).await;
    let query = "{ customers(first: 5) { nodes { name } } }";
    let url = reqwest::Url::parse_with_params(
        &format!("{}/graphiql", app.base),
        [("token", token.as_str()), ("query", query)],
    )
    .expect("url");
    // The browser is quit before any assertion, so a failing test leaves no Chromium behind.
    let seen = run_query_in_graphiql(&browser, url.as_str(), "离线贸易有限公司").await;
    browser.quit().await;
    let seen = seen.unwrap_or_else(|e| panic!("GraphiQL did not show the answer: {e}"));

    // The answer came from the server: the token reached it, as `Authorization: Bearer`.
    let answer: Value = serde_json::from_str(&seen.response).expect("the response pane holds JSON");
    assert_eq!(answer["data"]["customers"]["nodes"][0]["name"], "离线贸易有限公司", "{answer}");
    assert_eq!(seen.field, token, "?token= filled the token field");
    assert!(!seen.location.contains("token"), "the token left the address bar: {}", seen.location);
    assert!(seen.location.contains("query="), "other parameters stay: {}", seen.location);
    let assets = format!("{}/graphiql/assets/", app.base);
    assert_eq!(
        seen.requests.iter().filter(|r| r.starts_with(&assets)).count(),
        4,
        "three scripts and the stylesheet, from the server: {:?}",
        seen.requests
    );
    assert!(seen.requests.contains(&format!("{}/graphql", app.base)), "{:?}", seen.requests);
    for request in &seen.requests {
        // GraphiQL's fonts are `data:` URLs inside its stylesheet.
        let local = request.starts_with(&format!("{}/", app.base)) || request.starts_with("data:");
        assert!(local, "the page asked for {request}");
    }
}

/// The files are the server's, typed, kept for a year, and gzipped for clients that ask.
#[tokio::test]
async fn graphiql_assets_are_served_pinned_and_compressed() {
    let app = TestApp::shared().await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.base));

    let page = get("/graphiql").send().await.expect("page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().expect("csp").to_owned();
    assert!(csp.contains("connect-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(!html.contains("http://") && !html.contains("https://"), "no other origin in the page");

    for (path, content_type) in [
        ("/graphiql/assets/graphiql-3.9.0/graphiql.min.js", "text/javascript; charset=utf-8"),
        ("/graphiql/assets/graphiql-3.9.0/graphiql.min.css", "text/css; charset=utf-8"),
        ("/graphiql/assets/react-18.3.1/react.production.min.js", "text/javascript; charset=utf-8"),
        ("/graphiql/assets/react-dom-18.3.1/react-dom.production.min.js", "text/javascript; charset=utf-8"),
        ("/graphiql/assets/graphiql-3.9.0/LICENSE", "text/plain; charset=utf-8"),
    ] {
        assert!(html.contains(path) || path.ends_with("LICENSE"), "the page uses {path}");
        let plain = get(path).send().await.expect("asset");
        assert_eq!(plain.status(), 200, "{path}");
        assert_eq!(plain.headers()["content-type"], content_type, "{path}");
        assert_eq!(plain.headers()["cache-control"], "public, max-age=31536000, immutable", "{path}");
        assert!(plain.headers().get("content-encoding").is_none(), "{path} unasked is not compressed");
        let size = plain.bytes().await.expect("body").len();
        let gzipped = get(path).header("accept-encoding", "gzip").send().await.expect("asset");
        assert_eq!(gzipped.headers()["content-encoding"], "gzip", "{path}");
        let compressed = gzipped.bytes().await.expect("body").len();
        assert!(compressed < size, "{path}: {compressed} bytes gzipped of {size}");
    }
    assert_eq!(get("/graphiql/assets/graphiql-3.9.0/nope.js").send().await.expect("missing").status(), 404);
    assert_eq!(get("/graphiql/assets/graphiql-3.8.0/graphiql.min.js").send().await.expect("old").status(), 404);
}
