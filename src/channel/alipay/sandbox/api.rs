//! `/sandbox/alipay/gateway.do` and the sandbox's own helpers, speaking Alipay's wire format.

use super::trades::{AlipaySandbox, Opening, Refusal};
use super::{cashier, notifier};
use crate::channel::alipay::amount::parse_yuan;
use crate::channel::alipay::{form, sign};
use crate::error::ApiError;
use crate::http::body::{optional_text, read_capped, read_json};
use crate::http::{routes, wrong_method};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

// The sandbox's routes, mounted under `super::MOUNT`.
routes! {
    get "/gateway.do" => gateway;
    post "/gateway.do" => gateway;
    post "/simulate-pay" => simulate_pay;
    post "/cashier/{out_trade_no}/pay" => cashier::pay;
    get "/trades/{out_trade_no}" => trade;
}

const METHODS: [&str; 6] = [
    "alipay.trade.precreate",
    "alipay.trade.page.pay",
    "alipay.trade.wap.pay",
    "alipay.trade.app.pay",
    "alipay.trade.query",
    "alipay.trade.close",
];

fn json_answer(body: String) -> HttpResponse {
    // Alipay answers 200 whatever it says, as text/html; SDKs read the body as JSON.
    HttpResponse::Ok()
        .content_type("text/html;charset=utf-8")
        .body(body)
}

/// A request the gateway could not attribute: unsigned, under `error_response`.
fn error_response(code: &str, msg: &str, sub_code: &str, sub_msg: &str) -> HttpResponse {
    json_answer(
        json!({"error_response": {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}})
            .to_string(),
    )
}

fn missing(sub_code: &str, sub_msg: &str) -> HttpResponse {
    error_response("40001", "Missing Required Arguments", sub_code, sub_msg)
}

/// An attributable answer, signed over the exact `*_response` text.
fn signed(sandbox: &AlipaySandbox, method: &str, response: &Map<String, Value>) -> HttpResponse {
    let text = Value::Object(response.clone()).to_string();
    json_answer(sign::sign_response_body(
        method,
        &text,
        &sandbox.config.alipay_private_key,
    ))
}

fn business(
    sandbox: &AlipaySandbox,
    method: &str,
    refusal: Refusal,
    extra: &[(&str, &str)],
) -> HttpResponse {
    let mut response = Map::new();
    response.insert("code".into(), json!("40004"));
    response.insert("msg".into(), json!("Business Failed"));
    response.insert("sub_code".into(), json!(refusal.sub_code));
    response.insert("sub_msg".into(), json!(refusal.sub_msg));
    for (k, v) in extra {
        response.insert((*k).into(), json!(v));
    }
    signed(sandbox, method, &response)
}

/// The request's parameters: the query string and a form body, as Alipay takes either.
async fn parameters(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<BTreeMap<String, String>, String> {
    let mut params = form::decode(req.query_string().as_bytes()).map_err(|e| e.to_string())?;
    let body = read_capped(req, payload).await.map_err(|e| e.to_string())?;
    let is_form = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == "x-www-form-urlencoded");
    if is_form && !body.is_empty() {
        // SDKs put the system parameters in the query and the rest in the body; one given
        // in both must say the same.
        for (k, v) in form::decode(&body).map_err(|e| e.to_string())? {
            match params.insert(k.clone(), v.clone()) {
                Some(before) if before != v => {
                    return Err(format!("{k} is given twice, with different values"))
                }
                _ => {}
            }
        }
    }
    Ok(params)
}

