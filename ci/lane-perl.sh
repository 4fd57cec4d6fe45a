#!/usr/bin/env bash
# Lane: the Perl bindings. Builds the library (with kqueue when libkqueue is
# installed), builds the XPoll distribution (Makefile.PL) in a copy under
# build/, and runs prove against the fresh library on every compiled backend,
# the pre-forking server's test included.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=build/perl
kq=()
if root=$(bash ci/find-libkqueue.sh); then
  kq=(-DXPOLL_BACKEND_KQUEUE=ON)
  [ "$root" != pkg-config ] && kq+=(-DXPOLL_LIBKQUEUE_ROOT="$root")
fi
mkdir -p build
rm -rf "$build" build/perl-dist
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXPOLL_BUILD_TESTS=OFF -DXPOLL_BUILD_EXAMPLES=OFF \
  "${kq[@]}" >build/perl-configure.log 2>&1 || { cat build/perl-configure.log; exit 1; }
grep -E '^-- xpoll .* backends' build/perl-configure.log || true
cmake --build "$build" --target xpoll -j2 >build/perl-build.log 2>&1 || { tail -n 40 build/perl-build.log; exit 1; }
cp -r bindings/perl build/perl-dist
cd build/perl-dist
perl Makefile.PL >/dev/null
make >/dev/null
XPOLL_LIBRARY="$top/$build/libxpoll.so.1" prove -b t/
