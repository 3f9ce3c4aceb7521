#!/usr/bin/env bash
# Proves that tapbeat-core and tapbeat-embedded link into a freestanding binary: no std, no
# alloc, no libc, no start files, no dynamic loader. Builds nostd-check (its
# own workspace, panic = "abort"), runs it (it feeds the kernel one HTTP
# exchange and checks the JSON, then runs a static appliance over the same
# exchange), and inspects the ELF.
#
# Usage: nostd-check/run.sh   (from any directory)
# Prints `nostd-check: ok (N bytes)` on success; exits non-zero with a reason
# otherwise. Needs cargo, and nm/readelf (binutils).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
target_dir="$here/target"
bin="$target_dir/release/tapbeat-nostd-check"

fail() {
    echo "nostd-check: FAILED: $*" >&2
    exit 1
}

for tool in cargo nm readelf; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' not found (nm/readelf come with binutils)"
done

cd "$root"

# Build with exactly the dependency versions the workspace uses: seed this
# crate's lock file from the workspace's (cargo drops what it does not need).
cp Cargo.lock nostd-check/Cargo.lock

cargo build --quiet --release --manifest-path nostd-check/Cargo.toml --target-dir "$target_dir" ||
    fail "build failed: tapbeat-core or tapbeat-embedded (or a dependency) does not link freestanding; look for std/alloc/libc use above"
[[ -x "$bin" ]] || fail "binary not found at $bin"

# Run it: 0 = exactly one transaction, JSON starting with {"@timestamp",
# and the appliance queued it and tried its uplink.
rc=0
"$bin" || rc=$?
[[ $rc -eq 0 ]] || fail "$bin exited with status $rc (1 = wrong transactions/JSON, 101 = panic)"

# Static and self-contained. (Outputs captured first: `cmd | grep -q` can
# die of SIGPIPE under pipefail.)
headers=$(readelf -hlW "$bin")
dynamic=$(readelf -dW "$bin")
grep -q 'Type:[[:space:]]*EXEC' <<<"$headers" || fail "not a static (ET_EXEC) executable"
! grep -q 'INTERP' <<<"$headers" || fail "binary asks for a dynamic loader (PT_INTERP)"
grep -q 'no dynamic section' <<<"$dynamic" || fail "binary has a dynamic section: not statically linked"
undefined=$(nm -u "$bin")
[[ -z "$undefined" ]] || fail "undefined symbols: $(tr '\n' ' ' <<<"$undefined")"

# No std or alloc code in it. Guard against a vacuous pass on a stripped
# binary: the symbol table must show the entry point and the kernel.
symbols=$(nm -C "$bin")
grep -q ' T _start$' <<<"$symbols" || fail "no symbol table (stripped?): cannot check for std"
grep -q 'tapbeat_core::' <<<"$symbols" || fail "no tapbeat_core symbols: the kernel was not linked in"
grep -q 'tapbeat_embedded::' <<<"$symbols" || fail "no tapbeat_embedded symbols: the appliance shell was not linked in"
std_syms=$(grep -E '(^|[^A-Za-z0-9_:])(std|alloc)::' <<<"$symbols" || true)
[[ -z "$std_syms" ]] || fail "std/alloc symbols in the binary:
$(head -n 20 <<<"$std_syms")"

echo "nostd-check: ok ($(wc -c <"$bin" | tr -d ' ') bytes)"
