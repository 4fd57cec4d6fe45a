/*
 * XPoll's calls into the xpoll C library.
 *
 * The library is opened at run time (dlopen) from the path XPoll.pm chooses
 * ($XPOLL_LIBRARY, the copy installed beside this module, or the system's), so
 * that this module has no link-time dependency on it and its run path does not
 * matter. The header it was compiled against gives every type and constant;
 * nothing of it is restated here or in XPoll.pm.
 *
 * A poller is a blessed reference to a C struct that holds the xpoll handle
 * and, per descriptor number, what add() was given (the handle or number, and
 * the data). add, modify, remove and wait take the common case (a filehandle
 * or a descriptor number, a numeric mask, no options) here in C; anything else
 * goes to the Perl code in XPoll.pm (_add_slow ...), which validates it, words
 * the error, and sets $!, then calls back into the raw calls below. Failures
 * of the library are reported by XPoll::_fail, also in Perl.
 *
 * XPoll::Poll (the IO::Poll interface) keeps its registrations in the same
 * table, with the IO::Poll mask as the data; its mask, remove and poll are
 * here too, their uncommon cases in XPoll/Poll.pm.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "xpoll/xpoll.h"

/* ---- the library ------------------------------------------------------ */

static struct {
  void *dl;
  int (*create)(xpoll_t **, const char *, uint32_t);
  void (*destroy)(xpoll_t *);
  int (*add)(xpoll_t *, xpoll_fd_t, uint32_t, uint64_t);
  int (*modify)(xpoll_t *, xpoll_fd_t, uint32_t, uint64_t);
  int (*remove)(xpoll_t *, xpoll_fd_t);
  int (*wait_ns)(xpoll_t *, xpoll_event_t *, int, int64_t);
  int (*wake)(xpoll_t *);
  int (*fd)(const xpoll_t *);
  const char *(*backend)(const xpoll_t *);
  uint32_t (*capabilities)(const xpoll_t *);
  int (*backends)(const char **, int);
  int (*backend_capabilities)(const char *);
  const char *(*version_string)(void);
  const char *(*strerror)(int);
  const char *(*errname)(int);
  int (*read_limits)(xpoll_limits_t *);
} lib;

static const struct {
  const char *name;
  size_t offset;
} symbols[] = {
    {"xpoll_create", offsetof(__typeof__(lib), create)},
    {"xpoll_destroy", offsetof(__typeof__(lib), destroy)},
    {"xpoll_add", offsetof(__typeof__(lib), add)},
    {"xpoll_modify", offsetof(__typeof__(lib), modify)},
    {"xpoll_remove", offsetof(__typeof__(lib), remove)},
    {"xpoll_wait_ns", offsetof(__typeof__(lib), wait_ns)},
    {"xpoll_wake", offsetof(__typeof__(lib), wake)},
    {"xpoll_fd", offsetof(__typeof__(lib), fd)},
    {"xpoll_backend", offsetof(__typeof__(lib), backend)},
    {"xpoll_capabilities", offsetof(__typeof__(lib), capabilities)},
    {"xpoll_backends", offsetof(__typeof__(lib), backends)},
    {"xpoll_backend_capabilities", offsetof(__typeof__(lib), backend_capabilities)},
    {"xpoll_version_string", offsetof(__typeof__(lib), version_string)},
    {"xpoll_strerror", offsetof(__typeof__(lib), strerror)},
    {"xpoll_errname", offsetof(__typeof__(lib), errname)},
    {"xpoll_read_limits", offsetof(__typeof__(lib), read_limits)},
};

