//! Delivers the paid notify to the trade's `notify_url` like Alipay: at once, then after each
//! pause of the schedule, until the answer's body is exactly `success`.

use super::trades::AlipaySandbox;
use crate::channel::alipay::form;
use crate::channel::sandbox_notify;
use actix_web::web;

/// Alipay's acknowledgement is seven bytes: this much of an answer is read, no more.
const MAX_ANSWER_BYTES: usize = 1024;

/// One attempt; answers whether it was acknowledged.
pub async fn deliver_once(sandbox: &AlipaySandbox, out_trade_no: &str) -> bool {
    let Some(trade) = sandbox.trade(out_trade_no) else {
        return false;
    };
    let Some(notify_url) = trade.notify_url.clone() else {
        return false;
    };
    let body = form::encode(&sandbox.notify_fields(&trade));
    let attempt = sandbox_notify::post(
        &sandbox.http,
        &notify_url,
        "application/x-www-form-urlencoded; charset=utf-8",
        body,
        MAX_ANSWER_BYTES,
        |answer| answer.trim_ascii() == b"success",
    )
    .await;
    let acknowledged = attempt.acknowledged;
    if !acknowledged {
        log::info!(
            "alipay sandbox: notify for {out_trade_no} not acknowledged (HTTP {:?}, {:?})",
            attempt.http_status,
            attempt.error
        );
    }
    sandbox.record_attempt(out_trade_no, attempt);
    acknowledged
}

/// Keeps notifying in the background on the schedule until acknowledged, while the trade is
/// still the one paid as `trade_no` (a forgotten trade is not notified again).
pub fn keep_notifying(sandbox: web::Data<AlipaySandbox>, out_trade_no: String, trade_no: String) {
    tokio::spawn(async move {
        for pause in sandbox.config.notify_schedule.clone() {
            tokio::time::sleep(pause).await;
            let same_payment = sandbox
                .trade(&out_trade_no)
                .is_some_and(|t| t.trade_no.as_deref() == Some(trade_no.as_str()));
            if !same_payment || deliver_once(&sandbox, &out_trade_no).await {
                break;
            }
        }
    });
}
