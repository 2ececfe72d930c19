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

/// Where a supervised worker is, for `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// `RUN_WORKERS=false`: the operator runs none here (tests drive them by hand).
    Disabled,
    Running,
    /// It panicked and is about to start again.
    Restarting,
    Stopped,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Disabled => "disabled",
            WorkerState::Running => "running",
            WorkerState::Restarting => "restarting",
            WorkerState::Stopped => "stopped",
        }
    }

    fn from_u8(n: u8) -> WorkerState {
        match n {
            1 => WorkerState::Running,
            2 => WorkerState::Restarting,
            3 => WorkerState::Stopped,
            _ => WorkerState::Disabled,
        }
    }
}

/// A worker's state and how often it was restarted, shared with `/readyz`.
#[derive(Debug, Default)]
pub struct WorkerStatus {
    state: std::sync::atomic::AtomicU8,
    restarts: std::sync::atomic::AtomicU64,
}

impl WorkerStatus {
    pub fn state(&self) -> WorkerState {
        WorkerState::from_u8(self.state.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn set(&self, state: WorkerState) {
        self.state
            .store(state as u8, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn restarts(&self) -> u64 {
        self.restarts.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// After a panic, a worker starts again after this pause (a worker that panics at once on
/// every start then costs a log line a second, not a busy loop).
pub const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// Runs the worker that `start` makes, on a task of its own, and starts a new one whenever it
/// panics, until it returns (it saw `shutdown`) or `shutdown` turns true.
pub async fn supervise<F, Fut>(
    name: &'static str,
    status: Arc<WorkerStatus>,
    mut start: F,
    mut shutdown: watch::Receiver<bool>,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        status.set(WorkerState::Running);
        match tokio::spawn(start()).await {
            Ok(()) => break,
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into());
                status.set(WorkerState::Restarting);
                status
                    .restarts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                log::error!("{name} panicked ({message}); starting it again in {RESTART_PAUSE:?}");
            }
            Err(_) => break,
        }
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(RESTART_PAUSE) => {}
            _ = shutdown.changed() => break,
        }
    }
    status.set(WorkerState::Stopped);
}
