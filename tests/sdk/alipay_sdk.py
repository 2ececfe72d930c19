#!/usr/bin/env python3
"""Drive the sandbox Alipay gateway with the unmodified PyPI SDK.

Requires: python-alipay-sdk==3.4.0 (pulls pycryptodomex, pyOpenSSL); stdlib otherwise.

Environment:
  GATEWAY            full URL of the simulated gateway.do
                     (e.g. http://127.0.0.1:8080/sandbox/alipay/gateway.do)
  SANDBOX_KEYS_JSON  path to {"alipay": {"app_id", "app_private_key", "app_public_key",
                     "alipay_public_key", "alipay_private_key"}} (PEM strings)
  BASE_URL           service base URL; simulate-pay is POSTed to
                     {BASE_URL}/sandbox/alipay/simulate-pay with {"out_trade_no": ...}
  NOTIFY_HOST        host the sandbox can reach this probe on (default 127.0.0.1)
  NOTIFY_TIMEOUT     seconds to wait for the async notify (default 20)
  HTTP_TIMEOUT       seconds for every HTTP call (default 15)

Prints one JSON line per step ({"step", "ok", ...}) and a final summary line;
exits 1 if any step failed, 2 on a configuration error.
"""
import http.server
import json
import os
import socketserver
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig
from Cryptodome.Hash import SHA256
from Cryptodome.PublicKey import RSA
from Cryptodome.Signature import PKCS1_v1_5

RESULTS = []
HTTP_TIMEOUT = float(os.environ.get("HTTP_TIMEOUT", "15"))


def emit(step, ok, **info):
    rec = {"step": step, "ok": bool(ok)}
    rec.update(info)
    RESULTS.append(rec)
    print(json.dumps(rec, ensure_ascii=False, sort_keys=False), flush=True)
    return ok


def pem(s):
    """Accept a PEM (PKCS#1 or PKCS#8 / SPKI), or a bare Base64 DER body as the Alipay
    console shows keys; normalised to PEM so both the SDK and this probe can load it."""
    s = (s or "").strip()
    if not s.startswith("-----"):
        import base64
        s = RSA.importKey(base64.b64decode(s)).export_key().decode()
    return s


class SandboxAliPay(AliPay):
    """AliPay whose gateway is the sandbox. `_gateway` is the only place the SDK reads
    the URL from (verified_sync_response); page/wap/app builders return just the signed
    query string, which the caller appends to the gateway URL."""

    def __init__(self, *args, gateway, **kwargs):
        super().__init__(*args, **kwargs)
        self._gateway = gateway

    @property
    def gateway(self):
        return self._gateway


def call(fn, *args, **kwargs):
    """Run an SDK sync API and classify how the result surfaced.

    returns (kind, node, raw):
      "signed"    -> SDK verified the signature and returned the *_response dict
      "exception" -> AliPayException (no `sign` key, or an `error_response`):
                     node is the parsed error node, raw the body
      "bad_sign"  -> AliPayValidationError (sign present but does not verify)
      "http"      -> urllib HTTPError / URLError / bad JSON
    """
    try:
        return "signed", fn(*args, **kwargs), None
    except AliPayException as e:
        raw = str(e).split("message:", 1)[-1]
        try:
            body = json.loads(raw)
        except ValueError:
            return "http", None, raw[:300]
        node = body.get("error_response") or next(
            (v for k, v in body.items() if k.endswith("_response") and isinstance(v, dict)), {})
        return "exception", node, body
    except AliPayValidationError:
        return "bad_sign", None, None
    except urllib.error.HTTPError as e:
        return "http", None, "HTTP %s %s" % (e.code, e.read()[:300])
    except (urllib.error.URLError, OSError, ValueError) as e:
        return "http", None, repr(e)[:300]


def brief(node):
    if not isinstance(node, dict):
        return node
    return {k: node[k] for k in ("code", "msg", "sub_code", "sub_msg", "trade_status") if k in node}


