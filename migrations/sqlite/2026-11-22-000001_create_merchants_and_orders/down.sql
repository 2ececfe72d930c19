DROP TABLE wechat_trades;
DROP TABLE orders;
DROP TABLE merchants;
