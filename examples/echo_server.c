/* An echo server that holds many thousands of connections in one thread.

   It raises its own descriptor limit (xpoll_raise_nofile) and says how many
   connections that lets it hold, listens on 127.0.0.1, and echoes every byte
   back. Level-triggered: a connection is watched for IN; when the peer does
   not take a reply at once, the unsent bytes wait in a small per-connection
   buffer and the connection is watched for OUT instead (it reads nothing
   more until that buffer is written, so memory stays bounded). At the
   descriptor limit, accept() fails with EMFILE and the listener would stay
   readable for ever: the server keeps one spare descriptor, closes it,
   accepts the connection and closes it at once (the client sees the close,
   not a hang), and opens the spare again.

     echo_server [-b BACKEND] [-p PORT] [-i SECONDS]

   It prints "port N" first, then what it can hold; "connections: ..." on
   SIGUSR1, every -i seconds, and at exit. SIGINT or SIGTERM stops it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <xpoll/xpoll.h>

#define READ_CHUNK 16384
#define READ_ROUNDS 16

struct conn {
  int fd;
  size_t pending_len; /* unsent bytes of the last read, 0 when the connection is watched for IN */
  size_t pending_off;
  char *pending;
};

struct stats {
  long current, peak, accepted, refused, short_writes;
};

static xpoll_t *g_poller;
static int g_signal_pipe = -1; /* write end, used instead of xpoll_wake where that is not async-signal-safe */
static volatile sig_atomic_t g_stop, g_report;

static void on_signal(int sig) {
  int saved = errno;
  if (sig == SIGUSR1)
    g_report = 1;
  else
    g_stop = 1;
  if (g_signal_pipe >= 0) {
    char c = 0;
    ssize_t n = write(g_signal_pipe, &c, 1); /* a full pipe already wakes the poller */
    (void)n;
  } else {
    xpoll_wake(g_poller);
  }
  errno = saved;
}

static int set_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
  return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void report(const char *what, const struct stats *s) {
  printf("%s: current %ld, peak %ld, accepted %ld, refused %ld, short writes %ld\n", what, s->current, s->peak,
         s->accepted, s->refused, s->short_writes);
  fflush(stdout);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void drop(struct conn **table, struct conn *c, struct stats *s) {
  xpoll_remove(g_poller, c->fd); /* before close: the number may be reused at once */
  close(c->fd);
  table[c->fd] = NULL;
  free(c->pending);
  free(c);
  s->current--;
}

/* Writes what is pending; returns -1 when the connection is to be dropped. */
static int flush_pending(struct conn *c) {
  while (c->pending_off < c->pending_len) {
    ssize_t w = write(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
    c->pending_off += (size_t)w;
  }
  free(c->pending);
  c->pending = NULL;
  c->pending_len = c->pending_off = 0;
  /* All written: back to reading. */
  return xpoll_modify(g_poller, c->fd, XPOLL_IN, (uint64_t)(uintptr_t)c) == 0 ? 0 : -1;
}

/* Reads and echoes up to READ_ROUNDS chunks (a bound, so that one busy
   connection cannot starve the others); returns -1 when the connection is
   to be dropped. */
static int echo(struct conn *c, struct stats *s) {
  static char buf[READ_CHUNK];
  int round;
  for (round = 0; round < READ_ROUNDS; round++) {
    ssize_t n, w;
    do n = read(c->fd, buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    if (n == 0) return -1;                                                /* the peer closed */
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1; /* readiness may be spurious */
    do w = write(c->fd, buf, (size_t)n);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      w = 0;
    }
    if (w < n) {
      /* The peer is not reading fast enough: keep the rest and wait for room. */
      s->short_writes++;
      c->pending = malloc((size_t)(n - w));
      if (!c->pending) return -1;
      memcpy(c->pending, buf + w, (size_t)(n - w));
      c->pending_len = (size_t)(n - w);
      c->pending_off = 0;
      return xpoll_modify(g_poller, c->fd, XPOLL_OUT, (uint64_t)(uintptr_t)c) == 0 ? 0 : -1;
    }
    if ((size_t)n < sizeof buf) break; /* drained, most likely */
  }
  return 0;
}

/* At the descriptor limit: frees the spare, takes the connection and closes
   it, takes the spare back. Returns 0 when one connection was refused so. */
static int refuse_one(int lfd, int *spare, struct stats *s) {
  int fd;
  if (*spare < 0) return -1;
  close(*spare);
  fd = accept(lfd, NULL, NULL);
  if (fd >= 0) {
    close(fd);
    s->refused++;
  }
  *spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd >= 0 ? 0 : -1;
}

/* Accepts until the backlog is empty. Returns 1 when the listener must be
   paused (at the limit with no spare descriptor left). */
static int accept_all(int lfd, int *spare, struct conn **table, long table_size, struct stats *s) {
  for (;;) {
    struct conn *c;
    int rc, fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == EMFILE || errno == ENFILE) {
        if (refuse_one(lfd, spare, s) == 0) continue;
        return *spare < 0; /* the backlog is empty, or there is no spare to free */
      }
      perror("accept");
      return 1;
    }
    s->accepted++;
    c = fd < table_size ? calloc(1, sizeof *c) : NULL;
    if (!c || set_nonblocking(fd) != 0) {
      free(c);
      close(fd);
      s->refused++;
      continue;
    }
    c->fd = fd;
    rc = xpoll_add(g_poller, fd, XPOLL_IN, (uint64_t)(uintptr_t)c);
    if (rc != 0) { /* XPOLL_ERANGE on a select with a fixed FD_SETSIZE, XPOLL_ENOMEM */
      fprintf(stderr, "xpoll_add(%d): %s\n", fd, xpoll_strerror(rc));
      free(c);
      close(fd);
      s->refused++;
      continue;
    }
    table[fd] = c;
    if (++s->current > s->peak) s->peak = s->current;
  }
}

