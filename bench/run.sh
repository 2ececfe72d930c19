#!/usr/bin/env bash
# The benchmark: the release binary under wrk, on Postgres + Redis and on the embedded default
# (SQLite + in-process cache), in one run. Prints req/s, p50/p99 latency, errors, each figure as
# a ratio to /healthz of the same binary, webhook deliveries/s, per-merchant fairness (one
# merchant's hanging endpoint against another's paid webhook) and peak RSS.
#
#   bench/run.sh            # 10 s per scenario (the reads: 5 rounds of 4 s taken in turn), at
#                           # 64 and at 256 connections, 2 wrk threads
#   bench/run.sh --short    # 1 s, 16 connections: proves it works (CI runs this; no thresholds)
#   BENCH_KEEP=1 bench/run.sh   # keeps the services' logs and lists (its directory is printed)
#   BENCH_READS_ONLY=1 bench/run.sh   # only /healthz, checkout and native (about 3 min a backend)
#
# Writes are also measured against their ceiling on this machine: `pgbench -N` (the simple
# single-row update transaction) on the same Postgres, in the same run, in its own database.
#
# Needs: wrk (Debian), python3 with `cryptography` (Alipay's RSA2 notifies), psql and pgbench;
# Postgres and Redis on 127.0.0.1 for the first backend.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=$PWD/bench

DURATION=10s LOADS="64 256" THREADS=2 WARM_ORDERS=100 LIST_ORDERS=1000000 PGBENCH_CLIENTS=32 ROUNDS=12 READ_DURATION=2s NOTIFY_ORDERS=160000
if [ "${1:-}" = "--short" ]; then DURATION=1s LOADS=16 THREADS=1 WARM_ORDERS=20 LIST_ORDERS=10000 PGBENCH_CLIENTS=8 ROUNDS=1 READ_DURATION=1s NOTIFY_ORDERS=16000; fi
LOADS=${BENCH_LOADS:-$LOADS}
CONNECTIONS=${LOADS##* }   # the list and the webhook rows run at the last (highest) load
PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
# On one host TLS to Postgres only burns CPU (libpq would negotiate it by default).
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/pc_bench?sslmode=disable}
REDIS=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
BIN=${PAYMENT_CENTER_BIN:-$PWD/target/release/payment-center}
[ -x "$BIN" ] || cargo build --release --locked --bin payment-center
command -v wrk >/dev/null || { echo "bench: wrk is needed (apt-get install wrk)" >&2; exit 1; }
python3 -c 'import cryptography' 2>/dev/null || pip install --quiet cryptography

WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; [ -n "${BENCH_KEEP:-}" ] && echo "bench: kept $WORK" >&2 || rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SINK_PORT=$(free_port)
python3 "$BENCH/sink.py" "$SINK_PORT" & PIDS+=($!)
SINK="http://127.0.0.1:$SINK_PORT/paid"

# sql BACKEND QUERY: runs QUERY on the backend's database, prints rows as a|b.
sql() {
    if [ "$1" = postgres ]; then psql -q "${PG_URL%%\?*}" -Atc "$2"
    else python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); r=c.execute(sys.argv[2]); c.commit(); [print("|".join(map(str,x))) for x in r.fetchall()]' "$DB_FILE" "$2"; fi
}

# start NAME [ENV=VALUE…]: the service on a free port; sets BASE, PID, KEY (first start).
start() {
    local name=$1; shift
    local port; port=$(free_port)
    env "$@" BIND_ADDR="127.0.0.1:$port" RUST_LOG=${BENCH_RUST_LOG:-warn} SANDBOX_NOTIFY_SCHEDULE=1h \
        "$BIN" serve >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PID=$!; PIDS+=("$PID"); BASE="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
    curl -sf "$BASE/healthz" >/dev/null || { cat "$WORK/$name.err" >&2; exit 1; }
    local key; key=$(sed -n 's/.*"api_key": "\(sk_[A-Za-z0-9]*\)".*/\1/p' "$WORK/$name.out")
    [ -n "$key" ] && KEY=$key
    return 0
}

peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

metric() { curl -s "$BASE/metrics" | awk -v m="$1" 'index($0, m) == 1 {print $2; found=1} END {if (!found) print 0}'; }