/* The header's constants that XPoll.pm offers or needs, by their C names. */
#define C(name) {#name, (IV)(name)}
static const struct {
  const char *name;
  IV value;
} constants[] = {
    C(XPOLL_IN),
    C(XPOLL_PRI),
    C(XPOLL_OUT),
    C(XPOLL_ERR),
    C(XPOLL_HUP),
    C(XPOLL_RDHUP),
    C(XPOLL_ONESHOT),
    C(XPOLL_EDGE),
    C(XPOLL_EXCLUSIVE),
    C(XPOLL_SHARED),
    C(XPOLL_CAP_ONESHOT),
    C(XPOLL_CAP_EDGE),
    C(XPOLL_CAP_RDHUP),
    C(XPOLL_CAP_NONSOCKET),
    C(XPOLL_CAP_UNBOUNDED),
    C(XPOLL_CAP_LIVE_CHANGES),
    C(XPOLL_CAP_HANGUP),
    C(XPOLL_CAP_EXCLUSIVE),
    C(XPOLL_CAP_NS_TIMEOUT),
    C(XPOLL_CAP_PRI),
    C(XPOLL_CAP_FD),
    C(XPOLL_EINVAL),
    C(XPOLL_EBADF),
    C(XPOLL_EEXIST),
    C(XPOLL_ENOENT),
    C(XPOLL_ENOMEM),
    C(XPOLL_ENOTSUP),
    C(XPOLL_ENOBACKEND),
    C(XPOLL_EBUSY),
    C(XPOLL_EINTR),
    C(XPOLL_ERANGE),
    C(XPOLL_EMFILE),
    C(XPOLL_ENFILE),
    C(XPOLL_EFORKED),
    C(XPOLL_EPERM),
    C(XPOLL_EIO),
    C(XPOLL_WAIT_MAX),
    C(XPOLL_VERSION_MAJOR),
    C(XPOLL_VERSION_MINOR),
    C(XPOLL_VERSION_PATCH),
    C(XPOLL_LIMIT_UNKNOWN),
};
#undef C

/* ---- a poller --------------------------------------------------------- */

typedef struct {
  xpoll_t *h;        /* NULL once closed */
  SV **fh;           /* fh[fd]: what add() was given, NULL when fd is not registered */
  SV **data;         /* data[fd]: its data (never NULL while registered) */
  int cap;           /* entries in fh and data */
  int registered;    /* descriptors registered */
  xpoll_event_t *ev; /* the wait's buffer */
  int evcap;
} Poller;

static HV *poller_stash;

static Poller *poller_of(pTHX_ SV *self) {
  SV *obj;
  if (!SvROK(self)) croak("XPoll: not a poller");
  obj = SvRV(self);
  if (!SvOBJECT(obj) || (SvSTASH(obj) != poller_stash && !sv_derived_from(self, "XPoll")) || !SvIOK(obj))
    croak("XPoll: not a poller");
  return INT2PTR(Poller *, SvIVX(obj));
}

static Poller *open_poller(pTHX_ SV *self) {
  Poller *p = poller_of(aTHX_ self);
  if (!p->h) croak("XPoll: this poller is closed");
  return p;
}

/* Grows the table so that fd is an index into it. */
static void reserve(Poller *p, int fd) {
  int cap = p->cap ? p->cap : 64;
  if (fd < p->cap) return;
  while (cap <= fd && cap < INT_MAX) cap = cap > INT_MAX / 2 ? INT_MAX : cap * 2;
  Renew(p->fh, cap, SV *);
  Renew(p->data, cap, SV *);
  memset(p->fh + p->cap, 0, (size_t)(cap - p->cap) * sizeof(SV *));
  memset(p->data + p->cap, 0, (size_t)(cap - p->cap) * sizeof(SV *));
  p->cap = cap;
}

static void forget(pTHX_ Poller *p, int fd) {
  if (fd >= p->cap || !p->fh[fd]) return;
  SvREFCNT_dec(p->fh[fd]);
  SvREFCNT_dec(p->data[fd]);
  p->fh[fd] = p->data[fd] = NULL;
  p->registered--;
}

/* The descriptor number of a filehandle or of a non-negative integer, or -1
 * when it is anything else (a string, a closed or tied handle ...): the Perl
 * code then decides and words the error. */
