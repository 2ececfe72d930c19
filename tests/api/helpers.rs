//! `spawn_app()`: the real service on port 0, on a fresh database of its own (a SQLite file by
//! default; a Postgres database cloned from a migrated template when `TEST_DATABASE_URL` is
//! set) and the in-process cache (Redis, under a key prefix of its own, when `TEST_REDIS_URL`
//! is set).

use diesel::pg::PgConnection;
use diesel::{Connection, QueryDsl, RunQueryDsl};
use payment_center::config::Settings;
use payment_center::core::merchants;
use payment_center::db::{self, DbPool};
use payment_center::domain::random_string;
use payment_center::reconcile::ReconcileWorker;
use payment_center::startup::Application;
use payment_center::webhook::WebhookWorker;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::{Mutex, OnceLock};

pub struct TestApp {
    pub address: String,
    pub pool: DbPool,
    pub client: reqwest::Client,
    pub database_url: String,
    pub merchant: TestMerchant,
    pub webhook_worker: Arc<WebhookWorker>,
    pub reconcile_worker: Arc<ReconcileWorker>,
    /// Where each background worker is (what /readyz reports).
    pub workers: payment_center::startup::Workers,
    settings: Settings,
    handle: actix_web::dev::ServerHandle,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Keeps the database alive (and drops it last).
    _database: Arc<TestDatabase>,
}

#[derive(Debug, Clone)]
pub struct TestMerchant {
    pub id: String,
    pub api_key: String,
    pub notify_secret: String,
}

pub fn test_redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// `TEST_DATABASE_URL`, with `sslmode=disable` unless it names an sslmode. The test server is
/// local, so TLS would only cost time; and libpq's TLS is OpenSSL, whose clean-up at process
/// exit crashes the test binary (SIGSEGV after every test passed) when a thread of a finished
/// test's pool is still connecting at that moment. Without TLS, libpq never touches OpenSSL.
pub fn test_postgres_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())?;
    let mut parsed = url::Url::parse(&url).expect("TEST_DATABASE_URL is a URL");
    if !parsed.query_pairs().any(|(name, _)| name == "sslmode") {
        parsed.query_pairs_mut().append_pair("sslmode", "disable");
    }
    Some(parsed.to_string())
}

/// Settings for a test service on `database_url`, read from a map the way the service reads
/// its environment; `spawn_app_with` may change anything after.
pub fn test_settings(database_url: &str) -> Settings {
    let mut vars = HashMap::from([
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
        ("DATABASE_POOL_SIZE", "8".to_owned()),
        ("DEMO_MERCHANT", "false".to_owned()),
        (
            "REDIS_KEY_PREFIX",
            format!("pc-test:{}:", random_string(12)),
        ),
        // The sandbox retries an unacknowledged notify quickly in tests.
        ("SANDBOX_NOTIFY_SCHEDULE", "200ms,200ms,200ms".to_owned()),
        // Tests drive the workers one step at a time; a failed webhook is due again at once.
        ("RUN_WORKERS", "false".to_owned()),
        ("WEBHOOK_RETRY_SCHEDULE", "0s,0s,0s".to_owned()),
    ]);
    if let Some(redis) = test_redis_url() {
        vars.insert("REDIS_URL", redis);
    }
    Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings are valid")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let database = Arc::new(TestDatabase::create());
    let mut settings = test_settings(database.url());
    adjust(&mut settings);
    let pool = db::build_pool(database.url(), 4);
    let Started {
        address,
        handle,
        webhook_worker,
        reconcile_worker,
        workers,
        running,
    } = start(settings.clone()).await;
    let merchant = create_merchant(
        &pool,
        "天天吃货",
        &["http://127.0.0.1", "http://localhost:8088"],
    );
    TestApp {
        address,
        pool,
        client: reqwest::Client::new(),
        database_url: database.url().to_owned(),
        merchant,
        webhook_worker,
        reconcile_worker,
        workers,
        settings,
        handle,
        running,
        _database: database,
    }
}

