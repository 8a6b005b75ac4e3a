#!/usr/bin/env bash
# Installs and starts a local MariaDB with the user `amqtt` (password `amqtt`) owning the database
# `amqtt_test`, for amqtt-contrib's auth_db tests. Idempotent: skips what exists. Needs root
# (apt-get). No systemd: the server is started with `service` or, failing that, mysqld_safe in
# the background. The tests then connect to mysql://amqtt:amqtt@127.0.0.1:3306/amqtt_test.
set -euo pipefail
cd /

if ! command -v mariadbd >/dev/null 2>&1 && ! command -v mysqld >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
fi

ready() {
    mariadb-admin --protocol=socket -uroot status >/dev/null 2>&1 \
        || mysqladmin --protocol=socket -uroot status >/dev/null 2>&1
}

if ! ready; then
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld 2>/dev/null || true
    if ! service mariadb start >/dev/null 2>&1 && ! service mysql start >/dev/null 2>&1; then
        (mysqld_safe >/dev/null 2>&1 &)
    fi
    for _ in $(seq 1 60); do
        ready && break
        sleep 1
    done
fi
ready || { echo "MariaDB did not start" >&2; exit 1; }

mariadb --protocol=socket -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS amqtt_test;
CREATE USER IF NOT EXISTS 'amqtt'@'localhost' IDENTIFIED BY 'amqtt';
CREATE USER IF NOT EXISTS 'amqtt'@'127.0.0.1' IDENTIFIED BY 'amqtt';
GRANT ALL PRIVILEGES ON amqtt_test.* TO 'amqtt'@'localhost';
GRANT ALL PRIVILEGES ON amqtt_test.* TO 'amqtt'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
mariadb -h 127.0.0.1 -P 3306 -uamqtt -pamqtt amqtt_test -e 'SELECT 1' >/dev/null
echo "MariaDB ready: mysql://amqtt:amqtt@127.0.0.1:3306/amqtt_test"
