//! A merchant's webhook endpoints: where every event other than the paid notification goes
//! (and `order.paid` too, for an endpoint that subscribes to it).

use crate::core::merchants::MerchantProfile;
use crate::core::CoreError;
use crate::db::webhook_endpoints::{self, WebhookEndpoint};
use crate::db::{self, webhook_events, DbPool};
use crate::domain::time::{self, serde_rfc3339};
use crate::domain::{random_string, ReturnUrl};
use crate::webhook::EventType;
use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::Value;

/// A merchant's endpoints, at most: every event is written once per endpoint.
pub const MAX_ENDPOINTS: i64 = 16;

#[derive(Debug, Serialize)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    #[serde(with = "serde_rfc3339")]
    pub created_at: NaiveDateTime,
}

impl From<WebhookEndpoint> for EndpointView {
    fn from(endpoint: WebhookEndpoint) -> Self {
        EndpointView {
            events: endpoint.event_names().map(str::to_owned).collect(),
            id: endpoint.id,
            url: endpoint.url,
            created_at: endpoint.created_at,
        }
    }
}

/// `events`: a non-empty list of event names, or `["*"]`; answered as stored (`a,b` or `*`).
fn parse_events(value: Option<&Value>) -> Result<String, CoreError> {
    let invalid = || {
        let names: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
        CoreError::InvalidRequest(format!(
            "events must be a non-empty list of event names ({}) or [\"*\"]",
            names.join(", ")
        ))
    };
    let list = value.and_then(Value::as_array).ok_or_else(invalid)?;
    if list.is_empty() {
        return Err(invalid());
    }
    let mut names: Vec<&str> = Vec::new();
    for item in list {
        let name = item.as_str().ok_or_else(invalid)?;
        if name != "*" && EventType::parse(name).is_none() {
            return Err(CoreError::InvalidRequest(format!(
                "events: {name:?} is not an event name"
            )));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.contains(&"*") {
        if names.len() > 1 {
            return Err(CoreError::InvalidRequest(
                "events: \"*\" stands alone (it means every event)".into(),
            ));
        }
        return Ok("*".into());
    }
    Ok(names.join(","))
}

pub async fn create(
    pool: &DbPool,
    merchant: &MerchantProfile,
    body: &Value,
) -> Result<EndpointView, CoreError> {
    let object = body
        .as_object()
        .ok_or_else(|| CoreError::InvalidRequest("the body must be a JSON object".into()))?;
    let url = ReturnUrl::parse(
        "url",
        object
            .get("url")
            .ok_or_else(|| CoreError::InvalidRequest("url is required".into()))?,
        &merchant.return_url_prefixes,
    )
    .map_err(CoreError::InvalidRequest)?;
    let events = parse_events(object.get("events"))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "url" | "events"))
    {
        return Err(CoreError::InvalidRequest(format!(
            "{unknown} is not a field of a webhook endpoint"
        )));
    }
    let endpoint = WebhookEndpoint {
        id: format!("we_{}", random_string(24)),
        merchant_id: merchant.id.clone(),
        url: url.as_str().to_owned(),
        events,
        created_at: time::now(),
        deleted_at: None,
    };
    db::run(pool, move |conn| {
        db::write_transaction(conn, |c| {
            if webhook_endpoints::count_live_for_merchant(c, &endpoint.merchant_id)?
                >= MAX_ENDPOINTS
            {
                return Err(CoreError::Conflict(format!(
                    "a merchant has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
                )));
            }
            webhook_endpoints::insert(c, &endpoint)?;
            Ok(EndpointView::from(endpoint))
        })
    })
    .await
}

pub async fn list(
    pool: &DbPool,
    merchant: &MerchantProfile,
) -> Result<Vec<EndpointView>, CoreError> {
    let merchant_id = merchant.id.clone();
    db::run(pool, move |conn| {
        Ok(webhook_endpoints::live_for_merchant(conn, &merchant_id)?
            .into_iter()
            .map(EndpointView::from)
            .collect())
    })
    .await
}

/// Deletes the endpoint and gives up its undelivered events, in one transaction; 404 for an
/// unknown endpoint or another merchant's.
pub async fn delete(pool: &DbPool, merchant: &MerchantProfile, id: &str) -> Result<(), CoreError> {
    let merchant_id = merchant.id.clone();
    let id = id.to_owned();
    db::run(pool, move |conn| {
        db::write_transaction(conn, |c| {
            if !webhook_endpoints::delete(c, &merchant_id, &id, time::now())? {
                return Err(CoreError::NotFound(
                    "no webhook endpoint with this id".into(),
                ));
            }
            webhook_events::fail_pending_for_endpoint(c, &id, "the webhook endpoint was deleted")?;
            Ok(())
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_known_names_or_a_lone_star() {
        assert_eq!(
            parse_events(Some(&json!(["order.closed", "order.paid", "order.closed"]))).unwrap(),
            "order.closed,order.paid"
        );
        assert_eq!(parse_events(Some(&json!(["*"]))).unwrap(), "*");
        for bad in [
            json!([]),
            json!("order.paid"),
            json!(["order.shipped"]),
            json!(["*", "order.paid"]),
            json!([1]),
        ] {
            assert!(parse_events(Some(&bad)).is_err(), "{bad}");
        }
        assert!(parse_events(None).is_err());
    }
}
