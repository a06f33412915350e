#!/usr/bin/env bash
# Installs everything, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# Two worker processes (pytest-xdist), each taking whole test files: both cores stay busy
# through the many single-threaded compilations, and the ImageNet tests' big programs are
# compiled in a process that has not also run the app's hundreds of tests.
# TEST_WORKERS=0 runs everything in this process.
exec python -m pytest -q -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
