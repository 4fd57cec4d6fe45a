/* Test client for echo_server: opens many connections to 127.0.0.1:PORT from
   one process, sends each its own bytes and checks that exactly those bytes
   come back, then holds every connection open at once.

     echo_client [-n CONNS] [-B BIG] [-s BYTES] [-w WINDOW] [-t SECONDS] [-r] PORT

   BIG of the connections send BYTES each and read nothing until the server
   has taken nothing from them for half a second (so the server meets a peer
   that does not keep up, and must keep replies it cannot write); the others
   send 1 to 200 bytes. At most WINDOW connections are being set up or echoed
   at a time. When every connection is echoed it prints "holding N refused R" and
   waits for a line (or end of file) on stdin; then it checks that no held
   connection was closed or got extra bytes, closes them all and prints
   "closed N". Without -r, a connection the server closes is a failure; with
   -r it is counted as refused (the server at its descriptor limit). Exits 0
   when every check passed. Uses poll() only, not xpoll. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

enum state { IDLE, CONNECTING, ECHOING, HELD, REFUSED };

struct conn {
  int fd;
  enum state state;
  int slow;        /* a slow reader: reads nothing until its writes stall */
  double progress; /* when it last wrote something */
  size_t len, sent, recvd;
};

/* A slow reader starts reading only when the server has taken nothing for
   this long. It sends more than the server's socket buffer can hold, so
   before that the server meets a full buffer and keeps unsent bytes. */
#define STALL_S 0.5

/* The byte at offset `off` of connection `i`'s payload. */
static unsigned char payload_byte(size_t i, size_t off) {
  uint32_t x = (uint32_t)(i * 2654435761u) ^ (uint32_t)(off * 40503u + (off >> 7));
  x ^= x >> 13;
  x *= 0x5bd1e995u;
  return (unsigned char)(x >> 24);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int wants_read(struct conn *c) {
  if (!c->slow) return 1;
  if (now_s() - c->progress > STALL_S) c->slow = 0;
  return !c->slow;
}

static int start_connect(struct conn *c, int port, int big) {
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    perror("socket");
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (big) {
    int small = 8192;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c->fd = fd;
  c->state = CONNECTING;
  c->progress = now_s();
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EINPROGRESS) return 0;
  perror("connect");
  return -1;
}

/* Moves a connection on after poll() reported `re`; -1 on a failure. */
static int step(struct conn *c, size_t i, short re, int allow_refused) {
  unsigned char buf[65536];
  if (c->state == CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == EINPROGRESS || (err == 0 && !(re & (POLLOUT | POLLERR | POLLHUP)))) return 0;
    if (err != 0) {
      fprintf(stderr, "conn %zu: connect: %s\n", i, strerror(err));
      return -1;
    }
    c->state = ECHOING;
  }
  if (c->sent < c->len && (re & (POLLOUT | POLLERR | POLLHUP))) {
    size_t k, n = c->len - c->sent;
    ssize_t w;
    if (n > sizeof buf) n = sizeof buf;
    for (k = 0; k < n; k++) buf[k] = payload_byte(i, c->sent + k);
    w = write(c->fd, buf, n);
    if (w > 0) {
      c->sent += (size_t)w;
      if (c->slow) c->progress = now_s();
    }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) goto closed;
  }
  if ((re & (POLLIN | POLLERR | POLLHUP)) && wants_read(c)) {
    ssize_t k, r = read(c->fd, buf, sizeof buf);
    if (r == 0) goto closed;
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
      goto closed;
    }
    if (c->recvd + (size_t)r > c->sent) {
      fprintf(stderr, "conn %zu: %zd bytes back, more than the %zu sent\n", i, (ssize_t)(c->recvd + r), c->sent);
      return -1;
    }
    for (k = 0; k < r; k++)
      if (buf[k] != payload_byte(i, c->recvd + (size_t)k)) {
        fprintf(stderr, "conn %zu: wrong byte at offset %zu\n", i, c->recvd + (size_t)k);
        return -1;
      }
    c->recvd += (size_t)r;
    if (c->recvd == c->len) c->state = HELD;
  }
  return 0;
closed:
  if (allow_refused && c->recvd == 0) {
    close(c->fd);
    c->fd = -1;
    c->state = REFUSED;
    return 0;
  }
  fprintf(stderr, "conn %zu: closed by the server after %zu of %zu bytes back (%s)\n", i, c->recvd, c->len,
          strerror(errno));
  return -1;
}

