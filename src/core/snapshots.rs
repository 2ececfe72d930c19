//! Short-lived in-process copies of what the hottest reads need: the storefront's checkout
//! (polled every second or so by every open cashier page) and a merchant's repeated native
//! call read an order and its code; every request reads its merchant by API key. Served from
//! here, they touch neither the database nor Redis.
//!
//! Staleness is bounded: an order view and a merchant are kept one second; and a change this
//! process makes (a payment, a close, a new trade) drops the order's view at once. Another
//! instance's change shows here within the second. One `Snapshots` per application (in its
//! state), so two instances in one process never share one.
//!
//! Under load nobody waits for a read (profiled: at 1 s expiry every request in flight for a
//! view missed at once and read the stores, which was most of the checkout's cost and all of
//! its tail): a view past `REFRESH_AFTER` is still served, and the one caller that claims
//! its refresh reads it again in the background; a view that is missing altogether is read
//! once (`Flights`), the other callers waiting for that read instead of making their own.

use foldhash::HashMap;
use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const ORDER_TTL: Duration = Duration::from_secs(1);
/// A rotated API key (`merchant rotate-key`, another process) stops working here within this.
pub const MERCHANT_TTL: Duration = Duration::from_secs(1);
/// A kept view this old is refreshed by the next caller that finds it, while it still serves.
/// Late in its second: each refresh of a hot view costs a database read and the wake-ups of
/// two threads (profiled at 500 ms, 100 hot orders, Postgres: about a third of what a cached
/// read cost beyond `/healthz`), and 200 ms is ample for the read under load.
pub const REFRESH_AFTER: Duration = Duration::from_millis(800);
/// How long a caller waits for another's read of the same view before reading it itself.
const FOLLOW_WAIT: Duration = Duration::from_secs(1);
/// Past this many entries a map starts afresh: a bound on memory, not an LRU.
const MAX_ENTRIES: usize = 50_000;

#[derive(Clone)]
struct Expiring<T> {
    value: T,
    at: Instant,
}

struct Map<K, V>(Mutex<HashMap<K, V>>);

impl<K: Eq + Hash, V: Clone> Map<K, V> {
    fn new() -> Self {
        Map(Mutex::new(HashMap::default()))
    }

    fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.0.lock().expect("snapshot lock").get(key).cloned()
    }

    fn insert(&self, key: K, value: V) {
        let mut map = self.0.lock().expect("snapshot lock");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, value);
    }
}

/// The keys an order's view is found by.
#[derive(Debug, Clone, Copy)]
pub struct OrderKeys<'a> {
    pub order_id: &'a str,
    pub checkout_token: &'a str,
    pub merchant_id: &'a str,
    pub merchant_order_id: &'a str,
}

/// What a kept merchant is found by: the SHA-256 of what was presented, as bytes (found
/// without hex or a copy), and which kind of credential it was. The kind keeps the two apart:
/// a course login is public by construction and must never be found by an API key, whatever
/// string a client presents as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MerchantKey {
    ApiKey([u8; 32]),
    CourseLogin([u8; 32]),
}

impl MerchantKey {
    /// For flight keys and logs of a miss: the kind and the digest's hex (never the secret).
    pub fn label(&self) -> String {
        match self {
            MerchantKey::ApiKey(digest) => format!("api-key:{}", hex::encode(digest)),
            MerchantKey::CourseLogin(digest) => format!("course-login:{}", hex::encode(digest)),
        }
    }
}

/// Order views (`O`) and merchants (`M`), each kept a moment.
pub struct Snapshots<O, M> {
    /// Behind one lock: a checkout is one lookup through two maps, made without copying a key.
    orders: Mutex<OrderViews<O>>,
    merchants: Map<MerchantKey, Expiring<M>>,
    /// Reads of views and merchants under way.
    pub flights: Flights,
}

struct OrderViews<O> {
    /// checkout token → order id (never changes)
    by_token: HashMap<String, String>,
    /// merchant id → merchant order id → order id (never changes); nested so that a lookup
    /// borrows both ids instead of building a key.
    by_merchant_order: HashMap<String, HashMap<String, String>>,
    /// How many merchant order ids `by_merchant_order` holds, all merchants together.
    merchant_orders: usize,
    views: HashMap<String, Expiring<O>>,
    /// order id → when this process last changed it: a view read before that is not kept
    changed: HashMap<String, Instant>,
}

impl<O> OrderViews<O> {
    fn new() -> Self {
        OrderViews {
            by_token: HashMap::default(),
            by_merchant_order: HashMap::default(),
            merchant_orders: 0,
            views: HashMap::default(),
            changed: HashMap::default(),
        }
    }
}

/// Inserts, starting the map afresh past `MAX_ENTRIES`.
fn bounded_insert<K: Eq + Hash, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

/// A kept value, and the claim to refresh it when it is old enough and nobody else is.
pub struct Kept<T> {
    pub value: T,
    pub refresh: Option<Flight>,
}

