#!/usr/bin/env bash
# The one benchmark command: builds build/bench (Release), counts the
# user-space instructions and system calls of a pipe-ring round for every
# implementation (bench/count/count.py: cachegrind and strace, which do not
# move between runs), runs the pipe ring for every implementation at each
# size, then the echo benchmark, then the accept benchmark (bench/accept:
# pre-forked workers at one port, threads on one poller), then the time-out
# benchmark (bench/timeout: how late an idle wait returns), and writes the
# tables (every figure also as a ratio to raw epoll), results.md and the SVG
# plots into the output directory. See docs/benchmarks.md.
#
#   bash bench/run.sh [--quick] [--sizes 1000,10000] [--out DIR] [--publish]
#                     [--layout auto|classic|bidir] [--repeat K] [--no-count] [--no-echo] [--no-accept]
#                     [--no-timeout] [--build DIR]
#
# --quick    N=200 and N=1000, 5 rounds, one run each, the counts at N=200
#            only, echo with 200 connections, the accept herd with 500, the
#            time-out samples cut tenfold (no second build of the library): a
#            smoke test that checks every count (CI).
# --sizes    the ring sizes N; also the counts' sizes when given.
# --repeat   runs of each ring configuration, of each echo server, of each
#            accept configuration and of the time-out benchmark (default 3):
#            the plots show their spread.
# --no-count leaves out the counts (which need valgrind and strace; a missing
#            one fails the run).
# --publish  copies the plots into docs/images/, the runs' raw results and
#            the counts into bench/results/ (from which bench/plot/report.py
#            --data and bench/count/count.py --data redraw them without
#            running anything) and rewrites the count table and the results
#            part of docs/benchmarks.md.
#
# Exit status: 0 when every run passed (a select refusing descriptors above
# FD_SETSIZE is "unsupported", not a failure); 1 when a build, a count, a
# count check, a run or the echo benchmark failed; 2 on bad arguments.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build/bench
out=
quick=0
publish=0
sizes=
layout=auto
repeat=
active=100
echo_run=1
accept_run=1
timeout_run=1
count_run=1

usage() {
  sed -n '12,14p' "$0" | sed 's/^# *//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --publish) publish=1 ;;
    --no-count) count_run=0 ;;
    --no-echo) echo_run=0 ;;
    --no-accept) accept_run=0 ;;
    --no-timeout) timeout_run=0 ;;
    --sizes) [ $# -ge 2 ] || usage; sizes=$2; shift ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift ;;
    --layout) [ $# -ge 2 ] || usage; layout=$2; shift ;;
    --repeat) [ $# -ge 2 ] || usage; repeat=$2; shift ;;
    --build) [ $# -ge 2 ] || usage; build=$2; shift ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
  shift
done
case $layout in auto | classic | bidir) ;; *) usage ;; esac
count_sizes=$sizes
if [ "$quick" = 1 ]; then
  sizes=${sizes:-200,1000}
  repeat=${repeat:-1}
else
  sizes=${sizes:-1000,10000}
  repeat=${repeat:-3}
