/*
 * The pipe-ring benchmark's shared driver: arguments, the descriptor limit,
 * the ring of socket pairs, the rounds and their timing, the count checks and
 * the result line. See ring_common.h for the method.
 */
#define _GNU_SOURCE
#include "ring_common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

struct options {
  const char *backend;
  int n, active, writes, rounds, warmup, timeout_s;
  const char *layout;
  const char *renew;
};

static const char *layout_name(enum ring_layout l) { return l == RING_CLASSIC ? "classic" : "bidir"; }

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A round that takes longer than the time limit ends the process: a loop
 * that never sees its bytes, or blocks, must not hang the run. */
static void on_alarm(int sig) {
  static const char msg[] = "FAIL: a round exceeded its time limit\n";
  (void)sig;
  if (write(2, msg, sizeof msg - 1) < 0) _exit(RING_EXIT_FAIL);
  _exit(RING_EXIT_FAIL);
}

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s --backend NAME [-n N] [-a ACTIVE] [-w WRITES] [--rounds R] [--warmup K]\n"
          "          [--layout auto|classic|bidir] [--renew readd|modify] [--timeout SECONDS]\n"
          "       %s --list-backends\n"
          "defaults: -n 1000 -a 100 -w N --rounds 50 --warmup 5 --layout auto --renew readd --timeout 10\n",
          prog, prog);
}

static int parse_int(const char *s, int min, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < min || v > 100000000) return -1;
  *out = (int)v;
  return 0;
}

static int parse_args(int argc, char **argv, struct options *o) {
  int i;
  o->backend = NULL;
  o->n = 1000;
  o->active = 100;
  o->writes = -1;
  o->rounds = 50;
  o->warmup = 5;
  o->timeout_s = 10;
  o->layout = "auto";
  o->renew = "readd";
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;
    if (!strcmp(a, "--backend") && v)
      o->backend = v;
    else if (!strcmp(a, "--layout") && v)
      o->layout = v;
    else if (!strcmp(a, "--renew") && v)
      o->renew = v;
    else if (!strcmp(a, "-n") && v)
      bad = parse_int(v, 2, &o->n);
    else if (!strcmp(a, "-a") && v)
      bad = parse_int(v, 1, &o->active);
    else if (!strcmp(a, "-w") && v)
      bad = parse_int(v, 0, &o->writes);
    else if (!strcmp(a, "--rounds") && v)
      bad = parse_int(v, 1, &o->rounds);
    else if (!strcmp(a, "--warmup") && v)
      bad = parse_int(v, 0, &o->warmup);
    else if (!strcmp(a, "--timeout") && v)
      bad = parse_int(v, 1, &o->timeout_s);
    else
      return -1;
    if (bad) return -1;
    i++;
  }
  if (o->writes < 0) o->writes = o->n; /* libevent's bench.c: as many writes as pipes */
  if (!o->backend || o->active > o->n) return -1;
  if (strcmp(o->layout, "auto") && strcmp(o->layout, "classic") && strcmp(o->layout, "bidir")) return -1;
  if (strcmp(o->renew, "readd") && strcmp(o->renew, "modify")) return -1;
  return 0;
}

/* Raises the soft descriptor limit to the hard limit; returns the soft limit. */
static long raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
}

/* Descriptors a process needs besides the ring: stdio, the loop's own (an
 * epoll set, an eventfd, a signal pipe) and some slack. */
#define RING_SPARE_FDS 32

static int build_ring(struct ring *r, const struct options *o, long limit) {
  int k, pairs;
  memset(r, 0, sizeof *r);
  r->n = o->n;
  r->active = o->active;
  r->writes = o->writes;
  r->renew_modify = !strcmp(o->renew, "modify");
  if (!strcmp(o->layout, "auto"))
    r->layout = 2L * o->n + RING_SPARE_FDS <= limit ? RING_CLASSIC : RING_BIDIR;
  else
    r->layout = !strcmp(o->layout, "classic") ? RING_CLASSIC : RING_BIDIR;
  if (r->layout == RING_BIDIR && o->n % 2) {
    fprintf(stderr, "the bidirectional layout needs an even N (got %d)\n", o->n);
    return RING_EXIT_USAGE;
  }
  r->descriptors = r->layout == RING_CLASSIC ? 2 * o->n : o->n;
  if (r->descriptors + RING_SPARE_FDS > limit) {
    fprintf(stderr, "FAIL: %d descriptors (%s layout) do not fit the descriptor limit %ld\n", r->descriptors,
            layout_name(r->layout), limit);
    return RING_EXIT_FAIL;
  }
  r->rfd = malloc(sizeof(int) * (size_t)o->n);
  r->feed = malloc(sizeof(int) * (size_t)o->n);
  if (!r->rfd || !r->feed) {
    fprintf(stderr, "FAIL: out of memory\n");
    return RING_EXIT_FAIL;
  }
  for (k = 0; k < o->n; k++) r->rfd[k] = r->feed[k] = -1;
  /* Bidirectional: slot k is end k / (N/2) of pair k % (N/2), so that
   * neighbouring slots sit on different pairs, as in the classic ring. */
  pairs = r->layout == RING_CLASSIC ? o->n : o->n / 2;
  for (k = 0; k < pairs; k++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
      fprintf(stderr, "FAIL: socketpair %d of %d: %s\n", k + 1, pairs, strerror(errno));
      return RING_EXIT_FAIL;
    }
    r->rfd[k] = sv[0];
    r->feed[k] = sv[1];
    if (r->layout == RING_BIDIR) {
      r->rfd[k + pairs] = sv[1];
      r->feed[k + pairs] = sv[0];
    }
    if (sv[0] > r->maxfd) r->maxfd = sv[0];
    if (sv[1] > r->maxfd) r->maxfd = sv[1];
  }
  return 0;
}

