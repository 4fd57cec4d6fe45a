/*
 * The thundering herd at accept(): W pre-forked worker processes serve one
 * loopback port, each with its own poller made after the fork, while a
 * client process opens C connections in bursts. The question is how often
 * the workers are woken for each connection they accept.
 *
 * Modes (--mode):
 *   plain          xpoll (epoll backend); the one shared listening socket
 *                  registered XPOLL_IN, level-triggered, in every poller
 *   exclusive      the same with XPOLL_IN | XPOLL_EXCLUSIVE
 *   reuseport      xpoll (epoll); every worker its own listening socket bound
 *                  to the same port with SO_REUSEPORT, so that the kernel
 *                  hands each connection to one socket, hence one worker
 *   lock           xpoll (epoll); the shared socket in every poller, but a
 *                  worker waits only while it holds a write lock on a shared
 *                  file (fcntl F_SETLKW, Apache's fcntl accept mutex), accepts
 *                  one connection and lets the lock go
 *   raw-plain      epoll_wait() directly, EPOLLIN
 *   raw-exclusive  epoll_wait() directly, EPOLLIN | EPOLLEXCLUSIVE
 *
 * For each report of the listening socket a worker accepts non-blocking
 * one connection (--accept-max K: up to K, until EAGAIN; always one in the
 * lock mode, as Apache does) and closes it at once. One per report is how
 * nginx accepts without multi_accept: a worker then waits again, and that
 * wait returns at once while more connections are queued.
 *
 * Wake-ups are counted as voluntary context switches (getrusage RUSAGE_SELF
 * ru_nvcsw of each worker from just before the client starts to the stop,
 * summed over the workers), not as waits that returned: epoll looks at a
 * level-triggered listener again before it returns, so a worker woken for a
 * connection another worker has taken goes back to sleep inside
 * epoll_wait() and its wait never returns. The count includes, per worker,
 * the first sleep and the wake-up by the stop. The waits that returned with
 * events are reported beside it, and so are the waits after which nothing
 * could be accepted.
 *
 * Every connection must be accepted exactly once: the client keeps each one
 * open until the workers have accepted them all (a shared counter), then
 * resets them (SO_LINGER 0, so that no TIME_WAIT is left). Every wait is
 * bounded, every child is stopped by its pid after --timeout and reaped.
 *
 * stdout: one line of tab-separated key=value fields. Exit status 0 when
 * the counts are right, 1 on any failure, 2 on bad arguments, 3 when the
 * mode is unsupported here (no exclusive wake-up).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xpoll/xpoll.h"

#define MAX_WORKERS 64
#define WAIT_MS 200 /* bound of one wait; the loop checks its deadline after each */
#define DATA_LISTEN 1u
#define DATA_STOP 2u

enum mode { PLAIN, EXCLUSIVE, REUSEPORT, LOCK, RAW_PLAIN, RAW_EXCLUSIVE };
static const char *const mode_names[] = {"plain", "exclusive", "reuseport", "lock", "raw-plain", "raw-exclusive"};

static struct {
  enum mode mode;
  int workers, conns, burst, pause_us, timeout_s, accept_max;
} opt = {PLAIN, 4, 10000, 50, 1000, 60, 1};

/* Shared by the parent, the workers and the client (an anonymous shared mapping). */
struct shared {
  long accepted; /* connections accepted by all workers (atomic) */
  int done;      /* set by the parent once the client has finished */
};

/* What a worker sends the parent at the end, in one write to a pipe. */
struct report {
  int index, error;
  long accepts, waits, empty_waits, nvcsw, nivcsw, cpu_us;
};

static struct shared *shared;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "accept_herd: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage(void) {
  fprintf(stderr,
          "usage: accept_herd --mode plain|exclusive|reuseport|lock|raw-plain|raw-exclusive\n"
          "                   [--workers W] [--conns C] [--burst B] [--pause-us P] [--accept-max K]\n"
          "                   [--timeout SEC]\n");
  exit(2);
}

static int parse_int(const char *s, int lo, int hi) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v < lo || v > hi) usage();
  return (int)v;
}

static int is_raw(void) { return opt.mode == RAW_PLAIN || opt.mode == RAW_EXCLUSIVE; }
static int is_exclusive(void) { return opt.mode == EXCLUSIVE || opt.mode == RAW_EXCLUSIVE; }

