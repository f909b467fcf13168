#!/bin/sh
# Install or upgrade the shelfsync store gateway on Raspberry Pi OS / Debian (bookworm or later).
#
#   sudo deploy/pi/install.sh [--from SOURCE] [--wheels DIR] [--no-start]
#
# SOURCE is what pip installs: this checkout (default), a wheel file, or a requirement such as
# "shelfsync==0.2.0". --wheels DIR installs offline from a directory of wheels (no index).
#
# What it does, each step safe to repeat:
#   - apt packages: python3 (>= 3.11), python3-venv, mosquitto-clients (for checks)
#   - system user "shelfsync" (no login, no home) in the groups dialout (serial shelves,
#     scanners) and video (USB cameras)
#   - /etc/shelfsync (config + credentials, root:shelfsync 0750) and /var/lib/shelfsync
#     (the outbox, shelfsync:shelfsync 0750)
#   - a new virtualenv per release in /opt/shelfsync/releases/<stamp>, then the symlink
#     /opt/shelfsync/current is switched to it atomically; the two newest releases are kept so
#     `ln -sfn` back to the previous one is a rollback
#   - journald limits for an SD card (/etc/systemd/journald.conf.d/shelfsync.conf)
#   - the systemd unit shelfsync-gateway.service, enabled; (re)started when
#     /etc/shelfsync/store.toml exists
# An upgrade is the same command: it never touches /var/lib/shelfsync, so deltas still in the
# outbox are published by the new release. The service is stopped only for the symlink switch.
# A release that fails to install or to run is removed and the current one stays.
#
# Tests only: SHELFSYNC_INSTALL_ROOT=DIR puts every path under DIR and skips apt, users, owners
# and systemctl (the virtualenvs it makes are not relocatable: not a way to build images).
#
# Example: sudo deploy/pi/install.sh --from dist/shelfsync-0.2.0-py3-none-any.whl
set -eu

root=${SHELFSYNC_INSTALL_ROOT:-}
PREFIX=$root/opt/shelfsync
ETC=$root/etc/shelfsync
STATE=$root/var/lib/shelfsync
UNIT_DIR=$root/etc/systemd/system
JOURNALD_DIR=$root/etc/systemd/journald.conf.d
UNIT=shelfsync-gateway.service
KEEP_RELEASES=2

here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/../.." && pwd)
source_spec=$checkout
wheels=""
start=true
staged=false
[ -z "$root" ] || staged=true

usage() {
    sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
}
die() {
    echo "install.sh: $*" >&2
    exit 1
}
step() {
    echo "==> $*"
}
# Commands that change the host itself (packages, users, owners, services): skipped when staged.
host() {
    if $staged; then
        echo "    (staged, skipped: $*)"
    else
        "$@"
    fi
}

while [ $# -gt 0 ]; do
    case $1 in
        --from) [ $# -ge 2 ] || die "--from needs a path or requirement"; source_spec=$2; shift ;;
        --wheels) [ $# -ge 2 ] || die "--wheels needs a directory"; wheels=$2; shift ;;
        --no-start) start=false ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done

