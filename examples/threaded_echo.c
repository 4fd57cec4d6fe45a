/* An echo server on 127.0.0.1 whose connections are served by several
   threads that all wait on one poller, made with XPOLL_SHARED.

   Every registration, the listener's too, is XPOLL_ONESHOT: its event goes to
   exactly one waiting thread per arming, and the registration stays disarmed
   until that thread re-arms it with xpoll_modify(). So a connection needs no
   lock of its own: the thread that got its event owns it until it re-arms it,
   and does not touch it after (another thread may have it by then). The
   listener likewise: the thread that got it accepts a batch and re-arms it,
   so one thread accepts at a time, and the spare descriptor kept for EMFILE
   (as in echo_server.c) is used by that thread only.

   The echo itself is echo_server.c's: a connection is armed for IN; a reply
   the peer does not take at once waits in a buffer of the connection, which
   is then armed for OUT instead, until the buffer is written.

   Signals: SIGINT, SIGTERM and SIGUSR1 are blocked in every thread, and the
   main thread, which does not serve, takes them with sigwait(), so no signal
   handler runs at all (and xpoll_wake is called from a thread, which is safe
   on every backend, libkqueue's too). On SIGINT or SIGTERM it sets the stop
   flag and calls xpoll_wake, which makes every wait in progress return; each
   thread then sees the flag and ends. A thread that was busy then, and had
   read the flag just before it was set, starts its next wait after that wake
   was delivered: so each thread, as it ends, calls xpoll_wake once more,
   which brings out any wait still in progress or makes the next one return.
   The main thread waits up to 5 s for the threads, then joins them.

     threaded_echo [-t THREADS] [-b BACKEND] [-p PORT]

   It prints "port N" first, then "threads T, backend B; can hold about H
   connections"; "connections: ..." on SIGUSR1; at exit "thread I: E events"
   for each thread and "exit: ...". */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
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

#define MAX_THREADS 64
#define EVENTS 16 /* a thread serves alone what one wait gives it: a few, so that the others get some */
#define ACCEPT_BATCH 64
#define READ_CHUNK 16384
#define READ_ROUNDS 16
#define STOP_GRACE_S 5
#define LISTENER 0 /* the listener's user data; a connection's is its struct conn */

struct conn {
  int fd;
  size_t pending_len, pending_off; /* unsent bytes of the last read, 0 when armed for IN */
  char *pending;
};

struct stats {
  long current, peak, accepted, refused, short_writes;
};

struct server {
  xpoll_t *poller;
  int lfd;
  int spare;           /* kept for EMFILE; only the thread holding the listener touches it */
  struct conn **table; /* by descriptor, to free what is left at exit */
  long table_size;
  pthread_mutex_t mu; /* guards what follows, and the table's entries */
  int stop;
  double resume_at; /* a listener resting at the descriptor limit is re-armed then (0: not resting) */
  struct stats s;
  int running; /* threads not yet ended */
  pthread_cond_t ended;
};

struct thread {
  pthread_t id;
  struct server *sv;
  long events; /* written by its thread; read by main after the join */
  int failed;
};

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

static void report(struct server *sv, const char *what) {
  struct stats s;
  pthread_mutex_lock(&sv->mu);
  s = sv->s;
  pthread_mutex_unlock(&sv->mu);
  printf("%s: current %ld, peak %ld, accepted %ld, refused %ld, short writes %ld\n", what, s.current, s.peak,
         s.accepted, s.refused, s.short_writes);
  fflush(stdout);
}

/* ---- A connection, served by the thread that got its event ---------------- */

static int arm(struct server *sv, struct conn *c, uint32_t interest) {
  return xpoll_modify(sv->poller, c->fd, interest | XPOLL_ONESHOT, (uint64_t)(uintptr_t)c);
}

static void drop(struct server *sv, struct conn *c) {
  /* The entry is cleared before close: once closed, the number may be
     accepted again at once by another thread, which fills the entry anew. */
  pthread_mutex_lock(&sv->mu);
  sv->table[c->fd] = NULL;
  sv->s.current--;
  pthread_mutex_unlock(&sv->mu);
  xpoll_remove(sv->poller, c->fd); /* before close, for the same reason */
  close(c->fd);
  free(c->pending);
  free(c);
}