struct Started {
    address: String,
    handle: actix_web::dev::ServerHandle,
    webhook_worker: Arc<WebhookWorker>,
    reconcile_worker: Arc<ReconcileWorker>,
    workers: payment_center::startup::Workers,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(settings: Settings) -> Started {
    let app = Application::build(settings).await.expect("the app starts");
    Started {
        address: app.public_base_url().to_owned(),
        handle: app.handle(),
        webhook_worker: app.webhook_worker(),
        reconcile_worker: app.reconcile_worker(),
        workers: app.workers(),
        running: tokio::spawn(app.run_until_stopped()),
    }
}

impl TestApp {
    /// Stops this instance and starts a new one on the same database and settings (a new
    /// port, a new built-in sandbox), as after a restart.
    pub async fn restart(mut self) -> TestApp {
        self.handle.stop(true).await;
        let started = start(self.settings.clone()).await;
        self.address = started.address;
        self.handle = started.handle;
        self.webhook_worker = started.webhook_worker;
        self.reconcile_worker = started.reconcile_worker;
        self.workers = started.workers;
        self.running = started.running;
        self
    }

    /// Another instance beside this one, on the same database and Redis (same settings, its own
    /// port): its base URL and its handle.
    pub async fn another_instance(&self) -> (String, actix_web::dev::ServerHandle) {
        let started = start(self.settings.clone()).await;
        (started.address, started.handle)
    }

    /// Stops gracefully and waits until the server and its workers have finished.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.handle.stop(true).await;
        (&mut self.running).await.expect("the service task")
    }
}

pub fn create_merchant(pool: &DbPool, name: &str, prefixes: &[&str]) -> TestMerchant {
    let mut conn = pool.get().expect("a connection");
    let prefixes: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
    let issued = merchants::create(&mut conn, name, &prefixes).expect("merchant created");
    TestMerchant {
        id: issued.merchant_id.as_str().to_owned(),
        api_key: issued.api_key.expose().to_owned(),
        notify_secret: issued.notify_secret.expose().to_owned(),
    }
}

/// A valid create request for merchant_order_id `id`.
pub fn order_body(id: &str) -> Value {
    json!({
        "merchant_order_id": id,
        "merchant_user_id": "190815GTKCBSS7MW",
        "amount": 1,
        "pay_method": "wechat",
        "return_url": "http://localhost:8088/orders/notifyMerchantOrderPaid",
        "description": "天天吃货-付款用户[190815GTKCBSS7MW]",
        "expire_minutes": 120
    })
}

impl TestApp {
    /// The settings this instance runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_order_as(&self, api_key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/orders"))
            .bearer_auth(api_key)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_order(&self, body: &Value) -> reqwest::Response {
        self.post_order_as(&self.merchant.api_key, body).await
    }

    pub async fn get_order_as(&self, api_key: &str, merchant_order_id: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/v1/orders/{merchant_order_id}")))
            .bearer_auth(api_key)
            .send()
            .await
            .expect("request sent")
    }

    pub fn order_count(&self) -> i64 {
        use payment_center::db::schema::orders;
        let mut conn = self.pool.get().expect("a connection");
        orders::table
            .count()
            .get_result(&mut **conn)
            .expect("count orders")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; the database is dropped after this by `_database`.
        drop(self.handle.stop(false));
    }
}

/// The `{"error": {"code", "message"}}` of a response, asserting its status.
pub async fn error_of(response: reqwest::Response, status: u16) -> (String, String) {
    assert_eq!(response.status().as_u16(), status, "status");
    let body: Value = response.json().await.expect("a JSON error body");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_owned();
    (code, message)
}

pub enum TestDatabase {
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
        name: String,
        admin_url: String,
    },
}

