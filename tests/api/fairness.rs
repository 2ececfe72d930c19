//! One merchant's hanging endpoint never delays another merchant's webhooks.

use crate::helpers::{create_merchant, order_body, spawn_app_with};
use crate::receiver::Receiver;
use crate::webhooks::ACK;
use crate::wechat_raw::notify_xml;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Accepts connections and never answers; counts them.
async fn hanging_endpoint() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn a_hanging_merchant_does_not_hold_up_another() {
    let app = spawn_app_with(|s| s.run_workers = true).await;
    let (hanging, accepted) = hanging_endpoint().await;
    // Merchant A: 200 events due for its hanging endpoint.
    app.add_endpoint(&format!("{hanging}/events"), &["*"]).await;
    app.create_order("a-1").await;
    let closed = app
        .client
        .post(app.url("/v1/orders/a-1/close"))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status().as_u16(), 200);
    for n in 0..199 {
        app.execute(&format!(
            "INSERT INTO webhook_events (id, order_id, merchant_id, event_type, payload, url, \
             status, attempts, next_attempt_at, created_at, endpoint_id) \
             SELECT 'wh_fair_{n}', order_id, merchant_id, event_type, payload, url, 'PENDING', 0, \
             next_attempt_at, created_at, endpoint_id FROM webhook_events \
             WHERE id = (SELECT MIN(id) FROM webhook_events WHERE endpoint_id IS NOT NULL)"
        ));
    }
    assert_eq!(app.count("webhook_events"), 200);
    // A's sends are under way and hang.
    crate::helpers::eventually(Duration::from_secs(5), || async {
        (accepted.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await
    .expect("A's endpoint is being called");

    // Merchant B is paid now.
    let b = create_merchant(&app.pool, "B", &["http://127.0.0.1"]);
    let shop_b = Receiver::start(vec![ACK]);
    let mut body = order_body("b-1");
    body["return_url"] = json!(format!("{}/paid", shop_b.url));
    let order: Value = app
        .post_order_as(&b.api_key, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.native_as(&b.api_key, "b-1").await.status().as_u16(),
        200
    );
    let xml = notify_xml(
        order["id"].as_str().unwrap(),
        "4200000000202611260000000031",
        "1",
        &[],
        false,
    );
    assert_eq!(app.post_notify(&xml).await.0, "SUCCESS");

    // Every send to A waits for its 10 s timeout; B's arrives long before any of them ends.
    let received = shop_b.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 1, "B's webhook arrived while A's hang");
    let in_flight = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=payment_center::webhook::PER_MERCHANT_IN_FLIGHT).contains(&in_flight),
        "A holds at most its share of sends: {in_flight}"
    );
}
