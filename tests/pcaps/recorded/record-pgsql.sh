#!/usr/bin/env bash
# record-pgsql.sh — record the real PostgreSQL test captures in
# tests/pcaps/recorded/pgsql/.
#
# What it does:
#   1. initdb's a throw-away cluster in a temp dir (as the postgres user,
#      trust authentication, ssl off, every statement logged);
#   2. creates its own network namespace and starts postgres there, listening
#      on 127.0.0.1:55432 of that namespace only (plus a socket in the temp dir);
#   3. for every scenario: starts tcpdump on the namespace's lo, runs the
#      client (psql or pgbench), waits, stops tcpdump, copies the pcap;
#   4. tears everything down (trap), whatever happened.
#
# Requirements (Debian packages): postgresql (server, psql, pgbench; 15 on
# Debian 12), tcpdump, openssl (a self-signed certificate for the TLS
# scenario), iproute2. Must run as root (tcpdump, ip netns, su postgres).
#
# Usage:  sudo tests/pcaps/recorded/record-pgsql.sh [OUTPUT_DIR]
#         OUTPUT_DIR defaults to the pgsql/ folder next to this script.
#         TAPBEAT_REC_NO_NETNS=1 uses the host lo instead of a namespace.
#
# Captures differ from run to run only in timestamps, ephemeral ports,
# sequence numbers, process ids / secret keys, and the segmentation; the
# statements and their results (so MANIFEST.tsv) are the same every time.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/pgsql}
PORT=55432
NS=tapbeat-rec-pg

if [[ $EUID -ne 0 ]]; then
    echo "record-pgsql.sh: must run as root (tcpdump, ip netns, su)" >&2
    exit 1
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n $PGBIN && -x $PGBIN/postgres ]] || { echo "record-pgsql.sh: postgresql not installed" >&2; exit 1; }
for tool in tcpdump ip openssl su; do
    command -v "$tool" >/dev/null || { echo "record-pgsql.sh: missing $tool" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/tapbeat-rec-pg.XXXXXX)
PG_PID=
TCPDUMP_PID=
USE_NETNS=0