/* Checks that no held connection was closed or got bytes it did not send. */
static long check_held(struct conn *conns, size_t n) {
  long bad = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    struct pollfd pfd;
    if (conns[i].state != HELD) continue;
    pfd.fd = conns[i].fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) != 0) {
      if (bad++ < 5) fprintf(stderr, "conn %zu: readable while held (closed, or extra bytes)\n", i);
    }
  }
  return bad;
}

int main(int argc, char **argv) {
  size_t n = 10000, big = 0, big_bytes = 1 << 22, window = 256, i, next = 0, done = 0;
  int port, opt, allow_refused = 0, failed = 0;
  double timeout = 60, deadline, t0;
  struct conn *conns;
  struct pollfd *pfds;
  size_t *idx;
  long held = 0, refused = 0;
  struct rlimit rl;
  char line[64];

  while ((opt = getopt(argc, argv, "n:B:s:w:t:r")) != -1) {
    switch (opt) {
      case 'n': n = (size_t)strtoul(optarg, NULL, 10); break;
      case 'B': big = (size_t)strtoul(optarg, NULL, 10); break;
      case 's': big_bytes = (size_t)strtoul(optarg, NULL, 10); break;
      case 'w': window = (size_t)strtoul(optarg, NULL, 10); break;
      case 't': timeout = atof(optarg); break;
      case 'r': allow_refused = 1; break;
      default:
        fprintf(stderr, "usage: %s [-n CONNS] [-B BIG] [-s BYTES] [-w WINDOW] [-t SECONDS] [-r] PORT\n", argv[0]);
        return 2;
    }
  }
  if (optind >= argc || window == 0) return 2;
  port = atoi(argv[optind]);
  signal(SIGPIPE, SIG_IGN);
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  conns = calloc(n ? n : 1, sizeof *conns);
  pfds = calloc(window, sizeof *pfds);
  idx = calloc(window, sizeof *idx);
  if (!conns || !pfds || !idx) return 1;
  for (i = 0; i < n; i++) {
    conns[i].fd = -1;
    conns[i].len = i < big ? big_bytes : 1 + (i * 7919) % 200;
    conns[i].slow = i < big;
  }

  t0 = now_s();
  deadline = t0 + timeout;
  while (done < n && !failed) {
    size_t k = 0, j;
    int r, poll_ms = 1000;
    /* The window: connections being set up or echoed, new ones as others finish. */
    for (i = 0; i < n && k < window; i++) {
      if (conns[i].state == IDLE) {
        if (i != next) break;
        if (start_connect(&conns[i], port, i < big) != 0) {
          failed = 1;
          break;
        }
        next++;
      }
      if (conns[i].state != CONNECTING && conns[i].state != ECHOING) continue;
      pfds[k].fd = conns[i].fd;
      pfds[k].events = (short)(conns[i].state == CONNECTING || conns[i].sent < conns[i].len ? POLLOUT : 0);
      if (conns[i].state == CONNECTING || wants_read(&conns[i]))
        pfds[k].events |= POLLIN;
      else
        poll_ms = 20; /* to see the stall end */
      pfds[k].revents = 0;
      idx[k++] = i;
    }
    if (failed || k == 0) break;
    if (now_s() > deadline) {
      fprintf(stderr, "time-out after %.0f s: %zu of %zu connections done\n", timeout, done, n);
      failed = 1;
      break;
    }
    r = poll(pfds, (nfds_t)k, poll_ms);
    if (r < 0 && errno != EINTR) {
      perror("poll");
      failed = 1;
      break;
    }
    for (j = 0; r > 0 && j < k; j++) {
      struct conn *c = &conns[idx[j]];
      if (!pfds[j].revents) continue;
      if (step(c, idx[j], pfds[j].revents, allow_refused) != 0) {
        failed = 1;
        break;
      }
      if (c->state == HELD) held++, done++;
      if (c->state == REFUSED) refused++, done++;
    }
  }
  if (!failed) {
    struct pollfd in = {0, POLLIN, 0};
    printf("holding %ld refused %ld (%.2f s)\n", held, refused, now_s() - t0);
    fflush(stdout);
    /* Held until the driver says so: a line or end of file on stdin. */
    if (poll(&in, 1, (int)(timeout * 1000)) <= 0 || !fgets(line, sizeof line, stdin)) line[0] = 0;
    if (check_held(conns, n) != 0) failed = 1;
  }
  for (i = 0; i < n; i++)
    if (conns[i].fd >= 0) close(conns[i].fd);
  if (!failed) printf("closed %ld\n", held);
  free(conns);
  free(pfds);
  free(idx);
  return failed;
}
