/*
 * Echo server on libev, on its epoll backend.
 *
 * Idiomatic libev: an ev_io watcher embedded in the per-connection struct.
 * The same design as the xpoll server: one EV_READ watcher per connection,
 * switched to EV_WRITE (stop, set, start; libev folds that into one
 * epoll_ctl) only while a reply could not be written at once.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "echo_common.h"

struct conn {
  ev_io io; /* first: the callback's watcher is the connection */
  struct echo_pending out;
};

static long served;

static void set_interest(struct ev_loop *loop, struct conn *c, int events) {
  ev_io_stop(loop, &c->io);
  ev_io_set(&c->io, c->io.fd, events);
  ev_io_start(loop, &c->io);
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents) {
  struct conn *c = (struct conn *)w;
  int rc;
  (void)revents;
  if (c->out.buf) {
    rc = echo_on_writable(w->fd, &c->out);
    if (rc == 0) set_interest(loop, c, EV_READ);
  } else {
    rc = echo_on_readable(w->fd, &c->out);
    if (rc == 1) set_interest(loop, c, EV_WRITE);
  }
  if (rc < 0) {
    ev_io_stop(loop, &c->io);
    close(w->fd);
    echo_pending_free(&c->out);
    free(c);
  }
}

static void on_listen(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  for (int i = 0; i < 1024; i++) {
    int fd = echo_accept(w->fd);
    if (fd < 0) return;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) echo_die("calloc");
    ev_io_init(&c->io, on_conn, fd, EV_READ);
    ev_io_start(loop, &c->io);
    ++served;
  }
}

static void on_stop(struct ev_loop *loop, ev_io *w, int revents) {
  (void)w;
  (void)revents;
  ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv) {
  struct echo_args args;
  echo_parse_args(argc, argv, 0, &args);
  echo_name = "libev";
  echo_raise_nofile();

  struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL);
  if (!loop) echo_die("ev_loop_new(EVBACKEND_EPOLL)");
  int stop = echo_stop_fd();
  int lfd = echo_listen(args.port);
  ev_io listen_w, stop_w;
  ev_io_init(&listen_w, on_listen, lfd, EV_READ);
  ev_io_start(loop, &listen_w);
  ev_io_init(&stop_w, on_stop, stop, EV_READ);
  ev_io_start(loop, &stop_w);

  ev_run(loop, 0);
  /* Connections still open are released with the process. */
  fprintf(stderr, "echo-%s: stopped after %ld connections\n", echo_name, served);
  ev_loop_destroy(loop);
  close(lfd);
  return 0;
}
