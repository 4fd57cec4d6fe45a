// Windows behaviour beyond the shared contract: what only Winsock and AFD
// do (listening sockets, failed connects, non-socket handles, handle values),
// on every Windows backend: Windows/Quirks.<Name>/<backend>.
#include <gtest/gtest.h>

#include <set>

#include "support.hpp"

using namespace xpoll_test;

namespace {

class Quirks : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_EQ(xpoll_create(&p_, GetParam().c_str(), 0), 0); }
  void TearDown() override { xpoll_destroy(p_); }
  xpoll_t* p_ = nullptr;
};

Fd listening_socket(sockaddr_in& addr) {
  Fd l(socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
  addr = sockaddr_in{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int len = sizeof addr;
  if (bind(static_cast<SOCKET>(l.get()), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(static_cast<SOCKET>(l.get()), SOMAXCONN) != 0 ||
      getsockname(static_cast<SOCKET>(l.get()), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return Fd();
  set_nonblocking(l.get());
  return l;
}

TEST_P(Quirks, EverySocketBackendIsSocketsOnly) {
  EXPECT_FALSE(xpoll_capabilities(p_) & XPOLL_CAP_NONSOCKET);
  EXPECT_TRUE(xpoll_capabilities(p_) & XPOLL_CAP_UNBOUNDED);  // no 64-socket cap
}

TEST_P(Quirks, NonSocketHandleIsEbadf) {
  HANDLE ev = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(xpoll_add(p_, reinterpret_cast<xpoll_fd_t>(ev), XPOLL_IN, 0), XPOLL_EBADF);
  EXPECT_EQ(xpoll_remove(p_, reinterpret_cast<xpoll_fd_t>(ev)), XPOLL_ENOENT);
  CloseHandle(ev);
}

TEST_P(Quirks, ValuesThatAreNoHandleAreEbadf) {
  Pair s = Pair::make();
  ASSERT_TRUE(s.a.valid());
  // Handles are multiples of 4; the kernel ignores the low bits, xpoll does not.
  EXPECT_EQ(xpoll_add(p_, s.a.get() | 1, XPOLL_IN, 0), XPOLL_EBADF);
  EXPECT_EQ(xpoll_add(p_, s.a.get() | 2, XPOLL_IN, 0), XPOLL_EBADF);
  EXPECT_EQ(xpoll_add(p_, INVALID_SOCKET, XPOLL_IN, 0), XPOLL_EBADF);
  EXPECT_EQ(xpoll_remove(p_, s.a.get()), XPOLL_ENOENT);
}

TEST_P(Quirks, ListenerIsReadableWhenAConnectionWaits) {
  sockaddr_in addr;
  Fd l = listening_socket(addr);
  ASSERT_TRUE(l.valid());
  ASSERT_EQ(xpoll_add(p_, l.get(), XPOLL_IN, 7), 0);
  EXPECT_FALSE(reported_now(p_, l.get()));
  Fd c(socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
  set_nonblocking(c.get());
  connect(static_cast<SOCKET>(c.get()), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  EXPECT_EQ(wait_for(p_, l.get(), XPOLL_IN), XPOLL_IN);
  Fd s(accept(static_cast<SOCKET>(l.get()), nullptr, nullptr));
  EXPECT_TRUE(s.valid());
  EXPECT_FALSE(reported_now(p_, l.get()));  // level-triggered: nothing left to accept
}

TEST_P(Quirks, ConnectIsReportedWritable) {
  sockaddr_in addr;
  Fd l = listening_socket(addr);
  ASSERT_TRUE(l.valid());
  Fd c(socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
  set_nonblocking(c.get());
  int rc = connect(static_cast<SOCKET>(c.get()), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ASSERT_TRUE(rc == 0 || WSAGetLastError() == WSAEWOULDBLOCK);
  ASSERT_EQ(xpoll_add(p_, c.get(), XPOLL_OUT, 1), 0);
  EXPECT_EQ(wait_for(p_, c.get(), XPOLL_OUT), XPOLL_OUT);
}

// A connect refused by the peer: select reports it in the except set and
// iocp through AFD_POLL_CONNECT_FAIL, both as XPOLL_ERR. WSAPoll did not
// report it at all before Windows 10 2004 (documented), so it is not held to it.
TEST_P(Quirks, FailedConnectIsAnError) {
  if (GetParam() == "poll") GTEST_SKIP() << "WSAPoll's failed-connect report depends on the Windows version";
  sockaddr_in addr;
  {
    Fd l = listening_socket(addr);  // a port that was just free, now closed again
    ASSERT_TRUE(l.valid());
  }
  Fd c(socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
  set_nonblocking(c.get());
  int rc = connect(static_cast<SOCKET>(c.get()), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ASSERT_TRUE(rc != 0 && WSAGetLastError() == WSAEWOULDBLOCK);
  ASSERT_EQ(xpoll_add(p_, c.get(), XPOLL_OUT, 1), 0);
  uint32_t ev = wait_for(p_, c.get(), XPOLL_ERR, 2000, 5);
  EXPECT_TRUE(ev & XPOLL_ERR) << "events 0x" << std::hex << ev;
}

// Pollers made and destroyed with many polls in flight: the memory the
// kernel writes into outlives its registration (iocp), and nothing leaks or
// crashes when the poller goes first.
TEST_P(Quirks, DestroyWithRegistrationsInFlight) {
  std::vector<Pair> pairs;
  for (int i = 0; i < 200; ++i) pairs.push_back(Pair::make());
  for (int round = 0; round < 5; ++round) {
    xpoll_t* q = nullptr;
    ASSERT_EQ(xpoll_create(&q, GetParam().c_str(), 0), 0);
    for (Pair& s : pairs) ASSERT_EQ(xpoll_add(q, s.a.get(), XPOLL_IN | XPOLL_OUT, 0), 0);
    wait_once(q, 0);
    for (size_t i = 0; i < pairs.size(); i += 2) ASSERT_EQ(xpoll_modify(q, pairs[i].a.get(), XPOLL_IN, 1), 0);
    xpoll_destroy(q);
  }
  // The sockets are still fine for a new poller.
  ASSERT_EQ(xpoll_add(p_, pairs.back().a.get(), XPOLL_IN, 9), 0);
  ASSERT_TRUE(send_byte(pairs.back().b.get()));
  EXPECT_EQ(wait_for(p_, pairs.back().a.get(), XPOLL_IN), XPOLL_IN);
}

// More sockets than one AFD handle carries (iocp groups 32), removed and
// added in a different order: every one is still reported.
TEST_P(Quirks, ManyGroupsChurn) {
  constexpr int kPairs = 150;
  std::vector<Pair> pairs;
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(Pair::make());
    ASSERT_EQ(xpoll_add(p_, pairs.back().a.get(), XPOLL_IN, static_cast<uint64_t>(i)), 0);
  }
  for (int i = 0; i < kPairs; i += 3) ASSERT_EQ(xpoll_remove(p_, pairs[i].a.get()), 0);
  wait_once(p_, 0);
  for (int i = 0; i < kPairs; i += 3) ASSERT_EQ(xpoll_add(p_, pairs[i].a.get(), XPOLL_IN, static_cast<uint64_t>(i)), 0);
  for (Pair& s : pairs) ASSERT_TRUE(send_byte(s.b.get()));
  std::set<uint64_t> seen;
  for (int r = 0; r < 20 && seen.size() < kPairs; ++r)
    for (const auto& e : wait_once(p_, 1000, 64)) seen.insert(e.data);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kPairs));
}

std::string backend_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }
INSTANTIATE_TEST_SUITE_P(Windows, Quirks, ::testing::ValuesIn(compiled_backends()), backend_name);

}  // namespace
