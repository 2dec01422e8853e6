#!/usr/bin/env bash
# Regenerates the pictures in docs/status-page.md: runs the status page's browser tests (a
# daemon on a loopback port with a three-source fleet — one compliant, one missing its
# offsite copy, one with a bit-flipped newest copy — and a 200-source fleet with three
# failing, loaded in headless Chromium), which copy their screenshots to docs/images when
# PBX321_SCREENSHOTS_DIR is set.
# Needs what scripts/test.sh installs (chromium, age, zstd).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null 2>&1 || {
  echo "chromium is missing: run scripts/test.sh once, or apt-get install chromium" >&2
  exit 1
}
PBX321_SCREENSHOTS_DIR="$PWD/docs/images" cargo test --locked --test integration \
  statuspage::a_three_source_fleet_in_a_headless_browser \
  statuspage::a_fleet_of_200_in_a_headless_browser_shows_its_failing_sources_first
ls -l docs/images/status-*.png docs/images/source-*.png docs/images/fleet-*.png
