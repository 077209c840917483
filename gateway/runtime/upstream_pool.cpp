#include "gateway/runtime/upstream_pool.hpp"

namespace gw {

namespace {

constexpr auto kUpstreamDisconnectTimeout = std::chrono::milliseconds(1000);
constexpr auto kBurialDelay = std::chrono::milliseconds(500);
// A wake-up message every millisecond while an upstream CONNECT is under way.
constexpr std::uint64_t kWakePeriodMs = 1;

}  // namespace

UpstreamPool::UpstreamPool(uv_loop_t* loop, std::function<TimePoint()> now,
                           std::function<void()> wake, std::chrono::milliseconds connect_timeout)
    : now_(std::move(now)),
      wake_(std::move(wake)),
      connect_timeout_(connect_timeout),
      sweep_timer_(loop, [this] { sweep(); }),
      wake_timer_(loop, [this] { on_wake_timer(); }) {}

void UpstreamPool::retire(std::uint64_t session_id, std::unique_ptr<Upstream> client) {
  client->disconnect(kUpstreamDisconnectTimeout);
  auto& slot = retiring_[session_id];
  if (slot) bury(std::move(slot));  // an older one still closing: let it go
  slot = std::move(client);
}

bool UpstreamPool::closed(std::uint64_t session_id) {
  auto it = retiring_.find(session_id);
  if (it == retiring_.end()) return false;
  bury(std::move(it->second));
  retiring_.erase(it);
  return true;
}

void UpstreamPool::bury(std::unique_ptr<Upstream> client) {
  // Paho is still returning from the callback that posted UpstreamClosed (its token touches the
  // client after our listener returns): destroy the client a little later, never right away.
  graveyard_.emplace_back(now_(), std::move(client));
  if (!sweep_timer_.active()) sweep_timer_.start(static_cast<std::uint64_t>(kBurialDelay.count()));
}

void UpstreamPool::sweep() {
  const auto now = now_();
  std::erase_if(graveyard_, [&](const auto& g) { return now - g.first >= kBurialDelay; });
  if (!graveyard_.empty()) sweep_timer_.start(static_cast<std::uint64_t>(kBurialDelay.count()));
}

// Paho C's receive thread waits in select() on the sockets it had when it started waiting, with
// a 1 s timeout: a new client's socket is only watched after that wait ends, so its CONNECT and
// CONNACK take 1-2 s when the gateway is otherwise idle. While any upstream CONNECT is under way,
// the shared client publishes a tiny QoS 0 message to a topic it subscribes to itself; the echo
// arrives on an already watched socket and ends the wait at once.
void UpstreamPool::connect_started(std::uint64_t session_id) {
  connecting_.insert_or_assign(session_id, now_());
  if (!wake_timer_.active() && !stopping_) wake_timer_.start(0, kWakePeriodMs);
}

void UpstreamPool::connect_finished(std::uint64_t session_id) {
  connecting_.erase(session_id);
  if (connecting_.empty()) wake_timer_.stop();
}

void UpstreamPool::on_wake_timer() {
  // A connect that never reports (it should not happen) stops counting after its timeout.
  const auto give_up = now_() - connect_timeout_ - std::chrono::seconds(2);
  std::erase_if(connecting_, [&](const auto& c) { return c.second < give_up; });
  if (connecting_.empty() || stopping_) {
    wake_timer_.stop();
    return;
  }
  wake_();
}

void UpstreamPool::stop() {
  stopping_ = true;
  sweep_timer_.stop();
  wake_timer_.stop();
  connecting_.clear();
}

void UpstreamPool::clear() {
  retiring_.clear();
  graveyard_.clear();
}

void UpstreamPool::close(const std::shared_ptr<CloseGroup>& group) {
  CloseGroup::close(group, sweep_timer_);
  CloseGroup::close(group, wake_timer_);
}

}  // namespace gw
