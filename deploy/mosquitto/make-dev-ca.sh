#!/bin/sh
# Make a development fleet CA and a broker (server) certificate signed by it.
#
#   deploy/mosquitto/make-dev-ca.sh DIR [HOST_OR_IP ...]
#
# Writes DIR/ca.key DIR/ca.crt (the fleet CA: it signs the broker's certificate and every store's
# client certificate) and DIR/server.key DIR/server.crt, valid for the names given (default:
# localhost 127.0.0.1 ::1). Re-running keeps an existing CA and reissues the server certificate,
# so store certificates already signed stay valid.
#
# For production, keep ca.key offline (or use your own PKI) — whoever holds it can mint a
# certificate for any store.
#
# Example: deploy/mosquitto/make-dev-ca.sh /etc/mosquitto/shelfsync broker.example.com 10.0.0.5
set -eu

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    usage
    [ $# -ge 1 ] && exit 0
    exit 2
fi
dir=$1
shift
[ $# -gt 0 ] || set -- localhost 127.0.0.1 ::1

command -v openssl >/dev/null 2>&1 || { echo "make-dev-ca.sh: openssl is not installed" >&2; exit 1; }
umask 077
mkdir -p "$dir"

# subjectAltName: IP addresses as IP:, everything else as DNS: (RFC 6125 checks SANs, not the CN).
san=""
for name in "$@"; do
    case $name in
        *:*|*[0-9].*[0-9].*[0-9].*[0-9]) entry="IP:$name" ;;
        *) entry="DNS:$name" ;;
    esac
    san="${san:+$san,}$entry"
done

# P-256 keys: small, fast on a Raspberry Pi, supported by every TLS 1.2 stack.
if [ ! -f "$dir/ca.key" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 3650 \
        -subj "/O=shelfsync/CN=shelfsync fleet CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$dir/ca.crt"
    echo "made fleet CA $dir/ca.crt"
else
    echo "keeping existing fleet CA $dir/ca.crt"
fi

ext=$(mktemp)
trap 'rm -f "$ext" "$dir/server.csr"' EXIT
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$san" >"$ext"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/server.key" 2>/dev/null
openssl req -new -key "$dir/server.key" -subj "/O=shelfsync/CN=$1" -out "$dir/server.csr"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$ext" \
    -out "$dir/server.crt" 2>/dev/null
# The broker (user mosquitto) and clients read the certificates; only the keys stay private.
chmod 644 "$dir/ca.crt" "$dir/server.crt"
# Mosquitto 2.0 loads its key after dropping to user mosquitto, so that group must read it.
if getent group mosquitto >/dev/null 2>&1; then
    chgrp mosquitto "$dir/server.key" && chmod 640 "$dir/server.key"
fi
echo "made broker certificate $dir/server.crt for $san"
