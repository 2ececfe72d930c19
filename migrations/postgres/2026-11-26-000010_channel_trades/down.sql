UPDATE orders SET pay_method = 'wechat' WHERE pay_method = 'any';
ALTER TABLE orders DROP COLUMN channel;
DELETE FROM payments WHERE channel <> 'wechat';
ALTER TABLE payments DROP CONSTRAINT payments_pkey;
ALTER TABLE payments ADD PRIMARY KEY (transaction_id);
ALTER TABLE payments DROP COLUMN channel;
DELETE FROM channel_trades WHERE channel <> 'wechat';
ALTER TABLE channel_trades DROP CONSTRAINT channel_trades_pkey;
ALTER TABLE channel_trades ADD CONSTRAINT wechat_trades_pkey PRIMARY KEY (out_trade_no);
DROP INDEX channel_trades_next_query_at;
DROP INDEX channel_trades_one_open_per_order_and_channel;
UPDATE channel_trades SET product = CASE product
    WHEN 'qr' THEN 'NATIVE' WHEN 'jsapi' THEN 'JSAPI' WHEN 'h5' THEN 'MWEB' WHEN 'app' THEN 'APP'
    ELSE product END;
ALTER TABLE channel_trades ADD COLUMN openid TEXT;
ALTER TABLE channel_trades RENAME COLUMN credential TO prepay_id;
ALTER TABLE channel_trades RENAME COLUMN pay_url TO code_url;
ALTER TABLE channel_trades RENAME COLUMN product TO trade_type;
ALTER TABLE channel_trades DROP COLUMN channel;
ALTER TABLE channel_trades RENAME TO wechat_trades;
CREATE UNIQUE INDEX wechat_trades_one_open_per_order ON wechat_trades (order_id) WHERE status = 'OPEN';
CREATE INDEX wechat_trades_next_query_at ON wechat_trades (next_query_at);
