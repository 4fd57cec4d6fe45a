/*
 * How late an idle wait returns. Every configuration waits on one idle pipe
 * (nothing is ever written to it) for a requested time-out, and the time from
 * just before the call to just after its return, less the request, is its
 * lateness. Configurations:
 *
 *   xpoll <backend>       xpoll_wait_ns() on every compiled backend
 *   xpoll epoll-nopwait2  xpoll_wait_ns() of a second build of the library
 *                         made with -DXPOLL_EPOLL_NO_PWAIT2=ON (ppoll on the
 *                         epoll descriptor, then epoll_wait(0): the path of
 *                         kernels before 5.11), loaded with dlopen (--fallback-lib)
 *   raw epoll_wait        the request rounded up to whole milliseconds
 *   raw epoll_pwait2      the request as a timespec
 *   libev epoll           an ev_timer, ev_run(EVRUN_ONCE) until it has fired
 *   libuv epoll           a uv_timer (whole milliseconds, the request rounded
 *                         up), uv_run(UV_RUN_ONCE) until it has fired
 *
 * The samples are interleaved: the run is cut into rounds, and in each round
 * every requested time-out takes its share of samples, each sample one wait
 * of every configuration in turn (the order rotated from one sample to the
 * next), so that load elsewhere on the machine spreads over all of them. The
 * process's timer slack is left as it is (50 us by default on Linux).
 *
 * An xpoll wait that returns before its time-out, or reports an event, fails
 * the run; the peers' early returns are counted and reported only.
 *
 * stdout: one line per configuration and time-out, tab-separated key=value
 * fields (median, 90th, 99th percentile, lowest and highest lateness in
 * microseconds, early returns). Exit status 0 when every xpoll wait was on
 * time, 1 otherwise or on any failure (or when the run outlasts --timeout,
 * 600 s by default), 2 on bad arguments.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "xpoll/xpoll.h"

#if defined(TIMEOUT_HAVE_LIBEV)
#include <ev.h>
#endif
#if defined(TIMEOUT_HAVE_LIBUV)
#include <uv.h>
#endif

#define MAX_CONFIGS 16
#define MAX_TIMEOUTS 4
#define MAX_LOOP_PASSES 1000 /* a peer's loop passes before its timer fires, at most */

static const int64_t kRequestNs[MAX_TIMEOUTS] = {50000, 200000, 1000000, 10000000};
static const int kSamplesFull[MAX_TIMEOUTS] = {2000, 2000, 1000, 200};
static const int kSamplesQuick[MAX_TIMEOUTS] = {200, 200, 50, 10};

/* The functions of the second build of the library, taken with dlsym. */
struct xpoll_fns {
  int (*create)(xpoll_t **, const char *, uint32_t);
  void (*destroy)(xpoll_t *);
  int (*add)(xpoll_t *, xpoll_fd_t, uint32_t, uint64_t);
  int (*wait_ns)(xpoll_t *, xpoll_event_t *, int, int64_t);
};

enum kind { XPOLL, RAW_EPOLL_WAIT, RAW_EPOLL_PWAIT2, LIBEV, LIBUV };

struct config {
  enum kind kind;
  char impl[16], backend[24];
  int is_xpoll;         /* an early return fails the run */
  struct xpoll_fns fns; /* XPOLL */
  xpoll_t *poller;      /* XPOLL */
  int epfd;             /* RAW_* */
#if defined(TIMEOUT_HAVE_LIBEV)
  struct ev_loop *ev;
  ev_io ev_idle;
  ev_timer ev_timer;
#endif
#if defined(TIMEOUT_HAVE_LIBUV)
  uv_loop_t uv;
  uv_poll_t uv_idle;
  uv_timer_t uv_timer;
#endif
  int fired;
  int64_t *lateness[MAX_TIMEOUTS]; /* ns, one per sample */
  int taken[MAX_TIMEOUTS];
  int early[MAX_TIMEOUTS];
  int64_t earliest[MAX_TIMEOUTS]; /* the most negative lateness, ns */
  int events[MAX_TIMEOUTS];       /* waits that reported an event (none should) */
};

