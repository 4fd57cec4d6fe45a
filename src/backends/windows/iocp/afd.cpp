// The AFD driver layer of the IOCP backend; see afd.hpp.
#include "backends/windows/iocp/afd.hpp"

#include <mswsock.h>

#include <mutex>

#include "platform/platform.hpp"

namespace xpoll::detail::afd {

namespace {

// Winsock's ioctls for the base socket (mswsock.h names them in newer SDKs).
constexpr DWORD kSioBaseHandle = 0x48000022;
constexpr DWORD kSioBspHandle = 0x4800001B;
constexpr DWORD kSioBspHandleSelect = 0x4800001C;
constexpr DWORD kSioBspHandlePoll = 0x4800001D;

constexpr ULONG kIoctlAfdPoll = 0x00012024;
constexpr ULONG kFileOpen = 1;

using NtCreateFileFn = LONG(NTAPI*)(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, PIO_STATUS_BLOCK, PLARGE_INTEGER, ULONG,
                                    ULONG, ULONG, ULONG, PVOID, ULONG);
using NtDeviceIoControlFileFn = LONG(NTAPI*)(HANDLE, HANDLE, PVOID, PVOID, PIO_STATUS_BLOCK, ULONG, PVOID, ULONG, PVOID,
                                             ULONG);
using NtCancelIoFileExFn = LONG(NTAPI*)(HANDLE, PIO_STATUS_BLOCK, PIO_STATUS_BLOCK);

NtCreateFileFn g_create;
NtDeviceIoControlFileFn g_ioctl;
NtCancelIoFileExFn g_cancel;

template <class F>
F lookup(HMODULE m, const char* name) {
  // Through void*: the entry points' real types are not FARPROC's.
  return reinterpret_cast<F>(reinterpret_cast<void*>(GetProcAddress(m, name)));
}

int ioctl_socket(SOCKET s, DWORD code, SOCKET* out) {
  DWORD bytes = 0;
  *out = INVALID_SOCKET;
  if (WSAIoctl(s, code, nullptr, 0, out, sizeof *out, &bytes, nullptr, nullptr) != 0) return WSAGetLastError();
  return *out == INVALID_SOCKET ? WSAENOTSOCK : 0;
}

}  // namespace

int load() noexcept {
  static std::once_flag once;
  static int rc = XPOLL_ENOTSUP;
  try {
    std::call_once(once, [] {
      HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
      if (!ntdll) return;
      g_create = lookup<NtCreateFileFn>(ntdll, "NtCreateFile");
      g_ioctl = lookup<NtDeviceIoControlFileFn>(ntdll, "NtDeviceIoControlFile");
      g_cancel = lookup<NtCancelIoFileExFn>(ntdll, "NtCancelIoFileEx");
      if (g_create && g_ioctl && g_cancel) rc = 0;
    });
  } catch (...) {
    return XPOLL_ENOMEM;
  }
  return rc;
}

int open_helper(HANDLE port, ULONG_PTR key, HANDLE* out) noexcept {
  // Any name under \Device\Afd opens the driver; the suffix only shows who
  // opened it in handle listings.
  wchar_t path[] = L"\\Device\\Afd\\Xpoll";
  UNICODE_STRING name;
  name.Length = static_cast<USHORT>(sizeof path - sizeof path[0]);
  name.MaximumLength = static_cast<USHORT>(sizeof path);
  name.Buffer = path;
  OBJECT_ATTRIBUTES attrs;
  InitializeObjectAttributes(&attrs, &name, 0, nullptr, nullptr);
  IO_STATUS_BLOCK iosb;
  HANDLE h = nullptr;
  LONG status = g_create(&h, SYNCHRONIZE, &attrs, &iosb, nullptr, 0, FILE_SHARE_READ | FILE_SHARE_WRITE, kFileOpen, 0,
                         nullptr, 0);
  if (status < 0) return from_ntstatus(status);
  if (!CreateIoCompletionPort(h, port, key, 0)) {
    int rc = from_win32(GetLastError());
    CloseHandle(h);
    return rc;
  }
  // Completions go to the port only; nobody waits on the handle itself.
  SetFileCompletionNotificationModes(h, FILE_SKIP_SET_EVENT_ON_HANDLE);
  *out = h;
  return 0;
}

int base_socket(SOCKET s, SOCKET* out) noexcept {
  int e = ioctl_socket(s, kSioBaseHandle, out);
  if (e == 0) return 0;
  if (e == WSAENOTSOCK) return XPOLL_EBADF;
  // Some layered providers refuse SIO_BASE_HANDLE but answer the ioctls
  // that select and WSAPoll use to find the socket they should pass on.
  for (DWORD code : {kSioBspHandlePoll, kSioBspHandleSelect, kSioBspHandle}) {
    if (ioctl_socket(s, code, out) == 0) return 0;
  }
  return from_wsa(e);
}

int submit(Request& r, SOCKET base, ULONG events) noexcept {
  r.info.timeout.QuadPart = INT64_MAX;
  r.info.handle_count = 1;
  r.info.exclusive = FALSE;
  r.info.handles[0].handle = reinterpret_cast<HANDLE>(base);
  r.info.handles[0].events = events;
  r.info.handles[0].status = 0;
  r.iosb.Status = kStatusPending;
  r.iosb.Information = 0;
  // The request's address travels as the APC context, which a completion
  // port hands back as the packet's overlapped pointer.
  LONG status = g_ioctl(r.helper, nullptr, nullptr, &r.iosb, &r.iosb, kIoctlAfdPoll, &r.info, sizeof r.info, &r.info,
                        sizeof r.info);
  return status >= 0 ? 0 : from_ntstatus(status);
}

void cancel(Request& r) noexcept {
  // A request that has completed already is not found (STATUS_NOT_FOUND):
  // harmless, its packet is queued.
  IO_STATUS_BLOCK ignored;
  g_cancel(r.helper, &r.iosb, &ignored);
}

ULONG result(const Request& r) noexcept {
  LONG status = r.iosb.Status;
  if (status == kStatusCancelled) return 0;
  if (status < 0) return kAbort;
  return r.info.handle_count >= 1 ? r.info.handles[0].events : 0;
}

}  // namespace xpoll::detail::afd
