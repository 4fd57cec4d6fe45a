/**
 * @file xpoll.h
 * @brief The public C API of xpoll, a portable I/O readiness poller.
 *
 * xpoll watches many descriptors for readiness through one interface that is
 * implemented by several kernel mechanisms (select, poll, epoll, kqueue and
 * IOCP).  Which mechanisms are compiled is decided when the library is
 * configured; a program picks one of them by name at run time, or takes the
 * best one.
 *
 * This header is plain C99 and also compiles as C++.  Every function returns
 * 0 or a non-negative count on success and a negative @c XPOLL_E* code on
 * failure.  The same misuse gets the same code on every operating system and
 * every backend.  A function that fails changes nothing.
 *
 * @par Example
 * @code
 * xpoll_t *p;
 * xpoll_event_t ev[64];
 * int n, i;
 * if (xpoll_create(&p, NULL, 0) != 0) return 1;
 * xpoll_add(p, sock, XPOLL_IN, 42);
 * n = xpoll_wait(p, ev, 64, 1000);
 * for (i = 0; i < n; i++)
 *     handle(ev[i].fd, ev[i].events, ev[i].data);
 * xpoll_destroy(p);
 * @endcode
 */
#ifndef XPOLL_XPOLL_H
#define XPOLL_XPOLL_H

#include <stddef.h>
#include <stdint.h>

/** @brief Marks a function exported from the shared library. */
#if defined(XPOLL_STATIC)
#define XPOLL_API
#elif defined(_WIN32)
#if defined(XPOLL_BUILDING)
#define XPOLL_API __declspec(dllexport)
#else
#define XPOLL_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define XPOLL_API __attribute__((visibility("default")))
#else
#define XPOLL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Major version of this header. Incompatible ABI changes bump it. */
#define XPOLL_VERSION_MAJOR 1
/** @brief Minor version of this header. Additions bump it. */
#define XPOLL_VERSION_MINOR 1
/** @brief Patch version of this header. */
#define XPOLL_VERSION_PATCH 0
/** @brief The version as one number: major * 10000 + minor * 100 + patch. */
#define XPOLL_VERSION (XPOLL_VERSION_MAJOR * 10000 + XPOLL_VERSION_MINOR * 100 + XPOLL_VERSION_PATCH)

/**
 * @brief A descriptor as the operating system names it.
 *
 * A file descriptor (@c int) on POSIX systems, a @c SOCKET on Windows.
 */
#if defined(_WIN32)
typedef uintptr_t xpoll_fd_t;
#else
typedef int xpoll_fd_t;
#endif

/** @brief An opaque poller. Create it with xpoll_create(), free it with xpoll_destroy(). */
typedef struct xpoll_poller xpoll_t;

/**
 * @name Event bits
 * Used both as the interest mask given to xpoll_add() and xpoll_modify() and as
 * the events reported by xpoll_wait().
 * @{
 */
/** @brief Readable: data can be read, a connection accepted, or the peer closed (a read returns 0). */
#define XPOLL_IN 0x0001u
/**
 * @brief Priority data: TCP urgent (out-of-band) data, or an exceptional
 * condition a file announces this way (a Linux sysfs attribute, a
 * pressure-stall trigger, a pseudo-terminal in packet mode).
 *
 * Reported only when asked for, and only by backends with ::XPOLL_CAP_PRI
 * (epoll as EPOLLPRI, poll as POLLPRI, select through its exception set,
 * iocp as AFD_POLL_RECEIVE_EXPEDITED); asking a backend without it fails
 * with ::XPOLL_ENOTSUP. Ordinary data is ::XPOLL_IN, not this.
 * @since 1.1
 */
#define XPOLL_PRI 0x0002u
/** @brief Writable: a write would not block. */
#define XPOLL_OUT 0x0004u
/** @brief An error is pending on the descriptor. Always reported; need not be asked for. */
#define XPOLL_ERR 0x0008u
/** @brief Hang-up: both directions are closed. Always reported; need not be asked for. */
#define XPOLL_HUP 0x0010u
/**
 * @brief Peer closed its writing side (read hang-up).
 *
 * Reported only when asked for, and only by backends with
 * ::XPOLL_CAP_RDHUP; asking a backend without it fails with ::XPOLL_ENOTSUP.
 * The descriptor is also reported ::XPOLL_IN when that was asked for too (a
 * read returns end of file).
 */
#define XPOLL_RDHUP 0x2000u
/** @} */

