#!/bin/bash
# The near cache's before/after run (docs/03-caching.md): two release binaries of step 4 side
# by side, one without the near cache (BEFORE) and one with it (AFTER), each with its own
# database and key prefix on one MongoDB and one Redis; the servers (and, pinned by the
# caller, MongoDB and Redis) on core 0, wrk on core 1; 32 connections, 8 s per run, three
# alternating rounds of the reference endpoint, a product detail and a listing of 8.
#   near.sh MONGODB_URI REDIS_URL BEFORE_BINARY AFTER_BINARY RESULTS_FILE
set -u
MONGO="$1"; REDIS="$2"; BEFORE="$3"; AFTER="$4"; OUT="$5"
LOGS=$(mktemp -d)
common_env() {
  export APP__MONGODB__URI="$MONGO" APP__REDIS__URL="$REDIS" APP__APIS__RATE_LIMIT__ENABLED=false \
         RUST_LOG=warn APP__PAYMENTS__BASE_URL=http://127.0.0.1:4242
}
start() { # bin port db prefix
  ( common_env; export APP__MONGODB__DATABASE="$3" APP__CACHE__KEY_PREFIX="$4" APP__SERVER__PORT="$2";
    exec taskset -c 0 "$1" serve --seed ) > "$LOGS/server-$2.log" 2>&1 &
  PIDS="${PIDS:-} $!"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/internal/noop" >/dev/null && return; sleep 0.2; done
  echo "server on $2 did not start"; cat "$LOGS/server-$2.log"; exit 1
}
start "$BEFORE" 8101 bench_before bb:
start "$AFTER" 8102 bench_after ba:
id_b=$(curl -s 'http://127.0.0.1:8101/api/v2/products?limit=1' | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
id_a=$(curl -s 'http://127.0.0.1:8102/api/v2/products?limit=1' | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
: > "$OUT"
for round in 1 2 3; do
  for side in before after; do
    if [ $side = before ]; then port=8101; id=$id_b; else port=8102; id=$id_a; fi
    for ep in "/internal/noop" "/api/v1/products/$id" "/api/v2/products?limit=8"; do
      name=$(case $ep in /internal*) echo noop;; */products/*) echo detail;; *) echo list8;; esac)
      curl -s "http://127.0.0.1:$port$ep" > /dev/null; curl -s "http://127.0.0.1:$port$ep" > /dev/null
      r=$(taskset -c 1 wrk -t1 -c32 -d8s --latency "http://127.0.0.1:$port$ep" 2>&1)
      rps=$(echo "$r" | awk '/Requests\/sec/ {print $2}')
      p99=$(echo "$r" | awk '$1=="99%" {print $2}')
      non2xx=$(echo "$r" | awk '/Non-2xx/ {print $4}')
      echo "round=$round side=$side endpoint=$name rps=$rps p99=$p99 non2xx=${non2xx:-0}" | tee -a "$OUT"
    done
  done
done
curl -s http://127.0.0.1:8102/internal/cache > "$LOGS/after-cache.json"
echo "counters of the AFTER server: $LOGS/after-cache.json"
kill $PIDS 2>/dev/null
