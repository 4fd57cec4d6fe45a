/* xpoll-probe: what will this host, this process and each backend really
   hold? Reports the descriptor limits with their sources, measures
   descriptors, each backend's readiness at that size and (on request)
   loopback connections, and says what stops a target and how to lift it.
   Output is a table, or JSON with the schema in docs/probe-schema.json. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(_WIN32)
#include <io.h>
#include <windows.h>
#else
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>
#endif

#include <xpoll/xpoll.h>

/* The operating system, its release and the machine, as uname(2) says. */
typedef struct host {
  char sysname[65], release[65], machine[65];
} host_t;

#if defined(_WIN32)
typedef LONG(WINAPI *rtl_get_version_fn)(OSVERSIONINFOW *);

/* GetVersionEx answers 6.2 to programs without a manifest; ntdll tells the truth. */
static void read_host(host_t *h) {
  OSVERSIONINFOW v;
  SYSTEM_INFO si;
  FARPROC f = GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "RtlGetVersion");
  rtl_get_version_fn get;
  memset(h, 0, sizeof *h);
  memset(&v, 0, sizeof v);
  v.dwOSVersionInfoSize = sizeof v;
  snprintf(h->sysname, sizeof h->sysname, "Windows");
  memcpy(&get, &f, sizeof get);
  if (get && get(&v) == 0)
    snprintf(h->release, sizeof h->release, "%lu.%lu.%lu", v.dwMajorVersion, v.dwMinorVersion, v.dwBuildNumber);
  GetNativeSystemInfo(&si);
  snprintf(h->machine, sizeof h->machine, "%s",
           si.wProcessorArchitecture == PROCESSOR_ARCHITECTURE_AMD64   ? "x86_64"
           : si.wProcessorArchitecture == PROCESSOR_ARCHITECTURE_ARM64 ? "aarch64"
           : si.wProcessorArchitecture == PROCESSOR_ARCHITECTURE_INTEL ? "i686"
                                                                       : "unknown");
}

static int stderr_is_terminal(void) { return _isatty(_fileno(stderr)); }
#else
static void read_host(host_t *h) {
  struct utsname u;
  memset(h, 0, sizeof *h);
  if (uname(&u) != 0) return;
  snprintf(h->sysname, sizeof h->sysname, "%s", u.sysname);
  snprintf(h->release, sizeof h->release, "%s", u.release);
  snprintf(h->machine, sizeof h->machine, "%s", u.machine);
}

static int stderr_is_terminal(void) { return isatty(STDERR_FILENO); }
#endif

enum { EXIT_OK = 0, EXIT_CHECK_FAILED = 1, EXIT_USAGE = 2, EXIT_TARGET_UNMET = 3 };

typedef struct options {
  int json, raise, measure, connections_on, have_target;
  long long target, connections, max_fds, ready, timeout_ms;
  const char *backend;
} options_t;

typedef struct raise_result {
  int ran, rc;
  int64_t before, after;
} raise_result_t;

static const char *const kUsage =
    "usage: xpoll-probe [options]\n"
    "Reports and measures the descriptor limits of this host and process, per xpoll backend.\n"
    "\n"
    "  --json             print JSON (schema: docs/probe-schema.json) instead of a table\n"
    "  --raise            raise this process's soft descriptor limit as far as allowed first (before/after shown)\n"
    "  --target N         say whether N connections can be held with each backend, and how to lift what stops it\n"
    "  --connections[=N]  also hold N loopback TCP connections (default: as many as the limit allows)\n"
    "  --max-fds N        open at most N descriptors when measuring (default: until the limit)\n"
    "  --backend NAME     check only this backend\n"
    "  --ready N          descriptors made ready in each backend check (default 16)\n"
    "  --timeout MS       bound on each wait of a measurement (default 5000)\n"
    "  --no-measure       report the limits only; open nothing\n"
    "  --version          print the version\n"
    "  --help             print this help\n"
    "\n"
    "Exit status: 0 all checks passed (and the target is reachable), 1 a check failed,\n"
    "2 usage error, 3 the target is not reachable with the current limits.\n";

static int parse_count(const char *s, long long *out) {
  char *end;
  long long v;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < 0) return -1;
  *out = v;
  return 0;
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "xpoll-probe: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see xpoll-probe --help)\n");
  return EXIT_USAGE;
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, options_t *o) {
  int i;
  memset(o, 0, sizeof *o);
  o->measure = 1;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    long long *value = NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(kUsage, stdout);
      return EXIT_OK;
    } else if (!strcmp(a, "--version")) {
      printf("xpoll-probe %s\n", xpoll_version_string());
      return EXIT_OK;
    } else if (!strcmp(a, "--json")) {
      o->json = 1;
    } else if (!strcmp(a, "--raise")) {
      o->raise = 1;
    } else if (!strcmp(a, "--no-measure")) {
      o->measure = 0;
    } else if (!strcmp(a, "--connections")) {
      o->connections_on = 1;
    } else if (!strncmp(a, "--connections=", 14)) {
      o->connections_on = 1;
      if (parse_count(a + 14, &o->connections) != 0 || o->connections == 0)
        return usage_error("--connections needs a positive count, not '%s'", a + 14);
    } else if (!strcmp(a, "--target")) {
      value = &o->target;
      o->have_target = 1;
    } else if (!strcmp(a, "--max-fds")) {
      value = &o->max_fds;
    } else if (!strcmp(a, "--ready")) {
      value = &o->ready;
    } else if (!strcmp(a, "--timeout")) {
      value = &o->timeout_ms;
    } else if (!strcmp(a, "--backend")) {
      if (++i >= argc) return usage_error("%s needs a backend name", a);
      o->backend = argv[i];
      if (xpoll_backend_capabilities(o->backend) < 0)
        return usage_error("no backend '%s' is compiled into this xpoll", o->backend);
    } else {
      return usage_error("unknown option '%s'", a);
    }
    if (value) {
      if (++i >= argc) return usage_error("%s needs a number", a);
      if (parse_count(argv[i], value) != 0) return usage_error("not a count: '%s'", argv[i]);
    }
  }
  if (o->have_target && (o->target <= 0 || o->target > (1LL << 40)))
    return usage_error("%s", "--target needs a positive count (at most 2^40)");
  if (o->timeout_ms > 600000 || o->ready > 1000000) return usage_error("%s", "--timeout or --ready out of range");
  return -1;
}

