//! The hosted cashier page as the server renders it (the click-through runs in headless
//! Chromium: tests/browser).

use crate::helpers::{order_body, spawn_app, spawn_app_with, TestApp};
use serde_json::{json, Value};

async fn page(app: &TestApp, token: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = app
        .client
        .get(app.url(&format!("/checkout/{token}")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// Whether the section with this id is shown (no `hidden` attribute).
fn shown(html: &str, id: &str) -> bool {
    let start = html
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("section {id}"));
    let tag_end = start + html[start..].find('>').unwrap();
    !html[start..tag_end].contains("hidden")
}

#[tokio::test]
async fn the_page_shows_the_order_with_its_qr_and_a_strict_policy() {
    let app = spawn_app().await;
    let mut body = order_body("page-1");
    body["description"] = json!("<b>天天吃货</b> & co");
    body["amount"] = json!(12345);
    body["success_url"] = json!("http://127.0.0.1:8088/orders/success?o=page-1");
    let order: Value = app.post_order(&body).await.json().await.unwrap();
    assert_eq!(
        order["success_url"],
        "http://127.0.0.1:8088/orders/success?o=page-1"
    );
    let token = order["checkout_token"].as_str().unwrap();
    let (status, headers, html) = page(&app, token).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(headers["referrer-policy"], "no-referrer");

    assert!(html.contains("¥<span id=\"amount\">123.45</span>"));
    assert!(html.contains("天天吃货"), "the merchant's name");
    assert!(
        html.contains("&lt;b&gt;天天吃货&lt;/b&gt; &amp; co"),
        "the description, escaped"
    );
    assert!(!html.contains("<b>天天吃货</b>"));
    assert!(html.contains(&format!("src=\"/v1/checkout/{token}/qr.svg?v=")));
    assert!(html.contains("请使用微信扫一扫付款") && html.contains("Scan with WeChat to pay"));
    assert!(html.contains("data-success-url=\"http://127.0.0.1:8088/orders/success?o=page-1\""));
    assert!(html.contains(&format!(
        "data-expires-at=\"{}\"",
        order["expires_at"].as_str().unwrap()
    )));
    assert!(shown(&html, "pay") && !shown(&html, "paid") && !shown(&html, "closed"));
    assert!(
        html.contains("id=\"simulate\" class=\"simulate\" type=\"button\">"),
        "the sandbox's button is shown"
    );
    assert!(html.contains("订单号 / Order <span id=\"order-no\">page-1</span>"));
    assert!(
        html.contains("href=\"http://127.0.0.1:8088/orders/success?o=page-1\">← 返回商户"),
        "a link back to the shop"
    );
    assert!(
        !html.contains("alipay-qr"),
        "a WeChat order shows no Alipay code"
    );
    // No inline script, and nothing secret in the page.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("<script src=\"/assets/cashier.js\" defer></script>"));
    assert!(!html.contains(&app.merchant.api_key) && !html.contains(&app.merchant.notify_secret));

    let script = app
        .client
        .get(app.url("/assets/cashier.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(script.text().await.unwrap().contains("/v1/checkout/"));
}

#[tokio::test]
async fn paid_closed_and_expired_orders_say_so() {
    let app = spawn_app().await;
    for (id, status) in [
        ("p-paid", "PAID"),
        ("p-closed", "CLOSED"),
        ("p-expired", "WAIT_PAY"),
    ] {
        let order = app.create_order(id).await;
        let expiry = (status == "WAIT_PAY")
            .then(|| chrono::Utc::now().naive_utc() - chrono::Duration::minutes(1));
        app.update_order(id, status, expiry);
        let (code, _, html) = page(&app, order["checkout_token"].as_str().unwrap()).await;
        assert_eq!(code, 200);
        let expected = match id {
            "p-paid" => "paid",
            "p-closed" => "closed",
            _ => "expired",
        };
        for section in ["pay", "unavailable", "paid", "closed", "expired"] {
            assert_eq!(
                shown(&html, section),
                section == expected,
                "{id}: {section}"
            );
        }
    }
}

#[tokio::test]
async fn an_unknown_checkout_is_a_404_page() {
    let app = spawn_app().await;
    let (status, headers, html) = page(&app, "ct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(html.contains("订单不存在") && html.contains("This checkout does not exist."));
}

#[tokio::test]
async fn without_the_sandbox_there_is_no_simulate_button_and_a_silent_wechat_shows_a_retry() {
    let app = spawn_app_with(|s| s.wechat.api_base = Some("http://127.0.0.1:1".into())).await;
    let order = app.create_order("p-down").await;
    let (status, _, html) = page(&app, order["checkout_token"].as_str().unwrap()).await;
    assert_eq!(
        status, 200,
        "WeChat not answering is not the page's failure"
    );
    assert!(shown(&html, "unavailable") && !shown(&html, "pay"));
    assert!(
        !html.contains("id=\"simulate\""),
        "no WeChat code, no WeChat panel, no button"
    );
}

#[tokio::test]
async fn success_url_follows_the_return_url_rule() {
    let app = spawn_app().await;
    let mut body = order_body("succ-1");
    body["success_url"] = json!("https://evil.example/phish");
    let response = app.post_order(&body).await;
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        error["error"]["message"],
        "success_url must start with one of the merchant's registered return URL prefixes"
    );
    // Part of the request: another success_url is another request.
    body["success_url"] = json!("http://127.0.0.1:8088/a");
    assert_eq!(app.post_order(&body).await.status().as_u16(), 201);
    body["success_url"] = json!("http://127.0.0.1:8088/b");
    assert_eq!(app.post_order(&body).await.status().as_u16(), 409);
}

#[tokio::test]
async fn an_order_left_to_the_shopper_offers_both_channels_and_their_mobile_flows() {
    let app = spawn_app().await;
    let mut body = order_body("both-1");
    body["pay_method"] = Value::Null;
    body["amount"] = json!(12_345_678);
    let order: Value = app.post_order(&body).await.json().await.unwrap();
    let token = order["checkout_token"].as_str().unwrap();
    let (status, _, html) = page(&app, token).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("¥<span id=\"amount\">123,456.78</span>"),
        "thousands separated"
    );
    assert!(html.contains("class=\"channels-2\""));
    assert!(html.contains(&format!("src=\"/v1/checkout/{token}/qr.svg?v=")));
    assert!(html.contains(&format!("src=\"/v1/checkout/{token}/alipay/qr.svg?v=")));
    assert!(html.contains("请使用支付宝扫一扫付款") && html.contains("Scan with Alipay to pay"));
    assert!(html.contains("data-alipay-code=\"https://qr.alipay.com/"));
    assert!(html.contains(&format!("href=\"/checkout/{token}/alipay/wap\"")));
    assert!(
        !html.contains(&format!("href=\"/checkout/{token}/wechat/h5\"")),
        "WeChat's H5 page is out of a sandbox's reach: no link to it here"
    );
    assert!(
        html.contains("href=\"http://localhost:8088\">← 返回商户"),
        "without a success_url: the shop's site"
    );

    // The Alipay QR image, and the phone's way to Alipay: a redirect to wap pay that brings
    // the shopper back to this cashier.
    let svg = app
        .client
        .get(app.url(&format!("/v1/checkout/{token}/alipay/qr.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let wap = no_redirects
        .get(app.url(&format!("/checkout/{token}/alipay/wap")))
        .send()
        .await
        .unwrap();
    assert_eq!(wap.status().as_u16(), 303);
    let location = wap.headers()["location"].to_str().unwrap();
    assert!(
        location.contains("method=alipay.trade.wap.pay"),
        "{location}"
    );
    let cashier = app.url(&format!("/checkout/{token}"));
    let encoded: String = url::form_urlencoded::byte_serialize(cashier.as_bytes()).collect();
    assert!(
        location.contains(&format!("return_url={encoded}")),
        "{location}"
    );
    let h5 = no_redirects
        .get(app.url(&format!("/checkout/{token}/wechat/h5")))
        .send()
        .await
        .unwrap();
    assert_eq!(h5.status().as_u16(), 303);
    assert!(h5.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id="));
}
