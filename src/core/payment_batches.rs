//! Notifies that arrive together are recorded together: a group commit. Each notify queues
//! its payment and waits for its own answer; whoever finds a committer free takes what is
//! queued (up to `MAX_BATCH`) and records it in one transaction
//! (`order_state::record_payments`). Alone, a notify is recorded at once, as before; under
//! load, the payments that queued while the committers were busy share the next transaction,
//! so Postgres pays the fixed cost of a transaction (round trips, executor start-up, commit)
//! once per batch instead of once per payment.
//!
//! Nothing is weaker for it: each payment is answered only once the transaction that holds it
//! has committed, each is decided from its own order, locked, and a batch that fails keeps
//! nothing and is recorded payment by payment.

use crate::channel::ReportedPayment;
use crate::core::order_state::{self, Recorded, StateError};
use crate::db::{self, Backend, DbError, DbPool};
use crate::metrics::Metrics;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, Semaphore};

/// The most payments one transaction records.
pub const MAX_BATCH: usize = 64;
/// Transactions of payments in flight at once, per process, on Postgres: while one commits
/// (waits for the disk), the next is being executed.
pub const COMMITTERS: usize = 4;

struct Queued {
    payment: ReportedPayment,
    answer: oneshot::Sender<Recorded>,
}

pub struct PaymentBatches {
    queue: Mutex<VecDeque<Queued>>,
    committers: Arc<Semaphore>,
}

impl PaymentBatches {
    /// SQLite writes one transaction at a time: there a second committer would only wait for
    /// the write lock (its busy wait is not first come, first served: in the benchmark some
    /// notifies waited past 2 s), so its batches go one after the other.
    pub fn for_backend(backend: Backend) -> Self {
        let committers = match backend {
            Backend::Postgres => COMMITTERS,
            Backend::Sqlite => 1,
        };
        PaymentBatches {
            queue: Mutex::new(VecDeque::new()),
            committers: Arc::new(Semaphore::new(committers)),
        }
    }

    /// Records `payment` with whatever else is queued; answers once it is committed.
    pub async fn record(
        &self,
        pool: &DbPool,
        metrics: &Arc<Metrics>,
        payment: ReportedPayment,
    ) -> Recorded {
        let (answer, mut answered) = oneshot::channel();
        self.lock_queue().push_back(Queued { payment, answer });
        loop {
            tokio::select! {
                biased;
                recorded = &mut answered => return answer_of(recorded),
                permit = self.committers.clone().acquire_owned() => {
                    let Ok(permit) = permit else {
                        return answer_of((&mut answered).await);
                    };
                    let batch = self.take();
                    if batch.is_empty() {
                        // Another committer took ours: its answer is on the way.
                        drop(permit);
                        return answer_of((&mut answered).await);
                    }
                    // A task of its own, holding the committer's place: the batch is recorded
                    // and answered even if this request is dropped meanwhile.
                    let (pool, metrics) = (pool.clone(), metrics.clone());
                    let _ = tokio::spawn(async move {
                        commit(&pool, &metrics, batch).await;
                        drop(permit);
                    })
                    .await;
                }
            }
        }
    }

    fn take(&self) -> Vec<Queued> {
        let mut queue = self.lock_queue();
        let n = queue.len().min(MAX_BATCH);
        queue.drain(..n).collect()
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
        // The queue is only pushed to and drained: a panic elsewhere leaves it whole.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Records `batch` and answers each of its payments, from the database task itself.
async fn commit(pool: &DbPool, metrics: &Metrics, batch: Vec<Queued>) {
    let (payments, answers): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|q| (q.payment, q.answer)).unzip();
    let size = payments.len();
    // An answer dropped unsent (no connection, a failed task) reads as "not recorded".
    let written = db::run(pool, move |conn| {
        let (recorded, written) = order_state::record_payments(conn, &payments);
        for (answer, recorded) in answers.into_iter().zip(recorded) {
            let _ = answer.send(recorded);
        }
        Ok::<_, DbError>(written)
    })
    .await;
    if let Ok(written) = written {
        metrics.payment_batch(written.as_str(), size);
    }
}

fn answer_of(recorded: Result<Recorded, oneshot::error::RecvError>) -> Recorded {
    recorded.unwrap_or_else(|_| {
        Err(StateError::Db(DbError::Unavailable(
            "the payment's batch could not reach the database".into(),
        )))
    })
}