impl TestDatabase {
    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }

    pub fn create() -> TestDatabase {
        match test_postgres_url() {
            Some(admin_url) => {
                let template = postgres_template(&admin_url);
                let name = format!("pc_test_{}", random_string(16).to_lowercase());
                let mut admin = PgConnection::establish(&admin_url).expect("admin connection");
                let _serial = CREATE_DATABASE.lock().unwrap_or_else(|e| e.into_inner());
                diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
                    .execute(&mut admin)
                    .expect("create the test database from the template");
                TestDatabase::Postgres {
                    url: with_database(&admin_url, &name),
                    name,
                    admin_url,
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = dir.path().join("test.db").to_string_lossy().into_owned();
                TestDatabase::Sqlite { url, _dir: dir }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres {
            name, admin_url, ..
        } = self
        {
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

static CREATE_DATABASE: Mutex<()> = Mutex::new(());
static TEMPLATE: OnceLock<String> = OnceLock::new();

fn with_database(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(name);
    url.to_string()
}

/// A database migrated once and cloned for every test. Its name carries a fingerprint of the
/// migrations, so a changed migration makes a new template instead of reusing a stale one.
fn postgres_template(admin_url: &str) -> String {
    TEMPLATE
        .get_or_init(|| {
            let mut fingerprint = Sha256::new();
            let mut files: Vec<_> = walk(&format!(
                "{}/migrations/postgres",
                env!("CARGO_MANIFEST_DIR")
            ));
            files.sort();
            for file in files {
                fingerprint.update(file.as_bytes());
                fingerprint.update(std::fs::read(&file).expect("read migration"));
            }
            let name = format!("pc_template_{}", &hex::encode(fingerprint.finalize())[..16]);
            let mut admin =
                PgConnection::establish(admin_url).expect("connect to TEST_DATABASE_URL");
            // Several test processes may start at once: one creates the template, the others wait.
            diesel::sql_query("SELECT pg_advisory_lock(8080)")
                .execute(&mut admin)
                .expect("lock");
            let exists = diesel::sql_query(format!(
                "SELECT datname FROM pg_database WHERE datname = '{name}'"
            ))
            .execute(&mut admin)
            .expect("look up the template")
                > 0;
            if !exists {
                // Templates of older migrations are of no use any more.
                #[derive(diesel::QueryableByName)]
                struct Datname {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    datname: String,
                }
                let stale: Vec<Datname> = diesel::sql_query(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'pc\\_template\\_%'",
                )
                .load(&mut admin)
                .expect("list templates");
                for old in stale {
                    let _ = diesel::sql_query(format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        old.datname
                    ))
                    .execute(&mut admin);
                }
                let building = format!("{name}_building");
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                    .execute(&mut admin)
                    .expect("drop a half-built template");
                diesel::sql_query(format!("CREATE DATABASE {building}"))
                    .execute(&mut admin)
                    .expect("create the template");
                {
                    let pool = db::build_pool(&with_database(admin_url, &building), 1);
                    let mut conn = pool.get().expect("connect to the template");
                    db::run_migrations(&mut conn).expect("migrate the template");
                }
                // The migration's connection may take a moment to be gone.
                let rename = format!("ALTER DATABASE {building} RENAME TO {name}");
                let mut tries = 0;
                while let Err(e) = diesel::sql_query(&rename).execute(&mut admin) {
                    tries += 1;
                    assert!(tries < 50, "publish the template: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
            diesel::sql_query("SELECT pg_advisory_unlock(8080)")
                .execute(&mut admin)
                .expect("unlock");
            name
        })
        .clone()
}

fn walk(dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read migrations") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path.to_string_lossy()));
        } else {
            out.push(path.to_string_lossy().into_owned());
        }
    }
    out
}

impl TestApp {
    /// Creates `merchant_order_id` for the app's merchant and answers the order object.
    pub async fn create_order(&self, merchant_order_id: &str) -> Value {
        let response = self.post_order(&order_body(merchant_order_id)).await;
        assert_eq!(
            response.status().as_u16(),
            201,
            "create {merchant_order_id}"
        );
        response.json().await.unwrap()
    }

    pub async fn native_as(&self, api_key: &str, merchant_order_id: &str) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/v1/orders/{merchant_order_id}/wechat/native")))
            .bearer_auth(api_key)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn native(&self, merchant_order_id: &str) -> reqwest::Response {
        self.native_as(&self.merchant.api_key, merchant_order_id)
            .await
    }

    pub async fn checkout(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/v1/checkout/{token}")))
            .send()
            .await
            .expect("request sent")
    }

    /// What the built-in sandbox knows of a trade (`GET /sandbox/wechat/trades/{no}`).
    pub async fn sandbox_trade(&self, out_trade_no: &str) -> Value {
        let response = self
            .client
            .get(self.url(&format!("/sandbox/wechat/trades/{out_trade_no}")))
            .send()
            .await
            .expect("request sent");
        assert_eq!(
            response.status().as_u16(),
            200,
            "sandbox trade {out_trade_no}"
        );
        response.json().await.unwrap()
    }

    pub async fn simulate_pay(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/sandbox/wechat/simulate-pay"))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Posts raw XML to a sandbox endpoint (`/pay/unifiedorder`, …) and answers the raw reply.
    pub async fn sandbox_call(&self, path: &str, xml: String) -> String {
        let response = self
            .client
            .post(self.url(&format!("/sandbox/wechat{path}")))
            .header("Content-Type", "text/xml")
            .body(xml)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status().as_u16(), 200);
        response.text().await.unwrap()
    }

    /// Test set-up straight in the store: moves an order to `status` / `expires_at`.
    pub fn update_order(
        &self,
        merchant_order_id: &str,
        status: &str,
        expires_at: Option<chrono::NaiveDateTime>,
    ) {
        use diesel::ExpressionMethods;
        use payment_center::db::schema::orders;
        let mut conn = self.pool.get().expect("a connection");
        let target = orders::table.filter(orders::merchant_order_id.eq(merchant_order_id));
        let updated = match expires_at {
            Some(t) => diesel::update(target)
                .set((orders::status.eq(status), orders::expires_at.eq(t)))
                .execute(&mut **conn),
            None => diesel::update(target)
                .set(orders::status.eq(status))
                .execute(&mut **conn),
        };
        assert_eq!(updated.expect("update order"), 1);
    }
}

/// Polls `check` until it answers `Some`, for at most `within`.
pub async fn eventually<T, F, Fut>(within: std::time::Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

impl TestApp {
    /// Posts a notify body to `/notify/wechat`; answers (return_code, return_msg).
    pub async fn post_notify(&self, xml: &str) -> (String, String) {
        let response = self
            .client
            .post(self.url("/notify/wechat"))
            .header("Content-Type", "text/xml")
            .body(xml.to_owned())
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status().as_u16(), 200);
        let fields = crate::wechat_raw::parse(&response.text().await.unwrap());
        (fields["return_code"].clone(), fields["return_msg"].clone())
    }

    /// Creates an order returning to `return_url` and opens its NATIVE trade; answers the order.
    pub async fn order_with_trade(&self, merchant_order_id: &str, return_url: &str) -> Value {
        let mut body = order_body(merchant_order_id);
        body["return_url"] = json!(return_url);
        let response = self.post_order(&body).await;
        assert_eq!(response.status().as_u16(), 201);
        let order: Value = response.json().await.unwrap();
        assert_eq!(self.native(merchant_order_id).await.status().as_u16(), 200);
        order
    }

    pub async fn get_order(&self, merchant_order_id: &str) -> Value {
        let response = self
            .get_order_as(&self.merchant.api_key, merchant_order_id)
            .await;
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    /// `GET /v1/orders/{id}/webhooks` → the list.
    pub async fn webhooks(&self, merchant_order_id: &str) -> Vec<Value> {
        let response = self
            .client
            .get(self.url(&format!("/v1/orders/{merchant_order_id}/webhooks")))
            .bearer_auth(&self.merchant.api_key)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        body["webhooks"].as_array().unwrap().clone()
    }

    /// Rows of a table, counted in the store (for "exactly one" assertions).
    pub fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.pool.get().expect("a connection");
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result::<Count>(&mut **conn)
            .expect("count")
            .n
    }

    /// Runs SQL straight on the store (test set-up and fault injection).
    pub fn execute(&self, sql: &str) {
        let mut conn = self.pool.get().expect("a connection");
        diesel::sql_query(sql).execute(&mut **conn).expect(sql);
    }
}

impl TestApp {
    /// Moves one sandbox trade back in time, as if placed `seconds` earlier (WeChat's
    /// five-minute close rule, expiry).
    pub async fn age_sandbox_trade(&self, out_trade_no: &str, seconds: i64) {
        let response = self
            .client
            .post(self.url(&format!("/sandbox/wechat/trades/{out_trade_no}/age")))
            .json(&json!({ "seconds": seconds }))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status().as_u16(), 200);
    }

    /// The order's trades as stored, by out_trade_no.
    pub fn trades(&self, order_id: &str) -> Vec<payment_center::db::channel_trades::ChannelTrade> {
        use diesel::{ExpressionMethods, SelectableHelper};
        use payment_center::db::channel_trades::ChannelTrade;
        use payment_center::db::schema::channel_trades;
        let mut conn = self.pool.get().expect("a connection");
        channel_trades::table
            .filter(channel_trades::order_id.eq(order_id))
            .order(channel_trades::out_trade_no.asc())
            .select(ChannelTrade::as_select())
            .load(&mut **conn)
            .expect("load trades")
    }

    /// Makes every pending look at the order's trades due now (as if its time had come).
    pub fn make_trades_due(&self, order_id: &str) {
        use diesel::ExpressionMethods;
        use payment_center::db::schema::channel_trades;
        let past = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
        let mut conn = self.pool.get().expect("a connection");
        diesel::update(
            channel_trades::table
                .filter(channel_trades::order_id.eq(order_id))
                .filter(channel_trades::next_query_at.is_not_null()),
        )
        .set(channel_trades::next_query_at.eq(past))
        .execute(&mut **conn)
        .expect("make due");
    }

    /// The order's expiry passed a moment ago (its trades' looks fall due with it, as they do
    /// in life: no look is ever scheduled past the order's expiry).
    pub fn expire(&self, merchant_order_id: &str) {
        let order_id = {
            let mut conn = self.pool.get().expect("a connection");
            payment_center::db::orders::find_by_merchant_order_id(
                &mut conn,
                &self.merchant.id,
                merchant_order_id,
            )
            .expect("find")
            .expect("the order exists")
            .id
        };
        let past = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
        self.update_order(merchant_order_id, "WAIT_PAY", Some(past));
        self.make_trades_due(&order_id);
    }
}

/// A standalone sandbox (what `payment-center sandbox` runs) on port 0, repeating unacknowledged
/// notifies after each pause of `schedule`: its base URL and its handle.
pub fn start_sandbox(schedule: Vec<std::time::Duration>) -> (String, actix_web::dev::ServerHandle) {
    let mut settings = test_settings("unused.db");
    settings.sandbox_notify_schedule = schedule;
    let sandbox =
        payment_center::startup::SandboxServer::build(&settings).expect("the sandbox starts");
    let base = format!("http://127.0.0.1:{}/sandbox/wechat", sandbox.port());
    let handle = sandbox.handle();
    tokio::spawn(sandbox.run_until_stopped());
    (base, handle)
}

/// What the merchant's own webhook endpoint subscribes to in tests that follow an order's
/// whole life: every event but `order.paid`, which its return_url hears of.
pub const ALL_BUT_PAID: [&str; 3] = [
    "order.closed",
    "order.paid_after_close",
    "order.duplicate_payment",
];

impl TestApp {
    /// `POST /v1/webhook-endpoints`; answers the endpoint, asserting 201.
    pub async fn add_endpoint(&self, url: &str, events: &[&str]) -> Value {
        let response = self
            .client
            .post(self.url("/v1/webhook-endpoints"))
            .bearer_auth(&self.merchant.api_key)
            .json(&json!({ "url": url, "events": events }))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status().as_u16(), 201, "add endpoint {url}");
        response.json().await.unwrap()
    }

    /// The event types of the order's webhooks, sorted (events of one change are written in
    /// one instant, so their order among themselves is not defined).
    pub async fn event_types(&self, merchant_order_id: &str) -> Vec<String> {
        let mut types: Vec<String> = self
            .webhooks(merchant_order_id)
            .await
            .iter()
            .map(|w| w["event_type"].as_str().unwrap().to_owned())
            .collect();
        types.sort();
        types
    }
}

/// Makes `settings` a live instance whose WeChat Pay is the sandbox at `sandbox_base` (another
/// instance's, or a standalone one), with the sandbox account's credentials. Webhooks may go
/// to loopback only if `allow_loopback` (live mode refuses internal addresses otherwise).
pub fn make_live(settings: &mut Settings, sandbox_base: &str, allow_loopback: bool) {
    use crate::wechat_raw::{APP_ID, KEY, MCH_ID};
    settings.mode = payment_center::config::PaymentMode::Live;
    settings.wechat.credentials = Some(payment_center::config::WechatCredentials {
        app_id: APP_ID.into(),
        mch_id: MCH_ID.into(),
        api_key: KEY.into(),
    });
    settings.wechat.api_base = Some(sandbox_base.to_owned());
    settings.webhook_allowed_networks = if allow_loopback {
        vec!["127.0.0.0/8".parse().unwrap()]
    } else {
        Vec::new()
    };
}

/// `GET url`: the body as text, whatever the status.
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.expect("request sent");
    response.text().await.expect("a body")
}

/// `GET url`: the body as JSON, whatever the status.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.expect("request sent");
    response.json().await.expect("a JSON body")
}