/* Writes what is pending and re-arms the connection: for IN once all is
   written, for OUT otherwise. -1: drop it. */
static int flush_pending(struct server *sv, struct conn *c) {
  while (c->pending_off < c->pending_len) {
    ssize_t w = write(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return arm(sv, c, XPOLL_OUT) == 0 ? 0 : -1;
      return -1;
    }
    c->pending_off += (size_t)w;
  }
  free(c->pending);
  c->pending = NULL;
  c->pending_len = c->pending_off = 0;
  return arm(sv, c, XPOLL_IN) == 0 ? 0 : -1;
}

/* Reads and echoes up to READ_ROUNDS chunks, then re-arms the connection.
   -1: drop it. */
static int echo(struct server *sv, struct conn *c, char *buf) {
  int round;
  for (round = 0; round < READ_ROUNDS; round++) {
    ssize_t n, w;
    do n = read(c->fd, buf, READ_CHUNK);
    while (n < 0 && errno == EINTR);
    if (n == 0) return -1; /* the peer closed */
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      break; /* readiness may be spurious */
    }
    do w = write(c->fd, buf, (size_t)n);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      w = 0;
    }
    if (w < n) {
      /* The peer is not reading fast enough: keep the rest, wait for room. */
      pthread_mutex_lock(&sv->mu);
      sv->s.short_writes++;
      pthread_mutex_unlock(&sv->mu);
      if (!(c->pending = malloc((size_t)(n - w)))) return -1;
      memcpy(c->pending, buf + w, (size_t)(n - w));
      c->pending_len = (size_t)(n - w);
      c->pending_off = 0;
      return arm(sv, c, XPOLL_OUT) == 0 ? 0 : -1;
    }
    if (n < READ_CHUNK) break; /* drained, most likely */
  }
  return arm(sv, c, XPOLL_IN) == 0 ? 0 : -1;
}

/* ---- The listener, held by one thread at a time ------------------------- */

/* Registers a new connection. Its entry and the count are set before the
   add: from then on another thread may get its event, and drop it. */
static void add_conn(struct server *sv, int fd) {
  struct conn *c = fd < sv->table_size ? calloc(1, sizeof *c) : NULL;
  int rc;
  if (!c || set_nonblocking(fd) != 0) {
    free(c);
    close(fd);
    pthread_mutex_lock(&sv->mu);
    sv->s.accepted++;
    sv->s.refused++;
    pthread_mutex_unlock(&sv->mu);
    return;
  }
  c->fd = fd;
  pthread_mutex_lock(&sv->mu);
  sv->s.accepted++;
  sv->table[fd] = c;
  if (++sv->s.current > sv->s.peak) sv->s.peak = sv->s.current;
  pthread_mutex_unlock(&sv->mu);
  rc = xpoll_add(sv->poller, fd, XPOLL_IN | XPOLL_ONESHOT, (uint64_t)(uintptr_t)c);
  if (rc != 0) { /* XPOLL_ERANGE on a select with a fixed FD_SETSIZE, XPOLL_ENOMEM */
    fprintf(stderr, "xpoll_add(%d): %s\n", fd, xpoll_strerror(rc));
    pthread_mutex_lock(&sv->mu);
    sv->table[fd] = NULL;
    sv->s.current--;
    sv->s.refused++;
    pthread_mutex_unlock(&sv->mu);
    free(c);
    close(fd);
  }
}

/* At the descriptor limit: frees the spare, takes the connection and closes
   it, takes the spare back. 0 when one connection was refused so. */
static int refuse_one(struct server *sv) {
  int fd;
  if (sv->spare < 0) return -1;
  close(sv->spare);
  fd = accept(sv->lfd, NULL, NULL);
  if (fd >= 0) {
    close(fd);
    pthread_mutex_lock(&sv->mu);
    sv->s.refused++;
    pthread_mutex_unlock(&sv->mu);
  }
  sv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd >= 0 ? 0 : -1;
}

/* Accepts up to ACCEPT_BATCH connections, then re-arms the listener (if more
   wait, another thread may take it at once), or lets it rest when the limit
   leaves nothing to free. */
