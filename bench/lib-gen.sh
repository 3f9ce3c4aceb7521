# lib-gen.sh — shared pieces of the bench/gen-*.sh capture generators.
#
# Source it from a generator (bash, `set -euo pipefail`); it does nothing on
# its own. What it provides:
#
#   gen_log MSG... / gen_die MSG...   messages on stderr, prefixed "gen: "
#   gen_args DEFAULT_N "$@"           parses `OUT.pcap [N]`: sets OUT (absolute)
#                                     and N (a positive integer)
#   gen_require_root
#   gen_need TOOL=PACKAGE...          apt-get installs the packages of missing
#                                     tools, then checks every tool is there
#   gen_setup                         work dir ($WORK), cleanup trap, a private
#                                     network namespace ($NS, lo up) and the
#                                     IN_NS command prefix to run inside it
#   gen_spawn SIGNAL CMD...           starts CMD in the background, remembers its
#                                     pid ($GEN_LAST_PID) to stop it with SIGNAL
#                                     on exit; newest first
#   gen_stop PID                      stops one spawned process now
#   gen_record FILTER CLIENT_FN       records the namespace's lo with tcpdump
#                                     while CLIENT_FN runs; sets PACKETS and
#                                     DROPS; if tcpdump dropped packets, retries
#                                     once with a 4x bigger kernel buffer, then
#                                     fails. The capture is in $GEN_PCAP
#   gen_commit KEY=VALUE...           moves $GEN_PCAP to $OUT and writes
#                                     $OUT.info (the pairs, one per line), each
#                                     by a rename, so a reader never sees a
#                                     half-written file
#
# Environment: TCPDUMP_BUFFER_KB (default 65536), the kernel buffer of the
# first recording attempt; GEN_KEEP_FAILED=1 keeps the capture of a failed run
# as OUT.failed.pcap (for looking into what a check found).
#
# Limits: one namespace per generator run; the capture is of the namespace's
# `lo` only, in classic pcap format with full snap length. Cleanup stops only
# the processes started through gen_spawn / gen_record, by pid.

GEN_PIDS=()       # "pid signal" pairs, in start order
GEN_NS_CREATED=0
GEN_PCAP=
GEN_LAST_PID=
WORK=
NS=tapbeat-bench-$$
IN_NS=(ip netns exec "$NS")
GEN_BUF_KB=${TCPDUMP_BUFFER_KB:-65536}

gen_log() { printf 'gen: %s\n' "$*" >&2; }
gen_die() { printf 'gen: FAIL: %s\n' "$*" >&2; exit 1; }