/**
 * @name Mode bits
 * Combined with the interest mask. At most one of them may be given; without
 * either the registration is level-triggered.
 * @{
 */
/**
 * @brief Oneshot: after one report the registration is disarmed.
 *
 * It stays registered (xpoll_add() fails with ::XPOLL_EEXIST) but reports
 * nothing until xpoll_modify() re-arms it. Supported by every backend.
 */
#define XPOLL_ONESHOT 0x10000u
/**
 * @brief Edge-triggered: reported when the state changes, not while it lasts.
 *
 * Only backends with ::XPOLL_CAP_EDGE (epoll, kqueue) support it; the others
 * fail with ::XPOLL_ENOTSUP. xpoll_add() and xpoll_modify() in edge mode make
 * the registration anew: what is ready at that moment is reported once more,
 * also when the interest is unchanged (so such a modify costs one system call).
 */
#define XPOLL_EDGE 0x20000u
/**
 * @brief Exclusive wake-up: of several pollers watching the same open file
 * with this bit, one readiness change wakes one of them (at least one, and
 * not all).
 *
 * For a pool of workers, in one process or several, that each have a poller
 * watching one shared listening socket: without the bit every worker wakes
 * for every connection and all but one find nothing to accept (the
 * thundering herd). Which poller is woken is the kernel's choice; a wake
 * that finds nothing (another worker took the connection) is still possible,
 * so accept non-blocking.
 *
 * Only backends with ::XPOLL_CAP_EXCLUSIVE support it (epoll, as
 * EPOLLEXCLUSIVE, Linux 4.5 and later: an older kernel ignores the bit, and
 * the wake-up is then not exclusive); the others fail with ::XPOLL_ENOTSUP.
 * It combines with ::XPOLL_IN, ::XPOLL_OUT and ::XPOLL_EDGE. With
 * ::XPOLL_ONESHOT, ::XPOLL_RDHUP or ::XPOLL_PRI it is ::XPOLL_EINVAL (the
 * kernel refuses them), as it is for a descriptor that is itself a poller
 * (an epoll set).
 * xpoll_modify() of such a registration is made as a removal and an add
 * inside the library (the kernel refuses to modify it in place): the
 * caller sees one call, and what is ready then is reported once more. A
 * modify that adds the bit is made at once, so that the kernel's refusal is
 * its result, with nothing changed.
 *
 * @since 1.1 (::XPOLL_VERSION 10100).
 */
#define XPOLL_EXCLUSIVE 0x40000u
/** @} */

/**
 * @name Capabilities
 * Bits returned by xpoll_capabilities() and xpoll_backend_capabilities().
 * @{
 */
/** @brief ::XPOLL_ONESHOT works (every backend; native or emulated). */
#define XPOLL_CAP_ONESHOT 0x01u
/** @brief ::XPOLL_EDGE works (native edge triggering). */
#define XPOLL_CAP_EDGE 0x02u
/** @brief ::XPOLL_RDHUP is reported. */
#define XPOLL_CAP_RDHUP 0x04u
/** @brief Descriptors that are not sockets (pipes, terminals) can be watched. */
#define XPOLL_CAP_NONSOCKET 0x08u
/** @brief No ceiling on descriptor numbers below the process limit (no FD_SETSIZE cliff). */
#define XPOLL_CAP_UNBOUNDED 0x10u
/**
 * @brief Registration changes made while another thread waits apply to that
 * wait without waking it (otherwise the waiter is woken internally, rebuilds
 * and goes on waiting; either way the change takes effect in that wait).
 */
#define XPOLL_CAP_LIVE_CHANGES 0x20u
/**
 * @brief ::XPOLL_ERR and ::XPOLL_HUP are reported as such, also for a
 * registration with no interest (select shows them only as readiness).
 */
#define XPOLL_CAP_HANGUP 0x40u
/** @brief ::XPOLL_EXCLUSIVE works (epoll). @since 1.1 */
#define XPOLL_CAP_EXCLUSIVE 0x80u
/**
 * @brief xpoll_wait_ns() honours time-outs finer than a millisecond.
 *
 * epoll (epoll_pwait2, or on kernels before 5.11 ppoll() on the epoll
 * descriptor: nanoseconds), kqueue (its timespec), poll where ppoll() exists
 * (Linux, the BSDs; not macOS), select (microseconds). Without it (iocp and
 * the Windows poll and select) a time-out is rounded up to whole
 * milliseconds. Either way the kernel's timer slack comes on top (50 µs by
 * default on Linux). @since 1.1
 */