static int backlog(void) {
  int b = SOMAXCONN, v;
  FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
  if (f) {
    if (fscanf(f, "%d", &v) == 1 && v > b) b = v;
    fclose(f);
  }
  return b;
}

/* A non-blocking socket listening on 127.0.0.1:port (0: any); SO_REUSEPORT when asked. */
static int listen_on(int port, int reuseport) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) die("SO_REUSEPORT");
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((unsigned short)port);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("bind");
  if (listen(fd, backlog()) != 0) die("listen");
  return fd;
}

static int port_of(int fd) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) die("getsockname");
  return ntohs(sa.sin_port);
}

/* ---- the worker's poller: xpoll on epoll, or epoll itself ---- */

struct poller {
  xpoll_t *xp;
  int ep;
};

static int poller_open(struct poller *p) {
  p->xp = NULL;
  p->ep = -1;
  if (is_raw()) {
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    return p->ep < 0 ? -1 : 0;
  }
  return xpoll_create(&p->xp, "epoll", 0) == 0 ? 0 : -1;
}

static int poller_add(struct poller *p, int fd, int exclusive, uint64_t data) {
  if (is_raw()) {
    struct epoll_event e;
    e.events = EPOLLIN | (exclusive ? EPOLLEXCLUSIVE : 0);
    e.data.u64 = data;
    return epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &e);
  }
  return xpoll_add(p->xp, fd, XPOLL_IN | (exclusive ? XPOLL_EXCLUSIVE : 0), data) == 0 ? 0 : -1;
}

/* Waits up to WAIT_MS; the data of each event goes to data[]. Returns the count, or -1 (errno set). */
static int poller_wait(struct poller *p, uint64_t *data, int max) {
  if (is_raw()) {
    struct epoll_event ev[8];
    int n = epoll_wait(p->ep, ev, max < 8 ? max : 8, WAIT_MS);
    for (int i = 0; i < n; i++) data[i] = ev[i].data.u64;
    return n;
  }
  xpoll_event_t ev[8];
  int n = xpoll_wait(p->xp, ev, max < 8 ? max : 8, WAIT_MS);
  if (n == XPOLL_EINTR) {
    errno = EINTR;
    return -1;
  }
  if (n < 0) {
    errno = EIO;
    return -1;
  }
  for (int i = 0; i < n; i++) data[i] = ev[i].data;
  return n;
}

/* ---- the accept lock (lock mode) ---- */

static int lock_file(int fd, short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  for (;;) {
    if (fcntl(fd, type == F_UNLCK ? F_SETLK : F_SETLKW, &fl) == 0) return 0;
    if (errno != EINTR) return -1;
  }
}

/* ---- the worker ---- */

static long cpu_us(const struct rusage *r) {
  return r->ru_utime.tv_sec * 1000000L + r->ru_utime.tv_usec + r->ru_stime.tv_sec * 1000000L + r->ru_stime.tv_usec;
}

/* Accepts and closes up to max connections; returns how many. */
static int accept_some(int lfd, int max, int *error) {
  int n = 0;
  while (n < max) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *error = errno;
      break;
    }
    close(fd);
    n++;
  }
  if (n > 0) __atomic_add_fetch(&shared->accepted, n, __ATOMIC_SEQ_CST);
  return n;
}

