#!/usr/bin/env bash
# Sets everything up, then runs every test: typecheck, lint, unit, integration (real QEMU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test
