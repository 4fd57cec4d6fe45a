#!/usr/bin/env bash
# Lane: the benchmarks as a smoke test, not a measurement. Builds bench/
# against libevent, libev and libuv, counts the instructions and system calls
# of a pipe-ring round under cachegrind and strace (N=200; about a minute;
# both tools come from ci/deps.sh, and a missing one fails the lane), and runs
# the pipe ring for every implementation and the echo benchmark at small
# sizes: every read and every echoed byte is counted, and a wrong count fails
# the lane. Counts and times are printed but never judged here
# (docs/benchmarks.md has the figures).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build/bench/quick
exec bash bench/run.sh --quick --out build/bench/quick
