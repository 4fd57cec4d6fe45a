/*
 * Echo server on xpoll, on the backend named on the command line.
 *
 * Each connection is a 24-byte struct whose address is the registration's
 * data. It is registered level-triggered for XPOLL_IN once; only when a reply
 * could not be written at once does it switch to XPOLL_OUT (and back when the
 * rest is written), so the usual round trip costs no registration change.
 * While output is pending the connection is not read: the peer is held back
 * until it takes its replies (reading on would need an unbounded buffer, and
 * a level-triggered XPOLL_IN left unread would be reported on every wait).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echo_common.h"
#include "xpoll/xpoll.h"

struct conn {
  struct echo_pending out;
  int fd;
};

/* Registration data of the listening socket and the stop pipe. */
#define DATA_LISTEN 1u
#define DATA_STOP 2u

static void xcheck(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "echo-%s: %s: %s\n", echo_name, what, xpoll_strerror(rc));
    exit(1);
  }
}

static void close_conn(xpoll_t *p, struct conn *c) {
  xcheck(xpoll_remove(p, c->fd), "xpoll_remove");
  close(c->fd);
  echo_pending_free(&c->out);
  free(c);
}

static void accept_all(xpoll_t *p, int lfd, long *served) {
  for (int i = 0; i < 1024; i++) {
    int fd = echo_accept(lfd);
    if (fd < 0) return;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) echo_die("calloc");
    c->fd = fd;
    xcheck(xpoll_add(p, fd, XPOLL_IN, (uint64_t)(uintptr_t)c), "xpoll_add");
    ++*served;
  }
}

static void on_conn(xpoll_t *p, struct conn *c, uint32_t events) {
  int rc;
  if (c->out.buf) {
    rc = echo_on_writable(c->fd, &c->out);
    if (rc == 0) xcheck(xpoll_modify(p, c->fd, XPOLL_IN, (uint64_t)(uintptr_t)c), "xpoll_modify");
  } else {
    rc = echo_on_readable(c->fd, &c->out);
    if (rc == 1) xcheck(xpoll_modify(p, c->fd, XPOLL_OUT, (uint64_t)(uintptr_t)c), "xpoll_modify");
  }
  (void)events; /* errors and hang-ups come as readiness: the read or write answers */
  if (rc < 0) close_conn(p, c);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    /* The compiled backends, one per line (the driver runs one server each). */
    const char *names[16];
    int n = xpoll_backends(names, 16);
    for (int i = 0; i < n && i < 16; i++) printf("%s\n", names[i]);
    return 0;
  }
  struct echo_args args;
  echo_parse_args(argc, argv, 1, &args);
  static char name[32];
  snprintf(name, sizeof name, "xpoll-%s", args.backend);
  echo_name = name;
  echo_raise_nofile();

  xpoll_t *p;
  xcheck(xpoll_create(&p, args.backend, 0), "xpoll_create");
  int stop = echo_stop_fd();
  int lfd = echo_listen(args.port);
  xcheck(xpoll_add(p, lfd, XPOLL_IN, DATA_LISTEN), "xpoll_add(listen)");
  xcheck(xpoll_add(p, stop, XPOLL_IN, DATA_STOP), "xpoll_add(stop)");

  xpoll_event_t ev[256];
  long served = 0;
  for (int running = 1; running;) {
    int n = xpoll_wait(p, ev, 256, -1);
    if (n == XPOLL_EINTR) continue;
    xcheck(n, "xpoll_wait");
    for (int i = 0; i < n; i++) {
      if (ev[i].data == DATA_LISTEN)
        accept_all(p, lfd, &served);
      else if (ev[i].data == DATA_STOP)
        running = 0;
      else
        on_conn(p, (struct conn *)(uintptr_t)ev[i].data, ev[i].events);
    }
  }
  /* Connections still open are released with the process. */
  fprintf(stderr, "echo-%s: stopped after %ld connections\n", echo_name, served);
  xpoll_destroy(p);
  close(lfd);
  return 0;
}
