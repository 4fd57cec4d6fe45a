/* A pre-forking server: a parent keeps a pool of worker processes that accept
   connections on one port of 127.0.0.1. Each worker makes its own poller after
   fork (a poller made before fork refuses every call in the child with
   XPOLL_EFORKED) and serves many clients at once with a line protocol: each
   line comes back as "worker <pid>: <line>".

   If every worker simply watched the shared listener, each new connection
   would wake them all and all but one would find accept() failing with
   EAGAIN (the thundering herd). -m chooses how the workers share the work:

     exclusive  every worker watches the shared listener with XPOLL_EXCLUSIVE
                (EPOLLEXCLUSIVE): a connection wakes one waiting worker, or a
                few, not all. Only where the backend has XPOLL_CAP_EXCLUSIVE
                (epoll).
     lock       Apache's accept lock: an fcntl() lock on a file the parent
                made. Only the worker that holds it watches the listener; it
                accepts one connection and lets the lock go. A worker with no
                clients waits for the lock in the kernel; one with clients
                only tries it, between serving them, so that it never blocks
                them. Any backend.
     reuseport  one listener per worker, all bound to the same port with
                SO_REUSEPORT, and the kernel spreads the connections over
                them. Linux (SO_REUSEPORT), FreeBSD (SO_REUSEPORT_LB).
     plain      every worker watches the shared listener: the herd, harmless
                but wasteful.

   The default is exclusive where the backend has it, lock elsewhere.

   A worker that has answered -n requests retires: it stops accepting, serves
   the clients it has until they leave, and exits. The parent replaces workers
   that exit or die, at most -r per second, and on SIGINT or SIGTERM sends
   SIGTERM to each worker, waits up to 5 s for them, kills what is left with
   SIGKILL, and exits 0. The signal handlers wake the poller with xpoll_wake,
   or on libkqueue through a self-pipe.

     preforker [-w WORKERS] [-p PORT] [-b BACKEND] [-m MODE] [-n REQUESTS] [-r RESTARTS]

   It prints "port N" and "mode M" first, then "worker PID started", "worker
   PID done: A accepted, E empty accepts" (from a worker that ends by itself
   or on SIGTERM; an empty accept is the listener reported ready and accept()
   finding nothing: the herd as the workers see it), "worker PID exited
   (status S)" or "(signal S)", "worker PID stopped", and "stopped". It exits
   3, before it listens, when the mode is not available with this backend or
   system. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* SO_REUSEPORT is not POSIX: glibc shows it only with this */
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
#define LOCK_RETRY_MS 20 /* how often a worker with clients tries the accept lock */

/* Where SO_REUSEPORT balances connections over the listeners: Linux 3.9 and
   later; FreeBSD 12 names that SO_REUSEPORT_LB (its SO_REUSEPORT, like
   macOS's, lets the sockets share the port but gives every connection to
   one of them). */
#if defined(SO_REUSEPORT_LB)
#define REUSEPORT_OPTION SO_REUSEPORT_LB
#elif defined(SO_REUSEPORT) && defined(__linux__)
#define REUSEPORT_OPTION SO_REUSEPORT
#endif

enum mode { MODE_EXCLUSIVE, MODE_LOCK, MODE_REUSEPORT, MODE_PLAIN };
static const char *const mode_names[] = {"exclusive", "lock", "reuseport", "plain"};

/* What the parent hands each worker. */
struct config {
  const char *backend;
  long budget;
  enum mode mode;
  int lock_fd;                /* MODE_LOCK: the accept lock's file, else -1 */
  int listeners[MAX_WORKERS]; /* MODE_REUSEPORT: one per worker slot; otherwise only [0] */
  int nlisteners;
};

struct client {
  int fd;
  size_t in_len, out_len, out_off;
  char in[MAX_LINE];
  char *out;
  size_t out_cap;
  struct client *prev, *next;
};

#define SIGNAL_PIPE 1 /* the self-pipe's user data (a client's is its struct client, the listener's 0) */

static xpoll_t *g_poller;      /* the parent's, or in a worker the worker's */
static int g_signal_pipe = -1; /* write end, used instead of xpoll_wake where that is not async-signal-safe */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  int saved = errno;
  if (sig != SIGCHLD) g_stop = 1; /* SIGCHLD only wakes the parent to reap */
  if (g_signal_pipe >= 0) {
    char c = 0;
    ssize_t n = write(g_signal_pipe, &c, 1); /* a full pipe already wakes the poller */
    (void)n;
  } else if (g_poller) {
    xpoll_wake(g_poller); /* async-signal-safe */
  }
  errno = saved;
}

