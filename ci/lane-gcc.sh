#!/usr/bin/env bash
# Lane: the 'default' preset (see CMakePresets.json), every test.
set -euo pipefail
exec "$(dirname "$0")/preset-lane.sh" default
