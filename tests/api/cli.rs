//! The binary itself: `merchant add` and the first start on the embedded default.

use crate::helpers::{error_of, order_body, spawn_app};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn binary(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_payment-center"));
    // The temporary directory has no .env; the test's own environment must not leak in.
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("PUBLIC_BASE_URL")
        .env_remove("BIND_ADDR")
        .env_remove("DEMO_MERCHANT")
        .env("RUST_LOG", "info");
    command
}

#[tokio::test]
async fn merchant_add_prints_credentials_that_work() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let output = binary(dir.path())
        .env("DATABASE_URL", &app.database_url)
        .args([
            "merchant",
            "add",
            "--name",
            "foodie-dev",
            "--return-url-prefix",
        ])
        .args([
            "http://shop.example:8088/orders",
            "--return-url-prefix",
            "https://shop.example",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let object = printed.as_object().unwrap();
    assert_eq!(object.len(), 3);
    let api_key = printed["api_key"].as_str().unwrap();
    assert!(printed["merchant_id"].as_str().unwrap().starts_with("mch_"));
    assert_eq!(printed["notify_secret"].as_str().unwrap().len(), 32);

    let mut body = order_body("cli-1");
    body["return_url"] = json!("http://shop.example:8088/orders/notifyMerchantOrderPaid");
    assert_eq!(
        app.post_order_as(api_key, &body).await.status().as_u16(),
        201
    );
    body["return_url"] = json!("http://localhost:8088/orders/notifyMerchantOrderPaid");
    let (_, message) = error_of(app.post_order_as(api_key, &body).await, 400).await;
    assert!(
        message.contains("registered return URL prefixes"),
        "{message}"
    );
}

#[test]
fn merchant_add_refuses_bad_input_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let db = db.to_str().unwrap();
    let no_prefix = binary(dir.path())
        .env("DATABASE_URL", db)
        .args(["merchant", "add", "--name", "x"])
        .output()
        .unwrap();
    assert!(!no_prefix.status.success());
    assert!(String::from_utf8_lossy(&no_prefix.stderr).contains("--return-url-prefix"));

    let bad_prefix = binary(dir.path())
        .env("DATABASE_URL", db)
        .args([
            "merchant",
            "add",
            "--name",
            "x",
            "--return-url-prefix",
            "ftp://x",
        ])
        .output()
        .unwrap();
    assert!(!bad_prefix.status.success());
    let stderr = String::from_utf8_lossy(&bad_prefix.stderr);
    assert!(
        stderr.contains("return URL prefix \"ftp://x\" must be"),
        "{stderr}"
    );
    assert!(bad_prefix.stdout.is_empty());
}

/// A debug binary right after a cold build can take a while to migrate a fresh file.
const START_WITHIN: Duration = Duration::from_secs(60);

/// What `stream` says up to and including its first line that `done` accepts; `None` if no
/// such line came within `START_WITHIN`. Reading goes on in the background, so that the
/// child never blocks on a full pipe.
fn read_until(
    stream: impl Read + Send + 'static,
    done: impl Fn(&str) -> bool + Send + 'static,
) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
            if done(&line) {
                let _ = tx.send(text.clone());
            }
        }
    });
    rx.recv_timeout(START_WITHIN).ok()
}

/// The child's stdout until the demo banner's curl is complete.
fn read_banner(child: &mut Child) -> Option<String> {
    read_until(child.stdout.take().unwrap(), |line| {
        line.starts_with("  -d ")
    })
}

fn start(dir: &std::path::Path) -> Child {
    binary(dir)
        .env("BIND_ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Kills the child; answers (stdout, stderr), each as far as no one read it before.
fn stop(mut child: Child) -> (String, String) {
    child.kill().unwrap();
    child.wait().unwrap();
    let rest = |stream: Option<&mut dyn Read>| {
        let mut text = String::new();
        if let Some(stream) = stream {
            stream.read_to_string(&mut text).unwrap();
        }
        text
    };
    (
        rest(child.stdout.as_mut().map(|s| s as &mut dyn Read)),
        rest(child.stderr.as_mut().map(|s| s as &mut dyn Read)),
    )
}

#[test]
fn the_first_start_prints_a_demo_merchant_and_a_curl_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start(dir.path());
    let banner = read_banner(&mut child).expect("a banner on the first start");
    let json_start = banner.find('{').unwrap();
    let json_end = banner.find('}').unwrap();
    let credentials: Value = serde_json::from_str(&banner[json_start..=json_end]).unwrap();
    let api_key = credentials["api_key"].as_str().unwrap().to_owned();
    let secret = credentials["notify_secret"].as_str().unwrap().to_owned();

    let curl = &banner[banner.find("curl ").unwrap()..];
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("{} -w '\\n%{{http_code}}'", curl.trim_end()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (body, status) = stdout.rsplit_once('\n').unwrap();
    assert_eq!(status, "201", "{stdout}");
    let order: Value = serde_json::from_str(body).unwrap();
    assert_eq!(order["status"], "WAIT_PAY");
    assert_eq!(order["merchant_order_id"], "demo-1");

    let (_, logs) = stop(child);
    assert!(
        logs.contains("request=\"POST /v1/orders\" status=201"),
        "one structured line per request: {logs}"
    );
    assert!(
        !logs.contains(&api_key) && !logs.contains(&secret),
        "secrets stay out of logs"
    );
    assert!(
        dir.path().join("payment-center.db").exists(),
        "the embedded default file"
    );

    // The second start has a merchant already: once it listens (the banner would be printed
    // right after that log line), its stdout holds no credentials.
    let mut child = start(dir.path());
    let listening = read_until(child.stderr.take().unwrap(), |line| {
        line.contains("listening; public base URL")
    });
    assert!(listening.is_some(), "the second start listens");
    std::thread::sleep(Duration::from_millis(300));
    let (stdout, _) = stop(child);
    assert!(!stdout.contains("api_key"), "{stdout}");
}