#define XPOLL_CAP_NS_TIMEOUT 0x100u
/**
 * @brief ::XPOLL_PRI is watched and reported: epoll, poll, select, iocp.
 * Not kqueue yet (EVFILT_EXCEPT), nor the Windows poll (WSAPoll has no
 * POLLPRI) and select (its exception set also means a failed connect).
 * @since 1.1
 */
#define XPOLL_CAP_PRI 0x200u
/**
 * @brief xpoll_fd() gives the poller's descriptor: epoll, and kqueue in a
 * kernel (libkqueue's kqueue descriptor never becomes readable). @since 1.1
 */
#define XPOLL_CAP_FD 0x400u
/** @} */

/**
 * @name Creation flags
 * Given to xpoll_create().
 * @{
 */
/**
 * @brief Several threads may wait on the poller at once.
 *
 * Without it a second concurrent xpoll_wait() fails with ::XPOLL_EBUSY. With
 * it any number of threads may be in xpoll_wait() (and xpoll_add(),
 * xpoll_modify(), xpoll_remove() from any thread) at the same time, and:
 * - a ::XPOLL_ONESHOT registration's event is reported to exactly one waiter
 *   per arming: the usual multi-threaded server has each thread handle what
 *   it got, then re-arm it with xpoll_modify();
 * - a level-triggered or ::XPOLL_EDGE registration may be reported to more
 *   than one waiter: a level-triggered one to every waiter that looks while
 *   it is ready (a thread may be handed what another thread is handling), an
 *   edge one usually to one waiter per change (docs/semantics.md has the
 *   table per backend);
 * - xpoll_wake() makes every wait in progress return (or the next one, if
 *   none is; a wait that starts while an earlier one has not yet returned
 *   for the wake may return too);
 * - after xpoll_remove() returns, no waiter reports that registration.
 *
 * epoll, kqueue and iocp let every waiter block in the kernel at once, each
 * with its own event buffer (kqueue on Linux, libkqueue's emulation, one at
 * a time: it loses re-armed oneshot registrations to concurrent waits).
 * poll and select (and their Windows forms) let one waiter at a time into
 * the kernel; the others wait their turn in the library, first come first
 * served, and then look for themselves. A wait that does not block returns 0
 * at once when it would have to wait its turn (there; and on every backend
 * while a rebuild of the kernel set waits for the waiters in the kernel).
 *
 * @since 1.1 (::XPOLL_VERSION 10100); 1.0 refuses the flag with ::XPOLL_EINVAL.
 */
#define XPOLL_SHARED 0x1u
/** @} */

/**
 * @name Error codes
 * Negative values returned by every function that can fail.
 * @{
 */
/** @brief An argument is invalid: a NULL pointer, unknown flag bits, max out of range, timeout below -1. */
#define XPOLL_EINVAL (-1)
/** @brief The descriptor is invalid: negative, not open, or closed. */
#define XPOLL_EBADF (-2)
/** @brief The descriptor is already registered with this poller. */
#define XPOLL_EEXIST (-3)
/** @brief The descriptor is not registered with this poller. */
#define XPOLL_ENOENT (-4)
/** @brief Out of memory (in the library or in the kernel). */
#define XPOLL_ENOMEM (-5)
/** @brief The backend cannot do this (edge mode, ::XPOLL_RDHUP, a descriptor type it cannot watch). */
#define XPOLL_ENOTSUP (-6)
/** @brief No backend of that name is compiled into this library. */
#define XPOLL_ENOBACKEND (-7)
/** @brief Another thread is already waiting on this poller. */
#define XPOLL_EBUSY (-8)
/** @brief The wait was interrupted by a signal before anything was ready. */
#define XPOLL_EINTR (-9)
/** @brief The descriptor number is beyond what this backend can watch (select where FD_SETSIZE is fixed). */
#define XPOLL_ERANGE (-10)
/** @brief The process has reached its descriptor limit. */
#define XPOLL_EMFILE (-11)
/** @brief The system has reached its descriptor limit. */
#define XPOLL_ENFILE (-12)
/** @brief The poller was created before fork() and its backend cannot be used in the child. */
#define XPOLL_EFORKED (-13)
/** @brief The descriptor refers to something this backend cannot poll (a regular file with epoll). */
#define XPOLL_EPERM (-14)
/** @brief An unexpected system error; xpoll_strerror() names the class, not the errno. */
#define XPOLL_EIO (-15)
/** @} */