static void handle(int sig, void (*fn)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn; /* no SA_RESTART: a worker waiting for the accept lock sees SIGTERM as EINTR */
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

/* libkqueue's kevent() takes locks, so xpoll_wake is not async-signal-safe
   there (a handler that interrupts the parent inside xpoll_wait and calls it
   can deadlock the parent, which then reaps and replaces no one): on that
   backend the handlers write to a self-pipe that g_poller watches instead.
   fds[0] is -1 where none is needed. */
static int open_signal_pipe(int fds[2]) {
  fds[0] = fds[1] = -1;
#ifdef __linux__
  if (strcmp(xpoll_backend(g_poller), "kqueue") != 0) return 0;
  if (pipe(fds) != 0) return -1;
  if (set_nonblocking(fds[0]) != 0 || set_nonblocking(fds[1]) != 0 ||
      xpoll_add(g_poller, fds[0], XPOLL_IN, SIGNAL_PIPE) != 0) {
    close(fds[0]);
    close(fds[1]);
    fds[0] = fds[1] = -1;
    return -1;
  }
  g_signal_pipe = fds[1];
#endif
  return 0;
}

static void drain_signal_pipe(int fd) {
  char buf[64];
  if (fd >= 0)
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

/* Called with the handlers that write to it ignored or blocked. */
static void close_signal_pipe(int fds[2], int registered) {
  g_signal_pipe = -1;
  if (fds[0] < 0) return;
  if (registered) xpoll_remove(g_poller, fds[0]);
  close(fds[0]);
  close(fds[1]);
  fds[0] = fds[1] = -1;
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

/* How a worker takes its turn at the listener. */
struct acceptor {
  int lfd;
  int lock_fd;          /* the accept lock (MODE_LOCK), or -1 */
  uint32_t interest;    /* XPOLL_IN, with XPOLL_EXCLUSIVE in that mode */
  int listening;        /* 0 once retired */
  int watching;         /* the listener is registered with the poller */
  int holding;          /* the accept lock is ours */
  double resting_until; /* at the descriptor limit: the listener rests until then */
  long accepted, empty; /* connections taken; reports of the listener that found none */
};

static int watch(struct acceptor *a, int on) {
  int rc;
  if (a->watching == on) return 0;
  rc = on ? xpoll_add(g_poller, a->lfd, a->interest, 0) : xpoll_remove(g_poller, a->lfd);
  if (rc == 0) a->watching = on;
  return rc;
}

/* The accept lock is an fcntl() write lock on the whole file. Such locks
   belong to a process, not to a descriptor, so the workers can all use the
   descriptor they inherited (a flock() lock belongs to the open file, which
   they share: each would have to open the file itself). The kernel lets it go
   when its holder dies, even by SIGKILL. With wait, blocks until it is free
   (or a signal comes); returns 0 when it is ours. */
static int lock_accept(int fd, int wait) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET; /* l_start 0, l_len 0: the whole file */
  return fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl);
}

static void unlock_accept(int fd) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  fcntl(fd, F_SETLK, &fl);
}

/* Stops watching the listener and lets the lock go, if this worker holds it. */
static void end_turn(struct acceptor *a) {
  watch(a, 0);
  if (a->holding) unlock_accept(a->lock_fd);
  a->holding = 0;
}

/* Accepts up to max connections (0: until the backlog is empty). EAGAIN at
   once means another worker took the connection (the herd) or the readiness
   was spurious. Returns 1 when the listener must rest (the descriptor limit). */
