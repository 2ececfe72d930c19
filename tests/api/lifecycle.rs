//! The order lifecycle: close, expiry (close-then-query), active query, paid after close, and
//! the races between them. Workers are driven one step at a time.

use crate::helpers::{error_of, spawn_app_with, TestApp, ALL_BUT_PAID};
use crate::wechat_raw::notify_xml;
use serde_json::{json, Value};
use std::time::Duration;

/// The sandbox notifies once, then not again within a test. The merchant has a webhook
/// endpoint for every event but the paid one (which the return_url hears of).
async fn app() -> TestApp {
    let app = spawn_app_with(|s| s.sandbox_notify_schedule = vec![Duration::from_secs(3600)]).await;
    app.add_endpoint("http://127.0.0.1:9/events", &ALL_BUT_PAID)
        .await;
    app
}

/// An order with its NATIVE trade; answers the center's id (its first out_trade_no).
async fn order_with_trade(app: &TestApp, id: &str) -> String {
    let order = app.order_with_trade(id, "http://127.0.0.1:9/paid").await;
    order["id"].as_str().unwrap().to_owned()
}

/// The shopper pays at WeChat, but the notify does not get through (our store refuses it
/// once, and the sandbox's next attempt is an hour away): only a query can find the payment.
async fn pay_without_notify(app: &TestApp, out_trade_no: &str) -> String {
    app.execute("ALTER TABLE payments RENAME TO payments_away");
    let paid: Value = app
        .simulate_pay(&json!({ "out_trade_no": out_trade_no }))
        .await
        .json()
        .await
        .unwrap();
    app.execute("ALTER TABLE payments_away RENAME TO payments");
    assert_eq!(paid["notified"], false);
    paid["transaction_id"].as_str().unwrap().to_owned()
}

pub async fn close(app: &TestApp, id: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/orders/{id}/close")))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap()
}

/// Sorted: the events of one change are written in one instant.
pub fn event_types(webhooks: &[Value]) -> Vec<String> {
    let mut types: Vec<String> = webhooks
        .iter()
        .map(|w| w["event_type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    types
}

#[tokio::test]
async fn closing_an_order_without_a_trade() {
    let app = app().await;
    app.create_order("close-1").await;
    let response = close(&app, "close-1").await;
    assert_eq!(response.status().as_u16(), 200);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["status"], "CLOSED");
    assert_eq!(
        event_types(&app.webhooks("close-1").await),
        ["order.closed"]
    );
    // Idempotent, and nothing can be paid any more.
    assert_eq!(close(&app, "close-1").await.status().as_u16(), 200);
    assert_eq!(app.webhooks("close-1").await.len(), 1);
    let (code, message) = error_of(app.native("close-1").await, 409).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("order_not_payable", "the order is CLOSED, not WAIT_PAY")
    );
    let (code, _) = error_of(close(&app, "nope").await, 404).await;
    assert_eq!(code, "not_found");
}

#[tokio::test]
async fn closing_a_paid_order_is_409() {
    let app = app().await;
    let out_trade_no = order_with_trade(&app, "close-paid").await;
    let xml = notify_xml(
        &out_trade_no,
        "4200000000202611220000000201",
        "1",
        &[],
        false,
    );
    assert_eq!(app.post_notify(&xml).await.0, "SUCCESS");
    let (code, message) = error_of(close(&app, "close-paid").await, 409).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("conflict", "the order is PAID and cannot be closed")
    );
    assert_eq!(app.get_order("close-paid").await["status"], "PAID");
}

#[tokio::test]
async fn a_close_wechat_refuses_for_now_is_finished_by_the_worker() {
    let app = app().await;
    let out_trade_no = order_with_trade(&app, "close-soon").await;
    // Within five minutes of the unifiedorder WeChat refuses closeorder: the order is closed
    // on our side at once, its trade is left closing.
    let order: Value = close(&app, "close-soon").await.json().await.unwrap();
    assert_eq!(order["status"], "CLOSED");
    assert_eq!(app.trades(&out_trade_no)[0].status, "CLOSING");
    assert_eq!(
        app.sandbox_trade(&out_trade_no).await["trade_state"],
        "NOTPAY"
    );
    // Nothing to do before WeChat allows it.
    assert_eq!(app.reconcile_worker.run_once().await.unwrap().trades, 0);

    app.age_sandbox_trade(&out_trade_no, 5 * 60).await;
    app.make_trades_due(&out_trade_no);
    assert_eq!(app.reconcile_worker.run_once().await.unwrap().trades, 1);
    assert_eq!(
        app.sandbox_trade(&out_trade_no).await["trade_state"],
        "CLOSED"
    );
    assert_eq!(app.trades(&out_trade_no)[0].status, "CLOSED");
    let refused = app
        .simulate_pay(&json!({ "out_trade_no": out_trade_no }))
        .await;
    assert_eq!(
        refused.status().as_u16(),
        409,
        "WeChat takes no money for it any more"
    );
}

