//! The built-in WeChat Pay v2 sandbox, driven by an independent raw client.

use crate::helpers::{eventually, spawn_app, spawn_app_with, start_sandbox, TestApp};
use crate::receiver::Receiver;
use crate::wechat_raw::{self, parse, request, verifies, KEY};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

fn native_fields<'a>(out_trade_no: &'a str, notify_url: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("body", "天天吃货 & <test>"),
        ("out_trade_no", out_trade_no),
        ("total_fee", "1"),
        ("spbill_create_ip", "127.0.0.1"),
        ("notify_url", notify_url),
        ("trade_type", "NATIVE"),
        ("product_id", "p1"),
    ]
}

async fn call(
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
    hmac: bool,
) -> HashMap<String, String> {
    parse(&app.sandbox_call(path, request(fields, hmac)).await)
}

#[tokio::test]
async fn an_independent_client_places_and_queries_a_native_order() {
    let app = spawn_app().await;
    for hmac in [false, true] {
        let out_trade_no = if hmac { "raw-hmac-1" } else { "raw-md5-1" };
        let reply = call(
            &app,
            "/pay/unifiedorder",
            &native_fields(out_trade_no, "http://127.0.0.1:9/n"),
            hmac,
        )
        .await;
        assert_eq!(reply["return_code"], "SUCCESS", "{reply:?}");
        assert_eq!(reply["result_code"], "SUCCESS", "{reply:?}");
        assert_eq!(reply["appid"], wechat_raw::APP_ID);
        assert_eq!(reply["mch_id"], wechat_raw::MCH_ID);
        assert_eq!(reply["trade_type"], "NATIVE");
        assert!(reply["code_url"].starts_with("weixin://wxpay/bizpayurl?pr="));
        assert!(reply["prepay_id"].starts_with("wx"));
        assert!(verifies(&reply, KEY), "the reply is signed: {reply:?}");
        assert_eq!(
            reply.get("sign_type").map(String::as_str),
            hmac.then_some("HMAC-SHA256")
        );

        // The same out_trade_no with the same parameters: the same code_url.
        let again = call(
            &app,
            "/pay/unifiedorder",
            &native_fields(out_trade_no, "http://127.0.0.1:9/n"),
            hmac,
        )
        .await;
        assert_eq!(again["code_url"], reply["code_url"]);

        let query = call(
            &app,
            "/pay/orderquery",
            &[("out_trade_no", out_trade_no)],
            hmac,
        )
        .await;
        assert_eq!(query["result_code"], "SUCCESS");
        assert_eq!(query["trade_state"], "NOTPAY");
        assert!(verifies(&query, KEY));
    }
}

