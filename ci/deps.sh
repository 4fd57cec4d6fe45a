#!/usr/bin/env bash
# Installs the Debian packages the test lanes need. Quiet, and fast when they
# are already there: apt-get runs only for what is missing.
set -euo pipefail
packages=(cmake g++ make libgtest-dev pkg-config clang python3-jsonschema python3-yaml doxygen graphviz abigail-tools
  python3-venv python3-setuptools python3-wheel python3-pytest libperl-dev libio-async-perl libtest-fatal-perl
  libtest-refcount-perl libanyevent-perl libev-perl valgrind strace
  mingw-w64 wine wine64 libevent-dev libev-dev libuv1-dev gnuplot-nox libpython3.11-testsuite python3-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all present (${packages[*]})"
  exit 0
fi
echo "deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
# Wine is installed with what it recommends (the set the Windows lane was
# checked with); everything else without.
plain=() wine=()
for p in "${missing[@]}"; do
  case $p in wine | wine64) wine+=("$p") ;; *) plain+=("$p") ;; esac
done
install() {
  "${sudo_cmd[@]}" apt-get install -y -qq "$@" >/dev/null
}
if ! { [ ${#plain[@]} -eq 0 ] || install --no-install-recommends "${plain[@]}" 2>/dev/null; } ||
  ! { [ ${#wine[@]} -eq 0 ] || install "${wine[@]}" 2>/dev/null; }; then
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  [ ${#plain[@]} -eq 0 ] || install --no-install-recommends "${plain[@]}"
  [ ${#wine[@]} -eq 0 ] || install "${wine[@]}"
fi
