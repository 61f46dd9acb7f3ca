#!/usr/bin/env bash
# Sets everything up, starts the daemon on 127.0.0.1 with the embedded
# defaults, runs a short demo against it, then keeps the daemon running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export IMAGESMITH_DATA_DIR=${IMAGESMITH_DATA_DIR:-$HOME/.local/share/imagesmith}
export IMAGESMITH_ENDPOINT=${IMAGESMITH_ENDPOINT:-http://127.0.0.1:8787}
node bin/imagesmith.js serve --listen "${IMAGESMITH_ENDPOINT#http://}" &
daemon=$!
trap 'kill $daemon 2>/dev/null' INT TERM
for _ in $(seq 60); do curl -sf "$IMAGESMITH_ENDPOINT/v1/health" >/dev/null && break; sleep 0.5; done
bash scripts/demo.sh
echo
echo "imagesmith is serving on $IMAGESMITH_ENDPOINT (data in $IMAGESMITH_DATA_DIR). Ctrl-C stops it."
wait $daemon