declare -A RPS P99
ROWS=()
# measure [wrk args…]: one wrk run at $CONNECTIONS; prints "req/s p50_ms p99_ms errors detail".
measure() {
    # Scenario scripts load report.lua themselves (wrk takes one script); plain URLs use it.
    local script=()
    case " $* " in *" -s "*) ;; *) script=(-s "$BENCH/report.lua") ;; esac
    local out
    out=$(BENCH=$BENCH wrk -t"$THREADS" -c"$CONNECTIONS" -d"${RUN_DURATION:-$DURATION}" "${script[@]}" "$@" | tail -1)
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%.0f %.2f %.2f %d %s" % (r["requests"]/(r["duration_us"]/1e6), r["p50_us"]/1000, r["p99_us"]/1000, r["errors"], r["detail"]))' "$out"
}

# row BACKEND NAME RPS P50 P99 ERRORS DETAIL [RATIO P99_RATIO]: one table row; the ratios to
# /healthz at the same load are computed here unless given.
row() {
    local backend=$1 name=$2 rps=$3 p50=$4 p99=$5 errors=$6 detail=$7 ratio=${8:-} p99_ratio=${9:-}
    RPS[$backend.$CONNECTIONS.$name]=$rps
    P99[$backend.$CONNECTIONS.$name]=$p99
    if [ "$errors" != 0 ]; then
        ROWS+=("$(printf '%-9s %5s %-22s errors: %s' "$backend" "$CONNECTIONS" "$name" "$detail")")
    fi
    local base=${RPS[$backend.$CONNECTIONS.healthz]:-$rps} base_p99=${P99[$backend.$CONNECTIONS.healthz]:-$p99}
    [ -n "$ratio" ] || ratio=$(python3 -c "print('%.2f' % ($rps/$base))")
    [ -n "$p99_ratio" ] || p99_ratio=$(python3 -c "print('%.1f' % ($p99/$base_p99))")
    ROWS+=("$(printf '%-9s %5s %-22s %9s %8s %8s %7s %8s %8s' "$backend" "$CONNECTIONS" "$name" "$rps" "$p50" "$p99" "$errors" "$ratio" "$p99_ratio")")
}

# bench BACKEND NAME [wrk args…]: one scenario, one run, one table row.
bench() {
    local backend=$1 name=$2; shift 2
    local rps p50 p99 errors detail
    read -r rps p50 p99 errors detail < <(measure "$@")
    row "$backend" "$name" "$rps" "$p50" "$p99" "$errors" "$detail"
}

