#!/usr/bin/env bash
# Cross-builds the gateway and the unit tests for arm64 (Raspberry Pi) and runs the unit tests
# under qemu-user. Usage: bash scripts/cross-test.sh [BUILD_DIR]   (Debian 12 amd64, as root)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-arm64}

bash scripts/cross-deps.sh

[ -f "$build/build.ninja" ] || meson setup --cross-file scripts/cross-aarch64.ini "$build" >/dev/null
ninja -C "$build" -j"$(nproc)" gateway/mqttsn-gateway tests/codec/codec_tests \
  tests/session/session_tests tests/runtime/runtime_tests tests/routing/routing_tests tests/dtls/dtls_unit
file "$build/gateway/mqttsn-gateway" | grep -q 'ARM aarch64'
meson test -C "$build" --no-rebuild --print-errorlogs codec_tests session_tests runtime_tests routing_tests \
  example_config dtls_unit
