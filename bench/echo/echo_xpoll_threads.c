/*
 * Echo server on xpoll with several threads, in one of three shapes:
 *
 *   --threads 1             one thread, one poller (echo_xpoll's loop)
 *   --threads T --split     T threads, a poller each; the first thread accepts
 *                           and hands the connections out in turn (xpoll_add
 *                           on the other thread's poller while it waits)
 *   --threads T --shared    T threads waiting on one XPOLL_SHARED poller at
 *                           once; every registration (the listening socket
 *                           too) is XPOLL_ONESHOT, so that each event goes
 *                           to one thread, which re-arms what it handled
 *
 * --oneshot makes the connections of the first two shapes oneshot as well
 * (re-armed after every event), so that the cost of re-arming can be told
 * apart from the cost of sharing the poller. Otherwise they are
 * level-triggered and change their registration only while a reply is
 * pending, as in echo_xpoll.c. Each thread reads into a buffer of its own.
 *
 * The first thread is the main thread. SIGTERM or SIGINT stops every
 * thread: the one that sees the stop descriptor sets a flag and wakes the
 * pollers; every wait is bounded (1 s) and the flag is checked after it.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echo_common.h"
#include "xpoll/xpoll.h"

#define MAX_THREADS 16
#define DATA_LISTEN 1u
#define DATA_STOP 2u

struct conn {
  struct echo_pending out;
  int fd;
};

struct loop {
  xpoll_t *p; /* its own poller, or the shared one */
  pthread_t thread;
  long served;
  char buf[ECHO_BUF_SIZE];
};

static struct {
  int threads, shared, port;
  uint32_t conn_mode; /* 0 (level-triggered) or XPOLL_ONESHOT */
  const char *backend;
} cfg = {1, 0, 0, 0, NULL};

static struct loop *loops;
static int listen_fd, stop_fd, stopping;
static unsigned next_loop; /* touched only by the thread that accepts: one at a time */

static void xcheck(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "echo-%s: %s: %s\n", echo_name, what, xpoll_strerror(rc));
    exit(1);
  }
}

static void usage(const char *prog) {
  fprintf(stderr, "usage: %s [--port N] [--threads T] [--split | --shared] [--oneshot] BACKEND\n", prog);
  exit(2);
}

static void parse(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if ((strcmp(a, "--port") == 0 || strcmp(a, "--threads") == 0) && i + 1 < argc) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      int port = a[2] == 'p';
      if (*end != '\0' || v < (port ? 0 : 1) || v > (port ? 65535 : MAX_THREADS)) usage(argv[0]);
      if (port)
        cfg.port = (int)v;
      else
        cfg.threads = (int)v;
    } else if (strcmp(a, "--split") == 0) {
      cfg.shared = 0;
    } else if (strcmp(a, "--shared") == 0) {
      cfg.shared = 1;
    } else if (strcmp(a, "--oneshot") == 0) {
      cfg.conn_mode = XPOLL_ONESHOT;
    } else if (a[0] != '-' && !cfg.backend) {
      cfg.backend = a;
    } else {
      usage(argv[0]);
    }
  }
  if (!cfg.backend) usage(argv[0]);
  /* Level-triggered readiness on a shared poller would hand one connection to two threads at once. */
  if (cfg.shared) cfg.conn_mode = XPOLL_ONESHOT;
}

/* The interest of a connection: XPOLL_OUT while a reply is pending, else XPOLL_IN. */
static uint32_t interest(const struct conn *c) { return (c->out.buf ? XPOLL_OUT : XPOLL_IN) | cfg.conn_mode; }

static void accept_all(struct loop *l) {
  for (int i = 0; i < 1024; i++) {
    int fd = echo_accept(listen_fd);
    if (fd < 0) break;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) echo_die("calloc");
    c->fd = fd;
    struct loop *to = cfg.shared ? l : &loops[next_loop++ % (unsigned)cfg.threads];
    xcheck(xpoll_add(to->p, fd, interest(c), (uint64_t)(uintptr_t)c), "xpoll_add");
    ++l->served;
  }
  if (cfg.shared) xcheck(xpoll_modify(l->p, listen_fd, XPOLL_IN | XPOLL_ONESHOT, DATA_LISTEN), "xpoll_modify(listen)");
}

