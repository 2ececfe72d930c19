//! WeChat's payment notify, and every mistake of DESIGN.md's list that concerns it.

use crate::helpers::{spawn_app, TestApp, ALL_BUT_PAID};
use crate::wechat_raw::notify_xml;
use serde_json::{json, Value};

const RETURN_URL: &str = "http://127.0.0.1:9/paid";

async fn order(app: &TestApp, id: &str) -> (Value, String) {
    let order = app.order_with_trade(id, RETURN_URL).await;
    let out_trade_no = order["id"].as_str().unwrap().to_owned();
    (order, out_trade_no)
}

fn rejected_reasons(app: &TestApp) -> Vec<String> {
    let mut conn = app.pool.get().unwrap();
    payment_center::db::rejected_notifies::recent(&mut conn, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.reason)
        .collect()
}

#[tokio::test]
async fn a_payment_through_the_sandbox_makes_the_order_paid() {
    let app = spawn_app().await;
    let (order, out_trade_no) = order(&app, "paid-1").await;
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
    assert_eq!(
        paid["notified"], true,
        "our notify answered SUCCESS at once"
    );
    let transaction_id = paid["transaction_id"].as_str().unwrap();

    let order = app.get_order("paid-1").await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["transaction_id"], transaction_id);
    assert!(order["paid_at"].as_str().unwrap().ends_with('Z'));
    let trade = app.sandbox_trade(&out_trade_no).await;
    assert_eq!(trade["notify"]["acknowledged"], true);
    assert_eq!(trade["notify"]["attempts"].as_array().unwrap().len(), 1);

    let webhooks = app.webhooks("paid-1").await;
    assert_eq!(webhooks.len(), 1);
    assert_eq!(webhooks[0]["event_type"], "order.paid");
    assert_eq!(webhooks[0]["status"], "PENDING");
    assert_eq!(webhooks[0]["url"], RETURN_URL);
    // The checkout shows it paid, without a code to pay again.
    let view: Value = app
        .checkout(order["checkout_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "PAID");
    assert_eq!(view["code_url"], Value::Null);
}

#[tokio::test]
async fn a_repeated_notify_answers_success_and_changes_nothing() {
    let app = spawn_app().await;
    let (_, out_trade_no) = order(&app, "repeat-1").await;
    let xml = notify_xml(
        &out_trade_no,
        "4200000000202611220000000001",
        "1",
        &[],
        false,
    );
    for _ in 0..3 {
        assert_eq!(app.post_notify(&xml).await, ("SUCCESS".into(), "OK".into()));
    }
    // The same payment with a fresh nonce and signature, as WeChat repeats it.
    let again = notify_xml(
        &out_trade_no,
        "4200000000202611220000000001",
        "1",
        &[("nonce_str", "other")],
        false,
    );
    assert_eq!(app.post_notify(&again).await.0, "SUCCESS");
    assert_eq!(
        app.webhooks("repeat-1").await.len(),
        1,
        "one event per state change"
    );
    assert_eq!(app.count("payments"), 1);
    assert_eq!(app.get_order("repeat-1").await["status"], "PAID");
}

#[tokio::test]
async fn fifty_concurrent_copies_make_one_transition_and_one_event() {
    let app = spawn_app().await;
    let (_, out_trade_no) = order(&app, "storm-notify").await;
    let xml = notify_xml(
        &out_trade_no,
        "4200000000202611220000000050",
        "1",
        &[],
        false,
    );
    let answers = futures_util::future::join_all((0..50).map(|_| app.post_notify(&xml))).await;
    for answer in &answers {
        assert_eq!(answer.0, "SUCCESS", "{answer:?}");
    }
    assert_eq!(app.count("payments"), 1);
    assert_eq!(app.count("webhook_events"), 1);
    assert_eq!(app.get_order("storm-notify").await["status"], "PAID");
}

#[tokio::test]
async fn fields_we_do_not_know_are_verified_with_the_rest() {
    let app = spawn_app().await;
    let (_, out_trade_no) = order(&app, "extra-1").await;
    let extra = [
        ("rate_value", "0.00600"),
        ("coupon_fee_0", "0"),
        ("coupon_count", "0"),
        ("attach", "x"),
    ];
    let xml = notify_xml(
        &out_trade_no,
        "4200000000202611220000000002",
        "1",
        &extra,
        false,
    );
    assert_eq!(app.post_notify(&xml).await.0, "SUCCESS");
    assert_eq!(app.get_order("extra-1").await["status"], "PAID");
}

#[tokio::test]
async fn the_notifys_own_sign_type_is_used() {
    let app = spawn_app().await; // configured MD5
    let (_, out_trade_no) = order(&app, "hmac-1").await;
    let hmac = notify_xml(
        &out_trade_no,
        "4200000000202611220000000003",
        "1",
        &[],
        true,
    );
    assert_eq!(app.post_notify(&hmac).await.0, "SUCCESS");
    assert_eq!(app.get_order("hmac-1").await["status"], "PAID");

    // MD5-signed but claiming HMAC-SHA256: refused.
    let (_, out_trade_no) = order(&app, "hmac-2").await;
    let lying = notify_xml(
        &out_trade_no,
        "4200000000202611220000000004",
        "1",
        &[("sign_type", "HMAC-SHA256")],
        false,
    );
    assert_eq!(
        app.post_notify(&lying).await,
        ("FAIL".into(), "signature does not verify".into())
    );
    assert_eq!(app.get_order("hmac-2").await["status"], "WAIT_PAY");
}

#[tokio::test]
async fn only_return_and_result_success_is_a_payment() {
    let app = spawn_app().await;
    let (_, out_trade_no) = order(&app, "fail-1").await;
    let xml = notify_xml(
        &out_trade_no,
        "4200000000202611220000000005",
        "1",
        &[("result_code", "FAIL"), ("err_code", "NOTENOUGH")],
        false,
    );
    let (code, msg) = app.post_notify(&xml).await;
    assert_eq!(code, "FAIL");
    assert_eq!(
        msg,
        "not a successful payment (return_code=SUCCESS, result_code=FAIL, err_code=NOTENOUGH)"
    );
    assert_eq!(app.get_order("fail-1").await["status"], "WAIT_PAY");
    assert_eq!(app.count("webhook_events"), 0);
    assert!(
        rejected_reasons(&app).contains(&format!("wechat: {msg}")),
        "kept for an operator, with its channel"
    );
}

#[tokio::test]
async fn a_notify_without_identity_is_forged() {
    let app = spawn_app().await;
    let (_, out_trade_no) = order(&app, "forged-1").await;
    let unsigned = format!(
        "<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code>\
         <out_trade_no>{out_trade_no}</out_trade_no><transaction_id>42000</transaction_id>\
         <total_fee>1</total_fee></xml>"
    );
    let (code, msg) = app.post_notify(&unsigned).await;
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("FAIL", "missing appid: not a WeChat notify")
    );
    let signed_without_sign = notify_xml(&out_trade_no, "42001", "1", &[], false);
    let stripped = signed_without_sign
        .split("<sign>")
        .next()
        .unwrap()
        .to_owned()
        + "</xml>";
    assert_eq!(
        app.post_notify(&stripped).await.1,
        "missing sign: not a WeChat notify"
    );
    let (code, msg) = app.post_notify("not even xml").await;
    assert_eq!(code, "FAIL");
    assert!(msg.starts_with("unreadable XML"), "{msg}");
    assert_eq!(app.get_order("forged-1").await["status"], "WAIT_PAY");
    assert_eq!(rejected_reasons(&app).len(), 3);
}