static void accept_some(struct server *sv) {
  int i, rest = 0;
  for (i = 0; i < ACCEPT_BATCH; i++) {
    int fd = accept(sv->lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EMFILE || errno == ENFILE) {
        if (refuse_one(sv) == 0) continue;
        rest = sv->spare < 0; /* the backlog is empty, or there is no spare to free */
        break;
      }
      perror("accept");
      rest = 1;
      break;
    }
    add_conn(sv, fd);
  }
  if (rest) {
    /* Not re-armed: the first thread to see the time come re-arms it. */
    pthread_mutex_lock(&sv->mu);
    sv->resume_at = now_s() + 0.1;
    pthread_mutex_unlock(&sv->mu);
  } else {
    xpoll_modify(sv->poller, sv->lfd, XPOLL_IN | XPOLL_ONESHOT, LISTENER);
  }
}

/* ---- The threads ---------------------------------------------------------- */

static void *serve_thread(void *arg) {
  struct thread *t = arg;
  struct server *sv = t->sv;
  xpoll_event_t ev[EVENTS];
  char buf[READ_CHUNK];

  for (;;) {
    int i, n, stop, due, timeout;
    pthread_mutex_lock(&sv->mu);
    stop = sv->stop;
    due = sv->resume_at > 0 && now_s() >= sv->resume_at;
    if (due) sv->resume_at = 0; /* this thread holds the resting listener now */
    timeout = sv->resume_at > 0 ? 100 : -1;
    pthread_mutex_unlock(&sv->mu);
    if (stop) break;
    if (due) {
      if (sv->spare < 0) sv->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
      xpoll_modify(sv->poller, sv->lfd, XPOLL_IN | XPOLL_ONESHOT, LISTENER);
    }
    n = xpoll_wait(sv->poller, ev, EVENTS, timeout);
    if (n == XPOLL_EINTR) continue; /* rare with every signal blocked (a debugger attaching) */
    if (n < 0) {
      fprintf(stderr, "xpoll_wait: %s\n", xpoll_strerror(n));
      t->failed = 1;
      kill(getpid(), SIGTERM); /* the main thread stops the others */
      break;
    }
    for (i = 0; i < n; i++) {
      struct conn *c = (struct conn *)(uintptr_t)ev[i].data;
      t->events++;
      if (ev[i].data == LISTENER)
        accept_some(sv);
      else if ((c->pending ? flush_pending(sv, c) : echo(sv, c, buf)) != 0)
        drop(sv, c);
    }
  }
  xpoll_wake(sv->poller); /* passed on: see the comment at the top */
  pthread_mutex_lock(&sv->mu);
  sv->running--;
  pthread_cond_signal(&sv->ended);
  pthread_mutex_unlock(&sv->mu);
  return NULL;
}

/* Sets the flag, wakes every waiter, and waits up to STOP_GRACE_S for the
   threads to end. 0 when they all did. */
static int stop_threads(struct server *sv) {
  struct timespec until;
  int rc = 0;
  pthread_mutex_lock(&sv->mu);
  sv->stop = 1;
  pthread_mutex_unlock(&sv->mu);
  xpoll_wake(sv->poller);
  clock_gettime(CLOCK_REALTIME, &until); /* the clock pthread_cond_timedwait uses by default */
  until.tv_sec += STOP_GRACE_S;
  pthread_mutex_lock(&sv->mu);
  while (sv->running > 0 && rc == 0) rc = pthread_cond_timedwait(&sv->ended, &sv->mu, &until);
  rc = sv->running > 0 ? -1 : 0;
  pthread_mutex_unlock(&sv->mu);
  return rc;
}

/* ---- Set-up --------------------------------------------------------------- */

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

/* Connections this process can hold: the soft limit less what is open now,
   and no more than the backend can watch. */
static long capacity(int64_t soft, const char *backend) {
  xpoll_limits_t lim;
  long max_fd = xpoll_backend_max_fd(backend);
  int64_t open_now = 8, hold;
  memset(&lim, 0, sizeof lim);
  lim.size = sizeof lim;
  if (xpoll_read_limits(&lim) == 0 && lim.open_now.value >= 0) open_now = lim.open_now.value;
  hold = soft - open_now;
  if (max_fd >= 0 && max_fd + 1 - open_now < hold) hold = max_fd + 1 - open_now;
  return (long)hold;
}