static struct config configs[MAX_CONFIGS];
static int nconfigs;
static int idle_fd; /* the read end of a pipe nothing is written to */

static void on_alarm(int sig) {
  static const char msg[] = "timeout_lateness: the run took longer than --timeout: a wait never returned\n";
  (void)sig;
  (void)!write(2, msg, sizeof msg - 1);
  _exit(1);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(void) {
  fprintf(stderr,
          "usage: timeout_lateness [--quick] [--rounds R] [--samples S50,S200,S1000,S10000]\n"
          "                        [--fallback-lib PATH] [--timeout SEC]\n");
  exit(2);
}

static struct config *new_config(enum kind kind, const char *impl, const char *backend) {
  struct config *c;
  int t;
  if (nconfigs == MAX_CONFIGS) {
    fprintf(stderr, "timeout_lateness: too many configurations\n");
    exit(1);
  }
  c = &configs[nconfigs++];
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->epfd = -1;
  snprintf(c->impl, sizeof c->impl, "%s", impl);
  snprintf(c->backend, sizeof c->backend, "%s", backend);
  for (t = 0; t < MAX_TIMEOUTS; t++) c->earliest[t] = INT64_MAX;
  return c;
}

static void add_xpoll(const char *backend, const char *label, const struct xpoll_fns *fns) {
  struct config *c = new_config(XPOLL, "xpoll", label);
  int rc;
  c->is_xpoll = 1;
  c->fns = *fns;
  rc = fns->create(&c->poller, backend, 0);
  if (rc == 0) rc = fns->add(c->poller, idle_fd, XPOLL_IN, 1);
  if (rc != 0) {
    fprintf(stderr, "timeout_lateness: xpoll %s: %s\n", label, xpoll_strerror(rc));
    exit(1);
  }
}

/* The library built with -DXPOLL_EPOLL_NO_PWAIT2=ON. RTLD_DEEPBIND keeps its
 * own exported functions, when they call one another, from binding to the
 * copy this program is linked with. */
static void add_fallback(const char *path) {
  struct xpoll_fns fns;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) {
    fprintf(stderr, "timeout_lateness: dlopen %s: %s\n", path, dlerror());
    exit(1);
  }
  *(void **)&fns.create = dlsym(h, "xpoll_create");
  *(void **)&fns.destroy = dlsym(h, "xpoll_destroy");
  *(void **)&fns.add = dlsym(h, "xpoll_add");
  *(void **)&fns.wait_ns = dlsym(h, "xpoll_wait_ns");
  if (!fns.create || !fns.destroy || !fns.add || !fns.wait_ns || (void *)fns.wait_ns == (void *)xpoll_wait_ns) {
    fprintf(stderr, "timeout_lateness: %s: not a second copy of libxpoll\n", path);
    exit(1);
  }
  add_xpoll("epoll", "epoll-nopwait2", &fns);
}

static void add_raw(enum kind kind) {
  struct config *c = new_config(kind, "raw", kind == RAW_EPOLL_WAIT ? "epoll_wait" : "epoll_pwait2");
  struct epoll_event ev;
  c->epfd = epoll_create1(EPOLL_CLOEXEC);
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  if (c->epfd < 0 || epoll_ctl(c->epfd, EPOLL_CTL_ADD, idle_fd, &ev) != 0) {
    fprintf(stderr, "timeout_lateness: raw epoll: %s\n", strerror(errno));
    exit(1);
  }
}

/* epoll_pwait2 as the system call, without a signal mask; -1 with ENOSYS
 * before Linux 5.11. */
static int raw_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *ts) {
#if defined(SYS_epoll_pwait2)
  return (int)syscall(SYS_epoll_pwait2, epfd, ev, max, ts, NULL, 0);
#else
  (void)epfd, (void)ev, (void)max, (void)ts;
  errno = ENOSYS;
  return -1;
#endif
}

