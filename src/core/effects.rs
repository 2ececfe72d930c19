//! What a state change means beyond its transaction: wake the webhook outbox, drop the
//! order's cached view and the cached credentials of trades it closed, count the transition.
//! The state machine returns these as one value; `apply` carries them out after the commit,
//! whichever door the change came in by (notify, query, close, expiry).

use crate::cache::Cache;
use crate::core::{credentials, AppSnapshots};
use crate::metrics::Metrics;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[must_use = "effects are carried out by `apply` after the commit"]
pub struct Effects {
    /// An outbox row was written.
    pub wake_outbox: bool,
    /// Orders whose cached views are stale.
    pub stale_orders: Vec<String>,
    /// Cache keys of credentials that must not be handed out again.
    pub dead_credentials: Vec<String>,
    /// Transitions to count, by the state reached.
    pub transitions: Vec<&'static str>,
}

impl Effects {
    pub fn none() -> Effects {
        Effects::default()
    }

    pub fn merge(mut self, other: Effects) -> Effects {
        self.wake_outbox |= other.wake_outbox;
        self.stale_orders.extend(other.stale_orders);
        self.dead_credentials.extend(other.dead_credentials);
        self.transitions.extend(other.transitions);
        self
    }
}

/// Where effects land: what every door of a state change holds.
#[derive(Clone)]
pub struct EffectTargets {
    pub webhook_wakeup: Arc<Notify>,
    pub cache: Arc<Cache>,
    pub snapshots: Arc<AppSnapshots>,
    pub metrics: Arc<Metrics>,
}

pub async fn apply(targets: &EffectTargets, effects: Effects) {
    for order_id in &effects.stale_orders {
        targets.snapshots.forget_order(order_id);
    }
    for to in &effects.transitions {
        targets.metrics.transition(to);
    }
    if effects.wake_outbox {
        targets.webhook_wakeup.notify_one();
    }
    for key in &effects.dead_credentials {
        credentials::forget(&targets.cache, key).await;
    }
}