#[tokio::test]
async fn the_sandbox_refuses_like_wechat() {
    let app = spawn_app().await;
    let notify = "http://127.0.0.1:9/n";

    // A wrong signature.
    let mut xml = request(&native_fields("refuse-1", notify), false);
    xml = xml.replace("<total_fee>1</total_fee>", "<total_fee>2</total_fee>");
    let reply = parse(&app.sandbox_call("/pay/unifiedorder", xml).await);
    assert_eq!(
        (reply["result_code"].as_str(), reply["err_code"].as_str()),
        ("FAIL", "SIGNERROR")
    );
    assert!(verifies(&reply, KEY), "even a refusal is signed");

    // Signed with the other algorithm than announced.
    let mut fields: Vec<(String, String)> = native_fields("refuse-1", notify)
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in [
        ("appid", wechat_raw::APP_ID),
        ("mch_id", wechat_raw::MCH_ID),
        ("nonce_str", "n1"),
        ("sign_type", "HMAC-SHA256"),
    ] {
        fields.push((k.into(), v.into()));
    }
    let md5 = wechat_raw::sign(&fields, KEY, false);
    fields.push(("sign".into(), md5));
    let reply = parse(
        &app.sandbox_call("/pay/unifiedorder", wechat_raw::to_xml(&fields))
            .await,
    );
    assert_eq!(reply["err_code"], "SIGNERROR");

    // A field WeChat requires for the trade type.
    let mut missing = native_fields("refuse-2", notify);
    missing.retain(|(k, _)| *k != "product_id");
    let reply = call(&app, "/pay/unifiedorder", &missing, false).await;
    assert_eq!(
        (reply["err_code"].as_str(), reply["err_code_des"].as_str()),
        ("LACK_PARAMS", "缺少参数product_id")
    );
    let mut jsapi = native_fields("refuse-3", notify);
    jsapi.retain(|(k, _)| *k != "trade_type");
    jsapi.push(("trade_type", "JSAPI"));
    let reply = call(&app, "/pay/unifiedorder", &jsapi, false).await;
    assert_eq!(reply["err_code_des"], "缺少参数openid");

    // Bad formats.
    let mut fee = native_fields("refuse-4", notify);
    fee.retain(|(k, _)| *k != "total_fee");
    fee.push(("total_fee", "0.5"));
    assert_eq!(
        call(&app, "/pay/unifiedorder", &fee, false).await["err_code"],
        "PARAM_ERROR"
    );
    let mut expire = native_fields("refuse-5", notify);
    expire.push(("time_expire", "20200101000000"));
    assert_eq!(
        call(&app, "/pay/unifiedorder", &expire, false).await["err_code"],
        "PARAM_ERROR"
    );

    // Another merchant account.
    let xml = request(&native_fields("refuse-6", notify), false).replace("10000100", "10000999");
    let reply = parse(&app.sandbox_call("/pay/unifiedorder", xml).await);
    assert_eq!(reply["err_code"], "APPID_MCHID_NOT_MATCH");

    // A reused out_trade_no with other parameters.
    assert_eq!(
        call(
            &app,
            "/pay/unifiedorder",
            &native_fields("reuse-1", notify),
            false
        )
        .await["result_code"],
        "SUCCESS"
    );
    let mut other = native_fields("reuse-1", notify);
    other.retain(|(k, _)| *k != "body");
    other.push(("body", "another body"));
    let reply = call(&app, "/pay/unifiedorder", &other, false).await;
    assert_eq!(
        (reply["err_code"].as_str(), reply["err_code_des"].as_str()),
        ("INVALID_REQUEST", "201 商户订单号重复")
    );

    // Unknown trades.
    let reply = call(&app, "/pay/orderquery", &[("out_trade_no", "never")], false).await;
    assert_eq!(reply["err_code"], "ORDERNOTEXIST");
    let reply = call(&app, "/pay/closeorder", &[("out_trade_no", "never")], false).await;
    assert_eq!(reply["err_code"], "ORDERNOTEXIST");

    // Not XML at all, or a DOCTYPE: return_code FAIL, nothing else.
    for body in [
        "not xml",
        "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x \"y\">]><xml><a>&x;</a></xml>",
    ] {
        let reply = parse(&app.sandbox_call("/pay/unifiedorder", body.to_owned()).await);
        assert_eq!(reply["return_code"], "FAIL");
        assert!(reply["return_msg"].starts_with("XML格式错误"), "{reply:?}");
        assert!(!reply.contains_key("result_code"));
    }
}

