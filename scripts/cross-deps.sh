#!/usr/bin/env bash
# Installs what the arm64 cross build needs (Debian 12 amd64, as root; docs/cross-build.md):
# the cross toolchain, qemu-user and the :arm64 libraries. Skips apt when all is there.
set -euo pipefail

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

