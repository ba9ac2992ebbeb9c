//! The example web client at `/demo` (`examples/web`), as its user meets it: a headless
//! Chromium that prefers Chinese (the browser of `graphiql.rs`, with its network cut off past
//! loopback) opens the page, signs in with a pasted token, opens a customer, records an
//! interaction through the form, and sees one a colleague records arrive over the page's socket.
//! Needs Chromium and chromedriver, as `graphiql.rs` does.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::graphiql::{Browser, ELEMENT, dead_end_proxy};
use crate::helpers::TestApp;

/// In the order the list shows them: by name, in code points.
const NAMES: [&str; 3] = ["北京云杉科技有限公司", "华东精密仪器有限公司", "李娜"];
const RECORDED: &str = "电话回访：确认二季度订单";
const HEARD: &str = "上门拜访：演示新产品线";

#[tokio::test]
async fn without_demo_mode_there_is_no_demo_page() {
    let app = TestApp::shared().await;
    for path in ["/demo", "/demo/app.js"] {
        let res = app.client.get(format!("{}{path}", app.base)).send().await.expect("request");
        assert_eq!(res.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn the_demo_page_signs_in_records_and_hears_live() {
    let app = TestApp::spawn_with(|c| c.demo_page = true).await;
    check_files(&app).await;
    let admin = app.token("demo", "ADMIN", "demo-admin");
    let inputs: Vec<Value> = NAMES.iter().map(|name| json!({ "kind": "ORGANIZATION", "name": name })).collect();
    let ids = app.create_customers(&admin, &inputs).await;

    let browser = Browser::start(dead_end_proxy().await, &["--accept-lang=zh-CN"]).await;
    let seen = use_the_page(&browser, &app, &admin, &ids[1]).await;
    // The browser is quit before any assertion, so a failing test leaves no Chromium behind.
    browser.quit().await;
    let seen = seen.unwrap_or_else(|e| panic!("the page did not show what it should: {e}"));
    // Saved before anything is asserted, to look at when something is.
    let png = &seen.screenshot;
    let mut dirs = vec![Path::new(env!("CARGO_TARGET_TMPDIR")).to_owned()];
    dirs.extend(std::env::var_os("GUANXI_SCREENSHOT_DIR").map(Into::into));
    for dir in dirs {
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join("demo-page.png"), png).expect("screenshot written");
    }

    // The browser asked for Chinese; the page shows the server's words.
    assert_eq!(seen.refused, "令牌无效：格式不正确", "a token that is not one");
    for name in NAMES {
        assert!(seen.customers.contains(name), "{name} is listed: {}", seen.customers);
    }
    assert_eq!(seen.signed_in, json!([admin, false, true]), "the tab keeps the token; the form gives way");
    for shown in [NAMES[1], "统计 Stats", "互动 Interactions", "未结投诉 Open complaints", "无 None"] {
        assert!(seen.opened.contains(shown), "the 360° view shows {shown}: {}", seen.opened);
    }
    assert!(seen.violations.contains("amount: PURCHASE（购买）须填写大于零的金额"), "{}", seen.violations);
    assert!(seen.recorded.contains(RECORDED) && seen.recorded.contains("demo-admin"), "{}", seen.recorded);
    let [Some(first), Some(second)] = seen.keys.as_slice() else {
        panic!("two recordings, each with an Idempotency-Key: {:?}", seen.keys)
    };
    assert_ne!(first, second, "an answered recording settles its key");
    assert!(seen.live_first.contains(HEARD) && seen.live_first.contains("li.na"), "on top: {}", seen.live_first);
    assert!(seen.live_first.ends_with("|fresh"), "flashes: {}", seen.live_first);
    assert!(seen.live_after < Duration::from_secs(5), "live within {:?}", seen.live_after);
    assert_eq!(seen.counted, "2", "the stats follow the timeline");
    assert_eq!(seen.signed_out, json!([null, true, false]), "sign out forgets the token and asks for one");

    // The refused PURCHASE recorded nothing, the form's CALL and the colleague's VISIT once each.
    let res = app
        .gql(&admin, "query($id: ID!) { customer(id: $id) { interactions { totalCount } } }", json!({ "id": ids[1] }))
        .await;
    assert_eq!(res["data"]["customer"]["interactions"]["totalCount"], 2, "{res}");

    // A PNG of the page as the user saw it: the IHDR chunk's width and height follow the signature.
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "a PNG of {} bytes", png.len());
    let width = u32::from_be_bytes(png[16..20].try_into().expect("width"));
    let height = u32::from_be_bytes(png[20..24].try_into().expect("height"));
    assert!(width >= 800 && height >= 500, "{width}×{height}");
}

/// The page and its files: typed, under a policy that allows this origin only and no inline
/// script; nothing else under `/demo/`.
async fn check_files(app: &TestApp) {
    for (path, content_type) in [
        ("/demo", "text/html; charset=utf-8"),
        ("/demo/app.js", "text/javascript; charset=utf-8"),
        ("/demo/graphql.js", "text/javascript; charset=utf-8"),
        ("/demo/style.css", "text/css; charset=utf-8"),
    ] {
        let res = app.client.get(format!("{}{path}", app.base)).send().await.expect("request");
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-type"], content_type, "{path}");
        let csp = res.headers()["content-security-policy"].to_str().expect("csp");
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("connect-src 'self';") && !csp.contains("unsafe"), "{csp}");
    }
    for path in ["/demo/README.md", "/demo/index.html", "/demo/nope.js"] {
        let res = app.client.get(format!("{}{path}", app.base)).send().await.expect("request");
        assert_eq!(res.status(), 404, "{path}");
    }
}

