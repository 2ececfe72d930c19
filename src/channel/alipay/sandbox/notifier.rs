//! Delivers the paid notify to the trade's `notify_url` like Alipay: at once, then after each
//! pause of the schedule, until the answer's body is exactly `success`.

use super::trades::{AlipaySandbox, NotifyAttempt};
use crate::channel::alipay::form;
use crate::domain::time;
use actix_web::web;
use std::time::Duration;

/// Alipay's acknowledgement is seven bytes: this much of an answer is read, no more.
const MAX_ANSWER_BYTES: usize = 1024;
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

async fn read_at_most(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = max - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    body
}

/// One attempt; answers whether it was acknowledged.
pub async fn deliver_once(sandbox: &AlipaySandbox, out_trade_no: &str) -> bool {
    let Some(trade) = sandbox.trade(out_trade_no) else {
        return false;
    };
    let Some(notify_url) = trade.notify_url.clone() else {
        return false;
    };
    let body = form::encode(&sandbox.notify_fields(&trade));
    let result = sandbox
        .http
        .post(&notify_url)
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body)
        .timeout(ANSWER_TIMEOUT)
        .send()
        .await;
    let attempt = match result {
        Err(e) => NotifyAttempt {
            at: time::rfc3339(time::now()),
            http_status: None,
            error: Some(e.to_string()),
            acknowledged: false,
        },
        Ok(response) => {
            let status = response.status();
            let answer = read_at_most(response, MAX_ANSWER_BYTES).await;
            NotifyAttempt {
                at: time::rfc3339(time::now()),
                http_status: Some(status.as_u16()),
                error: None,
                acknowledged: status.is_success() && answer.trim_ascii() == b"success",
            }
        }
    };
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
