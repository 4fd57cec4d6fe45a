#include <stdio.h>
#include <unistd.h>

#include <xpoll/xpoll.h>

int main(void) {
  xpoll_t *p;
  xpoll_event_t ev;
  int fds[2];
  if (xpoll_create(&p, NULL, 0) != 0 || pipe(fds) != 0) return 1;
  if (xpoll_add(p, fds[0], XPOLL_IN, 9) != 0 || write(fds[1], "x", 1) != 1) return 2;
  if (xpoll_wait(p, &ev, 1, 2000) != 1 || ev.data != 9) return 3;
  printf("downstream ok on %s\n", xpoll_backend(p));
  xpoll_destroy(p);
  return 0;
}
