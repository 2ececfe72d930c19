//! Short-lived in-process copies of what the hottest reads need: the storefront's checkout
//! (polled every second or so by every open cashier page) and a merchant's repeated native
//! call read an order and its code; every request reads its merchant by API key. Served from
//! here, they touch neither the database nor Redis.
//!
//! Staleness is bounded: an order view and a merchant are kept one second; and a change this
//! process makes (a payment, a close, a new trade) drops the order's view at once. Another
//! instance's change shows here within the second.

use super::attempts::QrCode;
use super::checkout::CheckoutView;
use super::merchants::MerchantProfile;
use crate::channel::ChannelId;
use crate::db::orders::Order;
use actix_web::web::Bytes;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

const ORDER_TTL: Duration = Duration::from_secs(1);
/// A rotated API key (`merchant rotate-key`, another process) stops working here within this.
pub const MERCHANT_TTL: Duration = Duration::from_secs(1);
/// Past this many entries a map starts afresh: a bound on memory, not an LRU.
const MAX_ENTRIES: usize = 50_000;

/// An order as read, with its WeChat QR code if it had one to hand out, the channels it can be
/// paid with, and (made once, on first use) the storefront's JSON view of it.
#[derive(Debug)]
pub struct OrderSnapshot {
    pub order: Order,
    pub code: Option<QrCode>,
    pub pay_methods: Vec<ChannelId>,
    checkout_json: OnceLock<Bytes>,
}

impl OrderSnapshot {
    pub fn new(
        order: Order,
        code: Option<QrCode>,
        pay_methods: Vec<ChannelId>,
    ) -> Arc<OrderSnapshot> {
        Arc::new(OrderSnapshot {
            order,
            code,
            pay_methods,
            checkout_json: OnceLock::new(),
        })
    }

    /// The body of `GET /v1/checkout/{token}`.
    pub fn checkout_json(&self) -> Bytes {
        self.checkout_json
            .get_or_init(|| {
                let view = CheckoutView::new(&self.order, self.code.as_ref(), &self.pay_methods);
                Bytes::from(serde_json::to_vec(&view).expect("a view serializes"))
            })
            .clone()
    }
}

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

impl<T: Clone> Clone for Expiring<T> {
    fn clone(&self) -> Self {
        Expiring {
            value: self.value.clone(),
            at: self.at,
        }
    }
}

struct Snapshots {
    /// checkout token → order id (never changes)
    token_to_order: Map<String, String>,
    /// (merchant id, merchant order id) → order id (never changes)
    merchant_order_to_order: Map<(String, String), String>,
    orders: Map<String, Expiring<Arc<OrderSnapshot>>>,
    /// API key hash → merchant
    merchants: Map<String, Expiring<MerchantProfile>>,
    /// order id → when this process last changed it: a view read before that is not kept
    changed: Map<String, Instant>,
}

static SNAPSHOTS: LazyLock<Snapshots> = LazyLock::new(|| Snapshots {
    token_to_order: Map::new(),
    merchant_order_to_order: Map::new(),
    orders: Map::new(),
    merchants: Map::new(),
    changed: Map::new(),
});

fn fresh<T: Clone>(entry: Option<Expiring<T>>, ttl: Duration) -> Option<T> {
    entry.filter(|e| e.at.elapsed() < ttl).map(|e| e.value)
}

fn order(order_id: &str) -> Option<Arc<OrderSnapshot>> {
    fresh(SNAPSHOTS.orders.get(order_id), ORDER_TTL)
}

pub fn by_token(token: &str) -> Option<Arc<OrderSnapshot>> {
    order(&SNAPSHOTS.token_to_order.get(token)?)
}

pub fn by_merchant_order(merchant_id: &str, merchant_order_id: &str) -> Option<Arc<OrderSnapshot>> {
    let key = (merchant_id.to_owned(), merchant_order_id.to_owned());
    order(&SNAPSHOTS.merchant_order_to_order.get(&key)?)
}

/// Keeps `snapshot`, read from the stores at `read_at` (taken before the read began): its age
/// counts from then, and a view read before this process's last change of the order is dropped.
pub fn remember(snapshot: &Arc<OrderSnapshot>, read_at: Instant) {
    let order = &snapshot.order;
    if SNAPSHOTS
        .changed
        .get(order.id.as_str())
        .is_some_and(|changed| changed >= read_at)
    {
        return;
    }
    SNAPSHOTS
        .token_to_order
        .insert(order.checkout_token.clone(), order.id.clone());
    SNAPSHOTS.merchant_order_to_order.insert(
        (order.merchant_id.clone(), order.merchant_order_id.clone()),
        order.id.clone(),
    );
    SNAPSHOTS.orders.insert(
        order.id.clone(),
        Expiring {
            value: snapshot.clone(),
            at: read_at,
        },
    );
}

/// The order changed here: the next read goes to the stores.
pub fn forget_order(order_id: &str) {
    SNAPSHOTS
        .changed
        .insert(order_id.to_owned(), Instant::now());
    SNAPSHOTS.orders.remove(order_id);
}

pub fn merchant(api_key_hash: &str) -> Option<MerchantProfile> {
    fresh(SNAPSHOTS.merchants.get(api_key_hash), MERCHANT_TTL)
}

pub fn remember_merchant(api_key_hash: &str, merchant: &MerchantProfile) {
    SNAPSHOTS.merchants.insert(
        api_key_hash.to_owned(),
        Expiring {
            value: merchant.clone(),
            at: Instant::now(),
        },
    );
}
