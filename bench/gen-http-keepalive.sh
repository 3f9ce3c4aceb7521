#!/usr/bin/env bash
# gen-http-keepalive.sh — record an HTTP keep-alive capture from a real server.
#
# Usage:  sudo bench/gen-http-keepalive.sh OUT.pcap [N]
#
#   N       number of requests (default 100000)
#
# What it does:
#   1. creates a private network namespace (so the host's own `lo` is never
#      touched and nothing else on the machine lands in the capture);
#   2. starts nginx in it (own config, pid, logs, temp dirs in a mktemp dir)
#      serving one tiny static file on 127.0.0.1:$PORT;
#   3. starts tcpdump on the namespace's lo (-B 65536 -U -s 0, classic pcap);
#   4. runs `ab -k -n N -c 1` against nginx (HTTP/1.0 + Keep-Alive; nginx
#      closes a connection every $KEEPALIVE_REQUESTS requests, ab reconnects);
#   5. stops tcpdump and checks that (a) ab completed N requests with 0
#      failures, (b) tcpdump dropped 0 packets, (c) the capture really holds N
#      request lines (counted by grepping the raw pcap bytes: each request is
#      small and sits whole in a single frame).  If tcpdump dropped packets it
#      retries once with a 4x bigger kernel buffer, then fails loudly;
#   6. writes OUT.pcap atomically (temp file + mv) plus OUT.pcap.info
#      (key=value: requests, port, packets, ...) for bench/run;
#   7. tears everything down on exit (trap), whatever happened.
#
# The approach (namespace + nginx + tcpdump + ab) is the one of
# tests/pcaps/recorded/record-http.sh; that script runs top-level code and is
# not meant to be sourced, so the few pieces needed are re-done here.
#
# Environment: PORT (default 8088), KEEPALIVE_REQUESTS (default 1000, nginx's
# own default), TCPDUMP_BUFFER_KB (default 65536).
# Requirements (Debian): nginx-light, apache2-utils, tcpdump, iproute2.
# Must run as root (ip netns, tcpdump).

set -euo pipefail

usage() { echo "usage: $0 OUT.pcap [N]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
OUT=$1
N=${2:-100000}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "gen: N must be a positive integer, got '$N'" >&2; exit 2; }
PORT=${PORT:-8088}
KEEPALIVE_REQUESTS=${KEEPALIVE_REQUESTS:-1000}
BUF_KB=${TCPDUMP_BUFFER_KB:-65536}
NS=tapbeat-bench-$$
PATH_REQ=/tiny.txt

if [[ $EUID -ne 0 ]]; then
    echo "gen: must run as root (ip netns and tcpdump need it)" >&2
    exit 1
fi

