#!/usr/bin/env bash
# Lane: a plain build and every test with the platform's compiler and its
# native backends (macOS and FreeBSD: kqueue, poll, select). The workflow's
# non-Linux jobs run this after installing CMake and GoogleTest.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build/native
cmake -S . -B build/native -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXPOLL_WERROR=ON "$@"
cmake --build build/native -j2
ctest --test-dir build/native -j2 --output-on-failure --timeout 300
