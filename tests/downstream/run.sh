#!/bin/sh
# Installs the build into a scratch prefix, then builds and runs a downstream
# project against it with find_package and with pkg-config.
set -eu
build=$1 work=$2 cmake=$3 cc=$4
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
"$cmake" --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(find "$work/prefix" -maxdepth 1 -name "lib*" -type d | head -n 1)/
PKG_CONFIG_PATH="${libdir}pkgconfig" "$cmake" -S "$here" -B "$work/build" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_RPATH="$libdir" >/dev/null
"$cmake" --build "$work/build" >/dev/null
for exe in with_cmake_package with_pkg_config with_static_package; do
  LD_LIBRARY_PATH="$libdir" "$work/build/$exe"
done
