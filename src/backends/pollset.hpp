// How the poll backends (poll on POSIX, WSAPoll on Windows) read what a wait
// found; they differ only in the array's type and in the event translation.
#ifndef XPOLL_SRC_BACKENDS_POLL_RESULTS_HPP
#define XPOLL_SRC_BACKENDS_POLL_RESULTS_HPP

#include <cstddef>
#include <vector>

#include "core/backend.hpp"
#include "platform/platform.hpp"

namespace xpoll::detail {

// Entry 0 of `work` is the wake channel. The others are scanned from
// `cursor`, and when the caller's array fills, `cursor` is left just after
// the last one reported, so that the next wait starts there and a caller
// with a small array starves no descriptor. `translate(entry)` gives the
// XPOLL_* events of an entry. A closed descriptor (POLLNVAL) is dropped,
// unless its number was closed, reused and added again meanwhile.
template <class PollFd, class Translate>
void read_poll_results(const std::vector<PollFd>& work, size_t& cursor, WakeChannel& wake, EventSink& sink,
                       Translate translate) noexcept {
  if (work[0].revents) {
    wake.drain();
    sink.woken();
  }
  size_t n = work.size() - 1;
  if (n == 0) return;
  size_t start = cursor >= 1 && cursor <= n ? cursor : 1;
  for (size_t k = 0; k < n; ++k) {
    size_t i = 1 + (start - 1 + k) % n;
    if (!work[i].revents) continue;
    auto fd = static_cast<xpoll_fd_t>(work[i].fd);
    if (work[i].revents & POLLNVAL) {
      if (!descriptor_open(fd)) sink.dead(fd);
      continue;
    }
    if (sink.emit(fd, translate(work[i]), kNoGeneration) == EventSink::kFull) {
      cursor = 1 + (i % n);
      return;
    }
  }
}

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_BACKENDS_POLL_RESULTS_HPP
