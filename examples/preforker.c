/* A pre-forking server: a parent keeps a pool of worker processes that share
   one listening socket on 127.0.0.1. Each worker makes its own poller after
   fork (a poller made before fork refuses every call in the child with
   XPOLL_EFORKED) and serves many clients at once with a line protocol: each
   line comes back as "worker <pid>: <line>". All workers watch the listener,
   so a new connection wakes them all and all but one find accept() failing
   with EAGAIN (the thundering herd): that is expected and harmless.

   A worker that has answered -n requests retires: it stops accepting, serves
   the clients it has until they leave, and exits. The parent replaces workers
   that exit or die, at most -r per second, and on SIGINT or SIGTERM sends
   SIGTERM to each worker, waits up to 5 s for them, kills what is left with
   SIGKILL, and exits 0.

     preforker [-w WORKERS] [-p PORT] [-b BACKEND] [-n REQUESTS] [-r RESTARTS]

   It prints "port N" first, then "worker PID started", "worker PID exited
   (status S)" or "(signal S)", "worker PID stopped", and "stopped". */
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
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <xpoll/xpoll.h>

#define MAX_WORKERS 64
#define MAX_LINE 4096
#define OUT_HIGH 65536 /* a client with this much unsent stops being read */
#define STOP_GRACE_S 5.0

struct client {
  int fd;
  size_t in_len, out_len, out_off;
  char in[MAX_LINE];
  char *out;
  size_t out_cap;
  struct client *prev, *next;
};

static xpoll_t *g_poller; /* the parent's, or in a worker the worker's */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  int saved = errno;
  if (sig != SIGCHLD) g_stop = 1;     /* SIGCHLD only wakes the parent to reap */
  if (g_poller) xpoll_wake(g_poller); /* async-signal-safe (not on libkqueue: see README.md) */
  errno = saved;
}

static void handle(int sig, void (*fn)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int set_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
  return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* ---- The worker ---------------------------------------------------------- */

static int queue_reply(struct client *c, const char *line, size_t len, long pid) {
  char head[40];
  int h = snprintf(head, sizeof head, "worker %ld: ", pid);
  size_t need = c->out_len + (size_t)h + len + 1;
  if (need > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap * 2 : 256;
    char *p;
    while (cap < need) cap *= 2;
    if (!(p = realloc(c->out, cap))) return -1;
    c->out = p;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, head, (size_t)h);
  memcpy(c->out + c->out_len + h, line, len);
  c->out[need - 1] = '\n';
  c->out_len = need;
  return 0;
}

/* Reads what there is, answers every complete line, writes what it can, and
   sets the interest: OUT while replies wait, IN unless too many wait.
   Returns -1 when the client is to be dropped. */
static int serve(struct client *c, long pid, long *served) {
  if (c->out_len - c->out_off < OUT_HIGH) {
    ssize_t n;
    size_t start = 0, i;
    do n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
    while (n < 0 && errno == EINTR);
    if (n == 0) return -1;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    if (n > 0) {
      c->in_len += (size_t)n;
      for (i = 0; i < c->in_len; i++) {
        if (c->in[i] != '\n') continue;
        if (queue_reply(c, c->in + start, i - start, pid) != 0) return -1;
        ++*served;
        start = i + 1;
      }
      memmove(c->in, c->in + start, c->in_len - start);
      c->in_len -= start;
      if (c->in_len == sizeof c->in) return -1; /* a line that never ends: not a client of ours */
    }
  }
  while (c->out_off < c->out_len) {
    ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return -1;
    }
    c->out_off += (size_t)w;
  }
  if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
  {
    uint32_t want = (c->out_len ? XPOLL_OUT : 0) | (c->out_len - c->out_off < OUT_HIGH ? XPOLL_IN : 0);
    return xpoll_modify(g_poller, c->fd, want, (uint64_t)(uintptr_t)c) == 0 ? 0 : -1;
  }
}

static void drop(struct client **list, struct client *c, long *open_clients) {
  xpoll_remove(g_poller, c->fd);
  close(c->fd);
  if (c->prev) c->prev->next = c->next;
  if (c->next) c->next->prev = c->prev;
  if (*list == c) *list = c->next;
  free(c->out);
  free(c);
  --*open_clients;
}

/* Accepts until the backlog is empty (another worker may have taken the
   connection: EAGAIN then is the thundering herd, not an error). Returns 1
   when the listener must rest (the descriptor limit). */