if ! $staged; then
    [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
    [ -d /run/systemd/system ] || die "systemd is not running here; the gateway needs it (Type=notify, watchdog)"
fi

step "apt packages"
missing=""
if ! $staged; then
    for package in python3 python3-venv python3-pip mosquitto-clients; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
            || missing="$missing $package"
    done
fi
if [ -n "$missing" ]; then
    apt-get update
    # shellcheck disable=SC2086  # a list of package names
    DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "python3 is $(python3 -V 2>&1); shelfsync needs 3.11 or newer (Debian bookworm)"

step "user shelfsync (groups dialout, video)"
if ! $staged && ! id shelfsync >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/shelfsync --no-create-home \
        --shell /usr/sbin/nologin --comment "shelfsync gateway" shelfsync
fi
for group in dialout video; do
    if getent group "$group" >/dev/null; then
        host usermod -a -G "$group" shelfsync
    fi
done

step "directories $ETC $STATE"
# mkdir -p on an existing directory changes nothing: the outbox inside is left alone.
mkdir -p "$ETC" "$STATE" "$PREFIX/releases"
chmod 0750 "$ETC" "$STATE"
host chown root:shelfsync "$ETC"
host chown shelfsync:shelfsync "$STATE"

stamp=$PREFIX/releases/$(date -u +%Y%m%dT%H%M%SZ)
release=$stamp
n=1
while [ -e "$release" ]; do
    n=$((n + 1))
    release=$stamp-$n
done
# A release that fails to build is removed, so it can never crowd a good one out of the kept set.
trap 'rm -rf "$release"' EXIT
step "virtualenv $release"
# Without its own pip: the host's pip (>= 22.3, --python) installs into it. Faster on a Pi, and a
# release is never upgraded in place anyway.
python3 -m venv --without-pip "$release"
pip_into_release() {
    python3 -m pip --python "$release/bin/python" --disable-pip-version-check "$@"
}
pip_into_release --version >/dev/null 2>&1 \
    || die "python3 -m pip is missing or older than 22.3 (apt-get install python3-pip)"
if [ -n "$wheels" ]; then
    pip_into_release install --quiet --no-index --find-links "$wheels" "$source_spec"
else
    pip_into_release install --quiet "$source_spec"
fi
"$release/bin/shelfsync" --help >/dev/null || die "the new release does not run; $PREFIX/current is unchanged"
# Ship the deploy docs with the release (the unit's Documentation= points here).
if [ -d "$checkout/deploy" ]; then
    mkdir -p "$release/share/shelfsync"
    cp -R "$checkout/deploy" "$release/share/shelfsync/"
fi

step "journald limits"
mkdir -p "$JOURNALD_DIR"
cat >"$JOURNALD_DIR/shelfsync.conf" <<'CONF'
# shelfsync gateway (deploy/pi/install.sh): logs go to the journal, not to files, so there is
# nothing for logrotate to do. Cap what an SD card holds and keep a month for support.
[Journal]
Storage=persistent
SystemMaxUse=200M
SystemKeepFree=500M
MaxRetentionSec=1month
CONF
host systemctl try-restart systemd-journald.service || true

step "systemd unit $UNIT"
mkdir -p "$UNIT_DIR"
cp "$checkout/deploy/systemd/$UNIT" "$UNIT_DIR/$UNIT"
chmod 0644 "$UNIT_DIR/$UNIT"
host systemctl daemon-reload
host systemctl enable "$UNIT" >/dev/null

was_active=false
if ! $staged && systemctl is-active --quiet "$UNIT"; then
    was_active=true
    # The gateway commits its outbox on SIGTERM; the new release picks up where it stopped.
    step "stopping the running gateway for the switch"
    systemctl stop "$UNIT"
fi
ln -sfn "$release" "$PREFIX/current.new"
mv -T "$PREFIX/current.new" "$PREFIX/current"
trap - EXIT
echo "current release: $release"

# Keep the newest releases (the current one among them) for rollback.
# shellcheck disable=SC2012  # names are our own timestamps, no odd characters
ls -1d "$PREFIX"/releases/* | sort -r | tail -n +$((KEEP_RELEASES + 1)) | while read -r old; do
    [ "$old" = "$release" ] || rm -rf "$old"
done

if [ -f "$ETC/store.toml" ]; then
    if $start || $was_active; then
        step "starting $UNIT"
        host systemctl start "$UNIT"
        host systemctl --no-pager --lines=5 status "$UNIT" || true
    fi
else
    cat <<NEXT
Installed. Before the first start:
  1. write $ETC/store.toml (store id, broker URL + credential, devices; see
     $release/share/shelfsync/deploy/README.md)
  2. put the store's broker credential beside it (deploy/mosquitto/add-store.sh on the broker
     host), readable by the service: chgrp shelfsync $ETC/*; chmod 640 $ETC/*
  3. systemctl start $UNIT && journalctl -fu $UNIT
NEXT
fi
