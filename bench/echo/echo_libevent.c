/*
 * Echo server on libevent 2, on its default backend (epoll here).
 *
 * Plain `event`s rather than bufferevents: a bufferevent would bring its own
 * input and output evbuffers to every connection, so the comparison would be
 * about buffering, not about the poller. The design is the xpoll server's:
 * one persistent EV_READ event per connection (made by event_new), switched
 * to EV_WRITE (event_del, event_assign, event_add) only while a reply could
 * not be written at once.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "echo_common.h"

struct conn {
  struct event *ev;
  struct echo_pending out;
};

static long served;

static void on_conn(evutil_socket_t fd, short what, void *arg);

static void set_interest(struct conn *c, evutil_socket_t fd, short events) {
  struct event_base *base = event_get_base(c->ev);
  event_del(c->ev);
  event_assign(c->ev, base, fd, events | EV_PERSIST, on_conn, c);
  event_add(c->ev, NULL);
}

static void on_conn(evutil_socket_t fd, short what, void *arg) {
  struct conn *c = arg;
  int rc;
  (void)what;
  if (c->out.buf) {
    rc = echo_on_writable(fd, &c->out);
    if (rc == 0) set_interest(c, fd, EV_READ);
  } else {
    rc = echo_on_readable(fd, &c->out);
    if (rc == 1) set_interest(c, fd, EV_WRITE);
  }
  if (rc < 0) {
    event_free(c->ev);
    close(fd);
    echo_pending_free(&c->out);
    free(c);
  }
}

static void on_listen(evutil_socket_t lfd, short what, void *arg) {
  struct event_base *base = arg;
  (void)what;
  for (int i = 0; i < 1024; i++) {
    int fd = echo_accept(lfd);
    if (fd < 0) return;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) echo_die("calloc");
    c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_conn, c);
    if (!c->ev || event_add(c->ev, NULL) != 0) echo_die("event_new");
    ++served;
  }
}

static void on_stop(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  event_base_loopbreak(arg);
}

int main(int argc, char **argv) {
  struct echo_args args;
  echo_parse_args(argc, argv, 0, &args);
  echo_name = "libevent";
  echo_raise_nofile();

  struct event_base *base = event_base_new();
  if (!base) echo_die("event_base_new");
  int stop = echo_stop_fd();
  int lfd = echo_listen(args.port);
  struct event *listen_ev = event_new(base, lfd, EV_READ | EV_PERSIST, on_listen, base);
  struct event *stop_ev = event_new(base, stop, EV_READ | EV_PERSIST, on_stop, base);
  if (!listen_ev || !stop_ev || event_add(listen_ev, NULL) != 0 || event_add(stop_ev, NULL) != 0) echo_die("event_add");

  if (event_base_dispatch(base) < 0) echo_die("event_base_dispatch");
  /* Connections still open are released with the process. */
  fprintf(stderr, "echo-%s: stopped after %ld connections (%s)\n", echo_name, served, event_base_get_method(base));
  event_free(listen_ev);
  event_free(stop_ev);
  event_base_free(base);
  close(lfd);
  return 0;
}
