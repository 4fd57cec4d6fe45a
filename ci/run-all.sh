#!/usr/bin/env bash
# Installs what the tests need and runs every test lane this machine can run.
# Exits non-zero if any lane fails; prints one summary line per lane.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
bash ci/deps.sh || exit 1

lanes=(gcc asan tsan clang kqueue windows python perl fuzz valgrind abi docs bench workflow)
declare -A result
failed=0
skipped=0
for lane in "${lanes[@]}"; do
  echo "=== lane $lane"
  start=$SECONDS
  rc=0
  bash "ci/lane-$lane.sh" || rc=$?
  if [ "$rc" -eq 0 ]; then
    result[$lane]="passed ($((SECONDS - start)) s)"
  elif [ "$rc" -eq 77 ]; then
    result[$lane]="skipped (see above)"
    skipped=$((skipped + 1))
  else
    result[$lane]="FAILED ($((SECONDS - start)) s)"
    failed=$((failed + 1))
  fi
done
echo "=== summary"
for lane in "${lanes[@]}"; do echo "lane $lane: ${result[$lane]}"; done
echo "lanes: $(( ${#lanes[@]} - failed - skipped )) passed, $failed failed, $skipped skipped"
exit $(( failed > 0 ))
