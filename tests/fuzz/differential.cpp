// Differential fuzzing of every compiled backend against a reference model
// of the contract. An input is decoded into operations on four socket pairs
// (a[i] is what the pollers watch, b[i] its peer): add, modify and remove
// with any flags; write, drain, fill, shut down or close an end; and waits
// with a time-out of 0 and a small array. Every backend gets the same
// operations, on the same descriptors, and after each wait reports exactly
// what the model allows, or the run aborts with a readable trace.
//
// Compared: the XPOLL_IN and XPOLL_OUT bits of level and oneshot
// registrations (ERR, HUP and RDHUP differ by documented capability; edge
// mode is left to the contract suite, as its edges depend on kernel details),
// the error code of every call, and the number of events of every wait.
//
// Built with libFuzzer (clang, -DXPOLL_FUZZ=ON) as xpoll_fuzz, and without it
// as fuzz_replay, which runs the committed corpus as an ordinary test.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "xpoll/xpoll.h"

namespace {

constexpr int kPairs = 4;

struct Slot {
  bool registered = false;
  bool dead = false;     // our end closed while registered
  uint32_t interest = 0; // IN/OUT
  bool oneshot = false;
};

struct Kernel {  // what the model knows of each pair
  int a = -1, b = -1;
  size_t unread = 0;     // bytes waiting in a
  bool a_full = false;   // a's sending side filled until EAGAIN
  bool b_shut = false;   // b shut down its writing side
  bool b_closed = false;
  bool a_closed = false;
};

struct Backend {
  std::string name;
  xpoll_t* p = nullptr;
  bool hangup = false;  // XPOLL_CAP_HANGUP: a closed peer is reported even with no interest
  Slot slot[kPairs];
  bool armed[kPairs] = {};
};

// The backends to compare: every compiled one, or those named in
// $XPOLL_FUZZ_BACKENDS (the long run leaves out libkqueue, whose kqueue()
// costs half a millisecond; the corpus replay runs it).
std::vector<std::string> backend_names() {
  std::vector<std::string> out;
  const char* names[8];
  int n = xpoll_backends(names, 8);
  const char* only = getenv("XPOLL_FUZZ_BACKENDS");
  for (int i = 0; i < n && i < 8; ++i)
    if (!only || strstr(only, names[i])) out.push_back(names[i]);
  return out;
}

std::string g_trace;

void trace(const char* fmt, ...) {
  char buf[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  g_trace += buf;
  g_trace += '\n';
}

[[noreturn]] void fail(const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "differential fuzz: MISMATCH: %s\noperations so far:\n%s", buf, g_trace.c_str());
  abort();
}

uint32_t readiness(const Kernel& k) {
  if (k.a_closed) return 0;
  uint32_t r = 0;
  if (k.unread > 0 || k.b_shut || k.b_closed) r |= XPOLL_IN;
  if (!k.a_full || k.b_closed) r |= XPOLL_OUT;
  return r;
}

class Run {
 public:
  // Fresh pollers for every input, so that any failure replays alone.
  Run() {
    static const std::vector<std::string> names = backend_names();
    for (const std::string& name : names) {
      Backend b;
      b.name = name;
      b.hangup = (xpoll_backend_capabilities(name.c_str()) & XPOLL_CAP_HANGUP) != 0;
      if (xpoll_create(&b.p, name.c_str(), 0) != 0) fail("cannot create %s", name.c_str());
      backends_.push_back(b);
    }
    for (Kernel& k : pairs_) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) fail("socketpair: %d", errno);
      for (int fd : sv) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      k.a = sv[0];
      k.b = sv[1];
    }
  }
  ~Run() {
    for (Backend& b : backends_) xpoll_destroy(b.p);
    for (Kernel& k : pairs_) {
      if (!k.a_closed) close(k.a);
      if (!k.b_closed) close(k.b);
    }
  }

  void step(uint8_t op, uint8_t arg) {
    int i = arg % kPairs;
    Kernel& k = pairs_[i];
    uint32_t mask = ((arg >> 2) & 1 ? XPOLL_IN : 0) | ((arg >> 3) & 1 ? XPOLL_OUT : 0);
    bool oneshot = (arg >> 4) & 1;
    switch (op % 10) {
      case 0: registration('a', i, mask, oneshot); break;
      case 1: registration('m', i, mask, oneshot); break;
      case 2: registration('r', i, 0, false); break;
      case 3:
        if (!k.b_closed && !k.b_shut && send(k.b, "x", 1, MSG_NOSIGNAL) == 1) {
          ++k.unread;
          trace("write b%d", i);
        }
        break;
      case 4:
        if (!k.a_closed) {
          char buf[4096];
          while (read(k.a, buf, sizeof buf) > 0) {
          }
          k.unread = 0;
          trace("drain a%d", i);
        }
        break;
      case 5:
        if (!k.a_closed && !k.b_closed && !k.a_full) {
          char buf[4096] = {};
          while (send(k.a, buf, sizeof buf, MSG_NOSIGNAL) > 0) {
          }
          k.a_full = true;
          trace("fill a%d", i);
        }
        break;
      case 6:
        if (!k.b_closed && k.a_full) {
          char buf[4096];
          while (read(k.b, buf, sizeof buf) > 0) {
          }
          k.a_full = false;
          trace("drain b%d", i);
        }
        break;
      case 7:
        if (!k.b_closed && !k.b_shut) {
          shutdown(k.b, SHUT_WR);
          k.b_shut = true;
          trace("shutdown b%d", i);
        }
        break;
      case 8:
        if ((arg >> 5) & 1) {
          if (!k.a_closed) {
            close(k.a);
            k.a_closed = true;
            for (Backend& b : backends_)
              if (b.slot[i].registered) b.slot[i].dead = true;
            trace("close a%d", i);
          }
        } else if (!k.b_closed) {
          close(k.b);
          k.b_closed = true;
          trace("close b%d", i);
        }
        break;
      default:
        wait(1 + (arg & 3));
        break;
    }
  }

 private:
  // add, modify or remove on every backend, with the code the model expects.
  void registration(char what, int i, uint32_t mask, bool oneshot) {
    Kernel& k = pairs_[i];
    uint32_t flags = mask | (oneshot ? XPOLL_ONESHOT : 0);
    // A closed number may be taken again, here by a poller's own descriptors
    // (kqueue under libkqueue makes a fresh kqueue when a removed number no
    // longer names its file): adding it then is no longer the model's case.
    if (what == 'a' && k.a_closed && fcntl(k.a, F_GETFD) != -1) {
      trace("add a%d skipped: its number was taken again", i);
      return;
    }
    trace("%s a%d %s%s%s", what == 'a' ? "add" : what == 'm' ? "modify" : "remove", i, mask & XPOLL_IN ? "IN" : "",
          mask & XPOLL_OUT ? "OUT" : "", oneshot ? " ONESHOT" : "");
    for (Backend& b : backends_) {
      Slot& s = b.slot[i];
      int want, got;
      if (what == 'a') {
        want = s.registered ? XPOLL_EEXIST : k.a_closed ? XPOLL_EBADF : 0;
        got = xpoll_add(b.p, k.a, flags, static_cast<uint64_t>(i));
      } else if (what == 'm') {
        want = s.registered ? 0 : XPOLL_ENOENT;
        got = xpoll_modify(b.p, k.a, flags, static_cast<uint64_t>(i));
      } else {
        want = s.registered ? 0 : XPOLL_ENOENT;
        got = xpoll_remove(b.p, k.a);
      }
      if (got != want) fail("%s: got %s, the model says %s", b.name.c_str(), xpoll_errname(got), xpoll_errname(want));
      if (got != 0) continue;
      if (what == 'r') {
        s = Slot{};
      } else {
        if (what == 'a') s.dead = false;
        s.registered = true;
        s.interest = mask;
        s.oneshot = oneshot;
        b.armed[i] = true;
      }
    }
  }

  void wait(int max) {
    trace("wait max %d", max);
    for (Backend& b : backends_) {
      int eligible = 0;
      uint32_t expect[kPairs];
      bool reportable[kPairs] = {};
      for (int i = 0; i < kPairs; ++i) {
        const Slot& s = b.slot[i];
        expect[i] = 0;
        if (!s.registered || s.dead || !b.armed[i]) continue;
        expect[i] = readiness(pairs_[i]) & s.interest;
        bool hung_up = b.hangup && pairs_[i].b_closed && !pairs_[i].a_closed;
        if (expect[i] || hung_up) ++eligible;
        reportable[i] = expect[i] || hung_up;
      }
      xpoll_event_t ev[4];
      int n = xpoll_wait(b.p, ev, max, 0);
      int want = eligible < max ? eligible : max;
      if (n != want) fail("%s: wait reported %d, the model says %d", b.name.c_str(), n, want);
      for (int e = 0; e < n; ++e) {
        uint64_t i = ev[e].data;
        if (i >= kPairs || ev[e].fd != pairs_[i].a) fail("%s: unknown event (data %llu)", b.name.c_str(), (unsigned long long)i);
        uint32_t got = ev[e].events & (XPOLL_IN | XPOLL_OUT);
        if (!reportable[i]) fail("%s: a%llu reported, the model says it is not", b.name.c_str(), (unsigned long long)i);
        if (got != expect[i])
          fail("%s: a%llu reported %#x, the model says %#x", b.name.c_str(), (unsigned long long)i, got, expect[i]);
        reportable[i] = false;  // reported twice in one wait fails here
        if (b.slot[i].oneshot) b.armed[i] = false;
      }
    }
  }

  std::vector<Backend> backends_;
  Kernel pairs_[kPairs];
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool init = [] {
    signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)init;
  g_trace.clear();
  Run run;
  for (size_t i = 0; i + 1 < size && i < 512; i += 2) run.step(data[i], data[i + 1]);
  return 0;
}

#if !defined(XPOLL_LIBFUZZER)
// Without libFuzzer: replay every file named on the command line.
int main(int argc, char** argv) {
  int runs = 0;
  for (int a = 1; a < argc; ++a) {
    FILE* f = fopen(argv[a], "rb");
    if (!f) {
      fprintf(stderr, "cannot open %s\n", argv[a]);
      return 2;
    }
    std::vector<uint8_t> buf(4096);
    size_t n = fread(buf.data(), 1, buf.size(), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf.data(), n);
    ++runs;
  }
  printf("replayed %d input(s) on every backend with no mismatch\n", runs);
  return runs > 0 ? 0 : 2;
}
#endif
