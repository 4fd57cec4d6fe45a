/*
 * The shared part of the echo servers: arguments, the descriptor limit, the
 * listening socket, accepting, and the stop descriptor (a self-pipe written
 * by the SIGTERM and SIGINT handler).
 */
#define _GNU_SOURCE
#include "echo_common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

const char *echo_name = "echo";
char echo_buf[ECHO_BUF_SIZE];

static int stop_pipe[2] = {-1, -1};

void echo_die(const char *what) {
  fprintf(stderr, "echo-%s: %s: %s\n", echo_name, what, strerror(errno));
  exit(1);
}

static void usage(const char *prog, int with_backend) {
  fprintf(stderr, "usage: %s [--port N]%s\n", prog, with_backend ? " BACKEND (or --list)" : "");
  exit(2);
}

void echo_parse_args(int argc, char **argv, int with_backend, struct echo_args *out) {
  out->port = 0;
  out->backend = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 0 || v > 65535) usage(argv[0], with_backend);
      out->port = (int)v;
    } else if (with_backend && !out->backend && argv[i][0] != '-') {
      out->backend = argv[i];
    } else {
      usage(argv[0], with_backend);
    }
  }
  if (with_backend && !out->backend) usage(argv[0], with_backend);
}

void echo_raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur == rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
    fprintf(stderr, "echo-%s: warning: setrlimit(RLIMIT_NOFILE): %s\n", echo_name, strerror(errno));
}

int echo_backlog(void) {
  int backlog = SOMAXCONN;
  FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
  if (f) {
    int v;
    if (fscanf(f, "%d", &v) == 1 && v > backlog) backlog = v;
    fclose(f);
  }
  return backlog;
}

int echo_listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) echo_die("socket");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) echo_die("SO_REUSEADDR");
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((unsigned short)port);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) echo_die("bind");
  if (listen(fd, echo_backlog()) != 0) echo_die("listen");
  socklen_t len = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) echo_die("getsockname");
  printf("port %d\n", ntohs(sa.sin_port));
  fflush(stdout);
  return fd;
}

int echo_accept(int listen_fd) {
  static int warned;
  int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e != EAGAIN && e != EWOULDBLOCK && e != ECONNABORTED && e != EINTR && !warned++)
      fprintf(stderr, "echo-%s: accept: %s\n", echo_name, strerror(e));
    errno = e;
    return -1;
  }
  /*
   * Each message is answered by one write, so Nagle would rarely delay it;
   * but a reply split by a partial write could wait for the delayed ACK.
   */
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void on_stop_signal(int sig) {
  (void)sig;
  int saved = errno;
  char c = 1;
  ssize_t n = write(stop_pipe[1], &c, 1); /* a full pipe is readable already */
  (void)n;
  errno = saved;
}

int echo_stop_fd(void) {
  if (stop_pipe[0] >= 0) return stop_pipe[0];
  if (pipe2(stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0) echo_die("pipe2");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) echo_die("sigaction");
  signal(SIGPIPE, SIG_IGN);
  return stop_pipe[0];
}

int echo_pending_keep(struct echo_pending *p, const char *data, size_t n, size_t written) {
  size_t rest = n - written;
  p->buf = malloc(rest);
  if (!p->buf) return -1;
  memcpy(p->buf, data + written, rest);
  p->off = 0;
  p->len = (uint32_t)rest;
  return 1;
}

void echo_pending_free(struct echo_pending *p) {
  free(p->buf);
  p->buf = NULL;
  p->off = p->len = 0;
}

int echo_on_readable_buf(int fd, struct echo_pending *p, char *buf, size_t size) {
  ssize_t n = read(fd, buf, size);
  if (n == 0) return -1;
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
  ssize_t w = write(fd, buf, (size_t)n);
  if (w == n) return 0;
  if (w < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    w = 0;
  }
  return echo_pending_keep(p, buf, (size_t)n, (size_t)w);
}

int echo_on_readable(int fd, struct echo_pending *p) { return echo_on_readable_buf(fd, p, echo_buf, ECHO_BUF_SIZE); }

int echo_on_writable(int fd, struct echo_pending *p) {
  ssize_t w = write(fd, p->buf + p->off, p->len - p->off);
  if (w < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 1 : -1;
  p->off += (uint32_t)w;
  if (p->off < p->len) return 1;
  echo_pending_free(p);
  return 0;
}
