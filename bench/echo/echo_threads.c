/*
 * Echo server with a thread per connection and blocking I/O: the design the
 * event loops replace, for comparison.
 *
 * The main thread accepts (non-blocking, watching the listening socket and
 * the stop pipe with poll()) and starts a detached thread per connection
 * with a 64 KiB stack, so that 10,000 of them fit; each thread reads into a
 * 16 KiB buffer on its stack and writes everything back with blocking
 * writes (a partial write is simply continued).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echo_common.h"

#define STACK_SIZE (64 * 1024)
#define THREAD_BUF (16 * 1024)

static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[THREAD_BUF];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) goto done;
      off += w;
    }
  }
done:
  close(fd);
  return NULL;
}

int main(int argc, char **argv) {
  struct echo_args args;
  echo_parse_args(argc, argv, 0, &args);
  echo_name = "threads";
  echo_raise_nofile();

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (pthread_attr_setstacksize(&attr, STACK_SIZE) != 0) echo_die("pthread_attr_setstacksize");
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);

  int stop = echo_stop_fd();
  int lfd = echo_listen(args.port);
  struct pollfd pfd[2] = {{lfd, POLLIN, 0}, {stop, POLLIN, 0}};
  long served = 0;
  for (;;) {
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      echo_die("poll");
    }
    if (pfd[1].revents) break;
    if (!pfd[0].revents) continue;
    for (int i = 0; i < 1024; i++) {
      int fd = echo_accept(lfd);
      if (fd < 0) break;
      /* The connection's thread blocks in read() and write(). */
      if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) echo_die("fcntl");
      pthread_t t;
      int rc = pthread_create(&t, &attr, serve, (void *)(intptr_t)fd);
      if (rc != 0) {
        fprintf(stderr, "echo-%s: pthread_create: %s\n", echo_name, strerror(rc));
        close(fd);
        continue;
      }
      ++served;
    }
  }
  /* Threads still serving end with the process. */
  fprintf(stderr, "echo-%s: stopped after %ld connections\n", echo_name, served);
  close(lfd);
  return 0;
}
