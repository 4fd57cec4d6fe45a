/*
 * The pipe-ring benchmark's shared driver.
 *
 * The methodology of libevent's test/bench.c: N socket pairs, every read end
 * watched for reading; A "active" slots get one byte each and every read
 * callback reads one byte and, while writes remain, passes one byte on to
 * the next slot of the ring. All N registrations are renewed (removed and
 * added again) every round. Setup (the renewal, plus one non-blocking pass
 * in which libraries that defer changes apply them) and dispatch (from the
 * first byte to the last read) are timed separately.
 *
 * Each library file (ring_xpoll.c, ring_raw.c, ...) supplies a ring_impl and
 * calls ring_main(); it calls ring_on_readable() from its read callback.
 */
#ifndef XPOLL_BENCH_RING_COMMON_H
#define XPOLL_BENCH_RING_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

/* Exit codes of every ring program. */
#define RING_EXIT_OK 0
#define RING_EXIT_FAIL 1        /* a count mismatch, a system call failure, a round over its time limit */
#define RING_EXIT_USAGE 2       /* bad arguments */
#define RING_EXIT_UNSUPPORTED 3 /* this implementation cannot run this configuration (select above FD_SETSIZE) */

/* How the N watched descriptors are made. */
enum ring_layout {
  RING_CLASSIC, /* N socket pairs, 2N descriptors: slot k reads end 0 of pair k, is fed through end 1 */
  RING_BIDIR    /* N/2 socket pairs, N descriptors: both ends are watched, each fed through the other */
};

struct ring {
  int n;      /* slots (watched descriptors) */
  int active; /* bytes put into the ring at the start of a round */
  int writes; /* bytes passed on per round */
  enum ring_layout layout;
  int renew_modify; /* --renew modify: renewal pauses and resumes each registration instead of removing and adding
                       it (xpoll only; the others answer RING_EXIT_UNSUPPORTED) */
  int descriptors;  /* descriptors the ring holds */
  int maxfd;        /* highest of them */
  int *rfd;         /* rfd[k]: the descriptor watched for slot k */
  int *feed;        /* feed[k]: writing one byte here makes rfd[k] readable */
  /* Counted by ring_on_readable() during a round. */
  long reads;
  long writes_left;
  long spurious; /* readiness reported with nothing to read */
  long failures; /* reads or writes that failed */
  void *impl;    /* the implementation's own state */
};

/* What one library supplies. Each function returns 0, or RING_EXIT_* after
 * printing why on stderr. */
struct ring_impl {
  const char *name; /* "xpoll", "raw", "libevent", ... */
  /* Writes the backends this implementation can run, one per line. */
  void (*list_backends)(void);
  /* Creates the loop on `backend` and registers all N read descriptors. */
  int (*open)(struct ring *r, const char *backend);
  /* Renews all N registrations: removes each and adds it again. */
  int (*renew)(struct ring *r);
  /* One non-blocking pass of the loop, calling ring_on_readable() for
   * every readable slot. */
  int (*dispatch)(struct ring *r);
  /* Unregisters everything and frees the loop (the driver closes the ring). */
  void (*close)(struct ring *r);
  /* --renew modify: renews all N registrations by pausing each (interest
   * none) and resuming it. NULL where the library has no such call. */
  int (*renew_modify)(struct ring *r);
};

/* The read callback's work: read one byte from slot k, count it, and while
 * writes remain pass one byte on to slot k + 1. */
static inline void ring_on_readable(struct ring *r, int k) {
  char ch;
  ssize_t got = read(r->rfd[k], &ch, 1);
  if (got != 1) {
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      r->spurious++;
    else
      r->failures++;
    return;
  }
  r->reads++;
  if (r->writes_left > 0) {
    int next = k + 1 == r->n ? 0 : k + 1;
    if (write(r->feed[next], "e", 1) != 1) r->failures++;
    r->writes_left--;
  }
}

/* Refuses a select() without dynamic sets when the ring's descriptors do not
 * fit an fd_set: prints "unsupported: ..." and returns RING_EXIT_UNSUPPORTED,
 * or 0 when they fit. */
int ring_check_fd_setsize(const struct ring *r, const char *what);

/* Parses the arguments, builds the ring, runs the rounds, checks every count
 * and prints one result line. Returns the process exit code. */
int ring_main(int argc, char **argv, const struct ring_impl *impl);

#endif /* XPOLL_BENCH_RING_COMMON_H */
