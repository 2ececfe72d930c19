#!/usr/bin/env bash
# The Alipay sandbox proven faithful by a client we did not write: the unmodified
# python-alipay-sdk from PyPI (pinned in requirements.txt) against a running service.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${PAYMENT_CENTER_BIN:-target/release/payment-center}
WORK=$(mktemp -d)
VENV=${SDK_VENV:-$WORK/venv}
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
env -u WECHAT_APP_ID -u WECHAT_MCH_ID -u WECHAT_API_KEY -u ALIPAY_APP_ID \
    -u ALIPAY_APP_PRIVATE_KEY -u ALIPAY_PUBLIC_KEY -u ALIPAY_GATEWAY -u REDIS_URL \
    PAYMENT_MODE=sandbox BIND_ADDR="127.0.0.1:$PORT" DATABASE_URL="$WORK/pc.db" \
    DEMO_MERCHANT=false RUST_LOG=warn "$BIN" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
    curl -fs "$BASE/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
"$BIN" sandbox keys >"$WORK/keys.json"

GATEWAY="$BASE/sandbox/alipay/gateway.do" BASE_URL="$BASE" SANDBOX_KEYS_JSON="$WORK/keys.json" \
    "$VENV/bin/python" tests/sdk/alipay_sdk.py || { echo "--- server log"; tail -20 "$WORK/server.log"; exit 1; }