static int quick_fd(pTHX_ SV *fh) {
  IO *io = NULL;
  if (SvROK(fh)) {
    SV *rv = SvRV(fh);
    if (SvTYPE(rv) == SVt_PVGV && isGV_with_GP(rv))
      io = GvIO((GV *)rv);
    else if (SvTYPE(rv) == SVt_PVIO)
      io = (IO *)rv;
    else
      return -1;
  } else if (isGV_with_GP(fh)) {
    io = GvIO((GV *)fh);
  } else if (SvIOK(fh) && !SvNOK(fh) && !SvGMAGICAL(fh)) {
    if (SvIsUV(fh)) return SvUVX(fh) <= INT_MAX ? (int)SvUVX(fh) : -1;
    return SvIVX(fh) >= 0 && SvIVX(fh) <= INT_MAX ? (int)SvIVX(fh) : -1;
  } else {
    return -1;
  }
  if (!io || !IoIFP(io) || (SvRMAGICAL((SV *)io) && mg_find((SV *)io, PERL_MAGIC_tiedscalar))) return -1;
  return PerlIO_fileno(IoIFP(io));
}

/* A mask given as an integer in range, or -1. */
static IV quick_mask(pTHX_ SV *events) {
  IV v;
  if (!SvIOK(events) || SvGMAGICAL(events)) return -1;
  v = SvIVX(events);
  if (SvIsUV(events)) return SvUVX(events) <= 0xffffffffu ? (IV)SvUVX(events) : -1;
  return v >= 0 && v <= (IV)0xffffffff ? v : -1;
}

/* Croaks through XPoll::_fail (the message, and $! as the library's code says). */
static void fail(pTHX_ const char *what, int rc, int fd) {
  dSP;
  PUSHMARK(SP);
  XPUSHs(sv_2mortal(newSVpv(what, 0)));
  XPUSHs(sv_2mortal(newSViv(rc)));
  if (fd >= 0) XPUSHs(sv_2mortal(newSViv(fd)));
  PUTBACK;
  call_pv("XPoll::_fail", G_DISCARD);
  croak("XPoll: %s: %s", what, lib.errname(rc)); /* not reached: _fail croaks */
}

/* Hands the whole call to a Perl method of XPoll.pm (the slow path) and
 * returns its one result. */
static SV *slow(pTHX_ const char *method, SV **args, int items) {
  dSP;
  int i, n;
  SV *ret;
  ENTER;
  SAVETMPS;
  PUSHMARK(SP);
  EXTEND(SP, items);
  for (i = 0; i < items; i++) PUSHs(args[i]);
  PUTBACK;
  n = call_method(method, G_SCALAR);
  SPAGAIN;
  ret = n > 0 ? newSVsv(POPs) : newSV(0);
  PUTBACK;
  FREETMPS;
  LEAVE;
  return sv_2mortal(ret);
}

static void do_add(pTHX_ Poller *p, int fd, IV mask, SV *fh, SV *data) {
  int rc = lib.add(p->h, fd, (uint32_t)mask, 0);
  if (rc < 0) fail(aTHX_ "add", rc, fd);
  reserve(p, fd);
  if (p->fh[fd]) forget(aTHX_ p, fd); /* a stale entry: the library had forgotten it */
  p->fh[fd] = newSVsv(fh);
  p->data[fd] = data ? newSVsv(data) : newSV(0);
  p->registered++;
}

static void do_modify(pTHX_ Poller *p, int fd, IV mask, SV *data) {
  int rc = lib.modify(p->h, fd, (uint32_t)mask, 0);
  if (rc < 0) fail(aTHX_ "modify", rc, fd);
  if (data && fd < p->cap && p->fh[fd]) sv_setsv(p->data[fd], data);
}

