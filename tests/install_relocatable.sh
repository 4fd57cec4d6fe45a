#!/bin/sh
# Installs the build into a scratch prefix, moves the whole prefix elsewhere,
# and runs the installed programs from there: each must find libxpoll
# relative to itself (its run path), with no LD_LIBRARY_PATH and no library
# installed system-wide.
set -eu
build=$1 work=$2 cmake=$3
rm -rf "$work"
mkdir -p "$work"
"$cmake" --install "$build" --prefix "$work/first" >/dev/null
mv "$work/first" "$work/moved"
bin=$work/moved/bin
unset LD_LIBRARY_PATH
if [ -x "$bin/xpoll-hello" ]; then
  "$bin/xpoll-hello" >"$work/hello.out"
  grep -q "backend(s), best first" "$work/hello.out"
fi
"$bin/xpoll-probe" --json --max-fds 256 >"$work/probe.json"
grep -q '"xpoll_version"' "$work/probe.json"
# The library they loaded is the moved one, not one from the build tree.
if command -v ldd >/dev/null 2>&1; then
  ldd "$bin/xpoll-probe" | grep 'libxpoll' | grep -q "$work/moved/"
fi
echo "installed programs run from a moved prefix ($work/moved)"
