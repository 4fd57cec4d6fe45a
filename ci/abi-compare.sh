#!/usr/bin/env bash
# Compares two ABI descriptions. Exit 0 when the second is the first plus
# added functions or variables; 1 when anything was removed or changed.
# Usage: ci/abi-compare.sh <baseline.abi> <current.abi>
set -uo pipefail
report=$(abidiff --no-added-syms "$1" "$2"; echo "abidiff exit $?")
full=$(abidiff "$1" "$2")
rc=$(printf '%s\n' "$report" | sed -n 's/^abidiff exit //p')
# abidiff: bit 1 error, bit 2 usage error, bit 4 some change, bit 8 incompatible change.
if (( rc & 3 )); then
  printf '%s\n' "$report"
  echo "abi: abidiff failed (exit $rc)"
  exit 1
fi
removed=$(printf '%s\n' "$full" | sed -n 's/.*changes summary: \([0-9]*\) Removed.*, \([0-9]*\) Changed.*/\1 \2/p' |
  awk '{r += $1; c += $2} END {print r + 0, c + 0}')
added=$(printf '%s\n' "$full" | sed -n 's/.*Changed[^,]*, \([0-9]*\) Added.*/\1/p' | awk '{a += $1} END {print a + 0}')
read -r nrem nchg <<<"$removed"
if (( rc & 8 )) || (( nrem > 0 )) || (( nchg > 0 )); then
  printf '%s\n' "$full"
  echo "abi: INCOMPATIBLE: $nrem removed, $nchg changed against the baseline"
  exit 1
fi
echo "abi: compatible with the baseline ($added added)"