/* Returns the data, mortal. */
static SV *do_remove(pTHX_ Poller *p, int fd) {
  SV *data = &PL_sv_undef;
  int rc = lib.remove(p->h, fd);
  if (rc < 0) fail(aTHX_ "remove", rc, fd);
  if (fd < p->cap && p->fh[fd]) {
    data = sv_2mortal(p->data[fd]);
    p->data[fd] = NULL;
    SvREFCNT_dec(p->fh[fd]);
    p->fh[fd] = NULL;
    p->registered--;
  }
  return data;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The longest time-out passed on (about 285 years; the library waits 31
 * years at most): longer ones, and the infinity of a huge NV, are taken as
 * it, and not counted down after a signal. */
#define LONGEST_NS INT64_C(9000000000000000000)

/* Waits; returns the count, or -1 when interruptible and a signal came (its
 * handler has run, $! is EINTR). A signal's handler runs when the library
 * returns XPOLL_EINTR (a die in it propagates from here); the wait then goes
 * on with the time left. */
static int do_wait(pTHX_ SV *self, Poller *p, SV *timeout, SV *maxsv, int interruptible) {
  int max, n;
  int64_t ns, deadline = 0;
  if (!maxsv || !SvOK(maxsv)) {
    max = p->registered > 0 ? p->registered : 1;
  } else {
    NV m = looks_like_number(maxsv) ? SvNV(maxsv) : 0;
    if (!(m >= 1 && m <= XPOLL_WAIT_MAX)) croak("XPoll: wait: max must be between 1 and %d", XPOLL_WAIT_MAX);
    max = (int)m;
  }
  /* Seconds, fractions included, become nanoseconds rounded up (never
   * early): the library asks the kernel for them as they are where the
   * backend has XPOLL_CAP_NS_TIMEOUT, and rounds up to milliseconds
   * elsewhere. */
  if (!timeout || !SvOK(timeout) || SvNV(timeout) < 0) {
    ns = -1;
  } else {
    NV t = SvNV(timeout) * 1e9;
    if (t != t) croak("XPoll: wait: the time-out is not a number");
    ns = t >= (NV)LONGEST_NS ? LONGEST_NS : (int64_t)ceil(t);
  }
  if (ns > 0 && ns < LONGEST_NS) deadline = now_ns() + ns;
  if (max > p->evcap) {
    Renew(p->ev, max, xpoll_event_t);
    p->evcap = max;
  }
  for (;;) {
    n = lib.wait_ns(p->h, p->ev, max, ns);
    if (n != XPOLL_EINTR) break;
    /* The handler may drop the last reference to this poller: hold one for
     * the rest of the statement. */
    sv_2mortal(SvREFCNT_inc_simple_NN(SvRV(self)));
    PERL_ASYNC_CHECK();
    if (!p->h) croak("XPoll: this poller is closed");
    if (interruptible) {
      SETERRNO(EINTR, 0); /* after the handler, which may have changed it */
      return -1;
    }
    if (deadline) {
      int64_t left = deadline - now_ns();
      ns = left > 0 ? left : 0;
    }
  }
  if (n < 0) fail(aTHX_ "wait", n, -1);
  return n;
}

/* ---- XPoll::Poll's IO::Poll masks -------------------------------------- */

/* POLLPRI and POLLRDBAND (urgent data) add no interest: see XPoll/Poll.pm. */
static uint32_t interest_of(IV mask) {
  return ((mask & (POLLIN | POLLRDNORM)) ? XPOLL_IN : 0) | ((mask & (POLLOUT | POLLWRNORM | POLLWRBAND)) ? XPOLL_OUT : 0);
}

/* The poller inside an XPoll::Poll (its "xp"). */
static Poller *iopoll_poller(pTHX_ SV *self) {
  SV **xp;
  if (!SvROK(self) || SvTYPE(SvRV(self)) != SVt_PVHV || !(xp = hv_fetchs((HV *)SvRV(self), "xp", 0)))
    croak("XPoll::Poll: not an XPoll::Poll object");
  return open_poller(aTHX_ *xp);
}

/* The handle registered under fd is this very handle (the same referent). */
static int same_handle(pTHX_ Poller *p, int fd, SV *io) {
  return fd < p->cap && p->fh[fd] && SvROK(io) && SvROK(p->fh[fd]) && SvRV(p->fh[fd]) == SvRV(io);
}

MODULE = XPoll  PACKAGE = XPoll

PROTOTYPES: DISABLE

BOOT:
  poller_stash = gv_stashpv("XPoll", GV_ADD);

void
_load(path)
    const char *path
  PREINIT:
    void *dl;
    size_t i;
  CODE:
    if (lib.dl) XSRETURN_YES;
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) croak("XPoll: cannot load %s: %s", path, dlerror());
    for (i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
      void *sym = dlsym(dl, symbols[i].name);
      if (!sym) {
        dlclose(dl);
        croak("XPoll: %s has no %s: not the xpoll 1.1 (or later 1.x) library", path, symbols[i].name);
      }
      memcpy((char *)&lib + symbols[i].offset, &sym, sizeof sym);
    }
    lib.dl = dl;
    XSRETURN_YES;