#if defined(TIMEOUT_HAVE_LIBEV)
static void on_ev_timer(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop, (void)revents;
  ((struct config *)w->data)->fired = 1;
}

static void on_ev_idle(struct ev_loop *loop, ev_io *w, int revents) { (void)loop, (void)w, (void)revents; }

static void add_libev(void) {
  struct config *c = new_config(LIBEV, "libev", "epoll");
  c->ev = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
  if (!c->ev) {
    fprintf(stderr, "timeout_lateness: ev_loop_new(EVBACKEND_EPOLL) failed\n");
    exit(1);
  }
  ev_io_init(&c->ev_idle, on_ev_idle, idle_fd, EV_READ);
  ev_io_start(c->ev, &c->ev_idle);
  ev_init(&c->ev_timer, on_ev_timer);
  c->ev_timer.data = c;
}
#endif

#if defined(TIMEOUT_HAVE_LIBUV)
static void on_uv_timer(uv_timer_t *t) { ((struct config *)t->data)->fired = 1; }

static void on_uv_idle(uv_poll_t *h, int status, int events) { (void)h, (void)status, (void)events; }

static void add_libuv(void) {
  struct config *c = new_config(LIBUV, "libuv", "epoll");
  if (uv_loop_init(&c->uv) != 0 || uv_poll_init(&c->uv, &c->uv_idle, idle_fd) != 0 ||
      uv_poll_start(&c->uv_idle, UV_READABLE, on_uv_idle) != 0 || uv_timer_init(&c->uv, &c->uv_timer) != 0) {
    fprintf(stderr, "timeout_lateness: libuv set-up failed\n");
    exit(1);
  }
  /* The idle descriptor is watched but keeps the loop no more alive than
   * the timer does: libuv 1.44 runs due timers at the top of uv_run and then
   * computes the wait without them, so a timer that is due before the loop
   * has waited (its clock is in whole milliseconds) would leave an
   * UV_RUN_ONCE with a referenced handle blocked for ever. */
  uv_unref((uv_handle_t *)&c->uv_idle);
  c->uv_timer.data = c;
}
#endif

/* One wait of configuration c for request_ns; the lateness in ns, or
 * INT64_MIN on a failure (reported). */