/**
 * @brief One reported event.
 *
 * The layout is fixed: on POSIX 16 bytes (data, fd, events); on Windows 24.
 */
typedef struct xpoll_event {
  uint64_t data;   /**< The user data given to xpoll_add() or xpoll_modify(). */
  xpoll_fd_t fd;   /**< The descriptor. */
  uint32_t events; /**< What happened: ::XPOLL_IN, ::XPOLL_OUT, ::XPOLL_ERR, ::XPOLL_HUP, ::XPOLL_RDHUP, ::XPOLL_PRI. */
} xpoll_event_t;

/** @brief The largest @p max accepted by xpoll_wait(). */
#define XPOLL_WAIT_MAX 1048576

/**
 * @brief Creates a poller.
 *
 * @param out      Receives the poller. Unchanged on failure.
 * @param backend  A backend name ("epoll", "kqueue", "iocp", "poll", "select"),
 *                 or NULL for the best compiled one. With NULL, the environment
 *                 variable @c XPOLL_BACKEND, when set and not empty, names the
 *                 backend instead (ignored in set-uid and set-gid programs).
 * @param flags    0, or ::XPOLL_SHARED for a poller several threads may wait
 *                 on at once.
 * @return 0, or ::XPOLL_EINVAL (@p out NULL, unknown @p flags),
 *         ::XPOLL_ENOBACKEND (the name is unknown or not compiled, including a
 *         name taken from @c XPOLL_BACKEND), ::XPOLL_EMFILE, ::XPOLL_ENFILE,
 *         ::XPOLL_ENOMEM, ::XPOLL_EIO.
 *
 * Thread safety: may be called from any thread.
 */
XPOLL_API int xpoll_create(xpoll_t **out, const char *backend, uint32_t flags);

/**
 * @brief Destroys a poller and closes the descriptors it owns.
 *
 * Descriptors that are still registered are not closed; they are simply no
 * longer watched. Passing NULL does nothing.
 *
 * A poller belongs to the process that created it: its kernel objects (an
 * epoll set, the wake channel) are shared with a forked child, so in the
 * child every other call fails with ::XPOLL_EFORKED. Destroying it there is
 * safe and never changes the parent's registrations or wakes; create a new
 * poller in the child.
 *
 * Thread safety: no other call may use @p p during or after this one.
 */
XPOLL_API void xpoll_destroy(xpoll_t *p);

/**
 * @brief Registers a descriptor.
 *
 * @param p       The poller.
 * @param fd      The descriptor. It must be open.
 * @param events  Interest: ::XPOLL_IN, ::XPOLL_OUT, ::XPOLL_RDHUP, ::XPOLL_PRI, optionally
 *                with one of ::XPOLL_ONESHOT, ::XPOLL_EDGE. ::XPOLL_ERR and
 *                ::XPOLL_HUP may be given and are reported in any case. An
 *                interest of 0 watches for errors and hang-ups only.
 *                ::XPOLL_EXCLUSIVE asks for exclusive wake-up where the
 *                backend has it.
 * @param data    Returned with every event of this registration.
 * @return 0, or ::XPOLL_EINVAL (@p p NULL, unknown bits, both modes,
 *         ::XPOLL_EXCLUSIVE with ::XPOLL_ONESHOT or ::XPOLL_RDHUP, or on a
 *         descriptor that is itself an epoll set),
 *         ::XPOLL_EBADF (@p fd negative, not open, or open for no I/O: a
 *         Linux O_PATH descriptor), ::XPOLL_EEXIST (already
 *         registered), ::XPOLL_ENOTSUP (mode, ::XPOLL_RDHUP or ::XPOLL_PRI not supported,
 *         descriptor type not supported), ::XPOLL_EPERM (the backend cannot
 *         poll this kind of file: a regular file or a directory on epoll, a
 *         directory on kqueue under libkqueue; poll and select accept both,
 *         always ready), ::XPOLL_ERANGE (descriptor number too large
 *         for this backend), ::XPOLL_ENOMEM, ::XPOLL_EFORKED.
 *
 * A descriptor that was removed and is added again before the next wait is
 * neither removed from nor registered with the kernel anew: epoll makes one
 * call that confirms the kernel still holds the same open file (an
 * EPOLL_CTL_ADD answered EEXIST), so that a number closed and reused in
 * between is registered afresh; poll and select make only the check that
 * every add makes, that the descriptor is open.
 *
 * Thread safety: may be called from any thread, also while another thread is
 * blocked in xpoll_wait(); the change applies to that wait.
 */
