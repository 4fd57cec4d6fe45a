/*
 * Load client of the echo benchmark (not under test).
 *
 * Opens C concurrent connections to 127.0.0.1:PORT from one process with
 * epoll, a bounded batch of connects in flight at a time, retrying a refused
 * or dropped connect a bounded number of times. It echoes one message on
 * each to make sure the server has accepted them all and prints "ready";
 * then every connection ping-pongs M messages of S bytes (send one, wait for
 * all S bytes back, check every byte, send the next), all connections at
 * once, and it prints the round trips per second, the median and 99th
 * percentile round-trip latency, and the failures. Every byte of message m
 * on connection i follows a pattern keyed on (i, m), so a reply that went to
 * the wrong connection or came back stale is caught. All connections stay
 * open until the end.
 *
 * With --wait-go it reads a line from stdin before the timed phase and
 * another after it ("done"), so that a driver can sample the server in
 * between. Any wrong byte, short reply, reset or time-out is a failure and
 * makes the exit status 1; every wait is bounded by --timeout per message
 * and --deadline for the whole run. --rcvbuf shrinks the client's receive
 * buffers so that the server's writes come out partial (a correctness check
 * of its buffering, not a benchmark setting).
 *
 * stdout carries only the lines the driver reads:
 *   ready <conns> <connect_ms>
 *   result <round_trips> <seconds> <rt_per_s> <p50_us> <p99_us> <failures>
 *   done
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE (16 << 20)
#define MAX_REPORTED 10 /* failures described on stderr; the rest only counted */

enum state { IDLE, CONNECTING, BUSY, FINISHED, FAILED };

struct conn {
  int fd;
  uint8_t state;
  uint8_t tries;
  uint32_t seq;   /* the message being echoed: 0 is the warm-up, 1..M timed */
  uint32_t left;  /* messages still to go in this phase, this one included */
  uint32_t sent;  /* bytes of it written */
  uint32_t recvd; /* bytes of it received and checked */
  int64_t t0;     /* when it was sent (ns), or when the connect started */
};

static struct {
  int port, conns, msgs, size, batch, tries;
  int timeout_s, deadline_s, wait_go, rcvbuf;
} opt = {0, 200, 20, 64, 256, 8, 30, 120, 0, 0};

static struct conn *conns;
static int epfd;
static int64_t deadline;
static long failures;
static unsigned char *scratch, *expect;
static float *lat_us;
static size_t lat_n;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "echo_client: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage(void) {
  fprintf(stderr,
          "usage: echo_client --port P [--conns C] [--msgs M] [--size S] [--batch B]\n"
          "                   [--tries N] [--timeout SEC] [--deadline SEC] [--rcvbuf BYTES] [--wait-go]\n");
  exit(2);
}

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

/* Bytes from..from+n-1 of message seq on connection id. */
static void pattern(uint32_t id, uint32_t seq, uint32_t from, uint32_t n, unsigned char *out) {
  uint64_t key = mix64(((uint64_t)id << 32) | seq), word = 0;
  for (uint32_t k = from; k < from + n; k++) {
    if (k == from || k % 8 == 0) word = mix64(key + k / 8);
    out[k - from] = (unsigned char)(word >> (8 * (k % 8)));
  }
}

static void fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct conn *c, const char *fmt, ...) {
  if (failures++ < MAX_REPORTED) {
    va_list ap;
    fprintf(stderr, "echo_client: connection %ld, message %u: ", (long)(c - conns), c->seq);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
  }
  if (c->fd >= 0) close(c->fd); /* also leaves the epoll set */
  c->fd = -1;
  c->state = FAILED;
}

static void watch(struct conn *c, int op, uint32_t events) {
  struct epoll_event e;
  e.events = events;
  e.data.u64 = (uint64_t)(c - conns);
  if (epoll_ctl(epfd, op, c->fd, &e) != 0) die("epoll_ctl");
}

/* Writes what is left of the current message; watches for room if needed. */
static void send_rest(struct conn *c) {
  uint32_t start = c->sent;
  pattern((uint32_t)(c - conns), c->seq, start, (uint32_t)opt.size - start, scratch);
  ssize_t w = write(c->fd, scratch, (size_t)opt.size - start);
  if (w < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      fail(c, "write: %s", strerror(errno));
      return;
    }
    w = 0;
  }
  int was_partial = start > 0;
  c->sent += (uint32_t)w;
  int partial = c->sent < (uint32_t)opt.size;
  if (partial != was_partial) watch(c, EPOLL_CTL_MOD, EPOLLIN | (partial ? EPOLLOUT : 0));
}

static void start_message(struct conn *c) {
  c->sent = c->recvd = 0;
  c->t0 = now_ns();
  send_rest(c);
}

