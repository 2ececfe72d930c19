//! Alipay end to end: the merchant endpoints, the built-in Alipay sandbox, `POST
//! /notify/alipay` and the one state machine shared with WeChat.

use crate::helpers::{error_of, order_body, spawn_app, TestApp};
use payment_center::channel::alipay::sandbox;
use payment_center::channel::alipay::{form, sign};
use serde_json::{json, Value};
use std::collections::BTreeMap;

async fn create(app: &TestApp, id: &str, pay_method: Value) -> Value {
    let mut body = order_body(id);
    body["pay_method"] = pay_method;
    let response = app.post_order(&body).await;
    assert_eq!(response.status().as_u16(), 201, "create {id}");
    response.json().await.unwrap()
}

async fn alipay(app: &TestApp, id: &str, product: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/orders/{id}/alipay/{product}")))
        .bearer_auth(&app.merchant.api_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request sent")
}

async fn qr_code(app: &TestApp, id: &str) -> String {
    let response = alipay(app, id, "qr", None).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "alipay qr for {id}: {body}");
    body["qr_code"].as_str().unwrap().to_owned()
}

async fn simulate_pay(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/sandbox/alipay/simulate-pay"))
        .json(&body)
        .send()
        .await
        .expect("request sent")
}

async fn sandbox_trade(app: &TestApp, out_trade_no: &str) -> Value {
    app.client
        .get(app.url(&format!("/sandbox/alipay/trades/{out_trade_no}")))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .unwrap()
}

/// A notify as Alipay sends it, signed with `key` (the sandbox's Alipay key unless a test
/// forges one).
pub fn notify_body(fields: &[(&str, &str)], key: &sign::PrivateKey) -> String {
    let mut map: BTreeMap<String, String> = [
        ("notify_type", "trade_status_sync"),
        ("notify_id", "n1"),
        ("notify_time", "2026-11-26 12:00:00"),
        ("app_id", sandbox::APP_ID),
        ("seller_id", sandbox::SELLER_ID),
        ("charset", "utf-8"),
        ("version", "1.0"),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", "0.01"),
        ("gmt_payment", "2026-11-26 12:00:00"),
    ]
    .iter()
    .chain(fields)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    map.retain(|_, v| !v.is_empty());
    let signed = sign::notify_string_to_verify(&map);
    map.insert("sign".into(), key.sign(signed.as_bytes()));
    map.insert("sign_type".into(), "RSA2".into());
    form::encode(&map)
}

async fn post_notify(app: &TestApp, body: String) -> String {
    let response = app
        .client
        .post(app.url("/notify/alipay"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

/// The order's trades as (channel, status).
fn trade_statuses(app: &TestApp, order_id: &str) -> Vec<(String, String)> {
    app.trades(order_id)
        .into_iter()
        .map(|t| (t.channel, t.status))
        .collect()
}

fn payloads(app: &TestApp, order_id: &str) -> Vec<Value> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        payload: String,
    }
    use diesel::RunQueryDsl;
    let mut conn = app.pool.get().unwrap();
    diesel::sql_query(format!(
        "SELECT payload FROM webhook_events WHERE order_id = '{order_id}' ORDER BY created_at"
    ))
    .load::<Row>(&mut **conn)
    .unwrap()
    .into_iter()
    .map(|r| serde_json::from_str(&r.payload).unwrap())
    .collect()
}

#[tokio::test]
async fn an_alipay_qr_payment_makes_the_order_paid_through_alipay() {
    let app = spawn_app().await;
    let order = create(&app, "ali-1", json!("alipay")).await;
    assert_eq!(order["pay_method"], "alipay");
    let code = qr_code(&app, "ali-1").await;
    assert!(code.starts_with("https://qr.alipay.com/"), "{code}");
    assert_eq!(
        qr_code(&app, "ali-1").await,
        code,
        "precreate once, then reused"
    );
    let order_id = order["id"].as_str().unwrap();
    assert_eq!(app.trades(order_id).len(), 1);

    let paid: Value = simulate_pay(&app, json!({ "qr_code": code }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        paid["notified"], true,
        "our notify answered success at once"
    );
    let trade_no = paid["trade_no"].as_str().unwrap();
    assert_eq!(trade_no.len(), 28);

    let order = app.get_order("ali-1").await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["channel"], "alipay");
    assert_eq!(order["transaction_id"], trade_no);
    let trade = sandbox_trade(&app, order_id).await;
    assert_eq!(trade["status"], "TRADE_SUCCESS");
    assert_eq!(trade["notify_attempts"].as_array().unwrap().len(), 1);
    let events = payloads(&app, order_id);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["eventType"], "order.paid");
    assert_eq!(events[0]["payMethod"], "alipay");
    assert_eq!(events[0]["transactionId"], trade_no);
    // Paid: no QR code to pay again.
    let (code, _) = error_of(alipay(&app, "ali-1", "qr", None).await, 409).await;
    assert_eq!(code, "order_not_payable");
}

