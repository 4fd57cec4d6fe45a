/*
 * The pipe-ring benchmark on the bare system calls, the baselines every
 * library is compared with: --backend epoll (renewal is epoll_ctl DEL + ADD
 * of every slot), poll (renewal rebuilds the pollfd array) and select
 * (renewal rebuilds the fd_set; a plain fd_set cannot hold a descriptor at or
 * above FD_SETSIZE, so select refuses such a ring).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "ring_common.h"

#define MAX_EVENTS 1024

enum which { RAW_EPOLL, RAW_POLL, RAW_SELECT };

struct raw {
  enum which which;
  int epfd;
  struct epoll_event ev[MAX_EVENTS];
  struct pollfd *pfd;
  fd_set master, work;
  int nfds;
  int *slot_of; /* select: descriptor -> slot */
};

static void raw_list(void) { printf("epoll\npoll\nselect\n"); }

static int sys_fail(const char *call) {
  fprintf(stderr, "FAIL: %s: %s\n", call, strerror(errno));
  return RING_EXIT_FAIL;
}

static int epoll_add(struct raw *x, int fd, int k) {
  struct epoll_event e;
  memset(&e, 0, sizeof e);
  e.events = EPOLLIN;
  e.data.u64 = (uint64_t)k;
  return epoll_ctl(x->epfd, EPOLL_CTL_ADD, fd, &e);
}

/* Registers every slot afresh: the renewal of each backend. */
static int raw_register(struct ring *r) {
  struct raw *x = r->impl;
  int k;
  switch (x->which) {
    case RAW_EPOLL:
      for (k = 0; k < r->n; k++)
        if (epoll_add(x, r->rfd[k], k) != 0) return sys_fail("epoll_ctl(ADD)");
      break;
    case RAW_POLL:
      for (k = 0; k < r->n; k++) {
        x->pfd[k].fd = r->rfd[k];
        x->pfd[k].events = POLLIN;
        x->pfd[k].revents = 0;
      }
      break;
    case RAW_SELECT:
      FD_ZERO(&x->master);
      x->nfds = 0;
      for (k = 0; k < r->n; k++) {
        FD_SET(r->rfd[k], &x->master);
        x->slot_of[r->rfd[k]] = k;
        if (r->rfd[k] >= x->nfds) x->nfds = r->rfd[k] + 1;
      }
      break;
  }
  return 0;
}

static int raw_open(struct ring *r, const char *backend) {
  struct raw *x = calloc(1, sizeof *x);
  if (!x) return RING_EXIT_FAIL;
  r->impl = x;
  x->epfd = -1;
  if (!strcmp(backend, "epoll")) {
    x->which = RAW_EPOLL;
    x->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (x->epfd < 0) return sys_fail("epoll_create1");
  } else if (!strcmp(backend, "poll")) {
    x->which = RAW_POLL;
    x->pfd = calloc((size_t)r->n, sizeof *x->pfd);
    if (!x->pfd) return RING_EXIT_FAIL;
  } else if (!strcmp(backend, "select")) {
    int rc = ring_check_fd_setsize(r, "a plain fd_set holds descriptors below FD_SETSIZE only");
    if (rc != 0) return rc;
    x->which = RAW_SELECT;
    x->slot_of = calloc(FD_SETSIZE, sizeof *x->slot_of);
    if (!x->slot_of) return RING_EXIT_FAIL;
  } else {
    fprintf(stderr, "unsupported: no raw backend named %s\n", backend);
    return RING_EXIT_UNSUPPORTED;
  }
  return raw_register(r);
}

static int raw_renew(struct ring *r) {
  struct raw *x = r->impl;
  int k;
  if (x->which == RAW_EPOLL)
    for (k = 0; k < r->n; k++)
      if (epoll_ctl(x->epfd, EPOLL_CTL_DEL, r->rfd[k], NULL) != 0) return sys_fail("epoll_ctl(DEL)");
  return raw_register(r);
}

static int raw_dispatch(struct ring *r) {
  struct raw *x = r->impl;
  int i, n, fd;
  switch (x->which) {
    case RAW_EPOLL:
      n = epoll_wait(x->epfd, x->ev, MAX_EVENTS, 0);
      if (n < 0) return sys_fail("epoll_wait");
      for (i = 0; i < n; i++) ring_on_readable(r, (int)x->ev[i].data.u64);
      break;
    case RAW_POLL:
      n = poll(x->pfd, (nfds_t)r->n, 0);
      if (n < 0) return sys_fail("poll");
      for (i = 0; i < r->n && n > 0; i++)
        if (x->pfd[i].revents) {
          n--;
          ring_on_readable(r, i);
        }
      break;
    case RAW_SELECT: {
      struct timeval tv = {0, 0};
      x->work = x->master;
      n = select(x->nfds, &x->work, NULL, NULL, &tv);
      if (n < 0) return sys_fail("select");
      for (fd = 0; fd < x->nfds && n > 0; fd++)
        if (FD_ISSET(fd, &x->work)) {
          n--;
          ring_on_readable(r, x->slot_of[fd]);
        }
      break;
    }
  }
  return 0;
}

static void raw_close(struct ring *r) {
  struct raw *x = r->impl;
  if (!x) return;
  if (x->epfd >= 0) close(x->epfd);
  free(x->pfd);
  free(x->slot_of);
  free(x);
  r->impl = NULL;
}

int main(int argc, char **argv) {
  static const struct ring_impl impl = {"raw", raw_list, raw_open, raw_renew, raw_dispatch, raw_close, NULL};
  return ring_main(argc, argv, &impl);
}
