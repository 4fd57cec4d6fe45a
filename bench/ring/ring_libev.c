/*
 * The pipe-ring benchmark on libev 4: --backend epoll, poll or select
 * (EVBACKEND_*). Renewal is ev_io_stop + ev_io_start of every slot; libev
 * queues both and, finding the interest unchanged when it applies its
 * changes, makes no system call. Dispatch is ev_run(EVRUN_NOWAIT).
 *
 * libev's select backend keeps its own bit arrays (not fd_set) on Linux, so
 * it works above FD_SETSIZE.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_common.h"

struct backend_name {
  const char *name;
  unsigned int flag;
};

static const struct backend_name kBackends[] = {
    {"epoll", EVBACKEND_EPOLL}, {"poll", EVBACKEND_POLL}, {"select", EVBACKEND_SELECT}};

struct lev {
  struct ev_loop *loop;
  ev_io *io;
};

static struct ring *g_ring;

static void lev_list(void) {
  size_t i;
  for (i = 0; i < sizeof kBackends / sizeof *kBackends; i++)
    if (ev_supported_backends() & kBackends[i].flag) printf("%s\n", kBackends[i].name);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents) {
  (void)loop;
  (void)revents;
  ring_on_readable(g_ring, (int)(w - ((struct lev *)g_ring->impl)->io));
}

static int lev_open(struct ring *r, const char *backend) {
  struct lev *x = calloc(1, sizeof *x);
  unsigned int flag = 0;
  size_t i;
  int k;
  if (!x) return RING_EXIT_FAIL;
  r->impl = x;
  g_ring = r;
  for (i = 0; i < sizeof kBackends / sizeof *kBackends; i++)
    if (!strcmp(backend, kBackends[i].name)) flag = kBackends[i].flag;
  if (!flag || !(ev_supported_backends() & flag)) {
    fprintf(stderr, "unsupported: libev has no %s backend here\n", backend);
    return RING_EXIT_UNSUPPORTED;
  }
  x->loop = ev_loop_new(flag | EVFLAG_NOENV);
  if (!x->loop || ev_backend(x->loop) != flag) {
    fprintf(stderr, "FAIL: ev_loop_new(%s)\n", backend);
    return RING_EXIT_FAIL;
  }
  x->io = calloc((size_t)r->n, sizeof *x->io);
  if (!x->io) return RING_EXIT_FAIL;
  for (k = 0; k < r->n; k++) {
    ev_io_init(&x->io[k], on_read, r->rfd[k], EV_READ);
    ev_io_start(x->loop, &x->io[k]);
  }
  return 0;
}

static int lev_renew(struct ring *r) {
  struct lev *x = r->impl;
  int k;
  for (k = 0; k < r->n; k++) {
    ev_io_stop(x->loop, &x->io[k]);
    ev_io_start(x->loop, &x->io[k]);
  }
  return 0;
}

static int lev_dispatch(struct ring *r) {
  struct lev *x = r->impl;
  ev_run(x->loop, EVRUN_NOWAIT);
  return 0;
}

static void lev_close(struct ring *r) {
  struct lev *x = r->impl;
  int k;
  if (!x) return;
  if (x->io && x->loop)
    for (k = 0; k < r->n; k++) ev_io_stop(x->loop, &x->io[k]);
  free(x->io);
  if (x->loop) ev_loop_destroy(x->loop);
  free(x);
  r->impl = NULL;
}

int main(int argc, char **argv) {
  static const struct ring_impl impl = {"libev", lev_list, lev_open, lev_renew, lev_dispatch, lev_close, NULL};
  return ring_main(argc, argv, &impl);
}
