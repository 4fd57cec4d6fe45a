// The probe's connection step: loopback TCP connections held concurrently,
// one byte echoed on each, driven by one poller. Each registration's data
// names the socket's role and state and its position among the step's
// sockets; a client goes from connecting to waiting for its echo, after
// which it is held (open, no longer watched) until the end.
#include <cstdio>
#include <vector>

#include "probe/limits.hpp"
#include "probe/probe.hpp"
#include "probe/socket.hpp"

namespace xpoll::detail::probe {

namespace {

class Connections {
 public:
  Connections(const xpoll_probe_options_t& o, xpoll_probe_result_t& r) : o_(o), r_(r) {}

  // Opens up to `n` connections, at most 128 in flight, until each has
  // echoed or failed, or nothing happened for the time-out.
  void run(int64_t n);

 private:
  enum class State : uint64_t { kListening = 0, kConnecting = 1, kAwaitingEcho = 2, kEchoing = 3 };
  static uint64_t tag(State s, size_t i) { return (static_cast<uint64_t>(s) << 32) | i; }

  bool setup();
  bool loop(int64_t n, xpoll_event_t (&ev)[256]);
  void open_one();
  void send_ping(Socket s, size_t i);
  void handle(const xpoll_event_t& e);
  void accept_all();
  void on_connect(Socket s, size_t i, uint32_t events);
  void on_echo(Socket s);

  void note_error(const char* name) {
    if (!r_.connections_error[0]) std::snprintf(r_.connections_error, sizeof r_.connections_error, "%s", name);
  }
  // A failure that ends the step.
  void stop_with(const char* name) {
    note_error(name);
    stop_ = true;
  }
  // A connection that failed after it was opened.
  void failed(const char* name) {
    note_error(name);
    ++failed_;
  }
  // The same, and no longer watched.
  void lost(Socket s, const char* name) {
    xpoll_remove(poller_.p, s);
    failed(name);
  }

