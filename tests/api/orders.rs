use crate::helpers::{create_merchant, error_of, order_body, spawn_app, TestApp};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

#[tokio::test]
async fn create_returns_201_with_the_order_object() {
    let app = spawn_app().await;
    let response = app.post_order(&order_body("210216HW7D4NGT2W")).await;
    assert_eq!(response.status().as_u16(), 201);
    let order: Value = response.json().await.unwrap();

    let id = order["id"].as_str().unwrap();
    assert!(id.starts_with("PC") && id.len() <= 32, "{id}");
    assert_eq!(order["merchant_order_id"], "210216HW7D4NGT2W");
    assert_eq!(order["merchant_user_id"], "190815GTKCBSS7MW");
    assert_eq!(order["amount"], 1);
    assert_eq!(order["pay_method"], "wechat");
    assert_eq!(order["status"], "WAIT_PAY");
    assert_eq!(order["description"], "天天吃货-付款用户[190815GTKCBSS7MW]");
    assert_eq!(
        order["return_url"],
        "http://localhost:8088/orders/notifyMerchantOrderPaid"
    );
    assert_eq!(order["paid_at"], Value::Null);
    assert_eq!(order["transaction_id"], Value::Null);
    let created = order["created_at"].as_str().unwrap();
    let expires = order["expires_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");
    let created: DateTime<Utc> = created.parse().unwrap();
    let expires: DateTime<Utc> = expires.parse().unwrap();
    assert_eq!((expires - created).num_minutes(), 120);
    assert!((Utc::now() - created).num_seconds().abs() < 60);

    let token = order["checkout_token"].as_str().unwrap();
    assert!(token.starts_with("ct_") && token.len() >= 3 + 22, "{token}");
    assert_eq!(
        order["checkout_url"].as_str().unwrap(),
        format!("{}/checkout/{token}", app.address)
    );
    assert_eq!(app.order_count(), 1);
}

#[tokio::test]
async fn get_returns_the_same_order() {
    let app = spawn_app().await;
    let created: Value = app
        .post_order(&order_body("A-1"))
        .await
        .json()
        .await
        .unwrap();
    let response = app.get_order_as(&app.merchant.api_key, "A-1").await;
    assert_eq!(response.status().as_u16(), 200);
    let read: Value = response.json().await.unwrap();
    assert_eq!(read, created);
}

