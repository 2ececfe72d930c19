//! Paid webhooks to the merchant: signed, retried, recorded, redeliverable, surviving restarts.

use crate::helpers::{create_merchant, error_of, spawn_app, spawn_app_with, TestApp};
use crate::receiver::{Received, Receiver};
use crate::wechat_raw::notify_xml;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;
use std::time::Duration;

pub const ACK: (u16, &str) = (200, "success");

/// Verifies the form by API.md's rule, written here from the rule (not with our signer):
/// non-empty fields but `sign`, sorted by name, `k=v&…&key=<secret>`, HMAC-SHA256 keyed by the
/// secret, upper-case hex.
pub fn verified_form(received: &Received, secret: &str) -> HashMap<String, String> {
    assert_eq!(received.content_type, "application/x-www-form-urlencoded");
    let fields: HashMap<String, String> = url::form_urlencoded::parse(received.body.as_bytes())
        .into_owned()
        .collect();
    let mut names: Vec<&String> = fields
        .keys()
        .filter(|k| *k != "sign" && !fields[*k].is_empty())
        .collect();
    names.sort();
    let text = names
        .iter()
        .map(|k| format!("{k}={}", fields[*k]))
        .collect::<Vec<_>>()
        .join("&")
        + "&key="
        + secret;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(fields["sign"], expected, "the webhook's signature verifies");
    fields
}

/// An order returning to `receiver`, paid by a notify; answers its center id.
async fn paid_order(app: &TestApp, id: &str, receiver: &Receiver, transaction_id: &str) -> String {
    let order = app
        .order_with_trade(
            id,
            &format!("{}/orders/notifyMerchantOrderPaid", receiver.url),
        )
        .await;
    let out_trade_no = order["id"].as_str().unwrap().to_owned();
    let xml = notify_xml(&out_trade_no, transaction_id, "1", &[], false);
    assert_eq!(app.post_notify(&xml).await.0, "SUCCESS");
    out_trade_no
}

#[tokio::test]
async fn the_paid_webhook_is_the_signed_form_of_api_md() {
    let app = spawn_app().await;
    let merchant = Receiver::start(vec![ACK]);
    let order_id = paid_order(&app, "wh-1", &merchant, "4200000000202611220000000101").await;
    assert_eq!(app.webhook_worker.run_once().await.unwrap(), 1);

    let received = merchant.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/orders/notifyMerchantOrderPaid");
    let form = verified_form(&received[0], &app.merchant.notify_secret);
    let order = app.get_order("wh-1").await;
    assert_eq!(form["merchantOrderId"], "wh-1");
    assert_eq!(form["merchantUserId"], "190815GTKCBSS7MW");
    assert_eq!(form["orderId"], order_id);
    assert_eq!(form["amount"], "1");
    assert_eq!(form["payMethod"], "wechat");
    assert_eq!(form["status"], "PAID");
    assert_eq!(form["transactionId"], "4200000000202611220000000101");
    assert_eq!(form["paidAt"], order["paid_at"].as_str().unwrap());
    assert_eq!(
        form["paidAt"], "2026-11-22T06:13:19Z",
        "WeChat's time_end, Beijing → UTC"
    );
    assert_eq!(form["eventType"], "order.paid");
    assert_eq!(form["signType"], "HMAC-SHA256");
    assert_eq!(form["nonceStr"].len(), 32);
    let timestamp: i64 = form["timestamp"].parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    assert!(form["notifyId"].starts_with("wh_"));

    let webhooks = app.webhooks("wh-1").await;
    assert_eq!(webhooks[0]["notify_id"], form["notifyId"].as_str());
    assert_eq!(webhooks[0]["status"], "DELIVERED");
    assert!(webhooks[0]["delivered_at"].is_string());
    let attempts = webhooks[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["http_status"], 200);
    assert!(attempts[0]["latency_ms"].as_i64().unwrap() >= 0);
    // Delivered: nothing is due any more.
    assert_eq!(app.webhook_worker.run_once().await.unwrap(), 0);
}

