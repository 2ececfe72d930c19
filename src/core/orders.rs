use crate::core::merchants::MerchantProfile;
use crate::core::CoreError;
use crate::db::channel_trades::ChannelTrade;
use crate::db::{self, orders, AnyConnection, DbError, DbPool};
use crate::domain::time::{self, serde_rfc3339};
use crate::domain::{
    ChannelId, CheckoutToken, Description, ExpireMinutes, Fen, MerchantOrderId, MerchantUserId,
    OrderId, OrderOrigin, OrderStatus, PayMethod, ReturnUrl,
};
use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::{Map, Value};

/// A validated create request: every field already parsed into its domain type.
#[derive(Debug, Clone)]
pub struct CreateOrder {
    pub merchant_order_id: MerchantOrderId,
    pub merchant_user_id: MerchantUserId,
    pub amount: Fen,
    pub pay_method: PayMethod,
    pub return_url: ReturnUrl,
    /// Where the hosted cashier sends the shopper once paid (same prefix rule as return_url).
    pub success_url: Option<ReturnUrl>,
    pub description: Description,
    pub expire_minutes: ExpireMinutes,
    /// Not part of the request's identity: the same order asked for again by the other door
    /// is the same order.
    pub origin: OrderOrigin,
}

fn required<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a Value, CoreError> {
    match body.get(field) {
        None | Some(Value::Null) => Err(CoreError::InvalidRequest(format!("{field} is required"))),
        Some(value) => Ok(value),
    }
}

fn optional<'a>(body: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    body.get(field).filter(|v| !v.is_null())
}

impl CreateOrder {
    /// 400 when the order names a channel this installation does not run: it could never be
    /// paid (a live installation runs only the channels it has credentials for).
    pub fn ensure_channel_runs(
        &self,
        channels: &crate::channel::Channels,
    ) -> Result<(), CoreError> {
        let named = match self.pay_method {
            PayMethod::Wechat => ChannelId::Wechat,
            PayMethod::Alipay => ChannelId::Alipay,
            PayMethod::Any => return Ok(()),
        };
        if channels.get(named).is_some() {
            return Ok(());
        }
        Err(CoreError::InvalidRequest(format!(
            "pay_method {}: {} is not configured on this payment center",
            named.as_str(),
            named.display_name()
        )))
    }

    /// Parses the JSON body of `POST /v1/orders` for `merchant`; the first bad field wins.
    pub fn parse(body: &Value, merchant: &MerchantProfile) -> Result<CreateOrder, CoreError> {
        let body = body.as_object().ok_or_else(|| {
            CoreError::InvalidRequest("the request body must be a JSON object".into())
        })?;
        let invalid = CoreError::InvalidRequest;
        let merchant_order_id =
            MerchantOrderId::parse("merchant_order_id", required(body, "merchant_order_id")?)
                .map_err(invalid)?;
        let merchant_user_id =
            MerchantUserId::parse("merchant_user_id", required(body, "merchant_user_id")?)
                .map_err(invalid)?;
        let amount = Fen::parse("amount", required(body, "amount")?).map_err(invalid)?;
        let pay_method =
            PayMethod::parse("pay_method", optional(body, "pay_method")).map_err(invalid)?;
        let return_url = ReturnUrl::parse(
            "return_url",
            required(body, "return_url")?,
            &merchant.return_url_prefixes,
        )
        .map_err(invalid)?;
        let success_url = optional(body, "success_url")
            .map(|v| ReturnUrl::parse("success_url", v, &merchant.return_url_prefixes))
            .transpose()
            .map_err(invalid)?;
        let description = match optional(body, "description") {
            Some(v) => Description::parse("description", v).map_err(invalid)?,
            None => Description::default_for(&merchant_order_id),
        };
        let expire_minutes = match optional(body, "expire_minutes") {
            Some(v) => ExpireMinutes::parse("expire_minutes", v).map_err(invalid)?,
            None => ExpireMinutes::DEFAULT,
        };
        Ok(CreateOrder {
            merchant_order_id,
            merchant_user_id,
            amount,
            pay_method,
            return_url,
            success_url,
            description,
            expire_minutes,
            origin: OrderOrigin::Api,
        })
    }

    fn to_new_order(
        &self,
        merchant_id: &str,
        now: NaiveDateTime,
        livemode: bool,
    ) -> orders::NewOrder {
        orders::NewOrder {
            id: OrderId::generate(now).as_str().to_owned(),
            merchant_id: merchant_id.to_owned(),
            merchant_order_id: self.merchant_order_id.as_str().to_owned(),
            merchant_user_id: self.merchant_user_id.as_str().to_owned(),
            amount: self.amount.value(),
            pay_method: self.pay_method.as_str().to_owned(),
            status: OrderStatus::WaitPay.as_str().to_owned(),
            description: self.description.as_str().to_owned(),
            return_url: self.return_url.as_str().to_owned(),
            success_url: self.success_url.as_ref().map(|u| u.as_str().to_owned()),
            checkout_token: CheckoutToken::generate().as_str().to_owned(),
            created_at: now,
            expires_at: now + self.expire_minutes.duration(),
            origin: self.origin.as_str().to_owned(),
            livemode,
        }
    }

