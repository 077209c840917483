// The lifetimes of upstream clients that no session holds any more: retiring ones disconnect after
// their session ended and are destroyed on their UpstreamClosed event (destroying a Paho client
// waits for a callback it still runs: gateway/upstream/upstream.hpp). Also the connect-latency
// wake-up: while any upstream CONNECT is under way, `wake` runs every millisecond (see
// connect_started()). Loop thread only.
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
  // `wake`: wakes Paho's receive thread (runs while connects are under way).
  // `connect_timeout`: a connect that never reports stops counting after it (plus 2 s).
  UpstreamPool(uv_loop_t* loop, std::function<TimePoint()> now, std::function<void()> wake,
               std::chrono::milliseconds connect_timeout);

  // Disconnects `client` (its session ended); destroyed on its UpstreamClosed event.
  void retire(std::uint64_t session_id, std::unique_ptr<Upstream> client);
  // UpstreamClosed from client `serial` (0: any retiring client of `session_id`): true if it was
  // a retiring client, now destroyed.
  bool closed(std::uint64_t session_id, std::uint64_t serial);
  bool retiring_empty() const noexcept { return retiring_.empty(); }
  std::size_t retiring_count() const noexcept { return retiring_.size(); }

  void connect_started(std::uint64_t session_id);
  void connect_finished(std::uint64_t session_id);

  // Stopping: no more wake-ups.
  void stop();
  // Stopped: destroys the clients that have not finished disconnecting; returns their sessions.
  std::vector<std::uint64_t> clear();
  void close(const std::shared_ptr<CloseGroup>& group);

 private:
  void on_wake_timer();

  struct Retiring {
    std::uint64_t session_id;
    std::unique_ptr<Upstream> client;
  };

  std::function<TimePoint()> now_;
  std::function<void()> wake_;
  std::chrono::milliseconds connect_timeout_;
  bool stopping_ = false;
  // Clients disconnecting after their session ended, by Upstream::serial().
  std::unordered_map<std::uint64_t, Retiring> retiring_;
  // Sessions whose upstream CONNECT is under way, since when (see connect_started()).
  std::unordered_map<std::uint64_t, TimePoint> connecting_;
  UvTimer wake_timer_;
};

// Shutdown ran out of time (`bound`): warns which upstream clients were destroyed before their
// disconnect completed (the sessions' ids; `gateway_client`: the shared client too).
void log_abandoned(const std::vector<std::uint64_t>& sessions, bool gateway_client,
                   std::chrono::milliseconds bound);

}  // namespace gw
