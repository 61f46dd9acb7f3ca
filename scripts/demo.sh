#!/usr/bin/env bash
# A short tour against a running daemon: build the tiny guest, import it,
# launch an instance, log in over SSH, then clean up.
set -euo pipefail
cd "$(dirname "$0")/.."
ism() { node bin/imagesmith.js "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
json() { node -e "const d=JSON.parse(require('fs').readFileSync(0,'utf8')); console.log(eval('d'+process.argv[1]))" "$1"; }

echo "== building the tiny test guest"
ism guest build --out "$work/tiny.qcow2"
echo "== key pair demo-key (private key only in $work)"
ism keypair delete demo-key 2>/dev/null || true
ism keypair create --name demo-key --out "$work/demo-key.pem"
echo "== importing the guest as an image"
name="tiny-demo-$(date +%s)"
image=$(ism --output json image import --file "$work/tiny.qcow2" --name "$name" --os linux | json .id)
ism image show "$image"
echo "== launching an instance and waiting until it reports ready"
inst=$(ism --output json instance run --image "$image" --key demo-key | json '[0].id')
ism instance wait running "$inst"
echo "== logging in over SSH"
ism instance ssh "$inst" --key "$work/demo-key.pem" -- 'echo "hostname: $(hostname)"; echo "machine-id: $(cat /etc/machine-id)"'
echo "== terminating"
ism instance terminate "$inst" >/dev/null
ism instance wait terminated "$inst"
