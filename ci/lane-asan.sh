#!/usr/bin/env bash
# Lane: the 'asan' preset (see CMakePresets.json), every test.
set -euo pipefail
exec "$(dirname "$0")/preset-lane.sh" asan
