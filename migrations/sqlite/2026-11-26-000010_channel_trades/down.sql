UPDATE orders SET pay_method = 'wechat' WHERE pay_method = 'any';
ALTER TABLE orders DROP COLUMN channel;
CREATE TABLE payments_by_id (
    transaction_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    out_trade_no TEXT NOT NULL,
    amount BIGINT NOT NULL,
    paid_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    source TEXT NOT NULL,
    duplicate BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO payments_by_id
    SELECT transaction_id, order_id, out_trade_no, amount, paid_at, recorded_at, source, duplicate
    FROM payments WHERE channel = 'wechat';
DROP TABLE payments;
ALTER TABLE payments_by_id RENAME TO payments;
CREATE INDEX payments_order_id ON payments (order_id);
CREATE TABLE wechat_trades (
    out_trade_no TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    trade_type TEXT NOT NULL,
    status TEXT NOT NULL,
    code_url TEXT,
    prepay_id TEXT,
    openid TEXT,
    credential_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    close_requested BOOLEAN NOT NULL DEFAULT FALSE,
    next_query_at TIMESTAMP,
    query_attempts INTEGER NOT NULL DEFAULT 0,
    params TEXT
);
INSERT INTO wechat_trades (out_trade_no, order_id, trade_type, status, code_url, prepay_id,
        credential_expires_at, created_at, closed_at, close_requested, next_query_at,
        query_attempts, params)
    SELECT out_trade_no, order_id,
        CASE product WHEN 'qr' THEN 'NATIVE' WHEN 'jsapi' THEN 'JSAPI' WHEN 'h5' THEN 'MWEB'
            WHEN 'app' THEN 'APP' ELSE product END,
        status, pay_url, credential, credential_expires_at, created_at, closed_at,
        close_requested, next_query_at, query_attempts, params
    FROM channel_trades WHERE channel = 'wechat';
DROP TABLE channel_trades;
CREATE UNIQUE INDEX wechat_trades_one_open_per_order ON wechat_trades (order_id) WHERE status = 'OPEN';
CREATE INDEX wechat_trades_next_query_at ON wechat_trades (next_query_at);