gen_args() {
    local default_n=$1; shift
    if [[ $# -lt 1 || $# -gt 2 ]]; then
        echo "usage: $0 OUT.pcap [N]   (N defaults to $default_n)" >&2
        exit 2
    fi
    OUT=$1
    N=${2:-$default_n}
    [[ $N =~ ^[1-9][0-9]*$ ]] || { echo "gen: N must be a positive integer, got '$N'" >&2; exit 2; }
    [[ -d $(dirname "$OUT") ]] || { echo "gen: no directory $(dirname "$OUT")" >&2; exit 2; }
    OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
}

gen_require_root() {
    if [[ $EUID -ne 0 ]]; then
        echo "gen: must run as root (ip netns and tcpdump need it)" >&2
        exit 1
    fi
}

gen_need() {
    local pair tool missing=()
    for pair in "$@"; do
        command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}")
    done
    if ((${#missing[@]})); then
        gen_log "installing ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    fi
    for pair in "$@" tcpdump=tcpdump ip=iproute2; do
        tool=${pair%%=*}
        command -v "$tool" >/dev/null || gen_die "missing $tool (Debian package ${pair#*=})"
    done
}

gen_cleanup() {
    # Every exit path: stop what we started (by pid, newest first), drop the
    # namespace, the work dir and a half-written output.
    local status=$?
    set +e
    local i pid sig
    for ((i = ${#GEN_PIDS[@]} - 1; i >= 0; i--)); do
        read -r pid sig <<<"${GEN_PIDS[i]}"
        kill "-$sig" "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    GEN_PIDS=()
    if [[ $GEN_NS_CREATED == 1 ]]; then ip netns del "$NS" 2>/dev/null; fi
    if [[ $status != 0 && ${GEN_KEEP_FAILED:-0} == 1 && -n $GEN_PCAP && -f $GEN_PCAP ]]; then
        mv "$GEN_PCAP" "${OUT%.pcap}.failed.pcap" && gen_log "kept the capture as ${OUT%.pcap}.failed.pcap"
    fi
    [[ -n $GEN_PCAP ]] && rm -f "$GEN_PCAP"
    [[ -n ${OUT:-} ]] && rm -f "$OUT.info.tmp.$$"
    [[ -n $WORK ]] && rm -rf "$WORK"
}

gen_setup() {
    WORK=$(mktemp -d /tmp/tapbeat-bench-gen.XXXXXX)
    GEN_PCAP=$OUT.tmp.$$
    trap gen_cleanup EXIT
    trap 'exit 130' INT TERM
    ip netns add "$NS"
    GEN_NS_CREATED=1
    ip -n "$NS" link set dev lo up
}

gen_spawn() {
    local sig=$1; shift
    "$@" &
    GEN_LAST_PID=$!
    GEN_PIDS+=("$GEN_LAST_PID $sig")
}

gen_stop() {
    local pid=$1 i rest=() p sig
    for i in "${!GEN_PIDS[@]}"; do
        read -r p sig <<<"${GEN_PIDS[i]}"
        if [[ $p == "$pid" ]]; then
            kill "-$sig" "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        else
            rest+=("${GEN_PIDS[i]}")
        fi
    done
    GEN_PIDS=(${rest[@]+"${rest[@]}"})
}

# _gen_capture BUFFER_KB FILTER CLIENT_FN -> PACKETS, DROPS
_gen_capture() {
    local buf=$1 filter=$2 client=$3 tlog=$WORK/tcpdump.log tpid kdrop idrop
    rm -f "$GEN_PCAP"
    gen_log "recording (tcpdump -B $buf -U -s 0 '$filter')"
    gen_spawn INT "${IN_NS[@]}" tcpdump -i lo -B "$buf" -U -s 0 -Z root -w "$GEN_PCAP" "$filter" 2>"$tlog"
    tpid=$GEN_LAST_PID
    for _ in $(seq 100); do grep -q 'listening on' "$tlog" && break; sleep 0.1; done
    grep -q 'listening on' "$tlog" || { cat "$tlog" >&2; gen_die "tcpdump did not start"; }
    sleep 0.3
    local t0=$SECONDS
    "$client"
    gen_log "  client took ~$((SECONDS - t0)) s"
    sleep 1   # let the last ACK/FIN reach the capture
    gen_stop "$tpid"
    grep -E 'packets (captured|received|dropped)' "$tlog" | sed 's/^/gen:   tcpdump: /' >&2
    kdrop=$(awk '/packets dropped by kernel/ {print $1}' "$tlog")
    idrop=$(awk '/packets dropped by interface/ {print $1}' "$tlog")
    PACKETS=$(awk '/packets captured/ {print $1}' "$tlog")
    [[ -n $kdrop && -n $PACKETS ]] || { cat "$tlog" >&2; gen_die "could not read tcpdump's counters"; }
    DROPS=$((kdrop + ${idrop:-0}))
}

gen_record() {
    local filter=$1 client=$2 buf
    DROPS=1
    for buf in "$GEN_BUF_KB" $((GEN_BUF_KB * 4)); do
        _gen_capture "$buf" "$filter" "$client"
        if [[ $DROPS == 0 ]]; then return 0; fi
        gen_log "tcpdump dropped $DROPS packets with -B $buf; retrying with a bigger buffer"
    done
    gen_log "FAIL: tcpdump still dropped $DROPS packets; the machine is too busy or N=$N too large."
    gen_log "      Retry later, or with a smaller N."
    exit 1
}

gen_commit() {
    local kv
    for kv in "$@"; do
        [[ $kv == *=* ]] || gen_die "gen_commit: '$kv' is not KEY=VALUE"
        printf '%s\n' "$kv"
    done > "$OUT.info.tmp.$$"
    chmod 0644 "$GEN_PCAP" "$OUT.info.tmp.$$"
    mv "$GEN_PCAP" "$OUT"
    mv "$OUT.info.tmp.$$" "$OUT.info"
    gen_log "wrote $OUT ($(stat -c %s "$OUT") bytes, $PACKETS packets) and $OUT.info"
}

# gen_nginx_start PORT WORKER_CONNECTIONS HTTP_DIRECTIVES [LISTEN_OPTIONS]
# Starts nginx (one worker, own config/pid/logs/temp dirs under $WORK) in the
# namespace, serving one 51-byte static file at $GEN_PATH on 127.0.0.1:PORT,
# and waits until `ab -n 1` gets it. HTTP_DIRECTIVES go into the http block
# (keep-alive settings). Sets GEN_URL and GEN_SERVER (nginx's version).
GEN_PATH=/tiny.txt
gen_nginx_start() {
    local port=$1 wconn=$2 directives=$3 listen_opts=${4:-} www=$WORK/www up=0
    mkdir -p "$www" "$WORK/tmp"/{body,proxy,fastcgi,uwsgi,scgi}
    printf 'tapbeat bench: a tiny static file served by nginx.\n' > "$www/${GEN_PATH#/}"
    touch -d '2024-01-02 03:04:05 UTC' "$www"/*
    # Workers run as 'nobody': the (mode 0700) mktemp dir must be readable.
    chmod 0755 "$WORK"
    chmod -R a+rX "$www"
    chmod -R 1777 "$WORK/tmp"
    cat > "$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections $wconn; }
http {
    default_type text/plain;
    access_log off;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    $directives
    gzip off;
    server {
        listen 127.0.0.1:$port $listen_opts;
        root $www;
    }
}
EOF
    GEN_SERVER=$(nginx -v 2>&1 | sed 's/^nginx version: //')
    gen_log "starting nginx ($GEN_SERVER) in netns $NS"
    # 'ip netns exec' execs nginx: the pid is the master's; QUIT = graceful stop.
    gen_spawn QUIT "${IN_NS[@]}" nginx -e "$WORK/error.log" -c "$WORK/nginx.conf"
    GEN_URL=http://127.0.0.1:$port$GEN_PATH
    for _ in $(seq 50); do
        if "${IN_NS[@]}" ab -q -n 1 "$GEN_URL" 2>/dev/null | grep -q '^Complete requests: *1$'; then up=1; break; fi
        sleep 0.1
    done
    [[ $up == 1 ]] || { cat "$WORK/error.log" >&2; gen_die "nginx did not come up"; }
}

# gen_count_gets PCAP -> number of "GET $GEN_PATH HTTP/1.x" request lines in
# the raw file. ab writes each request (~100 bytes) in one write, so each
# lands whole in a single frame.
gen_count_gets() { LC_ALL=C grep -a -o "GET $GEN_PATH HTTP/1\.[01]" "$1" | wc -l; }

# gen_ab_check LOG N: ab completed N requests, 0 failed, no non-2xx, or exit.
gen_ab_check() {
    local alog=$1 n=$2 complete failed
    grep -E '^(Complete requests|Failed requests|Keep-Alive requests|Non-2xx|Requests per second)' "$alog" |
        sed 's/^/gen:   ab: /' >&2
    complete=$(awk -F: '/^Complete requests/ {gsub(/ /,"",$2); print $2}' "$alog")
    failed=$(awk -F: '/^Failed requests/ {gsub(/ /,"",$2); print $2}' "$alog")
    if [[ $complete != "$n" || $failed != 0 ]]; then
        cat "$alog" >&2
        gen_die "ab completed '$complete' of $n requests, failed='$failed'"
    fi
    if grep -qE '^Non-2xx' "$alog"; then gen_die "ab saw non-2xx responses"; fi
}

# gen_syns PCAP -> one line per opening SYN (SYN without ACK): "CLIENT_PORT ISN".
# A retransmitted SYN repeats its port and ISN.
gen_syns() {
    tcpdump -r "$1" -nn -S 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2>/dev/null |
        awk '{ n = split($3, a, "."); for (i = 4; i < NF; i++) if ($i == "seq") { s = $(i + 1); sub(/,$/, "", s) }
               print a[n], s }'
}
# gen_count_syns PCAP -> TCP connections opened in the capture (distinct
# client port + ISN of the opening SYNs, so retransmitted SYNs count once).
gen_count_syns() { gen_syns "$1" | sort -u | wc -l; }
