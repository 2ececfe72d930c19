//! The short-lived cache of channel results (a `code_url`, a `prepay_id`): Redis when
//! `REDIS_URL` is set, so that several instances share it; otherwise a map in this process.
//! The cache is never the only copy: callers fall back to the database when it fails.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every Redis round trip gives up after this long, so a stopped Redis slows no request
/// by more than this before the caller falls back to the database.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed connection attempt, wait this long before trying again.
const RECONNECT_PAUSE: Duration = Duration::from_secs(2);
/// After any Redis failure, requests skip Redis (and go to the database) for this long,
/// instead of each paying a timeout. `/readyz` still asks Redis every time.
pub const REDIS_BREAKER: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(String),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis failed a moment ago; skipped for now")]
    Skipped,
}

pub enum Cache {
    Redis(Box<RedisCache>),
    Memory(MemoryCache),
}

impl Cache {
    pub fn memory() -> Cache {
        Cache::Memory(MemoryCache::default())
    }

    pub fn redis(
        url: &str,
        key_prefix: &str,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Result<Cache, CacheError> {
        let client = redis::Client::open(url).map_err(|e| CacheError::Redis(e.to_string()))?;
        Ok(Cache::Redis(Box::new(RedisCache {
            client,
            metrics,
            key_prefix: key_prefix.to_owned(),
            manager: tokio::sync::Mutex::new(None),
            last_failure: Mutex::new(None),
            skip_until: Mutex::new(None),
        })))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Cache::Redis(_) => "redis",
            Cache::Memory(_) => "memory",
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.get(key)),
            Cache::Redis(r) => {
                let key = r.key(key);
                r.run(|mut c| async move { c.get::<_, Option<String>>(key).await })
                    .await
            }
        }
    }

    /// Stores `value` for `ttl` (at least one second: Redis counts whole seconds).
    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        let secs = ttl.as_secs().max(1);
        match self {
            Cache::Memory(m) => {
                m.set(key, value, Duration::from_secs(secs));
                Ok(())
            }
            Cache::Redis(r) => {
                let key = r.key(key);
                let value = value.to_owned();
                r.run(|mut c| async move { c.set_ex::<_, _, ()>(key, value, secs).await })
                    .await
            }
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        match self {
            Cache::Memory(m) => {
                m.delete(key);
                Ok(())
            }
            Cache::Redis(r) => {
                let key = r.key(key);
                r.run(|mut c| async move { c.del::<_, ()>(key).await })
                    .await
            }
        }
    }

    /// For `/readyz`: asks Redis even while requests skip it, and closes the breaker when
    /// Redis answers again.
    pub async fn ping(&self) -> Result<(), CacheError> {
        match self {
            Cache::Memory(_) => Ok(()),
            Cache::Redis(r) => {
                let answered = r
                    .run_unguarded(|mut c| async move {
                        redis::cmd("PING").query_async::<String>(&mut c).await
                    })
                    .await
                    .map(|_| ());
                r.note(&answered);
                answered
            }
        }
    }
}

pub struct RedisCache {
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    client: redis::Client,
    key_prefix: String,
    /// Connected lazily, so the service starts (and serves from the database) while Redis
    /// is down, and picks Redis up once it answers.
    manager: tokio::sync::Mutex<Option<ConnectionManager>>,
    last_failure: Mutex<Option<Instant>>,
    /// Set by a failure: until then, calls are skipped.
    skip_until: Mutex<Option<Instant>>,
}

impl RedisCache {
    fn key(&self, key: &str) -> String {
        format!("{}{}", self.key_prefix, key)
    }

