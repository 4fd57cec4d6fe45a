/*
 * Echo server on libuv.
 *
 * Idiomatic libuv: a uv_tcp_t per connection, uv_read_start() and
 * uv_write(). Every read lands in one shared buffer (the allocation callback
 * hands out the same block; the data is written back before the next read).
 * The reply goes out with uv_try_write(), and only what it could not take is
 * copied into a uv_write() request; meanwhile reading stops, as in the other
 * servers, and resumes when the write completes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "echo_common.h"

struct write_req {
  uv_write_t req;
  char data[];
};

static long served;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(echo_buf, ECHO_BUF_SIZE);
}

static void on_closed(uv_handle_t *h) { free(h); }

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status) {
  uv_stream_t *s = req->handle;
  free(req);
  if (status < 0 || uv_read_start(s, on_alloc, on_read) != 0) {
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_closed);
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  if (nread == 0) return; /* EAGAIN */
  if (nread < 0) {
    uv_close((uv_handle_t *)s, on_closed);
    return;
  }
  uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
  int w = uv_try_write(s, &out, 1);
  if (w == nread) return;
  if (w < 0 && w != UV_EAGAIN) {
    uv_close((uv_handle_t *)s, on_closed);
    return;
  }
  size_t done = w > 0 ? (size_t)w : 0, rest = (size_t)nread - done;
  struct write_req *r = malloc(sizeof *r + rest);
  if (!r) echo_die("malloc");
  memcpy(r->data, buf->base + done, rest);
  out = uv_buf_init(r->data, (unsigned)rest);
  uv_read_stop(s);
  if (uv_write(&r->req, s, &out, 1, on_written) != 0) {
    free(r);
    uv_close((uv_handle_t *)s, on_closed);
  }
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  uv_tcp_t *c = malloc(sizeof *c);
  if (!c) echo_die("malloc");
  uv_tcp_init(server->loop, c);
  c->data = NULL; /* marks a connection for close_walk */
  if (uv_accept(server, (uv_stream_t *)c) != 0) {
    uv_close((uv_handle_t *)c, on_closed);
    return;
  }
  uv_tcp_nodelay(c, 1);
  uv_read_start((uv_stream_t *)c, on_alloc, on_read);
  ++served;
}

static void on_stop(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  uv_stop(h->loop);
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, h->type == UV_TCP && h->data == NULL ? on_closed : NULL);
}

int main(int argc, char **argv) {
  struct echo_args args;
  echo_parse_args(argc, argv, 0, &args);
  echo_name = "libuv";
  echo_raise_nofile();

  uv_loop_t *loop = uv_default_loop();
  int stop = echo_stop_fd();
  int lfd = echo_listen(args.port);
  static uv_tcp_t server;
  static uv_poll_t stop_w;
  int rc = uv_tcp_init(loop, &server);
  if (rc == 0) rc = uv_tcp_open(&server, lfd);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&server, echo_backlog(), on_connection);
  if (rc == 0) rc = uv_poll_init(loop, &stop_w, stop);
  if (rc == 0) rc = uv_poll_start(&stop_w, UV_READABLE, on_stop);
  if (rc != 0) {
    fprintf(stderr, "echo-%s: setup: %s\n", echo_name, uv_strerror(rc));
    return 1;
  }
  server.data = &server; /* the static handles are not freed by close_walk */
  stop_w.data = &stop_w;

  uv_run(loop, UV_RUN_DEFAULT);
  fprintf(stderr, "echo-%s: stopped after %ld connections\n", echo_name, served);
  uv_walk(loop, close_walk, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}
