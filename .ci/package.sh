#!/usr/bin/env bash
# CI step (issue 18 point 7, SPEC §9 "Packages"): `make dist`, then the
# Debian package for this machine's architecture installed with dpkg -i,
# the installed tolk run as its unit runs it (user tolk, --config
# /etc/tolk/tolk.yaml, state in /var/lib/tolk, no capabilities, no new
# privileges) until its readiness endpoint answers, then removed and
# purged, checking what each step leaves. systemd is not running in CI, so
# this also shows that the package scripts do without it. Safe to run
# again where it ran before: a package left by an interrupted run is
# purged first.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

need=()
command -v make >/dev/null 2>&1 || need+=(make)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

fail() { echo "package: $*" >&2; exit 1; }

pkg_pid=""
pkg_dir=$(mktemp -d)
pkg_stop() {
  if [ -n "$pkg_pid" ]; then kill "$pkg_pid" 2>/dev/null || true; wait "$pkg_pid" 2>/dev/null || true; fi
  rm -rf "$pkg_dir"
}
trap pkg_stop EXIT

if dpkg-query -W tolk >/dev/null 2>&1; then
  echo "package: purging the tolk package an earlier run left"
  dpkg --purge tolk >/dev/null
fi

make dist
deb=$(ls dist/tolk_*_"$(dpkg --print-architecture)".deb)
echo "package: built $(ls dist/*.deb | tr '\n' ' ')"
[ "$(dpkg-deb --info "$deb" conffiles)" = /etc/tolk/tolk.yaml ] || fail "/etc/tolk/tolk.yaml is not the conffile"

# Installed twice: the second time is the upgrade path of the scripts.
dpkg -i "$deb" >/dev/null
dpkg -i "$deb" >/dev/null
getent passwd tolk >/dev/null || fail "no tolk user"
[ "$(stat -c '%U:%G %a' /etc/tolk/tolk.yaml)" = "root:tolk 640" ] || fail "/etc/tolk/tolk.yaml is $(stat -c '%U:%G %a' /etc/tolk/tolk.yaml)"
[ "$(stat -c '%U:%G %a' /var/lib/tolk)" = "tolk:tolk 750" ] || fail "/var/lib/tolk is $(stat -c '%U:%G %a' /var/lib/tolk)"
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify /usr/lib/systemd/system/tolk.service
fi

/usr/bin/tolk version
version_json=$(/usr/bin/tolk version --json)
grep -q "\"revision\": *\"$(git rev-parse HEAD)\"" <<<"$version_json" || fail "the installed tolk does not name commit $(git rev-parse HEAD): $version_json"

as_tolk() { setpriv --reuid=tolk --regid=tolk --init-groups --no-new-privs --bounding-set=-all --inh-caps=-all -- "$@"; }

# docs/operations.md's first step: an administrative command run by hand
# as tolk creates the database and the first admin (its password on
# stderr, here discarded).
users=$(TOLK_ADMIN_PASSWORD= as_tolk /usr/bin/tolk --config /etc/tolk/tolk.yaml user list 2>"$pkg_dir/bootstrap.log") ||
  { cat "$pkg_dir/bootstrap.log"; fail "tolk user list as tolk failed"; }
grep -q '"userName": *"admin"' <<<"$users" || fail "tolk user list named no admin: $users"

# A random port may be taken by something else on the machine: one that
# is in use is tried again with another, up to five times; "tolk
# listening" in the log says tolk itself bound it.
ready=""
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 20000))
  # setpriv execs tolk itself (no process in between), as the unit's User=,
  # NoNewPrivileges= and empty CapabilityBoundingSet= would.
  (cd /var/lib/tolk && umask 077 && exec setpriv --reuid=tolk --regid=tolk --init-groups --no-new-privs \
    --bounding-set=-all --inh-caps=-all -- /usr/bin/tolk serve --config /etc/tolk/tolk.yaml --addr "127.0.0.1:$port") \
    >"$pkg_dir/serve.log" 2>&1 &
  pkg_pid=$!
  for _ in $(seq 1 150); do
    if grep -q 'tolk listening' "$pkg_dir/serve.log" &&
      curl -fsS "http://127.0.0.1:$port/health/ready" >"$pkg_dir/ready" 2>/dev/null; then ready=1; break; fi
    kill -0 "$pkg_pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$ready" ] && break
  wait "$pkg_pid" 2>/dev/null || true
  pkg_pid=""
  grep -q 'address already in use' "$pkg_dir/serve.log" || break
done
[ -n "$ready" ] || { cat "$pkg_dir/serve.log"; fail "the installed tolk did not answer /health/ready"; }
echo "package: /health/ready answered $(cat "$pkg_dir/ready")"
[ "$(stat -c %U /var/lib/tolk/tolk.db)" = tolk ] || fail "/var/lib/tolk/tolk.db is not the tolk user's"
kill -TERM "$pkg_pid"
code=0; wait "$pkg_pid" || code=$?
pkg_pid=""
[ "$code" = 0 ] || { cat "$pkg_dir/serve.log"; fail "tolk serve exited $code on SIGTERM"; }

dpkg -r tolk >/dev/null
[ ! -e /usr/bin/tolk ] || fail "dpkg -r left /usr/bin/tolk"
[ -f /var/lib/tolk/tolk.db ] || fail "dpkg -r deleted the database"
[ -f /etc/tolk/tolk.yaml ] || fail "dpkg -r deleted the conffile"
dpkg --purge tolk >/dev/null
[ ! -e /var/lib/tolk ] || fail "dpkg --purge left /var/lib/tolk"
[ ! -e /etc/tolk ] || fail "dpkg --purge left /etc/tolk"
! dpkg-statoverride --list /etc/tolk/tolk.yaml >/dev/null || fail "dpkg --purge left the statoverride"

echo "package: built, installed, served, removed and purged in $((SECONDS - start)) s"
