#!/usr/bin/env bash
# Prints the prefix of an installed libkqueue ($XPOLL_LIBKQUEUE_ROOT,
# /opt/libkqueue, /usr/local), "pkg-config" when only pkg-config knows it, or
# nothing (exit 1) when there is none. Nothing here builds it.
for r in "${XPOLL_LIBKQUEUE_ROOT:-}" /opt/libkqueue /usr/local; do
  if [ -n "$r" ] && compgen -G "$r/lib*/pkgconfig/libkqueue.pc" >/dev/null; then
    echo "$r"
    exit 0
  fi
done
if pkg-config --exists libkqueue 2>/dev/null; then
  echo pkg-config
  exit 0
fi
exit 1
