// The AFD helper handles of the IOCP backend, each shared by up to 32
// sockets.
//
// Every poll request is sent to a handle opened on \Device\Afd (afd.hpp) and
// completes through the port that handle is associated with. Sockets are
// grouped 32 to a handle, as wepoll and mio do, so that no one handle carries
// thousands of polls, and there is no fixed cap on sockets. A group keeps its
// handle until the backend goes, also when its last socket has left it.
#ifndef XPOLL_SRC_BACKENDS_IOCP_GROUPS_HPP
#define XPOLL_SRC_BACKENDS_IOCP_GROUPS_HPP

#include <memory>
#include <vector>

#include "backends/windows/iocp/afd.hpp"

namespace xpoll::detail::iocp {

struct Group {
  HANDLE helper = nullptr;  // the AFD handle the group's polls are sent to
  int users = 0;            // sockets in the group
};

class Groups {
 public:
  Groups() = default;
  Groups(const Groups&) = delete;
  Groups& operator=(const Groups&) = delete;
  ~Groups() { close(); }

  // A place in a group with room, opening a new helper handle (associated
  // with `port` under `key`) when every group is full. 0, XPOLL_ENOMEM or
  // the error of opening the handle.
  int join(HANDLE port, ULONG_PTR key, Group** out) noexcept;
  // Gives the place back. Cannot fail: room was reserved when the group was
  // made.
  void leave(Group& g) noexcept;
  // Closes every helper handle.
  void close() noexcept;

 private:
  std::vector<std::unique_ptr<Group>> all_;
  std::vector<Group*> open_;  // groups with room
};

}  // namespace xpoll::detail::iocp

#endif  // XPOLL_SRC_BACKENDS_IOCP_GROUPS_HPP
