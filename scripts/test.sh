#!/usr/bin/env bash
# The test suite, with the servers some tests run for real: promtool (tests/progress.rs lints
# a live /metrics scrape) and rsyslog with its TLS driver (tests/syslog.rs). Missing ones are
# installed from Debian's packages (as root, or through sudo); no test skips for want of them.
# Arguments go to `cargo test` (e.g. scripts/test.sh --test syslog).
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

exec cargo test --workspace --locked "$@"
