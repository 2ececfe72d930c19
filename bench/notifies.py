"""Writes one signed WeChat Pay v2 notify per line for every (out_trade_no, amount) read from
stdin ("id|amount"), with the sandbox account's key (MD5, WeChat's rule). An optional argument
is the first transaction number (so that notifies of separate runs never share a transaction)."""
import hashlib
import sys

KEY = "192006250b4c09247ec02edce69f6a2d"

FIRST = int(sys.argv[1]) if len(sys.argv) > 1 else 0

for n, line in enumerate(sys.stdin, start=FIRST):
    out_trade_no, amount = line.strip().split("|")
    fields = {
        "appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "nonce_str": "bench%d" % n,
        "return_code": "SUCCESS", "result_code": "SUCCESS", "openid": "oBench", "is_subscribe": "N",
        "trade_type": "NATIVE", "bank_type": "CMC", "total_fee": amount, "cash_fee": amount,
        "fee_type": "CNY", "transaction_id": "4200000000%018d" % n, "out_trade_no": out_trade_no,
        "time_end": "20261122141319",
    }
    text = "&".join("%s=%s" % (k, fields[k]) for k in sorted(fields) if fields[k]) + "&key=" + KEY
    fields["sign"] = hashlib.md5(text.encode()).hexdigest().upper()
    print("<xml>" + "".join("<%s>%s</%s>" % (k, v, k) for k, v in fields.items()) + "</xml>")