static int listen_on(int port) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, SOMAXCONN) != 0 || set_nonblocking(fd) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    perror("listen on 127.0.0.1");
    close(fd);
    return -1;
  }
  printf("port %d\n", ntohs(sa.sin_port));
  fflush(stdout);
  return fd;
}

static void usage(const char *argv0) {
  const char *names[8];
  int i, n = xpoll_backends(names, 8);
  fprintf(stderr, "usage: %s [-b BACKEND] [-p PORT] [-i SECONDS]\n  backends:", argv0);
  for (i = 0; i < n && i < 8; i++) fprintf(stderr, " %s", names[i]);
  fprintf(stderr, "\n");
}

/* Says what this process can hold: the soft limit less what is open now,
   and, for a backend with a ceiling on descriptor numbers, less than that. */
static void tell_capacity(int64_t before, int64_t after, const char *backend) {
  xpoll_limits_t lim;
  long maxfd = xpoll_backend_max_fd(backend);
  int64_t open_now = 8, hold;
  memset(&lim, 0, sizeof lim);
  lim.size = sizeof lim;
  if (xpoll_read_limits(&lim) == 0 && lim.open_now.value >= 0) open_now = lim.open_now.value;
  hold = after - open_now;
  if (maxfd >= 0 && maxfd + 1 - open_now < hold) hold = maxfd + 1 - open_now;
  printf("limit: soft %lld (was %lld), hard %lld; backend %s; can hold about %lld connections\n", (long long)after,
         (long long)before, (long long)lim.nofile_hard.value, backend, (long long)hold);
  fflush(stdout);
}

