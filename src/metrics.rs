//! Prometheus metrics, rendered as text at `GET /metrics`. A small registry of our own:
//! counters and one histogram family, labelled with low-cardinality values only (route
//! patterns, never ids). One `Metrics` per application (in its state, and handed to what it
//! builds: channel clients, the cache, the workers), so two instances in one process count
//! apart.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Registry {
    /// (metric name, rendered labels) → value
    counters: BTreeMap<(&'static str, String), u64>,
    histograms: BTreeMap<(&'static str, String), Histogram>,
    /// Every request passes here: keyed by what it already holds (no label is formatted
    /// until a scrape), (route pattern, method, status) → count.
    http_requests: HashMap<(&'static str, &'static str, u16), u64>,
    /// route pattern → time to answer.
    http_durations: HashMap<&'static str, Histogram>,
}

const HTTP_REQUESTS: &str = "payment_center_http_requests_total";
const HTTP_DURATIONS: &str = "payment_center_http_request_duration_seconds";

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: [0; LATENCY_BUCKETS.len()],
            count: 0,
            sum: 0.0,
        }
    }

    fn observe(&mut self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (bucket, bound) in self.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (count, bound) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// The application's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// When this application started (unix seconds).
    started_at: f64,
}

const PAYMENT_BATCHES: &str = "payment_center_payment_batches_total";
const PAYMENT_BATCH_PAYMENTS: &str = "payment_center_payment_batch_payments_total";

const HELP: [(&str, &str, &str); 14] = [
    (
        PAYMENT_BATCHES,
        "counter",
        "Transactions of notified payments, by how they were written (alone, together, one_by_one after a failed batch)",
    ),
    (
        PAYMENT_BATCH_PAYMENTS,
        "counter",
        "Notified payments written, by how their batch was written",
    ),
    (
        HTTP_DURATIONS,
        "histogram",
        "Time to answer a request, by route pattern",
    ),
    (
        "payment_center_course_logins_total",
        "counter",
        "Course (foodie-dev) requests by login outcome",
    ),
    (
        HTTP_REQUESTS,
        "counter",
        "HTTP requests by route pattern, method and status",
    ),
    (
        "payment_center_order_transitions_total",
        "counter",
        "Order state changes",
    ),
    (
        "payment_center_notifies_total",
        "counter",
        "channel notifies by channel, result and reason",
    ),
    (
        "payment_center_webhook_attempts_total",
        "counter",
        "Webhook delivery attempts by result",
    ),
    (
        "payment_center_webhook_deliveries_total",
        "counter",
        "Webhook events delivered",
    ),
    (
        "payment_center_webhook_failures_total",
        "counter",
        "Webhook events given up after the last retry",
    ),
    (
        "payment_center_webhook_breaker_opened_total",
        "counter",
        "Times a webhook host failing again and again was left alone for a while",
    ),
    (
        "payment_center_cache_bypassed_total",
        "counter",
        "Cache calls skipped while Redis is failing (served from the database instead)",
    ),
    (
        "payment_center_channel_call_duration_seconds",
        "histogram",
        "Channel API call latency by call",
    ),
    (
        "payment_center_webhook_queue_depth",
        "gauge",
        "Webhook events waiting to be delivered",
    ),
];

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

impl Registry {
    fn observe(&mut self, name: &'static str, labels: String, took: Duration) {
        self.histograms
            .entry((name, labels))
            .or_insert_with(Histogram::new)
            .observe(took);
    }
}

/// The `method` label takes these values only: anyone can send `FOO /` and must not grow
/// the registry with it.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

/// The process's resident memory (bytes) and open file descriptors, from /proc (Linux).
fn process_figures() -> (Option<u64>, Option<usize>) {
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        // The page size is 4 KiB on the architectures this runs on.
        .map(|pages| pages * 4096);
    let fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count());
    (rss, fds)
}

