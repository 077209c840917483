#!/usr/bin/env bash
# Cross-builds the gateway and the unit tests for arm64 (Raspberry Pi) and runs the unit tests
# under qemu-user. Usage: bash scripts/cross-test.sh [BUILD_DIR]   (Debian 12 amd64, as root)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-arm64}

arm64_packages=(libuv1-dev:arm64 libpaho-mqtt-dev:arm64 libpaho-mqttpp-dev:arm64
  libsdbus-c++-dev:arm64 libsystemd-dev:arm64 libspdlog-dev:arm64 libfmt-dev:arm64
  libtomlplusplus-dev:arm64 libssl-dev:arm64 libsqlite3-dev:arm64
  libhttp-parser2.9:arm64)
missing=()
for p in crossbuild-essential-arm64 qemu-user "${arm64_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "cross: installing ${missing[*]}"
  dpkg --add-architecture arm64
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The :arm64 -dev packages must match the amd64 versions (multi-arch): upgrade those first.
  apt-get install -y -qq --no-install-recommends --only-upgrade libuv1 libssl3 libsystemd0 libsqlite3-0 libhttp-parser2.9 >/dev/null || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -f "$build/build.ninja" ] || meson setup --cross-file scripts/cross-aarch64.ini "$build" >/dev/null
ninja -C "$build" -j"$(nproc)" gateway/mqttsn-gateway tests/codec/codec_tests \
  tests/session/session_tests tests/runtime/runtime_tests
file "$build/gateway/mqttsn-gateway" | grep -q 'ARM aarch64'
meson test -C "$build" --no-rebuild --print-errorlogs codec_tests session_tests runtime_tests example_config
