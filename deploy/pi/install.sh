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
#   - a new virtualenv per release in /opt/shelfsync/releases/<stamp> with the gateway's parts,
#     shelfsync[edge,camera] (pyproject.toml's extras; the cloud's are left out), checked with the
#     release's own `shelfsync check-install` (device libraries import, the camera model loads),
#     then the symlink /opt/shelfsync/current is switched to it atomically; the two newest
#     releases are kept so `ln -sfn` back to the previous one is a rollback
#   - on a 32-bit OS (Raspberry Pi OS armhf) shelfsync[edge] alone, without the camera part:
#     onnxruntime, which runs the camera model, has no build for it (nor has PyPI OpenCV or
#     numpy). Cameras need the 64-bit OS; RFID readers, weight shelves and the POS webhook work
#     on either.
#   - journald limits for an SD card (/etc/systemd/journald.conf.d/shelfsync.conf)
#   - the systemd unit shelfsync-gateway.service, enabled; (re)started when
#     /etc/shelfsync/store.toml exists
# An upgrade is the same command: it never touches /var/lib/shelfsync, so deltas still in the
# outbox are published by the new release. The service is stopped only for the symlink switch.
# A release that fails to install or to run is removed and the current one stays.
#
# Tests only: SHELFSYNC_INSTALL_ROOT=DIR puts every path under DIR and skips apt, users, owners
# and systemctl (the virtualenvs it makes are not relocatable: not a way to build images);
# SHELFSYNC_INSTALL_ARCH=armhf|arm64|... stands for `dpkg --print-architecture`.
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
# The Debian architectures onnxruntime publishes Linux wheels for (manylinux x86_64, aarch64):
# there the gateway gets its camera part (the extra [camera]: OpenCV, numpy, onnxruntime).
CAMERA_ARCHES="amd64 arm64"

here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/../.." && pwd)
source_spec=$checkout
wheels=""
start=true
staged=false
[ -z "$root" ] || staged=true

usage() {
    # The header comment above, up to the first line that is not a comment.
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
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

# The userland's architecture, not the kernel's: Raspberry Pi OS 32-bit runs a 64-bit kernel
# on a Pi 4 or 5 (uname -m says aarch64) while every binary, Python's included, is armhf.
arch=${SHELFSYNC_INSTALL_ARCH:-$(dpkg --print-architecture 2>/dev/null || uname -m)}
camera=false
case " $CAMERA_ARCHES x86_64 aarch64 " in
    *" $arch "*) camera=true ;;
esac
if $camera; then
    step "architecture $arch: the gateway with cameras"
else
    step "architecture $arch: the gateway WITHOUT cameras"
    cat <<WHY
    Shelf cameras need a 64-bit OS: onnxruntime, which runs the camera model, has no build for
    $arch (nor has PyPI OpenCV or numpy). This installs everything else: RFID readers, weight
    shelves, the POS webhook, alerts. A [camera] section in store.toml stops the gateway at start
    with this reason. For cameras, install Raspberry Pi OS (64-bit) and run this again.
WHY
fi

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
pip_install() {
    if [ -n "$wheels" ]; then
        pip_into_release install --quiet --no-index --find-links "$wheels" "$@"
    else
        pip_into_release install --quiet "$@"
    fi
}
extras=edge
! $camera || extras=edge,camera
# SOURCE with the extras, as pip spells it: a checkout or a wheel file takes [extras] after its
# path, a requirement ("shelfsync==0.2.0") after its name (extras it names are replaced).
if [ -e "$source_spec" ]; then
    spec="$(cd "$(dirname "$source_spec")" && pwd)/$(basename "$source_spec")[$extras]"
else
    spec=$(printf '%s\n' "$source_spec" | sed -E "s/^([A-Za-z0-9._-]+)(\[[^]]*\])?/\1[$extras]/")
fi
step "shelfsync[$extras] from $source_spec"
pip_install "$spec"
# `shelfsync --help` imports no device library: the release checks itself on this machine.
check_args=""
! $camera || check_args=--camera
# shellcheck disable=SC2086  # no argument or one
"$release/bin/shelfsync" check-install $check_args \
    || die "the new release does not work on this machine (above); $PREFIX/current is unchanged"
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
