#!/usr/bin/env bash
# Builds the shared library (gcc, RelWithDebInfo) into <build dir> and writes
# its ABI description (abidw) to <out>. Extra arguments go to CMake.
# Usage: ci/abi-dump.sh <build dir> <out> [-DVAR=value ...]
set -euo pipefail
build=$1 out=$2
shift 2
cd "$(dirname "$0")/.."
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXPOLL_BUILD_TESTS=OFF -DXPOLL_BUILD_EXAMPLES=OFF \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ "$@" >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
cmake --build "$build" --target xpoll -j2 >>"$build.log" 2>&1 || { tail -n 40 "$build.log"; exit 1; }
lib=$(readlink -f "$build/libxpoll.so.1")
abidw --no-corpus-path --headers-dir include/xpoll --drop-private-types --exported-interfaces-only "$lib" >"$out"
