ALTER TABLE wechat_trades DROP COLUMN params;
