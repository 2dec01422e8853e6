#!/usr/bin/env bash
# Throughput and memory of `pbx321 backup`, against a baseline measured in the same run:
#
#   baseline:  zstd -T0 -3 -c X.zip | age -r R | tee a b > c; sync   (seal once, three durable copies)
#   pbx321:    pbx321 backup   with one folder source and three fs targets
#
# Reports the throughput ratio pbx321 / baseline (goal >= 1.0; >= 0.9 against the pipeline
# without sync; best of BENCH_ROUNDS, default 3, taking turns), the time to the first committed copy, restore against age -d | zstd -d
# (goal >= 0.95, best of 3), check --deep against sha256sum of the 3 copies (goal >= 0.9), and pbx321's peak RSS
# (goal <= 64 MiB) for each size in BENCH_SIZES_GIB (default "1 4"). Needs ~5x the
# largest size in free disk under BENCH_DIR (default: a temp dir under target/).
#
# Then a shallow `pbx321 check` over 50 sources x 365 daily backups x 3 fs targets
# (goal <= 1 s), against `find` listing the same tree as the baseline.
#
# Then an S3 upload to a local moto server: pbx321's S3 target (examples/s3_put.rs) vs
# boto3's upload_file of the same file (16 MiB parts, 4 at a time, like pbx321; goal >= 0.9),
# with the part hashes made by the seal (each part read once) and without, with pbx321's
# peak RSS, for each size in BENCH_S3_GIB (default "1 4"). Needs scripts/test.sh to have
# installed moto into .venv.
# Then `pbx321 repair` of a large copy between targets, streamed through the spool: fs → S3
# (moto) against boto3's upload_file, and S3 → SFTP (a local sshd) against boto3's
# download_file + sftp put, with pbx321's peak RSS (goal <= 64 MiB), for each size in
# BENCH_REPAIR_GIB (default "1 4").
# Then a fleet: one `pbx321 backup` of 200 folder sources of 10 MiB each (BENCH_FLEET,
# BENCH_FLEET_MIB) to 3 fs targets with [daemon] max_concurrent = 4 (BENCH_FLEET_CONCURRENCY;
# the daemon's code path), against a shell loop sealing each with zstd | age | tee; total
# time (best of 3) and pbx321's peak RSS (largest of 3), with no environment setting.
# Then the status page of a fleet (BENCH_PAGE_SOURCES, default 200 sources x 30 backups x
# 3 fs targets, 3 sources failing): the daemon's `/` (goal <= 50 ms and <= 300 KB), a
# filtered `/?status=critical` (goal <= 20 ms) and `/metrics` (goal <= 50 ms), best of 5,
# against `/healthz` on the same server as the baseline; and the daemon's RSS sampled over
# a simulated day of checks (96, one a second: goal flat after the first samples).
# BENCH_PARTS="backup check s3 repair fleet page" selects the parts. These are measurements, not tests.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${BENCH_SIZES_GIB:-"1 4"}
need=()
command -v age >/dev/null || need+=(age)
command -v zstd >/dev/null || need+=(zstd)
[ -x /usr/bin/time ] || need+=(time)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --locked -q
bin=target/release/pbx321
work=${BENCH_DIR:-$(mktemp -d "$PWD/target/bench.XXXXXX")}
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

"$bin" keygen --out "$work/key.txt" >"$work/recipient.txt" 2>/dev/null
recipient=$(cat "$work/recipient.txt")

gen_zip() { # size_gib out
  python3 - "$1" "$2" <<'PY'
import os, sys, zipfile
gib, out = float(sys.argv[1]), sys.argv[2]
total = int(gib * (1 << 30))
text_share = total // 10                      # ~10 % tables/XML, the rest audio-like
with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as z:
    with z.open("3CXPhoneSystemDb.xml", "w", force_zip64=True) as f:
        f.write(b"<?xml version='1.0'?>\n<PhoneSystem>\n")
        row = 0
        while row * 80 < text_share // 2:
            f.write(b"".join(b"  <Extension Number='%d' FirstName='User' Pin='%04d' />\n" % (r, r % 10000) for r in range(row, row + 10000)))
            row += 10000
        f.write(b"</PhoneSystem>\n")
    with z.open("DbTables/cdr.csv", "w", force_zip64=True) as f:
        n = 0
        while n < text_share // 2:
            chunk = b"".join(b"%d,2026-11-25 03:00:%02d,100,+4930123456,%d\n" % (i, i % 60, i * 7) for i in range(n, n + 20000))
            f.write(chunk); n += len(chunk)
    left = total - text_share
    i = 0
    while left > 0:
        part = min(left, 256 << 20)
        info = zipfile.ZipInfo(f"Recordings/rec{i:04d}.wav")
        info.compress_type = zipfile.ZIP_STORED
        with z.open(info, "w", force_zip64=True) as f:
            w = 0
            while w < part:
                b = os.urandom(min(8 << 20, part - w)); f.write(b); w += len(b)
        left -= part; i += 1
PY
}

