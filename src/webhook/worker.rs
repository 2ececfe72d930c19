//! Delivers due webhook events: claims a batch under a lease (several instances never send
//! the same attempt at once), posts each signed form, records the attempt, and schedules the
//! next one on failure. Sleeps until the next event is due or a new one is written.

use super::form::signed_form;
use crate::core::merchants::{self, MerchantProfile};
use crate::db::webhook_events::{
    self, AttemptResult, WebhookAttempt, WebhookEvent, DELIVERED, FAILED, PENDING,
};
use crate::db::{self, DbError, DbPool};
use crate::domain::{random_string, time};
use crate::metrics;
use chrono::NaiveDateTime;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// An attempt must be answered within this long to count.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed event is this worker's for this long (twice the attempt's timeout); a worker that
/// dies mid-attempt leaves the event to another after it.
const LEASE: chrono::Duration = chrono::Duration::seconds(20);
/// The latest an attempt may start after the lease was taken: it then ends (by its timeout)
/// with time to spare before the lease does.
const SEND_WITHIN_LEASE: Duration = Duration::from_secs(20 - 10 - 3);
const BATCH: i64 = 64;
/// The longest sleep: other instances may have written events this one was not told about.
const MAX_IDLE: Duration = Duration::from_secs(30);
/// The shortest sleep, while due events are leased by another worker.
const MIN_PAUSE: Duration = Duration::from_millis(200);

/// The pauses after each failed attempt; after the last, the event is FAILED.
#[derive(Debug, Clone)]
pub struct RetrySchedule(pub Vec<Duration>);

impl RetrySchedule {
    /// The pause after the `failures`-th failed attempt of a run, or `None` to give up.
    pub fn after_failure(&self, failures: i32) -> Option<Duration> {
        usize::try_from(failures - 1)
            .ok()
            .and_then(|i| self.0.get(i))
            .copied()
    }
}

pub struct WebhookWorker {
    pool: DbPool,
    http: reqwest::Client,
    schedule: RetrySchedule,
    wakeup: Arc<Notify>,
    /// Identifies this worker's leases.
    owner: String,
}

struct Claimed {
    event: WebhookEvent,
    merchant: Option<MerchantProfile>,
}

/// An attempt made, not yet recorded.
struct Attempted {
    event: WebhookEvent,
    outcome: Outcome,
    attempted_at: NaiveDateTime,
    latency_ms: i64,
}

/// An attempt and what it changes on its event, ready to be recorded.
struct Settled {
    event_id: String,
    status: &'static str,
    attempts: i32,
    next_attempt_at: Option<NaiveDateTime>,
    delivered_at: Option<NaiveDateTime>,
    http_status: Option<i32>,
    error: Option<String>,
    attempted_at: NaiveDateTime,
    latency_ms: i64,
}

enum Outcome {
    Delivered {
        http_status: u16,
    },
    Failed {
        http_status: Option<u16>,
        error: String,
    },
    /// Not sent, and never will be: the URL is no longer one the merchant registered.
    Refused(String),
}

impl WebhookWorker {
    pub fn new(
        pool: DbPool,
        http: reqwest::Client,
        schedule: RetrySchedule,
        wakeup: Arc<Notify>,
    ) -> Self {
        WebhookWorker {
            pool,
            http,
            schedule,
            wakeup,
            owner: format!("worker-{}", random_string(12)),
        }
    }