    /// The fields of `existing` that differ from this request (empty: the same request).
    fn differences(&self, existing: &orders::Order) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if existing.merchant_user_id != self.merchant_user_id.as_str() {
            fields.push("merchant_user_id");
        }
        if existing.amount != self.amount.value() {
            fields.push("amount");
        }
        if existing.pay_method != self.pay_method.as_str() {
            fields.push("pay_method");
        }
        if existing.return_url != self.return_url.as_str() {
            fields.push("return_url");
        }
        if existing.success_url.as_deref() != self.success_url.as_ref().map(ReturnUrl::as_str) {
            fields.push("success_url");
        }
        if existing.description != self.description.as_str() {
            fields.push("description");
        }
        if existing.expires_at - existing.created_at != self.expire_minutes.duration() {
            fields.push("expire_minutes");
        }
        fields
    }
}

/// Whether `create` made the order now or found the same one made before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    AlreadyExisted,
}

/// Creates the order, idempotently: the database's unique key on (merchant, merchant order id)
/// decides between concurrent identical requests; the loser reads the winner's row.
/// `livemode` is the installation's: an order keeps the mode it was made in.
pub fn create(
    conn: &mut AnyConnection,
    merchant: &MerchantProfile,
    request: &CreateOrder,
    livemode: bool,
) -> Result<(orders::Order, Created), CoreError> {
    // A collision of our own random id or token is astronomically unlikely; retry anyway
    // rather than fail a merchant's request for it.
    for _ in 0..3 {
        let new_order = request.to_new_order(&merchant.id, time::now(), livemode);
        let inserted = orders::insert(conn, &new_order).map_err(DbError::from);
        match inserted {
            Ok(order) => return Ok((order, Created::New)),
            Err(e) if e.is_unique_violation() => {
                if let Some(existing) =
                    find(conn, &merchant.id, request.merchant_order_id.as_str())?
                {
                    let differences = request.differences(&existing);
                    if differences.is_empty() {
                        return Ok((existing, Created::AlreadyExisted));
                    }
                    return Err(CoreError::Conflict(format!(
                        "merchant_order_id {} already exists with a different {}",
                        request.merchant_order_id.as_str(),
                        differences.join(", ")
                    )));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(CoreError::Internal(
        "could not allocate a unique order id".into(),
    ))
}

pub fn find(
    conn: &mut AnyConnection,
    merchant_id: &str,
    merchant_order_id: &str,
) -> Result<Option<orders::Order>, CoreError> {
    Ok(orders::find_by_merchant_order_id(
        conn,
        merchant_id,
        merchant_order_id,
    )?)
}

/// The merchant's order, or 404 whether it does not exist or belongs to another merchant.
pub async fn get(
    pool: &DbPool,
    merchant: &MerchantProfile,
    merchant_order_id: &str,
) -> Result<orders::Order, CoreError> {
    // An id that breaks the rules cannot exist: answer 404 without a query.
    let id = MerchantOrderId::parse_str("merchant_order_id", merchant_order_id)
        .map_err(|_| CoreError::order_not_found())?;
    let merchant_id = merchant.id.clone();
    db::run(pool, move |conn| find(conn, &merchant_id, id.as_str()))
        .await?
        .ok_or_else(CoreError::order_not_found)
}

/// The merchant's order with its open trade at `channel` (one query), or 404 like `get`.
pub async fn get_with_open_trade(
    pool: &DbPool,
    merchant: &MerchantProfile,
    merchant_order_id: &str,
    channel: ChannelId,
) -> Result<(orders::Order, Option<ChannelTrade>), CoreError> {
    let id = MerchantOrderId::parse_str("merchant_order_id", merchant_order_id)
        .map_err(|_| CoreError::order_not_found())?;
    let merchant_id = merchant.id.clone();
    db::run(pool, move |conn| {
        orders::find_by_merchant_order_id_with_open_trade(
            conn,
            &merchant_id,
            id.as_str(),
            channel.as_str(),
        )
        .map_err(CoreError::from)
    })
    .await?
    .ok_or_else(CoreError::order_not_found)
}

/// The order object of the API.
#[derive(Debug, Serialize)]
pub struct OrderView {
    pub id: String,
    pub merchant_order_id: String,
    pub merchant_user_id: String,
    pub amount: i64,
    /// `null` when the shopper chooses.
    pub pay_method: Option<&'static str>,
    pub status: String,
    pub description: String,
    pub return_url: String,
    pub success_url: Option<String>,
    #[serde(with = "serde_rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "serde_rfc3339")]
    pub expires_at: NaiveDateTime,
    #[serde(with = "serde_rfc3339::option")]
    pub paid_at: Option<NaiveDateTime>,
    pub transaction_id: Option<String>,
    pub checkout_token: String,
    pub checkout_url: String,
    /// The channel the money came through, once paid.
    pub channel: Option<&'static str>,
    pub refunded_amount: i64,
    pub livemode: bool,
}

impl OrderView {
    pub fn new(order: orders::Order, public_base_url: &str) -> OrderView {
        OrderView {
            checkout_url: format!("{public_base_url}/checkout/{}", order.checkout_token),
            channel: order
                .channel
                .as_deref()
                .and_then(ChannelId::parse)
                .map(ChannelId::as_str),
            refunded_amount: 0,
            livemode: order.livemode,
            id: order.id,
            merchant_order_id: order.merchant_order_id,
            merchant_user_id: order.merchant_user_id,
            amount: order.amount,
            pay_method: PayMethod::from_stored(&order.pay_method).and_then(PayMethod::shown),
            status: order.status,
            description: order.description,
            return_url: order.return_url,
            success_url: order.success_url,
            created_at: order.created_at,
            expires_at: order.expires_at,
            paid_at: order.paid_at,
            transaction_id: order.transaction_id,
            checkout_token: order.checkout_token,
        }
    }
}

/// `GET /v1/orders`: newest first, `limit` (1–100, default 20) at a time, after the order named
/// by `starting_after`, filtered by `status` and `created_gte` / `created_lt`. A bad value is a
/// 400 that names its parameter.
pub async fn list(
    pool: &DbPool,
    merchant: &MerchantProfile,
    query: &str,
) -> Result<(Vec<orders::Order>, bool), CoreError> {
    let mut filter = orders::ListFilter {
        status: None,
        created_gte: None,
        created_lt: None,
        after: None,
        limit: 20,
    };
    let mut starting_after = None;
    let mut seen = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if seen.contains(&name) {
            return Err(CoreError::InvalidRequest(format!("{name} is given twice")));
        }
        seen.push(name.clone());
        let timestamp = |field: &str| {
            chrono::DateTime::parse_from_rfc3339(&value)
                .map(|t| t.naive_utc())
                .map_err(|_| {
                    CoreError::InvalidRequest(format!(
                        "{field} must be an RFC 3339 timestamp like 2026-11-22T06:13:19Z"
                    ))
                })
        };
        match name.as_ref() {
            "status" => {
                let known = ["WAIT_PAY", "PAID", "CLOSED", "PAID_AFTER_CLOSE", "REFUNDED"];
                if !known.contains(&value.as_ref()) {
                    return Err(CoreError::InvalidRequest(format!(
                        "status must be one of {}",
                        known.join(", ")
                    )));
                }
                filter.status = Some(value.to_string());
            }
            "created_gte" => filter.created_gte = Some(timestamp("created_gte")?),
            "created_lt" => filter.created_lt = Some(timestamp("created_lt")?),
            "limit" => {
                filter.limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| {
                        CoreError::InvalidRequest("limit must be an integer from 1 to 100".into())
                    })?
            }
            "starting_after" => {
                let id = MerchantOrderId::parse_str("starting_after", &value).map_err(|_| {
                    CoreError::InvalidRequest(
                        "starting_after must be a merchant_order_id from the previous page".into(),
                    )
                })?;
                starting_after = Some(id);
            }
            other => {
                return Err(CoreError::InvalidRequest(format!(
                    "{other} is not a parameter of the order list (status, created_gte, \
                     created_lt, limit, starting_after)"
                )))
            }
        }
    }
    let merchant_id = merchant.id.clone();
    db::run(pool, move |conn| {
        if let Some(id) = &starting_after {
            let cursor = find(conn, &merchant_id, id.as_str())?.ok_or_else(|| {
                CoreError::InvalidRequest(
                    "starting_after must be a merchant_order_id from the previous page".into(),
                )
            })?;
            filter.after = Some((cursor.created_at, cursor.id));
        }
        let wanted = filter.limit;
        // One more than asked says whether there is a next page.
        filter.limit += 1;
        let mut page = orders::list_page(conn, &merchant_id, &filter)?;
        let has_more = page.len() as i64 > wanted;
        page.truncate(wanted as usize);
        Ok((page, has_more))
    })
    .await
}