XPOLL_API int xpoll_add(xpoll_t *p, xpoll_fd_t fd, uint32_t events, uint64_t data);

/**
 * @brief Changes the interest and user data of a registered descriptor.
 *
 * Re-arms a oneshot registration. In edge mode (::XPOLL_EDGE) it makes the
 * registration anew, so what is ready now is reported once more. Otherwise a
 * change back to what the kernel already has costs no system call.
 *
 * @return 0, or ::XPOLL_EINVAL, ::XPOLL_ENOENT (not registered),
 *         ::XPOLL_ENOTSUP, ::XPOLL_ENOMEM, ::XPOLL_EFORKED. A modify
 *         that adds or drops ::XPOLL_EXCLUSIVE, or changes a registration
 *         that has it, is made as a removal and an add; if the add is then
 *         refused (the descriptor was closed), the registration watches
 *         nothing more, as a closed descriptor's does.
 *
 * Thread safety: as xpoll_add().
 */
XPOLL_API int xpoll_modify(xpoll_t *p, xpoll_fd_t fd, uint32_t events, uint64_t data);

/**
 * @brief Unregisters a descriptor.
 *
 * After this returns, no event of this registration is reported, also by a
 * wait in progress in another thread. Removing a descriptor that was closed
 * while registered succeeds and frees the registration. Call it before or
 * after closing the descriptor, but before its number is reused.
 *
 * @return 0, or ::XPOLL_EINVAL (@p p NULL), ::XPOLL_EBADF (@p fd negative),
 *         ::XPOLL_ENOENT (not registered), ::XPOLL_EFORKED.
 *
 * Thread safety: as xpoll_add().
 */
XPOLL_API int xpoll_remove(xpoll_t *p, xpoll_fd_t fd);

/**
 * @brief Waits for events.
 *
 * Level-triggered registrations are reported for as long as they are ready.
 * Readiness may be spurious (use non-blocking descriptors). When more
 * descriptors are ready than @p max, successive waits rotate so that every
 * ready descriptor is reported within ceil(ready / max) waits.
 *
 * A descriptor closed while registered does not disturb the others and does
 * not make waits spin. It is no longer reported, with one exception: epoll
 * (and kqueue under libkqueue, which is built on epoll) watches the open file
 * rather than the number, so while a duplicate of the descriptor stays open
 * (dup(), or a forked child) it goes on reporting the file until
 * xpoll_remove(). Remove a descriptor before closing it.
 *
 * kqueue on Linux is libkqueue's emulation, not a kernel's, and has defects of
 * its own that xpoll cannot hide: with ::XPOLL_IN | ::XPOLL_OUT interest and
 * an array smaller than what is ready, it drops the knotes of a descriptor
 * that did not fit inside kevent() (level-triggered ones starve, edge ones
 * are lost); one kevent() returns at most 512 events; and the descriptors of
 * a destroyed poller are closed later by its own thread. On macOS and the BSDs
 * none of this applies.
 *
 * @param p           The poller.
 * @param events      Receives up to @p max events.
 * @param max         Capacity of @p events: 1 to ::XPOLL_WAIT_MAX.
 * @param timeout_ms  -1 waits until an event or a wake, 0 does not block,
 *                    otherwise milliseconds.
 * @return The number of events (0 on time-out or wake; rarely, 0 early after a
 *         run of readiness the backend had to discard), or ::XPOLL_EINVAL,
 *         ::XPOLL_EBUSY (another thread is waiting on a poller made
 *         without ::XPOLL_SHARED), ::XPOLL_EINTR (a signal
 *         arrived; the caller should handle it and wait again with the time
 *         left), ::XPOLL_EFORKED, ::XPOLL_ENOMEM, ::XPOLL_EIO.
 *
 * Thread safety: one waiter at a time per poller, or any number with
 * ::XPOLL_SHARED.
 */
XPOLL_API int xpoll_wait(xpoll_t *p, xpoll_event_t *events, int max, int timeout_ms);