int main(int argc, char **argv) {
  const char *backend = NULL;
  int nthreads = 2, port = 0, opt, rc, i, sig, started = 0, exit_code = 1;
  int64_t before = 0, after = 0;
  struct server sv;
  struct thread threads[MAX_THREADS];
  sigset_t signals;
  long fd;

  while ((opt = getopt(argc, argv, "t:b:p:h")) != -1) {
    switch (opt) {
      case 't': nthreads = atoi(optarg); break;
      case 'b': backend = optarg; break;
      case 'p': port = atoi(optarg); break;
      default: fprintf(stderr, "usage: %s [-t THREADS] [-b BACKEND] [-p PORT]\n", argv[0]); return 2;
    }
  }
  if (nthreads < 1 || nthreads > MAX_THREADS) {
    fprintf(stderr, "-t must be 1 to %d\n", MAX_THREADS);
    return 2;
  }

  memset(&sv, 0, sizeof sv);
  memset(threads, 0, sizeof threads);
  sv.lfd = sv.spare = -1;
  pthread_mutex_init(&sv.mu, NULL);
  pthread_cond_init(&sv.ended, NULL);
  if ((rc = xpoll_raise_nofile(&before, &after)) != 0)
    fprintf(stderr, "cannot raise the descriptor limit: %s\n", xpoll_strerror(rc));
  if (after == XPOLL_LIMIT_INFINITE || after <= 0) after = 1 << 20;
  sv.table_size = (long)after;
  if ((rc = xpoll_create(&sv.poller, backend, XPOLL_SHARED)) != 0) {
    fprintf(stderr, "xpoll_create(%s, XPOLL_SHARED): %s\n", backend ? backend : "default", xpoll_strerror(rc));
    return 1;
  }
  sv.table = calloc((size_t)sv.table_size, sizeof *sv.table);
  sv.spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (!sv.table || sv.spare < 0 || (sv.lfd = listen_on(port)) < 0) goto out;
  if ((rc = xpoll_add(sv.poller, sv.lfd, XPOLL_IN | XPOLL_ONESHOT, LISTENER)) != 0) {
    fprintf(stderr, "xpoll_add(listener): %s\n", xpoll_strerror(rc));
    goto out;
  }
  printf("threads %d, backend %s; can hold about %ld connections\n", nthreads, xpoll_backend(sv.poller),
         capacity(after, xpoll_backend(sv.poller)));
  fflush(stdout);

  /* Blocked before the threads are made, so that they inherit the mask and
     every such signal waits for sigwait() below. */
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);
  signal(SIGPIPE, SIG_IGN); /* a write to a closed connection fails with EPIPE instead */

  for (i = 0; i < nthreads; i++) {
    threads[i].sv = &sv;
    pthread_mutex_lock(&sv.mu);
    sv.running++;
    pthread_mutex_unlock(&sv.mu);
    if ((rc = pthread_create(&threads[i].id, NULL, serve_thread, &threads[i])) != 0) {
      fprintf(stderr, "pthread_create: %s\n", strerror(rc));
      pthread_mutex_lock(&sv.mu);
      sv.running--;
      pthread_mutex_unlock(&sv.mu);
      break;
    }
    started++;
  }
  if (started == nthreads) {
    for (;;) {
      if (sigwait(&signals, &sig) != 0) break;
      if (sig != SIGUSR1) break;
      report(&sv, "connections");
    }
    exit_code = 0;
  }
  if (stop_threads(&sv) != 0) {
    fprintf(stderr, "threads still running %d s after the stop\n", STOP_GRACE_S);
    return 1; /* they may still use the poller: leave it to the exit */
  }
  for (i = 0; i < started; i++) {
    pthread_join(threads[i].id, NULL);
    if (threads[i].failed) exit_code = 1;
  }
  for (i = 0; i < started; i++) printf("thread %d: %ld events\n", i, threads[i].events);

out:
  if (exit_code == 0) report(&sv, "exit");
  for (fd = 0; sv.table && fd < sv.table_size; fd++)
    if (sv.table[fd]) drop(&sv, sv.table[fd]);
  if (sv.lfd >= 0) close(sv.lfd);
  if (sv.spare >= 0) close(sv.spare);
  xpoll_destroy(sv.poller);
  free(sv.table);
  pthread_cond_destroy(&sv.ended);
  pthread_mutex_destroy(&sv.mu);
  return exit_code;
}
