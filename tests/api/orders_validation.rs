//! Every rule of `POST /v1/orders`: a 400 whose message names the field, and nothing written.

use crate::helpers::{error_of, order_body, spawn_app};
use serde_json::{json, Value};

const ORDER_ID_RULE: &str =
    "merchant_order_id must be 1–32 characters of A-Z, a-z, 0-9, '_' or '-'";
const USER_ID_RULE: &str = "merchant_user_id must be 1–64 printable characters";
const AMOUNT_RULE: &str = "amount must be a positive integer number of fen, at most 100000000";
const PAY_METHOD_RULE: &str = "pay_method must be \"wechat\" (or 1), \"alipay\" (or 2), or null";
const DESCRIPTION_RULE: &str =
    "description must be 1–127 bytes of UTF-8 text without control characters";
const EXPIRE_RULE: &str = "expire_minutes must be an integer from 1 to 120";
const RETURN_URL_HTTP: &str = "return_url must be an absolute http or https URL";

fn without(field: &str) -> Value {
    let mut body = order_body("v-1");
    body.as_object_mut().unwrap().remove(field);
    body
}

fn with(field: &str, value: Value) -> Value {
    let mut body = order_body("v-1");
    body[field] = value;
    body
}

#[tokio::test]
async fn each_field_rule_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let cases: Vec<(Value, String)> = vec![
        (
            without("merchant_order_id"),
            "merchant_order_id is required".into(),
        ),
        (
            with("merchant_order_id", json!(null)),
            "merchant_order_id is required".into(),
        ),
        (with("merchant_order_id", json!("")), ORDER_ID_RULE.into()),
        (
            with("merchant_order_id", json!("x".repeat(33))),
            ORDER_ID_RULE.into(),
        ),
        (
            with("merchant_order_id", json!("has space")),
            ORDER_ID_RULE.into(),
        ),
        (
            with("merchant_order_id", json!("订单1")),
            ORDER_ID_RULE.into(),
        ),
        (
            with("merchant_order_id", json!(12345)),
            format!(
                "merchant_order_id must be a string: {}",
                &ORDER_ID_RULE[26..]
            ),
        ),
        (
            without("merchant_user_id"),
            "merchant_user_id is required".into(),
        ),
        (with("merchant_user_id", json!("")), USER_ID_RULE.into()),
        (
            with("merchant_user_id", json!("u".repeat(65))),
            USER_ID_RULE.into(),
        ),
        (
            with("merchant_user_id", json!("tab\there")),
            USER_ID_RULE.into(),
        ),
        (without("amount"), "amount is required".into()),
        (with("amount", json!(0)), AMOUNT_RULE.into()),
        (with("amount", json!(-1)), AMOUNT_RULE.into()),
        (with("amount", json!(100_000_001)), AMOUNT_RULE.into()),
        (with("amount", json!(0.01)), AMOUNT_RULE.into()),
        (with("amount", json!(1.0)), AMOUNT_RULE.into()),
        (with("amount", json!("1")), AMOUNT_RULE.into()),
        (with("pay_method", json!("cash")), PAY_METHOD_RULE.into()),
        (with("pay_method", json!(3)), PAY_METHOD_RULE.into()),
        (with("pay_method", json!("WECHAT")), PAY_METHOD_RULE.into()),
        (without("return_url"), "return_url is required".into()),
        (
            with("return_url", json!("ftp://localhost:8088/x")),
            RETURN_URL_HTTP.into(),
        ),
        (
            with("return_url", json!("/orders/paid")),
            RETURN_URL_HTTP.into(),
        ),
        (
            with("return_url", json!("http://evil.example/steal")),
            "return_url must start with one of the merchant's registered return URL prefixes"
                .into(),
        ),
        (
            with("return_url", json!("http://127.0.0.1.evil.example/x")),
            "return_url must start with one of the merchant's registered return URL prefixes"
                .into(),
        ),
        (with("description", json!("")), DESCRIPTION_RULE.into()),
        (
            with("description", json!("吃".repeat(43))),
            DESCRIPTION_RULE.into(),
        ),
        (
            with("description", json!("line\nbreak")),
            DESCRIPTION_RULE.into(),
        ),
        (with("expire_minutes", json!(0)), EXPIRE_RULE.into()),
        (with("expire_minutes", json!(121)), EXPIRE_RULE.into()),
        (with("expire_minutes", json!("30")), EXPIRE_RULE.into()),
        (
            json!([order_body("v-1")]),
            "the request body must be a JSON object".into(),
        ),
    ];
    for (body, expected) in cases {
        let (code, message) = error_of(app.post_order(&body).await, 400).await;
        assert_eq!(code, "invalid_request", "{body}");
        assert_eq!(message, expected, "{body}");
    }
    assert_eq!(app.order_count(), 0, "nothing was written");
}

#[tokio::test]
async fn limits_are_inclusive() {
    let app = spawn_app().await;
    let mut body = order_body(&"x".repeat(32));
    body["merchant_user_id"] = json!("用".repeat(64));
    body["amount"] = json!(100_000_000);
    body["description"] = json!(format!("{}a", "吃".repeat(42)));
    body["expire_minutes"] = json!(1);
    let response = app.post_order(&body).await;
    assert_eq!(response.status().as_u16(), 201);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["amount"], 100_000_000);
    assert_eq!(order["description"].as_str().unwrap().len(), 127);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/orders"))
        .bearer_auth(&app.merchant.api_key)
        .header("Content-Type", "application/json")
        .body(r#"{"merchant_order_id": "x","#)
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(response, 400).await;
    assert_eq!(code, "invalid_request");
    assert!(
        message.starts_with("the request body is not valid JSON"),
        "{message}"
    );
    assert_eq!(app.order_count(), 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_naming_the_content_type() {
    let app = spawn_app().await;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = app
            .client
            .post(app.url("/v1/orders"))
            .bearer_auth(&app.merchant.api_key)
            .body(order_body("ct-1").to_string());
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        let (code, message) = error_of(request.send().await.unwrap(), 400).await;
        assert_eq!(code, "invalid_request");
        assert_eq!(message, "Content-Type must be application/json");
    }
    // A charset parameter is fine.
    let response = app
        .client
        .post(app.url("/v1/orders"))
        .bearer_auth(&app.merchant.api_key)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(order_body("ct-1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = spawn_app().await;
    let mut body = order_body("big-1");
    body["padding"] = json!("x".repeat(70 * 1024));
    let (code, message) = error_of(app.post_order(&body).await, 413).await;
    assert_eq!(code, "payload_too_large");
    assert_eq!(message, "the request body must be at most 65536 bytes");
    assert_eq!(app.order_count(), 0);
}
