/* Compiled as strict C99 with -pedantic -Werror: the public header is plain
   C. Makes one round trip on every compiled backend. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include <xpoll/xpoll.h>

int main(void) {
  const char *names[8];
  int n = xpoll_backends(names, 8), i, failures = 0;
  for (i = 0; i < n && i < 8; i++) {
    xpoll_t *p = NULL;
    xpoll_event_t ev[2];
    int fds[2], got;
    if (xpoll_create(&p, names[i], 0) != 0 || pipe(fds) != 0) return 2;
    if (xpoll_add(p, fds[0], XPOLL_IN, (uint64_t)i + 100) != 0) return 3;
    if (write(fds[1], "x", 1) != 1) return 4;
    got = xpoll_wait(p, ev, 2, 2000);
    if (got != 1 || ev[0].fd != fds[0] || ev[0].data != (uint64_t)i + 100 || ev[0].events != XPOLL_IN) {
      printf("%s: round trip failed (%d)\n", names[i], got);
      failures++;
    } else {
      printf("%s: ok\n", names[i]);
    }
    close(fds[0]);
    close(fds[1]);
    xpoll_destroy(p);
  }
  return failures;
}
