// The C++ layer (xpoll.hpp), tested like the C API it wraps.
#include <gtest/gtest.h>

#include <thread>

#include "support.hpp"
#include "xpoll/xpoll.hpp"

using namespace xpoll_test;

namespace {

class Cpp : public ::testing::TestWithParam<std::string> {};

TEST_P(Cpp, RoundTripWithErrorCodes) {
  std::error_code ec;
  xpoll::Poller p(GetParam().c_str(), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(p);
  EXPECT_EQ(GetParam(), p.backend());
  Pair s = Pair::make();
  EXPECT_FALSE(p.add(s.a.get(), XPOLL_IN, 5));
  std::error_code again = p.add(s.a.get(), XPOLL_IN, 5);
  EXPECT_EQ(again, xpoll::errc::already_registered);
  EXPECT_EQ(again, std::errc::file_exists);
  EXPECT_EQ(again.category().name(), std::string("xpoll"));
  EXPECT_EQ(again.message(), xpoll_strerror(XPOLL_EEXIST));
  EXPECT_EQ(p.remove(-1), std::errc::bad_file_descriptor);
  ASSERT_TRUE(send_byte(s.b.get()));
  std::array<xpoll::Event, 8> buf;
  auto ev = p.wait(buf, 2000, ec);
  ASSERT_FALSE(ec);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, 5u);
  for (const xpoll::Event& e : ev) EXPECT_EQ(e.fd, s.a.get());
  EXPECT_FALSE(p.modify(s.a.get(), XPOLL_OUT, 6));
  std::vector<xpoll::Event> vbuf(4);
  ev = p.wait(vbuf, 2000, ec);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].events, XPOLL_OUT);
  EXPECT_FALSE(p.remove(s.a.get()));
  EXPECT_EQ(p.remove(s.a.get()), xpoll::errc::not_registered);
  ev = p.wait(buf.data(), 0, 0, ec);  // an empty buffer is an invalid argument
  EXPECT_EQ(ec, xpoll::errc::invalid_argument);
  EXPECT_TRUE(ev.empty());
}

TEST_P(Cpp, MoveTransfersOwnershipAndWakeWorks) {
  xpoll::Poller a(GetParam().c_str());
  xpoll_t* raw = a.native();
  xpoll::Poller b(std::move(a));
  EXPECT_FALSE(a);
  EXPECT_EQ(b.native(), raw);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    b.wake();
  });
  std::array<xpoll::Event, 2> buf;
  std::error_code ec;
  auto ev = b.wait(buf, 5000, ec);
  t.join();
  EXPECT_FALSE(ec);
  EXPECT_TRUE(ev.empty());
  xpoll::Poller c;
  c = std::move(b);
  EXPECT_EQ(c.native(), raw);
}

TEST(CppApi, UnknownBackendThrowsOrSetsCode) {
  EXPECT_THROW(xpoll::Poller("no-such-backend"), std::system_error);
  std::error_code ec;
  xpoll::Poller p("no-such-backend", ec);
  EXPECT_EQ(ec, xpoll::errc::no_backend);
  EXPECT_FALSE(p);
  EXPECT_EQ(xpoll::Poller::backends(), compiled_backends());
}

std::string backend_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }
INSTANTIATE_TEST_SUITE_P(Backends, Cpp, ::testing::ValuesIn(compiled_backends()), backend_name);

}  // namespace