void
_loaded_from()
  PREINIT:
    Dl_info info;
  PPCODE:
    if (lib.dl && dladdr((void *)lib.create, &info) && info.dli_fname) XPUSHs(sv_2mortal(newSVpv(info.dli_fname, 0)));

void
_constants()
  PREINIT:
    size_t i;
  PPCODE:
    EXTEND(SP, 2 * (sizeof constants / sizeof constants[0]));
    for (i = 0; i < sizeof constants / sizeof constants[0]; i++) {
      mPUSHp(constants[i].name, strlen(constants[i].name));
      mPUSHi(constants[i].value);
    }

void
_limit_names()
  PPCODE:
    /* The fields of xpoll_limits_t, in order (after size and reserved). */
    mXPUSHp("nofile_soft", 11); mXPUSHp("nofile_hard", 11); mXPUSHp("nr_open", 7); mXPUSHp("file_max", 8);
    mXPUSHp("files_in_use", 12); mXPUSHp("maxfilesperproc", 15); mXPUSHp("open_max", 8);
    mXPUSHp("fd_setsize", 10); mXPUSHp("stdio_max", 9); mXPUSHp("open_now", 8); mXPUSHp("ephemeral_ports", 15);

void
_read_limits()
  PREINIT:
    xpoll_limits_t l;
    const xpoll_limit_t *f[11];
    int rc, i;
  PPCODE:
    memset(&l, 0, sizeof l);
    l.size = sizeof l;
    rc = lib.read_limits(&l);
    if (rc < 0) fail(aTHX_ "limits", rc, -1);
    f[0] = &l.nofile_soft; f[1] = &l.nofile_hard; f[2] = &l.nr_open; f[3] = &l.file_max;
    f[4] = &l.files_in_use; f[5] = &l.maxfilesperproc; f[6] = &l.open_max; f[7] = &l.fd_setsize;
    f[8] = &l.stdio_max; f[9] = &l.open_now; f[10] = &l.ephemeral_ports;
    EXTEND(SP, 33);
    for (i = 0; i < 11; i++) {
      if (!f[i]->source) {
        PUSHs(&PL_sv_undef); PUSHs(&PL_sv_undef); PUSHs(&PL_sv_undef);
        continue;
      }
      mPUSHp(f[i]->source, strlen(f[i]->source));
      if (f[i]->value == XPOLL_LIMIT_UNKNOWN) PUSHs(&PL_sv_undef); else mPUSHi((IV)f[i]->value);
      mPUSHi(f[i]->value == XPOLL_LIMIT_INFINITE);
    }

void
backends(...)
  PREINIT:
    const char *names[16];
    int n, i;
  PPCODE:
    n = lib.backends(names, 16);
    if (n > 16) n = 16;
    for (i = 0; i < n; i++) mXPUSHp(names[i], strlen(names[i]));

int
_backend_caps(name)
    const char *name
  CODE:
    RETVAL = lib.backend_capabilities(name);
  OUTPUT:
    RETVAL

const char *
version(...)
  CODE:
    RETVAL = lib.version_string();
  OUTPUT:
    RETVAL

const char *
_strerror(rc)
    int rc
  CODE:
    RETVAL = lib.strerror(rc);
  OUTPUT:
    RETVAL

const char *
_errname(rc)
    int rc
  CODE:
    RETVAL = lib.errname(rc);
  OUTPUT:
    RETVAL

