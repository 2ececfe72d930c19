//! Builds everything the service runs on and returns a server bound to its listener, so
//! tests bind port 0 and read the real port.

use crate::api;
use crate::cache::Cache;
use crate::channel::alipay::sandbox::{AlipaySandbox, AlipaySandboxConfig};
use crate::channel::alipay::{self, AlipayChannel, AlipayClient, AlipayConfig};
use crate::channel::wechat::sandbox::{self, Sandbox, SandboxConfig};
use crate::channel::wechat::{self, WechatChannel, WechatClient, WechatConfig};
use crate::channel::{Channel, ChannelId, Channels, CredentialCheck};
use crate::config::Settings;
use crate::core::effects::EffectTargets;
use crate::core::merchants::{self, IssuedCredentials};
use crate::core::payment_batches::PaymentBatches;
use crate::core::AppSnapshots;
use crate::core::AppState;
use crate::db::{self, DbError, DbPool};
use crate::reconcile::ReconcileWorker;
use crate::webhook::{RetrySchedule, TargetPolicy, WebhookWorker};
use crate::workers::{supervise, WorkerStatus};
use actix_web::dev::Server;
use actix_web::middleware::Logger;
use actix_web::{web, App, HttpServer};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a stopping service waits for the workers to finish what they are doing.
const WORKER_STOP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cache: {0}")]
    Cache(String),
    #[error("{0}")]
    Demo(String),
}

/// The state of each background worker, shared with `/readyz`.
#[derive(Default, Clone)]
pub struct Workers {
    pub webhook: Arc<WorkerStatus>,
    pub reconcile: Arc<WorkerStatus>,
}

pub struct Application {
    port: u16,
    public_base_url: String,
    server: Server,
    webhook_worker: Arc<WebhookWorker>,
    reconcile_worker: Arc<ReconcileWorker>,
    run_workers: bool,
    workers: Workers,
    /// Credentials of the demo merchant created by this start, shown once.
    pub demo_merchant: Option<IssuedCredentials>,
}

/// Opens the pool and brings the schema up to date. Fails if the database does not answer.
pub fn open_database(settings: &Settings) -> Result<DbPool, DbError> {
    let pool = db::build_pool(&settings.database_url, settings.database_pool_size);
    let mut conn = db::get_conn(&pool)?;
    db::run_migrations(&mut conn)?;
    Ok(pool)
}

