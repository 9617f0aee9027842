#!/usr/bin/env bash
# Checks the Debian package the way an operator meets it (CI runs this after scripts/package.sh):
#   1. its file list, owners and modes, conffiles, and a stripped binary;
#   2. an install into a throwaway root (`dpkg --root`, the maintainer scripts run against that
#      root), which must create the service user, give the config to its group and make the
#      state directory;
#   3. the unit's command, run as that user with setpriv: it reads the packaged config (and a
#      user outside the group is told "permission denied"), then drains the simulator into the
#      state directory with `run --once`;
#   4. an upgrade keeps an edited config and its permissions; removal keeps the config.
# Needs root (setpriv, chown), dpkg, logrotate, and a free loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."

deb=$(ls target/debian/mimecast-collector_*.deb | head -n 1)
fail() { echo "check-package: FAIL: $*" >&2; exit 1; }
echo "== $deb"

# 1. Contents.
listing=$(dpkg-deb -c "$deb")
has() { # mode path
  grep -qE "^$1 0/0 +[0-9]+ [0-9-]+ [0-9:]+ \./$2\$" <<<"$listing" || fail "no $1 ./$2 in:
$listing"
}
has '-rwxr-xr-x' 'usr/bin/mimecast-collector'
has '-rw-r-----' 'etc/mimecast-collector/config.toml'
has '-rw-r--r--' 'etc/logrotate.d/mimecast-collector'
has '-rw-r--r--' 'usr/lib/systemd/system/mimecast-collector.service'
has '-rw-r--r--' 'usr/lib/systemd/system/mimecast-collector@.service'
has '-rw-r--r--' 'usr/lib/sysusers.d/mimecast-collector.conf'
has '-rw-r--r--' 'usr/lib/tmpfiles.d/mimecast-collector.conf'
has '-rw-r--r--' 'usr/share/man/man1/mimecast-collector.1.gz'
has '-rw-r--r--' 'usr/share/bash-completion/completions/mimecast-collector'
has '-rw-r--r--' 'usr/share/zsh/vendor-completions/_mimecast-collector'
has '-rw-r--r--' 'usr/share/fish/vendor_completions.d/mimecast-collector.fish'
has '-rw-r--r--' 'usr/share/doc/mimecast-collector/copyright'
has '-rw-r--r--' 'usr/share/doc/mimecast-collector/README.md'
has '-rw-r--r--' 'usr/share/doc/mimecast-collector/CHANGELOG.md'
conffiles=$(dpkg-deb -I "$deb" conffiles)
for f in /etc/mimecast-collector/config.toml /etc/logrotate.d/mimecast-collector; do
  grep -qx "$f" <<<"$conffiles" || fail "$f is not a conffile: $conffiles"
done
extract=$(mktemp -d)
root=$(mktemp -d)
sim_pid=""
daemon=""
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null || true
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  rm -rf "$extract" "$root"
}
trap cleanup EXIT
dpkg-deb -x "$deb" "$extract"
if readelf -S "$extract/usr/bin/mimecast-collector" | grep -q '\.debug_info'; then
  fail "the packaged binary carries debug info"
fi
size=$(stat -c %s "$extract/usr/bin/mimecast-collector")
echo "binary: $((size / 1024 / 1024)) MiB, stripped"
zcat "$extract/usr/share/man/man1/mimecast-collector.1.gz" | grep -q '^\.TH mimecast-collector 1' \
  || fail "the man page is not roff"

# 2. Install into a throwaway root; maintainer scripts run against it (DPKG_ROOT).
chmod 0755 "$root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
touch "$root/var/lib/dpkg/status"
dpkg_root() {
  dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null "$@"
}
dpkg_root -i "$deb"
uid=$(awk -F: '$1 == "mimecast-collector" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "mimecast-collector" { print $3 }' "$root/etc/group")
[ -n "$uid" ] && [ -n "$gid" ] || fail "no mimecast-collector user or group in the root"
[ "$uid" -ne 0 ] || fail "the service user is root"
perm() { # path mode uid gid
  local got
  got=$(stat -c '%a %u %g' "$root$1")
  [ "$got" = "$2 $3 $4" ] || fail "$1 is '$got', want '$2 $3 $4'"
}
perm /etc/mimecast-collector 750 0 "$gid"
perm /etc/mimecast-collector/config.toml 640 0 "$gid"
perm /var/lib/mimecast-collector 750 "$uid" "$gid"
echo "installed: user $uid:$gid, config 0640 root:mimecast-collector, state directory 0750"

