-- What distinguishes one trade request from another of the same type (JSAPI: the payer's
-- openid; MWEB: the shopper's IP and scene_info), as JSON: a request with other parameters
-- needs another trade (WeChat refuses a reused out_trade_no with other parameters).
ALTER TABLE wechat_trades ADD COLUMN params TEXT;