impl<T> Kept<T> {
    /// The value, and when its refresh is this caller's, the refresh (`read`, whose own
    /// outcome is not this caller's concern) started in the background.
    pub fn serve<F>(self, read: impl FnOnce() -> F) -> T
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        if let Some(flight) = self.refresh {
            let read = read();
            tokio::spawn(async move {
                read.await;
                drop(flight);
            });
        }
        self.value
    }
}

/// Reads in progress, by key: the first caller of a key leads, the others wait for it.
#[derive(Clone, Default)]
pub struct Flights(Arc<Mutex<HashMap<String, watch::Receiver<()>>>>);

/// A read in progress; when it ends (dropped), the callers waiting for it look again.
pub struct Flight {
    flights: Flights,
    key: String,
    /// Dropped after the key is removed: closing it wakes the waiting callers.
    _done: watch::Sender<()>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.flights
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// Whether this caller reads, or waits for the caller that does.
pub enum Turn {
    Lead(Flight),
    Wait(watch::Receiver<()>),
}

impl Flights {
    /// Leads the read of `key`, or joins the one under way.
    pub fn join(&self, key: &str) -> Turn {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = map.get(key) {
            return Turn::Wait(done.clone());
        }
        let (done, waiting) = watch::channel(());
        map.insert(key.to_owned(), waiting);
        Turn::Lead(Flight {
            flights: self.clone(),
            key: key.to_owned(),
            _done: done,
        })
    }

    /// Leads the read of `key` if none is under way.
    pub fn try_lead(&self, key: &str) -> Option<Flight> {
        match self.join(key) {
            Turn::Lead(flight) => Some(flight),
            Turn::Wait(_) => None,
        }
    }

    /// Reads `key` once for every concurrent caller: the leader runs `read`; the others wait
    /// for it (at most `FOLLOW_WAIT`), then take what `kept` finds, else read themselves (the
    /// leader failed, or what it read is not kept).
    pub async fn read_once<T, E, Fut>(
        &self,
        key: &str,
        kept: impl Fn() -> Option<T>,
        read: impl FnOnce() -> Fut,
    ) -> Result<T, E>
    where
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        match self.join(key) {
            Turn::Lead(flight) => {
                let value = read().await;
                drop(flight);
                value
            }
            Turn::Wait(mut done) => {
                // Closed (never sent on) when the leader's flight ends.
                let _ = tokio::time::timeout(FOLLOW_WAIT, done.changed()).await;
                match kept() {
                    Some(value) => Ok(value),
                    None => read().await,
                }
            }
        }
    }
}

fn fresh<T: Clone>(entry: Option<Expiring<T>>, ttl: Duration) -> Option<(T, Duration)> {
    entry
        .map(|e| (e.at.elapsed(), e.value))
        .filter(|(age, _)| *age < ttl)
        .map(|(age, value)| (value, age))
}

impl<O: Clone, M: Clone> Default for Snapshots<O, M> {
    fn default() -> Self {
        Snapshots {
            orders: Mutex::new(OrderViews::new()),
            merchants: Map::new(),
            flights: Flights::default(),
        }
    }
}

impl<O: Clone, M: Clone> Snapshots<O, M> {
    /// The kept value, with the claim to refresh it (under `flight_key`) when it is due.
    fn kept<T>(
        &self,
        found: Option<(T, Duration)>,
        flight_key: impl FnOnce() -> String,
    ) -> Option<Kept<T>> {
        let (value, age) = found?;
        let refresh = if age >= REFRESH_AFTER {
            self.flights.try_lead(&flight_key())
        } else {
            None
        };
        Some(Kept { value, refresh })
    }

    fn views(&self) -> std::sync::MutexGuard<'_, OrderViews<O>> {
        self.orders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept view of the order `order_id` finds, if fresh, with the claim to refresh it.
    fn order(&self, order_id: impl FnOnce(&OrderViews<O>) -> Option<&String>) -> Option<Kept<O>> {
        let (found, id) = {
            let views = self.views();
            let id = order_id(&views)?;
            let found = fresh(views.views.get(id).cloned(), ORDER_TTL)?;
            // The id is copied only when the view is due for its refresh.
            let id = (found.1 >= REFRESH_AFTER).then(|| id.clone());
            (found, id)
        };
        self.kept(Some(found), || format!("order:{}", id.unwrap_or_default()))
    }

    pub fn by_token(&self, token: &str) -> Option<Kept<O>> {
        self.order(|views| views.by_token.get(token))
    }

    pub fn by_merchant_order(&self, merchant_id: &str, merchant_order_id: &str) -> Option<Kept<O>> {
        self.order(|views| {
            views
                .by_merchant_order
                .get(merchant_id)?
                .get(merchant_order_id)
        })
    }