static int64_t sample(struct config *c, int t, int64_t request_ns) {
  int64_t start, end;
  int n = 0, passes = 0;
  switch (c->kind) {
    case XPOLL: {
      xpoll_event_t ev[4];
      start = now_ns();
      n = c->fns.wait_ns(c->poller, ev, 4, request_ns);
      end = now_ns();
      if (n < 0) {
        fprintf(stderr, "timeout_lateness: xpoll %s: xpoll_wait_ns: %s\n", c->backend, xpoll_strerror(n));
        return INT64_MIN;
      }
      break;
    }
    case RAW_EPOLL_WAIT:
    case RAW_EPOLL_PWAIT2: {
      struct epoll_event ev[4];
      struct timespec ts = {(time_t)(request_ns / 1000000000), (long)(request_ns % 1000000000)};
      int ms = (int)((request_ns + 999999) / 1000000);
      start = now_ns();
      n = c->kind == RAW_EPOLL_WAIT ? epoll_wait(c->epfd, ev, 4, ms) : raw_pwait2(c->epfd, ev, 4, &ts);
      end = now_ns();
      if (n < 0) {
        fprintf(stderr, "timeout_lateness: raw %s: %s\n", c->backend, strerror(errno));
        return INT64_MIN;
      }
      break;
    }
#if defined(TIMEOUT_HAVE_LIBEV)
    case LIBEV:
      /* ev_timer_start counts from the loop's cached time: bring it up to date first. */
      ev_now_update(c->ev);
      c->fired = 0;
      ev_timer_set(&c->ev_timer, (ev_tstamp)request_ns / 1e9, 0.);
      start = now_ns();
      ev_timer_start(c->ev, &c->ev_timer);
      while (!c->fired && passes++ < MAX_LOOP_PASSES) ev_run(c->ev, EVRUN_ONCE);
      end = now_ns();
      break;
#endif
#if defined(TIMEOUT_HAVE_LIBUV)
    case LIBUV:
      /* uv_timer_start counts from the loop's cached time (whole milliseconds). */
      uv_update_time(&c->uv);
      c->fired = 0;
      start = now_ns();
      if (uv_timer_start(&c->uv_timer, on_uv_timer, (uint64_t)((request_ns + 999999) / 1000000), 0) != 0) {
        fprintf(stderr, "timeout_lateness: uv_timer_start failed\n");
        return INT64_MIN;
      }
      while (!c->fired && passes++ < MAX_LOOP_PASSES) uv_run(&c->uv, UV_RUN_ONCE);
      end = now_ns();
      break;
#endif
    default: return INT64_MIN;
  }
  if ((c->kind == LIBEV || c->kind == LIBUV) && !c->fired) {
    fprintf(stderr, "timeout_lateness: %s: the timer did not fire in %d loop passes\n", c->impl, MAX_LOOP_PASSES);
    return INT64_MIN;
  }
  if (n > 0) c->events[t]++;
  return end - start - request_ns;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* The q-quantile of sorted v (nearest rank), in microseconds. */
static double quantile_us(const int64_t *v, int n, double q) {
  int k = (int)(q * n + 0.999999) - 1;
  if (k < 0) k = 0;
  if (k >= n) k = n - 1;
  return (double)v[k] / 1000.0;
}

int main(int argc, char **argv) {
  const char *fallback = NULL;
  const char *names[16];
  int samples[MAX_TIMEOUTS], rounds = 20, quick = 0, limit_s = 600, i, t, r, k, nb, failed = 0;
  int pipefd[2];
  struct xpoll_fns linked = {xpoll_create, xpoll_destroy, xpoll_add, xpoll_wait_ns};

  memcpy(samples, kSamplesFull, sizeof samples);
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) {
      quick = 1;
    } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = atoi(argv[++i]);
      if (rounds < 1 || rounds > 10000) usage();
    } else if (!strcmp(argv[i], "--samples") && i + 1 < argc) {
      if (sscanf(argv[++i], "%d,%d,%d,%d", &samples[0], &samples[1], &samples[2], &samples[3]) != 4) usage();
      for (t = 0; t < MAX_TIMEOUTS; t++)
        if (samples[t] < 1 || samples[t] > 1000000) usage();
    } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
      limit_s = atoi(argv[++i]);
      if (limit_s < 1) usage();
    } else if (!strcmp(argv[i], "--fallback-lib") && i + 1 < argc) {
      fallback = argv[++i];
    } else {
      usage();
    }
  }
  if (quick) {
    memcpy(samples, kSamplesQuick, sizeof samples);
    if (rounds > 5) rounds = 5;
  }
  for (t = 0; t < MAX_TIMEOUTS; t++)
    if (rounds > samples[t]) rounds = samples[t];

  /* Every wait is bounded by its time-out; a peer's loop that never returns
   * ends the run here. */
  signal(SIGALRM, on_alarm);
  alarm((unsigned)limit_s);
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    perror("timeout_lateness: pipe2");
    return 1;
  }
  idle_fd = pipefd[0];

  nb = xpoll_backends(names, 16);
  for (i = 0; i < nb && i < 16; i++) add_xpoll(names[i], names[i], &linked);
  if (fallback) add_fallback(fallback);
  add_raw(RAW_EPOLL_WAIT);
  add_raw(RAW_EPOLL_PWAIT2);
  {
    struct epoll_event ev;
    struct timespec zero = {0, 0};
    if (raw_pwait2(configs[nconfigs - 1].epfd, &ev, 1, &zero) < 0 && errno == ENOSYS) {
      fprintf(stderr, "timeout_lateness: no epoll_pwait2 in this kernel (before 5.11): its row is left out\n");
      close(configs[--nconfigs].epfd);
    }
  }
