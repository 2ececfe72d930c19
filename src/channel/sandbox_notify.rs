//! What both sandboxes do alike when they notify: one POST with a bounded time and a bounded
//! read of the answer (a notify URL is whatever a request named), recorded as an attempt.

use crate::domain::time;
use std::time::Duration;

/// The sandbox waits this long for a notify URL's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, serde::Serialize)]
pub struct NotifyAttempt {
    pub at: String,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub acknowledged: bool,
}

/// The start of the answer's body, at most `max` bytes; reading stops there (the rest is
/// never downloaded) or at the first error.
async fn read_at_most(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = max - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    body
}

/// Posts `body` to `url` and records the attempt; `acknowledges` reads at most `max_answer`
/// bytes of a 2xx answer and says whether the channel's client took the notify.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: String,
    max_answer: usize,
    acknowledges: impl Fn(&[u8]) -> bool,
) -> NotifyAttempt {
    let result = http
        .post(url)
        .header("Content-Type", content_type)
        .body(body)
        .timeout(ANSWER_TIMEOUT)
        .send()
        .await;
    match result {
        Err(e) => NotifyAttempt {
            at: time::rfc3339(time::now()),
            http_status: None,
            error: Some(e.to_string()),
            acknowledged: false,
        },
        Ok(response) => {
            let status = response.status();
            let answer = read_at_most(response, max_answer).await;
            NotifyAttempt {
                at: time::rfc3339(time::now()),
                http_status: Some(status.as_u16()),
                error: None,
                acknowledged: status.is_success() && acknowledges(&answer),
            }
        }
    }
}