static void worker(int index, int lfd, int stop_fd, int lock_fd, int ready_fd, int report_fd, int64_t deadline) {
  struct report rep;
  memset(&rep, 0, sizeof rep);
  rep.index = index;
  struct poller p;
  if (poller_open(&p) != 0 || poller_add(&p, lfd, is_exclusive(), DATA_LISTEN) != 0 ||
      poller_add(&p, stop_fd, 0, DATA_STOP) != 0) {
    fprintf(stderr, "accept_herd: worker %d: setting up its poller failed\n", index);
    _exit(1);
  }
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  char c = 'r';
  if (write(ready_fd, &c, 1) != 1) _exit(1);
  close(ready_fd);

  int per_wake = opt.mode == LOCK ? 1 : opt.accept_max;
  for (;;) {
    if (now_ns() > deadline) {
      rep.error = ETIMEDOUT;
      break;
    }
    if (opt.mode == LOCK) {
      if (lock_file(lock_fd, F_WRLCK) != 0) {
        rep.error = errno;
        break;
      }
      if (__atomic_load_n(&shared->done, __ATOMIC_SEQ_CST)) {
        lock_file(lock_fd, F_UNLCK);
        break;
      }
    }
    uint64_t data[8];
    int n = poller_wait(&p, data, 8), stop = 0, got = 0;
    if (n < 0 && errno != EINTR) rep.error = errno;
    for (int i = 0; i < n; i++) {
      if (data[i] == DATA_STOP)
        stop = 1;
      else if (data[i] == DATA_LISTEN)
        got += accept_some(lfd, per_wake, &rep.error);
    }
    if (opt.mode == LOCK && lock_file(lock_fd, F_UNLCK) != 0 && !rep.error) rep.error = errno;
    if (n > 0) rep.waits++;
    if (n > 0 && got == 0 && !stop) rep.empty_waits++;
    rep.accepts += got;
    if (stop || rep.error) break;
  }
  getrusage(RUSAGE_SELF, &r1);
  rep.nvcsw = r1.ru_nvcsw - r0.ru_nvcsw;
  rep.nivcsw = r1.ru_nivcsw - r0.ru_nivcsw;
  rep.cpu_us = cpu_us(&r1) - cpu_us(&r0);
  if (write(report_fd, &rep, sizeof rep) != (ssize_t)sizeof rep) _exit(1);
  _exit(rep.error ? 1 : 0);
}

/* ---- the client ---- */

/* Waits until every descriptor of fds[0..k) has connected; 0, or -1 with a message. */
static int await_connected(int *fds, int k, int64_t deadline) {
  struct pollfd pf[256];
  int left = k;
  for (int j = 0; j < k; j++) pf[j] = (struct pollfd){fds[j], POLLOUT, 0};
  while (left > 0) {
    int ms = (int)((deadline - now_ns()) / 1000000);
    if (ms <= 0) {
      fprintf(stderr, "accept_herd: client: connects not done before the deadline\n");
      return -1;
    }
    int n = poll(pf, (nfds_t)k, ms < 1000 ? ms : 1000);
    if (n < 0 && errno != EINTR) return -1;
    for (int j = 0; j < k && n > 0; j++) {
      if (pf[j].fd < 0 || !pf[j].revents) continue;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(pf[j].fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        fprintf(stderr, "accept_herd: client: connect: %s\n", strerror(err));
        return -1;
      }
      pf[j].fd = -1;
      left--;
    }
  }
  return 0;
}

static void client(int port, int64_t deadline) {
  int *fds = malloc(sizeof(int) * (size_t)opt.conns);
  if (!fds) _exit(1);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((unsigned short)port);
  int opened = 0, rc = 0;
  struct timespec pause = {opt.pause_us / 1000000, (long)(opt.pause_us % 1000000) * 1000};
  while (opened < opt.conns && rc == 0) {
    int k = opt.conns - opened < opt.burst ? opt.conns - opened : opt.burst;
    for (int j = 0; j < k; j++) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) die("client: socket");
      if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) die("client: connect");
      fds[opened + j] = fd;
    }
    rc = await_connected(fds + opened, k, deadline);
    opened += k;
    if (opt.pause_us > 0 && opened < opt.conns) nanosleep(&pause, NULL);
  }
  /* Every connection stays open until all have been accepted. */
  while (rc == 0 && __atomic_load_n(&shared->accepted, __ATOMIC_SEQ_CST) < opt.conns) {
    if (now_ns() > deadline) {
      fprintf(stderr, "accept_herd: client: %ld of %d accepted before the deadline\n",
              __atomic_load_n(&shared->accepted, __ATOMIC_SEQ_CST), opt.conns);
      rc = -1;
    }
    usleep(1000);
  }
  struct linger lg = {1, 0};
  for (int i = 0; i < opened; i++) {
    setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fds[i]);
  }
  _exit(rc == 0 ? 0 : 1);
}

/* ---- the parent ---- */

/* Reaps pid within timeout_ms, else kills it (SIGKILL, by its pid) and reaps it. Returns its status or -1. */
static int reap(pid_t pid, int timeout_ms) {
  int status;
  for (int i = 0; i <= timeout_ms / 5; i++) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    usleep(5000);
  }
  fprintf(stderr, "accept_herd: pid %d did not end in time: killed\n", (int)pid);
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return -1;
}

