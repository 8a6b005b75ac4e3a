#!/usr/bin/env bash
# Installs and starts a local PostgreSQL with the role `amqtt` (password `amqtt`) owning the
# database `amqtt_test`, for amqtt-store's PostgreSQL tests. Idempotent: skips what exists.
# Needs root (apt-get, su). The tests then connect to postgres://amqtt:amqtt@127.0.0.1/amqtt_test.
set -euo pipefail
cd /  # su and psql complain about a working directory the postgres user cannot read

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version main"; then
    pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -qx online; then
    pg_ctlcluster "$version" main start
fi
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 && break
    sleep 1
done
pg_isready -h 127.0.0.1

psql_as_postgres() {
    su postgres -c "psql -v ON_ERROR_STOP=1 -tA -c \"$1\""
}
if [ "$(psql_as_postgres "SELECT 1 FROM pg_roles WHERE rolname = 'amqtt'")" != 1 ]; then
    psql_as_postgres "CREATE ROLE amqtt LOGIN PASSWORD 'amqtt'"
fi
if [ "$(psql_as_postgres "SELECT 1 FROM pg_database WHERE datname = 'amqtt_test'")" != 1 ]; then
    su postgres -c "createdb -O amqtt amqtt_test"
fi
echo "PostgreSQL $version ready: postgres://amqtt:amqtt@127.0.0.1/amqtt_test"
