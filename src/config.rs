//! Settings from the environment (a `.env` file is read first by `main`). Secrets and
//! passwords inside URLs never come out through `Debug`.

use crate::channel::wechat::SignType;
pub use crate::domain::PaymentMode;
pub use crate::http::redact_url;
use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// WeChat's notify schedule: the pauses after each failed attempt (about 24 h in all).
pub const WECHAT_RETRY_SCHEDULE: &str = "15s,15s,30s,3m,10m,20m,30m,30m,30m,60m,3h,3h,3h,6h,6h";

/// An origin a browser page may call the storefront and course endpoints from, with
/// credentials (`STOREFRONT_ORIGINS`): `https://shop.example`, `http://localhost:8080`, or any
/// port with `http://localhost:*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    host: String,
    /// `None`: any port.
    port: Option<u16>,
}

impl OriginPattern {
    pub fn parse(text: &str) -> Result<OriginPattern, ConfigError> {
        let bad = || {
            ConfigError(format!(
                "STOREFRONT_ORIGINS must be comma-separated origins like https://shop.example or \
                 http://localhost:*, not {text:?}"
            ))
        };
        let (any_port, rest) = match text.strip_suffix(":*") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let url = url::Url::parse(rest).map_err(|_| bad())?;
        let plain = matches!(url.scheme(), "http" | "https")
            && url.path() == "/"
            && !rest.ends_with('/')
            && url.query().is_none()
            && url.username().is_empty()
            && !(any_port && url.port().is_some());
        if !plain {
            return Err(bad());
        }
        Ok(OriginPattern {
            scheme: url.scheme().to_owned(),
            host: url.host_str().ok_or_else(bad)?.to_owned(),
            port: if any_port {
                None
            } else {
                url.port_or_known_default()
            },
        })
    }

    /// Whether the `Origin` header value `origin` is one this pattern allows.
    pub fn matches(&self, origin: &str) -> bool {
        let Ok(url) = url::Url::parse(origin) else {
            return false;
        };
        url.scheme() == self.scheme
            && url.host_str() == Some(self.host.as_str())
            && self
                .port
                .is_none_or(|p| url.port_or_known_default() == Some(p))
    }
}

