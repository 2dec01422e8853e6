#!/usr/bin/env bash
# Runs pbx321's tests on a fresh machine: installs the real programs the tests use when they
# are missing (age and zstd for restore-by-hand interop, promtool from the prometheus
# package for the metrics format), then runs cargo test.
# Extra arguments go to cargo test (e.g. scripts/test.sh --test integration killed).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v age >/dev/null 2>&1 || missing+=(age)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo test --locked "$@"
