// A socket BlueZ handed us (AcquireNotify / AcquireWrite) watched on the libuv loop. The fd stays
// open until the uv_poll_t's close callback, so libuv never polls a closed (or reused) fd.
#pragma once

#include <uv.h>

#include <sdbus-c++/Types.h>
#include <functional>
#include <memory>

namespace transport::ble {

class FdPoll {
 public:
  // events: UV_READABLE / UV_WRITABLE / UV_DISCONNECT as libuv reports them; status < 0 on error.
  using EventFn = std::function<void(int status, int events)>;

  // Takes the fd (made non-blocking) and starts watching it for reading. nullptr if libuv refuses.
  static std::unique_ptr<FdPoll> open(uv_loop_t* loop, sdbus::UnixFd fd, EventFn on_event);
  // Stops callbacks at once; the handle and the fd are released in the close callback.
  static void close(std::unique_ptr<FdPoll> p);

  int fd() const noexcept { return fd_.get(); }
  void want_writable(bool on);

  FdPoll(const FdPoll&) = delete;
  FdPoll& operator=(const FdPoll&) = delete;

 private:
  struct Private {};

 public:
  explicit FdPoll(Private) {}  // use open()

 private:
  void update();

  uv_poll_t handle_{};
  sdbus::UnixFd fd_;
  EventFn on_event_;
  bool writable_ = false;
};

}  // namespace transport::ble
