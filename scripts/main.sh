#!/usr/bin/env bash
# Sets everything up, starts the daemon on 127.0.0.1 with the embedded
# defaults, runs a short demo against it, then keeps the daemon running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export IMAGESMITH_DATA_DIR=${IMAGESMITH_DATA_DIR:-$HOME/.local/share/imagesmith}
export IMAGESMITH_ENDPOINT=${IMAGESMITH_ENDPOINT:-http://127.0.0.1:8787}
mkdir -p "$IMAGESMITH_DATA_DIR" && chmod 700 "$IMAGESMITH_DATA_DIR"
log="$IMAGESMITH_DATA_DIR/daemon.log"
echo "main: starting the daemon on $IMAGESMITH_ENDPOINT (its log: $log)"
node bin/imagesmith.js serve --listen "${IMAGESMITH_ENDPOINT#http://}" >>"$log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null' INT TERM
for _ in $(seq 120); do curl -sf "$IMAGESMITH_ENDPOINT/v1/health" >/dev/null && break; sleep 0.5; done
curl -sf "$IMAGESMITH_ENDPOINT/v1/health" >/dev/null || { echo "main: the daemon did not start; see $log" >&2; exit 1; }
bash scripts/demo.sh
echo
echo "imagesmith is serving on $IMAGESMITH_ENDPOINT (data in $IMAGESMITH_DATA_DIR). Ctrl-C stops it."
wait $daemon