#[tokio::test]
async fn refused_alipay_notifies_answer_fail_and_change_nothing() {
    let app = spawn_app().await;
    let order = create(&app, "ali-refused", json!("alipay")).await;
    qr_code(&app, "ali-refused").await;
    let no = order["id"].as_str().unwrap();
    let keys = sandbox::keys();
    let alipay_key = &keys.alipay_private_key;
    let cases = [
        // Signed with another key (the app's own): not Alipay's.
        notify_body(
            &[("out_trade_no", no), ("trade_no", "T1")],
            &keys.app_private_key,
        ),
        notify_body(
            &[
                ("out_trade_no", no),
                ("trade_no", "T2"),
                ("app_id", "2021999999999999"),
            ],
            alipay_key,
        ),
        notify_body(
            &[
                ("out_trade_no", no),
                ("trade_no", "T3"),
                ("seller_id", "2088999999999999"),
            ],
            alipay_key,
        ),
        notify_body(
            &[
                ("out_trade_no", no),
                ("trade_no", "T4"),
                ("total_amount", "0.02"),
            ],
            alipay_key,
        ),
        notify_body(
            &[
                ("out_trade_no", "PC00000000000000NOSUCHTRADE"),
                ("trade_no", "T5"),
            ],
            alipay_key,
        ),
        "app_id=2021000000000001&out_trade_no=x&trade_status=TRADE_SUCCESS".to_owned(),
        "total_amount=%ZZ".to_owned(),
    ];
    for body in cases {
        assert_eq!(post_notify(&app, body.clone()).await, "fail", "{body}");
    }
    assert_eq!(app.get_order("ali-refused").await["status"], "WAIT_PAY");
    assert_eq!(app.count("payments"), 0);
    assert_eq!(app.count("webhook_events"), 0);
    let reasons: Vec<String> = {
        let mut conn = app.pool.get().unwrap();
        payment_center::db::rejected_notifies::recent(&mut conn, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.reason)
            .collect()
    };
    for expected in [
        "alipay: signature does not verify",
        "alipay: app_id 2021999999999999 is not ours",
        "alipay: seller_id 2088999999999999 is not ours",
        "alipay: the amount 2 is not the order's amount 1",
        "alipay: unknown out_trade_no PC00000000000000NOSUCHTRADE",
        "alipay: missing sign: not an Alipay notify",
    ] {
        assert!(
            reasons.iter().any(|r| r == expected),
            "{expected} in {reasons:?}"
        );
    }
    // Genuine, but not a payment: acknowledged, nothing recorded.
    let waiting = notify_body(
        &[
            ("out_trade_no", no),
            ("trade_no", "T6"),
            ("trade_status", "WAIT_BUYER_PAY"),
        ],
        alipay_key,
    );
    assert_eq!(post_notify(&app, waiting).await, "success");
    assert_eq!(app.get_order("ali-refused").await["status"], "WAIT_PAY");
}

#[tokio::test]
async fn repeated_and_concurrent_alipay_notifies_make_one_transition() {
    let app = spawn_app().await;
    let order = create(&app, "ali-race", json!("alipay")).await;
    qr_code(&app, "ali-race").await;
    let no = order["id"].as_str().unwrap().to_owned();
    let key = sandbox::keys().alipay_private_key;
    let body = notify_body(
        &[
            ("out_trade_no", &no),
            ("trade_no", "2026112622001000000000000001"),
        ],
        &key,
    );
    let answers =
        futures_util::future::join_all((0..20).map(|_| post_notify(&app, body.clone()))).await;
    assert!(answers.iter().all(|a| a == "success"), "{answers:?}");
    assert_eq!(post_notify(&app, body).await, "success", "a repeat later");
    let order = app.get_order("ali-race").await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["transaction_id"], "2026112622001000000000000001");
    assert_eq!(app.count("payments"), 1);
    assert_eq!(app.count("webhook_events"), 1, "one paid webhook");
}