static void free_ring(struct ring *r) {
  int k, pairs = r->layout == RING_CLASSIC ? r->n : r->n / 2;
  if (r->rfd && r->feed)
    for (k = 0; k < pairs; k++) {
      if (r->rfd[k] >= 0) close(r->rfd[k]);
      if (r->feed[k] >= 0) close(r->feed[k]);
    }
  free(r->rfd);
  free(r->feed);
  r->rfd = r->feed = NULL;
}

int ring_check_fd_setsize(const struct ring *r, const char *what) {
  if (r->maxfd < FD_SETSIZE) return 0;
  fprintf(stderr, "unsupported: %d descriptors exceed FD_SETSIZE (%d): the highest is %d, and %s\n", r->descriptors,
          FD_SETSIZE, r->maxfd, what);
  return RING_EXIT_UNSUPPORTED;
}

static double cpu_us(const struct timeval *end, const struct timeval *start) {
  return (end->tv_sec - start->tv_sec) * 1e6 + (end->tv_usec - start->tv_usec);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Sorts v and returns its p-quantile (nearest rank; the median of an even
 * count is the mean of the middle two), in microseconds. */
static double quantile_us(int64_t *v, int n, double p) {
  qsort(v, (size_t)n, sizeof *v, cmp_i64);
  if (p == 0.5 && n % 2 == 0) return (v[n / 2 - 1] + v[n / 2]) / 2000.0;
  return v[(int)(p * (n - 1) + 0.5)] / 1000.0;
}

static void print_line(const struct ring_impl *impl, const struct options *o, const struct ring *r,
                       const char *status) {
  printf(
      "impl=%s\tbackend=%s\tn=%d\tactive=%d\twrites=%d\trounds=%d\twarmup=%d\tlayout=%s\trenew=%s\tdescriptors=%"
      "d\tmaxfd=%d",
      impl->name, o->backend, o->n, o->active, o->writes, o->rounds, o->warmup, layout_name(r->layout), o->renew,
      r->descriptors, r->maxfd);
  if (strcmp(status, "ok")) printf("\tstatus=%s\n", status);
}

/* One round; returns 0 or RING_EXIT_FAIL, with the two times. */
static int run_round(const struct ring_impl *impl, struct ring *r, int round, int64_t *setup, int64_t *dispatch) {
  long expected = (long)r->active + r->writes;
  int space = r->n / r->active, i, rc;
  int64_t t0, t1, t2, t3;

  r->reads = 0;
  r->writes_left = 0;
  t0 = now_ns();
  rc = r->renew_modify ? impl->renew_modify(r) : impl->renew(r);
  if (rc == 0) rc = impl->dispatch(r); /* where deferred changes are applied */
  t1 = now_ns();
  if (rc != 0) return rc;
  if (r->reads != 0 || r->failures != 0) {
    fprintf(stderr, "FAIL: round %d: %ld reads before any byte was written\n", round, r->reads);
    return RING_EXIT_FAIL;
  }
  r->writes_left = r->writes;
  for (i = 0; i < r->active; i++)
    if (write(r->feed[i * space], "e", 1) != 1) {
      fprintf(stderr, "FAIL: round %d: first write to slot %d: %s\n", round, i * space, strerror(errno));
      return RING_EXIT_FAIL;
    }
  t2 = now_ns();
  while (r->reads < expected && r->failures == 0) {
    rc = impl->dispatch(r);
    if (rc != 0) return rc;
  }
  t3 = now_ns();
  if (r->failures != 0) {
    fprintf(stderr, "FAIL: round %d: %ld reads or writes failed\n", round, r->failures);
    return RING_EXIT_FAIL;
  }
  /* Drained: one more pass finds nothing left to read. */
  rc = impl->dispatch(r);
  if (rc != 0) return rc;
  if (r->reads != expected || r->writes_left != 0) {
    fprintf(stderr, "FAIL: round %d: %ld reads, expected exactly %ld (%d active + %d writes); %ld writes left\n", round,
            r->reads, expected, r->active, r->writes, r->writes_left);
    return RING_EXIT_FAIL;
  }
  *setup = t1 - t0;
  *dispatch = t3 - t2;
  return 0;
}

/* After the last round every socket must be empty. */
static int check_empty(const struct ring *r) {
  int k;
  for (k = 0; k < r->n; k++) {
    char ch;
    if (recv(r->rfd[k], &ch, 1, MSG_PEEK | MSG_DONTWAIT) != -1 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      fprintf(stderr, "FAIL: slot %d is not empty after the last round\n", k);
      return RING_EXIT_FAIL;
    }
  }
  return 0;
}

int ring_main(int argc, char **argv, const struct ring_impl *impl) {
  struct options o;
  struct ring r;
  int64_t *setup = NULL, *dispatch = NULL, *total = NULL;
  struct rusage ru0, ru1;
  int rc, i, total_rounds;
  long limit;

  memset(&ru0, 0, sizeof ru0);
  if (argc == 2 && !strcmp(argv[1], "--list-backends")) {
    impl->list_backends();
    return RING_EXIT_OK;
  }
  if (parse_args(argc, argv, &o) != 0) {
    usage(argv[0]);
    return RING_EXIT_USAGE;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  limit = raise_nofile();
  /* The ring is made before the loop, so that its descriptors get the same
   * numbers in every implementation. */
  rc = build_ring(&r, &o, limit);
  if (rc == 0 && r.renew_modify && !impl->renew_modify) {
    fprintf(stderr, "unsupported: %s has no modify idiom (--renew modify)\n", impl->name);
    rc = RING_EXIT_UNSUPPORTED;
  }
  if (rc != 0) {
    free_ring(&r);
    return rc;
  }
  rc = impl->open(&r, o.backend);
  if (rc != 0) {
    print_line(impl, &o, &r, rc == RING_EXIT_UNSUPPORTED ? "unsupported" : "fail");
    impl->close(&r);
    free_ring(&r);
    return rc;
  }
  total_rounds = o.warmup + o.rounds;
  setup = malloc(sizeof(int64_t) * (size_t)o.rounds);
  dispatch = malloc(sizeof(int64_t) * (size_t)o.rounds);
  total = malloc(sizeof(int64_t) * (size_t)o.rounds);
  if (!setup || !dispatch || !total) {
    fprintf(stderr, "FAIL: out of memory\n");
    rc = RING_EXIT_FAIL;
  }
  for (i = 0; rc == 0 && i < total_rounds; i++) {
    int64_t s = 0, d = 0;
    if (i == o.warmup) getrusage(RUSAGE_SELF, &ru0);
    alarm((unsigned)o.timeout_s);
    rc = run_round(impl, &r, i, &s, &d);
    alarm(0);
    if (rc == 0 && i >= o.warmup) {
      setup[i - o.warmup] = s;
      dispatch[i - o.warmup] = d;
      total[i - o.warmup] = s + d;
    }
  }
  getrusage(RUSAGE_SELF, &ru1);
  if (rc == 0) rc = check_empty(&r);
  impl->close(&r);
  if (rc == 0) {
    print_line(impl, &o, &r, "ok");
    printf("\treads=%ld", (long)r.active + r.writes);
    printf("\tsetup_us=%.1f\tsetup_p10_us=%.1f\tsetup_p90_us=%.1f", quantile_us(setup, o.rounds, 0.5),
           quantile_us(setup, o.rounds, 0.1), quantile_us(setup, o.rounds, 0.9));
    printf("\tdispatch_us=%.1f\tdispatch_p10_us=%.1f\tdispatch_p90_us=%.1f", quantile_us(dispatch, o.rounds, 0.5),
           quantile_us(dispatch, o.rounds, 0.1), quantile_us(dispatch, o.rounds, 0.9));
    printf("\ttotal_us=%.1f\ttotal_p10_us=%.1f\ttotal_p90_us=%.1f", quantile_us(total, o.rounds, 0.5),
           quantile_us(total, o.rounds, 0.1), quantile_us(total, o.rounds, 0.9));
    /* CPU time is less disturbed than wall time by other load on the
     * machine: a round that is descheduled for a while does not count it. */
    printf("\tcpu_user_us=%.1f\tcpu_sys_us=%.1f", cpu_us(&ru1.ru_utime, &ru0.ru_utime) / o.rounds,
           cpu_us(&ru1.ru_stime, &ru0.ru_stime) / o.rounds);
    printf("\tspurious=%ld\tstatus=ok\n", r.spurious);
  } else {
    print_line(impl, &o, &r, "fail");
    fprintf(stderr, "FAIL: %s on %s, N=%d\n", impl->name, o.backend, o.n);
  }
  free(setup);
  free(dispatch);
  free(total);
  free_ring(&r);
  return rc;
}
