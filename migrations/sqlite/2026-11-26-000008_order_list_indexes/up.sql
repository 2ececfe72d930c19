-- GET /v1/orders: a merchant's orders newest first, with or without a status; the cursor is
-- (created_at, id), so a page is one range scan of one of these.
CREATE INDEX orders_merchant_created ON orders (merchant_id, created_at DESC, id DESC);
CREATE INDEX orders_merchant_status_created ON orders (merchant_id, status, created_at DESC, id DESC);