    /// Keeps `view`, read from the stores at `read_at` (taken before the read began): its age
    /// counts from then, and a view read before this process's last change of the order is
    /// dropped.
    pub fn remember(&self, keys: OrderKeys<'_>, view: O, read_at: Instant) {
        let mut views = self.views();
        if views
            .changed
            .get(keys.order_id)
            .is_some_and(|changed| *changed >= read_at)
        {
            return;
        }
        bounded_insert(
            &mut views.by_token,
            keys.checkout_token.to_owned(),
            keys.order_id.to_owned(),
        );
        if views.merchant_orders >= MAX_ENTRIES {
            views.by_merchant_order.clear();
            views.merchant_orders = 0;
        }
        let added = views
            .by_merchant_order
            .entry(keys.merchant_id.to_owned())
            .or_default()
            .insert(keys.merchant_order_id.to_owned(), keys.order_id.to_owned())
            .is_none();
        views.merchant_orders += usize::from(added);
        bounded_insert(
            &mut views.views,
            keys.order_id.to_owned(),
            Expiring {
                value: view,
                at: read_at,
            },
        );
    }

    /// The order changed here: the next read goes to the stores.
    pub fn forget_order(&self, order_id: &str) {
        let mut views = self.views();
        bounded_insert(&mut views.changed, order_id.to_owned(), Instant::now());
        views.views.remove(order_id);
    }

    pub fn merchant(&self, key: &MerchantKey) -> Option<Kept<M>> {
        let found = fresh(self.merchants.get(key), MERCHANT_TTL);
        self.kept(found, || format!("merchant:{}", key.label()))
    }

    pub fn remember_merchant(&self, key: &MerchantKey, merchant: &M) {
        self.merchants.insert(
            *key,
            Expiring {
                value: merchant.clone(),
                at: Instant::now(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn keys() -> OrderKeys<'static> {
        OrderKeys {
            order_id: "PC1",
            checkout_token: "ct_1",
            merchant_id: "mch_1",
            merchant_order_id: "o1",
        }
    }

    #[test]
    fn a_young_view_is_served_without_a_refresh() {
        let snapshots: Snapshots<u32, u32> = Snapshots::default();
        snapshots.remember(keys(), 7, Instant::now());
        let kept = snapshots.by_token("ct_1").expect("kept");
        assert_eq!(kept.value, 7);
        assert!(kept.refresh.is_none());
    }

    #[test]
    fn an_aging_view_is_refreshed_by_one_caller_at_a_time() {
        let snapshots: Snapshots<u32, u32> = Snapshots::default();
        let read_at = Instant::now() - REFRESH_AFTER - Duration::from_millis(10);
        snapshots.remember(keys(), 7, read_at);
        let first = snapshots.by_token("ct_1").expect("kept");
        assert_eq!(first.value, 7);
        assert!(first.refresh.is_some(), "the first caller refreshes it");
        let second = snapshots.by_merchant_order("mch_1", "o1").expect("kept");
        assert_eq!(second.value, 7, "served while the refresh runs");
        assert!(second.refresh.is_none(), "one refresh at a time");
        drop(first);
        assert!(snapshots.by_token("ct_1").unwrap().refresh.is_some());
    }

    #[test]
    fn an_expired_view_is_not_served() {
        let snapshots: Snapshots<u32, u32> = Snapshots::default();
        snapshots.remember(keys(), 7, Instant::now() - ORDER_TTL);
        assert!(snapshots.by_token("ct_1").is_none());
        snapshots.remember(keys(), 8, Instant::now());
        snapshots.forget_order("PC1");
        assert!(
            snapshots.by_token("ct_1").is_none(),
            "a change here drops it"
        );
    }

    #[tokio::test]
    async fn concurrent_misses_make_one_read() {
        let snapshots: Arc<Snapshots<u32, u32>> = Arc::default();
        let reads = Arc::new(AtomicUsize::new(0));
        let callers = (0..20).map(|_| {
            let (snapshots, reads) = (snapshots.clone(), reads.clone());
            tokio::spawn(async move {
                snapshots
                    .flights
                    .read_once(
                        "token:ct_1",
                        || snapshots.by_token("ct_1").map(|k| k.value),
                        || async {
                            reads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            snapshots.remember(keys(), 7, Instant::now());
                            Ok::<u32, ()>(7)
                        },
                    )
                    .await
            })
        });
        for caller in callers.collect::<Vec<_>>() {
            assert_eq!(caller.await.unwrap(), Ok(7));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn when_the_leader_fails_the_others_read_themselves() {
        let flights = Flights::default();
        let Turn::Lead(flight) = flights.join("k") else {
            panic!("the first caller leads");
        };
        let follower = {
            let flights = flights.clone();
            tokio::spawn(async move {
                flights
                    .read_once("k", || None, || async { Ok::<u32, ()>(9) })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!follower.is_finished(), "it waits for the leader");
        drop(flight);
        assert_eq!(follower.await.unwrap(), Ok(9));
        assert!(flights.try_lead("k").is_some(), "the flight is over");
    }
}