static void on_conn(struct loop *l, struct conn *c) {
  int was_pending = c->out.buf != NULL;
  int rc = was_pending ? echo_on_writable(c->fd, &c->out) : echo_on_readable_buf(c->fd, &c->out, l->buf, sizeof l->buf);
  if (rc < 0) {
    xcheck(xpoll_remove(l->p, c->fd), "xpoll_remove");
    close(c->fd);
    echo_pending_free(&c->out);
    free(c);
    return;
  }
  /* A oneshot registration is re-armed after every event; a level-triggered one only when it changes. */
  if (cfg.conn_mode == XPOLL_ONESHOT || was_pending != (c->out.buf != NULL))
    xcheck(xpoll_modify(l->p, c->fd, interest(c), (uint64_t)(uintptr_t)c), "xpoll_modify");
}

static void stop_all(void) {
  __atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < (cfg.shared ? 1 : cfg.threads); i++) xpoll_wake(loops[i].p);
}

static void *run(void *arg) {
  struct loop *l = arg;
  xpoll_event_t ev[256];
  while (!__atomic_load_n(&stopping, __ATOMIC_SEQ_CST)) {
    int n = xpoll_wait(l->p, ev, 256, 1000);
    if (n == XPOLL_EINTR) continue;
    xcheck(n, "xpoll_wait");
    for (int i = 0; i < n; i++) {
      if (ev[i].data == DATA_LISTEN)
        accept_all(l);
      else if (ev[i].data == DATA_STOP)
        stop_all();
      else
        on_conn(l, (struct conn *)(uintptr_t)ev[i].data);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  parse(argc, argv);
  static char name[48];
  snprintf(name, sizeof name, "xpoll-%s-%dt-%s", cfg.backend, cfg.threads, cfg.shared ? "shared" : "split");
  echo_name = name;
  echo_raise_nofile();

  loops = calloc((size_t)cfg.threads, sizeof *loops);
  if (!loops) echo_die("calloc");
  xcheck(xpoll_create(&loops[0].p, cfg.backend, cfg.shared ? XPOLL_SHARED : 0), "xpoll_create");
  for (int i = 1; i < cfg.threads; i++) {
    if (cfg.shared)
      loops[i].p = loops[0].p;
    else
      xcheck(xpoll_create(&loops[i].p, cfg.backend, 0), "xpoll_create");
  }
  stop_fd = echo_stop_fd();
  listen_fd = echo_listen(cfg.port);
  /* The first thread's poller (the only one when shared) watches the listening socket and the stop. */
  xcheck(xpoll_add(loops[0].p, listen_fd, XPOLL_IN | (cfg.shared ? XPOLL_ONESHOT : 0), DATA_LISTEN), "xpoll_add");
  xcheck(xpoll_add(loops[0].p, stop_fd, XPOLL_IN, DATA_STOP), "xpoll_add(stop)");

  for (int i = 1; i < cfg.threads; i++) {
    int rc = pthread_create(&loops[i].thread, NULL, run, &loops[i]);
    if (rc != 0) {
      fprintf(stderr, "echo-%s: pthread_create: %s\n", echo_name, strerror(rc));
      exit(1);
    }
  }
  run(&loops[0]);
  long served = loops[0].served;
  for (int i = 1; i < cfg.threads; i++) {
    pthread_join(loops[i].thread, NULL);
    served += loops[i].served;
  }
  /* Connections still open are released with the process. */
  fprintf(stderr, "echo-%s: stopped after %ld connections\n", echo_name, served);
  for (int i = 0; i < (cfg.shared ? 1 : cfg.threads); i++) xpoll_destroy(loops[i].p);
  close(listen_fd);
  return 0;
}