int main(int argc, char **argv) {
  const char *backend = NULL;
  int port = 0, interval = 0, opt, lfd = -1, spare = -1, sig_pipe[2] = {-1, -1}, rc, exit_code = 1;
  int64_t before = 0, after = 0;
  long table_size = 0, fd;
  struct conn **table = NULL;
  struct stats s = {0, 0, 0, 0, 0};
  xpoll_event_t ev[256];
  struct sigaction sa;
  double next_report, resume_at = 0; /* when a paused listener is watched again */

  while ((opt = getopt(argc, argv, "b:p:i:h")) != -1) {
    switch (opt) {
      case 'b': backend = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'i': interval = atoi(optarg); break;
      default: usage(argv[0]); return 2;
    }
  }
  if (optind < argc) port = atoi(argv[optind]);

  rc = xpoll_raise_nofile(&before, &after);
  if (rc != 0) fprintf(stderr, "cannot raise the descriptor limit: %s\n", xpoll_strerror(rc));
  if (after == XPOLL_LIMIT_INFINITE || after <= 0) after = 1 << 20;
  table_size = (long)after;

  if ((rc = xpoll_create(&g_poller, backend, 0)) != 0) {
    fprintf(stderr, "xpoll_create(%s): %s\n", backend ? backend : "default", xpoll_strerror(rc));
    if (rc == XPOLL_ENOBACKEND) usage(argv[0]);
    return 1;
  }
  table = calloc((size_t)table_size, sizeof *table);
  spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (!table || spare < 0 || (lfd = listen_on(port)) < 0) goto out;
  if ((rc = xpoll_add(g_poller, lfd, XPOLL_IN, 0)) != 0) {
    fprintf(stderr, "xpoll_add(listener): %s\n", xpoll_strerror(rc));
    goto out;
  }

#ifdef __linux__
  /* libkqueue's kevent() takes locks: xpoll_wake is not async-signal-safe
     there, so the handlers write to a self-pipe instead. */
  if (strcmp(xpoll_backend(g_poller), "kqueue") == 0) {
    if (pipe(sig_pipe) != 0 || set_nonblocking(sig_pipe[0]) != 0 || set_nonblocking(sig_pipe[1]) != 0 ||
        xpoll_add(g_poller, sig_pipe[0], XPOLL_IN, 1) != 0)
      goto out;
    g_signal_pipe = sig_pipe[1];
  }
#endif
  /* Counted once every descriptor of the server's own (the signal pipe
     too) is open. */
  tell_capacity(before, after, xpoll_backend(g_poller));
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = SIG_IGN; /* a write to a closed connection fails with EPIPE instead */
  sigaction(SIGPIPE, &sa, NULL);

  next_report = now_s() + interval;
  while (!g_stop) {
    int i, n, timeout = -1;
    if (interval > 0) {
      double left = next_report - now_s();
      timeout = left <= 0 ? 0 : (int)(left * 1000) + 1;
    }
    if (resume_at > 0) timeout = (timeout < 0 || timeout > 100) ? 100 : timeout;
    n = xpoll_wait(g_poller, ev, (int)(sizeof ev / sizeof ev[0]), timeout);
    if (n < 0 && n != XPOLL_EINTR) {
      fprintf(stderr, "xpoll_wait: %s\n", xpoll_strerror(n));
      goto out;
    }
    if (resume_at > 0 && now_s() >= resume_at) { /* at the limit without a spare: try the backlog again */
      resume_at = 0;
      if (spare < 0) spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
      xpoll_modify(g_poller, lfd, XPOLL_IN, 0);
    }
    for (i = 0; i < n; i++) {
      struct conn *c = (struct conn *)(uintptr_t)ev[i].data;
      if (ev[i].data == 1) { /* the self-pipe */
        char buf[64];
        while (read(sig_pipe[0], buf, sizeof buf) > 0) {
        }
        continue;
      }
      if (!c) {
        if (accept_all(lfd, &spare, table, table_size, &s)) {
          /* Level-triggered, a listener we cannot serve would be reported
             at once again: stop watching it for a while. */
          resume_at = now_s() + 0.1;
          xpoll_modify(g_poller, lfd, 0, 0);
        }
        continue;
      }
      if ((c->pending ? flush_pending(c) : echo(c, &s)) != 0) drop(table, c, &s);
    }
    if (g_report) {
      g_report = 0;
      report("connections", &s);
    }
    if (interval > 0 && now_s() >= next_report) {
      report("connections", &s);
      next_report = now_s() + interval;
    }
  }
  exit_code = 0;

out:
  if (exit_code == 0) report("exit", &s);
  /* A late signal must not find a poller that is gone. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGUSR1, SIG_IGN);
  g_signal_pipe = -1;
  for (fd = 0; table && fd < table_size; fd++)
    if (table[fd]) drop(table, table[fd], &s);
  if (lfd >= 0) close(lfd);
  if (spare >= 0) close(spare);
  if (sig_pipe[0] >= 0) close(sig_pipe[0]);
  if (sig_pipe[1] >= 0) close(sig_pipe[1]);
  xpoll_destroy(g_poller);
  free(table);
  return exit_code;
}