/**
 * @brief Waits for events, with a time-out in nanoseconds.
 *
 * As xpoll_wait() in every other respect. The wait never returns before
 * @p timeout_ns has passed (unless with events, for a wake or a signal), and
 * returns as soon after it as the backend and the kernel allow: a backend
 * with ::XPOLL_CAP_NS_TIMEOUT asks the kernel for the time as given (to the
 * nanosecond or microsecond), one without it rounds up to whole
 * milliseconds. xpoll_wait(p, ev, max, ms) is xpoll_wait_ns(p, ev, max,
 * ms * 1000000).
 *
 * @param p           The poller.
 * @param events      Receives up to @p max events.
 * @param max         Capacity of @p events: 1 to ::XPOLL_WAIT_MAX.
 * @param timeout_ns  -1 waits until an event or a wake, 0 does not block,
 *                    otherwise nanoseconds (a time-out above 31 years is
 *                    waited as 31 years).
 * @return As xpoll_wait(); ::XPOLL_EINVAL also for @p timeout_ns below -1.
 *
 * Thread safety: as xpoll_wait().
 * @since 1.1
 */
XPOLL_API int xpoll_wait_ns(xpoll_t *p, xpoll_event_t *events, int max, int64_t timeout_ns);

/**
 * @brief Makes the current wait return, or the next one if none is in progress.
 *
 * Wakes are coalesced: several wakes before a wait make one wait return. On
 * a ::XPOLL_SHARED poller every wait in progress returns.
 * Async-signal-safe after xpoll_create() has returned, except on the kqueue
 * backend built on libkqueue (Linux), whose kevent() takes locks.
 *
 * @return 0, or ::XPOLL_EINVAL, ::XPOLL_EFORKED, ::XPOLL_EIO.
 *
 * Thread safety: may be called from any thread.
 */
XPOLL_API int xpoll_wake(xpoll_t *p);

/**
 * @brief The poller's own descriptor, to nest the poller in another loop.
 *
 * A descriptor that is readable while a wait on @p p would report
 * something (an event, or a wake), so that another event loop (GLib, Qt,
 * libuv, another xpoll poller, a thread that only waits) can watch it and
 * call xpoll_wait() with a time-out of 0 when it fires. It may also be
 * readable spuriously (the library's own internal wake-ups). The same
 * descriptor is returned for the poller's life, also when the library
 * rebuilds its kernel set (on epoll a second epoll set, made on the first
 * call, that watches the poller's; on kqueue the kqueue itself). Only
 * backends with ::XPOLL_CAP_FD have one: epoll, and kqueue on macOS and the
 * BSDs (not libkqueue's on Linux); Windows has none (a completion port
 * cannot be watched by another poller).
 *
 * The caller may watch it for readability (level-triggered, with any
 * poller, xpoll's poll and select included) and nothing else: never read it,
 * close it, add it to the poller itself (::XPOLL_EBADF), or use it after
 * xpoll_destroy(), which closes it. It is close-on-exec.
 *
 * @return The descriptor (0 or more), or ::XPOLL_EINVAL (@p p NULL),
 *         ::XPOLL_ENOTSUP (the backend has none), ::XPOLL_EFORKED,
 *         ::XPOLL_EMFILE, ::XPOLL_ENFILE, ::XPOLL_ENOMEM.
 *
 * Thread safety: may be called from any thread.
 * @since 1.1
 */
XPOLL_API int xpoll_fd(const xpoll_t *p);

/** @brief The backend of @p p ("epoll", "poll", ...), or NULL if @p p is NULL. */
XPOLL_API const char *xpoll_backend(const xpoll_t *p);

/** @brief The ::XPOLL_CAP_ONESHOT ... bits of @p p's backend, or 0 if @p p is NULL. */
XPOLL_API uint32_t xpoll_capabilities(const xpoll_t *p);

/**
 * @brief Lists the compiled backends, best first.
 *
 * @param names  Receives up to @p max names (static strings); may be NULL when @p max is 0.
 * @param max    Capacity of @p names.
 * @return The number of compiled backends (which may exceed @p max), or ::XPOLL_EINVAL.
 */
XPOLL_API int xpoll_backends(const char **names, int max);

/**
 * @brief The capabilities of a compiled backend, by name.
 * @return The bits (non-negative), or ::XPOLL_EINVAL (@p name NULL) or ::XPOLL_ENOBACKEND.
 */
XPOLL_API int xpoll_backend_capabilities(const char *name);

/**
 * @brief The largest descriptor number a backend can watch in this process.
 * @return The number (non-negative), or ::XPOLL_EINVAL or ::XPOLL_ENOBACKEND.
 */
XPOLL_API long xpoll_backend_max_fd(const char *name);

