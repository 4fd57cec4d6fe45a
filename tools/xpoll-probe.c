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
    "  --raise            raise the soft descriptor limit as far as allowed first (before/after shown)\n"
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

/* ---- the --target assessment -------------------------------------------- */

#define MAX_BLOCKERS 6

typedef struct blocker {
  const char *limit; /* the field of xpoll_limits_t, or "max_fd" */
  int64_t value, needed;
  char commands[4][160];
  int ncommands;
} blocker_t;

static void add_command(blocker_t *b, const char *fmt, ...) {
  va_list ap;
  if (b->ncommands >= 4) return;
  va_start(ap, fmt);
  vsnprintf(b->commands[b->ncommands++], sizeof b->commands[0], fmt, ap);
  va_end(ap);
}

static int known(const xpoll_limit_t *l) { return l->source && l->value != XPOLL_LIMIT_UNKNOWN; }

/* Starts the next blocker: `limit` is `value`, and `needed` is wanted. */
static blocker_t *block(blocker_t *out, int *count, const char *limit, int64_t value, int64_t needed) {
  blocker_t *b = &out[(*count)++];
  memset(b, 0, sizeof *b);
  b->limit = limit, b->value = value, b->needed = needed;
  return b;
}

/* The limits a server holding `n` connections with backend `name` meets, and
   the commands for this OS that would lift each. Returns how many. */
