use crate::helpers::{error_of, eventually, spawn_app};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn the_storefront_reads_the_order_by_token_alone() {
    let app = spawn_app().await;
    let order = app.create_order("shop-1").await;
    let token = order["checkout_token"].as_str().unwrap();

    let response = app.checkout(token).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let view: Value = response.json().await.unwrap();
    let object = view.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "amount",
            "code_url",
            "description",
            "expires_at",
            "merchant_order_id",
            "pay_methods",
            "status"
        ]
    );
    assert_eq!(view["merchant_order_id"], "shop-1");
    assert_eq!(view["pay_methods"], json!(["wechat"]));
    assert_eq!(view["amount"], 1);
    assert_eq!(view["status"], "WAIT_PAY");
    assert_eq!(view["expires_at"], order["expires_at"]);
    let code_url = view["code_url"].as_str().unwrap();
    assert!(code_url.starts_with("weixin://wxpay/bizpayurl?pr="));

    // The merchant's native call and the storefront share the one trade.
    let native: Value = app.native("shop-1").await.json().await.unwrap();
    assert_eq!(native["code_url"], view["code_url"]);
    let trade = app.sandbox_trade(order["id"].as_str().unwrap()).await;
    assert_eq!(trade["unifiedorder_calls"], 1);
}

#[tokio::test]
async fn the_qr_code_is_an_svg_of_the_code_url() {
    let app = spawn_app().await;
    let order = app.create_order("qr-1").await;
    let token = order["checkout_token"].as_str().unwrap();
    let response = app
        .client
        .get(app.url(&format!("/v1/checkout/{token}/qr.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    let max_age: i64 = cache
        .strip_prefix("private, max-age=")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (7000..=7200).contains(&max_age),
        "cacheable while the code_url lives: {cache}"
    );
    let svg = response.text().await.unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");

    let view: Value = app.checkout(token).await.json().await.unwrap();
    let expected = qrcode::QrCode::new(view["code_url"].as_str().unwrap().as_bytes())
        .unwrap()
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .build();
    assert_eq!(svg, expected, "the QR encodes exactly the order's code_url");
}

#[tokio::test]
async fn unknown_tokens_are_404() {
    let app = spawn_app().await;
    for token in ["ct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "nonsense", "ct_"] {
        let response = app.checkout(token).await;
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "*",
            "a storefront on another origin can read the error too"
        );
        let (code, message) = error_of(response, 404).await;
        assert_eq!(code, "not_found");
        assert_eq!(message, "no checkout has this token");
        let response = app
            .client
            .get(app.url(&format!("/v1/checkout/{token}/qr.svg")))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(response, 404).await.0, "not_found");
    }
}

#[tokio::test]
async fn a_paid_order_has_no_code_url_and_no_qr() {
    let app = spawn_app().await;
    let order = app.create_order("done-1").await;
    app.update_order("done-1", "PAID", None);
    let token = order["checkout_token"].as_str().unwrap();
    let view: Value = app.checkout(token).await.json().await.unwrap();
    assert_eq!(view["status"], "PAID");
    assert_eq!(view["code_url"], Value::Null);
    let response = app
        .client
        .get(app.url(&format!("/v1/checkout/{token}/qr.svg")))
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(response, 409).await;
    assert_eq!(code, "order_not_payable");
    assert_eq!(message, "the order is PAID and has no QR code to pay");
}

#[tokio::test]
async fn an_expired_order_shows_no_code_url() {
    let app = spawn_app().await;
    let order = app.create_order("late-1").await;
    let past = chrono::Utc::now().naive_utc() - chrono::Duration::minutes(1);
    app.update_order("late-1", "WAIT_PAY", Some(past));
    let view: Value = app
        .checkout(order["checkout_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["code_url"], Value::Null);
}

/// Read from the database whenever it is refreshed (twice a second), the kept view hands out
/// what is stored with the order's open trade, never an older copy: here another instance
/// renewed the code, then the order was paid there.
#[tokio::test]
async fn a_kept_view_follows_the_stored_order_and_trade_within_a_second() {
    let app = spawn_app().await;
    let order = app.create_order("kept-1").await;
    let (id, token) = (
        order["id"].as_str().unwrap(),
        order["checkout_token"].as_str().unwrap(),
    );
    let first: Value = app.checkout(token).await.json().await.unwrap();
    assert!(first["code_url"].as_str().unwrap().starts_with("weixin://"));

    let renewed = "weixin://wxpay/bizpayurl?pr=Renewed";
    app.execute(&format!(
        "UPDATE channel_trades SET pay_url = '{renewed}' WHERE order_id = '{id}'"
    ));
    let seen = eventually(Duration::from_secs(3), || async {
        let view: Value = app.checkout(token).await.json().await.unwrap();
        (view["code_url"] == renewed).then_some(view)
    })
    .await;
    assert!(seen.is_some(), "the stored code replaces the kept one");

    app.update_order("kept-1", "PAID", None);
    let paid = eventually(Duration::from_secs(3), || async {
        let view: Value = app.checkout(token).await.json().await.unwrap();
        (view["status"] == "PAID").then_some(view)
    })
    .await
    .expect("the payment shows within the view's second");
    assert_eq!(paid["code_url"], Value::Null, "nothing left to pay");
    let trade = app.sandbox_trade(id).await;
    assert_eq!(trade["unifiedorder_calls"], 1, "no channel call to refresh");
}
