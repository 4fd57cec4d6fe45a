#!/usr/bin/env bash
# The echo benchmark: runs every echo server built in <build_dir>/bench/echo
# against echo_client, one at a time, and writes <out_dir>/echo.tsv.
#
#   bench/echo/run-echo.sh <build_dir> <out_dir> [--quick] [--conns C] [--msgs M] [--size S]
#                          [--servers NAME,NAME...] [--strace]
#
# --strace attaches strace -c -f to the server for the timed phase only and
# writes its count of system calls to <out_dir>/<server>.strace (the times
# of such a run are strace's, not the server's).
# --servers runs only the servers named; the threaded xpoll servers
# (xpoll-1t, xpoll-1t-oneshot, xpoll-2t-split, xpoll-2t-split-oneshot,
# xpoll-2t-shared) run only when named there.
#
# --quick is 200 connections; the default is 10,000, which needs a hard
# descriptor limit above 10,032 (server and client are separate processes).
#
# For each server: start it, read its port, note its idle VmRSS; the client
# opens C connections and echoes one message on each (so that all are
# accepted and served), then waits; the server's CPU time (utime + stime) is
# read, the client ping-pongs M messages of S bytes on every connection at
# once, the CPU time and the peak RSS (VmHWM) are read again with all
# connections still open; then the client closes them and the server is
# stopped by its pid (SIGTERM, then SIGKILL after 5 s).
#
#   cpu_us_per_rt    = server CPU during the ping-pong / round trips
#   rss_per_conn_kib = (VmHWM - idle VmRSS) / C
#
# Exits 1 when any client run failed (a wrong byte, a lost connection, a
# time-out) or a server could not be run; the other servers still run.
set -u

usage() {
  echo "usage: $0 <build_dir> <out_dir> [--quick] [--conns C] [--msgs M] [--size S] [--servers A,B...] [--strace]" >&2
  exit 2
}

[ $# -ge 2 ] || usage
build=$1
out=$2
shift 2
conns=10000
msgs=20
size=64
only=
trace=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) conns=200; msgs=20 ;;
    --conns) [ $# -ge 2 ] || usage; conns=$2; shift ;;
    --msgs) [ $# -ge 2 ] || usage; msgs=$2; shift ;;
    --size) [ $# -ge 2 ] || usage; size=$2; shift ;;
    --servers) [ $# -ge 2 ] || usage; only=,$2,; shift ;;
    --strace) trace=1 ;;
    *) usage ;;
  esac
  shift
done
for v in "$conns" "$msgs" "$size"; do
  case $v in '' | *[!0-9]*) usage ;; esac
done

bin=$build/bench/echo
client=$bin/echo_client
if [ ! -x "$client" ]; then
  echo "$0: $client not built (cmake --build $build --target echo_bench)" >&2
  exit 1
fi
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ $((conns + 32)) -gt "$hard" ]; then
  echo "$0: $conns connections need more than the hard descriptor limit $hard in the server and in the client" >&2
  exit 1
fi

deadline=120    # the client's bound on the whole run, seconds
msg_timeout=30  # the client's bound on one round trip, seconds
tck=$(getconf CLK_TCK)
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/echo-bench.XXXXXX")
server_pid=
client_pid=
strace_pid=
go=
if [ "$trace" = 1 ] && ! command -v strace >/dev/null; then
  echo "$0: --strace: strace not found" >&2
  exit 1
fi