#[tokio::test]
async fn a_close_wechat_accepts_closes_the_trade_at_once() {
    let app = app().await;
    let out_trade_no = order_with_trade(&app, "close-now").await;
    app.age_sandbox_trade(&out_trade_no, 5 * 60).await;
    let order: Value = close(&app, "close-now").await.json().await.unwrap();
    assert_eq!(order["status"], "CLOSED");
    assert_eq!(app.trades(&out_trade_no)[0].status, "CLOSED");
    assert_eq!(
        app.sandbox_trade(&out_trade_no).await["trade_state"],
        "CLOSED"
    );
}

#[tokio::test]
async fn a_payment_in_the_closing_window_is_paid_after_close() {
    let app = app().await;
    let out_trade_no = order_with_trade(&app, "window").await;
    close(&app, "window").await;
    // WeChat still takes the money (its close was refused): the notify is recorded.
    let paid: Value = app
        .simulate_pay(&json!({ "out_trade_no": out_trade_no }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["notified"], true);
    let order = app.get_order("window").await;
    assert_eq!(order["status"], "PAID_AFTER_CLOSE");
    assert_eq!(order["transaction_id"], paid["transaction_id"]);
    assert_eq!(
        event_types(&app.webhooks("window").await),
        ["order.closed", "order.paid", "order.paid_after_close"]
    );
    assert_eq!(app.trades(&out_trade_no)[0].status, "PAID");
}

#[tokio::test]
async fn closing_finds_a_payment_whose_notify_was_lost() {
    let app = app().await;
    let out_trade_no = order_with_trade(&app, "close-lost").await;
    let transaction_id = pay_without_notify(&app, &out_trade_no).await;
    // closeorder answers ORDERPAID; the query finds the transaction: 409, and the order is PAID.
    let (code, _) = error_of(close(&app, "close-lost").await, 409).await;
    assert_eq!(code, "conflict");
    let order = app.get_order("close-lost").await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["transaction_id"], transaction_id);
    assert_eq!(
        event_types(&app.webhooks("close-lost").await),
        ["order.paid"]
    );
}

#[tokio::test]
async fn expiry_closes_at_wechat_then_queries() {
    let app = app().await;
    let out_trade_no = order_with_trade(&app, "expire-1").await;
    app.age_sandbox_trade(&out_trade_no, 5 * 60).await;
    app.expire("expire-1");
    let step = app.reconcile_worker.run_once().await.unwrap();
    assert_eq!(step.trades, 1);
    assert_eq!(
        app.sandbox_trade(&out_trade_no).await["trade_state"],
        "CLOSED",
        "closed at WeChat too"
    );
    assert_eq!(app.get_order("expire-1").await["status"], "CLOSED");
    assert_eq!(
        event_types(&app.webhooks("expire-1").await),
        ["order.closed"]
    );
    // Nothing left to do.
    assert_eq!(
        app.reconcile_worker.run_once().await.unwrap(),
        Default::default()
    );
}

#[tokio::test]
async fn an_order_paid_at_the_last_second_is_paid_not_closed() {
    let app = app().await;
    let out_trade_no = order_with_trade(&app, "last-second").await;
    let transaction_id = pay_without_notify(&app, &out_trade_no).await;
    app.age_sandbox_trade(&out_trade_no, 5 * 60).await;
    app.expire("last-second");
    app.reconcile_worker.run_once().await.unwrap();
    let order = app.get_order("last-second").await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["transaction_id"], transaction_id);
    assert_eq!(
        event_types(&app.webhooks("last-second").await),
        ["order.paid"]
    );
}

#[tokio::test]
async fn an_expired_order_without_a_trade_is_closed() {
    let app = app().await;
    app.create_order("expire-bare").await;
    app.expire("expire-bare");
    let step = app.reconcile_worker.run_once().await.unwrap();
    assert_eq!(step.expired_orders, 1);
    assert_eq!(app.get_order("expire-bare").await["status"], "CLOSED");
    assert_eq!(
        event_types(&app.webhooks("expire-bare").await),
        ["order.closed"]
    );
}

