#!/usr/bin/env bash
# gen-dns.sh — record a DNS-over-UDP capture from a real server.
#
# Usage:  sudo bench/gen-dns.sh OUT.pcap [N]
#
#   N       number of queries (default 200000)
#
# What it does:
#   1. creates a private network namespace (bench/lib-gen.sh);
#   2. starts dnsmasq in it on 127.0.0.1:53, answering only from its own
#      records for the zone example.test (--local, --host-record, --address,
#      --mx-host, --txt-record): no upstream, no hosts file, no query log;
#   3. records the namespace's lo with tcpdump (udp port 53) while
#      bench/dns-load.py sends N queries over UDP, $INFLIGHT at a time, from
#      $SOCKETS client ports: A, AAAA, MX, TXT and names that do not exist
#      (NXDOMAIN), each sent once with a $TIMEOUT s timeout;
#   4. checks that (a) the client sent N queries, (b) tcpdump dropped 0
#      packets (retrying once with a bigger buffer), (c) the capture holds
#      exactly one packet per query sent plus one per answer received,
#      (d) dnsmasq's own count of locally answered queries (its SIGUSR1 stats)
#      is at least the number the client received. Unanswered queries are
#      allowed but reported (`unanswered=` in the .info); more than 1 % fails;
#   5. writes OUT.pcap and OUT.pcap.info atomically (`requests=` queries sent,
#      `answered=` matching responses received, `port=53`);
#   6. tears everything down on exit (trap), whatever happened.
#
# Environment: INFLIGHT (default 32), SOCKETS (default 4), TIMEOUT (default 2),
# TCPDUMP_BUFFER_KB (default 65536).
# Requirements (Debian): dnsmasq-base, python3, tcpdump, iproute2.
# Must run as root (ip netns, tcpdump).

set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib-gen.sh
source "$HERE/lib-gen.sh"

gen_args 200000 "$@"
PORT=53
INFLIGHT=${INFLIGHT:-32}
SOCKETS=${SOCKETS:-4}
TIMEOUT=${TIMEOUT:-2}

gen_require_root
gen_need dnsmasq=dnsmasq-base python3=python3
gen_setup

# ---- dnsmasq --------------------------------------------------------------------
SERVER=$(dnsmasq --version | head -n1 | cut -d' ' -f1-3)
gen_log "starting $SERVER in netns $NS"
gen_spawn TERM "${IN_NS[@]}" dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll \
    --conf-file=/dev/null --user=root --group=root --pid-file="$WORK/dnsmasq.pid" \
    --listen-address=127.0.0.1 --bind-interfaces --port="$PORT" --log-facility="$WORK/dnsmasq.log" \
    --local=/example.test/ \
    --host-record=www.example.test,192.0.2.10,2001:db8::10,3600 \
    --host-record=mail.example.test,192.0.2.25,3600 \
    --address=/api.example.test/192.0.2.30 --address=/api.example.test/2001:db8::30 \
    --mx-host=example.test,mail.example.test,10 \
    --txt-record=example.test,"v=spf1 mx -all","tapbeat bench"
DNSMASQ_PID=$GEN_LAST_PID
up=0
for _ in $(seq 50); do
    if "${IN_NS[@]}" python3 "$HERE/dns-load.py" 127.0.0.1 "$PORT" 1 --sockets 1 --timeout 0.2 2>/dev/null |
        grep -q ' answered=1 '; then up=1; break; fi
    sleep 0.1
done
[[ $up == 1 ]] || { cat "$WORK/dnsmasq.log" >&2; gen_die "dnsmasq did not come up"; }

# dnsmasq's count of queries answered from its own data so far: SIGUSR1 makes
# it log "queries forwarded F, queries answered locally L".
answered_locally() {
    local before
    before=$(grep -c 'queries answered locally' "$WORK/dnsmasq.log" || true)
    kill -USR1 "$DNSMASQ_PID"
    for _ in $(seq 50); do
        (( $(grep -c 'queries answered locally' "$WORK/dnsmasq.log" || true) > before )) && break
        sleep 0.1
    done
    grep 'queries answered locally' "$WORK/dnsmasq.log" | tail -n1 | sed -E 's/.*queries answered locally ([0-9]+).*/\1/'
}

client() {
    local clog=$WORK/client.log
    LOCAL_BEFORE=$(answered_locally)
    "${IN_NS[@]}" python3 "$HERE/dns-load.py" 127.0.0.1 "$PORT" "$N" --inflight "$INFLIGHT" \
        --sockets "$SOCKETS" --timeout "$TIMEOUT" >"$clog" 2>&1 || { cat "$clog" >&2; gen_die "dns-load.py failed"; }
    LOCAL_AFTER=$(answered_locally)
    sed 's/^/gen:   client: /' "$clog" >&2
    RESULT=$(tail -n1 "$clog")
}

gen_log "recording N=$N queries ($INFLIGHT in flight, $SOCKETS client sockets)"
gen_record "udp port $PORT" client

field() { sed -E "s/.*(^| )$1=([^ ]*).*/\\2/" <<<"$RESULT"; }
SENT=$(field sent)
ANSWERED=$(field answered)
UNANSWERED=$(field unanswered)
UNMATCHED=$(field unmatched)
LOCAL=$((LOCAL_AFTER - LOCAL_BEFORE))
gen_log "  server: answered $LOCAL queries locally; client: sent $SENT, answered $ANSWERED, unanswered $UNANSWERED"
gen_log "  capture: $PACKETS packets, $DROPS dropped"
[[ $SENT == "$N" ]] || gen_die "the client sent $SENT queries, expected $N"
[[ $UNMATCHED == 0 ]] || gen_die "the client got $UNMATCHED responses that match no query"
((LOCAL >= ANSWERED)) || gen_die "dnsmasq answered $LOCAL queries but the client received $ANSWERED answers"
((PACKETS == SENT + ANSWERED)) ||
    gen_die "the capture holds $PACKETS packets, expected $SENT queries + $ANSWERED responses"
((UNANSWERED * 100 <= N)) || gen_die "$UNANSWERED of $N queries went unanswered (more than 1 %)"
((UNANSWERED == 0)) || gen_log "  note: $UNANSWERED queries unanswered (timeout ${TIMEOUT}s)"

gen_commit \
    "requests=$SENT" \
    "answered=$ANSWERED" \
    "unanswered=$UNANSWERED" \
    "port=$PORT" \
    "packets=$PACKETS" \
    "rcodes=$(field rcodes)" \
    "client_ports=$SOCKETS" \
    "inflight=$INFLIGHT" \
    "server=$SERVER" \
    "client=dns-load.py 127.0.0.1 $PORT $N --inflight $INFLIGHT --sockets $SOCKETS --timeout $TIMEOUT" \
    "recorded=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
