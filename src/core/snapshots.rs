//! Short-lived in-process copies of what the hottest reads need: the storefront's checkout
//! (polled every second or so by every open cashier page) and a merchant's repeated native
//! call read an order and its code; every request reads its merchant by API key. Served from
//! here, they touch neither the database nor Redis.
//!
//! Staleness is bounded: an order view and a merchant are kept one second; and a change this
//! process makes (a payment, a close, a new trade) drops the order's view at once. Another
//! instance's change shows here within the second. One `Snapshots` per application (in its
//! state), so two instances in one process never share one.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ORDER_TTL: Duration = Duration::from_secs(1);
/// A rotated API key (`merchant rotate-key`, another process) stops working here within this.
pub const MERCHANT_TTL: Duration = Duration::from_secs(1);
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
        Map(Mutex::new(HashMap::new()))
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

    fn remove<Q: Hash + Eq + ?Sized>(&self, key: &Q)
    where
        K: Borrow<Q>,
    {
        self.0.lock().expect("snapshot lock").remove(key);
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

/// Order views (`O`) and merchants (`M`), each kept a moment.
pub struct Snapshots<O, M> {
    /// checkout token → order id (never changes)
    token_to_order: Map<String, String>,
    /// (merchant id, merchant order id) → order id (never changes)
    merchant_order_to_order: Map<(String, String), String>,
    orders: Map<String, Expiring<O>>,
    /// API key hash → merchant
    merchants: Map<String, Expiring<M>>,
    /// order id → when this process last changed it: a view read before that is not kept
    changed: Map<String, Instant>,
}

fn fresh<T: Clone>(entry: Option<Expiring<T>>, ttl: Duration) -> Option<T> {
    entry.filter(|e| e.at.elapsed() < ttl).map(|e| e.value)
}

impl<O: Clone, M: Clone> Default for Snapshots<O, M> {
    fn default() -> Self {
        Snapshots {
            token_to_order: Map::new(),
            merchant_order_to_order: Map::new(),
            orders: Map::new(),
            merchants: Map::new(),
            changed: Map::new(),
        }
    }
}

impl<O: Clone, M: Clone> Snapshots<O, M> {
    fn order(&self, order_id: &str) -> Option<O> {
        fresh(self.orders.get(order_id), ORDER_TTL)
    }

    pub fn by_token(&self, token: &str) -> Option<O> {
        self.order(&self.token_to_order.get(token)?)
    }

    pub fn by_merchant_order(&self, merchant_id: &str, merchant_order_id: &str) -> Option<O> {
        let key = (merchant_id.to_owned(), merchant_order_id.to_owned());
        self.order(&self.merchant_order_to_order.get(&key)?)
    }

    /// Keeps `view`, read from the stores at `read_at` (taken before the read began): its age
    /// counts from then, and a view read before this process's last change of the order is
    /// dropped.
    pub fn remember(&self, keys: OrderKeys<'_>, view: O, read_at: Instant) {
        if self
            .changed
            .get(keys.order_id)
            .is_some_and(|changed| changed >= read_at)
        {
            return;
        }
        self.token_to_order
            .insert(keys.checkout_token.to_owned(), keys.order_id.to_owned());
        self.merchant_order_to_order.insert(
            (
                keys.merchant_id.to_owned(),
                keys.merchant_order_id.to_owned(),
            ),
            keys.order_id.to_owned(),
        );
        self.orders.insert(
            keys.order_id.to_owned(),
            Expiring {
                value: view,
                at: read_at,
            },
        );
    }

    /// The order changed here: the next read goes to the stores.
    pub fn forget_order(&self, order_id: &str) {
        self.changed.insert(order_id.to_owned(), Instant::now());
        self.orders.remove(order_id);
    }

    pub fn merchant(&self, api_key_hash: &str) -> Option<M> {
        fresh(self.merchants.get(api_key_hash), MERCHANT_TTL)
    }

    pub fn remember_merchant(&self, api_key_hash: &str, merchant: &M) {
        self.merchants.insert(
            api_key_hash.to_owned(),
            Expiring {
                value: merchant.clone(),
                at: Instant::now(),
            },
        );
    }
}