#[tokio::test]
async fn optional_fields_take_their_defaults() {
    let app = spawn_app().await;
    let mut body = order_body("defaults-1");
    body.as_object_mut().unwrap().remove("description");
    body.as_object_mut().unwrap().remove("expire_minutes");
    body["pay_method"] = json!(1);
    let response = app.post_order(&body).await;
    assert_eq!(response.status().as_u16(), 201);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["description"], "Order defaults-1");
    assert_eq!(order["pay_method"], "wechat");
    let created: DateTime<Utc> = order["created_at"].as_str().unwrap().parse().unwrap();
    let expires: DateTime<Utc> = order["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!((expires - created).num_minutes(), 120);

    let mut body = order_body("short-1");
    body["expire_minutes"] = json!(5);
    let order: Value = app.post_order(&body).await.json().await.unwrap();
    let created: DateTime<Utc> = order["created_at"].as_str().unwrap().parse().unwrap();
    let expires: DateTime<Utc> = order["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!((expires - created).num_minutes(), 5);
}

#[tokio::test]
async fn the_same_request_again_is_200_with_the_same_order() {
    let app = spawn_app().await;
    let first = app.post_order(&order_body("retry-1")).await;
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();
    let second = app.post_order(&order_body("retry-1")).await;
    assert_eq!(second.status().as_u16(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(app.order_count(), 1);
}

#[tokio::test]
async fn a_default_spelled_out_is_the_same_request() {
    let app = spawn_app().await;
    let mut implicit = order_body("spelled-1");
    implicit.as_object_mut().unwrap().remove("expire_minutes");
    assert_eq!(app.post_order(&implicit).await.status().as_u16(), 201);
    let mut explicit = order_body("spelled-1");
    explicit["expire_minutes"] = json!(120);
    explicit["pay_method"] = json!(1);
    assert_eq!(app.post_order(&explicit).await.status().as_u16(), 200);
}

#[tokio::test]
async fn twenty_concurrent_identical_creates_make_exactly_one_order() {
    let app = spawn_app().await;
    let body = order_body("storm-1");
    let requests = (0..20).map(|_| app.post_order(&body));
    let responses = futures_util::future::join_all(requests).await;
    let mut statuses = Vec::new();
    let mut ids = Vec::new();
    for response in responses {
        statuses.push(response.status().as_u16());
        let order: Value = response.json().await.unwrap();
        ids.push(order["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        19,
        "{statuses:?}"
    );
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer is the same order");
    assert_eq!(app.order_count(), 1);
}

#[tokio::test]
async fn the_same_id_with_a_different_field_is_409_naming_it() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_order(&order_body("dup-1")).await.status().as_u16(),
        201
    );
    let cases = [
        ("amount", json!(2)),
        ("merchant_user_id", json!("someone-else")),
        ("description", json!("another")),
        ("expire_minutes", json!(30)),
        ("return_url", json!("http://localhost:8088/other")),
    ];
    for (field, value) in cases {
        let mut body = order_body("dup-1");
        body[field] = value;
        let (code, message) = error_of(app.post_order(&body).await, 409).await;
        assert_eq!(code, "conflict");
        assert_eq!(
            message,
            format!("merchant_order_id dup-1 already exists with a different {field}")
        );
    }
    let order: Value = app
        .get_order_as(&app.merchant.api_key, "dup-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["amount"], 1, "the original is unchanged");
    assert_eq!(app.order_count(), 1);
}

#[tokio::test]
async fn unknown_order_is_404() {
    let app = spawn_app().await;
    let (code, message) =
        error_of(app.get_order_as(&app.merchant.api_key, "nope").await, 404).await;
    assert_eq!(code, "not_found");
    assert_eq!(message, "no order with this merchant_order_id");
    // An id no order can have is just as unknown.
    let (code, _) = error_of(
        app.get_order_as(&app.merchant.api_key, "bad%20id").await,
        404,
    )
    .await;
    assert_eq!(code, "not_found");
}

#[tokio::test]
async fn another_merchants_order_is_404_exactly_like_an_unknown_one() {
    let app = spawn_app().await;
    let other = create_merchant(&app.pool, "another shop", &["http://localhost:8088"]);
    assert_eq!(
        app.post_order(&order_body("mine-1"))
            .await
            .status()
            .as_u16(),
        201
    );

    let theirs = app.get_order_as(&other.api_key, "mine-1").await;
    assert_eq!(theirs.status().as_u16(), 404);
    let theirs: Value = theirs.json().await.unwrap();
    let unknown: Value = app
        .get_order_as(&other.api_key, "never-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs, unknown);

    // The id is unique per merchant: the other merchant may use it for its own order.
    let response = app
        .post_order_as(&other.api_key, &order_body("mine-1"))
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let their_order: Value = response.json().await.unwrap();
    let my_order: Value = app
        .get_order_as(&app.merchant.api_key, "mine-1")
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(their_order["id"], my_order["id"]);
    assert_ne!(their_order["checkout_token"], my_order["checkout_token"]);
    assert_eq!(app.order_count(), 2);
}

#[tokio::test]
async fn requests_without_a_valid_key_are_401() {
    let app = spawn_app().await;
    let url = app.url("/v1/orders");
    let body = order_body("auth-1");
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("wrong key", Some("Bearer sk_notakey".into())),
        (
            "basic scheme",
            Some(format!("Basic {}", app.merchant.api_key)),
        ),
        ("empty bearer", Some("Bearer ".into())),
        ("key without scheme", Some(app.merchant.api_key.clone())),
    ];
    for (case, header) in cases {
        let mut post = app.client.post(&url).json(&body);
        let mut get = app.client.get(app.url("/v1/orders/auth-1"));
        if let Some(h) = &header {
            post = post.header("Authorization", h);
            get = get.header("Authorization", h);
        }
        for response in [post.send().await.unwrap(), get.send().await.unwrap()] {
            assert_eq!(
                response
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap()),
                Some("Bearer"),
                "{case}"
            );
            let (code, message) = error_of(response, 401).await;
            assert_eq!(code, "unauthorized", "{case}");
            assert!(
                message.contains("Authorization header"),
                "{case}: {message}"
            );
        }
    }
    // A bad body with no key is still 401: the key is checked first.
    let response = app
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response, 401).await.0, "unauthorized");
    assert_eq!(app.order_count(), 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_the_error_envelope() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/v2/nothing")).send().await.unwrap();
    let (code, message) = error_of(response, 404).await;
    assert_eq!(code, "not_found");
    assert_eq!(message, "no such endpoint: GET /v2/nothing");

    let response = app
        .client
        .delete(app.url("/v1/orders"))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(response, 405).await;
    assert_eq!(code, "method_not_allowed");
    assert_eq!(message, "DELETE is not allowed on /v1/orders");
}

async fn list(app: &TestApp, query: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/orders{query}")))
        .bearer_auth(&app.merchant.api_key)
        .send()
        .await
        .unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["merchant_order_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Newest first, a page at a time with a cursor, filtered by status and creation time; bad
/// parameters are 400 naming them; another merchant's orders never show.
#[tokio::test]
async fn orders_are_listed_newest_first_page_by_page() {
    let app = spawn_app().await;
    for n in 1..=5 {
        app.create_order(&format!("list-{n}")).await;
    }
    // One closed, and their times spread so that the order is certain.
    app.update_order("list-2", "CLOSED", None);
    for n in 1..=5 {
        app.execute(&format!(
            "UPDATE orders SET created_at = '2026-11-2{n} 10:00:00' WHERE merchant_order_id = 'list-{n}'"
        ));
    }
    let other = create_merchant(&app.pool, "other", &["http://localhost:8088"]);
    assert_eq!(
        app.post_order_as(&other.api_key, &order_body("theirs-1"))
            .await
            .status()
            .as_u16(),
        201
    );

    let first: Value = list(&app, "?limit=2").await.json().await.unwrap();
    assert_eq!(ids(&first), ["list-5", "list-4"]);
    assert_eq!(first["has_more"], true);
    assert!(first["data"][0]["checkout_url"]
        .as_str()
        .unwrap()
        .contains("/checkout/ct_"));
    let second: Value = list(&app, "?limit=2&starting_after=list-4")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&second), ["list-3", "list-2"]);
    let last: Value = list(&app, "?limit=2&starting_after=list-2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&last), ["list-1"]);
    assert_eq!(last["has_more"], false);

    let closed: Value = list(&app, "?status=CLOSED").await.json().await.unwrap();
    assert_eq!(ids(&closed), ["list-2"]);
    let window: Value = list(
        &app,
        "?created_gte=2026-11-22T00:00:00Z&created_lt=2026-11-24T00:00:00Z",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(ids(&window), ["list-3", "list-2"]);
    let all: Value = list(&app, "").await.json().await.unwrap();
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        5,
        "never another merchant's"
    );

    for (query, message) in [
        ("?limit=0", "limit must be an integer from 1 to 100"),
        ("?limit=101", "limit must be an integer from 1 to 100"),
        ("?status=SHIPPED", "status must be one of WAIT_PAY, PAID, CLOSED, PAID_AFTER_CLOSE, REFUNDED"),
        ("?created_gte=yesterday", "created_gte must be an RFC 3339 timestamp like 2026-11-22T06:13:19Z"),
        ("?starting_after=theirs-1", "starting_after must be a merchant_order_id from the previous page"),
        ("?sort=asc", "sort is not a parameter of the order list (status, created_gte, created_lt, limit, starting_after)"),
        ("?limit=1&limit=2", "limit is given twice"),
    ] {
        let (code, got) = error_of(list(&app, query).await, 400).await;
        assert_eq!((code.as_str(), got.as_str()), ("invalid_request", message), "{query}");
    }
}

/// The order insert is kept prepared on Postgres: orders with and without their optional
/// fields, one after the other on the same pooled connections, are all written.
#[tokio::test]
async fn orders_with_and_without_a_success_url_alternate() {
    let app = spawn_app().await;
    for n in 0..12 {
        let mut body = order_body(&format!("alt-{n}"));
        if n % 2 == 1 {
            body["success_url"] = json!(format!("http://localhost:8088/orders/done?o={n}"));
        }
        let response = app.post_order(&body).await;
        let status = response.status().as_u16();
        let order: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "order {n}: {order}");
        let expected = if n % 2 == 1 {
            json!(format!("http://localhost:8088/orders/done?o={n}"))
        } else {
            Value::Null
        };
        assert_eq!(order["success_url"], expected, "order {n}");
    }
    assert_eq!(app.order_count(), 12);
}
