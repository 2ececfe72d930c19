//! JSAPI (official account, mini-program), H5 (MWEB) and APP, and one trade at a time.

use crate::helpers::{error_of, spawn_app, TestApp, ALL_BUT_PAID};
use crate::wechat_raw::{self, KEY};
use serde_json::{json, Value};
use std::collections::HashMap;

async fn post(app: &TestApp, id: &str, kind: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/orders/{id}/wechat/{kind}")))
        .bearer_auth(&app.merchant.api_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

fn fields(value: &Value, sign_field: &str) -> HashMap<String, String> {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let k = if k == sign_field {
                "sign".to_owned()
            } else {
                k.clone()
            };
            (k, v.as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn jsapi_answers_what_wx_request_payment_takes() {
    let app = spawn_app().await;
    let order = app.create_order("js-1").await;
    let response = post(
        &app,
        "js-1",
        "jsapi",
        Some(json!({"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let params: Value = response.json().await.unwrap();
    let mut keys: Vec<&String> = params.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "appId",
            "nonceStr",
            "package",
            "paySign",
            "signType",
            "timeStamp"
        ]
    );
    assert_eq!(params["appId"], wechat_raw::APP_ID);
    assert_eq!(params["signType"], "MD5");
    // paySign by the rule of WeChat's mini-program example, checked independently.
    assert!(
        wechat_raw::verifies(&fields(&params, "paySign"), KEY),
        "{params}"
    );

    let trade = app.sandbox_trade(order["id"].as_str().unwrap()).await;
    assert_eq!(trade["trade_type"], "JSAPI");
    assert_eq!(trade["openid"], "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
    assert_eq!(
        params["package"],
        format!("prepay_id={}", trade["prepay_id"].as_str().unwrap())
    );

    // The same payer again: the same prepay_id (cached), no second unifiedorder.
    let again: Value = post(
        &app,
        "js-1",
        "jsapi",
        Some(json!({"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(again["package"], params["package"]);
    assert_eq!(
        app.sandbox_trade(order["id"].as_str().unwrap()).await["unifiedorder_calls"],
        1
    );

    // The sandbox can "pay" it, and the notify makes the order PAID.
    let paid: Value = app
        .simulate_pay(&json!({"out_trade_no": order["id"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["notified"], true);
    assert_eq!(app.get_order("js-1").await["status"], "PAID");
}

#[tokio::test]
async fn jsapi_needs_an_openid() {
    let app = spawn_app().await;
    app.create_order("js-bad").await;
    for (body, message) in [
        (json!({}), "openid is required"),
        (json!({"openid": 5}), "openid must be a string"),
        (
            json!({"openid": "has space"}),
            "openid must be 1–128 characters of A-Z, a-z, 0-9, '_' or '-'",
        ),
    ] {
        let (code, got) = error_of(post(&app, "js-bad", "jsapi", Some(body)).await, 400).await;
        assert_eq!((code.as_str(), got.as_str()), ("invalid_request", message));
    }
    assert_eq!(app.count("channel_trades"), 0, "nothing opened");
}

#[tokio::test]
async fn h5_answers_an_mweb_url_for_five_minutes() {
    let app = spawn_app().await;
    let order = app.create_order("h5-1").await;
    let scene = json!({"h5_info": {"type": "Wap", "wap_url": "https://shop.example", "wap_name": "天天吃货"}});
    let response = post(
        &app,
        "h5-1",
        "h5",
        Some(json!({"client_ip": "203.0.113.7", "scene_info": scene})),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["mweb_url"]
        .as_str()
        .unwrap()
        .starts_with("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id="));
    let expires: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    let minutes = (expires - chrono::Utc::now()).num_seconds();
    assert!((240..=300).contains(&minutes), "{minutes}");
    let trade = app.sandbox_trade(order["id"].as_str().unwrap()).await;
    assert_eq!(trade["trade_type"], "MWEB");
    assert_eq!(trade["mweb_url"], body["mweb_url"]);

    for (request, message) in [
        (json!({"scene_info": scene}), "client_ip is required"),
        (
            json!({"client_ip": "localhost", "scene_info": scene}),
            "client_ip must be the shopper's IPv4 or IPv6 address",
        ),
        (
            json!({"client_ip": "203.0.113.7"}),
            "scene_info is required",
        ),
    ] {
        let (code, got) = error_of(post(&app, "h5-1", "h5", Some(request)).await, 400).await;
        assert_eq!(code, "invalid_request");
        assert_eq!(got, message);
    }
}

#[tokio::test]
async fn app_answers_the_open_sdks_pay_req() {
    let app = spawn_app().await;
    let order = app.create_order("app-1").await;
    let response = post(&app, "app-1", "app", None).await;
    assert_eq!(response.status().as_u16(), 200);
    let params: Value = response.json().await.unwrap();
    let mut keys: Vec<&String> = params.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "appid",
            "noncestr",
            "package",
            "partnerid",
            "prepayid",
            "sign",
            "timestamp"
        ]
    );
    assert_eq!(params["package"], "Sign=WXPay");
    assert_eq!(params["partnerid"], wechat_raw::MCH_ID);
    assert!(wechat_raw::verifies(&fields(&params, "sign"), KEY));
    let trade = app.sandbox_trade(order["id"].as_str().unwrap()).await;
    assert_eq!(trade["trade_type"], "APP");
    assert_eq!(params["prepayid"], trade["prepay_id"]);
}

#[tokio::test]
async fn switching_trade_type_gives_up_the_old_trade() {
    let app = spawn_app().await;
    let order = app.create_order("switch-1").await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let native: Value = app.native("switch-1").await.json().await.unwrap();
    let jsapi = post(
        &app,
        "switch-1",
        "jsapi",
        Some(json!({"openid": "o-payer"})),
    )
    .await;
    assert_eq!(jsapi.status().as_u16(), 200);

    let trades = app.trades(&order_id);
    assert_eq!(trades.len(), 2);
    assert_eq!(
        (trades[0].out_trade_no.as_str(), trades[0].status.as_str()),
        (order_id.as_str(), "CLOSING")
    );
    assert_eq!(
        trades[1].out_trade_no,
        format!("{order_id}-2"),
        "a new out_trade_no per trade"
    );
    assert_eq!(
        (
            trades[1].channel.as_str(),
            trades[1].product.as_str(),
            trades[1].status.as_str()
        ),
        ("wechat", "jsapi", "OPEN")
    );

    // The storefront's read of the checkout does not switch the payment back.
    let view: Value = app
        .checkout(order["checkout_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["code_url"], Value::Null);
    assert_eq!(app.trades(&order_id).len(), 2);

    // Once WeChat allows, the worker closes the superseded trade: its QR pays nothing any more.
    app.age_sandbox_trade(&order_id, 5 * 60).await;
    app.make_trades_due(&order_id);
    app.reconcile_worker.run_once().await.unwrap();
    assert_eq!(app.trades(&order_id)[0].status, "CLOSED");
    let refused = app
        .simulate_pay(&json!({"code_url": native["code_url"]}))
        .await;
    assert_eq!(refused.status().as_u16(), 409);
    let paid = app
        .simulate_pay(&json!({"out_trade_no": format!("{order_id}-2")}))
        .await;
    assert_eq!(paid.status().as_u16(), 200);
    assert_eq!(app.get_order("switch-1").await["status"], "PAID");
}

#[tokio::test]
async fn a_superseded_trade_paid_anyway_is_recorded_as_a_second_payment() {
    let app = spawn_app().await;
    app.add_endpoint("http://127.0.0.1:9/events", &ALL_BUT_PAID)
        .await;
    let order = app.create_order("switch-2").await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    app.native("switch-2").await;
    post(&app, "switch-2", "app", None).await;
    // Within WeChat's five minutes the old trade cannot be closed yet; both get paid.
    app.simulate_pay(&json!({"out_trade_no": format!("{order_id}-2")}))
        .await;
    app.simulate_pay(&json!({"out_trade_no": order_id})).await;
    let order = app.get_order("switch-2").await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(
        app.event_types("switch-2").await,
        ["order.duplicate_payment", "order.paid"]
    );
    assert_eq!(app.count("payments"), 2);
}
