use crate::helpers::{eventually, spawn_app, spawn_app_with};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn healthz_answers() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_checks_the_database_and_the_cache() {
    let app = spawn_app().await;
    // The first check opens the Redis connection under a 500 ms timeout: on a loaded machine
    // that can miss once (then it is retried after a short pause), so readiness is awaited.
    let body: Value = eventually(Duration::from_secs(10), || async {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        let ready = response.status().as_u16() == 200;
        let body: Value = response.json().await.unwrap();
        ready.then_some(body)
    })
    .await
    .expect("/readyz answers 200");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"]["status"], "ok");
    assert_eq!(body["cache"]["status"], "ok");
    let kind = if crate::helpers::test_redis_url().is_some() {
        "redis"
    } else {
        "memory"
    };
    assert_eq!(body["cache"]["kind"], kind);
}

#[tokio::test]
async fn readyz_is_503_naming_a_cache_that_does_not_answer() {
    // Nothing listens on port 1.
    let app = spawn_app_with(|s| s.redis_url = Some("redis://127.0.0.1:1".into())).await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(body["error"]["message"], "redis does not answer");
    assert_eq!(body["database"]["status"], "ok");
    assert_eq!(body["cache"]["status"], "down");
    assert_eq!(body["cache"]["kind"], "redis");
    assert!(
        body["cache"]["error"].as_str().unwrap().contains("redis"),
        "{body}"
    );

    // The merchant API does not need the cache.
    let response = app
        .post_order(&crate::helpers::order_body("no-cache-1"))
        .await;
    assert_eq!(response.status().as_u16(), 201);
}
