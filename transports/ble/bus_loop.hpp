// Drives an sdbus-c++ 1.2.0 connection from a libuv loop (ble.md): a uv_poll_t on a dup of the bus
// fd, a uv_timer_t for sd-bus deadlines, and a uv_prepare_t that re-reads the poll data before each
// loop iteration, because calls made in callbacks add POLLOUT or new deadlines.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

namespace sdbus {
class IConnection;
}

namespace transport::ble {

class BusLoop {
 public:
  using ErrorFn = std::function<void(const std::string&)>;

  // `conn` must outlive this object. `on_error` is called once when the connection fails
  // (processing throws: disconnected); after that nothing is processed any more.
  BusLoop(uv_loop_t* loop, sdbus::IConnection& conn, ErrorFn on_error);
  BusLoop(const BusLoop&) = delete;
  BusLoop& operator=(const BusLoop&) = delete;
  ~BusLoop();

  // Returns false (and reports through on_error) if the poll data cannot be read.
  bool start();
  // Closes the handles; `on_closed` after the last close callback. Destroy only after that.
  void close(std::function<void()> on_closed);
  bool failed() const noexcept { return failed_; }

  // Runs before the poll data is refreshed, outside any sdbus callback (safe place to destroy
  // proxies).
  void set_before_poll(std::function<void()> fn) { before_poll_ = std::move(fn); }

 private:
  static void on_poll(uv_poll_t* h, int status, int events);
  static void on_timer(uv_timer_t* h);
  static void on_prepare(uv_prepare_t* h);
  static void on_close(uv_handle_t* h);

  void process();
  void refresh();
  void fail(const std::string& why);

  uv_loop_t* loop_;
  sdbus::IConnection& conn_;
  ErrorFn on_error_;
  std::function<void()> before_poll_;
  std::function<void()> on_closed_;
  uv_poll_t poll_{};
  uv_timer_t timer_{};
  uv_prepare_t prepare_{};
  int fd_ = -1;  // our dup: sd-bus closes its own fd on disconnect while libuv may still watch it
  int poll_events_ = -1;
  int open_handles_ = 0;
  bool started_ = false;
  bool failed_ = false;
  bool closing_ = false;
};

}  // namespace transport::ble
