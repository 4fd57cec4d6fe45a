#!/usr/bin/env bash
# Lane: the Python bindings. Builds the library (with kqueue when libkqueue is
# installed), installs bindings/python offline into a venv of Debian's Python,
# and runs pytest against that install on every compiled backend.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=build/python
bash ci/build-library.sh "$build"
rm -rf build/python-venv
/usr/bin/python3 -m venv --system-site-packages build/python-venv
# From a copy: pip writes build/ and *.egg-info where it builds.
rm -rf build/python-src
cp -r bindings/python build/python-src
build/python-venv/bin/pip install --quiet --no-index --no-build-isolation build/python-src
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