missing=()
command -v nginx   >/dev/null || missing+=(nginx-light)
command -v ab      >/dev/null || missing+=(apache2-utils)
command -v tcpdump >/dev/null || missing+=(tcpdump)
if ((${#missing[@]})); then
    echo "gen: installing ${missing[*]}" >&2
    apt-get install -y "${missing[@]}" >&2
fi
for tool in nginx ab tcpdump ip; do
    command -v "$tool" >/dev/null || { echo "gen: missing $tool" >&2; exit 1; }
done

OUT_DIR=$(cd "$(dirname "$OUT")" && pwd)
OUT=$OUT_DIR/$(basename "$OUT")
WORK=$(mktemp -d /tmp/tapbeat-bench-gen.XXXXXX)
NGINX_PID=
TCPDUMP_PID=
NS_CREATED=0

cleanup() {
    # Every exit path: stop what we started (by pid), drop the namespace, the
    # work dir and a half-written output.
    set +e
    if [[ -n $TCPDUMP_PID ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
    if [[ -n $NGINX_PID ]]; then kill -QUIT "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; fi
    if [[ $NS_CREATED == 1 ]]; then ip netns del "$NS" 2>/dev/null; fi
    rm -f "$OUT.tmp.$$"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf 'gen: %s\n' "$*" >&2; }

# ---- namespace ------------------------------------------------------------
ip netns add "$NS"
NS_CREATED=1
ip -n "$NS" link set dev lo up
IN_NS=(ip netns exec "$NS")

# ---- nginx ----------------------------------------------------------------
WWW=$WORK/www
mkdir -p "$WWW" "$WORK/tmp"/{body,proxy,fastcgi,uwsgi,scgi}
printf 'tapbeat bench: a tiny static file served by nginx.\n' > "$WWW/${PATH_REQ#/}"
touch -d '2024-01-02 03:04:05 UTC' "$WWW"/*
# Workers run as 'nobody': the (mode 0700) mktemp dir must be readable.
chmod 0755 "$WORK"
chmod -R a+rX "$WWW"
chmod -R 1777 "$WORK/tmp"

cat > "$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 64; }
http {
    default_type text/plain;
    access_log off;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    keepalive_timeout 65;
    keepalive_requests $KEEPALIVE_REQUESTS;
    gzip off;
    server {
        listen 127.0.0.1:$PORT;
        root $WWW;
    }
}
EOF

log "starting nginx ($(nginx -v 2>&1 | sed 's/^nginx version: //')) in netns $NS"
"${IN_NS[@]}" nginx -e "$WORK/error.log" -c "$WORK/nginx.conf" &
NGINX_PID=$!   # 'ip netns exec' execs nginx: this is the master's pid
URL=http://127.0.0.1:$PORT$PATH_REQ
up=0
for _ in $(seq 50); do
    if "${IN_NS[@]}" ab -q -n 1 "$URL" 2>/dev/null | grep -q '^Complete requests: *1$'; then up=1; break; fi
    sleep 0.1
done
[[ $up == 1 ]] || { log "nginx did not come up"; cat "$WORK/error.log" >&2; exit 1; }

# ---- one recording attempt --------------------------------------------------
# record BUFFER_KB -> 0 on success; sets DROPS, PACKETS, GETS
record() {
    local buf=$1 tlog=$WORK/tcpdump.log alog=$WORK/ab.log pcap=$OUT.tmp.$$
    rm -f "$pcap"
    log "recording N=$N requests (tcpdump -B $buf -U -s 0)"
    "${IN_NS[@]}" tcpdump -i lo -B "$buf" -U -s 0 -Z root -w "$pcap" "tcp port $PORT" 2>"$tlog" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tlog" && break; sleep 0.1; done
    grep -q 'listening on' "$tlog" || { cat "$tlog" >&2; exit 1; }
    sleep 0.3
    local t0=$SECONDS
    "${IN_NS[@]}" ab -k -n "$N" -c 1 "$URL" >"$alog" 2>&1 || { log "ab failed:"; cat "$alog" >&2; exit 1; }
    sleep 1   # let the last ACK/FIN reach the capture
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    grep -E '^(Complete requests|Failed requests|Keep-Alive requests|Non-2xx|Requests per second)' "$alog" |
        sed 's/^/gen:   ab: /' >&2
    grep -E 'packets (captured|received|dropped)' "$tlog" | sed 's/^/gen:   tcpdump: /' >&2
    log "  ab took ~$((SECONDS - t0)) s"

    local complete failed
    complete=$(awk -F: '/^Complete requests/ {gsub(/ /,"",$2); print $2}' "$alog")
    failed=$(awk -F: '/^Failed requests/ {gsub(/ /,"",$2); print $2}' "$alog")
    if [[ $complete != "$N" || $failed != 0 ]]; then
        log "FAIL: ab completed '$complete' of $N requests, failed='$failed'"
        cat "$alog" >&2
        exit 1
    fi
    if grep -qE '^(Non-2xx)' "$alog"; then
        log "FAIL: ab saw non-2xx responses"; exit 1
    fi
    local kdrop idrop
    kdrop=$(awk '/packets dropped by kernel/ {print $1}' "$tlog")
    idrop=$(awk '/packets dropped by interface/ {print $1}' "$tlog")
    PACKETS=$(awk '/packets captured/ {print $1}' "$tlog")
    DROPS=$(( ${kdrop:-0} + ${idrop:-0} ))
    [[ -n $kdrop ]] || { log "FAIL: could not read tcpdump's drop counter"; cat "$tlog" >&2; exit 1; }
    # Each request ("GET /tiny.txt HTTP/1.0" + headers, ~100 bytes) is one
    # write by ab and lands whole in a single frame: count the request lines
    # in the raw file.
    GETS=$(LC_ALL=C grep -a -o "GET $PATH_REQ HTTP/1\.[01]" "$pcap" | wc -l)
    log "  capture: $PACKETS packets, $GETS request lines, $DROPS dropped"
}

DROPS=1
for buf in "$BUF_KB" $((BUF_KB * 4)); do
    record "$buf"
    if [[ $DROPS == 0 ]]; then break; fi
    log "tcpdump dropped $DROPS packets with -B $buf; retrying with a bigger buffer"
done
if [[ $DROPS != 0 ]]; then
    log "FAIL: tcpdump still dropped $DROPS packets; the machine is too busy or N=$N too large."
    log "      Retry later, or with a smaller N (e.g. BENCH_N=$((N / 2)) bench/run)."
    exit 1
fi
if [[ $GETS != "$N" ]]; then
    log "FAIL: the capture holds $GETS request lines, expected $N"
    exit 1
fi

mv "$OUT.tmp.$$" "$OUT"
chmod 0644 "$OUT"
cat > "$OUT.info" <<EOF
requests=$N
port=$PORT
packets=$PACKETS
request_path=$PATH_REQ
keepalive_requests=$KEEPALIVE_REQUESTS
connections=$(( (N + KEEPALIVE_REQUESTS - 1) / KEEPALIVE_REQUESTS ))
server=$(nginx -v 2>&1 | sed 's/^nginx version: //')
client=ab -k -n $N -c 1
recorded=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
log "wrote $OUT ($(stat -c %s "$OUT") bytes, $PACKETS packets, $N requests)"
