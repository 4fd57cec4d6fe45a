#!/usr/bin/env bash
# Lane: the Python bindings, as a new user gets them. In temporary directories, from scratch: pip builds
# libxpoll, xpoll-probe and the _speedups extension from this repository's sources (setup.py runs CMake) into
# a fresh venv of Debian's Python, offline, with no XPOLL_LIBRARY, no LD_LIBRARY_PATH and no libxpoll installed
# system-wide; `pip wheel` must make a wheel that carries them, and a copy of bindings/python builds with
# XPOLL_SOURCE_DIR. Then the bindings' tests, CPython's test_selectors and CPython's asyncio event-loop tests
# run against the installed package, on every compiled backend (kqueue through libkqueue when installed).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
py=/usr/bin/python3
unset XPOLL_LIBRARY LD_LIBRARY_PATH XPOLL_SOURCE_DIR XPOLL_BACKEND
pip_offline=(--quiet --no-index --no-build-isolation)

if /sbin/ldconfig -p 2>/dev/null | grep -q 'libxpoll\.so'; then
  echo "python: a libxpoll is installed system-wide; this lane checks the package without one"
  exit 1
fi
if [ ! -f /usr/lib/python3.11/test/test_selectors.py ] || [ ! -d /usr/lib/python3.11/test/test_asyncio ]; then
  echo "python: CPython's test suite is missing (Debian: apt-get install libpython3.11-testsuite, see ci/deps.sh)"
  exit 1
fi
if root=$(bash ci/find-libkqueue.sh); then
  [ "$root" != pkg-config ] && export XPOLL_LIBKQUEUE_ROOT="$root"
  echo "python: kqueue through libkqueue ($root)"
fi

tmp=$(mktemp -d /tmp/xpoll-python.XXXXXX)
src=$(pwd)
# Absolute paths: the lane runs its last tests from inside $tmp.
cleanup() {
  rm -rf "$tmp" "$src/bindings/python/build" "$src/bindings/python/xpoll.egg-info"
}
trap cleanup EXIT
# pip 23 builds a local directory in place: setuptools' build/ and egg-info land in bindings/python (both
# ignored by git); they are removed before and after so that every run builds from scratch.
rm -rf bindings/python/build bindings/python/xpoll.egg-info

echo "python: pip wheel bindings/python (in place; the sources are found at ../..)"
$py -m pip wheel "${pip_offline[@]}" --no-deps -w "$tmp/wheels" bindings/python
wheel=$(ls "$tmp"/wheels/xpoll-*.whl)
for f in xpoll/libxpoll.so.1 xpoll/xpoll-probe 'xpoll/_speedups\..*\.so'; do
  # grep reads the whole listing (no -q): with pipefail, a writer cut off
  # early by grep -q fails with a broken pipe (as Python does when unbuffered).
  if ! $py -m zipfile -l "$wheel" | grep "^$f " >/dev/null; then
    echo "python: $(basename "$wheel") does not carry $f"
    $py -m zipfile -l "$wheel"
    exit 1
  fi
done
echo "python: $(basename "$wheel") carries libxpoll.so.1, xpoll-probe and _speedups"

echo "python: pip install bindings/python into a fresh venv"
$py -m venv --system-site-packages "$tmp/venv"
"$tmp/venv/bin/pip" install "${pip_offline[@]}" bindings/python

echo "python: the wheel alone, in another fresh venv"
$py -m venv --system-site-packages "$tmp/venv-wheel"
"$tmp/venv-wheel/bin/pip" install "${pip_offline[@]}" "$wheel"
(cd / && "$tmp/venv-wheel/bin/python" -c 'import xpoll, xpoll.selectors, xpoll.asyncio; print("python: wheel install imports;", xpoll.version(), xpoll.backends())')
(cd / && "$tmp/venv-wheel/bin/python" -m xpoll.probe --no-measure >/dev/null)

echo "python: a copy of bindings/python elsewhere, with XPOLL_SOURCE_DIR"
cp -r bindings/python "$tmp/copy"
rm -rf "$tmp/copy/build" "$tmp/copy/xpoll.egg-info"
if $py -m pip wheel "${pip_offline[@]}" --no-deps -w "$tmp/copy-wheels" "$tmp/copy" >"$tmp/copy.log" 2>&1; then
  echo "python: a copy without XPOLL_SOURCE_DIR built; it should have said where to find the sources"
  exit 1
fi
grep -q "cannot find the xpoll sources" "$tmp/copy.log" || { cat "$tmp/copy.log"; exit 1; }
XPOLL_SOURCE_DIR="$top" $py -m pip wheel "${pip_offline[@]}" --no-deps -w "$tmp/copy-wheels" "$tmp/copy"
ls "$tmp"/copy-wheels/xpoll-*.whl >/dev/null

# From outside the source tree, so that the installed package is what is tested.
cd "$tmp"
rc=0
timeout 900 "$tmp/venv/bin/python" -m pytest -p no:cacheprovider -q -rs "$top/bindings/python/tests" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "python: pytest collected no test"
  exit 1
fi
exit "$rc"
