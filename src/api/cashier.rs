//! The hosted cashier page: server-rendered HTML, bilingual, a QR code, a countdown, and a
//! small script (served from /assets, as the Content-Security-Policy allows no inline code)
//! that learns of the payment without a reload.

use crate::channel::ChannelId;
use crate::core::attempts;
use crate::core::checkout;
use crate::core::merchants;
use crate::core::CoreError;
use crate::db;
use crate::domain::{time, OrderStatus};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use sha2::Digest;

const SCRIPT: &str = include_str!("../../assets/cashier.js");
const STYLESHEET: &str = include_str!("../../assets/cashier.css");

/// Nothing but our own script, style, images and API; no framing; no referrer (the URL holds
/// the checkout token).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Fen as yuan: 1 → "0.01", 12345 → "123.45".
pub fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn html(status: u16, body: String) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

fn page_shell(title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<link rel=\"stylesheet\" href=\"/assets/cashier.css\">\n\
         <script src=\"/assets/cashier.js\" defer></script>\n</head>\n<body>\n{main}\n</body>\n</html>\n"
    )
}

fn hidden(visible: bool) -> &'static str {
    if visible {
        ""
    } else {
        " hidden"
    }
}

/// `GET /checkout/{checkout_token}`.
pub async fn page(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = match checkout::find_order(&state, &token).await {
        Ok(order) => order,
        Err(CoreError::NotFound(_)) => {
            let main =
                "<main><h2>订单不存在</h2><p class=\"en\">This checkout does not exist.</p></main>";
            return Ok(html(404, page_shell("收银台 · Checkout", main)));
        }
        Err(e) => return Err(e.into()),
    };
    // WeChat not answering is not the page's failure: it says so and its script retries.
    let code = match checkout::code_for(&state, &order, ChannelId::Wechat).await {
        Ok(code) => code,
        Err(CoreError::Channel(reason)) => {
            log::warn!("cashier: no code for {}: {reason}", order.id);
            None
        }
        Err(e) => return Err(e.into()),
    };
    let pay_methods = attempts::payable_channels(&state, &order);
    let view = checkout::CheckoutView::new(&order, code.as_ref(), &pay_methods);
    let merchant_id = order.merchant_id.clone();
    let merchant_name = db::run(&state.pool, move |conn| {
        merchants::find(conn, &merchant_id).map_err(ApiError::from)
    })
    .await?
    .map(|m| m.name)
    .unwrap_or_default();

    let status = OrderStatus::from_stored(&view.status);
    let paid = matches!(
        status,
        Some(OrderStatus::Paid | OrderStatus::PaidAfterClose)
    );
    let closed = status == Some(OrderStatus::Closed);
    let expired = !paid && !closed && view.expires_at <= time::now();
    let payable = !paid && !closed && !expired;
    let code_url = code.as_ref().map(|c| c.code.as_str()).unwrap_or("");
    let success_url = order.success_url.as_deref().unwrap_or("");
    let token = escape(&token);
    let main = format!(
        r#"<main id="cashier" data-token="{token}" data-status="{status}" data-expires-at="{expires}" data-success-url="{success}" data-code-url="{code}" data-sandbox="{sandbox}">
{sandbox_banner}<header>
<p class="merchant">{merchant}</p>
<p class="amount">¥<span id="amount">{yuan}</span></p>
<p class="description">{description}</p>
</header>
<section id="pay"{pay_hidden}>
<img id="qr" src="/v1/checkout/{token}/qr.svg?v={qr_version}" alt="微信支付二维码 / WeChat Pay QR code" width="256" height="256">
<p class="hint">请使用微信扫一扫付款</p>
<p class="en">Scan with WeChat to pay</p>
<p class="countdown">剩余时间 / Time left <span id="countdown">--:--</span></p>
<button id="simulate" type="button"{simulate_hidden}>模拟支付（沙箱）/ Simulate payment (sandbox)</button>
</section>
<section id="unavailable"{unavailable_hidden}>
<p class="hint">暂时无法获取支付二维码，正在重试…</p>
<p class="en">The payment code is not available yet; retrying…</p>
</section>
<section id="paid"{paid_hidden}>
<h2>支付成功</h2>
<p class="en">Payment received. Thank you!</p>
<p id="redirect" hidden>正在返回商户… / Returning to the shop… <a id="success-link" href="{success}">继续 / Continue</a></p>
</section>
<section id="closed"{closed_hidden}>
<h2>订单已关闭</h2>
<p class="en">This order is closed and can no longer be paid.</p>
</section>
<section id="expired"{expired_hidden}>
<h2>订单已过期</h2>
<p class="en">This order has expired. Please place it again.</p>
</section>
</main>"#,
        // The image is cached while its code lives: a new code must be a new URL.
        qr_version = &hex::encode(sha2::Sha256::digest(code_url.as_bytes()))[..12],
        status = escape(&view.status),
        expires = time::rfc3339(view.expires_at),
        success = escape(success_url),
        code = escape(code_url),
        sandbox = u8::from(state.has_sandbox(ChannelId::Wechat)),
        // A sandbox order moves no money: the shopper (usually a developer) is told so.
        sandbox_banner = if order.livemode {
            ""
        } else {
            "<p class=\"sandbox-banner\" role=\"note\">沙箱环境 · 不会真实扣款<br><span>SANDBOX — no real money moves</span></p>\n"
        },
        merchant = escape(&merchant_name),
        yuan = yuan(view.amount),
        description = escape(&view.description),
        pay_hidden = hidden(payable && code.is_some()),
        simulate_hidden = hidden(state.has_sandbox(ChannelId::Wechat)),
        unavailable_hidden = hidden(payable && code.is_none()),
        paid_hidden = hidden(paid),
        closed_hidden = hidden(closed),
        expired_hidden = hidden(expired),
    );
    let title = format!("收银台 · Checkout — {}", escape(&merchant_name));
    Ok(html(200, page_shell(&title, &main)))
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "public, max-age=300"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// Browsers ask for it on every page; an empty answer keeps the cashier's console clean.
pub async fn favicon() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .finish()
}

pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLESHEET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_yuan() {
        assert_eq!(yuan(1), "0.01");
        assert_eq!(yuan(100), "1.00");
        assert_eq!(yuan(12345), "123.45");
        assert_eq!(yuan(100_000_000), "1000000.00");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
