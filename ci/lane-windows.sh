#!/usr/bin/env bash
# Lane: the Windows build (mingw-w64, x86_64) and its tests under Wine: the
# contract suite on iocp, poll (WSAPoll) and select (Winsock), the Windows
# quirks, the C++ layer and the probe. Wine gets a prefix of its own in the
# build directory, made before the tests (its first start takes seconds), and
# a wineserver started here, detached from ctest's pipes, and stopped at the
# end with every Wine process of that prefix.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in x86_64-w64-mingw32-g++-posix wine wineserver; do
  if ! command -v "$tool" >/dev/null; then
    echo "lane windows: skipped: $tool is not installed (Debian: mingw-w64, wine, wine64)"
    exit 77
  fi
done
build=build/windows
rm -rf "$build"
mkdir -p "$build"
export WINEPREFIX="$PWD/$build/wine-prefix" WINEDEBUG=-all WINEARCH=win64
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake -DXPOLL_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
grep -E '^-- (xpoll|  [a-z]+:)' "$build/configure.log" || true
cmake --build "$build" -j2 >"$build/build.log" 2>&1 || { tail -n 60 "$build/build.log"; exit 1; }

wineserver -f -p </dev/null >"$build/wineserver.log" 2>&1 &
server=$!
# Wine's own services (started by wineboot) end with `wineserver -k`, which
# also stops the server; the server is then waited for by its pid, and killed
# if it has not gone within ten seconds.
stop_server() {
  wineserver -k </dev/null >/dev/null 2>&1 || true
  for _ in $(seq 100); do
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap stop_server EXIT
wineboot -i </dev/null >"$build/wineboot.log" 2>&1 || { cat "$build/wineboot.log"; exit 1; }
echo "lane windows: $(wine --version) in $WINEPREFIX"
# wineserver holds a host descriptor for every socket of every Wine process,
# under this machine's hard limit (20,000): the two 10,000-socket tests run
# alone, after the others.
# A Wine process that loses its connection to the wineserver ("wine client
# error") fails whatever test it runs: those, and only those, run once more.
if ! ctest --test-dir "$build" -j2 --output-on-failure --timeout 600 -E TenThousand 2>&1 | tee "$build/ctest.log"; then
  grep -q "wine client error" "$build/ctest.log" || exit 1
  echo "windows: a Wine process lost its wineserver (wine client error): the failed tests once more"
  ctest --test-dir "$build" --rerun-failed --output-on-failure --timeout 600
fi
ctest --test-dir "$build" --output-on-failure --timeout 600 -R TenThousand