async fn gateway(
    req: HttpRequest,
    sandbox: web::Data<AlipaySandbox>,
    payload: web::Payload,
) -> HttpResponse {
    let params = match parameters(&req, payload).await {
        Ok(params) => params,
        Err(e) => return error_response("40002", "Invalid Arguments", "isv.invalid-parameter", &e),
    };
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    for (name, sub_code, sub_msg) in [
        ("method", "isv.missing-method", "缺少方法名参数"),
        ("app_id", "isv.missing-app-id", "缺少AppID参数"),
        ("sign", "isv.missing-signature", "缺少签名参数"),
        (
            "sign_type",
            "isv.missing-signature-type",
            "缺少签名类型参数",
        ),
        ("timestamp", "isv.missing-timestamp", "缺少时间戳参数"),
        ("version", "isv.missing-version", "缺少版本参数"),
    ] {
        if get(name).is_empty() {
            return missing(sub_code, sub_msg);
        }
    }
    let method = get("method");
    if !METHODS.contains(&method) {
        return error_response(
            "40002",
            "Invalid Arguments",
            "isv.invalid-method",
            "不存在的方法名",
        );
    }
    let key = sign::response_key(method);
    let unsigned = |sub_code: &str, sub_msg: &str| {
        json_answer(
            json!({ key.as_str(): {"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg} })
                .to_string(),
        )
    };
    if get("app_id") != sandbox.config.app_id {
        return unsigned("isv.invalid-app-id", "无效的AppID参数");
    }
    if get("sign_type") != "RSA2" {
        return unsigned("isv.invalid-signature-type", "无效的签名类型");
    }
    if !matches!(get("charset"), "" | "utf-8" | "UTF-8") {
        return unsigned("isv.invalid-charset", "字符集错误");
    }
    let signed_text = sign::request_string_to_sign(&params);
    if !sandbox
        .config
        .app_public_key
        .verify(signed_text.as_bytes(), get("sign"))
    {
        let mut response = Map::new();
        response.insert("code".into(), json!("40002"));
        response.insert("msg".into(), json!("Invalid Arguments"));
        response.insert("sub_code".into(), json!("isv.invalid-signature"));
        response.insert(
            "sub_msg".into(),
            json!("验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配"),
        );
        return signed(&sandbox, method, &response);
    }
    let biz: Map<String, Value> = match serde_json::from_str(get("biz_content")) {
        Ok(Value::Object(biz)) => biz,
        _ => {
            let refusal = Refusal::new(
                "ACQ.INVALID_PARAMETER",
                "参数无效: biz_content must be a JSON object",
            );
            return business(&sandbox, method, refusal, &[]);
        }
    };
    match run(&sandbox, method, &params, &biz) {
        Ok(Answer::Json(response)) => signed(&sandbox, method, &response),
        Ok(Answer::Cashier(out_trade_no)) => cashier::page(&sandbox, &out_trade_no),
        Err(refusal) => {
            let out_trade_no = biz
                .get("out_trade_no")
                .and_then(Value::as_str)
                .unwrap_or("");
            business(&sandbox, method, refusal, &[("out_trade_no", out_trade_no)])
        }
    }
}

enum Answer {
    Json(Map<String, Value>),
    /// page / wap / app pay: the browser lands on the sandbox cashier.
    Cashier(String),
}

fn text_field<'a>(biz: &'a Map<String, Value>, name: &str) -> Result<&'a str, Refusal> {
    match biz.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::Null) | None => Err(Refusal::new(
            "ACQ.INVALID_PARAMETER",
            format!("参数无效: {name} is required"),
        )),
        Some(_) => Err(Refusal::new(
            "ACQ.INVALID_PARAMETER",
            format!("参数无效: {name} must be a string"),
        )),
    }
}

/// `total_amount` in yuan, as a string or a number (SDKs send either), 0.01 to 100000000.
fn amount_field(biz: &Map<String, Value>) -> Result<i64, Refusal> {
    let text = match biz.get("total_amount") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    parse_yuan(&text)
        .filter(|fen| (1..=10_000_000_000).contains(fen))
        .ok_or_else(|| {
            Refusal::new(
                "ACQ.INVALID_PARAMETER",
                "参数无效: total_amount must be 0.01 to 100000000 yuan, two decimals at most",
            )
        })
}