/// What the user saw at each step.
struct Seen {
    /// The error shown for a token that is not one.
    refused: String,
    customers: String,
    /// `[stored token, sign-in form shown, workspace shown]` once signed in.
    signed_in: Value,
    opened: String,
    violations: String,
    recorded: String,
    /// The `Idempotency-Key` of each recording the page sent.
    keys: Vec<Option<String>>,
    /// The timeline's first entry and its class, `text|class`, once the colleague's arrived.
    live_first: String,
    live_after: Duration,
    /// The interaction count of the 360° view's stats, once it says 2.
    counted: String,
    screenshot: Vec<u8>,
    /// The same after signing out.
    signed_out: Value,
}

async fn use_the_page(browser: &Browser, app: &TestApp, admin: &str, customer: &str) -> Result<Seen, String> {
    browser.command("/url", json!({ "url": format!("{}/demo", app.base) })).await?;
    type_into(browser, "#token", "not-a-token").await?;
    click(browser, "css selector", "#sign-in button").await?;
    let refused = browser.wait_for(&text_of("#error"), "令牌").await?;
    type_into(browser, "#token", admin).await?;
    click(browser, "css selector", "#sign-in button").await?;
    let customers = browser.wait_for(&text_of("#customers"), NAMES[2]).await?;
    let signed_in = browser.script(&format!("return [sessionStorage.getItem('guanxi.token'), {VISIBLE}];")).await?;

    let xpath = format!("//ul[@id='customers']//button[contains(., '{}')]", NAMES[1]);
    click(browser, "xpath", &xpath).await?;
    browser.wait_for(&text_of("#live"), "实时").await?;
    let opened = browser.wait_for(&text_of("#detail"), NAMES[1]).await?;

    // A PURCHASE needs an amount the form does not have: the server says so, in Chinese.
    click(browser, "css selector", "#record option[value=PURCHASE]").await?;
    type_into(browser, "#record [name=summary]", "试购").await?;
    click(browser, "css selector", "#record button").await?;
    let violations = browser.wait_for(&text_of("#violations"), "amount").await?;

    click(browser, "css selector", "#record option[value=CALL]").await?;
    type_into(browser, "#record [name=summary]", RECORDED).await?;
    click(browser, "css selector", "#record button").await?;
    let recorded = browser.wait_for(&text_of("#timeline"), RECORDED).await?;
    let keys = idempotency_keys(browser).await?;

    let colleague = app.token("demo", "MANAGER", "li.na");
    let now = chrono::Utc::now().to_rfc3339();
    let input = json!({ "customerId": customer, "kind": "VISIT", "summary": HEARD, "occurredAt": now });
    let started = Instant::now();
    let mutation = "mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) { id } }";
    let res = app.gql(&colleague, mutation, json!({ "i": input })).await;
    if res.get("errors").is_some() {
        return Err(format!("the colleague could not record: {res}"));
    }
    let first = "const li = document.querySelector('#timeline li'); return li && li.innerText + '|' + li.className;";
    let live_first = browser.wait_for(first, HEARD).await?;
    let live_after = started.elapsed();
    let count = "const dts = [...document.querySelectorAll('#stats dt')]; \
                 return dts.find((dt) => dt.textContent.startsWith('互动 ')).nextElementSibling.textContent;";
    let counted = browser.wait_for(count, "2").await?;
    let screenshot = browser.screenshot().await?;

    click(browser, "css selector", "#sign-out").await?;
    let signed_out = browser.script(&format!("return [sessionStorage.getItem('guanxi.token'), {VISIBLE}];")).await?;
    Ok(Seen {
        refused,
        customers,
        signed_in,
        opened,
        violations,
        recorded,
        keys,
        live_first,
        live_after,
        counted,
        screenshot,
        signed_out,
    })
}

