// The lifetimes of upstream clients that no session holds any more: retiring ones (disconnecting
// after their session ended, destroyed on their UpstreamClosed event) and buried ones (closed,
// destroyed a moment later, once Paho has left the callback that reported the close). Also the
// connect-latency wake-up: while any upstream CONNECT is under way, `wake` runs every millisecond
// (see connect_started()). Loop thread only.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/core/session_types.hpp"
#include "gateway/runtime/uv_handle.hpp"
#include "gateway/upstream/upstream.hpp"

namespace gw {

class UpstreamPool {
 public:
  // `wake`: publishes the wake-up message (runs while connects are under way).
  // `connect_timeout`: a connect that never reports stops counting after it (plus 2 s).
  UpstreamPool(uv_loop_t* loop, std::function<TimePoint()> now, std::function<void()> wake,
               std::chrono::milliseconds connect_timeout);

  // Disconnects `client` (its session ended); destroyed once it reports UpstreamClosed.
  void retire(std::uint64_t session_id, std::unique_ptr<Upstream> client);
  // UpstreamClosed for `session_id`: true if it was a retiring client (now buried).
  bool closed(std::uint64_t session_id);
  // Destroys `client` a little later, never right away.
  void bury(std::unique_ptr<Upstream> client);
  bool retiring_empty() const noexcept { return retiring_.empty(); }
  std::size_t retiring_count() const noexcept { return retiring_.size(); }

  void connect_started(std::uint64_t session_id);
  void connect_finished(std::uint64_t session_id);

  // Stopping: no more wake-ups.
  void stop();
  // Stopped: every client destroyed now, whatever its state.
  void clear();
  void close(const std::shared_ptr<CloseGroup>& group);

 private:
  void sweep();
  void on_wake_timer();

  std::function<TimePoint()> now_;
  std::function<void()> wake_;
  std::chrono::milliseconds connect_timeout_;
  bool stopping_ = false;
  // Clients disconnecting after their session ended: destroyed on their UpstreamClosed event.
  std::unordered_map<std::uint64_t, std::unique_ptr<Upstream>> retiring_;
  // Closed clients waiting a moment before they are destroyed (see bury()).
  std::vector<std::pair<TimePoint, std::unique_ptr<Upstream>>> graveyard_;
  // Sessions whose upstream CONNECT is under way, since when (see connect_started()).
  std::unordered_map<std::uint64_t, TimePoint> connecting_;
  UvTimer sweep_timer_;
  UvTimer wake_timer_;
};

}  // namespace gw
