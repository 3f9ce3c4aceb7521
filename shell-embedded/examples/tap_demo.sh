#!/usr/bin/env bash
# Runs the appliance shell on this host over two TAP devices inside a
# network namespace of its own (nothing outside the namespace is touched),
# replays a capture onto the mirror TAP and shows what reached Redis.
# Needs root, redis-server, redis-cli and python3.
#
# Usage: shell-embedded/examples/tap_demo.sh [FILE.pcap]
#   (default: tests/pcaps/recorded/dns/udp_types.pcap; Ethernet captures only)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pcap=${1:-$root/tests/pcaps/recorded/dns/udp_types.pcap}
[[ $(id -u) -eq 0 ]] || { echo "tap_demo: needs root (TAP devices, network namespace)" >&2; exit 1; }

cargo build --quiet -p tapbeat-embedded --example tap_appliance --manifest-path "$root/Cargo.toml"
bin=${CARGO_TARGET_DIR:-$root/target}/debug/examples/tap_appliance

ns=tapbeat-demo-$$
ip netns add "$ns"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    ip netns del "$ns"
}
trap cleanup EXIT
in_ns() { ip netns exec "$ns" "$@"; }

in_ns ip link set lo up
# tbmirror: the mirror port (the host side sends the capture into it).
in_ns ip tuntap add dev tbmirror mode tap
in_ns ip link set tbmirror up
# tbuplink: the appliance is 10.77.0.2, the collector (Redis) 10.77.0.1.
in_ns ip tuntap add dev tbuplink mode tap
in_ns ip addr add 10.77.0.1/24 dev tbuplink
in_ns ip link set tbuplink up

# (`ip netns exec` directly, not the function: `$!` must be the process.)
ip netns exec "$ns" redis-server --bind 10.77.0.1 --port 6379 --save "" --protected-mode no >/dev/null &
pids+=($!)
ip netns exec "$ns" "$bin" tbmirror tbuplink 10.77.0.2/24 10.77.0.1:6379 redis tapbeat &
pids+=($!)
sleep 1
in_ns python3 "$root/shell-embedded/examples/replay_to_tap.py" tbmirror "$pcap"
sleep 6
echo "documents in Redis list 'tapbeat': $(in_ns redis-cli -h 10.77.0.1 LLEN tapbeat)"
in_ns redis-cli -h 10.77.0.1 LRANGE tapbeat 0 2
