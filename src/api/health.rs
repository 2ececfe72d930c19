use crate::channel::CredentialCheck;
use crate::core::AppState;
use crate::db;
use crate::workers::WorkerState;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

/// The process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

fn check(result: &Result<(), String>) -> Value {
    match result {
        Ok(()) => json!({"status": "ok"}),
        Err(e) => json!({"status": "down", "error": e}),
    }
}

/// The database and the cache answer and the workers run; a 503 names what does not.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // The answer says which store is down; the detail (hosts, users) goes to the log only.
    let database = db::run(&state.pool, |conn| {
        db::ping(conn).map_err(db::DbError::from)
    })
    .await
    .map_err(|e| {
        log::warn!("readyz: {e}");
        "the database does not answer".to_owned()
    });
    let cache = state.cache.ping().await.map_err(|e| {
        log::warn!("readyz: cache: {e}");
        format!("{} does not answer", state.cache.kind())
    });
    // A worker that is not running (it panicked and waits to start again, or stopped) leaves
    // webhooks undelivered or payments unreconciled: the instance is not fully ready.
    let mut workers = serde_json::Map::new();
    let mut not_ready = Vec::new();
    for (name, status) in &state.workers {
        let worker_state = status.state();
        if matches!(worker_state, WorkerState::Restarting | WorkerState::Stopped) {
            not_ready.push(format!("the {name} worker is not running"));
        }
        workers.insert(
            (*name).to_owned(),
            json!({"status": worker_state.as_str(), "restarts": status.restarts()}),
        );
    }
    // Refused credentials mean no payment can be taken; a channel that did not answer the
    // check is reported but may well answer the next call.
    let mut channels = serde_json::Map::new();
    for (channel, check) in &state.credential_checks {
        let found = check.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut entry = json!({"credentials": found.as_str()});
        // The channel's own words only; a transport error's detail (hosts) goes to the log.
        if let CredentialCheck::Refused(e) = &found {
            entry["error"] = json!(e);
            not_ready.push(format!(
                "{} refused the credentials",
                channel.display_name()
            ));
        }
        channels.insert(channel.as_str().to_owned(), entry);
    }
    let ready = database.is_ok() && cache.is_ok() && not_ready.is_empty();
    let mut cache_check = check(&cache);
    cache_check["kind"] = json!(state.cache.kind());
    let mut body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "mode": state.mode.as_str(),
        "database": check(&database),
        "cache": cache_check,
        "workers": workers,
        "channels": channels,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        // Every non-2xx JSON answer carries the API's error envelope; the checks stay beside it.
        let down: Vec<String> = [database, cache]
            .into_iter()
            .filter_map(Result::err)
            .chain(not_ready)
            .collect();
        body["error"] = json!({"code": "unavailable", "message": down.join("; ")});
        log::warn!("not ready: {body}");
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text format. The webhook queue depth is read from the database at scrape time.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let depth = db::run(&state.pool, |conn| {
        db::webhook_events::pending_count(conn).map_err(db::DbError::from)
    })
    .await
    .ok();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(depth))
}
