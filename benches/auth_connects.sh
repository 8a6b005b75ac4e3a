#!/usr/bin/env bash
# Connects per second with database auth (auth_db), on SQLite and PostgreSQL, with and without
# the answer cache, beside a broker with anonymous auth only. See AUTH_CONNECTS.md.
# Usage: benches/auth_connects.sh [reps=3] [secs=5] [clients=16]
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}; secs=${2:-5}; clients=${3:-16}
bin=$PWD/target/release
work=/tmp/auth_connects; rm -rf "$work"; mkdir -p "$work"
port=21890
pg_url=postgresql+asyncpg://amqtt:amqtt@127.0.0.1/amqtt_test
user=auth-bench; password=auth-bench-secret

# The user, in a SQLite file and in PostgreSQL (the database .ci/postgres.sh prepares).
printf '%s\n%s\n' "$password" "$password" | "$bin/amqtt_user_mgr" -d sqlite -f "$work/auth.db" sync >/dev/null
printf '%s\n' "$password" | "$bin/amqtt_user_mgr" -d sqlite -f "$work/auth.db" add -c "$user" >/dev/null
printf 'amqtt\n' | "$bin/amqtt_user_mgr" -d postgresql -u amqtt -h 127.0.0.1 -n amqtt_test sync >/dev/null
printf 'amqtt\ny\n' | "$bin/amqtt_user_mgr" -d postgresql -u amqtt -h 127.0.0.1 -n amqtt_test rm -y -c "$user" >/dev/null 2>&1 || true
printf 'amqtt\n%s\n' "$password" | "$bin/amqtt_user_mgr" -d postgresql -u amqtt -h 127.0.0.1 -n amqtt_test add -c "$user" >/dev/null

config() { # name, plugins section
  printf 'listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:%s\nplugins:\n%s' "$port" "$2" > "$work/$1.yaml"
}
config anonymous '  auth_anonymous:
    allow_anonymous: true
'
db() { # name, url, cache_ttl
  config "$1" "  amqtt.contrib.auth_db.UserAuthDBPlugin:
    connection: $2
    cache_ttl: $3
"
}
db sqlite "sqlite+aiosqlite:///$work/auth.db" 0
db sqlite-cache "sqlite+aiosqlite:///$work/auth.db" 60
db postgres "$pg_url" 0
db postgres-cache "$pg_url" 60

for rep in $(seq 1 "$reps"); do
  for variant in anonymous sqlite sqlite-cache postgres postgres-cache; do
    "$bin/amqtt" -c "$work/$variant.yaml" > "$work/$variant-$rep.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    "$bin/auth_connects" --addr 127.0.0.1:$port --pid $pid --user "$user" --password "$password" \
      --clients "$clients" --secs "$secs" --label "$variant" | tee -a "$work/results.jsonl"
    kill $pid; wait $pid 2>/dev/null || true
  done
done
python3 - "$work/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'variant':16} {'connects/s':>11} {'CPU us/connect':>15} {'p50 ms':>8} {'p99 ms':>8} refused failed")
for v in dict.fromkeys(r["label"] for r in rows):
    rs = [r for r in rows if r["label"] == v]
    med = lambda k: statistics.median(r[k] for r in rs)
    print(f"{v:16} {med('connects_per_s'):11.0f} {med('broker_cpu_us_per_connect'):15.0f} "
          f"{med('connack_p50_ms'):8.2f} {med('connack_p99_ms'):8.2f} "
          f"{sum(r['refused'] for r in rs):7} {sum(r['failed'] for r in rs):6}")
PY