fn run(
    sandbox: &AlipaySandbox,
    method: &str,
    params: &BTreeMap<String, String>,
    biz: &Map<String, Value>,
) -> Result<Answer, Refusal> {
    let optional = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    // query and close take the merchant's out_trade_no or Alipay's trade_no.
    let by_trade_no = matches!(method, "alipay.trade.query" | "alipay.trade.close")
        && !biz.contains_key("out_trade_no");
    let found;
    let out_trade_no = if by_trade_no {
        let trade_no = text_field(biz, "trade_no").map_err(|_| {
            Refusal::new(
                "ACQ.INVALID_PARAMETER",
                "参数无效: out_trade_no or trade_no is required",
            )
        })?;
        found = sandbox
            .trade_by_trade_no(trade_no)
            .ok_or_else(|| Refusal::new("ACQ.TRADE_NOT_EXIST", "交易不存在"))?;
        found.as_str()
    } else {
        text_field(biz, "out_trade_no")?
    };
    if out_trade_no.len() > 64 {
        return Err(Refusal::new(
            "ACQ.INVALID_PARAMETER",
            "参数无效: out_trade_no is at most 64 characters",
        ));
    }
    let time_expire = biz.get("time_expire").and_then(Value::as_str);
    match method {
        "alipay.trade.precreate" => {
            let amount = amount_field(biz)?;
            let subject = text_field(biz, "subject")?;
            let trade = sandbox.open(
                method,
                out_trade_no,
                amount,
                subject,
                optional("notify_url"),
                time_expire,
                Opening::Precreate,
            )?;
            let mut response = Map::new();
            response.insert("code".into(), json!("10000"));
            response.insert("msg".into(), json!("Success"));
            response.insert("out_trade_no".into(), json!(trade.out_trade_no));
            response.insert("qr_code".into(), json!(trade.qr_code));
            Ok(Answer::Json(response))
        }
        "alipay.trade.page.pay" | "alipay.trade.wap.pay" | "alipay.trade.app.pay" => {
            let amount = amount_field(biz)?;
            let subject = text_field(biz, "subject")?;
            text_field(biz, "product_code")?;
            let trade = sandbox.open(
                method,
                out_trade_no,
                amount,
                subject,
                optional("notify_url"),
                time_expire,
                Opening::Redirect {
                    return_url: optional("return_url"),
                },
            )?;
            Ok(Answer::Cashier(trade.out_trade_no))
        }
        "alipay.trade.query" => sandbox.query(out_trade_no).map(Answer::Json),
        "alipay.trade.close" => {
            let trade = sandbox.close(out_trade_no)?;
            let mut response = Map::new();
            response.insert("code".into(), json!("10000"));
            response.insert("msg".into(), json!("Success"));
            response.insert("out_trade_no".into(), json!(trade.out_trade_no));
            response.insert("trade_no".into(), json!(trade.trade_no));
            Ok(Answer::Json(response))
        }
        _ => Err(Refusal::new("ACQ.INVALID_PARAMETER", "unknown method")),
    }
}

/// `POST /sandbox/alipay/simulate-pay` with `{"qr_code"}` or `{"out_trade_no"}` (and
/// optionally `"notify": false`): the shopper scans and pays.
async fn simulate_pay(
    req: HttpRequest,
    sandbox: web::Data<AlipaySandbox>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(&req, payload).await?;
    let text = |field: &str| optional_text(&body, field);
    let notify = match body.get("notify") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::InvalidRequest(
                "notify must be true or false".into(),
            ))
        }
    };
    let out_trade_no = match (text("qr_code")?, text("out_trade_no")?) {
        (Some(qr_code), _) => sandbox
            .trade_by_qr_code(&qr_code)
            .map(|t| t.out_trade_no)
            .ok_or_else(|| ApiError::NotFound("no sandbox trade has this qr_code".into()))?,
        (None, Some(no)) => no,
        (None, None) => {
            return Err(ApiError::InvalidRequest(
                "qr_code or out_trade_no is required".into(),
            ))
        }
    };
    sandbox.scanned(&out_trade_no);
    let trade = sandbox
        .pay(&out_trade_no)
        .map_err(|refusal| match refusal.sub_code {
            "ACQ.TRADE_NOT_EXIST" => {
                ApiError::NotFound("no sandbox trade has this out_trade_no".into())
            }
            code => ApiError::Conflict(format!("{code}: {}", refusal.sub_msg)),
        })?;
    let notified = notify && notifier::deliver_once(&sandbox, &out_trade_no).await;
    if notify && !notified {
        notifier::keep_notifying(
            sandbox.clone(),
            out_trade_no.clone(),
            trade.trade_no.clone().unwrap_or_default(),
        );
    }
    Ok(HttpResponse::Ok().json(json!({
        "out_trade_no": out_trade_no,
        "trade_no": trade.trade_no,
        "notified": notified,
    })))
}

/// `GET /sandbox/alipay/trades/{out_trade_no}`: the sandbox's view of a trade.
async fn trade(
    sandbox: web::Data<AlipaySandbox>,
    out_trade_no: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let trade = sandbox
        .trade(&out_trade_no)
        .ok_or_else(|| ApiError::NotFound("no sandbox trade has this out_trade_no".into()))?;
    Ok(HttpResponse::Ok().json(json!({
        "out_trade_no": trade.out_trade_no,
        "method": trade.method,
        "status": trade.status.as_str(),
        "total_amount": crate::channel::alipay::amount::to_yuan(trade.total_amount),
        "subject": trade.subject,
        "qr_code": trade.qr_code,
        "trade_no": trade.trade_no,
        "notify_url": trade.notify_url,
        "return_url": trade.return_url,
        "time_expire": trade.time_expire,
        "notify_attempts": trade.notify_attempts,
    })))
}
