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
# tests/pcaps/recorded/record-http.sh; the namespace, nginx, tcpdump, cleanup and
# atomic-write pieces are shared with the other generators in bench/lib-gen.sh.
#
# Environment: PORT (default 8088), KEEPALIVE_REQUESTS (default 1000, nginx's
# own default), TCPDUMP_BUFFER_KB (default 65536).
# Requirements (Debian): nginx-light, apache2-utils, tcpdump, iproute2.
# Must run as root (ip netns, tcpdump).

set -euo pipefail
# shellcheck source=bench/lib-gen.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-gen.sh"

gen_args 100000 "$@"
PORT=${PORT:-8088}
KEEPALIVE_REQUESTS=${KEEPALIVE_REQUESTS:-1000}

gen_require_root
gen_need nginx=nginx-light ab=apache2-utils tcpdump=tcpdump
gen_setup

gen_nginx_start "$PORT" 64 "keepalive_timeout 65; keepalive_requests $KEEPALIVE_REQUESTS;"

client() {
    local alog=$WORK/ab.log
    "${IN_NS[@]}" ab -k -n "$N" -c 1 "$GEN_URL" >"$alog" 2>&1 || { cat "$alog" >&2; gen_die "ab failed"; }
    gen_ab_check "$alog" "$N"
}

gen_log "recording N=$N requests"
gen_record "tcp port $PORT" client
GETS=$(gen_count_gets "$GEN_PCAP")
gen_log "  capture: $PACKETS packets, $GETS request lines, $DROPS dropped"
[[ $GETS == "$N" ]] || gen_die "the capture holds $GETS request lines, expected $N"

gen_commit \
    "requests=$N" \
    "port=$PORT" \
    "packets=$PACKETS" \
    "request_path=$GEN_PATH" \
    "keepalive_requests=$KEEPALIVE_REQUESTS" \
    "connections=$(( (N + KEEPALIVE_REQUESTS - 1) / KEEPALIVE_REQUESTS ))" \
    "server=$GEN_SERVER" \
    "client=ab -k -n $N -c 1" \
    "recorded=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
