#!/usr/bin/env bash
# Configures, builds and tests one CMake preset from a clean build directory.
# Usage: ci/preset-lane.sh <preset>
set -euo pipefail
preset=$1
cd "$(dirname "$0")/.."
rm -rf "build/$preset"
cmake --preset "$preset" >"build-$preset.log" 2>&1 || { cat "build-$preset.log"; exit 1; }
grep -E '^-- (xpoll|  [a-z]+:)' "build-$preset.log" || true
cmake --build --preset "$preset" >>"build-$preset.log" 2>&1 || { tail -n 60 "build-$preset.log"; exit 1; }
rm -f "build-$preset.log"
ctest --preset "$preset"
