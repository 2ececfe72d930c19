//! Delivers due webhook events. Each claimed event is sent on a task of its own and recorded
//! on its own, so no send waits for another: one merchant's hanging endpoint never holds up
//! another merchant's webhooks. A merchant has at most `PER_MERCHANT_IN_FLIGHT` sends under
//! way (claims pass over a merchant at its limit), and a host that keeps failing is left alone
//! for `BREAKER_OPEN` (its events wait, without spending an attempt). Claims are leases, so
//! several instances never send the same attempt at once.

use super::form::signed_form;
use super::target::{self, TargetPolicy, ATTEMPT_TIMEOUT};
use crate::db::merchants::{self, Merchant};
use crate::db::webhook_events::{
    self, AttemptResult, WebhookAttempt, WebhookEvent, DELIVERED, FAILED, PENDING,
};
use crate::db::{self, DbError, DbPool};
use crate::domain::MerchantProfile;
use crate::domain::{random_string, time};
use crate::metrics::Metrics;
use chrono::NaiveDateTime;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// A claimed event is this worker's for this long (twice the attempt's timeout); a worker that
/// dies mid-attempt leaves the event to another after it.
const LEASE: chrono::Duration = chrono::Duration::seconds(20);
/// The latest an attempt may start after the lease was taken: it then ends (by its timeout)
/// with time to spare before the lease does.
const SEND_WITHIN_LEASE: Duration = Duration::from_secs(20 - 10 - 3);
const BATCH: i64 = 64;
/// Sends under way for one merchant, at most (across its endpoints and return URLs).
pub const PER_MERCHANT_IN_FLIGHT: usize = 32;
/// Claimed events of one merchant waiting here for a slot, at most: claims pass over a
/// merchant with a full backlog, so a merchant with many due events takes its share of a
/// claim, not all of every claim.
const BACKLOG_PER_MERCHANT: usize = 64;
/// Attempts a slot may have sent and not yet seen committed.
const RECORDS_AHEAD: usize = 4;
/// Failed attempts in a row after which a host is left alone for `BREAKER_OPEN`.
pub const BREAKER_THRESHOLD: u32 = 5;
pub const BREAKER_OPEN: Duration = Duration::from_secs(30);
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

/// A host's recent failures: `BREAKER_THRESHOLD` in a row open it for `BREAKER_OPEN`.
#[derive(Debug, Default)]
struct Breaker {
    failures_in_a_row: u32,
    open_until: Option<Instant>,
}

pub struct WebhookWorker {
    pool: DbPool,
    http: reqwest::Client,
    policy: TargetPolicy,
    schedule: RetrySchedule,
    wakeup: Arc<Notify>,
    metrics: Arc<Metrics>,
    /// Identifies this worker's leases.
    owner: String,
    /// Each merchant's sends under way and events waiting for one of its slots.
    lanes: Mutex<HashMap<String, Lane>>,
    /// By `host:port`.
    breakers: Mutex<HashMap<String, Breaker>>,
    /// Attempts waiting for the next commit, each with whom to tell.
    to_record: Mutex<Vec<(Settled, RecordedSignal)>>,
    /// A commit of `to_record` is under way.
    committing: AtomicBool,
}

type RecordedSignal = tokio::sync::oneshot::Sender<Result<(), String>>;

