/*
 * The pipe-ring benchmark on libevent 2: --backend epoll (its default here),
 * poll or select, forced with event_config_avoid_method. Renewal is
 * event_del + event_add of every slot (a persistent read event); dispatch is
 * event_base_loop(EVLOOP_NONBLOCK).
 *
 * libevent's select backend grows its own sets, but marks them with FD_SET,
 * which a fortified glibc (Debian builds libevent with _FORTIFY_SOURCE)
 * aborts on for a descriptor at or above FD_SETSIZE; such a ring is refused.
 */
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_common.h"

struct lev {
  struct event_base *base;
  struct event **ev;
  struct ring *r;
};

static const char *const kMethods[] = {"epoll", "poll", "select"};

static void lev_list(void) {
  const char **m = event_get_supported_methods();
  size_t i, j;
  for (j = 0; j < sizeof kMethods / sizeof *kMethods; j++)
    for (i = 0; m && m[i]; i++)
      if (!strcmp(m[i], kMethods[j])) printf("%s\n", kMethods[j]);
}

static struct ring *g_ring; /* the callback's argument is the slot */

static void on_read(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  ring_on_readable(g_ring, (int)(intptr_t)arg);
}

static int lev_open(struct ring *r, const char *backend) {
  struct lev *x = calloc(1, sizeof *x);
  struct event_config *cfg;
  const char **m;
  int i;
  if (!x) return RING_EXIT_FAIL;
  r->impl = x;
  g_ring = r;
  if (!strcmp(backend, "select")) {
    int rc = ring_check_fd_setsize(r, "libevent's select marks its sets with the fortified FD_SET");
    if (rc != 0) return rc;
  }
  cfg = event_config_new();
  if (!cfg) return RING_EXIT_FAIL;
  /* Avoid every other method, so that the one asked for is the one used. */
  m = event_get_supported_methods();
  for (i = 0; m && m[i]; i++)
    if (strcmp(m[i], backend)) event_config_avoid_method(cfg, m[i]);
  x->base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (!x->base || strcmp(event_base_get_method(x->base), backend)) {
    fprintf(stderr, "unsupported: libevent has no %s backend here\n", backend);
    return RING_EXIT_UNSUPPORTED;
  }
  x->ev = calloc((size_t)r->n, sizeof *x->ev);
  if (!x->ev) return RING_EXIT_FAIL;
  for (i = 0; i < r->n; i++) {
    x->ev[i] = event_new(x->base, r->rfd[i], EV_READ | EV_PERSIST, on_read, (void *)(intptr_t)i);
    if (!x->ev[i] || event_add(x->ev[i], NULL) != 0) {
      fprintf(stderr, "FAIL: event_new/event_add (slot %d)\n", i);
      return RING_EXIT_FAIL;
    }
  }
  return 0;
}

static int lev_renew(struct ring *r) {
  struct lev *x = r->impl;
  int k;
  for (k = 0; k < r->n; k++)
    if (event_del(x->ev[k]) != 0 || event_add(x->ev[k], NULL) != 0) {
      fprintf(stderr, "FAIL: event_del/event_add (slot %d)\n", k);
      return RING_EXIT_FAIL;
    }
  return 0;
}

static int lev_dispatch(struct ring *r) {
  struct lev *x = r->impl;
  if (event_base_loop(x->base, EVLOOP_NONBLOCK) < 0) {
    fprintf(stderr, "FAIL: event_base_loop\n");
    return RING_EXIT_FAIL;
  }
  return 0;
}

static void lev_close(struct ring *r) {
  struct lev *x = r->impl;
  int k;
  if (!x) return;
  if (x->ev)
    for (k = 0; k < r->n; k++)
      if (x->ev[k]) event_free(x->ev[k]);
  free(x->ev);
  if (x->base) event_base_free(x->base);
  free(x);
  r->impl = NULL;
}

int main(int argc, char **argv) {
  static const struct ring_impl impl = {"libevent", lev_list, lev_open, lev_renew, lev_dispatch, lev_close, NULL};
  return ring_main(argc, argv, &impl);
}
