#!/usr/bin/env bash
# Installs everything, then launches the app on its built-in presets.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_BROWSER=1 bash scripts/install.sh
exec python -m streamlit run app.py "$@"
