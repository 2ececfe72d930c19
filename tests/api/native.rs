use crate::helpers::{create_merchant, error_of, eventually, spawn_app, spawn_app_with};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn native_opens_one_trade_and_repeats_its_code_url() {
    let app = spawn_app().await;
    let order = app.create_order("native-1").await;
    let order_id = order["id"].as_str().unwrap();

    let response = app.native("native-1").await;
    assert_eq!(response.status().as_u16(), 200);
    let first: Value = response.json().await.unwrap();
    let code_url = first["code_url"].as_str().unwrap();
    assert!(
        code_url.starts_with("weixin://wxpay/bizpayurl?pr="),
        "{code_url}"
    );
    assert_eq!(first["merchant_order_id"], "native-1");
    assert_eq!(first["amount"], 1);
    assert_eq!(
        first["expires_at"], order["expires_at"],
        "never past the order's expiry"
    );

    for _ in 0..3 {
        let again: Value = app.native("native-1").await.json().await.unwrap();
        assert_eq!(again, first);
    }
    // The trade at WeChat: out_trade_no is the center's id; time_expire is the order's
    // expiry in Beijing time; one unifiedorder in all.
    let trade = app.sandbox_trade(order_id).await;
    assert_eq!(trade["unifiedorder_calls"], 1);
    assert_eq!(trade["trade_type"], "NATIVE");
    assert_eq!(trade["total_fee"], 1);
    assert_eq!(trade["body"], "天天吃货-付款用户[190815GTKCBSS7MW]");
    assert_eq!(trade["code_url"], first["code_url"]);
    assert_eq!(
        trade["notify_url"],
        format!("{}/notify/wechat", app.address)
    );
    let expires: chrono::DateTime<chrono::Utc> =
        order["expires_at"].as_str().unwrap().parse().unwrap();
    let beijing = (expires + chrono::Duration::hours(8))
        .format("%Y%m%d%H%M%S")
        .to_string();
    assert_eq!(trade["time_expire"], beijing);
}

#[tokio::test]
async fn twenty_concurrent_calls_make_exactly_one_unifiedorder() {
    let app = spawn_app().await;
    let order = app.create_order("native-storm").await;
    let calls = (0..20).map(|_| app.native("native-storm"));
    let responses = futures_util::future::join_all(calls).await;
    let mut code_urls = Vec::new();
    for response in responses {
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        code_urls.push(body["code_url"].as_str().unwrap().to_owned());
    }
    code_urls.dedup();
    assert_eq!(code_urls.len(), 1, "{code_urls:?}");
    let trade = app.sandbox_trade(order["id"].as_str().unwrap()).await;
    assert_eq!(trade["unifiedorder_calls"], 1);
}

#[tokio::test]
async fn with_the_cache_down_the_code_url_comes_from_the_database() {
    // Nothing listens on port 1: every cache call fails.
    let app = spawn_app_with(|s| s.redis_url = Some("redis://127.0.0.1:1".into())).await;
    let order = app.create_order("no-cache").await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let response = app.native("no-cache").await;
        assert_eq!(response.status().as_u16(), 200, "no error to the caller");
        let body: Value = response.json().await.unwrap();
        seen.push(body["code_url"].as_str().unwrap().to_owned());
    }
    seen.dedup();
    assert_eq!(seen.len(), 1);
    let trade = app.sandbox_trade(order["id"].as_str().unwrap()).await;
    assert_eq!(
        trade["unifiedorder_calls"], 1,
        "a lost cache never forces a second unifiedorder"
    );
}