static int assess(const char *os, const xpoll_limits_t *l, const char *name, long long n, blocker_t *out) {
  int64_t need = (int64_t)n + 16; /* the connections, the listener, the poller, stdio and some slack */
  int count = 0, linux_os = !strcmp(os, "Linux"), darwin = !strcmp(os, "Darwin");
  long max_fd = xpoll_backend_max_fd(name);
  int caps = xpoll_backend_capabilities(name);
  blocker_t *b;
  if (caps >= 0 && !(caps & XPOLL_CAP_UNBOUNDED) && max_fd >= 0 && max_fd + 1 < need) {
    b = block(out, &count, "max_fd", max_fd, need - 1);
    add_command(b, "use another backend: %s is bounded by FD_SETSIZE here", name);
  }
  if (known(&l->nofile_soft) && l->nofile_soft.value < need) {
    b = block(out, &count, "nofile_soft", l->nofile_soft.value, need);
    add_command(b, "ulimit -n %lld   # in the shell that starts the server", (long long)need);
    add_command(b, "xpoll_raise_nofile() or setrlimit(RLIMIT_NOFILE) in the server itself");
    if (linux_os)
      add_command(b, "LimitNOFILE=%lld   # in the server's systemd unit, [Service] section", (long long)need);
    if (darwin) add_command(b, "sudo launchctl limit maxfiles %lld %lld", (long long)need, (long long)need);
  }
  if (known(&l->nofile_hard) && l->nofile_hard.value < need) {
    b = block(out, &count, "nofile_hard", l->nofile_hard.value, need);
    if (linux_os) {
      add_command(b, "echo '* hard nofile %lld' | sudo tee -a /etc/security/limits.conf   # then log in again",
                  (long long)need);
      add_command(b, "sudo prlimit --pid <server pid> --nofile=%lld:%lld", (long long)need, (long long)need);
      add_command(b, "LimitNOFILE=%lld   # systemd sets soft and hard", (long long)need);
    } else if (darwin) {
      add_command(b, "sudo launchctl limit maxfiles %lld %lld", (long long)need, (long long)need);
    } else if (!strcmp(os, "FreeBSD")) {
      add_command(b, "set openfiles=%lld in /etc/login.conf, then cap_mkdb /etc/login.conf", (long long)need);
    }
    add_command(b, "ulimit -Hn %lld   # as root, in the shell that starts the server", (long long)need);
  }
  if (known(&l->nr_open) && l->nr_open.value < need) {
    b = block(out, &count, "nr_open", l->nr_open.value, need);
    add_command(b, "sudo sysctl -w fs.nr_open=%lld", (long long)need);
    add_command(b, "echo 'fs.nr_open = %lld' | sudo tee /etc/sysctl.d/90-nofile.conf", (long long)need);
  }
  if (known(&l->maxfilesperproc) && l->maxfilesperproc.value < need) {
    b = block(out, &count, "maxfilesperproc", l->maxfilesperproc.value, need);
    add_command(b, "sudo sysctl -w kern.maxfilesperproc=%lld", (long long)need);
  }
  if (known(&l->file_max) && l->file_max.value != XPOLL_LIMIT_INFINITE) {
    int64_t in_use = known(&l->files_in_use) ? l->files_in_use.value : 0;
    if (l->file_max.value - in_use < need && count < MAX_BLOCKERS) {
      b = block(out, &count, "file_max", l->file_max.value - in_use, need);
      if (linux_os)
        add_command(b, "sudo sysctl -w fs.file-max=%lld", (long long)(in_use + need * 2));
      else
        add_command(b, "sudo sysctl -w kern.maxfiles=%lld", (long long)(in_use + need * 2));
    }
  }
  return count;
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

static void print_table(const host_t *u, const xpoll_limits_t *l, const raise_result_t *rr,
                        const xpoll_probe_result_t *r, const options_t *o, int nb, const char **names) {
  size_t i;
  int k;
  char v[32], caps[128];
  printf("xpoll-probe %s on %s %s (%s)\n\n", xpoll_version_string(), u->sysname, u->release, u->machine);
  if (rr->ran)
    printf("Raised the soft limit: %lld -> %lld%s%s\n\n", (long long)rr->before, (long long)rr->after,
           rr->rc ? ": " : "", rr->rc ? xpoll_strerror(rr->rc) : "");
  printf("%-44s %12s  %s\n", "Limit", "value", "source");
  for (i = 0; i < sizeof kFields / sizeof kFields[0]; i++) {
    const xpoll_limit_t *f = field_of(l, &kFields[i]);
    if (!f->source) continue; /* does not apply on this OS */
    value_text(f, v, sizeof v);
    printf("%-44s %12s  %s\n", kFields[i].label, v, f->source);
  }
  printf("\n%-8s %10s", "Backend", "max fd");
  if (r->steps & XPOLL_PROBE_BACKENDS) printf(" %10s %11s %11s  %-6s", "registered", "ready seen", "wait", "check");
  printf("  capabilities\n");
  for (k = 0; k < nb; k++) {
    const xpoll_probe_backend_t *b = NULL;
    int j;
    for (j = 0; j < r->backend_count; j++)
      if (!strcmp(r->backends[j].name, names[k])) b = &r->backends[j];
    if (o->backend && strcmp(o->backend, names[k])) continue;
    caps_text((uint32_t)xpoll_backend_capabilities(names[k]), caps, sizeof caps);
    printf("%-8s %10ld", names[k], xpoll_backend_max_fd(names[k]));
    if (b)
      printf(" %10lld %5d/%-5d %8.1f us  %-6s", (long long)b->registered, b->ready_reported, b->ready_expected,
             b->wait_ns / 1e3, b->passed ? "ok" : "FAILED");
    printf("  %s%s%s\n", caps, b && b->error ? "; stopped at " : "", b && b->error ? xpoll_errname(b->error) : "");
  }
  if (r->steps & XPOLL_PROBE_DESCRIPTORS) {
    printf("\nDescriptors: opened %lld in %.1f ms", (long long)r->descriptors, r->descriptors_ns / 1e6);
    if (r->descriptor_bytes >= 0)
      printf(", about %lld bytes each (process and kernel)", (long long)r->descriptor_bytes);
    if (r->descriptors_error)
      printf("; stopped: %s (%s)\n", xpoll_strerror(r->descriptors_error), xpoll_errname(r->descriptors_error));
    else
      printf("; stopped at the --max-fds cap\n");
  }
  if (r->steps & XPOLL_PROBE_CONNECTIONS) {
    printf("Connections: %lld of %lld held in %.1f ms", (long long)r->connections_held, (long long)r->connections_tried,
           r->connections_ns / 1e6);
    if (r->connection_bytes >= 0) printf(", about %lld bytes each", (long long)r->connection_bytes);
    printf("%s%s\n", r->connections_error[0] ? "; first error: " : "", r->connections_error);
  }
  if (o->have_target) {
    printf("\nTarget: %lld connections in one server process\n", o->target);
    for (k = 0; k < nb; k++) {
      blocker_t bl[MAX_BLOCKERS];
      int n, j, c;
      if (o->backend && strcmp(o->backend, names[k])) continue;
      n = assess(u->sysname, l, names[k], o->target, bl);
      printf("  %-8s %s\n", names[k], n ? "NOT reachable:" : "reachable");
      for (j = 0; j < n; j++) {
        printf("    %s is %lld, needs %lld. To lift it:\n", bl[j].limit, (long long)bl[j].value,
               (long long)bl[j].needed);
        for (c = 0; c < bl[j].ncommands; c++) printf("      %s\n", bl[j].commands[c]);
      }
    }
    if (known(&l->ephemeral_ports) && l->ephemeral_ports.value < o->target)
      printf(
          "  note: a load client on one address can open only %lld connections to one server port;\n"
          "        use several client addresses (127.0.0.2, ...) or widen the ephemeral port range.\n",
          (long long)l->ephemeral_ports.value);
  }
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

static void print_json(const host_t *u, const xpoll_limits_t *l, const raise_result_t *rr,
                       const xpoll_probe_result_t *r, const options_t *o, int nb, const char **names) {
  size_t i;
  int k, first = 1;
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
    json_limit(field_of(l, &kFields[i]));
  }
  printf("\n  },\n  \"raise\": ");
  if (rr->ran) {
    xpoll_limit_t before = {rr->before, "raise"}, after = {rr->after, "raise"};
    printf("{\"before\": ");
    json_value(&before);
    printf(", \"after\": ");
    json_value(&after);
    printf(", \"error\": ");
    json_string(rr->rc ? xpoll_errname(rr->rc) : NULL);
    printf("}");
  } else {
    printf("null");
  }
  printf(",\n  \"backends\": [");
  for (k = 0; k < nb; k++) {
    const xpoll_probe_backend_t *b = NULL;
    int j;
    if (o->backend && strcmp(o->backend, names[k])) continue;
    for (j = 0; j < r->backend_count; j++)
      if (!strcmp(r->backends[j].name, names[k])) b = &r->backends[j];
    printf("%s\n    {\"name\": ", first ? "" : ",");
    first = 0;
    json_string(names[k]);
    printf(", \"capabilities\": ");
    json_caps((uint32_t)xpoll_backend_capabilities(names[k]));
    printf(", \"max_fd\": %ld, \"check\": ", xpoll_backend_max_fd(names[k]));
    if (b) {
      printf(
          "{\"passed\": %s, \"registered\": %lld, \"highest_fd\": %lld, \"ready_expected\": %d, "
          "\"ready_reported\": %d, \"wrong_reported\": %d, \"register_seconds\": %.6f, \"wait_seconds\": %.9f, "
          "\"error\": ",
          b->passed ? "true" : "false", (long long)b->registered, (long long)b->highest_fd, b->ready_expected,
          b->ready_reported, b->wrong_reported, b->register_ns / 1e9, b->wait_ns / 1e9);
      json_string(step_error(b->error));
      printf("}}");
    } else {
      printf("null}");
    }
  }
  printf("\n  ],\n  \"descriptors\": ");
  if (r->steps & XPOLL_PROBE_DESCRIPTORS) {
    printf("{\"opened\": %lld, \"seconds\": %.6f, \"bytes_each\": ", (long long)r->descriptors,
           r->descriptors_ns / 1e9);
    if (r->descriptor_bytes >= 0)
      printf("%lld", (long long)r->descriptor_bytes);
    else
      printf("null");
    printf(", \"stopped_by\": ");
    json_string(step_error(r->descriptors_error));
    printf("}");
  } else {
    printf("null");
  }
  printf(",\n  \"connections\": ");
  if (r->steps & XPOLL_PROBE_CONNECTIONS) {
    printf("{\"tried\": %lld, \"held\": %lld, \"seconds\": %.6f, \"bytes_each\": ", (long long)r->connections_tried,
           (long long)r->connections_held, r->connections_ns / 1e9);
    if (r->connection_bytes >= 0)
      printf("%lld", (long long)r->connection_bytes);
    else
      printf("null");
    printf(", \"first_error\": ");
    json_string(r->connections_error[0] ? r->connections_error : NULL);
    printf("}");
  } else {
    printf("null");
  }
  printf(",\n  \"target\": ");
  if (o->have_target) {
    printf("{\"connections\": %lld, \"backends\": [", o->target);
    first = 1;
    for (k = 0; k < nb; k++) {
      blocker_t bl[MAX_BLOCKERS];
      int n, j, c;
      if (o->backend && strcmp(o->backend, names[k])) continue;
      n = assess(u->sysname, l, names[k], o->target, bl);
      printf("%s\n    {\"name\": ", first ? "" : ",");
      first = 0;
      json_string(names[k]);
      printf(", \"reachable\": %s, \"blocked_by\": [", n ? "false" : "true");
      for (j = 0; j < n; j++) {
        printf("%s{\"limit\": \"%s\", \"value\": %lld, \"needed\": %lld, \"commands\": [", j ? ", " : "", bl[j].limit,
               (long long)bl[j].value, (long long)bl[j].needed);
        for (c = 0; c < bl[j].ncommands; c++) {
          printf("%s", c ? ", " : "");
          json_string(bl[j].commands[c]);
        }
        printf("]}");
      }
      printf("]}");
    }
    printf("\n  ]}");
  } else {
    printf("null");
  }
  printf("\n}\n");
}

int main(int argc, char **argv) {
  options_t o;
  xpoll_limits_t limits;
  xpoll_probe_options_t po;
  xpoll_probe_result_t r;
  raise_result_t rr;
  host_t u;
  const char *names[XPOLL_PROBE_MAX_BACKENDS];
  int nb, k, status, rc, progress;

  status = parse_args(argc, argv, &o);
  if (status >= 0) return status;
  read_host(&u);

  memset(&rr, 0, sizeof rr);
  if (o.raise) {
    rr.ran = 1;
    rr.rc = xpoll_raise_nofile(&rr.before, &rr.after);
  }
  memset(&limits, 0, sizeof limits);
  limits.size = sizeof limits;
  xpoll_read_limits(&limits);

  memset(&po, 0, sizeof po);
  po.size = sizeof po;
  if (o.measure) po.steps = XPOLL_PROBE_DESCRIPTORS | XPOLL_PROBE_BACKENDS;
  if (o.connections_on) po.steps |= XPOLL_PROBE_CONNECTIONS;
  po.max_descriptors = o.max_fds;
  po.connections = o.connections;
  po.timeout_ms = (int32_t)o.timeout_ms;
  po.ready = (int32_t)o.ready;
  po.backend = o.backend;
  progress = stderr_is_terminal();
  if (progress) po.progress = on_progress;
  memset(&r, 0, sizeof r);
  r.size = sizeof r;
  rc = po.steps ? xpoll_probe(&po, &r) : 0;
  end_progress(progress && po.steps);
  if (rc != 0) {
    fprintf(stderr, "xpoll-probe: the probe failed: %s\n", xpoll_strerror(rc));
    return EXIT_CHECK_FAILED;
  }

  nb = xpoll_backends(names, XPOLL_PROBE_MAX_BACKENDS);
  if (nb > XPOLL_PROBE_MAX_BACKENDS) nb = XPOLL_PROBE_MAX_BACKENDS;
  if (o.json)
    print_json(&u, &limits, &rr, &r, &o, nb, names);
  else
    print_table(&u, &limits, &rr, &r, &o, nb, names);

  status = EXIT_OK;
  for (k = 0; k < r.backend_count; k++)
    if (!r.backends[k].passed) status = EXIT_CHECK_FAILED;
  if (status == EXIT_OK && o.have_target) {
    for (k = 0; k < nb; k++) {
      blocker_t bl[MAX_BLOCKERS];
      if (o.backend && strcmp(o.backend, names[k])) continue;
      if (assess(u.sysname, &limits, names[k], o.target, bl) > 0) status = EXIT_TARGET_UNMET;
    }
  }
  return status;
}