#[tokio::test]
async fn close_query_and_pay_follow_the_trade_state() {
    let app = spawn_app().await;
    let notify = "http://127.0.0.1:9/n";
    call(
        &app,
        "/pay/unifiedorder",
        &native_fields("life-1", notify),
        false,
    )
    .await;
    // WeChat refuses to close within five minutes of the unifiedorder.
    let reply = call(
        &app,
        "/pay/closeorder",
        &[("out_trade_no", "life-1")],
        false,
    )
    .await;
    assert_eq!(reply["result_code"], "FAIL");
    assert_eq!(reply["err_code"], "SYSTEMERROR");
    assert_eq!(
        reply["err_code_des"],
        "订单生成后不能马上调用关单接口，最短调用时间间隔为5分钟"
    );
    let query = call(
        &app,
        "/pay/orderquery",
        &[("out_trade_no", "life-1")],
        false,
    )
    .await;
    assert_eq!(query["trade_state"], "NOTPAY");
    app.age_sandbox_trade("life-1", 5 * 60).await;
    let reply = call(
        &app,
        "/pay/closeorder",
        &[("out_trade_no", "life-1")],
        false,
    )
    .await;
    assert_eq!(reply["result_code"], "SUCCESS");
    assert_eq!(
        call(
            &app,
            "/pay/orderquery",
            &[("out_trade_no", "life-1")],
            false
        )
        .await["trade_state"],
        "CLOSED"
    );
    assert_eq!(
        call(
            &app,
            "/pay/unifiedorder",
            &native_fields("life-1", notify),
            false
        )
        .await["err_code"],
        "ORDERCLOSED"
    );
    let response = app.simulate_pay(&json!({"out_trade_no": "life-1"})).await;
    assert_eq!(response.status().as_u16(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "ORDERCLOSED: the trade is closed");

    let receiver = Receiver::start(vec![(
        200,
        "<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>",
    )]);
    let notify_url = format!("{}/notify", receiver.url);
    call(
        &app,
        "/pay/unifiedorder",
        &native_fields("life-2", &notify_url),
        false,
    )
    .await;
    let paid: Value = app
        .simulate_pay(&json!({"out_trade_no": "life-2", "openid": "o-shopper"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["notified"], true);
    let transaction_id = paid["transaction_id"].as_str().unwrap();
    assert_eq!(transaction_id.len(), 28);
    let query = call(
        &app,
        "/pay/orderquery",
        &[("out_trade_no", "life-2")],
        false,
    )
    .await;
    assert_eq!(query["trade_state"], "SUCCESS");
    assert_eq!(query["transaction_id"], transaction_id);
    assert_eq!(query["openid"], "o-shopper");
    assert_eq!(query["total_fee"], "1");
    assert_eq!(query["time_end"].len(), 14);
    assert_eq!(
        call(
            &app,
            "/pay/closeorder",
            &[("out_trade_no", "life-2")],
            false
        )
        .await["err_code"],
        "ORDERPAID"
    );
    assert_eq!(
        call(
            &app,
            "/pay/unifiedorder",
            &native_fields("life-2", &notify_url),
            false
        )
        .await["err_code"],
        "ORDERPAID"
    );
    let again = app.simulate_pay(&json!({"out_trade_no": "life-2"})).await;
    assert_eq!(again.status().as_u16(), 409, "a trade is paid once");
    let unknown = app
        .simulate_pay(&json!({"code_url": "weixin://wxpay/bizpayurl?pr=nope"}))
        .await;
    assert_eq!(unknown.status().as_u16(), 404);
}

#[tokio::test]
async fn the_notify_is_signed_and_repeated_until_acknowledged() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![
        (500, "oops"),
        (200, "<xml><return_code><![CDATA[FAIL]]></return_code></xml>"),
        (200, "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"),
    ]);
    let notify_url = format!("{}/wxpay/notify", receiver.url);
    let mut fields = native_fields("notify-1", &notify_url);
    fields.push(("attach", "shop-data"));
    let reply = call(&app, "/pay/unifiedorder", &fields, true).await;
    let paid: Value = app
        .simulate_pay(&json!({"code_url": reply["code_url"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["notified"], false, "the first attempt got a 500");

    let received = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 3, "500, FAIL, then SUCCESS");
    for notify in &received {
        assert_eq!(notify.path, "/wxpay/notify");
        assert!(notify.content_type.starts_with("text/xml"));
        let fields = parse(&notify.body);
        assert!(verifies(&fields, KEY), "signed: {fields:?}");
        assert_eq!(fields["sign_type"], "HMAC-SHA256", "signed like the order");
        assert_eq!(fields["return_code"], "SUCCESS");
        assert_eq!(fields["result_code"], "SUCCESS");
        assert_eq!(fields["out_trade_no"], "notify-1");
        assert_eq!(fields["total_fee"], "1");
        assert_eq!(fields["cash_fee"], "1");
        assert_eq!(fields["attach"], "shop-data");
        assert_eq!(
            fields["transaction_id"],
            paid["transaction_id"].as_str().unwrap()
        );
        assert_eq!(fields["appid"], wechat_raw::APP_ID);
        assert_eq!(fields["mch_id"], wechat_raw::MCH_ID);
    }
    // The receiver answered the third; the sandbox records that a moment later.
    let trade = eventually(Duration::from_secs(5), || async {
        let trade = app.sandbox_trade("notify-1").await;
        (trade["notify"]["acknowledged"] == true).then_some(trade)
    })
    .await
    .expect("the third attempt is recorded as acknowledged");
    let statuses: Vec<Value> = trade["notify"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["http_status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!(500), json!(200), json!(200)]);
    // Acknowledged: no further attempt comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn the_whole_loop_reaches_our_notify_url() {
    let app = spawn_app().await;
    let order = app.create_order("loop-1").await;
    let view: Value = app
        .checkout(order["checkout_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let paid: Value = app
        .simulate_pay(&json!({"code_url": view["code_url"]}))
        .await
        .json()
        .await
        .unwrap();
    assert!(paid["transaction_id"]
        .as_str()
        .unwrap()
        .starts_with("42000"));
    assert_eq!(paid["notified"], true);
    let trade = app.sandbox_trade(order["id"].as_str().unwrap()).await;
    assert_eq!(
        trade["notify_url"],
        format!("{}/notify/wechat", app.address)
    );
    assert_eq!(trade["trade_state"], "SUCCESS");
    assert_eq!(trade["notify"]["acknowledged"], true);
    assert_eq!(trade["notify"]["attempts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unacknowledged_notify_is_retried_on_schedule() {
    // Two quick retries, then a pause long enough for the test to mend the store even on a
    // loaded machine.
    let app = spawn_app_with(|s| {
        s.sandbox_notify_schedule = vec![
            Duration::from_millis(200),
            Duration::from_millis(200),
            Duration::from_millis(5000),
        ]
    })
    .await;
    let order = app.create_order("loop-2").await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    app.native("loop-2").await;
    // Our notify handler cannot record the payment (the store is broken), so it answers FAIL.
    app.execute("ALTER TABLE payments RENAME TO payments_away");
    let paid: Value = app
        .simulate_pay(&json!({"out_trade_no": order_id}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["notified"], false);
    let trade = eventually(Duration::from_secs(10), || async {
        let trade = app.sandbox_trade(&order_id).await;
        (trade["notify"]["attempts"].as_array().unwrap().len() >= 3).then_some(trade)
    })
    .await
    .expect("the sandbox tried again");
    assert_eq!(trade["notify"]["acknowledged"], false);
    // The store recovers; the sandbox's last scheduled attempt completes the payment.
    app.execute("ALTER TABLE payments_away RENAME TO payments");
    let trade = eventually(Duration::from_secs(10), || async {
        let trade = app.sandbox_trade(&order_id).await;
        (trade["notify"]["acknowledged"] == true).then_some(trade)
    })
    .await
    .expect("acknowledged once the store is back");
    assert_eq!(trade["notify"]["attempts"].as_array().unwrap().len(), 4);
    assert_eq!(app.get_order("loop-2").await["status"], "PAID");
}

#[tokio::test]
async fn a_standalone_sandbox_serves_a_service_pointed_at_it() {
    let (base, handle) = start_sandbox(vec![Duration::from_secs(15)]);

    let app = spawn_app_with(|s| s.wechat.api_base = Some(base.clone())).await;
    let order = app.create_order("external-1").await;
    let native: Value = app.native("external-1").await.json().await.unwrap();
    assert!(native["code_url"]
        .as_str()
        .unwrap()
        .starts_with("weixin://"));
    let trade: Value = app
        .client
        .get(format!("{base}/trades/{}", order["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(trade["code_url"], native["code_url"]);
    // The service did not mount a sandbox of its own.
    let own = app
        .client
        .get(app.url(&format!(
            "/sandbox/wechat/trades/{}",
            order["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status().as_u16(), 404);
    handle.stop(false).await;
}

#[tokio::test]
async fn with_real_credentials_no_sandbox_is_mounted() {
    let app = spawn_app_with(|s| {
        s.wechat.credentials = Some(payment_center::config::WechatCredentials {
            app_id: "wx0000000000000000".into(),
            mch_id: "1900000000".into(),
            api_key: "k".repeat(32),
        });
        // Never reach the real WeChat from a test.
        s.wechat.api_base = Some("http://127.0.0.1:1".into());
    })
    .await;
    let response = app
        .client
        .post(app.url("/sandbox/wechat/pay/unifiedorder"))
        .body("<xml></xml>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}
