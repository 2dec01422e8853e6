#!/usr/bin/env bash
# Fuzzes pbx321's parsers of untrusted input with cargo fuzz (libFuzzer), each target for a
# bounded time, and prints executions and crashes per target. Not part of CI.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]     (default: 60 s, every target)
#
# Targets (fuzz/fuzz_targets/): config (the config loader), manifest (object paths and
# manifests read from a target), threecx_json (a PBX's JSON answers), zipcheck (the
# streaming zip check). Seeds are in fuzz/seeds/<target>/; the growing corpus goes to
# fuzz/corpus/<target>/ and crashes to fuzz/artifacts/<target>/ (neither is committed).
#
# cargo fuzz needs unstable compiler flags; on the stable toolchain RUSTC_BOOTSTRAP=1
# allows them.
set -euo pipefail
cd "$(dirname "$0")/.."

each="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config manifest threecx_json zipcheck)

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1

# Build every target first: a build failure is not a crash.
: >fuzz/build.log
for t in "${targets[@]}"; do
  cargo fuzz build "$t" >>fuzz/build.log 2>&1 || {
    echo "building fuzz target $t failed; see fuzz/build.log" >&2
    exit 2
  }
done

status=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log="fuzz/$t.log"
  echo "== $t: ${each}s" >&2
  if cargo fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$each" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
  fi
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
  crashes=$(ls "fuzz/artifacts/$t" 2>/dev/null | wc -l)
  summary+=("$t: ${runs:-?} executions in ${each}s, $crashes crash file(s), $result")
done
printf '%s\n' "${summary[@]}"
exit $status