    /// One step: claims what is due, sends it, records it. Answers how many were handled.
    pub async fn run_once(&self) -> Result<usize, DbError> {
        let owner = self.owner.clone();
        let (claimed, lease_start) = db::run(&self.pool, move |conn| {
            // The lease's clock starts in the transaction that takes it, not before the wait
            // for a connection.
            let lease_start = Instant::now();
            let now = time::now_precise();
            let events = db::write_transaction(conn, |c| {
                webhook_events::claim_due(c, now, &owner, now + LEASE, BATCH)
            })?;
            let mut merchants_by_id: HashMap<String, Option<MerchantProfile>> = HashMap::new();
            let mut claimed = Vec::with_capacity(events.len());
            for event in events {
                if !merchants_by_id.contains_key(&event.merchant_id) {
                    let profile = merchants::find(conn, &event.merchant_id)?;
                    merchants_by_id.insert(event.merchant_id.clone(), profile);
                }
                let merchant = merchants_by_id[&event.merchant_id].clone();
                claimed.push(Claimed { event, merchant });
            }
            Ok::<_, DbError>((claimed, lease_start))
        })
        .await?;
        let count = claimed.len();
        // No attempt may start that could outlive the lease: another worker could then send
        // the same event at the same time. A skipped event is due again when the lease ends.
        let last_start = lease_start + SEND_WITHIN_LEASE;
        let deliveries = claimed.into_iter().map(|c| self.deliver(c, last_start));
        let settled: Vec<Settled> = futures_util::future::join_all(deliveries)
            .await
            .into_iter()
            .flatten()
            .map(|attempted| self.settle(attempted))
            .collect();
        // One transaction for the whole batch: one commit, not one per event.
        if let Err(e) = self.record(settled).await {
            log::error!("webhook attempts could not be recorded (they will be retried): {e}");
        }
        Ok(count)
    }

    async fn deliver(&self, claimed: Claimed, last_start: Instant) -> Option<Attempted> {
        if Instant::now() > last_start {
            return None;
        }
        let Claimed { event, merchant } = claimed;
        let attempted_at = time::now_precise();
        let started = Instant::now();
        let outcome = match &merchant {
            None => Outcome::Refused("the merchant no longer exists".into()),
            Some(m) if !m.return_url_prefixes.iter().any(|p| p.admits(&event.url)) => {
                Outcome::Refused(
                    "return_url is not under a registered return URL prefix any more".into(),
                )
            }
            Some(m) => self.post(&event, m).await,
        };
        Some(Attempted {
            event,
            outcome,
            attempted_at,
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        })
    }

    async fn post(&self, event: &WebhookEvent, merchant: &MerchantProfile) -> Outcome {
        let payload: serde_json::Map<String, serde_json::Value> =
            match serde_json::from_str(&event.payload) {
                Ok(p) => p,
                Err(e) => {
                    return Outcome::Refused(format!("the stored payload is unreadable: {e}"))
                }
            };
        let timestamp = chrono::Utc::now().timestamp();
        let form = signed_form(
            &payload,
            &event.id,
            timestamp,
            merchant.notify_secret.expose(),
        );
        let result = self
            .http
            .post(&event.url)
            .form(&form)
            .timeout(ATTEMPT_TIMEOUT)
            .send()
            .await;
        // The answer's body is not read: any 2xx acknowledges, and a merchant cannot make us
        // download anything.
        match result {
            Ok(response) if response.status().is_success() => Outcome::Delivered {
                http_status: response.status().as_u16(),
            },
            Ok(response) => Outcome::Failed {
                http_status: Some(response.status().as_u16()),
                error: format!("HTTP {}", response.status()),
            },
            Err(e) => Outcome::Failed {
                http_status: None,
                error: describe(&e),
            },
        }
    }

