use super::notifier;
use super::trades::{Outcome, PayRefusal, Sandbox};
use crate::channel::wechat::sign::SignType;
use crate::channel::wechat::xml::{self, Fields};
use crate::error::ApiError;
use crate::http::body::{optional_text, read_capped, read_json};
use crate::http::{routes, wrong_method};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

// The sandbox's routes, mounted under `super::MOUNT`.
routes! {
    post "/pay/unifiedorder" => unified_order;
    post "/pay/orderquery" => order_query;
    post "/pay/closeorder" => close_order;
    post "/simulate-pay" => simulate_pay;
    get "/trades/{out_trade_no}" => trade;
    post "/trades/{out_trade_no}/age" => age_trade;
}

fn xml_response(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(body)
}

/// `return_code=FAIL`: WeChat did not take the call at all; such replies are not signed.
fn return_fail(message: &str) -> HttpResponse {
    xml_response(xml::encode([
        ("return_code", "FAIL"),
        ("return_msg", message),
    ]))
}

fn answer(sandbox: &Sandbox, outcome: Outcome, sign_type: SignType) -> HttpResponse {
    let mut fields = match outcome {
        Ok(mut fields) => {
            fields.insert("result_code".into(), "SUCCESS".into());
            fields
        }
        Err((err_code, err_code_des)) => {
            let mut fields = Fields::new();
            fields.insert("result_code".into(), "FAIL".into());
            fields.insert("err_code".into(), err_code.into());
            fields.insert("err_code_des".into(), err_code_des);
            fields
        }
    };
    fields.insert("return_code".into(), "SUCCESS".into());
    fields.insert("return_msg".into(), "OK".into());
    sandbox.sign_reply(&mut fields, sign_type);
    xml_response(xml::encode_map(&fields))
}

/// Decode, authenticate, then run `operation`: the shape of every v2 call.
fn handle(
    sandbox: &Sandbox,
    body: &[u8],
    operation: impl FnOnce(&Sandbox, &Fields, SignType) -> Outcome,
) -> HttpResponse {
    let fields = match xml::decode(body) {
        Ok(fields) => fields,
        Err(e) => return return_fail(&format!("XML格式错误: {e}")),
    };
    match sandbox.authenticate(&fields) {
        Ok(sign_type) => answer(sandbox, operation(sandbox, &fields, sign_type), sign_type),
        Err((sign_type, refusal)) => answer(sandbox, Err(refusal), sign_type),
    }
}

/// The XML body, at most `MAX_JSON_BODY` bytes and within the request timeout; anything else
/// is WeChat's `return_code=FAIL`.
async fn xml_body(req: &HttpRequest, payload: web::Payload) -> Result<web::Bytes, HttpResponse> {
    read_capped(req, payload)
        .await
        .map_err(|e| return_fail(&e.to_string()))
}

/// Reads the body, then `handle`s it with `operation`.
async fn xml_call(
    req: HttpRequest,
    sandbox: web::Data<Sandbox>,
    payload: web::Payload,
    operation: impl FnOnce(&Sandbox, &Fields, SignType) -> Outcome,
) -> HttpResponse {
    match xml_body(&req, payload).await {
        Ok(body) => handle(&sandbox, &body, operation),
        Err(refused) => refused,
    }
}

async fn unified_order(
    req: HttpRequest,
    sandbox: web::Data<Sandbox>,
    payload: web::Payload,
) -> HttpResponse {
    xml_call(req, sandbox, payload, |s, f, t| s.unified_order(f, t)).await
}

async fn order_query(
    req: HttpRequest,
    sandbox: web::Data<Sandbox>,
    payload: web::Payload,
) -> HttpResponse {
    xml_call(req, sandbox, payload, |s, f, _| s.order_query(f)).await
}

async fn close_order(
    req: HttpRequest,
    sandbox: web::Data<Sandbox>,
    payload: web::Payload,
) -> HttpResponse {
    xml_call(req, sandbox, payload, |s, f, _| s.close_order(f)).await
}