void
_create(class, backend, flags = 0)
    const char *class
    SV *backend
    UV flags
  PREINIT:
    xpoll_t *h = NULL;
    Poller *p;
    int rc;
  PPCODE:
    /* flags: 0 or XPOLL_SHARED; XPoll.pm makes them from new()'s options. */
    if (flags > 0xffffffffu)
      rc = XPOLL_EINVAL; /* would not fit the library's flags: unknown bits, as it says of them */
    else
      rc = lib.create(&h, SvOK(backend) ? SvPV_nolen(backend) : NULL, (uint32_t)flags);
    if (rc < 0) {
      mXPUSHi(rc);
      XSRETURN(1);
    }
    Newxz(p, 1, Poller);
    p->h = h;
    XPUSHs(sv_setref_pv(sv_newmortal(), class, (void *)p));

void
close(self)
    SV *self
  PREINIT:
    Poller *p;
    int fd;
  CODE:
    p = poller_of(aTHX_ self);
    if (p->h) lib.destroy(p->h);
    p->h = NULL;
    for (fd = 0; fd < p->cap; fd++) forget(aTHX_ p, fd);

void
DESTROY(self)
    SV *self
  PREINIT:
    Poller *p;
    int fd;
  CODE:
    if (!SvROK(self) || !SvIOK(SvRV(self))) XSRETURN_EMPTY;
    p = INT2PTR(Poller *, SvIVX(SvRV(self)));
    if (!p) XSRETURN_EMPTY;
    if (p->h) lib.destroy(p->h);
    for (fd = 0; fd < p->cap; fd++) forget(aTHX_ p, fd);
    Safefree(p->fh);
    Safefree(p->data);
    Safefree(p->ev);
    Safefree(p);
    sv_setiv(SvRV(self), 0);

const char *
backend(self)
    SV *self
  CODE:
    RETVAL = lib.backend(open_poller(aTHX_ self)->h);
  OUTPUT:
    RETVAL

UV
_caps(self)
    SV *self
  CODE:
    RETVAL = lib.capabilities(open_poller(aTHX_ self)->h);
  OUTPUT:
    RETVAL

IV
registered(self)
    SV *self
  CODE:
    RETVAL = poller_of(aTHX_ self)->registered;
  OUTPUT:
    RETVAL

void
add(self, ...)
    SV *self
  PREINIT:
    Poller *p;
    int fd;
    IV mask;
  PPCODE:
    p = open_poller(aTHX_ self);
    if (items < 3 || items > 4 || (fd = quick_fd(aTHX_ ST(1))) < 0 || (mask = quick_mask(aTHX_ ST(2))) < 0) {
      ST(0) = slow(aTHX_ "_add_slow", &ST(0), items);
      XSRETURN(1);
    }
    do_add(aTHX_ p, fd, mask, ST(1), items > 3 ? ST(3) : NULL);
    XSRETURN(1); /* ST(0) is self */

void
_add_fd(self, fd, mask, fh, data)
    SV *self
    int fd
    IV mask
    SV *fh
    SV *data
  PPCODE:
    do_add(aTHX_ open_poller(aTHX_ self), fd, mask, fh, data);

void
modify(self, ...)
    SV *self
  PREINIT:
    Poller *p;
    int fd;
    IV mask;
  PPCODE:
    p = open_poller(aTHX_ self);
    if (items < 3 || items > 4 || (fd = quick_fd(aTHX_ ST(1))) < 0 || (mask = quick_mask(aTHX_ ST(2))) < 0) {
      ST(0) = slow(aTHX_ "_modify_slow", &ST(0), items);
      XSRETURN(1);
    }
    do_modify(aTHX_ p, fd, mask, items > 3 ? ST(3) : NULL);
    XSRETURN(1);

void
_modify_fd(self, fd, mask, ...)
    SV *self
    int fd
    IV mask
  PPCODE:
    do_modify(aTHX_ open_poller(aTHX_ self), fd, mask, items > 3 ? ST(3) : NULL);

void
remove(self, ...)
    SV *self
  PREINIT:
    Poller *p;
    int fd;
  PPCODE:
    p = open_poller(aTHX_ self);
    if (items != 2 || (fd = quick_fd(aTHX_ ST(1))) < 0) {
      ST(0) = slow(aTHX_ "_remove_slow", &ST(0), items);
      XSRETURN(1);
    }
    ST(0) = do_remove(aTHX_ p, fd);
    XSRETURN(1);

