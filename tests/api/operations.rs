//! What an operator relies on: metrics, the OpenAPI document.

use crate::helpers::spawn_app;
use crate::wechat_raw::notify_xml;
use serde_json::Value;

#[tokio::test]
async fn metrics_count_requests_by_route_transitions_notifies_and_the_queue() {
    let app = spawn_app().await;
    let order = app
        .order_with_trade("metrics-1", "http://127.0.0.1:9/paid")
        .await;
    app.get_order("metrics-1").await;
    let out_trade_no = order["id"].as_str().unwrap();
    app.post_notify(&notify_xml(
        out_trade_no,
        "4200000000202611220000000901",
        "1",
        &[],
        false,
    ))
    .await;
    app.post_notify(&notify_xml(out_trade_no, "42009", "999", &[], false))
        .await;

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    for expected in [
        "payment_center_http_requests_total{route=\"/v1/orders/{merchant_order_id}\",method=\"GET\",status=\"200\"}",
        "payment_center_order_transitions_total{to=\"PAID\"}",
        "payment_center_notifies_total{channel=\"wechat\",result=\"accepted\",reason=\"recorded\"}",
        "payment_center_notifies_total{channel=\"wechat\",result=\"rejected\",reason=\"amount\"}",
        "payment_center_channel_call_duration_seconds_count{call=\"unifiedorder\"}",
        "# TYPE payment_center_webhook_queue_depth gauge",
    ] {
        assert!(text.contains(expected), "missing {expected}");
    }
    assert!(!text.contains("metrics-1"), "no ids in labels");
    let depth = text
        .lines()
        .find(|l| l.starts_with("payment_center_webhook_queue_depth "))
        .expect("a queue depth");
    assert_eq!(
        depth, "payment_center_webhook_queue_depth 1",
        "the paid event waits"
    );
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let served: Value = response.json().await.unwrap();
    let mut file: Value = serde_json::from_str(payment_center::api::OPENAPI_JSON).unwrap();
    // The file's server is the laptop default; the service names itself.
    assert_eq!(
        served["servers"],
        serde_json::json!([{ "url": app.address }])
    );
    file["servers"] = served["servers"].clone();
    assert_eq!(served, file);
    assert_eq!(
        served["paths"]["/v1/orders"]["post"]["operationId"],
        "postV1Orders"
    );
}