/* ---- progress line, on a terminal only ---------------------------------- */

static void on_progress(void *arg, const char *step, int64_t done, int64_t total) {
  (void)arg;
  fprintf(stderr, "\r\033[K  measuring %s: %lld / %lld", step, (long long)done, (long long)total);
  fflush(stderr);
}

static void end_progress(int shown) {
  if (shown) fprintf(stderr, "\r\033[K");
}

/* ---- the report ------------------------------------------------------------
   Everything the table and the JSON say is decided here, once: the verdict on
   --target with its numbers, what stops each backend, and the advice that
   lifts it, each piece given once for every backend. The printers below only
   render it. */

/* Fewer descriptors or connections than this give no memory figure. The
   library applies the same minimum (kMinMemorySample in src/probe/probe.hpp)
   and reports XPOLL_LIMIT_UNKNOWN below it; this copy only words the table. */
#define MEMORY_MIN_SAMPLE 1000
/* What a server needs beside its connections: the listener, the poller, stdio
   and some slack. */
#define SERVER_OVERHEAD 16
#define MAX_BLOCKERS 6
#define MAX_ADVICE 8
#define MAX_COMMANDS 5

/* One piece of advice: the limits it is about, why, and the commands. */
typedef struct advice {
  const char *limits[3]; /* keys of xpoll_limits_t, or "max_fd"; the unused ones NULL */
  char why[400];
  char commands[MAX_COMMANDS][320];
  int ncommands;
} advice_t;

/* A limit in the way of a target, and the advice that lifts it. */
typedef struct blocker {
  const char *limit;
  int64_t value, needed;
  const advice_t *lift;
} blocker_t;

typedef struct backend_target {
  const char *name;
  blocker_t blockers[MAX_BLOCKERS];
  int nblockers;
  advice_t own; /* lifts a limit of this backend alone (select's FD_SETSIZE) */
} backend_target_t;

/* The answer to --target for every backend shown. */
typedef struct verdict {
  long long connections;
  int64_t needed;
  const char *limit; /* the lowest limit on the way (a key of xpoll_limits_t), or NULL when none is known */
  int64_t limit_value, headroom;
  int reachable;         /* with every backend shown */
  int server_must_raise; /* reachable only because --raise lifted this process's soft limit */
  int hard_raisable;     /* whether this process could raise its hard limit to the need: 1, 0, or -1 not tried */
  int hard_errno;        /* why it could not */
  blocker_t shared[MAX_BLOCKERS]; /* the limits in the way of every backend */
  int nshared;
  advice_t advice[MAX_ADVICE]; /* in the order to follow it */
  int nadvice;
  backend_target_t backends[XPOLL_PROBE_MAX_BACKENDS];
} verdict_t;

/* A backend shown: its name, what the library says of it, and its check
   (NULL when it was not checked). */
typedef struct backend_row {
  const char *name;
  int caps;
  long max_fd;
  const xpoll_probe_backend_t *check;
} backend_row_t;

typedef struct report {
  host_t host;
  xpoll_limits_t limits;
  raise_result_t raise;
  xpoll_probe_result_t probe;
  const options_t *o;
  backend_row_t rows[XPOLL_PROBE_MAX_BACKENDS]; /* the backends shown */
  int nb;
  int has_verdict;
  verdict_t verdict;
  int exit_status;
} report_t;

static int known(const xpoll_limit_t *l) { return l->source && l->value != XPOLL_LIMIT_UNKNOWN; }
static int finite(const xpoll_limit_t *l) { return known(l) && l->value != XPOLL_LIMIT_INFINITE; }

static void add_command(advice_t *a, const char *fmt, ...) {
  va_list ap;
  if (a->ncommands >= MAX_COMMANDS) return;
  va_start(ap, fmt);
  vsnprintf(a->commands[a->ncommands++], sizeof a->commands[0], fmt, ap);
  va_end(ap);
}

/* Starts the next piece of advice, about `l0` (and `l1`), with its reason. */
static advice_t *advise(verdict_t *v, const char *l0, const char *l1, const char *fmt, ...) {
  advice_t *a = &v->advice[v->nadvice++];
  va_list ap;
  memset(a, 0, sizeof *a);
  a->limits[0] = l0, a->limits[1] = l1;
  va_start(ap, fmt);
  vsnprintf(a->why, sizeof a->why, fmt, ap);
  va_end(ap);
  return a;
}

static void add_shared(verdict_t *v, const char *limit, int64_t value, const advice_t *lift) {
  blocker_t *b = &v->shared[v->nshared++];
  b->limit = limit, b->value = value, b->needed = v->needed, b->lift = lift;
}

#if defined(_WIN32)
static int is_root(void) { return 0; }
static int try_raise_hard(int64_t want, int *err) {
  (void)want, (void)err;
  return -1; /* no such limit */
}
#else
static int is_root(void) { return geteuid() == 0; }

/* Whether this process may raise its hard descriptor limit to `want`: tried,
   then put back at once (lowering a hard limit needs no privilege). Only a
   privileged process may raise it: on Linux CAP_SYS_RESOURCE, which root lacks
   in most containers. 1 yes, 0 no (the errno in *err), -1 not tried. */
