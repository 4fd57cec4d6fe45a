/*
 * The part every echo server shares: arguments, the descriptor limit, the
 * listening socket and a stop descriptor made readable by SIGTERM or SIGINT.
 *
 * Each server's own file holds only its library's loop. All of them follow
 * the same design so that the comparison is about the poller: a small
 * per-connection struct, reads into one shared buffer, and an output buffer
 * allocated only while a write was partial.
 */
#ifndef XPOLL_BENCH_ECHO_COMMON_H
#define XPOLL_BENCH_ECHO_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The shared read buffer's size: larger than any message the client sends. */
#define ECHO_BUF_SIZE 65536

struct echo_args {
  int port;            /* 0: let the kernel choose */
  const char *backend; /* xpoll: the backend name; NULL for the others */
};

/*
 * Parses "[--port N] [BACKEND]" (a backend only when with_backend is set).
 * Prints usage and exits with status 2 on anything else.
 */
void echo_parse_args(int argc, char **argv, int with_backend, struct echo_args *out);

/* Raises the soft descriptor limit to the hard limit; warns on failure. */
void echo_raise_nofile(void);

/*
 * Opens a non-blocking TCP socket listening on 127.0.0.1 with the largest
 * backlog the kernel takes, and prints "port N" on stdout (flushed) as the
 * first line. Exits on failure.
 */
int echo_listen(int port);

/*
 * The listen backlog: at least SOMAXCONN, and net.core.somaxconn when that is
 * larger (the kernel takes the smaller of the two).
 */
int echo_backlog(void);

/*
 * Accepts one connection, non-blocking and close-on-exec, with TCP_NODELAY.
 * Returns the descriptor, or -1 with errno set (EAGAIN when none is pending;
 * other errors, such as EMFILE, are reported once on stderr).
 */
int echo_accept(int listen_fd);

/*
 * Installs handlers for SIGTERM and SIGINT (and ignores SIGPIPE) and returns
 * the read end of a non-blocking self-pipe that becomes readable when either
 * arrives. Every loop watches it like any other descriptor.
 */
int echo_stop_fd(void);

/*
 * Output a write could not take at once. buf is NULL (and nothing is
 * allocated) while everything has been written, which is nearly always.
 */
struct echo_pending {
  char *buf;
  uint32_t off, len;
};

/*
 * Reads once from a readable connection into the shared buffer and writes it
 * back, keeping what the write could not take in p. Returns 1 when output is
 * now pending (watch for writability, stop reading), 0 when it was all
 * written or the read would block, -1 when the connection is finished
 * (end of file or an error): close it.
 */
int echo_on_readable(int fd, struct echo_pending *p);

/*
 * The same with the caller's buffer instead of the shared one, for servers
 * that read in several threads (each with a buffer of its own).
 */
int echo_on_readable_buf(int fd, struct echo_pending *p, char *buf, size_t size);

/*
 * Writes pending output on a writable connection. Returns 1 while some
 * remains, 0 once it is all written (the buffer is freed: read again), -1 on
 * an error. Call it only while p->buf is set.
 */
int echo_on_writable(int fd, struct echo_pending *p);

/* Frees the pending output, if any. */
void echo_pending_free(struct echo_pending *p);

/*
 * Keeps what a write of data[0..n) left unwritten after `written` bytes
 * (for loops that write themselves, as libuv's uv_try_write does). Returns 1,
 * or -1 when out of memory.
 */
int echo_pending_keep(struct echo_pending *p, const char *data, size_t n, size_t written);

/* The shared read buffer (ECHO_BUF_SIZE bytes) of the single-threaded loops. */
extern char echo_buf[];

/* Prints "echo-<name>: <what>: <strerror(errno)>" on stderr and exits with 1. */
void echo_die(const char *what);

/* The server's name for messages ("xpoll-epoll", "libuv" ...); set by main. */
extern const char *echo_name;

#ifdef __cplusplus
}
#endif

#endif /* XPOLL_BENCH_ECHO_COMMON_H */
