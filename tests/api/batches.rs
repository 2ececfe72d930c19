//! Payments recorded in batches (group commit): each payment of a batch ends exactly as it
//! would have alone, whatever else the batch holds.

use crate::helpers::{spawn_app, TestApp};
use crate::wechat_raw::notify_xml;
use payment_center::channel::{ChannelId, PaymentSource, ReportedPayment};
use payment_center::core::order_state::{self, BatchWrite, PaymentOutcome, StateError};

const RETURN_URL: &str = "http://127.0.0.1:9/paid";

/// An order with an open WeChat trade; answers its id (the trade's out_trade_no).
async fn order(app: &TestApp, merchant_order_id: &str) -> String {
    let order = app.order_with_trade(merchant_order_id, RETURN_URL).await;
    order["id"].as_str().unwrap().to_owned()
}

fn paid(out_trade_no: &str, transaction_id: &str, amount: i64) -> ReportedPayment {
    ReportedPayment {
        channel: ChannelId::Wechat,
        out_trade_no: out_trade_no.to_owned(),
        transaction_id: transaction_id.to_owned(),
        amount,
        paid_at: chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
        source: PaymentSource::Notify,
    }
}

fn record(app: &TestApp, batch: &[ReportedPayment]) -> Vec<Result<PaymentOutcome, String>> {
    let (answers, written) = record_written(app, batch);
    let expected = if batch.len() == 1 {
        BatchWrite::Alone
    } else {
        BatchWrite::Together
    };
    assert_eq!(written, expected);
    answers
}

fn record_written(
    app: &TestApp,
    batch: &[ReportedPayment],
) -> (Vec<Result<PaymentOutcome, String>>, BatchWrite) {
    let mut conn = app.pool.get().unwrap();
    let (recorded, written) = order_state::record_payments(&mut conn, batch);
    let answers = recorded
        .into_iter()
        .map(|r| match r {
            Ok((outcome, _)) => Ok(outcome),
            Err(StateError::Rejected(reason)) => Err(reason),
            Err(e) => panic!("the store failed: {e}"),
        })
        .collect();
    (answers, written)
}

#[tokio::test]
async fn a_batch_pays_each_order_and_refuses_only_what_does_not_fit() {
    let app = spawn_app().await;
    let a = order(&app, "batch-a").await;
    let b = order(&app, "batch-b").await;
    let c = order(&app, "batch-c").await;
    let answers = record(
        &app,
        &[
            paid(&a, "4200000000202611260000000001", 1),
            paid(&b, "4200000000202611260000000002", 2),
            paid("PC-no-such-trade", "4200000000202611260000000003", 1),
            paid(&c, "4200000000202611260000000004", 1),
        ],
    );
    assert_eq!(
        answers,
        [
            Ok(PaymentOutcome::Paid { order_id: a }),
            Err("the amount 2 is not the order's amount 1".to_owned()),
            Err("unknown out_trade_no PC-no-such-trade".to_owned()),
            Ok(PaymentOutcome::Paid { order_id: c }),
        ]
    );
    for (id, status, transaction_id) in [
        ("batch-a", "PAID", "4200000000202611260000000001"),
        ("batch-b", "WAIT_PAY", ""),
        ("batch-c", "PAID", "4200000000202611260000000004"),
    ] {
        let order = app.get_order(id).await;
        assert_eq!(order["status"], status, "{id}");
        assert_eq!(
            order["transaction_id"].as_str().unwrap_or(""),
            transaction_id
        );
    }
    assert_eq!(app.count("payments"), 2);
    assert_eq!(app.event_types("batch-a").await, ["order.paid"]);
    assert!(app.event_types("batch-b").await.is_empty());
    assert_eq!(app.event_types("batch-c").await, ["order.paid"]);
}

