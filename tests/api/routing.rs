//! The route table's own matcher (`http::router`) over HTTP: what actix's router did, it does.

use crate::helpers::{error_of, get_text, order_body, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn a_path_parameter_is_percent_decoded_except_for_a_slash() {
    let app = spawn_app().await;
    assert_eq!(app.post_order(&order_body("route-1")).await.status(), 201);

    // `%2D` is '-': the same order.
    let response = app.get_order_as(&app.merchant.api_key, "route%2D1").await;
    assert_eq!(response.status(), 200);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["merchant_order_id"], "route-1");

    // An encoded '/' stays inside its segment: the order route took it, and found no order.
    let (code, message) = error_of(
        app.get_order_as(&app.merchant.api_key, "route%2F1").await,
        404,
    )
    .await;
    assert_eq!(code, "not_found");
    assert_eq!(message, "no order with this merchant_order_id");
}

#[tokio::test]
async fn a_segment_too_many_or_too_few_is_no_route() {
    let app = spawn_app().await;
    for path in [
        "/v1/orders/route-1/",
        "/v1/orders//close",
        "/v1/orders/route-1/wechat",
        "/v1/checkout/",
        "/healthz/",
        "/sandbox/wechat/nothing",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let (code, message) = error_of(response, 404).await;
        assert_eq!(code, "not_found", "{path}");
        assert_eq!(message, format!("no such endpoint: GET {path}"));
    }
}

#[tokio::test]
async fn a_route_answers_a_method_it_does_not_take_with_405() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/v1/orders/route-1/close"))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(response, 405).await;
    assert_eq!(code, "method_not_allowed");
    assert_eq!(message, "GET is not allowed on /v1/orders/route-1/close");
    // Inside a sandbox's mount too.
    let response = app
        .client
        .get(app.url("/sandbox/wechat/pay/unifiedorder"))
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(response, 405).await;
    assert_eq!(code, "method_not_allowed");
    assert_eq!(
        message,
        "GET is not allowed on /sandbox/wechat/pay/unifiedorder"
    );
}

#[tokio::test]
async fn metrics_label_a_request_by_its_pattern_and_a_miss_as_unmatched() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/v1/checkout/ct_nope")).send().await;
    assert_eq!(response.unwrap().status(), 404);
    let response = app.client.get(app.url("/no/such/path")).send().await;
    assert_eq!(response.unwrap().status(), 404);
    let text = get_text(&app.client, &app.url("/metrics")).await;
    assert!(
        text.contains(
            "payment_center_http_requests_total{route=\"/v1/checkout/{checkout_token}\",method=\"GET\",status=\"404\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "payment_center_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1"
        ),
        "{text}"
    );
}
