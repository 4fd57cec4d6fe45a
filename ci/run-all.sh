#!/usr/bin/env bash
# Installs what the tests need and runs every test lane this machine can run.
# Exits non-zero if any lane fails; prints one summary line per lane.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
bash ci/deps.sh || exit 1

lanes=(gcc asan tsan clang)
declare -A result
failed=0
for lane in "${lanes[@]}"; do
  echo "=== lane $lane"
  start=$SECONDS
  if bash "ci/lane-$lane.sh"; then
    result[$lane]="passed ($((SECONDS - start)) s)"
  else
    result[$lane]="FAILED ($((SECONDS - start)) s)"
    failed=$((failed + 1))
  fi
done
echo "=== summary"
for lane in "${lanes[@]}"; do echo "lane $lane: ${result[$lane]}"; done
echo "lanes: $(( ${#lanes[@]} - failed )) passed, $failed failed"
exit $(( failed > 0 ))
