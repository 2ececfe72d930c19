//! `POST /notify/wechat` (and `/payment/notice/wxpay`, the foodie-payment path): WeChat's
//! payment notify. SUCCESS only once the payment is committed (or was already); FAIL, with the
//! reason, for anything that does not check out, which is kept for an operator and changes
//! nothing, and for a payment we could not record, so that WeChat tries again.

use crate::channel::wechat::xml::{self, Fields};
use crate::core::notify;
use crate::core::order_state::{self, StateError};
use crate::core::timeline;
use crate::db::{self, rejected_notifies, wechat_trades, DbError};
use crate::domain::{random_string, time};
use crate::metrics;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::read_capped;

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

pub async fn wechat(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let body = match read_capped(&req, payload).await {
        Ok(body) => body,
        Err(e) => return reject(&state, &[], None, e.to_string()).await,
    };
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

/// How much of a refused notify that WeChat signed is kept (its notifies are one or two KiB).
pub const KEPT_BODY_BYTES: usize = 8 * 1024;
/// How much of each field of an unauthenticated notify a sample keeps.
pub const SAMPLE_FIELD_BYTES: usize = 256;
/// Unauthenticated notifies kept (stored and logged) per minute, per instance; the others are
/// only counted (`payment_center_notifies_total`).
pub const SAMPLES_PER_MINUTE: u32 = 10;

/// Anyone can POST to the notify URL. Of what fails authentication (unreadable, forged, another
/// account, a bad signature), at most `SAMPLES_PER_MINUTE` are kept a minute, each field cut
/// to `SAMPLE_FIELD_BYTES`: a flood costs a counter, not the disk or the log.
#[derive(Default)]
pub struct RefusalSampler(Mutex<SamplerWindow>);

#[derive(Default)]
struct SamplerWindow {
    started: Option<Instant>,
    kept: u32,
    dropped: u64,
}

impl RefusalSampler {
    /// Whether this refusal is kept; when a new minute starts, how many the last one dropped.
    fn admit(&self) -> (bool, u64) {
        let mut window = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut dropped_before = 0;
        if window
            .started
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
        {
            dropped_before = window.dropped;
            *window = SamplerWindow {
                started: Some(now),
                kept: 0,
                dropped: 0,
            };
        }
        if window.kept < SAMPLES_PER_MINUTE {
            window.kept += 1;
            (true, dropped_before)
        } else {
            window.dropped += 1;
            (false, dropped_before)
        }
    }
}

/// At most `max` bytes of `text` (cut on a character boundary, marked `…`), with control
/// characters escaped: fit for a log line or an operator's table, whoever wrote it.
pub fn sample_field(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let piece: String = if c.is_control() {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        if out.len() + piece.len() > max {
            out.push('…');
            break;
        }
        out.push_str(&piece);
    }
    out
}

/// Refusals that say nothing about who sent the notify: it was not shown to be WeChat's.
fn unauthenticated(label: &str) -> bool {
    matches!(
        label,
        "malformed" | "forged" | "account" | "signature" | "other"
    )
}

/// Answers FAIL with the reason. A notify WeChat signed (and we could not take: another amount,
/// an unknown trade) is kept for an operator (the reconcile worker deletes it after
/// `reconcile::REJECTED_NOTIFY_RETENTION`); an unauthenticated one is counted and sampled.
async fn reject(
    state: &AppState,
    body: &[u8],
    fields: Option<&Fields>,
    reason: String,
) -> HttpResponse {
    let label = reason_label(&reason);
    metrics::notify("rejected", label);
    let reason = sample_field(&reason, SAMPLE_FIELD_BYTES);
    let (body_bytes, field_bytes) = if unauthenticated(label) {
        let (kept, dropped_before) = state.refused_notifies.admit();
        if dropped_before > 0 {
            log::warn!(
                "{dropped_before} more refused notifies in the last minute were only counted"
            );
        }
        if !kept {
            return reply("FAIL", &reason);
        }
        (SAMPLE_FIELD_BYTES, SAMPLE_FIELD_BYTES)
    } else {
        (KEPT_BODY_BYTES, SAMPLE_FIELD_BYTES)
    };
    log::warn!("notify refused: {reason}");
    let field = |name: &str| {
        fields
            .and_then(|f| f.get(name))
            .filter(|v| !v.is_empty())
            .map(|v| sample_field(v, field_bytes))
    };
    let row = rejected_notifies::RejectedNotify {
        id: format!("rn_{}", random_string(20)),
        received_at: time::now_precise(),
        reason: reason.clone(),
        out_trade_no: field("out_trade_no"),
        transaction_id: field("transaction_id"),
        body: sample_field(&String::from_utf8_lossy(body), body_bytes),
    };
    // A notify WeChat signed that names one of our trades goes on that order's timeline too.
    let signed = !unauthenticated(label);
    let kept = db::run(&state.pool, move |conn| {
        rejected_notifies::insert(conn, &row).map_err(DbError::from)?;
        let trade = row
            .out_trade_no
            .as_deref()
            .filter(|_| signed)
            .map(|no| wechat_trades::find(conn, no))
            .transpose()
            .map_err(DbError::from)?
            .flatten();
        if let Some(trade) = trade {
            timeline::write(
                conn,
                &trade.order_id,
                "notify.refused",
                serde_json::json!({"reason": row.reason, "transaction_id": row.transaction_id}),
            )
            .map_err(DbError::from)?;
        }
        Ok::<_, DbError>(())
    })
    .await;
    if let Err(e) = kept {
        log::error!("a refused notify could not be kept: {e}");
    }
    reply("FAIL", &reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_cut_and_escaped() {
        assert_eq!(sample_field("abc", 256), "abc");
        assert_eq!(sample_field("a\nb\u{1b}[31m", 256), "a\\nb\\u{1b}[31m");
        let long = "支".repeat(200);
        let cut = sample_field(&long, 256);
        assert!(cut.len() <= 256 + '…'.len_utf8(), "{}", cut.len());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn the_sampler_keeps_a_few_a_minute() {
        let sampler = RefusalSampler::default();
        let kept = (0..100).filter(|_| sampler.admit().0).count();
        assert_eq!(kept, SAMPLES_PER_MINUTE as usize);
    }
}
