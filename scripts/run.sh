#!/usr/bin/env bash
# Installs what is missing, builds, and runs the gateway in the foreground.
# Usage: bash scripts/run.sh [CONFIG.toml]
# Without a config, the gateway uses scripts/quickstart.toml (UDP on 127.0.0.1:1883 and [::1]:1883,
# broker tcp://127.0.0.1:1883) and, when nothing listens on 127.0.0.1:1883, starts a local mosquitto
# there as the embedded default broker (stopped again when the gateway exits).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-scripts/quickstart.toml}

bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build -j"$(nproc)" gateway/mqttsn-gateway gateway/tools/mqttsn-pub gateway/tools/mqttsn-sub

broker_pid=
if [ $# -eq 0 ] && ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  conf=$(mktemp)
  printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\n' >"$conf"
  /usr/sbin/mosquitto -c "$conf" >/dev/null 2>&1 &
  broker_pid=$!
  echo "run: started local mosquitto on 127.0.0.1:1883 (pid $broker_pid)"
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.1; done
fi
cleanup() { [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null; true; }
trap cleanup EXIT
trap 'exit 0' INT TERM
build/gateway/mqttsn-gateway --config "$config"
