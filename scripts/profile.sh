#!/usr/bin/env bash
# Where a backup's and a restore's time goes: `perf record` of `pbx321 backup` (one folder
# source of PROFILE_GIB GiB, default 1, three fs targets) and of `pbx321 restore` of it,
# then the functions that took the most samples, self time, for each. With
# inferno-flamegraph on PATH (`cargo install inferno`), also writes flame graphs
# (profile-backup.svg, profile-restore.svg) into PROFILE_OUT (default target/profile).
# Needs perf (Debian: linux-perf) and the permission to use it (root, or
# kernel.perf_event_paranoid <= 1). A measurement, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "perf is missing (Debian: apt-get install linux-perf)" >&2; exit 1; }
gib=${PROFILE_GIB:-1}
out=${PROFILE_OUT:-$PWD/target/profile}
mkdir -p "$out"
cargo build --release --locked -q
bin=$PWD/target/release/pbx321
work=$(mktemp -d "$PWD/target/profile.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
"$bin" keygen --out key.txt >recipient.txt 2>/dev/null
mkdir src
# Like a 3CX backup with recordings: a tenth text (compresses), the rest incompressible.
python3 - "$gib" src/3CXScheduledBackup.zip <<'PY'
import os, sys, zipfile
total = int(float(sys.argv[1]) * (1 << 30))
with zipfile.ZipFile(sys.argv[2], "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as z:
    z.writestr("3CXPhoneSystemDb.xml", b"<PhoneSystem>" + b"<Extension Number='100'/>" * 10000 + b"</PhoneSystem>")
    with z.open("DbTables/cdr.csv", "w", force_zip64=True) as f:
        n = 0
        while n < total // 10:
            chunk = b"".join(b"%d,2026-11-25 03:00:%02d,100,+4930123456,%d\n" % (i, i % 60, i * 7) for i in range(n, n + 20000))
            f.write(chunk); n += len(chunk)
    info = zipfile.ZipInfo("Recordings/rec.wav"); info.compress_type = zipfile.ZIP_STORED
    with z.open(info, "w", force_zip64=True) as f:
        left = total - total // 10
        while left > 0:
            b = os.urandom(min(8 << 20, left)); f.write(b); left -= len(b)
PY
cat >config.toml <<TOML
state_dir = "state"
[encryption]
recipients = ["$(cat recipient.txt)"]
[policy]
copies = 1
media = 1
offsite = 0
[[source]]
name = "p"
type = "folder"
path = "src"
settle = "0s"
[[target]]
name = "t1"
type = "fs"
path = "t1"
medium = "disk"
[[target]]
name = "t2"
type = "fs"
path = "t2"
medium = "disk"
[[target]]
name = "t3"
type = "fs"
path = "t3"
medium = "disk"
TOML
sync
report() { # name
  echo "== $1: self time by function (top 15)"
  perf report -i "$1.data" --no-children --sort symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | awk 'NR <= 15' | sed -E 's/ +-? +-? *$//'
  if command -v inferno-flamegraph >/dev/null && command -v inferno-collapse-perf >/dev/null; then
    perf script -i "$1.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph >"$out/profile-$1.svg"
    echo "flame graph: $out/profile-$1.svg"
  fi
}
# The three targets share one file system, so they count as one copy: the verdict is not the point.
perf record -q --call-graph dwarf,16384 -F 499 -o backup.data "$bin" --config config.toml backup >backup.out 2>&1 || true
ls t1/p/*.zip.zst.age >/dev/null || { echo "the backup made no copy:" >&2; cat backup.out >&2; exit 1; }
report backup
sync
perf record -q --call-graph dwarf,16384 -F 499 -o restore.data "$bin" --config config.toml restore \
  --source p --from t1 --to restored.zip --identity key.txt >/dev/null 2>&1
cmp -s src/3CXScheduledBackup.zip restored.zip || { echo "restore differs" >&2; exit 1; }
report restore
