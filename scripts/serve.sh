#!/usr/bin/env bash
# The README's main command. Until the HTTPS service lands (issue 4) it bootstraps a
# data dir and walks the CA through one round: CAs, a server and a client certificate,
# a CRL, an openssl hash directory, and openssl verifying against it.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-certward-data}"
cw() { .venv/bin/certward --data-dir "$DATA" "$@"; }

cw init
cw ca show root >/dev/null 2>&1 || cw ca create root --subject "/CN=certward Root CA/O=certward"
cw ca show issuing >/dev/null 2>&1 || cw ca create issuing --parent root --subject "/CN=certward Issuing CA/O=certward"
OUT="$DATA/demo"
cw cert issue --ca issuing --profile server --cn localhost --san DNS:localhost --san IP:127.0.0.1 --out "$OUT" --force
cw cert issue --ca issuing --profile client --cn demo-client --out "$OUT" --pkcs12 --force
cw crl publish --ca issuing
cw crl publish --ca root
cw hashdir sync "$DATA/hashdir" --ca root --ca issuing --crl
openssl verify -CApath "$DATA/hashdir" -crl_check_all "$OUT/demo-client.crt"
cw cert list --limit 10
echo
echo "certward data dir: $DATA (certificates in $OUT, hash dir in $DATA/hashdir)"
