#!/usr/bin/env bash
# Lane: the Doxygen HTML (public headers and docs/*.md), which must build
# with zero warnings: the docs target fails on any (WARN_AS_ERROR).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
rm -rf build/docs
cmake -S . -B build/docs -DXPOLL_BUILD_TESTS=OFF -DXPOLL_BUILD_EXAMPLES=OFF >build/docs.log 2>&1 || { cat build/docs.log; exit 1; }
if ! cmake --build build/docs --target docs >>build/docs.log 2>&1; then
  grep -iE "warning|error" build/docs.log | head -n 40
  echo "docs: FAILED (Doxygen warnings are errors)"
  exit 1
fi
pages=$(find build/docs/docs/html -name '*.html' | wc -l)
echo "docs: built with zero warnings, $pages HTML pages in build/docs/docs/html"