void
_remove_fd(self, fd)
    SV *self
    int fd
  PPCODE:
    ST(0) = do_remove(aTHX_ open_poller(aTHX_ self), fd);
    XSRETURN(1);

void
wait(self, timeout = NULL, max = NULL)
    SV *self
    SV *timeout
    SV *max
  PREINIT:
    Poller *p;
    int n, i;
  PPCODE:
    p = open_poller(aTHX_ self);
    n = do_wait(aTHX_ self, p, timeout, max, 0);
    EXTEND(SP, n);
    for (i = 0; i < n; i++) {
      int fd = p->ev[i].fd;
      AV *av;
      if (fd < 0 || fd >= p->cap || !p->fh[fd]) continue;
      av = newAV();
      av_extend(av, 2);
      av_push(av, newSVsv(p->fh[fd]));
      av_push(av, newSVuv(p->ev[i].events));
      av_push(av, newSVsv(p->data[fd]));
      mPUSHs(newRV_noinc((SV *)av));
    }

void
_wait_fds(self, timeout, max, interruptible, with_data = 0)
    SV *self
    SV *timeout
    SV *max
    int interruptible
    int with_data
  PREINIT:
    Poller *p;
    int n, i;
  PPCODE:
    /* A flat list: descriptor, events, descriptor, events ...; or nothing
     * with $! EINTR when interrupted (and interruptible). */
    p = open_poller(aTHX_ self);
    n = do_wait(aTHX_ self, p, timeout, max, interruptible);
    if (n < 0) XSRETURN_UNDEF;
    EXTEND(SP, 4 * n);
    for (i = 0; i < n; i++) {
      int fd = p->ev[i].fd;
      if (fd < 0 || fd >= p->cap || !p->fh[fd]) continue;
      mPUSHi(fd);
      mPUSHu(p->ev[i].events);
      if (with_data) PUSHs(sv_mortalcopy(p->data[fd]));
      if (with_data > 1) PUSHs(sv_mortalcopy(p->fh[fd]));
    }

void
_entry(self, fd)
    SV *self
    int fd
  PREINIT:
    Poller *p;
  PPCODE:
    /* What is registered under fd: (handle, data), or nothing. */
    p = poller_of(aTHX_ self);
    if (fd >= 0 && fd < p->cap && p->fh[fd]) {
      PUSHs(sv_mortalcopy(p->fh[fd]));
      PUSHs(sv_mortalcopy(p->data[fd]));
    }

void
_entries(self)
    SV *self
  PREINIT:
    Poller *p;
    int fd;
  PPCODE:
    /* Every registration, as descriptor, handle pairs, by descriptor. */
    p = poller_of(aTHX_ self);
    for (fd = 0; fd < p->cap; fd++) {
      if (!p->fh[fd]) continue;
      EXTEND(SP, 2);
      mPUSHi(fd);
      PUSHs(sv_mortalcopy(p->fh[fd]));
    }

void
wake(self)
    SV *self
  PREINIT:
    int rc;
  CODE:
    rc = lib.wake(open_poller(aTHX_ self)->h);
    if (rc < 0) fail(aTHX_ "wake", rc, -1);

int
fileno(self)
    SV *self
  CODE:
    /* The poller's own descriptor (xpoll_fd), or a croak with $! ENOTSUP
     * where the backend has none. */
    RETVAL = lib.fd(open_poller(aTHX_ self)->h);
    if (RETVAL < 0) fail(aTHX_ "fileno", RETVAL, -1);
  OUTPUT:
    RETVAL

MODULE = XPoll  PACKAGE = XPoll::Poll

