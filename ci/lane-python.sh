#!/usr/bin/env bash
# Lane: the Python bindings. Builds the library (with kqueue when libkqueue is
# installed), installs bindings/python offline into a venv of Debian's Python,
# and runs pytest against that install on every compiled backend.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=build/python
kq=()
if root=$(bash ci/find-libkqueue.sh); then
  kq=(-DXPOLL_BACKEND_KQUEUE=ON)
  [ "$root" != pkg-config ] && kq+=(-DXPOLL_LIBKQUEUE_ROOT="$root")
fi
mkdir -p build
rm -rf "$build" build/python-venv
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXPOLL_BUILD_TESTS=OFF -DXPOLL_BUILD_EXAMPLES=OFF \
  "${kq[@]}" >build/python-configure.log 2>&1 || { cat build/python-configure.log; exit 1; }
grep -E '^-- xpoll .* backends' build/python-configure.log || true
cmake --build "$build" --target xpoll -j2 >build/python-build.log 2>&1 || { tail -n 40 build/python-build.log; exit 1; }
/usr/bin/python3 -m venv --system-site-packages build/python-venv
build/python-venv/bin/pip install --quiet --no-index --no-build-isolation bindings/python
# From outside the source tree, so that the installed package is what is tested.
cd build
rc=0
XPOLL_LIBRARY="$top/$build/libxpoll.so.1" python-venv/bin/python -m pytest -p no:cacheprovider -q -rs \
  "$top/bindings/python/tests" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "python: pytest collected no test"
  exit 1
fi
exit "$rc"
