#!/usr/bin/env bash
# Lane: the Perl bindings. Builds the library (with kqueue when libkqueue is
# installed), builds the XPoll distribution (Makefile.PL) in a copy under
# build/, and runs prove against the fresh library on every compiled backend,
# the pre-forking server's test included.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=build/perl
bash ci/build-library.sh "$build"
rm -rf build/perl-dist
cp -r bindings/perl build/perl-dist
cd build/perl-dist
perl Makefile.PL >/dev/null
make >/dev/null
XPOLL_LIBRARY="$top/$build/libxpoll.so.1" prove -b t/
