//! Webhook endpoints: the merchant's own addresses for every event, by subscription; the
//! order's return_url hears of its payment only, once.

use crate::helpers::{create_merchant, error_of, spawn_app, TestApp};
use crate::receiver::Receiver;
use crate::webhooks::{verified_form, ACK};
use crate::wechat_raw::notify_xml;
use serde_json::{json, Value};

async fn post_endpoint(app: &TestApp, api_key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/webhook-endpoints"))
        .bearer_auth(api_key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn list(app: &TestApp, api_key: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/v1/webhook-endpoints"))
        .bearer_auth(api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json::<Value>().await.unwrap()["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn delete(app: &TestApp, api_key: &str, id: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/v1/webhook-endpoints/{id}")))
        .bearer_auth(api_key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn endpoints_are_created_listed_and_deleted_by_their_merchant_only() {
    let app = spawn_app().await;
    let key = app.merchant.api_key.clone();
    for (body, message) in [
        (
            json!({"url": "http://elsewhere.example/hook", "events": ["*"]}),
            "url must start with one of the merchant's registered return URL prefixes",
        ),
        (json!({"events": ["*"]}), "url is required"),
        (
            json!({"url": "http://127.0.0.1:9/hook", "events": ["order.shipped"]}),
            "events: \"order.shipped\" is not an event name",
        ),
        (
            json!({"url": "http://127.0.0.1:9/hook", "events": []}),
            "events must be a non-empty list of event names (order.paid, order.closed, order.paid_after_close, order.duplicate_payment) or [\"*\"]",
        ),
        (
            json!({"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": "x"}),
            "secret is not a field of a webhook endpoint",
        ),
    ] {
        let (code, got) = error_of(post_endpoint(&app, &key, &body).await, 400).await;
        assert_eq!((code.as_str(), got.as_str()), ("invalid_request", message));
    }
    assert!(list(&app, &key).await.is_empty(), "nothing written");

    let response = post_endpoint(
        &app,
        &key,
        &json!({"url": "http://127.0.0.1:9/hook", "events": ["order.closed", "order.closed", "order.paid"]}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
    let endpoint: Value = response.json().await.unwrap();
    assert!(endpoint["id"].as_str().unwrap().starts_with("we_"));
    assert_eq!(endpoint["events"], json!(["order.closed", "order.paid"]));
    assert_eq!(list(&app, &key).await, std::slice::from_ref(&endpoint));

    // Another merchant neither sees nor deletes it.
    let other = create_merchant(&app.pool, "other", &["http://127.0.0.1"]);
    assert!(list(&app, &other.api_key).await.is_empty());
    let id = endpoint["id"].as_str().unwrap();
    let (code, _) = error_of(delete(&app, &other.api_key, id).await, 404).await;
    assert_eq!(code, "not_found");

    assert_eq!(delete(&app, &key, id).await.status().as_u16(), 204);
    assert!(list(&app, &key).await.is_empty());
    error_of(delete(&app, &key, id).await, 404).await;
    let (code, _) = error_of(
        app.client
            .get(app.url("/v1/webhook-endpoints"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert_eq!(code, "unauthorized");
}

/// An abandoned order that is closed sends nothing to its return_url; money after the close
/// sends the paid notification there once, and the rest to the endpoints that asked.
#[tokio::test]
async fn the_paid_url_hears_only_of_the_payment_and_endpoints_hear_what_they_asked_for() {
    let app = spawn_app().await;
    let paid_url = Receiver::start(vec![ACK]);
    let closes = Receiver::start(vec![ACK]);
    let everything = Receiver::start(vec![ACK]);
    app.add_endpoint(&format!("{}/closed", closes.url), &["order.closed"])
        .await;
    app.add_endpoint(&format!("{}/all", everything.url), &["*"])
        .await;

    let order = app
        .order_with_trade("abandoned", &format!("{}/paid", paid_url.url))
        .await;
    let close = app
        .client
        .post(app.url("/v1/orders/abandoned/close"))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(close.status().as_u16(), 200);
    app.webhook_worker.run_once().await.unwrap();
    assert!(paid_url.received().is_empty(), "a close is not a payment");
    let secret = app.merchant.notify_secret.clone();
    let closed = verified_form(&closes.received()[0], &secret);
    assert_eq!(closed["eventType"], "order.closed");
    assert_eq!(closed["status"], "CLOSED");
    assert_eq!(
        verified_form(&everything.received()[0], &secret)["eventType"],
        "order.closed"
    );

    // The shopper had the QR code open: the money arrives after the close, then again.
    let out_trade_no = order["id"].as_str().unwrap();
    for transaction_id in [
        "4200000000202611260000000011",
        "4200000000202611260000000012",
    ] {
        let xml = notify_xml(out_trade_no, transaction_id, "1", &[], false);
        assert_eq!(app.post_notify(&xml).await.0, "SUCCESS");
    }
    app.webhook_worker.run_once().await.unwrap();
    let to_paid_url = paid_url.received();
    assert_eq!(to_paid_url.len(), 1, "one paid notification per order");
    let paid = verified_form(&to_paid_url[0], &secret);
    assert_eq!(paid["eventType"], "order.paid");
    assert_eq!(paid["status"], "PAID");
    assert_eq!(paid["transactionId"], "4200000000202611260000000011");
    assert_eq!(
        closes.received().len(),
        1,
        "subscribed to order.closed only"
    );
    let mut heard: Vec<String> = everything
        .received()
        .iter()
        .map(|r| verified_form(r, &secret)["eventType"].clone())
        .collect();
    heard.sort();
    assert_eq!(
        heard,
        [
            "order.closed",
            "order.duplicate_payment",
            "order.paid_after_close"
        ]
    );
    // The store itself refuses a second paid notification for the order.
    let second = {
        use diesel::RunQueryDsl;
        let mut conn = app.pool.get().unwrap();
        diesel::sql_query(format!(
            "INSERT INTO webhook_events (id, order_id, merchant_id, event_type, payload, url, \
             status, attempts, created_at) SELECT 'wh_again', order_id, merchant_id, event_type, \
             payload, url, 'PENDING', 0, created_at FROM webhook_events \
             WHERE order_id = '{out_trade_no}' AND endpoint_id IS NULL"
        ))
        .execute(&mut **conn)
    };
    assert!(second.is_err(), "{second:?}");
}

#[tokio::test]
async fn deleting_an_endpoint_gives_up_its_undelivered_events() {
    let app = spawn_app().await;
    let endpoint = app.add_endpoint("http://127.0.0.1:9/down", &["*"]).await;
    app.create_order("gone-1").await;
    app.client
        .post(app.url("/v1/orders/gone-1/close"))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap();
    let pending = app.webhooks("gone-1").await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["status"], "PENDING");
    assert_eq!(pending[0]["endpoint_id"], endpoint["id"]);
    let response = delete(
        &app,
        &app.merchant.api_key,
        endpoint["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
    let after = app.webhooks("gone-1").await;
    assert_eq!(after[0]["status"], "FAILED");
    assert_eq!(after[0]["last_error"], "the webhook endpoint was deleted");
    assert_eq!(app.webhook_worker.run_once().await.unwrap(), 0);
}
