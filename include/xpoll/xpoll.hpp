/**
 * @file xpoll.hpp
 * @brief A thin header-only C++17 layer over the C API.
 *
 * RAII ownership of the poller, events returned as a span over the caller's
 * buffer, and errors as std::error_code in the "xpoll" category (which maps
 * onto std::errc where a match exists).
 *
 * @code
 * std::error_code ec;
 * xpoll::Poller poller(nullptr, ec);   // the best backend
 * if (ec) return;
 * poller.add(sock, XPOLL_IN, 1);
 * std::array<xpoll::Event, 64> buf;
 * for (const xpoll::Event& e : poller.wait(buf, 1000, ec))
 *   handle(e.fd, e.events, e.data);
 * @endcode
 */
#ifndef XPOLL_XPOLL_HPP
#define XPOLL_XPOLL_HPP

#include <array>
#include <cstddef>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "xpoll.h"

namespace xpoll {

/** @brief The XPOLL_E* codes as an enumeration usable with std::error_code. */
enum class errc {
  invalid_argument = XPOLL_EINVAL,   /**< ::XPOLL_EINVAL */
  bad_descriptor = XPOLL_EBADF,      /**< ::XPOLL_EBADF */
  already_registered = XPOLL_EEXIST, /**< ::XPOLL_EEXIST */
  not_registered = XPOLL_ENOENT,     /**< ::XPOLL_ENOENT */
  no_memory = XPOLL_ENOMEM,          /**< ::XPOLL_ENOMEM */
  not_supported = XPOLL_ENOTSUP,     /**< ::XPOLL_ENOTSUP */
  no_backend = XPOLL_ENOBACKEND,     /**< ::XPOLL_ENOBACKEND */
  busy = XPOLL_EBUSY,                /**< ::XPOLL_EBUSY */
  interrupted = XPOLL_EINTR,         /**< ::XPOLL_EINTR */
  out_of_range = XPOLL_ERANGE,       /**< ::XPOLL_ERANGE */
  process_limit = XPOLL_EMFILE,      /**< ::XPOLL_EMFILE */
  system_limit = XPOLL_ENFILE,       /**< ::XPOLL_ENFILE */
  forked = XPOLL_EFORKED,            /**< ::XPOLL_EFORKED */
  not_permitted = XPOLL_EPERM,       /**< ::XPOLL_EPERM */
  io_error = XPOLL_EIO,              /**< ::XPOLL_EIO */
};

/** @brief The error category of xpoll's codes; message() is xpoll_strerror(). */
class ErrorCategory final : public std::error_category {
 public:
  /** @brief "xpoll". */
  const char* name() const noexcept override { return "xpoll"; }
  /** @brief The text of xpoll_strerror(). */
  std::string message(int code) const override { return xpoll_strerror(code); }
  /** @brief The matching std::errc condition, where there is one. */
  std::error_condition default_error_condition(int code) const noexcept override {
    switch (code) {
      case XPOLL_EINVAL: return std::errc::invalid_argument;
      case XPOLL_EBADF: return std::errc::bad_file_descriptor;
      case XPOLL_EEXIST: return std::errc::file_exists;
      case XPOLL_ENOENT: return std::errc::no_such_file_or_directory;
      case XPOLL_ENOMEM: return std::errc::not_enough_memory;
      case XPOLL_ENOTSUP: return std::errc::not_supported;
      case XPOLL_EBUSY: return std::errc::device_or_resource_busy;
      case XPOLL_EINTR: return std::errc::interrupted;
      case XPOLL_ERANGE: return std::errc::result_out_of_range;
      case XPOLL_EMFILE: return std::errc::too_many_files_open;
      case XPOLL_ENFILE: return std::errc::too_many_files_open_in_system;
      case XPOLL_EPERM: return std::errc::operation_not_permitted;
      case XPOLL_EIO: return std::errc::io_error;
      default: return std::error_condition(code, *this);
    }
  }
};

/** @brief The one instance of ErrorCategory. */
inline const std::error_category& category() noexcept {
  static const ErrorCategory instance;
  return instance;
}

/** @brief Makes an error code of the xpoll category. */
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

/** @brief An error code from a C API result: empty for a non-negative result. */
inline std::error_code to_error(int rc) noexcept {
  return rc < 0 ? std::error_code(rc, category()) : std::error_code();
}

/** @brief One reported event (the C struct). */
using Event = xpoll_event_t;

/** @brief A view of the events one wait reported, inside the caller's buffer. */
class Events {
 public:
  Events() noexcept = default;
  /** @brief Views @p n events at @p data. */
  Events(const Event* data, std::size_t n) noexcept : data_(data), size_(n) {}
  /** @brief First event. */
  const Event* begin() const noexcept { return data_; }
  /** @brief Past the last event. */
  const Event* end() const noexcept { return data_ + size_; }
  /** @brief Number of events. */
  std::size_t size() const noexcept { return size_; }
  /** @brief True when no event was reported. */
  bool empty() const noexcept { return size_ == 0; }
  /** @brief The i-th event. */
  const Event& operator[](std::size_t i) const noexcept { return data_[i]; }