static int accept_all(int lfd, struct client **list, long *open_clients) {
  for (;;) {
    struct client *c;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return 1; /* EMFILE, ENFILE, ENOBUFS: rest until a client leaves */
    }
    if (set_nonblocking(fd) != 0 || !(c = calloc(1, sizeof *c))) {
      close(fd);
      continue;
    }
    c->fd = fd;
    if (xpoll_add(g_poller, fd, XPOLL_IN, (uint64_t)(uintptr_t)c) != 0) {
      free(c);
      close(fd);
      continue;
    }
    c->next = *list;
    if (*list) (*list)->prev = c;
    *list = c;
    ++*open_clients;
  }
}

static int worker(int lfd, const char *backend, long budget) {
  long pid = (long)getpid(), served = 0, open_clients = 0;
  struct client *list = NULL;
  xpoll_event_t ev[64];
  int rc, listening = 1, status = 0;
  double resting_until = 0; /* at the descriptor limit: the listener rests until then */
  sigset_t none;

  if ((rc = xpoll_create(&g_poller, backend, 0)) != 0) {
    fprintf(stderr, "worker %ld: xpoll_create: %s\n", pid, xpoll_strerror(rc));
    return 1;
  }
  if ((rc = xpoll_add(g_poller, lfd, XPOLL_IN, 0)) != 0) {
    fprintf(stderr, "worker %ld: xpoll_add(listener): %s\n", pid, xpoll_strerror(rc));
    xpoll_destroy(g_poller);
    return 1;
  }
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL); /* the parent blocked them around fork */

  while (!g_stop && (listening || open_clients > 0)) {
    int i, n = xpoll_wait(g_poller, ev, 64, resting_until > 0 ? 100 : -1);
    if (n < 0 && n != XPOLL_EINTR) {
      fprintf(stderr, "worker %ld: xpoll_wait: %s\n", pid, xpoll_strerror(n));
      status = 1;
      break;
    }
    if (resting_until > 0 && now_s() >= resting_until) { /* try the backlog again */
      resting_until = 0;
      if (listening) xpoll_modify(g_poller, lfd, XPOLL_IN, 0);
    }
    for (i = 0; i < n; i++) {
      struct client *c = (struct client *)(uintptr_t)ev[i].data;
      if (!c) {
        if (listening && accept_all(lfd, &list, &open_clients)) {
          /* Level-triggered, the listener would be reported again at once. */
          resting_until = now_s() + 0.1;
          xpoll_modify(g_poller, lfd, 0, 0);
        }
        continue;
      }
      if (serve(c, pid, &served) != 0) drop(&list, c, &open_clients);
    }
    if (listening && budget > 0 && served >= budget) {
      /* Retire: the listener stays open in the others; this one closes its copy. */
      listening = 0;
      xpoll_remove(g_poller, lfd);
      close(lfd);
    }
  }
  while (list) drop(&list, list, &open_clients);
  if (listening) close(lfd);
  handle(SIGTERM, SIG_IGN);
  xpoll_destroy(g_poller);
  g_poller = NULL;
  return status;
}

/* ---- The parent ---------------------------------------------------------- */

#define RING (MAX_WORKERS * 4)

struct pool {
  pid_t pid[MAX_WORKERS]; /* 0: a slot to fill */
  int size, alive;
  double restarts[RING]; /* times of the latest restarts */
  int ring, ring_len;
};

static pid_t spawn(int lfd, const char *backend, long budget, xpoll_t *parent_poller) {
  sigset_t block, old;
  pid_t pid;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  /* No handler may run in the child before it has its own poller. */
  sigprocmask(SIG_BLOCK, &block, &old);
  fflush(NULL);
  pid = fork();
  if (pid == 0) {
    int code;
    /* The parent's poller shares its kernel objects with the parent: every
       call but destroy fails here with XPOLL_EFORKED, and destroy frees our
       copy without touching the parent's. */
    xpoll_destroy(parent_poller);
    g_poller = NULL;
    g_stop = 0;
    handle(SIGCHLD, SIG_DFL);
    handle(SIGINT, SIG_IGN); /* a ^C reaches the whole group; the parent decides */
    handle(SIGTERM, on_signal);
    code = worker(lfd, backend, budget);
    fflush(NULL);
    _exit(code);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) perror("fork");
  return pid;
}

/* Seconds until another restart is allowed (0: now). */
static double restart_wait(const struct pool *pl, int per_second) {
  int oldest;
  double left;
  if (pl->ring_len < per_second) return 0;
  oldest = (pl->ring - per_second + RING) % RING; /* the per_second-th latest restart */
  left = pl->restarts[oldest] + 1.0 - now_s();
  return left > 0 ? left : 0;
}

