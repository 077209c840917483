#!/bin/sh
# Runs the codec fuzz target for SECONDS on a scratch copy of the committed seed corpus.
# usage: tests/fuzz/run.sh BUILD_DIR SECONDS   (BUILD_DIR configured with clang and -Dfuzz=true)
set -eu
if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build_dir=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
fuzzer=$(find "$build_dir" -type f -name fuzz_decode -perm -u+x | head -n 1)
if [ -z "$fuzzer" ]; then
  echo "fuzz_decode not found under $build_dir (configure with CXX=clang++-14 -Dfuzz=true)" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/corpus" "$work/artifacts"
cp "$here"/corpus/* "$work/corpus/"
# Findings land in the scratch dir; on failure they are printed (hex) so CI logs keep them.
status=0
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -max_len=1024 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" || status=$?
if [ "$status" -ne 0 ]; then
  for f in "$work"/artifacts/*; do
    [ -e "$f" ] && { echo "crash input $f:"; od -An -tx1 "$f"; }
  done
fi
exit "$status"
