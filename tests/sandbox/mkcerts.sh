#!/bin/sh
# Makes a throwaway CA and a server certificate for localhost/127.0.0.1 in
# DIR (ca.pem, server.pem, server.key), plus an unrelated CA with its own
# server certificate (other-ca.pem, other-server.pem, other-server.key) for
# tests of a certificate kefud must refuse.  Keeps what is already there.
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
[ -s server.pem ] && [ -s other-server.pem ] && exit 0

mk() { # prefix
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 3650 -subj "/CN=kefu sandbox $1CA" \
	    -keyout "$1ca.key" -out "$1ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -subj "/CN=localhost" -keyout "$1server.key" -out "$1server.csr" \
	    2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >"$1ext.cnf"
	openssl x509 -req -in "$1server.csr" -CA "$1ca.pem" -CAkey "$1ca.key" \
	    -CAcreateserial -days 3650 -extfile "$1ext.cnf" \
	    -out "$1server.pem" 2>/dev/null
	rm -f "$1server.csr" "$1ext.cnf" "$1ca.srl"
}
mk ""
mk other-
chmod 600 ./*.key