 private:
  const Event* data_ = nullptr;
  std::size_t size_ = 0;
};

/** @brief Owns one poller. Move-only; destroyed with the object. */
class Poller {
 public:
  /**
   * @brief Opens @p backend (nullptr: the best) with creation @p flags (0 or
   * ::XPOLL_SHARED); throws std::system_error on failure.
   */
  explicit Poller(const char* backend = nullptr, uint32_t flags = 0) {
    int rc = xpoll_create(&p_, backend, flags);
    if (rc < 0) throw std::system_error(to_error(rc), "xpoll_create");
  }
  /** @brief Opens @p backend (nullptr: the best); on failure sets @p ec and holds nothing. */
  Poller(const char* backend, std::error_code& ec) noexcept { ec = to_error(xpoll_create(&p_, backend, 0)); }
  /** @brief As above, with creation @p flags (0 or ::XPOLL_SHARED). */
  Poller(const char* backend, uint32_t flags, std::error_code& ec) noexcept {
    ec = to_error(xpoll_create(&p_, backend, flags));
  }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;
  /** @brief Takes over @p o's poller. */
  Poller(Poller&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  /** @brief Destroys the held poller and takes over @p o's. */
  Poller& operator=(Poller&& o) noexcept {
    if (this != &o) {
      xpoll_destroy(p_);
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  /** @brief Destroys the poller (xpoll_destroy()). */
  ~Poller() { xpoll_destroy(p_); }

  /** @brief True when a poller is held. */
  explicit operator bool() const noexcept { return p_ != nullptr; }
  /** @brief The C handle, for calls this layer does not wrap. */
  xpoll_t* native() const noexcept { return p_; }

  /** @brief xpoll_add(). */
  std::error_code add(xpoll_fd_t fd, uint32_t events, uint64_t data = 0) noexcept {
    return to_error(xpoll_add(p_, fd, events, data));
  }
  /** @brief xpoll_modify(). */
  std::error_code modify(xpoll_fd_t fd, uint32_t events, uint64_t data = 0) noexcept {
    return to_error(xpoll_modify(p_, fd, events, data));
  }
  /** @brief xpoll_remove(). */
  std::error_code remove(xpoll_fd_t fd) noexcept { return to_error(xpoll_remove(p_, fd)); }
  /** @brief xpoll_wake(). */
  std::error_code wake() noexcept { return to_error(xpoll_wake(p_)); }

  /** @brief xpoll_wait() into @p buf; the events reported, empty with @p ec set on failure. */
  Events wait(Event* buf, std::size_t n, int timeout_ms, std::error_code& ec) noexcept {
    int max = n > static_cast<std::size_t>(XPOLL_WAIT_MAX) ? XPOLL_WAIT_MAX : static_cast<int>(n);
    int rc = xpoll_wait(p_, buf, max, timeout_ms);
    ec = to_error(rc);
    return rc > 0 ? Events(buf, static_cast<std::size_t>(rc)) : Events();
  }
  /** @brief xpoll_wait() into an array. */
  template <std::size_t N>
  Events wait(std::array<Event, N>& buf, int timeout_ms, std::error_code& ec) noexcept {
    return wait(buf.data(), N, timeout_ms, ec);
  }
  /** @brief xpoll_wait() into a vector, up to its size(). */
  Events wait(std::vector<Event>& buf, int timeout_ms, std::error_code& ec) noexcept {
    return wait(buf.data(), buf.size(), timeout_ms, ec);
  }

  /** @brief The backend's name. */
  const char* backend() const noexcept { return xpoll_backend(p_); }
  /** @brief The backend's ::XPOLL_CAP_ONESHOT ... bits. */
  uint32_t capabilities() const noexcept { return xpoll_capabilities(p_); }

  /** @brief The compiled backends, best first. */
  static std::vector<std::string> backends() {
    int n = xpoll_backends(nullptr, 0);
    std::vector<const char*> names(n > 0 ? static_cast<std::size_t>(n) : 0);
    if (n > 0) xpoll_backends(names.data(), n);
    return std::vector<std::string>(names.begin(), names.end());
  }

 private:
  xpoll_t* p_ = nullptr;
};

}  // namespace xpoll

namespace std {
/** @brief Lets xpoll::errc values compare with and convert to std::error_code. */
template <>
struct is_error_code_enum<xpoll::errc> : true_type {};
}  // namespace std

#endif  // XPOLL_XPOLL_HPP
