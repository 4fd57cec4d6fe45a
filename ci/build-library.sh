#!/usr/bin/env bash
# Builds just the shared library into <build dir> (RelWithDebInfo), with the
# kqueue backend when libkqueue is installed, for the binding lanes.
# Usage: ci/build-library.sh <build dir>
set -euo pipefail
build=$1
cd "$(dirname "$0")/.."
kq=()
if root=$(bash ci/find-libkqueue.sh); then
  kq=(-DXPOLL_BACKEND_KQUEUE=ON)
  [ "$root" != pkg-config ] && kq+=(-DXPOLL_LIBKQUEUE_ROOT="$root")
fi
mkdir -p build
rm -rf "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXPOLL_BUILD_TESTS=OFF -DXPOLL_BUILD_EXAMPLES=OFF \
  "${kq[@]}" >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
grep -E '^-- xpoll .* backends' "$build.log" || true
cmake --build "$build" --target xpoll -j2 >>"$build.log" 2>&1 || { tail -n 40 "$build.log"; exit 1; }
