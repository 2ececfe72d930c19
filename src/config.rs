//! Settings from the environment (a `.env` file is read first by `main`). Secrets and
//! passwords inside URLs never come out through `Debug`.

use crate::wechat::SignType;
use std::fmt;
use std::time::Duration;

/// WeChat's notify schedule: the pauses after each failed attempt (about 24 h in all).
pub const WECHAT_RETRY_SCHEDULE: &str = "15s,15s,30s,3m,10m,20m,30m,30m,30m,60m,3h,3h,3h,6h,6h";

#[derive(Clone)]
pub struct Settings {
    /// Where the HTTP server listens (`BIND_ADDR`); port 0 picks a free port (tests).
    pub bind_addr: String,
    /// How the outside reaches us (`PUBLIC_BASE_URL`); `None` means `http://<bound address>`.
    pub public_base_url: Option<String>,
    /// A `postgres://` URL or a SQLite file path (`DATABASE_URL`).
    pub database_url: String,
    pub database_pool_size: u32,
    /// `redis://…`, or `None` for the in-process cache (`REDIS_URL`).
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so that several deployments (or tests) share one Redis.
    pub redis_key_prefix: String,
    /// Create a demo merchant on first start (the embedded default does).
    pub demo_merchant: bool,
    pub wechat: WechatSettings,
    /// Pauses between the sandbox's notify attempts (`SANDBOX_NOTIFY_SCHEDULE`).
    pub sandbox_notify_schedule: Vec<Duration>,
    /// Pauses after each failed webhook attempt (`WEBHOOK_RETRY_SCHEDULE`).
    pub webhook_retry_schedule: Vec<Duration>,
    /// Run the background workers (`RUN_WORKERS`, default true). Tests drive them by hand.
    pub run_workers: bool,
}

/// The merchant account at WeChat Pay. No credentials means the sandbox's account, and the
/// built-in sandbox unless `WECHAT_API_BASE` points elsewhere (e.g. a standalone sandbox).
#[derive(Clone)]
pub struct WechatSettings {
    pub credentials: Option<WechatCredentials>,
    pub api_base: Option<String>,
    pub sign_type: SignType,
}

#[derive(Clone)]
pub struct WechatCredentials {
    pub app_id: String,
    pub mch_id: String,
    pub api_key: String,
}

impl WechatSettings {
    /// Mount `/sandbox/wechat` and call it: no credentials and no other API base.
    pub fn uses_builtin_sandbox(&self) -> bool {
        self.credentials.is_none() && self.api_base.is_none()
    }
}

