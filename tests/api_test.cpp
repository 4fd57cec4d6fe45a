// The parts of the API that do not depend on a backend: the registry, the
// XPOLL_BACKEND override, versions and error texts.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <set>
#include <string>

#include "support.hpp"

using namespace xpoll_test;

namespace {

// Sets an environment variable for the duration of a scope.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) {
    const char* old = getenv(name);
    if (old) old_ = old, had_ = true;
    setenv(name, value, 1);
  }
  ~EnvVar() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(Registry, ListsCompiledBackendsBestFirst) {
  auto names = compiled_backends();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(xpoll_backends(nullptr, 0), static_cast<int>(names.size()));
  EXPECT_EQ(xpoll_backends(nullptr, 1), XPOLL_EINVAL);
  EXPECT_EQ(xpoll_backends(nullptr, -1), XPOLL_EINVAL);
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
  const char* order[] = {"epoll", "kqueue", "iocp", "poll", "select"};
  // Best first: the compiled ones appear in the order of preference.
  size_t at = 0;
  for (const char* o : order)
    if (at < names.size() && names[at] == o) ++at;
  EXPECT_EQ(at, names.size()) << "backends out of preference order";
#if defined(__linux__)
  EXPECT_EQ(names.front(), "epoll");
  EXPECT_TRUE(unique.count("poll") && unique.count("select"));
#endif
}

TEST(Registry, BestIsFirstListed) {
  unsetenv("XPOLL_BACKEND");
  xpoll_t* p = nullptr;
  ASSERT_EQ(xpoll_create(&p, nullptr, 0), 0);
  EXPECT_EQ(std::string(xpoll_backend(p)), compiled_backends().front());
  xpoll_destroy(p);
}

TEST(Registry, UnknownOrUncompiledNameIsEnobackend) {
  xpoll_t* p = nullptr;
  EXPECT_EQ(xpoll_create(&p, "no-such-backend", 0), XPOLL_ENOBACKEND);
  EXPECT_EQ(xpoll_create(&p, "", 0), XPOLL_ENOBACKEND);
  EXPECT_EQ(xpoll_create(&p, "EPOLL", 0), XPOLL_ENOBACKEND);  // names are exact
  for (const char* n : {"epoll", "kqueue", "iocp", "poll", "select"}) {
    bool compiled = xpoll_backend_capabilities(n) >= 0;
    int rc = xpoll_create(&p, n, 0);
    if (compiled) {
      ASSERT_EQ(rc, 0) << n;
      xpoll_destroy(p);
    } else {
      EXPECT_EQ(rc, XPOLL_ENOBACKEND) << n;
      EXPECT_EQ(xpoll_backend_capabilities(n), XPOLL_ENOBACKEND);
      EXPECT_EQ(xpoll_backend_max_fd(n), XPOLL_ENOBACKEND);
    }
  }
  p = nullptr;
  EXPECT_EQ(xpoll_create(&p, "nope", 0), XPOLL_ENOBACKEND);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(xpoll_backend_capabilities(nullptr), XPOLL_EINVAL);
  EXPECT_EQ(xpoll_backend_max_fd(nullptr), XPOLL_EINVAL);
}

TEST(Registry, EnvironmentOverridesBest) {
  for (const std::string& name : compiled_backends()) {
    EnvVar env("XPOLL_BACKEND", name.c_str());
    xpoll_t* p = nullptr;
    ASSERT_EQ(xpoll_create(&p, nullptr, 0), 0);
    EXPECT_EQ(name, xpoll_backend(p));
    xpoll_destroy(p);
  }
  {
    EnvVar env("XPOLL_BACKEND", "no-such-backend");
    xpoll_t* p = nullptr;
    EXPECT_EQ(xpoll_create(&p, nullptr, 0), XPOLL_ENOBACKEND);
    // An explicit name is not overridden.
    ASSERT_EQ(xpoll_create(&p, "poll", 0), 0);
    EXPECT_STREQ(xpoll_backend(p), "poll");
    xpoll_destroy(p);
  }
  {
    EnvVar env("XPOLL_BACKEND", "");  // empty means unset
    xpoll_t* p = nullptr;
    ASSERT_EQ(xpoll_create(&p, nullptr, 0), 0);
    EXPECT_EQ(std::string(xpoll_backend(p)), compiled_backends().front());
    xpoll_destroy(p);
  }
}

TEST(Registry, MaxFdFollowsTheProcessLimit) {
  struct rlimit rl;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  for (const std::string& name : compiled_backends()) {
    long m = xpoll_backend_max_fd(name.c_str());
    EXPECT_GT(m, 0) << name;
    EXPECT_LE(m, static_cast<long>(rl.rlim_cur) - 1) << name;
    if (xpoll_backend_capabilities(name.c_str()) & XPOLL_CAP_UNBOUNDED)
      EXPECT_EQ(m, static_cast<long>(rl.rlim_cur) - 1) << name;
    else
      EXPECT_EQ(m, static_cast<long>(FD_SETSIZE) - 1) << name;
  }
}

TEST(Version, MatchesHeader) {
  EXPECT_EQ(xpoll_version(), XPOLL_VERSION);
  EXPECT_EQ(std::string(xpoll_version_string()), std::to_string(XPOLL_VERSION_MAJOR) + "." +
                                                     std::to_string(XPOLL_VERSION_MINOR) + "." +
                                                     std::to_string(XPOLL_VERSION_PATCH));
}

TEST(Errors, EveryCodeHasNameAndText) {
  std::set<std::string> names, texts;
  for (int code = XPOLL_EIO; code <= 0; ++code) {
    std::string n = xpoll_errname(code), t = xpoll_strerror(code);
    EXPECT_NE(n, "XPOLL_UNKNOWN") << code;
    EXPECT_NE(t, "unknown error") << code;
    names.insert(n);
    texts.insert(t);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(1 - XPOLL_EIO));
  EXPECT_EQ(texts.size(), names.size());
  EXPECT_STREQ(xpoll_errname(XPOLL_EBADF), "XPOLL_EBADF");
  EXPECT_STREQ(xpoll_errname(-1000), "XPOLL_UNKNOWN");
  EXPECT_STREQ(xpoll_strerror(7), "unknown error");
}

}  // namespace