fn ensure_demo_merchant(pool: &DbPool) -> Result<Option<IssuedCredentials>, StartupError> {
    let mut conn = db::get_conn(pool)?;
    if db::merchants::count(&mut conn).map_err(DbError::from)? > 0 {
        return Ok(None);
    }
    merchants::create(&mut conn, "Demo merchant", &["http://127.0.0.1".to_owned()])
        .map(Some)
        .map_err(|e| StartupError::Demo(e.to_string()))
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let metrics = Arc::new(crate::metrics::Metrics::default());
        // The port first: a start that cannot listen must not create (and lose the only
        // printing of) the demo merchant's credentials.
        let listener =
            TcpListener::bind(&settings.bind_addr).map_err(|source| StartupError::Bind {
                addr: settings.bind_addr.clone(),
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.bind_addr.clone(),
            source,
        })?;
        let pool = {
            let settings = settings.clone();
            tokio::task::spawn_blocking(move || open_database(&settings))
                .await
                .map_err(|e| DbError::Unavailable(e.to_string()))??
        };
        let demo_merchant = if settings.demo_merchant {
            let pool = pool.clone();
            tokio::task::spawn_blocking(move || ensure_demo_merchant(&pool))
                .await
                .map_err(|e| StartupError::Demo(e.to_string()))??
        } else {
            None
        };
        let cache = Arc::new(match &settings.redis_url {
            Some(url) => Cache::redis(url, &settings.redis_key_prefix, metrics.clone())
                .map_err(|e| StartupError::Cache(e.to_string()))?,
            None => Cache::memory(),
        });
        let public_base_url = settings
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{local_addr}"));
        let http = WechatClient::http_client();
        let live = settings.mode.is_live();
        let sandbox = (!live && settings.wechat.uses_builtin_sandbox())
            .then(|| web::Data::new(Sandbox::new(sandbox_config(&settings), http.clone())));
        let alipay_sandbox = (!live && settings.alipay.uses_builtin_sandbox()).then(|| {
            web::Data::new(AlipaySandbox::new(
                alipay_sandbox_config(&settings),
                http.clone(),
            ))
        });
        if live {
            log::info!("LIVE mode: real channels, real money");
        } else {
            log::warn!(
                "SANDBOX MODE: payments are simulated and anyone who can reach {public_base_url} \
                 can mark an order paid; orders and webhooks say livemode=false. Set \
                 PAYMENT_MODE=live with the channels' credentials to take real money."
            );
        }
        let wechat_config = wechat_config(&settings, local_addr);
        log::info!("WeChat Pay: {wechat_config:?}");
        let wechat: Arc<dyn Channel> = Arc::new(WechatChannel::new(
            WechatClient::new(wechat_config, http.clone(), metrics.clone()),
            format!("{public_base_url}/notify/wechat"),
            "127.0.0.1".into(),
        ));
        let mut channels = Channels::new();
        // Live: the channels with credentials. Sandbox: both, on their sandboxes.
        if !live || settings.wechat.credentials.is_some() {
            channels = channels.with(wechat);
        }
        if !live || settings.alipay.credentials.is_some() {
            let config = alipay_config(&settings, local_addr);
            log::info!("Alipay: {config:?}");
            channels = channels.with(Arc::new(AlipayChannel::new(
                AlipayClient::new(config, http.clone(), metrics.clone()),
                format!("{public_base_url}/notify/alipay"),
            )));
        }
        let credential_checks: Vec<_> = channels
            .iter()
            .map(|channel| {
                let check = Arc::new(std::sync::Mutex::new(CredentialCheck::Unchecked));
                if live {
                    spawn_credential_check(channel.clone(), check.clone());
                }
                (channel.id(), check)
            })
            .collect();
        // The in-process cache always answers; Redis may not.
        if let Err(e) = cache.ping().await {
            log::warn!(
                "Redis does not answer ({e}): serving from the database until it does; \
                 /readyz reports it"
            );
        }
        let webhook_wakeup = Arc::new(Notify::new());
        let snapshots = Arc::new(AppSnapshots::default());
        let reconcile_worker = Arc::new(ReconcileWorker::new(
            pool.clone(),
            channels.clone(),
            EffectTargets {
                webhook_wakeup: webhook_wakeup.clone(),
                cache: cache.clone(),
                snapshots: snapshots.clone(),
                metrics: metrics.clone(),
            },
        ));
        let target_policy = TargetPolicy::new(&settings.webhook_allowed_networks);
        let webhook_worker = Arc::new(WebhookWorker::new(
            pool.clone(),
            target_policy,
            RetrySchedule(settings.webhook_retry_schedule.clone()),
            webhook_wakeup.clone(),
            metrics.clone(),
        ));
        let workers = Workers::default();
        let state = web::Data::new(AppState {
            webhook_wakeup,
            pool,
            cache,
            snapshots,
            metrics: metrics.clone(),
            public_base_url: public_base_url.clone(),
            channels,
            sandboxes: [
                sandbox.as_ref().map(|_| ChannelId::Wechat),
                alipay_sandbox.as_ref().map(|_| ChannelId::Alipay),
            ]
            .into_iter()
            .flatten()
            .collect(),
            mode: settings.mode,
            workers: vec![
                ("webhook", workers.webhook.clone()),
                ("reconcile", workers.reconcile.clone()),
            ],
            refused_notifies: Default::default(),
            payment_batches: PaymentBatches::for_backend(db::Backend::from_url(
                &settings.database_url,
            )),
            credential_checks,
            openapi_json: api::served_openapi(&public_base_url).into(),
        });
        let origins = web::Data::new(api::StorefrontOrigins(settings.storefront_origins.clone()));
        let server = run(
            listener,
            state,
            origins,
            Sandboxes {
                wechat: sandbox,
                alipay: alipay_sandbox,
            },
            settings.request_timeout,
        )
        .map_err(|source| StartupError::Bind {
            addr: settings.bind_addr.clone(),
            source,
        })?;
        Ok(Application {
            port: local_addr.port(),
            public_base_url,
            server,
            webhook_worker,
            reconcile_worker,
            run_workers: settings.run_workers,
            workers,
            demo_merchant,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_base_url(&self) -> &str {
        &self.public_base_url
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The webhook worker, for tests that drive it one step at a time.
    pub fn webhook_worker(&self) -> Arc<WebhookWorker> {
        self.webhook_worker.clone()
    }

    /// Where each background worker is (what `/readyz` reports).
    pub fn workers(&self) -> Workers {
        self.workers.clone()
    }

    /// The reconcile worker, for tests that drive it one step at a time.
    pub fn reconcile_worker(&self) -> Arc<ReconcileWorker> {
        self.reconcile_worker.clone()
    }

    /// Serves (and runs the workers) until SIGINT/SIGTERM or the handle stops it; then lets
    /// in-flight requests and webhook attempts finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (stop_workers, stopped) = tokio::sync::watch::channel(false);
        let workers = if self.run_workers {
            let webhook = self.webhook_worker.clone();
            let reconcile = self.reconcile_worker.clone();
            let (webhook_stop, reconcile_stop) = (stopped.clone(), stopped.clone());
            vec![
                tokio::spawn(supervise(
                    "webhook worker",
                    self.workers.webhook.clone(),
                    move || webhook.clone().run(webhook_stop.clone()),
                    stopped.clone(),
                )),
                tokio::spawn(supervise(
                    "reconcile worker",
                    self.workers.reconcile.clone(),
                    move || reconcile.clone().run(reconcile_stop.clone()),
                    stopped,
                )),
            ]
        } else {
            Vec::new()
        };
        let served = self.server.await;
        let _ = stop_workers.send(true);
        let all = futures_util::future::join_all(workers);
        if tokio::time::timeout(WORKER_STOP_TIMEOUT, all)
            .await
            .is_err()
        {
            log::warn!("the workers did not stop within {WORKER_STOP_TIMEOUT:?}");
        }
        served
    }
}

/// Verifies the live account without money, in the background (an unreachable WeChat must not
/// stop the start); the result goes to the log and, through `check`, to /readyz.
fn spawn_credential_check(
    channel: Arc<dyn Channel>,
    check: Arc<std::sync::Mutex<CredentialCheck>>,
) {
    tokio::spawn(async move {
        let found = channel.check_credentials().await;
        let name = channel.id().display_name();
        match &found {
            CredentialCheck::Accepted => log::info!(
                "{name}: credentials accepted (a query for a trade that cannot exist was \
                 answered as from our account)"
            ),
            CredentialCheck::Refused(e) => log::error!("{name} refused the credentials: {e}"),
            CredentialCheck::Unreachable(e) => {
                log::warn!("{name} did not answer the credential check: {e}")
            }
            CredentialCheck::Unchecked => {}
        }
        *check.lock().unwrap_or_else(|e| e.into_inner()) = found;
    });
}

/// The sandbox's own account, and its notify schedule.
fn sandbox_config(settings: &Settings) -> SandboxConfig {
    SandboxConfig {
        app_id: wechat::SANDBOX_APP_ID.into(),
        mch_id: wechat::SANDBOX_MCH_ID.into(),
        api_key: wechat::SANDBOX_API_KEY.into(),
        notify_schedule: settings.sandbox_notify_schedule.clone(),
        max_trades: settings.sandbox_max_trades,
    }
}

/// `payment-center sandbox keys`: what a client needs to talk to the sandboxes.
pub fn sandbox_keys_json() -> String {
    serde_json::json!({
        "wechat": {
            "appid": wechat::SANDBOX_APP_ID,
            "mch_id": wechat::SANDBOX_MCH_ID,
            "key": wechat::SANDBOX_API_KEY,
        },
        "alipay": {
            "app_id": alipay::sandbox::APP_ID,
            "seller_id": alipay::sandbox::SELLER_ID,
            "app_private_key": alipay::sandbox::APP_PRIVATE_KEY,
            "app_public_key": alipay::sandbox::APP_PUBLIC_KEY,
            "alipay_public_key": alipay::sandbox::ALIPAY_PUBLIC_KEY,
            "alipay_private_key": alipay::sandbox::ALIPAY_PRIVATE_KEY,
        },
    })
    .to_string()
}

/// The Alipay sandbox's app and keys, and its notify schedule.
fn alipay_sandbox_config(settings: &Settings) -> AlipaySandboxConfig {
    let sandbox_keys = alipay::sandbox::keys();
    AlipaySandboxConfig {
        app_id: alipay::sandbox::APP_ID.into(),
        seller_id: alipay::sandbox::SELLER_ID.into(),
        app_public_key: sandbox_keys.app_public_key,
        alipay_private_key: sandbox_keys.alipay_private_key,
        notify_schedule: settings.alipay_sandbox_notify_schedule.clone(),
        max_trades: settings.sandbox_max_trades,
    }
}

/// Real credentials go to `openapi.alipay.com` (or `ALIPAY_GATEWAY`); none use the sandbox's
/// app and keys, against the built-in sandbox on this listener unless `ALIPAY_GATEWAY` names
/// another.
fn alipay_config(settings: &Settings, local_addr: SocketAddr) -> AlipayConfig {
    let alipay = &settings.alipay;
    let (app_id, app_private_key, alipay_public_key, default_gateway, default_seller) =
        match &alipay.credentials {
            Some(c) => (
                c.app_id.clone(),
                c.app_private_key.clone(),
                c.alipay_public_key.clone(),
                alipay::PRODUCTION_GATEWAY.to_owned(),
                None,
            ),
            None => {
                let keys = alipay::sandbox::keys();
                (
                    alipay::sandbox::APP_ID.to_owned(),
                    keys.app_private_key,
                    keys.alipay_public_key,
                    format!(
                        "http://{}{}/gateway.do",
                        loopback(local_addr),
                        alipay::sandbox::MOUNT
                    ),
                    Some(alipay::sandbox::SELLER_ID.to_owned()),
                )
            }
        };
    AlipayConfig {
        app_id,
        app_private_key,
        alipay_public_key,
        seller_id: alipay.seller_id.clone().or(default_seller),
        gateway: alipay.gateway.clone().unwrap_or(default_gateway),
    }
}

/// The bound address, with an unspecified IP (0.0.0.0) replaced by loopback: how this process
/// calls its own sandboxes.
fn loopback(local_addr: SocketAddr) -> SocketAddr {
    let mut loopback = local_addr;
    if loopback.ip().is_unspecified() {
        loopback.set_ip(match local_addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    loopback
}

/// Real credentials go to `api.mch.weixin.qq.com` (or `WECHAT_API_BASE`); none use the
/// sandbox's account, against the built-in sandbox on this very listener unless
/// `WECHAT_API_BASE` names another.
fn wechat_config(settings: &Settings, local_addr: SocketAddr) -> WechatConfig {
    let sandbox = || format!("http://{}{}", loopback(local_addr), sandbox::MOUNT);
    let (app_id, mch_id, api_key, default_base) = match &settings.wechat.credentials {
        Some(c) => (
            c.app_id.clone(),
            c.mch_id.clone(),
            c.api_key.clone(),
            wechat::PRODUCTION_API_BASE.to_owned(),
        ),
        None => (
            wechat::SANDBOX_APP_ID.to_owned(),
            wechat::SANDBOX_MCH_ID.to_owned(),
            wechat::SANDBOX_API_KEY.to_owned(),
            sandbox(),
        ),
    };
    WechatConfig {
        app_id,
        mch_id,
        api_key,
        api_base: settings.wechat.api_base.clone().unwrap_or(default_base),
        sign_type: settings.wechat.sign_type,
    }
}

fn request_logger() -> Logger {
    Logger::new("remote=%a request=\"%{request}xi\" status=%s bytes=%b ms=%D")
        .custom_request_replace("request", request_line)
}

/// `payment-center sandbox`: only the simulated WeChat Pay, at `/sandbox/wechat`.
pub struct SandboxServer {
    port: u16,
    server: Server,
}

impl SandboxServer {
    pub fn build(settings: &Settings) -> Result<SandboxServer, StartupError> {
        let bind_error = |source| StartupError::Bind {
            addr: settings.bind_addr.clone(),
            source,
        };
        let listener = TcpListener::bind(&settings.bind_addr).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let sandbox = web::Data::new(Sandbox::new(
            sandbox_config(settings),
            WechatClient::http_client(),
        ));
        let alipay_sandbox = web::Data::new(AlipaySandbox::new(
            alipay_sandbox_config(settings),
            WechatClient::http_client(),
        ));
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::Condition::new(
                    log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info),
                    request_logger(),
                ))
                .service(
                    web::scope(sandbox::MOUNT)
                        .app_data(sandbox.clone())
                        .configure(sandbox::configure),
                )
                .service(
                    web::scope(alipay::sandbox::MOUNT)
                        .app_data(alipay_sandbox.clone())
                        .configure(alipay::sandbox::configure),
                )
                .default_service(web::to(api::not_found))
        })
        .listen(listener)
        .map_err(bind_error)?
        .run();
        Ok(SandboxServer { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// `METHOD /path` fit for logs: no query string (legacy endpoints carry ids there), and a
/// checkout token, being a capability, shortened to its first characters.
fn request_line(req: &actix_web::dev::ServiceRequest) -> String {
    format!("{} {}", req.method(), redacted_path(req.path()))
}

fn redacted_path(path: &str) -> String {
    let Some(at) = path.find("/checkout/ct_") else {
        return path.to_owned();
    };
    let token_start = at + "/checkout/".len();
    let token_end = path[token_start..]
        .find('/')
        .map_or(path.len(), |i| token_start + i);
    let shown = (token_start + 7).min(token_end);
    format!("{}…{}", &path[..shown], &path[token_end..])
}

/// The built-in sandboxes this process mounts (sandbox mode, no other API base).
struct Sandboxes {
    wechat: Option<web::Data<Sandbox>>,
    alipay: Option<web::Data<AlipaySandbox>>,
}

fn run(
    listener: TcpListener,
    state: web::Data<AppState>,
    origins: web::Data<api::StorefrontOrigins>,
    sandboxes: Sandboxes,
    request_timeout: Duration,
) -> std::io::Result<Server> {
    let body_timeout = web::Data::new(crate::http::body::BodyTimeout(request_timeout));
    let server = HttpServer::new(move || {
        let mut app = App::new()
            .wrap(actix_web::middleware::from_fn(api::cors))
            .wrap(actix_web::middleware::from_fn(api::observe))
            .wrap(actix_web::middleware::Condition::new(
                log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info),
                request_logger(),
            ))
            .app_data(state.clone())
            .app_data(origins.clone())
            .app_data(body_timeout.clone());
        // The sandboxes' scopes first: the API's route table takes every path that reaches it.
        if let Some(sandbox) = &sandboxes.wechat {
            app = app.service(
                web::scope(sandbox::MOUNT)
                    .app_data(sandbox.clone())
                    .configure(sandbox::configure),
            );
        }
        if let Some(sandbox) = &sandboxes.alipay {
            app = app.service(
                web::scope(alipay::sandbox::MOUNT)
                    .app_data(sandbox.clone())
                    .configure(alipay::sandbox::configure),
            );
        }
        app.configure(api::configure)
            .default_service(web::to(api::not_found))
    })
    // Headers must arrive within the request timeout (then 408); bodies are read against the
    // same clock by `http::body::read_capped`. An idle keep-alive connection is dropped after 30 s.
    .client_request_timeout(request_timeout)
    .client_disconnect_timeout(Duration::from_secs(2))
    .keep_alive(Duration::from_secs(30))
    .listen(listener)?
    .shutdown_timeout(30)
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::redacted_path;

    #[test]
    fn checkout_tokens_are_cut_in_logged_paths() {
        let token = "ct_Egw8luyvtRPR0xpWR1e3isTaBo1P4RPb";
        assert_eq!(
            redacted_path(&format!("/checkout/{token}")),
            "/checkout/ct_Egw8…"
        );
        assert_eq!(
            redacted_path(&format!("/v1/checkout/{token}/qr.svg")),
            "/v1/checkout/ct_Egw8…/qr.svg"
        );
        assert_eq!(
            redacted_path("/v1/orders/product_1"),
            "/v1/orders/product_1"
        );
    }
}
