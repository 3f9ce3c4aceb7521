#!/usr/bin/env bash
# record-redis.sh — record the real Redis test captures in tests/pcaps/recorded/redis/.
#
# What it does, in short:
#   1. creates two network namespaces of its own joined by a veth pair
#      (see record-http.sh for why: nothing else on the machine shows up in
#      the captures, the host's lo is never touched);
#   2. starts its own redis-server in the server namespace (no persistence:
#      --save '' --appendonly no; TCP port 6390 on every address of the
#      namespace, plus a unix socket the script uses for INFO, which is
#      therefore never captured);
#   3. for every scenario: starts tcpdump, runs the clients, waits, stops
#      tcpdump, copies the pcap to the output dir, and prints the server's
#      own count of processed commands (INFO stats over the unix socket) and
#      an independent count of the messages in the capture (count_resp.py);
#   4. writes MANIFEST.tsv from those counts;
#   5. tears everything down (trap), whatever happened.
#
# Requirements (Debian packages): redis-server and redis-tools (redis-cli,
# redis-benchmark), tcpdump, python3, iproute2. Must run as root.
#
# Usage:  sudo tests/pcaps/recorded/record-redis.sh [OUTPUT_DIR]
#         OUTPUT_DIR defaults to the redis/ folder next to this script.
#
# Captures differ from run to run in timestamps, ephemeral ports, sequence
# numbers and segmentation (above all redis-benchmark's, whose clients run
# concurrently); the message counts of MANIFEST.tsv are recomputed from the
# captures on every run.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/redis}
PORT=6390
NS_SRV=tapbeat-redis-srv
NS_CLI=tapbeat-redis-cli
VETH_SRV=tbredis0
VETH_CLI=tbredis1
SRV_IP=10.99.1.1
CLI_IP=10.99.1.2

if [[ $EUID -ne 0 ]]; then
    echo "record-redis.sh: must run as root (tcpdump and ip netns need it)" >&2
    exit 1
fi
for tool in redis-server redis-cli redis-benchmark tcpdump python3 ip; do
    command -v "$tool" >/dev/null || { echo "record-redis.sh: missing $tool" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/tapbeat-redis-rec.XXXXXX)
REDIS_PID=
TCPDUMP_PID=
BG_PIDS=()

