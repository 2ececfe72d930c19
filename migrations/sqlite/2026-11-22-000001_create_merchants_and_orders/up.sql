-- Times are UTC, stored as TIMESTAMP (no time zone) so that one schema serves Postgres and SQLite.
CREATE TABLE merchants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- hex SHA-256 of the API key; the key itself is shown once and never stored
    api_key_hash TEXT NOT NULL UNIQUE,
    -- kept in clear: it keys the HMAC of every webhook we sign for this merchant
    notify_secret TEXT NOT NULL,
    -- JSON array of URL prefixes that return_url / success_url must start with
    return_url_prefixes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE orders (
    -- the center's id (<= 32 chars, also the first trade's out_trade_no at WeChat)
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    merchant_order_id TEXT NOT NULL,
    merchant_user_id TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    pay_method TEXT NOT NULL,
    status TEXT NOT NULL,
    description TEXT NOT NULL,
    return_url TEXT NOT NULL,
    success_url TEXT,
    checkout_token TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    -- created_at + the requested expire_minutes: the idempotent create compares the difference
    expires_at TIMESTAMP NOT NULL,
    paid_at TIMESTAMP,
    transaction_id TEXT,
    closed_at TIMESTAMP,
    CONSTRAINT orders_merchant_order_unique UNIQUE (merchant_id, merchant_order_id)
);

CREATE INDEX orders_status_expires_at ON orders (status, expires_at);

-- One row per trade opened at WeChat Pay (unifiedorder) for an order. An order has at most one
-- OPEN trade at a time; switching trade type closes the old trade and opens another with a new
-- out_trade_no, so an order can never be paid twice through two trades.
CREATE TABLE wechat_trades (
    out_trade_no TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    trade_type TEXT NOT NULL,
    status TEXT NOT NULL,
    -- NATIVE: code_url; MWEB: mweb_url
    code_url TEXT,
    -- JSAPI / APP
    prepay_id TEXT,
    openid TEXT,
    -- when code_url / prepay_id stop being usable (WeChat: 2 h, MWEB 5 min; never past the order)
    credential_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    -- a close WeChat refused for now (within 5 minutes of creation); the reconcile worker retries
    close_requested BOOLEAN NOT NULL DEFAULT FALSE,
    -- active-query backoff while no notify has arrived
    next_query_at TIMESTAMP,
    query_attempts INTEGER NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX wechat_trades_one_open_per_order ON wechat_trades (order_id) WHERE status = 'OPEN';
CREATE INDEX wechat_trades_next_query_at ON wechat_trades (next_query_at);