/* Reads and checks what arrived; returns 1 when the message is complete. */
static int receive(struct conn *c) {
  uint32_t want = (uint32_t)opt.size - c->recvd;
  /* One byte more than expected is read, so that extra bytes are caught. */
  ssize_t n = read(c->fd, scratch, (size_t)want + 1);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    fail(c, "read: %s after %u of %d bytes", strerror(errno), c->recvd, opt.size);
    return 0;
  }
  if (n == 0) {
    fail(c, "connection closed by the server after %u of %d bytes", c->recvd, opt.size);
    return 0;
  }
  if ((uint32_t)n > want || c->recvd + (uint32_t)n > c->sent) {
    fail(c, "%zd bytes more than were sent", (ssize_t)(c->recvd + (uint32_t)n - c->sent));
    return 0;
  }
  pattern((uint32_t)(c - conns), c->seq, c->recvd, (uint32_t)n, expect);
  if (memcmp(scratch, expect, (size_t)n) != 0) {
    uint32_t k = 0;
    while (scratch[k] == expect[k]) k++;
    fail(c, "wrong byte at offset %u: got 0x%02x, expected 0x%02x", c->recvd + k, scratch[k], expect[k]);
    return 0;
  }
  c->recvd += (uint32_t)n;
  return c->recvd == (uint32_t)opt.size;
}

static int retryable(int e) {
  return e == ECONNREFUSED || e == EAGAIN || e == ETIMEDOUT || e == ECONNRESET || e == EADDRNOTAVAIL;
}

/* Starts a connect; returns 1 when it is in flight or done, 0 to retry. */
static int start_connect(struct conn *c, const struct sockaddr_in *sa) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* A small receive buffer makes the server's writes partial (a test of its buffering). */
  if (opt.rcvbuf > 0) setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &opt.rcvbuf, sizeof opt.rcvbuf);
  c->tries++;
  c->t0 = now_ns();
  if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) == 0 || errno == EINPROGRESS) {
    c->state = CONNECTING;
    watch(c, EPOLL_CTL_ADD, EPOLLOUT);
    return 1;
  }
  int e = errno;
  close(c->fd);
  c->fd = -1;
  c->state = IDLE;
  if (!retryable(e)) {
    errno = e;
    die("connect");
  }
  return 0;
}

/* Ends a connect: 1 connected, 0 to retry. */
static int finish_connect(struct conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) {
    c->state = IDLE;
    watch(c, EPOLL_CTL_MOD, EPOLLIN);
    return 1;
  }
  close(c->fd);
  c->fd = -1;
  c->state = IDLE;
  if (!retryable(err)) {
    errno = err;
    die("connect");
  }
  return 0;
}

static void connect_all(void) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((unsigned short)opt.port);

  int *retry = malloc(sizeof(int) * (size_t)opt.conns);
  if (!retry) die("malloc");
  int nretry = 0, next = 0, inflight = 0, connected = 0;
  struct epoll_event ev[256];
  while (connected < opt.conns) {
    if (now_ns() > deadline) {
      fprintf(stderr, "echo_client: deadline passed with %d of %d connected\n", connected, opt.conns);
      exit(1);
    }
    /* Retries first; a connect refused at once ends the round (and waits). */
    int refused = 0;
    while (!refused && inflight < opt.batch && (nretry > 0 || next < opt.conns)) {
      int i = nretry > 0 ? retry[--nretry] : next++;
      if (conns[i].tries >= opt.tries) {
        fprintf(stderr, "echo_client: connection %d: no connect after %d tries\n", i, opt.tries);
        exit(1);
      }
      if (start_connect(&conns[i], &sa))
        inflight++;
      else
        retry[nretry++] = i, refused++;
    }
    int n = epoll_wait(epfd, ev, 256, 100);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; k++) {
      struct conn *c = &conns[ev[k].data.u64];
      if (c->state != CONNECTING) continue;
      inflight--;
      if (finish_connect(c))
        connected++;
      else
        retry[nretry++] = (int)(c - conns), refused++;
    }
    /* A connect waiting longer than the message time-out is retried. */
    int64_t t = now_ns();
    for (int i = 0; i < next && n == 0; i++) {
      struct conn *c = &conns[i];
      if (c->state == CONNECTING && t - c->t0 > (int64_t)opt.timeout_s * 1000000000) {
        close(c->fd);
        c->fd = -1;
        c->state = IDLE;
        inflight--;
        retry[nretry++] = i;
      }
    }
    if (refused || (nretry > 0 && inflight == 0)) usleep(20000); /* let the server catch up */
  }
  free(retry);
}

