#!/usr/bin/env bash
# Lane: the 'clang' preset (see CMakePresets.json), every test. It also builds
# epoll as on kernels before 5.11 (XPOLL_EPOLL_NO_PWAIT2): sub-millisecond
# time-outs through ppoll() on the epoll descriptor.
set -euo pipefail
exec "$(dirname "$0")/preset-lane.sh" clang
