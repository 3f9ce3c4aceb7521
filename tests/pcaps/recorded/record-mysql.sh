#!/usr/bin/env bash
# record-mysql.sh — record the MySQL/MariaDB test captures in tests/pcaps/recorded/mysql/.
#
# What it does:
#   1. creates a private network namespace (only its own lo, 127.0.0.1);
#   2. initialises a throw-away MariaDB data dir (mariadb-install-db), makes a
#      self-signed certificate, and starts mariadbd inside the namespace on
#      127.0.0.1:13306 with its socket, pid and logs in a temp dir;
#   3. creates the user `tb` (empty password, mysql_native_password) and the
#      database `tb` over the socket (not captured);
#   4. for every scenario: starts tcpdump on the namespace's lo, runs the
#      client, stops tcpdump, and prints the MySQL commands tshark sees;
#   5. tears everything down (trap), whatever happened.
#
# Requirements (Debian packages): mariadb-server mariadb-client tcpdump
# openssl python3 iproute2; tshark for the command summary. Run as root.
# Usage: sudo tests/pcaps/recorded/record-mysql.sh [OUTPUT_DIR]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/mysql}
PORT=13306
NS=tapbeat-rec-mysql

if [[ $EUID -ne 0 ]]; then
    echo "record-mysql.sh: must run as root (tcpdump and ip netns need it)" >&2
    exit 1
fi
for tool in mariadbd mariadb-install-db mariadb mariadb-admin tcpdump openssl python3 ip; do
    command -v "$tool" >/dev/null || { echo "record-mysql.sh: missing $tool" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/tapbeat-rec-mysql.XXXXXX)
DB_PID=
TCPDUMP_PID=

cleanup() {
    # Stop what we started, by pid only; drop the namespace and the work dir.
    set +e
    if [[ -n $TCPDUMP_PID ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
    if [[ -n $DB_PID ]]; then kill -TERM "$DB_PID" 2>/dev/null; wait "$DB_PID" 2>/dev/null; fi
    ip netns del "$NS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*"; }

ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip -n "$NS" link set dev lo up
IN=(ip netns exec "$NS")

# ---- server ----
log "initialising a data dir ($(mariadbd --version))"
mariadb-install-db --no-defaults --datadir="$WORK/data" --user=root \
    --auth-root-authentication-method=normal --skip-test-db >"$WORK/install.log" 2>&1 \
    || { cat "$WORK/install.log" >&2; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tapbeat-test" \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
"${IN[@]}" mariadbd --no-defaults --datadir="$WORK/data" --user=root \
    --socket="$WORK/mysqld.sock" --pid-file="$WORK/mysqld.pid" --log-error="$WORK/error.log" \
    --bind-address=127.0.0.1 --port=$PORT --skip-name-resolve --skip-log-bin \
    --innodb-buffer-pool-size=16M --ssl-cert="$WORK/cert.pem" --ssl-key="$WORK/key.pem" &
DB_PID=$!   # 'ip netns exec' execs mariadbd: this is the server's pid
for _ in $(seq 100); do
    [[ -S $WORK/mysqld.sock ]] && mariadb --no-defaults -S "$WORK/mysqld.sock" -u root -e 'select 1' >/dev/null 2>&1 && break
    sleep 0.2
done
mariadb --no-defaults -S "$WORK/mysqld.sock" -u root <<'SQL' || { cat "$WORK/error.log" >&2; exit 1; }
CREATE DATABASE tb;
CREATE USER 'tb'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING '';
GRANT ALL ON *.* TO 'tb'@'127.0.0.1';
CREATE TABLE tb.people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(32), score BIGINT, created DATETIME);
INSERT INTO tb.people (name, score, created) VALUES
  ('alice', 10, '2024-01-01 10:00:00'), ('bob', 20, '2024-01-02 11:30:00'), ('dave', NULL, NULL);
SQL

CLI=(mariadb --no-defaults -h 127.0.0.1 -P $PORT -u tb)
mkdir -p "$OUT"

# capture NAME CLIENT... : tcpdump on the namespace's lo around one client run.
capture() {
    local name=$1; shift
    local pcap=$WORK/$name.pcap tlog=$WORK/$name.tcpdump.log
    : > "$tlog"
    log "$name"
    "${IN[@]}" tcpdump -i lo -U -s 65535 -B 8192 -Z root -w "$pcap" "tcp port $PORT" 2>"$tlog" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tlog" && break; sleep 0.1; done
    sleep 0.3
    "${IN[@]}" "$@" 2>&1 | sed 's/^/   client: /' || true
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    install -m 0644 "$pcap" "$OUT/$name.pcap"
    if command -v tshark >/dev/null; then
        printf '   commands: '
        tshark -r "$OUT/$name.pcap" -d tcp.port==$PORT,mysql -Y mysql.command -T fields -E occurrence=a \
            -E aggregator=, -e mysql.command 2>/dev/null | tr ',' '\n' | sort | uniq -c | tr '\n' ' '
        echo
    fi
}

# 1. The mariadb command-line client: one connection, a script of statements
#    (COM_QUERY), `use` (COM_INIT_DB), an error, multi-row and wide results,
#    SQL-level PREPARE/EXECUTE (COM_QUERY too), a procedure with two results.
cat > "$WORK/session.sql" <<'SQL'
use tb
CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(32), note TEXT);
INSERT INTO t (name, note) VALUES ('a', 'x'), ('b', 'y, with a comma'), ('c', NULL);
SELECT * FROM t;
UPDATE t SET note = 'z' WHERE id > 1;
SELECT * FROM missing_table;
SELECT seq, REPEAT('r', 50) AS pad FROM seq_1_to_200;
SELECT REPEAT('w', 6000) AS wide;
PREPARE s FROM 'SELECT name FROM t WHERE id = ?';
SET @i = 2;
EXECUTE s USING @i;
DEALLOCATE PREPARE s;
DELIMITER //
CREATE PROCEDURE two() BEGIN SELECT 1 AS one; SELECT 'x' AS two, 2 AS three; END//
DELIMITER ;
CALL two();
DROP PROCEDURE two;
DROP TABLE t;
SQL
capture cli_session "${CLI[@]}" --skip-ssl --force -e "source $WORK/session.sql"

# 2. mariadb-admin: COM_PING and COM_STATISTICS (not transactions).
capture admin_ping mariadb-admin --no-defaults -h 127.0.0.1 -P $PORT -u tb --skip-ssl ping status

# 3. Binary protocol: server-side prepared statements from a raw client,
#    without and with CLIENT_DEPRECATE_EOF (two connections).
capture prepared python3 "$HERE/mysql/client.py" 127.0.0.1 $PORT tb tb

# 4. A failed login (unknown user): ERR 1045.
capture login_failed mariadb --no-defaults -h 127.0.0.1 -P $PORT -u nobody -pwrong --skip-ssl -e 'select 1'

# 5. TLS: SSL request, then nothing decodable.
capture tls "${CLI[@]}" --ssl --skip-ssl-verify-server-cert -e 'select 1'

# 6. The compressed protocol.
capture compressed "${CLI[@]}" --skip-ssl --compress -e 'select 1; select 2'

log "done: $(ls "$OUT")"
