//! The foodie-payment course's endpoints, with the request shapes its backend sends.

use crate::helpers::{spawn_app, TestApp};
use crate::lifecycle::{close, event_types};
use crate::wechat_raw::notify_xml;
use serde_json::{json, Value};

pub const COURSE_PASSWORD: &str = "course-pass-123";

/// The course login's user of the app's merchant: one of its own, since every test app of
/// this process shares the in-process copy of logins.
pub fn course_user(app: &TestApp) -> String {
    format!("imooc-{}", app.merchant.id)
}

/// Gives the app's merchant its course login (`merchant legacy-login`); answers it.
pub fn course_login(app: &TestApp) -> (String, String) {
    let mut conn = app.pool.get().unwrap();
    let user = course_user(app);
    payment_center::core::legacy_logins::set(&mut conn, &app.merchant.id, &user, COURSE_PASSWORD)
        .expect("course login set");
    (user, COURSE_PASSWORD.into())
}

fn course_body(id: &str) -> Value {
    json!({
        "merchantOrderId": id,
        "merchantUserId": "190815GTKCBSS7MW",
        "amount": 1,
        "payMethod": 1,
        "returnUrl": "http://localhost:8088/orders/notifyMerchantOrderPaid"
    })
}

/// `POST /payment/createMerchantOrder` with the course's login headers: the envelope.
pub async fn create(app: &TestApp, body: &Value, user: &str, password: &str) -> Value {
    app.client
        .post(app.url("/payment/createMerchantOrder"))
        .header("imoocUserId", user)
        .header("password", password)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn call(app: &TestApp, path: &str, id: &str, user: &str, as_form: bool) -> Value {
    let mut request = app
        .client
        .post(app.url(path))
        .header("imoocUserId", course_user(app))
        .header("password", COURSE_PASSWORD);
    let params = [("merchantOrderId", id), ("merchantUserId", user)];
    request = if as_form {
        request.form(&params)
    } else {
        request.query(&params)
    };
    let response = request.send().await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "the course's envelope is always HTTP 200"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn create_merchant_order_speaks_the_course_envelope() {
    let app = spawn_app().await;
    let (id, key) = course_login(&app);
    let answer = create(&app, &course_body("210216HW7D4NGT2W"), &id, &key).await;
    assert_eq!(
        answer,
        json!({"status": 200, "msg": "OK", "data": "商户订单创建成功！"})
    );
    // The course's backend retries: the same answer, one order.
    assert_eq!(
        create(&app, &course_body("210216HW7D4NGT2W"), &id, &key).await["status"],
        200
    );
    assert_eq!(app.order_count(), 1);
    let order = app.get_order("210216HW7D4NGT2W").await;
    assert_eq!(order["description"], "天天吃货-付款用户[190815GTKCBSS7MW]");
    assert_eq!(order["pay_method"], "wechat");

    let mut bad = course_body("x-1");
    bad["amount"] = json!(0);
    let answer = create(&app, &bad, &id, &key).await;
    assert_eq!(answer["status"], 500);
    assert_eq!(answer["data"], Value::Null);
    assert_eq!(
        answer["msg"],
        "amount must be a positive integer number of fen, at most 100000000"
    );
    let mut alipay = course_body("x-2");
    alipay["payMethod"] = json!(2);
    assert_eq!(create(&app, &alipay, &id, &key).await["msg"], "OK");
    let mut cash = course_body("x-3");
    cash["payMethod"] = json!(3);
    assert_eq!(
        create(&app, &cash, &id, &key).await["msg"],
        "payMethod must be \"wechat\" (or 1), \"alipay\" (or 2), or null"
    );
    let mut other = course_body("210216HW7D4NGT2W");
    other["amount"] = json!(2);
    assert_eq!(
        create(&app, &other, &id, &key).await["msg"],
        "merchantOrderId 210216HW7D4NGT2W already exists with a different amount"
    );
    assert_eq!(
        app.order_count(),
        2,
        "the course's order and its Alipay one"
    );
}

#[tokio::test]
async fn a_wrong_identity_is_the_courses_token_error() {
    let app = spawn_app().await;
    let (user, password) = course_login(&app);
    let metrics = |app: &TestApp| {
        let url = app.url("/metrics");
        let client = app.client.clone();
        async move { crate::helpers::get_text(&client, &url).await }
    };
    let before = metrics(&app).await;
    for (user, password, reason) in [
        (user.as_str(), "wrong-password", "wrong_password"),
        ("someone-else", password.as_str(), "unknown_user"),
        // The v1 API key never opens the course's paths, whatever user it comes with.
        (
            app.merchant.id.as_str(),
            app.merchant.api_key.as_str(),
            "unknown_user",
        ),
        (
            user.as_str(),
            app.merchant.api_key.as_str(),
            "wrong_password",
        ),
        ("", "", "missing"),
    ] {
        let answer = create(&app, &course_body("who-1"), user, password).await;
        assert_eq!(answer["status"], 502, "{user}");
        assert_eq!(answer["data"], Value::Null);
        assert!(answer["msg"].as_str().unwrap().contains("imoocUserId"));
        let _ = reason;
    }
    assert_eq!(app.order_count(), 0);
    let after = metrics(&app).await;
    let count = |text: &str, outcome: &str| -> u64 {
        let series = format!("payment_center_course_logins_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str())?.parse().ok())
            .unwrap_or(0)
    };
    for (outcome, at_least) in [("wrong_password", 2), ("unknown_user", 2), ("missing", 1)] {
        assert!(
            count(&after, outcome) >= count(&before, outcome) + at_least,
            "{outcome} counted"
        );
    }

    // The course login never opens /v1.
    let (code, _) = crate::helpers::error_of(
        app.post_order_as(&password, &crate::helpers::order_body("v1-1"))
            .await,
        401,
    )
    .await;
    assert_eq!(code, "unauthorized");
}

#[tokio::test]
async fn the_qr_code_by_query_string_or_form() {
    let app = spawn_app().await;
    let (id, key) = course_login(&app);
    create(&app, &course_body("qr-legacy"), &id, &key).await;
    let by_query = call(
        &app,
        "/payment/getWXPayQRCode",
        "qr-legacy",
        "190815GTKCBSS7MW",
        false,
    )
    .await;
    assert_eq!(by_query["status"], 200);
    let data = &by_query["data"];
    assert_eq!(data["amount"], 1);
    assert_eq!(data["merchantOrderId"], "qr-legacy");
    assert_eq!(data["merchantUserId"], "190815GTKCBSS7MW");
    assert!(data["qrCodeUrl"]
        .as_str()
        .unwrap()
        .starts_with("weixin://wxpay/bizpayurl?pr="));
    let by_form = call(
        &app,
        "/payment/getWXPayQRCode",
        "qr-legacy",
        "190815GTKCBSS7MW",
        true,
    )
    .await;
    assert_eq!(by_form["data"]["qrCodeUrl"], data["qrCodeUrl"]);

    // Another shopper's id, an unknown order, a paid order: the course's message.
    for (order, user) in [("qr-legacy", "someone-else"), ("nope", "190815GTKCBSS7MW")] {
        let answer = call(&app, "/payment/getWXPayQRCode", order, user, false).await;
        assert_eq!(
            (answer["status"].clone(), answer["msg"].clone()),
            (json!(500), json!("该订单不存在，或已经支付"))
        );
    }
    app.update_order("qr-legacy", "PAID", None);
    let answer = call(
        &app,
        "/payment/getWXPayQRCode",
        "qr-legacy",
        "190815GTKCBSS7MW",
        false,
    )
    .await;
    assert_eq!(answer["msg"], "该订单不存在，或已经支付");
}

#[tokio::test]
async fn the_order_info_in_the_courses_shape() {
    let app = spawn_app().await;
    let (id, key) = course_login(&app);
    create(&app, &course_body("info-1"), &id, &key).await;
    let answer = call(
        &app,
        "/payment/getPaymentCenterOrderInfo",
        "info-1",
        "190815GTKCBSS7MW",
        true,
    )
    .await;
    assert_eq!(answer["status"], 200);
    let data = &answer["data"];
    let order = app.get_order("info-1").await;
    assert_eq!(data["id"], order["id"]);
    assert_eq!(data["merchantOrderId"], "info-1");
    assert_eq!(data["merchantUserId"], "190815GTKCBSS7MW");
    assert_eq!(data["amount"], 1);
    assert_eq!(data["payMethod"], 1);
    assert_eq!(data["payStatus"], 10);
    assert_eq!(data["comeFrom"], "天天吃货");
    assert_eq!(
        data["returnUrl"],
        "http://localhost:8088/orders/notifyMerchantOrderPaid"
    );
    assert_eq!(data["isDelete"], 0);
    assert_eq!(data["createdTime"], order["created_at"]);
    app.update_order("info-1", "PAID", None);
    let answer = call(
        &app,
        "/payment/getPaymentCenterOrderInfo",
        "info-1",
        "190815GTKCBSS7MW",
        false,
    )
    .await;
    assert_eq!(answer["data"]["payStatus"], 20);
    app.update_order("info-1", "CLOSED", None);
    let answer = call(
        &app,
        "/payment/getPaymentCenterOrderInfo",
        "info-1",
        "190815GTKCBSS7MW",
        false,
    )
    .await;
    assert_eq!(answer["data"]["payStatus"], 30);
}

/// The course's `notifyMerchantOrderPaid` marks an order paid whatever the form says: an
/// order made through the course's endpoint hears of money received, never of a close or a
/// second payment. The same steps on a `/v1` order send all three events.
#[tokio::test]
async fn a_course_order_hears_of_payments_only() {
    let app = spawn_app().await;
    let (id, key) = course_login(&app);
    let user = "190815GTKCBSS7MW";
    for order in ["fd-paid", "fd-closed", "fd-late"] {
        assert_eq!(
            create(&app, &course_body(order), &id, &key).await["status"],
            200
        );
    }
    app.create_order("v1-late").await;
    for order in ["fd-paid", "fd-late"] {
        let qr = call(&app, "/payment/getWXPayQRCode", order, user, false).await;
        assert_eq!(qr["status"], 200, "{qr}");
    }
    assert_eq!(app.native("v1-late").await.status().as_u16(), 200);

    // Closed (fd-closed without a trade; the others within WeChat's five minutes, so their
    // trades stay open at WeChat and can still take money).
    for order in ["fd-closed", "fd-late", "v1-late"] {
        let closed: Value = close(&app, order).await.json().await.unwrap();
        assert_eq!(closed["status"], "CLOSED", "{order}");
    }
    // Paid: fd-paid in time, the other two after their close, then once more.
    for (order, transaction_id) in [
        ("fd-paid", "4200000000202611230000000100"),
        ("fd-late", "4200000000202611230000000101"),
        ("v1-late", "4200000000202611230000000102"),
        ("fd-late", "4200000000202611230000000201"),
        ("v1-late", "4200000000202611230000000202"),
    ] {
        let out_trade_no = app.get_order(order).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let xml = notify_xml(&out_trade_no, transaction_id, "1", &[], false);
        assert_eq!(app.post_notify(&xml).await.0, "SUCCESS", "{order}");
    }

    assert_eq!(app.get_order("fd-paid").await["status"], "PAID");
    assert_eq!(app.get_order("fd-closed").await["status"], "CLOSED");
    assert_eq!(app.get_order("fd-late").await["status"], "PAID_AFTER_CLOSE");
    assert_eq!(event_types(&app.webhooks("fd-paid").await), ["order.paid"]);
    assert!(app.webhooks("fd-closed").await.is_empty());
    // The return_url hears of each order's money once, as `order.paid`, whichever door the
    // order came in by; a close or a second payment goes only to webhook endpoints (none here).
    assert_eq!(event_types(&app.webhooks("fd-late").await), ["order.paid"]);
    assert_eq!(event_types(&app.webhooks("v1-late").await), ["order.paid"]);
    // Nothing is lost: both payments of each late order are recorded.
    assert_eq!(app.count("payments"), 5);
}

/// On the course's paths every answer is the course's envelope, HTTP 200: a wrong method and
/// an oversized body too.
#[tokio::test]
async fn every_answer_on_the_courses_paths_is_its_envelope() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/payment/getWXPayQRCode?merchantOrderId=a&merchantUserId=b"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        json!({"status": 500, "msg": "GET is not allowed on /payment/getWXPayQRCode", "data": null})
    );

    let mut huge = course_body("huge-1");
    huge["padding"] = json!("x".repeat(100_000));
    let (id, key) = course_login(&app);
    let answer = create(&app, &huge, &id, &key).await;
    assert_eq!(
        answer,
        json!({"status": 500, "msg": "the request body must be at most 65536 bytes", "data": null})
    );
    assert_eq!(app.order_count(), 0);
}

/// The course's storefront page calls from the browser, on another origin, with
/// `withCredentials` and the login headers: preflight and answer carry CORS for the allowed
/// origins (a sandbox allows any port of localhost and 127.0.0.1), under both base paths.
#[tokio::test]
async fn the_courses_page_may_call_from_an_allowed_origin() {
    let app = spawn_app().await;
    let (user, password) = course_login(&app);
    let origin = "http://localhost:8080";
    for base in ["/payment", "/foodie-payment/payment"] {
        let preflight = app
            .client
            .request(
                reqwest::Method::OPTIONS,
                app.url(&format!("{base}/getWXPayQRCode")),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,imoocuserid,password",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status().as_u16(), 204, "{base}");
        let header = |name: &str| {
            preflight
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            header("access-control-allow-origin").as_deref(),
            Some(origin)
        );
        assert_eq!(
            header("access-control-allow-credentials").as_deref(),
            Some("true")
        );
        assert!(header("access-control-allow-methods")
            .unwrap()
            .contains("POST"));
        let allowed_headers = header("access-control-allow-headers")
            .unwrap()
            .to_lowercase();
        for h in ["content-type", "imoocuserid", "password"] {
            assert!(allowed_headers.contains(h), "{allowed_headers}");
        }
    }

    let created: Value = app
        .client
        .post(app.url("/foodie-payment/payment/createMerchantOrder"))
        .header("Origin", origin)
        .header("imoocUserId", &user)
        .header("password", &password)
        .json(&course_body("cors-1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["status"], 200, "{created}");
    let response = app
        .client
        .post(app.url("/foodie-payment/payment/getWXPayQRCode?merchantOrderId=cors-1&merchantUserId=190815GTKCBSS7MW"))
        .header("Origin", origin)
        .header("imoocUserId", &user)
        .header("password", &password)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"]
            .to_str()
            .unwrap(),
        origin
    );
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
    let qr: Value = response.json().await.unwrap();
    assert!(
        qr["data"]["qrCodeUrl"]
            .as_str()
            .unwrap()
            .starts_with("weixin://"),
        "{qr}"
    );

    // An origin not allowed gets no CORS at all: its page cannot read the answer.
    let refused = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/payment/getWXPayQRCode"))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let answer: Value = refused.json().await.unwrap();
    assert_eq!(answer["status"], 500, "the course's envelope: {answer}");
}

/// A course login is public by construction: however its kept copy is found, nothing a client
/// presents as an API key reaches it, not even the text it was once kept under.
#[tokio::test]
async fn a_kept_course_login_is_never_found_by_an_api_key() {
    use sha2::{Digest, Sha256};
    let app = spawn_app().await;
    let (user, password) = course_login(&app);
    // A course call succeeds: its merchant is kept a moment.
    let answer = create(&app, &course_body("kept-1"), &user, &password).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let login_hash = hex::encode(Sha256::digest(format!("{user}:{password}")));
    for forged in [login_hash.clone(), format!("legacy:{login_hash}")] {
        let (code, message) = crate::helpers::error_of(
            app.post_order_as(&forged, &crate::helpers::order_body("forged-1"))
                .await,
            401,
        )
        .await;
        assert_eq!(code, "unauthorized");
        assert_eq!(
            message,
            "the API key in the Authorization header is not valid"
        );
    }
    assert_eq!(app.order_count(), 1);
}
