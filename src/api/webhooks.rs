use super::{read_json, AuthenticatedMerchant};
use crate::core::AppState;
use crate::core::{webhook_endpoints, webhooks};
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
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

/// `POST /v1/webhook-endpoints`: 201 with the endpoint.
pub async fn create_endpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(&req, payload).await?;
    let endpoint = webhook_endpoints::create(&state.pool, &merchant, &body).await?;
    Ok(HttpResponse::Created().json(endpoint))
}

/// `GET /v1/webhook-endpoints`.
pub async fn list_endpoints(
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
) -> Result<HttpResponse, ApiError> {
    let endpoints = webhook_endpoints::list(&state.pool, &merchant).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": endpoints })))
}

/// `DELETE /v1/webhook-endpoints/{id}`: 204.
pub async fn delete_endpoint(
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    webhook_endpoints::delete(&state.pool, &merchant, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}