static int try_raise_hard(int64_t want, int *err) {
  struct rlimit was, up;
  if (getrlimit(RLIMIT_NOFILE, &was) != 0 || was.rlim_max == RLIM_INFINITY) return -1;
  if ((int64_t)was.rlim_max >= want) return 1;
  up = was;
  up.rlim_max = (rlim_t)want;
  if (setrlimit(RLIMIT_NOFILE, &up) != 0) {
    *err = errno;
    return 0;
  }
  (void)setrlimit(RLIMIT_NOFILE, &was);
  return 1;
}
#endif

/* The line to put in a systemd unit, and what makes it apply. */
#define SYSTEMD_LINE \
  "LimitNOFILE=%lld   # systemd unit, [Service]; then systemctl daemon-reload && systemctl restart <unit>"
#define LIMITS_D_LINE                                                                                          \
  "printf '%%s\\n' '* soft nofile %lld' '* hard nofile %lld' 'root soft nofile %lld' 'root hard nofile %lld' " \
  "| sudo tee /etc/security/limits.d/90-nofile.conf   # from the next login ('*' does not cover root)"

/* The advice for a hard limit below the need: the hard limit first, then the
   soft one, or one command that sets both; where this process may not raise
   it, what can. */
static void advise_hard(verdict_t *v, const xpoll_limits_t *l, const char *os) {
  long long need = (long long)v->needed, soft = (long long)l->nofile_soft.value;
  int linux_os = !strcmp(os, "Linux"), darwin = !strcmp(os, "Darwin"), freebsd = !strcmp(os, "FreeBSD");
  int64_t want = v->needed;
  advice_t *a;
  /* Above fs.nr_open even a privileged process is refused: that is the
     nr_open advice, so only the part below it is tried. */
  if (finite(&l->nr_open) && l->nr_open.value < want) want = l->nr_open.value;
  v->hard_raisable = want > l->nofile_hard.value ? try_raise_hard(want, &v->hard_errno) : -1;
  if (v->hard_raisable == 1 || (v->hard_raisable < 0 && is_root())) {
    a = advise(
        v, "nofile_hard", "nofile_soft",
        "nofile_hard is %lld, needs %lld; the soft limit (%lld) cannot go above it, so raise the hard one first:",
        (long long)l->nofile_hard.value, need, soft);
    add_command(a, "ulimit -Hn %lld && ulimit -Sn %lld   # in the shell that starts the server", need, need);
    if (linux_os) {
      add_command(a, "prlimit --pid $$ --nofile=%lld:%lld   # the same in one command", need, need);
      add_command(a, SYSTEMD_LINE, need);
    }
  } else if (!is_root()) {
    a = advise(v, "nofile_hard", "nofile_soft",
               "nofile_hard is %lld, needs %lld; the soft limit (%lld) cannot go above it, and only root "
               "(with CAP_SYS_RESOURCE) can raise the hard one:",
               (long long)l->nofile_hard.value, need, soft);
    if (linux_os) {
      add_command(
          a, "sudo prlimit --pid $$ --nofile=%lld:%lld   # this shell, hard and soft; then start the server from it",
          need, need);
      add_command(a, LIMITS_D_LINE, need, need, need, need);
      add_command(a, SYSTEMD_LINE, need);
      add_command(a, "docker run --ulimit nofile=%lld:%lld ...   # a container: set by whoever starts it", need, need);
    }
  } else {
    a = advise(v, "nofile_hard", "nofile_soft",
               "nofile_hard is %lld, needs %lld; the soft limit (%lld) cannot go above it, and even root cannot "
               "raise it here (setrlimit: %s)%s. Set both where the server is started:",
               (long long)l->nofile_hard.value, need, soft, strerror(v->hard_errno),
               linux_os ? ": this process has no CAP_SYS_RESOURCE, as in a container" : "");
    if (linux_os) {
      add_command(a, "docker run --ulimit nofile=%lld:%lld ...   # a container: on the host that starts it", need,
                  need);
      add_command(a, SYSTEMD_LINE, need);
      add_command(a, LIMITS_D_LINE, need, need, need, need);
    }
  }
  if (darwin) add_command(a, "sudo launchctl limit maxfiles %lld %lld", need, need);
  if (freebsd) add_command(a, "set openfiles=%lld in /etc/login.conf, then cap_mkdb /etc/login.conf", need);
  if (!a->ncommands) add_command(a, "raise it where the server is started: its service manager, jail or container");
}

/* The two ways to raise the soft limit to `need`, which needs no privilege. */
static void add_soft_commands(advice_t *a, long long need) {
  add_command(a, "ulimit -Sn %lld   # in the shell that starts the server", need);
  add_command(a, "xpoll_raise_nofile() or setrlimit(RLIMIT_NOFILE) at the server's start   # up to the hard limit");
}

/* The advice for a soft limit below the need where the hard one allows it. */
static void advise_soft(verdict_t *v, const xpoll_limits_t *l, const char *os) {
  long long need = (long long)v->needed;
  char hard[32];
  advice_t *a;
  if (l->nofile_hard.value == XPOLL_LIMIT_INFINITE)
    snprintf(hard, sizeof hard, "unlimited");
  else
    snprintf(hard, sizeof hard, "%lld", (long long)l->nofile_hard.value);
  a = advise(v, "nofile_soft", NULL,
             "nofile_soft is %lld, needs %lld; the hard limit (%s) allows it without privilege:",
             (long long)l->nofile_soft.value, need, hard);
  add_soft_commands(a, need);
  if (!strcmp(os, "Linux")) add_command(a, SYSTEMD_LINE, need);
  if (!strcmp(os, "Darwin")) add_command(a, "sudo launchctl limit maxfiles %lld %lld", need, need);
}