#[tokio::test]
async fn the_amount_the_account_and_the_trade_must_be_ours() {
    let app = spawn_app().await;
    let (_, out_trade_no) = order(&app, "check-1").await;
    let cases = [
        (
            notify_xml(&out_trade_no, "42002", "100", &[], false),
            "the amount 100 is not the order's amount 1".to_owned(),
        ),
        (
            notify_xml(
                &out_trade_no,
                "42003",
                "1",
                &[("appid", "wx0000000000000000")],
                false,
            ),
            "appid wx0000000000000000 is not ours".to_owned(),
        ),
        (
            notify_xml(
                &out_trade_no,
                "42004",
                "1",
                &[("mch_id", "1900000000")],
                false,
            ),
            "mch_id 1900000000 is not ours".to_owned(),
        ),
        (
            notify_xml("PC00000000000000NOSUCHTRADE", "42005", "1", &[], false),
            "unknown out_trade_no PC00000000000000NOSUCHTRADE".to_owned(),
        ),
    ];
    for (xml, reason) in &cases {
        assert_eq!(app.post_notify(xml).await, ("FAIL".into(), reason.clone()));
    }
    assert_eq!(app.get_order("check-1").await["status"], "WAIT_PAY");
    assert_eq!(app.count("payments"), 0);
    assert_eq!(app.count("webhook_events"), 0);
    let reasons = rejected_reasons(&app);
    for (_, reason) in &cases {
        assert!(
            reasons.contains(&format!("wechat: {reason}")),
            "{reason} kept"
        );
    }
}

