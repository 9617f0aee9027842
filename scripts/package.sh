#!/usr/bin/env bash
# Builds the Debian package: target/debian/mimecast-collector_<version>-1_<arch>.deb (and its
# -dbgsym package with the debug info).
#
#   scripts/package.sh            # needs cargo-deb: cargo install cargo-deb --locked
#   scripts/package.sh --profile dev   # CI: packs the tests' debug build (no second build)
#
# The man page and shell completions come from the binary itself (clap_mangen, clap_complete),
# so they are generated from the release build before cargo-deb packs them.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null 2>&1 || {
  echo "error: cargo-deb is not installed: cargo install cargo-deb --locked" >&2
  exit 1
}
profile=release
if [ "${1:-}" = --profile ]; then
  profile=${2:?--profile needs a name}
  shift 2
fi
# --workspace: the binary is then the one `cargo test --workspace` builds. For dev (CI), also
# --tests: a test build turns on the dev-dependencies' features, so only with them is the
# binary the very one the tests ran, found built rather than compiled again. (cargo-deb 3.8
# warns that it may refuse the dev profile one day; CI pins that version.)
extra=()
[ "$profile" = dev ] && extra=(--tests)
cargo build --profile "$profile" --locked --workspace "${extra[@]}"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
case "$profile" in dev) dir=debug ;; *) dir=$profile ;; esac
bin="$target_dir/$dir/mimecast-collector"
# cargo-deb reads the assets from the crate's own target/assets, wherever CARGO_TARGET_DIR is.
assets=target/assets
mkdir -p "$assets"
"$bin" man | gzip -9n > "$assets/mimecast-collector.1.gz"
"$bin" completions bash > "$assets/mimecast-collector.bash"
"$bin" completions zsh > "$assets/_mimecast-collector"
"$bin" completions fish > "$assets/mimecast-collector.fish"
cargo deb --no-build --locked --profile "$profile" "$@"