/** @brief The library's version as ::XPOLL_VERSION computes it (may differ from the header's). */
XPOLL_API int xpoll_version(void);

/** @brief The library's version as "major.minor.patch". */
XPOLL_API const char *xpoll_version_string(void);

/** @brief A sentence describing an error code; "unknown error" for other values. */
XPOLL_API const char *xpoll_strerror(int err);

/** @brief The symbolic name of an error code ("XPOLL_EBADF"), or "XPOLL_UNKNOWN". */
XPOLL_API const char *xpoll_errname(int err);

/**
 * @name Descriptor limits and the probe
 * What this host and process can hold, as reported and as measured. The
 * structs are fixed-layout and begin with a size field: the caller sets it to
 * the sizeof() it was compiled with, so that later versions can grow them.
 * @{
 */

/** @brief A limit whose value could not be read. */
#define XPOLL_LIMIT_UNKNOWN (-1)
/** @brief A limit that is not set (RLIM_INFINITY). */
#define XPOLL_LIMIT_INFINITE INT64_MAX

/** @brief One limit and where its value came from. */
typedef struct xpoll_limit {
  int64_t value;      /**< The value, ::XPOLL_LIMIT_UNKNOWN or ::XPOLL_LIMIT_INFINITE. */
  const char *source; /**< Where it came from ("getrlimit(RLIMIT_NOFILE)", "/proc/sys/fs/nr_open"), or NULL where it
                         does not apply on this OS. */
} xpoll_limit_t;

/** @brief The descriptor limits of this process and host. */
typedef struct xpoll_limits {
  uint32_t size;              /**< In: sizeof(xpoll_limits_t). */
  uint32_t reserved;          /**< Zero. */
  xpoll_limit_t nofile_soft;  /**< RLIMIT_NOFILE soft limit: what this process may open now. */
  xpoll_limit_t nofile_hard;  /**< RLIMIT_NOFILE hard limit: how far the soft limit may be raised without privilege. */
  xpoll_limit_t nr_open;      /**< Linux fs.nr_open: the ceiling of RLIMIT_NOFILE. */
  xpoll_limit_t file_max;     /**< System-wide open files: Linux fs.file-max, BSD and macOS kern.maxfiles. */
  xpoll_limit_t files_in_use; /**< Files open system-wide now: Linux fs.file-nr, BSD kern.openfiles. */
  xpoll_limit_t maxfilesperproc; /**< BSD and macOS kern.maxfilesperproc. */
  xpoll_limit_t open_max;        /**< OPEN_MAX where the system defines one, or sysconf(_SC_OPEN_MAX). */
  xpoll_limit_t fd_setsize;      /**< FD_SETSIZE as this library was compiled. */
  xpoll_limit_t stdio_max;       /**< Windows: the C runtime's stdio stream limit (_getmaxstdio). */
  xpoll_limit_t open_now;        /**< Descriptors this process has open now. */
  xpoll_limit_t ephemeral_ports; /**< Local ports for outgoing connections (Linux ip_local_port_range, BSD portrange):
                                    one client address can hold this many connections to one server port. */
} xpoll_limits_t;

/**
 * @brief Reads the descriptor limits.
 * @param out  Its @c size set by the caller; filled up to that size.
 * @return 0, or ::XPOLL_EINVAL (@p out NULL or its size too small).
 */
XPOLL_API int xpoll_read_limits(xpoll_limits_t *out);

/**
 * @brief Raises the soft RLIMIT_NOFILE as far as allowed.
 *
 * To the hard limit, clamped to fs.nr_open (Linux) or kern.maxfilesperproc
 * and OPEN_MAX (macOS, which refuses RLIM_INFINITY).
 * @param before  Receives the soft limit before; may be NULL.
 * @param after   Receives the soft limit after; may be NULL.
 * @return 0 (also when it was already there), ::XPOLL_EPERM, ::XPOLL_ENOTSUP
 *         (no such limit on this OS), ::XPOLL_EIO.
 */
XPOLL_API int xpoll_raise_nofile(int64_t *before, int64_t *after);

/** @brief Probe step: open descriptors until the limit or the cap. */
#define XPOLL_PROBE_DESCRIPTORS 0x1u
/** @brief Probe step: register them with each backend and check readiness of the highest ones. */
#define XPOLL_PROBE_BACKENDS 0x2u
/** @brief Probe step: hold loopback TCP connections, one byte echoed on each. */
#define XPOLL_PROBE_CONNECTIONS 0x4u

