#!/usr/bin/env bash
# Installs what the build, the gateway and the tests need on Debian 12 (run as root).
# Skips apt entirely when everything is already there.
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config cmake
  libuv1-dev libsdbus-c++-dev libsystemd-dev libpaho-mqttpp-dev libpaho-mqtt-dev
  libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev doctest-dev libsqlite3-dev libssl-dev
  libhttp-parser-dev
  # run: the embedded default broker
  mosquitto
  # tests: broker-side client, independent decoder, BLE fake on a private bus
  mosquitto-clients python3 python3-pytest python3-paho-mqtt python3-scapy python3-dbus python3-gi
  dbus systemd openssl
  # tests: RabbitMQ as a second broker (tests/rabbitmq starts its own node; apt starts none
  # without systemd, and the policy-rc.d of CI containers forbids it anyway)
  rabbitmq-server
  # CI: clang build with sanitizers, libFuzzer, formatting
  clang-14 libclang-rt-14-dev clang-format-14
  # packages (scripts/package.sh) and their checks; promtool for the /metrics tests
  dpkg-dev fakeroot lintian file prometheus
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The tests start their own RabbitMQ node; on a machine with systemd, apt has just started and
# enabled a system-wide one: stop it (it would hold port 5672 and ~140 MB).
if [[ " ${missing[*]-} " == *" rabbitmq-server "* ]] && [ -d /run/systemd/system ]; then
  systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
fi
