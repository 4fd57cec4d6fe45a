#!/usr/bin/env bash
# The time-out benchmark: how late an idle wait returns for requested
# time-outs of 50 us, 200 us, 1 ms and 10 ms (bench/timeout/timeout_lateness.c:
# xpoll_wait_ns on every compiled backend, raw epoll_wait and epoll_pwait2,
# libev and libuv; the samples of all of them interleaved). Writes into
# <out_dir>:
#
#   timeout-runs.txt   one line per configuration, time-out and run: rep=K,
#                      then timeout_lateness's fields
#   timeout-meta.txt   the commit, the kernel, the timer slack and the load
#                      when the runs began
#
#   bench/timeout/run-timeout.sh <build_dir> <out_dir> [--quick] [--repeat K] [--no-fallback]
#
# --quick        200 samples at 50 and 200 us, 50 at 1 ms, 10 at 10 ms, one
#                run, and no second build of the library: a smoke test of a
#                few seconds that checks every count (CI).
# --repeat       runs (default 3), one after the other.
# --no-fallback  leaves out the row of the library built a second time with
#                -DXPOLL_EPOLL_NO_PWAIT2=ON (made in <build_dir>/xpoll-nopwait2,
#                the library target alone: some 20 s the first time).
#
# Exit status: 0 when every run passed; 1 when a build or a run failed or an
# xpoll wait returned before its time-out; 2 on bad arguments.
set -uo pipefail

usage() {
  sed -n '13p' "$0" | sed 's/^# *//' >&2
  exit 2
}

[ $# -ge 2 ] || usage
build=$1
out=$2
shift 2
quick=0
repeat=
fallback=1
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --repeat) [ $# -ge 2 ] || usage; repeat=$2; shift ;;
    --no-fallback) fallback=0 ;;
    *) usage ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  repeat=${repeat:-1}
  fallback=0
else
  repeat=${repeat:-3}
fi
case $repeat in '' | *[!0-9]* | 0) usage ;; esac

if [ "$(uname -s)" != Linux ]; then
  echo "timeout benchmark: left out (raw epoll is its reference; Linux only)"
  exit 0
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$build/bench/timeout/timeout_lateness
if [ ! -x "$bin" ]; then
  echo "FAIL: $bin not built" >&2
  exit 1
fi
mkdir -p "$out/logs"
rm -f "$out/timeout-runs.txt" "$out/timeout-meta.txt"

args=()
[ "$quick" = 1 ] && args+=(--quick)
if [ "$fallback" = 1 ]; then
  fb=$build/xpoll-nopwait2
  echo "== building the library again with -DXPOLL_EPOLL_NO_PWAIT2=ON ($fb)"
  if cmake -S "$root" -B "$fb" -DCMAKE_BUILD_TYPE=Release -DXPOLL_BUILD_TESTS=OFF -DXPOLL_BUILD_EXAMPLES=OFF \
    -DXPOLL_EPOLL_NO_PWAIT2=ON >"$out/logs/timeout-nopwait2-configure.log" 2>&1 &&
    cmake --build "$fb" -j"$(nproc)" --target xpoll >"$out/logs/timeout-nopwait2-build.log" 2>&1; then
    args+=(--fallback-lib "$(readlink -f "$fb/libxpoll.so")")
  else
    echo "FAIL: the second build of the library (logs: $out/logs/timeout-nopwait2-*.log)" >&2
    exit 1
  fi
else
  echo "   the row of the library built with -DXPOLL_EPOLL_NO_PWAIT2=ON is left out (--quick or --no-fallback)"
fi

{
  echo "xpoll: commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(
    [ -n "$(git -C "$root" status --porcelain -- src include 2>/dev/null)" ] && echo ' with local changes to src/ or include/')"
  echo "kernel $(uname -r), $(nproc) CPUs, timer slack $(cat /proc/$$/timerslack_ns 2>/dev/null || echo '?') ns"
  echo "load average when the runs began: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/timeout-meta.txt"

failed=0
echo "== time-out lateness: 50 us, 200 us, 1 ms, 10 ms; every configuration interleaved; $repeat run(s)"
for ((rep = 1; rep <= repeat; rep++)); do
  log=$out/logs/timeout-$rep.err
  rc=0
  # Bounded twice: by the program itself (--timeout), then by timeout(1).
  lines=$(timeout -k 5 660 "$bin" --timeout 600 "${args[@]}" 2>"$log") || rc=$?
  if [ "$rc" != 0 ] || [ -z "$lines" ]; then
    echo "FAIL: timeout_lateness (run $rep) exited $rc" >&2
    sed 's/^/     /' "$log" >&2
    failed=1
  fi
  [ -n "$lines" ] || continue
  printf '%s\n' "$lines" | sed "s/^/rep=$rep\t/" >>"$out/timeout-runs.txt"
  [ "$rep" = "$repeat" ] || continue
  printf '%s\n' "$lines" | awk -F'\t' '{
      for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      printf "   %-6s %-15s %6s us: median %8s us late, p99 %8s us, %5s samples, early %s\n",
        f["impl"], f["backend"], f["requested_us"], f["median_us"], f["p99_us"], f["samples"], f["early"]
    }'
done

if [ "$failed" != 0 ]; then
  echo "FAIL: some time-out benchmark runs failed (see above)" >&2
  exit 1
fi
