#!/usr/bin/env bash
# record-dns.sh — record the real DNS test captures in tests/pcaps/recorded/dns/
# and write their MANIFEST.tsv from what the client (dig) reported.
#
# What it does:
#   1. creates a private network namespace (only its own `lo`, 127.0.0.1);
#   2. starts dnsmasq there on port 53 with --no-resolv and only local data
#      (host, CNAME, MX, TXT, SRV, PTR, CAA and raw DS/DNSKEY/RRSIG/NSEC
#      records), so it answers without any upstream;
#   3. for every scenario: starts tcpdump on that `lo`, runs dig, stops
#      tcpdump, keeps the pcap and dig's output;
#   4. counts, from dig's output, the queries sent, the responses received
#      and their response codes, and writes MANIFEST.tsv;
#   5. tears everything down (trap), whatever happened.
#
# Requirements (Debian packages): dnsmasq-base, bind9-dnsutils (dig),
# tcpdump, iproute2. Optional: tshark (summary at the end only).
# Must run as root (tcpdump, ip netns).
#
# Usage:  sudo tests/pcaps/recorded/record-dns.sh [OUTPUT_DIR]
#         OUTPUT_DIR defaults to the dns/ folder next to this script.
#
# The namespace's `lo` gets MTU 1500 and one segment per GSO packet, so TCP
# messages longer than that cross several segments, as on Ethernet (the
# host's own `lo` is never touched). Runs differ only in timestamps, ports,
# message IDs and TCP sequence numbers.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/dns}
NS=tapbeat-rec-dns
SERVER=127.0.0.1
SILENT=127.0.0.2     # nothing listens there: queries to it go unanswered

if [[ $EUID -ne 0 ]]; then
    echo "record-dns.sh: must run as root (tcpdump and ip netns need it)" >&2
    exit 1
fi
for tool in dnsmasq dig tcpdump ip; do
    command -v "$tool" >/dev/null || { echo "record-dns.sh: missing $tool" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/tapbeat-rec-dns.XXXXXX)
DNSMASQ_PID=
TCPDUMP_PID=
NETNS_MADE=0

