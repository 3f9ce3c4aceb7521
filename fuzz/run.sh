#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, starting from the committed
# seed corpora. Budget per target in seconds: FUZZ_SECONDS for the two
# broad targets (engine, tcp_streams; default 20), FUZZ_SECONDS_SMALL for
# the others (default 6): with the build, about 5 minutes in all. A crash
# fails the run and leaves its input under fuzz/artifacts/<target>/. Needs
# the nightly toolchain (installed on these machines) and cargo-fuzz
# (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")"
broad="${FUZZ_SECONDS:-20}"
small="${FUZZ_SECONDS_SMALL:-6}"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked --quiet
fi
# The fuzz crate is its own workspace: use the main lock file's versions.
cp ../Cargo.lock Cargo.lock
cargo +nightly fuzz build -O
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in $(cargo +nightly fuzz list); do
  case "$t" in
    engine | tcp_streams) secs=$broad ;;
    *) secs=$small ;;
  esac
  mkdir -p "$work/$t"
  cp -r "corpus/$t/." "$work/$t/" 2>/dev/null || true
  out=$(cargo +nightly fuzz run -O "$t" "$work/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1) || {
    echo "$out" | tail -40
    echo "fuzz: target $t FAILED (input saved under fuzz/artifacts/$t/)"
    exit 1
  }
  echo "fuzz: $t ok in ${secs}s ($(echo "$out" | grep -Eo 'Done [0-9]+ runs in [0-9]+ second' | tail -1))"
done
