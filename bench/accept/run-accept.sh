#!/usr/bin/env bash
# The accept benchmark: the thundering herd of pre-forked workers at one
# listening port (accept_herd, every mode at each worker count), then the
# threaded xpoll echo servers of bench/echo (one thread; two threads with a
# poller each; two threads on one XPOLL_SHARED poller). Writes into <out_dir>:
#
#   accept-runs.txt   one line per herd run: rep=K, then accept_herd's fields
#   echo-threads.tsv  one row per echo server and run (run-echo.sh's columns,
#                     the run in a rep column in front)
#   echo-threads-syscalls.tsv  the system calls each threaded server made in
#                     the timed phase of one more run under strace -c -f
#                     (5 messages per connection): server, conns, msgs,
#                     round_trips, syscall, calls, errors
#   accept-meta.txt   the commit, the kernel and the load when the runs began
#
#   bench/accept/run-accept.sh <build_dir> <out_dir> [--quick] [--repeat K]
#                              [--workers 4,16] [--conns C] [--no-herd] [--no-threads] [--no-strace]
#
# --quick    500 connections per herd run and 200 echo connections, one
#            run each: a smoke test that checks every count (CI).
# --repeat   runs of each configuration (default 3); the runs of one
#            repetition go one configuration after the other (interleaved).
# The strace run is left out with --quick, with --no-strace, and when
# strace is not installed.
#
# Exit status: 0 when every run passed; 1 when a run failed (a wrong count, a
# time-out); 2 on bad arguments. A mode the kernel lacks is "unsupported".
set -uo pipefail

usage() {
  sed -n '16,17p' "$0" | sed 's/^# *//' >&2
  exit 2
}

[ $# -ge 2 ] || usage
build=$1
out=$2
shift 2
quick=0
repeat=
workers=4,16
conns=
herd=1
threads=1
trace=1
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --repeat) [ $# -ge 2 ] || usage; repeat=$2; shift ;;
    --workers) [ $# -ge 2 ] || usage; workers=$2; shift ;;
    --conns) [ $# -ge 2 ] || usage; conns=$2; shift ;;
    --no-herd) herd=0 ;;
    --no-threads) threads=0 ;;
    --no-strace) trace=0 ;;
    *) usage ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  conns=${conns:-500}
  repeat=${repeat:-1}
else
  conns=${conns:-10000}
  repeat=${repeat:-3}
fi
for v in "$repeat" "$conns"; do
  case $v in '' | *[!0-9]* | 0) usage ;; esac
done

if [ "$(uname -s)" != Linux ]; then
  echo "accept benchmark: left out (it compares epoll's ways of waking a worker; Linux only)"
  exit 0
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
herd_bin=$build/bench/accept/accept_herd
modes=(plain exclusive reuseport lock raw-plain raw-exclusive)
servers=xpoll-1t,xpoll-1t-oneshot,xpoll-2t-split,xpoll-2t-split-oneshot,xpoll-2t-shared
mkdir -p "$out/logs"
rm -f "$out/accept-runs.txt" "$out/echo-threads.tsv" "$out/echo-threads-syscalls.tsv" "$out/accept-meta.txt"
{
  echo "xpoll: commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(
    [ -n "$(git -C "$root" status --porcelain -- src include 2>/dev/null)" ] && echo ' with local changes to src/ or include/')"
  echo "kernel $(uname -r), $(nproc) CPUs"
  echo "load average when the runs began: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/accept-meta.txt"

