//! A channel's notify, whichever channel: verified by its adapter, recorded through the one
//! state machine, answered in the channel's words. The channel hears "recorded" only once the
//! payment is committed (or was already); anything that does not check out changes nothing
//! and is answered so that the channel tries again.

use crate::channel::{ChannelId, Notified, NotifyAnswer, Rejection, RejectionKind};
use crate::core::effects;
use crate::core::order_state::StateError;
use crate::core::timeline;
use crate::core::AppState;
use crate::db::{self, channel_trades, rejected_notifies, DbError};
use crate::domain::{random_string, time};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Receives `body` (or why it could not be read) from `channel`'s notify URL.
pub async fn receive(
    state: &AppState,
    channel_id: ChannelId,
    body: Result<&[u8], String>,
) -> NotifyAnswer {
    let Some(channel) = state.channels.get(channel_id) else {
        // Not configured here: nothing of ours can be paid through it.
        let refusal = Rejection::new(
            RejectionKind::Account,
            format!("{} is not configured here", channel_id.display_name()),
        );
        log::warn!("{} notify refused: {}", channel_id.as_str(), refusal.reason);
        state
            .metrics
            .notify(channel_id.as_str(), "rejected", refusal.kind.label());
        return NotifyAnswer {
            content_type: "text/plain; charset=utf-8",
            body: "fail".into(),
        };
    };
    let body = match body {
        Ok(body) => body,
        Err(reason) => {
            let refusal = Rejection::new(RejectionKind::Malformed, reason);
            return reject(state, channel_id, &[], refusal).await;
        }
    };
    let payment = match channel.verify_notify(body) {
        Ok(Notified::Payment(payment)) => payment,
        Ok(Notified::Nothing(what)) => {
            log::info!("{} notify acknowledged: {what}", channel_id.as_str());
            state
                .metrics
                .notify(channel_id.as_str(), "accepted", "nothing");
            return channel.notify_answer(Ok(()));
        }
        Err(refusal) => return reject(state, channel_id, body, refusal).await,
    };
    let recorded = state
        .payment_batches
        .record(&state.pool, &state.metrics, payment.clone())
        .await;
    match recorded {
        Ok((outcome, changed)) => {
            log::info!(
                "{} notify {} for {}: {outcome:?}",
                channel_id.as_str(),
                payment.transaction_id,
                payment.out_trade_no
            );
            let kind = if outcome.wrote_event() {
                "recorded"
            } else {
                "repeat"
            };
            effects::apply(&state.effect_targets(), changed).await;
            state.metrics.notify(channel_id.as_str(), "accepted", kind);
            channel.notify_answer(Ok(()))
        }
        Err(StateError::Rejected(reason)) => {
            let kind = if reason.starts_with("unknown") {
                RejectionKind::UnknownTrade
            } else {
                RejectionKind::Amount
            };
            let refusal = Rejection {
                kind,
                reason,
                out_trade_no: Some(payment.out_trade_no.clone()),
                transaction_id: Some(payment.transaction_id.clone()),
            };
            reject(state, channel_id, body, refusal).await
        }
        Err(StateError::Db(e)) => {
            state.metrics.notify(channel_id.as_str(), "failed", "store");
            log::error!(
                "{} notify {} for {} could not be recorded, the channel will retry: {e}",
                channel_id.as_str(),
                payment.transaction_id,
                payment.out_trade_no
            );
            channel.notify_answer(Err("the payment could not be recorded; try again"))
        }
    }
}

/// How much of a refused notify that its channel signed is kept (notifies are one or two KiB).
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

/// Answers the refusal in the channel's words. A notify the channel signed (and we could not
/// take: another amount, an unknown trade) is kept for an operator (the reconcile worker
/// deletes it after `reconcile::REJECTED_NOTIFY_RETENTION`); an unauthenticated one is counted
/// and sampled.
async fn reject(
    state: &AppState,
    channel_id: ChannelId,
    body: &[u8],
    refusal: Rejection,
) -> NotifyAnswer {
    let answer = |reason: &str| match state.channels.get(channel_id) {
        Some(channel) => channel.notify_answer(Err(reason)),
        None => NotifyAnswer {
            content_type: "text/plain; charset=utf-8",
            body: "fail".into(),
        },
    };
    state
        .metrics
        .notify(channel_id.as_str(), "rejected", refusal.kind.label());
    let reason = sample_field(&refusal.reason, SAMPLE_FIELD_BYTES);
    let signed = refusal.kind.authenticated();
    let (body_bytes, field_bytes) = if !signed {
        let (kept, dropped_before) = state.refused_notifies.admit();
        if dropped_before > 0 {
            log::warn!(
                "{dropped_before} more refused notifies in the last minute were only counted"
            );
        }
        if !kept {
            return answer(&reason);
        }
        (SAMPLE_FIELD_BYTES, SAMPLE_FIELD_BYTES)
    } else {
        (KEPT_BODY_BYTES, SAMPLE_FIELD_BYTES)
    };
    log::warn!("{} notify refused: {reason}", channel_id.as_str());
    let field = |value: &Option<String>| value.as_deref().map(|v| sample_field(v, field_bytes));
    let row = rejected_notifies::RejectedNotify {
        id: format!("rn_{}", random_string(20)),
        received_at: time::now_precise(),
        reason: format!("{}: {reason}", channel_id.as_str()),
        out_trade_no: field(&refusal.out_trade_no),
        transaction_id: field(&refusal.transaction_id),
        body: sample_field(&String::from_utf8_lossy(body), body_bytes),
    };
    // A notify the channel signed that names one of our trades goes on that order's timeline.
    let kept = db::run(&state.pool, move |conn| {
        rejected_notifies::insert(conn, &row).map_err(DbError::from)?;
        let trade = row
            .out_trade_no
            .as_deref()
            .filter(|_| signed)
            .map(|no| channel_trades::find(conn, channel_id.as_str(), no))
            .transpose()
            .map_err(DbError::from)?
            .flatten();
        if let Some(trade) = trade {
            timeline::write(
                conn,
                &trade.order_id,
                "notify.refused",
                serde_json::json!({
                    "channel": channel_id.as_str(),
                    "reason": reason,
                    "transaction_id": row.transaction_id,
                }),
            )
            .map_err(DbError::from)?;
        }
        Ok::<_, DbError>(())
    })
    .await;
    if let Err(e) = kept {
        log::error!("a refused notify could not be kept: {e}");
    }
    answer(&refusal.reason)
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