cleanup() {
  [ -n "$strace_pid" ] && kill "$strace_pid" 2>/dev/null
  [ -n "$client_pid" ] && kill "$client_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
  [ -n "$go" ] && exec {go}>&-
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The servers in table order: name and command.
names=()
cmds=()
add() {
  if [ -n "$only" ] && [[ $only != *",$1,"* ]]; then return; fi
  if [ -x "$bin/$2" ]; then
    names+=("$1")
    cmds+=("$bin/$2 ${3:-}")
  else
    echo "# $1: not built, left out" >&2
  fi
}
if [ -x "$bin/echo_xpoll" ]; then
  for b in epoll poll select kqueue; do
    if "$bin/echo_xpoll" --list | grep -qx "$b"; then add "xpoll-$b" echo_xpoll "$b"; fi
  done
else
  echo "# xpoll: not built, left out" >&2
fi
add libevent echo_libevent
add libev echo_libev
add libuv echo_libuv
add raw-epoll echo_raw_epoll
add threads echo_threads
# xpoll with several threads (bench/accept/run-accept.sh compares them): run
# only when named with --servers, so that the table above stays as it is.
if [ -n "$only" ]; then
  add xpoll-1t echo_xpoll_threads "--threads 1 epoll"
  add xpoll-1t-oneshot echo_xpoll_threads "--threads 1 --oneshot epoll"
  add xpoll-2t-split echo_xpoll_threads "--threads 2 --split epoll"
  add xpoll-2t-split-oneshot echo_xpoll_threads "--threads 2 --split --oneshot epoll"
  add xpoll-2t-shared echo_xpoll_threads "--threads 2 --shared epoll"
fi

# Waits (bounded, in 20 ms steps) for a line matching $2 in file $1; prints it.
wait_line() {
  local file=$1 pattern=$2 secs=$3 pid=$4 i line
  for ((i = 0; i < secs * 50; i++)); do
    line=$(grep -m1 "$pattern" "$file" 2>/dev/null) && { echo "$line"; return 0; }
    kill -0 "$pid" 2>/dev/null || { grep -m1 "$pattern" "$file" 2>/dev/null; return $?; }
    sleep 0.02
  done
  return 1
}

# utime + stime of every thread of $1, in clock ticks.
cpu_ticks() {
  local s f
  s=$(<"/proc/$1/stat") || return 1
  # Fields after "pid (comm) ": f[0] is field 3 (state), f[11] utime, f[12] stime.
  read -r -a f <<<"${s##*) }"
  echo $((f[11] + f[12]))
}

status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Stops $1 with SIGTERM (or the signal $2), then SIGKILL after 5 s; returns its exit status.
stop_pid() {
  local pid=$1 i
  kill -"${2:-TERM}" "$pid" 2>/dev/null
  for ((i = 0; i < 250; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "# pid $pid did not stop on SIGTERM: killed" >&2
    kill -9 "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
}

# Attaches strace -c -f to every thread of the server; waits (bounded) until it has.
start_strace() {
  local i
  strace -c -f -o "$out/$1.strace" -p "$server_pid" 2>"$tmp/strace.err" &
  strace_pid=$!
  for ((i = 0; i < 250; i++)); do
    grep -q attached "$tmp/strace.err" && return 0
    kill -0 "$strace_pid" 2>/dev/null || break
    sleep 0.02
  done
  echo "# $1: strace did not attach" >&2
  cat "$tmp/strace.err" >&2
  return 1
}

tsv=$out/echo.tsv
printf 'server\tconns\tmsgs\tsize\trt_per_s\tp50_us\tp99_us\tcpu_us_per_rt\tpeak_rss_kib\trss_per_conn_kib\n' >"$tsv"
failed=0
echo "# echo: $conns connections, $msgs messages of $size bytes each, $(nproc) CPUs"

# Runs server $1 (command $2); appends its row, or a row of NA on failure.
run_one() {
  local name=$1 cmd=$2 port idle cpu0 cpu1 hwm result rt secs rate p50 p99 fails crc
  : >"$tmp/server.out"
  : >"$tmp/client.out"
  $cmd >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  port=$(wait_line "$tmp/server.out" '^port ' 10 "$server_pid") || {
    echo "# $name: no port from the server" >&2
    cat "$tmp/server.err" >&2
    return 1
  }
  port=${port#port }
  idle=$(status_kib "$server_pid" VmRSS)

  rm -f "$tmp/go"
  mkfifo "$tmp/go"
  "$client" --port "$port" --conns "$conns" --msgs "$msgs" --size "$size" --timeout "$msg_timeout" \
    --deadline "$deadline" --wait-go <"$tmp/go" >"$tmp/client.out" 2>"$tmp/client.err" &
  client_pid=$!
  exec {go}<>"$tmp/go" # read-write: the open does not wait for the client
  if ! wait_line "$tmp/client.out" '^ready ' $((deadline + 10)) "$client_pid" >/dev/null; then
    echo "# $name: the client did not get ready" >&2
    return 1
  fi
  cpu0=$(cpu_ticks "$server_pid") || return 1
  if [ "$trace" = 1 ]; then
    start_strace "$name" || return 1
  fi
  echo go >&"$go"
  result=$(wait_line "$tmp/client.out" '^result ' $((deadline + 10)) "$client_pid") || {
    echo "# $name: no result from the client" >&2
    return 1
  }
  wait_line "$tmp/client.out" '^done' 10 "$client_pid" >/dev/null
  cpu1=$(cpu_ticks "$server_pid") || return 1
  if [ -n "$strace_pid" ]; then
    stop_pid "$strace_pid" INT # strace detaches and writes its counts
    strace_pid=
  fi
  hwm=$(status_kib "$server_pid" VmHWM)
  echo go >&"$go"
  exec {go}>&-
  go=
  wait "$client_pid"
  crc=$?
  client_pid=
  read -r _ rt secs rate p50 p99 fails <<<"$result"
  if [ "$crc" -ne 0 ] || [ "$fails" -ne 0 ]; then
    echo "# $name: the client failed (exit $crc, $fails failures)" >&2
    return 1
  fi
  awk -v n="$name" -v c="$conns" -v m="$msgs" -v s="$size" -v rate="$rate" -v p50="$p50" -v p99="$p99" \
    -v dc="$((cpu1 - cpu0))" -v tck="$tck" -v rt="$rt" -v hwm="$hwm" -v idle="$idle" 'BEGIN {
      printf "%s\t%d\t%d\t%d\t%.0f\t%.1f\t%.1f\t%.3f\t%d\t%.2f\n", n, c, m, s, rate, p50, p99,
        dc * 1e6 / tck / rt, hwm, (hwm - idle) / c
    }' >>"$tsv"
}

for i in "${!names[@]}"; do
  name=${names[$i]}
  if ! run_one "$name" "${cmds[$i]}"; then
    failed=1
    [ -n "$client_pid" ] && { kill "$client_pid" 2>/dev/null; wait "$client_pid" 2>/dev/null; client_pid=; }
    [ -n "$strace_pid" ] && { stop_pid "$strace_pid" INT; strace_pid=; }
    [ -n "$go" ] && { exec {go}>&-; go=; }
    sed 's/^/#   client: /' "$tmp/client.err" >&2
    printf '%s\t%d\t%d\t%d\tNA\tNA\tNA\tNA\tNA\tNA\n' "$name" "$conns" "$msgs" "$size" >>"$tsv"
  fi
  if [ -n "$server_pid" ]; then
    stop_pid "$server_pid"
    server_pid=
  fi
  [ -s "$tmp/server.err" ] && sed 's/^/#   server: /' "$tmp/server.err" | grep -v 'stopped after' >&2
done

column -t -s $'\t' "$tsv"
echo "# written to $tsv"
if [ "$failed" -ne 0 ]; then
  echo "# some runs failed" >&2
  exit 1
fi
