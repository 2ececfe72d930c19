-- Which door an order came in by: 'api' (POST /v1/orders) or 'foodie' (the course's
-- /payment/createMerchantOrder). The course's paid callback marks an order paid whatever the
-- form says, so a 'foodie' order's return_url is told only of money received.
ALTER TABLE orders ADD COLUMN origin TEXT NOT NULL DEFAULT 'api';