#[tokio::test]
async fn a_payment_for_a_closed_order_is_recorded_and_surfaced() {
    let app = spawn_app().await;
    app.add_endpoint("http://127.0.0.1:9/events", &ALL_BUT_PAID)
        .await;
    let (_, out_trade_no) = order(&app, "late-pay").await;
    app.update_order("late-pay", "CLOSED", None);
    let xml = notify_xml(
        &out_trade_no,
        "4200000000202611220000000006",
        "1",
        &[],
        false,
    );
    assert_eq!(
        app.post_notify(&xml).await.0,
        "SUCCESS",
        "recorded, never lost"
    );
    let order = app.get_order("late-pay").await;
    assert_eq!(order["status"], "PAID_AFTER_CLOSE");
    assert_eq!(order["transaction_id"], "4200000000202611220000000006");
    // The return_url hears of the money as it would of any payment, once; the merchant's
    // endpoint hears that it came after the close.
    let webhooks = app.webhooks("late-pay").await;
    assert_eq!(webhooks.len(), 2, "{webhooks:?}");
    let to_return_url = webhooks
        .iter()
        .find(|w| w["endpoint_id"].is_null())
        .unwrap();
    assert_eq!(to_return_url["event_type"], "order.paid");
    assert_eq!(to_return_url["url"], "http://127.0.0.1:9/paid");
    let to_endpoint = webhooks
        .iter()
        .find(|w| !w["endpoint_id"].is_null())
        .unwrap();
    assert_eq!(to_endpoint["event_type"], "order.paid_after_close");
    assert_eq!(to_endpoint["url"], "http://127.0.0.1:9/events");
}

#[tokio::test]
async fn a_second_transaction_for_a_paid_order_is_recorded_and_surfaced() {
    let app = spawn_app().await;
    app.add_endpoint("http://127.0.0.1:9/events", &ALL_BUT_PAID)
        .await;
    let (_, out_trade_no) = order(&app, "twice").await;
    let first = notify_xml(
        &out_trade_no,
        "4200000000202611220000000007",
        "1",
        &[],
        false,
    );
    let second = notify_xml(
        &out_trade_no,
        "4200000000202611220000000008",
        "1",
        &[],
        false,
    );
    assert_eq!(app.post_notify(&first).await.0, "SUCCESS");
    assert_eq!(app.post_notify(&second).await.0, "SUCCESS");
    let order = app.get_order("twice").await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(
        order["transaction_id"], "4200000000202611220000000007",
        "the first payment stays the order's"
    );
    assert_eq!(app.count("payments"), 2);
    assert_eq!(
        app.event_types("twice").await,
        ["order.duplicate_payment", "order.paid"]
    );
}