/* Every connection echoes messages first..first+count-1; returns the seconds it took. */
static double run_phase(uint32_t first, uint32_t count, int timed) {
  int64_t t_start = now_ns();
  int active = 0;
  for (int i = 0; i < opt.conns; i++) {
    struct conn *c = &conns[i];
    if (c->state == FAILED) continue;
    c->state = BUSY;
    c->seq = first;
    c->left = count;
    active++;
    start_message(c);
    if (c->state == FAILED) active--;
  }
  struct epoll_event ev[512];
  int64_t last_scan = t_start;
  while (active > 0) {
    int64_t t = now_ns();
    if (t > deadline) {
      fprintf(stderr, "echo_client: deadline passed with %d connections still busy\n", active);
      for (int i = 0; i < opt.conns; i++)
        if (conns[i].state == BUSY) fail(&conns[i], "no reply before the deadline");
      break;
    }
    if (t - last_scan > 1000000000) {
      last_scan = t;
      for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &conns[i];
        if (c->state == BUSY && t - c->t0 > (int64_t)opt.timeout_s * 1000000000) {
          fail(c, "no complete reply within %d s (%u of %d bytes)", opt.timeout_s, c->recvd, opt.size);
          active--;
        }
      }
    }
    int n = epoll_wait(epfd, ev, 512, 1000);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; k++) {
      struct conn *c = &conns[ev[k].data.u64];
      if (c->state != BUSY) continue;
      if ((ev[k].events & EPOLLOUT) && c->sent < (uint32_t)opt.size) send_rest(c);
      if (c->state == BUSY && (ev[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && receive(c)) {
        if (timed) lat_us[lat_n++] = (float)(now_ns() - c->t0) / 1000.0f;
        c->seq++;
        if (--c->left == 0) {
          c->state = FINISHED;
        } else {
          start_message(c);
        }
      }
      if (c->state != BUSY) active--;
    }
  }
  return (double)(now_ns() - t_start) / 1e9;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Waits for a line on stdin (or its end), bounded by the deadline. */
static void wait_go(void) {
  for (;;) {
    struct pollfd p = {0, POLLIN, 0};
    int64_t left_ms = (deadline - now_ns()) / 1000000;
    if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0) {
      fprintf(stderr, "echo_client: no go from the driver before the deadline\n");
      exit(1);
    }
    char ch;
    ssize_t n = read(0, &ch, 1); /* unbuffered, so the next line stays in the pipe */
    if (n <= 0 || ch == '\n') return;
  }
}

static int parse_int(const char *s, int lo, int hi) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v < lo || v > hi) usage();
  return (int)v;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--wait-go") == 0) {
      opt.wait_go = 1;
      continue;
    }
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (strcmp(a, "--port") == 0)
      opt.port = parse_int(v, 1, 65535);
    else if (strcmp(a, "--conns") == 0)
      opt.conns = parse_int(v, 1, 1000000);
    else if (strcmp(a, "--msgs") == 0)
      opt.msgs = parse_int(v, 1, 1000000);
    else if (strcmp(a, "--size") == 0)
      opt.size = parse_int(v, 1, MAX_SIZE);
    else if (strcmp(a, "--batch") == 0)
      opt.batch = parse_int(v, 1, 100000);
    else if (strcmp(a, "--tries") == 0)
      opt.tries = parse_int(v, 1, 100);
    else if (strcmp(a, "--timeout") == 0)
      opt.timeout_s = parse_int(v, 1, 3600);
    else if (strcmp(a, "--deadline") == 0)
      opt.deadline_s = parse_int(v, 1, 36000);
    else if (strcmp(a, "--rcvbuf") == 0)
      opt.rcvbuf = parse_int(v, 1, 1 << 30);
    else
      usage();
  }
  if (opt.port == 0) usage();
  if ((double)opt.conns * opt.msgs > 1e8) {
    fprintf(stderr, "echo_client: conns * msgs above 10^8 round trips\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  deadline = now_ns() + (int64_t)opt.deadline_s * 1000000000;

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)opt.conns + 16 > rl.rlim_cur) {
    fprintf(stderr, "echo_client: %d connections need more than the descriptor limit %llu\n", opt.conns,
            (unsigned long long)rl.rlim_cur);
    return 1;
  }

  conns = calloc((size_t)opt.conns, sizeof *conns);
  scratch = malloc((size_t)opt.size + 1);
  expect = malloc((size_t)opt.size + 1);
  lat_us = malloc(sizeof(float) * (size_t)opt.conns * (size_t)opt.msgs);
  if (!conns || !scratch || !expect || !lat_us) die("malloc");
  for (int i = 0; i < opt.conns; i++) conns[i].fd = -1;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");

  int64_t t0 = now_ns();
  connect_all();
  run_phase(0, 1, 0); /* the warm-up: every connection accepted and served once */
  if (failures) {
    fprintf(stderr, "echo_client: %ld failures in the warm-up\n", failures);
    return 1;
  }
  printf("ready %d %.0f\n", opt.conns, (double)(now_ns() - t0) / 1e6);
  fflush(stdout);
  if (opt.wait_go) wait_go();

  double secs = run_phase(1, (uint32_t)opt.msgs, 1);
  double p50 = 0, p99 = 0;
  if (lat_n > 0) {
    qsort(lat_us, lat_n, sizeof *lat_us, cmp_float);
    p50 = lat_us[(lat_n - 1) / 2];
    p99 = lat_us[(size_t)((double)(lat_n - 1) * 0.99)];
  }
  printf("result %zu %.3f %.0f %.1f %.1f %ld\n", lat_n, secs, secs > 0 ? (double)lat_n / secs : 0.0, p50, p99,
         failures);
  printf("done\n");
  fflush(stdout);
  if (opt.wait_go) wait_go();
  for (int i = 0; i < opt.conns; i++)
    if (conns[i].fd >= 0) close(conns[i].fd);
  if (failures) fprintf(stderr, "echo_client: %ld failures\n", failures);
  return failures ? 1 : 0;
}