cleanup() {
    # Every exit path: stop what we started, by pid, then drop the namespace.
    set +e
    if [[ -n $TCPDUMP_PID ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
    if [[ -n $DNSMASQ_PID ]]; then kill "$DNSMASQ_PID" 2>/dev/null; wait "$DNSMASQ_PID" 2>/dev/null; fi
    if [[ $NETNS_MADE == 1 ]]; then ip netns del "$NS" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*"; }

ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
NETNS_MADE=1
IN=(ip netns exec "$NS")
ip -n "$NS" link set dev lo mtu 1500 gso_max_size 1448 gso_max_segs 1
ip -n "$NS" link set dev lo up

# Zone data. A TXT set of 24 strings of 200 bytes makes a ~5 KB answer: over
# UDP it is truncated (TC), dig retries over TCP, and the TCP message spans
# several segments and more than one 4 KiB stream block.
BIG=$(printf 'x%.0s' $(seq 199))
BIG_TXT=()
for i in $(seq -w 1 24); do BIG_TXT+=("--txt-record=big.example.test,$i$BIG"); done

cat > "$WORK/dnsmasq.args" <<EOF
--keep-in-foreground
--no-resolv
--no-hosts
--no-poll
--conf-file=/dev/null
--user=root
--group=root
--pid-file=$WORK/dnsmasq.pid
--listen-address=$SERVER
--bind-interfaces
--port=53
--log-queries=extra
--log-facility=$WORK/dnsmasq.log
--local=/example.test/
--host-record=www.example.test,192.0.2.10,2001:db8::10,3600
--host-record=mail.example.test,192.0.2.25,3600
--host-record=mail2.example.test,192.0.2.26,3600
--host-record=sip.example.test,192.0.2.50,3600
--cname=alias.example.test,www.example.test,600
--mx-host=example.test,mail.example.test,10
--mx-host=example.test,mail2.example.test,20
--txt-record=example.test,v=spf1 mx -all,second string
--srv-host=_sip._tcp.example.test,sip.example.test,5060,10,20
--ptr-record=25.2.0.192.in-addr.arpa,mail.example.test
--caa-record=example.test,0,issue,ca.example.net
--dns-rr=example.test,43,EA3D0802A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90
--dns-rr=example.test,48,0101030D4D5A7A5A6B6C6D6E6F707172737475767778797A4142434445464748494A4B4C4D4E4F505152535455565758595A303132333435363738392B2F
--dns-rr=signed.example.test,46,00010D030000012C65A0000065800000EA3D076578616D706C650474657374004D5A7A5A6B6C6D6E6F707172737475767778797A4142434445464748494A4B4C4D4E4F
--dns-rr=signed.example.test,47,03777777076578616D706C650474657374000006400100000003
EOF
mapfile -t ARGS < "$WORK/dnsmasq.args"
log "starting $(dnsmasq --version | head -1)"
"${IN[@]}" dnsmasq "${ARGS[@]}" "${BIG_TXT[@]}" &
DNSMASQ_PID=$!
for _ in $(seq 50); do
    "${IN[@]}" dig +short +tries=1 +time=1 @"$SERVER" www.example.test A >/dev/null 2>&1 && break
    sleep 0.1
done
"${IN[@]}" dig +short +tries=1 +time=1 @"$SERVER" www.example.test A | grep -q 192.0.2.10 || {
    echo "dnsmasq did not come up" >&2
    cat "$WORK/dnsmasq.log" >&2 || true
    exit 1
}

mkdir -p "$OUT"
MANIFEST=$WORK/MANIFEST.tsv
printf 'file\ttransport\tserver_port\tqueries\tresponses\tunanswered\ttruncated_udp\ttransactions\tresponse_codes\tquestions\tnotes\n' > "$MANIFEST"

# Each dig call prints one "->>HEADER<<-" per response it received (for a
# truncated UDP answer it prints ";; Truncated, retrying in TCP mode." and
# only the header of the TCP answer) and ";; no servers could be reached"
# for a query never answered (+tries=1: each query is sent once).
DIG=(dig -p 53 +tries=1 +time=2 +nocookie)

capture() {
    local name=$1 filter=$2 notes=$3; shift 3
    local pcap=$WORK/$name.pcap tlog=$WORK/$name.tcpdump.log clog=$WORK/$name.dig.log
    log "$name"
    "${IN[@]}" tcpdump -i lo --immediate-mode -U -s 65535 -Z root -w "$pcap" "$filter" 2>"$tlog" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tlog" && break; sleep 0.1; done
    grep -q 'listening on' "$tlog" || { cat "$tlog" >&2; exit 1; }
    sleep 0.3
    : > "$clog"
    "$@" "$clog"
    # Let the last packets (TCP FIN/ACK) reach the file before stopping.
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    cp "$pcap" "$OUT/$name.pcap"
    cp "$clog" "$OUT/$name.dig.txt"
    # Client-side counts.
    local headers truncated unanswered queries responses codes questions transport
    headers=$(grep -c -- '->>HEADER<<-' "$clog" || true)
    truncated=$(grep -c 'Truncated, retrying in TCP mode' "$clog" || true)
    unanswered=$(grep -c 'no servers could be reached' "$clog" || true)
    responses=$((headers + truncated))
    queries=$((responses + unanswered))
    codes=$(grep -- '->>HEADER<<-' "$clog" | sed -E 's/.*status: ([A-Z]+),.*/\1/' | paste -sd, -)
    # ";www.example.test.  IN  A" -> "A www.example.test"
    questions=$(grep -A1 'QUESTION SECTION' "$clog" | grep -v -e 'QUESTION SECTION' -e '^--$' \
        | sed -E 's/^;//; s/\.\t/\t/' | awk '{print $3" "$1}' | paste -sd, -)
    transport=$(case $filter in udp*) echo udp ;; tcp*) echo tcp ;; *) echo udp+tcp ;; esac)
    printf '%s\t%s\t53\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name.pcap" "$transport" "$queries" "$responses" \
        "$unanswered" "$truncated" "$queries" "${codes:--}" "${questions:--}" "$notes" >> "$MANIFEST"
}

