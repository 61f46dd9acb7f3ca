#!/usr/bin/env bash
# The main job, against a running daemon: launch an instance, change it, capture
# a generalized image while it keeps running, launch two instances from that
# image, show that each has its own identity, and read one admin password with
# the key pair's private key. Uses the tiny test guest, which boots in seconds
# under TCG; `guest build --distro debian-12` gives a real Debian cloud image.
set -euo pipefail
cd "$(dirname "$0")/.."
ism() { node bin/imagesmith.js "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
json() { node -e "const d=JSON.parse(require('fs').readFileSync(0,'utf8')); console.log(eval('d'+process.argv[1]))" "$1"; }
step() { printf '\n== %s\n' "$*"; }
tag=$(date +%s)

step "building the tiny test guest (cached by content)"
ism guest build --out "$work/tiny.qcow2" >/dev/null
step "key pair demo-$tag (the private key exists only in $work)"
ism keypair create --name "demo-$tag" --out "$work/key.pem" >/dev/null
step "importing the guest as an image"
base=$(ism --output json image import --file "$work/tiny.qcow2" --name "tiny-$tag" --os linux | json .id)
echo "image $base"

step "launching an instance and waiting until the guest is ready"
src=$(ism --output json instance run --image "$base" --key "demo-$tag" | json '[0].id')
ism instance wait ready "$src" >/dev/null
ism instance ssh "$src" --key "$work/key.pem" -- 'echo "hello from $(hostname)" > /root/app.conf; sync; echo "wrote /root/app.conf on $(hostname)"'

step "capturing a generalized image while $src keeps running (a copy is generalized, not the instance)"
golden=$(ism --output json image create --instance "$src" --name "golden-$tag" --generalize --no-reboot | json .id)
ism image wait available "$golden" >/dev/null
ism --output json image show "$golden" | node -e 'const i = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(`image ${i.id}: ${i.osState}, read ${i.consistency}, ${i.state}`)'
echo "source $src is still $(ism --output json instance show "$src" | json .state)"

step "launching two instances from the golden image"
read -r a b < <(ism --output json instance run --image "$golden" --key "demo-$tag" --count 2 --admin-password random | json '.map(i => i.id).join(" ")')
ism instance wait ready "$a" "$b" >/dev/null
for i in "$src" "$a" "$b"; do
  ism instance ssh "$i" --key "$work/key.pem" -- 'printf "hostname=%-22s machine-id=%s app.conf=%s\n" "$(hostname)" "$(cat /etc/machine-id)" "$(cat /root/app.conf 2>/dev/null || echo -)"'
done

step "the admin password of $a, decrypted here with the private key (the daemon only has the ciphertext)"
echo "password: $(ism instance get-password "$a" --key "$work/key.pem")"

step "the same images through the EC2 endpoint, with Debian's AWS CLI and an access key"
key=$(ism --output json accesskey create)
export AWS_ACCESS_KEY_ID=$(echo "$key" | json .accessKeyId) AWS_SECRET_ACCESS_KEY=$(echo "$key" | json .secretAccessKey) AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
/usr/bin/aws --endpoint-url "${IMAGESMITH_EC2_ENDPOINT:-http://127.0.0.1:8788/ec2/}" ec2 describe-images --filters "Name=name,Values=*-$tag" \
  --query 'Images[].[ImageId, Name, State, Tags[?Key==`imagesmith:os-state`].Value | [0]]' --output text
ism accesskey delete "$AWS_ACCESS_KEY_ID"

step "cleaning up"
for i in "$src" "$a" "$b"; do ism instance terminate "$i" >/dev/null; done
ism instance wait terminated "$src" "$a" "$b" >/dev/null
ism keypair delete "demo-$tag"
echo "done: the images $base and $golden stay available"