def verify_order_string(order_string, app_public_key):
    """Server-side check of a page/wap/app order string, the way the gateway must do it:
    form-decode, drop sign, sort, join k=v with raw values (sign_type stays in), RSA2."""
    pairs = urllib.parse.parse_qsl(order_string, keep_blank_values=True, strict_parsing=True)
    params = dict(pairs)
    sign = params.pop("sign", "")
    text = "&".join("%s=%s" % (k, params[k]) for k in sorted(params) if params[k] != "")
    import base64
    ok = PKCS1_v1_5.new(RSA.importKey(app_public_key)).verify(
        SHA256.new(text.encode("utf-8")), base64.b64decode(sign))
    return bool(ok), params


class NotifySink:
    """A tiny HTTP server that receives Alipay async notifies and answers `success`
    only when AliPay.verify() accepts them."""

    def __init__(self, alipay, host):
        self.alipay = alipay
        self.received = []  # (data_without_sign, verified, content_type)
        self.cond = threading.Condition()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n).decode("utf-8")
                ctype = self.headers.get("Content-Type", "")
                data = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
                signature = data.pop("sign", "")
                try:
                    # verify() pops sign_type itself (and raises if it is not RSA2)
                    ok = sink.alipay.verify(dict(data), signature)
                except Exception as e:  # noqa: BLE001 - report anything as unverified
                    ok = False
                    data["_verify_error"] = repr(e)
                body = b"success" if ok else b"failure"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with sink.cond:
                    sink.received.append((data, ok, ctype))
                    sink.cond.notify_all()

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("0.0.0.0" if host not in ("127.0.0.1", "localhost") else host, 0),
                             Handler)
        self.url = "http://%s:%d/alipay/notify" % (host, self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, out_trade_no, timeout):
        end = time.time() + timeout
        with self.cond:
            while True:
                for rec in self.received:
                    if rec[0].get("out_trade_no") == out_trade_no:
                        return rec
                left = end - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def count(self, out_trade_no):
        with self.cond:
            return sum(1 for r in self.received if r[0].get("out_trade_no") == out_trade_no)

    def close(self):
        self.server.shutdown()


def http_get(url):
    req = urllib.request.Request(url, headers={"Accept": "text/html,*/*"})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode("utf-8", "replace")


