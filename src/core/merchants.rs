use crate::core::snapshots::MerchantKey;
use crate::core::AppSnapshots;
use crate::core::CoreError;
use crate::db::{self, merchants, AnyConnection, DbError, DbPool};
use crate::domain::{hex_digest, time, ApiKey, MerchantId, NotifySecret, ReturnUrlPrefix};
use std::sync::Arc;

pub use crate::domain::MerchantProfile;

/// What `merchant add` prints: the only time the key and the secret are shown.
#[derive(Debug)]
pub struct IssuedCredentials {
    pub merchant_id: MerchantId,
    pub api_key: ApiKey,
    pub notify_secret: NotifySecret,
}

impl IssuedCredentials {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "merchant_id": self.merchant_id.as_str(),
            "api_key": self.api_key.expose(),
            "notify_secret": self.notify_secret.expose(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MerchantError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for MerchantError {
    fn from(e: diesel::result::Error) -> Self {
        MerchantError::Db(e.into())
    }
}

pub fn create(
    conn: &mut AnyConnection,
    name: &str,
    prefixes: &[String],
) -> Result<IssuedCredentials, MerchantError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(MerchantError::Invalid(
            "--name must be 1–128 characters without control characters".into(),
        ));
    }
    if prefixes.is_empty() {
        return Err(MerchantError::Invalid(
            "at least one --return-url-prefix is required".into(),
        ));
    }
    let parsed = prefixes
        .iter()
        .map(|p| ReturnUrlPrefix::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(MerchantError::Invalid)?;
    let prefixes_json = serde_json::to_string(
        &parsed
            .iter()
            .map(ReturnUrlPrefix::as_str)
            .collect::<Vec<_>>(),
    )
    .expect("a list of strings serializes");
    let issued = IssuedCredentials {
        merchant_id: MerchantId::generate(),
        api_key: ApiKey::generate(),
        notify_secret: NotifySecret::generate(),
    };
    merchants::insert(
        conn,
        &merchants::NewMerchant {
            id: issued.merchant_id.as_str(),
            name,
            api_key_hash: &issued.api_key.hash(),
            notify_secret: issued.notify_secret.expose(),
            return_url_prefixes: &prefixes_json,
            created_at: time::now(),
        },
    )?;
    Ok(issued)
}

/// What `merchant list` shows of a merchant: never a key or a secret.
pub fn list(conn: &mut AnyConnection) -> Result<Vec<serde_json::Value>, MerchantError> {
    Ok(merchants::list_all(conn)?
        .into_iter()
        .map(|row| {
            let prefixes: Vec<String> =
                serde_json::from_str(&row.return_url_prefixes).unwrap_or_default();
            serde_json::json!({
                "merchant_id": row.id,
                "name": row.name,
                "return_url_prefixes": prefixes,
                "created_at": time::rfc3339(row.created_at),
            })
        })
        .collect())
}

fn unknown(merchant_id: &str) -> MerchantError {
    MerchantError::Invalid(format!("no merchant has --merchant-id {merchant_id}"))
}

/// A new API key for the merchant; the old one stops working (a running service's copy of the
/// merchant lives `snapshots::MERCHANT_TTL`).
pub fn rotate_key(conn: &mut AnyConnection, merchant_id: &str) -> Result<ApiKey, MerchantError> {
    let key = ApiKey::generate();
    if !merchants::set_api_key_hash(conn, merchant_id, &key.hash())? {
        return Err(unknown(merchant_id));
    }
    Ok(key)
}

/// A new notify secret: every webhook signed from now on (retries included) uses it.
pub fn rotate_notify_secret(
    conn: &mut AnyConnection,
    merchant_id: &str,
) -> Result<NotifySecret, MerchantError> {
    let secret = NotifySecret::generate();
    if !merchants::set_notify_secret(conn, merchant_id, secret.expose())? {
        return Err(unknown(merchant_id));
    }
    Ok(secret)
}

/// The merchant of `presented` if it is kept (`snapshots`), without a read; a kept one past
/// its refresh age is read again in the background.
/// Borrowed from the request: nothing of the key is copied.
pub fn authenticate_kept(
    pool: &DbPool,
    snapshots: &Arc<AppSnapshots>,
    presented: &str,
) -> Option<Arc<MerchantProfile>> {
    kept_by_digest(pool, snapshots, ApiKey::digest_presented(presented))
}

/// `digest`: an API key's SHA-256 (the course logins are kept apart, see `MerchantKey`).
fn kept_by_digest(
    pool: &DbPool,
    snapshots: &Arc<AppSnapshots>,
    digest: [u8; 32],
) -> Option<Arc<MerchantProfile>> {
    let kept = snapshots.merchant(&MerchantKey::ApiKey(digest))?;
    Some(kept.serve(|| {
        let (pool, snapshots) = (pool.clone(), snapshots.clone());
        async move {
            let _ = read_by_key(&pool, &snapshots, digest).await;
        }
    }))
}

/// The merchant whose API key this is, or 401.
pub async fn authenticate(
    pool: &DbPool,
    snapshots: &Arc<AppSnapshots>,
    presented: ApiKey,
) -> Result<Arc<MerchantProfile>, CoreError> {
    let digest = ApiKey::digest_presented(presented.expose());
    if let Some(merchant) = kept_by_digest(pool, snapshots, digest) {
        return Ok(merchant);
    }
    let key = MerchantKey::ApiKey(digest);
    snapshots
        .flights
        .read_once(
            &key.label(),
            || snapshots.merchant(&key).map(|kept| kept.value),
            || read_by_key(pool, snapshots, digest),
        )
        .await
}

/// The merchant of an API key's hash, from the database, kept a moment.
async fn read_by_key(
    pool: &DbPool,
    snapshots: &AppSnapshots,
    digest: [u8; 32],
) -> Result<Arc<MerchantProfile>, CoreError> {
    let hash = hex_digest(&digest);
    let row = db::run(pool, move |conn| {
        merchants::find_by_api_key_hash(conn, &hash).map_err(CoreError::from)
    })
    .await?;
    let merchant = row.map(|m| Arc::new(m.profile())).ok_or_else(|| {
        CoreError::Unauthorized("the API key in the Authorization header is not valid".into())
    })?;
    snapshots.remember_merchant(&MerchantKey::ApiKey(digest), &merchant);
    Ok(merchant)
}

pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<MerchantProfile>, DbError> {
    Ok(merchants::find(conn, id)?.map(merchants::Merchant::profile))
}

/// What the first start on the embedded default prints: the demo merchant's credentials
/// and a curl that creates an order with them, ready to paste.
pub fn demo_banner(demo: &IssuedCredentials, public_base_url: &str) -> String {
    format!(
        r#"
A demo merchant was created (its API key and notify secret are shown only this once):
{credentials}

Create an order with it:

curl -s -X POST {public_base_url}/v1/orders \
  -H 'Authorization: Bearer {api_key}' \
  -H 'Content-Type: application/json' \
  -d '{{"merchant_order_id":"demo-1","merchant_user_id":"user-1","amount":1,"pay_method":"wechat","return_url":"http://127.0.0.1:8088/orders/notifyMerchantOrderPaid"}}'
"#,
        credentials = serde_json::to_string_pretty(&demo.to_json()).expect("json"),
        api_key = demo.api_key.expose(),
    )
}
