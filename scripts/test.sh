#!/usr/bin/env bash
# The test suite, with the servers some tests run for real: promtool (tests/progress.rs lints
# a live /metrics scrape) and rsyslog with its TLS driver (tests/syslog.rs). Missing ones are
# installed from Debian's packages (as root, or through sudo); no test skips for want of them.
# Arguments go to the test runner (e.g. scripts/test.sh --test syslog, or --release as CI does).
#
# The runner is cargo-nextest where it is installed (it is on the project's machines): it runs
# the test binaries side by side, one process per test, so a binary's slowest test does not hold
# the others back; .config/nextest.toml bounds each test's lifetime. Without it, `cargo test`.
# Set MIMECAST_TEST_RUNNER=cargo to use `cargo test` anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/sbin/rsyslogd ] || command -v rsyslogd >/dev/null 2>&1 || missing+=(rsyslog)
compgen -G '/usr/lib/*/rsyslog/lmnsd_gtls.so' >/dev/null || compgen -G '/usr/lib/rsyslog/lmnsd_gtls.so' >/dev/null || missing+=(rsyslog-gnutls)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing what the tests need: ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  # Where systemd runs, the package also starts the system's rsyslog: the tests leave it
  # alone (each starts its own, on a free loopback port, with a config of its own).
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "${MIMECAST_TEST_RUNNER:-}" != cargo ] && cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked "$@"
  # nextest does not run doctests; they take the profile argument only.
  doc_args=()
  for a in "$@"; do
    case "$a" in --release) doc_args+=("$a") ;; esac
  done
  if [ $# -eq ${#doc_args[@]} ]; then
    cargo test --workspace --locked --doc "${doc_args[@]}"
  fi
else
  exec cargo test --workspace --locked "$@"
fi