fi
case $repeat in '' | *[!0-9]* | 0) usage ;; esac
case $build in /*) ;; *) build=$PWD/$build ;; esac
out=${out:-$build/results}
case $out in /*) ;; *) out=$PWD/$out ;; esac
mkdir -p "$out/logs"
rm -rf "$out"/ring-runs.txt "$out"/*.svg "$out"/*.dat "$out"/echo.tsv "$out"/echo-rep* "$out"/loadavg.txt \
  "$out"/machine.txt "$out"/logs/* "$out"/accept-runs.txt "$out"/accept-meta.txt "$out"/echo-threads* \
  "$out"/timeout-runs.txt "$out"/timeout-meta.txt "$out"/count.tsv "$out"/count.md "$out"/count-meta.txt

echo "== building $build (Release)"
if ! cmake -S "$root" -B "$build" -DXPOLL_BUILD_BENCH=ON -DXPOLL_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
  >"$out/logs/configure.log" 2>&1; then
  tail -30 "$out/logs/configure.log" >&2
  echo "FAIL: configure (log: $out/logs/configure.log)" >&2
  exit 1
fi
grep -E 'bench/ring:|backends \(best first\)' "$out/logs/configure.log" | sed 's/^-- /   /'
if ! cmake --build "$build" -j"$(nproc)" >"$out/logs/build.log" 2>&1; then
  grep -E 'error|Error' "$out/logs/build.log" | head -30 >&2
  echo "FAIL: build (log: $out/logs/build.log)" >&2
  exit 1
fi

ring=$build/bench/ring
programs=()
for p in raw xpoll libevent libev libuv; do
  if [ -x "$ring/ring_$p" ]; then programs+=("$p"); else echo "   ring_$p not built (its library was not found): left out"; fi
done

failed=0
if [ "$count_run" = 1 ]; then
  # The counts first: they are what the page leads with, and they do not
  # depend on the load the wall-clock runs below would see.
  count_args=(--build "$build" --out "$out")
  [ "$quick" = 1 ] && count_args+=(--quick)
  [ -n "$count_sizes" ] && count_args+=(--sizes "$count_sizes")
  [ "$publish" = 1 ] && count_args+=(--publish)
  if ! python3 "$root/bench/count/count.py" "${count_args[@]}"; then
    echo "FAIL: the counts failed" >&2
    failed=1
  fi
fi
# The load on the machine when the runs begin goes into the report.
cut -d' ' -f1-3 /proc/loadavg >"$out/loadavg.txt" 2>/dev/null
# Rounds per run: enough for a stable median, fewer where a round is long.
rounds_for() {
  if [ "$quick" = 1 ]; then echo "5 1"; elif [ "$1" -le 2000 ]; then echo "50 5"; else echo "20 3"; fi
}

IFS=, read -r -a size_list <<<"$sizes"
for n in "${size_list[@]}"; do
  case $n in '' | *[!0-9]*) echo "bad size: $n" >&2; exit 2 ;; esac
  read -r rounds warmup <<<"$(rounds_for "$n")"
  a=$((active < n ? active : n))
  echo "== pipe ring: N=$n A=$a W=$n, $rounds rounds after $warmup warm-up, $repeat run(s) each"
  # The runs of one repetition go one implementation after the other, so
  # that a burst of load elsewhere on the machine spreads over all of them.
  for ((rep = 1; rep <= repeat; rep++)); do
    for p in "${programs[@]}"; do
      for b in $("$ring/ring_$p" --list-backends); do
        log=$out/logs/ring-n$n-$p-$b-$rep.err
        rc=0
        line=$("$ring/ring_$p" --backend "$b" -n "$n" -a "$a" -w "$n" --rounds "$rounds" --warmup "$warmup" \
          --layout "$layout" --timeout 30 2>"$log") || rc=$?
        case $rc in
          0) printf '   %-9s %-7s total %9s us  (setup %s, dispatch %s)\n' "$p" "$b" \
            "$(grep -o 'total_us=[0-9.]*' <<<"$line" | cut -d= -f2)" \
            "$(grep -o 'setup_us=[0-9.]*' <<<"$line" | cut -d= -f2)" \
            "$(grep -o 'dispatch_us=[0-9.]*' <<<"$line" | cut -d= -f2)" ;;
          3) printf '   %-9s %-7s %s\n' "$p" "$b" "$(head -1 "$log")" ;;
          *)
            echo "FAIL: ring_$p --backend $b -n $n exited $rc" >&2
            sed 's/^/     /' "$log" >&2
            failed=1
            line=${line:-impl=$p$'\t'backend=$b$'\t'n=$n$'\t'status=fail}
            ;;
        esac
        [ -n "$line" ] && printf 'rep=%d\t%s\n' "$rep" "$line" >>"$out/ring-runs.txt"
      done
    done
  done
done

if [ "$echo_run" = 1 ]; then
  if [ -f "$root/bench/echo/run-echo.sh" ]; then
    echo_args=()
    [ "$quick" = 1 ] && echo_args+=(--quick)
    # One echo.tsv with the repetition in front of each row; the servers of
    # one repetition run one after the other, as the ring's do.
    for ((rep = 1; rep <= repeat; rep++)); do
      echo "== echo benchmark, run $rep of $repeat"
      if ! bash "$root/bench/echo/run-echo.sh" "$build" "$out/echo-rep$rep" "${echo_args[@]}"; then
        echo "FAIL: the echo benchmark failed" >&2
        failed=1
      fi
      [ -f "$out/echo-rep$rep/echo.tsv" ] || continue
      if [ ! -f "$out/echo.tsv" ]; then
        printf 'rep\t%s\n' "$(head -1 "$out/echo-rep$rep/echo.tsv")" >"$out/echo.tsv"
      fi
      tail -n +2 "$out/echo-rep$rep/echo.tsv" | sed "s/^/$rep\t/" >>"$out/echo.tsv"
    done
  else
    echo "echo benchmark: bench/echo/run-echo.sh not found, skipped"
  fi
fi

if [ "$accept_run" = 1 ]; then
  if [ -f "$root/bench/accept/run-accept.sh" ]; then
    accept_args=(--repeat "$repeat")
    [ "$quick" = 1 ] && accept_args+=(--quick)
    # Its herd runs and threaded echo runs are interleaved by repetition inside.
    if ! bash "$root/bench/accept/run-accept.sh" "$build" "$out" "${accept_args[@]}"; then
      echo "FAIL: the accept benchmark failed" >&2
      failed=1
    fi
  else
    echo "accept benchmark: bench/accept/run-accept.sh not found, skipped"
  fi
fi

if [ "$timeout_run" = 1 ]; then
  if [ -f "$root/bench/timeout/run-timeout.sh" ]; then
    timeout_args=(--repeat "$repeat")
    [ "$quick" = 1 ] && timeout_args+=(--quick)
    # Its configurations are interleaved sample by sample inside one process.
    if ! bash "$root/bench/timeout/run-timeout.sh" "$build" "$out" "${timeout_args[@]}"; then
      echo "FAIL: the time-out benchmark failed" >&2
      failed=1
    fi
  else
    echo "time-out benchmark: bench/timeout/run-timeout.sh not found, skipped"
  fi
fi

echo "== report"
report_args=(--out "$out" --build "$build")
[ "$publish" = 1 ] && report_args+=(--publish "$root/docs/benchmarks.md")
command -v gnuplot >/dev/null || echo "   gnuplot not found: no plots"
if ! python3 "$root/bench/plot/report.py" "${report_args[@]}"; then
  echo "FAIL: the report could not be made" >&2
  failed=1
fi
echo "== written: $out/results.md, $out/ring-summary.tsv, $out/ring-runs.txt$(cd "$out" && for f in *.svg; do [ -e "$f" ] && printf ', %s' "$f"; done)"
if [ "$failed" != 0 ]; then
  echo "FAIL: some runs failed (see above)" >&2
  exit 1
fi
