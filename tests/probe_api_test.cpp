// The probe's C API: xpoll_read_limits, xpoll_raise_nofile, xpoll_probe.
// Measurements run in forked children whose descriptor limit was lowered.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstring>
#include <functional>
#include <vector>

#include "support.hpp"

using namespace xpoll_test;

namespace {

int open_descriptors() {
  int n = 0;
  for (int fd = 0; fd < 4096; ++fd)
    if (fcntl(fd, F_GETFD) != -1) ++n;
  return n;
}

// Runs f in a forked child with RLIMIT_NOFILE (soft, hard); f's return is the exit code.
int in_child(rlim_t soft, rlim_t hard, const std::function<int()>& f) {
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit rl = {soft, hard};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(100);
    _exit(f());
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

xpoll_probe_options_t options(uint32_t steps) {
  xpoll_probe_options_t o;
  std::memset(&o, 0, sizeof o);
  o.size = sizeof o;
  o.steps = steps;
  return o;
}

TEST(Limits, MatchGetrlimitAndNameTheirSources) {
  xpoll_limits_t l;
  std::memset(&l, 0, sizeof l);
  l.size = sizeof l;
  ASSERT_EQ(xpoll_read_limits(&l), 0);
  struct rlimit rl;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  EXPECT_EQ(l.nofile_soft.value, static_cast<int64_t>(rl.rlim_cur));
  EXPECT_STREQ(l.nofile_soft.source, "getrlimit(RLIMIT_NOFILE)");
  EXPECT_EQ(l.fd_setsize.value, FD_SETSIZE);
  EXPECT_GE(l.open_now.value, 3);
#if defined(__linux__)
  EXPECT_STREQ(l.nr_open.source, "/proc/sys/fs/nr_open");
  EXPECT_GT(l.nr_open.value, 0);
  EXPECT_EQ(l.maxfilesperproc.source, nullptr);  // a BSD limit: does not apply here
  EXPECT_EQ(l.maxfilesperproc.value, XPOLL_LIMIT_UNKNOWN);
#endif
}

TEST(Limits, BadInputAndOlderCallers) {
  EXPECT_EQ(xpoll_read_limits(nullptr), XPOLL_EINVAL);
  xpoll_limits_t l;
  std::memset(&l, 0xab, sizeof l);
  l.size = 4;
  EXPECT_EQ(xpoll_read_limits(&l), XPOLL_EINVAL);
  // A caller that knows only the first fields gets those and nothing past them.
  l.size = offsetof(xpoll_limits_t, nr_open);
  ASSERT_EQ(xpoll_read_limits(&l), 0);
  EXPECT_EQ(l.size, offsetof(xpoll_limits_t, nr_open));
  EXPECT_STREQ(l.nofile_hard.source, "getrlimit(RLIMIT_NOFILE)");
  unsigned char past[sizeof(xpoll_limit_t)];
  std::memset(past, 0xab, sizeof past);
  EXPECT_EQ(std::memcmp(&l.nr_open, past, sizeof past), 0);
}

TEST(Raise, GoesToTheHardLimitInAChild) {
  int rc = in_child(100, 400, [] {
    int64_t before = 0, after = 0;
    if (xpoll_raise_nofile(&before, &after) != 0) return 1;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (before != 100 || after != 400 || rl.rlim_cur != 400) return 2;
    // Already there: succeeds and changes nothing.
    if (xpoll_raise_nofile(&before, nullptr) != 0 || before != 400) return 3;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Probe, BadInputIsEinvalOrEnobackend) {
  xpoll_probe_options_t o = options(XPOLL_PROBE_DESCRIPTORS);
  xpoll_probe_result_t r;
  std::memset(&r, 0, sizeof r);
  r.size = sizeof r;
  EXPECT_EQ(xpoll_probe(nullptr, &r), XPOLL_EINVAL);
  EXPECT_EQ(xpoll_probe(&o, nullptr), XPOLL_EINVAL);
  o.size = 8;
  EXPECT_EQ(xpoll_probe(&o, &r), XPOLL_EINVAL);
  o = options(0x80);
  EXPECT_EQ(xpoll_probe(&o, &r), XPOLL_EINVAL);
  o = options(XPOLL_PROBE_DESCRIPTORS);
  o.max_descriptors = -1;
  EXPECT_EQ(xpoll_probe(&o, &r), XPOLL_EINVAL);
  o = options(XPOLL_PROBE_DESCRIPTORS);
  o.backend = "no-such-backend";
  EXPECT_EQ(xpoll_probe(&o, &r), XPOLL_ENOBACKEND);
  r.size = 16;
  o = options(XPOLL_PROBE_DESCRIPTORS);
  EXPECT_EQ(xpoll_probe(&o, &r), XPOLL_EINVAL);
}

TEST(Probe, MeasuresTheLimitAndClosesEverything) {
  int rc = in_child(300, 300, [] {
    // One poller of each backend is held open throughout: an emulation
    // (libkqueue) opens descriptors of its own with its first kqueue and
    // closes them some time after its last, which would blur the count.
    std::vector<xpoll_t*> held;
    for (const std::string& name : compiled_backends()) {
      xpoll_t* p = nullptr;
      if (xpoll_create(&p, name.c_str(), 0) != 0) return 10;
      held.push_back(p);
    }
    int before = open_descriptors();
    xpoll_probe_options_t o = options(XPOLL_PROBE_DESCRIPTORS | XPOLL_PROBE_BACKENDS | XPOLL_PROBE_CONNECTIONS);
    o.connections = 1000;  // more than fit: stops at EMFILE
    xpoll_probe_result_t r;
    std::memset(&r, 0, sizeof r);
    r.size = sizeof r;
    if (xpoll_probe(&o, &r) != 0) return 1;
    if (open_descriptors() != before) return 2;  // everything opened was closed
    for (xpoll_t* p : held) xpoll_destroy(p);
    if (r.descriptors < 300 - before - 2 || r.descriptors > 300 - before) return 3;
    // (The held pollers' descriptors count in `before`: the probe had the rest.)
    if (r.descriptors_error != XPOLL_EMFILE) return 4;
    if (r.backend_count != static_cast<int>(compiled_backends().size())) return 5;
    for (int i = 0; i < r.backend_count; ++i)
      if (!r.backends[i].passed || r.backends[i].ready_reported != 16) return 6;
    if (std::strcmp(r.connections_error, "EMFILE") != 0 || r.connections_held < 100) return 7;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Probe, NoMemoryFigureFromASmallSample) {
  int rc = in_child(4000, 4000, [] {
    xpoll_probe_options_t o = options(XPOLL_PROBE_DESCRIPTORS | XPOLL_PROBE_CONNECTIONS);
    o.max_descriptors = 300;
    o.connections = 200;
    xpoll_probe_result_t r;
    std::memset(&r, 0, sizeof r);
    r.size = sizeof r;
    if (xpoll_probe(&o, &r) != 0) return 1;
    if (r.descriptors != 300 || r.connections_held != 200) return 2;
    // Hundreds read anywhere from 261 to 1,289 bytes each: no figure at all.
    if (r.descriptor_bytes != XPOLL_LIMIT_UNKNOWN || r.connection_bytes != XPOLL_LIMIT_UNKNOWN) return 3;
#if defined(__linux__)
    o = options(XPOLL_PROBE_DESCRIPTORS);
    o.max_descriptors = 2000;
    if (xpoll_probe(&o, &r) != 0 || r.descriptors != 2000) return 4;
    if (r.descriptor_bytes < 0) return 5;  // enough of a sample, and /proc says
#endif
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

}  // namespace
