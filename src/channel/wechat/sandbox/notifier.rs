//! Delivers the paid notify to the trade's `notify_url` like WeChat: at once, then after each
//! pause of the schedule, until an answer says `<return_code>SUCCESS</return_code>`.

use super::trades::Sandbox;
use crate::channel::sandbox_notify;
use crate::channel::wechat::xml;
use actix_web::web;

/// A notify URL is whatever the unifiedorder named: the sandbox reads at most this much of
/// its answer (WeChat's acknowledgement is a hundred bytes), and waits at most this long.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// One attempt; answers whether it was acknowledged.
pub async fn deliver_once(sandbox: &Sandbox, out_trade_no: &str) -> bool {
    let Some(trade) = sandbox.trade(out_trade_no) else {
        return false;
    };
    let body = xml::encode_map(&sandbox.notify_fields(&trade));
    let attempt = sandbox_notify::post(
        &sandbox.http,
        &trade.notify_url,
        "text/xml; charset=utf-8",
        body,
        MAX_ANSWER_BYTES,
        |answer| {
            xml::decode(answer)
                .ok()
                .and_then(|f| f.get("return_code").cloned())
                .is_some_and(|code| code == "SUCCESS")
        },
    )
    .await;
    let acknowledged = attempt.acknowledged;
    if !acknowledged {
        log::info!(
            "sandbox: notify for {out_trade_no} not acknowledged (HTTP {:?}, {:?})",
            attempt.http_status,
            attempt.error
        );
    }
    sandbox.record_attempt(out_trade_no, attempt);
    acknowledged
}

/// Keeps notifying in the background on the configured schedule until acknowledged, while the
/// trade is still the one paid by `transaction_id`.
pub fn keep_notifying(sandbox: web::Data<Sandbox>, out_trade_no: String, transaction_id: String) {
    tokio::spawn(async move {
        for pause in sandbox.config.notify_schedule.clone() {
            tokio::time::sleep(pause).await;
            // A trade the sandbox forgot (past SANDBOX_MAX_TRADES) is not notified again, nor
            // another trade placed since under the same out_trade_no: retries of evicted trades
            // neither pile up nor announce a payment that never happened.
            let same_payment = sandbox
                .trade(&out_trade_no)
                .is_some_and(|t| t.transaction_id.as_deref() == Some(transaction_id.as_str()));
            if !same_payment || deliver_once(&sandbox, &out_trade_no).await {
                break;
            }
        }
    });
}
