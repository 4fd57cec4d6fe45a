#!/usr/bin/env bash
# Lane: the 'tsan' preset (see CMakePresets.json), every test.
set -euo pipefail
exec "$(dirname "$0")/preset-lane.sh" tsan