/* The command that widens the ephemeral port range on this OS, or NULL. */
static const char *port_range_command(const xpoll_limits_t *l) {
  const char *s = l->ephemeral_ports.source;
  if (!s) return NULL;
  if (strstr(s, "ip_local_port_range"))
    return "sudo sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"   # 64512 ports; persist it in /etc/sysctl.d/";
  if (strstr(s, "portrange"))
    return "sudo sysctl -w net.inet.ip.portrange.first=1024 net.inet.ip.portrange.last=65535   # 64512 ports";
  return NULL;
}

/* The lowest limit on the way of every backend so far, if `value` is lower. */
static void consider(verdict_t *v, const char *limit, int64_t value) {
  if (!v->limit || value < v->limit_value) v->limit = limit, v->limit_value = value;
}

/* The lowest limit on the way of every backend, and the headroom under it. */
static void find_lowest_limit(verdict_t *v, const xpoll_limits_t *l, int64_t files_free) {
  if (finite(&l->nofile_soft)) consider(v, "nofile_soft", l->nofile_soft.value);
  if (finite(&l->maxfilesperproc)) consider(v, "maxfilesperproc", l->maxfilesperproc.value);
  if (finite(&l->file_max)) consider(v, "file_max", files_free);
  v->headroom = v->limit_value - v->needed;
}

/* The advice for the kernel's ceilings, each of which bounds what comes after
   it: nr_open, maxfilesperproc, file_max into kernel[0..2] (NULL when not in
   the way). */
static void advise_kernel(verdict_t *v, const xpoll_limits_t *l, int linux_os, int64_t files_free,
                          const advice_t *kernel[3]) {
  long long need = (long long)v->needed;
  advice_t *a;
  if (finite(&l->nr_open) && l->nr_open.value < v->needed) {
    a = advise(v, "nr_open", NULL,
               "nr_open is %lld, needs %lld: the kernel's ceiling of the hard limit; raise it first (root):",
               (long long)l->nr_open.value, need);
    add_command(a, "sudo sysctl -w fs.nr_open=%lld", need);
    add_command(a, "echo 'fs.nr_open = %lld' | sudo tee /etc/sysctl.d/90-nofile.conf   # at every boot", need);
    kernel[0] = a;
  }
  if (finite(&l->maxfilesperproc) && l->maxfilesperproc.value < v->needed) {
    a = advise(v, "maxfilesperproc", NULL,
               "maxfilesperproc is %lld, needs %lld (root):", (long long)l->maxfilesperproc.value, need);
    add_command(a, "sudo sysctl -w kern.maxfilesperproc=%lld", need);
    kernel[1] = a;
  }
  if (finite(&l->file_max) && files_free < v->needed) {
    int64_t in_use = l->file_max.value - files_free;
    a = advise(v, "file_max", NULL,
               "file_max leaves %lld open files to this host, needs %lld (root):", (long long)files_free, need);
    add_command(a, linux_os ? "sudo sysctl -w fs.file-max=%lld" : "sudo sysctl -w kern.maxfiles=%lld",
                (long long)(in_use + v->needed * 2));
    kernel[2] = a;
  }
}

/* The advice for the process's own limits, the hard one before the soft one;
   returns it, or NULL when they are not in the way. */
static const advice_t *advise_process(report_t *rep) {
  verdict_t *v = &rep->verdict;
  const xpoll_limits_t *l = &rep->limits;
  const raise_result_t *rr = &rep->raise;
  advice_t *a;
  if (finite(&l->nofile_hard) && l->nofile_hard.value < v->needed) {
    advise_hard(v, l, rep->host.sysname);
    return &v->advice[v->nadvice - 1];
  }
  if (finite(&l->nofile_soft) && l->nofile_soft.value < v->needed) {
    advise_soft(v, l, rep->host.sysname);
    return &v->advice[v->nadvice - 1];
  }
  if (!rr->ran || rr->before < 0 || rr->before >= v->needed) return NULL;
  /* Enough now, but only because --raise lifted it in this process. */
  a = advise(v, "nofile_soft", NULL,
             "--raise lifted this process's soft limit from %lld to %lld; a server started later from "
             "this shell still gets %lld unless it raises its own:",
             (long long)rr->before, (long long)rr->after, (long long)rr->before);
  add_soft_commands(a, (long long)v->needed);
  v->server_must_raise = 1;
  return NULL;
}

/* Not the server's limit but its load client's, who meets it first. */
static void advise_ports(verdict_t *v, const xpoll_limits_t *l) {
  const char *widen = port_range_command(l);
  advice_t *a;
  if (!finite(&l->ephemeral_ports) || l->ephemeral_ports.value >= v->connections) return;
  a = advise(v, "ephemeral_ports", NULL,
             "a load client on one address can open only %lld connections to one server port "
             "(its ephemeral port range); this limits the client, not the server:",
             (long long)l->ephemeral_ports.value);
  if (widen && v->connections <= 64512) add_command(a, "%s", widen);
  add_command(a, "give the client several source addresses (127.0.0.2, 127.0.0.3, ...): each has its own ports");
}

