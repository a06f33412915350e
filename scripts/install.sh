#!/usr/bin/env bash
# Installs everything the project needs on a bare machine: Python packages and, from
# Debian's packages, chromium (the end-to-end browser test) and g++ (the native
# depthwise kernel of imagenet/native/, compiled on first use; without it the ImageNet
# models fall back to a slower formulation). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# The project itself, editable (pyproject.toml): its packages import from any folder and
# its command lines are on PATH (robustness-categories, robustness-imagenet, robustness-bench).
python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
missing=()
if [ "${SKIP_BROWSER:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi
if ! command -v g++ >/dev/null 2>&1 && [ -z "${CXX:-}" ]; then
  missing+=(g++)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = "0" ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
