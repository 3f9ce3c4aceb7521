#!/usr/bin/env bash
# record-icmp.sh — record the real ICMP test captures in tests/pcaps/recorded/icmp/.
#
# Everything runs inside network namespaces this script creates (and deletes
# on exit, whatever happens); the host's own interfaces are never touched and
# no address outside the namespaces is ever used.
#
#   tb-icmp-lo   a namespace with only `lo` (127.0.0.1, ::1): the loopback
#                scenarios, exactly as on a normal host.
#   tb-icmp-cli  client   10.98.0.2/24  fd98::2/64   (veth tbicmp1)
#   tb-icmp-rtr  router   10.98.0.1/24  fd98::1/64   (veth tbicmp0)
#                         10.97.0.1/24  fd97::1/64   (veth tbicmp2, MTU 1280)
#   tb-icmp-srv  server   10.97.0.2/24  fd97::2/64   (veth tbicmp3, MTU 1280)
#
# The routed scenarios are captured on the client's veth.  Neighbour entries
# are static (no ARP/ND noise), duplicate address detection, router
# solicitations and RA processing are off, and the script waits for the MLD
# reports of interface start-up to pass before capturing: the captures hold
# only the ICMP the scenarios cause.
#
# Requirements (Debian packages): iproute2, tcpdump, iputils-ping, nftables,
# python3.  Optional: tshark (summary at the end).  Must run as root.
#
# Usage:  sudo tests/pcaps/recorded/record-icmp.sh [OUTPUT_DIR]
#         OUTPUT_DIR defaults to the icmp/ folder next to this script.
#
# Every client prints what it sent and what came back; MANIFEST.tsv holds
# those counts.  Timestamps, ping identifiers and payload bytes change from
# run to run; the message structure does not.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/icmp}
NS_LO=tb-icmp-lo
NS_CLI=tb-icmp-cli
NS_RTR=tb-icmp-rtr
NS_SRV=tb-icmp-srv
MAC_CLI=02:00:00:00:98:02
MAC_RTR_A=02:00:00:00:98:01
MAC_RTR_B=02:00:00:00:97:01
MAC_SRV=02:00:00:00:97:02

if [[ $EUID -ne 0 ]]; then
    echo "record-icmp.sh: must run as root (tcpdump and ip netns need it)" >&2
    exit 1
fi
for tool in ip tcpdump ping nft python3; do
    command -v "$tool" >/dev/null || { echo "record-icmp.sh: missing $tool" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/tapbeat-rec-icmp.XXXXXX)
TCPDUMP_PID=