#[tokio::test]
async fn a_payment_that_cannot_be_recorded_answers_fail_so_wechat_retries() {
    let app = spawn_app().await;
    let (_, out_trade_no) = order(&app, "store-down").await;
    let xml = notify_xml(
        &out_trade_no,
        "4200000000202611220000000009",
        "1",
        &[],
        false,
    );
    // Break the store under the handler: the payments table is not there.
    app.execute("ALTER TABLE payments RENAME TO payments_away");
    let (code, msg) = app.post_notify(&xml).await;
    app.execute("ALTER TABLE payments_away RENAME TO payments");
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("FAIL", "the payment could not be recorded; try again")
    );
    assert_eq!(
        app.get_order("store-down").await["status"],
        "WAIT_PAY",
        "nothing half-written"
    );
    assert_eq!(app.count("webhook_events"), 0);
    // WeChat's next attempt goes through.
    assert_eq!(app.post_notify(&xml).await.0, "SUCCESS");
    assert_eq!(app.get_order("store-down").await["status"], "PAID");
}

#[tokio::test]
async fn the_foodie_payment_notify_path_is_the_same_handler() {
    let app = spawn_app().await;
    let (_, out_trade_no) = order(&app, "legacy-notify").await;
    let xml = notify_xml(
        &out_trade_no,
        "4200000000202611220000000010",
        "1",
        &[],
        false,
    );
    let response = app
        .client
        .post(app.url("/payment/notice/wxpay"))
        .body(xml)
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    assert_eq!(body, "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>");
    assert_eq!(app.get_order("legacy-notify").await["status"], "PAID");
}

/// Anyone can POST to the notify URL: what is kept of a refused body is bounded (a forged one
/// to a short sample, one WeChat signed to its first 8 KiB), and refused notifies are deleted
/// once past their retention.
#[tokio::test]
async fn refused_notifies_are_kept_bounded_and_for_a_while() {
    let app = spawn_app().await;
    let (_, out_trade_no) = order(&app, "kept-1").await;
    let padding = "x".repeat(20_000);
    let forged = notify_xml(&out_trade_no, "42002", "1", &[("attach", &padding)], false)
        .replace("<sign>", "<sign>0");
    assert!(forged.len() > 20_000);
    assert_eq!(app.post_notify(&forged).await.0, "FAIL");
    // Signed with our key, but for another amount: WeChat's word, kept for an operator.
    let signed = notify_xml(&out_trade_no, "42003", "2", &[("attach", &padding)], false);
    let (code, message) = app.post_notify(&signed).await;
    assert_eq!(code, "FAIL");
    assert!(message.starts_with("the amount 2 is not"), "{message}");
    let kept = {
        let mut conn = app.pool.get().unwrap();
        payment_center::db::rejected_notifies::recent(&mut conn, 10).unwrap()
    };
    assert_eq!(kept.len(), 2);
    let sample = kept
        .iter()
        .find(|r| r.reason.contains("signature"))
        .unwrap();
    assert!(
        sample.body.len() <= payment_center::api::SAMPLE_FIELD_BYTES + 3,
        "{}",
        sample.body.len()
    );
    let signed_kept = kept
        .iter()
        .find(|r| r.reason.contains("the amount 2"))
        .unwrap();
    let cap = payment_center::api::KEPT_BODY_BYTES;
    assert!(
        (cap - 16..=cap + 3).contains(&signed_kept.body.len()),
        "{}",
        signed_kept.body.len()
    );

    // One of them is a day past the retention; the worker's next step forgets it only.
    let retention = payment_center::reconcile::REJECTED_NOTIFY_RETENTION.num_days();
    let aged = chrono::Utc::now().naive_utc() - chrono::Duration::days(retention + 1);
    app.execute(&format!(
        "UPDATE rejected_notifies SET received_at = '{}' WHERE id = '{}'",
        aged.format("%Y-%m-%d %H:%M:%S"),
        kept[0].id
    ));
    let step = app.reconcile_worker.run_once().await.unwrap();
    assert_eq!(step.forgotten_notifies, 1);
    assert_eq!(rejected_reasons(&app), [kept[1].reason.clone()]);
    assert_eq!(
        app.reconcile_worker
            .run_once()
            .await
            .unwrap()
            .forgotten_notifies,
        0
    );
}
