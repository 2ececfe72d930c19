-- Channels behind one boundary: WeChat's trades become every channel's trades. Existing rows
-- are kept as WeChat's; products get the channel-neutral names (NATIVE → qr, MWEB → h5, …).
-- An order may now hold one OPEN trade per channel (the cashier offers WeChat and Alipay side
-- by side); the first payment closes the others.
-- SQLite cannot change a primary key in place: the table is rebuilt (nothing references it).
-- Each channel numbers its own trades: the order's id is the first out_trade_no at each.
CREATE TABLE channel_trades (
    out_trade_no TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    product TEXT NOT NULL,
    status TEXT NOT NULL,
    -- what the shopper opens or scans: WeChat code_url / mweb_url, Alipay qr_code / gateway URL
    pay_url TEXT,
    -- the channel's handle of the opened trade: WeChat prepay_id, Alipay qr_code / URL / order string
    credential TEXT,
    credential_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    close_requested BOOLEAN NOT NULL DEFAULT FALSE,
    next_query_at TIMESTAMP,
    query_attempts INTEGER NOT NULL DEFAULT 0,
    params TEXT,
    channel TEXT NOT NULL DEFAULT 'wechat',
    PRIMARY KEY (channel, out_trade_no)
);
INSERT INTO channel_trades (out_trade_no, order_id, product, status, pay_url, credential,
        credential_expires_at, created_at, closed_at, close_requested, next_query_at,
        query_attempts, params, channel)
    SELECT out_trade_no, order_id,
        CASE trade_type WHEN 'NATIVE' THEN 'qr' WHEN 'JSAPI' THEN 'jsapi' WHEN 'MWEB' THEN 'h5'
            WHEN 'APP' THEN 'app' ELSE trade_type END,
        status, code_url, prepay_id, credential_expires_at, created_at, closed_at,
        close_requested, next_query_at, query_attempts, params, 'wechat'
    FROM wechat_trades;
DROP TABLE wechat_trades;
CREATE UNIQUE INDEX channel_trades_one_open_per_order_and_channel
    ON channel_trades (order_id, channel) WHERE status = 'OPEN';
CREATE INDEX channel_trades_next_query_at ON channel_trades (next_query_at);

-- A transaction id is unique within its channel only (WeChat's and Alipay's are both digits).
-- SQLite cannot change a primary key in place: the table is rebuilt (nothing references it).
CREATE TABLE payments_by_channel (
    channel TEXT NOT NULL DEFAULT 'wechat',
    transaction_id TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    out_trade_no TEXT NOT NULL,
    amount BIGINT NOT NULL,
    paid_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    source TEXT NOT NULL,
    duplicate BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (channel, transaction_id)
);
INSERT INTO payments_by_channel
    (channel, transaction_id, order_id, out_trade_no, amount, paid_at, recorded_at, source, duplicate)
    SELECT 'wechat', transaction_id, order_id, out_trade_no, amount, paid_at, recorded_at, source, duplicate
    FROM payments;
DROP TABLE payments;
ALTER TABLE payments_by_channel RENAME TO payments;
CREATE INDEX payments_order_id ON payments (order_id);

-- The channel the money came through (`channel` in the order view, `payMethod` in webhooks).
ALTER TABLE orders ADD COLUMN channel TEXT;
UPDATE orders SET channel = 'wechat' WHERE transaction_id IS NOT NULL;
-- `pay_method` may now be left to the shopper: stored as 'any' (the column stays NOT NULL).