/// One merchant's share of this worker.
#[derive(Default)]
struct Lane {
    in_flight: usize,
    /// Claimed events waiting for a slot, each with the latest instant it may start.
    waiting: VecDeque<(Claimed, Instant)>,
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

/// The breaker's key: where the connection goes.
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(format!("{host}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_default()
}

impl WebhookWorker {
    pub fn new(
        pool: DbPool,
        policy: TargetPolicy,
        schedule: RetrySchedule,
        wakeup: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        WebhookWorker {
            pool,
            metrics,
            http: target::delivery_client(&policy),
            policy,
            schedule,
            wakeup,
            owner: format!("worker-{}", random_string(12)),
            lanes: Mutex::new(HashMap::new()),
            breakers: Mutex::new(HashMap::new()),
            to_record: Mutex::new(Vec::new()),
            committing: AtomicBool::new(false),
        }
    }

    /// One step, for tests and tools: claims what is due, sends it, records it, and returns
    /// once those sends are recorded. Answers how many events were claimed.
    pub async fn run_once(self: &Arc<Self>) -> Result<usize, DbError> {
        let (claimed, sends) = self.start_due().await?;
        futures_util::future::join_all(sends).await;
        Ok(claimed)
    }

    /// Claims what is due (passing over merchants at their limit) and starts a task per send;
    /// answers how many were claimed and the tasks, without waiting for them.
    async fn start_due(
        self: &Arc<Self>,
    ) -> Result<(usize, Vec<tokio::task::JoinHandle<()>>), DbError> {
        let owner = self.owner.clone();
        let saturated = self.saturated_merchants();
        let (claimed, lease_start) = db::run(&self.pool, move |conn| {
            // The lease's clock starts in the transaction that takes it, not before the wait
            // for a connection.
            let lease_start = Instant::now();
            let now = time::now_precise();
            let events = db::write_transaction(conn, |c| {
                webhook_events::claim_due(c, now, &owner, now + LEASE, BATCH, &saturated)
            })?;
            let mut merchants_by_id: HashMap<String, Option<MerchantProfile>> = HashMap::new();
            let mut claimed = Vec::with_capacity(events.len());
            for event in events {
                if !merchants_by_id.contains_key(&event.merchant_id) {
                    let profile = merchants::find(conn, &event.merchant_id)?.map(Merchant::profile);
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
        let mut sends = Vec::new();
        let mut deferred = Vec::new();
        for claim in claimed {
            if let Some(until) = self.breaker_open_until(&host_of(&claim.event.url)) {
                deferred.push((claim.event.id, until));
                continue;
            }
            // When its merchant's sends are all under way, the event waits here for one of
            // them to finish (and claims pass over the merchant once enough wait).
            let Some(claim) = self.take_slot_or_wait(claim, last_start) else {
                continue;
            };
            let worker = self.clone();
            sends.push(tokio::spawn(async move {
                worker.send_in_turn(claim, last_start).await;
            }));
        }
        if !deferred.is_empty() {
            self.defer(deferred).await;
        }
        Ok((count, sends))
    }

    /// Sends `claim`, then the merchant's waiting events one after another, on one of the
    /// merchant's slots; frees the slot when none is left.
    async fn send_in_turn(self: Arc<Self>, claim: Claimed, last_start: Instant) {
        let merchant_id = claim.event.merchant_id.clone();
        // The next send does not wait for the last one's commit.
        let mut recording = Vec::new();
        let mut next = Some((claim, last_start));
        while let Some((claim, last_start)) = next {
            let host = host_of(&claim.event.url);
            if let Some(until) = self.breaker_open_until(&host) {
                self.defer(vec![(claim.event.id, until)]).await;
            } else if let Some(attempted) = self.deliver(claim, last_start).await {
                self.note_result(&host, &attempted.outcome);
                let settled = self.settle(attempted);
                // A few commits may be outstanding per slot, not more: sends never run far
                // ahead of what is recorded (an unrecorded send is sent again after its lease).
                if recording.len() >= RECORDS_AHEAD {
                    let _ = recording.remove(0).await;
                }
                let worker = self.clone();
                recording.push(tokio::spawn(async move {
                    if let Err(e) = worker.record(settled).await {
                        log::error!(
                            "a webhook attempt could not be recorded (it will be retried): {e}"
                        );
                    }
                }));
            }
            next = self.next_or_free_slot(&merchant_id);
        }
        // A slot is free: the merchant's other due events may be claimed now.
        self.wakeup.notify_one();
        futures_util::future::join_all(recording).await;
    }

    /// Takes one of the merchant's slots for `claim`, or queues it behind them.
    fn take_slot_or_wait(&self, claim: Claimed, last_start: Instant) -> Option<Claimed> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let lane = lanes.entry(claim.event.merchant_id.clone()).or_default();
        if lane.in_flight < PER_MERCHANT_IN_FLIGHT {
            lane.in_flight += 1;
            Some(claim)
        } else {
            lane.waiting.push_back((claim, last_start));
            None
        }
    }

    /// The merchant's next waiting event that may still start, on the slot that just finished;
    /// else the slot is freed. In one lock with `take_slot_or_wait`, so no event is queued
    /// behind a slot that is going away. Events too late to start within their lease are
    /// dropped here (the lease runs out, and a later claim takes them).
    fn next_or_free_slot(&self, merchant_id: &str) -> Option<(Claimed, Instant)> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let lane = lanes.get_mut(merchant_id)?;
        let now = Instant::now();
        let next = std::iter::from_fn(|| lane.waiting.pop_front())
            .find(|(_, last_start)| *last_start >= now);
        if lane.waiting.len() == BACKLOG_PER_MERCHANT / 2 {
            // Claim more while these are sent, so the slots never wait for a claim.
            self.wakeup.notify_one();
        }
        if next.is_none() {
            lane.in_flight = lane.in_flight.saturating_sub(1);
            if lane.in_flight == 0 {
                lanes.remove(merchant_id);
            }
        }
        next
    }

    /// Merchants with enough events waiting here: claims pass over them until fewer wait.
    fn saturated_merchants(&self) -> Vec<String> {
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        lanes
            .iter()
            .filter(|(_, lane)| lane.waiting.len() >= BACKLOG_PER_MERCHANT)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn breaker_open_until(&self, host: &str) -> Option<Instant> {
        let breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        breakers
            .get(host)
            .and_then(|b| b.open_until)
            .filter(|until| *until > Instant::now())
    }

    fn note_result(&self, host: &str, outcome: &Outcome) {
        let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Outcome::Delivered { .. } | Outcome::Refused(_) => {
                breakers.remove(host);
            }
            Outcome::Failed { .. } => {
                let breaker = breakers.entry(host.to_owned()).or_default();
                breaker.failures_in_a_row += 1;
                if breaker.failures_in_a_row >= BREAKER_THRESHOLD {
                    log::warn!(
                        "webhook host {host} failed {} times in a row: left alone for {BREAKER_OPEN:?}",
                        breaker.failures_in_a_row
                    );
                    self.metrics
                        .increment("payment_center_webhook_breaker_opened_total", &[]);
                    breaker.failures_in_a_row = 0;
                    breaker.open_until = Some(Instant::now() + BREAKER_OPEN);
                }
            }
        }
        // Hosts whose breaker closed long ago are forgotten, so the map stays small.
        if breakers.len() > 10_000 {
            let now = Instant::now();
            breakers
                .retain(|_, b| b.open_until.is_some_and(|t| t > now) || b.failures_in_a_row > 0);
        }
    }

    /// Gives claimed events back unsent, due when their host's breaker closes.
    async fn defer(&self, deferred: Vec<(String, Instant)>) {
        let owner = self.owner.clone();
        let now = time::now_precise();
        let deferred: Vec<(String, NaiveDateTime)> = deferred
            .into_iter()
            .map(|(id, until)| {
                let wait = until.saturating_duration_since(Instant::now());
                (id, now + chrono::Duration::from_std(wait).unwrap_or(LEASE))
            })
            .collect();
        let result = db::run(&self.pool, move |conn| {
            db::write_transaction(conn, |c| {
                for (id, due) in &deferred {
                    webhook_events::defer(c, id, &owner, *due)?;
                }
                Ok::<_, diesel::result::Error>(())
            })
            .map_err(DbError::from)
        })
        .await;
        if let Err(e) = result {
            log::warn!("webhook events could not be given back (their lease will run out): {e}");
        }
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
                    "the URL is not under a registered return URL prefix any more".into(),
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
        if !target::literal_admitted(&self.policy, &event.url) {
            return Outcome::Failed {
                http_status: None,
                error: "blocked address".into(),
            };
        }
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
        // download anything, nor learn what an internal service would have said.
        match result {
            Ok(response) if response.status().is_success() => Outcome::Delivered {
                http_status: response.status().as_u16(),
            },
            Ok(response) => Outcome::Failed {
                http_status: Some(response.status().as_u16()),
                error: format!("HTTP {}", response.status().as_u16()),
            },
            Err(e) => Outcome::Failed {
                http_status: None,
                error: target::describe(&e).to_owned(),
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
                self.metrics
                    .increment("payment_center_webhook_deliveries_total", &[]);
                "delivered"
            }
            FAILED => {
                log::warn!("webhook {} failed for good: {:?}", event.id, error);
                self.metrics
                    .increment("payment_center_webhook_failures_total", &[]);
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
        self.metrics.increment(
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

    /// Records one attempt, committed together with whatever other sends finished meanwhile
    /// (group commit): each send waits only for its own commit, and a busy worker makes one
    /// commit for many attempts instead of one each.
    async fn record(&self, settled: Settled) -> Result<(), DbError> {
        let (done, committed) = tokio::sync::oneshot::channel();
        self.to_record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((settled, done));
        // Whoever finds no commit under way commits everything queued, until nothing is left.
        while !self.committing.swap(true, Ordering::AcqRel) {
            loop {
                let batch =
                    std::mem::take(&mut *self.to_record.lock().unwrap_or_else(|e| e.into_inner()));
                if batch.is_empty() {
                    break;
                }
                let (settled, waiting): (Vec<Settled>, Vec<_>) = batch.into_iter().unzip();
                let result = self.write(settled).await.map_err(|e| e.to_string());
                for done in waiting {
                    let _ = done.send(result.clone());
                }
            }
            self.committing.store(false, Ordering::Release);
            // An attempt queued between the last look and the release would wait forever.
            if self
                .to_record
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            {
                break;
            }
        }
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(DbError::Unavailable(e)),
            Err(_) => Err(DbError::Unavailable("the commit was abandoned".into())),
        }
    }

    /// One transaction for the attempts of a batch.
    async fn write(&self, settled: Vec<Settled>) -> Result<(), DbError> {
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

    /// Runs until `shutdown` turns true, then lets the sends under way finish.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let wakeup = self.wakeup.clone();
        let sends: Mutex<Vec<tokio::task::JoinHandle<()>>> = Mutex::new(Vec::new());
        crate::workers::run_until_shutdown(
            "webhook worker",
            || async {
                match self.start_due().await {
                    Ok((claimed, started)) => {
                        {
                            let mut all = sends.lock().unwrap_or_else(|e| e.into_inner());
                            all.retain(|send| !send.is_finished());
                            all.extend(started);
                        }
                        // A full claim: more may be due at once.
                        if claimed as i64 >= BATCH {
                            Duration::ZERO
                        } else {
                            self.pause().await
                        }
                    }
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
        let under_way = std::mem::take(&mut *sends.lock().unwrap_or_else(|e| e.into_inner()));
        futures_util::future::join_all(under_way).await;
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
