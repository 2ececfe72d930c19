use super::AuthenticatedMerchant;
use crate::core::webhooks;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// `GET /v1/orders/{merchant_order_id}/webhooks`.
pub async fn list(
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let events = webhooks::list(&state.pool, &merchant, &path).await?;
    Ok(HttpResponse::Ok().json(json!({ "webhooks": events })))
}

/// `POST /v1/orders/{merchant_order_id}/webhooks/redeliver`: 202, the event queued again.
pub async fn redeliver(
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let event = webhooks::redeliver(&state.pool, &merchant, &path).await?;
    state.webhook_wakeup.notify_one();
    Ok(HttpResponse::Accepted().json(event))
}
