-- Channels behind one boundary: WeChat's trades become every channel's trades. Existing rows
-- are kept as WeChat's; products get the channel-neutral names (NATIVE → qr, MWEB → h5, …).
-- An order may now hold one OPEN trade per channel (the cashier offers WeChat and Alipay side
-- by side); the first payment closes the others.
ALTER TABLE wechat_trades RENAME TO channel_trades;
ALTER TABLE channel_trades ADD COLUMN channel TEXT NOT NULL DEFAULT 'wechat';
ALTER TABLE channel_trades RENAME COLUMN trade_type TO product;
-- what the shopper opens or scans: WeChat code_url / mweb_url, Alipay qr_code / gateway URL
ALTER TABLE channel_trades RENAME COLUMN code_url TO pay_url;
-- the channel's handle of the opened trade: WeChat prepay_id, Alipay qr_code / URL / order string
ALTER TABLE channel_trades RENAME COLUMN prepay_id TO credential;
-- the openid is in params (what makes two JSAPI requests two trades)
ALTER TABLE channel_trades DROP COLUMN openid;
UPDATE channel_trades SET product = CASE product
    WHEN 'NATIVE' THEN 'qr' WHEN 'JSAPI' THEN 'jsapi' WHEN 'MWEB' THEN 'h5' WHEN 'APP' THEN 'app'
    ELSE product END;
-- Each channel numbers its own trades: the order's id is the first out_trade_no at each.
ALTER TABLE channel_trades DROP CONSTRAINT wechat_trades_pkey;
ALTER TABLE channel_trades ADD PRIMARY KEY (channel, out_trade_no);
DROP INDEX wechat_trades_one_open_per_order;
CREATE UNIQUE INDEX channel_trades_one_open_per_order_and_channel
    ON channel_trades (order_id, channel) WHERE status = 'OPEN';
DROP INDEX wechat_trades_next_query_at;
CREATE INDEX channel_trades_next_query_at ON channel_trades (next_query_at);

-- A transaction id is unique within its channel only (WeChat's and Alipay's are both digits).
ALTER TABLE payments ADD COLUMN channel TEXT NOT NULL DEFAULT 'wechat';
ALTER TABLE payments DROP CONSTRAINT payments_pkey;
ALTER TABLE payments ADD PRIMARY KEY (channel, transaction_id);

-- The channel the money came through (`channel` in the order view, `payMethod` in webhooks).
ALTER TABLE orders ADD COLUMN channel TEXT;
UPDATE orders SET channel = 'wechat' WHERE transaction_id IS NOT NULL;
-- `pay_method` may now be left to the shopper: stored as 'any' (the column stays NOT NULL).