/// The `Idempotency-Key` of each `recordInteraction` the page has POSTed, from the browser's log
/// of the requests it started.
async fn idempotency_keys(browser: &Browser) -> Result<Vec<Option<String>>, String> {
    let entries = browser.command("/se/log", json!({ "type": "performance" })).await?;
    let mut keys = Vec::new();
    for entry in entries.as_array().map(Vec::as_slice).unwrap_or_default() {
        let message: Value = serde_json::from_str(entry["message"].as_str().unwrap_or("{}")).unwrap_or_default();
        let request = &message["message"]["params"]["request"];
        let body = request["postData"].as_str().unwrap_or_default();
        if message["message"]["method"] == "Network.requestWillBeSent" && body.contains("recordInteraction") {
            keys.push(request["headers"]["Idempotency-Key"].as_str().map(str::to_owned));
        }
    }
    Ok(keys)
}

/// Whether the sign-in form and the workspace are shown, as a script's expression.
const VISIBLE: &str = "document.getElementById('sign-in').checkVisibility(), \
                       document.getElementById('workspace').checkVisibility()";

/// A script returning the text `css` shows (null while nothing matches).
fn text_of(css: &str) -> String {
    format!("const e = document.querySelector({css:?}); return e ? e.innerText : null;")
}

/// The element `value` selects, once there is one.
async fn find(browser: &Browser, using: &str, value: &str) -> Result<String, String> {
    let started = Instant::now();
    loop {
        match browser.command("/element", json!({ "using": using, "value": value })).await {
            Ok(element) => return Ok(element[ELEMENT].as_str().unwrap_or_default().to_owned()),
            Err(e) if started.elapsed() > Duration::from_secs(10) => return Err(format!("no {value}: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn click(browser: &Browser, using: &str, value: &str) -> Result<(), String> {
    let element = find(browser, using, value).await?;
    browser.command(&format!("/element/{element}/click"), json!({})).await.map(drop)
}

/// Replaces what the field `css` holds with `text`, typed as the user would.
async fn type_into(browser: &Browser, css: &str, text: &str) -> Result<(), String> {
    let element = find(browser, "css selector", css).await?;
    browser.command(&format!("/element/{element}/clear"), json!({})).await?;
    browser.command(&format!("/element/{element}/value"), json!({ "text": text })).await.map(drop)
}