static int accept_some(struct acceptor *a, int max, struct client **list, long *open_clients) {
  int taken = 0;
  while (max == 0 || taken < max) {
    struct client *c;
    int fd = accept(a->lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return 1; /* EMFILE, ENFILE, ENOBUFS: rest until a client leaves */
    }
    taken++;
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
  a->accepted += taken;
  if (taken == 0) a->empty++;
  return 0;
}

static int worker(const struct config *cfg, int lfd) {
  long pid = (long)getpid(), served = 0, open_clients = 0;
  struct client *list = NULL;
  struct acceptor a;
  xpoll_event_t ev[64];
  int rc, status = 0, just_released = 0, sig_pipe[2];
  sigset_t none;

  memset(&a, 0, sizeof a);
  a.lfd = lfd;
  a.lock_fd = cfg->mode == MODE_LOCK ? cfg->lock_fd : -1;
  a.interest = XPOLL_IN | (cfg->mode == MODE_EXCLUSIVE ? XPOLL_EXCLUSIVE : 0);
  a.listening = 1;
  if ((rc = xpoll_create(&g_poller, cfg->backend, 0)) != 0) {
    fprintf(stderr, "worker %ld: xpoll_create: %s\n", pid, xpoll_strerror(rc));
    return 1;
  }
  if (open_signal_pipe(sig_pipe) != 0) {
    fprintf(stderr, "worker %ld: signal pipe: %s\n", pid, strerror(errno));
    xpoll_destroy(g_poller);
    return 1;
  }
  /* With the lock, the listener is watched only during a turn. */
  if (a.lock_fd < 0 && (rc = watch(&a, 1)) != 0) {
    fprintf(stderr, "worker %ld: xpoll_add(listener): %s\n", pid, xpoll_strerror(rc));
    close_signal_pipe(sig_pipe, 1);
    xpoll_destroy(g_poller);
    return 1;
  }
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL); /* the parent blocked them around fork */

  while (!g_stop && (a.listening || open_clients > 0)) {
    int i, n, timeout = -1;
    if (a.lock_fd >= 0 && a.listening && !a.holding && a.resting_until == 0) {
      /* Right after a turn, let the workers waiting for the lock have it.
         Otherwise try it; wait for it only with no client that waiting
         would starve (Apache's children wait so, each with one client at
         most). A signal makes that wait fail with EINTR. */
      if (!just_released && lock_accept(a.lock_fd, open_clients == 0) == 0) {
        a.holding = 1;
        if ((rc = watch(&a, 1)) != 0) {
          fprintf(stderr, "worker %ld: xpoll_add(listener): %s\n", pid, xpoll_strerror(rc));
          status = 1;
          break;
        }
      } else {
        timeout = LOCK_RETRY_MS; /* with clients, try again between them */
      }
    }
    if (a.resting_until > 0) timeout = 100;
    just_released = 0;
    n = xpoll_wait(g_poller, ev, 64, timeout);
    if (n < 0 && n != XPOLL_EINTR) {
      fprintf(stderr, "worker %ld: xpoll_wait: %s\n", pid, xpoll_strerror(n));
      status = 1;
      break;
    }
    if (a.resting_until > 0 && now_s() >= a.resting_until) { /* try the backlog again */
      a.resting_until = 0;
      if (a.listening && a.lock_fd < 0) watch(&a, 1); /* with the lock: at the next turn */
    }
    for (i = 0; i < n; i++) {
      struct client *c = (struct client *)(uintptr_t)ev[i].data;
      if (ev[i].data == SIGNAL_PIPE) {
        drain_signal_pipe(sig_pipe[0]);
        continue;
      }
      if (!c) {
        /* With the lock, one connection a turn, as Apache takes: the next
           one goes to the next worker waiting for the lock. */
        if (a.listening && accept_some(&a, a.holding ? 1 : 0, &list, &open_clients)) {
          /* Level-triggered, the listener would be reported again at once. */
          a.resting_until = now_s() + 0.1;
          watch(&a, 0);
        }
        if (a.holding) {
          end_turn(&a);
          just_released = 1;
        }
        continue;
      }
      if (serve(c, pid, &served) != 0) drop(&list, c, &open_clients);
    }
    if (a.listening && cfg->budget > 0 && served >= cfg->budget) {
      /* Retire: the listener stays open in the others (in reuseport mode, in
         the parent, for this worker's successor); this one closes its copy. */
      end_turn(&a);
      a.listening = 0;
      close(lfd);
    }
  }
  end_turn(&a);
  while (list) drop(&list, list, &open_clients);
  if (a.listening) close(lfd);
  handle(SIGTERM, SIG_IGN);
  close_signal_pipe(sig_pipe, 1);
  xpoll_destroy(g_poller);
  g_poller = NULL;
  printf("worker %ld done: %ld accepted, %ld empty accepts\n", pid, a.accepted, a.empty);
  return status;
}

