#!/bin/sh
# Both broker modes side by side in one bench run:
#   MQTTSN_BENCH_GATEWAY=build-rel/gateway/mqttsn-gateway \
#   build-rel/tests/bench/mqttsn-bench --mode aggregating --compare tests/bench/as_transparent.sh
# The bench writes aggregating-mode configurations; this runs the same gateway binary with each of
# them switched to [broker] mode = "transparent" (the "before" column is then transparent mode).
set -eu
gw=${MQTTSN_BENCH_GATEWAY:?set MQTTSN_BENCH_GATEWAY to the gateway binary}
out=""
want_config=0
for arg in "$@"; do
  if [ "$want_config" = 1 ]; then
    sed 's/^mode = "aggregating"/mode = "transparent"/' "$arg" > "$arg.transparent.toml"
    arg="$arg.transparent.toml"
    want_config=0
  elif [ "$arg" = "--config" ]; then
    want_config=1
  fi
  out="$out $(printf "'%s'" "$arg")"
done
eval "exec \"\$gw\" $out"
