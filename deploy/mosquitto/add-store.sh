#!/bin/sh
# Add (or rotate) one store's credential on the shelfsync broker — ARCHITECTURE §5.
#
#   deploy/mosquitto/add-store.sh [--password] [--cert] [--dir DIR] [--out DIR] STORE
#
# STORE is the store id ([a-z0-9-]{1,32}, not beginning with "cloud"; e.g. sh-0042); it becomes
# the gateway's MQTT username and client id, which the broker ACL binds to
# shelfsync/v1/store/STORE/... Choose one or both of:
#   --password  add STORE to DIR/passwd (mosquitto_passwd hash). The password is read from
#               stdin when stdin is not a terminal, otherwise generated; it is written to
#               OUT/STORE.password (mode 600) for the gateway's store.toml. Port 8883.
#   --cert      issue OUT/STORE.key + OUT/STORE.crt (CN=STORE, clientAuth) signed by the fleet CA
#               DIR/ca.crt + DIR/ca.key; copy them and DIR/ca.crt to the gateway. Port 8884.
# Default: --password. DIR defaults to /etc/mosquitto/shelfsync, OUT to ./STORE.
# Re-running rotates the credential. Then reload the broker: systemctl reload mosquitto
#
# Example: printf '%s' "$SECRET" | deploy/mosquitto/add-store.sh --password --cert sh-0042
set -eu

usage() {
    # The header comment above, up to the first line that is not a comment.
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
}
die() {
    echo "add-store.sh: $*" >&2
    exit 2
}

dir=/etc/mosquitto/shelfsync
out=""
want_password=false
want_cert=false
store=""
while [ $# -gt 0 ]; do
    case $1 in
        --password) want_password=true ;;
        --cert) want_cert=true ;;
        --dir) [ $# -ge 2 ] || die "--dir needs a directory"; dir=$2; shift ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [ -z "$store" ] || die "one store at a time (got $store and $1)"; store=$1 ;;
    esac
    shift
done
[ -n "$store" ] || { usage >&2; exit 2; }
$want_password || $want_cert || want_password=true
out=${out:-./$store}

# The id fills one topic level of the ACL's %u patterns: no '/', '+', '#', nothing uppercase (§5).
if ! printf '%s' "$store" | grep -Eqx '[a-z0-9-]{1,32}'; then
    die "store id '$store' must match [a-z0-9-]{1,32} (ARCHITECTURE §5)"
fi
# The broker makes a store's id its MQTT client id (use_username_as_clientid), and the cloud
# workers' client ids are cloud-<worker>: a store whose id began with "cloud" could take over a
# worker's session. The whole prefix is reserved for the cloud.
case $store in
    cloud*) die "store ids beginning with 'cloud' are reserved for the cloud workers" ;;
esac

umask 077
mkdir -p "$out"

if $want_password; then
    command -v mosquitto_passwd >/dev/null 2>&1 || die "mosquitto_passwd not found (apt-get install mosquitto)"
    if [ -t 0 ]; then
        password=$(openssl rand -base64 24)
    else
        password=$(cat)
        [ -n "$password" ] || die "empty password on stdin"
    fi
    case $password in *:*) die "a password must not contain ':'" ;; esac
    # Hash a one-line "user:password" file with -U so the password never appears in argv (ps).
    plain=$(mktemp "$dir/.add-store.XXXXXX")
    trap 'rm -f "$plain"' EXIT
    printf '%s:%s\n' "$store" "$password" >"$plain"
    mosquitto_passwd -U "$plain"
    touch "$dir/passwd"
    # Replace any earlier line for this store: re-running rotates the password.
    { grep -v "^$store:" "$dir/passwd" || true; cat "$plain"; } >"$plain.new"
    mv "$plain.new" "$dir/passwd"
    # The broker runs as user mosquitto and must read the hashes.
    if getent group mosquitto >/dev/null 2>&1; then
        chgrp mosquitto "$dir/passwd" && chmod 640 "$dir/passwd"
    fi
    printf '%s\n' "$password" >"$out/$store.password"
    echo "password for $store added to $dir/passwd; gateway copy in $out/$store.password"
fi

if $want_cert; then
    if [ ! -f "$dir/ca.crt" ] || [ ! -f "$dir/ca.key" ]; then
        die "no fleet CA in $dir (run make-dev-ca.sh $dir first)"
    fi
    ext=$(mktemp)
    trap 'rm -f "$ext" "$out/$store.csr" ${plain:+"$plain"}' EXIT
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$ext"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/$store.key" 2>/dev/null
    # use_identity_as_username takes the CN: the CN is the store id, nothing else.
    openssl req -new -key "$out/$store.key" -subj "/O=shelfsync/CN=$store" -out "$out/$store.csr"
    openssl x509 -req -in "$out/$store.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$ext" \
        -out "$out/$store.crt" 2>/dev/null
    cp "$dir/ca.crt" "$out/ca.crt"
    echo "certificate for $store in $out/$store.crt (key $out/$store.key, CA $out/ca.crt)"
fi
echo "reload the broker to apply: systemctl reload mosquitto"
