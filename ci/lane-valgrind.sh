#!/usr/bin/env bash
# Lane: every bad-input case of the API and the contract, and the allocation
# failure test, under valgrind's memcheck: no leak, no invalid access.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
rm -rf build/valgrind
cmake -S . -B build/valgrind -DCMAKE_BUILD_TYPE=Debug -DXPOLL_BUILD_EXAMPLES=OFF >build/valgrind.log 2>&1 ||
  { cat build/valgrind.log; exit 1; }
cmake --build build/valgrind -j2 --target api_test contract_test fault_test >>build/valgrind.log 2>&1 ||
  { tail -n 40 build/valgrind.log; exit 1; }
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full "--errors-for-leak-kinds=definite,indirect")
filter='*Einval*:*Ebadf*:*Enoent*:*Eexist*:*Enotsup*:*NullPointers*:*UnknownFlag*:*BadMax*:*ClosedDescriptor*:*Closed*Registered*:*RemoveClose*'
"${vg[@]}" build/valgrind/tests/api_test
"${vg[@]}" build/valgrind/tests/contract_test --gtest_filter="$filter"
# The test's own operator new (which fails on purpose) must stay the program's.
"${vg[@]}" --soname-synonyms=somalloc=nouserintercepts build/valgrind/tests/fault_test --gtest_filter='*Enomem*'
echo "valgrind: bad input, closed descriptors and allocation failures: no leak, no invalid access"