# The value of key $1 in the tab-separated key=value line $2.
field() { tr '\t' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

failed=0
if [ "$herd" = 1 ]; then
  if [ ! -x "$herd_bin" ]; then
    echo "FAIL: $herd_bin not built" >&2
    exit 1
  fi
  IFS=, read -r -a wlist <<<"$workers"
  echo "== accept herd: $conns connections in bursts of 50, modes ${modes[*]}, W = $workers, $repeat run(s) each"
  for ((rep = 1; rep <= repeat; rep++)); do
    for w in "${wlist[@]}"; do
      case $w in '' | *[!0-9]*) echo "bad worker count: $w" >&2; exit 2 ;; esac
      for m in "${modes[@]}"; do
        log=$out/logs/accept-$m-w$w-$rep.err
        rc=0
        # accept_herd bounds itself (--timeout) and stops its children by pid; timeout(1) is the last resort.
        line=$(timeout -k 5 90 "$herd_bin" --mode "$m" --workers "$w" --conns "$conns" --timeout 60 2>"$log") || rc=$?
        case $rc in
          0) printf '   W=%-3s %-14s wake-ups/conn %7s  waits/conn %6s  accepts per worker sd %s\n' "$w" "$m" \
            "$(field wakeups_per_conn "$line")" "$(field waits_per_conn "$line")" "$(field accepts_sd "$line")" ;;
          3) printf '   W=%-3s %-14s %s\n' "$w" "$m" "$(head -1 "$log")" ;;
          *)
            echo "FAIL: accept_herd --mode $m --workers $w exited $rc" >&2
            sed 's/^/     /' "$log" >&2
            failed=1
            line=mode=$m$'\t'workers=$w$'\t'conns=$conns$'\t'status=fail
            ;;
        esac
        printf 'rep=%d\t%s\n' "$rep" "$line" >>"$out/accept-runs.txt"
      done
    done
  done
fi

if [ "$threads" = 1 ]; then
  echo_args=(--servers "$servers")
  [ "$quick" = 1 ] && echo_args+=(--quick)
  for ((rep = 1; rep <= repeat; rep++)); do
    echo "== echo with threads on xpoll, run $rep of $repeat"
    if ! bash "$root/bench/echo/run-echo.sh" "$build" "$out/echo-threads-rep$rep" "${echo_args[@]}"; then
      echo "FAIL: the threaded echo benchmark failed" >&2
      failed=1
    fi
    [ -f "$out/echo-threads-rep$rep/echo.tsv" ] || continue
    if [ ! -f "$out/echo-threads.tsv" ]; then
      printf 'rep\t%s\n' "$(head -1 "$out/echo-threads-rep$rep/echo.tsv")" >"$out/echo-threads.tsv"
    fi
    tail -n +2 "$out/echo-threads-rep$rep/echo.tsv" | sed "s/^/$rep\t/" >>"$out/echo-threads.tsv"
  done
fi

if [ "$threads" = 1 ] && [ "$trace" = 1 ] && [ "$quick" = 0 ]; then
  if command -v strace >/dev/null; then
    echo "== echo with threads on xpoll under strace (system calls of the timed phase)"
    # The connections of the timed runs (run-echo.sh's default), fewer messages: strace slows every call.
    sconns=10000
    msgs=5
    if bash "$root/bench/echo/run-echo.sh" "$build" "$out/echo-threads-strace" --servers "$servers" \
      --conns "$sconns" --msgs "$msgs" --strace >"$out/logs/echo-threads-strace.log" 2>&1; then
      printf 'server\tconns\tmsgs\tround_trips\tsyscall\tcalls\terrors\n' >"$out/echo-threads-syscalls.tsv"
      IFS=, read -r -a slist <<<"$servers"
      for s in "${slist[@]}"; do
        # strace -c: "% time seconds usecs/call calls [errors] syscall", then a total line.
        awk -v s="$s" -v c="$sconns" -v m="$msgs" '
          $1 ~ /^[0-9.]+$/ && $NF != "total" {
            err = NF == 6 ? $5 : 0
            printf "%s\t%d\t%d\t%d\t%s\t%d\t%d\n", s, c, m, c * m, $NF, $4, err
          }' "$out/echo-threads-strace/$s.strace" >>"$out/echo-threads-syscalls.tsv"
      done
      column -t -s $'\t' "$out/echo-threads-syscalls.tsv" | sed 's/^/   /'
    else
      echo "FAIL: the threaded echo benchmark under strace failed (log: $out/logs/echo-threads-strace.log)" >&2
      failed=1
    fi
  else
    echo "   strace not found: the system calls of the threaded echo servers are not counted"
  fi
fi

if [ "$failed" != 0 ]; then
  echo "FAIL: some accept benchmark runs failed (see above)" >&2
  exit 1
fi
