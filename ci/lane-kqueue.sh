#!/usr/bin/env bash
# Lane: the kqueue backend on Linux against an installed libkqueue, beside
# epoll, poll and select, with every test. libkqueue is not a Debian package
# and nothing here builds it: the lane looks for an installation (pkg-config,
# XPOLL_LIBKQUEUE_ROOT, /opt/libkqueue, /usr/local) and otherwise says it
# skipped (exit 77).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! root=$(bash ci/find-libkqueue.sh); then
  echo "lane kqueue: skipped: libkqueue is not installed (looked for pkg-config libkqueue, \$XPOLL_LIBKQUEUE_ROOT, /opt/libkqueue, /usr/local)"
  exit 77
fi
[ "$root" = pkg-config ] && root=""
build=build/kqueue
rm -rf "$build"
mkdir -p build
# Under ASan and UBSan: the kqueue backend has no other sanitized lane.
cmake -S . -B "$build" -DXPOLL_WERROR=ON -DXPOLL_BACKEND_KQUEUE=ON -DXPOLL_SANITIZE=address,undefined \
  -DCMAKE_BUILD_TYPE=Debug ${root:+-DXPOLL_LIBKQUEUE_ROOT="$root"} \
  >build/kqueue-configure.log 2>&1 || { cat build/kqueue-configure.log; exit 1; }
grep -E '^-- (kqueue:|xpoll)' build/kqueue-configure.log || true
cmake --build "$build" -j2 >build/kqueue-build.log 2>&1 || { tail -n 60 build/kqueue-build.log; exit 1; }
ctest --test-dir "$build" -j2 --output-on-failure --timeout 300
# Once more, the kqueue tests only, with the self-pipe wake of systems that lack EVFILT_USER.
cmake -S . -B "$build-pipe" -DXPOLL_WERROR=ON -DXPOLL_BACKEND_KQUEUE=ON -DXPOLL_KQUEUE_PIPE_WAKE=ON \
  ${root:+-DXPOLL_LIBKQUEUE_ROOT="$root"} >build/kqueue-pipe.log 2>&1 || { cat build/kqueue-pipe.log; exit 1; }
cmake --build "$build-pipe" -j2 >>build/kqueue-pipe.log 2>&1 || { tail -n 60 build/kqueue-pipe.log; exit 1; }
echo "kqueue with the self-pipe wake:"
ctest --test-dir "$build-pipe" -j2 --output-on-failure --timeout 300 -R 'kqueue'
# Under valgrind: a descriptor closed, duplicated or reused while registered
# must never lead libkqueue to read memory it freed (ASan cannot see inside it).
echo "kqueue, closed and reused descriptors under valgrind:"
valgrind --quiet --error-exitcode=99 "$build-pipe/tests/contract_test" \
  --gtest_filter='*Closed*/kqueue:*Duplicate*/kqueue:*Readd*/kqueue:*Reuse*/kqueue'
