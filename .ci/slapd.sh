#!/usr/bin/env bash
# Installs OpenLDAP and runs a slapd of its own for the LDAP plugin tests: configured from
# slapd.conf in /var/lib/amqtt-slapd (not the packaged service, which is left unconfigured),
# listening on ldap://127.0.0.1:3389, suffix dc=amqtt,dc=test, admin cn=admin,dc=amqtt,dc=test
# (password admin-secret), with the schema .ci/ldap/amqtt.schema (mqttPublishTopic,
# mqttSubscribeTopic, mqttReceiveTopic) and the tree .ci/ldap/tree.ldif.
# Idempotent: installs only when missing, starts slapd only when it does not answer, adds only
# the entries that are missing. Needs root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir=/var/lib/amqtt-slapd
url=ldap://127.0.0.1:3389
admin_dn=cn=admin,dc=amqtt,dc=test
admin_pw=admin-secret

if ! command -v slapd >/dev/null 2>&1 && [ ! -x /usr/sbin/slapd ]; then
    # Leave the packaged slapd unconfigured: ours runs from its own folder.
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd ldap-utils >/dev/null
fi

answers() {
    ldapsearch -x -H "$url" -b "" -s base -LLL namingContexts >/dev/null 2>&1
}

if ! answers; then
    mkdir -p "$dir/data"
    cp "$here/ldap/amqtt.schema" "$dir/amqtt.schema"
    cat >"$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include $dir/amqtt.schema
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 104857600
suffix "dc=amqtt,dc=test"
rootdn "$admin_dn"
rootpw $admin_pw
directory $dir/data
index objectClass eq
index uid eq
access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by * read
CONF
    /usr/sbin/slapd -f "$dir/slapd.conf" -h "$url/"
    for _ in $(seq 1 30); do
        answers && break
        sleep 0.5
    done
fi
answers || { echo "slapd does not answer at $url" >&2; exit 1; }

# Add what is missing (`-c`: entries that exist already are reported and skipped).
ldapadd -c -x -H "$url" -D "$admin_dn" -w "$admin_pw" -f "$here/ldap/tree.ldif" >/dev/null 2>&1 || true
ldapsearch -x -H "$url" -D "$admin_dn" -w "$admin_pw" -b "ou=users,dc=amqtt,dc=test" -LLL \
    "(uid=alice)" dn | grep -q "^dn: uid=alice" \
    || { echo "the test tree did not load into slapd at $url" >&2; exit 1; }
echo "OpenLDAP ready: $url (suffix dc=amqtt,dc=test)"