#[tokio::test]
async fn a_batch_holding_a_recorded_payment_keeps_nothing_and_records_each_alone() {
    let app = spawn_app().await;
    let a = order(&app, "again-a").await;
    let b = order(&app, "again-b").await;
    let first = paid(&a, "4200000000202611260000000011", 1);
    assert_eq!(
        record(&app, std::slice::from_ref(&first)),
        [Ok(PaymentOutcome::Paid {
            order_id: a.clone()
        })]
    );
    // The repeat meets the payment's key: the batch's transaction fails whole, then each
    // payment is recorded on its own.
    let (answers, written) =
        record_written(&app, &[first, paid(&b, "4200000000202611260000000012", 1)]);
    assert_eq!(written, BatchWrite::OneByOne);
    assert_eq!(
        answers,
        [
            Ok(PaymentOutcome::AlreadyRecorded),
            Ok(PaymentOutcome::Paid { order_id: b }),
        ]
    );
    assert_eq!(app.count("payments"), 2);
    assert_eq!(app.event_types("again-a").await, ["order.paid"]);
    assert_eq!(app.event_types("again-b").await, ["order.paid"]);
}

#[tokio::test]
async fn two_payments_of_one_order_in_a_batch_are_decided_one_after_the_other() {
    let app = spawn_app().await;
    let a = order(&app, "both").await;
    let b = order(&app, "other").await;
    let answers = record(
        &app,
        &[
            paid(&a, "4200000000202611260000000021", 1),
            paid(&a, "4200000000202611260000000021", 1),
            paid(&a, "4200000000202611260000000022", 1),
            paid(&b, "4200000000202611260000000023", 1),
        ],
    );
    assert_eq!(
        answers,
        [
            Ok(PaymentOutcome::Paid {
                order_id: a.clone()
            }),
            Ok(PaymentOutcome::AlreadyRecorded),
            Ok(PaymentOutcome::DuplicatePayment { order_id: a }),
            Ok(PaymentOutcome::Paid { order_id: b }),
        ]
    );
    let order = app.get_order("both").await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["transaction_id"], "4200000000202611260000000021");
    assert_eq!(app.count("payments"), 3);
}

/// Through HTTP: notifies for many orders at once (they queue behind one another and share
/// transactions), each with repeats; every one is answered SUCCESS, every order is paid once.
#[tokio::test]
async fn many_concurrent_notifies_pay_every_order_once() {
    let app = spawn_app().await;
    let mut notifies = Vec::new();
    for n in 0..24 {
        let out_trade_no = order(&app, &format!("crowd-{n}")).await;
        let xml = notify_xml(
            &out_trade_no,
            &format!("42000000002026112600000001{n:02}"),
            "1",
            &[],
            false,
        );
        notifies.push(xml.clone());
        notifies.push(xml);
    }
    let answers = futures_util::future::join_all(notifies.iter().map(|x| app.post_notify(x))).await;
    for answer in &answers {
        assert_eq!(answer.0, "SUCCESS", "{answer:?}");
    }
    assert_eq!(app.count("payments"), 24);
    // Every notify's payment went through a batch, and the operator can tell how.
    let text = crate::helpers::get_text(&app.client, &app.url("/metrics")).await;
    let sum = |name: &str| -> u64 {
        ["alone", "together", "one_by_one"]
            .iter()
            .map(|written| {
                let series = format!("{name}{{written=\"{written}\"}} ");
                text.lines()
                    .find_map(|l| l.strip_prefix(series.as_str())?.parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("no series {series}"))
            })
            .sum()
    };
    assert_eq!(sum("payment_center_payment_batch_payments_total"), 48);
    let batches = sum("payment_center_payment_batches_total");
    assert!((1..=48).contains(&batches), "{batches} batches");
    for n in 0..24 {
        let id = format!("crowd-{n}");
        assert_eq!(app.get_order(&id).await["status"], "PAID", "{id}");
        assert_eq!(app.event_types(&id).await, ["order.paid"], "{id}");
    }
}
