use super::{read_json, AuthenticatedMerchant};
use crate::core::orders::{self, CreateOrder, Created, OrderView};
use crate::core::timeline;
use crate::core::AppState;
use crate::db;
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};

/// `POST /v1/orders`: 201 with a new order, 200 with the same order for the same request.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(&req, payload).await?;
    let request = CreateOrder::parse(&body, &merchant)?;
    request.ensure_channel_runs(&state.channels)?;
    let merchant = merchant.0;
    let livemode = state.livemode();
    let (order, created) = db::run(&state.pool, move |conn| {
        orders::create(conn, &merchant, &request, livemode)
    })
    .await?;
    let view = OrderView::new(order, &state.public_base_url);
    Ok(match created {
        Created::New => HttpResponse::Created().json(view),
        Created::AlreadyExisted => HttpResponse::Ok().json(view),
    })
}

/// `GET /v1/orders/{merchant_order_id}`.
pub async fn get(
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = orders::get(&state.pool, &merchant, &path).await?;
    Ok(HttpResponse::Ok().json(OrderView::new(order, &state.public_base_url)))
}

/// `GET /v1/orders`: `{"data": [order, …], "has_more"}`.
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
) -> Result<HttpResponse, ApiError> {
    let (page, has_more) = orders::list(&state.pool, &merchant, req.query_string()).await?;
    let data: Vec<OrderView> = page
        .into_iter()
        .map(|o| OrderView::new(o, &state.public_base_url))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data, "has_more": has_more })))
}

/// `GET /v1/orders/{merchant_order_id}/events`: the order's timeline, oldest first.
pub async fn events(
    state: web::Data<AppState>,
    merchant: AuthenticatedMerchant,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let events = timeline::for_order(&state.pool, &merchant, &path).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": events })))
}
