/*
 * The pipe-ring benchmark on libuv: its one backend per OS (epoll on Linux).
 * Renewal is uv_poll_stop + uv_poll_start of every slot; dispatch is
 * uv_run(UV_RUN_NOWAIT).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ring_common.h"

#if defined(__linux__)
#define LUV_BACKEND "epoll"
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
#define LUV_BACKEND "kqueue"
#else
#define LUV_BACKEND "default"
#endif

struct luv {
  uv_loop_t loop;
  uv_poll_t *h;
  int initialised; /* handles made */
  int loop_ok;
};

static struct ring *g_ring;

static void luv_list(void) { printf("%s\n", LUV_BACKEND); }

static void on_poll(uv_poll_t *h, int status, int events) {
  struct luv *x = g_ring->impl;
  if (status < 0 || !(events & UV_READABLE)) {
    g_ring->failures++;
    return;
  }
  ring_on_readable(g_ring, (int)(h - x->h));
}

static int luv_fail(const char *call, int k, int rc) {
  fprintf(stderr, "FAIL: %s (slot %d): %s\n", call, k, uv_strerror(rc));
  return RING_EXIT_FAIL;
}

static int luv_open(struct ring *r, const char *backend) {
  struct luv *x = calloc(1, sizeof *x);
  int k, rc;
  if (!x) return RING_EXIT_FAIL;
  r->impl = x;
  g_ring = r;
  if (strcmp(backend, LUV_BACKEND)) {
    fprintf(stderr, "unsupported: libuv has only its %s backend here\n", LUV_BACKEND);
    return RING_EXIT_UNSUPPORTED;
  }
  rc = uv_loop_init(&x->loop);
  if (rc != 0) return luv_fail("uv_loop_init", -1, rc);
  x->loop_ok = 1;
  x->h = calloc((size_t)r->n, sizeof *x->h);
  if (!x->h) return RING_EXIT_FAIL;
  for (k = 0; k < r->n; k++) {
    rc = uv_poll_init(&x->loop, &x->h[k], r->rfd[k]);
    if (rc != 0) return luv_fail("uv_poll_init", k, rc);
    x->initialised = k + 1;
    rc = uv_poll_start(&x->h[k], UV_READABLE, on_poll);
    if (rc != 0) return luv_fail("uv_poll_start", k, rc);
  }
  return 0;
}

static int luv_renew(struct ring *r) {
  struct luv *x = r->impl;
  int k, rc;
  for (k = 0; k < r->n; k++) {
    rc = uv_poll_stop(&x->h[k]);
    if (rc != 0) return luv_fail("uv_poll_stop", k, rc);
    rc = uv_poll_start(&x->h[k], UV_READABLE, on_poll);
    if (rc != 0) return luv_fail("uv_poll_start", k, rc);
  }
  return 0;
}

static int luv_dispatch(struct ring *r) {
  struct luv *x = r->impl;
  uv_run(&x->loop, UV_RUN_NOWAIT);
  return 0;
}

static void luv_close(struct ring *r) {
  struct luv *x = r->impl;
  int k;
  if (!x) return;
  for (k = 0; k < x->initialised; k++) uv_close((uv_handle_t *)&x->h[k], NULL);
  if (x->loop_ok) {
    uv_run(&x->loop, UV_RUN_DEFAULT); /* runs the closes; nothing else is active */
    if (uv_loop_close(&x->loop) != 0) fprintf(stderr, "warning: uv_loop_close: handles left open\n");
  }
  free(x->h);
  free(x);
  r->impl = NULL;
}

int main(int argc, char **argv) {
  static const struct ring_impl impl = {"libuv", luv_list, luv_open, luv_renew, luv_dispatch, luv_close, NULL};
  return ring_main(argc, argv, &impl);
}