#[tokio::test]
async fn failures_are_retried_with_one_notify_id_until_a_2xx() {
    let app = spawn_app().await;
    let merchant = Receiver::start(vec![(500, "no"), (500, "no"), ACK]);
    paid_order(&app, "wh-retry", &merchant, "4200000000202611220000000102").await;
    for _ in 0..5 {
        app.webhook_worker.run_once().await.unwrap();
    }
    let received = merchant.received();
    assert_eq!(received.len(), 3, "500, 500, 200: exactly three attempts");
    let forms: Vec<_> = received
        .iter()
        .map(|r| verified_form(r, &app.merchant.notify_secret))
        .collect();
    assert!(
        forms.iter().all(|f| f["notifyId"] == forms[0]["notifyId"]),
        "one notifyId for the event"
    );
    assert_ne!(
        forms[0]["nonceStr"], forms[1]["nonceStr"],
        "each attempt signed anew"
    );

    let webhooks = app.webhooks("wh-retry").await;
    assert_eq!(webhooks[0]["status"], "DELIVERED");
    let statuses: Vec<Value> = webhooks[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["http_status"].clone())
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(
        webhooks[0]["attempts"][0]["error"], "HTTP 500",
        "coarse: never the text of whatever answered"
    );
}

#[tokio::test]
async fn a_merchant_down_past_the_schedule_fails_the_event_and_redelivery_works() {
    let app = spawn_app().await;
    let merchant = Receiver::start(vec![(503, "down")]);
    paid_order(&app, "wh-down", &merchant, "4200000000202611220000000103").await;
    for _ in 0..6 {
        app.webhook_worker.run_once().await.unwrap();
    }
    // The test schedule is 0s,0s,0s: one attempt and three retries.
    assert_eq!(merchant.received().len(), 4);
    let webhooks = app.webhooks("wh-down").await;
    assert_eq!(webhooks[0]["status"], "FAILED");
    assert_eq!(webhooks[0]["next_attempt_at"], Value::Null);
    assert_eq!(webhooks[0]["last_error"], "HTTP 503");
    let notify_id = webhooks[0]["notify_id"].clone();

    // The merchant is back; it asks for the event again.
    let merchant = Receiver::start(vec![ACK]);
    app.execute(&format!(
        "UPDATE webhook_events SET url = '{}/orders/notifyMerchantOrderPaid'",
        merchant.url
    ));
    let response = app
        .client
        .post(app.url("/v1/orders/wh-down/webhooks/redeliver"))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["status"], "PENDING");
    assert_eq!(queued["notify_id"], notify_id);
    assert_eq!(app.webhook_worker.run_once().await.unwrap(), 1);
    let received = merchant.received();
    assert_eq!(received.len(), 1);
    let form = verified_form(&received[0], &app.merchant.notify_secret);
    assert_eq!(
        form["notifyId"],
        notify_id.as_str().unwrap(),
        "the same notifyId: merchants de-duplicate on it"
    );
    let webhooks = app.webhooks("wh-down").await;
    assert_eq!(webhooks[0]["status"], "DELIVERED");
    assert_eq!(
        webhooks[0]["attempts"].as_array().unwrap().len(),
        5,
        "the whole log is kept"
    );
}