#[tokio::test]
async fn the_pay_method_decides_which_channel_takes_the_order() {
    let app = spawn_app().await;
    create(&app, "only-wechat", json!("wechat")).await;
    let (code, message) = error_of(alipay(&app, "only-wechat", "qr", None).await, 409).await;
    assert_eq!(code, "order_not_payable");
    assert_eq!(message, "the order is to be paid with wechat, not alipay");
    create(&app, "only-alipay", json!(2)).await;
    let (_, message) = error_of(app.native("only-alipay").await, 409).await;
    assert_eq!(message, "the order is to be paid with alipay, not wechat");

    let either = create(&app, "either", Value::Null).await;
    assert_eq!(either["pay_method"], Value::Null);
    assert_eq!(app.native("either").await.status().as_u16(), 200);
    qr_code(&app, "either").await;
    let token = either["checkout_token"].as_str().unwrap();
    let view: Value = app.checkout(token).await.json().await.unwrap();
    assert_eq!(view["pay_methods"], json!(["wechat", "alipay"]));
    let storefront: Value = app
        .client
        .get(app.url(&format!("/v1/checkout/{token}/alipay")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(storefront["qr_code"]
        .as_str()
        .unwrap()
        .starts_with("https://qr.alipay.com/"));
    let only_wechat_token = create(&app, "w2", json!("wechat")).await["checkout_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .client
        .get(app.url(&format!("/v1/checkout/{only_wechat_token}/alipay")))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response, 409).await.0, "order_not_payable");
}

#[tokio::test]
async fn page_pay_lands_on_the_sandbox_cashier_which_pays_and_returns_the_browser() {
    let app = spawn_app().await;
    create(&app, "ali-page", json!("alipay")).await;
    let back = "http://localhost:8088/orders/done";
    let response = alipay(
        &app,
        "ali-page",
        "page",
        Some(json!({ "return_url_browser": back })),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let pay_url = body["pay_url"].as_str().unwrap();
    assert!(
        pay_url.starts_with(&app.url("/sandbox/alipay/gateway.do?")),
        "{pay_url}"
    );
    assert!(pay_url.contains("method=alipay.trade.page.pay"));

    let page = app.client.get(pay_url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("确认付款") && html.contains("¥0.01"),
        "{html}"
    );

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let order_id = app.get_order("ali-page").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paid = browser
        .post(app.url(&format!("/sandbox/alipay/cashier/{order_id}/pay")))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status().as_u16(), 303);
    let location = paid.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{back}?")), "{location}");
    // What Alipay appends to return_url is signed with its key.
    let query = location.split_once('?').unwrap().1;
    let params = form::decode(query.as_bytes()).unwrap();
    assert_eq!(params["method"], "alipay.trade.page.pay.return");
    let signed = sign::notify_string_to_verify(&params);
    assert!(sandbox::keys()
        .alipay_public_key
        .verify(signed.as_bytes(), &params["sign"]));
    assert_eq!(app.get_order("ali-page").await["status"], "PAID");

    // A browser return URL outside the merchant's prefixes is refused, naming the field.
    create(&app, "ali-wap", json!("alipay")).await;
    let response = alipay(
        &app,
        "ali-wap",
        "wap",
        Some(json!({ "return_url_browser": "https://evil.example/x" })),
    )
    .await;
    let (code, message) = error_of(response, 400).await;
    assert_eq!(code, "invalid_request");
    assert!(
        message.starts_with("return_url_browser must start with"),
        "{message}"
    );
    let wap: Value = alipay(&app, "ali-wap", "wap", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(wap["pay_url"]
        .as_str()
        .unwrap()
        .contains("method=alipay.trade.wap.pay"));
}

#[tokio::test]
async fn app_pay_answers_an_order_string_signed_with_the_app_key() {
    let app = spawn_app().await;
    create(&app, "ali-app", json!("alipay")).await;
    let response = alipay(&app, "ali-app", "app", None).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let params = form::decode(body["order_string"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(params["method"], "alipay.trade.app.pay");
    assert_eq!(params["app_id"], sandbox::APP_ID);
    let biz: Value = serde_json::from_str(&params["biz_content"]).unwrap();
    assert_eq!(biz["total_amount"], "0.01");
    assert_eq!(biz["product_code"], "QUICK_MSECURITY_PAY");
    let signed = sign::request_string_to_sign(&params);
    assert!(sandbox::keys()
        .app_public_key
        .verify(signed.as_bytes(), &params["sign"]));
}

#[tokio::test]
async fn money_through_one_channel_closes_the_other_and_a_second_payment_is_kept() {
    let app = spawn_app().await;
    let order = create(&app, "both", Value::Null).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let wechat: Value = app.native("both").await.json().await.unwrap();
    let code = qr_code(&app, "both").await;
    simulate_pay(&app, json!({ "qr_code": code })).await;
    let paid = app.get_order("both").await;
    assert_eq!(
        (paid["status"].as_str(), paid["channel"].as_str()),
        (Some("PAID"), Some("alipay"))
    );
    let statuses = trade_statuses(&app, &order_id);
    assert!(
        statuses.contains(&("wechat".into(), "CLOSING".into())),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("alipay".into(), "PAID".into())),
        "{statuses:?}"
    );

    // The shopper had scanned the WeChat code too and pays it before it is closed there.
    let response = app
        .simulate_pay(&json!({ "code_url": wechat["code_url"] }))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let order = app.get_order("both").await;
    assert_eq!(order["channel"], "alipay", "the first payment stands");
    assert_eq!(app.count("payments"), 2, "the second payment is kept");
    let events = payloads(&app, &order_id);
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["order.paid"],
        "the paid URL hears once; no endpoint subscribed"
    );
    let timeline: Value = app
        .client
        .get(app.url("/v1/orders/both/events"))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"payment.duplicate"), "{kinds:?}");
}

