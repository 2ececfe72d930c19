//! Webhook targets are judged on the address actually dialled: in live mode an internal
//! address is refused whether the URL names it or a name resolves to it; what a merchant sees
//! of a failure is a few coarse words.

use crate::helpers::{make_live, spawn_app, spawn_app_with, start_sandbox, TestApp};
use crate::receiver::Receiver;
use crate::wechat_raw::notify_xml;

/// Creates `id` returning to `return_url` and pays it; answers its last webhook attempt.
async fn pay_and_attempt(app: &TestApp, id: &str, return_url: &str, tx: &str) -> serde_json::Value {
    let order = app.order_with_trade(id, return_url).await;
    let xml = notify_xml(order["id"].as_str().unwrap(), tx, "1", &[], false);
    assert_eq!(app.post_notify(&xml).await.0, "SUCCESS");
    app.webhook_worker.run_once().await.unwrap();
    let webhooks = app.webhooks(id).await;
    assert_eq!(webhooks.len(), 1);
    webhooks[0]["attempts"][0].clone()
}

#[tokio::test]
async fn live_mode_refuses_internal_addresses_named_or_resolved() {
    let (sandbox_base, _sandbox) = start_sandbox(vec![]);
    let app = spawn_app_with(|s| make_live(s, &sandbox_base, false)).await;
    app.execute(&format!(
        "UPDATE merchants SET return_url_prefixes = \
         '[\"http://127.0.0.1\",\"http://localhost\",\"http://[::1]\"]' WHERE id = '{}'",
        app.merchant.id
    ));
    let shop = Receiver::start(vec![(200, "success")]);
    let port = shop.url.rsplit(':').next().unwrap().to_owned();
    for (id, url, tx) in [
        (
            "lit-v4",
            format!("http://127.0.0.1:{port}/paid"),
            "4200000000202611260000000021",
        ),
        (
            "lit-v6",
            format!("http://[::1]:{port}/paid"),
            "4200000000202611260000000022",
        ),
        // A name is judged on what it resolves to, at the moment of connecting.
        (
            "by-name",
            format!("http://localhost:{port}/paid"),
            "4200000000202611260000000023",
        ),
    ] {
        let attempt = pay_and_attempt(&app, id, &url, tx).await;
        assert_eq!(attempt["error"], "blocked address", "{id}");
        assert_eq!(attempt["http_status"], serde_json::Value::Null, "{id}");
    }
    assert!(
        shop.received().is_empty(),
        "nothing reached the internal address"
    );
}

#[tokio::test]
async fn failures_are_described_in_coarse_words() {
    let app = spawn_app().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let attempt = pay_and_attempt(
        &app,
        "refused",
        &format!("http://127.0.0.1:{closed_port}/paid"),
        "4200000000202611260000000024",
    )
    .await;
    assert_eq!(attempt["error"], "connection refused");

    // An internal service's answer never reaches the merchant: only its status.
    let internal = Receiver::start(vec![(500, "postgres password=hunter2 at 10.0.0.7")]);
    let attempt = pay_and_attempt(
        &app,
        "internal",
        &format!("{}/paid", internal.url),
        "4200000000202611260000000025",
    )
    .await;
    assert_eq!(attempt["error"], "HTTP 500");
    assert_eq!(attempt["http_status"], 500);
    let timeline = serde_json::to_string(&app.webhooks("internal").await).unwrap();
    assert!(!timeline.contains("hunter2"), "{timeline}");
}

#[tokio::test]
async fn merchant_prefixes_never_name_link_local_or_unspecified_addresses() {
    let app = spawn_app().await;
    let mut conn = app.pool.get().unwrap();
    for prefix in [
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0:8088",
        "http://[fe80::1]/",
    ] {
        let refused = payment_center::core::merchants::create(&mut conn, "x", &[prefix.to_owned()]);
        let message = refused.unwrap_err().to_string();
        assert!(
            message.contains("link-local or unspecified"),
            "{prefix}: {message}"
        );
    }
}
