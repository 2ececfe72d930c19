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
        .env_remove("PAYMENT_MODE")
        .env_remove("WECHAT_APP_ID")
        .env_remove("WECHAT_MCH_ID")
        .env_remove("WECHAT_API_KEY")
        .env_remove("WECHAT_API_BASE")
        .env_remove("ALIPAY_APP_ID")
        .env_remove("ALIPAY_APP_PRIVATE_KEY")
        .env_remove("ALIPAY_PUBLIC_KEY")
        .env_remove("ALIPAY_GATEWAY")
        .env_remove("WEBHOOK_ALLOWED_NETWORKS")
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
    assert!(logs.contains("SANDBOX MODE"), "a loud sandbox line: {logs}");
    assert!(
        logs.contains("request=\"POST /v1/orders\" status=201"),
        "one structured line per request: {logs}"
    );
    assert!(
        !logs.contains(&api_key) && !logs.contains(&secret),
        "secrets stay out of logs"
    );
    let db = dir.path().join("payment-center.db");
    assert!(db.exists(), "the embedded default file");
    // It holds every merchant's notify secret: the owner's alone, and so is its WAL.
    use std::os::unix::fs::PermissionsExt;
    for file in ["payment-center.db", "payment-center.db-wal"] {
        let path = dir.path().join(file);
        if path.exists() || file.ends_with(".db") {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file}: {mode:o}");
        }
    }

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

/// The port a started child listens on, from its log line.
fn listening_port(child: &mut Child) -> (u16, mpsc::Receiver<String>) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let (port_tx, port_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("public base URL http://") {
                let rest = &line[at + "public base URL http://".len()..];
                let port = rest.rsplit(':').next().unwrap_or("").trim().parse::<u16>();
                if let Ok(port) = port {
                    let _ = port_tx.send(port);
                }
            }
            let _ = tx.send(line);
        }
    });
    let port = port_rx
        .recv_timeout(START_WITHIN)
        .expect("the child listens");
    (port, rx)
}

fn drain(lines: &mpsc::Receiver<String>) -> String {
    lines.try_iter().collect::<Vec<_>>().join("\n")
}

