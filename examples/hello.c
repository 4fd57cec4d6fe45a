/* Lists the compiled backends and makes one round trip on each: a pipe
   becomes readable, the poller reports it, a wake makes a wait return. */
#include <stdio.h>
#include <unistd.h>

#include <xpoll/xpoll.h>

static int round_trip(const char *name) {
  xpoll_t *p;
  xpoll_event_t ev[4];
  int fds[2], n, rc;
  if ((rc = xpoll_create(&p, name, 0)) != 0) {
    printf("  %-7s create failed: %s\n", name, xpoll_strerror(rc));
    return 1;
  }
  if (pipe(fds) != 0) return 1;
  rc = xpoll_add(p, fds[0], XPOLL_IN, 7);
  if (rc == 0 && write(fds[1], "x", 1) != 1) rc = XPOLL_EIO;
  n = rc == 0 ? xpoll_wait(p, ev, 4, 1000) : rc;
  printf("  %-7s caps 0x%02x  max fd %ld  wait -> %d event(s)", name, (unsigned)xpoll_capabilities(p),
         xpoll_backend_max_fd(name), n);
  if (n == 1) printf(" [fd %d, events 0x%x, data %llu]", ev[0].fd, ev[0].events, (unsigned long long)ev[0].data);
  {
    char c;
    if (read(fds[0], &c, 1) != 1) rc = XPOLL_EIO; /* drained: only the wake can end the next wait */
  }
  xpoll_wake(p);
  printf(", after a wake: %d\n", xpoll_wait(p, ev, 4, 5000));
  close(fds[0]);
  close(fds[1]);
  xpoll_destroy(p);
  return n == 1 && ev[0].data == 7 ? 0 : 1;
}

int main(void) {
  const char *names[8];
  int i, n = xpoll_backends(names, 8), failed = 0;
  printf("xpoll %s, %d backend(s), best first:\n", xpoll_version_string(), n);
  for (i = 0; i < n && i < 8; i++) failed |= round_trip(names[i]);
  return failed;
}