#[tokio::test]
async fn the_default_schedule_is_wechats_fifteen_seconds_first() {
    let app = spawn_app_with(|s| {
        s.webhook_retry_schedule = payment_center::config::parse_schedule(
            "X",
            payment_center::config::WECHAT_RETRY_SCHEDULE,
        )
        .unwrap()
    })
    .await;
    let merchant = Receiver::start(vec![(500, "no")]);
    paid_order(&app, "wh-sched", &merchant, "4200000000202611220000000104").await;
    app.webhook_worker.run_once().await.unwrap();
    assert_eq!(
        app.webhook_worker.run_once().await.unwrap(),
        0,
        "not due again yet"
    );
    let webhooks = app.webhooks("wh-sched").await;
    assert_eq!(webhooks[0]["status"], "PENDING");
    let last: chrono::DateTime<chrono::Utc> = webhooks[0]["attempts"][0]["attempted_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let next: chrono::DateTime<chrono::Utc> = webhooks[0]["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // The pause runs from when the attempt settled, which is its latency after it started.
    let latency = webhooks[0]["attempts"][0]["latency_ms"].as_i64().unwrap() / 1000;
    let pause = (next - last).num_seconds() - latency;
    assert!((14..=16).contains(&pause), "{pause}");
}

#[tokio::test]
async fn an_event_survives_a_restart_between_payment_and_delivery() {
    let app = spawn_app().await;
    let merchant = Receiver::start(vec![ACK]);
    paid_order(
        &app,
        "wh-restart",
        &merchant,
        "4200000000202611220000000105",
    )
    .await;
    assert!(
        merchant.received().is_empty(),
        "the notify was answered before any webhook"
    );
    let app = app.restart().await;
    assert_eq!(app.webhook_worker.run_once().await.unwrap(), 1);
    assert_eq!(merchant.received().len(), 1);
    assert_eq!(app.webhooks("wh-restart").await[0]["status"], "DELIVERED");
}

#[tokio::test]
async fn only_registered_urls_are_called_and_redirects_are_not_followed() {
    let app = spawn_app().await;
    let target = Receiver::start(vec![ACK]);
    let redirector = Receiver::start(vec![(302, "")]);
    // (The receiver sets no Location; a redirect is refused by its status alone.)
    paid_order(
        &app,
        "wh-redirect",
        &redirector,
        "4200000000202611220000000106",
    )
    .await;
    app.webhook_worker.run_once().await.unwrap();
    let webhooks = app.webhooks("wh-redirect").await;
    assert_eq!(webhooks[0]["attempts"][0]["http_status"], 302);
    assert_eq!(
        webhooks[0]["status"], "PENDING",
        "a redirect is a failed attempt"
    );

    // The merchant's prefixes change: the pending event is refused without being sent.
    paid_order(&app, "wh-prefix", &target, "4200000000202611220000000107").await;
    app.execute(&format!(
        "UPDATE merchants SET return_url_prefixes = '[\"https://elsewhere.example\"]' WHERE id = '{}'",
        app.merchant.id
    ));
    for _ in 0..5 {
        app.webhook_worker.run_once().await.unwrap();
    }
    assert!(target.received().is_empty());
    let webhooks = app.webhooks("wh-prefix").await;
    assert_eq!(webhooks[0]["status"], "FAILED");
    assert_eq!(
        webhooks[0]["last_error"],
        "the URL is not under a registered return URL prefix any more"
    );
}

#[tokio::test]
async fn the_running_worker_delivers_promptly_and_stops_cleanly() {
    let app = spawn_app_with(|s| s.run_workers = true).await;
    let merchant = Receiver::start(vec![ACK]);
    paid_order(&app, "wh-prompt", &merchant, "4200000000202611220000000108").await;
    // Woken by the new event, not by a poll (the idle poll is 30 s).
    let received = merchant.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 1);
    let stopped = tokio::time::timeout(Duration::from_secs(10), app.stop()).await;
    assert!(
        matches!(stopped, Ok(Ok(()))),
        "server and worker stop: {stopped:?}"
    );
}

#[tokio::test]
async fn webhooks_of_another_merchants_order_are_404_and_redeliver_needs_an_event() {
    let app = spawn_app().await;
    app.create_order("wh-none").await;
    let other = create_merchant(&app.pool, "other", &["http://127.0.0.1"]);
    let response = app
        .client
        .get(app.url("/v1/orders/wh-none/webhooks"))
        .bearer_auth(&other.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response, 404).await.0, "not_found");
    assert!(app.webhooks("wh-none").await.is_empty());
    let response = app
        .client
        .post(app.url("/v1/orders/wh-none/webhooks/redeliver"))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(response, 409).await;
    assert_eq!(code, "conflict");
    assert_eq!(message, "the order has no webhook event yet");
}

/// A host that fails again and again is left alone for a while: its events wait without
/// spending their attempts.
#[tokio::test]
async fn a_host_that_keeps_failing_is_left_alone_for_a_while() {
    use payment_center::webhook::BREAKER_THRESHOLD;
    let app = spawn_app_with(|s| s.webhook_retry_schedule = vec![Duration::ZERO; 10]).await;
    let merchant = Receiver::start(vec![(500, "no")]);
    paid_order(
        &app,
        "wh-breaker",
        &merchant,
        "4200000000202611260000000109",
    )
    .await;
    for _ in 0..BREAKER_THRESHOLD {
        app.webhook_worker.run_once().await.unwrap();
    }
    assert_eq!(merchant.received().len(), BREAKER_THRESHOLD as usize);
    // Due again at once by the schedule, but the host's breaker is open: nothing is sent.
    assert_eq!(app.webhook_worker.run_once().await.unwrap(), 1, "claimed");
    assert_eq!(merchant.received().len(), BREAKER_THRESHOLD as usize);
    let webhook = &app.webhooks("wh-breaker").await[0];
    assert_eq!(webhook["status"], "PENDING");
    assert_eq!(
        webhook["attempts"].as_array().unwrap().len(),
        BREAKER_THRESHOLD as usize
    );
    let next: chrono::DateTime<chrono::Utc> = webhook["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let wait = next - chrono::Utc::now();
    assert!(
        wait > chrono::Duration::seconds(20) && wait <= chrono::Duration::seconds(31),
        "due when the breaker closes: {wait}"
    );
    assert_eq!(
        app.webhook_worker.run_once().await.unwrap(),
        0,
        "not due before"
    );
}
