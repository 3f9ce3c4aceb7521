#!/usr/bin/env bash
# gen-redis-pipelined.sh — record a pipelined Redis capture from a real server.
#
# Usage:  sudo bench/gen-redis-pipelined.sh OUT.pcap [N]
#
#   N       benchmark commands in total (default 1200000), split evenly over
#           the tests of $TESTS. redis-benchmark sends whole pipelines of
#           $PIPELINE commands, so each test's share is rounded up to a
#           multiple of $PIPELINE (no rounding with the defaults)
#
# What it does:
#   1. creates a private network namespace (bench/lib-gen.sh);
#   2. starts redis-server in it (no persistence) on 127.0.0.1:$PORT, plus a
#      unix socket used only to read the server's counters, so those INFO
#      calls are never in the capture;
#   3. records the namespace's lo with tcpdump (tcp port $PORT) while
#      `redis-benchmark -P $PIPELINE -c $CLIENTS -t $TESTS -n N/tests` runs:
#      each client keeps $PIPELINE commands in flight and writes them in one
#      go, so a frame carries many commands (about 6 per packet overall);
#   4. checks that (a) redis-benchmark succeeded, (b) tcpdump dropped 0 packets
#      (retrying once with a bigger buffer), (c) the server's
#      total_commands_processed grew by exactly the number of commands the
#      tests should send plus the CONFIG GETs redis-benchmark sends first
#      (INFO commandstats gives the split), (d) the raw capture holds that
#      many RESP command names;
#   5. writes OUT.pcap and OUT.pcap.info atomically. `requests=` is every
#      command on the wire (the server's exact count, CONFIG GETs included),
#      which is the number of transactions an analyzer should report;
#   6. tears everything down on exit (trap), whatever happened.
#
# Environment: PORT (default 6390), CLIENTS (default 4), PIPELINE (default 16),
# TESTS (default set,get,incr,lpush,lpop), TCPDUMP_BUFFER_KB (default 65536).
# Requirements (Debian): redis-server, redis-tools, tcpdump, iproute2.
# Must run as root (ip netns, tcpdump).

set -euo pipefail
# shellcheck source=bench/lib-gen.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-gen.sh"

gen_args 1200000 "$@"
PORT=${PORT:-6390}
CLIENTS=${CLIENTS:-4}
PIPELINE=${PIPELINE:-16}
TESTS=${TESTS:-set,get,incr,lpush,lpop}
IFS=, read -r -a TEST_LIST <<<"$TESTS"
NTESTS=${#TEST_LIST[@]}
# Per test, whole pipelines: redis-benchmark issues ceil(n / P) pipelines.
PER_TEST=$(( ( (N + NTESTS - 1) / NTESTS + PIPELINE - 1) / PIPELINE * PIPELINE ))
BENCH_TOTAL=$((PER_TEST * NTESTS))

gen_require_root
gen_need redis-server=redis-server redis-benchmark=redis-tools redis-cli=redis-tools
gen_setup
[[ $BENCH_TOTAL == "$N" ]] ||
    gen_log "note: N=$N rounded to $BENCH_TOTAL ($NTESTS tests x $PER_TEST, whole pipelines of $PIPELINE)"

# ---- redis-server -------------------------------------------------------------
SOCK=$WORK/redis.sock
SERVER=$(redis-server --version | cut -d' ' -f1-3)
gen_log "starting $SERVER in netns $NS"
gen_spawn TERM "${IN_NS[@]}" redis-server --port "$PORT" --bind 127.0.0.1 --protected-mode no \
    --save '' --appendonly no --dir "$WORK" --unixsocket "$SOCK" --unixsocketperm 700 \
    --logfile "$WORK/redis.log" --daemonize no
for _ in $(seq 50); do redis-cli -s "$SOCK" PING >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -s "$SOCK" PING >/dev/null 2>&1 || { cat "$WORK/redis.log" >&2; gen_die "redis-server did not come up"; }

# Counters over the unix socket (never captured). Each INFO call counts
# itself once it has answered, so a later reading includes the earlier INFOs.
stats() { redis-cli -s "$SOCK" INFO "$@" | tr -d '\r'; }
processed() { stats stats | sed -n 's/^total_commands_processed://p'; }
# calls of one command in INFO commandstats ("config|get" for subcommands)
calls() { stats commandstats | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | grep . || echo 0; }

client() {
    local blog=$WORK/benchmark.log
    redis-cli -s "$SOCK" FLUSHALL >/dev/null
    redis-cli -s "$SOCK" CONFIG RESETSTAT >/dev/null
    BEFORE=$(processed)
    "${IN_NS[@]}" redis-benchmark -h 127.0.0.1 -p "$PORT" -P "$PIPELINE" -c "$CLIENTS" -n "$PER_TEST" \
        -r 100000 -t "$TESTS" --csv >"$blog" 2>&1 || { cat "$blog" >&2; gen_die "redis-benchmark failed"; }
    sed 's/^/gen:   redis-benchmark: /' "$blog" >&2
    AFTER=$(processed)
}

gen_log "recording $BENCH_TOTAL benchmark commands (redis-benchmark -P $PIPELINE -c $CLIENTS -t $TESTS -n $PER_TEST)"
gen_record "tcp port $PORT" client

# BEFORE's INFO counts itself after answering: it is in AFTER, not in BEFORE.
REQUESTS=$((AFTER - BEFORE - 1))
COMMANDS=()
sum=0
for t in "${TEST_LIST[@]}" "config|get"; do
    c=$(calls "$t")
    COMMANDS+=("$t:$c")
    sum=$((sum + c))
    if [[ $t != "config|get" && $c != "$PER_TEST" ]]; then
        gen_die "server counted $c ${t^^} commands, expected $PER_TEST"
    fi
done
CONFIG_GETS=$((sum - BENCH_TOTAL))
gen_log "  server: total_commands_processed +$REQUESTS (${COMMANDS[*]})"
[[ $REQUESTS == "$sum" ]] ||
    gen_die "total_commands_processed grew by $REQUESTS but the benchmark's commands add up to $sum"

# Every command is a RESP array whose first bulk string is the command name
# (the GET of CONFIG GET is a second element and does not count); no key or
# value of this benchmark looks like one. grep is line-based, hence python.
NAMES=$(IFS='|'; echo "${TEST_LIST[*]^^}|CONFIG")
WIRE=$(python3 - "$GEN_PCAP" "$NAMES" <<'PY'
import re, sys
pattern = re.compile(rb"\*[0-9]+\r\n\$[0-9]+\r\n(?:" + sys.argv[2].encode() + rb")\r\n")
with open(sys.argv[1], "rb") as f:
    print(len(pattern.findall(f.read())))
PY
)
gen_log "  capture: $PACKETS packets, $WIRE command names, $DROPS dropped"
[[ $WIRE == "$REQUESTS" ]] || gen_die "the capture holds $WIRE command names, the server processed $REQUESTS"
CONNECTIONS=$(gen_count_syns "$GEN_PCAP")
gen_log "  capture: $CONNECTIONS connections"

gen_commit \
    "requests=$REQUESTS" \
    "port=$PORT" \
    "packets=$PACKETS" \
    "benchmark_requests=$BENCH_TOTAL" \
    "setup_requests=$CONFIG_GETS" \
    "commands=$(IFS=,; echo "${COMMANDS[*]}")" \
    "pipeline=$PIPELINE" \
    "clients=$CLIENTS" \
    "connections=$CONNECTIONS" \
    "server=$SERVER" \
    "client=redis-benchmark -P $PIPELINE -c $CLIENTS -n $PER_TEST -r 100000 -t $TESTS" \
    "recorded=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