/// `15s,15s,30s,3m,…`: each item a whole number with a unit (ms, s, m, h).
pub fn parse_schedule(name: &str, value: &str) -> Result<Vec<Duration>, ConfigError> {
    let bad = || {
        ConfigError(format!(
            "{name} must be comma-separated durations like 15s,3m,1h"
        ))
    };
    value
        .split(',')
        .map(|item| {
            let item = item.trim();
            let split = item.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            let (number, unit) = item.split_at(split);
            let number: u64 = number.parse().map_err(|_| bad())?;
            let unit_millis = match unit {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => return Err(bad()),
            };
            let millis = number.checked_mul(unit_millis).ok_or_else(bad)?;
            Ok(Duration::from_millis(millis))
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads every variable through `lookup`, so tests can pass a map instead of the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let database_url = lookup("DATABASE_URL").unwrap_or_else(|| "payment-center.db".into());
        let database_pool_size = match lookup("DATABASE_POOL_SIZE") {
            None => 16,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ConfigError("DATABASE_POOL_SIZE must be 1–1000".into()))?,
        };
        let public_base_url = lookup("PUBLIC_BASE_URL")
            .map(|u| {
                let parsed = url::Url::parse(&u)
                    .map_err(|_| ConfigError("PUBLIC_BASE_URL must be an http(s) URL".into()))?;
                let plain = matches!(parsed.scheme(), "http" | "https")
                    && parsed.query().is_none()
                    && parsed.fragment().is_none()
                    && parsed.username().is_empty()
                    && parsed.password().is_none();
                if !plain {
                    // WeChat refuses a notify_url with a query; credentials have no place here.
                    return Err(ConfigError(
                        "PUBLIC_BASE_URL must be an http(s) URL without user, query or fragment"
                            .into(),
                    ));
                }
                Ok(u.trim_end_matches('/').to_owned())
            })
            .transpose()?;
        let redis_url = lookup("REDIS_URL");
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError("REDIS_URL must start with redis://".into()));
            }
        }
        let demo_merchant = match lookup("DEMO_MERCHANT").as_deref() {
            None => crate::db::Backend::from_url(&database_url) == crate::db::Backend::Sqlite,
            Some("1" | "true") => true,
            Some("0" | "false") => false,
            Some(_) => return Err(ConfigError("DEMO_MERCHANT must be true or false".into())),
        };
        let credentials =
            match (
                lookup("WECHAT_APP_ID"),
                lookup("WECHAT_MCH_ID"),
                lookup("WECHAT_API_KEY"),
            ) {
                (None, None, None) => None,
                (Some(app_id), Some(mch_id), Some(api_key)) => Some(WechatCredentials {
                    app_id,
                    mch_id,
                    api_key,
                }),
                _ => return Err(ConfigError(
                    "set all of WECHAT_APP_ID, WECHAT_MCH_ID and WECHAT_API_KEY, or none (sandbox)"
                        .into(),
                )),
            };
        let api_base = lookup("WECHAT_API_BASE")
            .map(|base| {
                let parsed = url::Url::parse(&base);
                if !parsed.is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                    return Err(ConfigError("WECHAT_API_BASE must be an http(s) URL".into()));
                }
                Ok(base.trim_end_matches('/').to_owned())
            })
            .transpose()?;
        let sign_type = match lookup("WECHAT_SIGN_TYPE") {
            None => SignType::Md5,
            Some(s) => SignType::parse(&s)
                .ok_or_else(|| ConfigError("WECHAT_SIGN_TYPE must be MD5 or HMAC-SHA256".into()))?,
        };
        let sandbox_notify_schedule = parse_schedule(
            "SANDBOX_NOTIFY_SCHEDULE",
            &lookup("SANDBOX_NOTIFY_SCHEDULE").unwrap_or_else(|| WECHAT_RETRY_SCHEDULE.into()),
        )?;
        let webhook_retry_schedule = parse_schedule(
            "WEBHOOK_RETRY_SCHEDULE",
            &lookup("WEBHOOK_RETRY_SCHEDULE").unwrap_or_else(|| WECHAT_RETRY_SCHEDULE.into()),
        )?;
        let run_workers = match lookup("RUN_WORKERS").as_deref() {
            None | Some("1" | "true") => true,
            Some("0" | "false") => false,
            Some(_) => return Err(ConfigError("RUN_WORKERS must be true or false".into())),
        };
        Ok(Settings {
            webhook_retry_schedule,
            run_workers,
            wechat: WechatSettings {
                credentials,
                api_base,
                sign_type,
            },
            sandbox_notify_schedule,
            bind_addr: lookup("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into()),
            public_base_url,
            database_url,
            database_pool_size,
            redis_url,
            redis_key_prefix: lookup("REDIS_KEY_PREFIX")
                .unwrap_or_else(|| "payment-center:".into()),
            demo_merchant,
        })
    }
}

