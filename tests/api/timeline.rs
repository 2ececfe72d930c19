//! The order's timeline: every channel call and its outcome, every payment and signed notify
//! refused, every state change and every webhook attempt, oldest first, without secrets.

use crate::helpers::{error_of, spawn_app, TestApp};
use crate::receiver::Receiver;
use crate::webhooks::ACK;
use crate::wechat_raw::notify_xml;
use serde_json::Value;

async fn get_events(app: &TestApp, id: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/orders/{id}/events")))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap()
}

async fn timeline(app: &TestApp, id: &str) -> Vec<Value> {
    let response = get_events(app, id).await;
    assert_eq!(response.status().as_u16(), 200);
    response.json::<Value>().await.unwrap()["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn an_orders_life_is_on_its_timeline() {
    let app = spawn_app().await;
    let shop = Receiver::start(vec![(500, "later"), ACK]);
    let order = app
        .order_with_trade("life-1", &format!("{}/paid", shop.url))
        .await;
    let out_trade_no = order["id"].as_str().unwrap();
    // Signed, but for another amount: refused, and shown.
    let wrong = notify_xml(
        out_trade_no,
        "4200000000202611260000000201",
        "2",
        &[],
        false,
    );
    assert_eq!(app.post_notify(&wrong).await.0, "FAIL");
    let paid = notify_xml(
        out_trade_no,
        "4200000000202611260000000202",
        "1",
        &[],
        false,
    );
    assert_eq!(app.post_notify(&paid).await.0, "SUCCESS");
    assert_eq!(app.post_notify(&paid).await.0, "SUCCESS", "WeChat repeats");
    app.webhook_worker.run_once().await.unwrap();
    app.webhook_worker.run_once().await.unwrap();

    let events = timeline(&app, "life-1").await;
    assert_eq!(
        kinds(&events),
        [
            "created",
            "channel.pay",
            "notify.refused",
            "payment.received",
            "state.changed",
            "payment.repeated",
            "webhook.attempt",
            "webhook.attempt"
        ],
        "{events:#?}"
    );
    let at: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = at.clone();
    sorted.sort();
    assert_eq!(at, sorted, "oldest first");
    assert_eq!(events[0]["detail"]["amount"], 1);
    assert_eq!(events[1]["detail"]["call"], "unifiedorder");
    assert_eq!(events[1]["detail"]["outcome"], "ok");
    assert!(events[2]["detail"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("the amount 2 is not"));
    assert_eq!(events[3]["detail"]["source"], "notify");
    assert_eq!(
        events[3]["detail"]["transaction_id"],
        "4200000000202611260000000202"
    );
    assert_eq!(events[4]["detail"]["to"], "PAID");
    assert_eq!(events[6]["detail"]["http_status"], 500);
    assert_eq!(events[6]["detail"]["target"], "return_url");
    assert_eq!(events[7]["detail"]["http_status"], 200);
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&app.merchant.notify_secret) && !text.contains("\"sign\""));

    // Another merchant's order, or none: 404.
    let other = crate::helpers::create_merchant(&app.pool, "other", &["http://127.0.0.1"]);
    let response = app
        .client
        .get(app.url("/v1/orders/life-1/events"))
        .bearer_auth(&other.api_key)
        .send()
        .await
        .unwrap();
    error_of(response, 404).await;
    error_of(get_events(&app, "nope").await, 404).await;
}

#[tokio::test]
async fn expiry_shows_the_close_and_the_query_at_wechat() {
    let app = spawn_app().await;
    let order = app
        .order_with_trade("exp-1", "http://127.0.0.1:9/paid")
        .await;
    let out_trade_no = order["id"].as_str().unwrap();
    app.age_sandbox_trade(out_trade_no, 5 * 60).await;
    app.expire("exp-1");
    app.reconcile_worker.run_once().await.unwrap();
    let events = timeline(&app, "exp-1").await;
    assert_eq!(
        kinds(&events),
        [
            "created",
            "channel.pay",
            "channel.close",
            "channel.query",
            "state.changed"
        ],
        "{events:#?}"
    );
    assert_eq!(events[2]["detail"]["outcome"], "ok");
    assert_eq!(events[3]["detail"]["outcome"], "closed");
    assert_eq!(events[3]["detail"]["channel"], "wechat");
    assert_eq!(events[4]["detail"]["to"], "CLOSED");
}