cleanup() {
    # Stop what we started, by pid only, then drop the namespaces (which
    # removes their veths and nft tables) and the work dir.
    set +e
    if [[ -n $TCPDUMP_PID ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
    for ns in "$NS_LO" "$NS_CLI" "$NS_RTR" "$NS_SRV"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ---------------------------------------------------------------------------
# Namespaces.
# ---------------------------------------------------------------------------
quiet_ipv6() { # NS: no DAD, no router solicitation, no RA processing
    in_ns "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
        net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0 \
        net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
}

setup() {
    for ns in "$NS_LO" "$NS_CLI" "$NS_RTR" "$NS_SRV"; do
        ip netns del "$ns" 2>/dev/null || true
        ip netns add "$ns"
        quiet_ipv6 "$ns"
        ip -n "$ns" link set lo up
    done
    ip link add tbicmp1 address $MAC_CLI netns $NS_CLI type veth peer name tbicmp0 address $MAC_RTR_A netns $NS_RTR
    ip link add tbicmp2 address $MAC_RTR_B netns $NS_RTR type veth peer name tbicmp3 address $MAC_SRV netns $NS_SRV
    # The router-server link is narrow, so that big packets from the client
    # get "fragmentation needed" / "packet too big" from the router.
    ip -n $NS_RTR link set tbicmp2 mtu 1280
    ip -n $NS_SRV link set tbicmp3 mtu 1280
    ip -n $NS_CLI addr add 10.98.0.2/24 dev tbicmp1
    ip -n $NS_CLI addr add fd98::2/64 dev tbicmp1 nodad
    ip -n $NS_RTR addr add 10.98.0.1/24 dev tbicmp0
    ip -n $NS_RTR addr add fd98::1/64 dev tbicmp0 nodad
    ip -n $NS_RTR addr add 10.97.0.1/24 dev tbicmp2
    ip -n $NS_RTR addr add fd97::1/64 dev tbicmp2 nodad
    ip -n $NS_SRV addr add 10.97.0.2/24 dev tbicmp3
    ip -n $NS_SRV addr add fd97::2/64 dev tbicmp3 nodad
    for x in "$NS_CLI tbicmp1" "$NS_RTR tbicmp0" "$NS_RTR tbicmp2" "$NS_SRV tbicmp3"; do
        set -- $x
        ip -n "$1" link set "$2" up
    done
    in_ns $NS_RTR sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    ip -n $NS_CLI route add default via 10.98.0.1
    ip -n $NS_CLI -6 route add default via fd98::1
    ip -n $NS_SRV route add default via 10.97.0.1
    ip -n $NS_SRV -6 route add default via fd97::1
    # Static neighbours: no ARP or neighbour discovery during the captures.
    # 10.97.0.99 / fd97::99 are left out on purpose: nobody has them, so the
    # router's resolution fails and it reports the host unreachable.
    ip -n $NS_CLI neigh add 10.98.0.1 lladdr $MAC_RTR_A dev tbicmp1 nud permanent
    ip -n $NS_CLI neigh add fd98::1 lladdr $MAC_RTR_A dev tbicmp1 nud permanent
    ip -n $NS_RTR neigh add 10.98.0.2 lladdr $MAC_CLI dev tbicmp0 nud permanent
    ip -n $NS_RTR neigh add fd98::2 lladdr $MAC_CLI dev tbicmp0 nud permanent
    ip -n $NS_RTR neigh add 10.97.0.2 lladdr $MAC_SRV dev tbicmp2 nud permanent
    ip -n $NS_RTR neigh add fd97::2 lladdr $MAC_SRV dev tbicmp2 nud permanent
    ip -n $NS_SRV neigh add 10.97.0.1 lladdr $MAC_RTR_B dev tbicmp3 nud permanent
    ip -n $NS_SRV neigh add fd97::1 lladdr $MAC_RTR_B dev tbicmp3 nud permanent
    # Link-local next hops are what IPv6 forwarding resolves too.
    for x in "$NS_CLI tbicmp1 $MAC_RTR_A" "$NS_RTR tbicmp0 $MAC_CLI" "$NS_RTR tbicmp2 $MAC_SRV" "$NS_SRV tbicmp3 $MAC_RTR_B"; do
        set -- $x
        local peer_ll
        peer_ll=$(python3 -c 'import sys; m=[int(b,16) for b in sys.argv[1].split(":")]; m[0]^=2; print("fe80::%02x%02x:%02xff:fe%02x:%02x%02x" % tuple(m))' "$3")
        ip -n "$1" neigh add "$peer_ll" lladdr "$3" dev "$2" nud permanent
    done
    # MLD reports of interface start-up are sent within ~2 s; let them pass.
    sleep 3
}

# ---------------------------------------------------------------------------
# capture NAME NS IFACE CLIENT_FUNCTION: tcpdump in NS on IFACE (ICMP and
# ICMPv6 only, plus UDP for the unreachable scenario), run the client, stop.
#   -U  flush every packet;  -s 65535 whole frames;  -w classic pcap.
# ---------------------------------------------------------------------------
capture() {
    local name=$1 ns=$2 iface=$3 filter=$4; shift 4
    local pcap=$WORK/$name.pcap tlog=$WORK/$name.tcpdump.log clog=$WORK/$name.client.log
    log "$name: capturing on $ns/$iface"
    # `ip netns exec` execs tcpdump, so $! is tcpdump itself (not a subshell
    # that would swallow the SIGINT meant for it).
    ip netns exec "$ns" tcpdump -i "$iface" -U -s 65535 -Z root -w "$pcap" "$filter" 2>"$tlog" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tlog" && break; sleep 0.1; done
    grep -q 'listening on' "$tlog" || { cat "$tlog" >&2; exit 1; }
    sleep 0.3
    "$@" >"$clog" 2>&1 || { echo "client failed:" >&2; cat "$clog" >&2; exit 1; }
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    sed 's/^/   tcpdump: /' "$tlog" | grep -v 'listening on'
    sed 's/^/   client: /' "$clog"
    install -m 0644 "$pcap" "$OUT/$name.pcap"
}

ICMP='icmp or icmp6'

# ---- clients --------------------------------------------------------------

client_ping4_lo() { in_ns $NS_LO ping -n -c 10 -i 0.2 127.0.0.1; }
client_ping6_lo() { in_ns $NS_LO ping -n -6 -c 10 -i 0.2 ::1; }

# UDP datagrams to a closed port (9, discard: nothing listens): the kernel
# answers each with port unreachable, which a connected UDP socket reports
# as ECONNREFUSED on the next receive.  Loopback is exempt from ICMP rate
# limiting, so every datagram gets its error.
client_udp_unreachable() {
    in_ns $NS_LO python3 - <<'PY'
import socket
refused = {4: 0, 6: 0}
for fam, addr, v in ((socket.AF_INET, "127.0.0.1", 4), (socket.AF_INET6, "::1", 6)):
    for i in range(3):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(1)
        s.connect((addr, 9))
        s.send(b"tapbeat %d" % i)
        try:
            s.recv(100)
        except ConnectionRefusedError:
            refused[v] += 1
        s.close()
print("udp datagrams sent: v4=3 v6=3")
print("port unreachable received (ECONNREFUSED): v4=%d v6=%d" % (refused[4], refused[6]))
assert refused == {4: 3, 6: 3}
PY
}

# ICMP timestamp requests (type 13; Linux answers them with type 14) and
# address mask requests (type 17; Linux does not answer), over a raw socket.
client_timestamp_mask() {
    in_ns $NS_LO python3 - <<'PY'
import os, socket, struct, time

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff

def msg(typ, ident, seq, body):
    m = struct.pack("!BBHHH", typ, 0, 0, ident, seq) + body
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]

s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(0.5)
ident = os.getpid() & 0xffff
got = {14: 0, 18: 0}

def drain(want):
    end = time.time() + 0.5
    while time.time() < end:
        try:
            pkt = s.recv(2048)
        except socket.timeout:
            return
        ihl = (pkt[0] & 15) * 4
        typ, _, _, i, q = struct.unpack("!BBHHH", pkt[ihl:ihl + 8])
        if typ == want and i == ident:
            got[typ] += 1
            return

for seq in range(1, 4):
    ms = int(time.time() % 86400 * 1000)
    s.sendto(msg(13, ident, seq, struct.pack("!III", ms, 0, 0)), ("127.0.0.1", 0))
    drain(14)
for seq in range(1, 3):
    s.sendto(msg(17, ident, seq, b"\0\0\0\0"), ("127.0.0.1", 0))
    drain(18)
print("timestamp requests sent: 3, timestamp replies received: %d" % got[14])
print("address mask requests sent: 2, address mask replies received: %d" % got[18])
assert got == {14: 3, 18: 0}
PY
}

# nftables in the loopback namespace rejects echo requests with
# "administratively prohibited"; ping reports each as an error.
client_rejected() {
    in_ns $NS_LO nft -f - <<'NFT'
table inet tapbeat_reject {
    chain input {
        type filter hook input priority 0;
        icmp type echo-request reject with icmp type admin-prohibited
        icmpv6 type echo-request reject with icmpv6 type admin-prohibited
    }
}
NFT
    local rc=0
    in_ns $NS_LO ping -n -c 3 -i 0.2 -W 1 127.0.0.1 || rc=$?
    in_ns $NS_LO ping -n -6 -c 3 -i 0.2 -W 1 ::1 || rc=$?
    in_ns $NS_LO nft delete table inet tapbeat_reject
    # ping exits 1 when no reply came, which is the point here.
    [[ $rc -le 1 ]]
}

# Through the router: answered pings, TTL/hop limit 1 (time exceeded), an
# address nobody has (host/address unreachable after the router's 3 s of
# resolution), and a 1400-byte ping that does not fit the 1280 MTU behind
# the router (fragmentation needed / packet too big).
client_routed() {
    local c=(in_ns $NS_CLI)
    "${c[@]}" ping -n -c 3 -i 0.2 10.97.0.2
    "${c[@]}" ping -n -c 2 -i 0.2 -t 1 -W 1 10.97.0.2 || true
    "${c[@]}" ping -n -c 1 -W 6 10.97.0.99 || true
    "${c[@]}" ping -n -c 1 -W 1 -M do -s 1400 10.97.0.2 || true
    "${c[@]}" ping -n -6 -c 3 -i 0.2 fd97::2
    "${c[@]}" ping -n -6 -c 2 -i 0.2 -t 1 -W 1 fd97::2 || true
    "${c[@]}" ping -n -6 -c 1 -W 6 fd97::99 || true
    "${c[@]}" ping -n -6 -c 1 -W 1 -M do -s 1400 fd97::2 || true
}

# Neighbour discovery by hand (the kernel's own is off, see setup): three
# unicast neighbour solicitations for the router's address (reachability
# confirmation: the advertisement comes back on the same address pair), then
# one to the solicited-node multicast group (address resolution: the
# advertisement comes back unicast, from another address pair).
client_ndisc() {
    in_ns $NS_CLI python3 - <<'PY'
import socket, struct, time

TARGET = socket.inet_pton(socket.AF_INET6, "fd98::1")
SLLA = bytes([1, 1, 0x02, 0, 0, 0, 0x98, 0x02])  # source link-layer address option
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.bind(("fd98::2", 0))
s.settimeout(0.5)
ns = struct.pack("!BBHI", 135, 0, 0, 0) + TARGET + SLLA  # the kernel fills the checksum

def wait_na():
    end = time.time() + 0.5
    while time.time() < end:
        try:
            b, src = s.recvfrom(2048)
        except socket.timeout:
            return 0
        if b[0] == 136 and b[8:24] == TARGET:
            return 1
    return 0

na = 0
for _ in range(3):
    s.sendto(ns, ("fd98::1", 0))
    na += wait_na()
    time.sleep(0.2)
s.sendto(ns, ("ff02::1:ff00:1", 0, 0, socket.if_nametoindex("tbicmp1")))
na_mc = wait_na()
print("unicast neighbor solicitations sent: 3, advertisements received: %d" % na)
print("multicast neighbor solicitations sent: 1, advertisements received: %d" % na_mc)
assert (na, na_mc) == (3, 1)
PY
}

setup
mkdir -p "$OUT"

capture ping4_lo          $NS_LO  lo      "$ICMP"         client_ping4_lo
capture ping6_lo          $NS_LO  lo      "$ICMP"         client_ping6_lo
capture udp_unreachable   $NS_LO  lo      "$ICMP or udp"  client_udp_unreachable
capture timestamp_mask    $NS_LO  lo      "$ICMP"         client_timestamp_mask
capture rejected          $NS_LO  lo      "$ICMP"         client_rejected
capture routed            $NS_CLI tbicmp1 "$ICMP"         client_routed
capture ndisc             $NS_CLI tbicmp1 "$ICMP"         client_ndisc

# ---------------------------------------------------------------------------
# Summary (informational): ICMP messages per type, as tshark decodes them.
# ---------------------------------------------------------------------------
log "written to $OUT"
for f in "$OUT"/*.pcap; do
    printf '%-22s %7d bytes %4d frames\n' "$(basename "$f")" "$(stat -c %s "$f")" \
        "$(tcpdump -r "$f" 2>/dev/null | wc -l)"
    if command -v tshark >/dev/null; then
        tshark -r "$f" -T fields -E occurrence=f -e icmp.type -e icmp.code -e icmpv6.type -e icmpv6.code 2>/dev/null |
            awk -F'\t' '{ k = ($1 != "" ? "v4 " $1 "/" $2 : ($3 != "" ? "v6 " $3 "/" $4 : "other")); n[k]++ }
                        END { for (k in n) printf "    %-12s x%d\n", k, n[k] }' | sort
    fi
done
