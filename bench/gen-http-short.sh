#!/usr/bin/env bash
# gen-http-short.sh — record an HTTP capture of short connections (one request
# per TCP connection) from a real server.
#
# Usage:  sudo bench/gen-http-short.sh OUT.pcap [N]
#
#   N       number of requests = connections (default 20000)
#
# What it does:
#   1. creates a private network namespace (bench/lib-gen.sh) and sets its own
#      sysctls so many short connections fit: net.ipv4.ip_local_port_range
#      "1024 65535", net.ipv4.tcp_tw_reuse=1, net.core.somaxconn=4096 (these
#      are per-namespace; the host's values are not touched);
#   2. starts nginx in it (bench/lib-gen.sh) serving one tiny static file on
#      127.0.0.1:$PORT with keep-alive off;
#   3. records the namespace's lo with tcpdump (tcp port $PORT) while
#      `ab -n N -c $CONCURRENCY` (no -k: HTTP/1.0 without Keep-Alive) runs, so
#      every request has its own TCP connection: handshake, request, response,
#      close — one flow each;
#   4. checks that (a) ab completed N requests with 0 failures and no non-2xx,
#      (b) tcpdump dropped 0 packets (retrying once with a bigger buffer),
#      (c) the capture holds N request lines and N to N+CONCURRENCY-1
#      connection openings: ab may open up to CONCURRENCY-1 connections that
#      it closes without a request while the last requests are under way. An
#      opening is a distinct client port + ISN of a SYN without ACK, so a
#      retransmitted SYN counts once;
#   5. writes OUT.pcap and OUT.pcap.info atomically (requests=, connections=
#      (all TCP connections), empty_connections= (those without a request),
#      port=, distinct_client_ports=: below N when the client reused a port,
#      i.e. the same 4-tuple carried several connections, and
#      syn_retransmissions=);
#   6. tears everything down on exit (trap), whatever happened.
#
# Environment: PORT (default 8089), CONCURRENCY (default 8),
# TCPDUMP_BUFFER_KB (default 65536).
# Requirements (Debian): nginx-light, apache2-utils, tcpdump, iproute2.
# Must run as root (ip netns, tcpdump).

set -euo pipefail
# shellcheck source=bench/lib-gen.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-gen.sh"

gen_args 20000 "$@"
PORT=${PORT:-8089}
CONCURRENCY=${CONCURRENCY:-8}

gen_require_root
gen_need nginx=nginx-light ab=apache2-utils tcpdump=tcpdump
gen_setup
"${IN_NS[@]}" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1 \
    net.core.somaxconn=4096

gen_nginx_start "$PORT" 1024 "keepalive_timeout 0;" "backlog=4096"

client() {
    local alog=$WORK/ab.log
    "${IN_NS[@]}" ab -n "$N" -c "$CONCURRENCY" "$GEN_URL" >"$alog" 2>&1 || { cat "$alog" >&2; gen_die "ab failed"; }
    gen_ab_check "$alog" "$N"
    if grep -q '^Keep-Alive requests: *[1-9]' "$alog"; then gen_die "ab reused connections"; fi
}

gen_log "recording N=$N requests on as many connections (ab -n $N -c $CONCURRENCY)"
gen_record "tcp port $PORT" client
GETS=$(gen_count_gets "$GEN_PCAP")
gen_syns "$GEN_PCAP" > "$WORK/syns"
SYNS=$(wc -l < "$WORK/syns")
CONNECTIONS=$(sort -u "$WORK/syns" | wc -l)
PORTS=$(cut -d' ' -f1 "$WORK/syns" | sort -u | wc -l)
gen_log "  capture: $PACKETS packets, $GETS request lines, $CONNECTIONS connections from $PORTS client ports"
gen_log "           ($((SYNS - CONNECTIONS)) retransmitted SYNs), $DROPS dropped"
[[ $GETS == "$N" ]] || gen_die "the capture holds $GETS request lines, expected $N"
# ab opens a connection per concurrency slot ahead of need; when the last
# requests are under way, up to CONCURRENCY-1 of those are closed without a
# request. They are real (empty) TCP connections, listed in the .info.
EMPTY=$((CONNECTIONS - N))
((EMPTY >= 0 && EMPTY < CONCURRENCY)) ||
    gen_die "the capture holds $CONNECTIONS connection openings, expected $N to $((N + CONCURRENCY - 1))"
((EMPTY == 0)) || gen_log "  note: $EMPTY connections opened by ab without a request"

gen_commit \
    "requests=$N" \
    "connections=$CONNECTIONS" \
    "empty_connections=$EMPTY" \
    "port=$PORT" \
    "packets=$PACKETS" \
    "distinct_client_ports=$PORTS" \
    "syn_retransmissions=$((SYNS - CONNECTIONS))" \
    "request_path=$GEN_PATH" \
    "server=$GEN_SERVER" \
    "client=ab -n $N -c $CONCURRENCY" \
    "recorded=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