cleanup() {
    # Every exit path: stop what we started, by pid only, then drop the
    # namespaces (which removes the veth pair) and the work dir.
    set +e
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if [[ -n $TCPDUMP_PID ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
    if [[ -n $REDIS_PID ]]; then kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; fi
    ip netns del "$NS_CLI" 2>/dev/null
    ip netns del "$NS_SRV" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*"; }

# ---- network: server namespace (lo + veth end), client namespace (veth) ----
ip netns del "$NS_CLI" 2>/dev/null || true
ip netns del "$NS_SRV" 2>/dev/null || true
ip netns add "$NS_SRV"
ip netns add "$NS_CLI"
ip link add "$VETH_SRV" address 02:00:00:00:01:01 netns "$NS_SRV" type veth \
    peer name "$VETH_CLI" address 02:00:00:00:01:02 netns "$NS_CLI"
ip -n "$NS_SRV" addr add "$SRV_IP/24" dev "$VETH_SRV"
ip -n "$NS_CLI" addr add "$CLI_IP/24" dev "$VETH_CLI"
for pair in "$NS_SRV $VETH_SRV" "$NS_CLI $VETH_CLI"; do
    set -- $pair
    # Ethernet-sized segments (no GSO super-packets), as in record-http.sh.
    ip -n "$1" link set dev "$2" mtu 1500 gso_max_size 1448 gso_max_segs 1
    ip -n "$1" link set dev "$2" up
    ip -n "$1" link set dev lo up
done
SRV=(ip netns exec "$NS_SRV")
CLI=(ip netns exec "$NS_CLI")

# ---- the server ----
SOCK=$WORK/redis.sock
log "starting $(redis-server --version | cut -d' ' -f1-3)"
"${SRV[@]}" redis-server --port "$PORT" --bind '* -::*' --protected-mode no \
    --save '' --appendonly no --dir "$WORK" --unixsocket "$SOCK" --unixsocketperm 700 \
    --enable-debug-command local --logfile "$WORK/redis.log" --daemonize no &
REDIS_PID=$!   # 'ip netns exec' execs redis-server: this is its pid
for _ in $(seq 50); do
    redis-cli -s "$SOCK" PING >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -s "$SOCK" PING >/dev/null

# Commands the server executed so far. The INFO that asks is counted too
# (after it answers): one per call, subtracted in capture().
processed() { redis-cli -s "$SOCK" INFO stats | tr -d '\r' | sed -n 's/^total_commands_processed://p'; }

mkdir -p "$OUT"
MANIFEST_ROWS=()

# capture NAME IFACE NOTES CLIENT_FUNCTION
capture() {
    local name=$1 iface=$2 notes=$3; shift 3
    local pcap=$WORK/$name.pcap tlog=$WORK/$name.tcpdump.log clog=$WORK/$name.client.log
    local before after counts
    log "$name: capturing on $iface"
    "${SRV[@]}" tcpdump -i "$iface" -U -s 65535 -B 32768 -Z root -w "$pcap" "tcp port $PORT" 2>"$tlog" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tlog" && break; sleep 0.1; done
    grep -q 'listening on' "$tlog" || { cat "$tlog" >&2; exit 1; }
    sleep 0.3
    before=$(processed)
    "$@" >"$clog" 2>&1 || { echo "client failed:" >&2; cat "$clog" >&2; exit 1; }
    sleep 1
    after=$(processed)
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    sed 's/^/   tcpdump: /' "$tlog" | grep -v 'listening on' || true
    sed 's/^/   client: /' "$clog" | head -40
    counts=$(python3 "$HERE/redis/count_resp.py" "$pcap" "$PORT")
    echo "   server: total_commands_processed +$((after - before - 1))"
    echo "   capture: $counts"
    install -m 0644 "$pcap" "$OUT/$name.pcap"
    # file, port, then the counts in count_resp.py's order, then notes.
    MANIFEST_ROWS+=("$name.pcap	$PORT	$(echo "$counts" | tr ' ' '\n' | cut -d= -f2 | paste -sd '\t')	$((after - before - 1))	$notes")
}

# ---- scenarios ----

# 1. One redis-cli session (commands from stdin: one connection, one
#    command at a time): Packetbeat's redis_session.pcap sequence first
#    (set, get, then LLEN on a string key: an error), then lists, hashes, a
#    nil, MULTI/EXEC with a runtime error inside, a container command, an
#    unknown command, cleanup.
session() {
    "${SRV[@]}" redis-cli -h 127.0.0.1 -p "$PORT" <<'EOF'
set key3 me
get key3
llen key3
rpush list1 a b c
lrange list1 0 -1
incr counter
hset h field1 v1 field2 v2
hgetall h
get missing
multi
set a 1
incr a
lpush a x
exec
config get maxmemory
nosuchcommand x
ping
del key3 list1 counter h a
EOF
}
capture session lo "redis-cli session: set/get/llen (WRONGTYPE error) as Packetbeat's redis_session; lists, hash, nil, MULTI/EXEC with a runtime error inside EXEC, CONFIG GET, unknown command (error), PING, DEL" session

# 2. Inline commands written by printf to a bash /dev/tcp socket, all in
#    one segment (inline pipelining), with a blank line Redis ignores.
inline() {
    "${SRV[@]}" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT
        printf 'PING\r\nSET inl \"hello world\"\r\n\r\nGET inl\r\nEXISTS inl nope\r\nQUIT\r\n' >&3
        cat <&3"
}
capture inline lo "inline commands via printf to bash /dev/tcp, one segment: PING, SET with a quoted value, a blank line (ignored by Redis, no reply), GET, EXISTS, QUIT (server closes)" inline

# 3. Pipelining: redis-benchmark, 16 commands in flight per connection.
pipelined() {
    "${SRV[@]}" redis-benchmark -h 127.0.0.1 -p "$PORT" -P 16 -n 2000 -c 4 -t set,get -q
}
capture pipelined lo "redis-benchmark -P 16 -n 2000 -c 4 -t set,get: 2000 SET + 2000 GET, 16 in flight per connection, many commands per segment; plus the CONFIG GET save / appendonly it sends first on its own connection" pipelined

# 4. Pub/sub in RESP2: redis-cli subscribers (terminated at the end, as a user
#    would with Ctrl-C), redis-cli publishers, and a python client that also
#    unsubscribes (with and without channel names) and PINGs while
#    subscribed.
pubsub() {
    local p1 p2 p3
    "${SRV[@]}" redis-cli -h 127.0.0.1 -p "$PORT" SUBSCRIBE news sport > "$WORK/sub1.out" &
    p1=$!; BG_PIDS+=("$p1")
    "${SRV[@]}" redis-cli -h 127.0.0.1 -p "$PORT" PSUBSCRIBE 's*' > "$WORK/sub2.out" &
    p2=$!; BG_PIDS+=("$p2")
    "${SRV[@]}" python3 - "$PORT" > "$WORK/sub3.out" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
def cmd(*args):
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
def read():
    t = f.read(1); line = f.readline()[:-2]
    if t in b"$":
        n = int(line)
        return None if n < 0 else f.read(n + 2)[:-2]
    if t in b"*>":
        return [read() for _ in range(int(line))]
    return line
cmd(b"SUBSCRIBE", b"news", b"weather"); print(read(), read(), flush=True)
cmd(b"PING"); print(read(), flush=True)
for _ in range(2):          # "news" is published twice below
    print(read(), flush=True)
cmd(b"UNSUBSCRIBE", b"news"); print(read(), flush=True)
cmd(b"UNSUBSCRIBE"); print(read(), flush=True)  # the rest: weather
cmd(b"PING"); print(read(), flush=True)         # out of subscribed mode: +PONG
cmd(b"QUIT"); print(read(), flush=True)
PY
    p3=$!; BG_PIDS+=("$p3")
    sleep 1
    for m in "news hello" "sport goal" "news bye"; do
        # shellcheck disable=SC2086
        "${SRV[@]}" redis-cli -h 127.0.0.1 -p "$PORT" PUBLISH $m
        sleep 0.2
    done
    wait "$p3"
    sleep 0.5
    # SIGTERM: background jobs of a non-interactive shell ignore SIGINT.
    kill -TERM "$p1" "$p2"; wait "$p1" "$p2" 2>/dev/null || true
    BG_PIDS=()
    echo "-- subscriber 1:"; cat "$WORK/sub1.out"
    echo "-- subscriber 2:"; cat "$WORK/sub2.out"
    echo "-- subscriber 3:"; cat "$WORK/sub3.out"
}
capture pubsub lo "RESP2 pub/sub: redis-cli SUBSCRIBE news sport and PSUBSCRIBE s* (killed at the end), python SUBSCRIBE news weather / PING / UNSUBSCRIBE news / UNSUBSCRIBE / PING / QUIT, 3 redis-cli PUBLISH; pushes: 3 message + 1 pmessage to redis-cli, 2 message to python" pubsub

# 5. RESP3: HELLO 3, maps, sets, every type DEBUG PROTOCOL can send (an
#    attribute, a push before its reply, verbatim, bignum, double, booleans,
#    null), client-side caching invalidation pushes, pub/sub pushes.
resp3() {
    "${SRV[@]}" python3 - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port))
    return s, s.makefile("rb")
def cmd(c, *args):
    c[0].sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
def read(c):
    f = c[1]
    t = f.read(1); line = f.readline()[:-2]
    if t in (b"$", b"=", b"!"):
        n = int(line)
        return None if n < 0 else (t, f.read(n + 2)[:-2])
    if t in (b"*", b"~", b">"):
        return (t, [read(c) for _ in range(int(line))])
    if t in (b"%", b"|"):
        v = (t, [(read(c), read(c)) for _ in range(int(line))])
        return (t, v, read(c)) if t == b"|" else v
    return (t, line)
a, b = conn(), conn()
def do(c, *args, replies=1):
    cmd(c, *args)
    for _ in range(replies):
        print(args[0].decode(), read(c), flush=True)
do(a, b"HELLO", b"3")
do(a, b"SET", b"k", b"v")
do(a, b"HSET", b"h", b"f1", b"1", b"f2", b"2")
do(a, b"HGETALL", b"h")
do(a, b"SADD", b"s", b"x", b"y")
do(a, b"SMEMBERS", b"s")
for t in [b"attrib", b"bignum", b"verbatim", b"double", b"true", b"false", b"null", b"map", b"set"]:
    do(a, b"DEBUG", b"PROTOCOL", t)
do(a, b"DEBUG", b"PROTOCOL", b"push", replies=2)   # a push, then the reply
do(a, b"CLIENT", b"TRACKING", b"on")
do(a, b"GET", b"k")
do(b, b"SET", b"k", b"v2")                          # invalidates a's cached k
print("invalidate", read(a), flush=True)
do(a, b"SUBSCRIBE", b"ch")
do(b, b"PUBLISH", b"ch", b"hi")
print("message", read(a), flush=True)
do(a, b"GET", b"k")                                 # RESP3: commands while subscribed
do(a, b"UNSUBSCRIBE", b"ch")
do(a, b"DEL", b"k", b"h", b"s")
do(a, b"QUIT")
do(b, b"QUIT")
PY
}
capture resp3 lo "RESP3 (python raw client): HELLO 3 (map), HGETALL (map), SMEMBERS (set), DEBUG PROTOCOL attrib/bignum/verbatim/double/true/false/null/map/set/push (a push before its reply), CLIENT TRACKING invalidate push, SUBSCRIBE/PUBLISH message push, GET while subscribed, UNSUBSCRIBE; 2 connections" resp3

# 6. A 100 000-byte value over a veth pair with MTU 1500: bulk strings
#    across ~70 segments each way.
# 2500 numbered lines of 40 bytes: exactly 100 000 bytes.
python3 -c 'import sys; sys.stdout.write("".join(("value line %05d " % i).ljust(39, ".") + "\n" for i in range(2500)))' > "$WORK/big.txt"
[[ $(stat -c %s "$WORK/big.txt") == 100000 ]]
large() {
    "${CLI[@]}" redis-cli -h "$SRV_IP" -p "$PORT" -x SET big < "$WORK/big.txt"
    # redis-cli prints the value and a newline.
    "${CLI[@]}" redis-cli -h "$SRV_IP" -p "$PORT" GET big > "$WORK/big.got"
    head -c 100000 "$WORK/big.got" | cmp - "$WORK/big.txt"
    echo "GET returned the 100000 bytes"
    "${CLI[@]}" redis-cli -h "$SRV_IP" -p "$PORT" DEL big
}
capture large_value "$VETH_SRV" "veth MTU 1500 between two private netns (client $CLI_IP, server $SRV_IP): redis-cli -x SET big <100000 bytes>, GET big (cmp-checked), DEL big; 3 connections" large

# ---- manifest ----
{
    printf 'file\tserver_port\trequests\treplies\tconfirmations\tpushes\terrors\tconnections\ttransactions\tserver_commands_processed\tnotes\n'
    printf '%s\n' "${MANIFEST_ROWS[@]}"
} > "$OUT/MANIFEST.tsv"
log "wrote $OUT/MANIFEST.tsv"
ls -l "$OUT"
