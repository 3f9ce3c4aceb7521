#!/usr/bin/env bash
# record-memcache.sh — record the real Memcache test captures in
# tests/pcaps/recorded/memcache/.
#
#   1. creates a private network namespace (only its own `lo`, 127.0.0.1);
#   2. starts memcached there (own instance: TCP and UDP on 11211, 1 thread);
#   3. for every scenario: starts tcpdump on that `lo`, runs the python3
#      client (memcache/client.py), stops tcpdump and
#      copies the classic-pcap file to the output dir;
#   4. writes MANIFEST.tsv from the clients' own counts;
#   5. tears everything down (trap), whatever happened.
#
# Requirements (Debian packages): memcached, tcpdump, python3, iproute2.
# Must run as root (tcpdump, ip netns).
#
# Usage:  sudo tests/pcaps/recorded/record-memcache.sh [OUTPUT_DIR]
#         OUTPUT_DIR defaults to the memcache/ folder next to this script.
#
# Captures differ from run to run only in timestamps, ephemeral ports, TCP
# sequence numbers, CAS values and the stats values; the request/reply
# structure (and so MANIFEST.tsv) is the same every time.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/memcache}
PORT=11211
NS=tapbeat-mc-rec

if [[ $EUID -ne 0 ]]; then
    echo "record-memcache.sh: must run as root (tcpdump and ip netns need it)" >&2
    exit 1
fi
for tool in memcached tcpdump python3 ip; do
    command -v "$tool" >/dev/null || { echo "record-memcache.sh: missing $tool" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/tapbeat-mc-rec.XXXXXX)
MC_PID=
TCPDUMP_PID=

cleanup() {
    # Every exit path: stop what we started, by pid only, then drop the
    # namespace and the work dir.
    set +e
    if [[ -n $TCPDUMP_PID ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
    if [[ -n $MC_PID ]]; then kill "$MC_PID" 2>/dev/null; wait "$MC_PID" 2>/dev/null; fi
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

# memcached refuses to run as root without -u; -U enables UDP (off by
# default since 1.5.6); one worker thread keeps replies in request order.
"${IN[@]}" memcached -u nobody -l 127.0.0.1 -p "$PORT" -U "$PORT" -t 1 -m 64 &
MC_PID=$!
for _ in $(seq 50); do
    "${IN[@]}" python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).close()" 2>/dev/null && break
    sleep 0.1
done

mkdir -p "$OUT"
printf 'file\tserver_port\ttransport\tprotocol\trequests\treplies\tnotes\n' > "$WORK/MANIFEST.tsv"

# capture NAME TRANSPORT PROTOCOL SCENARIO NOTES
capture() {
    local name=$1 transport=$2 proto=$3 scenario=$4 notes=$5
    local pcap=$WORK/$name.pcap tlog=$WORK/$name.tcpdump.log clog=$WORK/$name.client.log
    log "$name"
    "${IN[@]}" tcpdump -i lo -U -s 65535 -Z root -w "$pcap" "$transport port $PORT" 2>"$tlog" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tlog" && break; sleep 0.1; done
    grep -q 'listening on' "$tlog" || { cat "$tlog" >&2; exit 1; }
    sleep 0.3
    "${IN[@]}" python3 "$HERE/memcache/client.py" "$scenario" 127.0.0.1 "$PORT" >"$clog" 2>&1 ||
        { echo "client failed:" >&2; cat "$clog" >&2; exit 1; }
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    sed 's/^/   client: /' "$clog"
    grep -v 'listening on' "$tlog" | sed 's/^/   tcpdump: /'
    local counts req rep
    counts=$(grep '^COUNTS ' "$clog")
    req=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$counts")
    rep=$(sed -n 's/.*replies=\([0-9]*\).*/\1/p' <<<"$counts")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name.pcap" "$PORT" "$transport" "$proto" "$req" "$rep" "$notes" >> "$WORK/MANIFEST.tsv"
    install -m 0644 "$pcap" "$OUT/$name.pcap"
}

capture text_tcp_commands tcp text text_tcp \
    "one connection: flush_all, set x3, get with 5 keys (3 hits), get miss, gets, cas ok/EXISTS, add, replace, append, prepend, incr/decr (+NOT_FOUND, +CLIENT_ERROR), touch, delete, version, verbosity, stats, stats slabs, an unknown command (ERROR), 7 noreply commands (set add append incr touch delete flush_all, no reply), get of 3 keys, flush_all 0, quit (no reply)"
capture text_tcp_many_keys tcp text text_many_keys \
    "30 sets of 2048-byte values, then one get naming 60 keys (30 hits, reply ~63 KB over many segments), gets of 5 keys, quit (no reply)"
capture binary_tcp_commands tcp binary binary_tcp \
    "one connection: flush, set, add (exists), replace (+miss), append, prepend, get, getk, get miss, incr x2, decr, touch, delete (+miss), version, 5 getkq (2 hits) + noop, 3 setq + failing addq + noop, stat (one reply per entry, empty terminator), noop, quitq (no reply)"
capture text_udp_commands udp text text_udp \
    "UDP frame header, one request id per request: set, set of 3000 bytes, get of 3 keys (reply in 2 UDP messages of 1 and 3 datagrams, same request id), incr miss, set, incr, set noreply, delete noreply (no replies), get of 2 keys (an empty 0-datagram message for the miss, then the hit), version, stats (2 datagrams)"
capture binary_udp_commands udp binary binary_udp \
    "binary over UDP: set, getk, get miss, incr, setq (quiet, no reply), version, noop"

install -m 0644 "$WORK/MANIFEST.tsv" "$OUT/MANIFEST.tsv"
log "written to $OUT"
cat "$OUT/MANIFEST.tsv"
ls -l "$OUT"