/// The shopper scans and pays: `{"code_url"}` or `{"out_trade_no"}`, optionally `"openid"`.
async fn simulate_pay(
    req: HttpRequest,
    sandbox: web::Data<Sandbox>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(&req, payload).await?;
    let text = |field: &str| optional_text(&body, field);
    let out_trade_no = match (text("code_url")?, text("out_trade_no")?) {
        (Some(code_url), _) => sandbox
            .trade_by_code_url(&code_url)
            .map(|t| t.out_trade_no)
            .ok_or_else(|| ApiError::NotFound("no sandbox trade has this code_url".into()))?,
        (None, Some(no)) => no,
        (None, None) => {
            return Err(ApiError::InvalidRequest(
                "code_url or out_trade_no is required".into(),
            ))
        }
    };
    let trade = sandbox
        .pay(&out_trade_no, text("openid")?.as_deref())
        .map_err(|refusal| match refusal {
            PayRefusal::Unknown => {
                ApiError::NotFound("no sandbox trade has this out_trade_no".into())
            }
            PayRefusal::AlreadyPaid => {
                ApiError::Conflict("ORDERPAID: the trade is already paid".into())
            }
            PayRefusal::Closed => ApiError::Conflict("ORDERCLOSED: the trade is closed".into()),
            PayRefusal::Expired => ApiError::Conflict("the trade's time_expire has passed".into()),
        })?;
    let notified = notifier::deliver_once(&sandbox, &out_trade_no).await;
    if !notified {
        notifier::keep_notifying(
            sandbox.clone(),
            out_trade_no.clone(),
            trade.transaction_id.clone().unwrap_or_default(),
        );
    }
    Ok(HttpResponse::Ok().json(json!({
        "out_trade_no": out_trade_no,
        "transaction_id": trade.transaction_id,
        "notified": notified,
    })))
}

/// Everything the sandbox knows of a trade, notify attempts included (sandbox only).
async fn trade(
    sandbox: web::Data<Sandbox>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let trade = sandbox
        .trade(&path)
        .ok_or_else(|| ApiError::NotFound("no sandbox trade has this out_trade_no".into()))?;
    Ok(HttpResponse::Ok().json(json!({
        "out_trade_no": trade.out_trade_no,
        "trade_type": trade.trade_type.as_str(),
        "trade_state": trade.state.as_str(),
        "total_fee": trade.total_fee,
        "body": trade.params.get("body"),
        "time_expire": trade.params.get("time_expire"),
        "notify_url": trade.notify_url,
        "prepay_id": trade.prepay_id,
        "code_url": trade.code_url,
        "mweb_url": trade.mweb_url,
        "transaction_id": trade.transaction_id,
        "openid": trade.openid,
        "unifiedorder_calls": trade.unifiedorder_calls,
        "notify": {
            "acknowledged": trade.notify_acknowledged,
            "attempts": trade.notify_attempts,
        },
    })))
}

/// `{"seconds": N}`: moves one trade back in time, as if placed N seconds earlier (WeChat's
/// five-minute close rule, a trade's expiry). There is no clock for the whole sandbox.
async fn age_trade(
    req: HttpRequest,
    sandbox: web::Data<Sandbox>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(&req, payload).await?;
    let seconds = body["seconds"]
        .as_i64()
        .filter(|s| (0..=30 * 24 * 3600).contains(s))
        .ok_or_else(|| {
            ApiError::InvalidRequest("seconds must be an integer from 0 to 2592000".into())
        })?;
    let trade = sandbox
        .age(&path, chrono::Duration::seconds(seconds))
        .ok_or_else(|| ApiError::NotFound("no sandbox trade has this out_trade_no".into()))?;
    Ok(HttpResponse::Ok().json(json!({
        "out_trade_no": trade.out_trade_no,
        "created_at": crate::domain::time::rfc3339(trade.created_at),
        "time_expire": trade.time_expire.map(crate::domain::time::rfc3339),
    })))
}