    /// What an attempt changes on its event: the next attempt, or the end.
    fn settle(&self, attempted: Attempted) -> Settled {
        let Attempted {
            event,
            outcome,
            attempted_at,
            latency_ms,
        } = attempted;
        let attempts = event.attempts + 1;
        let now = time::now_precise();
        let (status, next_attempt_at, delivered_at, http_status, error) = match outcome {
            Outcome::Delivered { http_status } => {
                (DELIVERED, None, Some(now), Some(http_status), None)
            }
            Outcome::Refused(reason) => (FAILED, None, None, None, Some(reason)),
            Outcome::Failed { http_status, error } => match self.schedule.after_failure(attempts) {
                Some(pause) => (
                    PENDING,
                    Some(now + chrono::Duration::from_std(pause).unwrap_or(LEASE)),
                    None,
                    http_status,
                    Some(error),
                ),
                None => (FAILED, None, None, http_status, Some(error)),
            },
        };
        let result = match status {
            DELIVERED => {
                log::info!("webhook {} delivered (attempt {attempts})", event.id);
                metrics::increment("payment_center_webhook_deliveries_total", &[]);
                "delivered"
            }
            FAILED => {
                log::warn!("webhook {} failed for good: {:?}", event.id, error);
                metrics::increment("payment_center_webhook_failures_total", &[]);
                "failed"
            }
            _ => {
                log::info!(
                    "webhook {} attempt {attempts} failed: {:?}",
                    event.id,
                    error
                );
                "failed"
            }
        };
        metrics::increment(
            "payment_center_webhook_attempts_total",
            &[("result", result)],
        );
        Settled {
            event_id: event.id,
            status,
            attempts,
            next_attempt_at,
            delivered_at,
            http_status: http_status.map(i32::from),
            error,
            attempted_at,
            latency_ms,
        }
    }

    async fn record(&self, settled: Vec<Settled>) -> Result<(), DbError> {
        if settled.is_empty() {
            return Ok(());
        }
        let owner = self.owner.clone();
        db::run(&self.pool, move |conn| {
            db::write_transaction(conn, |c| {
                for s in &settled {
                    let attempt_no = webhook_events::attempt_count(c, &s.event_id)? + 1;
                    let attempt = WebhookAttempt {
                        event_id: s.event_id.clone(),
                        attempt: i32::try_from(attempt_no).unwrap_or(i32::MAX),
                        attempted_at: s.attempted_at,
                        http_status: s.http_status,
                        error: s.error.clone(),
                        latency_ms: s.latency_ms,
                    };
                    let result = AttemptResult {
                        status: s.status,
                        attempts: s.attempts,
                        next_attempt_at: s.next_attempt_at,
                        delivered_at: s.delivered_at,
                        last_error: s.error.as_deref(),
                    };
                    webhook_events::finish_attempt(c, &s.event_id, &owner, &result, &attempt)?;
                }
                Ok::<_, diesel::result::Error>(())
            })
            .map_err(DbError::from)
        })
        .await
    }

    /// Runs until `shutdown` turns true; an attempt under way is finished first.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let wakeup = self.wakeup.clone();
        crate::workers::run_until_shutdown(
            "webhook worker",
            || async {
                match self.run_once().await {
                    // A full batch: more may be due at once.
                    Ok(n) if n as i64 >= BATCH => Duration::ZERO,
                    Ok(_) => self.pause().await,
                    Err(e) => {
                        log::warn!("webhook worker: {e}");
                        Duration::from_secs(5)
                    }
                }
            },
            Some(wakeup),
            shutdown,
        )
        .await;
    }

    async fn pause(&self) -> Duration {
        let next = db::run(&self.pool, |conn| {
            webhook_events::next_due_at(conn).map_err(DbError::from)
        })
        .await;
        match next {
            Ok(Some(due)) => (due - time::now_precise())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(MIN_PAUSE, MAX_IDLE),
            Ok(None) => MAX_IDLE,
            Err(_) => Duration::from_secs(5),
        }
    }
}

/// A transport error in a few words (timeout, connection refused…), without a chain of
/// wrappers.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirect refused"
    } else {
        "request failed"
    };
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut root = String::new();
    while let Some(s) = source {
        root = s.to_string();
        source = s.source();
    }
    format!("{kind}: {root}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_indexed_by_failures() {
        let schedule = RetrySchedule(vec![Duration::from_secs(15), Duration::from_secs(30)]);
        assert_eq!(schedule.after_failure(1), Some(Duration::from_secs(15)));
        assert_eq!(schedule.after_failure(2), Some(Duration::from_secs(30)));
        assert_eq!(schedule.after_failure(3), None);
        assert_eq!(schedule.after_failure(0), None);
    }
}