# One dig process per query, over UDP: one record type each.
udp_types() {
    local clog=$1
    for q in "www.example.test A" "www.example.test AAAA" "alias.example.test A" "example.test MX" \
             "example.test TXT" "_sip._tcp.example.test SRV" "-x 192.0.2.25" "nothere.example.test A" \
             "example.test CAA" "example.test DS" "example.test DNSKEY" "signed.example.test RRSIG" \
             "signed.example.test NSEC" "version.bind CH TXT"; do
        # shellcheck disable=SC2086
        "${IN[@]}" "${DIG[@]}" @"$SERVER" $q >> "$clog" 2>&1 || true
    done
}

# EDNS with the DO bit, and a query without EDNS.
udp_edns() {
    local clog=$1
    "${IN[@]}" "${DIG[@]}" @"$SERVER" +dnssec +bufsize=4096 www.example.test A >> "$clog" 2>&1 || true
    "${IN[@]}" "${DIG[@]}" @"$SERVER" +noedns mail.example.test A >> "$clog" 2>&1 || true
}

# Several queries on one TCP connection (+keepopen), NXDOMAIN included.
tcp_keepopen() {
    local clog=$1
    "${IN[@]}" "${DIG[@]}" +tcp +keepopen @"$SERVER" www.example.test A www.example.test AAAA example.test MX \
        nothere.example.test A example.test TXT _sip._tcp.example.test SRV >> "$clog" 2>&1 || true
}

# One TCP connection per query.
tcp_separate() {
    local clog=$1
    for q in "alias.example.test A" "-x 192.0.2.25" "example.test CAA"; do
        # shellcheck disable=SC2086
        "${IN[@]}" "${DIG[@]}" +tcp @"$SERVER" $q >> "$clog" 2>&1 || true
    done
}

# A ~5 KB answer: truncated over UDP, then fetched over TCP in several segments.
truncated_retry() {
    local clog=$1
    "${IN[@]}" "${DIG[@]}" @"$SERVER" +bufsize=1232 big.example.test TXT >> "$clog" 2>&1 || true
}

# Queries nobody answers (nothing listens on $SILENT), then one that is answered.
unanswered() {
    local clog=$1
    "${IN[@]}" "${DIG[@]}" +time=1 @"$SILENT" www.example.test A >> "$clog" 2>&1 || true
    "${IN[@]}" "${DIG[@]}" +time=1 @"$SILENT" example.test MX >> "$clog" 2>&1 || true
    "${IN[@]}" "${DIG[@]}" @"$SERVER" www.example.test A >> "$clog" 2>&1 || true
}

capture udp_types "udp port 53" "one dig per query over UDP: A, AAAA, CNAME chain, MX, TXT, SRV, PTR, NXDOMAIN, CAA, DS, DNSKEY, RRSIG, NSEC, CHAOS TXT version.bind" udp_types
capture udp_edns "udp port 53" "EDNS with DO bit and 4096 buffer; then a query without EDNS" udp_edns
capture tcp_keepopen "tcp port 53" "one TCP connection (+keepopen), 6 queries in sequence" tcp_keepopen
capture tcp_separate "tcp port 53" "three TCP connections, one query each" tcp_separate
capture truncated_retry "port 53" "UDP answer truncated (TC), dig retries over TCP; the TCP answer spans several segments" truncated_retry
capture unanswered "udp port 53" "two queries to an address nobody serves (no response), then one answered" unanswered

cp "$MANIFEST" "$OUT/MANIFEST.tsv"
log "dnsmasq log"
cat "$WORK/dnsmasq.log" || true
log "summary"
column -t -s $'\t' "$OUT/MANIFEST.tsv" || cat "$OUT/MANIFEST.tsv"
if command -v tshark >/dev/null; then
    for f in "$OUT"/*.pcap; do
        printf '%s: %s frames, %s queries, %s responses (tshark)\n' "$(basename "$f")" \
            "$(tshark -r "$f" 2>/dev/null | wc -l)" \
            "$(tshark -r "$f" -Y 'dns.flags.response == 0' 2>/dev/null | wc -l)" \
            "$(tshark -r "$f" -Y 'dns.flags.response == 1' 2>/dev/null | wc -l)"
    done
fi
