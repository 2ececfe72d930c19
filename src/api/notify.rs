//! The channels' notify URLs: `POST /notify/wechat` (and `/payment/notice/wxpay`, the
//! foodie-payment path) and `POST /notify/alipay`. Thin: the body, capped and timed, goes to
//! `core::notify`, whose answer is the channel's own.

use crate::channel::{ChannelId, NotifyAnswer};
use crate::core::notify;
use crate::core::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

use super::read_capped;

fn respond(answer: NotifyAnswer) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(answer.content_type)
        .body(answer.body)
}

async fn receive(
    channel: ChannelId,
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let body = read_capped(&req, payload).await.map_err(|e| e.to_string());
    let body = body.as_ref().map(|b| &b[..]).map_err(String::clone);
    respond(notify::receive(&state, channel, body).await)
}

pub async fn wechat(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    receive(ChannelId::Wechat, req, state, payload).await
}

pub async fn alipay(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    receive(ChannelId::Alipay, req, state, payload).await
}