/// A URL fit for a log line: the password of `scheme://user:password@host` and the value of any
/// query parameter whose name speaks of a password (libpq takes `?password=…`) become `***`.
/// What does not parse as a URL is kept whole (a SQLite path).
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let secret = |name: &str| name.to_ascii_lowercase().contains("password");
    if parsed.query_pairs().any(|(name, _)| secret(&name)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if secret(&name) { "***".into() } else { value };
                (name.into_owned(), value.into_owned())
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("bind_addr", &self.bind_addr)
            .field("public_base_url", &self.public_base_url)
            .field("database_url", &redact_url(&self.database_url))
            .field("database_pool_size", &self.database_pool_size)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("demo_merchant", &self.demo_merchant)
            .field(
                "wechat_app_id",
                &self.wechat.credentials.as_ref().map(|c| c.app_id.as_str()),
            )
            .field(
                "wechat_mch_id",
                &self.wechat.credentials.as_ref().map(|c| c.mch_id.as_str()),
            )
            .field(
                "wechat_api_base",
                &self.wechat.api_base.as_deref().map(redact_url),
            )
            .field("wechat_sign_type", &self.wechat.sign_type)
            .field("builtin_sandbox", &self.wechat.uses_builtin_sandbox())
            .field("webhook_retry_schedule", &self.webhook_retry_schedule)
            .field("run_workers", &self.run_workers)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_embedded_service() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind_addr, "127.0.0.1:8080");
        assert_eq!(s.database_url, "payment-center.db");
        assert!(s.redis_url.is_none());
        assert!(s.public_base_url.is_none());
        assert!(s.demo_merchant);
    }

    #[test]
    fn postgres_has_no_demo_merchant_by_default() {
        let s = settings(&[("DATABASE_URL", "postgres://postgres@127.0.0.1/pc")]).unwrap();
        assert!(!s.demo_merchant);
    }

    #[test]
    fn debug_hides_passwords() {
        let s = settings(&[
            ("DATABASE_URL", "postgres://pc:hunter2@db/pc"),
            ("REDIS_URL", "redis://:s3cret@cache:6379"),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("s3cret"),
            "{debug}"
        );
        let s = settings(&[
            (
                "DATABASE_URL",
                "postgres://pc@db/pc?sslmode=disable&password=hunter2",
            ),
            (
                "WECHAT_API_BASE",
                "http://u:s3cret@127.0.0.1:8090/sandbox/wechat",
            ),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("s3cret"),
            "{debug}"
        );
        assert!(debug.contains("sslmode=disable&password=***"), "{debug}");
        assert_eq!(redact_url("payment-center.db"), "payment-center.db");
    }

    #[test]
    fn wechat_credentials_are_all_or_nothing_and_never_printed() {
        let s = settings(&[]).unwrap();
        assert!(s.wechat.uses_builtin_sandbox());
        assert!(settings(&[("WECHAT_APP_ID", "wx1")]).is_err());
        let s = settings(&[
            ("WECHAT_APP_ID", "wx1"),
            ("WECHAT_MCH_ID", "1"),
            ("WECHAT_API_KEY", "topsecretkey"),
            ("WECHAT_SIGN_TYPE", "HMAC-SHA256"),
        ])
        .unwrap();
        assert!(!s.wechat.uses_builtin_sandbox());
        assert_eq!(s.wechat.sign_type, SignType::HmacSha256);
        assert!(!format!("{s:?}").contains("topsecretkey"));
        let s = settings(&[("WECHAT_API_BASE", "http://127.0.0.1:8090/sandbox/wechat/")]).unwrap();
        assert!(!s.wechat.uses_builtin_sandbox());
        assert_eq!(
            s.wechat.api_base.as_deref(),
            Some("http://127.0.0.1:8090/sandbox/wechat")
        );
    }

    #[test]
    fn schedules_parse_with_units() {
        let schedule = parse_schedule("X", WECHAT_RETRY_SCHEDULE).unwrap();
        assert_eq!(schedule.len(), 15);
        assert_eq!(
            schedule.iter().sum::<Duration>(),
            Duration::from_secs(24 * 3600 + 4 * 60)
        );
        assert_eq!(
            parse_schedule("X", "100ms, 2s").unwrap(),
            vec![Duration::from_millis(100), Duration::from_secs(2)]
        );
        for bad in ["", "5", "5d", "s", "1s,,2s", "-1s", "99999999999999999h"] {
            assert!(parse_schedule("X", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(settings(&[("REDIS_URL", "localhost:6379")]).is_err());
        assert!(settings(&[("PUBLIC_BASE_URL", "ftp://x")]).is_err());
        assert!(settings(&[("PUBLIC_BASE_URL", "https://pay.example/?a=1")]).is_err());
        assert!(settings(&[("PUBLIC_BASE_URL", "https://u:p@pay.example")]).is_err());
        assert!(settings(&[("PUBLIC_BASE_URL", "https://pay.example/pc/")]).is_ok());
        assert!(settings(&[("DATABASE_POOL_SIZE", "0")]).is_err());
    }
}
