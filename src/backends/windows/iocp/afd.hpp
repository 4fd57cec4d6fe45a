// The AFD driver layer of the IOCP backend: the undocumented but stable
// interface through which Winsock itself implements select and WSAPoll.
//
// A poll is an IOCTL_AFD_POLL request sent to a handle opened on
// \Device\Afd; it names a socket's base handle and the AFD_POLL_* events of
// interest, and it completes, through the completion port that handle is
// associated with, once any of them holds (or at once if one holds already).
// Each request is one-shot. Its IO_STATUS_BLOCK and AFD_POLL_INFO are
// written by the kernel when it completes, so their memory must live until
// the completion has been dequeued, cancelled requests included.
//
// The ntdll entry points are looked up at run time, so that neither MSVC nor
// MinGW needs an import library for them.
#ifndef XPOLL_SRC_BACKENDS_IOCP_AFD_HPP
#define XPOLL_SRC_BACKENDS_IOCP_AFD_HPP

#include <winsock2.h>
// (winsock2.h first: kept apart so that formatting does not sort them)
#include <windows.h>
#include <winternl.h>

#include <cstdint>

namespace xpoll::detail::afd {

// AFD_POLL_* event bits.
constexpr ULONG kReceive = 0x0001;
constexpr ULONG kReceiveExpedited = 0x0002;
constexpr ULONG kSend = 0x0004;
constexpr ULONG kDisconnect = 0x0008;  // the peer shut down its sending side
constexpr ULONG kAbort = 0x0010;       // the connection was reset
constexpr ULONG kLocalClose = 0x0020;  // this socket was closed
constexpr ULONG kAccept = 0x0080;
constexpr ULONG kConnectFail = 0x0100;

constexpr long kStatusPending = 0x00000103L;
constexpr long kStatusCancelled = static_cast<long>(0xC0000120L);

struct PollHandleInfo {
  HANDLE handle;
  ULONG events;
  LONG status;
};

struct PollInfo {
  LARGE_INTEGER timeout;
  ULONG handle_count;
  ULONG exclusive;
  PollHandleInfo handles[1];
};

// One poll request. The status block comes first: a completion packet
// carries its address, from which the request is found.
struct Request {
  IO_STATUS_BLOCK iosb;
  PollInfo info;
  HANDLE helper;
};

// Resolves the ntdll entry points once. 0 or XPOLL_ENOTSUP.
int load() noexcept;

// Opens a new handle on \Device\Afd and associates it with `port` under
// `key`. 0 or an XPOLL_E* code.
int open_helper(HANDLE port, ULONG_PTR key, HANDLE* out) noexcept;

// The base service provider's socket behind `s`: layered providers (LSPs)
// wrap sockets, and AFD knows only the base one. XPOLL_EBADF when `s` is no
// socket.
int base_socket(SOCKET s, SOCKET* out) noexcept;

// Sends `r` (its helper set) to poll `base` for `events`. 0 when the request
// is pending or already complete (a completion packet follows either way),
// or an XPOLL_E* code when it was refused (no packet follows).
int submit(Request& r, SOCKET base, ULONG events) noexcept;

// Asks for a pending request to be cancelled. Its completion still follows
// (with STATUS_CANCELLED, or with its result if it had already completed).
void cancel(Request& r) noexcept;

// The events a completed request reports: 0 for a cancelled request or one
// that completed with nothing, kAbort for a failed one.
ULONG result(const Request& r) noexcept;

}  // namespace xpoll::detail::afd

#endif  // XPOLL_SRC_BACKENDS_IOCP_AFD_HPP