#[test]
fn a_reachable_service_with_no_mode_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary(dir.path())
        .env("BIND_ADDR", "0.0.0.0:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("set PAYMENT_MODE=live"), "{stderr}");
    assert!(
        !dir.path().join("payment-center.db").exists(),
        "nothing written"
    );

    let half = binary(dir.path())
        .env("PAYMENT_MODE", "live")
        .env("WECHAT_APP_ID", "wx0123456789abcdef")
        .output()
        .unwrap();
    assert!(!half.status.success());
    let stderr = String::from_utf8_lossy(&half.stderr);
    assert!(
        stderr.contains("WECHAT_MCH_ID and WECHAT_API_KEY missing"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_live_process_takes_a_payment_from_another_process_sandbox() {
    // The channel: another instance's built-in sandbox, over HTTP.
    let channel = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = binary(dir.path())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("WECHAT_APP_ID", crate::wechat_raw::APP_ID)
        .env("WECHAT_MCH_ID", crate::wechat_raw::MCH_ID)
        .env("WECHAT_API_KEY", crate::wechat_raw::KEY)
        .env("WECHAT_API_BASE", channel.url("/sandbox/wechat"))
        // The test's shop is on this machine.
        .env("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (port, lines) = listening_port(&mut child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let sandbox = client
        .post(format!("{base}/sandbox/wechat/simulate-pay"))
        .json(&json!({"out_trade_no": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.status().as_u16(), 404, "no sandbox in live mode");
    let ready = crate::helpers::get_json(&client, &format!("{base}/readyz")).await;
    assert_eq!(ready["mode"], "live");

    let database = dir.path().join("payment-center.db");
    let added = merchant_command(
        database.to_str().unwrap(),
        &[
            "add",
            "--name",
            "live shop",
            "--return-url-prefix",
            "http://127.0.0.1",
        ],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let merchant: Value = serde_json::from_slice(&added.stdout).unwrap();
    let key = merchant["api_key"].as_str().unwrap();
    let shop = crate::receiver::Receiver::start(vec![crate::webhooks::ACK]);
    let mut body = order_body("live-proc-1");
    body["return_url"] = json!(format!("{}/paid", shop.url));
    let order: Value = client
        .post(format!("{base}/v1/orders"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["livemode"], true, "{order}");
    let native: Value = client
        .post(format!("{base}/v1/orders/live-proc-1/wechat/native"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paid: Value = channel
        .simulate_pay(&json!({ "code_url": native["code_url"] }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["notified"], true, "{paid}");
    let received = shop.wait_for(1, START_WITHIN).await;
    assert_eq!(
        received.len(),
        1,
        "the live process's worker delivers the webhook"
    );
    let form =
        crate::webhooks::verified_form(&received[0], merchant["notify_secret"].as_str().unwrap());
    assert_eq!(form["livemode"], "true");
    assert_eq!(
        form["transactionId"],
        paid["transaction_id"].as_str().unwrap()
    );

    // A notify signed with any other key changes nothing.
    let other = "0123456789abcdef0123456789abcdef";
    let forged = crate::wechat_raw::notify_xml_signed_with(
        other,
        order["id"].as_str().unwrap(),
        "4200000000202611260000000099",
        "1",
        &[],
        false,
    );
    let answer = client
        .post(format!("{base}/notify/wechat"))
        .body(forged)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(answer.contains("signature does not verify"), "{answer}");

    let (stdout, _) = stop(child);
    let logs = drain(&lines);
    assert!(logs.contains("LIVE mode"), "{logs}");
    assert!(
        logs.contains("WeChat Pay: credentials accepted"),
        "the start checked its account without money: {logs}"
    );
    assert!(!logs.contains("SANDBOX"), "{logs}");
    assert!(
        !stdout.contains("api_key"),
        "no demo merchant in live mode: {stdout}"
    );
}

#[test]
fn a_start_that_cannot_listen_creates_no_demo_merchant() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let failed = binary(dir.path())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("cannot listen"));
    assert!(String::from_utf8_lossy(&failed.stdout).is_empty());
    // The next start can listen: it, not the failed one, creates and shows the credentials.
    let mut child = start(dir.path());
    let banner = read_banner(&mut child);
    stop(child);
    assert!(banner.is_some_and(|b| b.contains("\"api_key\"")));
}

fn merchant_command(database_url: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    binary(dir.path())
        .env("DATABASE_URL", database_url)
        .arg("merchant")
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn keys_and_secrets_are_listed_never_and_rotated_at_once() {
    let app = spawn_app().await;
    let listed = merchant_command(&app.database_url, &["list"]);
    assert!(listed.status.success());
    let list: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(list[0]["merchant_id"], app.merchant.id.as_str());
    assert_eq!(list[0]["name"], "天天吃货");
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(!text.contains(&app.merchant.api_key) && !text.contains("api_key"));
    assert!(!text.contains(&app.merchant.notify_secret));

    // The key is in use (and so in the service's memory) when it is rotated.
    assert_eq!(
        app.get_order_as(&app.merchant.api_key, "none")
            .await
            .status()
            .as_u16(),
        404
    );
    let rotated = merchant_command(
        &app.database_url,
        &["rotate-key", "--merchant-id", &app.merchant.id],
    );
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let printed: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    let new_key = printed["api_key"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get_order_as(&new_key, "none").await.status().as_u16(),
        404
    );
    // The running service's copy of the merchant lives one second.
    let old_refused = crate::helpers::eventually(Duration::from_secs(3), || async {
        (app.get_order_as(&app.merchant.api_key, "none")
            .await
            .status()
            .as_u16()
            == 401)
            .then_some(())
    })
    .await;
    assert!(old_refused.is_some(), "the old key stops working");

    let secret = merchant_command(
        &app.database_url,
        &["rotate-notify-secret", "--merchant-id", &app.merchant.id],
    );
    assert!(secret.status.success());
    let printed: Value = serde_json::from_slice(&secret.stdout).unwrap();
    let new_secret = printed["notify_secret"].as_str().unwrap();
    assert_eq!(new_secret.len(), 32);
    assert_ne!(new_secret, app.merchant.notify_secret);

    let unknown = merchant_command(
        &app.database_url,
        &["rotate-key", "--merchant-id", "mch_nobody"],
    );
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("no merchant has --merchant-id mch_nobody"),
        "{stderr}"
    );
    assert!(unknown.stdout.is_empty());
}

/// The notify URL is open to anyone: 500 forged notifies of 8 KiB grow neither the database
/// nor the log by more than a little (measured on the real binary, its SQLite file and stderr).
#[tokio::test]
async fn a_flood_of_forged_notifies_costs_little_disk_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = binary(dir.path())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("DEMO_MERCHANT", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (port, lines) = listening_port(&mut child);
    let files_size = || {
        ["payment-center.db", "payment-center.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(dir.path().join(f)).ok())
            .map(|m| m.len())
            .sum::<u64>()
    };
    let client = reqwest::Client::new();
    // Settle the log and the files first.
    client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let log_before = drain(&lines).len();
    let db_before = files_size();
    let padding = "x".repeat(8 * 1024);
    let forged =
        crate::wechat_raw::notify_xml("PCnone", "42001", "1", &[("attach", &padding)], false)
            .replace("<sign>", "<sign>0");
    for _ in 0..500 {
        let answer = client
            .post(format!("http://127.0.0.1:{port}/notify/wechat"))
            .body(forged.clone())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(answer.contains("FAIL"));
    }
    std::thread::sleep(Duration::from_millis(300));
    let log_growth = drain(&lines).len();
    let db_growth = files_size().saturating_sub(db_before);
    stop(child);
    eprintln!("500 forged 8 KiB notifies: log +{log_growth} bytes, database +{db_growth} bytes (log before: {log_before})");
    assert!(log_growth < 1024 * 1024, "log grew {log_growth} bytes");
    assert!(db_growth < 1024 * 1024, "database grew {db_growth} bytes");
}

#[tokio::test]
async fn a_course_login_is_set_from_the_command_line_and_opens_the_course_only() {
    let app = spawn_app().await;
    let id = app.merchant.id.clone();
    let user = format!("cli-{id}");
    let short = merchant_command(
        &app.database_url,
        &[
            "legacy-login",
            "--merchant-id",
            &id,
            "--user-id",
            &user,
            "--password",
            "short",
        ],
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("--password must be 8–128"));
    let key_as_password = merchant_command(
        &app.database_url,
        &[
            "legacy-login",
            "--merchant-id",
            &id,
            "--user-id",
            &user,
            "--password",
            &app.merchant.api_key,
        ],
    );
    assert!(
        !key_as_password.status.success(),
        "the API key is never the course's password"
    );

    let set = merchant_command(
        &app.database_url,
        &[
            "legacy-login",
            "--merchant-id",
            &id,
            "--user-id",
            &user,
            "--password",
            "imooc-shop-pass",
        ],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let printed: Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(printed, json!({"merchant_id": id, "user_id": user}));
    assert!(!String::from_utf8_lossy(&set.stdout).contains("imooc-shop-pass"));

    let body = json!({"merchantOrderId": "cli-course-1", "merchantUserId": "u1", "amount": 1,
                      "payMethod": 1, "returnUrl": "http://localhost:8088/orders/notifyMerchantOrderPaid"});
    let created = crate::legacy::create(&app, &body, &user, "imooc-shop-pass").await;
    assert_eq!(created["status"], 200, "{created}");

    // Another merchant cannot take the same user id.
    let other = crate::helpers::create_merchant(&app.pool, "other", &["http://127.0.0.1"]);
    let taken = merchant_command(
        &app.database_url,
        &[
            "legacy-login",
            "--merchant-id",
            &other.id,
            "--user-id",
            &user,
            "--password",
            "another-pass-1",
        ],
    );
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("another merchant's course login"));
}

#[test]
fn serve_help_lists_every_variable_and_bad_settings_fail_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let help = binary(dir.path())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for (name, default, _) in payment_center::config::VARIABLES {
        assert!(text.contains(name), "{name} in serve --help");
        assert!(text.contains(default), "{name}'s default in serve --help");
    }
    let add_help = binary(dir.path())
        .args(["merchant", "add", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&add_help.stdout).contains("The merchant's name"));

    for (url, says) in [
        ("mysql://root@localhost/pc", "mysql:// is not supported"),
        ("postgresql//postgres@localhost/pc", "without \"://\""),
        ("/no/such/dir/pc.db", "/no/such/dir"),
    ] {
        let started = std::time::Instant::now();
        let output = binary(dir.path())
            .env("DATABASE_URL", url)
            .env("BIND_ADDR", "127.0.0.1:0")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{url}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(says),
            "{url}"
        );
        assert!(started.elapsed() < START_WITHIN, "at once");
    }
}

#[test]
fn an_unreachable_redis_is_a_warning_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = binary(dir.path())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = read_until(child.stderr.take().unwrap(), |line| {
        line.contains("listening; public base URL")
    })
    .expect("it starts all the same");
    stop(child);
    assert!(logs.contains("Redis does not answer"), "{logs}");
    assert!(logs.contains("WARN"), "{logs}");
}

#[test]
fn sandbox_keys_prints_what_a_client_needs_and_the_keys_pair() {
    use payment_center::channel::alipay::sign::{PrivateKey, PublicKey};
    let dir = tempfile::tempdir().unwrap();
    let output = binary(dir.path())
        .args(["sandbox", "keys"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let keys: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(keys["wechat"]["appid"], "wxd930ea5d5a258f4f");
    assert_eq!(keys["wechat"]["mch_id"], "10000100");
    assert_eq!(keys["alipay"]["app_id"], "2021000000000001");
    let alipay = &keys["alipay"];
    let pem = |name: &str| alipay[name].as_str().unwrap().to_owned();
    let app = PrivateKey::from_pem(&pem("app_private_key")).unwrap();
    assert_eq!(
        app.public_key(),
        PublicKey::from_pem(&pem("app_public_key")).unwrap()
    );
    let ali = PrivateKey::from_pem(&pem("alipay_private_key")).unwrap();
    assert_eq!(
        ali.public_key(),
        PublicKey::from_pem(&pem("alipay_public_key")).unwrap()
    );
}
