#!/usr/bin/env bash
# Lane: a bounded run of the differential fuzzer (libFuzzer, clang, ASan and
# UBSan) on the kernel backends, from the committed corpus. A mismatch stops
# it with the operations that led there and leaves the input in build/fuzz-crash-*.
# Longer runs for a release: FUZZ_SECONDS=3600 bash ci/lane-fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
mkdir -p build
rm -rf build/fuzz build/fuzz-corpus
cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DXPOLL_FUZZ=ON -DXPOLL_SANITIZE=address,undefined -DXPOLL_BUILD_EXAMPLES=OFF >build/fuzz.log 2>&1 ||
  { cat build/fuzz.log; exit 1; }
cmake --build build/fuzz --target xpoll_fuzz -j2 >>build/fuzz.log 2>&1 || { tail -n 40 build/fuzz.log; exit 1; }
cp -r tests/fuzz/corpus build/fuzz-corpus
# libkqueue (an emulation, half a millisecond per kqueue) is left to the
# corpus replay of the kqueue lane; the kernel backends are fuzzed here.
export XPOLL_FUZZ_BACKENDS=epoll,poll,select
rc=0
(cd build && ./fuzz/tests/xpoll_fuzz -max_total_time="$seconds" -max_len=256 -print_final_stats=1 \
  -artifact_prefix=fuzz-crash- fuzz-corpus >fuzz-run.log 2>&1) || rc=$?
grep -E 'MISMATCH|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added' build/fuzz-run.log || true
if [ "$rc" -ne 0 ]; then
  sed -n '/MISMATCH/,/deadly/p' build/fuzz-run.log | head -n 60
  echo "fuzz: FAILED (input saved as build/fuzz-crash-*)"
  exit 1
fi
echo "fuzz: ${seconds} s without a mismatch on $XPOLL_FUZZ_BACKENDS"
