#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite.
# Usage: bash scripts/test.sh [BUILD_DIR] [extra meson setup options...]
# Ends with the line "tests: N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true

bash scripts/deps.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$@" || { echo "tests: 0 passed, 1 failed"; exit 1; }
fi
ninja -C "$build" -j"$(nproc)" || { echo "tests: 0 passed, 1 failed"; exit 1; }
meson test -C "$build" --print-errorlogs --num-processes "$(nproc)" --timeout-multiplier "${TIMEOUT_MULTIPLIER:-1}"
rc=$?
/usr/bin/python3 scripts/count_tests.py "$build/meson-logs/testlog.json"
exit $rc