void
mask(self, io, ...)
    SV *self
    SV *io
  PREINIT:
    Poller *p;
    int fd;
    IV mask;
  PPCODE:
    /* The common case here: a registered handle given again, or a new one, with a numeric mask. The
     * rest (a mask of 0, a number that now names another handle, a closed handle) in Perl. */
    p = iopoll_poller(aTHX_ self);
    if (items > 3 || (fd = quick_fd(aTHX_ io)) < 0) {
      ST(0) = slow(aTHX_ "_mask_slow", &ST(0), items);
      XSRETURN(1);
    }
    if (items == 2) {
      ST(0) = fd < p->cap && p->fh[fd] ? sv_mortalcopy(p->data[fd]) : &PL_sv_undef;
      XSRETURN(1);
    }
    mask = quick_mask(aTHX_ ST(2));
    if (mask <= 0 || (fd < p->cap && p->fh[fd] && !same_handle(aTHX_ p, fd, io))) {
      ST(0) = slow(aTHX_ "_mask_slow", &ST(0), items);
      XSRETURN(1);
    }
    if (fd < p->cap && p->fh[fd]) {
      if (interest_of(SvIV(p->data[fd])) != interest_of(mask)) do_modify(aTHX_ p, fd, interest_of(mask), NULL);
      sv_setiv(p->data[fd], mask);
    } else {
      do_add(aTHX_ p, fd, interest_of(mask), io, sv_2mortal(newSViv(mask)));
    }
    ST(0) = sv_2mortal(newSViv(mask));
    XSRETURN(1);

void
remove(self, io)
    SV *self
    SV *io
  PREINIT:
    Poller *p;
    int fd;
    SV **ev;
  PPCODE:
    p = iopoll_poller(aTHX_ self);
    fd = quick_fd(aTHX_ io);
    if (fd < 0 || !same_handle(aTHX_ p, fd, io)) {
      slow(aTHX_ "_remove_slow", &ST(0), items);
      XSRETURN_EMPTY;
    }
    do_remove(aTHX_ p, fd);
    ev = hv_fetchs((HV *)SvRV(self), "ev", 0);
    if (ev && SvROK(*ev) && SvTYPE(SvRV(*ev)) == SVt_PVHV) {
      SV *key = sv_2mortal(newSViv(fd));
      (void)hv_delete_ent((HV *)SvRV(*ev), key, G_DISCARD, 0);
    }
    XSRETURN_EMPTY;

void
poll(self, timeout = NULL)
    SV *self
    SV *timeout
  PREINIT:
    Poller *p;
    HV *ev, *evio;
    int n, i, count = 0;
  PPCODE:
    /* IO::Poll's poll: the events of this wait in {ev} (and their handles in {evio}), keyed by
     * descriptor; -1 with $! EINTR when a signal ended it (its handler having run). */
    p = iopoll_poller(aTHX_ self);
    ev = newHV();
    evio = newHV();
    (void)hv_stores((HV *)SvRV(self), "ev", newRV_noinc((SV *)ev));
    (void)hv_stores((HV *)SvRV(self), "evio", newRV_noinc((SV *)evio));
    n = do_wait(aTHX_ self, p, timeout, NULL, 1);
    if (n < 0) {
      SETERRNO(EINTR, 0);
      mXPUSHi(-1);
      XSRETURN(1);
    }
    for (i = 0; i < n; i++) {
      int fd = p->ev[i].fd;
      uint32_t e = p->ev[i].events;
      IV mask, rev = 0;
      char key[16];
      int klen;
      if (fd < 0 || fd >= p->cap || !p->fh[fd]) continue;
      mask = SvIV(p->data[fd]);
      if (e & XPOLL_IN) rev |= mask & (POLLIN | POLLRDNORM);
      if (e & XPOLL_OUT) rev |= mask & (POLLOUT | POLLWRNORM | POLLWRBAND);
      if (e & XPOLL_ERR) rev |= POLLERR;
      if (e & XPOLL_HUP) rev |= POLLHUP;
      if (!rev) continue;
      klen = snprintf(key, sizeof key, "%d", fd);
      (void)hv_store(ev, key, klen, newSViv(rev), 0);
      (void)hv_store(evio, key, klen, newSVsv(p->fh[fd]), 0);
      count++;
    }
    mXPUSHi(count);
    XSRETURN(1);