parts=${BENCH_PARTS:-"backup check s3 repair fleet page cost week"}
[[ " $parts " == *" backup "* ]] || sizes=""
[ -z "$sizes" ] || printf '%-6s %12s %12s %8s %14s %10s %12s %12s %12s %8s\n' size baseline_MiB/s pbx321_MiB/s ratio pbx321_peak_RSS nosync_ratio first_copy_s restore_ratio restore_sync deep_ratio
for gib in $sizes; do
  src="$work/src"; rm -rf "$src" "$work"/t* "$work"/state "$work"/base*; mkdir -p "$src"
  gen_zip "$gib" "$src/3CXScheduledBackup.zip"
  bytes=$(stat -c %s "$src/3CXScheduledBackup.zip")
  sync

  cat >"$work/config.toml" <<TOML
state_dir = "state"
[encryption]
recipients = ["$recipient"]
[policy]
copies = 3
media = 2
offsite = 1
[[source]]
name = "bench"
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
medium = "removable"
trust_labels = true   # all three share the bench's filesystem
[[target]]
name = "t3"
type = "fs"
path = "t3"
medium = "disk"
location = "offsite"
trust_labels = true
TOML

  # Baseline, pbx321 and the pipeline without sync take turns, best of BENCH_ROUNDS
  # (default 3) each: one run swings with the page cache and the disk. Peak RSS: the
  # largest of the rounds.
  bt=999999; ot=999999; nt=999999; rss_kib=0; first=nan
  for _ in $(seq "${BENCH_ROUNDS:-3}"); do
    rm -rf "$work"/t1 "$work"/t2 "$work"/t3 "$work"/state "$work"/base*; sync
    # Baseline: seal once with the shell pipeline, three copies with tee.
    a=$(date +%s.%N)
    zstd -q -T0 -3 -c "$src/3CXScheduledBackup.zip" | age -r "$recipient" \
      | tee "$work/base1" "$work/base2" >"$work/base3"
    sync
    b=$(date +%s.%N)
    rm -f "$work"/base*; sync
    c=$(date +%s.%N)
    /usr/bin/time -v -o "$work/time.txt" "$bin" --config "$work/config.toml" backup --format json >"$work/backup.json"
    sync
    d=$(date +%s.%N)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt"); rss_kib=$((rss > rss_kib ? rss : rss_kib))
    first=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['sources'][0].get('first_copy_seconds', 'nan'))" "$work/backup.json")
    # The same pipeline without sync (what pbx321 must reach 0.9x of).
    e=$(date +%s.%N)
    zstd -q -T0 -3 -c "$src/3CXScheduledBackup.zip" | age -r "$recipient" \
      | tee "$work/base1" "$work/base2" >"$work/base3"
    f=$(date +%s.%N)
    rm -f "$work"/base*; sync
    read -r bt ot nt < <(python3 -c "print(min($bt, $b - $a), min($ot, $d - $c), min($nt, $f - $e))")
  done
  t0=0; t1=$bt; t2=0; t3=$ot; t4=0; t5=$nt

  # Restore into the same file system: age -d | zstd -d against pbx321 restore, taking
  # turns, best of 3 each (a single run swings with the page cache and the disk).
  art=$(ls "$work"/t1/bench/*.zip.zst.age)
  rb=999999; rbs=999999; ro=999999
  for _ in 1 2 3; do
    a=$(date +%s.%N)
    age -d -i "$work/key.txt" "$art" | zstd -q -d >"$work/base.zip"
    b=$(date +%s.%N)
    sync
    c=$(date +%s.%N)
    rm -f "$work/base.zip"; sync
    d=$(date +%s.%N)
    "$bin" --config "$work/config.toml" restore --source bench --from t1 --to "$work/restored.zip" \
      --identity "$work/key.txt" >/dev/null 2>&1
    e=$(date +%s.%N)
    cmp -s "$src/3CXScheduledBackup.zip" "$work/restored.zip" || { echo "restore differs" >&2; exit 1; }
    rm -f "$work/restored.zip"; sync
    rb=$(python3 -c "print(min($rb, $b - $a))"); rbs=$(python3 -c "print(min($rbs, $c - $a))")
    ro=$(python3 -c "print(min($ro, $e - $d))")
  done
  t6=0; t7=$rb; t7s=$rbs; t8=0; t9=$ro

  # check --deep of the three copies against sha256sum of the three files, best of 3 each.
  sb=999999; so=999999
  for _ in 1 2 3; do
    a=$(date +%s.%N)
    sha256sum "$work"/t1/bench/*.age "$work"/t2/bench/*.age "$work"/t3/bench/*.age >/dev/null
    b=$(date +%s.%N)
    "$bin" --config "$work/config.toml" check --deep --format json >/dev/null || true
    c=$(date +%s.%N)
    read -r sb so < <(python3 -c "print(min($sb, $b - $a), min($so, $c - $b))")
  done
  t10=0; t11=$sb; t12=$(python3 -c "print($sb + $so)")

  python3 - "$bytes" "$t0" "$t1" "$t2" "$t3" "$rss_kib" "$gib" "$t4" "$t5" "$first" "$t6" "$t7" "$t8" "$t9" "$t10" "$t11" "$t12" "$t7s" <<'PY'
import sys
a = sys.argv[1:]
b, t0, t1, t2, t3, rss, gib = a[:7]
t4, t5, first, t6, t7, t8, t9, t10, t11, t12, t7s = a[7:]
f = float
b = int(b); base = b / (f(t1) - f(t0)) / 2**20; ours = b / (f(t3) - f(t2)) / 2**20
nosync = b / (f(t5) - f(t4)) / 2**20
restore = (f(t7) - f(t6)) / (f(t9) - f(t8))
restore_sync = (f(t7s) - f(t6)) / (f(t9) - f(t8))
deep = (f(t11) - f(t10)) / (f(t12) - f(t11))
print(f"{gib+'GiB':<6} {base:12.1f} {ours:12.1f} {ours/base:8.2f} {int(rss)/1024:11.1f} MiB {ours/nosync:10.2f} {f(first):12.2f} {restore:12.2f} {restore_sync:12.2f} {deep:8.2f}")
PY
done
[ -z "$sizes" ] || echo "ratio: backup vs the durable pipeline (zstd | age | tee a b > c; sync), goal >= 1.0; nosync_ratio: vs the same without sync, goal >= 0.9; restore_ratio: age -d | zstd -d time / pbx321 restore time, goal >= 0.95 (restore_sync: the same with sync after the pipeline, as pbx321 fsyncs the zip); deep_ratio: sha256sum of the 3 copies / pbx321 check --deep, goal >= 0.9; first_copy_s: seconds from start to the first committed copy"

if [[ " $parts " == *" check "* ]]; then
  cdir="$work/check"; rm -rf "$cdir"; mkdir -p "$cdir"
  python3 - "$cdir" "$recipient" <<'PY'
import datetime, os, sys
sys.path.insert(0, "scripts")
from fake_backup import backup
root, recipient = sys.argv[1], sys.argv[2]
today = datetime.datetime.now(datetime.timezone.utc).replace(hour=3, minute=0, second=0, microsecond=0)
if today > datetime.datetime.now(datetime.timezone.utc):
    today -= datetime.timedelta(days=1)
cfg = [f'state_dir = "state"\n[encryption]\nrecipients = ["{recipient}"]\n[policy]\ncopies = 3\nmedia = 2\noffsite = 1\nmax_age = "26h"\n']
for s in range(50):
    cfg.append(f'[[source]]\nname = "pbx{s:02d}"\ntype = "folder"\npath = "src"\n')
for t, medium, loc in [("t1", "disk", "onsite"), ("t2", "nas", "onsite"), ("t3", "object-storage", "offsite")]:
    cfg.append(f'[[target]]\nname = "{t}"\ntype = "fs"\npath = "{t}"\nmedium = "{medium}"\nlocation = "{loc}"\ntrust_labels = true\n')
    for s in range(50):
        src = f"pbx{s:02d}"
        d = os.path.join(root, t, src); os.makedirs(d)
        for day in range(365):
            bid, sealed, manifest = backup(src, today - datetime.timedelta(days=day), recipient)
            open(os.path.join(d, bid + ".zip.zst.age"), "wb").write(sealed)
            open(os.path.join(d, bid + ".manifest.json"), "wb").write(manifest)
open(os.path.join(root, "config.toml"), "w").write("\n".join(cfg))
PY
  best() { # command... -> best wall seconds of 5 runs
    local best=""
    for _ in 1 2 3 4 5; do
      local a b; a=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; b=$(date +%s.%N)
      best=$(python3 -c "a,b,c='$a','$b','$best'; t=float(b)-float(a); print(t if not c else min(t,float(c)))")
    done
    echo "$best"
  }
  files=$(find "$cdir"/t1 "$cdir"/t2 "$cdir"/t3 -type f | wc -l)
  base=$(best find "$cdir/t1" "$cdir/t2" "$cdir/t3" -type f -printf '%s %p\n')
  ours=$(best "$bin" --config "$cdir/config.toml" check --format json)
  python3 - "$files" "$base" "$ours" <<'PY'
import sys
files, base, ours = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"check: {files} files, 50 sources x 365 backups x 3 targets: find {base:.3f}s, pbx321 check {ours:.3f}s (ratio {ours/base:.1f}x find; goal <= 1 s)")
PY
fi

if [[ " $parts " == *" s3 "* ]]; then
  [ -x .venv/bin/moto_server ] || { echo "s3: .venv/bin/moto_server missing: run scripts/test.sh first" >&2; exit 1; }
  cargo build --release --locked -q --example s3_put
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  moto_pid=$!
  trap 'kill $moto_pid 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
  # Each side times its upload alone (no interpreter or runtime start). "hashed": the part
  # hashes came from the seal, each part is read once; "unhashed": each part is hashed
  # from the file, then sent. Best of BENCH_S3_ROUNDS (default 3) rounds each.
  printf '%-6s %12s %14s %8s %16s %8s %14s\n' size boto3_MiB/s hashed_MiB/s ratio unhashed_MiB/s ratio pbx321_peak_RSS
  s3_sizes=${BENCH_S3_GIB:-"1 4"}
  rounds=${BENCH_S3_ROUNDS:-3}
  for gib in $s3_sizes; do
    f="$work/sealed.bin"
    head -c $((gib * 1024 * 1024 * 1024)) /dev/urandom >"$f"
    bytes=$(stat -c %s "$f")
    .venv/bin/python -c "import boto3; c=boto3.client('s3', endpoint_url='http://127.0.0.1:$port'); [c.create_bucket(Bucket=b) for b in ('bench-boto3','bench-pbx321')]"
    tb=999999; th=999999; tu=999999; rss_kib=0
    for r in $(seq "$rounds"); do
      t=$(.venv/bin/python - "$port" "$f" "$r" <<'PY'
import sys, time, boto3
from boto3.s3.transfer import TransferConfig
port, f, r = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
t = time.monotonic()
s3.upload_file(f, "bench-boto3", "x" + r, Config=TransferConfig(multipart_chunksize=16 << 20, max_concurrency=4))
print(time.monotonic() - t)
PY
)
      tb=$(python3 -c "print(min($tb, $t))")
      /usr/bin/time -v -o "$work/time-s3.txt" target/release/examples/s3_put "http://127.0.0.1:$port" bench-pbx321 "h$r" "$f" --hashed >"$work/s3.out"
      t=$(sed -n 's/^upload_seconds=//p' "$work/s3.out"); th=$(python3 -c "print(min($th, $t))")
      rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time-s3.txt"); rss_kib=$((rss > rss_kib ? rss : rss_kib))
      /usr/bin/time -v -o "$work/time-s3.txt" target/release/examples/s3_put "http://127.0.0.1:$port" bench-pbx321 "u$r" "$f" >"$work/s3.out"
      t=$(sed -n 's/^upload_seconds=//p' "$work/s3.out"); tu=$(python3 -c "print(min($tu, $t))")
      rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time-s3.txt"); rss_kib=$((rss > rss_kib ? rss : rss_kib))
      .venv/bin/python -c "import boto3; c=boto3.client('s3', endpoint_url='http://127.0.0.1:$port'); [c.delete_object(Bucket=b, Key=k) for b, k in (('bench-boto3','x$r'),('bench-pbx321','h$r'),('bench-pbx321','u$r'))]"
    done
    .venv/bin/python -c "import boto3; c=boto3.client('s3', endpoint_url='http://127.0.0.1:$port'); [c.delete_bucket(Bucket=b) for b in ('bench-boto3','bench-pbx321')]"
    python3 - "$bytes" "$tb" "$th" "$tu" "$rss_kib" "$gib" <<'PY'
import sys
b, tb, th, tu, rss, gib = sys.argv[1:]
b = int(b); m = lambda t: b / float(t) / 2**20
print(f"{gib+'GiB':<6} {m(tb):12.1f} {m(th):14.1f} {m(th)/m(tb):8.2f} {m(tu):16.1f} {m(tu)/m(tb):8.2f} {int(rss)/1024:11.1f} MiB")
PY
    rm -f "$f"
  done
fi

start_moto() {
  [ -x .venv/bin/moto_server ] || { echo "moto: .venv/bin/moto_server missing: run scripts/test.sh first" >&2; exit 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  moto_pid=$!
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
}

if [[ " $parts " == *" repair "* ]]; then
  [ -x /usr/sbin/sshd ] || { echo "repair: /usr/sbin/sshd missing: run scripts/test.sh first" >&2; exit 1; }
  start_moto
  sshd_dir="$work/sshd"; mkdir -p "$sshd_dir/root" /run/sshd
  for k in host_key client_key; do ssh-keygen -q -t ed25519 -N "" -f "$sshd_dir/$k"; done
  cp "$sshd_dir/client_key.pub" "$sshd_dir/authorized_keys"
  sport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$sshd_dir/sshd_config" <<SSHD
Port $sport
ListenAddress 127.0.0.1
HostKey $sshd_dir/host_key
AuthorizedKeysFile $sshd_dir/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
PidFile $sshd_dir/sshd.pid
SSHD
  /usr/sbin/sshd -D -e -f "$sshd_dir/sshd_config" 2>/dev/null &
  sshd_pid=$!
  trap 'kill $moto_pid $sshd_pid 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$sport) 2>/dev/null && break; sleep 0.1; done
  echo "[127.0.0.1]:$sport $(cut -d' ' -f1,2 "$sshd_dir/host_key.pub")" >"$sshd_dir/known_hosts"
  user=${USER:-$(id -un)}
  printf '%-14s %14s %14s %8s %14s\n' repair baseline_MiB/s pbx321_MiB/s ratio pbx321_peak_RSS
  repair_sizes=${BENCH_REPAIR_GIB:-"1 4"}
  for gib in $repair_sizes; do
    r="$work/repair"; rm -rf "$r"; mkdir -p "$r/src"
    gen_zip "$gib" "$r/src/3CXScheduledBackup.zip"
    .venv/bin/python -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$port').create_bucket(Bucket='repair')"
    cat >"$r/config.toml" <<TOML
state_dir = "state"
[encryption]
recipients = ["$recipient"]
[policy]
copies = 3
media = 2
offsite = 1
[[source]]
name = "bench"
type = "folder"
path = "src"
settle = "0s"
[[target]]
name = "local"
type = "fs"
path = "local"
medium = "disk"
[[target]]
name = "nas"
type = "sftp"
endpoint = "ssh://$user@127.0.0.1:$sport"
path = "$sshd_dir/root/pbx321"
key = "$sshd_dir/client_key"
known_hosts = "$sshd_dir/known_hosts"
medium = "nas"
trust_labels = true   # the bench's NAS and S3 run on this very host
[[target]]
name = "cloud"
type = "s3"
bucket = "repair"
endpoint = "http://127.0.0.1:$port"
path_style = true
region = "us-east-1"
access_key_id = "bench"
secret_access_key = "bench"
medium = "object-storage"
location = "offsite"
trust_labels = true
part_size_mib = 16
TOML
    "$bin" --config "$r/config.toml" backup >/dev/null || { echo "repair: the first backup failed" >&2; exit 1; }
    artifact=$(find "$r/local" -name '*.zip.zst.age' | head -1)
    key="bench/$(basename "$artifact")"
    bytes=$(stat -c %s "$artifact")
    drop_cloud() {
      .venv/bin/python - "$port" <<'PY'
import sys, boto3
c = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}")
for o in c.list_objects_v2(Bucket="repair").get("Contents", []):
    c.delete_object(Bucket="repair", Key=o["Key"])
PY
    }
    # fs → S3. Baseline: boto3 uploads the same file, 16 MiB parts, 4 at a time.
    t0=$(date +%s.%N)
    .venv/bin/python - "$port" "$artifact" <<'PY'
import sys, boto3
from boto3.s3.transfer import TransferConfig
c = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}")
c.upload_file(sys.argv[2], "repair", "baseline", Config=TransferConfig(multipart_chunksize=16 << 20, max_concurrency=4))
PY
    t1=$(date +%s.%N)
    drop_cloud
    t2=$(date +%s.%N)
    /usr/bin/time -v -o "$work/time-repair.txt" "$bin" --config "$r/config.toml" repair >/dev/null
    t3=$(date +%s.%N)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time-repair.txt")
    python3 -c "b=$bytes; base=b/($t1-$t0)/2**20; ours=b/($t3-$t2)/2**20; print(f\"{'${gib}GiB fs→s3':<14} {base:14.1f} {ours:14.1f} {ours/base:8.2f} {$rss/1024:11.1f} MiB\")"
    # S3 → SFTP (the local and NAS copies lost). Baseline: boto3 downloads, sftp puts.
    rm -rf "$r/local" "$sshd_dir/root/pbx321"
    t0=$(date +%s.%N)
    .venv/bin/python - "$port" "$key" "$r/baseline.bin" <<'PY'
import sys, boto3
from boto3.s3.transfer import TransferConfig
c = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}")
c.download_file("repair", sys.argv[2], sys.argv[3], Config=TransferConfig(multipart_chunksize=16 << 20, max_concurrency=4))
PY
    echo "put $r/baseline.bin $sshd_dir/root/baseline.bin" | sftp -q -b - -i "$sshd_dir/client_key" \
      -o UserKnownHostsFile="$sshd_dir/known_hosts" -P "$sport" "$user@127.0.0.1" >/dev/null
    t1=$(date +%s.%N)
    rm -f "$r/baseline.bin" "$sshd_dir/root/baseline.bin"
    t2=$(date +%s.%N)
    /usr/bin/time -v -o "$work/time-repair.txt" "$bin" --config "$r/config.toml" repair >/dev/null
    t3=$(date +%s.%N)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time-repair.txt")
    python3 -c "b=$bytes; base=b/($t1-$t0)/2**20; ours=b/($t3-$t2)/2**20; print(f\"{'${gib}GiB s3→sftp':<14} {base:14.1f} {ours:14.1f} {ours/base:8.2f} {$rss/1024:11.1f} MiB\")"
    drop_cloud
    .venv/bin/python -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$port').delete_bucket(Bucket='repair')"
    rm -rf "$r" "$sshd_dir/root/pbx321"
  done
fi

if [[ " $parts " == *" fleet "* ]]; then
  n=${BENCH_FLEET:-200}
  f="$work/fleet"; rm -rf "$f"; mkdir -p "$f"
  python3 - "$f" "$n" "$recipient" "${BENCH_FLEET_CONCURRENCY:-4}" "${BENCH_FLEET_MIB:-10}" <<'PY'
import os, sys, zipfile
root, n, recipient, conc, mib = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
cfg = [f'state_dir = "state"\n[daemon]\nmax_concurrent = {conc}\n[encryption]\nrecipients = ["{recipient}"]\n[policy]\ncopies = 3\nmedia = 2\noffsite = 1\n']
for i in range(n):
    d = os.path.join(root, "src", f"pbx{i:03d}"); os.makedirs(d)
    with zipfile.ZipFile(os.path.join(d, "3CXScheduledBackup.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("3CXPhoneSystemDb.xml", b"<PhoneSystem>" + b"<Ext n='1'/>" * 20000 + b"</PhoneSystem>")
        z.writestr(zipfile.ZipInfo("Recordings/a.wav"), os.urandom(mib << 20), zipfile.ZIP_STORED)
    cfg.append(f'[[source]]\nname = "pbx{i:03d}"\ntype = "folder"\npath = "src/pbx{i:03d}"\nsettle = "0s"\n')
for t, medium, loc in [("t1", "disk", "onsite"), ("t2", "removable", "onsite"), ("t3", "disk", "offsite")]:
    cfg.append(f'[[target]]\nname = "{t}"\ntype = "fs"\npath = "{t}"\nmedium = "{medium}"\nlocation = "{loc}"\ntrust_labels = true\n')
open(os.path.join(root, "config.toml"), "w").write("\n".join(cfg))
PY
  # The shell loop and pbx321 take turns, best of BENCH_ROUNDS (default 3) each; peak RSS:
  # the largest of pbx321's rounds. No environment setting (pbx321 bounds malloc's arenas
  # itself).
  lt=999999; pt=999999; rss=0
  for _ in $(seq "${BENCH_ROUNDS:-3}"); do
    rm -rf "$f"/state "$f"/t1 "$f"/t2 "$f"/t3; sync
    a=$(date +%s.%N)
    for d in "$f"/src/*; do
      zstd -q -T0 -3 -c "$d/3CXScheduledBackup.zip" | age -r "$recipient" | tee "$f/b1" "$f/b2" >"$f/b3"
    done
    sync
    b=$(date +%s.%N)
    rm -f "$f"/b1 "$f"/b2 "$f"/b3; sync
    c=$(date +%s.%N)
    env -u MALLOC_ARENA_MAX /usr/bin/time -v -o "$work/time-fleet.txt" "$bin" --config "$f/config.toml" backup >/dev/null || true
    sync
    d=$(date +%s.%N)
    r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time-fleet.txt"); rss=$((r > rss ? r : rss))
    read -r lt pt < <(python3 -c "print(min($lt, $b - $a), min($pt, $d - $c))")
  done
  ok=$(find "$f/t3" -name '*.manifest.json' | wc -l)
  python3 -c "base=$lt; ours=$pt; print(f'fleet: {$n} sources x 3 targets: shell loop {base:.1f}s, pbx321 backup {ours:.1f}s (ratio {ours/base:.2f}, goal <= 1; {$ok} backups on t3), peak RSS {$rss/1024:.1f} MiB (goal <= 128 MiB), best time and largest RSS of ${BENCH_ROUNDS:-3} rounds')"
fi

if [[ " $parts " == *" cost "* ]]; then
  # What a check costs on object storage: S3 requests by type through a counting proxy
  # (scripts/s3count.py) in front of moto, for BENCH_COST_SOURCES (default 200) sources x 30
  # daily backups on one S3 target with Object Lock, and AWS's request prices.
  n=${BENCH_COST_SOURCES:-200}
  start_moto
  c="$work/cost"; rm -rf "$c"; mkdir -p "$c"
  pport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 scripts/s3count.py "$pport" "$port" &
  proxy_pid=$!
  trap 'kill $moto_pid $proxy_pid 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$pport) 2>/dev/null && break; sleep 0.1; done
  .venv/bin/python - "$port" "$n" "$recipient" "$c" "$pport" <<'PY'
import datetime, sys, boto3
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, "scripts")
from fake_backup import backup
port, n, recipient, root, pport = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
s3.create_bucket(Bucket="cost", ObjectLockEnabledForBucket=True)
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
def put(job):
    src, day = job
    at = now - datetime.timedelta(days=day, hours=1)
    bid, sealed, manifest = backup(src, at, recipient)
    lock = dict(ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=at + datetime.timedelta(days=7))
    s3.put_object(Bucket="cost", Key=f"{src}/{bid}.zip.zst.age", Body=sealed, **lock)
    s3.put_object(Bucket="cost", Key=f"{src}/{bid}.manifest.json", Body=manifest, **lock)
with ThreadPoolExecutor(8) as ex:
    list(ex.map(put, [(f"pbx{s:03d}", d) for s in range(n) for d in range(30)]))
cfg = [f'state_dir = "state"\n[encryption]\nrecipients = ["{recipient}"]\n[policy]\ncopies = 1\nmedia = 1\noffsite = 1\nmax_age = "26h"\n[retention]\nkeep_daily = 14\n']
for s in range(n):
    cfg.append(f'[[source]]\nname = "pbx{s:03d}"\ntype = "folder"\npath = "src"\n')
cfg.append(f'[[target]]\nname = "cloud"\ntype = "s3"\nbucket = "cost"\nendpoint = "http://127.0.0.1:{pport}"\npath_style = true\nregion = "us-east-1"\naccess_key_id = "bench"\nsecret_access_key = "bench"\nmedium = "object-storage"\nlocation = "offsite"\ntrust_labels = true\nobject_lock = {{ mode = "governance", days = 7 }}\n')
open(f"{root}/config.toml", "w").write("\n".join(cfg))
PY
  counts() { curl -fsS "http://127.0.0.1:$pport/__counts"; }
  counts >/dev/null
  run_counted() { # label command... -> one JSON line {label, counts}
    local label=$1; shift
    "$@" >/dev/null 2>&1 || true
    printf '{"what": "%s", "counts": %s}\n' "$label" "$(counts)"
  }
  {
    run_counted "shallow check (first)" "$bin" --config "$c/config.toml" check --format json
    run_counted "shallow check (again)" "$bin" --config "$c/config.toml" check --format json
    run_counted "deep check" "$bin" --config "$c/config.toml" check --deep --format json
    run_counted "repair (nothing to do)" "$bin" --config "$c/config.toml" repair
    run_counted "prune (16 of 30 per source)" "$bin" --config "$c/config.toml" prune
  } >"$c/counts.jsonl"
  python3 - "$c/counts.jsonl" "$n" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
# AWS S3 Standard, us-east-1, per 1,000 requests: PUT, COPY, POST, LIST $0.005; GET, HEAD and
# all other $0.0004; DELETE free.
price = {"LIST": 0.005, "PUT": 0.005, "POST": 0.005, "GET": 0.0004, "HEAD": 0.0004, "DELETE": 0.0}
cost = lambda c: sum(price.get(k, 0.0004) * v for k, v in c.items()) / 1000
print(f"cost: {n} sources x 30 backups on one S3 target (moto), requests by type and their price at AWS S3 Standard rates")
print(f"{'what':<30} {'LIST':>6} {'GET':>6} {'HEAD':>6} {'PUT':>6} {'POST':>6} {'DELETE':>7} {'USD':>9}")
for r in rows:
    c = r["counts"]
    print(f"{r['what']:<30} " + " ".join(f"{c.get(k, 0):>{w}}" for k, w in (("LIST", 6), ("GET", 6), ("HEAD", 6), ("PUT", 6), ("POST", 6), ("DELETE", 7))) + f" {cost(c):9.5f}")
first, again = rows[0]["counts"], rows[1]["counts"]
day = {k: first.get(k, 0) + 95 * again.get(k, 0) for k in set(first) | set(again)}
print(f"{'daemon day (96 checks)':<30} " + " ".join(f"{day.get(k, 0):>{w}}" for k, w in (("LIST", 6), ("GET", 6), ("HEAD", 6), ("PUT", 6), ("POST", 6), ("DELETE", 7))) + f" {cost(day):9.5f}  (~{30 * cost(day):.2f} USD a month)")
PY
  kill $proxy_pid 2>/dev/null || true
fi

if [[ " $parts " == *" week "* ]]; then
  # The daemon over a simulated week (examples/simulated_week.rs: the daemon's own loop and
  # jobs on simulated time): BENCH_WEEK_SOURCES (default 3) folder sources backed up hourly
  # to two fs targets and moto, a shallow check every 15 minutes, prune hourly (keeping 12
  # hours: what is stored is steady after the first day), repair daily; RSS, open fds,
  # threads and the state directory's size each simulated day.
  ws=${BENCH_WEEK_SOURCES:-3}
  wd=${BENCH_WEEK_DAYS:-7}
  cargo build --release --locked -q --example simulated_week
  start_moto
  trap 'kill $moto_pid 2>/dev/null; rm -rf "$work"' EXIT
  w="$work/week"; rm -rf "$w"; mkdir -p "$w"
  .venv/bin/python - "$port" "$ws" "$recipient" "$w" <<'PY'
import sys, boto3
port, n, recipient, root = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}").create_bucket(Bucket="week", ObjectLockEnabledForBucket=False)
cfg = [f'state_dir = "state"\n[daemon]\njitter = "0s"\nmax_concurrent = 4\n[schedule]\ncheck = "*/15 * * * *"\nprune = "5 * * * *"\nrepair = "30 7 * * *"\n[encryption]\nrecipients = ["{recipient}"]\n[policy]\ncopies = 3\nmedia = 2\noffsite = 1\nmax_age = "2h"\n[retention]\nkeep_hourly = 12\n']
for i in range(n):
    cfg.append(f'[[source]]\nname = "pbx{i}"\ntype = "folder"\npath = "src/pbx{i}"\nsettle = "0s"\nschedule = "0 * * * *"\n')
cfg.append('[[target]]\nname = "t1"\ntype = "fs"\npath = "t1"\nmedium = "disk"\n')
cfg.append('[[target]]\nname = "t2"\ntype = "fs"\npath = "t2"\nmedium = "removable"\ntrust_labels = true\n')
cfg.append(f'[[target]]\nname = "cloud"\ntype = "s3"\nbucket = "week"\nendpoint = "http://127.0.0.1:{port}"\npath_style = true\nregion = "us-east-1"\naccess_key_id = "bench"\nsecret_access_key = "bench"\nmedium = "object-storage"\nlocation = "offsite"\ntrust_labels = true\n')
open(f"{root}/config.toml", "w").write("\n".join(cfg))
PY
  t0=$(date +%s.%N)
  # With glibc tuned as pbx321 tunes itself at start (the example is not pbx321).
  MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=2097152 target/release/examples/simulated_week "$w/config.toml" "$wd" >"$w/samples.jsonl" 2>"$w/week.log" \
    || { echo "week: the simulation failed" >&2; tail -20 "$w/week.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  backups=$(find "$w/t1" -name '*.manifest.json' | wc -l)
  grep -E ' (WARN|ERROR) ' "$w/week.log" | sed 's/^/week log: /' | sort | uniq -c | sort -rn | head -5 || true
  python3 - "$w/samples.jsonl" "$ws" "$wd" "$t0" "$t1" "$backups" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
n, days, t0, t1, kept = sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
print(f"week: {n} sources, hourly backups to 2 fs + moto, checks every 15 min, {days} simulated days in {t1 - t0:.0f} s ({kept} backups kept on t1)")
print(f"{'day':>4} {'RSS_MiB':>8} {'fds':>5} {'threads':>8} {'state_KiB':>10} {'history_KiB':>12} {'state_w/o_history_KiB':>22}")
for r in rows:
    print(f"{r['day']:>4} {r['rss_kib']/1024:8.1f} {r['fds']:>5} {r['threads']:>8} {r['state_bytes']/1024:10.1f} {r['history_bytes']/1024:12.1f} {(r['state_bytes']-r['history_bytes'])/1024:22.1f}")
d1 = next((r for r in rows if r["day"] == 1), None)
if d1:
    for key, label in (("rss_kib", "RSS"), ("fds", "fds"), ("threads", "threads")):
        worst = max(r[key] for r in rows if r["day"] >= 1)
        print(f"week: {label} after day 1: at most {100 * (worst - d1[key]) / max(d1[key], 1):+.1f} % over day 1 (goal <= 10 %)")
    base = d1["state_bytes"] - d1["history_bytes"]
    worst = max(r["state_bytes"] - r["history_bytes"] for r in rows if r["day"] >= 1)
    print(f"week: state without the run history after day 1: at most {100 * (worst - base) / max(base, 1):+.1f} % over day 1 (goal <= 10 %); the run history grows by one line per source and run, kept 40 days")
PY
fi

if [[ " $parts " == *" page "* ]]; then
  n=${BENCH_PAGE_SOURCES:-200}
  p="$work/page"; rm -rf "$p"; mkdir -p "$p"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 - "$p" "$recipient" "$n" "$port" <<'PY'
import datetime, os, sys
sys.path.insert(0, "scripts")
from fake_backup import backup
root, recipient, n, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
cfg = [f'state_dir = "state"\n[daemon]\nlisten = "127.0.0.1:{port}"\n[schedule]\ncheck = "* * * * * *"\n[encryption]\nrecipients = ["{recipient}"]\n[policy]\ncopies = 3\nmedia = 2\noffsite = 1\nmax_age = "26h"\n']
failing = {n // 5, n // 2, n - 1}
for s in range(n):
    cfg.append(f'[[source]]\nname = "pbx{s:03d}"\ntype = "folder"\npath = "src"\n')
for t, medium, loc in [("t1", "disk", "onsite"), ("t2", "nas", "onsite"), ("t3", "object-storage", "offsite")]:
    cfg.append(f'[[target]]\nname = "{t}"\ntype = "fs"\npath = "{t}"\nmedium = "{medium}"\nlocation = "{loc}"\ntrust_labels = true\n')
    for s in range(n):
        src = f"pbx{s:03d}"
        d = os.path.join(root, t, src); os.makedirs(d)
        for day in range(30):
            # A failing source's newest backup is 3 days old: CRITICAL.
            at = now - datetime.timedelta(days=day + (3 if s in failing else 0), hours=1)
            bid, sealed, manifest = backup(src, at, recipient)
            open(os.path.join(d, bid + ".zip.zst.age"), "wb").write(sealed)
            open(os.path.join(d, bid + ".manifest.json"), "wb").write(manifest)
open(os.path.join(root, "config.toml"), "w").write("\n".join(cfg))
PY
  "$bin" --config "$p/config.toml" daemon >"$p/daemon.log" 2>&1 &
  dpid=$!
  trap 'kill $dpid 2>/dev/null || true; rm -rf "$work"' EXIT
  for _ in $(seq 600); do
    curl -fsS "http://127.0.0.1:$port/" 2>/dev/null | grep -q "CRITICAL" && break
    sleep 0.2
  done
  fastest() { # path -> best seconds of 5 requests
    local best=9
    for _ in 1 2 3 4 5; do
      t=$(curl -fsS -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port$1")
      best=$(python3 -c "print(min($best, $t))")
    done
    echo "$best"
  }
  base=$(fastest /healthz)
  page=$(fastest /)
  filtered=$(fastest "/?status=critical")
  metrics=$(fastest /metrics)
  size=$(curl -fsS "http://127.0.0.1:$port/" | wc -c)
  shown=$(curl -fsS "http://127.0.0.1:$port/?status=critical" | grep -o 'href="/source/' | wc -l)
  python3 - "$n" "$base" "$page" "$filtered" "$metrics" "$size" "$shown" <<'PY'
import sys
n, base, page, filt, met, size, shown = sys.argv[1], *map(float, sys.argv[2:7]), sys.argv[7]
ms = lambda t: t * 1000
print(f"page: {n} sources x 30 backups x 3 targets: /healthz {ms(base):.1f} ms (baseline); / {ms(page):.1f} ms ({page/base:.1f}x, goal <= 50 ms), {size/1024:.0f} KB (goal <= 300 KB); /?status=critical {ms(filt):.1f} ms ({shown} rows, goal <= 20 ms); /metrics {ms(met):.1f} ms (goal <= 50 ms)")
PY
  # A simulated day of checks: 96 scheduled checks, one a second; RSS every 12.
  samples=()
  for i in $(seq 8); do
    sleep 12
    samples+=("$(awk '/VmRSS/ {print $2}' /proc/$dpid/status)")
  done
  kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null || true
  python3 - "${samples[@]}" <<'PY'
import sys
kib = [int(x) for x in sys.argv[1:]]
first = kib[0]; last = kib[-1]
print("page: daemon RSS over 96 checks (every 12): " + ", ".join(f"{k/1024:.1f}" for k in kib) + f" MiB; growth after the first sample {100*(last-first)/first:+.1f} %")
PY
fi
