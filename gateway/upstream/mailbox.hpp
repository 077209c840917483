// The only way Paho callbacks (on Paho's threads) reach the loop thread: a mutex-guarded queue and
// a uv_async_t. Any thread may post(); the loop drains the whole queue on each wake (libuv
// coalesces several uv_async_send calls into one wake).
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <variant>

#include "gateway/core/session_types.hpp"

namespace gw {

// An upstream client finished disconnecting (or failed to): the runtime may destroy it now.
struct UpstreamClosed {
  std::uint64_t client = 0;  // Upstream::serial() of the client; 0: the session's
};

struct MailboxEvent {
  std::uint64_t session_id = 0;  // 0: the shared gateway client
  std::variant<UpstreamEvent, UpstreamClosed> what;
};

class Mailbox {
 public:
  using Handler = std::function<void(MailboxEvent&&)>;

  // Called on the loop thread; the handler runs on the loop thread, once per event, in post order.
  Mailbox(uv_loop_t* loop, Handler handler);
  ~Mailbox();
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Thread-safe. After close() events are dropped.
  void post(MailboxEvent event);
  // Loop thread: drops what is queued and closes the uv_async_t (gone after the loop runs).
  void close();
  bool closed() const noexcept { return handle_closed_; }

 private:
  static void on_wake(uv_async_t* h);
  void drain();

  uv_async_t async_{};
  Handler handler_;
  std::mutex mutex_;
  std::deque<MailboxEvent> queue_;  // guarded by mutex_
  bool open_ = false;               // guarded by mutex_
  bool handle_closed_ = true;
};

}  // namespace gw