#[tokio::test]
async fn orders_that_cannot_be_paid_are_409() {
    let app = spawn_app().await;
    app.create_order("paid-1").await;
    app.update_order("paid-1", "PAID", None);
    let (code, message) = error_of(app.native("paid-1").await, 409).await;
    assert_eq!(code, "order_not_payable");
    assert_eq!(message, "the order is PAID, not WAIT_PAY");

    app.create_order("closed-1").await;
    app.update_order("closed-1", "CLOSED", None);
    let (code, message) = error_of(app.native("closed-1").await, 409).await;
    assert_eq!(code, "order_not_payable");
    assert_eq!(message, "the order is CLOSED, not WAIT_PAY");

    app.create_order("expired-1").await;
    let past = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(5);
    app.update_order("expired-1", "WAIT_PAY", Some(past));
    let (code, message) = error_of(app.native("expired-1").await, 409).await;
    assert_eq!(code, "order_not_payable");
    assert_eq!(message, "the order has expired");

    app.create_order("soon-1").await;
    let soon = chrono::Utc::now().naive_utc() + chrono::Duration::seconds(30);
    app.update_order("soon-1", "WAIT_PAY", Some(soon));
    let (code, message) = error_of(app.native("soon-1").await, 409).await;
    assert_eq!(code, "order_not_payable");
    assert_eq!(
        message,
        "the order expires in less than a minute, too soon to pay with WeChat Pay"
    );
}

#[tokio::test]
async fn a_refusal_from_wechat_is_502_with_its_err_code() {
    let app = spawn_app().await;
    let order = app.create_order("taken-1").await;
    let order_id = order["id"].as_str().unwrap();
    // Someone already used this out_trade_no at WeChat with other parameters.
    let xml = crate::wechat_raw::request(
        &[
            ("body", "something else"),
            ("out_trade_no", order_id),
            ("total_fee", "999"),
            ("spbill_create_ip", "127.0.0.1"),
            ("notify_url", "http://127.0.0.1:9/notify"),
            ("trade_type", "NATIVE"),
            ("product_id", "x"),
        ],
        false,
    );
    app.sandbox_call("/pay/unifiedorder", xml).await;

    let (code, message) = error_of(app.native("taken-1").await, 502).await;
    assert_eq!(code, "channel_error");
    assert_eq!(
        message,
        "WeChat Pay said INVALID_REQUEST: 201 商户订单号重复"
    );
    // Nothing was kept: the next call asks WeChat again (and is refused again).
    let (code, _) = error_of(app.native("taken-1").await, 502).await;
    assert_eq!(code, "channel_error");
    let trade = app.sandbox_trade(order_id).await;
    assert_eq!(trade["unifiedorder_calls"], 3);
}

#[tokio::test]
async fn wechat_not_answering_is_502() {
    let app = spawn_app_with(|s| s.wechat.api_base = Some("http://127.0.0.1:1".into())).await;
    app.create_order("down-1").await;
    let (code, message) = error_of(app.native("down-1").await, 502).await;
    assert_eq!(code, "channel_error");
    assert!(
        message.starts_with("WeChat Pay did not answer"),
        "{message}"
    );
}

#[tokio::test]
async fn another_merchants_order_cannot_be_paid_through_native() {
    let app = spawn_app().await;
    app.create_order("mine-native").await;
    let other = create_merchant(&app.pool, "other", &["http://localhost:8088"]);
    let (code, _) = error_of(app.native_as(&other.api_key, "mine-native").await, 404).await;
    assert_eq!(code, "not_found");
    let (code, _) = error_of(app.native_as("sk_wrong", "mine-native").await, 401).await;
    assert_eq!(code, "unauthorized");
}

/// The native call's kept view is refreshed from the order and its open trade: a trade given
/// up elsewhere (another instance switched the order to another product) is not handed out
/// again; the next refresh opens a new one.
#[tokio::test]
async fn a_kept_native_view_never_hands_out_a_trade_given_up_elsewhere() {
    let app = spawn_app().await;
    let order = app.create_order("native-kept").await;
    let order_id = order["id"].as_str().unwrap();
    let first: Value = app.native("native-kept").await.json().await.unwrap();
    let old = first["code_url"].as_str().unwrap().to_owned();

    app.execute(&format!(
        "UPDATE channel_trades SET status = 'CLOSING' WHERE order_id = '{order_id}'"
    ));
    let renewed = eventually(Duration::from_secs(3), || async {
        let body: Value = app.native("native-kept").await.json().await.unwrap();
        let code = body["code_url"].as_str().unwrap().to_owned();
        (code != old).then_some(code)
    })
    .await
    .expect("a new code within the view's second");
    let open: Vec<_> = app
        .trades(order_id)
        .into_iter()
        .filter(|t| t.status == "OPEN")
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].pay_url.as_deref(), Some(renewed.as_str()));
}
