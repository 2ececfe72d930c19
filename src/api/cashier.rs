//! The hosted cashier page: server-rendered HTML, bilingual, a QR code, a countdown, and a
//! small script (served from /assets, as the Content-Security-Policy allows no inline code)
//! that learns of the payment without a reload.

use crate::channel::ChannelId;
use crate::core::attempts;
use crate::core::checkout;
use crate::core::merchants;
use crate::core::AppState;
use crate::core::CoreError;
use crate::db;
use crate::domain::{time, OrderStatus};
use crate::error::ApiError;
use crate::http::escape_html as escape;
use actix_web::{web, HttpResponse};
use sha2::Digest;

const SCRIPT: &str = include_str!("../../assets/cashier.js");
const STYLESHEET: &str = include_str!("../../assets/cashier.css");

/// Nothing but our own script, style, images and API; no framing; no referrer (the URL holds
/// the checkout token).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

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
    let pay_methods = attempts::payable_channels(&state, &order);
    // A channel not answering is not the page's failure: it says so and its script retries.
    let mut codes = Vec::new();
    for channel in &pay_methods {
        match checkout::code_for(&state, &order, *channel).await {
            Ok(Some(code)) => codes.push(code),
            Ok(None) => {}
            Err(CoreError::Channel(reason)) => {
                log::warn!(
                    "cashier: no {} code for {}: {reason}",
                    channel.as_str(),
                    order.id
                )
            }
            Err(e) => return Err(e.into()),
        }
    }
    let code_of = |channel: ChannelId| codes.iter().find(|c| c.channel == channel);
    let wechat_code = code_of(ChannelId::Wechat);
    let view = checkout::CheckoutView::new(&order, wechat_code, &pay_methods);
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
    let wechat_code_url = wechat_code.map(|c| c.code.as_str()).unwrap_or("");
    let alipay_code = code_of(ChannelId::Alipay)
        .map(|c| c.code.as_str())
        .unwrap_or("");
    let success_url = order.success_url.as_deref().unwrap_or("");
    // Back to the shop: its success page when it gave one, else its site.
    let shop_url = match order.success_url.as_deref() {
        Some(url) => url.to_owned(),
        None => url::Url::parse(&order.return_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default(),
    };
    let token = escape(&token);
    let panels: String = codes
        .iter()
        .map(|code| channel_panel(&token, code, state.has_sandbox(code.channel)))
        .collect();
    // WeChat's H5 page cannot be reached from a sandbox (it lives at wx.tenpay.com): there,
    // a phone simulates the WeChat payment instead.
    let mobile: String = pay_methods
        .iter()
        .filter(|channel| !(**channel == ChannelId::Wechat && state.has_sandbox(ChannelId::Wechat)))
        .map(|channel| mobile_button(&token, *channel))
        .collect();
    let main = format!(
        r#"<main id="cashier" class="channels-{count}" data-token="{token}" data-status="{status}" data-expires-at="{expires}" data-success-url="{success}" data-code-url="{code}" data-alipay-code="{alipay_code}">
{sandbox_banner}<header>
<p class="merchant">{merchant}</p>
<p class="amount">¥<span id="amount">{yuan}</span></p>
<p class="description">{description}</p>
<p class="order-no">订单号 / Order <span id="order-no">{order_no}</span></p>
</header>
<section id="pay"{pay_hidden}>
<p class="choose">请选择支付方式 <span class="en">Choose how to pay</span></p>
<div class="panels">{panels}</div>
<div class="mobile">{mobile}</div>
<p class="countdown">剩余时间 / Time left <span id="countdown">--:--</span></p>
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
<footer><a id="back-to-shop" href="{shop}">← 返回商户 / Back to the shop</a></footer>
</main>"#,
        count = codes.len().max(1),
        status = escape(&view.status),
        expires = time::rfc3339(view.expires_at),
        success = escape(success_url),
        code = escape(wechat_code_url),
        alipay_code = escape(alipay_code),
        // A sandbox order moves no money: the shopper (usually a developer) is told so.
        sandbox_banner = if order.livemode {
            ""
        } else {
            "<p class=\"sandbox-banner\" role=\"note\">沙箱环境 · 不会真实扣款<br><span>SANDBOX — no real money moves</span></p>\n"
        },
        merchant = escape(&merchant_name),
        yuan = yuan_grouped(view.amount),
        description = escape(&view.description),
        order_no = escape(&order.merchant_order_id),
        pay_hidden = hidden(payable && !codes.is_empty()),
        unavailable_hidden = hidden(payable && codes.is_empty()),
        paid_hidden = hidden(paid),
        closed_hidden = hidden(closed),
        expired_hidden = hidden(expired),
        shop = escape(&shop_url),
    );
    let title = format!("收银台 · Checkout — {}", escape(&merchant_name));
    Ok(html(200, page_shell(&title, &main)))
}