/* Forks the worker of slot i; a restart counts against the bound. */
static int start(struct pool *pl, int i, int lfd, const char *backend, long budget, int restart) {
  pid_t pid = spawn(lfd, backend, budget, g_poller);
  if (pid < 0) return -1;
  pl->pid[i] = pid;
  pl->alive++;
  if (restart) {
    pl->restarts[pl->ring] = now_s();
    pl->ring = (pl->ring + 1) % RING;
    if (pl->ring_len < RING) pl->ring_len++;
  }
  printf("worker %ld started\n", (long)pid);
  fflush(stdout);
  return 0;
}

static void reap(struct pool *pl, int stopping) {
  int st, i;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    for (i = 0; i < pl->size; i++)
      if (pl->pid[i] == pid) break;
    if (i == pl->size) continue;
    pl->pid[i] = 0;
    pl->alive--;
    if (stopping)
      printf("worker %ld stopped\n", (long)pid);
    else if (WIFSIGNALED(st))
      printf("worker %ld exited (signal %d)\n", (long)pid, WTERMSIG(st));
    else
      printf("worker %ld exited (status %d)\n", (long)pid, WEXITSTATUS(st));
    fflush(stdout);
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

int main(int argc, char **argv) {
  const char *backend = NULL;
  int workers = 4, port = 0, per_second = 0, opt, lfd, rc, i;
  long budget = 0;
  struct pool pl;
  xpoll_event_t ev[4];
  double deadline;

  while ((opt = getopt(argc, argv, "w:p:b:n:r:h")) != -1) {
    switch (opt) {
      case 'w': workers = atoi(optarg); break;
      case 'p': port = atoi(optarg); break;
      case 'b': backend = optarg; break;
      case 'n': budget = atol(optarg); break;
      case 'r': per_second = atoi(optarg); break;
      default:
        fprintf(stderr, "usage: %s [-w WORKERS] [-p PORT] [-b BACKEND] [-n REQUESTS] [-r RESTARTS]\n", argv[0]);
        return 2;
    }
  }
  if (workers < 1 || workers > MAX_WORKERS || budget < 0) {
    fprintf(stderr, "-w must be 1 to %d, -n not negative\n", MAX_WORKERS);
    return 2;
  }
  if (per_second <= 0) per_second = 2 * workers;
  if (per_second > RING) per_second = RING;

  /* The parent's poller only sleeps until a signal handler wakes it. */
  if ((rc = xpoll_create(&g_poller, backend, 0)) != 0) {
    fprintf(stderr, "xpoll_create(%s): %s\n", backend ? backend : "default", xpoll_strerror(rc));
    return 1;
  }
  if ((lfd = listen_on(port)) < 0) {
    xpoll_destroy(g_poller);
    return 1;
  }
  handle(SIGPIPE, SIG_IGN);
  handle(SIGCHLD, on_signal);
  handle(SIGINT, on_signal);
  handle(SIGTERM, on_signal);

  memset(&pl, 0, sizeof pl);
  pl.size = workers;
  for (i = 0; i < workers; i++) start(&pl, i, lfd, backend, budget, 0);
  while (!g_stop) {
    double wait_s = 0;
    reap(&pl, 0);
    /* Replace the workers that are gone, as fast as the restart bound allows. */
    for (i = 0; i < pl.size && !g_stop && wait_s == 0; i++) {
      if (pl.pid[i] > 0) continue;
      if ((wait_s = restart_wait(&pl, per_second)) == 0 && start(&pl, i, lfd, backend, budget, 1) != 0)
        wait_s = 1; /* fork failed: try again later */
    }
    rc = xpoll_wait(g_poller, ev, 4, wait_s > 0 ? (int)(wait_s * 1000) + 1 : -1);
    if (rc < 0 && rc != XPOLL_EINTR) {
      fprintf(stderr, "xpoll_wait: %s\n", xpoll_strerror(rc));
      break;
    }
  }

  /* Stop: SIGTERM to each worker, a bounded wait, then SIGKILL. */
  for (i = 0; i < pl.size; i++)
    if (pl.pid[i] > 0) kill(pl.pid[i], SIGTERM);
  deadline = now_s() + STOP_GRACE_S;
  for (;;) {
    reap(&pl, 1);
    if (pl.alive == 0 || now_s() >= deadline) break;
    xpoll_wait(g_poller, ev, 4, 50); /* SIGCHLD wakes it */
  }
  for (i = 0; i < pl.size; i++)
    if (pl.pid[i] > 0) {
      printf("worker %ld killed\n", (long)pl.pid[i]);
      kill(pl.pid[i], SIGKILL);
      waitpid(pl.pid[i], NULL, 0);
    }
  handle(SIGCHLD, SIG_DFL);
  handle(SIGINT, SIG_IGN);
  handle(SIGTERM, SIG_IGN);
  close(lfd);
  xpoll_destroy(g_poller);
  printf("stopped\n");
  return 0;
}
