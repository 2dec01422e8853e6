#!/usr/bin/env bash
# Runs pbx321's tests on a fresh machine: installs the real programs the tests use when they
# are missing (age and zstd for restore-by-hand interop, promtool from the prometheus
# package for the metrics format, sshd and rclone as the SFTP and WebDAV servers,
# moto[server] into .venv as the S3 server, man-db, systemd and cargo-deb for the package
# test, Debian's chromium for the status page in a real headless browser, icinga2 and
# kubernetes-validate for the shipped monitoring and Kubernetes files), then runs cargo
# test.
# Extra arguments go to cargo test (e.g. scripts/test.sh --test integration killed).
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
missing=()
command -v age >/dev/null 2>&1 || missing+=(age)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
command -v pkill >/dev/null 2>&1 || missing+=(procps)
# The package test installs the .deb: man -w, systemd-analyze verify, adduser in postinst.
command -v man >/dev/null 2>&1 || missing+=(man-db)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v adduser >/dev/null 2>&1 || missing+=(adduser)
# The progress and monitoring tests use script(1) and setpriv(1).
command -v script >/dev/null 2>&1 || missing+=(bsdutils)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
# The status page test loads the daemon's page in headless Chromium.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# The shipped Icinga 2 config is validated by icinga2 itself (its ITL from icinga2-common).
command -v icinga2 >/dev/null 2>&1 || missing+=(icinga2-bin icinga2-common)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The S3 tests talk to a real moto server, installed into a project-local venv.
MOTO_VERSION=5.2.5
if ! .venv/bin/python -c "import moto, flask" >/dev/null 2>&1; then
  echo "installing moto[server]==$MOTO_VERSION into .venv" >&2
  rm -rf .venv
  if ! python3 -m venv .venv >/dev/null 2>&1; then
    # Debian's python3 ships venv separately.
    $sudo apt-get install -y -qq python3-venv >/dev/null
    rm -rf .venv && python3 -m venv .venv
  fi
  .venv/bin/pip install -q "moto[server]==$MOTO_VERSION"
fi
# The shipped Kubernetes examples are validated against Kubernetes' schemas.
KUBERNETES_VALIDATE_VERSION=1.37.0
if ! .venv/bin/kubernetes-validate --version >/dev/null 2>&1; then
  echo "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into .venv" >&2
  .venv/bin/pip install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

# scripts/package-deb.sh builds the .deb the package test installs.
CARGO_DEB_VERSION=3.8.0
command -v cargo-deb >/dev/null 2>&1 || cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"

# Most tests wait on servers, sockets and child processes, not on the CPU: more at once than
# there are cores shortens the run (6 on CI's 2 cores: 205 s against 270 s for the
# integration tests). Set RUST_TEST_THREADS to choose.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-6}"
cargo test --locked "$@"