/* Each backend's blockers: its own (select's FD_SETSIZE), then the shared ones. */
static void judge_backends(report_t *rep) {
  verdict_t *v = &rep->verdict;
  int k, j;
  v->reachable = 1;
  for (k = 0; k < rep->nb; k++) {
    backend_target_t *t = &v->backends[k];
    const backend_row_t *row = &rep->rows[k];
    t->name = row->name;
    if (row->caps >= 0 && !(row->caps & XPOLL_CAP_UNBOUNDED) && row->max_fd >= 0 && row->max_fd + 1 < v->needed) {
      blocker_t *b = &t->blockers[t->nblockers++];
      t->own.limits[0] = "max_fd";
      snprintf(t->own.why, sizeof t->own.why, "%s watches descriptors up to %ld only (FD_SETSIZE):", row->name,
               row->max_fd);
      add_command(&t->own, "use another backend: %s is bounded by FD_SETSIZE here", row->name);
      b->limit = "max_fd", b->value = row->max_fd, b->needed = v->needed - 1, b->lift = &t->own;
    }
    for (j = 0; j < v->nshared; j++) t->blockers[t->nblockers++] = v->shared[j];
    if (t->nblockers) v->reachable = 0;
  }
}

static void build_verdict(report_t *rep) {
  verdict_t *v = &rep->verdict;
  const xpoll_limits_t *l = &rep->limits;
  const advice_t *nofile;
  const advice_t *kernel[3] = {NULL, NULL, NULL}; /* nr_open, maxfilesperproc, file_max */
  int64_t files_free = 0;
  memset(v, 0, sizeof *v);
  v->connections = rep->o->target;
  v->needed = (int64_t)v->connections + SERVER_OVERHEAD;
  v->hard_raisable = -1;
  if (finite(&l->file_max)) files_free = l->file_max.value - (known(&l->files_in_use) ? l->files_in_use.value : 0);
  find_lowest_limit(v, l, files_free);
  advise_kernel(v, l, !strcmp(rep->host.sysname, "Linux"), files_free, kernel);
  nofile = advise_process(rep);
  advise_ports(v, l);
  /* The blockers, in the order of xpoll_limits_t, each lifted by its advice. */
  if (finite(&l->nofile_soft) && l->nofile_soft.value < v->needed)
    add_shared(v, "nofile_soft", l->nofile_soft.value, nofile);
  if (finite(&l->nofile_hard) && l->nofile_hard.value < v->needed)
    add_shared(v, "nofile_hard", l->nofile_hard.value, nofile);
  if (kernel[0]) add_shared(v, "nr_open", l->nr_open.value, kernel[0]);
  if (kernel[1]) add_shared(v, "maxfilesperproc", l->maxfilesperproc.value, kernel[1]);
  if (kernel[2]) add_shared(v, "file_max", files_free, kernel[2]);
  judge_backends(rep);
}

/* The backends shown (all compiled, or the one asked for), each with its check. */
static void choose_backends(report_t *rep) {
  const char *all[XPOLL_PROBE_MAX_BACKENDS];
  int nb = xpoll_backends(all, XPOLL_PROBE_MAX_BACKENDS), k, j;
  if (nb > XPOLL_PROBE_MAX_BACKENDS) nb = XPOLL_PROBE_MAX_BACKENDS;
  for (k = 0; k < nb; k++) {
    backend_row_t *row = &rep->rows[rep->nb];
    if (rep->o->backend && strcmp(rep->o->backend, all[k]) != 0) continue;
    row->name = all[k];
    row->caps = xpoll_backend_capabilities(all[k]);
    row->max_fd = xpoll_backend_max_fd(all[k]);
    for (j = 0; j < rep->probe.backend_count; j++)
      if (!strcmp(rep->probe.backends[j].name, all[k])) row->check = &rep->probe.backends[j];
    rep->nb++;
  }
}

static void build_report(report_t *rep) {
  int k;
  choose_backends(rep);
  rep->exit_status = EXIT_OK;
  for (k = 0; k < rep->probe.backend_count; k++)
    if (!rep->probe.backends[k].passed) rep->exit_status = EXIT_CHECK_FAILED;
  rep->has_verdict = rep->o->have_target;
  if (rep->has_verdict) {
    build_verdict(rep);
    if (rep->exit_status == EXIT_OK && !rep->verdict.reachable) rep->exit_status = EXIT_TARGET_UNMET;
  }
}

/* ---- output -------------------------------------------------------------- */

typedef struct field {
  const char *key, *label;
  size_t offset;
} field_t;

