-- Every successful WeChat transaction we learned of (notify or orderquery), exactly once.
-- A second transaction for one order is recorded too (duplicate = TRUE) and surfaced.
CREATE TABLE payments (
    transaction_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    out_trade_no TEXT NOT NULL,
    amount BIGINT NOT NULL,
    paid_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    -- 'notify' or 'query'
    source TEXT NOT NULL,
    duplicate BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX payments_order_id ON payments (order_id);

-- Notifies that failed a check (signature, account, amount, unknown trade…), kept for an operator.
CREATE TABLE rejected_notifies (
    id TEXT PRIMARY KEY,
    received_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    out_trade_no TEXT,
    transaction_id TEXT,
    body TEXT NOT NULL
);

-- The outbox: one row per order event to tell the merchant about, written in the same
-- transaction as the state change. Its id is the webhook's notifyId.
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    event_type TEXT NOT NULL,
    -- JSON object of the business fields of the form, frozen when the event happened
    payload TEXT NOT NULL,
    url TEXT NOT NULL,
    -- PENDING, DELIVERED, FAILED
    status TEXT NOT NULL,
    -- attempts in the current run (reset by a redelivery); the log is webhook_attempts
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    -- a worker's lease on the event while it sends an attempt
    locked_by TEXT,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    last_error TEXT
);

CREATE INDEX webhook_events_due ON webhook_events (status, next_attempt_at);
CREATE INDEX webhook_events_order_id ON webhook_events (order_id);

CREATE TABLE webhook_attempts (
    event_id TEXT NOT NULL REFERENCES webhook_events (id),
    attempt INTEGER NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    http_status INTEGER,
    error TEXT,
    latency_ms BIGINT NOT NULL,
    PRIMARY KEY (event_id, attempt)
);
