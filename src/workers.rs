//! The loop every background worker runs: a step, then a pause (cut short by a wake-up or a
//! shutdown). A step under way is always finished: shutdown is only looked at between steps.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Runs `step` (which answers how long to pause) until `shutdown` turns true.
pub async fn run_until_shutdown<F, Fut>(
    name: &str,
    mut step: F,
    wakeup: Option<Arc<Notify>>,
    mut shutdown: watch::Receiver<bool>,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Duration>,
{
    while !*shutdown.borrow() {
        let pause = step().await;
        if pause.is_zero() {
            continue;
        }
        let woken = async {
            match &wakeup {
                Some(notify) => notify.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = woken => {}
            _ = shutdown.changed() => {}
        }
    }
    log::info!("{name} stopped");
}
