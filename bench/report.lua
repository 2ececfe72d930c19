-- Shared by every scenario: one JSON line with what wrk measured, for run.sh to tabulate.
-- Any non-2xx answer counts as an error (wrk counts timeouts after 2 s as errors too).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"detail":"connect %d, read %d, write %d, non-2xx %d, timeout %d"}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout,
    e.connect, e.read, e.write, e.status, e.timeout))
end