/* ---- The parent ---------------------------------------------------------- */

#define RING (MAX_WORKERS * 4)

struct pool {
  pid_t pid[MAX_WORKERS]; /* 0: a slot to fill */
  int size, alive;
  double restarts[RING]; /* times of the latest restarts */
  int ring, ring_len;
  int sig_pipe[2]; /* the parent's self-pipe, if it needs one */
};

/* Forks the worker of slot `slot`. */
static pid_t spawn(const struct config *cfg, int slot, xpoll_t *parent_poller, int parent_pipe[2]) {
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
    int code, i, mine = cfg->mode == MODE_REUSEPORT ? slot : 0;
    /* The parent's poller shares its kernel objects with the parent: every
       call but destroy fails here with XPOLL_EFORKED, and destroy frees our
       copy without touching the parent's. */
    xpoll_destroy(parent_poller);
    g_poller = NULL;
    close_signal_pipe(parent_pipe, 0); /* the worker makes its own */
    g_stop = 0;
    for (i = 0; i < cfg->nlisteners; i++) /* the other workers' listeners */
      if (i != mine) close(cfg->listeners[i]);
    handle(SIGCHLD, SIG_DFL);
    handle(SIGINT, SIG_IGN); /* a ^C reaches the whole group; the parent decides */
    handle(SIGTERM, on_signal);
    code = worker(cfg, cfg->listeners[mine]);
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
static int start(struct pool *pl, int i, const struct config *cfg, int restart) {
  pid_t pid = spawn(cfg, i, g_poller, pl->sig_pipe);
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

/* A listener on 127.0.0.1:*port (0: the kernel chooses, and *port says
   which). With reuseport, others may bind the same port, each with the
   option set before bind. */
static int listen_on(int *port, int reuseport) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)*port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#ifdef REUSEPORT_OPTION
  if (reuseport && setsockopt(fd, SOL_SOCKET, REUSEPORT_OPTION, &one, sizeof one) != 0) {
    perror("SO_REUSEPORT");
    close(fd);
    return -1;
  }
#endif
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, SOMAXCONN) != 0 || set_nonblocking(fd) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    perror("listen on 127.0.0.1");
    close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

/* The listeners: one, or in reuseport mode one per worker slot. Those are
   made here rather than by each worker, as nginx makes them: Linux resets
   the connections waiting in a listener's backlog when it is closed, and a
   worker that retires or dies closes its copy; the parent's keeps the
   backlog for the worker that replaces it. */
static int open_listeners(struct config *cfg, int port, int workers) {
  int i, count = cfg->mode == MODE_REUSEPORT ? workers : 1;
  for (i = 0; i < count; i++) {
    int fd = listen_on(&port, cfg->mode == MODE_REUSEPORT);
    if (fd < 0) return -1;
    cfg->listeners[cfg->nlisteners++] = fd;
  }
  printf("port %d\n", port);
  return 0;
}

/* The accept lock's file, unlinked at once: the workers inherit the
   descriptor, and nothing is left behind. */
