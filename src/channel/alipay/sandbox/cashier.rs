//! The sandbox's Alipay cashier: where page and wap pay land. Its button pays the trade and
//! sends the browser back to the request's `return_url` with Alipay's signed parameters.

use super::notifier;
use super::trades::{AlipaySandbox, Status};
use super::MOUNT;
use crate::channel::alipay::amount::to_yuan;
use crate::error::ApiError;
use crate::http::escape_html as escape;
use actix_web::{web, HttpResponse};

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(format!(
            r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>支付宝沙箱收银台 · Alipay sandbox</title>
<style>
body{{margin:0;font-family:system-ui,"Noto Sans CJK SC",sans-serif;background:#f5f7fa;color:#1f2329}}
.bar{{background:#1677ff;color:#fff;padding:12px 20px;font-weight:600}}
.sandbox{{background:#fff7e6;color:#ad6800;padding:8px 20px;font-size:14px}}
main{{max-width:420px;margin:32px auto;background:#fff;border-radius:12px;padding:28px;box-shadow:0 2px 12px rgba(0,0,0,.08)}}
.amount{{font-size:36px;font-weight:700;margin:8px 0}}
.muted{{color:#646a73;font-size:14px}}
button{{width:100%;margin-top:24px;padding:14px;border:0;border-radius:8px;background:#1677ff;color:#fff;font-size:17px;cursor:pointer}}
</style></head><body><div class="bar">支付宝 Alipay</div>
<div class="sandbox">沙箱环境：不会扣款 · Sandbox: no money moves</div>
<main>{body}</main></body></html>"#
        ))
}

/// The cashier for a trade opened by page, wap or app pay.
pub fn page(sandbox: &AlipaySandbox, out_trade_no: &str) -> HttpResponse {
    let Some(trade) = sandbox.trade(out_trade_no) else {
        return html("<h2>交易不存在</h2><p class=\"muted\">No such trade.</p>".into());
    };
    sandbox.scanned(out_trade_no);
    let body = match trade.status {
        Status::Success => {
            "<h2>交易已支付</h2><p class=\"muted\">This trade is already paid.</p>".into()
        }
        Status::Closed => "<h2>交易已关闭</h2><p class=\"muted\">This trade is closed.</p>".into(),
        _ => format!(
            r#"<p class="muted">{subject}</p>
<p class="amount">¥{yuan}</p>
<p class="muted">订单号 Order {no}</p>
<form method="post" action="{MOUNT}/cashier/{no_url}/pay"><button type="submit" id="alipay-pay">确认付款 Pay</button></form>"#,
            subject = escape(&trade.subject),
            yuan = to_yuan(trade.total_amount),
            no = escape(&trade.out_trade_no),
            no_url = url::form_urlencoded::byte_serialize(trade.out_trade_no.as_bytes())
                .collect::<String>(),
        ),
    };
    html(body)
}

/// `POST /sandbox/alipay/cashier/{out_trade_no}/pay`: pays, notifies, and returns the browser.
pub async fn pay(
    sandbox: web::Data<AlipaySandbox>,
    out_trade_no: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let trade = sandbox.pay(&out_trade_no).map_err(|refusal| {
        ApiError::Conflict(format!("{}: {}", refusal.sub_code, refusal.sub_msg))
    })?;
    if !notifier::deliver_once(&sandbox, &out_trade_no).await {
        notifier::keep_notifying(
            sandbox.clone(),
            out_trade_no.to_string(),
            trade.trade_no.clone().unwrap_or_default(),
        );
    }
    Ok(match &trade.return_url {
        Some(url) => {
            let separator = if url.contains('?') { '&' } else { '?' };
            HttpResponse::SeeOther()
                .insert_header((
                    "Location",
                    format!("{url}{separator}{}", sandbox.return_params(&trade)),
                ))
                .finish()
        }
        None => {
            html("<h2>支付成功</h2><p class=\"muted\">Paid. You may close this page.</p>".into())
        }
    })
}