def http_post_json(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def new_otn(tag):
    return "SDKPROBE%s%s%s" % (tag, time.strftime("%Y%m%d%H%M%S"), uuid.uuid4().hex[:8].upper())


def main():
    try:
        gateway = os.environ["GATEWAY"]
        base_url = os.environ["BASE_URL"].rstrip("/")
        with open(os.environ["SANDBOX_KEYS_JSON"], encoding="utf-8") as f:
            keys = json.load(f)["alipay"]
        app_id = str(keys["app_id"])
        app_priv = pem(keys["app_private_key"])
        app_pub = pem(keys["app_public_key"])
        ali_pub = pem(keys["alipay_public_key"])
    except (KeyError, OSError, ValueError) as e:
        print(json.dumps({"step": "config", "ok": False, "error": repr(e)}), flush=True)
        return 2
    notify_host = os.environ.get("NOTIFY_HOST", "127.0.0.1")
    notify_timeout = float(os.environ.get("NOTIFY_TIMEOUT", "20"))
    cfg = AliPayConfig(timeout=HTTP_TIMEOUT)

    def client(private_key, notify_url=None):
        return SandboxAliPay(appid=app_id, app_notify_url=notify_url,
                             app_private_key_string=private_key,
                             alipay_public_key_string=ali_pub, sign_type="RSA2",
                             debug=False, config=cfg, gateway=gateway)

    probe = client(app_priv)
    sink = NotifySink(probe, notify_host)
    alipay = client(app_priv, notify_url=sink.url)  # default notify_url, as merchants set it
    subject = "SDK probe 测试订单"  # non-ASCII: SDK sends biz_content with \\uXXXX escapes

    # 1. precreate ------------------------------------------------------------------
    otn1 = new_otn("A")
    kind, node, raw = call(alipay.api_alipay_trade_precreate, subject=subject,
                           out_trade_no=otn1, total_amount="0.01")
    ok = (kind == "signed" and node.get("code") == "10000" and node.get("msg") == "Success"
          and node.get("out_trade_no") == otn1
          and str(node.get("qr_code", "")).startswith("https://qr.alipay.com/"))
    emit("precreate", ok, surfaced=kind, out_trade_no=otn1, response=node or raw)

    # 2. query before the buyer scans ---------------------------------------------
    kind, node, raw = call(alipay.api_alipay_trade_query, out_trade_no=otn1)
    mode = None
    if kind == "signed" and node.get("code") == "40004" and node.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
        mode = "not_exist"  # what real Alipay answers until the QR code is scanned
    elif kind == "signed" and node.get("code") == "10000" and node.get("trade_status") == "WAIT_BUYER_PAY":
        mode = "wait_buyer_pay"
    emit("query_before_pay", mode is not None and (mode != "not_exist" or node.get("msg") == "Business Failed"),
         surfaced=kind, mode=mode, response=brief(node) if node else raw)

    # 3. request signed with a wrong app private key ------------------------------
    wrong = client(RSA.generate(2048).export_key().decode())
    kind, node, raw = call(wrong.api_alipay_trade_query, out_trade_no=otn1)
    ok = (kind in ("signed", "exception") and isinstance(node, dict) and node.get("code") == "40002"
          and node.get("msg") == "Invalid Arguments" and node.get("sub_code") == "isv.invalid-signature")
    emit("wrong_app_key", ok, surfaced=kind,
         note={"signed": "returned as a verified dict (real-Alipay shape: method key + sign)",
               "exception": "raised AliPayException(code, raw body): error_response or no sign"}.get(kind),
         response=brief(node) if node else raw)

    # 4. close the unpaid trade -----------------------------------------------------
    kind, node, raw = call(alipay.api_alipay_trade_close, out_trade_no=otn1)
    if mode == "wait_buyer_pay":
        ok = kind == "signed" and node.get("code") == "10000" and node.get("out_trade_no") == otn1
        k2, n2, _ = call(alipay.api_alipay_trade_query, out_trade_no=otn1)
        ok = ok and k2 == "signed" and n2.get("code") == "10000" and n2.get("trade_status") == "TRADE_CLOSED"
        emit("close", ok, mode=mode, response=brief(node) if node else raw,
             query_after=brief(n2))
    else:  # not_exist (or unknown): real Alipay cannot close a trade that does not exist yet
        ok = (kind == "signed" and node.get("code") == "40004"
              and node.get("sub_code") == "ACQ.TRADE_NOT_EXIST")
        emit("close", ok, mode=mode, surfaced=kind, response=brief(node) if node else raw)

    # 5. page / wap / app order strings ---------------------------------------------
    for step, fn, extra in (
        ("page_pay", alipay.api_alipay_trade_page_pay, {"return_url": base_url + "/sdkprobe/return"}),
        ("wap_pay", alipay.api_alipay_trade_wap_pay, {"return_url": base_url + "/sdkprobe/return"}),
        ("app_pay", alipay.api_alipay_trade_app_pay, {}),
    ):
        otn = new_otn(step[0].upper())
        try:
            order_string = fn(subject=subject, out_trade_no=otn, total_amount="0.01", **extra)
            sig_ok, params = verify_order_string(order_string, app_pub)
            info = {"method": params.get("method"), "local_sign_check": sig_ok,
                    "product_code": json.loads(params.get("biz_content", "{}")).get("product_code")}
            ok = sig_ok and params.get("notify_url") == sink.url
            if step != "app_pay":  # app_pay strings go to the Alipay app, not a browser
                url = gateway + "?" + order_string
                status, ctype, body = http_get(url)
                info.update(http_status=status, content_type=ctype, url_len=len(url))
                ok = ok and status == 200 and "text/html" in ctype.lower() and "<html" in body.lower()
            emit(step, ok, out_trade_no=otn, **info)
        except Exception as e:  # noqa: BLE001
            emit(step, False, error=repr(e)[:300])

    # 6. pay -> async notify -> verify() -> query -> close/precreate on a paid trade ---
    otn3 = new_otn("N")
    kind, node, raw = call(alipay.api_alipay_trade_precreate, subject=subject,
                           out_trade_no=otn3, total_amount="0.01", notify_url=sink.url)
    if not emit("precreate_for_pay", kind == "signed" and node.get("code") == "10000",
                out_trade_no=otn3, response=brief(node) if node else raw):
        return finish(sink)
    status, body = http_post_json(base_url + "/sandbox/alipay/simulate-pay", {"out_trade_no": otn3})
    emit("simulate_pay", 200 <= status < 300, http_status=status, body=body[:200])

    rec = sink.wait_for(otn3, notify_timeout)
    if rec is None:
        emit("notify_verify", False, error="no notify within %ss" % notify_timeout)
    else:
        data, verified, ctype = rec
        required = ("notify_time", "notify_type", "notify_id", "app_id", "charset", "version",
                    "trade_no", "out_trade_no", "trade_status", "total_amount", "gmt_payment")
        missing = [k for k in required if not data.get(k)]
        empty = [k for k, v in data.items() if v == ""]
        ok = (verified and not missing and not empty and data.get("trade_status") == "TRADE_SUCCESS"
              and data.get("total_amount") == "0.01" and data.get("app_id") == app_id
              and data.get("notify_type") == "trade_status_sync"
              and "application/x-www-form-urlencoded" in ctype)
        emit("notify_verify", ok, verified=verified, answered="success" if verified else "failure",
             content_type=ctype, missing=missing, empty_values=empty,
             fields=sorted(k for k in data if not k.startswith("_")),
             error=data.get("_verify_error"))
        trade_no = data.get("trade_no")

        kind, node, raw = call(alipay.api_alipay_trade_query, out_trade_no=otn3)
        ok = (kind == "signed" and node.get("code") == "10000" and node.get("trade_status") == "TRADE_SUCCESS"
              and node.get("trade_no") == trade_no and node.get("out_trade_no") == otn3
              and node.get("total_amount") == "0.01" and bool(node.get("buyer_logon_id"))
              and bool(node.get("send_pay_date")))
        emit("query_after_pay", ok, response=brief(node) if node else raw,
             fields=sorted(node) if isinstance(node, dict) else None)

        kind, node, raw = call(alipay.api_alipay_trade_query, trade_no=trade_no)
        emit("query_by_trade_no", kind == "signed" and node.get("out_trade_no") == otn3,
             response=brief(node) if node else raw)

        kind, node, raw = call(alipay.api_alipay_trade_close, out_trade_no=otn3)
        emit("close_paid", kind == "signed" and node.get("code") == "40004"
             and node.get("sub_code") == "ACQ.TRADE_STATUS_ERROR", response=brief(node) if node else raw)

        kind, node, raw = call(alipay.api_alipay_trade_precreate, subject=subject,
                               out_trade_no=otn3, total_amount="0.01")
        emit("precreate_paid_again", kind == "signed" and node.get("code") == "40004"
             and node.get("sub_code") == "ACQ.TRADE_HAS_SUCCESS", response=brief(node) if node else raw)

        time.sleep(1.0)  # a notify answered `success` must not be re-sent
        emit("notify_not_repeated", sink.count(otn3) == 1, notifies=sink.count(otn3))

    # 7. a raw request without sign (gateway-level 40001) -----------------------------
    q = urllib.parse.urlencode({"app_id": app_id, "method": "alipay.trade.query", "charset": "utf-8",
                                "sign_type": "RSA2", "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
                                "version": "1.0", "biz_content": json.dumps({"out_trade_no": otn1})})
    status, ctype, body = http_get(gateway + "?" + q)
    try:
        j = json.loads(body)
        n = j.get("error_response") or j.get("alipay_trade_query_response") or {}
    except ValueError:
        n = {}
    emit("missing_signature", status == 200 and n.get("code") == "40001"
         and n.get("msg") == "Missing Required Arguments" and n.get("sub_code") == "isv.missing-signature",
         http_status=status, response=brief(n) or body[:200])

    return finish(sink)


def finish(sink):
    sink.close()
    failed = [r["step"] for r in RESULTS if not r["ok"]]
    print(json.dumps({"step": "summary", "ok": not failed, "passed": len(RESULTS) - len(failed),
                      "failed": failed}), flush=True)
    print("%d passed, %d failed" % (len(RESULTS) - len(failed), len(failed)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