/// One channel's QR code (computers) with its hint, and the sandbox's "simulate" button.
fn channel_panel(token: &str, code: &attempts::QrCode, sandbox: bool) -> String {
    // The image is cached while its code lives: a new code must be a new URL.
    let version = &hex::encode(sha2::Sha256::digest(code.code.as_bytes()))[..12];
    let (id, qr_path, name, hint, en) = match code.channel {
        ChannelId::Wechat => (
            "wechat",
            "qr.svg",
            "微信支付",
            "请使用微信扫一扫付款",
            "Scan with WeChat to pay",
        ),
        ChannelId::Alipay => (
            "alipay",
            "alipay/qr.svg",
            "支付宝",
            "请使用支付宝扫一扫付款",
            "Scan with Alipay to pay",
        ),
    };
    let img_id = if code.channel == ChannelId::Wechat {
        "qr"
    } else {
        "alipay-qr"
    };
    let simulate_id = if code.channel == ChannelId::Wechat {
        "simulate"
    } else {
        "simulate-alipay"
    };
    format!(
        r#"<div class="panel {id}" data-channel="{id}">
<p class="channel-name">{name}</p>
<img id="{img_id}" src="/v1/checkout/{token}/{qr_path}?v={version}" alt="{name}二维码 / {en_name} QR code" width="220" height="220">
<p class="hint">{hint}</p>
<p class="en">{en}</p>
<button id="{simulate_id}" class="simulate" type="button"{simulate_hidden}>模拟{name}（沙箱）/ Simulate {en_name} payment (sandbox)</button>
</div>"#,
        en_name = code.channel.display_name(),
        simulate_hidden = hidden(sandbox),
    )
}

/// A phone cannot scan its own screen: the channel's mobile flow instead (Alipay wap pay,
/// WeChat H5), through a link the cashier answers with a redirect.
fn mobile_button(token: &str, channel: ChannelId) -> String {
    let (id, path, label) = match channel {
        ChannelId::Alipay => ("alipay", "alipay/wap", "支付宝支付 / Pay with Alipay"),
        ChannelId::Wechat => ("wechat", "wechat/h5", "微信支付 / Pay with WeChat"),
    };
    format!(
        r#"<a class="mobile-pay {id}" id="mobile-{id}" href="/checkout/{token}/{path}">{label}</a>"#
    )
}

/// Yuan with thousands separators, for people: 123456789 → "1,234,567.89".
pub fn yuan_grouped(fen: i64) -> String {
    let whole = (fen / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}.{:02}", fen % 100)
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
    fn amounts_for_people_are_grouped_by_thousands() {
        assert_eq!(yuan_grouped(1), "0.01");
        assert_eq!(yuan_grouped(99_999), "999.99");
        assert_eq!(yuan_grouped(100_000), "1,000.00");
        assert_eq!(yuan_grouped(123_456_789), "1,234,567.89");
        assert_eq!(yuan_grouped(100_000_000), "1,000,000.00");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