# reads BACKEND: /healthz, the checkout and the native call, taken in turn for $ROUNDS rounds
# of $READ_DURATION.
# This machine's speed drifts (a shared host): /healthz alone was seen at 69,000 and 124,000
# req/s a few seconds apart. A ratio is only meaningful between runs side by side, so the
# rounds are short and many. Each row shows the median round (by req/s), and its ratios are
# the medians of the rounds' own ratios to that round's /healthz.
reads() {
    local backend=$1 round name
    local -a names=(healthz "checkout (cached)" "native (cached)")
    local -A runs=()
    for round in $(seq 1 "$ROUNDS"); do
        runs[$round.0]=$(RUN_DURATION=$READ_DURATION measure "$BASE/healthz")
        runs[$round.1]=$(RUN_DURATION=$READ_DURATION LIST=$WORK/tokens PATH_TEMPLATE=/v1/checkout/TOKEN measure "$BASE" -s "$BENCH/get_tokens.lua")
        runs[$round.2]=$(RUN_DURATION=$READ_DURATION LIST=$WORK/ids API_KEY=$KEY measure "$BASE" -s "$BENCH/native.lua")
    done
    local i
    for i in 0 1 2; do
        local lines=() base=()
        for round in $(seq 1 "$ROUNDS"); do
            lines+=("${runs[$round.$i]}")
            base+=("${runs[$round.0]}")
        done
        local rps p50 p99 errors detail ratio p99_ratio
        read -r rps p50 p99 errors detail ratio p99_ratio < <(python3 - "${#lines[@]}" "${lines[@]}" "${base[@]}" <<'PY'
import statistics, sys
n = int(sys.argv[1])
runs = [line.split(" ", 4) for line in sys.argv[2:2 + n]]
base = [line.split(" ", 4) for line in sys.argv[2 + n:]]
median_run = sorted(runs, key=lambda r: float(r[0]))[(n - 1) // 2]
ratio = statistics.median(float(r[0]) / float(b[0]) for r, b in zip(runs, base))
p99_ratio = statistics.median(float(r[2]) / float(b[2]) for r, b in zip(runs, base))
errors = sum(int(r[3]) for r in runs)
detail = median_run[4].replace(" ", "_") if errors else "-"
print(median_run[0], median_run[1], median_run[2], errors, detail, "%.2f" % ratio, "%.1f" % p99_ratio)
PY
        )
        row "$backend" "${names[$i]}" "$rps" "$p50" "$p99" "$errors" "${detail//_/ }" "$ratio" "$p99_ratio"
    done
}

PGBENCH_TPS=""
# pgbench_ceiling: `pgbench -N` in its own database on the same Postgres: the rate of the
# simplest single-row update transaction here, the ceiling every write is compared with.
pgbench_ceiling() {
    local db=pc_pgbench
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    local url="${PG_ADMIN%/*}/$db?sslmode=disable"
    pgbench -i -q -s 10 "$url" >/dev/null 2>&1
    local out; out=$(pgbench -N -n -c "$PGBENCH_CLIENTS" -j "$THREADS" -T "${DURATION%s}" "$url" 2>&1)
    PGBENCH_TPS=$(echo "$out" | awk '/^tps = / {printf "%.0f", $3; exit}')
    ROWS+=("$(printf '%-9s %5s %-22s %9s   (its own database, this run)' postgres "$PGBENCH_CLIENTS" "pgbench -N tps" "$PGBENCH_TPS")")
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}

# ratio_to_pgbench BACKEND NAME PER_SECOND: a write's rate as a share of pgbench -N (Postgres).
ratio_to_pgbench() {
    [ "$1" = postgres ] && [ -n "$PGBENCH_TPS" ] || return 0
    ROWS+=("$(printf '%-9s %5s %-22s %9s ×pgbench -N' "$1" "$CONNECTIONS" "  $2" "$(python3 -c "print('%.2f' % ($3/$PGBENCH_TPS))")")")
}

run_backend() {
    local backend=$1
    [ "$backend" = postgres ] && [ "${BENCH_PGBENCH:-1}" = 1 ] && pgbench_ceiling
    local db_env=() extra_env=()
    if [ "$backend" = postgres ]; then
        psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS pc_bench WITH (FORCE)" -c "CREATE DATABASE pc_bench"
        # Let Postgres write out what earlier runs left, so its checkpoint does not land in ours.
        psql -q "$PG_ADMIN" -c "CHECKPOINT"
        db_env=(DATABASE_URL="$PG_URL" REDIS_URL="$REDIS" REDIS_KEY_PREFIX="pc-bench:$$:" DEMO_MERCHANT=true)
    else
        DB_FILE=$WORK/bench.db
        db_env=(DATABASE_URL="$DB_FILE")
    fi
    start "$backend-a" "${db_env[@]}" RUN_WORKERS=false
    local a=$PID

    # Storefront checkout and merchant native, with code_urls already cached.
    : >"$WORK/tokens"; : >"$WORK/ids"
    for i in $(seq 1 "$WARM_ORDERS"); do
        curl -sf -X POST "$BASE/v1/orders" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
            -d "{\"merchant_order_id\":\"w$i\",\"merchant_user_id\":\"bench\",\"amount\":1,\"pay_method\":\"wechat\",\"return_url\":\"$SINK\"}" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkout_token"])' >>"$WORK/tokens"
        curl -sf -X POST "$BASE/v1/orders/w$i/wechat/native" -H "Authorization: Bearer $KEY" >/dev/null
        echo "w$i" >>"$WORK/ids"
    done
    for CONNECTIONS in $LOADS; do
        local prefix="c${CONNECTIONS}n"
        reads "$backend"
        [ -n "${BENCH_READS_ONLY:-}" ] && continue

        # Order creation; the orders it makes are then paid by the notify scenarios: every other
        # one through WeChat (XML, MD5), the rest through Alipay (form, RSA2 verified).
        PREFIX=$prefix API_KEY=$KEY SINK=$SINK bench "$backend" "create order" "$BASE" -s "$BENCH/create.lua"
        ratio_to_pgbench "$backend" "create order" "${RPS[$backend.$CONNECTIONS.create order]}"
        # Enough orders that no notify run comes to the end of its list (wrk would start it
        # again, and a repeat records nothing new): the created ones, then as many more as it
        # takes, inserted as creation would have left them.
        local created; created=$(sql "$backend" "SELECT COUNT(*) FROM orders WHERE merchant_order_id LIKE '$prefix%'")
        sql "$backend" "WITH RECURSIVE n (i) AS (SELECT $created + 1 UNION ALL SELECT i + 1 FROM n WHERE i < $NOTIFY_ORDERS)
            INSERT INTO orders (id, merchant_id, merchant_order_id, merchant_user_id, amount, pay_method, status,
                description, return_url, checkout_token, created_at, expires_at, origin, livemode)
            SELECT 'PCN${prefix}' || i, m.id, '${prefix}q' || i, 'bench', 1, 'wechat', 'WAIT_PAY', 'bench', '$SINK',
                'ct_${prefix}' || i, CURRENT_TIMESTAMP, '2099-01-01 00:00:00', 'api', FALSE
            FROM n, (SELECT id FROM merchants ORDER BY created_at LIMIT 1) AS m WHERE i <= $NOTIFY_ORDERS" >/dev/null
        sql "$backend" "UPDATE orders SET pay_method = 'any' WHERE merchant_order_id LIKE '$prefix%'" >/dev/null
        # Half each: by the parity of the order's number (<prefix><thread>x<n>), the same on both
        # backends. Each load's notifies have transaction numbers of their own (a repeat would
        # be answered SUCCESS and recorded as nothing new).
        local EVEN="substr(merchant_order_id, length(merchant_order_id), 1) IN ('0', '2', '4', '6', '8')"
        sql "$backend" "INSERT INTO channel_trades (channel, out_trade_no, order_id, product, status, credential, created_at, close_requested, query_attempts)
                        SELECT CASE WHEN $EVEN THEN 'wechat' ELSE 'alipay' END, id, id, 'qr', 'OPEN', 'bench', created_at, FALSE, 0
                        FROM orders WHERE merchant_order_id LIKE '$prefix%'"
        sql "$backend" "SELECT id, amount FROM orders WHERE merchant_order_id LIKE '$prefix%' AND $EVEN" \
            | python3 "$BENCH/notifies.py" "$((CONNECTIONS * 1000000))" >"$WORK/notifies"
        "$BIN" sandbox keys | python3 -c 'import json,sys; print(json.load(sys.stdin)["alipay"]["alipay_private_key"], end="")' >"$WORK/alipay.pem"
        sql "$backend" "SELECT id, amount FROM orders WHERE merchant_order_id LIKE '$prefix%' AND NOT $EVEN" \
            | python3 "$BENCH/alipay_notifies.py" "$WORK/alipay.pem" "$((CONNECTIONS * 1000000))" >"$WORK/alipay-notifies"
        local seconds=${DURATION%s}
        for channel in wechat alipay; do
            local list=$WORK/notifies path=/notify/wechat type=text/xml
            if [ "$channel" = alipay ]; then
                list=$WORK/alipay-notifies path=/notify/alipay type=application/x-www-form-urlencoded
            fi
            local paid_before paid_after
            paid_before=$(sql "$backend" "SELECT COUNT(*) FROM payments WHERE channel = '$channel'")
            LIST=$list THREADS=$THREADS NOTIFY_PATH=$path NOTIFY_TYPE=$type \
                bench "$backend" "$channel notify (wrk)" "$BASE" -s "$BENCH/notify.lua"
            paid_after=$(sql "$backend" "SELECT COUNT(*) FROM payments WHERE channel = '$channel'")
            local per_second=$(( (paid_after - paid_before) / seconds ))
            ROWS+=("$(printf '%-9s %5s %-22s %9s' "$backend" "$CONNECTIONS" "$channel transitions/s" "$per_second")")
            ratio_to_pgbench "$backend" "$channel transitions/s" "$per_second"
        done
        # What autovacuum does in time (it is off on some machines): statistics for the tables
        # the writes grew, and their dead rows cleared. Without statistics Postgres keeps plans
        # made while they were tiny; one such plan read a merchant's order through the
        # (merchant_id, created_at) index, 35 ms a lookup at 48,000 orders, and the next load's
        # native calls collapsed. Without the vacuum the next load's order creation ran on
        # the 160,000 dead versions the notifies' updates left in `orders` and its indexes:
        # 4,894 orders/s at 256 connections where a fresh database gives 6,000-6,300.
        if [ "$backend" = postgres ]; then sql "$backend" "VACUUM ANALYZE" >/dev/null; fi
    done
    if [ -n "${BENCH_READS_ONLY:-}" ]; then kill -TERM "$a"; wait "$a" 2>/dev/null || true; return 0; fi
    # The order list at scale (Postgres): a million of the merchant's orders, then the
    # filtered first page (status=PAID) under load; its p99 is the figure. They expire long
    # after the run, so no worker has anything to do with them.
    if [ "$backend" = postgres ]; then
        local seeded=$LIST_ORDERS
        sql "$backend" "INSERT INTO orders (id, merchant_id, merchant_order_id, merchant_user_id, amount, pay_method, status,
                description, return_url, checkout_token, created_at, expires_at, origin, livemode)
            SELECT 'PCL' || i, m.id, 'l' || i, 'bench', 1, 'wechat', (ARRAY['WAIT_PAY','PAID','CLOSED','PAID'])[1 + i % 4],
                'bench', '$SINK', 'ct_l' || i, TIMESTAMP '2026-01-01' + i * INTERVAL '1 second',
                TIMESTAMP '2099-01-01', 'api', FALSE
            FROM generate_series(1, $seeded) AS i, (SELECT id FROM merchants ORDER BY created_at LIMIT 1) AS m" >/dev/null
        sql "$backend" "ANALYZE orders" >/dev/null
        bench "$backend" "list (${seeded} orders)" -H "Authorization: Bearer $KEY" "$BASE/v1/orders?status=PAID&limit=20"
    fi
    local rss_a; rss_a=$(peak_rss_mib "$a")
    kill -TERM "$a"; wait "$a" 2>/dev/null || true

    # Webhook delivery: a fresh instance with its worker, every paid event due, a local sink.
    # The writes before (a million orders for the list) are written out first, so that their
    # checkpoint does not land in the deliveries' commits.
    if [ "$backend" = postgres ]; then psql -q "$PG_ADMIN" -c "CHECKPOINT"; fi
    local pending; pending=$(sql "$backend" "SELECT COUNT(*) FROM webhook_events WHERE status = 'PENDING'")
    local started; started=$(date +%s.%N)
    start "$backend-b" "${db_env[@]}" RUN_WORKERS=true
    local b=$PID
    for i in $(seq 1 1200); do
        [ "$(sql "$backend" "SELECT COUNT(*) FROM webhook_events WHERE status = 'PENDING'")" = 0 ] && break
        # As autovacuum would, while the attempts table grows from empty: without it the
        # worker kept the plan it made for an empty webhook_attempts (a sequential scan per
        # attempt) and deliveries fell from ~2,500/s to ~400/s within seconds.
        if [ "$backend" = postgres ] && [ $((i % 10)) = 0 ]; then
            sql "$backend" "ANALYZE webhook_events, webhook_attempts" >/dev/null
        fi
        sleep 0.1
    done
    local took; took=$(python3 -c "import time; print(time.time() - $started)")
    local delivered; delivered=$(sql "$backend" "SELECT COUNT(*) FROM webhook_events WHERE status = 'DELIVERED'")
    ROWS+=("$(printf '%-9s %5s %-22s %9s   (%s events in %.1f s, start-up included)' "$backend" "" "webhook deliveries/s" \
        "$(python3 -c "print('%.0f' % ($delivered/$took))")" "$delivered" "$took")")
    local rss_b; rss_b=$(peak_rss_mib "$b")
    kill -TERM "$b"; wait "$b" 2>/dev/null || true
    ROWS+=("$(printf '%-9s %5s %-22s %9s MiB (serving, %d connections) / %s MiB (delivering)' "$backend" "" "peak RSS" "$rss_a" "$CONNECTIONS" "$rss_b")")
    [ "$pending" = "$delivered" ] || ROWS+=("$backend: $pending events were pending, $delivered delivered")
    fairness "$backend" "${db_env[@]}"
}

