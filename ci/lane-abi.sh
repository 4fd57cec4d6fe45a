#!/usr/bin/env bash
# Lane: the ABI guard. The shared library's ABI must be the committed
# baseline (abi/libxpoll.so.1.abi) plus additions. Then a self-test: the
# same library with one function hidden must be refused.
# After a deliberate addition, refresh the baseline: ci/abi-dump.sh build/abi abi/libxpoll.so.1.abi
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
bash ci/abi-dump.sh build/abi build/abi-current.abi
bash ci/abi-compare.sh abi/libxpoll.so.1.abi build/abi-current.abi
bash ci/abi-dump.sh build/abi-selftest build/abi-selftest.abi -DXPOLL_ABI_SELFTEST_HIDE=xpoll_wake
if out=$(bash ci/abi-compare.sh abi/libxpoll.so.1.abi build/abi-selftest.abi); then
  printf '%s\n' "$out"
  echo "abi: the self-test library without xpoll_wake was accepted: the check is broken"
  exit 1
fi
printf '%s\n' "$out" | grep -E "Removed|INCOMPATIBLE" | head -n 5
echo "abi: self-test passed: removing xpoll_wake is refused"