/// Every variable the service reads, its default and what it means: `serve --help` prints
/// them, and a test keeps the list equal to what `Settings::from_lookup` reads.
pub const VARIABLES: [(&str, &str, &str); 26] = [
    (
        "PAYMENT_MODE",
        "live with a channel's credentials; sandbox on a loopback BIND_ADDR; else refuse",
        "sandbox or live",
    ),
    (
        "BIND_ADDR",
        "127.0.0.1:8080",
        "where the HTTP server listens",
    ),
    (
        "PUBLIC_BASE_URL",
        "http://<BIND_ADDR>",
        "how the outside reaches the service: notify and checkout URLs",
    ),
    (
        "DATABASE_URL",
        "payment-center.db",
        "a postgres:// URL, or a SQLite file path",
    ),
    (
        "DATABASE_POOL_SIZE",
        "16",
        "database connections per instance, 1-1000 (SQLite: at most 8)",
    ),
    (
        "REDIS_URL",
        "unset (in-process cache)",
        "redis:// or rediss:// URL of the shared cache",
    ),
    (
        "REDIS_KEY_PREFIX",
        "payment-center:",
        "prefix of every Redis key",
    ),
    (
        "DEMO_MERCHANT",
        "true in sandbox mode on SQLite, else false",
        "create and print a demo merchant when there is none",
    ),
    (
        "WECHAT_APP_ID",
        "unset (sandbox account)",
        "WeChat Pay app id; with the next two, live credentials",
    ),
    ("WECHAT_MCH_ID", "unset", "WeChat Pay merchant id"),
    (
        "WECHAT_API_KEY",
        "unset",
        "WeChat Pay API key (never logged)",
    ),
    (
        "WECHAT_API_BASE",
        "sandbox: built-in; live: https://api.mch.weixin.qq.com",
        "WeChat Pay v2 API base",
    ),
    ("WECHAT_SIGN_TYPE", "MD5", "MD5 or HMAC-SHA256"),
    (
        "WEBHOOK_RETRY_SCHEDULE",
        WECHAT_RETRY_SCHEDULE,
        "pauses after each failed webhook attempt",
    ),
    (
        "WEBHOOK_ALLOWED_NETWORKS",
        "unset (sandbox adds loopback)",
        "CIDRs webhooks may reach although not public",
    ),
    (
        "STOREFRONT_ORIGINS",
        "sandbox: http://localhost:*,http://127.0.0.1:*; live: none",
        "origins allowed to call storefront and course paths with credentials (CORS)",
    ),
    (
        "REQUEST_TIMEOUT",
        "10s",
        "time for a request's headers, then its body (100ms-300s)",
    ),
    (
        "SANDBOX_NOTIFY_SCHEDULE",
        "each channel's own (WeChat's above; Alipay's 4m,10m,10m,1h,2h,6h,15h)",
        "pauses between the sandboxes' notify attempts",
    ),
    (
        "SANDBOX_MAX_TRADES",
        "10000",
        "trades the built-in sandbox keeps (oldest forgotten)",
    ),
    (
        "RUN_WORKERS",
        "true",
        "run the webhook and reconcile workers in this process",
    ),
    ("RUST_LOG", "info", "log filter (env_logger)"),
    (
        "ALIPAY_APP_ID",
        "the sandbox's",
        "the app at Alipay Open Platform (with ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY)",
    ),
    (
        "ALIPAY_APP_PRIVATE_KEY",
        "the sandbox's",
        "the app's RSA2 private key: PEM text (PKCS#1 or PKCS#8), bare base64, or @path",
    ),
    (
        "ALIPAY_PUBLIC_KEY",
        "the sandbox's",
        "Alipay's public key for the app: PEM text, bare base64, or @path",
    ),
    (
        "ALIPAY_SELLER_ID",
        "unset",
        "when set, Alipay notifies must carry this seller_id",
    ),
    (
        "ALIPAY_GATEWAY",
        "unset (live: https://openapi.alipay.com/gateway.do)",
        "the Alipay gateway URL",
    ),
];