/// The standard process metrics and the build, rendered before ours.
fn render_process(out: &mut String, started_at: f64) {
    let (rss, fds) = process_figures();
    if let Some(rss) = rss {
        let _ = writeln!(
            out,
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}"
        );
    }
    if let Some(fds) = fds {
        let _ = writeln!(
            out,
            "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds {fds}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {started_at}"
    );
    let _ = writeln!(
        out,
        "# HELP payment_center_build_info The running build.\n# TYPE payment_center_build_info gauge\npayment_center_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
}

/// Every label set a counter can take that is known before traffic (all but the HTTP request
/// counter, whose routes and statuses come with requests), so a dashboard sees zeros instead
/// of missing series.
pub const NOTIFY_OUTCOMES: [(&str, &str); 12] = [
    ("accepted", "recorded"),
    ("accepted", "nothing"),
    ("accepted", "repeat"),
    ("failed", "store"),
    ("rejected", "malformed"),
    ("rejected", "forged"),
    ("rejected", "account"),
    ("rejected", "signature"),
    ("rejected", "not_success"),
    ("rejected", "amount"),
    ("rejected", "unknown_trade"),
    ("rejected", "other"),
];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        zeroed(&mut registry);
        Metrics {
            registry: Mutex::new(registry),
            started_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

impl Metrics {
    pub fn increment(&self, name: &'static str, pairs: &[(&str, &str)]) {
        let mut registry = self.registry.lock().expect("metrics lock");
        *registry.counters.entry((name, labels(pairs))).or_insert(0) += 1;
    }

    pub fn observe(&self, name: &'static str, pairs: &[(&str, &str)], took: Duration) {
        let mut registry = self.registry.lock().expect("metrics lock");
        registry.observe(name, labels(pairs), took);
    }

    /// One answered request: counted by route, method and status, and timed by route, under
    /// one short lock (it is on every request's path: a route known at build time is not even
    /// copied).
    pub fn http_request(&self, route: &'static str, method: &str, status: u16, took: Duration) {
        let method = method_label(method);
        let mut registry = self.registry.lock().expect("metrics lock");
        *registry
            .http_requests
            .entry((route, method, status))
            .or_insert(0) += 1;
        registry
            .http_durations
            .entry(route)
            .or_insert_with(Histogram::new)
            .observe(took);
    }

    pub fn course_auth(&self, outcome: &str) {
        self.increment(
            "payment_center_course_logins_total",
            &[("outcome", outcome)],
        );
    }

    /// A batch of notified payments written (`order_state::BatchWrite`), and how many it held:
    /// payments ÷ batches is the group commit's batch size.
    pub fn payment_batch(&self, written: &str, payments: usize) {
        let mut registry = self.registry.lock().expect("metrics lock");
        let pairs = labels(&[("written", written)]);
        *registry
            .counters
            .entry((PAYMENT_BATCHES, pairs.clone()))
            .or_insert(0) += 1;
        *registry
            .counters
            .entry((PAYMENT_BATCH_PAYMENTS, pairs))
            .or_insert(0) += payments as u64;
    }

    pub fn transition(&self, to: &str) {
        self.increment("payment_center_order_transitions_total", &[("to", to)]);
    }

    pub fn notify(&self, channel: &str, result: &str, reason: &str) {
        self.increment(
            "payment_center_notifies_total",
            &[("channel", channel), ("result", result), ("reason", reason)],
        );
    }

    /// Renders every metric, with `queue_depth` (read from the database at scrape time).
    pub fn render(&self, queue_depth: Option<i64>) -> String {
        let mut out = String::new();
        render_process(&mut out, self.started_at);
        let registry = self.registry.lock().expect("metrics lock");
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((metric, labels), value) in &registry.counters {
                if *metric == name && labels.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else if *metric == name {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
            for ((metric, labels), h) in &registry.histograms {
                if *metric == name {
                    h.render(&mut out, name, labels);
                }
            }
            if name == HTTP_REQUESTS {
                let sorted: BTreeMap<_, _> = registry.http_requests.iter().collect();
                for ((route, method, status), value) in sorted {
                    let status = status.to_string();
                    let labels =
                        labels(&[("route", route), ("method", method), ("status", &status)]);
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
            if name == HTTP_DURATIONS {
                let sorted: BTreeMap<_, _> = registry.http_durations.iter().collect();
                for (route, h) in sorted {
                    h.render(&mut out, name, &labels(&[("route", route)]));
                }
            }
            if name == "payment_center_webhook_queue_depth" {
                if let Some(depth) = queue_depth {
                    let _ = writeln!(out, "{name} {depth}");
                }
            }
        }
        out
    }
}

/// Registers every known series at 0.
fn zeroed(registry: &mut Registry) {
    let mut zero = |name: &'static str, pairs: &[(&str, &str)]| {
        registry.counters.entry((name, labels(pairs))).or_insert(0);
    };
    for channel in ["wechat", "alipay"] {
        for (result, reason) in NOTIFY_OUTCOMES {
            zero(
                "payment_center_notifies_total",
                &[("channel", channel), ("result", result), ("reason", reason)],
            );
        }
    }
    for outcome in ["ok", "missing", "unknown_user", "wrong_password"] {
        zero(
            "payment_center_course_logins_total",
            &[("outcome", outcome)],
        );
    }
    for written in ["alone", "together", "one_by_one"] {
        zero(PAYMENT_BATCHES, &[("written", written)]);
        zero(PAYMENT_BATCH_PAYMENTS, &[("written", written)]);
    }
    for to in ["PAID", "CLOSED", "PAID_AFTER_CLOSE", "DUPLICATE_PAYMENT"] {
        zero("payment_center_order_transitions_total", &[("to", to)]);
    }
    for result in ["delivered", "failed"] {
        zero(
            "payment_center_webhook_attempts_total",
            &[("result", result)],
        );
    }
    for name in [
        "payment_center_webhook_deliveries_total",
        "payment_center_webhook_failures_total",
        "payment_center_webhook_breaker_opened_total",
        "payment_center_cache_bypassed_total",
    ] {
        zero(name, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms_in_text_format() {
        let metrics = Metrics::default();
        metrics.increment("payment_center_webhook_deliveries_total", &[]);
        metrics.observe(
            "payment_center_channel_call_duration_seconds",
            &[("call", "test_only")],
            Duration::from_millis(30),
        );
        let text = metrics.render(Some(3));
        assert!(text.contains("# TYPE payment_center_webhook_deliveries_total counter"));
        assert!(text.contains("\npayment_center_webhook_deliveries_total "));
        assert!(text.contains("payment_center_channel_call_duration_seconds_bucket{call=\"test_only\",le=\"0.025\"} 0"));
        assert!(text.contains(
            "payment_center_channel_call_duration_seconds_bucket{call=\"test_only\",le=\"0.05\"} 1"
        ));
        assert!(text
            .contains("payment_center_channel_call_duration_seconds_count{call=\"test_only\"} 1"));
        assert!(text.contains("payment_center_webhook_queue_depth 3"));
    }

    #[test]
    fn methods_are_a_fixed_set_and_known_series_start_at_zero() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("FOO"), "other");
        assert_eq!(method_label("get"), "other");
        let text = Metrics::default().render(None);
        assert!(text
            .contains("payment_center_notifies_total{channel=\"alipay\",result=\"rejected\",reason=\"signature\"} "));
        assert!(text.contains("\npayment_center_cache_bypassed_total "));
        assert!(text.contains("\nprocess_resident_memory_bytes "));
        assert!(text.contains("\nprocess_open_fds "));
        assert!(text.contains("\nprocess_start_time_seconds "));
        assert!(text.contains(&format!(
            "payment_center_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
    }

    #[test]
    fn requests_are_counted_by_route_method_and_status() {
        let metrics = Metrics::default();
        for status in [200, 200, 404] {
            metrics.http_request("/v1/orders", "GET", status, Duration::from_millis(3));
        }
        metrics.http_request("/v1/orders", "BREW", 405, Duration::from_millis(1));
        let text = metrics.render(None);
        assert!(text.contains(
            "payment_center_http_requests_total{route=\"/v1/orders\",method=\"GET\",status=\"200\"} 2\n"
        ));
        assert!(text.contains(
            "payment_center_http_requests_total{route=\"/v1/orders\",method=\"GET\",status=\"404\"} 1\n"
        ));
        assert!(text.contains(
            "payment_center_http_requests_total{route=\"/v1/orders\",method=\"other\",status=\"405\"} 1\n"
        ));
        assert!(text.contains(
            "payment_center_http_request_duration_seconds_bucket{route=\"/v1/orders\",le=\"0.005\"} 4\n"
        ));
        assert!(text.contains(
            "payment_center_http_request_duration_seconds_count{route=\"/v1/orders\"} 4\n"
        ));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(labels(&[("a", "x\"y")]), "a=\"x\\\"y\"");
    }
}
