#include "gateway/runtime/upstream_pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

namespace gw {

namespace {

constexpr auto kUpstreamDisconnectTimeout = std::chrono::milliseconds(1000);
// A wake-up every millisecond while an upstream CONNECT is under way.
constexpr std::uint64_t kWakePeriodMs = 1;

}  // namespace

UpstreamPool::UpstreamPool(uv_loop_t* loop, std::function<TimePoint()> now,
                           std::function<void()> wake, std::chrono::milliseconds connect_timeout)
    : now_(std::move(now)),
      wake_(std::move(wake)),
      connect_timeout_(connect_timeout),
      wake_timer_(loop, [this] { on_wake_timer(); }) {}

void UpstreamPool::retire(std::uint64_t session_id, std::unique_ptr<Upstream> client) {
  const std::uint64_t serial = client->serial();
  client->disconnect(kUpstreamDisconnectTimeout);  // may post UpstreamClosed at once
  retiring_.insert_or_assign(serial, Retiring{session_id, std::move(client)});
}

bool UpstreamPool::closed(std::uint64_t session_id, std::uint64_t serial) {
  auto it = serial != 0 ? retiring_.find(serial)
                        : std::find_if(retiring_.begin(), retiring_.end(), [&](const auto& r) {
                            return r.second.session_id == session_id;
                          });
  if (it == retiring_.end()) return false;
  retiring_.erase(it);  // destroys the client: its disconnect completion was its last callback
  return true;
}

// Paho C's receive thread polls the sockets it had when its wait began, for up to 1 s: a new
// client's socket is only taken up after that wait ends, so its CONNECT and CONNACK take 1-2 s
// when the gateway is otherwise idle. While any upstream CONNECT is under way, `wake` ends that
// wait every millisecond (PahoWaker: a loopback connection, no broker traffic).
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
  wake_timer_.stop();
  connecting_.clear();
}

std::vector<std::uint64_t> UpstreamPool::clear() {
  std::vector<std::uint64_t> sessions;
  sessions.reserve(retiring_.size());
  for (const auto& r : retiring_) sessions.push_back(r.second.session_id);
  retiring_.clear();
  return sessions;
}

void UpstreamPool::close(const std::shared_ptr<CloseGroup>& group) {
  CloseGroup::close(group, wake_timer_);
}

void log_abandoned(const std::vector<std::uint64_t>& sessions, bool gateway_client,
                   std::chrono::milliseconds bound) {
  if (sessions.empty() && !gateway_client) return;
  constexpr std::size_t kListed = 20;  // a fleet's worth of ids would flood the log
  std::string which = gateway_client ? "the gateway client" : "";
  for (std::size_t i = 0; i < sessions.size() && i < kListed; ++i)
    which += (which.empty() ? "session " : ", session ") + std::to_string(sessions[i]);
  if (sessions.size() > kListed) which += ", ...";
  spdlog::warn(
      "stopping: {} upstream clients had not finished disconnecting after {} ms; destroyed "
      "anyway: {}",
      sessions.size() + (gateway_client ? 1u : 0u), bound.count(), which);
}

}  // namespace gw