#define FIELD(k, label) \
  { #k, label, offsetof(xpoll_limits_t, k) }
static const field_t kFields[] = {
    FIELD(nofile_soft, "open files, soft limit (ulimit -n)"),
    FIELD(nofile_hard, "open files, hard limit (ulimit -Hn)"),
    FIELD(nr_open, "ceiling of the hard limit (fs.nr_open)"),
    FIELD(maxfilesperproc, "per-process ceiling (kern.maxfilesperproc)"),
    FIELD(file_max, "open files, whole system"),
    FIELD(files_in_use, "open files now, whole system"),
    FIELD(open_max, "OPEN_MAX"),
    FIELD(fd_setsize, "FD_SETSIZE (as compiled)"),
    FIELD(stdio_max, "C runtime stdio streams"),
    FIELD(open_now, "descriptors open in this process"),
    FIELD(ephemeral_ports, "ephemeral ports (one client address)"),
};

static const xpoll_limit_t *field_of(const xpoll_limits_t *l, const field_t *f) {
  return (const xpoll_limit_t *)((const char *)l + f->offset);
}

static const char *cap_names[] = {"oneshot", "edge", "rdhup", "nonsocket", "unbounded", "live_changes", "hangup"};

static void caps_text(uint32_t caps, char *buf, size_t n) {
  size_t i, used = 0;
  buf[0] = 0;
  for (i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
    if (caps & (1u << i))
      used += (size_t)snprintf(buf + used, used < n ? n - used : 0, "%s%s", used ? "," : "", cap_names[i]);
}

static void value_text(const xpoll_limit_t *l, char *buf, size_t n) {
  if (!l->source || l->value == XPOLL_LIMIT_UNKNOWN)
    snprintf(buf, n, "%s", l->source ? "unknown" : "n/a");
  else if (l->value == XPOLL_LIMIT_INFINITE)
    snprintf(buf, n, "unlimited");
  else
    snprintf(buf, n, "%lld", (long long)l->value);
}

static const char *step_error(int32_t e) { return e ? xpoll_errname(e) : NULL; }

/* The limit's name as the table says it. */
static const char *limit_phrase(const char *limit) {
  if (!strcmp(limit, "nofile_soft")) return "the soft limit (ulimit -n)";
  if (!strcmp(limit, "maxfilesperproc")) return "the per-process ceiling (kern.maxfilesperproc)";
  return "the open files left to this host (file_max less those in use)";
}

static void print_memory(int64_t bytes, int64_t sample, const char *what) {
  if (bytes >= 0)
    printf(", about %lld bytes each%s", (long long)bytes, what);
  else if (sample < MEMORY_MIN_SAMPLE)
    printf(", memory each: sample too small (under %d)", MEMORY_MIN_SAMPLE);
}

/* Prints `s` from column `indent`, wrapped at spaces before column 112. */
static void print_wrapped(const char *s, int indent) {
  const int width = 112 - indent;
  while (*s) {
    int n = (int)strlen(s);
    if (n > width) {
      int cut = width;
      while (cut > 0 && s[cut] != ' ') cut--;
      if (cut > 0) n = cut; /* else a word longer than the line: printed whole */
    }
    printf("%*s%.*s\n", indent, "", n, s);
    s += n;
    while (*s == ' ') s++;
  }
}

static void print_verdict(const report_t *rep) {
  const verdict_t *v = &rep->verdict;
  int k, j, c;
  printf("\nTarget: %lld connections in one server process: %s\n", v->connections,
         !v->reachable          ? "NOT reachable"
         : v->server_must_raise ? "reachable if the server raises its soft limit (below)"
                                : "reachable");
  printf("  needs %lld descriptors: the connections, and %d for the listener, the poller, stdio and slack\n",
         (long long)v->needed, SERVER_OVERHEAD);
  if (!v->limit)
    printf("  no descriptor limit is in the way on this OS\n");
  else if (v->headroom >= 0)
    printf("  against %s of %lld: headroom %lld\n", limit_phrase(v->limit), (long long)v->limit_value,
           (long long)v->headroom);
  else
    printf("  against %s of %lld: %lld short\n", limit_phrase(v->limit), (long long)v->limit_value,
           (long long)-v->headroom);
  for (k = 0; k < rep->nb; k++) {
    const backend_target_t *t = &v->backends[k];
    printf("  %-8s %s", t->name, t->nblockers ? "NOT reachable:" : "reachable");
    for (j = 0; j < t->nblockers; j++)
      printf("%s %s %lld", j ? "," : "", t->blockers[j].limit, (long long)t->blockers[j].value);
    if (t->own.ncommands) printf("; %s", t->own.commands[0]);
    printf("%s\n", v->nshared ? " (below)" : "");
  }
  if (v->nadvice) printf("\nWhat to do (the same for every backend):\n");
  for (j = 0; j < v->nadvice; j++) {
    print_wrapped(v->advice[j].why, 2);
    for (c = 0; c < v->advice[j].ncommands; c++) printf("    %s\n", v->advice[j].commands[c]);
  }
}

static void print_limits(const report_t *rep) {
  const raise_result_t *rr = &rep->raise;
  size_t i;
  char v[32];
  if (rr->ran) {
    printf("Raised the soft limit of this process: %lld -> %lld%s%s\n", (long long)rr->before, (long long)rr->after,
           rr->rc ? ": " : "", rr->rc ? xpoll_strerror(rr->rc) : "");
    if (rr->before >= 0 && rr->after > rr->before)
      printf("  (a server started later from this shell still gets %lld unless it raises its own)\n",
             (long long)rr->before);
    printf("\n");
  }
  printf("%-44s %12s  %s\n", "Limit", "value", "source");
  for (i = 0; i < sizeof kFields / sizeof kFields[0]; i++) {
    const xpoll_limit_t *f = field_of(&rep->limits, &kFields[i]);
    if (!f->source) continue; /* does not apply on this OS */
    value_text(f, v, sizeof v);
    printf("%-44s %12s  %s\n", kFields[i].label, v, f->source);
  }
}

static void print_backends(const report_t *rep) {
  int k;
  char caps[128];
  printf("\n%-8s %10s", "Backend", "max fd");
  if (rep->probe.steps & XPOLL_PROBE_BACKENDS)
    printf(" %10s %11s %11s  %-6s", "registered", "ready seen", "wait", "check");
  printf("  capabilities\n");
  for (k = 0; k < rep->nb; k++) {
    const backend_row_t *row = &rep->rows[k];
    const xpoll_probe_backend_t *b = row->check;
    caps_text((uint32_t)row->caps, caps, sizeof caps);
    printf("%-8s %10ld", row->name, row->max_fd);
    if (b)
      printf(" %10lld %5d/%-5d %8.1f us  %-6s", (long long)b->registered, b->ready_reported, b->ready_expected,
             b->wait_ns / 1e3, b->passed ? "ok" : "FAILED");
    printf("  %s%s%s\n", caps, b && b->error ? "; stopped at " : "", b && b->error ? xpoll_errname(b->error) : "");
  }
}

static void print_steps(const report_t *rep) {
  const xpoll_probe_result_t *r = &rep->probe;
  if (r->steps & XPOLL_PROBE_DESCRIPTORS) {
    printf("\nDescriptors: opened %lld in %.1f ms", (long long)r->descriptors, r->descriptors_ns / 1e6);
    print_memory(r->descriptor_bytes, r->descriptors, " (process and kernel)");
    if (r->descriptors_error)
      printf("; stopped: %s (%s)\n", xpoll_strerror(r->descriptors_error), xpoll_errname(r->descriptors_error));
    else
      printf("; stopped at the --max-fds cap\n");
  }
  if (r->steps & XPOLL_PROBE_CONNECTIONS) {
    const char *widen = port_range_command(&rep->limits);
    printf("Connections: %lld of %lld held in %.1f ms", (long long)r->connections_held, (long long)r->connections_tried,
           r->connections_ns / 1e6);
    print_memory(r->connection_bytes, r->connections_held, "");
    /* Why --target may call more reachable than this holds. */
    printf("; 2 descriptors per connection, as both ends are in this process (a server needs 1)");
    printf("%s%s\n", r->connections_error[0] ? "; first error: " : "", r->connections_error);
    if (!strcmp(r->connections_error, "EADDRNOTAVAIL") && widen) printf("  the ephemeral ports ran out: %s\n", widen);
  }
}

static void print_table(const report_t *rep) {
  const host_t *u = &rep->host;
  printf("xpoll-probe %s on %s %s (%s)\n\n", xpoll_version_string(), u->sysname, u->release, u->machine);
  print_limits(rep);
  print_backends(rep);
  print_steps(rep);
  if (rep->has_verdict) print_verdict(rep);
}

static void json_string(const char *s) {
  if (!s) {
    printf("null");
    return;
  }
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", *s);
    else
      putchar(*s);
  }
  putchar('"');
}

/* A limit's value: a count, "unlimited", or null when unknown. */
static void json_value(const xpoll_limit_t *l) {
  if (!l->source || l->value == XPOLL_LIMIT_UNKNOWN || l->value < 0)
    printf("null");
  else if (l->value == XPOLL_LIMIT_INFINITE)
    printf("\"unlimited\"");
  else
    printf("%lld", (long long)l->value);
}

static void json_limit(const xpoll_limit_t *l) {
  printf("{\"value\": ");
  json_value(l);
  printf(", \"source\": ");
  json_string(l->source);
  printf("}");
}

static void json_caps(uint32_t caps) {
  size_t i;
  int first = 1;
  printf("[");
  for (i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
    if (caps & (1u << i)) printf("%s\"%s\"", first ? "" : ", ", cap_names[i]), first = 0;
  printf("]");
}

static void json_commands(const advice_t *a) {
  int c;
  printf("[");
  for (c = 0; c < a->ncommands; c++) {
    printf("%s", c ? ", " : "");
    json_string(a->commands[c]);
  }
  printf("]");
}

static void json_bytes(int64_t bytes) {
  if (bytes >= 0)
    printf("%lld", (long long)bytes);
  else
    printf("null");
}

static void json_verdict(const report_t *rep) {
  const verdict_t *v = &rep->verdict;
  int k, j, first = 1;
  printf("{\"reachable\": %s, \"connections\": %lld, \"descriptors_needed\": %lld, \"limit\": ",
         v->reachable ? "true" : "false", v->connections, (long long)v->needed);
  json_string(v->limit);
  if (v->limit)
    printf(", \"limit_value\": %lld, \"headroom\": %lld", (long long)v->limit_value, (long long)v->headroom);
  else
    printf(", \"limit_value\": null, \"headroom\": null");
  printf(",\n    \"backends_reachable\": [");
  for (k = 0; k < rep->nb; k++)
    if (!v->backends[k].nblockers) {
      printf("%s", first ? "" : ", ");
      json_string(v->backends[k].name);
      first = 0;
    }
  printf("], \"hard_limit_raisable\": %s, \"server_must_raise\": %s,\n    \"advice\": [",
         v->hard_raisable < 0 ? "null"
         : v->hard_raisable   ? "true"
                              : "false",
         v->server_must_raise ? "true" : "false");
  for (j = 0; j < v->nadvice; j++) {
    const advice_t *a = &v->advice[j];
    int i;
    printf("%s\n      {\"limits\": [", j ? "," : "");
    for (i = 0; i < 3 && a->limits[i]; i++) printf("%s\"%s\"", i ? ", " : "", a->limits[i]);
    printf("], \"why\": ");
    json_string(a->why);
    printf(", \"commands\": ");
    json_commands(a);
    printf("}");
  }
  printf("%s]}", v->nadvice ? "\n    " : "");
}

static void json_head(const report_t *rep) {
  const host_t *u = &rep->host;
  size_t i;
  printf("{\n  \"schema\": \"xpoll-probe/1\",\n  \"xpoll_version\": ");
  json_string(xpoll_version_string());
  printf(",\n  \"os\": {\"name\": ");
  json_string(u->sysname);
  printf(", \"release\": ");
  json_string(u->release);
  printf(", \"machine\": ");
  json_string(u->machine);
  printf("},\n  \"limits\": {");
  for (i = 0; i < sizeof kFields / sizeof kFields[0]; i++) {
    printf("%s\n    \"%s\": ", i ? "," : "", kFields[i].key);
    json_limit(field_of(&rep->limits, &kFields[i]));
  }
  printf("\n  }");
}

static void json_raise(const raise_result_t *rr) {
  xpoll_limit_t before = {rr->before, "raise"}, after = {rr->after, "raise"};
  if (!rr->ran) {
    printf("null");
    return;
  }
  printf("{\"before\": ");
  json_value(&before);
  printf(", \"after\": ");
  json_value(&after);
  printf(", \"error\": ");
  json_string(rr->rc ? xpoll_errname(rr->rc) : NULL);
  printf("}");
}

static void json_check(const xpoll_probe_backend_t *b) {
  if (!b) {
    printf("null");
    return;
  }
  printf(
      "{\"passed\": %s, \"registered\": %lld, \"highest_fd\": %lld, \"ready_expected\": %d, "
      "\"ready_reported\": %d, \"wrong_reported\": %d, \"register_seconds\": %.6f, \"wait_seconds\": %.9f, "
      "\"error\": ",
      b->passed ? "true" : "false", (long long)b->registered, (long long)b->highest_fd, b->ready_expected,
      b->ready_reported, b->wrong_reported, b->register_ns / 1e9, b->wait_ns / 1e9);
  json_string(step_error(b->error));
  printf("}");
}

static void json_backends(const report_t *rep) {
  int k;
  printf("[");
  for (k = 0; k < rep->nb; k++) {
    const backend_row_t *row = &rep->rows[k];
    printf("%s\n    {\"name\": ", k ? "," : "");
    json_string(row->name);
    printf(", \"capabilities\": ");
    json_caps((uint32_t)row->caps);
    printf(", \"max_fd\": %ld, \"check\": ", row->max_fd);
    json_check(row->check);
    printf("}");
  }
  printf("\n  ]");
}

/* The end of a step's object: its memory figure, then `key` and the error. */
static void json_step_end(int64_t bytes, const char *key, const char *error) {
  json_bytes(bytes);
  printf(", %s: ", key);
  json_string(error);
  printf("}");
}

static void json_steps(const xpoll_probe_result_t *r) {
  printf(",\n  \"descriptors\": ");
  if (r->steps & XPOLL_PROBE_DESCRIPTORS) {
    printf("{\"opened\": %lld, \"seconds\": %.6f, \"bytes_each\": ", (long long)r->descriptors,
           r->descriptors_ns / 1e9);
    json_step_end(r->descriptor_bytes, "\"stopped_by\"", step_error(r->descriptors_error));
  } else {
    printf("null");
  }
  printf(",\n  \"connections\": ");
  if (r->steps & XPOLL_PROBE_CONNECTIONS) {
    printf("{\"tried\": %lld, \"held\": %lld, \"seconds\": %.6f, \"bytes_each\": ", (long long)r->connections_tried,
           (long long)r->connections_held, r->connections_ns / 1e9);
    json_step_end(r->connection_bytes, "\"descriptors_each\": 2, \"first_error\"",
                  r->connections_error[0] ? r->connections_error : NULL);
  } else {
    printf("null");
  }
}

static void json_target(const report_t *rep) {
  const verdict_t *v = &rep->verdict;
  int k, j;
  printf("{\"connections\": %lld, \"backends\": [", v->connections);
  for (k = 0; k < rep->nb; k++) {
    const backend_target_t *t = &v->backends[k];
    printf("%s\n    {\"name\": ", k ? "," : "");
    json_string(t->name);
    printf(", \"reachable\": %s, \"blocked_by\": [", t->nblockers ? "false" : "true");
    for (j = 0; j < t->nblockers; j++) {
      const blocker_t *b = &t->blockers[j];
      printf("%s{\"limit\": \"%s\", \"value\": %lld, \"needed\": %lld, \"commands\": ", j ? ", " : "", b->limit,
             (long long)b->value, (long long)b->needed);
      json_commands(b->lift);
      printf("}");
    }
    printf("]}");
  }
  printf("\n  ]}");
}

static void print_json(const report_t *rep) {
  json_head(rep);
  printf(",\n  \"raise\": ");
  json_raise(&rep->raise);
  printf(",\n  \"backends\": ");
  json_backends(rep);
  json_steps(&rep->probe);
  printf(",\n  \"target\": ");
  if (rep->has_verdict)
    json_target(rep);
  else
    printf("null");
  printf(",\n  \"verdict\": ");
  if (rep->has_verdict)
    json_verdict(rep);
  else
    printf("null");
  printf("\n}\n");
}

/* Raises the soft limit if asked, reads the limits and runs the probe's
   steps; 0, or the probe's error. */
static int measure(report_t *rep, const options_t *o) {
  xpoll_probe_options_t po;
  int rc, progress;
  if (o->raise) {
    rep->raise.ran = 1;
    rep->raise.rc = xpoll_raise_nofile(&rep->raise.before, &rep->raise.after);
  }
  rep->limits.size = sizeof rep->limits;
  xpoll_read_limits(&rep->limits);
  memset(&po, 0, sizeof po);
  po.size = sizeof po;
  if (o->measure) po.steps = XPOLL_PROBE_DESCRIPTORS | XPOLL_PROBE_BACKENDS;
  if (o->connections_on) po.steps |= XPOLL_PROBE_CONNECTIONS;
  po.max_descriptors = o->max_fds;
  po.connections = o->connections;
  po.timeout_ms = (int32_t)o->timeout_ms;
  po.ready = (int32_t)o->ready;
  po.backend = o->backend;
  progress = stderr_is_terminal();
  if (progress) po.progress = on_progress;
  rep->probe.size = sizeof rep->probe;
  rc = po.steps ? xpoll_probe(&po, &rep->probe) : 0;
  end_progress(progress && po.steps);
  return rc;
}

int main(int argc, char **argv) {
  static report_t rep; /* large; one per run */
  options_t o;
  int status, rc;

  status = parse_args(argc, argv, &o);
  if (status >= 0) return status;
  rep.o = &o;
  read_host(&rep.host);
  rc = measure(&rep, &o);
  if (rc != 0) {
    fprintf(stderr, "xpoll-probe: the probe failed: %s\n", xpoll_strerror(rc));
    return EXIT_CHECK_FAILED;
  }
  build_report(&rep);
  if (o.json)
    print_json(&rep);
  else
    print_table(&rep);
  return rep.exit_status;
}
