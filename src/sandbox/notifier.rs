//! Delivers the paid notify to the trade's `notify_url` like WeChat: at once, then after each
//! pause of the schedule, until an answer says `<return_code>SUCCESS</return_code>`.

use super::trades::{NotifyAttempt, Sandbox};
use crate::domain::time;
use crate::wechat::xml;
use actix_web::web;

/// One attempt; answers whether it was acknowledged.
pub async fn deliver_once(sandbox: &Sandbox, out_trade_no: &str) -> bool {
    let Some(trade) = sandbox.trade(out_trade_no) else {
        return false;
    };
    let body = xml::encode_map(&sandbox.notify_fields(&trade));
    let result = sandbox
        .http
        .post(&trade.notify_url)
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body)
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
            let reply = response.bytes().await.unwrap_or_default();
            let acknowledged = status.is_success()
                && xml::decode(&reply)
                    .ok()
                    .and_then(|f| f.get("return_code").cloned())
                    .is_some_and(|code| code == "SUCCESS");
            NotifyAttempt {
                at: time::rfc3339(time::now()),
                http_status: Some(status.as_u16()),
                error: None,
                acknowledged,
            }
        }
    };
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

/// Keeps notifying in the background on the configured schedule until acknowledged.
pub fn keep_notifying(sandbox: web::Data<Sandbox>, out_trade_no: String) {
    tokio::spawn(async move {
        for pause in sandbox.config.notify_schedule.clone() {
            tokio::time::sleep(pause).await;
            if deliver_once(&sandbox, &out_trade_no).await {
                break;
            }
        }
    });
}
