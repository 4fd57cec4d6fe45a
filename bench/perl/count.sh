#!/usr/bin/env bash
# What does not move between runs, per round of bench/perl/ring.pl: user-space instructions
# (valgrind cachegrind) and system calls (strace -c), each the difference between a run of 6 rounds
# and one of 2 (after one warm-up), divided by 4, so that start-up and set-up cancel out.
# Usage: bench/perl/count.sh <perl include flags> [libraries] [actives]
#   bench/perl/count.sh "-Ibindings/perl/blib/lib -Ibindings/perl/blib/arch" "xpoll ev ev_new xpoll_poll iopoll floor" "100 1"
set -euo pipefail
inc=$1
libs=${2:-"xpoll ev ev_new xpoll_poll floor"}
actives=${3:-"100 1"}
ring=$(dirname "$0")/ring.pl
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() { # <tool> <library> <active> <rounds>
  local args=(--only "$2" --active "$3" --rounds "$4" --passes 1 --warmup 1)
  if [ "$1" = instructions ]; then
    # shellcheck disable=SC2086
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null perl $inc "$ring" "${args[@]}" 2>&1 >/dev/null |
      awk '/I *refs/ { gsub(",", "", $NF); print $NF }'
  else
    # shellcheck disable=SC2086
    strace -f -c -o "$out" perl $inc "$ring" "${args[@]}" >/dev/null 2>&1
    awk '$NF == "total" { print $4 }' "$out"
  fi
}
printf '%-6s %-12s %16s %14s\n' active library instructions syscalls
for a in $actives; do
  for lib in $libs; do
    i=$(($(run instructions "$lib" "$a" 6) - $(run instructions "$lib" "$a" 2)))
    s=$(($(run syscalls "$lib" "$a" 6) - $(run syscalls "$lib" "$a" 2)))
    printf '%-6s %-12s %16d %14d\n' "$a" "$lib" $((i / 4)) $((s / 4))
  done
done
