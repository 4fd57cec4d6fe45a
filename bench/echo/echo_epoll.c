/*
 * Echo server on raw epoll: the baseline the other servers are compared with.
 *
 * The same design as the xpoll server, so that the difference is the
 * library: a 24-byte struct per connection in epoll_event.data.ptr,
 * registered level-triggered for EPOLLIN once, switched to EPOLLOUT only
 * while a reply could not be written at once (and not read meanwhile).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "echo_common.h"

struct conn {
  struct echo_pending out;
  int fd;
};

/* epoll_event.data.ptr of the listening socket and the stop pipe. */
static char listen_tag, stop_tag;

static void ctl(int epfd, int op, int fd, uint32_t events, void *ptr) {
  struct epoll_event e;
  e.events = events;
  e.data.ptr = ptr;
  if (epoll_ctl(epfd, op, fd, &e) != 0) echo_die("epoll_ctl");
}

static void close_conn(struct conn *c) {
  close(c->fd); /* also leaves the epoll set: the file has no other descriptor */
  echo_pending_free(&c->out);
  free(c);
}

static void accept_all(int epfd, int lfd, long *served) {
  for (int i = 0; i < 1024; i++) {
    int fd = echo_accept(lfd);
    if (fd < 0) return;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) echo_die("calloc");
    c->fd = fd;
    ctl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN, c);
    ++*served;
  }
}

static void on_conn(int epfd, struct conn *c) {
  int rc;
  if (c->out.buf) {
    rc = echo_on_writable(c->fd, &c->out);
    if (rc == 0) ctl(epfd, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
  } else {
    rc = echo_on_readable(c->fd, &c->out);
    if (rc == 1) ctl(epfd, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
  }
  if (rc < 0) close_conn(c);
}

int main(int argc, char **argv) {
  struct echo_args args;
  echo_parse_args(argc, argv, 0, &args);
  echo_name = "raw-epoll";
  echo_raise_nofile();

  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) echo_die("epoll_create1");
  int stop = echo_stop_fd();
  int lfd = echo_listen(args.port);
  ctl(epfd, EPOLL_CTL_ADD, lfd, EPOLLIN, &listen_tag);
  ctl(epfd, EPOLL_CTL_ADD, stop, EPOLLIN, &stop_tag);

  struct epoll_event ev[256];
  long served = 0;
  for (int running = 1; running;) {
    int n = epoll_wait(epfd, ev, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      echo_die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      if (ev[i].data.ptr == &listen_tag)
        accept_all(epfd, lfd, &served);
      else if (ev[i].data.ptr == &stop_tag)
        running = 0;
      else
        on_conn(epfd, ev[i].data.ptr);
    }
  }
  /* Connections still open are released with the process. */
  fprintf(stderr, "echo-%s: stopped after %ld connections\n", echo_name, served);
  close(epfd);
  close(lfd);
  return 0;
}