/// A `postgres://` / `postgresql://` URL, or a SQLite file path whose directory exists: a typo
/// (`mysql://…`, `postgresql//…`, a missing directory) fails here, naming what is wrong, instead
/// of becoming a SQLite file with a strange name or a connection error later.
fn check_database_url(url: &str) -> Result<(), ConfigError> {
    if let Some((scheme, _)) = url.split_once("://") {
        if matches!(scheme, "postgres" | "postgresql") {
            return Ok(());
        }
        return Err(ConfigError(format!(
            "DATABASE_URL: the scheme {scheme}:// is not supported (use postgres://… or a SQLite \
             file path)"
        )));
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("postgres") || lower.starts_with("mysql") || lower.starts_with("sqlite:") {
        return Err(ConfigError(format!(
            "DATABASE_URL {:?} looks like a URL without \"://\" (use postgres://user@host/db, \
             or a SQLite file path)",
            redact_url(url)
        )));
    }
    let path = std::path::Path::new(url);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(ConfigError(format!(
                "DATABASE_URL: the directory {} of the SQLite file does not exist",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// `serve --help`'s list of variables.
pub fn variables_help() -> String {
    let mut text =
        String::from("Environment (a .env file in the working directory is read too):\n");
    for (name, default, meaning) in VARIABLES {
        text.push_str(&format!(
            "  {name}\n      {meaning}\n      default: {default}\n"
        ));
    }
    text
}

/// The longest pause a retry schedule may hold: beyond it a typo (`6000h`) would park an
/// event for months.
const MAX_SCHEDULE_STEP: Duration = Duration::from_secs(24 * 3600);
const MAX_SCHEDULE_STEPS: usize = 50;

#[derive(Clone)]
pub struct Settings {
    /// `PAYMENT_MODE`, or what it defaults to (see `resolve_mode`).
    pub mode: PaymentMode,
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
    pub alipay: AlipaySettings,
    /// Pauses between the sandbox's notify attempts (`SANDBOX_NOTIFY_SCHEDULE`).
    pub sandbox_notify_schedule: Vec<Duration>,
    /// The Alipay sandbox's: `SANDBOX_NOTIFY_SCHEDULE` when set, else Alipay's own.
    pub alipay_sandbox_notify_schedule: Vec<Duration>,
    /// Trades the built-in sandbox keeps before forgetting the oldest (`SANDBOX_MAX_TRADES`).
    pub sandbox_max_trades: usize,
    /// Pauses after each failed webhook attempt (`WEBHOOK_RETRY_SCHEDULE`).
    pub webhook_retry_schedule: Vec<Duration>,
    /// Run the background workers (`RUN_WORKERS`, default true). Tests drive them by hand.
    pub run_workers: bool,
    /// Networks that webhook targets may resolve to although they are not public
    /// (`WEBHOOK_ALLOWED_NETWORKS`); a sandbox adds loopback.
    pub webhook_allowed_networks: Vec<IpNet>,
    /// How long a client may take to send a request's headers, and then its body
    /// (`REQUEST_TIMEOUT`, default 10s): a slow sender cannot hold a connection.
    pub request_timeout: Duration,
    /// Origins whose pages may call the storefront and course endpoints with credentials
    /// (`STOREFRONT_ORIGINS`; a sandbox defaults to any port of localhost and 127.0.0.1).
    pub storefront_origins: Vec<OriginPattern>,
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

/// The app at Alipay Open Platform. No credentials means the sandbox's app, and the built-in
/// sandbox unless `ALIPAY_GATEWAY` points elsewhere.
#[derive(Clone)]
pub struct AlipaySettings {
    pub credentials: Option<AlipayCredentials>,
    pub seller_id: Option<String>,
    pub gateway: Option<String>,
}

/// Keys are parsed when the settings are read: a bad key stops the start, naming the variable.
#[derive(Clone)]
pub struct AlipayCredentials {
    pub app_id: String,
    pub app_private_key: std::sync::Arc<crate::channel::alipay::sign::PrivateKey>,
    pub alipay_public_key: crate::channel::alipay::sign::PublicKey,
}

impl AlipaySettings {
    /// Mount `/sandbox/alipay` and call it: no credentials and no other gateway.
    pub fn uses_builtin_sandbox(&self) -> bool {
        self.credentials.is_none() && self.gateway.is_none()
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
            let pause = Duration::from_millis(millis);
            if pause > MAX_SCHEDULE_STEP {
                return Err(ConfigError(format!(
                    "{name}: each pause must be at most 24h, not {item}"
                )));
            }
            Ok(pause)
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|steps| {
            if steps.len() > MAX_SCHEDULE_STEPS {
                Err(ConfigError(format!(
                    "{name} must have at most {MAX_SCHEDULE_STEPS} pauses"
                )))
            } else {
                Ok(steps)
            }
        })
}

/// `10.0.0.0/8, 192.168.1.7`: CIDRs, or single addresses.
pub fn parse_networks(name: &str, value: &str) -> Result<Vec<IpNet>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError(format!(
                        "{name} must be comma-separated CIDRs like 10.0.0.0/8, not {item:?}"
                    ))
                })
        })
        .collect()
}

/// Whether `BIND_ADDR` listens only on this machine (`127.0.0.1:8080`, `[::1]:0`,
/// `localhost:8080`).
pub fn is_loopback_bind(bind_addr: &str) -> bool {
    if let Ok(addr) = bind_addr.parse::<SocketAddr>() {
        return addr.ip().is_loopback();
    }
    bind_addr
        .rsplit_once(':')
        .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost"))
}

/// `PAYMENT_MODE`, or its default: live when a channel has credentials, sandbox when the
/// service listens on loopback only; otherwise nothing, so that a service reachable from
/// elsewhere never becomes a sandbox (where anyone can "pay") by a forgotten variable.
fn resolve_mode(
    explicit: Option<&str>,
    any_credentials: bool,
    bind_addr: &str,
) -> Result<PaymentMode, ConfigError> {
    match explicit {
        Some("sandbox") => Ok(PaymentMode::Sandbox),
        Some("live") => Ok(PaymentMode::Live),
        Some(other) => Err(ConfigError(format!(
            "PAYMENT_MODE must be sandbox or live, not {other:?}"
        ))),
        None if any_credentials => Ok(PaymentMode::Live),
        None if is_loopback_bind(bind_addr) => Ok(PaymentMode::Sandbox),
        None => Err(ConfigError(format!(
            "BIND_ADDR {bind_addr} is reachable from other machines and no channel has credentials: \
             set PAYMENT_MODE=live (with WECHAT_APP_ID, WECHAT_MCH_ID, WECHAT_API_KEY, or the \
             ALIPAY_ ones) or, for a \
             shared test installation where anyone may simulate payments, PAYMENT_MODE=sandbox"
        ))),
    }
}

/// The WeChat account of a live process: all three variables, or the names of those missing.
fn wechat_credentials(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<WechatCredentials>, ConfigError> {
    const NAMES: [&str; 3] = ["WECHAT_APP_ID", "WECHAT_MCH_ID", "WECHAT_API_KEY"];
    let values = NAMES.map(lookup);
    let missing: Vec<&str> = NAMES
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| *name)
        .collect();
    match missing.len() {
        3 => Ok(None),
        0 => {
            let [app_id, mch_id, api_key] = values.map(Option::unwrap_or_default);
            Ok(Some(WechatCredentials {
                app_id,
                mch_id,
                api_key,
            }))
        }
        _ => Err(ConfigError(format!(
            "WeChat Pay is half-configured: {} missing (set all of WECHAT_APP_ID, WECHAT_MCH_ID \
             and WECHAT_API_KEY)",
            missing.join(" and ")
        ))),
    }
}

/// The Alipay app of a live process: all three variables, or the names of those missing. A
/// key is PEM text, bare base64, or `@path` to a file holding either.
fn alipay_credentials(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<AlipayCredentials>, ConfigError> {
    use crate::channel::alipay::sign::{PrivateKey, PublicKey};
    const NAMES: [&str; 3] = [
        "ALIPAY_APP_ID",
        "ALIPAY_APP_PRIVATE_KEY",
        "ALIPAY_PUBLIC_KEY",
    ];
    let values = NAMES.map(lookup);
    let missing: Vec<&str> = NAMES
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| *name)
        .collect();
    match missing.len() {
        3 => return Ok(None),
        0 => {}
        _ => {
            return Err(ConfigError(format!(
                "Alipay is half-configured: {} missing (set all of ALIPAY_APP_ID, \
                 ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY)",
                missing.join(" and ")
            )))
        }
    }
    let [app_id, private_key, public_key] = values.map(Option::unwrap_or_default);
    let read = |name: &str, value: String| match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{name}: cannot read {path}: {e}"))),
        None => Ok(value),
    };
    let app_private_key = PrivateKey::from_pem(&read("ALIPAY_APP_PRIVATE_KEY", private_key)?)
        .map_err(|e| ConfigError(format!("ALIPAY_APP_PRIVATE_KEY: {e}")))?;
    let alipay_public_key = PublicKey::from_pem(&read("ALIPAY_PUBLIC_KEY", public_key)?)
        .map_err(|e| ConfigError(format!("ALIPAY_PUBLIC_KEY: {e}")))?;
    Ok(Some(AlipayCredentials {
        app_id,
        app_private_key: std::sync::Arc::new(app_private_key),
        alipay_public_key,
    }))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(env)
    }

    /// For the commands that take no payment (`merchant …`, the standalone `sandbox`): an unset
    /// `PAYMENT_MODE` follows the credentials alone, since no one can pay through them.
    pub fn from_env_for_tools() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| {
            env(name).or_else(|| {
                (name == "PAYMENT_MODE").then(|| {
                    let any = [
                        "WECHAT_APP_ID",
                        "WECHAT_MCH_ID",
                        "WECHAT_API_KEY",
                        "ALIPAY_APP_ID",
                        "ALIPAY_APP_PRIVATE_KEY",
                        "ALIPAY_PUBLIC_KEY",
                    ]
                    .iter()
                    .any(|n| env(n).is_some());
                    if any { "live" } else { "sandbox" }.to_owned()
                })
            })
        })
    }

    /// Reads every variable through `lookup`, so tests can pass a map instead of the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let database_url = lookup("DATABASE_URL").unwrap_or_else(|| "payment-center.db".into());
        check_database_url(&database_url)?;
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
        let credentials = wechat_credentials(&lookup)?;
        let alipay_credentials = alipay_credentials(&lookup)?;
        let bind_addr = lookup("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let mode = resolve_mode(
            lookup("PAYMENT_MODE").as_deref(),
            credentials.is_some() || alipay_credentials.is_some(),
            &bind_addr,
        )?;
        if mode == PaymentMode::Sandbox && alipay_credentials.is_some() {
            return Err(ConfigError(
                "PAYMENT_MODE=sandbox with Alipay credentials set: a sandbox never uses real \
                 credentials; unset ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY, \
                 or set PAYMENT_MODE=live"
                    .into(),
            ));
        }
        match (mode, &credentials) {
            (PaymentMode::Live, None) if alipay_credentials.is_none() => {
                return Err(ConfigError(
                    "PAYMENT_MODE=live needs a channel's credentials: WECHAT_APP_ID, \
                     WECHAT_MCH_ID and WECHAT_API_KEY, or ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY \
                     and ALIPAY_PUBLIC_KEY"
                        .into(),
                ))
            }
            (PaymentMode::Sandbox, Some(_)) => {
                return Err(ConfigError(
                    "PAYMENT_MODE=sandbox with WeChat credentials set: a sandbox never uses real \
                     credentials; unset WECHAT_APP_ID, WECHAT_MCH_ID and WECHAT_API_KEY, or set \
                     PAYMENT_MODE=live"
                        .into(),
                ))
            }
            _ => {}
        }
        let demo_merchant = match lookup("DEMO_MERCHANT").as_deref() {
            // The laptop default; a live installation registers its merchants itself.
            None => {
                mode == PaymentMode::Sandbox
                    && crate::db::Backend::from_url(&database_url) == crate::db::Backend::Sqlite
            }
            Some("1" | "true") => true,
            Some("0" | "false") => false,
            Some(_) => return Err(ConfigError("DEMO_MERCHANT must be true or false".into())),
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
        let alipay_gateway = lookup("ALIPAY_GATEWAY")
            .map(|url| {
                let parsed = url::Url::parse(&url);
                if !parsed.is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                    return Err(ConfigError("ALIPAY_GATEWAY must be an http(s) URL".into()));
                }
                Ok(url)
            })
            .transpose()?;
        let sandbox_notify_schedule = parse_schedule(
            "SANDBOX_NOTIFY_SCHEDULE",
            &lookup("SANDBOX_NOTIFY_SCHEDULE").unwrap_or_else(|| WECHAT_RETRY_SCHEDULE.into()),
        )?;
        let alipay_sandbox_notify_schedule = match lookup("SANDBOX_NOTIFY_SCHEDULE") {
            Some(_) => sandbox_notify_schedule.clone(),
            None => crate::channel::alipay::sandbox::NOTIFY_SCHEDULE_SECONDS
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
        };
        let webhook_retry_schedule = parse_schedule(
            "WEBHOOK_RETRY_SCHEDULE",
            &lookup("WEBHOOK_RETRY_SCHEDULE").unwrap_or_else(|| WECHAT_RETRY_SCHEDULE.into()),
        )?;
        let run_workers = match lookup("RUN_WORKERS").as_deref() {
            None | Some("1" | "true") => true,
            Some("0" | "false") => false,
            Some(_) => return Err(ConfigError("RUN_WORKERS must be true or false".into())),
        };
        let mut webhook_allowed_networks = parse_networks(
            "WEBHOOK_ALLOWED_NETWORKS",
            &lookup("WEBHOOK_ALLOWED_NETWORKS").unwrap_or_default(),
        )?;
        if mode == PaymentMode::Sandbox {
            // The sandbox's shop is on this machine.
            for loopback in ["127.0.0.0/8", "::1/128"] {
                webhook_allowed_networks.push(loopback.parse().expect("a CIDR"));
            }
        }
        let request_timeout = match lookup("REQUEST_TIMEOUT") {
            None => Duration::from_secs(10),
            Some(v) => match parse_schedule("REQUEST_TIMEOUT", &v)?.as_slice() {
                [one] if (Duration::from_millis(100)..=Duration::from_secs(300)).contains(one) => {
                    *one
                }
                _ => {
                    return Err(ConfigError(
                        "REQUEST_TIMEOUT must be one duration from 100ms to 300s".into(),
                    ))
                }
            },
        };
        let sandbox_max_trades = match lookup("SANDBOX_MAX_TRADES") {
            None => crate::channel::wechat::sandbox::DEFAULT_CAPACITY,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| ConfigError("SANDBOX_MAX_TRADES must be 1–1000000".into()))?,
        };
        let storefront_origins = match lookup("STOREFRONT_ORIGINS") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(OriginPattern::parse)
                .collect::<Result<Vec<_>, _>>()?,
            None if mode == PaymentMode::Sandbox => vec![
                OriginPattern::parse("http://localhost:*")?,
                OriginPattern::parse("http://127.0.0.1:*")?,
            ],
            None => Vec::new(),
        };
        Ok(Settings {
            mode,
            storefront_origins,
            sandbox_max_trades,
            webhook_allowed_networks,
            request_timeout,
            webhook_retry_schedule,
            run_workers,
            wechat: WechatSettings {
                credentials,
                api_base,
                sign_type,
            },
            alipay: AlipaySettings {
                credentials: alipay_credentials,
                seller_id: lookup("ALIPAY_SELLER_ID"),
                gateway: alipay_gateway,
            },
            sandbox_notify_schedule,
            alipay_sandbox_notify_schedule,
            bind_addr,
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

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("mode", &self.mode)
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
            .field(
                "alipay_app_id",
                &self.alipay.credentials.as_ref().map(|c| c.app_id.as_str()),
            )
            .field("alipay_seller_id", &self.alipay.seller_id)
            .field(
                "alipay_gateway",
                &self.alipay.gateway.as_deref().map(redact_url),
            )
            .field("builtin_sandbox", &self.wechat.uses_builtin_sandbox())
            .field("webhook_retry_schedule", &self.webhook_retry_schedule)
            .field("run_workers", &self.run_workers)
            .field("webhook_allowed_networks", &self.webhook_allowed_networks)
            .field("request_timeout", &self.request_timeout)
            .field("storefront_origins", &self.storefront_origins)
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
    fn alipay_credentials_are_all_or_nothing_parsed_at_start_and_never_printed() {
        use crate::channel::alipay::sandbox::{ALIPAY_PUBLIC_KEY, APP_PRIVATE_KEY};
        let s = settings(&[]).unwrap();
        assert!(s.alipay.uses_builtin_sandbox());
        let half = settings(&[("ALIPAY_APP_ID", "2021")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            half,
            "configuration: Alipay is half-configured: ALIPAY_APP_PRIVATE_KEY and \
             ALIPAY_PUBLIC_KEY missing (set all of ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY and \
             ALIPAY_PUBLIC_KEY)"
        );
        let bad_key = settings(&[
            ("ALIPAY_APP_ID", "2021"),
            ("ALIPAY_APP_PRIVATE_KEY", "not a key"),
            ("ALIPAY_PUBLIC_KEY", ALIPAY_PUBLIC_KEY),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            bad_key.starts_with("configuration: ALIPAY_APP_PRIVATE_KEY: "),
            "{bad_key}"
        );
        assert!(
            !bad_key.contains("not a key"),
            "the key's text is not echoed: {bad_key}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.pem");
        std::fs::write(&path, APP_PRIVATE_KEY).unwrap();
        let from_file = format!("@{}", path.display());
        let live = settings(&[
            ("ALIPAY_APP_ID", "2021"),
            ("ALIPAY_APP_PRIVATE_KEY", &from_file),
            ("ALIPAY_PUBLIC_KEY", ALIPAY_PUBLIC_KEY),
        ])
        .unwrap();
        assert_eq!(live.mode, PaymentMode::Live, "credentials mean live");
        assert!(!live.alipay.uses_builtin_sandbox());
        assert!(!format!("{live:?}").contains("PRIVATE"));
        let sandbox = settings(&[
            ("PAYMENT_MODE", "sandbox"),
            ("ALIPAY_APP_ID", "2021"),
            ("ALIPAY_APP_PRIVATE_KEY", &from_file),
            ("ALIPAY_PUBLIC_KEY", ALIPAY_PUBLIC_KEY),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            sandbox.contains("a sandbox never uses real credentials"),
            "{sandbox}"
        );
    }

    #[test]
    fn database_urls_are_checked_before_use() {
        for (url, says) in [
            ("mysql://root@localhost/pc", "mysql:// is not supported"),
            ("postgresql//postgres@localhost/pc", "without \"://\""),
            ("/no/such/dir/pc.db", "/no/such/dir"),
        ] {
            let e = settings(&[("DATABASE_URL", url)]).unwrap_err().to_string();
            assert!(e.contains("DATABASE_URL") && e.contains(says), "{url}: {e}");
        }
        for good in [
            "postgres://u@h/db",
            "postgresql://u@h/db",
            "pc.db",
            "/tmp/pc.db",
            ":memory:",
        ] {
            assert!(settings(&[("DATABASE_URL", good)]).is_ok(), "{good}");
        }
    }

    #[test]
    fn every_variable_read_is_listed_for_serve_help() {
        let read = std::cell::RefCell::new(Vec::new());
        let _ = Settings::from_lookup(|name| {
            read.borrow_mut().push(name.to_owned());
            None
        });
        let listed: Vec<&str> = VARIABLES.iter().map(|(name, _, _)| *name).collect();
        for name in read.borrow().iter() {
            assert!(
                listed.contains(&name.as_str()),
                "{name} is read but not listed"
            );
        }
        for name in &listed {
            assert!(
                *name == "RUST_LOG" || read.borrow().iter().any(|n| n == name),
                "{name} is listed but never read"
            );
        }
        assert!(variables_help().contains("REQUEST_TIMEOUT"));
    }

    #[test]
    fn the_mode_is_explicit_or_safe() {
        // The laptop default: loopback, no credentials.
        assert_eq!(settings(&[]).unwrap().mode, PaymentMode::Sandbox);
        let creds = [
            ("WECHAT_APP_ID", "wx1"),
            ("WECHAT_MCH_ID", "1"),
            ("WECHAT_API_KEY", "k"),
        ];
        assert_eq!(settings(&creds).unwrap().mode, PaymentMode::Live);
        // Reachable from elsewhere, nothing said: refuse, naming PAYMENT_MODE.
        let e = settings(&[("BIND_ADDR", "0.0.0.0:8080")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("PAYMENT_MODE"), "{e}");
        let public_sandbox =
            settings(&[("BIND_ADDR", "0.0.0.0:8080"), ("PAYMENT_MODE", "sandbox")]).unwrap();
        assert_eq!(public_sandbox.mode, PaymentMode::Sandbox);
        assert!(is_loopback_bind("localhost:8080") && is_loopback_bind("[::1]:0"));
        // Live needs a whole channel, and says what is missing.
        let e = settings(&[("PAYMENT_MODE", "live")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("WECHAT_APP_ID"), "{e}");
        let e = settings(&[("PAYMENT_MODE", "live"), creds[0], creds[1]])
            .unwrap_err()
            .to_string();
        assert!(e.contains("WECHAT_API_KEY missing"), "{e}");
        assert!(!e.contains("WECHAT_APP_ID missing"), "{e}");
        // A sandbox never holds real credentials.
        let mut sandbox_with_creds = creds.to_vec();
        sandbox_with_creds.push(("PAYMENT_MODE", "sandbox"));
        assert!(settings(&sandbox_with_creds).is_err());
        assert!(settings(&[("PAYMENT_MODE", "test")]).is_err());
    }

    #[test]
    fn allowed_networks_and_sandbox_loopback() {
        let s = settings(&[]).unwrap();
        assert!(s
            .webhook_allowed_networks
            .iter()
            .any(|n| n.contains(&"127.0.0.1".parse::<IpAddr>().unwrap())));
        let live = settings(&[
            ("WECHAT_APP_ID", "wx1"),
            ("WECHAT_MCH_ID", "1"),
            ("WECHAT_API_KEY", "k"),
            ("WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8, 192.168.1.7"),
        ])
        .unwrap();
        assert_eq!(live.webhook_allowed_networks.len(), 2);
        assert!(!live
            .webhook_allowed_networks
            .iter()
            .any(|n| n.contains(&"127.0.0.1".parse::<IpAddr>().unwrap())));
        let e = settings(&[("WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/33")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("WEBHOOK_ALLOWED_NETWORKS"), "{e}");
    }

    #[test]
    fn storefront_origins_match_scheme_host_and_port() {
        let any_port = OriginPattern::parse("http://localhost:*").unwrap();
        assert!(any_port.matches("http://localhost:8080"));
        assert!(any_port.matches("http://localhost"));
        assert!(!any_port.matches("https://localhost:8080"));
        assert!(!any_port.matches("http://localhost.evil.example:8080"));
        let shop = OriginPattern::parse("https://shop.example").unwrap();
        assert!(shop.matches("https://shop.example"));
        assert!(shop.matches("https://shop.example:443"));
        assert!(!shop.matches("https://shop.example:8443"));
        assert!(!shop.matches("null"));
        for bad in [
            "shop.example",
            "https://shop.example/",
            "https://shop.example/x",
            "ftp://x",
            "http://a:1:*",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
        let live = settings(&[
            ("WECHAT_APP_ID", "wx1"),
            ("WECHAT_MCH_ID", "1"),
            ("WECHAT_API_KEY", "k"),
        ])
        .unwrap();
        assert!(live.storefront_origins.is_empty(), "live: none unless set");
        assert_eq!(settings(&[]).unwrap().storefront_origins.len(), 2);
    }

    #[test]
    fn out_of_range_settings_are_refused_with_their_name() {
        for (name, value) in [
            ("WEBHOOK_RETRY_SCHEDULE", "15s,876000h"),
            ("SANDBOX_NOTIFY_SCHEDULE", "25h"),
            ("REQUEST_TIMEOUT", "1h"),
            ("REQUEST_TIMEOUT", "1s,2s"),
            ("SANDBOX_MAX_TRADES", "0"),
            ("DATABASE_POOL_SIZE", "100000"),
        ] {
            let e = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(name), "{name}={value}: {e}");
        }
        let many = vec!["1s"; 51].join(",");
        let e = settings(&[("WEBHOOK_RETRY_SCHEDULE", many.as_str())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("WEBHOOK_RETRY_SCHEDULE"), "{e}");
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
