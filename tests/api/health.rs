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

#[tokio::test]
async fn readyz_says_when_a_worker_is_not_running() {
    let app = spawn_app_with(|s| s.run_workers = true).await;
    let body: Value = eventually(Duration::from_secs(10), || async {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        (body["workers"]["webhook"]["status"] == "running"
            && body["workers"]["reconcile"]["status"] == "running")
            .then_some(body)
    })
    .await
    .expect("both workers run");
    assert_eq!(body["workers"]["webhook"]["restarts"], 0);

    // As between a panic and the restart.
    app.workers
        .webhook
        .set(payment_center::workers::WorkerState::Restarting);
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["workers"]["webhook"]["status"], "restarting");
    assert_eq!(
        body["error"]["message"],
        "the webhook worker is not running"
    );
}

/// A worker that panics is logged and started again; shutdown stops it for good.
#[tokio::test]
async fn a_panicking_worker_is_started_again() {
    use payment_center::workers::{supervise, WorkerState, WorkerStatus};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let status = Arc::new(WorkerStatus::default());
    let starts = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let supervisor = {
        let (status, starts) = (status.clone(), starts.clone());
        let worker_stop = stopped.clone();
        tokio::spawn(supervise(
            "test worker",
            status,
            move || {
                let n = starts.fetch_add(1, Ordering::SeqCst);
                let mut stop = worker_stop.clone();
                async move {
                    if n == 0 {
                        panic!("a bug on the first run");
                    }
                    let _ = stop.wait_for(|s| *s).await;
                }
            },
            stopped,
        ))
    };
    eventually(Duration::from_secs(10), || async {
        (starts.load(Ordering::SeqCst) == 2 && status.state() == WorkerState::Running).then_some(())
    })
    .await
    .expect("started again after the panic");
    assert_eq!(status.restarts(), 1);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), supervisor)
        .await
        .expect("the supervisor stops")
        .unwrap();
    assert_eq!(status.state(), WorkerState::Stopped);
    assert_eq!(starts.load(Ordering::SeqCst), 2);
}