# fairness BACKEND [ENV=VALUE…]: merchant A's endpoint accepts connections and never answers,
# with 200 of A's events due; how long merchant B's paid webhook takes from B's notify to B's shop.
fairness() {
    local backend=$1; shift
    local hang_port shop_port; hang_port=$(free_port); shop_port=$(free_port)
    : >"$WORK/arrivals"
    python3 "$BENCH/fairness.py" "$hang_port" "$shop_port" "$WORK/arrivals" & PIDS+=($!)
    start "$backend-fair" "$@" RUN_WORKERS=true
    local c=$PID json=(-H "Authorization: Bearer $KEY" -H 'Content-Type: application/json')
    curl -sf -X POST "$BASE/v1/webhook-endpoints" "${json[@]}" \
        -d "{\"url\":\"http://127.0.0.1:$hang_port/events\",\"events\":[\"*\"]}" >/dev/null
    curl -sf -X POST "$BASE/v1/orders" "${json[@]}" \
        -d "{\"merchant_order_id\":\"fair-a\",\"merchant_user_id\":\"bench\",\"amount\":1,\"pay_method\":\"wechat\",\"return_url\":\"$SINK\"}" >/dev/null
    curl -sf -X POST "$BASE/v1/orders/fair-a/close" -H "Authorization: Bearer $KEY" >/dev/null
    sql "$backend" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 199)
        INSERT INTO webhook_events (id, order_id, merchant_id, event_type, payload, url, status, attempts, next_attempt_at, created_at, endpoint_id)
        SELECT 'wh_fair_' || i, e.order_id, e.merchant_id, e.event_type, e.payload, e.url, 'PENDING', 0, e.next_attempt_at, e.created_at, e.endpoint_id
        FROM n, webhook_events e WHERE e.endpoint_id IS NOT NULL AND e.order_id = (SELECT id FROM orders WHERE merchant_order_id = 'fair-a')"
    sleep 1   # A's sends are under way and hanging
    local b_key; b_key=$(env "$@" "$BIN" merchant add --name "Merchant B" --return-url-prefix http://127.0.0.1 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
    local b_json=(-H "Authorization: Bearer $b_key" -H 'Content-Type: application/json')
    local b_id; b_id=$(curl -sf -X POST "$BASE/v1/orders" "${b_json[@]}" \
        -d "{\"merchant_order_id\":\"fair-b\",\"merchant_user_id\":\"bench\",\"amount\":1,\"pay_method\":\"wechat\",\"return_url\":\"http://127.0.0.1:$shop_port/paid\"}" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    curl -sf -X POST "$BASE/v1/orders/fair-b/wechat/native" -H "Authorization: Bearer $b_key" >/dev/null
    local xml; xml=$(echo "$b_id|1" | python3 "$BENCH/notifies.py" 900000000)
    local sent; sent=$(python3 -c 'import time; print("%.6f" % time.time())')
    curl -sf -X POST "$BASE/notify/wechat" --data-binary "$xml" | grep -q SUCCESS
    for _ in $(seq 1 600); do [ -s "$WORK/arrivals" ] && break; sleep 0.05; done
    local arrived; arrived=$(head -1 "$WORK/arrivals")
    local hanging; hanging=$(sql "$backend" "SELECT COUNT(*) FROM webhook_events WHERE endpoint_id IS NOT NULL AND status = 'PENDING'")
    if [ -n "$arrived" ]; then
        ROWS+=("$(printf '%-9s %5s %-22s %9s ms (notify to B'"'"'s shop; A: %s events due, endpoint hanging)' "$backend" "" "fairness: B's webhook" \
            "$(python3 -c "print('%.0f' % (($arrived - $sent) * 1000))")" "$hanging")")
    else
        ROWS+=("$backend: fairness: B's webhook did not arrive within 30 s")
    fi
    kill -TERM "$c"; wait "$c" 2>/dev/null || true
}

for backend in ${BENCH_BACKENDS:-postgres sqlite}; do
    run_backend "$backend"
done

echo
echo "wrk -t$THREADS -c{$LOADS} -d$DURATION, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ); ×healthz: req/s and p99 against /healthz at the same load"
printf '%-9s %5s %-22s %9s %8s %8s %7s %8s %8s\n' backend conns scenario 'req/s' 'p50 ms' 'p99 ms' errors '×healthz' 'p99 ×'

printf '%s\n' "${ROWS[@]}"
