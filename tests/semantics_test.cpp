// Checks the event table of docs/semantics.md against every compiled
// backend: each row is a scenario run for real, each cell the exact events
// the first report carries ("none" for nothing within 200 ms, "ENOTSUP" when
// the backend refuses the interest). The documentation cannot drift from
// what the backends do.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <fstream>
#include <map>
#include <sstream>

#include "support.hpp"

using namespace xpoll_test;

namespace {

struct Row {
  std::string scenario;
  uint32_t interest = 0;
  std::map<std::string, std::string> expect;  // backend -> cell
};

std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string c;
  std::getline(ss, c, '|');  // before the first bar
  while (std::getline(ss, c, '|')) {
    size_t a = c.find_first_not_of(" `"), b = c.find_last_not_of(" `");
    out.push_back(a == std::string::npos ? "" : c.substr(a, b - a + 1));
  }
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

uint32_t parse_mask(const std::string& s) {
  if (s == "none" || s == "0") return 0;
  uint32_t m = 0;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, '+')) {
    if (t == "IN") m |= XPOLL_IN;
    else if (t == "OUT") m |= XPOLL_OUT;
    else if (t == "ERR") m |= XPOLL_ERR;
    else if (t == "HUP") m |= XPOLL_HUP;
    else if (t == "RDHUP") m |= XPOLL_RDHUP;
    else ADD_FAILURE() << "unknown event name '" << t << "' in docs/semantics.md";
  }
  return m;
}

std::vector<Row> read_table() {
  std::ifstream f(XPOLL_SEMANTICS_DOC);
  std::vector<Row> rows;
  std::vector<std::string> header;
  bool in = false;
  for (std::string line; std::getline(f, line);) {
    if (line.find("<!-- events-table -->") != std::string::npos) in = true;
    else if (line.find("<!-- /events-table -->") != std::string::npos) in = false;
    if (!in || line.rfind("|", 0) != 0 || line.find("---") != std::string::npos) continue;
    auto c = cells(line);
    if (header.empty()) {
      header = c;
      continue;
    }
    Row r;
    r.scenario = c.at(0);
    r.interest = parse_mask(c.at(1));
    for (size_t i = 3; i < c.size() && i < header.size(); ++i) r.expect[header[i]] = c[i];
    rows.push_back(r);
  }
  return rows;
}

// Runs one scenario; returns the events of the first report (0 if none), or
// the error of the add.
int observe(const std::string& backend, const Row& row) {
  xpoll_t* p = nullptr;
  if (xpoll_create(&p, backend.c_str(), 0) != 0) return XPOLL_EIO;
  struct Closer {
    xpoll_t* p;
    ~Closer() { xpoll_destroy(p); }
  } closer{p};
  const std::string& s = row.scenario;
  Pair pair;
  Fd pr, pw, tcp;
  int fd = -1;
  if (s == "pipe-writer-closed") {
    int fds[2];
    if (pipe(fds) != 0) return XPOLL_EIO;
    pr = Fd(fds[0]);
    pw = Fd(fds[1]);
    fd = pr.get();
  } else if (s == "connect-refused") {
    // A port that was just listening and is closed: the connect is refused.
    Fd l(socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(l.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return XPOLL_EIO;
    l.reset();
    tcp = Fd(socket(AF_INET, SOCK_STREAM, 0));
    set_nonblocking(tcp.get());
    connect(tcp.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    fd = tcp.get();
  } else {
    pair = Pair::make();
    fd = pair.a.get();
  }
  int rc = xpoll_add(p, fd, row.interest, 1);
  if (rc != 0) return rc;
  if (s == "data") send_byte(pair.b.get());
  if (s == "peer-close" || s == "peer-close-plain" || s == "hangup-only") pair.b.reset();
  if (s == "peer-shutdown") shutdown(pair.b.get(), SHUT_WR);
  if (s == "pipe-writer-closed") pw.reset();
  if (s == "closed-while-registered") {
    send_byte(pair.b.get());
    pair.a.reset();
  }
  auto ev = wait_once(p, 200, 4);
  return ev.empty() ? 0 : static_cast<int>(ev[0].events);
}

TEST(Semantics, DocumentedTableMatchesEveryBackend) {
  auto rows = read_table();
  ASSERT_GE(rows.size(), 8u) << "no table found in " << XPOLL_SEMANTICS_DOC;
  int checked = 0;
  for (const std::string& backend : compiled_backends()) {
    for (const Row& row : rows) {
      auto it = row.expect.find(backend);
      ASSERT_NE(it, row.expect.end()) << "docs/semantics.md has no column for " << backend;
      int got = observe(backend, row);
      if (it->second == "ENOTSUP") {
        EXPECT_EQ(got, XPOLL_ENOTSUP) << backend << ", " << row.scenario;
      } else {
        EXPECT_GE(got, 0) << backend << ", " << row.scenario << ": " << xpoll_errname(got);
        EXPECT_EQ(static_cast<uint32_t>(got), parse_mask(it->second)) << backend << ", " << row.scenario;
      }
      ++checked;
    }
  }
  std::printf("checked %d cells of docs/semantics.md\n", checked);
}

}  // namespace
