#!/usr/bin/env bash
# record-thrift.sh — record the real Thrift test captures in tests/pcaps/recorded/thrift/.
#
# What it does:
#   1. generates the Python code of thrift/tapbeat_test.thrift with the
#      `thrift` compiler into a throw-away work dir;
#   2. creates its own network namespace, whose lo gets MTU 1500 (so messages
#      are cut into Ethernet-sized segments; the host's lo is never touched);
#   3. for every scenario: starts the Python server (thrift/peer.py) on
#      127.0.0.1:9090 inside the namespace, starts tcpdump there, runs the
#      client, stops both, copies the classic-pcap file into the output dir
#      and appends the client's own counts to MANIFEST.tsv;
#   4. tears everything down (trap), whatever happened.
#
# Requirements (Debian packages): python3-thrift, thrift-compiler, tcpdump,
# iproute2. Must run as root (tcpdump, ip netns).
#
# Usage:  sudo tests/pcaps/recorded/record-thrift.sh [OUTPUT_DIR]
#         OUTPUT_DIR defaults to the thrift/ folder next to this script.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$HERE/thrift
OUT=${1:-$SRC}
PORT=9090
NS=tapbeat-rec-thrift
PY=/usr/bin/python3   # Debian's python3, where python3-thrift is installed

if [[ $EUID -ne 0 ]]; then
    echo "record-thrift.sh: must run as root (tcpdump and ip netns need it)" >&2
    exit 1
fi
for tool in thrift tcpdump ip "$PY"; do
    command -v "$tool" >/dev/null || { echo "record-thrift.sh: missing $tool" >&2; exit 1; }
done
"$PY" -c 'import thrift' || { echo "record-thrift.sh: python3-thrift missing" >&2; exit 1; }

WORK=$(mktemp -d /tmp/tapbeat-rec-thrift.XXXXXX)
SERVER_PID=
TCPDUMP_PID=

cleanup() {
    # Every exit path: stop what we started, by pid only, then drop the
    # namespace and the work dir.
    set +e
    if [[ -n $TCPDUMP_PID ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
    if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
    ip netns del "$NS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*"; }

thrift --gen py -out "$WORK/gen" "$SRC/tapbeat_test.thrift" 2>/dev/null || { mkdir -p "$WORK/gen"; thrift --gen py -out "$WORK/gen" "$SRC/tapbeat_test.thrift"; }

ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
IN=(ip netns exec "$NS")
# The namespace's own lo: Ethernet-sized segments, one per send (no GSO
# super-segments in the capture).
ip -n "$NS" link set dev lo mtu 1500 gso_max_size 1448 gso_max_segs 1
ip -n "$NS" link set dev lo up

mkdir -p "$OUT"
MANIFEST=$OUT/MANIFEST.tsv
printf 'file\tserver_port\ttransport_type\tprotocol\tcalls\toneway\texceptions\tmethods\n' > "$MANIFEST"

# capture NAME TRANSPORT PROTOCOL SCENARIO
capture() {
    local name=$1 transport=$2 protocol=$3 scenario=$4
    local pcap=$WORK/$name.pcap tlog=$WORK/$name.tcpdump.log clog=$WORK/$name.client.log slog=$WORK/$name.server.log
    log "$name: $transport $protocol $scenario"
    "${IN[@]}" "$PY" "$SRC/peer.py" "$WORK/gen" server "$PORT" "$transport" "$protocol" >"$slog" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 50); do grep -q serving "$slog" && break; sleep 0.1; done
    sleep 0.3
    "${IN[@]}" tcpdump -i lo -U -s 65535 -Z root -w "$pcap" "tcp port $PORT" 2>"$tlog" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tlog" && break; sleep 0.1; done
    grep -q 'listening on' "$tlog" || { cat "$tlog" >&2; exit 1; }
    sleep 0.3
    "${IN[@]}" "$PY" "$SRC/peer.py" "$WORK/gen" client "$PORT" "$transport" "$protocol" "$scenario" >"$clog" 2>&1 ||
        { echo "client failed:" >&2; cat "$clog" "$slog" >&2; exit 1; }
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    sed 's/^/   tcpdump: /' "$tlog" | grep -v 'listening on'
    tail -n 1 "$clog" | sed 's/^/   client: /'
    install -m 0644 "$pcap" "$OUT/$name.pcap"
    local calls oneway exceptions methods tt
    calls=$(sed -n 's/^TOTAL calls=\([0-9]*\) .*/\1/p' "$clog")
    oneway=$(sed -n 's/^TOTAL .* oneway=\([0-9]*\) .*/\1/p' "$clog")
    exceptions=$(sed -n 's/^TOTAL .* exceptions=\([0-9]*\)$/\1/p' "$clog")
    methods=$(awk '$1 == "CALL" { print $2 }' "$clog" | paste -sd, -)
    tt=socket; [[ $transport == framed ]] && tt=framed
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name.pcap" "$PORT" "$tt" "$protocol" "$calls" "$oneway" "$exceptions" "$methods" >> "$MANIFEST"
}

capture binary_buffered      buffered binary      all
capture binary_framed        framed   binary      all
capture binary_old_buffered  buffered binary-old  all
capture compact_buffered     buffered compact     all
capture compact_framed       framed   compact     all
capture multiplexed_framed   framed   multiplexed all
capture pipelined_framed     framed   binary      pipelined

log "written to $OUT"
for f in "$OUT"/*.pcap; do
    printf '%-26s %8d bytes %5d frames\n' "$(basename "$f")" "$(stat -c %s "$f")" \
        "$(tcpdump -r "$f" 2>/dev/null | wc -l)"
done