static int open_lock_file(void) {
  const char *dir = getenv("TMPDIR");
  char path[4096];
  int fd;
  snprintf(path, sizeof path, "%s/xpoll-preforker.XXXXXX", dir && *dir ? dir : "/tmp");
  if ((fd = mkstemp(path)) < 0) {
    perror("accept lock file");
    return -1;
  }
  unlink(path);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

/* The mode -m names, or the default; -1 (said why) when it is not available. */
static int choose_mode(const char *name, uint32_t caps, const char *backend) {
  int m;
  if (!name) return (caps & XPOLL_CAP_EXCLUSIVE) ? MODE_EXCLUSIVE : MODE_LOCK;
  for (m = 0; m <= MODE_PLAIN; m++)
    if (strcmp(name, mode_names[m]) == 0) break;
  if (m > MODE_PLAIN) {
    fprintf(stderr, "-m must be exclusive, lock, reuseport or plain\n");
    return -2;
  }
  if (m == MODE_EXCLUSIVE && !(caps & XPOLL_CAP_EXCLUSIVE)) {
    fprintf(stderr, "-m exclusive: the %s backend has no exclusive wake-up (XPOLL_CAP_EXCLUSIVE)\n", backend);
    return -1;
  }
#ifndef REUSEPORT_OPTION
  if (m == MODE_REUSEPORT) {
    fprintf(stderr, "-m reuseport: this system does not balance connections over SO_REUSEPORT listeners\n");
    return -1;
  }
#endif
  return m;
}

int main(int argc, char **argv) {
  const char *mode_name = NULL;
  int workers = 4, port = 0, per_second = 0, opt, rc, i, m;
  struct config cfg;
  struct pool pl;
  xpoll_event_t ev[4];
  double deadline;

  memset(&cfg, 0, sizeof cfg);
  cfg.lock_fd = -1;
  while ((opt = getopt(argc, argv, "w:p:b:m:n:r:h")) != -1) {
    switch (opt) {
      case 'w': workers = atoi(optarg); break;
      case 'p': port = atoi(optarg); break;
      case 'b': cfg.backend = optarg; break;
      case 'm': mode_name = optarg; break;
      case 'n': cfg.budget = atol(optarg); break;
      case 'r': per_second = atoi(optarg); break;
      default:
        fprintf(stderr,
                "usage: %s [-w WORKERS] [-p PORT] [-b BACKEND] [-m exclusive|lock|reuseport|plain] [-n REQUESTS] "
                "[-r RESTARTS]\n",
                argv[0]);
        return 2;
    }
  }
  if (workers < 1 || workers > MAX_WORKERS || cfg.budget < 0) {
    fprintf(stderr, "-w must be 1 to %d, -n not negative\n", MAX_WORKERS);
    return 2;
  }
  if (per_second <= 0) per_second = 2 * workers;
  if (per_second > RING) per_second = RING;

  /* The parent's poller only sleeps until a signal handler wakes it. Its
     backend is the workers' too, so its capabilities decide the mode. */
  if ((rc = xpoll_create(&g_poller, cfg.backend, 0)) != 0) {
    fprintf(stderr, "xpoll_create(%s): %s\n", cfg.backend ? cfg.backend : "default", xpoll_strerror(rc));
    return 1;
  }
  if ((m = choose_mode(mode_name, xpoll_capabilities(g_poller), xpoll_backend(g_poller))) < 0) {
    xpoll_destroy(g_poller);
    return m == -1 ? 3 : 2;
  }
  cfg.mode = (enum mode)m;
  memset(&pl, 0, sizeof pl);
  pl.size = workers;
  if (open_signal_pipe(pl.sig_pipe) != 0 || (cfg.mode == MODE_LOCK && (cfg.lock_fd = open_lock_file()) < 0) ||
      open_listeners(&cfg, port, workers) != 0) {
    for (i = 0; i < cfg.nlisteners; i++) close(cfg.listeners[i]);
    if (cfg.lock_fd >= 0) close(cfg.lock_fd);
    close_signal_pipe(pl.sig_pipe, 1);
    xpoll_destroy(g_poller);
    return 1;
  }
  printf("mode %s\n", mode_names[cfg.mode]);
  fflush(stdout);
  handle(SIGPIPE, SIG_IGN);
  handle(SIGCHLD, on_signal);
  handle(SIGINT, on_signal);
  handle(SIGTERM, on_signal);

  for (i = 0; i < workers; i++) start(&pl, i, &cfg, 0);
  while (!g_stop) {
    double wait_s = 0;
    reap(&pl, 0);
    /* Replace the workers that are gone, as fast as the restart bound allows. */
    for (i = 0; i < pl.size && !g_stop && wait_s == 0; i++) {
      if (pl.pid[i] > 0) continue;
      if ((wait_s = restart_wait(&pl, per_second)) == 0 && start(&pl, i, &cfg, 1) != 0)
        wait_s = 1; /* fork failed: try again later */
    }
    rc = xpoll_wait(g_poller, ev, 4, wait_s > 0 ? (int)(wait_s * 1000) + 1 : -1);
    drain_signal_pipe(pl.sig_pipe[0]);
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
    drain_signal_pipe(pl.sig_pipe[0]);
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
  close_signal_pipe(pl.sig_pipe, 1);
  for (i = 0; i < cfg.nlisteners; i++) close(cfg.listeners[i]);
  if (cfg.lock_fd >= 0) close(cfg.lock_fd);
  xpoll_destroy(g_poller);
  printf("stopped\n");
  return 0;
}
