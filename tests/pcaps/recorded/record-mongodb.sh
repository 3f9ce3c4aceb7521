#!/usr/bin/env bash
# record-mongodb.sh — record the MongoDB test captures in tests/pcaps/recorded/mongodb/.
#
# No MongoDB server is packaged in the registries this project can use
# (Debian dropped it; PyPI has only drivers), so the server side is
# mongodb/mongo_wire.py: a small in-memory server that speaks enough of the
# wire protocol to answer the real MongoDB Python driver (pymongo, installed
# from PyPI into a throw-away venv). The clients are pymongo itself, and
# hand-built clients that send byte-exact messages for what drivers no
# longer send (legacy opcodes, checksums, exhaust, unknown opcodes...).
#
# What it does:
#   1. makes a work dir with a venv holding pymongo;
#   2. creates its own network namespace, brings its lo up with MTU 1500 and
#      no GSO (so big messages arrive in Ethernet-sized segments, as on a
#      real network; the host's lo is never touched);
#   3. for every scenario: starts the server (fresh, empty) and tcpdump on
#      the namespace's lo, runs the client, stops both, copies the pcap, and
#      turns the server's message log into the scenario's MANIFEST.tsv row;
#   4. tears everything down (trap), whatever happened.
#
# Requirements (Debian packages): python3, python3-venv, tcpdump, iproute2;
# network access to PyPI for pymongo. Must run as root (tcpdump, ip netns).
#
# Usage:  sudo tests/pcaps/recorded/record-mongodb.sh [OUTPUT_DIR]
#         OUTPUT_DIR defaults to the mongodb/ folder next to this script.
#
# Captures differ from run to run only in timestamps, ephemeral ports, TCP
# sequence numbers, pymongo's random session ids, and the ACK/segment
# pattern; the messages (and so MANIFEST.tsv) are the same every time for a
# given pymongo version (the recorded one is named in the README).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/mongodb}
TOOL=$HERE/mongodb/mongo_wire.py
PORT=27017
NS=tapbeat-rec-mongo

if [[ $EUID -ne 0 ]]; then
    echo "record-mongodb.sh: must run as root (tcpdump and ip netns need it)" >&2
    exit 1
fi
for tool in tcpdump python3 ip; do
    command -v "$tool" >/dev/null || { echo "record-mongodb.sh: missing $tool" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/tapbeat-rec-mongo.XXXXXX)
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

log() { printf '== %s\n' "$*" >&2; }

log "venv with pymongo"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q pymongo
PY=$WORK/venv/bin/python
PYMONGO_VERSION=$("$PY" -c 'import pymongo; print(pymongo.version)')
log "pymongo $PYMONGO_VERSION"

ip netns add "$NS"
ip -n "$NS" link set lo mtu 1500
# No GSO super-packets: tcpdump then sees the ≤1500-byte frames a network
# would carry (a 50 KB reply arrives in ~35 segments).
ip -n "$NS" link set lo gso_max_size 1448 gso_max_segs 1
ip -n "$NS" link set lo up
IN_NS=(ip netns exec "$NS")

mkdir -p "$OUT"
MANIFEST=$WORK/MANIFEST.tsv
printf 'file\tserver_port\tconnections\trequests\treplies\tanswered\tno_reply\texhaust_continuations\tunknown_opcode_messages\tcompressed\terror_replies\ttransactions\tmethods\n' > "$MANIFEST"

# capture NAME CLIENT: fresh server + tcpdump, run the client scenario.
capture() {
    local name=$1 client=$2
    local pcap=$WORK/$name.pcap msglog=$WORK/$name.log tlog=$WORK/$name.tcpdump.log
    : > "$msglog"
    log "$name: server"
    "${IN_NS[@]}" "$PY" "$TOOL" serve "$PORT" "$msglog" &
    SERVER_PID=$!
    for _ in $(seq 50); do
        "${IN_NS[@]}" "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).close()" 2>/dev/null && break
        sleep 0.1
    done
    # The probe connection above is not captured: tcpdump starts after it.
    sleep 0.2
    : > "$msglog"
    "${IN_NS[@]}" tcpdump -i lo -U -s 65535 -Z root -w "$pcap" "tcp port $PORT" 2>"$tlog" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tlog" && break; sleep 0.1; done
    sleep 0.3
    log "$name: client"
    "${IN_NS[@]}" "$PY" "$TOOL" client "$client" "$PORT" | sed 's/^/   client: /' >&2
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    grep -v 'listening on' "$tlog" | sed 's/^/   tcpdump: /' >&2 || true
    install -m 0644 "$pcap" "$OUT/$name.pcap"
    "$PY" "$TOOL" summary "$name.pcap" "$PORT" "$msglog" >> "$MANIFEST"
}

capture pymongo_crud      pymongo
capture pymongo_zlib      pymongo_zlib
capture wire_legacy       legacy
capture wire_op_msg       op_msg

install -m 0644 "$MANIFEST" "$OUT/MANIFEST.tsv"
log "written to $OUT (pymongo $PYMONGO_VERSION)"
column -t -s $'\t' "$OUT/MANIFEST.tsv" | cut -c1-200 >&2
for f in "$OUT"/*.pcap; do
    printf '%-22s %8d bytes %5d frames\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(tcpdump -r "$f" 2>/dev/null | wc -l)" >&2
done