    async fn connection(&self) -> Result<ConnectionManager, CacheError> {
        let mut slot = self.manager.lock().await;
        if let Some(manager) = slot.as_ref() {
            return Ok(manager.clone());
        }
        let recently_failed = self
            .last_failure
            .lock()
            .expect("cache lock poisoned")
            .is_some_and(|t| t.elapsed() < RECONNECT_PAUSE);
        if recently_failed {
            return Err(CacheError::Redis("not connected (retrying shortly)".into()));
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        match ConnectionManager::new_with_config(self.client.clone(), config).await {
            Ok(manager) => {
                *slot = Some(manager.clone());
                Ok(manager)
            }
            Err(e) => {
                *self.last_failure.lock().expect("cache lock poisoned") = Some(Instant::now());
                Err(CacheError::Redis(e.to_string()))
            }
        }
    }

    /// A call, unless Redis failed within `REDIS_BREAKER`.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, CacheError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let skipping = self
            .skip_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|until| until > Instant::now());
        if skipping {
            self.metrics
                .increment("payment_center_cache_bypassed_total", &[]);
            return Err(CacheError::Skipped);
        }
        let result = self.run_unguarded(op).await;
        self.note(&result);
        result
    }

    fn note<T>(&self, result: &Result<T, CacheError>) {
        let mut skip_until = self.skip_until.lock().unwrap_or_else(|e| e.into_inner());
        *skip_until = match result {
            Ok(_) => None,
            Err(_) => Some(Instant::now() + REDIS_BREAKER),
        };
    }

    async fn run_unguarded<T, F, Fut>(&self, op: F) -> Result<T, CacheError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        match tokio::time::timeout(REDIS_TIMEOUT, op(connection)).await {
            Ok(result) => result.map_err(|e| CacheError::Redis(e.to_string())),
            Err(_) => Err(CacheError::Timeout(REDIS_TIMEOUT)),
        }
    }
}

#[derive(Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

impl MemoryCache {
    fn get(&self, key: &str) -> Option<String> {
        let mut entries = self.entries.lock().expect("cache lock poisoned");
        match entries.get(key) {
            Some((value, expires)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn set(&self, key: &str, value: &str, ttl: Duration) {
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("cache lock poisoned");
        // Sweep expired entries now and then so the map stays as small as what is live.
        if entries.len() >= 1024 && entries.len().is_power_of_two() {
            entries.retain(|_, (_, expires)| *expires > now);
        }
        entries.insert(key.to_owned(), (value.to_owned(), now + ttl));
    }

    fn delete(&self, key: &str) {
        self.entries
            .lock()
            .expect("cache lock poisoned")
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_cache_expires_entries() {
        let cache = Cache::memory();
        cache.set("a", "1", Duration::from_secs(60)).await.unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some("1"));
        if let Cache::Memory(m) = &cache {
            m.set("b", "2", Duration::ZERO);
        }
        assert_eq!(cache.get("b").await.unwrap(), None);
        cache.delete("a").await.unwrap();
        assert_eq!(cache.get("a").await.unwrap(), None);
    }

    /// A Redis that accepts connections and never answers: each call would wait for the
    /// timeout; after the first, calls are skipped for a while without touching Redis.
    #[tokio::test]
    async fn after_a_failure_redis_is_skipped_for_a_while() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", silent.local_addr().unwrap());
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        let cache = Cache::redis(&url, "t:", Default::default()).unwrap();
        assert!(cache.get("k").await.is_err());
        let after_first = accepted.load(std::sync::atomic::Ordering::SeqCst);
        for _ in 0..20 {
            assert!(matches!(cache.get("k").await, Err(CacheError::Skipped)));
        }
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            after_first,
            "skipped calls open no connection"
        );
        // /readyz still asks.
        assert!(matches!(
            cache.ping().await,
            Err(CacheError::Redis(_) | CacheError::Timeout(_))
        ));
    }

    #[tokio::test]
    async fn unreachable_redis_fails_fast_instead_of_hanging() {
        // Port 1 on loopback refuses connections.
        let cache = Cache::redis("redis://127.0.0.1:1", "t:", Default::default()).unwrap();
        let started = Instant::now();
        assert!(cache.get("k").await.is_err());
        assert!(cache.ping().await.is_err());
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