#[tokio::test]
async fn each_endpoint_hears_a_payment_once_whatever_trades_the_order_has_open() {
    // The payment reads the order's open trades and the merchant's endpoints in one statement
    // (one row per pair): two trades and three endpoints must still make one event each.
    let app = spawn_app().await;
    let mut endpoint_ids = Vec::new();
    for events in [json!(["*"]), json!(["order.paid"]), json!(["order.closed"])] {
        let response = app
            .client
            .post(app.url("/v1/webhook-endpoints"))
            .bearer_auth(&app.merchant.api_key)
            .json(&json!({"url": "http://127.0.0.1:9/hook", "events": events}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let endpoint: Value = response.json().await.unwrap();
        endpoint_ids.push(endpoint["id"].as_str().unwrap().to_owned());
    }
    let order = create(&app, "hooks", Value::Null).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(app.native("hooks").await.status().as_u16(), 200);
    let code = qr_code(&app, "hooks").await;
    assert_eq!(
        simulate_pay(&app, json!({ "qr_code": code }))
            .await
            .status()
            .as_u16(),
        200
    );

    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        endpoint_id: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Text)]
        event_type: String,
    }
    use diesel::RunQueryDsl;
    let mut conn = app.pool.get().unwrap();
    let mut rows: Vec<(Option<String>, String)> = diesel::sql_query(format!(
        "SELECT endpoint_id, event_type FROM webhook_events WHERE order_id = '{order_id}'"
    ))
    .load::<Row>(&mut **conn)
    .unwrap()
    .into_iter()
    .map(|r| (r.endpoint_id, r.event_type))
    .collect();
    rows.sort();
    let mut expected = vec![
        (None, "order.paid".to_owned()),
        (Some(endpoint_ids[0].clone()), "order.paid".to_owned()),
        (Some(endpoint_ids[1].clone()), "order.paid".to_owned()),
    ];
    expected.sort();
    assert_eq!(rows, expected, "the order.closed endpoint hears nothing");
    let statuses = trade_statuses(&app, &order_id);
    assert!(
        statuses.contains(&("wechat".into(), "CLOSING".into())),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn expiry_closes_the_alipay_trade_with_close_then_query() {
    let app = spawn_app().await;
    let order = create(&app, "ali-exp", json!("alipay")).await;
    let code = qr_code(&app, "ali-exp").await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    // Nobody scanned it: Alipay has no such trade, and closing says so.
    app.expire("ali-exp");
    app.make_trades_due(&order_id);
    app.reconcile_worker.run_once().await.unwrap();
    let order = app.get_order("ali-exp").await;
    assert_eq!(order["status"], "CLOSED");
    let trades = app.trades(&order_id);
    assert_eq!(trades[0].status, "CLOSED");
    let timeline: Value = app
        .client
        .get(app.url("/v1/orders/ali-exp/events"))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let calls: Vec<&str> = timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"]["call"].as_str())
        .collect();
    assert_eq!(
        calls,
        ["alipay.trade.precreate", "alipay.trade.close"],
        "never scanned: TRADE_NOT_EXIST needs no query"
    );
    // A code handed out before the close is refused by the sandbox now? No: Alipay would
    // still take a scan of an unscanned code until its time_expire; the order shows that
    // money as paid after close. Here the sandbox is asked to pay it.
    let late = simulate_pay(&app, json!({ "qr_code": code })).await;
    assert_eq!(late.status().as_u16(), 200);
    assert_eq!(app.get_order("ali-exp").await["status"], "PAID_AFTER_CLOSE");
}

/// A live installation whose only channel is Alipay, pointed at another app's Alipay sandbox.
fn make_alipay_live(settings: &mut payment_center::config::Settings, gateway: &str) {
    let keys = sandbox::keys();
    settings.mode = payment_center::config::PaymentMode::Live;
    settings.alipay.credentials = Some(payment_center::config::AlipayCredentials {
        app_id: sandbox::APP_ID.into(),
        app_private_key: keys.app_private_key,
        alipay_public_key: keys.alipay_public_key,
    });
    settings.alipay.gateway = Some(gateway.to_owned());
    settings.alipay.seller_id = Some(sandbox::SELLER_ID.to_owned());
    settings.webhook_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
}

#[tokio::test]
async fn a_live_alipay_installation_checks_its_keys_and_takes_real_notifies() {
    let channel = spawn_app().await;
    let gateway = channel.url("/sandbox/alipay/gateway.do");
    let live = crate::helpers::spawn_app_with(|s| make_alipay_live(s, &gateway)).await;
    let ready = crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        let body = crate::helpers::get_json(&live.client, &live.url("/readyz")).await;
        (body["channels"]["alipay"]["credentials"] != "unchecked").then_some(body)
    })
    .await
    .expect("the check answers");
    assert_eq!(
        ready["channels"]["alipay"]["credentials"], "accepted",
        "{ready}"
    );
    assert!(
        ready["channels"].get("wechat").is_none(),
        "no WeChat credentials: no WeChat"
    );
    assert_eq!(ready["status"], "ok");

    // The whole loop, live: precreate at the other app's sandbox, its notify comes back here.
    let order = create(&live, "live-ali", Value::Null).await;
    assert_eq!(order["livemode"], true);
    let code = qr_code(&live, "live-ali").await;
    let paid: Value = simulate_pay(&channel, json!({ "qr_code": code }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["notified"], true);
    let order = live.get_order("live-ali").await;
    assert_eq!(
        (order["status"].as_str(), order["channel"].as_str()),
        (Some("PAID"), Some("alipay"))
    );
    let (code, _) = error_of(live.native("live-ali").await, 409).await;
    assert_eq!(code, "order_not_payable", "WeChat is not configured here");
    let mut wechat_only = order_body("live-wx");
    wechat_only["pay_method"] = json!("wechat");
    let (code, message) = error_of(live.post_order(&wechat_only).await, 400).await;
    assert_eq!(code, "invalid_request");
    assert_eq!(
        message,
        "pay_method wechat: WeChat Pay is not configured on this payment center"
    );

    let wrong_key = crate::helpers::spawn_app_with(|s| {
        make_alipay_live(s, &gateway);
        if let Some(c) = s.alipay.credentials.as_mut() {
            // Signed with a key the gateway does not hold for the app.
            c.app_private_key = sandbox::keys().alipay_private_key;
        }
    })
    .await;
    let ready = crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        let body = crate::helpers::get_json(&wrong_key.client, &wrong_key.url("/readyz")).await;
        (body["channels"]["alipay"]["credentials"] != "unchecked").then_some(body)
    })
    .await
    .expect("the check answers");
    assert_eq!(
        ready["channels"]["alipay"]["credentials"], "refused",
        "{ready}"
    );
    assert!(
        ready["channels"]["alipay"]["error"]
            .as_str()
            .unwrap()
            .contains("isv.invalid-signature"),
        "{ready}"
    );
    assert_eq!(ready["status"], "unavailable");
}
