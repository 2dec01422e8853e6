#!/usr/bin/env bash
# Regenerates the pictures in docs/status-page.md: runs the status page's browser test (a
# daemon on a loopback port with a three-source fleet — one compliant, one missing its
# offsite copy, one with a bit-flipped newest copy — loaded in headless Chromium), which
# copies its screenshots to docs/images when PBX321_SCREENSHOTS_DIR is set.
# Needs what scripts/test.sh installs (chromium, age, zstd).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null 2>&1 || {
  echo "chromium is missing: run scripts/test.sh once, or apt-get install chromium" >&2
  exit 1
}
PBX321_SCREENSHOTS_DIR="$PWD/docs/images" cargo test --locked --test integration \
  statuspage::a_three_source_fleet_in_a_headless_browser -- --exact
ls -l docs/images/status-*.png docs/images/source-*.png