#[tokio::test]
async fn the_active_query_finds_a_payment_without_a_notify() {
    let app = app().await;
    let out_trade_no = order_with_trade(&app, "query-1").await;
    let transaction_id = pay_without_notify(&app, &out_trade_no).await;
    assert_eq!(
        app.reconcile_worker.run_once().await.unwrap().trades,
        0,
        "the first query is a minute after unifiedorder"
    );
    app.make_trades_due(&out_trade_no);
    assert_eq!(app.reconcile_worker.run_once().await.unwrap().trades, 1);
    let order = app.get_order("query-1").await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["transaction_id"], transaction_id);
    assert_eq!(event_types(&app.webhooks("query-1").await), ["order.paid"]);
    assert_eq!(
        app.trades(&out_trade_no)[0].next_query_at,
        None,
        "a paid trade is not queried again"
    );
}

#[tokio::test]
async fn the_active_query_backs_off() {
    let app = app().await;
    let out_trade_no = order_with_trade(&app, "backoff").await;
    let expires_at = app.trades(&out_trade_no)[0].credential_expires_at.unwrap();
    let mut pauses = Vec::new();
    for _ in 0..5 {
        app.make_trades_due(&out_trade_no);
        let before = chrono::Utc::now().naive_utc();
        assert_eq!(app.reconcile_worker.run_once().await.unwrap().trades, 1);
        let trade = &app.trades(&out_trade_no)[0];
        let next = trade.next_query_at.unwrap();
        pauses.push(if next == expires_at {
            -1
        } else {
            ((next - before).num_seconds() + 30) / 60
        });
    }
    // 2, 5, 10, 30 minutes, then at the order's expiry (-1 here).
    assert_eq!(pauses, [2, 5, 10, 30, -1]);
    assert_eq!(app.get_order("backoff").await["status"], "WAIT_PAY");
}

#[tokio::test]
async fn a_notify_and_a_query_together_make_one_transition() {
    let app = app().await;
    for round in 0..5 {
        let id = format!("race-nq-{round}");
        let out_trade_no = order_with_trade(&app, &id).await;
        let transaction_id = pay_without_notify(&app, &out_trade_no).await;
        app.make_trades_due(&out_trade_no);
        let xml = notify_xml(&out_trade_no, &transaction_id, "1", &[], false);
        let (notified, queried) =
            tokio::join!(app.post_notify(&xml), app.reconcile_worker.run_once());
        assert_eq!(notified.0, "SUCCESS");
        queried.unwrap();
        assert_eq!(app.get_order(&id).await["status"], "PAID");
        assert_eq!(
            event_types(&app.webhooks(&id).await),
            ["order.paid"],
            "{id}"
        );
    }
    assert_eq!(app.count("payments"), 5);
}

#[tokio::test]
async fn a_close_and_a_notify_together_end_consistent() {
    let app = app().await;
    for round in 0..5 {
        let id = format!("race-cn-{round}");
        let out_trade_no = order_with_trade(&app, &id).await;
        let xml = notify_xml(
            &out_trade_no,
            &format!("42000000002026112200000003{round:02}"),
            "1",
            &[],
            false,
        );
        let (closed, notified) = tokio::join!(close(&app, &id), app.post_notify(&xml));
        assert_eq!(notified.0, "SUCCESS", "a payment is never refused");
        let order = app.get_order(&id).await;
        let events = event_types(&app.webhooks(&id).await);
        let close_status = closed.status().as_u16();
        let close_body: Value = closed.json().await.unwrap();
        match order["status"].as_str().unwrap() {
            "PAID" => {
                assert_eq!(close_status, 409, "{close_body}");
                assert_eq!(close_body["error"]["code"], "conflict");
                assert_eq!(events, ["order.paid"]);
            }
            // The close committed first, so it answers the order as it closed it, even when
            // the payment has turned it PAID_AFTER_CLOSE before the answer is written.
            "PAID_AFTER_CLOSE" => {
                assert_eq!(close_status, 200, "{close_body}");
                assert_eq!(close_body["status"], "CLOSED");
                // The return_url hears of the money; the endpoint of the close and the late
                // payment.
                assert_eq!(
                    events,
                    ["order.closed", "order.paid", "order.paid_after_close"]
                );
            }
            other => panic!("{id} ended {other}"),
        }
    }
}