/** @brief Called as a probe step advances: the step ("descriptors", a backend name, "connections"), done and total. */
typedef void (*xpoll_progress_fn)(void *arg, const char *step, int64_t done, int64_t total);

/** @brief What to measure, and the bounds of each step. */
typedef struct xpoll_probe_options {
  uint32_t size;              /**< In: sizeof(xpoll_probe_options_t). */
  uint32_t steps;             /**< ::XPOLL_PROBE_DESCRIPTORS, ::XPOLL_PROBE_BACKENDS, ::XPOLL_PROBE_CONNECTIONS. */
  int64_t max_descriptors;    /**< Stop opening at this many descriptors; 0: until the limit. */
  int64_t connections;        /**< Connections to try; 0: as many as the descriptor limit allows. */
  int32_t timeout_ms;         /**< Bound on each wait of a step; 0: 5000. */
  int32_t ready;              /**< How many of the highest descriptors the backend check makes ready; 0: 16. */
  const char *backend;        /**< Check this backend only; NULL: every compiled backend. */
  xpoll_progress_fn progress; /**< May be NULL. */
  void *progress_arg;         /**< Passed to @c progress. */
} xpoll_probe_options_t;

/** @brief The readiness check of one backend at the measured size. */
typedef struct xpoll_probe_backend {
  char name[16];          /**< The backend. */
  uint32_t capabilities;  /**< Its ::XPOLL_CAP_ONESHOT ... bits. */
  int32_t passed;         /**< 1 when exactly the expected descriptors were reported. */
  int64_t max_fd;         /**< The largest descriptor it can watch in this process. */
  int64_t registered;     /**< Descriptors registered. */
  int64_t highest_fd;     /**< The highest descriptor registered. */
  int32_t ready_expected; /**< Descriptors made ready. */
  int32_t ready_reported; /**< Of those, how many were reported. */
  int32_t wrong_reported; /**< Reports of descriptors that were not ready. */
  int32_t error;          /**< The first XPOLL_E* code met, or 0. */
  int64_t register_ns;    /**< Time to register them all. */
  int64_t wait_ns;        /**< Median time of one non-blocking wait at that size. */
} xpoll_probe_backend_t;

/** @brief The most backends one probe reports. */
#define XPOLL_PROBE_MAX_BACKENDS 8

/** @brief What the probe measured. Fields of steps not run are zero. */
typedef struct xpoll_probe_result {
  uint32_t size;             /**< In: sizeof(xpoll_probe_result_t). */
  uint32_t steps;            /**< The steps that ran. */
  int64_t descriptors;       /**< Descriptors opened before the limit or the cap. */
  int64_t descriptors_ns;    /**< Time to open them. */
  int64_t descriptor_bytes;  /**< Memory per descriptor (process and kernel), or ::XPOLL_LIMIT_UNKNOWN. */
  int32_t descriptors_error; /**< What stopped it: ::XPOLL_EMFILE, ::XPOLL_ENFILE, ::XPOLL_ENOMEM, or 0 for the cap. */
  int32_t backend_count;     /**< Entries used in @c backends. */
  xpoll_probe_backend_t backends[XPOLL_PROBE_MAX_BACKENDS]; /**< One per backend checked. */
  int64_t connections_tried;                                /**< Connections attempted. */
  int64_t connections_held;                                 /**< Connections that connected and echoed their byte. */
  int64_t connections_ns;                                   /**< Time to open and echo them all. */
  int64_t connection_bytes;   /**< Memory per connection (both ends), or ::XPOLL_LIMIT_UNKNOWN. */
  char connections_error[24]; /**< The first error met ("EMFILE", "EADDRNOTAVAIL" ...), or "". */
} xpoll_probe_result_t;

/**
 * @brief Measures what this process can hold.
 *
 * Everything it opens is closed before it returns, whatever happens.
 * @return 0 (a failed check is reported in @p out, not as an error),
 *         ::XPOLL_EINVAL (NULL, sizes too small, unknown step bits),
 *         ::XPOLL_ENOBACKEND (@c backend not compiled), ::XPOLL_ENOMEM.
 *
 * Thread safety: may run in any thread; it opens and closes many descriptors,
 * so other threads of the process may meet EMFILE while it runs.
 */
XPOLL_API int xpoll_probe(const xpoll_probe_options_t *opts, xpoll_probe_result_t *out);
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* XPOLL_XPOLL_H */
