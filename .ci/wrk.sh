#!/usr/bin/env bash
# Measures client_credentials and /auth/verify of a real `tolk serve` with
# wrk, as ratios to tolkbench's bare net/http handler measured in
# alternating windows of the same length (docs/performance.md, issue 20).
# Loopback only; bounded: ROUNDS x 2 x DURATION per path. Not part of CI:
# it is a measurement, run by hand.
#
# Usage: .ci/wrk.sh [DSN]   (default: SQLite in a temporary directory;
#        e.g. postgres://postgres@127.0.0.1:5432/tolkwrk?sslmode=disable,
#        a database that exists and is empty)
# Env:   ROUNDS (3), DURATION (3s), THREADS (2), CONNS (16)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
ROUNDS="${ROUNDS:-3}" DURATION="${DURATION:-3s}" THREADS="${THREADS:-2}" CONNS="${CONNS:-16}"
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
dsn="${1:-sqlite:$dir/tolk.db}"
go build -o "$dir/tolk" ./cmd/tolk
go build -o "$dir/tolkbench" ./cmd/tolkbench
export TOLK_ADMIN_PASSWORD=wrk-admin-password TOLK_CLIENT_REQUEST_BURST=100000000
# PostgreSQL needs a shared secret key; a fixed one is fine for a measurement.
export TOLK_SECRET_KEY="${TOLK_SECRET_KEY:-wrk-measurement-secret-key-of-32-bytes-or-more}"

port=$((20000 + RANDOM % 20000))
bare=$((port + 1))
"$dir/tolk" serve --addr "127.0.0.1:$port" --db "$dsn" >"$dir/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 150); do grep -q 'tolk listening' "$dir/serve.log" && break; sleep 0.2; done
grep -q 'tolk listening' "$dir/serve.log" || { cat "$dir/serve.log"; exit 1; }
app=$("$dir/tolk" client create --db "$dsn" --name wrk --grant client_credentials --scope read)
field() { grep -o "\"$1\": *\"[^\"]*\"" | head -1 | cut -d'"' -f4; }
id=$(printf '%s' "$app" | field client_id)
secret=$(printf '%s' "$app" | field client_secret)
basic=$(printf '%s:%s' "$id" "$secret" | base64 -w0)
token=$(curl -sf -u "$id:$secret" -d grant_type=client_credentials -d scope=read "http://127.0.0.1:$port/oauth/token" | field access_token)

cat >"$dir/cc.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA
cat >"$dir/verify.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA

rps() { wrk -t "$THREADS" -c "$CONNS" -d "$DURATION" "$@" | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non-2xx:" $4 > "/dev/stderr"}'; }
for path in cc verify; do
  url="http://127.0.0.1:$port/oauth/token"
  [ "$path" = verify ] && url="http://127.0.0.1:$port/auth/verify?scope=read"
  for r in $(seq 1 "$ROUNDS"); do
    "$dir/tolkbench" -serve-bare "127.0.0.1:$bare" -d 30s 2>/dev/null &
    bp=$!
    for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$bare/" >/dev/null && break; sleep 0.1; done
    b=$(rps "http://127.0.0.1:$bare/")
    kill "$bp"; wait "$bp" 2>/dev/null || true
    t=$(rps -s "$dir/$path.lua" "$url")
    awk -v p="$path" -v r="$r" -v b="$b" -v t="$t" 'BEGIN { printf "%-6s round %d: bare %8.0f req/s, tolk %8.0f req/s, ratio %.2f\n", p, r, b, t, t / b }'
  done
done
