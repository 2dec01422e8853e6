#!/usr/bin/env bash
# Builds the Debian package with cargo-deb: target/debian/pbx321_<version>_<arch>.deb
#
#   scripts/package-deb.sh              release build (what you ship)
#   scripts/package-deb.sh --dev        package the debug binary already built (tests: fast)
#
# Generates the man pages and shell completions from the binary itself first. Installs
# cargo-deb when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
extra=()
if [ "${1:-}" = "--dev" ]; then
  shift
  profile=dev
  extra=(--no-build --fast)
fi
bin_dir=target/release
[ "$profile" = dev ] && bin_dir=target/debug

command -v cargo-deb >/dev/null 2>&1 || cargo install --locked cargo-deb --version 3.8.0

if [ "$profile" = release ]; then
  cargo build --locked --release
elif [ ! -x "$bin_dir/pbx321" ]; then
  cargo build --locked
fi

assets=target/deb-assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$bin_dir/pbx321" man --out-dir "$assets/man"
"$bin_dir/pbx321" completions bash > "$assets/completions/pbx321.bash"
"$bin_dir/pbx321" completions zsh > "$assets/completions/_pbx321"
"$bin_dir/pbx321" completions fish > "$assets/completions/pbx321.fish"
gzip -9n "$assets"/man/*.1

cargo deb --locked --profile "$profile" "${extra[@]}" "$@" >&2
ls -t target/debian/pbx321_*.deb | head -1