  const xpoll_probe_options_t& o_;
  xpoll_probe_result_t& r_;
  SocketSet socks_;  // every socket of the step, closed last
  PollerHolder poller_;
  Socket listener_ = kNoSocket;
  Socket reserve_ = kNoSocket;  // kept back so that memory can be read at the limit
  uint16_t port_ = 0;
  Clock::time_point last_;  // of the last event
  int64_t attempts_ = 0, opened_ = 0, held_ = 0, failed_ = 0;
  bool stop_ = false;
};

void Connections::run(int64_t n) {
  if (!setup()) return;
  int64_t mem0 = memory_now();
  auto t0 = Clock::now();
  last_ = t0;
  xpoll_event_t ev[256];
  while (loop(n, ev)) {
  }
  r_.connections_ns = ns_since(t0);
  if (reserve_ != kNoSocket) close_socket(reserve_);
  reserve_ = kNoSocket;
  r_.connections_tried = attempts_;
  r_.connections_held = held_;
  r_.connection_bytes = per_item(mem0, memory_now(), held_);
  Progress{o_}("connections", held_, n);
}

// One round: opens what may be opened, then waits and handles what it
// reports. False when the step is over.
bool Connections::loop(int64_t n, xpoll_event_t (&ev)[256]) {
  while (!stop_ && opened_ < n && opened_ - held_ - failed_ < 128) open_one();
  if ((stop_ || opened_ >= n) && held_ + failed_ >= opened_) return false;
  int got = xpoll_wait(poller_.p, ev, 256, 100);
  if (got < 0 && got != XPOLL_EINTR) {
    note_error(xpoll_errname(got));
    return false;
  }
  if (got <= 0) {
    // After the limit was met, pending connections may never finish.
    int idle_limit = o_.timeout_ms > 0 ? o_.timeout_ms : 5000;
    int64_t idle = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_).count();
    if (idle <= (stop_ ? 300 : idle_limit)) return true;
    note_error("ETIMEDOUT");
    return false;
  }
  last_ = Clock::now();
  for (int i = 0; i < got; ++i) handle(ev[i]);
  if (held_ % 1024 == 0) Progress{o_}("connections", held_, n);
  return true;
}

bool Connections::setup() {
  int rc = xpoll_create(&poller_.p, o_.backend, 0);
  if (rc != 0) {
    note_error(xpoll_errname(rc));
    return false;
  }
  Socket l = open_stream();
  if (l == kNoSocket) {
    stop_with(error_name(last_error()));
    return false;
  }
  socks_.all().push_back(l);
  int err = listen_loopback(l, port_);
  if (err != 0) {
    stop_with(error_name(err));
    return false;
  }
  listener_ = l;
  reserve_ = keep_back(l);
  return xpoll_add(poller_.p, l, XPOLL_IN, tag(State::kListening, 0)) == 0;
}

void Connections::open_one() {
  ++attempts_;
  Socket s = open_stream();
  if (s == kNoSocket) {
    stop_with(error_name(last_error()));
    return;
  }
  size_t i = socks_.size();
  socks_.all().push_back(s);
  int rc = connect_loopback(s, port_);
  if (rc == 0) {
    send_ping(s, i);
  } else if (rc < 0) {
    rc = xpoll_add(poller_.p, s, XPOLL_OUT, tag(State::kConnecting, i));
    if (rc != 0) stop_with(xpoll_errname(rc));
  } else {
    stop_with(error_name(rc));
    socks_.close_from(i);  // a connection that never was
    return;
  }
  ++opened_;
}

void Connections::send_ping(Socket s, size_t i) {
  int rc = xpoll_modify(poller_.p, s, XPOLL_IN, tag(State::kAwaitingEcho, i));
  if (rc == XPOLL_ENOENT) rc = xpoll_add(poller_.p, s, XPOLL_IN, tag(State::kAwaitingEcho, i));
  if (rc != 0)
    failed(xpoll_errname(rc));
  else if (send_byte(s, 'x') != 1)
    failed(error_name(last_error()));
}

void Connections::handle(const xpoll_event_t& e) {
  size_t i = static_cast<size_t>(e.data & 0xffffffffu);
  char c;
  switch (static_cast<State>(e.data >> 32)) {
    case State::kListening: accept_all(); break;
    case State::kConnecting: on_connect(e.fd, i, e.events); break;
    case State::kAwaitingEcho: on_echo(e.fd); break;
    case State::kEchoing:
      if (read_byte(e.fd, &c) == 1) send_byte(e.fd, c);
      xpoll_remove(poller_.p, e.fd);
      break;
  }
}

void Connections::accept_all() {
  for (int k = 0; k < 256; ++k) {
    Socket s = accept_one(listener_);
    if (s == kNoSocket) {
      int err = last_error();
      if (!would_block(err)) {
        // A full descriptor table leaves the connection queued and the
        // listener readable: stop watching it rather than spin.
        stop_with(error_name(err));
        xpoll_remove(poller_.p, listener_);
      }
      return;
    }
    size_t j = socks_.size();
    socks_.all().push_back(s);
    xpoll_add(poller_.p, s, XPOLL_IN, tag(State::kEchoing, j));
  }
}

void Connections::on_connect(Socket s, size_t i, uint32_t events) {
  int err = connect_error(s, events);
  if (err != 0)
    lost(s, error_name(err));
  else
    send_ping(s, i);
}

void Connections::on_echo(Socket s) {
  char c;
  int n = read_byte(s, &c);
  if (n == 1 && c == 'x') {
    xpoll_remove(poller_.p, s);  // held: stays open until the end
    ++held_;
  } else if (n == 0) {
    lost(s, "ECONNRESET");
  } else if (n < 0 && !would_block(last_error())) {
    lost(s, error_name(last_error()));
  }
}

}  // namespace

void probe_connections(const xpoll_probe_options_t& o, xpoll_probe_result_t& r) {
  Connections c(o, r);
  c.run(o.connections > 0 ? o.connections : connections_default(current_limits()));
}

}  // namespace xpoll::detail::probe