#if defined(TIMEOUT_HAVE_LIBEV)
  add_libev();
#endif
#if defined(TIMEOUT_HAVE_LIBUV)
  add_libuv();
#endif
  for (k = 0; k < nconfigs; k++)
    for (t = 0; t < MAX_TIMEOUTS; t++) {
      configs[k].lateness[t] = calloc((size_t)samples[t], sizeof(int64_t));
      if (!configs[k].lateness[t]) {
        fprintf(stderr, "timeout_lateness: out of memory\n");
        return 1;
      }
    }

  /* Round r takes samples [s*r/R, s*(r+1)/R) of each time-out; each sample
   * one wait of every configuration, the order rotated. */
  for (r = 0; r < rounds && !failed; r++)
    for (t = 0; t < MAX_TIMEOUTS && !failed; t++) {
      int from = (int)((int64_t)samples[t] * r / rounds), to = (int)((int64_t)samples[t] * (r + 1) / rounds), s;
      for (s = from; s < to && !failed; s++)
        for (i = 0; i < nconfigs; i++) {
          struct config *c = &configs[(i + s) % nconfigs];
          int64_t late = sample(c, t, kRequestNs[t]);
          if (late == INT64_MIN) {
            failed = 1;
            break;
          }
          c->lateness[t][c->taken[t]++] = late;
          if (late < 0) c->early[t]++;
          if (late < c->earliest[t]) c->earliest[t] = late;
        }
    }
  if (failed) return 1;

  for (k = 0; k < nconfigs; k++) {
    struct config *c = &configs[k];
    for (t = 0; t < MAX_TIMEOUTS; t++) {
      int n = c->taken[t];
      int bad = c->is_xpoll && (c->early[t] > 0 || c->events[t] > 0);
      qsort(c->lateness[t], (size_t)n, sizeof(int64_t), cmp_i64);
      printf(
          "impl=%s\tbackend=%s\trequested_us=%.0f\tsamples=%d\tmedian_us=%.1f\tp90_us=%.1f\tp99_us=%.1f\t"
          "min_us=%.1f\tmax_us=%.1f\tearly=%d\tearliest_us=%.1f\tevents=%d\tstatus=%s\n",
          c->impl, c->backend, (double)kRequestNs[t] / 1000.0, n, quantile_us(c->lateness[t], n, 0.5),
          quantile_us(c->lateness[t], n, 0.9), quantile_us(c->lateness[t], n, 0.99), (double)c->lateness[t][0] / 1000.0,
          (double)c->lateness[t][n - 1] / 1000.0, c->early[t], c->early[t] ? (double)c->earliest[t] / 1000.0 : 0.0,
          c->events[t], bad ? "early" : "ok");
      if (bad) {
        fprintf(stderr, "FAIL: xpoll %s at %.0f us: %d early return(s) (the earliest %.1f us early), %d event(s)\n",
                c->backend, (double)kRequestNs[t] / 1000.0, c->early[t], -(double)c->earliest[t] / 1000.0,
                c->events[t]);
        failed = 1;
      }
    }
  }
  for (k = 0; k < nconfigs; k++) {
    struct config *c = &configs[k];
    if (c->poller) c->fns.destroy(c->poller);
    if (c->epfd >= 0) close(c->epfd);
#if defined(TIMEOUT_HAVE_LIBEV)
    if (c->ev) ev_loop_destroy(c->ev);
#endif
#if defined(TIMEOUT_HAVE_LIBUV)
    if (c->kind == LIBUV) {
      uv_close((uv_handle_t *)&c->uv_idle, NULL);
      uv_close((uv_handle_t *)&c->uv_timer, NULL);
      uv_run(&c->uv, UV_RUN_NOWAIT);
      uv_loop_close(&c->uv);
    }
#endif
    for (t = 0; t < MAX_TIMEOUTS; t++) free(c->lateness[t]);
  }
  close(pipefd[0]);
  close(pipefd[1]);
  return failed;
}