bin="$root/usr/bin/mimecast-collector"
config="$root/etc/mimecast-collector/config.toml"
as_service() { setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"; }

# 3a. The service user reads the packaged config: what stops it is the missing secrets, named.
set +e
out=$(as_service "$bin" check --offline --config "$config" 2>&1); code=$?
set -e
[ "$code" -eq 78 ] || fail "check --offline as the service user: exit $code: $out"
grep -q 'ACME_CLIENT_SECRET is not set' <<<"$out" || fail "the service user did not read the config: $out"
grep -qi 'permission denied' <<<"$out" && fail "the service user cannot read its config: $out"
set +e
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$bin" check --offline --config "$config" 2>&1); code=$?
set -e
[ "$code" -eq 78 ] && grep -q 'permission denied' <<<"$out" || fail "another user was not refused: exit $code: $out"

# 3b. The unit's command (`run`, config from MIMECAST_COLLECTOR_CONFIG) as the service user,
# against the packaged simulator: events land in the state directory, owned by the service.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" sim --listen "127.0.0.1:$port" --events 50 >/dev/null 2>&1 &
sim_pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
state="$root/var/lib/mimecast-collector"
cat > "$config" <<TOML
[collector]
state_path = "$state/state.db"
initial_lookback = "24h"
[sink]
kind = "file"
path = "$state/events.jsonl"
[[tenant]]
name = "demo"
base_url = "http://127.0.0.1:$port"
client_id = "demo-client-id"
client_secret = "demo-client-secret"
streams = ["ttp_url", "audit"]
TOML
perm /etc/mimecast-collector/config.toml 640 0 "$gid"
as_service env MIMECAST_COLLECTOR_CONFIG="$config" timeout 120 "$bin" run --once \
  || fail "run --once as the service user failed"
lines=$(wc -l < "$state/events.jsonl")
[ "$lines" -eq 100 ] || fail "run --once wrote $lines events, want 100"
perm /var/lib/mimecast-collector/events.jsonl 600 "$uid" "$gid"
as_service env MIMECAST_COLLECTOR_CONFIG="$config" "$bin" status >/dev/null \
  || fail "status as the service user failed"
echo "run --once as the service user: $lines events in $state"

# 3c. The packaged logrotate file, run for real against the running daemon: the file is renamed,
# the daemon reopens the path on SIGHUP, and nothing is cut or written twice. (Its `su` line
# names a user this host does not have, the postrotate command a systemd this root does not
# run: those lines are swapped for their equivalents here, and the shard instances' signal is
# dropped, as there are none.)
# setpriv and env exec, so $! is the daemon itself.
setpriv --reuid="$uid" --regid="$gid" --clear-groups \
  env MIMECAST_COLLECTOR_CONFIG="$config" "$bin" run 2>"$state/daemon.log" &
daemon=$!
rotate_conf=$(mktemp)
sed -e "s#/var/lib/mimecast-collector/#$state/#g" \
    -e '/^ *su /d' \
    -e '/mimecast-collector@/d' \
    -e "s#systemctl kill .*#kill -HUP $daemon#" \
    "$root/etc/logrotate.d/mimecast-collector" > "$rotate_conf"
grep -v '^ *#' "$rotate_conf" | grep -qw 'copytruncate' && fail "logrotate must not copytruncate"
for _ in $(seq 100); do
  grep -q 'poll complete' "$state/daemon.log" && break
  sleep 0.1
done
logrotate --force --state "$root/logrotate.state" "$rotate_conf"
for _ in $(seq 100); do
  grep -q 'output file reopened' "$state/daemon.log" && break
  sleep 0.1
done
grep -q 'output file reopened' "$state/daemon.log" || fail "the daemon did not reopen after rotation: $(cat "$state/daemon.log")"
kill -TERM "$daemon"; wait "$daemon" || fail "the daemon did not stop cleanly"
rotated=$(ls "$state"/events.jsonl-* | head -n 1)
[ -e "$state/events.jsonl" ] || fail "no new output file after rotation"
total=$(cat "$rotated" "$state/events.jsonl" | wc -l)
unique=$(cat "$rotated" "$state/events.jsonl" | sort -u | wc -l)
[ "$total" -eq 100 ] && [ "$unique" -eq 100 ] || fail "after rotation: $total lines, $unique distinct, want 100"
rm -f "$rotate_conf"
echo "logrotate: renamed to $(basename "$rotated"), daemon reopened, 100 events, none repeated"

# 4. An upgrade keeps the edited config and its permissions; removal keeps the config.
dpkg_root -i "$deb"
grep -q 'demo-client-id' "$config" || fail "the upgrade replaced the edited config"
perm /etc/mimecast-collector/config.toml 640 0 "$gid"
dpkg_root -r mimecast-collector
[ ! -e "$bin" ] || fail "removal left the binary"
[ -e "$config" ] || fail "removal deleted the config (a conffile stays until purge)"
echo "check-package: ok"
