/*
 * The pipe-ring benchmark on xpoll, on any compiled backend (--backend
 * epoll, poll, select, kqueue). Renewal is xpoll_remove + xpoll_add of every
 * slot, or with --renew modify xpoll_modify to no interest and back; dispatch
 * is xpoll_wait with a zero time-out.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ring_common.h"
#include "xpoll/xpoll.h"

#define MAX_EVENTS 1024

struct xp {
  xpoll_t *p;
  xpoll_event_t ev[MAX_EVENTS];
};

static void xp_list(void) {
  const char *names[16];
  int i, n = xpoll_backends(names, 16);
  for (i = 0; i < n && i < 16; i++) printf("%s\n", names[i]);
}

static int xp_fail(const char *call, int k, int rc) {
  fprintf(stderr, "FAIL: %s (slot %d): %s\n", call, k, xpoll_errname(rc));
  return RING_EXIT_FAIL;
}

static int xp_open(struct ring *r, const char *backend) {
  struct xp *x = calloc(1, sizeof *x);
  int k, rc;
  if (!x) return RING_EXIT_FAIL;
  r->impl = x;
  rc = xpoll_create(&x->p, backend, 0);
  if (rc != 0) {
    fprintf(stderr, "FAIL: xpoll_create(%s): %s\n", backend, xpoll_errname(rc));
    return rc == XPOLL_ENOBACKEND ? RING_EXIT_UNSUPPORTED : RING_EXIT_FAIL;
  }
  for (k = 0; k < r->n; k++) {
    rc = xpoll_add(x->p, r->rfd[k], XPOLL_IN, (uint64_t)k);
    if (rc == XPOLL_ERANGE) {
      fprintf(stderr, "unsupported: descriptor %d is beyond what xpoll's %s can watch\n", r->rfd[k], backend);
      return RING_EXIT_UNSUPPORTED;
    }
    if (rc != 0) return xp_fail("xpoll_add", k, rc);
  }
  return 0;
}

static int xp_renew(struct ring *r) {
  struct xp *x = r->impl;
  int k, rc;
  for (k = 0; k < r->n; k++) {
    rc = xpoll_remove(x->p, r->rfd[k]);
    if (rc != 0) return xp_fail("xpoll_remove", k, rc);
    rc = xpoll_add(x->p, r->rfd[k], XPOLL_IN, (uint64_t)k);
    if (rc != 0) return xp_fail("xpoll_add", k, rc);
  }
  return 0;
}

/* The modify idiom: each registration paused (no interest) and resumed,
 * which never leaves the table, so no descriptor check is made. */
static int xp_renew_modify(struct ring *r) {
  struct xp *x = r->impl;
  int k, rc;
  for (k = 0; k < r->n; k++) {
    rc = xpoll_modify(x->p, r->rfd[k], 0, (uint64_t)k);
    if (rc != 0) return xp_fail("xpoll_modify", k, rc);
    rc = xpoll_modify(x->p, r->rfd[k], XPOLL_IN, (uint64_t)k);
    if (rc != 0) return xp_fail("xpoll_modify", k, rc);
  }
  return 0;
}

static int xp_dispatch(struct ring *r) {
  struct xp *x = r->impl;
  int i, n = xpoll_wait(x->p, x->ev, MAX_EVENTS, 0);
  if (n < 0) return xp_fail("xpoll_wait", -1, n);
  for (i = 0; i < n; i++) ring_on_readable(r, (int)x->ev[i].data);
  return 0;
}

static void xp_close(struct ring *r) {
  struct xp *x = r->impl;
  if (!x) return;
  xpoll_destroy(x->p);
  free(x);
  r->impl = NULL;
}

int main(int argc, char **argv) {
  static const struct ring_impl impl = {"xpoll", xp_list, xp_open, xp_renew, xp_dispatch, xp_close, xp_renew_modify};
  return ring_main(argc, argv, &impl);
}