cleanup() {
    set +e
    if [[ -n $TCPDUMP_PID ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
    if [[ -n $PG_PID ]]; then kill -INT "$PG_PID" 2>/dev/null; wait "$PG_PID" 2>/dev/null; fi
    [[ $USE_NETNS == 1 ]] && ip netns del "$NS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*"; }

# Leftover of an interrupted run.
ip netns del "$NS" 2>/dev/null || true
if [[ ${TAPBEAT_REC_NO_NETNS:-0} != 1 ]] && ip netns add "$NS" 2>"$WORK/netns.err"; then
    USE_NETNS=1
    ip -n "$NS" link set dev lo up
    NSX=(ip netns exec "$NS")
else
    echo "WARNING: network namespaces unavailable; using the host lo." >&2
    NSX=()
fi

# --- cluster -----------------------------------------------------------------
chmod 0755 "$WORK"
mkdir -p "$WORK/data" "$WORK/sock"
chown postgres: "$WORK/data" "$WORK/sock"
as_pg() { su postgres -s /bin/sh -c "$*"; }
as_pg "$PGBIN/initdb -D $WORK/data -A trust -U postgres -E UTF8 --locale=C.UTF-8" >"$WORK/initdb.log"
cat >>"$WORK/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK/sock'
ssl = off
log_statement = 'all'
log_min_messages = warning
logging_collector = off
fsync = off
EOF
# Self-signed certificate for the TLS scenario (ssl is switched on later by a
# reload, so every other scenario sees a server that refuses TLS).
openssl req -new -x509 -days 3650 -nodes -subj "/CN=tapbeat-test" \
    -keyout "$WORK/data/server.key" -out "$WORK/data/server.crt" 2>/dev/null
chown postgres: "$WORK/data/server.key" "$WORK/data/server.crt"
chmod 0600 "$WORK/data/server.key"

log "starting $("$PGBIN/postgres" --version)"
"${NSX[@]}" su postgres -s /bin/sh -c "exec $PGBIN/postgres -D $WORK/data" 2>"$WORK/server.log" &
PG_PID=$!
PSQL=("${NSX[@]}" "$PGBIN/psql" -X -v ON_ERROR_STOP=0 -h 127.0.0.1 -p "$PORT" -U postgres)
for _ in $(seq 100); do
    "${PSQL[@]}" -d postgres -Atc 'select 1' >/dev/null 2>&1 && break
    sleep 0.1
done
"${PSQL[@]}" -d postgres -qc 'CREATE DATABASE tapbeat' >/dev/null
# pgbench's tables (scale 1: 100 000 accounts) are loaded before any capture.
"${NSX[@]}" "$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -i -s 1 -q tapbeat 2>&1 | tail -1

# --- capture helper ------------------------------------------------------------
capture() {
    local name=$1; shift
    local pcap=$WORK/$name.pcap
    local before
    before=$(wc -l <"$WORK/server.log")
    log "scenario $name"
    "${NSX[@]}" tcpdump -i lo -U -s 65535 -B 8192 -Z root -w "$pcap" "tcp port $PORT" 2>"$WORK/tcpdump.err" &
    TCPDUMP_PID=$!
    for _ in $(seq 50); do grep -q "listening on" "$WORK/tcpdump.err" && break; sleep 0.1; done
    "$@" 2>&1 | sed 's/^/   client: /'
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    grep -E 'packets (captured|dropped)' "$WORK/tcpdump.err" | sed 's/^/   tcpdump: /'
    tail -n +"$((before + 1))" "$WORK/server.log" | grep -E 'LOG: +(statement|execute)' | sed 's/^.*LOG: */   server: /'
    install -m 0644 "$pcap" "$OUT/$name.pcap"
}

# --- scenarios ---------------------------------------------------------------
# 1. A psql session (one connection, sslmode=disable): DDL, inserts, a
#    multi-row select with values that need CSV quoting, several statements
#    in one Query message (psql's "\;"), errors, a NOTICE, quotes and
#    dollar-quoting that hide ';', COPY out and COPY in, an empty result.
cat >"$WORK/session.sql" <<'SQL'
CREATE TABLE t (id int PRIMARY KEY, name text, note text);
INSERT INTO t VALUES (1, 'one', 'a,b'), (2, 'two', 'say "hi"'), (3, 'three', NULL);
SELECT * FROM t ORDER BY id;
UPDATE t SET note = 'x' WHERE id = 3;
SELECT 1 AS a \; SELECT 2 AS b \; SELECT 3 AS c;
INSERT INTO t VALUES (1, 'dup', NULL);
SELECT 1 AS first \; SELECT 1/0 AS boom \; SELECT 3 AS never;
SELECT count(*) FROM t;
DO $$ BEGIN RAISE NOTICE 'hello; from a notice'; END $$;
SELECT 'semi;colon' AS s, $q$dollar;quoted$q$ AS d, "id" FROM t /* c;omment */ WHERE id = 1; -- trailing; comment
SELECT name FROM t WHERE id > 100;
COPY t TO STDOUT;
COPY t (id, name) FROM STDIN;
10	ten
11	eleven
\.
DELETE FROM t WHERE id >= 10;
DROP TABLE t;
SQL
client_session() {
    "${NSX[@]}" "$PGBIN/psql" -X -f "$WORK/session.sql" \
        "host=127.0.0.1 port=$PORT user=postgres dbname=tapbeat sslmode=disable" 2>&1
}
capture psql_session client_session

# 2. TLS refused: psql asks for TLS (sslmode=prefer), the server says 'N',
#    the session continues in clear text with one query.
client_ssl_refused() {
    "${NSX[@]}" "$PGBIN/psql" -X -Atc "SELECT 'after refused TLS' AS msg" \
        "host=127.0.0.1 port=$PORT user=postgres dbname=tapbeat sslmode=prefer" 2>&1
}
capture ssl_refused client_ssl_refused

# 3. pgbench, extended query protocol (unnamed statements: Parse/Bind/
#    Describe/Execute/Sync per statement), 5 TPC-B transactions, 1 client.
client_pgbench_extended() {
    "${NSX[@]}" "$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n -M extended -t 5 -c 1 tapbeat 2>&1 |
        grep -E '^(query mode|number of transactions actually processed|number of failed)'
}
capture pgbench_extended client_pgbench_extended

# 4. pgbench, prepared statements (named: Parse once, then Bind/Execute),
#    2 transactions.
client_pgbench_prepared() {
    "${NSX[@]}" "$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n -M prepared -t 2 -c 1 tapbeat 2>&1 |
        grep -E '^(query mode|number of transactions actually processed|number of failed)'
}
capture pgbench_prepared client_pgbench_prepared

# 5. TLS accepted: switch ssl on (reload, outside the capture), then psql
#    with sslmode=require: SSLRequest, 'S', then only TLS records.
"${PSQL[@]}" -d postgres -qc "ALTER SYSTEM SET ssl = on" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
client_ssl_accepted() {
    "${NSX[@]}" "$PGBIN/psql" -X -Atc "SELECT 'inside TLS' AS msg, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" \
        "host=127.0.0.1 port=$PORT user=postgres dbname=tapbeat sslmode=require" 2>&1
}
capture ssl_accepted client_ssl_accepted

log "summary"
for f in "$OUT"/*.pcap; do
    printf '%s\t%s bytes\t%s frames\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(tcpdump -r "$f" 2>/dev/null | wc -l)"
done