/* Reads exactly len bytes from fd within the deadline; returns what it got. */
static size_t read_bounded(int fd, void *buf, size_t len, int64_t deadline) {
  size_t got = 0;
  while (got < len) {
    int ms = (int)((deadline - now_ns()) / 1000000);
    if (ms <= 0) break;
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, ms) <= 0) continue;
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      break;
    }
    got += (size_t)n;
  }
  return got;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (strcmp(a, "--mode") == 0) {
      int m = -1;
      for (int k = 0; k < (int)(sizeof mode_names / sizeof *mode_names); k++)
        if (strcmp(v, mode_names[k]) == 0) m = k;
      if (m < 0) usage();
      opt.mode = (enum mode)m;
    } else if (strcmp(a, "--workers") == 0) {
      opt.workers = parse_int(v, 1, MAX_WORKERS);
    } else if (strcmp(a, "--conns") == 0) {
      opt.conns = parse_int(v, 1, 1000000);
    } else if (strcmp(a, "--burst") == 0) {
      opt.burst = parse_int(v, 1, 256);
    } else if (strcmp(a, "--pause-us") == 0) {
      opt.pause_us = parse_int(v, 0, 1000000);
    } else if (strcmp(a, "--accept-max") == 0) {
      opt.accept_max = parse_int(v, 1, 1024);
    } else if (strcmp(a, "--timeout") == 0) {
      opt.timeout_s = parse_int(v, 1, 3600);
    } else {
      usage();
    }
  }
  const char *mode = mode_names[opt.mode];
  if (opt.mode == EXCLUSIVE && !(xpoll_backend_capabilities("epoll") & XPOLL_CAP_EXCLUSIVE)) {
    printf("mode=%s\tworkers=%d\tconns=%d\tstatus=unsupported\n", mode, opt.workers, opt.conns);
    fprintf(stderr, "unsupported: the epoll backend has no XPOLL_CAP_EXCLUSIVE here\n");
    return 3;
  }
  if (!is_raw() && xpoll_backend_capabilities("epoll") < 0) {
    printf("mode=%s\tworkers=%d\tconns=%d\tstatus=unsupported\n", mode, opt.workers, opt.conns);
    fprintf(stderr, "unsupported: xpoll has no epoll backend here\n");
    return 3;
  }
  /* The client holds every connection at once. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      (rlim_t)opt.conns + 64 + (rlim_t)opt.workers > rl.rlim_cur) {
    fprintf(stderr, "accept_herd: %d connections need more than the descriptor limit %llu\n", opt.conns,
            (unsigned long long)rl.rlim_cur);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  int64_t deadline = now_ns() + (int64_t)opt.timeout_s * 1000000000;

  shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) die("mmap");
  memset(shared, 0, sizeof *shared);

  int lfds[MAX_WORKERS], nl = opt.mode == REUSEPORT ? opt.workers : 1;
  lfds[0] = listen_on(0, opt.mode == REUSEPORT);
  int port = port_of(lfds[0]);
  for (int i = 1; i < nl; i++) lfds[i] = listen_on(port, 1);

  int lock_fd = -1;
  if (opt.mode == LOCK) {
    char path[] = "/tmp/accept-herd-lock.XXXXXX";
    lock_fd = mkstemp(path);
    if (lock_fd < 0) die("mkstemp");
    unlink(path); /* the workers inherit the descriptor; fcntl locks belong to each process */
  }
  int stop[2], ready[2], reports[2];
  if (pipe2(stop, O_CLOEXEC) != 0 || pipe2(ready, O_CLOEXEC) != 0 || pipe2(reports, O_CLOEXEC) != 0) die("pipe2");

  pid_t pids[MAX_WORKERS];
  int started = 0;
  for (int i = 0; i < opt.workers; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      fprintf(stderr, "accept_herd: fork: %s\n", strerror(errno));
      break;
    }
    if (pid == 0) {
      close(stop[1]);
      close(ready[0]);
      close(reports[0]);
      int mine = opt.mode == REUSEPORT ? i : 0;
      for (int k = 0; k < nl; k++)
        if (k != mine) close(lfds[k]);
      worker(i, lfds[mine], stop[0], lock_fd, ready[1], reports[1], deadline);
    }
    pids[started++] = pid;
  }
  for (int k = 0; k < nl; k++) close(lfds[k]);
  close(ready[1]);
  close(reports[1]);
  close(stop[0]);

  int failed = started < opt.workers;
  char buf[MAX_WORKERS];
  int64_t setup_deadline = now_ns() + 10 * (int64_t)1000000000;
  if (!failed && read_bounded(ready[0], buf, (size_t)opt.workers, setup_deadline) != (size_t)opt.workers) {
    fprintf(stderr, "accept_herd: the workers did not all get ready\n");
    failed = 1;
  }
  close(ready[0]);

  int64_t t0 = now_ns();
  int client_ok = 0;
  if (!failed) {
    pid_t cpid = fork();
    if (cpid < 0) die("fork");
    if (cpid == 0) {
      close(stop[1]);
      close(reports[0]);
      client(port, deadline);
    }
    int64_t left_ms = (deadline - now_ns()) / 1000000;
    /* The client keeps the same deadline; a few seconds more let it close its connections and end. */
    int status = reap(cpid, (left_ms > 0 ? (int)left_ms : 0) + 5000);
    client_ok = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  double elapsed_ms = (double)(now_ns() - t0) / 1e6;

  /* The stop: the flag first, then the end of the pipe every poller watches. */
  __atomic_store_n(&shared->done, 1, __ATOMIC_SEQ_CST);
  close(stop[1]);
  struct report reps[MAX_WORKERS];
  size_t want = sizeof(struct report) * (size_t)started;
  size_t got = read_bounded(reports[0], reps, want, now_ns() + 10 * (int64_t)1000000000);
  close(reports[0]);
  int nrep = (int)(got / sizeof(struct report));
  for (int i = 0; i < started; i++) {
    int status = reap(pids[i], 5000);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
  }
  if (lock_fd >= 0) close(lock_fd);

  long accepts = 0, waits = 0, empty = 0, nvcsw = 0, nivcsw = 0, cpu = 0, amin = -1, amax = 0;
  double sum2 = 0;
  char list[MAX_WORKERS * 12] = "";
  size_t len = 0;
  for (int i = 0; i < nrep; i++) {
    struct report *r = &reps[i];
    accepts += r->accepts;
    waits += r->waits;
    empty += r->empty_waits;
    nvcsw += r->nvcsw;
    nivcsw += r->nivcsw;
    cpu += r->cpu_us;
    if (amin < 0 || r->accepts < amin) amin = r->accepts;
    if (r->accepts > amax) amax = r->accepts;
    sum2 += (double)r->accepts * (double)r->accepts;
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%ld", i ? "," : "", r->accepts);
    if (r->error) {
      fprintf(stderr, "accept_herd: worker %d: %s\n", r->index,
              r->error == ETIMEDOUT ? "the deadline passed" : strerror(r->error));
      failed = 1;
    }
  }
  if (nrep != started) {
    fprintf(stderr, "accept_herd: %d of %d workers reported\n", nrep, started);
    failed = 1;
  }
  long counted = __atomic_load_n(&shared->accepted, __ATOMIC_SEQ_CST);
  if (!client_ok || accepts != opt.conns || counted != opt.conns) {
    fprintf(stderr, "accept_herd: %ld accepted by the workers' reports, %ld counted, %d expected%s\n", accepts, counted,
            opt.conns, client_ok ? "" : "; the client failed");
    failed = 1;
  }
  double mean = nrep ? (double)accepts / nrep : 0, c = opt.conns;
  double sd = nrep ? sqrt(sum2 / nrep - mean * mean > 0 ? sum2 / nrep - mean * mean : 0) : 0;
  printf("mode=%s\tworkers=%d\tconns=%d\tburst=%d\tpause_us=%d\taccept_max=%d\taccepted=%ld\t", mode, opt.workers,
         opt.conns, opt.burst, opt.pause_us, opt.mode == LOCK ? 1 : opt.accept_max, accepts);
  printf("wakeups=%ld\twakeups_per_conn=%.3f\twaits=%ld\twaits_per_conn=%.3f\tempty_waits_per_conn=%.3f\t", nvcsw,
         nvcsw / c, waits, waits / c, empty / c);
  printf("involuntary_per_conn=%.3f\tcpu_us_per_conn=%.2f\taccepts_min=%ld\taccepts_max=%ld\taccepts_sd=%.1f\t",
         nivcsw / c, cpu / c, amin < 0 ? 0 : amin, amax, sd);
  printf("accepts=%s\telapsed_ms=%.1f\tstatus=%s\n", list, elapsed_ms, failed ? "fail" : "ok");
  munmap(shared, sizeof *shared);
  return failed ? 1 : 0;
}
