#!/usr/bin/env bash
# Installs everything, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec python -m pytest -q "$@"
