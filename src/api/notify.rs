//! `POST /notify/wechat` (and `/payment/notice/wxpay`, the foodie-payment path): WeChat's
//! payment notify. SUCCESS only once the payment is committed (or was already); FAIL, with the
//! reason, for anything that does not check out, which is kept for an operator and changes
//! nothing, and for a payment we could not record, so that WeChat tries again.

use crate::core::notify;
use crate::core::order_state::{self, StateError};
use crate::db::{self, rejected_notifies, DbError};
use crate::domain::{random_string, time};
use crate::metrics;
use crate::state::AppState;
use crate::wechat::xml::{self, Fields};
use actix_web::{web, HttpResponse};

/// A few words for the metric label, from the reasons `core::notify` and `order_state` give.
fn reason_label(reason: &str) -> &'static str {
    const LABELS: [(&str, &str); 10] = [
        ("unreadable XML", "malformed"),
        ("missing ", "forged"),
        ("appid ", "account"),
        ("mch_id ", "account"),
        ("unknown sign_type", "signature"),
        ("signature", "signature"),
        ("not a successful payment", "not_success"),
        ("total_fee", "amount"),
        ("unknown out_trade_no", "unknown_trade"),
        ("no order", "unknown_trade"),
    ];
    LABELS
        .iter()
        .find(|(prefix, _)| reason.starts_with(prefix))
        .map_or("other", |(_, label)| label)
}

fn reply(return_code: &str, return_msg: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(xml::encode([
            ("return_code", return_code),
            ("return_msg", return_msg),
        ]))
}

pub async fn wechat(state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let fields = match xml::decode(&body) {
        Ok(fields) => fields,
        Err(e) => return reject(&state, &body, None, format!("unreadable XML: {e}")).await,
    };
    let payment = match notify::check(&fields, state.wechat.config()) {
        Ok(payment) => payment,
        Err(reason) => return reject(&state, &body, Some(&fields), reason).await,
    };
    let recorded = {
        let payment = payment.clone();
        db::run(&state.pool, move |conn| {
            order_state::record_payment(conn, &payment)
        })
        .await
    };
    match recorded {
        Ok(outcome) => {
            log::info!(
                "notify {} for {}: {outcome:?}",
                payment.transaction_id,
                payment.out_trade_no
            );
            if outcome.wrote_event() {
                state.webhook_wakeup.notify_one();
            }
            let kind = if outcome.wrote_event() {
                "recorded"
            } else {
                "repeat"
            };
            metrics::notify("accepted", kind);
            reply("SUCCESS", "OK")
        }
        Err(StateError::Rejected(reason)) => reject(&state, &body, Some(&fields), reason).await,
        Err(StateError::Db(e)) => {
            metrics::notify("failed", "store");
            log::error!(
                "notify {} for {} could not be recorded, WeChat will retry: {e}",
                payment.transaction_id,
                payment.out_trade_no
            );
            reply("FAIL", "the payment could not be recorded; try again")
        }
    }
}

/// How much of a refused body is kept. WeChat's notifies are one or two KiB; anyone can POST
/// to this URL, so what is kept of a larger body is its start.
pub const KEPT_BODY_BYTES: usize = 8 * 1024;

/// Keeps the refused notify for an operator (the reconcile worker deletes it after
/// `reconcile::REJECTED_NOTIFY_RETENTION`), and answers FAIL with the reason.
async fn reject(
    state: &AppState,
    body: &[u8],
    fields: Option<&Fields>,
    reason: String,
) -> HttpResponse {
    log::warn!("notify refused: {reason}");
    metrics::notify("rejected", reason_label(&reason));
    let field = |name: &str| {
        fields
            .and_then(|f| f.get(name))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let row = rejected_notifies::RejectedNotify {
        id: format!("rn_{}", random_string(20)),
        received_at: time::now_precise(),
        reason: reason.clone(),
        out_trade_no: field("out_trade_no"),
        transaction_id: field("transaction_id"),
        body: String::from_utf8_lossy(&body[..body.len().min(KEPT_BODY_BYTES)]).into_owned(),
    };
    let kept = db::run(&state.pool, move |conn| {
        rejected_notifies::insert(conn, &row).map_err(DbError::from)
    })
    .await;
    if let Err(e) = kept {
        log::error!("a refused notify could not be kept: {e}");
    }
    reply("FAIL", &reason)
}
