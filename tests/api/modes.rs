//! Sandbox and live: a live instance takes real-protocol payments from a channel that is
//! another instance's sandbox, says `livemode` everywhere, mounts no sandbox, and trusts only
//! notifies signed with its own key.

use crate::helpers::{get_json, get_text, make_live, spawn_app, spawn_app_with};
use crate::receiver::Receiver;
use crate::webhooks::{verified_form, ACK};
use crate::wechat_raw::notify_xml_signed_with;
use serde_json::{json, Value};

#[tokio::test]
async fn a_live_instance_takes_a_payment_from_another_instances_sandbox() {
    let channel = spawn_app().await;
    let sandbox_base = channel.url("/sandbox/wechat");
    let live = spawn_app_with(|s| make_live(s, &sandbox_base, true)).await;
    let shop = Receiver::start(vec![ACK]);

    // Live: no sandbox here, whatever the path.
    for path in [
        "/sandbox/wechat/simulate-pay",
        "/sandbox/wechat/pay/unifiedorder",
    ] {
        let response = live.client.post(live.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 404, "{path}");
    }

    let order = live
        .order_with_trade("live-1", &format!("{}/paid", shop.url))
        .await;
    assert_eq!(order["livemode"], true);
    let native: Value = live.native("live-1").await.json().await.unwrap();
    let code_url = native["code_url"].as_str().unwrap();
    assert!(code_url.starts_with("weixin://wxpay/bizpayurl?pr="));

    // The shopper pays at the channel (the first instance's sandbox), which notifies the live
    // instance over HTTP, signed with the account's key.
    let paid: Value = channel
        .simulate_pay(&json!({ "code_url": code_url }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["notified"], true, "{paid}");
    let order = live.get_order("live-1").await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["livemode"], true);
    assert_eq!(order["channel"], "wechat");
    assert_eq!(order["transaction_id"], paid["transaction_id"]);

    live.webhook_worker.run_once().await.unwrap();
    let received = shop.received();
    assert_eq!(received.len(), 1);
    let form = verified_form(&received[0], &live.merchant.notify_secret);
    assert_eq!(form["livemode"], "true");
    assert_eq!(form["eventType"], "order.paid");
    assert_eq!(form["status"], "PAID");

    // A notify for another order of the live instance, signed with any other key, changes
    // nothing.
    let other = live
        .order_with_trade("live-2", &format!("{}/paid", shop.url))
        .await;
    let out_trade_no = other["id"].as_str().unwrap();
    for (key, hmac) in [("0123456789abcdef0123456789abcdef", false), ("x", true)] {
        let forged = notify_xml_signed_with(
            key,
            out_trade_no,
            "4200000000202611260000000001",
            "1",
            &[],
            hmac,
        );
        let (code, message) = live.post_notify(&forged).await;
        assert_eq!(code, "FAIL");
        assert_eq!(message, "signature does not verify");
    }
    assert_eq!(live.get_order("live-2").await["status"], "WAIT_PAY");
}

#[tokio::test]
async fn a_sandbox_says_so_on_every_order_webhook_and_cashier_page() {
    let app = spawn_app().await;
    let shop = Receiver::start(vec![ACK]);
    let order = app
        .order_with_trade("sbx-1", &format!("{}/paid", shop.url))
        .await;
    assert_eq!(order["livemode"], false);
    let page = get_text(&app.client, order["checkout_url"].as_str().unwrap()).await;
    assert!(page.contains("class=\"sandbox-banner\""), "{page}");
    assert!(page.contains("SANDBOX — no real money moves"));

    let code_url = app.native("sbx-1").await.json::<Value>().await.unwrap()["code_url"].clone();
    app.simulate_pay(&json!({ "code_url": code_url })).await;
    app.webhook_worker.run_once().await.unwrap();
    let form = verified_form(&shop.received()[0], &app.merchant.notify_secret);
    assert_eq!(form["livemode"], "false");

    let ready = get_json(&app.client, &app.url("/readyz")).await;
    assert_eq!(ready["mode"], "sandbox");
}

#[tokio::test]
async fn a_live_cashier_page_has_no_sandbox_banner() {
    let channel = spawn_app().await;
    let sandbox_base = channel.url("/sandbox/wechat");
    let live = spawn_app_with(|s| make_live(s, &sandbox_base, false)).await;
    let order = live.create_order("live-page").await;
    let page = get_text(&live.client, order["checkout_url"].as_str().unwrap()).await;
    assert!(page.contains("¥<span id=\"amount\">0.01</span>"), "{page}");
    assert!(!page.contains("sandbox-banner"));
    assert!(!page.contains("data-sandbox=\"1\""));
}

/// A live start checks its WeChat account without money (an orderquery for an order that
/// cannot exist) and reports it in /readyz: accepted, or refused with WeChat's words (503).
#[tokio::test]
async fn a_live_start_checks_its_credentials() {
    let channel = spawn_app().await;
    let sandbox_base = channel.url("/sandbox/wechat");
    let live = spawn_app_with(|s| make_live(s, &sandbox_base, false)).await;
    let ready = crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        let body = get_json(&live.client, &live.url("/readyz")).await;
        (body["channels"]["wechat"]["credentials"] != "unchecked").then_some(body)
    })
    .await
    .expect("the check answers");
    assert_eq!(
        ready["channels"]["wechat"]["credentials"], "accepted",
        "{ready}"
    );
    assert_eq!(ready["status"], "ok");

    let wrong_key = spawn_app_with(|s| {
        make_live(s, &sandbox_base, false);
        if let Some(c) = s.wechat.credentials.as_mut() {
            c.api_key = "0123456789abcdef0123456789abcdef".into();
        }
    })
    .await;
    let ready = crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        let body = get_json(&wrong_key.client, &wrong_key.url("/readyz")).await;
        (body["channels"]["wechat"]["credentials"] != "unchecked").then_some(body)
    })
    .await
    .expect("the check answers");
    assert_eq!(
        ready["channels"]["wechat"]["credentials"], "refused",
        "{ready}"
    );
    assert_eq!(ready["status"], "unavailable");
    assert!(
        ready["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WeChat Pay refused the credentials"),
        "{ready}"
    );
    assert!(
        !ready.to_string().contains("0123456789abcdef"),
        "no key in the answer"
    );
}
