#!/bin/sh
# Fails unless the shared library exports xpoll_* functions and nothing else.
set -eu
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//')
count=$(printf '%s\n' "$syms" | grep -c '^xpoll_' || true)
others=$(printf '%s\n' "$syms" | grep -v '^xpoll_' | grep -v '^XPOLL_[0-9.]*$' || true)
echo "exported xpoll_ symbols: $count"
if [ -n "$others" ]; then
  echo "unexpected exports:"; printf '%s\n' "$others"; exit 1
fi
[ "$count" -ge 10 ] || { echo "too few xpoll_ exports"; exit 1; }
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
echo "SONAME: $soname"
[ "$soname" = "libxpoll.so.1" ]
